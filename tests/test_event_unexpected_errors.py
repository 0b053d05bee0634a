"""An Event invocation whose processing fails outside its handler is kept, never dropped.

A handler's own error is a function error, retried by Lambda's rules. What else may raise while
an event is processed (a bug in the machinery around the handler, a collaborator failing, the
store failing while it stores a retry) must lose nothing either: the event runs again later and
its ``max_pending`` place is released once, when it finally finishes. On the store path the
store keeps the message, which comes back after its visibility timeout (the function's timeout
+ 170 s); the hand-off path stores it to come back as late, or, if even storing fails, keeps it
in memory and puts it back in line after the store outage's pause (1, 1, 2, 4 ... s).

Failures are injected by making a collaborator raise a set number of times; the virtual clock
drives time. Expected run times are written by hand: timeout 10 s, so a visibility of 180 s.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from eventmesh import BackpressureError, Context, Mesh, Telemetry
from eventmesh.backends.memory import MemoryQueueStore
from eventmesh.backends.protocols import OutgoingMessage
from eventmesh.testing import VirtualClock

VISIBILITY = 180.0
"""A taken event's visibility timeout: the function's timeout (10 s) + 170 s."""


class Injected(RuntimeError):
    """The failure a test injects (never a handler's error)."""


class Failures:
    """How many more times an injected failure is raised."""

    def __init__(self) -> None:
        self.left = 0

    def arm(self, times: int = 1) -> None:
        self.left = times

    def check(self) -> None:
        if self.left:
            self.left -= 1
            raise Injected("injected")


@pytest.fixture
def store_sends(monkeypatch: pytest.MonkeyPatch) -> Failures:
    """Sends of Event invocations to the memory store fail while armed."""
    failures = Failures()
    send = MemoryQueueStore.send

    async def failing(
        self: MemoryQueueStore, queue: str, messages: list[OutgoingMessage]
    ) -> list[str]:
        if queue.startswith("eventmesh.async."):
            failures.check()
        return await send(self, queue, messages)

    monkeypatch.setattr(MemoryQueueStore, "send", failing)
    return failures


@pytest.fixture
def event_ages(monkeypatch: pytest.MonkeyPatch) -> Failures:
    """Recording an event's age (done for each event before it runs) fails while armed: a
    stand-in for any bug in the machinery around the handler."""
    failures = Failures()
    record = Telemetry.record_event_age

    def failing(self: Telemetry, function_name: str, age_ms: float) -> None:
        failures.check()
        record(self, function_name, age_ms)

    monkeypatch.setattr(Telemetry, "record_event_age", failing)
    return failures


def injected_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    """The log records carrying the injected failure's traceback, as (logger, level)."""
    return [
        (record.name, record.levelname)
        for record in caplog.records
        if record.exc_info is not None and isinstance(record.exc_info[1], Injected)
    ]


@pytest.fixture
def mesh(clock: VirtualClock) -> Iterator[Mesh]:
    yield Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=0.0)


async def refused(mesh: Mesh, name: str) -> bool:
    """Whether an Event invocation of ``name`` finds its queue full (max_pending 1)."""
    try:
        await mesh.invoke(name, "probe", "Event", timeout=0)
    except BackpressureError:
        return True
    return False


async def test_a_store_failure_while_storing_a_retry_keeps_the_event(
    mesh: Mesh,
    clock: VirtualClock,
    event_path: str,
    store_sends: Failures,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The handler fails at 0; storing its retry (due at 60) fails: the event is kept and runs
    again once the visibility timeout has passed (180), holding its place meanwhile."""
    caplog.set_level(logging.INFO, logger="eventmesh")
    runs: list[tuple[float, Any]] = []

    @mesh.function(name="flaky", timeout=10, max_pending=1)
    async def flaky(event: Any, context: Context) -> None:
        runs.append((clock.now(), event))
        if len(runs) == 1:
            raise RuntimeError("a function error: retried in a minute")

    async with mesh:
        await mesh.invoke("flaky", "first", "Event")
        store_sends.arm()
        await clock.advance(1)
        assert await refused(mesh, "flaky")  # kept: its place is still taken
        await clock.advance(VISIBILITY)
        assert runs == [(0.0, "first"), (VISIBILITY, "first")]
        assert not await refused(mesh, "flaky")  # finished: its place is free, once
        await clock.advance(1)
        assert await mesh.drain(0)
    assert runs[2:] == [(VISIBILITY + 1, "probe")]
    assert injected_lines(caplog) == [("eventmesh.async", "ERROR")]


async def test_a_failure_around_the_handler_keeps_the_event(
    mesh: Mesh,
    clock: VirtualClock,
    event_path: str,
    event_ages: Failures,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The machinery fails before the handler runs: the event runs after the visibility
    timeout, as a stored one comes back, and a later event is not held up."""
    caplog.set_level(logging.INFO, logger="eventmesh")
    runs: list[tuple[float, Any]] = []

    @mesh.function(name="plain", timeout=10, max_pending=2)
    async def plain(event: Any, context: Context) -> None:
        runs.append((clock.now(), event))

    async with mesh:
        event_ages.arm()
        await mesh.invoke("plain", "first", "Event")
        await clock.advance(1)
        await mesh.invoke("plain", "second", "Event")
        await clock.advance(1)
        assert runs == [(1.0, "second")]
        await clock.advance(VISIBILITY)
        assert await mesh.drain(0)
        for name in ("third", "fourth"):  # both places free again
            await mesh.invoke("plain", name, "Event", timeout=0)
        await clock.advance(1)
    assert runs == [
        (1.0, "second"),
        (VISIBILITY, "first"),
        (VISIBILITY + 2, "third"),
        (VISIBILITY + 2, "fourth"),
    ]
    assert plain.stats.dropped_events == 0
    assert injected_lines(caplog) == [("eventmesh.async", "ERROR")]


async def test_a_handed_over_event_that_cannot_be_stored_waits_in_memory(
    mesh: Mesh,
    clock: VirtualClock,
    monkeypatch: pytest.MonkeyPatch,
    event_ages: Failures,
    store_sends: Failures,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Hand-off only (the store path's event is in the store already): processing fails three
    times and so does storing the event each time; it goes back in line after the outage's
    pauses, 1 s (at 0), 1 s (at 1: the outage has lasted 1 s), 2 s (at 2), and runs at 4."""
    from eventmesh._async_queue import AsyncInvocationQueue

    monkeypatch.setattr(AsyncInvocationQueue, "hand_off", True)
    caplog.set_level(logging.INFO, logger="eventmesh")
    runs: list[tuple[float, Any]] = []

    @mesh.function(name="kept", timeout=10, max_pending=1)
    async def kept(event: Any, context: Context) -> None:
        runs.append((clock.now(), event))

    async with mesh:
        event_ages.arm(3)
        store_sends.arm(3)
        await mesh.invoke("kept", "first", "Event")
        await clock.advance(3.5)
        assert runs == []
        assert await refused(mesh, "kept")
        assert not await mesh.drain(0)
        await clock.advance(1)
        assert runs == [(4.0, "first")]
        assert await mesh.drain(0)
        assert not await refused(mesh, "kept")
        await clock.advance(1)
    assert runs == [(4.0, "first"), (4.5, "probe")]
    assert kept.stats.dropped_events == 0
    # Each processing failure once, with its traceback; the store's outage once, at its start.
    assert injected_lines(caplog) == [("eventmesh.async", "ERROR")] * 4


async def test_a_stop_while_a_kept_event_waits_in_memory_keeps_it_for_the_restart(
    mesh: Mesh,
    clock: VirtualClock,
    monkeypatch: pytest.MonkeyPatch,
    event_ages: Failures,
    store_sends: Failures,
) -> None:
    """Hand-off only: a stop during the outage's pause puts the event back in line; it runs
    at the next start."""
    from eventmesh._async_queue import AsyncInvocationQueue

    monkeypatch.setattr(AsyncInvocationQueue, "hand_off", True)
    runs: list[tuple[float, Any]] = []

    @mesh.function(name="kept", timeout=10, max_pending=1)
    async def kept(event: Any, context: Context) -> None:
        runs.append((clock.now(), event))

    async with mesh:
        event_ages.arm()
        store_sends.arm()
        await mesh.invoke("kept", "first", "Event")
        await clock.advance(0.5)
        await mesh.stop(drain=False)
    assert runs == []
    async with mesh:
        await clock.advance(0)
        assert runs == [(0.5, "first")]
        assert not await refused(mesh, "kept")


async def test_a_due_retry_whose_visibility_cannot_be_renewed_comes_back(
    mesh: Mesh, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hand-off only (a stored retry handed back when due): renewing its visibility fails once
    at 60; it comes back when the visibility it was taken with ends (60 + 180), and the store
    worker handing retries back is not stuck: another event's retry runs when due."""
    from eventmesh._async_queue import AsyncInvocationQueue

    monkeypatch.setattr(AsyncInvocationQueue, "hand_off", True)
    failures = Failures()
    change = MemoryQueueStore.change_visibility

    async def failing(self: MemoryQueueStore, queue: str, receipt: str, timeout: float) -> bool:
        failures.check()
        return await change(self, queue, receipt, timeout)

    monkeypatch.setattr(MemoryQueueStore, "change_visibility", failing)
    runs: list[tuple[float, Any]] = []

    @mesh.function(name="retried", timeout=10, max_pending=2)
    async def retried(event: Any, context: Context) -> None:
        runs.append((clock.now(), event))
        if sum(1 for _, seen in runs if seen == event) == 1:
            raise RuntimeError("a function error: retried in a minute")

    async with mesh:
        await mesh.invoke("retried", "a", "Event")
        failures.arm()
        await clock.advance(100)
        await mesh.invoke("retried", "b", "Event")
        await clock.advance(100)
        assert runs == [(0.0, "a"), (100.0, "b"), (160.0, "b")]
        await clock.advance(41)
        assert await mesh.drain(0)
    assert runs == [(0.0, "a"), (100.0, "b"), (160.0, "b"), (240.0, "a")]
