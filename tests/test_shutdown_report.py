"""Stopping says what it waits for and what it abandons, per function and resource, with
counts; Event invocations a memory mesh stops with are counted and logged, not lost silently;
``eventmesh run`` logs the signal, exits non-zero when work was abandoned, and a second
signal stops it at once (real processes, real signals)."""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from eventmesh import Context, Mesh, Telemetry, _store_workers
from eventmesh.testing import VirtualClock, settle

ROOT = Path(__file__).resolve().parent.parent


def messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "eventmesh" and r.levelno == level]


TWO_ABANDONED = (
    "abandoned: function charge 2 Event invocations not run (0 queued, 2 waiting to retry, "
    "0 taken); memory storage keeps nothing after the process ends"
)


async def two_events_waiting_to_retry(mesh: Mesh, clock: VirtualClock) -> Any:
    """A started mesh whose function ``charge`` has two failed Event invocations waiting 60 s
    to retry; returns the function."""

    @mesh.function(name="charge")
    async def charge(event: Any, context: Context) -> None:
        raise ValueError("card declined")

    await mesh.start()
    await mesh.invoke("charge", {"id": 1}, invocation_type="Event")
    await mesh.invoke("charge", {"id": 2}, invocation_type="Event")
    await clock.advance(0)  # both failed once; their retries wait 60 s
    await settle()
    return charge


async def test_a_memory_mesh_counts_and_logs_the_event_invocations_it_stops_with(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    charge = await two_events_waiting_to_retry(mesh, clock)
    assert await mesh.stop() is False

    assert messages(caplog, logging.WARNING) == [TWO_ABANDONED]
    assert charge.stats.abandoned_events == 2
    assert charge.stats.as_dict()["abandoned_events"] == 2


async def test_a_stop_cancelled_while_workers_stop_is_finished_by_the_next_stop(
    mesh: Mesh,
    clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A second Ctrl-C lands while a function's workers stop (a handler ignoring its
    # cancellation holds one for a few seconds): `eventmesh run` cancels that stop and calls
    # stop(drain=False), which must finish the shut-down, not return at once as if done.
    waiting = asyncio.Event()
    stop_tasks = _store_workers.stop_tasks  # the function's store workers stop with it
    calls = []

    async def held_the_first_time(tasks: Any, grace: float = 5.0) -> None:
        calls.append(len(tasks))
        if len(calls) == 1:
            waiting.set()
            await asyncio.Event().wait()  # until cancelled
        await stop_tasks(tasks, grace)

    monkeypatch.setattr(_store_workers, "stop_tasks", held_the_first_time)

    charge = await two_events_waiting_to_retry(mesh, clock)
    stopping = asyncio.create_task(mesh.stop())
    await waiting.wait()
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping

    assert await mesh.stop(drain=False) is False
    assert len(calls) == 2  # the workers' stop, run again to its end
    assert messages(caplog, logging.WARNING) == [TWO_ABANDONED]
    assert charge.stats.abandoned_events == 2
    assert await mesh.stop() is True  # now stopped: nothing left to do


async def test_two_stops_at_once_shut_down_once(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    charge = await two_events_waiting_to_retry(mesh, clock)
    first, second = await asyncio.gather(mesh.stop(), mesh.stop())
    assert (first, second) == (False, True)  # the second finds the first under way
    assert messages(caplog, logging.WARNING) == [TWO_ABANDONED]
    assert charge.stats.abandoned_events == 2


async def test_a_durable_mesh_says_its_stored_events_wait_for_the_next_start(
    clock: VirtualClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="eventmesh")
    mesh = Mesh(
        storage=f"sqlite:///{tmp_path / 'mesh.db'}", clock=clock, telemetry=Telemetry(enabled=False)
    )

    @mesh.function(name="charge")
    async def charge(event: Any, context: Context) -> None:
        raise ValueError("card declined")

    await mesh.start()
    await mesh.invoke("charge", {"id": 1}, invocation_type="Event")
    await clock.advance(0)
    await settle()
    assert await mesh.stop() is True
    assert messages(caplog, logging.INFO)[-1] == (
        "function charge: 1 Event invocations stay in the store for the next start "
        "(0 queued, 1 waiting to retry, 0 taken)"
    )
    assert charge.stats.abandoned_events == 0


async def test_stop_logs_what_it_drains_and_what_it_abandons_at_the_deadline(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="eventmesh")
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=0.05)
    never = asyncio.Event()

    @mesh.function(name="charge", timeout=60)
    async def charge(event: Any, context: Context) -> None:
        await never.wait()

    @mesh.function(name="ship", timeout=60)
    async def ship(event: Any, context: Context) -> None:
        await never.wait()

    orders = mesh.queue("orders", visibility_timeout=120)
    orders.subscribe("ship")
    await mesh.start()
    await mesh.invoke("charge", {"id": 1}, invocation_type="Event")
    await orders.send({"id": 1})
    await settle()
    assert await mesh.stop() is False

    assert messages(caplog, logging.INFO)[-1] == (
        "draining (up to 0.05 s): function charge 1 running; function ship 1 running; "
        "QueueMapping orders -> ship 1 pending"
    )
    assert messages(caplog, logging.WARNING) == [
        "abandoned: function charge 1 running; function ship 1 running; "
        "QueueMapping orders -> ship 1 pending (the drain deadline of 0.05 s passed)",
        "abandoned: function charge 1 Event invocations not run (0 queued, 0 waiting to retry, "
        "1 taken); memory storage keeps nothing after the process ends",
    ]
    assert charge.stats.abandoned_events == 1


async def test_a_drain_that_finishes_says_so(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="eventmesh")
    release = asyncio.Event()

    @mesh.function(name="charge")
    async def charge(event: Any, context: Context) -> None:
        await release.wait()

    await mesh.start()
    await mesh.invoke("charge", {"id": 1}, invocation_type="Event")
    await settle()
    asyncio.get_running_loop().call_later(0.02, release.set)
    assert await mesh.stop() is True
    assert messages(caplog, logging.INFO)[-2:] == [
        "draining (up to 2 s): function charge 1 running",
        "drained",
    ]
    assert messages(caplog, logging.WARNING) == []


# -- eventmesh run, as a process -------------------------------------------------------------
APP = """\
import asyncio, sys
from eventmesh import Mesh

mesh = Mesh(drain_timeout={drain})

@mesh.function(timeout=900)
async def stuck(event, context):
    print("handler started", file=sys.stderr, flush=True)
    await asyncio.Event().wait()

class Kick:
    async def start(self):
        if {work}:
            await mesh.invoke("stuck", {{}}, invocation_type="Event")
    async def stop(self):
        pass
    async def pending(self):
        return 0

mesh.add_service(Kick())
"""


LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z [A-Z]+ +[\w.]+: ")


class Worker:
    """``eventmesh run app:mesh`` in a real process; its log lines as they come."""

    def __init__(self, tmp_path: Path, *, drain: float, work: bool) -> None:
        (tmp_path / "app.py").write_text(APP.format(drain=drain, work=work))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "eventmesh.cli", "run", "app:mesh"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:
            for line in self.process.stdout:
                # A log line's message, without the time, level and logger before it.
                self.lines.put(LOG_PREFIX.sub("", line.rstrip("\n")))

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        """The first line (from now) containing ``text``; fails after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.process.kill()
                self.process.wait()
                self.reader.join()
                raise AssertionError(f"no line with {text!r}; saw {self.seen}") from None
            self.seen.append(line)
            if text in line:
                return line

    def finish(self, timeout: float = 30.0) -> tuple[int, list[str]]:
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            self.process.kill()  # if it did not finish in time
            self.reader.join()
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return code, self.seen


def test_run_logs_the_signal_and_exits_0_when_the_drain_finishes(tmp_path: Path) -> None:
    worker = Worker(tmp_path, drain=30, work=False)
    worker.wait_for("running <Mesh")
    worker.process.send_signal(signal.SIGINT)
    code, lines = worker.finish()
    assert code == 0
    assert "received SIGINT: draining for up to 30 s (send it again to stop at once)" in lines
    assert lines[-1] == "stopped"


def test_run_exits_1_when_the_drain_deadline_passes_with_work_left(tmp_path: Path) -> None:
    worker = Worker(tmp_path, drain=0.2, work=True)
    worker.wait_for("running <Mesh")
    worker.wait_for("handler started")
    os.kill(worker.process.pid, signal.SIGTERM)
    code, lines = worker.finish()
    assert code == 1
    assert "received SIGTERM: draining for up to 0.2 s (send it again to stop at once)" in lines
    assert "draining (up to 0.2 s): function stuck 1 running" in lines
    assert "abandoned: function stuck 1 running (the drain deadline of 0.2 s passed)" in lines
    assert lines[-1] == "stopped with work abandoned (exit status 1)"


@pytest.mark.parametrize(
    ("first", "second", "code"),
    [(signal.SIGTERM, signal.SIGINT, 130), (signal.SIGINT, signal.SIGTERM, 143)],
)
def test_a_second_signal_stops_at_once(
    tmp_path: Path, first: signal.Signals, second: signal.Signals, code: int
) -> None:
    worker = Worker(tmp_path, drain=600, work=True)
    worker.wait_for("handler started")
    os.kill(worker.process.pid, first)
    worker.wait_for("draining (up to 600 s): function stuck 1 running")
    os.kill(worker.process.pid, second)
    # Ended at once: far from the 600 s drain (finish fails after 20 s), and by the signal.
    exit_code, lines = worker.finish(timeout=20)
    assert exit_code == code
    assert f"received {second.name} again: stopping at once" in lines
    assert "abandoned: function stuck 1 running (the drain was cancelled)" in lines
    assert lines[-1] == "stopped at once; work in hand was abandoned"
