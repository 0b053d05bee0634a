"""Event invocations on memory storage: handed to the workers directly, or through the store.

On the mesh's own memory store a new Event invocation skips the store (eventmesh._async_queue's
docstring); a retry or a throttle goes through it. Each scenario here runs both ways in one
test, and both runs must give the same observations, each equal to the values written by hand
from Lambda's rules (reference §1.3-1.5): retry delays of 1 then 2 minutes, throttle back-off
from 1 s doubling, the maximum event age, reserved concurrency 0, trace context, a stop with
events pending, and the counts a drain and a stop report. The virtual clock drives time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from eventmesh import CallHandler, Context, Invocation, InvocationResult, Mesh, Telemetry
from eventmesh._async_queue import AsyncInvocationQueue
from eventmesh.backends.memory import MemoryQueueStore
from eventmesh.backends.protocols import OutgoingMessage
from eventmesh.testing import RecordingDestination, VirtualClock

Scenario = Callable[[Mesh, VirtualClock], Awaitable[Any]]


async def both_ways(
    monkeypatch: pytest.MonkeyPatch, scenario: Scenario, **settings: Any
) -> tuple[Any, Any]:
    """The scenario's observations with the hand-off on, then off, each on a fresh mesh."""
    seen = []
    for hand_off in (True, False):
        monkeypatch.setattr(AsyncInvocationQueue, "hand_off", hand_off)
        clock = VirtualClock()
        settings.setdefault("telemetry", Telemetry(enabled=False))
        mesh = Mesh(clock=clock, drain_timeout=2.0, **settings)
        seen.append(await scenario(mesh, clock))
    return seen[0], seen[1]


async def test_only_what_must_wait_goes_through_the_memory_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Handed over, a new event never reaches the store; its retry does (delayed 60 s)."""
    sent: list[tuple[str, float]] = []
    send = MemoryQueueStore.send

    async def counted(
        self: MemoryQueueStore, queue: str, messages: list[OutgoingMessage]
    ) -> list[str]:
        sent.extend(
            (message.attributes.get("attempts", "0"), message.delay) for message in messages
        )
        return await send(self, queue, messages)

    monkeypatch.setattr(MemoryQueueStore, "send", counted)

    async def scenario(mesh: Mesh, clock: VirtualClock) -> Any:
        sent.clear()

        failed: list[str] = []

        @mesh.function(name="once", retries=1)
        async def once(event: str, context: Context) -> None:
            if event == "fails" and not failed:
                failed.append(event)
                raise RuntimeError("first time")

        async with mesh:
            await mesh.invoke("once", "fine", "Event")
            await clock.advance(1)
            before = list(sent)
            await mesh.invoke("once", "fails", "Event")
            await clock.advance(61)
        return before, list(sent), once.stats.invocations

    handed, stored = await both_ways(monkeypatch, scenario)
    assert handed == ([], [("1", 60.0)], 3)
    assert stored == ([("0", 0.0)], [("0", 0.0), ("0", 0.0), ("1", 60.0)], 3)


def context_of(record: dict[str, Any]) -> tuple[Any, ...]:
    """The fields of an invocation record that the rules decide."""
    context = record["requestContext"]
    return (context["condition"], context["approximateInvokeCount"], record["requestPayload"])


async def test_a_function_error_is_retried_one_then_two_minutes_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(mesh: Mesh, clock: VirtualClock) -> Any:
        runs: list[tuple[float, str]] = []
        successes = RecordingDestination()

        @mesh.function(name="flaky", on_success=successes)
        async def flaky(event: Any, context: Context) -> str:
            runs.append((clock.now(), context.aws_request_id))
            if len(runs) < 3:
                raise RuntimeError("not yet")
            return "done"

        async with mesh:
            result = await mesh.invoke("flaky", {"n": 1}, "Event")
            await clock.advance(59.9)
            early = [t for t, _ in runs]
            await clock.advance(200)
        assert {request for _, request in runs} == {result.request_id}
        return early, [t for t, _ in runs], [context_of(r) for r in successes.messages]

    handed, stored = await both_ways(monkeypatch, scenario)
    assert handed == stored == ([0.0], [0.0, 60.0, 180.0], [("Success", 3, {"n": 1})])


async def test_a_throttled_event_waits_1_then_2_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(mesh: Mesh, clock: VirtualClock) -> Any:
        gate = asyncio.Event()
        runs: list[tuple[float, Any]] = []

        @mesh.function(name="single", reserved_concurrency=1, timeout=60)
        async def single(event: Any, context: Context) -> None:
            runs.append((clock.now(), event))
            if event == "hold":
                await gate.wait()

        async with mesh:
            holder = asyncio.create_task(mesh.invoke("single", "hold"))
            await clock.advance(0)
            await mesh.invoke("single", "later", "Event")  # throttled at 0, 1, then runs at 3
            await clock.advance(2.5)
            gate.set()
            await holder
            await clock.advance(10)
        return runs, single.stats.throttles

    handed, stored = await both_ways(monkeypatch, scenario)
    assert handed == stored == ([(0.0, "hold"), (3.0, "later")], 2)


async def test_an_event_past_its_maximum_age_is_discarded_with_its_last_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(mesh: Mesh, clock: VirtualClock) -> Any:
        failures = RecordingDestination()
        letters = RecordingDestination()
        runs: list[float] = []

        @mesh.function(
            name="old", max_event_age=60, on_failure=failures, dead_letter=letters, retries=2
        )
        async def old(event: Any, context: Context) -> None:
            runs.append(clock.now())
            raise ValueError("broken")

        async with mesh:
            await mesh.invoke("old", {"id": 7}, "Event")
            await clock.advance(300)
        record = failures.messages[0]
        error = record["responsePayload"]["errorMessage"]
        code = letters.attributes[0]["ErrorCode"]["StringValue"]  # type: ignore[index]
        return runs, [context_of(r) for r in failures.messages], error, letters.messages, code

    handed, stored = await both_ways(monkeypatch, scenario)
    # The retry due at 60 s is brought forward to the expiry, where the age is 60 s: discarded.
    assert (
        handed
        == stored
        == (
            [0.0],
            [("EventAgeExceeded", 1, {"id": 7})],
            "broken",
            [{"id": 7}],
            "200",
        )
    )


async def test_reserved_concurrency_zero_discards_at_once_without_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(mesh: Mesh, clock: VirtualClock) -> Any:
        failures = RecordingDestination()

        @mesh.function(name="off", reserved_concurrency=0, on_failure=failures)
        async def off(event: Any, context: Context) -> None:
            raise AssertionError("never runs")

        async with mesh:
            await mesh.invoke("off", [1, 2], "Event")
            await clock.advance(0)
            drained = await mesh.drain(0)
        stats = off.stats
        return [context_of(r) for r in failures.messages], stats.dropped_events, drained

    handed, stored = await both_ways(monkeypatch, scenario)
    assert handed == stored == ([("ZeroReservedConcurrency", 0, [1, 2])], 1, True)


@pytest.mark.parametrize("retried", [False, True])
async def test_the_trace_context_of_the_caller_is_the_invocations_parent(
    monkeypatch: pytest.MonkeyPatch, retried: bool
) -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))

    async def scenario(mesh: Mesh, clock: VirtualClock) -> Any:
        spans.clear()
        attempts: list[float] = []

        @mesh.function(name="traced", retries=1)
        async def traced(event: Any, context: Context) -> None:
            attempts.append(clock.now())
            if retried and len(attempts) == 1:
                raise RuntimeError("once")

        async with mesh:
            with provider.get_tracer("app").start_as_current_span("request") as request:
                await mesh.invoke("traced", {}, "Event")
            await clock.advance(61)
        caller = request.get_span_context()
        runs = [s for s in spans.get_finished_spans() if s.name == "traced"]
        return attempts, [
            (s.parent is not None and s.parent.span_id == caller.span_id)
            and s.context is not None
            and s.context.trace_id == caller.trace_id
            for s in runs
        ]

    handed, stored = await both_ways(monkeypatch, scenario, telemetry=Telemetry(provider))
    expected = ([0.0, 60.0], [True, True]) if retried else ([0.0], [True])
    assert handed == stored == expected


async def test_an_invocation_chain_is_stopped_at_16_runs_of_one_function(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(mesh: Mesh, clock: VirtualClock) -> Any:
        runs: list[int] = []

        @mesh.function(name="loop")
        async def loop(event: int, context: Context) -> None:
            runs.append(event)
            await mesh.invoke("loop", event + 1, "Event")

        async with mesh:
            await mesh.invoke("loop", 1, "Event")
            await clock.advance(1)
        return runs, loop.stats.errors

    handed, stored = await both_ways(monkeypatch, scenario)
    # The 16th run's own Event invocation is refused: a function error (retried a minute
    # later, beyond this test), so the chain ends there.
    assert handed == stored == (list(range(1, 17)), 1)


def stop_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    caplog.clear()
    return [line for line in lines if "function held" in line]


async def test_counts_while_running_and_at_a_stop_with_events_pending(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """One event runs (held), two wait behind it, one waits to retry: the drain's report, a
    drain's answer and the stop's count of abandoned events are the same either way."""
    caplog.set_level(logging.INFO, logger="eventmesh")

    async def scenario(mesh: Mesh, clock: VirtualClock) -> Any:
        gate = asyncio.Event()

        @mesh.function(name="held", reserved_concurrency=1, timeout=60)
        async def held(event: str, context: Context) -> None:
            if event == "fails":
                raise RuntimeError("again in a minute")
            await gate.wait()

        caplog.clear()
        async with mesh:
            await mesh.invoke("held", "fails", "Event")
            await clock.advance(1)  # failed once: waits to retry (60 s)
            for name in ("first", "second", "third"):
                await mesh.invoke("held", name, "Event")
            await clock.advance(1)
            drained = await mesh.drain(0)
            stopped = await mesh.stop(drain=False)
        return drained, stopped, stop_lines(caplog), held.stats.abandoned_events

    handed, stored = await both_ways(monkeypatch, scenario)
    assert (
        handed
        == stored
        == (
            False,
            False,
            [
                "draining (up to 0 s): function held 1 running, 2 queued, 1 waiting to retry",
                "abandoned: function held 1 running, 2 queued, 1 waiting to retry (stopped without "
                "draining)",
                "abandoned: function held 4 Event invocations not run (2 queued, 1 waiting to "
                "retry, 1 taken); memory storage keeps nothing after the process ends",
            ],
            4,
        )
    )


async def test_events_interrupted_by_a_stop_run_at_the_next_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Memory storage keeps its contents for a restart of the same mesh: the events pending at
    a stop run after the next start (a taken one once its visibility timeout has passed, as
    the store hides it; a handed-over one at once, since no other process can hold it)."""

    async def scenario(mesh: Mesh, clock: VirtualClock) -> Any:
        gate = asyncio.Event()
        done: list[str] = []

        @mesh.function(name="held", reserved_concurrency=1, timeout=10)
        async def held(event: str, context: Context) -> None:
            if not done and event == "first" and not gate.is_set():
                await gate.wait()
            done.append(event)

        async with mesh:
            for name in ("first", "second"):
                await mesh.invoke("held", name, "Event")
            await clock.advance(1)
            await mesh.stop(drain=False)
        gate.set()
        async with mesh:
            await clock.advance(181)  # past the store's visibility timeout (10 s + 170 s)
        return sorted(done), held.stats.invocations

    handed, stored = await both_ways(monkeypatch, scenario)
    assert handed == stored == (["first", "second"], 2)


async def test_a_full_queue_makes_the_producer_wait_until_an_event_finishes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``max_pending`` counts events queued, running and waiting to retry, either way."""

    async def scenario(mesh: Mesh, clock: VirtualClock) -> Any:
        gate = asyncio.Event()

        @mesh.function(name="small", reserved_concurrency=1, max_pending=2, timeout=60)
        async def small(event: int, context: Context) -> None:
            await gate.wait()

        refused = []
        async with mesh:
            for n in range(3):
                try:
                    await mesh.invoke("small", n, "Event", timeout=0)
                except Exception as exc:
                    refused.append((n, type(exc).__name__))
            gate.set()
            await clock.advance(1)
            await mesh.invoke("small", 3, "Event", timeout=0)
            await clock.advance(1)
        return refused, small.stats.invocations

    handed, stored = await both_ways(monkeypatch, scenario)
    assert handed == stored == ([(2, "BackpressureError")], 3)


async def test_a_due_retry_waiting_for_a_busy_worker_runs_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A retry that comes due while the only worker is busy waits for it; that wait must not
    eat its visibility timeout (300 s + 170 s), or the store hands it back a second time while
    it runs. "a" fails at 0 (due again at 60); "b" holds the one worker from 50 to 340; "a"
    runs at 340 to its timeout at 640, again at 760 (to 1060), and is discarded."""

    async def scenario(mesh: Mesh, clock: VirtualClock) -> Any:
        runs: list[tuple[float, str]] = []
        failures = RecordingDestination()
        gate = asyncio.Event()

        @mesh.function(name="slow", reserved_concurrency=1, timeout=300, on_failure=failures)
        async def slow(event: str, context: Context) -> None:
            runs.append((clock.now(), event))
            if len(runs) == 1:
                raise RuntimeError("again in a minute")
            if event == "b":
                await gate.wait()
            else:
                await asyncio.Event().wait()  # to its timeout

        async with mesh:
            await mesh.invoke("slow", "a", "Event")
            await clock.advance(50)
            await mesh.invoke("slow", "b", "Event")
            await clock.advance(290)
            gate.set()
            await clock.advance(1000)
        return runs, [context_of(record) for record in failures.messages]

    handed, stored = await both_ways(monkeypatch, scenario)
    expected_runs = [(0.0, "a"), (50.0, "b"), (340.0, "a"), (760.0, "a")]
    assert handed == stored == (expected_runs, [("RetriesExhausted", 3, "a")])


async def test_a_retry_of_a_version_with_a_longer_timeout_than_latest_runs_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A taken event stays hidden long enough for the version it runs, not $LATEST's: version
    1 has a timeout of 300 s, $LATEST 3 s. Its event fails at 0, runs again at 60 until its
    timeout at 360, a last time at 480 (to 780), and is discarded: three runs, not more."""

    async def scenario(mesh: Mesh, clock: VirtualClock) -> Any:
        runs: list[tuple[float, str]] = []
        failures = RecordingDestination()

        @mesh.function(name="long", timeout=300, on_failure=failures)
        async def long(event: str, context: Context) -> None:
            runs.append((clock.now(), context.function_version))
            if len(runs) == 1:
                raise RuntimeError("again in a minute")
            await asyncio.Event().wait()  # to its timeout

        long.publish_version()
        long.update_configuration(timeout=3)
        async with mesh:
            await mesh.invoke("long:1", "a", "Event")
            await clock.advance(1000)
        return runs, [context_of(record) for record in failures.messages]

    handed, stored = await both_ways(monkeypatch, scenario)
    expected_runs = [(0.0, "1"), (60.0, "1"), (480.0, "1")]
    assert handed == stored == (expected_runs, [("RetriesExhausted", 3, "a")])


async def test_a_due_retry_waiting_for_the_worker_counts_as_queued_and_runs_at_restart(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A retry that came due (at 60) while the only worker was busy (with "b", from 50) is
    queued, not taken: the drain and the stop at 70 say so, and after a restart it runs at
    once, as an event still in the store does (not a visibility timeout of 270 s later)."""
    caplog.set_level(logging.INFO, logger="eventmesh")

    async def scenario(mesh: Mesh, clock: VirtualClock) -> Any:
        gate = asyncio.Event()
        runs: list[tuple[float, str]] = []

        @mesh.function(name="held", reserved_concurrency=1, timeout=100)
        async def held(event: str, context: Context) -> None:
            runs.append((clock.now(), event))
            if len(runs) == 1:
                raise RuntimeError("again in a minute")
            if event == "b" and not gate.is_set():
                await gate.wait()

        caplog.clear()
        async with mesh:
            await mesh.invoke("held", "a", "Event")
            await clock.advance(50)
            await mesh.invoke("held", "b", "Event")
            await clock.advance(20)
            await mesh.drain(0)
            await mesh.stop(drain=False)
        lines = stop_lines(caplog)
        gate.set()
        async with mesh:
            await clock.advance(1)
        return lines, [run for run in runs if run[1] == "a"]

    handed, stored = await both_ways(monkeypatch, scenario)
    assert (
        handed
        == stored
        == (
            [
                "draining (up to 0 s): function held 1 running, 1 queued",
                "abandoned: function held 1 running, 1 queued (stopped without draining)",
                "abandoned: function held 2 Event invocations not run (1 queued, 0 waiting to "
                "retry, 1 taken); memory storage keeps nothing after the process ends",
            ],
            [(0.0, "a"), (70.0, "a")],
        )
    )


async def test_an_event_invoked_from_an_event_handler_is_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An Event handler's own invocation chain travels with what it invokes: stored with a
    retry of "callee" (one minute after it fails at 0), which then succeeds at 60."""

    async def scenario(mesh: Mesh, clock: VirtualClock) -> Any:
        runs: list[float] = []
        successes = RecordingDestination()

        @mesh.function(name="caller")
        async def caller(event: Any, context: Context) -> None:
            await mesh.invoke("callee", {"from": "caller"}, "Event")

        @mesh.function(name="callee", on_success=successes)
        async def callee(event: Any, context: Context) -> None:
            runs.append(clock.now())
            if len(runs) == 1:
                raise RuntimeError("again in a minute")

        async with mesh:
            await mesh.invoke("caller", {}, "Event")
            await clock.advance(100)
            pending = await mesh.drain(0)
        return runs, [context_of(record) for record in successes.messages], pending

    handed, stored = await both_ways(monkeypatch, scenario)
    assert handed == stored == ([0.0, 60.0], [("Success", 2, {"from": "caller"})], True)


async def test_a_topic_delivery_published_from_an_event_handler_is_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A publication from an Event handler keeps the handler's chain with a delivery stored
    to be retried: the callable subscriber fails at 0 and gets it again 20 s later."""

    async def scenario(mesh: Mesh, clock: VirtualClock) -> Any:
        calls: list[float] = []
        topic = mesh.topic("news")

        async def subscriber(envelope: dict[str, Any]) -> None:
            calls.append(clock.now())
            if len(calls) == 1:
                raise RuntimeError("subscriber down")

        topic.subscribe(subscriber)

        @mesh.function(name="publisher")
        async def publisher(event: Any, context: Context) -> None:
            await topic.publish("hello")

        async with mesh:
            await mesh.invoke("publisher", {}, "Event")
            await clock.advance(30)
        return calls, topic.delivered

    handed, stored = await both_ways(monkeypatch, scenario)
    assert handed == stored == ([0.0, 20.0], 1)


async def test_a_retried_event_keeps_its_invocation_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chain travels with a retry through the store: each event of a self-invoking loop
    fails once (retried 60 s later) before it invokes the next, and the loop still ends at
    the 16th event, whose own invocation is refused (a function error, and with one retry
    allowed, its second refusal discards it)."""

    async def scenario(mesh: Mesh, clock: VirtualClock) -> Any:
        runs: list[tuple[float, int]] = []

        @mesh.function(name="loop", retries=1)
        async def loop(event: int, context: Context) -> None:
            runs.append((clock.now(), event))
            if [n for _, n in runs].count(event) == 1 and event < 16:
                raise RuntimeError("again in a minute")
            await mesh.invoke("loop", event + 1, "Event")

        async with mesh:
            await mesh.invoke("loop", 1, "Event")
            await clock.advance(3000)
        return runs, loop.stats.dropped_events

    handed, stored = await both_ways(monkeypatch, scenario)
    expected = [(60.0 * (n - 1) + again, n) for n in range(1, 16) for again in (0, 60)]
    expected += [(900.0, 16), (960.0, 16)]  # refused twice, then discarded
    assert handed == stored == (expected, 1)


async def test_a_retried_event_keeps_its_trigger(monkeypatch: pytest.MonkeyPatch) -> None:
    """A topic's delivery to a function is a "pubsub" invocation; its retry (60 s after it
    fails) is one too, as the middleware and the invocation record see it."""
    seen: list[str] = []

    def recorder(call_handler: CallHandler) -> CallHandler:
        async def record(invocation: Invocation) -> InvocationResult:
            seen.append(invocation.trigger)
            return await call_handler(invocation)

        return record

    async def scenario(mesh: Mesh, clock: VirtualClock) -> Any:
        seen.clear()
        runs: list[float] = []
        topic = mesh.topic("news")

        @mesh.function(name="reader")
        async def reader(event: Any, context: Context) -> None:
            runs.append(clock.now())
            if len(runs) == 1:
                raise RuntimeError("again in a minute")

        topic.subscribe(reader)
        async with mesh:
            await topic.publish("hello")
            await clock.advance(100)
        return runs, list(seen)

    handed, stored = await both_ways(monkeypatch, scenario, middleware=[recorder])
    assert handed == stored == ([0.0, 60.0], ["pubsub", "pubsub"])


async def test_an_event_interrupted_by_a_stop_is_no_longer_counted_once_it_ran_again(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """ "first" is interrupted by a stop at 1; after the restart it runs again (at once handed
    over; at 180 stored, after its visibility of 10 s + 170 s) and finishes. Then "second"
    holds the worker and "third" waits behind it: one running and one queued, no more."""
    caplog.set_level(logging.INFO, logger="eventmesh")

    async def scenario(mesh: Mesh, clock: VirtualClock) -> Any:
        runs: list[str] = []
        restarted = False

        @mesh.function(name="held", reserved_concurrency=1, timeout=10)
        async def held(event: str, context: Context) -> None:
            runs.append(event)
            if event == "second" or not restarted:
                await asyncio.Event().wait()

        async with mesh:
            await mesh.invoke("held", "first", "Event")
            await clock.advance(1)
            await mesh.stop(drain=False)
        restarted = True
        caplog.clear()
        async with mesh:
            await clock.advance(181)
            await mesh.invoke("held", "second", "Event")
            await mesh.invoke("held", "third", "Event")
            await clock.advance(1)
            await mesh.drain(0)
            await mesh.stop(drain=False)
        return runs, stop_lines(caplog)

    handed, stored = await both_ways(monkeypatch, scenario)
    assert (
        handed
        == stored
        == (
            ["first", "first", "second"],
            [
                "draining (up to 0 s): function held 1 running, 1 queued",
                "abandoned: function held 1 running, 1 queued (stopped without draining)",
                "abandoned: function held 2 Event invocations not run (1 queued, 0 waiting to "
                "retry, 1 taken); memory storage keeps nothing after the process ends",
            ],
        )
    )


async def test_two_events_interrupted_by_a_stop_are_both_counted_taken(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Two events run side by side when a stop interrupts them: both are counted taken."""
    caplog.set_level(logging.INFO, logger="eventmesh")

    async def scenario(mesh: Mesh, clock: VirtualClock) -> Any:
        @mesh.function(name="held", reserved_concurrency=2, timeout=10)
        async def held(event: str, context: Context) -> None:
            await asyncio.Event().wait()

        async with mesh:
            await mesh.invoke("held", "one", "Event")
            await mesh.invoke("held", "two", "Event")
            await clock.advance(1)
            caplog.clear()
            await mesh.stop(drain=False)
        return stop_lines(caplog)

    handed, stored = await both_ways(monkeypatch, scenario)
    assert (
        handed
        == stored
        == [
            "abandoned: function held 2 running (stopped without draining)",
            "abandoned: function held 2 Event invocations not run (0 queued, 0 waiting to "
            "retry, 2 taken); memory storage keeps nothing after the process ends",
        ]
    )


async def test_an_event_interrupted_beside_a_due_retry_runs_after_the_restart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ "a" fails at 0 and is due again at 60, while "b" holds the only worker (from 50):
    a stop at 70 interrupts "b" with "a" waiting for the worker. After a restart both run
    again ("b" at once handed over, at 320 stored: taken at 50, hidden 100 s + 170 s)."""

    async def scenario(mesh: Mesh, clock: VirtualClock) -> Any:
        runs: list[str] = []
        restarted = False

        @mesh.function(name="held", reserved_concurrency=1, timeout=100)
        async def held(event: str, context: Context) -> None:
            runs.append(event)
            if len(runs) == 1:
                raise RuntimeError("again in a minute")
            if event == "b" and not restarted:
                await asyncio.Event().wait()

        async with mesh:
            await mesh.invoke("held", "a", "Event")
            await clock.advance(50)
            await mesh.invoke("held", "b", "Event")
            await clock.advance(20)
            await mesh.stop(drain=False)
        before = list(runs)
        restarted = True
        async with mesh:
            await clock.advance(300)
        return before, sorted(runs[len(before) :])

    handed, stored = await both_ways(monkeypatch, scenario)
    assert handed == stored == (["a", "b"], ["a", "b"])


async def test_an_unqualified_event_is_recorded_as_latest_after_a_qualified_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(mesh: Mesh, clock: VirtualClock) -> Any:
        successes = RecordingDestination()

        @mesh.function(name="fn", on_success=successes)
        async def fn(event: Any, context: Context) -> str:
            return context.function_version

        fn.publish_version()
        async with mesh:
            await mesh.invoke("fn:1", "one", "Event")
            await clock.advance(1)
            await mesh.invoke("fn", "latest", "Event")
            await clock.advance(1)
        return [
            (r["requestContext"]["functionArn"], r["responsePayload"]) for r in successes.messages
        ]

    arn = "arn:aws:lambda:us-east-1:123456789012:function:fn"
    handed, stored = await both_ways(monkeypatch, scenario)
    assert handed == stored == [(f"{arn}:1", "1"), (f"{arn}:$LATEST", "$LATEST")]


async def test_retries_due_while_the_workers_are_busy_run_in_the_order_they_came_due(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ "a" and "b" fail at 0 and 1 (due at 60 and 61) while "c" and "d" hold both workers
    from 50 to 100: then "a" runs before "b", as the store hands them back one at a time."""

    async def scenario(mesh: Mesh, clock: VirtualClock) -> Any:
        runs: list[tuple[float, str]] = []
        gate = asyncio.Event()

        @mesh.function(name="busy", reserved_concurrency=2, timeout=200)
        async def busy(event: str, context: Context) -> None:
            runs.append((clock.now(), event))
            if [e for _, e in runs].count(event) == 1 and event in "ab":
                raise RuntimeError("again in a minute")
            if event in "cd":
                await gate.wait()

        async with mesh:
            await mesh.invoke("busy", "a", "Event")
            await clock.advance(1)
            await mesh.invoke("busy", "b", "Event")
            await clock.advance(49)
            await mesh.invoke("busy", "c", "Event")
            await mesh.invoke("busy", "d", "Event")
            await clock.advance(50)
            gate.set()
            await clock.advance(1)
        return runs

    handed, stored = await both_ways(monkeypatch, scenario)
    expected = [(0.0, "a"), (1.0, "b"), (50.0, "c"), (50.0, "d"), (100.0, "a"), (100.0, "b")]
    assert handed == stored == expected


async def test_an_event_handler_invoking_its_own_function_needs_no_room(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With ``max_pending=1`` the running event holds the only place; its handler's Event
    invocation of the same function is queued anyway (the workers are consumers), either way."""

    async def scenario(mesh: Mesh, clock: VirtualClock) -> Any:
        runs: list[int] = []

        @mesh.function(name="again", max_pending=1)
        async def again(event: int, context: Context) -> None:
            runs.append(event)
            if event == 1:
                await mesh.invoke("again", 2, "Event", timeout=0)

        async with mesh:
            await mesh.invoke("again", 1, "Event")
            await clock.advance(1)
        return runs, again.stats.errors

    handed, stored = await both_ways(monkeypatch, scenario)
    assert handed == stored == ([1, 2], 0)
