"""Middleware: functions from "call the handler" to "call the handler".

Every rule here is stated by the mesh's documentation (eventmesh/middleware/__init__.py):
the order of composition, the paths a middleware sees, what it sees of an invocation and its
outcome, short-circuits, changed events, a middleware's own exception as a function error,
the refusal to add middleware to a running mesh. Time is a VirtualClock throughout.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from eventmesh import (
    CallHandler,
    ConfigurationError,
    Context,
    Idempotency,
    Invocation,
    InvocationResult,
    Mesh,
    Middleware,
    Telemetry,
    TooManyRequestsError,
)
from eventmesh.middleware import IdempotencyMiddleware, TelemetryMiddleware
from eventmesh.testing import RecordingDestination, VirtualClock, settle

ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


@dataclass
class Seen:
    function: str
    invocation_type: str
    trigger: str
    event: Any
    result: InvocationResult
    request_id: str


class Recorder:
    """A middleware that records every invocation it sees, with its result."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.composed = 0

    def __call__(self, call_handler: CallHandler) -> CallHandler:
        self.composed += 1

        async def record(invocation: Invocation) -> InvocationResult:
            result = await call_handler(invocation)
            context = invocation.context
            self.seen.append(
                Seen(
                    context.function_name,
                    invocation.invocation_type,
                    invocation.trigger,
                    invocation.event,
                    result,
                    invocation.request_id,
                )
            )
            return result

        return record

    @property
    def functions(self) -> list[str]:
        return [seen.function for seen in self.seen]


def tracing(log: list[str], label: str) -> Middleware:
    """A middleware that writes when it enters and leaves."""

    def middleware(call_handler: CallHandler) -> CallHandler:
        async def traced(invocation: Invocation) -> InvocationResult:
            log.append(f"> {label}")
            result = await call_handler(invocation)
            log.append(f"< {label}")
            return result

        return traced

    return middleware


def raising(error: BaseException, *, after: bool = False) -> Middleware:
    """A middleware that raises ``error`` before calling the handler (or after it ran)."""

    def middleware(call_handler: CallHandler) -> CallHandler:
        async def broken(invocation: Invocation) -> InvocationResult:
            if after:
                await call_handler(invocation)
            raise error

        return broken

    return middleware


def make_mesh(clock: VirtualClock, **settings: Any) -> Mesh:
    return Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0, **settings)


async def echo(event: Any, context: Context) -> Any:
    return event


# -- order -----------------------------------------------------------------------------------
async def test_the_meshs_middleware_is_outside_the_functions_each_in_list_order(
    clock: VirtualClock,
) -> None:
    log: list[str] = []
    mesh = make_mesh(clock, middleware=[tracing(log, "mesh 1"), tracing(log, "mesh 2")])

    @mesh.function(middleware=[tracing(log, "function 1"), tracing(log, "function 2")])
    async def handler(event: Any, context: Context) -> None:
        log.append("handler")

    async with mesh:
        await mesh.invoke("handler")
    assert log == [
        "> mesh 1",
        "> mesh 2",
        "> function 1",
        "> function 2",
        "handler",
        "< function 2",
        "< function 1",
        "< mesh 2",
        "< mesh 1",
    ]


async def test_add_middleware_adds_the_innermost_of_the_meshs(clock: VirtualClock) -> None:
    log: list[str] = []
    mesh = make_mesh(clock, middleware=[tracing(log, "given")])
    mesh.add_middleware(tracing(log, "added"))
    mesh.function(middleware=[tracing(log, "function")])(echo)
    async with mesh:
        await mesh.invoke("echo")
    assert log == ["> given", "> added", "> function", "< function", "< added", "< given"]
    assert len(mesh.middleware) == 2


async def test_idempotency_is_the_functions_innermost_middleware(mesh: Mesh) -> None:
    """It sees the event as the handler does: after the function's middleware changed it."""
    runs: list[Any] = []

    def same_order(call_handler: CallHandler) -> CallHandler:
        async def rewrite(invocation: Invocation) -> InvocationResult:
            invocation.event = {"id": 1, "was": invocation.event["id"]}
            return await call_handler(invocation)

        return rewrite

    @mesh.function(idempotency=Idempotency("id"), middleware=[same_order])
    async def once(event: Any, context: Context) -> Any:
        runs.append(event)
        return event["was"]

    async with mesh:
        assert (await mesh.invoke("once", {"id": 7})).payload == 7
        assert (await mesh.invoke("once", {"id": 8})).payload == 7  # key 1 both times
    assert runs == [{"id": 1, "was": 7}]


async def test_telemetry_is_the_outermost_middleware(clock: VirtualClock) -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    current: list[str] = []

    def look(call_handler: CallHandler) -> CallHandler:
        async def looking(invocation: Invocation) -> InvocationResult:
            current.append(trace.get_current_span().name)  # type: ignore[attr-defined]
            return await call_handler(invocation)

        return looking

    mesh = Mesh(clock=clock, telemetry=Telemetry(provider), middleware=[look])
    mesh.function(echo)
    async with mesh:
        await mesh.invoke("echo", 1)
    assert current == ["echo"]  # the invocation's span is open around every other middleware
    assert [s.name for s in spans.get_finished_spans()] == ["echo"]


# -- composed once, at start -----------------------------------------------------------------
async def test_chains_are_composed_once_per_function_when_the_mesh_starts(
    clock: VirtualClock,
) -> None:
    recorder = Recorder()
    mesh = make_mesh(clock, middleware=[recorder])
    mesh.function(name="a")(echo)
    mesh.function(name="b")(echo)
    assert recorder.composed == 0
    async with mesh:
        assert recorder.composed == 2
        for _ in range(3):
            await mesh.invoke("a")
            await mesh.invoke("b")
        assert recorder.composed == 2
    async with mesh:  # started again: composed again
        assert recorder.composed == 4


async def test_a_function_registered_while_running_gets_the_meshs_middleware(
    clock: VirtualClock,
) -> None:
    recorder = Recorder()
    mesh = make_mesh(clock, middleware=[recorder])
    async with mesh:
        mesh.function(echo)
        await mesh.invoke("echo", 1)
    assert recorder.functions == ["echo"]


async def test_without_middleware_a_function_has_no_chain(mesh: Mesh) -> None:
    """The direct path: no chain to call, nothing composed (telemetry is off here)."""
    plain = mesh.function(echo)
    async with mesh:
        assert (await mesh.invoke("echo", 1)).payload == 1
        assert plain.chain is None


async def test_telemetry_that_is_off_adds_no_middleware(clock: VirtualClock) -> None:
    mesh = Mesh(clock=clock)  # no OpenTelemetry SDK installed globally: off
    plain = mesh.function(echo)
    async with mesh:
        assert plain.chain is None
    on = Mesh(clock=clock, telemetry=Telemetry(enabled=True))
    traced = on.function(echo)
    async with on:
        assert traced.chain is not None
        assert (await on.invoke("echo", 2)).payload == 2


# -- refused after start ---------------------------------------------------------------------
async def test_adding_middleware_to_a_running_mesh_is_refused(clock: VirtualClock) -> None:
    recorder = Recorder()
    mesh = make_mesh(clock)
    mesh.function(echo)
    async with mesh:
        with pytest.raises(ConfigurationError, match="running mesh") as refused:
            mesh.add_middleware(recorder)
        assert "composed when the mesh started" in str(refused.value)
        await mesh.invoke("echo", 1)
    assert recorder.seen == []
    mesh.add_middleware(recorder)  # stopped: allowed, and used from the next start
    async with mesh:
        await mesh.invoke("echo", 2)
    assert [seen.event for seen in recorder.seen] == [2]


@pytest.mark.parametrize(
    "middleware",
    [lambda call: call, "not a list", [42], [None]],
    ids=["a single middleware", "a string", "not callable", "None"],
)
def test_middleware_that_is_not_a_list_of_callables_is_refused(
    clock: VirtualClock, middleware: Any
) -> None:
    with pytest.raises(ConfigurationError, match="middleware"):
        make_mesh(clock, middleware=middleware)
    mesh = make_mesh(clock)
    with pytest.raises(ConfigurationError, match="middleware"):
        mesh.function(middleware=middleware)(echo)
    assert mesh.functions == {}


async def test_a_middleware_that_returns_no_call_is_refused_at_start(clock: VirtualClock) -> None:
    mesh = make_mesh(clock, middleware=[lambda call: None])
    mesh.function(echo)
    with pytest.raises(ConfigurationError, match="not a call"):
        await mesh.start()
    assert not mesh.running


# -- every path ------------------------------------------------------------------------------
async def test_it_sees_a_request_response_invocation(clock: VirtualClock) -> None:
    recorder = Recorder()
    mesh = make_mesh(clock, middleware=[recorder])
    mesh.function(echo)
    async with mesh:
        result = await mesh.invoke("echo", {"n": 1})
    (seen,) = recorder.seen
    assert (seen.function, seen.invocation_type, seen.trigger) == (
        "echo",
        "RequestResponse",
        "other",
    )
    assert seen.event == {"n": 1}
    assert seen.result is result
    assert seen.request_id == result.request_id


async def test_it_sees_an_event_invocation_and_each_retry(clock: VirtualClock) -> None:
    recorder = Recorder()
    mesh = make_mesh(clock, middleware=[recorder])

    @mesh.function(retries=2)
    async def flaky(event: Any, context: Context) -> None:
        raise ValueError("not yet")

    async with mesh:
        queued = await mesh.invoke("flaky", {"n": 1}, invocation_type="Event")
        await clock.advance(0)
        assert len(recorder.seen) == 1
        await clock.advance(60)
        assert len(recorder.seen) == 2
        await clock.advance(120)
        assert len(recorder.seen) == 3
        await clock.advance(3600)
    assert len(recorder.seen) == 3
    for seen in recorder.seen:
        assert (seen.invocation_type, seen.trigger, seen.event) == ("Event", "other", {"n": 1})
        assert seen.request_id == queued.request_id
        assert seen.result.function_error == "Unhandled"
        assert seen.result.payload["errorMessage"] == "not yet"


async def test_it_sees_a_queue_batch(clock: VirtualClock) -> None:
    recorder = Recorder()
    mesh = make_mesh(clock, middleware=[recorder])
    queue = mesh.queue("orders")
    queue.subscribe(mesh.function(echo), batch_size=10)
    async with mesh:
        await queue.send_batch([{"id": "1", "body": "a"}, {"id": "2", "body": "b"}])
        await clock.advance(0)
        await settle()
    (seen,) = recorder.seen
    assert (seen.invocation_type, seen.trigger) == ("RequestResponse", "pubsub")
    assert [r["body"] for r in seen.event["Records"]] == ["a", "b"]
    assert {r["eventSource"] for r in seen.event["Records"]} == {"aws:sqs"}


async def test_it_sees_a_stream_batch(clock: VirtualClock) -> None:
    recorder = Recorder()
    mesh = make_mesh(clock, middleware=[recorder])
    stream = mesh.stream("clicks")
    stream.subscribe(mesh.function(echo), batch_size=10, starting_position="TRIM_HORIZON")
    async with mesh:
        await stream.put_records([{"data": "x", "partition_key": "k"}] * 2)
        await clock.advance(1)
        await settle()
    (seen,) = recorder.seen
    assert (seen.invocation_type, seen.trigger) == ("RequestResponse", "pubsub")
    assert len(seen.event["Records"]) == 2
    assert {r["eventSource"] for r in seen.event["Records"]} == {"aws:kinesis"}


async def test_it_sees_topic_bucket_schedule_and_bus_deliveries(clock: VirtualClock) -> None:
    recorder = Recorder()
    mesh = make_mesh(clock, middleware=[recorder])
    function = mesh.function(echo)
    mesh.topic("alerts").subscribe(function)
    mesh.bucket("uploads").notify(function)
    mesh.schedule("rate(1 minute)", function)
    mesh.bus().rule("orders", pattern={"source": ["shop"]}, targets=[function])
    async with mesh:
        await mesh.topic("alerts").publish("fire")
        await mesh.bucket("uploads").put_object("a.txt", b"x")
        await mesh.bus().put_events([{"Source": "shop", "DetailType": "order", "Detail": "{}"}])
        await clock.advance(60)
        await settle()
    kinds = sorted(
        (seen.invocation_type, seen.trigger, _source(seen.event)) for seen in recorder.seen
    )
    assert kinds == [
        ("Event", "datasource", "aws:s3"),
        ("Event", "pubsub", "aws:sns"),
        ("Event", "pubsub", "shop"),
        ("Event", "timer", "aws.events"),
    ]


def _source(event: Any) -> str:
    if "Records" in event:
        record = event["Records"][0]
        return str(record.get("eventSource") or record.get("EventSource"))
    return str(event["source"])


# -- what it sees of the outcome -------------------------------------------------------------
async def test_it_sees_a_function_error(clock: VirtualClock) -> None:
    recorder = Recorder()
    mesh = make_mesh(clock, middleware=[recorder])

    @mesh.function
    async def broken(event: Any, context: Context) -> None:
        raise KeyError("missing")

    async with mesh:
        await mesh.invoke("broken")
    (seen,) = recorder.seen
    assert seen.result.function_error == "Unhandled"
    assert seen.result.payload["errorType"] == "KeyError"
    assert seen.result.executed_version == "$LATEST"


async def test_it_sees_a_timeout(clock: VirtualClock) -> None:
    recorder = Recorder()
    mesh = make_mesh(clock, middleware=[recorder])

    @mesh.function(timeout=2)
    async def slow(event: Any, context: Context) -> None:
        await clock.sleep(60)

    async with mesh:
        task = asyncio.create_task(mesh.invoke("slow"))
        await clock.advance(2)
        result = await task
    (seen,) = recorder.seen
    assert seen.result is result
    assert seen.result.function_error == "Unhandled"
    assert seen.result.payload["errorType"] == "Sandbox.Timedout"


async def test_it_sees_errors_and_timeouts_of_warm_invocations(clock: VirtualClock) -> None:
    """A warm environment runs the handler on the invoker's direct path inside the chain:
    the same outcomes, the same reuse of the environment."""
    recorder = Recorder()
    mesh = make_mesh(clock, middleware=[recorder])

    @mesh.function(timeout=2)
    async def moody(event: Any, context: Context) -> str:
        if event == "fail":
            raise ValueError("bad mood")
        if event == "hang":
            await clock.sleep(60)
        return context.log_stream_name

    async with mesh:
        first = await mesh.invoke("moody", "ok")
        failed = await mesh.invoke("moody", "fail")
        task = asyncio.create_task(mesh.invoke("moody", "hang"))
        await clock.advance(2)
        timed_out = await task
        again = await mesh.invoke("moody", "ok")
    assert [seen.result for seen in recorder.seen] == [first, failed, timed_out, again]
    assert failed.payload["errorType"] == "ValueError"
    assert timed_out.payload["errorType"] == "Sandbox.Timedout"
    assert [r.cold_start for r in (first, failed, timed_out, again)] == [
        True,
        False,
        False,
        True,  # a timeout resets the environment: the next invocation initialises again
    ]
    assert again.payload == first.payload  # the same environment, reused


async def test_its_context_is_the_handlers_filled_in_by_the_environment(
    clock: VirtualClock,
) -> None:
    before: list[tuple[str, int, bool]] = []
    after: list[tuple[str, bool]] = []
    handed: list[Context] = []
    contexts: list[Context] = []

    def look(call_handler: CallHandler) -> CallHandler:
        async def looking(invocation: Invocation) -> InvocationResult:
            context = invocation.context
            contexts.append(context)
            remaining = context.get_remaining_time_in_millis()
            before.append((context.log_stream_name, remaining, context.cold_start))
            result = await call_handler(invocation)
            after.append((context.log_stream_name, context.cold_start))
            return result

        return looking

    mesh = make_mesh(clock, middleware=[look])

    @mesh.function(timeout=5)
    def plain(event: Any, context: Context) -> None:  # a plain def handler, in a thread
        handed.append(context)

    async with mesh:
        await mesh.invoke("plain")
        await mesh.invoke("plain")
    assert before == [("", 5000, False), ("", 5000, False)]  # no environment chosen yet
    assert after[0][0].startswith("[$LATEST]")
    assert [cold for _, cold in after] == [True, False]
    assert handed == contexts
    assert contexts[0].invoked_function_arn == ARN + "plain"


async def test_it_runs_inside_the_unit_of_concurrency(clock: VirtualClock) -> None:
    """A middleware holds the invocation's concurrency while it runs, and never sees a
    throttled invocation (which gets none)."""
    gate = asyncio.Event()
    recorder = Recorder()

    def hold(call_handler: CallHandler) -> CallHandler:
        async def holding(invocation: Invocation) -> InvocationResult:
            await gate.wait()
            return await call_handler(invocation)

        return holding

    mesh = make_mesh(clock)
    mesh.function(reserved_concurrency=1, middleware=[recorder, hold])(echo)
    async with mesh:
        first = asyncio.create_task(mesh.invoke("echo", 1))
        await settle()
        with pytest.raises(TooManyRequestsError):
            await mesh.invoke("echo", 2)
        gate.set()
        assert (await first).payload == 1
    assert [seen.event for seen in recorder.seen] == [1]


# -- short-circuits and changed events -------------------------------------------------------
async def test_a_middleware_can_answer_without_running_the_handler(clock: VirtualClock) -> None:
    success = RecordingDestination()

    def cached(call_handler: CallHandler) -> CallHandler:
        async def answer(invocation: Invocation) -> InvocationResult:
            return invocation.respond({"cached": invocation.event})

        return answer

    mesh = make_mesh(clock)
    ran: list[Any] = []

    @mesh.function(middleware=[cached], on_success=success)
    async def expensive(event: Any, context: Context) -> None:
        ran.append(event)

    async with mesh:
        result = await mesh.invoke("expensive", 1)
        await mesh.invoke("expensive", 2, invocation_type="Event")
        await clock.advance(0)
        assert expensive.latest.pool is not None
        assert expensive.latest.pool.size == 0  # no execution environment was made
    assert ran == []
    assert (result.status_code, result.payload, result.function_error) == (200, {"cached": 1}, None)
    assert result.executed_version == "$LATEST"
    (record,) = success.messages
    assert record["responsePayload"] == {"cached": 2}
    assert record["requestContext"]["condition"] == "Success"


async def test_a_middleware_can_change_the_event(clock: VirtualClock) -> None:
    def enrich(call_handler: CallHandler) -> CallHandler:
        async def enriched(invocation: Invocation) -> InvocationResult:
            invocation.event = {**invocation.event, "tenant": "acme"}
            return await call_handler(invocation)

        return enriched

    mesh = make_mesh(clock, middleware=[enrich])
    mesh.function(echo)
    async with mesh:
        result = await mesh.invoke("echo", {"id": 1})
    assert result.payload == {"id": 1, "tenant": "acme"}


async def test_a_middleware_can_change_the_result(clock: VirtualClock) -> None:
    def wrap(call_handler: CallHandler) -> CallHandler:
        async def wrapped(invocation: Invocation) -> InvocationResult:
            result = await call_handler(invocation)
            result.payload = {"data": result.payload}
            return result

        return wrapped

    mesh = make_mesh(clock)
    mesh.function(middleware=[wrap])(echo)
    async with mesh:
        assert (await mesh.invoke("echo", 3)).payload == {"data": 3}


# -- a middleware's own exception ------------------------------------------------------------
async def test_what_a_middleware_raises_is_a_function_error_for_the_caller(
    clock: VirtualClock,
) -> None:
    outer = Recorder()
    mesh = make_mesh(clock, middleware=[outer, raising(RuntimeError("middleware bug"))])
    ran: list[Any] = []

    @mesh.function
    async def handler(event: Any, context: Context) -> None:
        ran.append(event)

    async with mesh:
        result = await mesh.invoke("handler", 1)
    assert ran == []
    assert outer.seen == []  # the middleware outside saw it raised (and did not catch it)
    assert (result.status_code, result.function_error) == (200, "Unhandled")
    assert result.payload["errorType"] == "RuntimeError"
    assert result.payload["errorMessage"] == "middleware bug"
    assert any("raise error" in line for line in result.payload["stackTrace"])
    assert handler.stats.errors == 1


async def test_an_event_whose_middleware_raises_is_retried_then_reported_as_lambda_does(
    clock: VirtualClock,
) -> None:
    failure = RecordingDestination()
    attempts: list[float] = []

    def counting(call_handler: CallHandler) -> CallHandler:
        async def counted(invocation: Invocation) -> InvocationResult:
            attempts.append(clock.now())
            raise RuntimeError("cannot reach the feature-flag service")

        return counted

    mesh = make_mesh(clock)
    mesh.function(middleware=[counting], on_failure=failure, retries=2)(echo)
    async with mesh:
        queued = await mesh.invoke("echo", {"id": 1}, invocation_type="Event")
        await clock.advance(3600)
        assert (await mesh.invoke("echo", 5)).function_error == "Unhandled"  # worker alive
    assert attempts[:3] == [0, 60, 180]
    (record,) = failure.messages
    assert record["requestContext"]["requestId"] == queued.request_id
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responsePayload"]["errorType"] == "RuntimeError"


async def test_a_queue_batch_whose_middleware_raises_comes_back_then_goes_to_the_dlq(
    clock: VirtualClock,
) -> None:
    batches: list[list[str]] = []

    def poisoned(call_handler: CallHandler) -> CallHandler:
        async def check(invocation: Invocation) -> InvocationResult:
            bodies = [r["body"] for r in invocation.event["Records"]]
            batches.append(bodies)
            if "poison" in bodies:
                raise ValueError("refused by the middleware")
            return await call_handler(invocation)

        return check

    mesh = make_mesh(clock)
    queue = mesh.queue("orders", visibility_timeout=30, max_receive_count=2, dead_letter="dlq")
    dlq = mesh.queue("dlq")
    queue.subscribe(mesh.function(middleware=[poisoned])(echo))
    async with mesh:
        await queue.send("poison")
        await clock.advance(0)
        await clock.advance(30)
        await clock.advance(30)
        dead = await dlq.receive()
        await queue.send("fine")  # the mapping's poller still works
        await clock.advance(0)
        await settle()
    assert batches == [["poison"], ["poison"], ["fine"]]
    assert [m.body for m in dead] == ["poison"]
    assert (await queue.stats()).total == 0


async def test_an_exception_raised_after_the_handler_ran_is_a_function_error_too(
    clock: VirtualClock,
) -> None:
    ran: list[Any] = []
    mesh = make_mesh(clock)

    @mesh.function(middleware=[raising(LookupError("after"), after=True)])
    async def handler(event: Any, context: Context) -> str:
        ran.append(event)
        return "done"

    async with mesh:
        result = await mesh.invoke("handler", 1)
    assert ran == [1]
    assert result.payload["errorType"] == "LookupError"


async def test_a_cancelled_error_a_middleware_raises_on_its_own_is_a_function_error(
    clock: VirtualClock,
) -> None:
    """Nobody cancelled the caller: the middleware awaited something that was cancelled."""
    mesh = make_mesh(clock)
    mesh.function(middleware=[raising(asyncio.CancelledError())])(echo)
    async with mesh:
        result = await mesh.invoke("echo", 1)
    assert result.payload["errorType"] == "CancelledError"


async def test_cancelling_the_caller_passes_through_the_middleware(clock: VirtualClock) -> None:
    gate = asyncio.Event()

    def hold(call_handler: CallHandler) -> CallHandler:
        async def holding(invocation: Invocation) -> InvocationResult:
            await gate.wait()
            return await call_handler(invocation)

        return holding

    mesh = make_mesh(clock)
    function = mesh.function(middleware=[hold])(echo)
    async with mesh:
        task = asyncio.create_task(mesh.invoke("echo", 1))
        await settle()
        assert function.in_flight == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert function.in_flight == 0  # its concurrency is released


# -- scope -----------------------------------------------------------------------------------
async def test_a_functions_middleware_sees_only_that_function(clock: VirtualClock) -> None:
    own = Recorder()
    everywhere = Recorder()
    mesh = make_mesh(clock, middleware=[everywhere])
    mesh.function(name="watched", middleware=[own])(echo)
    mesh.function(name="other")(echo)
    async with mesh:
        await mesh.invoke("watched", 1)
        await mesh.invoke("other", 2)
        await mesh.invoke("other", 3, invocation_type="Event")
        await clock.advance(0)
    assert own.functions == ["watched"]
    assert sorted(everywhere.functions) == ["other", "other", "watched"]


async def test_a_functions_middleware_applies_to_its_versions_and_new_code(mesh: Mesh) -> None:
    recorder = Recorder()
    function = mesh.function(middleware=[recorder])(echo)
    function.publish_version()

    async def new_code(event: Any, context: Context) -> str:
        return "new"

    async with mesh:
        await mesh.invoke("echo:1", 1)
        function.update_code(new_code)
        assert (await mesh.invoke("echo", 2)).payload == "new"
    assert [(seen.event, seen.result.executed_version) for seen in recorder.seen] == [
        (1, "1"),
        (2, "$LATEST"),
    ]


# -- the built-in middleware -----------------------------------------------------------------
def test_idempotency_is_the_functions_last_middleware(clock: VirtualClock) -> None:
    recorder = Recorder()
    mesh = make_mesh(clock)
    function = mesh.function(idempotency=Idempotency("id"), middleware=[recorder])(echo)
    first, idempotency = function.middleware
    assert first is recorder
    assert isinstance(idempotency, IdempotencyMiddleware)
    assert idempotency.namespace == "echo"


async def test_telemetry_middleware_makes_the_span_of_a_call(clock: VirtualClock) -> None:
    """Usable on its own: around any call, it makes the invocation's span."""
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    telemetry = Telemetry(provider, enabled=True)
    mesh = Mesh(clock=clock, telemetry=telemetry)
    function = mesh.function(echo)
    async with mesh:
        call = TelemetryMiddleware(telemetry)(_answer)
        context = Context(
            "r-1", "echo", "$LATEST", ARN + "echo", 256, "", 0.0, clock.now, False, None, {}
        )
        result = await call(Invocation(None, context, function.latest, "timer"))
    assert result.payload == "answered"
    (span,) = spans.get_finished_spans()
    attributes = span.attributes or {}
    assert (span.name, attributes["faas.trigger"], attributes["faas.invocation_id"]) == (
        "echo",
        "timer",
        "r-1",
    )
    assert attributes["faas.max_memory"] == 256 * 1024 * 1024


async def _answer(invocation: Invocation) -> InvocationResult:
    return invocation.respond("answered")


async def test_an_idempotent_duplicate_needs_no_execution_environment(mesh: Mesh) -> None:
    runs: list[Any] = []

    @mesh.function(idempotency=Idempotency("id"))
    async def charge(event: Any, context: Context) -> int:
        runs.append(event)
        return len(runs)

    async with mesh:
        first = await mesh.invoke("charge", {"id": 1})
        second = await mesh.invoke("charge", {"id": 1})
        assert charge.latest.pool is not None
        assert charge.latest.pool.size == 1
    assert (first.payload, second.payload) == (1, 1)
    assert (first.cold_start, second.cold_start) == (True, False)
    assert second.request_id != first.request_id
    assert charge.stats.invocations == 1


async def test_an_idempotent_function_error_releases_the_key(mesh: Mesh) -> None:
    attempts: list[Any] = []

    @mesh.function(idempotency=Idempotency("id"))
    async def charge(event: Any, context: Context) -> str:
        attempts.append(event)
        if len(attempts) == 1:
            raise ConnectionError("card network down")
        return "charged"

    async with mesh:
        failed = await mesh.invoke("charge", {"id": 1})
        retried = await mesh.invoke("charge", {"id": 1})
        again = await mesh.invoke("charge", {"id": 1})
    assert failed.payload["errorType"] == "ConnectionError"
    assert (retried.payload, again.payload) == ("charged", "charged")
    assert len(attempts) == 2


async def test_an_idempotent_claim_covers_the_init_phase(mesh: Mesh, clock: VirtualClock) -> None:
    """The middleware claims the key before the environment is initialised: the claim lasts
    the invocation's time plus Lambda's 10 s init limit."""
    seen: list[float | None] = []

    @mesh.function(timeout=10, idempotency=Idempotency("id"))
    async def look(event: Any, context: Context) -> None:
        key = Idempotency("id").bind(mesh.backend.values).stored_key("look", 1)
        stored = await mesh.backend.values.get(key)
        assert stored is not None
        seen.append(stored.expires_at)

    async with mesh:
        await clock.advance(5)
        await mesh.invoke("look", {"id": 1})
    assert seen == [clock.time() + 10 + 10]


async def test_an_idempotent_function_uses_the_storage_chosen_before_start(
    clock: VirtualClock, tmp_path: Any
) -> None:
    """Its store is bound when the mesh starts, so storage chosen after registration
    (``eventmesh run --storage``) holds its records."""
    mesh = make_mesh(clock)
    mesh.function(idempotency=Idempotency("id"))(echo)
    mesh.use_storage(f"sqlite:///{tmp_path / 'mesh.db'}")
    async with mesh:
        await mesh.invoke("echo", {"id": 1})
        key = Idempotency("id").bind(mesh.backend.values).stored_key("echo", 1)
        assert await mesh.backend.values.get(key) is not None
    assert mesh.storage.startswith("sqlite:")
