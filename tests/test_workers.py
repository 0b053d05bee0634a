"""``eventmesh run app:mesh --workers N``: real worker processes sharing one storage, a dead
one restarted, SIGTERM passed to all for a graceful drain."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

APP = (
    "from eventmesh import Mesh\n"
    "mesh = Mesh()\n"
    "@mesh.function\n"
    "async def hello(event, context):\n"
    "    return 'hi'\n"
    "mesh.queue('orders').subscribe(hello)\n"
)


SHORT_PAUSE = (
    "import eventmesh._workers as workers\n"
    "workers.RESTART_PAUSE = 0.05\n"
    "from eventmesh.cli import main\n"
    "raise SystemExit(main())\n"
)
"""``eventmesh`` as ``python -m eventmesh.cli`` runs it, but the supervisor pauses 0.05 s
instead of 1 s before restarting a dead worker: what these tests assert (a dead worker is
started again; 5 quick deaths in a row stop everything) does not depend on the pause's
length, and the default made the quick-death test wait 4 s of pauses. The workers are
started by the supervisor, unpatched."""


async def _start(tmp_path: Path, *extra: str) -> asyncio.subprocess.Process:
    (tmp_path / "app.py").write_text(APP)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", SHORT_PAUSE, "run", "app:mesh", *extra,
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


async def _until(process: asyncio.subprocess.Process, seen: list[str], pattern: str) -> str:
    """Read lines (bounded in real time: these are OS processes) until one matches."""
    assert process.stdout is not None
    while True:
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=30)).decode()
        if not line:
            raise AssertionError(f"ended before {pattern!r}:\n{''.join(seen)}")
        seen.append(line)
        if re.search(pattern, line):
            return line


async def test_workers_run_a_dead_one_is_restarted_and_sigterm_drains_all(
    tmp_path: Path,
) -> None:
    supervisor = await _start(tmp_path, "--workers", "2", "--storage", "sqlite:///w.db")
    seen: list[str] = []
    pids: dict[int, int] = {}
    try:
        for _ in range(2):
            line = await _until(supervisor, seen, r"worker (\d) started \(pid (\d+)\)")
            match = re.search(r"worker (\d) started \(pid (\d+)\)", line)
            assert match is not None
            pids[int(match.group(1))] = int(match.group(2))
        assert sorted(pids) == [1, 2]
        for _ in range(2):
            await _until(supervisor, seen, r"running <Mesh storage='sqlite:///w.db'")

        os.kill(pids[1], signal.SIGKILL)
        await _until(supervisor, seen, r"worker 1 \(pid \d+\) ended with signal 9")
        line = await _until(supervisor, seen, r"worker 1 started \(pid (\d+)\)")
        assert f"pid {pids[1]})" not in line  # a new process
        await _until(supervisor, seen, r"running <Mesh")

        supervisor.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(supervisor.wait(), timeout=30) == 0
        assert supervisor.stdout is not None
        seen.append((await supervisor.stdout.read()).decode())
    finally:
        if supervisor.returncode is None:  # the test failed: leave no process behind
            supervisor.kill()
            for pid in pids.values():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            await asyncio.wait_for(supervisor.wait(), timeout=30)
    output = "".join(seen)
    assert "stopped: every worker drained" in output
    assert output.count("received SIGTERM: draining") == 2  # each worker drained
    for pid in pids.values():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"worker pid {pid} still runs")


async def test_several_workers_need_storage_they_can_share(tmp_path: Path) -> None:
    process = await _start(tmp_path, "--workers", "2")
    assert process.stdout is not None
    output = (await asyncio.wait_for(process.stdout.read(), timeout=30)).decode()
    assert await process.wait() == 1
    assert "--workers 2 needs storage that several processes share" in output


QUICK_DEATHS_UNDER_LOAD = SHORT_PAUSE.replace(
    "workers.RESTART_PAUSE = 0.05\n", "workers.RESTART_PAUSE = 0.05\nworkers.QUICK_DEATH = 30.0\n"
)
""":data:`SHORT_PAUSE`, where a death within 30 s of the start is quick: a worker failing at
import counts as a quick death even when a loaded machine makes its import take over the
default's 2 s (the test then waited for deaths that never counted)."""


async def test_a_worker_that_dies_at_once_is_not_restarted_forever(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text(
        "from eventmesh import Mesh\n"
        "import os\n"
        "mesh = Mesh()\n"
        "if os.environ.get('EVENTMESH_WORKER'):\n"
        "    raise SystemExit(3)  # every worker fails at import\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", QUICK_DEATHS_UNDER_LOAD, "run", "broken:mesh", "--workers", "2",
        "--storage", "sqlite:///b.db",
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert process.stdout is not None
    output = (await asyncio.wait_for(process.stdout.read(), timeout=60)).decode()
    assert await process.wait() == 1
    assert "5 times in a row" in output and "stopping" in output
