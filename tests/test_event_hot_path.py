"""The hand-off's hot path for a warm Event invocation, and ``mesh.invoke``'s Event call.

On memory storage a new event travels as a tuple, and a worker runs it in its own frame for
as long as nothing but a run and a success happens (eventmesh._async_queue's docstring). An
event takes that path once its function's ARNs were resolved, i.e. from the second
unqualified event on, so each scenario here primes its function with one event first, then
sends the event under test, whose every step off the path (a function error, a throttle, an
expired event, a destination on success, a failure around the handler, a stop) must behave as
the general code does: each runs both ways (hand-off on, then every event through the store),
the observations are the same both ways, and equal to the values written by hand from
Lambda's rules. ``general`` counts the events the general code ran (``_run``), so each test
also shows which events took the hot path.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from eventmesh import (
    BackpressureError,
    Context,
    EventMeshError,
    Mesh,
    PayloadError,
    RequestTooLargeError,
    Telemetry,
)
from eventmesh._async_queue import AsyncInvocationQueue
from eventmesh.testing import RecordingDestination, VirtualClock

Scenario = Callable[[Mesh, VirtualClock, list[str]], Awaitable[Any]]


async def both_ways(
    monkeypatch: pytest.MonkeyPatch, scenario: Scenario, **settings: Any
) -> tuple[Any, Any]:
    """The scenario's observations with the hand-off on, then off, each on a fresh mesh; the
    scenario gets a list to which each event the general code runs adds its request id."""
    seen = []
    run = AsyncInvocationQueue._run
    for hand_off in (True, False):
        monkeypatch.setattr(AsyncInvocationQueue, "hand_off", hand_off)
        general: list[str] = []
        monkeypatch.setattr(AsyncInvocationQueue, "_run", counting(run, general))
        clock = VirtualClock()
        settings.setdefault("telemetry", Telemetry(enabled=False))
        mesh = Mesh(clock=clock, drain_timeout=2.0, **settings)
        seen.append((await scenario(mesh, clock, general), len(general)))
    return seen[0], seen[1]


def counting(
    run: Callable[[AsyncInvocationQueue, Any], Awaitable[None]], general: list[str]
) -> Callable[[AsyncInvocationQueue, Any], Awaitable[None]]:
    """``_run``, adding each event's request id to ``general`` first."""

    async def counted(self: AsyncInvocationQueue, event: Any) -> None:
        general.append(event.request_id)
        await run(self, event)

    return counted


def context_of(record: dict[str, Any]) -> tuple[Any, ...]:
    context = record["requestContext"]
    return (context["condition"], context["approximateInvokeCount"], record["requestPayload"])


async def test_a_warm_event_that_fails_is_retried_one_then_two_minutes_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(mesh: Mesh, clock: VirtualClock, general: list[str]) -> Any:
        runs: list[tuple[float, Any]] = []
        successes = RecordingDestination()

        @mesh.function(name="flaky")
        async def flaky(event: Any, context: Context) -> str:
            runs.append((clock.now(), event))
            if event == "warm" or len(runs) >= 4:
                return "done"
            raise RuntimeError("not yet")

        async with mesh:
            await mesh.invoke("flaky", "warm", "Event")
            await clock.advance(1)
            flaky.update_configuration(on_success=successes)  # the hot path's own check
            result = await mesh.invoke("flaky", {"n": 2}, "Event")
            await clock.advance(300)
        ran_again = general.count(result.request_id)
        return runs, [context_of(r) for r in successes.messages], ran_again

    handed, stored = await both_ways(monkeypatch, scenario)
    runs = [(0.0, "warm"), (1.0, {"n": 2}), (61.0, {"n": 2}), (181.0, {"n": 2})]
    success = [("Success", 3, {"n": 2})]
    # Handed over, the warm events run on the hot path; the retries (stored) do not.
    assert handed == ((runs, success, 2), 3)
    assert stored == ((runs, success, 3), 4)


async def test_a_warm_event_with_retries_exhausted_goes_to_its_destinations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(mesh: Mesh, clock: VirtualClock, general: list[str]) -> Any:
        failures = RecordingDestination()
        letters = RecordingDestination()

        @mesh.function(name="broken", retries=0, on_failure=failures, dead_letter=letters)
        async def broken(event: Any, context: Context) -> None:
            if event != "warm":
                raise ValueError("broken for good")

        async with mesh:
            await mesh.invoke("broken", "warm", "Event")
            await mesh.invoke("broken", [1], "Event")
            await clock.advance(1)
        record = failures.messages[0]
        code = letters.attributes[0]["ErrorCode"]["StringValue"]  # type: ignore[index]
        message = letters.attributes[0]["ErrorMessage"]["StringValue"]  # type: ignore[index]
        return (
            [context_of(r) for r in failures.messages],
            record["responsePayload"]["errorMessage"],
            letters.messages,
            code,
            message,
            broken.stats.dropped_events,
        )

    handed, stored = await both_ways(monkeypatch, scenario)
    expected = (
        [("RetriesExhausted", 1, [1])],
        "broken for good",
        [[1]],
        "200",
        "broken for good",
        1,
    )
    assert handed == (expected, 1)
    assert stored == (expected, 2)


async def test_a_warm_event_throttled_at_reserved_concurrency_waits_1_then_2_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(mesh: Mesh, clock: VirtualClock, general: list[str]) -> Any:
        gate = asyncio.Event()
        runs: list[tuple[float, Any]] = []

        @mesh.function(name="single", reserved_concurrency=1, timeout=60)
        async def single(event: Any, context: Context) -> None:
            runs.append((clock.now(), event))
            if event == "hold":
                await gate.wait()

        async with mesh:
            await mesh.invoke("single", "warm", "Event")
            await clock.advance(1)
            holder = asyncio.create_task(mesh.invoke("single", "hold"))
            await clock.advance(0)
            await mesh.invoke("single", "later", "Event")  # throttled at 1, 2, then runs at 4
            await clock.advance(2.5)
            gate.set()
            await holder
            await clock.advance(10)
        return runs, single.stats.throttles

    handed, stored = await both_ways(monkeypatch, scenario)
    runs = [(0.0, "warm"), (1.0, "hold"), (4.0, "later")]
    # Handed over: the warm event's first try leaves the hot path (no room), then 2 retries.
    assert handed == ((runs, 2), 4)
    assert stored == ((runs, 2), 4)


async def test_a_warm_event_throttled_by_the_mesh_concurrency_limit_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No reserved concurrency: the mesh's unreserved pool is what is full."""

    async def scenario(mesh: Mesh, clock: VirtualClock, general: list[str]) -> Any:
        gate = asyncio.Event()
        runs: list[tuple[float, Any]] = []

        @mesh.function(name="shared", timeout=60)
        async def shared(event: Any, context: Context) -> None:
            runs.append((clock.now(), event))
            if event == "hold":
                await gate.wait()

        async with mesh:
            await mesh.invoke("shared", "warm", "Event")
            await clock.advance(1)
            holder = asyncio.create_task(mesh.invoke("shared", "hold"))
            await clock.advance(0)
            await mesh.invoke("shared", "later", "Event")
            await clock.advance(0.5)
            gate.set()
            await holder
            await clock.advance(10)
        return runs, shared.stats.throttles

    handed, stored = await both_ways(monkeypatch, scenario, concurrency_limit=1)
    runs = [(0.0, "warm"), (1.0, "hold"), (2.0, "later")]
    assert handed == ((runs, 1), 3)
    assert stored == ((runs, 1), 3)


async def test_a_warm_event_that_waited_past_its_maximum_age_is_discarded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The only worker is busy for 61 s with an event of its own: the one behind it is past
    its maximum age (60 s) when taken, and never runs."""

    async def scenario(mesh: Mesh, clock: VirtualClock, general: list[str]) -> Any:
        gate = asyncio.Event()
        runs: list[tuple[float, Any]] = []
        failures = RecordingDestination()

        @mesh.function(
            name="aged", reserved_concurrency=1, timeout=120, max_event_age=60,
            on_failure=failures,
        )  # fmt: skip
        async def aged(event: Any, context: Context) -> None:
            runs.append((clock.now(), event))
            if event == "hold":
                await gate.wait()

        async with mesh:
            await mesh.invoke("aged", "warm", "Event")
            await clock.advance(1)
            await mesh.invoke("aged", "hold", "Event")
            await mesh.invoke("aged", "late", "Event")
            await clock.advance(61)
            gate.set()
            await clock.advance(1)
        return runs, [context_of(r) for r in failures.messages], aged.stats.dropped_events

    handed, stored = await both_ways(monkeypatch, scenario)
    expected = ([(0.0, "warm"), (1.0, "hold")], [("EventAgeExceeded", 0, "late")], 1)
    assert handed == (expected, 2)
    assert stored == (expected, 3)


async def test_a_warm_event_when_reserved_concurrency_went_to_zero_is_discarded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(mesh: Mesh, clock: VirtualClock, general: list[str]) -> Any:
        failures = RecordingDestination()
        runs: list[Any] = []

        @mesh.function(name="off", on_failure=failures)
        async def off(event: Any, context: Context) -> None:
            runs.append(event)

        async with mesh:
            await mesh.invoke("off", "warm", "Event")
            await clock.advance(1)
            off.update_configuration(reserved_concurrency=0)
            await mesh.invoke("off", "refused", "Event")
            await clock.advance(1)
        return runs, [context_of(r) for r in failures.messages], off.stats.dropped_events

    handed, stored = await both_ways(monkeypatch, scenario)
    expected = (["warm"], [("ZeroReservedConcurrency", 0, "refused")], 1)
    assert handed == (expected, 2)
    assert stored == (expected, 2)


async def test_a_qualified_event_after_warm_unqualified_ones_runs_its_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(mesh: Mesh, clock: VirtualClock, general: list[str]) -> Any:
        successes = RecordingDestination()
        runs: list[tuple[Any, str]] = []

        @mesh.function(name="versioned", on_success=successes)
        async def versioned(event: Any, context: Context) -> None:
            runs.append((event, context.function_version))

        versioned.publish_version()
        async with mesh:
            for name, event in (("versioned", "warm"), ("versioned:1", "one"), ("versioned", 3)):
                await mesh.invoke(name, event, "Event")
                await clock.advance(1)
        arns = [r["requestContext"]["functionArn"].rsplit(":", 1)[1] for r in successes.messages]
        return runs, arns

    handed, stored = await both_ways(monkeypatch, scenario)
    expected = ([("warm", "$LATEST"), ("one", "1"), (3, "$LATEST")], ["$LATEST", "1", "$LATEST"])
    # The last one has an on_success destination: it leaves the hot path after its run only.
    assert handed == (expected, 2)
    assert stored == (expected, 3)


async def test_a_warm_event_keeps_the_callers_trace_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))

    async def scenario(mesh: Mesh, clock: VirtualClock, general: list[str]) -> Any:
        spans.clear()

        @mesh.function(name="traced")
        async def traced(event: Any, context: Context) -> None:
            pass

        callers = []
        async with mesh:
            for name in ("first", "second"):
                with provider.get_tracer("app").start_as_current_span(name) as caller:
                    await mesh.invoke("traced", name, "Event")
                callers.append(caller.get_span_context())
                await clock.advance(1)
        runs = [s for s in spans.get_finished_spans() if s.name == "traced"]
        return [
            s.parent is not None
            and s.parent.span_id == caller.span_id
            and s.context is not None
            and s.context.trace_id == caller.trace_id
            for s, caller in zip(runs, callers, strict=True)
        ]

    handed, stored = await both_ways(monkeypatch, scenario, telemetry=Telemetry(provider))
    assert handed == ([True, True], 1)
    assert stored == ([True, True], 2)


async def test_a_warm_chain_of_events_is_stopped_at_16_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each run invokes the next: the chain travels with each warm event (the worker's own
    chain is for the events no invocation led to), and stops at 16 runs of the function."""

    async def scenario(mesh: Mesh, clock: VirtualClock, general: list[str]) -> Any:
        runs: list[int] = []
        topic = mesh.topic("news")

        @mesh.function(name="loop")
        async def loop(event: Any, context: Context) -> None:
            if isinstance(event, int):
                runs.append(event)
                await mesh.invoke("loop", event + 1, "Event")

        topic.subscribe("loop")
        async with mesh:
            await mesh.invoke("loop", "warm", "Event")
            await clock.advance(1)
            await mesh.invoke("loop", "warm again", "Event")  # no chain: a fresh one each
            await mesh.invoke("loop", 1, "Event")
            await clock.advance(1)
            await topic.publish("not an int")  # a delivery (trigger pubsub), on the hot path too
            await clock.advance(1)
        return runs, loop.stats.errors, loop.stats.invocations

    handed, stored = await both_ways(monkeypatch, scenario)
    expected = (list(range(1, 17)), 1, 19)
    # Handed over: only the warm-up (the 16th run's function error leaves the hot path after
    # its run; its retry is beyond the test).
    assert handed == (expected, 1)
    assert stored == (expected, 19)


async def test_a_failure_around_the_handler_of_a_warm_event_keeps_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Recording the warm event's age fails once (a stand-in for any bug around the handler):
    the event runs after its visibility timeout (10 s + 170 s), as a stored one comes back."""
    failing = [False]
    record = Telemetry.record_event_age

    def record_event_age(self: Telemetry, function_name: str, age_ms: float) -> None:
        if failing[0]:
            failing[0] = False
            raise RuntimeError("injected")
        record(self, function_name, age_ms)

    monkeypatch.setattr(Telemetry, "record_event_age", record_event_age)

    async def scenario(mesh: Mesh, clock: VirtualClock, general: list[str]) -> Any:
        runs: list[tuple[float, Any]] = []

        @mesh.function(name="plain", timeout=10)
        async def plain(event: Any, context: Context) -> None:
            runs.append((clock.now(), event))

        async with mesh:
            await mesh.invoke("plain", "warm", "Event")
            await clock.advance(1)
            failing[0] = True
            await mesh.invoke("plain", "kept", "Event")
            await clock.advance(1)
            await mesh.invoke("plain", "after", "Event")
            await clock.advance(180)
            drained = await mesh.drain(0)
        return runs, drained, plain.stats.dropped_events

    caplog.set_level(logging.ERROR, logger="eventmesh")
    handed, stored = await both_ways(monkeypatch, scenario)
    runs = [(0.0, "warm"), (2.0, "after"), (181.0, "kept")]
    assert handed == ((runs, True, 0), 2)
    assert stored == ((runs, True, 0), 4)


async def test_a_warm_event_interrupted_by_a_stop_runs_at_the_next_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(mesh: Mesh, clock: VirtualClock, general: list[str]) -> Any:
        gate = asyncio.Event()
        done: list[str] = []

        @mesh.function(name="held", timeout=10)
        async def held(event: str, context: Context) -> None:
            if event == "held" and not gate.is_set():
                await gate.wait()
            done.append(event)

        async with mesh:
            await mesh.invoke("held", "warm", "Event")
            await clock.advance(1)
            await mesh.invoke("held", "held", "Event")
            await clock.advance(1)
            stats = await mesh._async_queues["held"].stats()
            await mesh.stop(drain=False)
        gate.set()
        async with mesh:
            await clock.advance(181)  # past the store's visibility timeout (10 s + 170 s)
        return done, (stats.visible, stats.in_flight), held.stats.invocations

    handed, stored = await both_ways(monkeypatch, scenario)
    expected = (["warm", "held"], (0, 1), 2)
    assert handed == (expected, 2)
    assert stored == (expected, 3)


# -- mesh.invoke's Event call for a name invoked before -------------------------------------
async def test_a_warm_event_call_checks_its_payload_as_the_first_call_does() -> None:
    mesh = Mesh(clock=VirtualClock(), telemetry=Telemetry(enabled=False), max_event_payload=64)
    seen: list[Any] = []

    @mesh.function(name="checked")
    async def checked(event: Any, context: Context) -> None:
        seen.append(event)

    async with mesh:
        errors = []
        for _ in range(2):  # the first call resolves the name; the second takes the hot path
            for payload in ({"x": math.nan}, {"x": object()}, {"x": "y" * 100}, "y" * 100):
                with pytest.raises((PayloadError, RequestTooLargeError)) as caught:
                    await mesh.invoke("checked", payload, "Event")
                errors.append((type(caught.value).__name__, str(caught.value)))
        mutable: dict[str, list[int]] = {"list": [1]}
        results = [await mesh.invoke("checked", mutable, "Event") for _ in range(2)]
        mutable["list"].append(2)  # after the call: the handler has its own copy
        await mesh.drain()
    assert errors[:4] == errors[4:]
    assert [name for name, _ in errors[:4]] == [
        "PayloadError",
        "PayloadError",
        "RequestTooLargeError",
        "RequestTooLargeError",
    ]
    assert [(r.status_code, r.payload, r.function_error, r.executed_version) for r in results] == [
        (202, None, None, None)
    ] * 2
    assert results[0].request_id != results[1].request_id
    assert seen == [{"list": [1]}, {"list": [1]}]


async def test_a_warm_event_call_does_nothing_until_awaited_and_not_after_a_stop() -> None:
    mesh = Mesh(clock=VirtualClock(), telemetry=Telemetry(enabled=False))
    seen: list[Any] = []

    @mesh.function(name="lazy")
    async def lazy(event: Any, context: Context) -> None:
        seen.append(event)

    async with mesh:
        await mesh.invoke("lazy", 1, "Event")
        call = mesh.invoke("lazy", 2, "Event")
        await mesh.drain()
        assert seen == [1]
        await call
        await mesh.drain()
        assert seen == [1, 2]
    with pytest.raises(EventMeshError, match="not running"):
        await mesh.invoke("lazy", 3, "Event")


async def test_a_warm_event_call_waits_for_room_and_a_timeout_takes_the_general_way() -> None:
    clock = VirtualClock()
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False))
    gate = asyncio.Event()
    seen: list[tuple[float, Any]] = []

    @mesh.function(name="full", max_pending=1, timeout=60)
    async def full(event: Any, context: Context) -> None:
        seen.append((clock.now(), event))
        if event == "held":
            await gate.wait()

    async with mesh:
        await mesh.invoke("full", "warm", "Event")
        await clock.advance(1)
        await mesh.invoke("full", "held", "Event")
        with pytest.raises(BackpressureError):
            await mesh.invoke("full", "refused", "Event", timeout=0)
        waiting = asyncio.create_task(mesh.invoke("full", "waits", "Event"))
        await clock.advance(1)
        assert not waiting.done()
        gate.set()
        await clock.advance(0)
        assert (await waiting).status_code == 202
        await clock.advance(1)
    assert seen == [(0.0, "warm"), (1.0, "held"), (2.0, "waits")]
