"""The private /tmp in a private mount namespace, on either mechanism: an ext4 image on a loop
device (disk-backed, preferred) and a tmpfs (where loop devices are missing).

Lambda: each execution environment has its own /tmp (512 MB by default, EphemeralStorage up
to 10,240 MB) that persists across its invocations and across a reset after a crash or a
timeout, and is not shared with any other environment. What only the disk-backed /tmp does
(not counted as memory, no loop device or image left) is in test_sandbox_disk.py.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_support import (
    HOLD,
    PRIVATE_TMP,
    PYTHON,
    mount_points,
    require_namespace,
    run,
    spawn,
    tmpfs_only,
)

from eventmesh.process import _private_tmp, _procfs
from eventmesh.process.sandbox import Capabilities, Sandbox, sweep_stale


@pytest.fixture(params=sorted(PRIVATE_TMP))
def private_tmp(request: pytest.FixtureRequest) -> Capabilities:
    """The capabilities giving the mechanism named by the parameter (skips without it)."""
    mechanism: str = request.param
    return PRIVATE_TMP[mechanism]()


@pytest.fixture
def outside_tmp() -> Iterator[Path]:
    """A directory outside the host's /tmp (which a sandboxed child cannot see at all)."""
    path = Path(tempfile.mkdtemp(prefix="eventmesh-sandbox-test-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _write(name: str, text: str = "kept") -> str:
    return f"open('/tmp/{name}', 'w').write({text!r})"


def _read(name: str) -> str:
    return (
        f"import os; print(open('/tmp/{name}').read() if os.path.exists('/tmp/{name}') else None)"
    )


def test_tmp_persists_across_processes_of_an_environment_and_no_further(
    tmp_path: Path, private_tmp: Capabilities
) -> None:
    name = f"note-{uuid.uuid4().hex}"
    with (
        Sandbox("a", 128, 512, tmp_path / "a", capabilities=private_tmp) as first,
        Sandbox("b", 128, 512, tmp_path / "b", capabilities=private_tmp) as second,
    ):
        # the fixture's capabilities pick it: the loop devices when offered
        assert first.mechanisms.tmp == ("ext4-loop" if private_tmp.loop_mkfs else "tmpfs-namespace")
        assert first.environment() == {}
        assert run(first, _write(name)).returncode == 0
        first.reset()
        assert run(first, _read(name)).stdout == "kept\n"  # the next process of the environment
        assert run(second, _read(name)).stdout == "None\n"  # another environment
        assert run(second, "import os; print(os.listdir('/tmp'))").stdout == "[]\n"
        assert not os.path.exists(f"/tmp/{name}")  # the host's /tmp
        assert (tmp_path / "a" / "tmp" / name).read_text() == "kept"  # where it lives


def test_tmp_survives_a_process_killed_mid_flight(
    tmp_path: Path, private_tmp: Capabilities
) -> None:
    with Sandbox("a", 128, 512, tmp_path / "a", capabilities=private_tmp) as sandbox:
        process = spawn(sandbox, [PYTHON, "-c", _write("work", "partial") + "\n" + HOLD, "1"])
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
        process.kill()  # a timeout, or a crash
        process.communicate(timeout=60)
        sandbox.reset()
        assert run(sandbox, _read("work")).stdout == "partial\n"


def test_the_hosts_tmp_is_invisible_and_untouched(
    tmp_path: Path, private_tmp: Capabilities
) -> None:
    host_file = Path(f"/tmp/eventmesh-host-{uuid.uuid4().hex}")
    host_file.write_text("host")
    try:
        with Sandbox("a", 128, 512, tmp_path / "a", capabilities=private_tmp) as sandbox:
            done = run(sandbox, f"import os; print(os.path.exists({str(host_file)!r}))")
            assert done.stdout == "False\n"
            run(sandbox, f"import os; open({str(host_file)!r}, 'w').write('child')")
        assert host_file.read_text() == "host"
    finally:
        host_file.unlink()


def test_another_environments_tmp_is_not_reachable_or_kept_alive(
    outside_tmp: Path, private_tmp: Capabilities
) -> None:
    with (
        Sandbox("a", 128, 512, outside_tmp / "a", capabilities=private_tmp) as first,
        Sandbox("b", 128, 512, outside_tmp / "b", capabilities=private_tmp) as second,
    ):
        assert run(first, _write("secret", "a's")).returncode == 0
        secret = outside_tmp / "a" / "tmp" / "secret"
        assert secret.read_text() == "a's"  # the host sees it there
        peek = f"import os; print(os.path.exists({str(secret)!r}))"
        assert run(second, peek).stdout == "False\n"  # b's process does not
        process = spawn(second, [PYTHON, "-c", HOLD, "1"])
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
        label = f"{_private_tmp.MOUNT_LABEL}."
        with open(f"/proc/{process.pid}/mountinfo") as lines:
            sandbox_mounts = [
                mount.split()[4]
                for mount in lines
                # a tmpfs is labelled in its source, an ext4 image in its root directory
                if f" - tmpfs {label}" in mount or mount.split()[3].startswith(f"/{label}")
            ]
        assert sandbox_mounts == ["/tmp"]  # no copy of a's /tmp to outlive a's reclaim
        process.communicate(timeout=60)


def test_writing_past_the_ephemeral_storage_size_fails_with_enospc(
    tmp_path: Path, private_tmp: Capabilities
) -> None:
    fill = """
import errno
written = 0
try:
    with open('/tmp/fill', 'wb') as out:
        for _ in range(32):
            out.write(b'x' * 1024 * 1024)
            out.flush()
            written += 1
except OSError as error:
    print(error.errno, written)
"""
    # 16 MB rather than Lambda's 512 MB minimum, so the test stays small.
    # ext4 keeps under 2 % for itself: 15 whole MB fit, not 16.
    with Sandbox(
        "a", 128, 16, tmp_path / "a", capabilities=private_tmp, _check_limits=False
    ) as sandbox:
        done = run(sandbox, fill)
        code, written = done.stdout.split()
        assert int(code) == errno.ENOSPC
        assert 15 <= int(written) <= 16


def test_the_tmpfs_has_the_ephemeral_storage_size(tmp_path: Path) -> None:
    with Sandbox("a", 128, 512, tmp_path / "a", capabilities=tmpfs_only()) as sandbox:
        (mount,) = [m for m in _procfs.mounts() if m.mount_point == str(sandbox.tmp_path)]
        assert mount.fstype == "tmpfs"
        assert "size=524288k" in mount.super_options.split(",")  # 512 MB


def test_close_unmounts_and_removes_everything(tmp_path: Path, private_tmp: Capabilities) -> None:
    sandbox = Sandbox("a", 128, 512, tmp_path / "a", capabilities=private_tmp)
    argv = sandbox.wrap([PYTHON, "-c", _write("x")])
    assert subprocess.run(argv, timeout=60, check=False).returncode == 0
    area = tmp_path / "a" / "tmp"
    assert str(area) in mount_points()
    groups = [Path(arg).parent for arg in argv if arg.endswith("/cgroup.procs")]
    sandbox.close()
    assert str(area) not in mount_points()
    assert not area.exists()
    assert all(not group.exists() for group in groups)
    sandbox.close()  # again: nothing left to do, no error


def test_the_spawned_pid_is_the_commands_and_its_arguments_arrive_intact(tmp_path: Path) -> None:
    require_namespace()
    tricky = ["a b", "'q'", '"d"', "$HOME", "*", ";echo x", "-c", "", "\\n"]
    with Sandbox("a", 128, 512, tmp_path / "a") as sandbox:
        process = spawn(
            sandbox,
            [PYTHON, "-c", "import os, sys; print(os.getpid()); print(sys.argv[1:])", *tricky],
        )
        stdout, _ = process.communicate(timeout=60)
        assert stdout.splitlines() == [str(process.pid), repr(tricky)]


def test_stale_mounts_of_dead_meshes_are_unmounted(tmp_path: Path) -> None:
    require_namespace()
    namespace = _procfs.pid_namespace()
    me = os.getpid()
    stale, live = tmp_path / "stale", tmp_path / "live"
    labels = {
        stale: f"{_private_tmp.MOUNT_LABEL}.{namespace}.999999999.1",
        live: f"{_private_tmp.MOUNT_LABEL}.{namespace}.{me}.{_procfs.start_time(me)}",
    }
    for path, label in labels.items():
        path.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", label, str(path)], check=True)
    try:
        sweep_stale()
        assert str(stale) not in mount_points()
        assert str(live) in mount_points()
    finally:
        for path in labels:
            _private_tmp.unmount(path)


def test_a_stale_mount_at_the_environments_own_path_is_replaced(
    tmp_path: Path, private_tmp: Capabilities
) -> None:
    area = tmp_path / "a" / "tmp"
    area.mkdir(parents=True)
    label = f"{_private_tmp.MOUNT_LABEL}.{_procfs.pid_namespace()}.999999999.1"
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", label, str(area)], check=True)
    (area / "old").write_text("from a crashed mesh")
    with Sandbox("a", 128, 512, tmp_path / "a", capabilities=private_tmp) as sandbox:
        assert run(sandbox, "import os; print(os.listdir('/tmp'))").stdout == "[]\n"
    assert str(area) not in mount_points()


def test_what_lives_under_the_hosts_tmp_is_said_to_be_hidden(tmp_path: Path) -> None:
    require_namespace()
    with Sandbox("a", 128, 512, tmp_path / "a") as sandbox:
        assert sandbox.hides("/tmp") is True
        assert sandbox.hides(tmp_path / "code") is True  # pytest's tmp_path is under /tmp
        assert sandbox.hides("/var/task") is False
        assert sandbox.hides("/tmpfoo") is False
        done = run(sandbox, f"import os; print(os.path.exists({str(tmp_path)!r}))")
        assert done.stdout == "False\n"
