"""Behaviour of asynchronous (``Event``) invocations.

Every expected value here (retry delays, throttle back-off, record fields, counts, limits)
is written by hand from the AWS rules in the reference, §1.3-1.5 and §2.6: it is never
computed by the code under test. Time is a VirtualClock, so minutes of retries take
milliseconds and nothing sleeps in real time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import pytest

from eventmesh import (
    ConfigurationError,
    Context,
    EventMeshError,
    Function,
    Mesh,
    PayloadError,
    RecursiveInvocationError,
    RequestTooLargeError,
    ResourceNotFoundError,
    Telemetry,
    TooManyRequestsError,
)
from eventmesh._destinations import MessageAttributes
from eventmesh.testing import RecordingDestination, VirtualClock


@pytest.fixture(autouse=True)
def both_paths(event_path: str) -> str:
    """Every test here runs with Event invocations handed over and through the store."""
    return event_path


ARN = "arn:aws:lambda:us-east-1:123456789012:function:"
"""The ARN prefix of a function in a default mesh (region us-east-1, account 123456789012)."""


# -- helpers ---------------------------------------------------------------------------------
# The ``clock`` (a VirtualClock at 2026-01-01T00:00:00Z) and ``mesh`` fixtures come from
# conftest.py; tests that need other mesh settings build their mesh with ``make_mesh``.


def make_mesh(clock: VirtualClock, **settings: Any) -> Mesh:
    return Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0, **settings)


class FailingDestination:
    """A destination whose every send raises, as an unreachable queue would."""

    def __init__(self) -> None:
        self.calls = 0

    async def send(self, message: Any, attributes: MessageAttributes | None = None) -> None:
        self.calls += 1
        raise ConnectionError("destination unreachable")


def single(destination: RecordingDestination) -> dict[str, Any]:
    """The one message a destination received."""
    assert len(destination.messages) == 1, destination.messages
    message: dict[str, Any] = destination.messages[0]
    return message


def failing_handler(
    clock: VirtualClock, attempts: list[float], request_ids: list[str] | None = None
) -> Callable[[Any, Context], Awaitable[None]]:
    """A handler that records when it ran (and its request id), then raises."""

    async def handler(event: Any, context: Context) -> None:
        attempts.append(clock.now())
        if request_ids is not None:
            request_ids.append(context.aws_request_id)
        raise ValueError(f"cannot process {event!r}")

    return handler


async def noop(event: Any, context: Context) -> None:
    """A handler that does nothing."""


async def advance_in_steps(clock: VirtualClock, times: Iterable[float]) -> None:
    for when in times:
        await clock.advance_to(when)


# -- accepting an event ----------------------------------------------------------------------
async def test_event_returns_202_with_a_request_id_before_the_handler_runs(
    mesh: Mesh, clock: VirtualClock
) -> None:
    seen: list[tuple[Any, str, str, str]] = []

    @mesh.function(name="worker")
    async def worker(event: Any, context: Context) -> str:
        seen.append((event, context.invocation_type, context.aws_request_id, context.function_name))
        return "done"

    async with mesh:
        result = await mesh.invoke("worker", {"order": 7}, invocation_type="Event")
        assert result.status_code == 202
        assert result.payload is None
        assert result.function_error is None
        assert result.request_id
        assert seen == []  # accepted, not run yet

        await clock.advance(0)
        assert seen == [({"order": 7}, "Event", result.request_id, "worker")]
        assert clock.now() == 0


async def test_each_event_gets_its_own_request_id(mesh: Mesh, clock: VirtualClock) -> None:
    ids: list[str] = []

    @mesh.function(name="worker")
    async def worker(event: Any, context: Context) -> None:
        ids.append(context.aws_request_id)

    async with mesh:
        results = [await mesh.invoke("worker", n, invocation_type="Event") for n in range(3)]
        await clock.advance(0)

    assert len({r.request_id for r in results}) == 3
    assert sorted(ids) == sorted(r.request_id for r in results)


async def test_plain_def_handler_runs_for_an_event(mesh: Mesh, clock: VirtualClock) -> None:
    success = RecordingDestination()

    @mesh.function(name="sync-style", on_success=success)
    def handler(event: Any, context: Context) -> dict[str, Any]:
        return {"doubled": event["n"] * 2}

    async with mesh:
        await mesh.invoke("sync-style", {"n": 21}, invocation_type="Event")
        await clock.advance(0)
    # The handler ran in a thread; leaving the block waited for it to finish.

    assert single(success)["responsePayload"] == {"doubled": 42}


async def test_event_payload_over_the_configured_limit_is_refused_before_queueing(
    clock: VirtualClock,
) -> None:
    mesh = make_mesh(clock, max_event_payload=1000)
    runs: list[Any] = []

    @mesh.function(name="worker")
    async def worker(event: Any, context: Context) -> None:
        runs.append(event)

    # {"d":"..."} is 8 bytes of JSON around the string.
    fits = {"d": "x" * 992}  # 1000 bytes: at the limit
    too_big = {"d": "x" * 993}  # 1001 bytes

    async with mesh:
        with pytest.raises(RequestTooLargeError) as caught:
            await mesh.invoke("worker", too_big, invocation_type="Event")
        assert caught.value.function_name == "worker"
        await clock.advance(0)
        assert runs == []
        assert worker.stats.invocations == 0

        accepted = await mesh.invoke("worker", fits, invocation_type="Event")
        assert accepted.status_code == 202
        # The Event limit is not the synchronous one (6 MB by default).
        sync = await mesh.invoke("worker", too_big)
        assert sync.status_code == 200
        await clock.advance(0)

    assert runs == [too_big, fits]


async def test_default_event_payload_limit_is_one_megabyte(mesh: Mesh, clock: VirtualClock) -> None:
    @mesh.function(name="worker")
    async def worker(event: Any, context: Context) -> None:
        return None

    async with mesh:
        with pytest.raises(RequestTooLargeError):
            await mesh.invoke("worker", "x" * (1024 * 1024), invocation_type="Event")
        # 1 MB of JSON exactly ("..." is 2 bytes of quotes) is accepted.
        result = await mesh.invoke("worker", "x" * (1024 * 1024 - 2), invocation_type="Event")
        assert result.status_code == 202
        await clock.advance(0)

    assert worker.stats.invocations == 1


@pytest.mark.parametrize(
    "payload",
    [{"when": object()}, {1, 2, 3}, b"{not json", bytearray(b"\xff\xfe")],
    ids=["object", "set", "bad-bytes", "undecodable-bytearray"],
)
async def test_non_json_event_payload_raises_payload_error_before_queueing(
    mesh: Mesh, clock: VirtualClock, payload: Any
) -> None:
    @mesh.function(name="worker")
    async def worker(event: Any, context: Context) -> None:
        return None

    async with mesh:
        with pytest.raises(PayloadError):
            await mesh.invoke("worker", payload, invocation_type="Event")
        await clock.advance(0)

    assert worker.stats.invocations == 0


async def test_json_bytes_are_accepted_as_an_event_payload(mesh: Mesh, clock: VirtualClock) -> None:
    events: list[Any] = []

    @mesh.function(name="worker")
    async def worker(event: Any, context: Context) -> None:
        events.append(event)

    async with mesh:
        await mesh.invoke("worker", b'{"a": [1, 2]}', invocation_type="Event")
        await clock.advance(0)

    assert events == [{"a": [1, 2]}]


async def test_event_to_an_unknown_function_is_not_found(mesh: Mesh) -> None:
    async with mesh:
        with pytest.raises(ResourceNotFoundError):
            await mesh.invoke("missing", {}, invocation_type="Event")


async def test_event_before_the_mesh_runs_is_refused(mesh: Mesh) -> None:
    @mesh.function(name="worker")
    async def worker(event: Any, context: Context) -> None:
        return None

    with pytest.raises(EventMeshError):
        await mesh.invoke("worker", {}, invocation_type="Event")


# -- retries after function errors -----------------------------------------------------------
async def test_always_failing_event_is_tried_at_0_60_and_180_s_then_retries_exhausted(
    mesh: Mesh, clock: VirtualClock
) -> None:
    failure = RecordingDestination()
    success = RecordingDestination()
    attempts: list[float] = []
    request_ids: list[str] = []
    mesh.function(name="always-fails", on_failure=failure, on_success=success)(
        failing_handler(clock, attempts, request_ids)
    )

    async with mesh:
        result = await mesh.invoke("always-fails", {"order": 42}, invocation_type="Event")
        await clock.advance(0)
        assert attempts == [0]
        await clock.advance_to(59)
        assert attempts == [0]  # 1 minute between attempts 1 and 2
        await clock.advance_to(60)
        assert attempts == [0, 60]
        await clock.advance_to(179)
        assert attempts == [0, 60]  # 2 minutes between attempts 2 and 3
        assert failure.messages == []
        await clock.advance_to(180)
        assert attempts == [0, 60, 180]
        await clock.advance(6 * 3600)  # nothing more, ever

    assert attempts == [0, 60, 180]
    assert request_ids == [result.request_id] * 3
    assert success.messages == []
    record = single(failure)
    payload = record.pop("responsePayload")
    assert record == {
        "version": "1.0",
        "timestamp": "2026-01-01T00:03:00.000Z",
        "requestContext": {
            "requestId": result.request_id,
            "functionArn": ARN + "always-fails:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": {"order": 42},
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
    }
    assert set(payload) == {"errorMessage", "errorType", "stackTrace"}
    assert payload["errorMessage"] == "cannot process {'order': 42}"
    assert payload["errorType"] == "ValueError"
    assert isinstance(payload["stackTrace"], list)
    assert payload["stackTrace"]
    assert failure.attributes == [None]


@pytest.mark.parametrize(
    ("retries", "expected_attempts", "timestamp"),
    [
        (0, [0], "2026-01-01T00:00:00.000Z"),
        (1, [0, 60], "2026-01-01T00:01:00.000Z"),
        (2, [0, 60, 180], "2026-01-01T00:03:00.000Z"),
    ],
)
async def test_retries_setting_bounds_the_attempts(
    mesh: Mesh,
    clock: VirtualClock,
    retries: int,
    expected_attempts: list[float],
    timestamp: str,
) -> None:
    failure = RecordingDestination()
    attempts: list[float] = []
    fn = mesh.function(name="fails", retries=retries, on_failure=failure)(
        failing_handler(clock, attempts)
    )

    async with mesh:
        await mesh.invoke("fails", {}, invocation_type="Event")
        await clock.advance(3600)

    assert attempts == expected_attempts
    record = single(failure)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == retries + 1
    assert record["timestamp"] == timestamp
    assert fn.stats.invocations == retries + 1
    assert fn.stats.errors == retries + 1
    assert fn.stats.dropped_events == 1


async def test_success_after_one_failure_goes_to_on_success_only(
    mesh: Mesh, clock: VirtualClock
) -> None:
    failure = RecordingDestination()
    success = RecordingDestination()
    attempts: list[float] = []
    request_ids: list[str] = []

    @mesh.function(name="flaky", on_success=success, on_failure=failure)
    async def flaky(event: Any, context: Context) -> dict[str, Any]:
        attempts.append(clock.now())
        request_ids.append(context.aws_request_id)
        if len(attempts) == 1:
            raise RuntimeError("transient")
        return {"processed": event["id"], "ok": True}

    async with mesh:
        result = await mesh.invoke("flaky", {"id": "a-1"}, invocation_type="Event")
        await clock.advance(0)
        assert success.messages == []
        await clock.advance_to(60)
        await clock.advance(3600)

    assert attempts == [0, 60]
    assert request_ids == [result.request_id] * 2
    assert failure.messages == []
    assert success.attributes == [None]
    assert single(success) == {
        "version": "1.0",
        "timestamp": "2026-01-01T00:01:00.000Z",
        "requestContext": {
            "requestId": result.request_id,
            "functionArn": ARN + "flaky:$LATEST",
            "condition": "Success",
            "approximateInvokeCount": 2,
        },
        "requestPayload": {"id": "a-1"},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
        "responsePayload": {"processed": "a-1", "ok": True},
    }
    assert flaky.stats.dropped_events == 0


async def test_success_record_of_a_handler_returning_nothing_has_a_null_payload(
    mesh: Mesh, clock: VirtualClock
) -> None:
    success = RecordingDestination()

    @mesh.function(name="quiet", on_success=success)
    async def quiet(event: Any, context: Context) -> None:
        return None

    async with mesh:
        await mesh.invoke("quiet", [1, 2], invocation_type="Event")
        await clock.advance(0)

    record = single(success)
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["timestamp"] == "2026-01-01T00:00:00.000Z"
    assert record["requestPayload"] == [1, 2]
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] is None


async def test_a_timeout_is_a_function_error_and_is_retried(
    mesh: Mesh, clock: VirtualClock
) -> None:
    failure = RecordingDestination()
    started: list[float] = []

    @mesh.function(name="slow", timeout=1, on_failure=failure)
    async def slow(event: Any, context: Context) -> None:
        started.append(clock.now())
        await clock.sleep(10)

    async with mesh:
        await mesh.invoke("slow", {}, invocation_type="Event")
        await clock.advance(3600)

    # Each attempt times out 1 s after it starts; the retry delays count from the failure.
    assert started == [0, 61, 182]
    record = single(failure)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["timestamp"] == "2026-01-01T00:03:03.000Z"
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in record["responsePayload"]["errorMessage"]


async def test_unqualified_event_sees_the_unqualified_invoked_arn(
    mesh: Mesh, clock: VirtualClock
) -> None:
    arns: list[str] = []
    success = RecordingDestination()

    @mesh.function(name="fn", on_success=success)
    async def fn(event: Any, context: Context) -> None:
        arns.append(context.invoked_function_arn)

    async with mesh:
        await mesh.invoke("fn", {}, invocation_type="Event")
        await clock.advance(0)

    # The record names $LATEST, as Lambda's records do; the context names what was invoked.
    assert single(success)["requestContext"]["functionArn"] == ARN + "fn:$LATEST"
    assert arns == [ARN + "fn"]


async def test_a_result_that_is_not_json_is_a_function_error(
    mesh: Mesh, clock: VirtualClock
) -> None:
    failure = RecordingDestination()
    success = RecordingDestination()

    @mesh.function(name="odd", retries=0, on_failure=failure, on_success=success)
    async def odd(event: Any, context: Context) -> Any:
        return {"when": object()}

    async with mesh:
        await mesh.invoke("odd", {}, invocation_type="Event")
        await clock.advance(0)

    assert success.messages == []
    record = single(failure)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "Runtime.MarshalError"


async def test_event_through_an_alias_reports_the_alias_arn_and_executed_version(
    mesh: Mesh, clock: VirtualClock
) -> None:
    success = RecordingDestination()
    ran: list[tuple[str, str]] = []

    @mesh.function(name="versioned", on_success=success)
    async def versioned(event: Any, context: Context) -> str:
        ran.append((context.function_version, context.invoked_function_arn))
        return "v1"

    versioned.publish_version()
    mesh.alias(versioned, "live", "1")

    async with mesh:
        await mesh.invoke("versioned:live", {}, invocation_type="Event")
        await clock.advance(0)

    assert ran == [("1", ARN + "versioned:live")]
    record = single(success)
    assert record["requestContext"]["functionArn"] == ARN + "versioned:live"
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "1"}
    assert record["responsePayload"] == "v1"


# -- dead-letter target ----------------------------------------------------------------------
async def test_dead_letter_gets_the_original_event_with_lambda_attributes(
    mesh: Mesh, clock: VirtualClock
) -> None:
    dead = RecordingDestination()
    failure = RecordingDestination()
    attempts: list[float] = []
    mesh.function(name="fails", dead_letter=dead, on_failure=failure)(
        failing_handler(clock, attempts)
    )

    async with mesh:
        result = await mesh.invoke("fails", {"order": 9, "items": ["a"]}, invocation_type="Event")
        await clock.advance(179)
        assert dead.messages == []
        await clock.advance(1)

    assert attempts == [0, 60, 180]
    # The event itself, not an invocation record; and the destination got its record too.
    assert dead.messages == [{"order": 9, "items": ["a"]}]
    assert dead.attributes == [
        {
            "RequestID": {"DataType": "String", "StringValue": result.request_id},
            "ErrorCode": {"DataType": "Number", "StringValue": "200"},
            "ErrorMessage": {
                "DataType": "String",
                "StringValue": "cannot process {'order': 9, 'items': ['a']}",
            },
        }
    ]
    assert single(failure)["requestContext"]["condition"] == "RetriesExhausted"


@pytest.mark.parametrize(
    ("character", "kept"),
    [("x", 1024), ("é", 512)],  # "é" is 2 bytes of UTF-8: 512 of them make 1 KB
    ids=["ascii", "two-byte-utf8"],
)
async def test_dead_letter_error_message_is_cut_to_its_first_kilobyte(
    mesh: Mesh, clock: VirtualClock, character: str, kept: int
) -> None:
    dead = RecordingDestination()

    @mesh.function(name="verbose", retries=0, dead_letter=dead)
    async def verbose(event: Any, context: Context) -> None:
        raise ValueError(character * 5000)

    async with mesh:
        await mesh.invoke("verbose", {"n": 1}, invocation_type="Event")
        await clock.advance(0)

    assert dead.messages == [{"n": 1}]
    attributes = dead.attributes[0]
    assert attributes is not None
    message = attributes["ErrorMessage"]["StringValue"]
    assert message == character * kept
    assert len(message.encode()) == 1024


async def test_dead_letter_by_resource_name(mesh: Mesh, clock: VirtualClock) -> None:
    dead = RecordingDestination("dlq")
    mesh.register_resource("dlq", dead)
    mesh.function(name="fails", retries=0, dead_letter="dlq")(failing_handler(clock, []))

    async with mesh:
        await mesh.invoke("fails", "payload", invocation_type="Event")
        await clock.advance(0)

    assert dead.messages == ["payload"]


# -- event age -------------------------------------------------------------------------------
async def test_retry_due_at_the_maximum_event_age_finds_the_event_expired(
    mesh: Mesh, clock: VirtualClock
) -> None:
    failure = RecordingDestination()
    dead = RecordingDestination()
    attempts: list[float] = []
    fn = mesh.function(
        name="short-lived", retries=2, max_event_age=60, on_failure=failure, dead_letter=dead
    )(failing_handler(clock, attempts))

    async with mesh:
        result = await mesh.invoke("short-lived", {"k": "v"}, invocation_type="Event")
        await clock.advance(59)
        assert failure.messages == []
        await clock.advance(1)
        assert len(failure.messages) == 1  # discarded at 60 s, not later
        await clock.advance(3600)

    # The second attempt would be at 60 s, when the event is 60 s old: it never runs.
    assert attempts == [0]
    assert fn.stats.invocations == 1
    record = single(failure)
    payload = record.pop("responsePayload")
    assert record == {
        "version": "1.0",
        "timestamp": "2026-01-01T00:01:00.000Z",
        "requestContext": {
            "requestId": result.request_id,
            "functionArn": ARN + "short-lived:$LATEST",
            "condition": "EventAgeExceeded",
            "approximateInvokeCount": 1,
        },
        "requestPayload": {"k": "v"},
        # What the last attempt returned.
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
    }
    assert payload["errorType"] == "ValueError"
    assert dead.messages == [{"k": "v"}]
    attributes = dead.attributes[0]
    assert attributes is not None
    assert attributes["ErrorCode"]["StringValue"] == "200"
    assert attributes["RequestID"]["StringValue"] == result.request_id


async def test_event_age_cuts_the_retries_after_the_second_attempt(
    mesh: Mesh, clock: VirtualClock
) -> None:
    failure = RecordingDestination()
    attempts: list[float] = []
    mesh.function(name="fails", max_event_age=120, on_failure=failure)(
        failing_handler(clock, attempts)
    )

    async with mesh:
        await mesh.invoke("fails", {}, invocation_type="Event")
        await clock.advance(3600)

    # Attempts at 0 and 60; the third (due at 180) is past the 120 s age.
    assert attempts == [0, 60]
    record = single(failure)
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["timestamp"] == "2026-01-01T00:02:00.000Z"


async def test_event_that_waits_in_the_queue_past_its_age_is_discarded_unrun(
    mesh: Mesh, clock: VirtualClock
) -> None:
    failure = RecordingDestination()
    dead = RecordingDestination()
    runs: list[tuple[Any, float]] = []

    @mesh.function(
        name="single",
        reserved_concurrency=1,
        timeout=900,
        max_event_age=60,
        on_failure=failure,
        dead_letter=dead,
    )
    async def single_lane(event: Any, context: Context) -> None:
        runs.append((event, clock.now()))
        await clock.sleep(120)

    async with mesh:
        await mesh.invoke("single", "first", invocation_type="Event")
        second = await mesh.invoke("single", "second", invocation_type="Event")
        await clock.advance(119)
        assert failure.messages == []  # still queued behind the first event
        await clock.advance(1)  # the first finishes; the second is now 120 s old

    assert runs == [("first", 0)]
    assert single(failure) == {
        "version": "1.0",
        "timestamp": "2026-01-01T00:02:00.000Z",
        "requestContext": {
            "requestId": second.request_id,
            "functionArn": ARN + "single:$LATEST",
            "condition": "EventAgeExceeded",
            "approximateInvokeCount": 0,
        },
        "requestPayload": "second",
        # No responseContext: the function was never reached.
    }
    assert dead.messages == ["second"]
    attributes = dead.attributes[0]
    assert attributes is not None
    assert attributes["RequestID"]["StringValue"] == second.request_id


# -- throttling ------------------------------------------------------------------------------
async def test_throttled_event_backs_off_from_1_s_to_5_min_until_its_age_runs_out(
    mesh: Mesh, clock: VirtualClock
) -> None:
    failure = RecordingDestination()
    dead = RecordingDestination()
    release = asyncio.Event()
    event_runs: list[float] = []

    @mesh.function(
        name="busy",
        reserved_concurrency=1,
        timeout=900,
        max_event_age=850,
        on_failure=failure,
        dead_letter=dead,
    )
    async def busy(event: Any, context: Context) -> str:
        if event == "hold":
            await release.wait()
            return "held"
        event_runs.append(clock.now())
        return "ran"

    # Throttled attempts: 0, then 1, 2, 4, ... 256 s later, then capped at 300 s.
    throttled_at = [0, 1, 3, 7, 15, 31, 63, 127, 255, 511, 811]

    async with mesh:
        holder = asyncio.create_task(mesh.invoke("busy", "hold"))  # takes the one slot
        await clock.advance(0)
        result = await mesh.invoke("busy", {"n": 1}, invocation_type="Event")
        await clock.advance(0)
        assert busy.stats.throttles == 1  # at once
        for count, when in enumerate(throttled_at[1:], start=1):
            await clock.advance_to(when - 0.5)
            assert busy.stats.throttles == count, f"throttled too early, before {when} s"
            await clock.advance_to(when)
            assert busy.stats.throttles == count + 1, f"no throttle at {when} s"
        await clock.advance_to(849.5)
        assert failure.messages == []
        await clock.advance_to(850)  # 850 s old: discarded, not tried again
        assert busy.stats.throttles == len(throttled_at)
        assert len(failure.messages) == 1
        await clock.advance(30)
        assert not holder.done()
        release.set()
        held = await holder

    assert held.payload == "held"
    assert event_runs == []
    assert busy.stats.throttles == len(throttled_at)
    assert busy.stats.invocations == 1  # only the holder ran
    record = single(failure)
    assert record["requestContext"] == {
        "requestId": result.request_id,
        "functionArn": ARN + "busy:$LATEST",
        "condition": "EventAgeExceeded",
        "approximateInvokeCount": 0,  # the handler never ran
    }
    assert record["timestamp"] == "2026-01-01T00:14:10.000Z"
    assert record["requestPayload"] == {"n": 1}
    # Lambda's last answer was a throttle (429), not a function error.
    assert record["responseContext"]["statusCode"] == 429
    assert "functionError" not in record["responseContext"]
    assert record["responsePayload"]["errorType"] == "TooManyRequestsException"
    assert dead.messages == [{"n": 1}]
    attributes = dead.attributes[0]
    assert attributes is not None
    assert attributes["ErrorCode"] == {"DataType": "Number", "StringValue": "429"}


async def test_throttles_do_not_use_up_retries_and_the_event_runs_once_a_slot_frees(
    mesh: Mesh, clock: VirtualClock
) -> None:
    success = RecordingDestination()
    release = asyncio.Event()
    event_runs: list[float] = []

    @mesh.function(name="busy", reserved_concurrency=1, retries=0, on_success=success)
    async def busy(event: Any, context: Context) -> str:
        if event == "hold":
            await release.wait()
            return "held"
        event_runs.append(clock.now())
        return "ran"

    async with mesh:
        holder = asyncio.create_task(mesh.invoke("busy", "hold"))
        await clock.advance(0)
        await mesh.invoke("busy", {"n": 1}, invocation_type="Event")
        await clock.advance_to(2)  # throttled at 0 and 1 (retries=0 does not apply)
        assert busy.stats.throttles == 2
        release.set()
        await holder
        await clock.advance_to(2.9)
        assert event_runs == []
        await clock.advance_to(3)  # the next back-off step
        assert event_runs == [3]

    record = single(success)
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == "ran"
    assert busy.stats.throttles == 2


async def test_event_throttled_by_the_mesh_wide_limit_is_retried(clock: VirtualClock) -> None:
    mesh = make_mesh(clock, concurrency_limit=1)
    release = asyncio.Event()
    runs: list[float] = []

    @mesh.function(name="hog", timeout=900)
    async def hog(event: Any, context: Context) -> None:
        await release.wait()

    @mesh.function(name="worker")
    async def worker(event: Any, context: Context) -> None:
        runs.append(clock.now())

    async with mesh:
        holder = asyncio.create_task(mesh.invoke("hog", {}))
        await clock.advance(0)
        await mesh.invoke("worker", {}, invocation_type="Event")
        await clock.advance_to(1)
        assert worker.stats.throttles == 2  # at 0 and at 1
        assert runs == []
        release.set()
        await holder
        await clock.advance_to(3)

    assert runs == [3]
    assert hog.stats.throttles == 0


async def test_reserved_concurrency_zero_sends_events_straight_to_failure(
    mesh: Mesh, clock: VirtualClock
) -> None:
    failure = RecordingDestination()
    dead = RecordingDestination()
    runs: list[Any] = []

    @mesh.function(name="disabled", reserved_concurrency=0, on_failure=failure, dead_letter=dead)
    async def disabled(event: Any, context: Context) -> None:
        runs.append(event)

    async with mesh:
        result = await mesh.invoke("disabled", {"x": 1}, invocation_type="Event")
        assert result.status_code == 202  # accepted, then discarded
        await clock.advance(0)
        assert len(failure.messages) == 1  # at once: no retry, no back-off
        with pytest.raises(TooManyRequestsError) as caught:
            await mesh.invoke("disabled", {"x": 2})
        assert caught.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
        await clock.advance(6 * 3600)

    assert runs == []
    assert disabled.stats.invocations == 0
    assert single(failure) == {
        "version": "1.0",
        "timestamp": "2026-01-01T00:00:00.000Z",
        "requestContext": {
            "requestId": result.request_id,
            "functionArn": ARN + "disabled:$LATEST",
            "condition": "ZeroReservedConcurrency",
            "approximateInvokeCount": 0,
        },
        "requestPayload": {"x": 1},
    }
    assert dead.messages == [{"x": 1}]
    attributes = dead.attributes[0]
    assert attributes is not None
    assert attributes["RequestID"]["StringValue"] == result.request_id
    assert attributes["ErrorCode"] == {"DataType": "Number", "StringValue": "429"}


async def test_reserved_concurrency_caps_concurrent_event_handlers(
    mesh: Mesh, clock: VirtualClock
) -> None:
    running = 0
    most = 0
    started: list[float] = []

    @mesh.function(name="capped", reserved_concurrency=3)
    async def capped(event: Any, context: Context) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        started.append(clock.now())
        try:
            await clock.sleep(1)
        finally:
            running -= 1

    async with mesh:
        for n in range(10):
            await mesh.invoke("capped", n, invocation_type="Event")
        await advance_in_steps(clock, [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 10])

    assert most == 3
    # Three at a time, each batch as soon as the previous one frees its slots.
    assert started == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]
    assert capped.stats.invocations == 10
    assert capped.stats.throttles == 0  # the queue waits for capacity, it does not throttle


# -- destinations ----------------------------------------------------------------------------
@pytest.mark.parametrize("by", ["name", "function"])
async def test_a_function_as_on_failure_destination_gets_the_record_as_its_event(
    mesh: Mesh, clock: VirtualClock, by: str
) -> None:
    received: list[tuple[Any, str]] = []

    @mesh.function(name="handle-failure")
    async def handle_failure(event: Any, context: Context) -> None:
        received.append((event, context.invocation_type))

    destination: str | Function = "handle-failure" if by == "name" else handle_failure
    mesh.function(name="fails", retries=0, on_failure=destination)(failing_handler(clock, []))

    async with mesh:
        result = await mesh.invoke("fails", {"id": 5}, invocation_type="Event")
        await clock.advance(0)

    assert len(received) == 1
    record, invocation_type = received[0]
    assert invocation_type == "Event"
    assert record["version"] == "1.0"
    assert record["requestContext"] == {
        "requestId": result.request_id,
        "functionArn": ARN + "fails:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 1,
    }
    assert record["requestPayload"] == {"id": 5}
    assert record["responseContext"]["functionError"] == "Unhandled"


async def test_a_function_as_on_success_destination_gets_the_success_record(
    mesh: Mesh, clock: VirtualClock
) -> None:
    received: list[Any] = []

    @mesh.function(name="audit")
    async def audit(event: Any, context: Context) -> None:
        received.append(event)

    @mesh.function(name="worker", on_success="audit")
    async def worker(event: Any, context: Context) -> int:
        return 100

    async with mesh:
        await mesh.invoke("worker", {"key1": 100}, invocation_type="Event")
        await clock.advance(0)

    assert len(received) == 1
    assert received[0]["requestContext"]["condition"] == "Success"
    assert received[0]["requestPayload"] == {"key1": 100}
    assert received[0]["responsePayload"] == 100
    assert audit.stats.invocations == 1


async def test_a_registered_resource_is_a_destination_by_name(
    mesh: Mesh, clock: VirtualClock
) -> None:
    queue = RecordingDestination("failures")
    mesh.register_resource("failures", queue)
    mesh.function(name="fails", retries=0, on_failure="failures")(failing_handler(clock, []))

    async with mesh:
        await mesh.invoke("fails", {}, invocation_type="Event")
        await clock.advance(0)

    assert single(queue)["requestContext"]["condition"] == "RetriesExhausted"


async def test_a_failing_destination_is_counted_and_the_queue_keeps_working(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    broken_failure = FailingDestination()
    broken_dead = FailingDestination()
    broken_success = FailingDestination()
    handled: list[Any] = []

    @mesh.function(
        name="worker",
        retries=0,
        on_failure=broken_failure,
        dead_letter=broken_dead,
        on_success=broken_success,
    )
    async def worker(event: Any, context: Context) -> str:
        handled.append(event)
        if event == "fail":
            raise ValueError("bad event")
        return "ok"

    with caplog.at_level(logging.ERROR, logger="eventmesh"):
        async with mesh:
            await mesh.invoke("worker", "fail", invocation_type="Event")
            await clock.advance(0)
            assert worker.stats.destination_failures == 1
            assert worker.stats.dead_letter_errors == 1
            await mesh.invoke("worker", "fine", invocation_type="Event")
            await clock.advance(0)
            await mesh.invoke("worker", "fine again", invocation_type="Event")
            await clock.advance(0)

    assert handled == ["fail", "fine", "fine again"]
    assert (broken_failure.calls, broken_dead.calls, broken_success.calls) == (1, 1, 2)
    assert worker.stats.destination_failures == 3  # one on_failure, two on_success
    assert worker.stats.dead_letter_errors == 1
    assert worker.stats.dropped_events == 1
    assert any(isinstance(r.exc_info[1], ConnectionError) for r in caplog.records if r.exc_info)


# -- loop detection --------------------------------------------------------------------------
async def test_a_function_that_is_its_own_on_success_destination_stops_after_16_runs(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    runs: list[float] = []

    @mesh.function(name="looper", on_success="looper")
    async def looper(event: Any, context: Context) -> str:
        runs.append(clock.now())
        return "again"

    with caplog.at_level(logging.ERROR, logger="eventmesh"):
        async with mesh:
            await mesh.invoke("looper", {"start": True}, invocation_type="Event")
            for _ in range(40):
                await clock.advance(1)

    assert len(runs) == 16
    # The 17th invocation is refused when the 16th run's record is sent, and reported.
    assert looper.stats.destination_failures == 1
    stopped = [
        r
        for r in caplog.records
        if r.exc_info and isinstance(r.exc_info[1], RecursiveInvocationError)
    ]
    assert len(stopped) == 1


async def test_a_handler_invoking_itself_with_event_is_stopped_at_the_17th_invocation(
    mesh: Mesh, clock: VirtualClock
) -> None:
    runs: list[int] = []
    refused: list[tuple[int, RecursiveInvocationError]] = []

    @mesh.function(name="recurse")
    async def recurse(event: Any, context: Context) -> None:
        runs.append(event["n"])
        if event["n"] < 20:
            try:
                await mesh.invoke("recurse", {"n": event["n"] + 1}, invocation_type="Event")
            except RecursiveInvocationError as exc:
                refused.append((event["n"], exc))

    async with mesh:
        await mesh.invoke("recurse", {"n": 1}, invocation_type="Event")
        for _ in range(40):
            await clock.advance(1)

    assert runs == list(range(1, 17))
    assert [n for n, _ in refused] == [16]
    assert refused[0][1].function_name == "recurse"


async def test_independent_events_do_not_share_a_loop_count(
    mesh: Mesh, clock: VirtualClock
) -> None:
    runs: list[Any] = []

    @mesh.function(name="worker")
    async def worker(event: Any, context: Context) -> None:
        runs.append(event)

    async with mesh:
        for n in range(40):  # 40 top-level events, far more than 16
            await mesh.invoke("worker", n, invocation_type="Event")
        await clock.advance(0)

    assert sorted(runs) == list(range(40))


# -- configuration ---------------------------------------------------------------------------
@pytest.mark.parametrize("retries", [-1, 3, 1.0, True, "2"])
def test_retries_outside_0_to_2_are_refused(mesh: Mesh, retries: Any) -> None:
    with pytest.raises(ConfigurationError):
        mesh.function(name="fn", retries=retries)(noop)


@pytest.mark.parametrize("max_event_age", [0, 59, 21601, 60.5, None])
def test_max_event_age_outside_60_to_21600_is_refused(mesh: Mesh, max_event_age: Any) -> None:
    with pytest.raises(ConfigurationError):
        mesh.function(name="fn", max_event_age=max_event_age)(noop)


@pytest.mark.parametrize(("retries", "max_event_age"), [(0, 60), (2, 21600), (1, 3600)])
def test_async_settings_at_their_bounds_are_accepted(
    mesh: Mesh, retries: int, max_event_age: int
) -> None:
    fn = mesh.function(name="fn", retries=retries, max_event_age=max_event_age)(noop)
    assert (fn.config.retries, fn.config.max_event_age) == (retries, max_event_age)


def test_async_settings_default_to_two_retries_and_six_hours(mesh: Mesh) -> None:
    fn = mesh.function(name="fn")(noop)
    assert (fn.config.retries, fn.config.max_event_age) == (2, 21600)


@pytest.mark.parametrize("setting", ["on_success", "on_failure", "dead_letter"])
async def test_an_unknown_destination_name_fails_when_the_mesh_starts(
    mesh: Mesh, setting: str
) -> None:
    settings: dict[str, Any] = {setting: "no-such-thing"}
    mesh.function(name="fn", **settings)(noop)

    with pytest.raises(ConfigurationError, match="no-such-thing"):
        async with mesh:
            pytest.fail("the mesh started with an unknown destination")
    assert not mesh.running


def test_a_function_as_dead_letter_target_is_refused_at_registration(mesh: Mesh) -> None:
    other = mesh.function(name="other")(noop)

    with pytest.raises(ConfigurationError):
        mesh.function(name="fn", dead_letter=other)(noop)
    assert "fn" not in mesh.functions

    fn = mesh.function(name="fn")(noop)
    with pytest.raises(ConfigurationError):
        fn.update_configuration(dead_letter=other)
    assert fn.config.dead_letter is None


async def test_an_object_without_send_is_not_a_destination(mesh: Mesh) -> None:
    not_a_destination: Any = object()
    mesh.function(name="fn", on_failure=not_a_destination)(noop)

    with pytest.raises(ConfigurationError):
        await mesh.start()
    assert not mesh.running


# -- lifecycle -------------------------------------------------------------------------------
async def test_leaving_the_mesh_runs_events_that_are_already_due(
    mesh: Mesh, clock: VirtualClock
) -> None:
    runs: list[Any] = []

    @mesh.function(name="worker")
    async def worker(event: Any, context: Context) -> None:
        runs.append(event)

    async with mesh:
        await mesh.invoke("worker", "first", invocation_type="Event")
        await mesh.invoke("worker", "second", invocation_type="Event")
        assert runs == []

    assert sorted(runs) == ["first", "second"]
    assert clock.now() == 0


async def test_leaving_the_mesh_does_not_wait_for_a_retry_that_is_not_due(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    attempts: list[float] = []
    mesh.function(name="fails")(failing_handler(clock, attempts))

    with caplog.at_level(logging.WARNING, logger="eventmesh"):
        async with mesh:
            await mesh.invoke("fails", {}, invocation_type="Event")
            await clock.advance(0)

    assert attempts == [0]
    assert not any("stopped before" in r.getMessage() for r in caplog.records)


async def test_a_function_named_as_dead_letter_target_is_refused_at_start(mesh: Mesh) -> None:
    mesh.function(name="other")(noop)
    mesh.function(name="fn", dead_letter="other")(noop)

    with pytest.raises(ConfigurationError, match="dead_letter"):
        await mesh.start()
    assert not mesh.running


async def test_a_mesh_started_again_after_a_stop_runs_event_invocations(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Stopping stops the function's pollers; starting again must start them again (they used
    to stay stopped, so every Event of the second run was abandoned at its end)."""
    runs: list[Any] = []

    @mesh.function(name="worker")
    async def worker(event: Any, context: Context) -> None:
        runs.append(event)

    async with mesh:
        await mesh.invoke("worker", "first run", invocation_type="Event")
    async with mesh:
        await mesh.invoke("worker", "second run", invocation_type="Event")
        await clock.advance(1)
        assert runs == ["first run", "second run"]
    assert worker.stats.abandoned_events == 0
