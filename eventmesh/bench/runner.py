"""Producers: closed loop (as fast as it goes, a bounded number in flight) and open loop.

Open loop keeps a fixed schedule: event ``i`` is *meant* to be sent at ``start + i / rate``,
whatever the consumers do, and carries that intended time; when the producer falls behind
(the loop was busy) it sends what is overdue at once, still stamped with the intended times.
Latency is measured from there, so queueing delay is never hidden (no coordinated
omission). Between sends the producer waits with ``asyncio.sleep`` when the next send is
more than 2 ms away, else by yielding (``sleep(0)``), because the event loop's timers are
only as precise as its selector's millisecond timeout.

Closed loop: a *blocking* side (its call returns once the handler finished, as a
RequestResponse invocation does) gets ``concurrency`` callers in a loop; a *queueing* side
(its call returns once the event is queued) gets one producer that keeps at most
``concurrency`` events sent and not yet handled.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from eventmesh.bench.recorder import Recorder
from eventmesh.bench.workload import EventFactory

__all__ = ["FILL_CHUNK", "Plan", "Production", "Side", "complete", "fill_backlog", "produce"]

SPIN_BELOW = 0.002
"""Closer than this to the next intended send, the open-loop producer yields, not sleeps."""
FILL_CHUNK = 500
"""Events handed to a side's ``fill`` at a time when a backlog is pre-filled."""
FILL_CALLS = 8
"""``fill`` calls in flight at once while a backlog is pre-filled."""
YIELD_EVERY = 16
"""A producer with work to do still yields this often, as a real one would between sends."""
IDLE_SPINS = 64
"""Yields without any completion before a closed-loop producer waits a little longer."""


@dataclass
class Side:
    """One side of a scenario, ready to take events.

    ``call(event)`` delivers one event: it returns once the handler finished if ``blocking``,
    else once the event is queued. ``deliveries`` is how many handler samples one event makes
    (a topic with 10 subscribers: 10). ``settle`` waits for background work after the last
    sample (a mesh's drain); ``stats`` reads (errors, cold starts) after the run.
    """

    name: str
    call: Callable[[dict[str, Any]], Coroutine[Any, Any, Any]]
    blocking: bool
    deliveries: int = 1
    settle: Callable[[], Awaitable[Any]] | None = None
    stats: Callable[[], tuple[int, int]] | None = None
    fill: Callable[[list[dict[str, Any]]], Awaitable[Any]] | None = None
    """Backlog mode: store events (in bulk) while the consumers are not running yet."""
    start: Callable[[], Awaitable[Any]] | None = None
    """Backlog mode: start the consumers (they were not running while the backlog filled)."""
    extra: dict[str, object] = field(default_factory=dict)
    """Figures the side measured beside the samples (say, Redis memory per pending event)."""


@dataclass(frozen=True)
class Plan:
    """How much to send and how: ``events`` or ``duration``; ``rate`` for open loop."""

    events: int | None
    duration: float | None
    rate: float | None
    concurrency: int
    make_event: EventFactory


@dataclass(frozen=True)
class Production:
    started: float
    """The first intended send time (perf_counter)."""
    ended: float
    """When the producer stopped sending."""
    sent: int
    scheduled_end: float | None = None
    """Open loop: the last intended send time (the producer itself may finish later)."""

    @property
    def window_end(self) -> float:
        """Where the production window ends, for the backlog's trend."""
        return self.ended if self.scheduled_end is None else self.scheduled_end


async def produce(side: Side, plan: Plan, recorder: Recorder) -> Production:
    """Send events to ``side`` as the plan says; count them in ``recorder.sent``."""
    if plan.rate is not None:
        return await _open_loop(side, plan, recorder)
    if side.blocking:
        return await _closed_callers(side, plan, recorder)
    return await _closed_window(side, plan, recorder)


async def _closed_callers(side: Side, plan: Plan, recorder: Recorder) -> Production:
    """``concurrency`` callers, each awaiting one call after another.

    The callers share one iterator of tickets (``range(events)``, or endless for a
    duration): taking the next one is the loop's own step, with no shared counter to read
    and write per call. Per call, a caller reads the clock (the event's intended send time,
    which the handler's latency sample counts from), compares it with the deadline and
    makes the event: that is all the harness adds to what it measures, on either side.
    """
    call, make = side.call, plan.make_event
    clock = perf_counter
    tickets: Iterator[object] = (
        iter(range(plan.events)) if plan.events is not None else itertools.repeat(None)
    )
    started = clock()
    deadline = started + plan.duration if plan.duration is not None else math.inf

    async def caller() -> int:
        sent = 0
        for _ in tickets:
            t = clock()
            if t >= deadline:
                break
            sent += 1
            try:
                await call(make(t))
            except Exception as exc:
                recorder.failed(exc)
        return sent

    sent = sum(await asyncio.gather(*(caller() for _ in range(plan.concurrency))))
    recorder.sent += sent
    return Production(started, clock(), sent)


async def _closed_window(side: Side, plan: Plan, recorder: Recorder) -> Production:
    call, make = side.call, plan.make_event
    clock = perf_counter
    done = recorder.latencies
    per_event = side.deliveries
    window = plan.concurrency * per_event
    limit = plan.events if plan.events is not None else math.inf
    started = clock()
    deadline = started + plan.duration if plan.duration is not None else math.inf
    sent = 0
    idle = 0
    seen = len(done)
    while sent < limit:
        t = clock()
        if t >= deadline:
            break
        if sent * per_event - len(done) >= window:
            # Full: let the consumers run. Spin while they make progress, then back off a
            # little so a side waiting on timers (sleep handlers) is not polled flat out.
            if len(done) == seen:
                idle += 1
            else:
                idle, seen = 0, len(done)
            await asyncio.sleep(0.0001 if idle > IDLE_SPINS else 0)
            continue
        sent += 1
        try:
            await call(make(t))
        except Exception as exc:
            recorder.failed(exc)
        if not sent % YIELD_EVERY:
            await asyncio.sleep(0)
    recorder.sent += sent
    return Production(started, clock(), sent)


async def _open_loop(side: Side, plan: Plan, recorder: Recorder) -> Production:
    assert plan.rate is not None
    call, make = side.call, plan.make_event
    clock = perf_counter
    interval = 1.0 / plan.rate
    if plan.events is not None:
        count = plan.events
    else:
        count = max(1, round(plan.rate * (plan.duration or 0.0)))
    tasks: set[asyncio.Task[Any]] = set()

    def finished(task: asyncio.Task[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            recorder.failed(error)

    started = clock()
    sent = 0
    for index in range(count):
        intended = started + index * interval
        now = clock()
        if intended > now:
            if intended - now > SPIN_BELOW:
                await asyncio.sleep(intended - now - SPIN_BELOW / 2)
            while clock() < intended:  # noqa: ASYNC110 - timers are too coarse
                await asyncio.sleep(0)
        elif not index % YIELD_EVERY:
            await asyncio.sleep(0)  # behind schedule: catch up, but let consumers run too
        event = make(intended)
        sent += 1
        if side.blocking:
            task = asyncio.create_task(call(event))
            tasks.add(task)
            task.add_done_callback(finished)
        else:
            try:
                await call(event)
            except Exception as exc:
                recorder.failed(exc)
    ended = clock()
    if tasks:
        await asyncio.wait(tasks)
    recorder.sent += sent
    return Production(started, ended, sent, started + (count - 1) * interval)


async def complete(side: Side, recorder: Recorder, expected: int, timeout: float) -> None:
    """Wait until ``expected`` samples are in (or ``timeout``), then let the side settle.

    The measurement ends at the last handler's finish time, so how often this polls does
    not change the figures. Samples still missing at the timeout count as errors.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while recorder.count < expected and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.001)
    if side.settle is not None:
        await side.settle()
    missing = expected - recorder.count
    if missing > 0:
        recorder.errors += missing


async def fill_backlog(
    side: Side, count: int, make: EventFactory, recorder: Recorder
) -> Production:
    """Pre-fill ``count`` events while the side's consumers wait, then start them.

    Filling is not measured: the window opens when the consumers start, as a consumer
    draining a backlog is measured. Each event's time is when it was made, so latencies say
    how long events waited in the backlog, nothing more.
    """
    assert side.fill is not None and side.start is not None
    fill = side.fill
    clock = perf_counter
    chunks = [
        [make(clock()) for _ in range(min(FILL_CHUNK, count - first))]
        for first in range(0, count, FILL_CHUNK)
    ]
    gate = asyncio.Semaphore(FILL_CALLS)

    async def one(chunk: list[dict[str, Any]]) -> None:
        async with gate:
            await fill(chunk)

    await asyncio.gather(*(one(chunk) for chunk in chunks))
    recorder.sent += count
    started = clock()
    await side.start()
    return Production(started, started, count)
