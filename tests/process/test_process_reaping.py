"""Who reaps an environment's process: asyncio's child watcher alone.

Killing the process through asyncio's ``Process.kill()`` makes ``Popen.send_signal`` poll it
first (``waitpid(pid, WNOHANG)``): when the process has just exited, that poll reaps it, and the
watcher thread, whose own ``waitpid`` then fails, logs "Unknown child process pid N, will report
returncode 255" and reports 255 in place of the real exit status (the crash's "exit status N" in
Lambda's error message, the memory kill's signal). The environment signals by pid instead.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from process_helpers import CodeDir, alive, eventually

from eventmesh.process._environment import ProcessEnvironment
from eventmesh.process._launch import plan_launch
from eventmesh.process._messages import Invocation
from eventmesh.process._sandbox_seam import NoSandbox

EXIT_AFTER_ONE_EVENT = """\
#!/bin/sh
curl -sS -o /dev/null "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next"
exit 3
"""


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return False


def _bare_environment(code: Path, environment_id: str, name: str) -> ProcessEnvironment:
    """An environment for ``code``'s bootstrap with no sandbox and a bare PATH."""
    return ProcessEnvironment(
        plan_launch("function.handler", code),
        environment_id,
        name,
        lambda root: NoSandbox(environment_id, 128, 512, Path(root)),
        lambda api: {"AWS_LAMBDA_RUNTIME_API": api, "PATH": "/usr/bin:/bin"},
        6 * 1024 * 1024,
    )


@pytest.fixture
def held_watcher(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """asyncio's threaded child watcher waits for this event before its ``waitpid``: a
    process that exits stays a zombie until the test lets the watcher see it."""
    from asyncio import unix_events

    with warnings.catch_warnings():  # deprecated from Python 3.12 (watchers go in 3.14)
        warnings.simplefilter("ignore", DeprecationWarning)
        watcher = asyncio.get_event_loop_policy().get_child_watcher()
    if not isinstance(watcher, unix_events.ThreadedChildWatcher):
        pytest.skip("asyncio here does not use the threaded child watcher")
    release = threading.Event()
    original = unix_events.ThreadedChildWatcher._do_waitpid

    def held(self: Any, loop: Any, expected_pid: int, callback: Any, args: Any) -> None:
        release.wait(60)
        original(self, loop, expected_pid, callback, args)

    monkeypatch.setattr(unix_events.ThreadedChildWatcher, "_do_waitpid", held)
    yield release
    release.set()


async def test_killing_a_process_that_just_exited_leaves_its_exit_status_to_the_watcher(
    code_dir: CodeDir, held_watcher: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    code = code_dir(bootstrap=EXIT_AFTER_ONE_EVENT)
    environment = _bare_environment(code, "env-reaping", "reaping")
    try:
        assert (await asyncio.wait_for(environment.start(), 60)).kind == "ready"
        pid = environment.pid
        assert pid is not None
        request = Invocation(str(uuid.uuid4()), b"{}", int(time.time() * 1000) + 60_000, "arn")
        invoke = asyncio.ensure_future(environment.invoke(request))
        # The runtime takes the event and exits 3; nobody has reaped it yet.
        await eventually(lambda: _zombie(pid), timeout=60)
        invoke.cancel()  # the deadline comes at that moment: the environment kills it
        with pytest.raises(asyncio.CancelledError):
            await invoke
        assert _zombie(pid), "the kill reaped the process behind asyncio's watcher"
        held_watcher.set()
        await asyncio.wait_for(environment.wait_exit(), 60)
        assert environment.returncode == 3
        assert not alive(pid)
    finally:
        held_watcher.set()
        await environment.close()
    assert "Unknown child process" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == "asyncio"]


WAIT_FOR_EVENTS = """\
#!/bin/sh
while true; do
  curl -sS -o /dev/null "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next"
  sleep 0.1
done
"""


async def test_an_environment_closed_while_its_process_spawns_leaves_no_process(
    code_dir: CodeDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The mesh stops (closing every environment) while a cold start is in the middle of
    # spawning: the process that comes out of the spawn is killed and reaped, and the cold
    # start ends as a runtime exit rather than an AttributeError on the closed sandbox.
    from eventmesh.process import _environment

    spawning = asyncio.Event()
    proceed = asyncio.Event()
    spawned: list[asyncio.subprocess.Process] = []
    real_spawn = asyncio.create_subprocess_exec

    async def slow_spawn(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        spawning.set()
        await proceed.wait()
        process = await real_spawn(*args, **kwargs)
        spawned.append(process)
        return process

    monkeypatch.setattr(_environment.asyncio, "create_subprocess_exec", slow_spawn)
    code = code_dir(bootstrap=WAIT_FOR_EVENTS)
    environment = _bare_environment(code, "env-closed-at-spawn", "closed")
    start = asyncio.ensure_future(environment.start())
    await asyncio.wait_for(spawning.wait(), 60)
    await environment.close()
    proceed.set()
    outcome = await asyncio.wait_for(start, 60)
    assert outcome.kind == "exited"
    assert len(spawned) == 1
    await asyncio.wait_for(spawned[0].wait(), 60)  # killed, and reaped by its watcher
    await environment.close()
