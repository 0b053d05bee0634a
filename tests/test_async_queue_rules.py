"""The async invocation queue's rules that only its corners show.

Each test names the AWS rule (reference /work/shared/reference/lambda-semantics.md, §1.3-1.5
and §2.6) or the documented eventmesh behaviour it pins; expected values are written out by
hand. Time is a VirtualClock: nothing sleeps on the real clock.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from eventmesh import Context, Mesh, Telemetry
from eventmesh.backends.memory import (
    MemoryBlobStore,
    MemoryKeyValueStore,
    MemoryLogStore,
    MemoryQueueStore,
)
from eventmesh.backends.protocols import Backend, Delivery, OutgoingMessage
from eventmesh.testing import RecordingDestination, VirtualClock


@pytest.fixture(autouse=True)
def both_paths(event_path: str) -> str:
    """Every test here runs with Event invocations handed over and through the store."""
    return event_path


START = 1767225600.0
"""The VirtualClock's start, 2026-01-01T00:00:00Z, as epoch seconds."""


def make_mesh(clock: VirtualClock, **settings: Any) -> Mesh:
    return Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0, **settings)


def metered(clock: VirtualClock, reader: InMemoryMetricReader, **settings: Any) -> Mesh:
    telemetry = Telemetry(TracerProvider(), MeterProvider(metric_readers=[reader]))
    return Mesh(clock=clock, telemetry=telemetry, drain_timeout=2.0, **settings)


def metrics(reader: InMemoryMetricReader) -> dict[str, list[tuple[dict[str, Any], Any]]]:
    """Each metric's data points by lower-case name (the SDK folds the case), as
    (attributes, value) or, for a histogram, (attributes, (count, sum))."""
    data = reader.get_metrics_data()
    found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found[metric.name.lower()] = [
                    (dict(point.attributes or {}), getattr(point, "value", None))
                    if hasattr(point, "value")
                    else (dict(point.attributes or {}), (point.count, point.sum))
                    for point in metric.data.data_points
                ]
    return found


class FailingDestination:
    """A destination whose every send raises, as an unreachable queue would."""

    async def send(self, message: Any, attributes: Any = None) -> None:
        raise ConnectionError("destination unreachable")


async def store_event(
    mesh: Mesh, function: str, body: bytes, attributes: dict[str, str]
) -> list[str]:
    """Put an event straight into a function's async queue, as a durable store kept it."""
    return await mesh.backend.queues.send(
        f"eventmesh.async.{function}", [OutgoingMessage(body, attributes)]
    )


async def stored(mesh: Mesh, function: str) -> int:
    stats = await mesh.backend.queues.stats(f"eventmesh.async.{function}")
    return stats.total


# -- an event for a qualifier that is gone ---------------------------------------------------
async def test_an_event_for_an_alias_that_no_longer_exists_is_dropped_unrun_and_logged(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """An event whose alias was deleted while it waited cannot be run (Invoke on a missing
    qualifier is ResourceNotFound, §7): it is deleted, logged with its request id and
    counted in AsyncEventsDropped; it never comes back after a visibility timeout."""
    reader = InMemoryMetricReader()
    mesh = metered(clock, reader)
    runs: list[Any] = []

    @mesh.function(name="target", timeout=10)
    async def target(event: Any, context: Context) -> None:
        runs.append(event)

    with caplog.at_level(logging.ERROR, logger="eventmesh.async"):
        async with mesh:
            await store_event(
                mesh,
                "target",
                b'{"n": 1}',
                {"request_id": "r-gone", "qualifier": "old", "enqueued_at": repr(START)},
            )
            await clock.advance(0)
            assert await stored(mesh, "target") == 0
            await clock.advance(10 + 170 + 1)  # past the visibility timeout: nothing returns
            assert await stored(mesh, "target") == 0

    assert runs == []
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "eventmesh.async",
            "ERROR",
            "dropping event r-gone: function 'target' has no version or alias 'old'",
        )
    ]
    found = metrics(reader)
    assert found["asynceventsdropped"] == [({"function_name": "target"}, 1)], found


# -- metrics ---------------------------------------------------------------------------------
async def test_async_event_age_is_reported_in_milliseconds_at_each_attempt(
    clock: VirtualClock,
) -> None:
    """AsyncEventAge (CloudWatch, milliseconds): the time from queueing to each attempt;
    the first attempt at once (0 ms), the retry 1 minute later (60000 ms), §1.3."""
    reader = InMemoryMetricReader()
    mesh = metered(clock, reader)
    attempts: list[float] = []

    @mesh.function(name="flaky", retries=1)
    async def flaky(event: Any, context: Context) -> None:
        attempts.append(clock.now())
        if len(attempts) == 1:
            raise ValueError("first time fails")

    async with mesh:
        await mesh.invoke("flaky", {}, invocation_type="Event")
        await clock.advance(60)

    assert attempts == [0, 60]
    assert metrics(reader)["asynceventage"] == [({"function_name": "flaky"}, (2, 60000.0))]


async def test_failed_deliveries_and_drops_are_counted_per_function(
    clock: VirtualClock,
) -> None:
    """DestinationDeliveryFailures (§1.4) for the on_success and on_failure sends that
    failed, DeadLetterErrors (§1.5) for the DLQ send, AsyncEventsDropped for the discarded
    event; each under its function's name."""
    reader = InMemoryMetricReader()
    mesh = metered(clock, reader)

    @mesh.function(
        name="worker",
        retries=0,
        on_success=FailingDestination(),
        on_failure=FailingDestination(),
        dead_letter=FailingDestination(),
    )
    async def worker(event: Any, context: Context) -> str:
        if event == "fail":
            raise ValueError("bad event")
        return "ok"

    async with mesh:
        await mesh.invoke("worker", "fine", invocation_type="Event")
        await mesh.invoke("worker", "fail", invocation_type="Event")
        await mesh.invoke("worker", "fail", invocation_type="Event")
        await clock.advance(0)

    found = metrics(reader)
    assert found["destinationdeliveryfailures"] == [({"function_name": "worker"}, 3)]
    assert found["deadlettererrors"] == [({"function_name": "worker"}, 2)]
    assert found["asynceventsdropped"] == [({"function_name": "worker"}, 2)]
    assert worker.stats.dead_letter_errors == 2
    assert worker.stats.destination_failures == 3
    assert worker.stats.dropped_events == 2


# -- damaged stored events -------------------------------------------------------------------
async def test_a_damaged_event_goes_to_the_dead_letters_with_code_400_and_the_stores_id(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A stored event that cannot be read is never retried forever nor lost: it goes to the
    DLQ as-is (§1.5: RequestID, ErrorCode, ErrorMessage), with ErrorCode 400 (a request that
    cannot be processed); without a request id, the store's message id names it. A body that
    is JSON is sent as the JSON value, one that is not even UTF-8 as text with replacement
    characters."""
    reader = InMemoryMetricReader()
    mesh = metered(clock, reader)
    dead = RecordingDestination()

    @mesh.function(name="target", timeout=10, dead_letter=dead)
    async def target(event: Any, context: Context) -> None:
        raise AssertionError("a damaged event must not run")

    with caplog.at_level(logging.ERROR, logger="eventmesh.async"):
        async with mesh:
            (first,) = await store_event(mesh, "target", b'{"n": 1}', {"qualifier": ""})
            await clock.advance(0)
            (second,) = await store_event(
                mesh, "target", b"\xff{", {"request_id": "r-2", "qualifier": ""}
            )
            await clock.advance(0)
            await clock.advance(10 + 170 + 1)  # past the visibility timeout: nothing returns
            assert await stored(mesh, "target") == 0

    assert dead.messages == [{"n": 1}, "\ufffd{"]
    assert dead.attributes == [
        {
            "RequestID": {"DataType": "String", "StringValue": first},
            "ErrorCode": {"DataType": "Number", "StringValue": "400"},
            "ErrorMessage": {
                "DataType": "String",
                "StringValue": "malformed stored event: KeyError('request_id')",
            },
        },
        {
            "RequestID": {"DataType": "String", "StringValue": "r-2"},
            "ErrorCode": {"DataType": "Number", "StringValue": "400"},
            "ErrorMessage": {
                "DataType": "String",
                "StringValue": "malformed stored event: KeyError('enqueued_at')",
            },
        },
    ]
    assert [r.getMessage() for r in caplog.records] == [
        f"event {first} of eventmesh.async.target rejected:"
        " malformed stored event: KeyError('request_id')",
        f"event {second} of eventmesh.async.target rejected:"
        " malformed stored event: KeyError('enqueued_at')",
    ]
    assert target.stats.dropped_events == 2
    assert metrics(reader)["asynceventsdropped"] == [({"function_name": "target"}, 2)]


async def test_damaged_events_whose_dead_letter_send_fails_are_counted_each(
    clock: VirtualClock,
) -> None:
    """If the DLQ send fails the event is deleted and DeadLetterErrors emitted (§1.5)."""
    reader = InMemoryMetricReader()
    mesh = metered(clock, reader)

    @mesh.function(name="target", dead_letter=FailingDestination())
    async def target(event: Any, context: Context) -> None:
        raise AssertionError("a damaged event must not run")

    async with mesh:
        await store_event(mesh, "target", b"{not json", {"request_id": "r-1"})
        await store_event(mesh, "target", b"{not json", {"request_id": "r-2"})
        await clock.advance(0)
        assert await stored(mesh, "target") == 0

    assert target.stats.dead_letter_errors == 2
    assert target.stats.dropped_events == 2
    found = metrics(reader)
    assert found["deadlettererrors"] == [({"function_name": "target"}, 2)]
    assert found["asynceventsdropped"] == [({"function_name": "target"}, 2)]


# -- throttles -------------------------------------------------------------------------------
async def test_an_event_expired_by_throttles_reports_lambdas_429_rate_exceeded_answer(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A throttled event is retried until its age runs out (§1.3, §2.6); its failure record
    and dead letter then carry Lambda's answer to the last attempt: 429 TooManyRequests,
    "Rate Exceeded.", for the version that would have run."""
    failure = RecordingDestination()
    dead = RecordingDestination()
    release = asyncio.Event()

    @mesh.function(
        name="busy",
        reserved_concurrency=1,
        timeout=900,
        max_event_age=60,
        on_failure=failure,
        dead_letter=dead,
    )
    async def busy(event: Any, context: Context) -> None:
        await release.wait()

    async with mesh:
        holder = asyncio.create_task(mesh.invoke("busy", "hold"))
        await clock.advance(0)
        await mesh.invoke("busy", {"n": 1}, invocation_type="Event")
        await clock.advance(60)
        release.set()
        await holder

    record = failure.messages[0]
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["responseContext"] == {"statusCode": 429, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {
        "errorMessage": "Rate Exceeded.",
        "errorType": "TooManyRequestsException",
    }
    assert dead.attributes[0] is not None
    assert dead.attributes[0]["ErrorCode"] == {"DataType": "Number", "StringValue": "429"}
    assert dead.attributes[0]["ErrorMessage"] == {
        "DataType": "String",
        "StringValue": "Rate Exceeded.",
    }


async def test_a_function_error_is_still_reported_when_later_throttles_expire_the_event(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Throttles after a function error do not hide it: the record of an event that expires
    while throttled (§1.3) keeps the last answer the function gave (status 200, Unhandled,
    its error), not a 429; the count of attempts is the one attempt that ran."""
    failure = RecordingDestination()
    dead = RecordingDestination()
    release = asyncio.Event()
    attempts: list[float] = []

    @mesh.function(
        name="busy",
        reserved_concurrency=1,
        timeout=600,
        max_event_age=100,
        on_failure=failure,
        dead_letter=dead,
    )
    async def busy(event: Any, context: Context) -> None:
        if event == "hold":
            await release.wait()
            return
        attempts.append(clock.now())
        raise ValueError("broken once")

    async with mesh:
        await mesh.invoke("busy", {"n": 1}, invocation_type="Event")
        await clock.advance(0)
        holder = asyncio.create_task(mesh.invoke("busy", "hold"))  # the retry at 60 s waits
        await clock.advance(100)
        release.set()
        await holder

    assert attempts == [0]
    record = failure.messages[0]
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"]["errorMessage"] == "broken once"
    assert record["timestamp"] == "2026-01-01T00:01:40.000Z"
    assert dead.attributes[0] is not None
    assert dead.attributes[0]["ErrorCode"]["StringValue"] == "200"
    assert dead.attributes[0]["ErrorMessage"]["StringValue"] == "broken once"


async def test_a_retry_due_less_than_a_second_before_expiry_is_due_at_expiry_exactly(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Retries never outlive the event (§1.3: discarded when it exceeds its maximum age): an
    attempt that fails 59.5 s into a 60 s age has its retry at 60 s, where the event is
    discarded; not a second later."""
    failure = RecordingDestination()

    @mesh.function(name="slow", timeout=120, max_event_age=60, on_failure=failure)
    async def slow(event: Any, context: Context) -> None:
        await clock.sleep(59.5)
        raise ValueError("too slow to succeed")

    async with mesh:
        await mesh.invoke("slow", {}, invocation_type="Event")
        await clock.advance(59.99)
        assert failure.messages == []
        await clock.advance(0.01)
        assert len(failure.messages) == 1

    record = failure.messages[0]
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["timestamp"] == "2026-01-01T00:01:00.000Z"


async def test_pollers_take_no_more_events_than_the_mesh_can_run(clock: VirtualClock) -> None:
    """Lambda's pollers read the queue as concurrency allows (§1.3): with room for one
    execution, the second event waits in the queue instead of being taken and throttled."""
    mesh = make_mesh(clock, concurrency_limit=1)
    release = asyncio.Event()
    runs: list[tuple[Any, float]] = []

    @mesh.function(name="one", timeout=60)
    async def one(event: Any, context: Context) -> None:
        runs.append((event, clock.now()))
        if event == 1:
            await release.wait()

    async with mesh:
        await mesh.invoke("one", 1, invocation_type="Event")
        await mesh.invoke("one", 2, invocation_type="Event")
        await clock.advance(5)
        release.set()
        await clock.advance(0)

    assert one.stats.throttles == 0
    assert runs == [(1, 0), (2, 5)]


# -- tracing ---------------------------------------------------------------------------------
async def test_an_event_invocation_continues_its_callers_trace_and_names_its_trigger(
    clock: VirtualClock,
) -> None:
    """The trace context of the caller travels with the queued event (X-Ray/W3C propagation
    through Lambda's async queue), and the invocation span names its trigger: ``pubsub`` for
    a topic's delivery (SNS invokes asynchronously, §4.2), ``other`` for a direct Event."""
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    mesh = Mesh(clock=clock, telemetry=Telemetry(provider), drain_timeout=2.0)
    topic = mesh.topic("alerts")

    @mesh.function(name="notified")
    async def notified(event: Any, context: Context) -> None:
        return None

    @mesh.function(name="direct")
    async def direct(event: Any, context: Context) -> None:
        return None

    topic.subscribe(notified)
    async with mesh:
        with provider.get_tracer("app").start_as_current_span("checkout"):
            await topic.publish("hello")
            await mesh.invoke("direct", {}, invocation_type="Event")
        await clock.advance(0)

    finished = {span.name: span for span in spans.get_finished_spans()}
    checkout = finished["checkout"]
    assert checkout.context is not None
    for name, trigger in (("notified", "pubsub"), ("direct", "other")):
        span = finished[name]
        assert span.parent is not None and span.context is not None
        assert span.parent.span_id == checkout.context.span_id, name
        assert span.context.trace_id == checkout.context.trace_id, name
        assert (span.attributes or {})["faas.trigger"] == trigger, name


async def test_a_successful_event_logs_no_error(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A success is silent on the error loggers: nothing failed (§1.4, condition Success)."""
    success = RecordingDestination()

    @mesh.function(name="fine", on_success=success)
    async def fine(event: Any, context: Context) -> str:
        return "ok"

    with caplog.at_level(logging.WARNING, logger="eventmesh"):
        async with mesh:
            await mesh.invoke("fine", {}, invocation_type="Event")
            await clock.advance(0)

    assert [r.getMessage() for r in caplog.records] == []
    assert success.messages[0]["responsePayload"] == "ok"


# -- a store that fails ----------------------------------------------------------------------
class FlakyQueues(MemoryQueueStore):
    """The memory queue store, with the next receive or delete on one queue raising."""

    def __init__(self, clock: VirtualClock, queue: str) -> None:
        super().__init__(clock)
        self.queue = queue
        self.fail_receives = 0
        self.fail_deletes = 0

    async def receive(self, queue: str, *args: Any, **kwargs: Any) -> list[Delivery]:
        if queue == self.queue and self.fail_receives:
            self.fail_receives -= 1
            raise ConnectionError("store unreachable")
        return await super().receive(queue, *args, **kwargs)

    async def delete(self, queue: str, receipts: Any) -> int:
        if queue == self.queue and self.fail_deletes:
            self.fail_deletes -= 1
            raise ConnectionError("store unreachable")
        return await super().delete(queue, receipts)


def flaky_mesh(clock: VirtualClock, queues: FlakyQueues) -> Mesh:
    backend = Backend(
        queues=queues,
        logs=MemoryLogStore(clock),
        values=MemoryKeyValueStore(clock),
        blobs=MemoryBlobStore(clock),
        in_memory=True,
    )
    return Mesh(storage=backend, clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2)


async def test_a_failed_poll_is_logged_and_retried_one_second_later(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A poller that cannot read its queue logs why and polls again 1 s later: the event
    queued meanwhile still runs (§1.3: a separate process reads the queue and invokes)."""
    queues = FlakyQueues(clock, "eventmesh.async.reader")
    queues.fail_receives = 1
    mesh = flaky_mesh(clock, queues)
    runs: list[float] = []

    @mesh.function(name="reader")
    async def reader(event: Any, context: Context) -> None:
        runs.append(clock.now())

    with caplog.at_level(logging.ERROR, logger="eventmesh.async"):
        async with mesh:
            await mesh.invoke("reader", {}, invocation_type="Event")
            await clock.advance(0.99)
            assert runs == []
            await clock.advance(0.01)
            assert runs == [1.0]

    assert [(r.getMessage(), type(r.exc_info[1])) for r in caplog.records if r.exc_info] == [
        ("polling eventmesh.async.reader failed; retrying in 1 s", ConnectionError)
    ]


async def test_an_event_whose_delete_failed_comes_back_after_its_visibility_timeout(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The queue is at-least-once (§1.3: the same event can arrive more than once): an event
    whose final delete failed is logged and runs again once its visibility timeout (the
    function's timeout plus 170 s) ends."""
    queues = FlakyQueues(clock, "eventmesh.async.writer")
    queues.fail_deletes = 1
    mesh = flaky_mesh(clock, queues)
    runs: list[float] = []

    @mesh.function(name="writer", timeout=10)
    async def writer(event: Any, context: Context) -> None:
        runs.append(clock.now())

    with caplog.at_level(logging.ERROR, logger="eventmesh.async"):
        async with mesh:
            await mesh.invoke("writer", {}, invocation_type="Event")
            await clock.advance(179.9)
            assert runs == [0]
            await clock.advance(0.1)
            assert runs == [0, 180]

    assert [(r.getMessage(), type(r.exc_info[1])) for r in caplog.records if r.exc_info] == [
        ("processing an event of eventmesh.async.writer failed", ConnectionError)
    ]


# -- workers ---------------------------------------------------------------------------------
def workers(function: str) -> int:
    """The poller-worker tasks of a function's async queue now running."""
    name = f"eventmesh.async.{function}.worker"
    return sum(1 for task in asyncio.all_tasks() if task.get_name() == name and not task.done())


async def test_idle_extra_workers_retire_after_one_empty_20_second_poll(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Pollers scale with the work (§1.3: the execution rate is bounded by concurrency) and
    back down: a worker whose 20 s long poll comes back empty retires, but never the last."""
    release = asyncio.Event()

    @mesh.function(name="pair", reserved_concurrency=2)
    async def pair(event: Any, context: Context) -> None:
        await release.wait()

    async with mesh:
        await mesh.invoke("pair", 1, invocation_type="Event")
        await mesh.invoke("pair", 2, invocation_type="Event")
        await clock.advance(0)
        assert workers("pair") == 2
        release.set()
        await clock.advance(19.9)
        assert workers("pair") == 2
        await clock.advance(0.1)
        assert workers("pair") == 1
        await clock.advance(3600)
        assert workers("pair") == 1
        await mesh.invoke("pair", 3, invocation_type="Event")
        await clock.advance(0)
        assert pair.stats.invocations == 3


async def test_a_backlog_of_handlers_that_never_wait_yields_every_16_events(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A worker draining a backlog of handlers that never suspend lets the rest of the
    program run after every 16th event it takes, so one busy function cannot starve the
    loop (other functions, timers, the caller)."""
    gate = asyncio.Event()
    turns = 0
    seen: list[int] = []

    @mesh.function(name="busy", reserved_concurrency=1)
    async def busy(event: Any, context: Context) -> None:
        if event == 0:
            await gate.wait()
        seen.append(turns)

    async with mesh:
        for n in range(41):
            await mesh.invoke("busy", n, invocation_type="Event")
        await clock.advance(0)
        assert seen == []  # event 0 holds the only worker; 40 wait behind it
        gate.set()
        while len(seen) < 41 and turns < 1000:
            turns += 1
            await asyncio.sleep(0)

    start = seen[0]
    # Event 0 was the worker's 1st; it yields after its 16th, 32nd: events 15 and 31.
    assert [turn - start for turn in seen] == [0] * 16 + [1] * 16 + [2] * 9


async def test_an_idle_function_wakes_its_last_worker_once_an_hour_not_every_20_s(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """The last worker never retires, so it long-polls for an hour (sends wake it): an idle
    mesh on a virtual clock advanced by days costs a wake-up an hour, not one every 20 s."""

    @mesh.function(name="idle")
    async def idle(event: Any, context: Context) -> None:
        return None

    async with mesh:
        await clock.advance(0)
        assert workers("idle") == 1
        assert clock.next_timer() == 3600.0
        await clock.advance(3600)
        assert clock.next_timer() == 7200.0


async def test_an_idle_worker_takes_the_next_event_without_a_new_worker_starting(
    mesh: Mesh, clock: VirtualClock, event_path: str
) -> None:
    """A worker is started only when an event is taken while no other worker waits (§1.3:
    pollers scale with the work, bounded by concurrency): idle workers are counted right.
    Store workers keep one spare long poll beside the busy ones; events handed over (memory
    storage) need none, since a put reaches the workers without a poll: a worker starts only
    when every other one is busy in a handler."""
    release = asyncio.Event()
    spare = 1 if event_path == "store" else 0

    @mesh.function(name="quad", reserved_concurrency=4, timeout=60)
    async def quad(event: Any, context: Context) -> None:
        if event != "quick":
            await release.wait()

    async with mesh:
        await mesh.invoke("quad", 1, invocation_type="Event")
        await mesh.invoke("quad", 2, invocation_type="Event")
        await clock.advance(0)
        assert workers("quad") == 2 + spare  # two busy (and the spare waiting)
        release.set()
        await clock.advance(1)
        assert workers("quad") == 2 + spare  # all waiting
        await mesh.invoke("quad", "quick", invocation_type="Event")
        await clock.advance(1)
        assert workers("quad") == 2 + spare
        assert quad.stats.invocations == 3
        release.clear()
        for n in range(6):
            await mesh.invoke("quad", n, invocation_type="Event")
        await clock.advance(0)
        assert workers("quad") == 4  # never beyond the reserved concurrency
        assert quad.stats.throttles == 0
        release.set()
        await clock.advance(1)
        assert quad.stats.invocations == 9


async def test_drain_waits_for_an_event_queued_after_concurrent_ones_finished(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """``drain`` waits until no invocation runs and no queued event is due (documented on
    Mesh.drain): the count of events being processed stays right after several ran at once."""
    release = asyncio.Event()
    done: list[Any] = []

    @mesh.function(name="pair", reserved_concurrency=2, timeout=60)
    async def pair(event: Any, context: Context) -> None:
        if event != 3:
            await release.wait()
        done.append(event)

    async with mesh:
        await mesh.invoke("pair", 1, invocation_type="Event")
        await mesh.invoke("pair", 2, invocation_type="Event")
        await clock.advance(0)
        release.set()
        await clock.advance(0)
        assert sorted(done) == [1, 2]
        await mesh.invoke("pair", 3, invocation_type="Event")
        assert await mesh.drain() is True
        assert sorted(done) == [1, 2, 3]


async def test_a_failed_destination_delivery_is_logged_with_the_target_and_function(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A destination delivery that fails (§1.4, DestinationDeliveryFailures) is logged with
    the destination as configured and the function's name, and the error's traceback."""
    mesh.register_resource("broken", FailingDestination())

    @mesh.function(name="worker", on_success="broken")
    async def worker(event: Any, context: Context) -> str:
        return "ok"

    with caplog.at_level(logging.ERROR, logger="eventmesh.async"):
        async with mesh:
            await mesh.invoke("worker", {}, invocation_type="Event")
            await clock.advance(0)

    assert [(r.getMessage(), type(r.exc_info[1])) for r in caplog.records if r.exc_info] == [
        ("delivering to 'broken' for function worker failed", ConnectionError)
    ]


async def test_a_worker_whose_handler_returns_on_cancellation_stops_with_the_mesh(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Stopping the mesh stops the workers (AsyncInvocationQueue.stop): a handler that answers
    the cancellation by returning lets its worker finish the event, and the worker then ends
    instead of polling again."""
    entered = asyncio.Event()
    runs: list[Any] = []

    @mesh.function(name="polite", timeout=900)
    async def polite(event: Any, context: Context) -> str:
        runs.append(event)
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return "stopped"
        return "never"

    await mesh.start()
    await mesh.invoke("polite", 1, invocation_type="Event")
    await entered.wait()
    assert await mesh.stop(drain=False) is False  # an event was running: abandoned

    assert workers("polite") == 0
    assert runs == [1]
