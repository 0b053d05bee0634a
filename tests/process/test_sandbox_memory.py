"""The memory limit: a real child past it is killed and reported as Lambda reports it.

Lambda: a function past its memory size dies of SIGKILL ("Runtime exited with error: signal:
killed") and its REPORT line says Max Memory Used at the memory size. The children here get
128 MB (Lambda's minimum) and allocate up to 600 MB in 10 MB steps.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
from sandbox_support import (
    ALLOCATE,
    HOLD,
    PYTHON,
    require_cgroup_v1,
    run,
    spawn,
    watchdog_only,
)

from eventmesh.process import _cgroup_memory
from eventmesh.process.sandbox import Capabilities, ProcessOutcome, Sandbox

LIMIT_BYTES = 128 * 1024 * 1024


def _group_of(argv: list[str]) -> Path:
    """The cgroup the wrapper joins, from its arguments."""
    return Path(next(arg for arg in argv if arg.endswith("/cgroup.procs"))).parent


def _gone_or_zombie(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return text[text.rfind(")") + 2] == "Z"


# -- cgroup v1 ---------------------------------------------------------------------------------


async def test_cgroup_a_child_past_the_limit_is_killed_and_reported_at_the_limit(
    tmp_path: Path,
) -> None:
    require_cgroup_v1()
    with Sandbox("charge", 128, 512, tmp_path / "env") as sandbox:
        assert sandbox.mechanisms.memory == "cgroup-v1"
        process = await asyncio.create_subprocess_exec(
            *sandbox.wrap([PYTHON, "-c", ALLOCATE, "600"]),
            env={**os.environ, **sandbox.environment()},
            stdout=asyncio.subprocess.PIPE,
        )
        sandbox.attach(process.pid)
        stdout, _ = await asyncio.wait_for(process.communicate(), 60)
        assert b"survived" not in stdout
        assert process.returncode == -signal.SIGKILL
        assert sandbox.outcome(process.returncode) == ProcessOutcome(True, 128)


def _holds_40_mb_under_the_limit(sandbox: Sandbox) -> None:
    """A child holding 40 MB under a 128 MB limit is not killed; the peak read while it runs
    (what a REPORT line reads mid-life) is at most the peak its outcome reports."""
    process = spawn(sandbox, [PYTHON, "-c", HOLD, "40"])
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"
    running = sandbox.max_memory_used_mb()
    assert 40 <= running < 128
    process.communicate(timeout=60)
    assert process.returncode == 0
    outcome = sandbox.outcome(process.returncode)
    assert outcome.memory_killed is False
    assert running <= outcome.max_memory_used_mb < 128


def test_cgroup_a_child_under_the_limit_is_not_killed_and_reports_its_peak(
    tmp_path: Path,
) -> None:
    require_cgroup_v1()
    with Sandbox("charge", 128, 512, tmp_path / "env") as sandbox:
        _holds_40_mb_under_the_limit(sandbox)


def test_cgroup_each_process_runs_in_a_fresh_group_with_the_limit(tmp_path: Path) -> None:
    require_cgroup_v1()
    show = "print([l for l in open('/proc/self/cgroup').read().split() if ':memory:' in l][0])"
    with Sandbox("charge", 128, 512, tmp_path / "env") as sandbox:
        argv = sandbox.wrap([PYTHON, "-c", show])
        group = _group_of(argv)
        assert (group / "memory.limit_in_bytes").read_text().strip() == str(LIMIT_BYTES)
        memsw = group / "memory.memsw.limit_in_bytes"
        if memsw.exists():  # swap is no way around the limit
            assert memsw.read_text().strip() == str(LIMIT_BYTES)
        first = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
        assert first.stdout.strip().endswith(f"/eventmesh/{group.name}")
        sandbox.reset()
        assert not group.exists()
        second = run(sandbox, show)
        assert second.returncode == 0
        assert "/eventmesh/" in second.stdout
        assert second.stdout.strip() != first.stdout.strip()


def test_cgroup_a_child_killed_by_the_mesh_is_not_a_memory_kill(tmp_path: Path) -> None:
    require_cgroup_v1()
    with Sandbox("charge", 128, 512, tmp_path / "env") as sandbox:
        process = spawn(sandbox, [PYTHON, "-c", HOLD, "10"])
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
        process.kill()  # as at a timeout
        process.communicate(timeout=60)
        assert process.returncode == -signal.SIGKILL
        assert sandbox.outcome(process.returncode).memory_killed is False


def test_cgroup_a_child_that_exits_after_its_own_child_was_killed_is_not_a_memory_kill(
    tmp_path: Path,
) -> None:
    require_cgroup_v1()
    parent = (
        "import subprocess, sys; "
        f"r = subprocess.run([sys.executable, '-c', {ALLOCATE!r}, '600']); "
        "print(r.returncode); sys.exit(3)"
    )
    with Sandbox("charge", 128, 512, tmp_path / "env") as sandbox:
        done = run(sandbox, parent)
        assert done.stdout == "-9\n"  # the OOM killer picked the allocating grandchild
        assert done.returncode == 3
        assert sandbox.outcome(done.returncode).memory_killed is False


def test_cgroup_reset_kills_what_the_process_left_running(tmp_path: Path) -> None:
    require_cgroup_v1()
    leave = (
        "import subprocess; "
        "p = subprocess.Popen(['sleep', '300'], start_new_session=True, "
        "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); print(p.pid)"
    )
    with Sandbox("charge", 128, 512, tmp_path / "env") as sandbox:
        argv = sandbox.wrap([PYTHON, "-c", leave])
        group = _group_of(argv)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
        straggler = int(done.stdout)
        assert not _gone_or_zombie(straggler)
        sandbox.reset()
        assert _gone_or_zombie(straggler)
        assert not group.exists()


def test_cgroup_close_removes_the_group(tmp_path: Path) -> None:
    require_cgroup_v1()
    sandbox = Sandbox("charge", 128, 512, tmp_path / "env")
    group = _group_of(sandbox.wrap([PYTHON, "-V"]))
    assert group.is_dir()
    sandbox.close()
    assert not group.exists()


def test_cgroup_a_child_that_cannot_join_its_group_never_runs(tmp_path: Path) -> None:
    require_cgroup_v1()
    marker = tmp_path / "ran"
    with Sandbox("charge", 128, 512, tmp_path / "env") as sandbox:
        argv = sandbox.wrap([PYTHON, "-c", f"open({str(marker)!r}, 'w')"])
        _group_of(argv).rmdir()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 125
        assert "eventmesh sandbox: cannot join the memory cgroup" in done.stderr
        assert not marker.exists()


def test_cgroup_stale_groups_of_dead_meshes_are_removed_only_when_empty(tmp_path: Path) -> None:
    caps = require_cgroup_v1()
    assert caps.cgroup_v1 is not None
    with Sandbox("live", 128, 512, tmp_path / "env") as sandbox:
        live = _group_of(sandbox.wrap([PYTHON, "-V"]))
        parent = caps.cgroup_v1 / _cgroup_memory.PARENT
        dead_empty = parent / "999999999.1.1.ghost"  # above any pid_max: a mesh that is gone
        dead_busy = parent / "999999999.1.2.ghost"
        dead_empty.mkdir()
        dead_busy.mkdir()
        sleeper = subprocess.Popen(["sleep", "300"])
        try:
            (dead_busy / "cgroup.procs").write_text(str(sleeper.pid))
            _cgroup_memory.sweep_stale_groups(caps.cgroup_v1)
            assert not dead_empty.exists()
            assert dead_busy.exists()  # a process still in it: left alone
            assert live.exists()  # a live mesh's group, empty or not: left alone
        finally:
            sleeper.kill()
            sleeper.wait()
        deadline = time.monotonic() + 10
        while dead_busy.exists() and time.monotonic() < deadline:
            _cgroup_memory.sweep_stale_groups(caps.cgroup_v1)
            time.sleep(0.01)
        assert not dead_busy.exists()


# -- the watchdog (forced on: the cgroups hidden) -----------------------------------------------


def test_watchdog_a_child_past_the_limit_is_killed_and_reported_at_the_limit(
    tmp_path: Path,
) -> None:
    with Sandbox("charge", 128, 512, tmp_path / "env", capabilities=watchdog_only()) as sandbox:
        assert sandbox.mechanisms.memory == "watchdog"
        done = run(sandbox, ALLOCATE, "600")
        assert "survived" not in done.stdout
        assert done.returncode == -signal.SIGKILL
        assert sandbox.outcome(done.returncode) == ProcessOutcome(True, 128)


def test_watchdog_counts_the_whole_process_tree(tmp_path: Path) -> None:
    parent = (
        "import subprocess, sys; "
        f"subprocess.run([sys.executable, '-c', {ALLOCATE!r}, '600']); print('parent survived')"
    )
    with Sandbox("charge", 128, 512, tmp_path / "env", capabilities=watchdog_only()) as sandbox:
        done = run(sandbox, parent)
        assert "survived" not in done.stdout
        assert done.returncode == -signal.SIGKILL
        assert sandbox.outcome(done.returncode).memory_killed is True


def test_watchdog_a_child_under_the_limit_is_not_killed_and_reports_its_peak(
    tmp_path: Path,
) -> None:
    with Sandbox("charge", 128, 512, tmp_path / "env", capabilities=watchdog_only()) as sandbox:
        _holds_40_mb_under_the_limit(sandbox)
        sandbox.reset()
        assert sandbox.max_memory_used_mb() == 0  # counters start fresh for the next process


# -- fallbacks and cgroup v2's files (a fake hierarchy: no root needed) ---------------------------


def test_an_unusable_cgroup_falls_back_to_the_watchdog_with_a_note(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_cgroup = tmp_path / "file"
    not_a_cgroup.write_text("")
    caps = replace(watchdog_only(), cgroup_v1=not_a_cgroup, shell="/bin/sh")
    with (
        caplog.at_level(logging.WARNING, "eventmesh.process"),
        Sandbox("charge", 128, 512, tmp_path / "env", capabilities=caps) as sandbox,
    ):
        assert sandbox.mechanisms.memory == "watchdog"
        assert sandbox.mechanisms.notes[0].startswith("cgroup v1 unavailable (")
    assert "sandbox of charge: cgroup v1 unavailable" in caplog.text


def _fake_v2(base: Path) -> Capabilities:
    """A unified hierarchy's files as the kernel would show them (empty delegation)."""
    (base / "eventmesh").mkdir(parents=True)
    (base / "cgroup.subtree_control").write_text("")
    (base / "eventmesh" / "cgroup.subtree_control").write_text("")
    return Capabilities(cgroup_v2=base, proc=True, shell="/bin/sh")


def test_cgroup_v2_files_give_the_limit_the_peak_and_the_oom_kill(tmp_path: Path) -> None:
    base = tmp_path / "cgroup"
    with Sandbox("charge", 128, 512, tmp_path / "env", capabilities=_fake_v2(base)) as sandbox:
        assert sandbox.mechanisms.memory == "cgroup-v2"
        assert (base / "cgroup.subtree_control").read_text() == "+memory"  # delegated down
        group = _group_of(sandbox.wrap([PYTHON, "-V"]))
        assert group.parent == base / "eventmesh"
        assert (group / "memory.max").read_text() == str(LIMIT_BYTES)
        (group / "memory.peak").write_text(f"{50 * 1024 * 1024 + 1}\n")
        (group / "memory.events").write_text("low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n")
        assert sandbox.outcome(0) == ProcessOutcome(False, 51)  # rounded up, as whole MB
        (group / "memory.peak").write_text(f"{LIMIT_BYTES}\n")
        (group / "memory.events").write_text("low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n")
        assert sandbox.outcome(1) == ProcessOutcome(False, 128)  # exited on its own
        assert sandbox.outcome(-signal.SIGKILL) == ProcessOutcome(True, 128)


def test_cgroup_v2_without_delegation_falls_back_to_the_watchdog(tmp_path: Path) -> None:
    base = tmp_path / "cgroup"
    (base / "cgroup.subtree_control").mkdir(parents=True)  # unreadable as a file: refused
    caps = Capabilities(cgroup_v2=base, proc=True, shell="/bin/sh")
    with Sandbox("charge", 128, 512, tmp_path / "env", capabilities=caps) as sandbox:
        assert sandbox.mechanisms.memory == "watchdog"
        assert sandbox.mechanisms.notes[0].startswith("cgroup v2 unavailable (")
