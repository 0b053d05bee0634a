"""DeliveryQueue: a resource's deliveries kept in the QueueStore, retried as delayed re-sends.

Every test runs on the memory backend and on SQLite, on the virtual clock; a restart test and
a crash test (a real process, SIGKILLed while its deliveries wait to retry) run on SQLite.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import delivery_crash_worker as crash
import pytest
from opentelemetry import trace

from eventmesh import ConfigurationError
from eventmesh.backends.memory import memory_backend
from eventmesh.backends.protocols import (
    Backend,
    Delivery,
    OutgoingMessage,
    QueueStats,
    QueueStore,
)
from eventmesh.backends.sqlite import sqlite_backend
from eventmesh.delivery.durable import DeliveryQueue, StoredDelivery
from eventmesh.testing import VirtualClock

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(crash.__file__).resolve()
T0 = 1_767_225_600.0  # VirtualClock's default wall time at now() == 0
NAME = "eventmesh.test.deliveries"
TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
TRACEPARENT = f"00-{TRACE_ID:032x}-00f067aa0ba902b7-01"

Plan = dict[str, list[float | None]]
Attempt = Callable[[StoredDelivery], Awaitable[float | None]]


class Attempts:
    """The owner's ``attempt``: records each call; returns the route's planned outcomes in
    turn (``None``, finished, once the plan is used up). A route in ``blocked`` waits for
    ``release``; one in ``raising`` raises on its first attempt."""

    def __init__(
        self,
        clock: VirtualClock,
        plan: Plan | None = None,
        *,
        blocked: Sequence[str] = (),
        raising: Sequence[str] = (),
    ) -> None:
        self.clock = clock
        self.plan = {route: list(outcomes) for route, outcomes in (plan or {}).items()}
        self.blocked = set(blocked)
        self.raising = set(raising)
        self.release = asyncio.Event()
        self.seen: list[tuple[float, StoredDelivery]] = []
        self.trace_ids: list[int] = []

    async def __call__(self, delivery: StoredDelivery) -> float | None:
        self.seen.append((self.clock.now(), delivery))
        self.trace_ids.append(trace.get_current_span().get_span_context().trace_id)
        if delivery.route in self.raising:
            self.raising.discard(delivery.route)
            raise RuntimeError(f"owner bug on {delivery.route}")
        if delivery.route in self.blocked:
            await self.release.wait()
        outcomes = self.plan.get(delivery.route)
        return outcomes.pop(0) if outcomes else None

    def of(self, route: str) -> list[tuple[float, StoredDelivery]]:
        return [(at, delivery) for at, delivery in self.seen if delivery.route == route]

    def routes(self) -> list[str]:
        return [delivery.route for _, delivery in self.seen]


async def settled(clock: VirtualClock, rounds: int = 5) -> None:
    """Let chains of store operations (take, attempt, send, delete) finish; time stands."""
    for _ in range(rounds):
        await clock.advance(0)


@pytest.fixture(params=["memory", "sqlite"])
async def backend(
    request: pytest.FixtureRequest, clock: VirtualClock, tmp_path: Path
) -> AsyncIterator[Backend]:
    if request.param == "memory":
        opened = memory_backend(clock)
    else:
        opened = sqlite_backend(tmp_path / "mesh.db", clock, synchronous="NORMAL")
    yield opened
    await opened.close()


Make = Callable[..., DeliveryQueue]


@pytest.fixture
async def make(backend: Backend, clock: VirtualClock) -> AsyncIterator[Make]:
    """Build a DeliveryQueue on the backend; every one built is stopped at the end."""
    made: list[DeliveryQueue] = []

    def build(attempt: Attempt, **options: Any) -> DeliveryQueue:
        queue = DeliveryQueue(NAME, lambda: backend.queues, clock, attempt, **options)
        made.append(queue)
        return queue

    yield build
    for queue in made:
        await queue.stop()


# -- the life of a delivery ----------------------------------------------------------------------
async def test_a_delivery_is_attempted_once_and_deleted_when_finished(
    backend: Backend, clock: VirtualClock
) -> None:
    asked: list[int] = []

    def store() -> QueueStore:
        asked.append(1)
        return backend.queues

    attempts = Attempts(clock)
    queue = DeliveryQueue(NAME, store, clock, attempts)
    assert asked == []  # the store is read on first use: a mesh binds it when it starts
    await queue.put("sub-1", b'{"Message": "hello"}')
    queue.start()
    await settled(clock)
    try:
        assert attempts.seen == [(0.0, StoredDelivery("sub-1", b'{"Message": "hello"}', 0, T0, {}))]
        assert await queue.stats() == QueueStats(visible=0, in_flight=0, delayed=0)
    finally:
        await queue.stop()


async def test_a_retry_comes_after_exactly_the_delay_returned(
    make: Make, clock: VirtualClock
) -> None:
    attempts = Attempts(clock, {"sub-1": [30.0, 45.0]})
    queue = make(attempts)
    queue.start()
    await queue.put("sub-1", b"body")
    await settled(clock)
    assert len(attempts.seen) == 1
    assert await queue.stats() == QueueStats(visible=0, in_flight=0, delayed=1)
    assert await queue.pending() == 0  # a retry that waits is not pending work

    await clock.advance(29.99)
    assert len(attempts.seen) == 1
    await clock.advance(0.01)
    await settled(clock)
    await clock.advance(44.99)
    assert len(attempts.seen) == 2
    await clock.advance(0.01)
    await settled(clock)

    assert [(at, d.retries, d.first_attempt_at, d.body) for at, d in attempts.seen] == [
        (0.0, 0, T0, b"body"),
        (30.0, 1, T0, b"body"),
        (75.0, 2, T0, b"body"),
    ]
    assert (await queue.stats()).total == 0  # finished on the third attempt: deleted


async def test_a_new_delivery_may_wait_before_its_first_attempt(
    make: Make, clock: VirtualClock
) -> None:
    attempts = Attempts(clock)
    queue = make(attempts)
    queue.start()
    await queue.put_many([("a", b"1"), ("b", b"2")], delay=10.0)
    await clock.advance(9.99)
    assert attempts.seen == []
    await clock.advance(0.01)
    await settled(clock)
    assert sorted(attempts.routes()) == ["a", "b"]
    assert {d.first_attempt_at for _, d in attempts.seen} == {T0}  # when put, not attempted


async def test_pending_counts_deliveries_due_or_being_attempted(
    make: Make, clock: VirtualClock
) -> None:
    attempts = Attempts(clock, {"later": [60.0]}, blocked=["slow"])
    queue = make(attempts, workers=1)
    await queue.put("slow", b"")
    await queue.put("later", b"")
    await queue.put("done", b"")
    assert await queue.pending() == 3
    assert await queue.stats() == QueueStats(visible=3, in_flight=0, delayed=0)

    queue.start()
    await settled(clock)
    assert attempts.routes() == ["slow"]  # one worker: the others wait their turn
    assert await queue.pending() == 3  # one being attempted, two due
    assert await queue.stats() == QueueStats(visible=2, in_flight=1, delayed=0)

    attempts.release.set()
    await settled(clock)
    assert attempts.routes() == ["slow", "later", "done"]
    assert await queue.pending() == 0
    assert await queue.stats() == QueueStats(visible=0, in_flight=0, delayed=1)


async def test_up_to_workers_deliveries_are_attempted_at_once(
    make: Make, clock: VirtualClock
) -> None:
    routes = [f"r{i}" for i in range(5)]
    attempts = Attempts(clock, blocked=routes)
    queue = make(attempts, workers=3)
    await queue.put_many([(route, b"") for route in routes])
    queue.start()
    await settled(clock)
    assert len(attempts.seen) == 3
    attempts.release.set()
    await settled(clock)
    assert sorted(attempts.routes()) == routes
    assert (await queue.stats()).total == 0


async def test_a_backlog_of_instant_attempts_lets_other_tasks_run(
    make: Make, clock: VirtualClock
) -> None:
    ticks = 0
    seen_at: list[int] = []

    async def tick() -> None:
        nonlocal ticks
        while len(seen_at) < 100:  # then the loop may settle
            ticks += 1
            await asyncio.sleep(0)

    async def attempt(delivery: StoredDelivery) -> None:
        seen_at.append(ticks)

    queue = make(attempt, workers=1)
    await queue.put_many([(f"r{i}", b"") for i in range(100)])
    ticker = asyncio.create_task(tick())
    try:
        queue.start()
        await settled(clock)
    finally:
        ticker.cancel()
    assert len(seen_at) == 100
    assert len(set(seen_at)) >= 100 // 16  # the ticker ran between every few attempts


# -- what goes wrong ---------------------------------------------------------------------------
async def test_a_stored_message_that_is_not_a_delivery_is_logged_and_deleted(
    make: Make, backend: Backend, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    good = {"route": "r", "retries": "0", "first_attempt_at": repr(T0)}
    damaged = [
        {},  # foreign: no attributes of ours
        {"retries": "0", "first_attempt_at": repr(T0)},  # no route
        {**good, "retries": "many"},
        {**good, "retries": "-1"},
        {**good, "first_attempt_at": "yesterday"},
        {**good, "first_attempt_at": "nan"},
    ]
    await backend.queues.send(NAME, [OutgoingMessage(b"?", attributes) for attributes in damaged])
    attempts = Attempts(clock)
    queue = make(attempts, workers=1)
    await queue.put("fine", b"ok")
    with caplog.at_level(logging.ERROR, logger="eventmesh.delivery"):
        queue.start()
        await settled(clock)
    assert attempts.routes() == ["fine"]  # the worker lived on
    assert (await queue.stats()).total == 0
    assert len([r for r in caplog.records if "not a delivery" in r.getMessage()]) == len(damaged)


async def test_an_attempt_that_raises_is_logged_and_attempted_again_after_visibility(
    make: Make, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    attempts = Attempts(clock, raising=["buggy"])
    queue = make(attempts, workers=1, visibility=50.0)
    with caplog.at_level(logging.ERROR, logger="eventmesh.delivery"):
        queue.start()
        await queue.put("buggy", b"x")
        await settled(clock)
    (record,) = caplog.records
    assert "buggy" in record.getMessage() and record.exc_info is not None
    assert await queue.stats() == QueueStats(visible=0, in_flight=1, delayed=0)  # kept

    await queue.put("other", b"y")  # the worker survived
    await settled(clock)
    assert attempts.routes() == ["buggy", "other"]

    await clock.advance(49.99)
    assert attempts.routes() == ["buggy", "other"]
    await clock.advance(0.01)
    await settled(clock)
    assert [(at, d.retries) for at, d in attempts.of("buggy")] == [(0.0, 0), (50.0, 0)]
    assert (await queue.stats()).total == 0


async def test_stop_keeps_what_waits_or_is_being_attempted_in_the_store(
    make: Make, clock: VirtualClock
) -> None:
    attempts = Attempts(clock, {"retrying": [100.0]}, blocked=["stuck"])
    queue = make(attempts, visibility=30.0)
    await queue.put_many([("retrying", b""), ("stuck", b"")])
    queue.start()
    await settled(clock)
    started = time.monotonic()
    await queue.stop()  # cancels the attempt of "stuck"
    assert time.monotonic() - started < 1.0
    assert await queue.stats() == QueueStats(visible=0, in_flight=1, delayed=1)

    await clock.advance(200.0)  # stopped: nothing is attempted
    assert len(attempts.seen) == 2
    assert await queue.stats() == QueueStats(visible=2, in_flight=0, delayed=0)

    attempts.release.set()
    queue.start()  # a queue starts again after a stop
    await settled(clock)
    assert sorted((d.route, d.retries) for _, d in attempts.seen[2:]) == [
        ("retrying", 1),
        ("stuck", 0),
    ]
    assert (await queue.stats()).total == 0


async def test_an_idle_queue_polls_the_store_rarely_on_the_virtual_clock(
    clock: VirtualClock,
) -> None:
    backend = memory_backend(clock)
    receives = 0

    class Counting:  # the real memory store, with its receives counted
        def __getattr__(self, name: str) -> object:
            return getattr(backend.queues, name)

        async def receive(self, queue: str, n: int, v: float, wait: float = 0.0) -> list[Delivery]:
            nonlocal receives
            receives += 1
            return await backend.queues.receive(queue, n, v, wait)

    queue = DeliveryQueue(NAME, Counting, clock, Attempts(clock))  # type: ignore[arg-type]
    queue.start()
    await clock.advance(10 * 86400.0)
    await queue.stop()
    assert receives <= 10 * 24 + 1  # one long poll an hour, not a wake every few seconds


def test_workers_and_visibility_are_checked(clock: VirtualClock) -> None:
    backend = memory_backend(clock)
    attempts = Attempts(clock)
    with pytest.raises(ConfigurationError, match="workers"):
        DeliveryQueue(NAME, lambda: backend.queues, clock, attempts, workers=0)
    with pytest.raises(ConfigurationError, match="visibility"):
        DeliveryQueue(NAME, lambda: backend.queues, clock, attempts, visibility=0.0)


# -- trace context -----------------------------------------------------------------------------
async def test_the_trace_context_given_at_put_is_current_during_each_attempt(
    make: Make, clock: VirtualClock
) -> None:
    attempts = Attempts(clock, {"traced": [5.0]})
    queue = make(attempts, workers=1)
    await queue.put("traced", b"", trace={"traceparent": TRACEPARENT})
    queue.start()
    await settled(clock)
    await clock.advance(5.0)
    await settled(clock)
    await queue.put("plain", b"")
    await settled(clock)
    assert attempts.routes() == ["traced", "traced", "plain"]
    assert attempts.trace_ids == [TRACE_ID, TRACE_ID, 0]  # restored, kept on retry, detached
    assert attempts.seen[0][1].trace == {"traceparent": TRACEPARENT}
    assert trace.get_current_span().get_span_context().trace_id == 0


# -- restarts and crashes on SQLite ------------------------------------------------------------
async def test_a_queue_on_a_reopened_sqlite_file_attempts_what_the_last_one_left(
    tmp_path: Path,
) -> None:
    path = tmp_path / "mesh.db"
    clock = VirtualClock()
    before = sqlite_backend(path, clock, synchronous="NORMAL")
    first = Attempts(clock, {"retrying": [300.0]}, blocked=["stuck"])
    queue = DeliveryQueue(NAME, lambda: before.queues, clock, first, visibility=60.0)
    await queue.put_many([("retrying", b"r"), ("stuck", b"s")])
    await queue.put("later", b"l", delay=1000.0)
    queue.start()
    await settled(clock)
    await queue.stop()
    await before.close()
    assert sorted(first.routes()) == ["retrying", "stuck"]

    clock = VirtualClock(start=T0 + 10.0)  # a restart: monotonic time starts again
    after = sqlite_backend(path, clock, synchronous="NORMAL")
    second = Attempts(clock)
    queue = DeliveryQueue(NAME, lambda: after.queues, clock, second, visibility=60.0)
    queue.start()
    try:
        await clock.advance(49.99)
        assert second.seen == []  # "stuck" is hidden until T0 + 60
        await clock.advance(0.01)
        await settled(clock)
        await clock.advance(240.0)
        await settled(clock)
        await clock.advance(700.0)
        await settled(clock)
        assert [(at, d.route, d.retries, d.first_attempt_at, d.body) for at, d in second.seen] == [
            (50.0, "stuck", 0, T0, b"s"),
            (290.0, "retrying", 1, T0, b"r"),
            (990.0, "later", 0, T0, b"l"),
        ]
        assert (await queue.stats()).total == 0
    finally:
        await queue.stop()
        await after.close()


@pytest.fixture
def child_env() -> Iterator[dict[str, str]]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), str(ROOT / "tests"), env.get("PYTHONPATH")) if p
    )
    yield env


async def test_deliveries_waiting_to_retry_survive_a_sigkill(
    tmp_path: Path, child_env: dict[str, str]
) -> None:
    """A process puts deliveries on SQLite; each first attempt asks for a retry in a minute,
    or never ends; the process is killed. A queue on the same file attempts every one."""
    path, ready = tmp_path / "mesh.db", tmp_path / "ready"
    stderr = tmp_path / "child.err"
    started = time.time()
    with stderr.open("wb") as err:
        child = await asyncio.create_subprocess_exec(
            sys.executable, str(WORKER), str(path), str(ready),
            stderr=err, env=child_env, cwd=ROOT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30.0
        while not ready.exists():
            if child.returncode is not None or time.monotonic() > deadline:
                pytest.fail(f"the child did not get ready:\n{stderr.read_text()}")
            await asyncio.sleep(0.02)
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGKILL)
        await child.wait()
    assert child.returncode == -signal.SIGKILL

    clock = VirtualClock(start=time.time())
    backend = sqlite_backend(path, clock, synchronous="NORMAL")
    attempts = Attempts(clock)
    queue = DeliveryQueue(crash.QUEUE, lambda: backend.queues, clock, attempts, workers=4)
    try:
        stats = await queue.stats()
        assert stats.total == len(crash.ROUTES)
        queue.start()
        await clock.advance(crash.RETRY_DELAY + 1.0)
        await settled(clock)
        assert sorted(attempts.routes()) == sorted(crash.ROUTES)  # each once, none lost
        for _, delivery in attempts.seen:
            # A retrying delivery's first attempt was made by the killed process; a hanging
            # one's was cut by the kill, so it has not been retried yet.
            expected = 1 if delivery.route in crash.RETRYING else 0
            assert delivery.retries == expected, delivery
            assert delivery.body == delivery.route.encode()
            assert started <= delivery.first_attempt_at <= clock.time()
        assert (await queue.stats()).total == 0
    finally:
        await queue.stop()
        await backend.close()
