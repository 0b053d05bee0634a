"""Edge cases of the runtime: cancellation, shutdown, accounting, reclaiming, retiring workers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import eventmesh._async_queue as async_queue
import eventmesh._tasks as tasks
from eventmesh import Context, Mesh, Telemetry
from eventmesh.testing import TimerHandle, VirtualClock


class CancelsWithTheDeadline(VirtualClock):
    """A virtual clock that cancels ``victim`` in the same callback as the timer due at ``at``
    (the deadline watcher's): the deadline and the caller's cancellation land together."""

    def __init__(self, at: float) -> None:
        super().__init__()
        self.at = at
        self.victim: asyncio.Task[Any] | None = None

    def call_at(self, when: float, callback: Callable[[], object]) -> TimerHandle:
        victim = self.victim
        if when != self.at or victim is None:
            return super().call_at(when, callback)

        def both() -> None:
            callback()
            victim.cancel()

        return super().call_at(when, both)


async def test_a_caller_timeout_that_lands_with_the_deadline_still_cancels_the_caller() -> None:
    clock = CancelsWithTheDeadline(at=1.0)
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False))
    entered = asyncio.Event()

    @mesh.function(timeout=1)
    async def hangs(event: Any, context: Context) -> None:
        entered.set()
        await asyncio.Event().wait()

    async with mesh:
        task = asyncio.create_task(mesh.invoke("hangs"))
        clock.victim = task
        await entered.wait()
        await clock.advance(1)  # the deadline fires; the caller is cancelled in the same turn
        with pytest.raises(asyncio.CancelledError):
            await task
    assert hangs.in_flight == 0
    assert mesh._invoker.in_flight == 0


async def test_stop_does_not_hang_on_a_handler_that_swallows_cancellation() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=0.05)
    started = asyncio.Event()
    wake = asyncio.Event()
    released = False

    @mesh.function(timeout=900)
    async def stubborn(event: Any, context: Context) -> None:
        started.set()
        while not released:
            try:
                await wake.wait()
            except asyncio.CancelledError:
                continue  # refuses to stop

    await mesh.start()
    await mesh.invoke("stubborn", {}, "Event")
    await started.wait()
    original = tasks.stop_tasks.__defaults__
    tasks.stop_tasks.__defaults__ = (0.05,)
    try:
        await asyncio.wait_for(mesh.stop(), timeout=5)
    finally:
        tasks.stop_tasks.__defaults__ = original
        released = True  # let the event loop close at the end of the test
        wake.set()
    assert not mesh.running


async def test_changing_reserved_concurrency_mid_flight_keeps_the_accounts(
    mesh: Mesh, clock: VirtualClock
) -> None:
    gate = asyncio.Event()

    @mesh.function(timeout=60)
    async def work(event: Any, context: Context) -> None:
        await gate.wait()

    async with mesh:
        running = asyncio.create_task(mesh.invoke("work"))
        await clock.advance(0)
        work.update_configuration(reserved_concurrency=5)
        gate.set()
        await running
        gate.clear()
        second = asyncio.create_task(mesh.invoke("work"))
        await clock.advance(0)
        work.update_configuration(reserved_concurrency=None)
        gate.set()
        await second
    invoker = mesh._invoker
    assert (invoker.in_flight, invoker.unreserved_in_flight, work.in_flight) == (0, 0, 0)


async def test_an_environment_busy_when_the_reaper_runs_is_reclaimed_later(
    clock: VirtualClock,
) -> None:
    mesh = Mesh(clock=clock, environment_idle_timeout=100, telemetry=Telemetry(enabled=False))

    @mesh.function(timeout=900)
    async def slow(event: Any, context: Context) -> None:
        if event == "long":
            await clock.sleep(150)

    async with mesh:
        long = asyncio.create_task(mesh.invoke("slow", "long"))
        await clock.advance(150)  # the reaper ran at 100 s while the environment was busy
        await long
        await clock.advance(101)
        assert (await mesh.invoke("slow", "short")).cold_start


class FiresTogether(VirtualClock):
    """A virtual clock that runs the callbacks of every timer due at one instant in one loop
    turn, as asyncio's own loop does, instead of letting the loop settle between them."""

    def __init__(self) -> None:
        super().__init__()
        self.batch: list[Callable[[], object]] = []

    def call_at(self, when: float, callback: Callable[[], object]) -> TimerHandle:
        def deferred() -> None:
            self.batch.append(callback)
            if self.next_timer() != when:  # the last timer due now: run them all
                batch, self.batch = self.batch, []
                for each in batch:
                    each()

        return super().call_at(when, deferred)


async def test_event_workers_do_not_all_retire_at_once() -> None:
    clock = FiresTogether()
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=1)
    done: list[int] = []

    @mesh.function
    async def slowish(event: int, context: Context) -> None:
        await clock.sleep(0.01)
        done.append(event)

    async with mesh:
        for i in range(20):
            await mesh.invoke("slowish", i, "Event")
        await clock.advance(1)
        assert len(done) == 20
        assert slowish.stats.cold_starts > 2, "several workers ran events at once"
        # Every idle worker's long poll times out at the same instant, in one loop turn.
        await clock.advance(async_queue.POLL_WAIT)
        await mesh.invoke("slowish", 99, "Event")
        await clock.advance(1)
    assert done[-1] == 99, "a worker was left to take the next event"


async def test_an_event_that_never_ran_has_dead_letter_code_429(
    mesh: Mesh, clock: VirtualClock
) -> None:
    letters: list[Any] = []

    class DeadLetters:
        async def send(self, message: Any, attributes: Any = None) -> None:
            letters.append(attributes)

    @mesh.function(reserved_concurrency=0, dead_letter=DeadLetters())
    async def disabled(event: Any, context: Context) -> None:
        return None

    async with mesh:
        await mesh.invoke("disabled", {}, "Event")
        await clock.advance(0)
    assert letters[0]["ErrorCode"]["StringValue"] == "429"


async def test_spans_are_reported_for_init_failures_and_cancellations() -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    mesh = Mesh(telemetry=Telemetry(provider))

    entered = asyncio.Event()

    @mesh.function(timeout=60)
    async def fragile(event: Any, context: Context) -> None:
        entered.set()
        await asyncio.Event().wait()

    @fragile.init
    async def setup(context: Context) -> None:
        if not hasattr(setup, "tried"):
            setup.tried = True  # type: ignore[attr-defined]
            raise ConnectionError("no database")

    async with mesh:
        failed = await mesh.invoke("fragile")
        task = asyncio.create_task(mesh.invoke("fragile"))
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    first, second = spans.get_finished_spans()
    assert failed.payload["errorType"] == "ConnectionError"
    assert first.status.status_code == StatusCode.ERROR
    assert (first.attributes or {})["faas.coldstart"] is True
    assert second.status.status_code == StatusCode.ERROR
    assert "cancelled" in (second.status.description or "")


async def test_a_damaged_stored_event_goes_to_the_dead_letters_with_its_reason(
    mesh: Mesh, clock: VirtualClock
) -> None:
    from eventmesh.backends.protocols import OutgoingMessage

    letters: list[tuple[Any, Any]] = []

    class DeadLetters:
        async def send(self, message: Any, attributes: Any = None) -> None:
            letters.append((message, attributes))

    @mesh.function(retries=0, dead_letter=DeadLetters())
    async def target(event: Any, context: Context) -> None:
        raise AssertionError("a damaged event must not run")

    async with mesh:
        await mesh.backend.queues.send(
            "eventmesh.async.target", [OutgoingMessage(b"{not json", {"request_id": "r-1"})]
        )
        await clock.advance(0)
        await mesh.invoke("target", {"fine": True}, "Event")  # the worker is still alive
        await clock.advance(0)
    message, attributes = letters[0]
    assert message == "{not json"
    assert attributes["RequestID"]["StringValue"] == "r-1"
    assert "malformed stored event" in attributes["ErrorMessage"]["StringValue"]
    assert target.stats.dropped_events == 2  # the damaged one, then the failing one
    assert len(letters) == 2, "the later, well-formed event ran (and failed) normally"


async def test_leaving_does_not_wait_for_retries_in_backoff(clock: VirtualClock) -> None:
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=5)
    topic = mesh.topic("alerts")

    async def broken(envelope: Any) -> None:
        raise ConnectionError("subscriber down")

    topic.subscribe(broken)
    async with mesh:
        await topic.publish("disk full")
        await clock.advance(1)  # the first attempt failed; the retry waits 20 s
        # A drain with no time at all finds nothing to wait for: the backoff is not work.
        assert await mesh.drain(timeout=0), "the drain must not wait for a backoff"
    assert topic.delivery_failures == 1, "the abandoned delivery is counted"


async def test_a_mapping_added_while_running_reports_why_it_cannot_start(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    queue = mesh.queue("orders", visibility_timeout=10)

    @mesh.function(timeout=60)
    async def slow(event: Any, context: Context) -> None:
        return None

    async with mesh:
        queue.subscribe(slow)  # its timeout exceeds the queue's visibility timeout
        await clock.advance(0)
    assert any("longer than queue 'orders'" in r.getMessage() for r in caplog.records)
