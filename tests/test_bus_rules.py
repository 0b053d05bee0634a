"""Bus rules pinned one by one: PutEvents' entry checks, retries, dead letters, targets,
input transformers, archives and replays.

Each test names the EventBridge rule (reference §4.5, §4.6, §5.2, the retry policy of
[EB-RETRY]) or the documented behaviour of ``eventmesh.resources.bus`` it pins. Expected
values are written by hand. Time is the VirtualClock (2026-01-01T00:00:00Z, epoch
1767225600); the only real waiting is an HTTP round trip to a server the test starts on
127.0.0.1.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from http_endpoint import Endpoint, eventually
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from eventmesh import (
    BackpressureError,
    ConfigurationError,
    Context,
    EventMeshError,
    Mesh,
    PayloadError,
    Telemetry,
)
from eventmesh.patterns import Pattern
from eventmesh.resources.bus import InputTransformer, Target, backoff_delay
from eventmesh.testing import VirtualClock

EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z, where the VirtualClock starts
ACCOUNT = "123456789012"
RULE_ARN = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/"


def entry(detail: Any = None, **fields: Any) -> dict[str, Any]:
    """A valid PutEvents entry, with ``fields`` overriding (None removes a field)."""
    base: dict[str, Any] = {
        "Source": "app.orders",
        "DetailType": "order",
        "Detail": {"id": 1} if detail is None else detail,
    }
    base.update(fields)
    return {key: value for key, value in base.items() if value is not None}


class Recorder:
    """An async callable target keeping each payload and the virtual time it came; the first
    ``failures`` calls raise."""

    def __init__(self, clock: VirtualClock, failures: int = 0, message: str = "down") -> None:
        self.clock = clock
        self.failures = failures
        self.message = message
        self.payloads: list[Any] = []
        self.times: list[float] = []

    async def __call__(self, payload: Any) -> None:
        self.payloads.append(payload)
        self.times.append(self.clock.now())
        if self.failures:
            self.failures -= 1
            raise RuntimeError(self.message)


def exactly(message: str) -> str:
    """A ``pytest.raises`` match for exactly ``message``."""
    return f"^{re.escape(message)}$"


def starting(message: str) -> str:
    """A ``pytest.raises`` match for a message starting with ``message``."""
    return f"^{re.escape(message)}"


def codes(answer: dict[str, Any]) -> list[str | None]:
    return [result.get("ErrorCode") for result in answer["Entries"]]


def messages(answer: dict[str, Any]) -> list[str | None]:
    return [result.get("ErrorMessage") for result in answer["Entries"]]


def attributes_of(message: Any) -> dict[str, str]:
    return {name: value["StringValue"] for name, value in message.message_attributes.items()}


# -- PutEvents: entry validation -------------------------------------------------------------
async def test_put_events_names_the_field_that_is_wrong(mesh: Mesh) -> None:
    """PutEvents answers each bad entry with InvalidArgument and a message naming the field
    (Source, DetailType, Resources, Time, TraceHeader, EventBusName, unknown keys)."""
    bus = mesh.bus()
    async with mesh:
        answer = await bus.put_events(
            [
                entry(Source=5),
                entry(DetailType=["order"]),
                entry(Zeta=1, Alpha=2),
                entry(Resources=["arn:a", 7]),
                entry(Resources=("arn:a", "arn:b")),  # a tuple is a list of strings
                entry(Resources=["ok", "bad\ud800"]),
                entry(Source="bad\udfff"),
                entry(Time=True),
                entry(Time=[1]),
                entry(EventBusName="orders"),
            ]
        )
    assert codes(answer) == ["InvalidArgument"] * 4 + [None] + ["InvalidArgument"] * 5
    got = messages(answer)
    assert got[0] == "Parameter Source is not valid: not a string."
    assert got[1] == "Parameter DetailType is not valid: not a string."
    assert got[2] == "Unknown entry fields: Alpha, Zeta."
    assert got[3] == "Resources must be a list of strings."
    assert got[5] is not None and got[5].startswith("Parameter Resources[1]: a lone surrogate")
    assert got[6] is not None and got[6].startswith("Parameter Source: a lone surrogate")
    assert got[7] == "Time True is not a time"
    assert got[8] == "Time [1] is not a time"
    assert got[9] == "EventBusName 'orders' is not this bus (default)."
    assert answer["FailedEntryCount"] == 9
    assert (bus.events_put, bus.failed_entries) == (1, 9)


async def test_an_entry_that_is_not_a_mapping_fails_alone(mesh: Mesh, clock: VirtualClock) -> None:
    """PutEvents entries are objects: anything else fails that entry with InvalidArgument,
    and the other entries go through."""
    bus = mesh.bus()
    seen = Recorder(clock)
    bus.rule("all", pattern={"source": ["app.orders"]}, targets=[seen])
    async with mesh:
        answer = await bus.put_events(["Source=app", entry({"n": 1})])  # type: ignore[list-item]
        await clock.advance(0)
    assert codes(answer) == ["InvalidArgument", None]
    assert messages(answer)[0] == "An entry is a mapping of PutEvents fields."
    assert [event["detail"] for event in seen.payloads] == [{"n": 1}]


async def test_required_fields_must_be_present_and_non_empty(mesh: Mesh) -> None:
    """Source, DetailType and Detail are required: missing, None or "" is InvalidArgument
    with "Parameter X is not valid: it is required."; Detail "" is malformed."""
    bus = mesh.bus()
    async with mesh:
        answer = await bus.put_events(
            [
                entry(DetailType=""),
                {"Source": "app", "DetailType": "t", "Detail": None},
                entry(Detail=""),
                entry(Detail={}),  # an empty object is a Detail
            ]
        )
    assert codes(answer) == ["InvalidArgument", "InvalidArgument", "MalformedDetail", None]
    assert messages(answer)[:3] == [
        "Parameter DetailType is not valid: it is required.",
        "Parameter Detail is not valid: it is required.",
        "Detail is malformed: not a JSON object.",
    ]


async def test_detail_must_be_a_json_object(mesh: Mesh, clock: VirtualClock) -> None:
    """Detail is a JSON object (given as text or as a mapping): a list, a number, a JSON
    array's text or a mapping holding non-JSON values is MalformedDetail."""
    bus = mesh.bus()
    seen = Recorder(clock)
    bus.rule("all", pattern={"source": ["app.orders"]}, targets=[seen])
    async with mesh:
        answer = await bus.put_events(
            [
                entry(Detail=[1]),
                entry(Detail=7),
                entry(Detail="[]"),
                entry(Detail="null"),
                entry(Detail={"s": {1, 2}}),
                entry(Detail='{"ok": true}'),
            ]
        )
        await clock.advance(0)
    assert codes(answer) == ["MalformedDetail"] * 5 + [None]
    assert messages(answer)[:4] == ["Detail is malformed: not a JSON object."] * 4
    fifth = messages(answer)[4]
    assert fifth is not None and fifth.startswith("Detail is malformed: ")
    assert [event["detail"] for event in seen.payloads] == [{"ok": True}]


async def test_the_size_of_a_mapping_detail_is_its_compact_json(mesh: Mesh) -> None:
    """EventBridge counts Detail's JSON bytes: a mapping counts as its compact JSON text
    (``{"x":"aaa"}``, no spaces), so a mapping at the limit goes in and one byte more fails."""
    limit = 1_048_576
    bus = mesh.bus()
    # Source "app" (3) + DetailType "t" (1) + {"x":"<n a>"} (8 + n).
    async with mesh:
        answer = await bus.put_events(
            [
                {"Source": "app", "DetailType": "t", "Detail": {"x": "a" * (limit - 12)}},
                {"Source": "app", "DetailType": "t", "Detail": {"x": "a" * (limit - 11)}},
                {"Source": "app", "DetailType": "é", "Detail": {"x": "a" * (limit - 13)}},
                {"Source": "app", "DetailType": "é", "Detail": {"x": "a" * (limit - 12)}},
            ]
        )
    assert codes(answer) == [None, "InvalidArgument"] * 2
    assert messages(answer)[1] == "Event of 1048577 bytes is over the 1048576 B limit."


async def test_the_event_bus_name_may_be_the_buses_name_or_arn(mesh: Mesh) -> None:
    """An entry's EventBusName names the bus it is put on, by name or by ARN; another bus's
    name or ARN is InvalidArgument."""
    bus = mesh.bus("orders")
    async with mesh:
        answer = await bus.put_events(
            [
                entry(EventBusName="orders"),
                entry(EventBusName=f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/orders"),
                entry(EventBusName="default"),
                entry(EventBusName=f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default"),
            ]
        )
    assert codes(answer) == [None, None, "InvalidArgument", "InvalidArgument"]


async def test_only_custom_sources_may_be_put(mesh: Mesh) -> None:
    """Custom events must not use an ``aws.`` source (reference §4.5): such an entry is
    NotAuthorizedForSourceException; ``aws`` without the dot and ``awsome.`` are custom."""
    bus = mesh.bus()
    async with mesh:
        answer = await bus.put_events(
            [entry(Source="aws.s3"), entry(Source="awsome.app"), entry(Source="aws")]
        )
    assert codes(answer) == ["NotAuthorizedForSourceException", None, None]
    assert messages(answer)[0] == "Not authorized for the source."


async def test_time_accepts_epoch_seconds_within_the_calendar(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Time is an aware datetime, an ISO 8601 text with a zone, or epoch seconds from 0 to
    9999-12-31T23:59:59Z; outside that, or without a zone, the entry is InvalidArgument."""
    bus = mesh.bus()
    seen = Recorder(clock)
    bus.rule("all", pattern={"source": ["app.orders"]}, targets=[seen])
    async with mesh:
        answer = await bus.put_events(
            [
                entry(Time=0),
                entry(Time=253402300799),
                entry(Time=253402300800),
                entry(Time=-1),
                entry(Time="2026-03-01T10:00:00"),
                entry(Time=datetime(2026, 3, 1, 10, tzinfo=timezone(timedelta(hours=-5)))),
                entry(Time=10**400),
            ]
        )
        await clock.advance(0)
    assert codes(answer) == [None, None] + ["InvalidArgument"] * 3 + [None, "InvalidArgument"]
    got = messages(answer)
    assert got[2] == "Time 253402300800 is out of range"
    assert got[3] == "Time -1 is out of range"
    assert got[4] == "Time must carry a time zone (e.g. UTC)"
    assert [event["time"] for event in seen.payloads] == [
        "1970-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "2026-03-01T15:00:00Z",
    ]


async def test_an_http_target_request_without_trace_header(mesh: Mesh, clock: VirtualClock) -> None:
    """An entry without TraceHeader sends no X-Amzn-Trace-Id to an HTTP target; API
    destinations identify themselves as ``Amazon/EventBridge/ApiDestinations``."""
    bus = mesh.bus()
    async with Endpoint(path="/hook") as server, mesh:
        rule = bus.rule("hook", pattern={"source": ["app.orders"]}, targets=[server.url])
        [target] = rule.targets
        answer = await bus.put_events([entry()])
        await eventually(lambda: target.delivered == 1)
    assert answer["FailedEntryCount"] == 0
    [request] = server.requests
    assert "x-amzn-trace-id" not in request.headers
    assert request.headers["user-agent"] == "Amazon/EventBridge/ApiDestinations"


async def test_put_events_takes_a_list_of_entries(mesh: Mesh) -> None:
    """PutEvents takes a list: a text, bytes, a mapping or a set is refused as a whole, naming
    the type; a negative or NaN timeout is a configuration error."""
    bus = mesh.bus()
    async with mesh:
        for wrong, name in (("abc", "str"), (b"abc", "bytes"), ({1}, "set")):
            with pytest.raises(
                PayloadError,
                match=exactly(f"entries: put_events takes a list of entries, not {name}"),
            ):
                await bus.put_events(wrong)  # type: ignore[arg-type]
        with pytest.raises(
            PayloadError, match=exactly("entries: PutEvents takes 1 to 10 entries, got 11")
        ):
            await bus.put_events([entry()] * 11)
        assert (await bus.put_events([entry()] * 10))["FailedEntryCount"] == 0
        with pytest.raises(ConfigurationError, match="timeout"):
            await bus.put_events([entry()], timeout=-1)
        assert (await bus.put_events([entry()], timeout=0))["FailedEntryCount"] == 0


async def test_put_events_waits_for_room_then_refuses_the_whole_call(
    clock: VirtualClock,
) -> None:
    """Backpressure: at ``max_pending`` deliveries, put_events waits up to ``timeout`` and
    then raises BackpressureError having taken no entry."""
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    bus = mesh.bus(max_pending=1)
    slow = Recorder(clock, failures=1000)
    bus.rule("all", pattern={}, targets=[Target(slow, max_retries=3)])
    async with mesh:
        await bus.put_events([entry()])
        await clock.advance(0)  # the delivery fails and waits to retry: still pending
        with pytest.raises(BackpressureError):
            await bus.put_events([entry({"n": 2})], timeout=0)
        assert bus.events_put == 1
        assert await bus.pending() == 0  # a retry waiting is not work under way


# -- retry policy and dead-letter queues -----------------------------------------------------
async def test_max_retries_zero_gives_up_after_the_first_attempt(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """RetryPolicy MaximumRetryAttempts 0: one attempt, then the dead-letter queue with
    EXHAUSTED_RETRY_CONDITION MaximumRetryAttempts and RETRY_ATTEMPTS 0; every counter of
    the target and the bus says so."""
    dead = mesh.queue("dlq")
    bus = mesh.bus()
    broken = Recorder(clock, failures=10)
    rule = bus.rule("r", pattern={}, targets=[Target(broken, max_retries=0, dead_letter=dead)])
    async with mesh:
        await bus.put_events([entry()])
        await clock.advance(3600)
        [message] = await dead.receive(10)
    assert len(broken.payloads) == 1
    attributes = attributes_of(message)
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"
    assert attributes["RETRY_ATTEMPTS"] == "0"
    assert {name: value["DataType"] for name, value in message.message_attributes.items()} == {
        "RULE_ARN": "String",
        "TARGET_ARN": "String",
        "ERROR_CODE": "String",
        "ERROR_MESSAGE": "String",
        "EXHAUSTED_RETRY_CONDITION": "String",
        "RETRY_ATTEMPTS": "Number",
    }
    [target] = rule.targets
    counters = (target.attempts, target.delivered, target.failed, target.dead_lettered)
    assert counters == (1, 0, 1, 1)
    assert target.dropped == 0
    assert (bus.delivered, bus.delivery_failures, bus.dead_lettered, bus.dropped) == (0, 1, 1, 0)
    assert bus.dead_letter_failures == 0


async def test_max_retries_counts_retries_not_attempts(mesh: Mesh, clock: VirtualClock) -> None:
    """MaximumRetryAttempts n allows n retries after the first attempt: a target failing n
    times is delivered on retry n; failing n + 1 times is given up."""
    bus = mesh.bus()
    lucky, unlucky = Recorder(clock, failures=3), Recorder(clock, failures=4)
    rule = bus.rule(
        "r",
        pattern={},
        targets=[Target(lucky, max_retries=3), Target(unlucky, max_retries=3)],
    )
    async with mesh:
        await bus.put_events([entry()])
        await clock.advance(3600)
    first, second = rule.targets
    assert (first.attempts, first.delivered, first.failed) == (4, 1, 0)
    assert (second.attempts, second.delivered, second.failed, second.dropped) == (4, 0, 1, 1)
    assert (bus.delivered, bus.delivery_failures, bus.dropped) == (1, 1, 1)


async def test_the_event_age_limit_names_its_condition_in_the_dead_letter(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """RetryPolicy MaximumEventAgeInSeconds: the retry that would come after the event is
    older than the limit is not made; the dead letter says MaximumEventAgeInSeconds and how
    many retries ran."""
    dead = mesh.queue("dlq")
    bus = mesh.bus()
    broken = Recorder(clock, failures=1000)
    bus.rule("r", pattern={}, targets=[Target(broken, max_event_age=60, dead_letter="dlq")])
    async with mesh:
        await bus.put_events([entry()])
        await clock.advance(3600)
        [message] = await dead.receive(10)
    attributes = attributes_of(message)
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumEventAgeInSeconds"
    assert attributes["RETRY_ATTEMPTS"] == str(len(broken.payloads) - 1)
    assert all(moment <= 60 for moment in broken.times)
    assert len(broken.payloads) in (6, 7)


async def test_the_event_age_counts_from_when_the_bus_took_the_event(clock: VirtualClock) -> None:
    """MaximumEventAgeInSeconds is measured from ingestion: with the limit at 60 s, retries
    waiting up to 1, 2, 4, 8, 16 and 32 s (halved at worst by the jitter) fit as long as the
    total stays within 60 s from the put, and the first retry whose wait would pass it is
    not made."""
    for seed in range(5):
        mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), seed=seed)
        bus = mesh.bus()
        broken = Recorder(clock, failures=1000)
        bus.rule("r", pattern={}, targets=[Target(broken, max_event_age=60)])
        rng = random.Random(seed)
        async with mesh:
            start = clock.now()
            await bus.put_events([entry()])
            await clock.advance(3600)
        expected, moment = [start], start
        for retry in range(20):
            delay = backoff_delay(retry, rng)
            if moment + delay - start > 60:
                break
            moment += delay
            expected.append(moment)
        assert broken.times == pytest.approx(expected)


async def test_the_error_message_of_a_dead_letter_is_cut_to_1_kb(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """EventBridge's ERROR_MESSAGE attribute holds at most 1 KB of the error (cut on a UTF-8
    character boundary); an empty error message gives the ERROR_CODE instead."""
    dead = mesh.queue("dlq")
    bus = mesh.bus()
    long = Recorder(clock, failures=1, message="a" + "é" * 600)  # 1,201 bytes
    empty = Recorder(clock, failures=1, message="")
    bus.rule(
        "r",
        pattern={},
        targets=[
            Target(long, max_retries=0, dead_letter=dead),
            Target(empty, max_retries=0, dead_letter=dead),
        ],
    )
    async with mesh:
        await bus.put_events([entry()])
        await clock.advance(0)
        received = await dead.receive(10)
    by_target = {attributes_of(m)["TARGET_ARN"]: attributes_of(m) for m in received}
    assert len(by_target) == 1  # two Recorders have the same ARN (the class name)
    messages_seen = sorted(attributes_of(m)["ERROR_MESSAGE"] for m in received)
    assert messages_seen == ["ERROR_FROM_TARGET", "a" + "é" * 511]  # the split "é" is left out


async def test_a_dead_letter_queue_that_refuses_the_event_counts_a_drop(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """An event SQS cannot take (over its 1 MiB message limit once wrapped in the envelope)
    fails at a queue target as INVALID_PARAMETER, without retries (a client error), and its
    dead-letter queue cannot take it either: the bus counts a dead-letter failure and a
    drop."""
    inbox = mesh.queue("inbox")
    dead = mesh.queue("dlq")
    bus = mesh.bus()
    rule = bus.rule("r", pattern={}, targets=[Target(inbox, dead_letter=dead)])
    big = "x" * (1024 * 1024 - 40)
    async with mesh:
        answer = await bus.put_events([entry({"b": big})])
        await clock.advance(3600)
        assert await dead.receive(10, wait=0) == []
    assert answer["FailedEntryCount"] == 0
    [target] = rule.targets
    assert (target.attempts, target.failed, target.dead_lettered, target.dropped) == (1, 1, 0, 1)
    assert (bus.dead_letter_failures, bus.dead_lettered, bus.dropped) == (1, 0, 1)


async def test_a_client_error_of_a_queue_target_goes_to_its_dead_letters_at_once(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A payload the target cannot take is not retried: INVALID_PARAMETER, no
    EXHAUSTED_RETRY_CONDITION, the event (not the input) in the dead-letter queue."""
    inbox = mesh.queue("inbox")
    dead = mesh.queue("dlq")
    bus = mesh.bus()
    rule = bus.rule(
        "r", pattern={}, targets=[Target(inbox, input="x" * (1024 * 1024 + 1), dead_letter=dead)]
    )
    async with mesh:
        answer = await bus.put_events([entry({"n": 1})])
        await clock.advance(0)
        [message] = await dead.receive(10)
    attributes = attributes_of(message)
    assert attributes["ERROR_CODE"] == "INVALID_PARAMETER"
    assert attributes["TARGET_ARN"] == inbox.arn
    assert "EXHAUSTED_RETRY_CONDITION" not in attributes
    assert "RETRY_ATTEMPTS" not in attributes
    assert message.json()["id"] == answer["Entries"][0]["EventId"]
    assert rule.targets[0].attempts == 1


async def test_a_full_queue_target_throttles_and_is_retried(clock: VirtualClock) -> None:
    """A target at its limit waits INTERNAL_WAIT (60 s), then the attempt counts as
    THROTTLING and is retried with backoff; never dropped for being full."""
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    inbox = mesh.queue("inbox", max_pending=1)
    dead = mesh.queue("dlq")
    bus = mesh.bus()
    rule = bus.rule("r", pattern={}, targets=[Target(inbox, max_retries=0, dead_letter=dead)])
    async with mesh:
        await inbox.send("filler")
        await bus.put_events([entry()])
        await clock.advance(59)
        [target] = rule.targets
        assert target.failed == 0
        await clock.advance(2)
        [message] = await dead.receive(10)
    attributes = attributes_of(message)
    assert attributes["ERROR_CODE"] == "THROTTLING"
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"


# -- HTTP targets (API destinations) ---------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "code", "retried"),
    [
        (429, "THROTTLING", True),
        (500, "ERROR_FROM_TARGET", True),
        (300, "ERROR_FROM_TARGET", False),
        (400, "ERROR_FROM_TARGET", False),
    ],
)
async def test_http_answers_decide_retries(
    mesh: Mesh, clock: VirtualClock, status: int, code: str, retried: bool
) -> None:
    """API destinations: 429 is THROTTLING and 5xx ERROR_FROM_TARGET, both retried; any other
    non-2xx answer (a redirect is not followed) is ERROR_FROM_TARGET and goes to the
    dead-letter queue at once."""
    dead = mesh.queue("dlq")
    bus = mesh.bus()
    async with Endpoint(statuses=[status, status], path="/hook") as server, mesh:
        rule = bus.rule(
            "hook", pattern={}, targets=[Target(server.url, max_retries=1, dead_letter=dead)]
        )
        [target] = rule.targets
        await bus.put_events([entry()])
        await eventually(lambda: target.attempts == 1)
        await clock.advance(1.0)
        await eventually(lambda: target.failed == 1)
        [message] = await dead.receive(10)
    attributes = attributes_of(message)
    assert attributes["ERROR_CODE"] == code
    assert attributes["ERROR_MESSAGE"] == f"POST {server.url} answered {status}"
    assert target.attempts == (2 if retried else 1)
    assert ("EXHAUSTED_RETRY_CONDITION" in attributes) is retried


async def test_any_2xx_answer_is_a_delivery(mesh: Mesh, clock: VirtualClock) -> None:
    """An API destination answering 200 to 299 has the event; a text input is sent as
    text/plain."""
    bus = mesh.bus()
    async with Endpoint(statuses=[204, 200], path="/hook") as server, mesh:
        rule = bus.rule("hook", pattern={}, targets=[server.url, Target(server.url, input="hello")])
        await bus.put_events([entry()])
        await eventually(lambda: all(target.delivered == 1 for target in rule.targets))
    assert [target.attempts for target in rule.targets] == [1, 1]
    bodies = sorted((request.headers["content-type"], request.body) for request in server.requests)
    assert bodies[1] == ("text/plain; charset=utf-8", b"hello")
    assert bodies[0][0] == "application/json; charset=utf-8"
    assert rule.targets[0].arn == server.url


# -- targets: kinds, names, ARNs -------------------------------------------------------------
async def test_targets_may_be_named_by_arn(mesh: Mesh, clock: VirtualClock) -> None:
    """A target given by ARN (SQS, SNS, Kinesis ``stream/``, EventBridge ``event-bus/``) is
    the resource of that name; a function name resolves to the function."""
    inbox = mesh.queue("inbox")
    raw = mesh.queue("raw")
    topic = mesh.topic("alerts")
    topic.subscribe(raw, raw_message_delivery=True)
    stream = mesh.stream("records")
    other = mesh.bus("other")
    seen = Recorder(clock)
    other.rule("in", pattern={}, targets=[seen])
    invoked: list[Any] = []

    @mesh.function(name="fn")
    async def fn(event: Any, context: Context) -> None:
        invoked.append(event["id"])

    bus = mesh.bus()
    region = f"us-east-1:{ACCOUNT}"
    rule = bus.rule(
        "r",
        pattern={},
        targets=[
            f"arn:aws:sqs:{region}:inbox",
            f"arn:aws:sns:{region}:alerts",
            f"arn:aws:kinesis:{region}:stream/records",
            f"arn:aws:events:{region}:event-bus/other",
            "fn",
        ],
    )
    async with mesh:
        answer = await bus.put_events([entry()])
        await clock.advance(0)
        [message] = await inbox.receive(10)
        [via_topic] = await raw.receive(10)
        [shard] = stream.shard_ids
        iterator = await stream.get_shard_iterator(shard, "TRIM_HORIZON")
        [record] = (await stream.get_records(iterator)).records
    event_id = answer["Entries"][0]["EventId"]
    assert [target.kind for target in rule.targets] == ["sqs", "sns", "kinesis", "events", "lambda"]
    assert [target.arn for target in rule.targets] == [
        inbox.arn,
        topic.arn,
        stream.arn,
        other.arn,
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fn",
    ]
    assert message.json()["id"] == via_topic.json()["id"] == record.json()["id"] == event_id
    assert record.partition_key == event_id
    assert [event["id"] for event in seen.payloads] == [event_id]
    assert invoked == [event_id]
    assert all(target.delivered == 1 for target in rule.targets)


async def test_a_partition_key_that_is_not_a_string_is_its_json(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Kinesis targets: the partition key is the value at ``partition_key_path``, as JSON
    text when it is not a string, and the event id when the path finds nothing."""
    stream = mesh.stream("records")
    bus = mesh.bus()
    bus.rule(
        "r",
        pattern={},
        targets=[
            Target(stream, partition_key_path="$.detail.n"),
            Target(stream, partition_key_path="$.detail.obj"),
            Target(stream, partition_key_path="$.detail.none"),
        ],
    )
    async with mesh:
        answer = await bus.put_events([entry({"n": 42, "obj": {"a": [1]}})])
        await clock.advance(0)
        [shard] = stream.shard_ids
        iterator = await stream.get_shard_iterator(shard, "TRIM_HORIZON")
        records = (await stream.get_records(iterator)).records
    keys = sorted(record.partition_key for record in records)
    assert keys == sorted(["42", '{"a":[1]}', answer["Entries"][0]["EventId"]])


async def test_target_arns_and_descriptions(mesh: Mesh) -> None:
    """A target's ARN: the resource's ARN, the URL without its credentials for HTTP, the
    callable's qualified name for a callable; ``repr`` hides URL credentials too."""

    async def on_event(event: Any) -> None:
        pass

    bus = mesh.bus()
    rule = bus.rule(
        "r",
        pattern={},
        targets=[on_event, "https://user:secret@example.com/hook", Target("inbox")],
    )
    arns = [target.arn for target in rule.targets]
    assert arns[0].endswith("test_target_arns_and_descriptions.<locals>.on_event")
    assert "secret" not in arns[1] and arns[1].startswith("https://")
    assert arns[2] == "inbox"  # a name, until the mesh runs and resolves it
    assert "secret" not in repr(Target("https://user:secret@example.com/hook"))
    assert repr(rule.targets[0]).startswith("<RuleTarget callable ")
    assert repr(rule.targets[2]) == "<RuleTarget ? inbox of rule r>"
    assert repr(rule) == "<Rule r of default (3 targets)>"


def test_target_settings_are_checked_with_their_bounds(clock: VirtualClock) -> None:
    """RetryPolicy bounds: MaximumEventAgeInSeconds 60 to 86400 (a number), MaximumRetryAttempts
    0 to 185 (an integer); booleans are not numbers. The message names the setting, the
    bounds and the value."""
    recorder = Recorder(clock)
    assert Target(recorder, max_event_age=86400, max_retries=185).max_event_age == 86400.0
    assert Target(recorder, max_event_age=60.5).max_event_age == 60.5
    with pytest.raises(
        ConfigurationError, match=exactly("max_event_age must be a number from 60 to 86400, got 59")
    ):
        Target(recorder, max_event_age=59)
    with pytest.raises(
        ConfigurationError, match=exactly("max_retries must be an integer from 0 to 185, got True")
    ):
        Target(recorder, max_retries=True)
    with pytest.raises(ConfigurationError, match="max_event_age"):
        Target(recorder, max_event_age=True)
    with pytest.raises(ConfigurationError, match="max_event_age"):
        Target(recorder, max_event_age="60")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="wraps a target"):
        Target(Target(recorder))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="must not be empty"):
        Target("")
    with pytest.raises(ConfigurationError, match="dead_letter"):
        Target(recorder, dead_letter=42)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="exclusive"):
        Target(recorder, input_path="$.a", input_transformer={"InputTemplate": "x"})
    with pytest.raises(ConfigurationError, match="exclusive"):
        Target(recorder, input="x", input_transformer={"InputTemplate": "x"})


async def test_options_a_target_kind_cannot_take_are_refused(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A bus target gets the event itself (no input, input_path or input_transformer);
    partition_key_path is for streams only: checked at once for objects, and once a name
    resolves when the mesh starts."""
    bus = mesh.bus()
    other = mesh.bus("other")
    for option in ({"input_path": "$.detail"}, {"input_transformer": {"InputTemplate": "x"}}):
        with pytest.raises(ConfigurationError, match="event itself"):
            Target(other, **option)
    with pytest.raises(ConfigurationError, match="stream targets only"):
        Target(mesh.queue("q"), partition_key_path="$.id")
    assert Target(mesh.stream("s"), partition_key_path="$.id").kind == "kinesis"
    bus.rule("r", pattern={}, targets=[Target("other", input_path="$.detail")])
    with pytest.raises(ConfigurationError, match="event itself"):
        await mesh.start()
    await mesh.stop()


async def test_a_rule_added_while_the_mesh_runs_resolves_its_targets_at_once(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Rules may be added to a running bus: their targets are resolved (and checked) then."""
    inbox = mesh.queue("inbox")
    mesh.queue("jobs.fifo")
    bus = mesh.bus()
    async with mesh:
        rule = bus.rule("late", pattern={}, targets=["inbox"])
        assert rule.targets[0].arn == inbox.arn
        fifo = "rule 'fifo': queue 'jobs.fifo' is FIFO; bus targets are standard queues"
        with pytest.raises(ConfigurationError, match=exactly(fifo)):
            bus.rule("fifo", pattern={}, targets=["jobs.fifo"])
        await bus.put_events([entry()])
        await clock.advance(0)
        assert len(await inbox.receive(10)) == 1


async def test_a_dead_letter_queue_may_be_named_by_arn_and_must_be_standard(
    clock: VirtualClock,
) -> None:
    """A target's dead-letter queue is a standard SQS queue, named or given by ARN; a FIFO
    queue is refused when the mesh starts."""
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    dead = mesh.queue("dlq")
    bus = mesh.bus()
    broken = Recorder(clock, failures=1)
    bus.rule(
        "r",
        pattern={},
        targets=[Target(broken, max_retries=0, dead_letter=f"arn:aws:sqs:us-east-1:{ACCOUNT}:dlq")],
    )
    async with mesh:
        await bus.put_events([entry()])
        await clock.advance(0)
        assert len(await dead.receive(10)) == 1

    fifo_mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False))
    fifo_mesh.queue("dlq.fifo")
    fifo_mesh.bus().rule("r", pattern={}, targets=[Target(broken, dead_letter="dlq.fifo")])
    with pytest.raises(ConfigurationError, match="dead-letter queue is a standard queue"):
        await fifo_mesh.start()
    await fifo_mesh.stop()


# -- input transformer -----------------------------------------------------------------------
def test_input_transformer_variables_follow_eventbridges_rules() -> None:
    """InputPathsMap: at most 100 variables, names of letters, digits, ``.``, ``-``, ``_``,
    none in EventBridge's ``aws.events.`` namespace; InputTemplate: a non-empty text using
    only defined variables. Messages name the offending variable."""
    with pytest.raises(ConfigurationError, match=starting("input_paths_map maps variable names")):
        InputTransformer([("a", "$.a")], "<a>")  # type: ignore[arg-type]
    with pytest.raises(
        ConfigurationError,
        match=exactly("an input transformer defines at most 100 variables, got 101"),
    ):
        InputTransformer({f"v{i}": "$.a" for i in range(101)}, "x")
    for template in ("", None):
        with pytest.raises(
            ConfigurationError, match=exactly("input_template must be a non-empty string")
        ):
            InputTransformer({}, template)  # type: ignore[arg-type]
    with pytest.raises(
        ConfigurationError, match=exactly("input transformer variable name 'a b' is invalid")
    ):
        InputTransformer({"a b": "$.a"}, "x")
    with pytest.raises(ConfigurationError, match="is invalid"):
        InputTransformer({"x" * 257: "$.a"}, "x")
    assert InputTransformer({"x" * 256: "$.a"}, "x").input_paths_map == {"x" * 256: "$.a"}
    with pytest.raises(ConfigurationError, match=starting("'aws.events.mine' is reserved")):
        InputTransformer({"aws.events.mine": "$.a"}, "x")
    with pytest.raises(
        ConfigurationError, match=starting("input_template uses <b>, which is neither")
    ):
        InputTransformer({"a": "$.a"}, "<a> <b>")
    with pytest.raises(
        ConfigurationError, match=starting("input_transformer is an InputTransformer or")
    ):
        InputTransformer.of("<a>")  # type: ignore[arg-type]
    with pytest.raises(
        ConfigurationError, match=exactly("unknown input transformer keys: Other, Zed")
    ):
        InputTransformer.of({"InputTemplate": "x", "Zed": 1, "Other": 2})


def test_input_transformers_compare_by_their_settings() -> None:
    """Two transformers with the same paths and template are equal (and hash alike); ``of``
    takes either key spelling and returns a given InputTransformer as is."""
    one = InputTransformer({"a": "$.a"}, '{"x": <a>}')
    same = InputTransformer.of({"InputPathsMap": {"a": "$.a"}, "InputTemplate": '{"x": <a>}'})
    snake = InputTransformer.of({"input_paths_map": {"a": "$.a"}, "input_template": '{"x": <a>}'})
    assert one == same == snake and hash(one) == hash(same)
    assert one != InputTransformer({"a": "$.b"}, '{"x": <a>}')
    assert one != InputTransformer({"a": "$.a"}, '{"y": <a>}')
    assert one != '{"x": <a>}'
    assert InputTransformer.of(one) is one
    assert InputTransformer.of({"InputTemplate": "plain"}).input_paths_map == {}
    assert repr(one) == "InputTransformer({'a': '$.a'}, '{\"x\": <a>}')"
    assert one.json_mode and not InputTransformer({}, "text <aws.events.rule-name>").json_mode


def render(template: str, detail: Any, paths: dict[str, str] | None = None) -> tuple[str, bool]:
    """What a transformer sends for an event with ``detail`` (text, and whether it is JSON)."""
    transformer = InputTransformer(paths or {"v": "$.detail.v", "w": "$.detail.w"}, template)
    event = {"id": "e-1", "detail": detail}
    payload = transformer.render(event, {"aws.events.rule-name": "r"})
    return payload.text, payload.is_json


def test_input_template_placeholders_inside_and_outside_json_strings() -> None:
    """EventBridge's insertion rules: in a JSON template, a placeholder outside strings takes
    the value's JSON (a missing path gives null), inside a string the raw string or the
    escaped JSON of other values (a missing path gives nothing); an escaped quote does not
    end a string."""
    assert render('{"a": <v>}', {"v": "x"}) == ('{"a": "x"}', True)
    assert render('{"a": <v>}', {}) == ('{"a": null}', True)
    assert render('{"a": "<v>"}', {"v": {"k": 1}}) == (r'{"a": "{\"k\":1}"}', True)
    assert render('{"a": "<v>"}', {"v": 'say "hi"'}) == (r'{"a": "say \"hi\""}', True)
    assert render('{"a": "<v>"}', {}) == ('{"a": ""}', True)
    # An escaped quote inside a string: <v> is still inside the string.
    assert render(r'{"a": "\"<v>"}', {"v": "s"}) == (r'{"a": "\"s"}', True)
    # An escaped backslash ends nothing: the quote after it closes the string.
    assert render(r'{"a": "\\", "b": <v>}', {"v": "s"}) == (r'{"a": "\\", "b": "s"}', True)
    assert render('["<v>", <w>]', {"v": "s", "w": "t"}) == ('["s", "t"]', True)


def test_a_text_template_inserts_values_as_they_are() -> None:
    """A template that is not JSON is text: a string goes in as is, other values as their
    JSON text, a missing path as nothing; the result is sent as text."""
    assert render("v=<v> w=<w>", {"v": "a b", "w": {"k": 1}}) == ('v=a b w={"k":1}', False)
    assert render("v=<v>.", {}) == ("v=.", False)
    assert render("rule <aws.events.rule-name>", {}) == ("rule r", False)
    assert render('"<v>" and <w>', {"v": "a", "w": "b"}) == ('"a" and b', False)


# -- archives --------------------------------------------------------------------------------
async def test_an_archive_keeps_only_the_events_matching_its_pattern(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """An archive with an event pattern keeps the events it matches, whether or not a rule
    matches them; archives of the same name on two buses are separate."""
    bus = mesh.bus()
    other = mesh.bus("other")
    orders = bus.archive("a", pattern='{"detail-type": ["order"]}')
    everything = bus.archive("all")
    elsewhere = other.archive("a")
    async with mesh:
        await bus.put_events([entry(), entry(DetailType="ping"), entry()])
        assert await orders.event_count() == 2
        assert await everything.event_count() == 3
        assert await elsewhere.event_count() == 0
    assert (orders.events_archived, everything.events_archived) == (2, 3)
    assert orders.arn == f"arn:aws:events:us-east-1:{ACCOUNT}:archive/a"
    assert repr(orders) == "<Archive a of default>"


async def test_archive_retention_keeps_events_for_exactly_that_long(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """An archive's retention: an event is kept while it is at most ``retention`` seconds
    old, then dropped."""
    bus = mesh.bus()
    archive = bus.archive("a", retention=60)
    async with mesh:
        await bus.put_events([entry()])
        await clock.advance(60)
        assert await archive.event_count() == 1
        await clock.advance(0.5)
        assert await archive.event_count() == 0


def test_archive_settings_are_checked(mesh: Mesh) -> None:
    """Archive names are 1-48 letters, digits, ``.``, ``-``, ``_``; retention is a number of
    seconds of at least 1; asking again with other settings is an error."""
    bus = mesh.bus()
    assert bus.archive("a" * 48).name == "a" * 48
    for name in ("a" * 49, "", "a b", "a/b"):
        with pytest.raises(ConfigurationError, match="archive name"):
            bus.archive(name)
    for retention in (0, 0.5, True, "60"):
        with pytest.raises(ConfigurationError, match="retention"):
            bus.archive("r", retention=retention)  # type: ignore[arg-type]
    kept = bus.archive("kept", pattern={"source": ["a"]}, retention=1)
    assert kept.retention == 1.0
    assert bus.archive("kept", pattern={"source": ["a"]}, retention=1) is kept
    with pytest.raises(
        ConfigurationError, match=exactly("archive 'kept' exists with other settings")
    ):
        bus.archive("kept", pattern={"source": ["b"]}, retention=1)
    with pytest.raises(ConfigurationError, match="other settings"):
        bus.archive("kept", pattern={"source": ["a"]})


# -- replays ---------------------------------------------------------------------------------
async def test_a_replay_takes_events_from_its_start_inclusive_to_its_end_exclusive(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """StartReplay's window is ``[EventStartTime, EventEndTime)``; a replay goes to the rules
    named by ARN (or name), only those enabled, and reports when it started and ended."""
    bus = mesh.bus()
    archive = bus.archive("a")
    seen, off = Recorder(clock), Recorder(clock)
    rule = bus.rule("r", pattern={}, targets=[seen])
    bus.rule("off", pattern={}, targets=[off], enabled=False)
    async with mesh:
        for n in range(3):  # at t = 0, 10, 20
            await bus.put_events([entry({"n": n})])
            await clock.advance(10)
        seen.payloads.clear()
        replay = bus.replay(
            archive,
            datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC),
            EPOCH + 20,
            rules=[rule.arn, "off"],
            name="window",
        )
        assert not replay.done
        await replay.wait()
        await clock.advance(0)
    assert replay.done
    assert [event["detail"]["n"] for event in seen.payloads] == [1]
    assert off.payloads == []
    assert (replay.start, replay.end) == (EPOCH + 10, EPOCH + 20)
    assert replay.started_at == replay.ended_at == EPOCH + 30
    assert repr(replay) == "<Replay window of a: COMPLETED 1/1>"
    assert bus.replays["window"] is replay


async def test_a_replay_gets_a_name_from_its_archive(mesh: Mesh, clock: VirtualClock) -> None:
    """A replay without a name is named after its archive and 12 hex digits; replay names
    are 1-64 letters, digits, ``.``, ``-``, ``_``."""
    bus = mesh.bus()
    archive = bus.archive("orders")
    async with mesh:
        replay = await bus.replay(archive, EPOCH, EPOCH + 1).wait()
        assert replay.name.startswith("orders-") and len(replay.name) == len("orders-") + 12
        assert int(replay.name.removeprefix("orders-"), 16) >= 0
        assert (replay.state, replay.events_total) == ("COMPLETED", 0)
        assert (await bus.replay(archive, EPOCH, EPOCH + 1, name="x" * 64).wait()).done
        for name in ("x" * 65, "a b"):
            with pytest.raises(ConfigurationError, match="replay name"):
                bus.replay(archive, EPOCH, EPOCH + 1, name=name)
        with pytest.raises(ConfigurationError, match="start must be before its end"):
            bus.replay(archive, EPOCH, EPOCH)
        for moment in (True, "2026-01-01"):
            with pytest.raises(
                ConfigurationError, match=starting("start must be an aware datetime or")
            ):
                bus.replay(archive, moment, EPOCH + 1)  # type: ignore[arg-type]
        with pytest.raises(
            ConfigurationError, match=exactly("end must be a timezone-aware datetime")
        ):
            bus.replay(archive, EPOCH, datetime(2026, 1, 2))


async def test_a_replay_is_of_this_buses_archives_and_rules(mesh: Mesh) -> None:
    """A replay puts events back on the archive's own bus: another bus's archive or rule is
    refused, naming it."""
    bus = mesh.bus()
    other = mesh.bus("other")
    foreign = other.archive("theirs")
    theirs = other.rule("theirs", pattern={})
    mine = bus.archive("mine")
    async with mesh:
        with pytest.raises(
            ConfigurationError, match=starting("bus 'default' has no archive <Archive")
        ):
            bus.replay(foreign, EPOCH, EPOCH + 1)
        with pytest.raises(
            ConfigurationError, match=starting("bus 'default' has no rule <Rule theirs")
        ):
            bus.replay(mine, EPOCH, EPOCH + 1, rules=[theirs])
        bus.rule("theirs", pattern={})
        with pytest.raises(ConfigurationError, match="has no rule"):
            bus.replay(mine, EPOCH, EPOCH + 1, rules=[theirs])


async def test_a_running_replay_can_be_cancelled(mesh: Mesh, clock: VirtualClock) -> None:
    """CancelReplay: a running replay stops, in state CANCELLED, and ``wait`` returns;
    cancelling an ended replay changes nothing."""
    bus = mesh.bus()
    archive = bus.archive("a")
    bus.rule("r", pattern={}, targets=[Recorder(clock)])
    async with mesh:
        for start in range(0, 150, 10):
            await bus.put_events([entry({"n": n}) for n in range(start, start + 10)])
        replay = bus.replay(archive, EPOCH, EPOCH + 1)
        for _ in range(100):  # until the first chunk is read
            if replay.state == "RUNNING":
                break
            await asyncio.sleep(0)
        assert replay.state == "RUNNING"
        replay.cancel()
        await replay.wait()
        assert replay.state == "CANCELLED"
        assert replay.events_replayed < 150
        done = await bus.replay(archive, EPOCH, EPOCH + 1).wait()
        done.cancel()
        assert (done.state, done.events_replayed) == ("COMPLETED", 150)


async def test_a_replay_cancelled_at_once_ends_cancelled(mesh: Mesh, clock: VirtualClock) -> None:
    """CancelReplay right after StartReplay: the replay ends in state CANCELLED and ``wait``
    returns (with no event replayed)."""
    bus = mesh.bus()
    archive = bus.archive("a")
    async with mesh:
        await bus.put_events([entry()])
        replay = bus.replay(archive, EPOCH, EPOCH + 1)
        replay.cancel()
        for _ in range(10):  # let the cancelled task finish
            await asyncio.sleep(0)
        assert replay.done
        assert replay.state == "CANCELLED"


async def test_a_replay_skips_what_the_archives_retention_dropped(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A replay reads the archive after its retention: events past it are not replayed even
    if the window covers them."""
    bus = mesh.bus()
    archive = bus.archive("a", retention=60)
    seen = Recorder(clock)
    bus.rule("r", pattern={}, targets=[seen])
    async with mesh:
        await bus.put_events([entry({"n": 0})])
        await clock.advance(50)
        await bus.put_events([entry({"n": 1})])
        await clock.advance(20)  # the first event is now 70 s old
        seen.payloads.clear()
        replay = await bus.replay(archive, EPOCH, EPOCH + 100).wait()
        await clock.advance(0)
    assert replay.events_total == 1
    assert [event["detail"]["n"] for event in seen.payloads] == [1]


# -- rules -----------------------------------------------------------------------------------
def test_rule_settings_follow_eventbridges_limits(mesh: Mesh, clock: VirtualClock) -> None:
    """PutRule: names of 1-64 letters, digits, ``.``, ``-``, ``_``; a pattern given as JSON
    text or a mapping; targets a list of at most five."""
    bus = mesh.bus()
    recorder = Recorder(clock)
    assert bus.rule("a.b-c_" + "x" * 58, pattern={}).name == "a.b-c_" + "x" * 58
    for name in ("x" * 65, "", "a/b"):
        with pytest.raises(ConfigurationError, match="rule name"):
            bus.rule(name, pattern={})
    with pytest.raises(ConfigurationError, match=exactly("targets is a list of targets")):
        bus.rule("text", pattern={}, targets="inbox")  # type: ignore[arg-type]
    five = bus.rule("five", pattern='{"source": ["a"]}', targets=[recorder] * 5)
    assert len(five.targets) == 5
    with pytest.raises(
        ConfigurationError, match=exactly("a rule has at most 5 targets, rule 'six' has 6")
    ):
        bus.rule("six", pattern={}, targets=[recorder] * 6)
    with pytest.raises(
        ConfigurationError, match=exactly("bus 'default' already has a rule named 'five'")
    ):
        bus.rule("five", pattern={})
    assert "six" not in bus.rules


async def test_a_rule_pattern_may_be_json_text(mesh: Mesh, clock: VirtualClock) -> None:
    """An event pattern given as JSON text matches as the same pattern given as a mapping."""
    bus = mesh.bus()
    seen = Recorder(clock)
    bus.rule("r", pattern='{"detail": {"n": [2]}}', targets=[seen])
    async with mesh:
        await bus.put_events([entry({"n": 1}), entry({"n": 2})])
        await clock.advance(0)
    assert [event["detail"] for event in seen.payloads] == [{"n": 2}]


def test_schedule_expressions_of_rules_are_rate_or_cron(mesh: Mesh) -> None:
    """Scheduled rules take ``rate()`` or ``cron()`` (reference §6.1), only on the default
    bus; the message names the rule and the bus or the expression."""
    bus = mesh.bus()
    with pytest.raises(
        ConfigurationError,
        match=exactly("rule 'x': a rule's schedule is rate(...) or cron(...), got 5"),
    ):
        bus.rule("x", schedule=5)  # type: ignore[arg-type]
    with pytest.raises(
        ConfigurationError,
        match=exactly("rule 'x': scheduled rules are only on the default bus, not 'o'"),
    ):
        mesh.bus("o").rule("x", schedule="rate(1 minute)")
    assert bus.rule("c", schedule="cron(0 12 * * ? *)").schedule is not None


def test_a_scheduled_rules_schedule_has_a_stable_name_of_at_most_64_characters(
    mesh: Mesh,
) -> None:
    """The Schedule behind a scheduled rule is named ``events.rule.<rule>`` (so every process
    of the mesh shares its ticks); a rule name too long for 64 characters is cut and
    completed with a digest of the whole name, so two long names stay distinct."""
    bus = mesh.bus()
    fits = "f" * 52
    long_a, long_b = "a" * 60 + "1", "a" * 60 + "2"
    assert bus.rule(fits, schedule="rate(1 minute)").schedule.name == "events.rule." + fits  # type: ignore[union-attr]
    first = bus.rule(long_a, schedule="rate(1 minute)").schedule
    second = bus.rule(long_b, schedule="rate(1 minute)").schedule
    assert first is not None and second is not None
    digest = hashlib.sha256(long_a.encode()).hexdigest()[:12]
    assert first.name == "events.rule." + "a" * 38 + "." + digest  # 63 characters
    assert first.name != second.name and len(second.name) == 63
    assert bus.rule("f" * 53, schedule="rate(1 minute)").schedule.name != "events.rule." + "f" * 53  # type: ignore[union-attr]


async def test_a_rule_with_a_pattern_and_a_schedule_gets_both(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A rule may have an event pattern and a schedule: its targets get the matching events
    and the Scheduled Events (whose resources name the rule)."""
    bus = mesh.bus()
    seen = Recorder(clock)
    rule = bus.rule(
        "both", pattern={"source": ["app.orders"]}, schedule="rate(1 minute)", targets=[seen]
    )
    async with mesh:
        await bus.put_events([entry()])
        await clock.advance(60)
    assert [event["detail-type"] for event in seen.payloads] == ["order", "Scheduled Event"]
    assert seen.payloads[1]["resources"] == [RULE_ARN + "both"]
    assert rule.matched == 2


# -- the bus as a destination ----------------------------------------------------------------
async def test_send_puts_lambda_records_and_other_messages_on_the_bus(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """As a Lambda destination the bus takes an invocation record (a ``requestContext`` with
    ``condition`` and ``functionArn``) as a ``lambda`` event, Success or Failure by the
    condition, resources [function ARN, bus ARN]; anything else is an ``eventmesh``
    ``Message``; a message JSON cannot hold is refused."""
    bus = mesh.bus("results")
    seen = Recorder(clock)
    bus.rule("all", pattern={}, targets=[seen])
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:f:$LATEST"
    record = {"requestContext": {"condition": "Success", "functionArn": arn}, "n": 1}
    failure = {"requestContext": {"condition": "RetriesExhausted", "functionArn": arn}}
    not_a_record = {"requestContext": {"condition": "Success"}}
    with pytest.raises(EventMeshError, match="before the mesh runs"):
        await bus.send("early")
    async with mesh:
        ids = [
            await bus.send(record),
            await bus.send(failure),
            await bus.send(not_a_record),
            await bus.send([1, 2]),
        ]
        with pytest.raises(PayloadError, match=starting("message is not JSON-serialisable")):
            await bus.send({"s": {1}})
        await clock.advance(0)
    assert [event["id"] for event in seen.payloads] == ids
    lambda_success, lambda_failure, message, listed = seen.payloads
    assert lambda_success["detail-type"] == "Lambda Function Invocation Result \u2013 Success"
    assert lambda_failure["detail-type"] == "Lambda Function Invocation Result \u2013 Failure"
    assert lambda_success["resources"] == [arn, bus.arn]
    assert lambda_success["source"] == "lambda" and lambda_success["detail"] == record
    assert (message["source"], message["detail-type"]) == ("eventmesh", "Message")
    assert (message["detail"], message["resources"]) == (not_a_record, [])
    assert listed["detail"] == {"message": [1, 2]}
    assert bus.events_put == 4


# -- buses forwarding to buses ---------------------------------------------------------------
async def test_an_event_travels_a_chain_of_buses_but_never_enters_one_twice(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A bus target forwards the event itself along a chain (a -> b -> c); c sending it back
    to a is refused (INVALID_PARAMETER, not retried) because it went through a."""
    dead = mesh.queue("dlq")
    a, b, c = mesh.bus("a"), mesh.bus("b"), mesh.bus("c")
    seen = Recorder(clock)
    a.rule("to-b", pattern={}, targets=["b"])
    b.rule("to-c", pattern={}, targets=[c])
    c.rule("seen", pattern={}, targets=[seen])
    back = c.rule("back", pattern={}, targets=[Target(a, dead_letter=dead)])
    async with mesh:
        answer = await a.put_events([entry()])
        await clock.advance(0)
        [message] = await dead.receive(10)
    assert [event["id"] for event in seen.payloads] == [answer["Entries"][0]["EventId"]]
    attributes = attributes_of(message)
    assert attributes["ERROR_CODE"] == "INVALID_PARAMETER"
    assert attributes["ERROR_MESSAGE"].endswith("already went through bus 'a'")
    assert back.targets[0].attempts == 1
    assert (a.delivered, b.delivered, c.delivered) == (1, 1, 1)


# -- shutdown and pending work ---------------------------------------------------------------
async def test_pending_counts_deliveries_under_way_and_stop_drops_the_unfinished(
    clock: VirtualClock,
) -> None:
    """A bus's pending work is its deliveries under way (not those waiting to retry); at
    shutdown the unfinished deliveries are abandoned and counted as dropped."""
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=0)
    gate = asyncio.Event()

    async def blocked(event: Any) -> None:
        await gate.wait()

    bus = mesh.bus()
    retrying = Recorder(clock, failures=1000)
    bus.rule("r", pattern={}, targets=[blocked, Target(retrying, max_retries=5)])
    async with mesh:
        await bus.put_events([entry()])
        for _ in range(5):
            await asyncio.sleep(0)
        assert await bus.pending() == 1
        assert len(retrying.payloads) == 1
    assert bus.dropped == 2
    assert bus.delivered == 0


# -- messages the docstrings promise ---------------------------------------------------------
async def test_entry_error_messages_name_the_value(mesh: Mesh) -> None:
    """PutEvents' ErrorMessage says what is wrong: a Time text that is not ISO 8601, a
    TraceHeader that is not a string, Resources that are not a list, a Detail mapping JSON
    cannot hold (naming the field and the offending part)."""
    bus = mesh.bus()
    async with mesh:
        answer = await bus.put_events(
            [
                entry(Time="yesterday"),
                entry(TraceHeader=42),
                entry(Resources="arn:aws:s3:::bucket"),
                entry(Detail={"s": {1, 2}}),
            ]
        )
    assert codes(answer) == ["InvalidArgument"] * 3 + ["MalformedDetail"]
    got = messages(answer)
    assert got[0] == "Time 'yesterday' is not an ISO 8601 time"
    assert got[1] == "TraceHeader must be a string."
    assert got[2] == "Resources must be a list of strings."
    assert got[3] == "Detail is malformed: Detail.s: not JSON-serialisable: a set has no JSON form"


async def test_an_entry_no_calendar_holds_is_malformed(mesh: Mesh) -> None:
    """An entry whose Time names a moment no calendar can hold (year 1 at +14:00 is before
    year 1 in UTC) fails alone as MalformedDetail, saying the entry is malformed."""
    bus = mesh.bus()
    async with mesh:
        answer = await bus.put_events([entry(Time="0001-01-01T00:00:00+14:00"), entry()])
    assert codes(answer) == ["MalformedDetail", None]
    message = messages(answer)[0]
    assert message is not None and message.startswith("The entry is malformed: ")


async def test_counters_add_up_over_calls(mesh: Mesh, clock: VirtualClock) -> None:
    """``events_put`` and ``failed_entries`` count every PutEvents entry over all calls;
    ``delivered`` counts every event a target got."""
    bus = mesh.bus()
    seen = Recorder(clock)
    rule = bus.rule("r", pattern={}, targets=[seen])
    async with mesh:
        for _ in range(2):
            await bus.put_events([entry(), entry(Source="")])
        await clock.advance(0)
    assert (bus.events_put, bus.failed_entries) == (2, 2)
    assert (bus.delivered, rule.targets[0].delivered, rule.targets[0].attempts) == (2, 2, 2)
    assert rule.matched == 2


async def test_failures_are_counted_per_event(mesh: Mesh, clock: VirtualClock) -> None:
    """Every event given up is counted: as dead-lettered when its dead-letter queue took it,
    as dropped otherwise, and as a dead-letter failure when that queue refused it."""
    dead = mesh.queue("dlq")
    inbox = mesh.queue("inbox")
    bus = mesh.bus()
    broken = Recorder(clock, failures=10)
    lettered = bus.rule(
        "lettered",
        pattern={"detail-type": ["order"]},
        targets=[Target(broken, max_retries=0, dead_letter=dead)],
    )
    dropped = bus.rule(
        "dropped", pattern={"detail-type": ["order"]}, targets=[Target(broken, max_retries=0)]
    )
    refused = bus.rule("refused", pattern={"detail-type": ["big"]},
                       targets=[Target(inbox, dead_letter=dead)])  # fmt: skip
    big = {"b": "x" * (1024 * 1024 - 40)}
    async with mesh:
        await bus.put_events([entry(), entry()])
        await bus.put_events([entry(big, DetailType="big"), entry(big, DetailType="big")])
        await clock.advance(0)
        assert len(await dead.receive(10)) == 2
    [target] = lettered.targets
    assert (target.failed, target.dead_lettered, target.dropped) == (2, 2, 0)
    [target] = dropped.targets
    assert (target.failed, target.dead_lettered, target.dropped) == (2, 0, 2)
    [target] = refused.targets
    assert (target.failed, target.dead_lettered, target.dropped) == (2, 0, 2)
    assert (bus.delivery_failures, bus.dead_lettered, bus.dropped) == (6, 2, 4)
    assert bus.dead_letter_failures == 2


async def test_a_dead_letter_goes_in_over_its_queues_limit(clock: VirtualClock) -> None:
    """A dead letter is never refused for room: it goes into a dead-letter queue already at
    its ``max_pending`` at once."""
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    dead = mesh.queue("dlq", max_pending=1)
    bus = mesh.bus()
    broken = Recorder(clock, failures=1)
    rule = bus.rule("r", pattern={}, targets=[Target(broken, max_retries=0, dead_letter=dead)])
    async with mesh:
        await dead.send("filler")
        await bus.put_events([entry()])
        await clock.advance(0)
        assert rule.targets[0].dead_lettered == 1
        assert len(await dead.receive(10)) == 2


async def test_give_ups_are_logged_with_the_attempts_and_the_error_code(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A delivery given up logs a warning naming the bus, the event, the target, the rule,
    how many attempts were made, the error and its ERROR_CODE; a target's own exception is
    logged with its traceback, an attempt error without one; each retry is logged at debug
    level with its delay; a dead-letter queue refusing the event is logged with the reason."""
    caplog.set_level("DEBUG", logger="eventmesh.buses")
    inbox = mesh.queue("inbox")
    dead = mesh.queue("dlq")
    bus = mesh.bus()
    broken = Recorder(clock, failures=10, message="target is down")
    rule = bus.rule(
        "r", pattern={"detail-type": ["order"]}, targets=[Target(broken, max_retries=2)]
    )
    big = bus.rule(
        "big", pattern={"detail-type": ["big"]}, targets=[Target(inbox, dead_letter=dead)]
    )
    loop = bus.rule("loop", pattern={"detail-type": ["loop"]}, targets=[bus])  # fmt: skip
    async with mesh:
        answer = await bus.put_events([entry()])
        await clock.advance(3600)
        large = await bus.put_events([entry({"b": "x" * (1024 * 1024 - 40)}, DetailType="big")])
        await clock.advance(0)
        looped = await bus.put_events([entry(DetailType="loop")])
        await clock.advance(0)
    event_id = answer["Entries"][0]["EventId"]
    large_id = large["Entries"][0]["EventId"]
    looped_id = looped["Entries"][0]["EventId"]
    records = [record for record in caplog.records if record.name == "eventmesh.buses"]
    retries = [record for record in records if record.levelname == "DEBUG"]
    assert len(retries) == 2
    first_retry = f"bus default: delivery to {rule.targets[0].arn} failed (target is down)"
    assert retries[0].getMessage().startswith(first_retry + "; retrying in 0.")
    warnings = [record for record in records if record.levelname == "WARNING"]
    assert [record.getMessage() for record in warnings] == [
        f"bus default: delivery of {event_id} to {rule.targets[0].arn} (rule r) failed after "
        "3 attempt(s): target is down [ERROR_FROM_TARGET]",
        f"bus default: delivery of {large_id} to {inbox.arn} (rule big) failed after "
        f"1 attempt(s): {big_error(warnings[1].getMessage())} [INVALID_PARAMETER]",
        f"bus default: delivery of {looped_id} to {bus.arn} (rule loop) failed after "
        f"1 attempt(s): event {looped_id} already went through bus 'default' [INVALID_PARAMETER]",
    ]
    assert big_error(warnings[1].getMessage()).startswith("message of ")
    assert warnings[0].exc_info is not None and warnings[0].exc_info[0] is RuntimeError
    assert warnings[1].exc_info is not None
    assert not warnings[2].exc_info
    assert loop.targets[0].dropped == 1
    [failure] = [record for record in records if record.levelname == "ERROR"]
    assert failure.getMessage() == "bus default: dead-letter queue dlq failed"
    assert failure.exc_info is not None
    assert big.targets[0].dropped == 1


def big_error(line: str) -> str:
    """The error text inside a give-up warning (between the attempts and the code)."""
    return line.split("attempt(s): ", 1)[1].rsplit(" [", 1)[0]


# -- configuration messages ------------------------------------------------------------------
def test_target_configuration_errors_say_what_to_give(mesh: Mesh, clock: VirtualClock) -> None:
    """The configuration errors of targets name the setting and say what it takes."""
    recorder = Recorder(clock)
    cases: list[tuple[Any, str]] = [
        (lambda: Target(Target(recorder)), "Target(...) wraps a target, not another Target"),
        (lambda: Target(""), "a target name must not be empty"),
        (lambda: Target(42), "42 cannot be a target: give a function, a queue, a topic, a "
         "stream, a bus, an http(s):// URL, an async callable, or the name of one"),
        (lambda: Target(recorder, dead_letter=42),
         "a target's dead_letter is a standard queue or its name, not 42"),
        (lambda: Target(recorder, input=1, input_transformer={"InputTemplate": "x"}),
         "input, input_path and input_transformer are exclusive: give at most one"),
        (lambda: Target(mesh.queue("q"), partition_key_path="$.id"),
         "partition_key_path is for stream targets only"),
        (lambda: Target(mesh.bus("other"), input="x"),
         "a bus target receives the event itself: input, input_path and input_transformer "
         "are not available for it"),
        (lambda: Target(recorder, max_retries=1.5),
         "max_retries must be an integer from 0 to 185, got 1.5"),
        (lambda: Target(recorder, max_event_age=86401),
         "max_event_age must be a number from 60 to 86400, got 86401"),
    ]  # fmt: skip
    for make, message in cases:
        with pytest.raises(ConfigurationError, match=exactly(message)):
            make()
    with pytest.raises(
        ConfigurationError, match=exactly("input.s: not JSON-serialisable: a set has no JSON form")
    ):
        Target(recorder, input={"s": {1}})
    kinds = [Target(mesh.queue("q")).kind, Target(mesh.topic("t")).kind]
    assert [*kinds, Target(mesh.stream("s")).kind] == ["sqs", "sns", "kinesis"]
    assert Target("https://example.com/hook").kind == "http"
    assert Target("http://example.com/hook").kind == "http"


def test_input_transformer_errors_say_what_to_give() -> None:
    """The input transformer's errors name the variable or key and say what is allowed."""
    cases: list[tuple[Any, str]] = [
        (lambda: InputTransformer([], "x"), "input_paths_map maps variable names to JSONPaths"),
        (lambda: InputTransformer({"a": "$.a"}, "<b>"),
         "input_template uses <b>, which is neither in input_paths_map nor one of "
         "EventBridge's predefined variables"),
        (lambda: InputTransformer.of(["x"]),
         "input_transformer is an InputTransformer or a mapping with input_paths_map and "
         "input_template"),
        (lambda: InputTransformer({"aws.events.x": "$.a"}, "x"),
         "'aws.events.x' is reserved for EventBridge's variables"),
    ]  # fmt: skip
    for make, message in cases:
        with pytest.raises(ConfigurationError, match=exactly(message)):
            make()


async def test_bus_configuration_errors_say_what_to_give(clock: VirtualClock) -> None:
    """Rule, archive and replay settings are refused with a message naming the value and the
    rule it breaks."""
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False))
    bus = mesh.bus()
    cases: list[tuple[Any, str]] = [
        (lambda: bus.archive("a b"),
         "archive name 'a b' must be 1-48 letters, digits, '.', '-' or '_'"),
        (lambda: bus.archive("a", retention=0),
         "retention must be a number from 1 to 9007199254740992, got 0"),
        (lambda: bus.rule("r", pattern={}, targets=42), "targets is a list of targets"),
    ]  # fmt: skip
    for make, message in cases:
        with pytest.raises(ConfigurationError, match=exactly(message)):
            make()
    assert bus.archive("huge", retention=2**53).retention == 2.0**53
    assert bus.archive("frac", retention=1.5).retention == 1.5
    with pytest.raises(ConfigurationError, match="retention"):
        bus.archive("over", retention=2**53 + 2)
    archive = bus.archive("a")
    with pytest.raises(EventMeshError, match=exactly(
        "bus 'default' cannot take events before the mesh runs: use `async with mesh:` first"
    )):  # fmt: skip
        await bus.put_events([entry()])
    async with mesh:
        with pytest.raises(
            ConfigurationError, match=exactly("a replay's start must be before its end")
        ):
            bus.replay(archive, EPOCH + 2, EPOCH + 1)
        with pytest.raises(ConfigurationError, match=exactly(
            "replay name 'a b' must be 1-64 letters, digits, .-_"
        )):  # fmt: skip
            bus.replay(archive, EPOCH, EPOCH + 1, name="a b")
        with pytest.raises(ConfigurationError, match=exactly("a replay named 'r' already exists")):
            bus.replay(archive, EPOCH, EPOCH + 1, name="r")
            bus.replay(archive, EPOCH, EPOCH + 1, name="r")


async def test_rule_and_pattern_objects_may_be_given(mesh: Mesh, clock: VirtualClock) -> None:
    """A compiled Pattern may be given to a rule or an archive; a replay's rules may be Rule
    objects of the bus, or ARNs of rules of a custom bus (``rule/<bus>/<name>``)."""
    bus = mesh.bus("orders")
    seen, other = Recorder(clock), Recorder(clock)
    pattern = Pattern({"detail-type": ["order"]})
    rule = bus.rule("r", pattern=pattern, targets=[seen])
    second = bus.rule("s", pattern={}, targets=[other])
    archive = bus.archive("a", pattern=pattern)
    assert rule.pattern is pattern and archive.pattern is pattern
    assert rule.schedule is None
    async with mesh:
        await bus.put_events([entry(), entry(DetailType="ping")])
        await clock.advance(0)
        seen.payloads.clear()
        other.payloads.clear()
        assert await archive.event_count() == 1
        await bus.replay(archive, EPOCH, EPOCH + 1, rules=[rule]).wait()
        await bus.replay(archive, EPOCH, EPOCH + 1, rules=[second.arn]).wait()
        await clock.advance(0)
    assert second.arn == RULE_ARN + "orders/s"
    assert len(seen.payloads) == 1 and len(other.payloads) == 1


# -- full targets ----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["lambda", "sns", "kinesis", "events"])
async def test_a_full_target_of_any_kind_is_throttled_after_the_internal_wait(
    clock: VirtualClock, kind: str
) -> None:
    """A delivery to a function, topic, stream or bus at its ``max_pending`` waits
    INTERNAL_WAIT (60 s) for room, then the attempt counts as THROTTLING and is retried, in
    the end to the dead-letter queue: never dropped for being full, never waiting for ever."""
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=0)
    gate = asyncio.Event()

    async def blocked(event: Any) -> None:
        await gate.wait()

    if kind == "lambda":

        @mesh.function(name="full", max_pending=1)
        async def full(event: Any, context: Context) -> None:
            await gate.wait()

        target: Any = "full"
    elif kind == "sns":
        target = mesh.topic("full", max_pending=1)
        target.subscribe(blocked)
    elif kind == "kinesis":
        target = mesh.stream("full", max_pending=1)
    else:
        target = mesh.bus("full", max_pending=1)
        target.rule("hold", pattern={}, targets=[blocked])
    dead = mesh.queue("dlq")
    bus = mesh.bus()
    rule = bus.rule("r", pattern={}, targets=[Target(target, max_retries=0, dead_letter=dead)])
    async with mesh:
        if kind == "lambda":
            await mesh.invoke("full", {}, invocation_type="Event")
        elif kind == "sns":
            await target.publish("filler")
        elif kind == "kinesis":
            await target.put_record("filler", "k")
        else:
            await target.put_events([entry()])
        await clock.advance(0)
        await bus.put_events([entry()])
        await clock.advance(59)
        assert rule.targets[0].attempts == 0
        await clock.advance(2)
        [message] = await dead.receive(10)
        gate.set()
    attributes = attributes_of(message)
    assert attributes["ERROR_CODE"] == "THROTTLING"
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"


# -- a failing store -------------------------------------------------------------------------
async def test_a_store_that_fails_fails_the_entry_and_the_replay(
    clock: VirtualClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """PutEvents answers InternalFailure, with the store's message, for an entry the bus
    could not archive (its store failed), takes the entries before it, and fails those after
    it with the same error without trying them (a store that is down makes one call wait for
    its bounded retry once, not once per entry); a replay whose store fails ends FAILED with
    the error, logged."""
    mesh = Mesh(
        clock=clock,
        storage=f"sqlite:///{tmp_path / 'mesh.db'}",
        telemetry=Telemetry(enabled=False),
        drain_timeout=0,
    )
    bus = mesh.bus()
    archive = bus.archive("a", pattern={"detail-type": ["kept"]})
    async with mesh:
        await bus.put_events([entry(DetailType="kept")])
        assert bus.events_put == 1
        await mesh.backend.close()
        answer = await bus.put_events(
            [entry(DetailType="other"), entry(DetailType="kept"), entry(DetailType="other")]
        )
        assert codes(answer) == [None, "InternalFailure", "InternalFailure"]
        message = messages(answer)[1]
        assert message is not None and message.endswith("is closed")
        assert messages(answer)[2] == message
        assert set(answer["Entries"][1]) == {"ErrorCode", "ErrorMessage"}
        assert (bus.events_put, bus.failed_entries) == (2, 2)
        replay = await bus.replay(archive, EPOCH, EPOCH + 1, name="broken").wait()
        assert replay.state == "FAILED"
        assert replay.error is not None and replay.error.startswith("BackendError: ")
        assert replay.error.endswith("is closed")
    lines = [record.getMessage() for record in caplog.records]
    assert "bus default: replay broken failed" in lines


# -- trace context ---------------------------------------------------------------------------
async def test_trace_context_follows_events_sent_and_forwarded(clock: VirtualClock) -> None:
    """With tracing on, the W3C trace context of the publisher follows the event: into the
    deliveries of an event a destination sends (``send``), across a bus target into the
    next bus's deliveries with the entry's TraceHeader, and into an HTTP target's request
    (``traceparent``); a function target's invocation is a ``pubsub`` trigger."""
    provider = TracerProvider()
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    mesh = Mesh(clock=clock, telemetry=Telemetry(provider), drain_timeout=2.0)
    tracer = provider.get_tracer("test")
    trace_ids: list[int] = []

    async def callback(event: dict[str, Any]) -> None:
        trace_ids.append(trace.get_current_span().get_span_context().trace_id)

    @mesh.function(name="fn")
    async def fn(event: Any, context: Context) -> None:
        pass

    bus = mesh.bus()
    second = mesh.bus("second")
    bus.rule("local", pattern={"source": ["eventmesh"]}, targets=[callback])
    async with Endpoint(path="/hook") as server:
        bus.rule("onward", pattern={"source": ["app.orders"]}, targets=[second, "fn"])
        hook = second.rule("hook", pattern={}, targets=[callback, server.url])
        async with mesh:
            with tracer.start_as_current_span("publisher") as span:
                await bus.send({"k": 1})
                await bus.put_events([entry(TraceHeader="Root=1-abc")])
            await clock.advance(0)
            await eventually(lambda: hook.targets[1].delivered == 1)
    trace_id = span.get_span_context().trace_id
    assert trace_ids == [trace_id, trace_id]
    [request] = server.requests
    assert f"-{trace_id:032x}-" in request.headers["traceparent"]
    assert request.headers["x-amzn-trace-id"] == "Root=1-abc"
    triggers = [
        s.attributes.get("faas.trigger") for s in spans.get_finished_spans() if s.attributes
    ]
    assert "pubsub" in triggers


# -- HTTP failures ---------------------------------------------------------------------------
async def test_http_connection_errors_and_invalid_urls(mesh: Mesh, clock: VirtualClock) -> None:
    """API destinations: a refused connection is CONNECTION_FAILURE, retried; a URL the client
    cannot use is SDK_CLIENT_ERROR, not retried; the message says which POST failed and
    how."""
    async with Endpoint(path="/events") as closed:
        url = closed.url  # nothing listens there once the server is closed
    dead = mesh.queue("dlq")
    bus = mesh.bus()
    rule = bus.rule("hook", pattern={}, targets=[
        Target(url, max_retries=1, dead_letter=dead),
        Target("http://[::1/x", max_retries=1, dead_letter=dead),
    ])  # fmt: skip
    async with mesh:
        await bus.put_events([entry()])
        await eventually(lambda: sum(target.attempts for target in rule.targets) == 2)
        await clock.advance(1.0)
        await eventually(lambda: all(target.failed == 1 for target in rule.targets))
        received = await dead.receive(10)
    by_code = {attributes_of(m)["ERROR_CODE"]: attributes_of(m) for m in received}
    assert set(by_code) == {"CONNECTION_FAILURE", "SDK_CLIENT_ERROR"}
    assert by_code["CONNECTION_FAILURE"]["ERROR_MESSAGE"].startswith(f"POST {url} failed: Connect")
    invalid = by_code["SDK_CLIENT_ERROR"]["ERROR_MESSAGE"]
    assert invalid.startswith("POST http://[::1/*** failed: InvalidURL(")  # the URL redacted
    assert [target.attempts for target in rule.targets] == [2, 1]
    assert "EXHAUSTED_RETRY_CONDITION" not in by_code["SDK_CLIENT_ERROR"]


async def test_http_targets_to_metadata_addresses_are_refused_when_added(mesh: Mesh) -> None:
    """Outbound HTTP refuses link-local and cloud metadata addresses: a rule whose target URL
    names one is refused when it is added."""
    bus = mesh.bus()
    with pytest.raises(ConfigurationError, match="metadata address"):
        bus.rule("hook", pattern={}, targets=["http://169.254.169.254/latest"])
    assert "hook" not in bus.rules


# -- functions as targets --------------------------------------------------------------------
async def test_a_function_object_is_a_lambda_target(mesh: Mesh, clock: VirtualClock) -> None:
    """A rule's target may be the function itself (not only its name): it is a ``lambda``
    target from the start, invoked with the event."""
    seen: list[Any] = []

    @mesh.function(name="fn")
    async def fn(event: Any, context: Context) -> None:
        seen.append(event["detail"])

    function = mesh.functions["fn"]
    bus = mesh.bus()
    rule = bus.rule("r", pattern={}, targets=[function])
    assert rule.targets[0].kind == "lambda"
    assert rule.targets[0].arn == "fn"
    async with mesh:
        await bus.put_events([entry({"n": 1})])
        await clock.advance(0)
    assert seen == [{"n": 1}]
    assert rule.targets[0].arn == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fn"


def test_a_predefined_variable_without_a_value_renders_like_a_missing_path() -> None:
    """A predefined variable the caller of ``render`` gives no value for is treated like a
    path with nothing at it: nothing inside a string, null outside."""
    transformer = InputTransformer({}, '{"a": "<aws.events.rule-arn>", "b": <aws.events.event>}')
    payload = transformer.render({"id": "e"}, {})
    assert (payload.text, payload.is_json) == ('{"a": "", "b": null}', True)


# -- targets named by ARN --------------------------------------------------------------------
async def test_a_target_arn_of_another_service_names_a_function(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A target given as a Lambda function ARN is that function; a short or unknown ARN is
    not a resource, and the mesh refuses it when it starts, naming it."""
    invoked: list[Any] = []

    @mesh.function(name="fn")
    async def fn(event: Any, context: Context) -> None:
        invoked.append(event["id"])

    bus = mesh.bus()
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fn"
    rule = bus.rule("r", pattern={}, targets=[arn])
    async with mesh:
        answer = await bus.put_events([entry()])
        await clock.advance(0)
    assert invoked == [answer["Entries"][0]["EventId"]]
    assert rule.targets[0].kind == "lambda"
    for name in ("arn:aws:sqs:inbox", f"arn:aws:sqs:us-east-1:{ACCOUNT}:nowhere"):
        other = Mesh(clock=clock, telemetry=Telemetry(enabled=False))
        other.queue("inbox")
        other.bus().rule("r", pattern={}, targets=[name])
        message = f"rule 'r': no function or resource '{name}' (no queue named '{name}')"
        with pytest.raises(ConfigurationError, match=exactly(message)):
            await other.start()
        await other.stop()


def test_a_target_describes_itself_without_credentials(clock: VirtualClock) -> None:
    """``repr`` of a Target shows what it wraps, a URL with its credentials masked."""
    assert repr(Target("https://user:secret@example.com/hook")) == (
        "<Target 'https://***@example.com/hook'>"
    )
    assert repr(Target("inbox")) == "<Target 'inbox'>"
    recorder = Recorder(clock)
    assert repr(Target(recorder)) == f"<Target {recorder!r}>"


# -- replays: state and pace -----------------------------------------------------------------
async def test_a_replays_state_before_during_and_after(mesh: Mesh, clock: VirtualClock) -> None:
    """A replay starts in STARTING with nothing counted and no end time; it runs without
    waiting on any clock (150 events go back within a few turns of the event loop); it ends
    COMPLETED without an error."""
    bus = mesh.bus()
    archive = bus.archive("a")
    seen = Recorder(clock)
    bus.rule("r", pattern={}, targets=[seen])
    async with mesh:
        for start in range(0, 150, 10):
            await bus.put_events([entry({"n": n}) for n in range(start, start + 10)])
        await clock.advance(5)
        seen.payloads.clear()
        replay = bus.replay(archive, EPOCH, EPOCH + 1)
        assert (replay.state, replay.events_total, replay.events_replayed) == ("STARTING", 0, 0)
        assert replay.ended_at is None and replay.error is None
        assert replay.started_at == EPOCH + 5
        for _ in range(50):
            if replay.done:
                break
            await asyncio.sleep(0)
        assert replay.done
        await clock.advance(0)
    assert (replay.state, replay.error, replay.events_total) == ("COMPLETED", None, 150)
    assert len(seen.payloads) == 150


async def test_stopping_the_mesh_cancels_replays_and_abandons_deliveries(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """At shutdown a bus cancels its running replays and abandons its unfinished deliveries,
    logging how many and how many were waiting to retry, counting them as dropped; a
    stopped bus takes no more events. Deliveries waiting to retry are not pending work."""
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=0)
    gate = asyncio.Event()

    async def blocked(event: Any) -> None:
        await gate.wait()

    bus = mesh.bus(max_pending=3)
    archive = bus.archive("a", pattern={"detail-type": ["kept"]})
    retrying = [Recorder(clock, failures=1000), Recorder(clock, failures=1000)]
    bus.rule("r", pattern={"detail-type": ["order"]},
             targets=[blocked, *(Target(r, max_retries=5) for r in retrying)])  # fmt: skip
    bus.rule("slow", pattern={"detail-type": ["kept"]}, targets=[blocked])
    async with mesh:
        for _ in range(2):
            await bus.put_events([entry(DetailType="kept")])
        await bus.put_events([entry()])
        for _ in range(5):
            await asyncio.sleep(0)
        assert all(len(r.payloads) == 1 for r in retrying)
        assert await bus.pending() == 3  # three blocked; the two retries wait
        replay = bus.replay(archive, EPOCH, EPOCH + 1)  # waits for room: the bus is full
        for _ in range(20):
            await asyncio.sleep(0)
        assert replay.state == "RUNNING"
        assert await bus.pending() == 4  # the replay counts too
    assert replay.state == "CANCELLED"
    assert bus.dropped == 5
    lines = [record.getMessage() for record in caplog.records]
    assert "abandoned: bus default 3 deliveries unfinished (0 waiting to retry)" in lines
    assert (
        "abandoned: bus default 2 deliveries unfinished (2 waiting to retry); memory storage "
        "keeps nothing after the process ends"
    ) in lines
    with pytest.raises(EventMeshError, match="before the mesh runs"):
        await bus.put_events([entry()])


async def test_a_destinations_deliveries_wait_for_room_in_their_targets(
    clock: VirtualClock,
) -> None:
    """A bus used as a Lambda destination takes the record over its own limit, but its
    deliveries to a full queue wait and throttle like any other: the destination's
    overflow does not reach the bus's targets."""
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=0)
    inbox = mesh.queue("inbox", max_pending=1)
    dead = mesh.queue("dlq")
    bus = mesh.bus()
    rule = bus.rule("results", pattern={"source": ["lambda"]},
                    targets=[Target(inbox, max_retries=0, dead_letter=dead)])  # fmt: skip

    @mesh.function(name="worker", on_success=bus)
    async def worker(event: Any, context: Context) -> int:
        return 1

    async with mesh:
        await inbox.send("filler")
        await mesh.invoke("worker", {}, invocation_type="Event")
        await clock.advance(1)
        assert (await inbox.stats()).total == 1
        await clock.advance(60)
        [message] = await dead.receive(10)
    assert attributes_of(message)["ERROR_CODE"] == "THROTTLING"
    assert rule.targets[0].delivered == 0


# -- retries through the store ---------------------------------------------------------------
async def test_a_retry_goes_back_to_the_target_that_failed(mesh: Mesh, clock: VirtualClock) -> None:
    """A retry waits in the store and comes back to the very target that failed: the right
    rule and the right one of its targets, even when targets of several rules are alike."""
    bus = mesh.bus()
    first, failing, other_rule, other_failing = (
        Recorder(clock),
        Recorder(clock, failures=1),
        Recorder(clock),
        Recorder(clock, failures=1),
    )
    bus.rule("r1", pattern={}, targets=[first, failing])
    bus.rule("r2", pattern={}, targets=[other_rule, other_failing])
    async with mesh:
        await bus.put_events([entry()])
        await clock.advance(3600)
    assert [len(r.payloads) for r in (first, failing, other_rule, other_failing)] == [1, 2, 1, 2]
    assert bus.delivered == 4


async def test_a_retry_whose_rule_is_gone_is_dropped_with_a_warning(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A retry waiting in the store whose rule was removed meanwhile is not delivered
    anywhere: it is dropped with a warning naming the event."""
    bus = mesh.bus(max_pending=1)
    failing, other = Recorder(clock, failures=1), Recorder(clock)
    bus.rule("gone", pattern={"detail-type": ["order"]}, targets=[failing])
    bus.rule("stays", pattern={"detail-type": ["never"]}, targets=[other])
    async with mesh:
        answer = await bus.put_events([entry()])
        await clock.advance(0)
        del bus.rules["gone"]
        await clock.advance(3600)
        assert await bus.pending() == 0
        await bus.put_events([entry(DetailType="other")], timeout=0)  # its place is free
    event_id = answer["Entries"][0]["EventId"]
    assert len(failing.payloads) == 1 and other.payloads == []
    assert f"bus default: delivery of {event_id} dropped: its rule or target no longer exists" in [
        record.getMessage() for record in caplog.records
    ]


async def test_on_durable_storage_deliveries_wait_in_the_store_for_the_next_start(
    clock: VirtualClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """On durable storage every delivery, to every target, is stored first; a retry still
    waiting when the
    mesh stops stays in the store (logged, not counted as dropped) and is delivered by the
    next mesh on the same storage, with its trace header."""
    caplog.set_level("INFO", logger="eventmesh.buses")
    url = f"sqlite:///{tmp_path / 'mesh.db'}"
    first = Mesh(clock=clock, storage=url, telemetry=Telemetry(enabled=False), drain_timeout=0)
    broken, fine = Recorder(clock, failures=1000), Recorder(clock)
    first.bus().rule("r", pattern={}, targets=[Target(broken, max_retries=5), fine])
    async with first:
        answer = await first.bus().put_events([entry({"n": 1}, TraceHeader="Root=1-abc")])
        await clock.advance(0)  # the clock waits for the store's answers
        assert len(broken.payloads) == 1
        assert len(fine.payloads) == 1  # every target of the rule, each stored
        assert await first.bus().pending() == 0  # the retry waits: not work under way
    assert first.bus().dropped == 0
    assert (
        "bus default: 1 deliveries stay in the store for the next start (1 waiting to retry)"
        in [record.getMessage() for record in caplog.records]
    )

    second = Mesh(clock=clock, storage=url, telemetry=Telemetry(enabled=False), drain_timeout=0)
    recovered = Recorder(clock)
    second.bus().rule("r", pattern={}, targets=[Target(recovered, max_retries=5), fine])
    async with second:
        await clock.advance(600)
    [event] = recovered.payloads
    assert event["id"] == answer["Entries"][0]["EventId"]
    assert event["detail"] == {"n": 1}


async def test_a_delivery_the_store_cannot_take_is_counted_and_frees_its_place(
    clock: VirtualClock, tmp_path: Path
) -> None:
    """On durable storage every delivery is stored first. One the store cannot take is
    accounted for (the entry fails, or the delivery counts as dropped) and gives back its
    place under ``max_pending``: a bus never loses an event silently, and never stays full
    for work that no longer exists."""
    mesh = Mesh(
        clock=clock,
        storage=f"sqlite:///{tmp_path / 'mesh.db'}",
        telemetry=Telemetry(enabled=False),
        drain_timeout=0,
    )
    bus = mesh.bus(max_pending=1)
    bus.rule("r", pattern={}, targets=[Recorder(clock)])
    async with mesh:
        await mesh.backend.close()
        answer = await bus.put_events([entry()])
        await clock.advance(0)
        assert answer["FailedEntryCount"] == 1 or bus.dropped == 1
        await bus.put_events([entry()], timeout=0)  # no BackpressureError: the place is free


# -- places under max_pending ----------------------------------------------------------------
async def test_a_delivery_keeps_its_place_under_max_pending_until_it_ends(
    clock: VirtualClock,
) -> None:
    """A bus's pending work is its deliveries not yet completed, those waiting to retry
    included: a delivery holds its place under ``max_pending`` through every retry and
    gives it back once delivered (or given up), whether it ended on its first attempt or on
    a retry."""
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=0)
    bus = mesh.bus(max_pending=1)
    flaky = Recorder(clock, failures=3)
    bus.rule("r", pattern={"detail-type": ["order"]}, targets=[Target(flaky, max_retries=5)])
    bus.rule("ok", pattern={"detail-type": ["ok"]}, targets=[Recorder(clock)])
    async with mesh:
        await bus.put_events([entry(DetailType="ok")])
        await clock.advance(0)
        await bus.put_events([entry()], timeout=0)  # the first delivery gave its place back
        await clock.advance(0)
        full = (
            "bus 'default' has 1 pending, at its limit of 1 (max_pending); consumers have not "
            "freed room"
        )
        for _ in range(2):  # after the first attempt, then after the first retry
            with pytest.raises(BackpressureError, match=exactly(full)):
                await bus.put_events([entry(DetailType="ok")], timeout=0)
            await clock.advance(1.0)
        await clock.advance(3600)
        assert len(flaky.payloads) == 4
        await bus.put_events([entry(DetailType="ok")], timeout=0)  # given back at the end


# -- what a stored retry carries -------------------------------------------------------------
async def test_a_retried_forward_still_knows_the_buses_it_went_through(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """An event forwarded from bus to bus never enters a bus twice, even when one of the
    forwards was retried from the store: a -> b, b -> c throttled (c full) and retried,
    then c -> a is refused because the event came through a."""
    gate = asyncio.Event()

    async def hold(event: Any) -> None:
        await gate.wait()

    a, b, c = mesh.bus("a"), mesh.bus("b"), mesh.bus("c", max_pending=1)
    to_b = a.rule("to-b", pattern={"detail-type": ["order"]}, targets=[b])
    b.rule("to-c", pattern={"detail-type": ["order"]}, targets=[Target(c, max_retries=3)])
    c.rule("hold", pattern={"detail-type": ["hold"]}, targets=[hold])
    back = c.rule("back", pattern={"detail-type": ["order"]}, targets=[a])
    async with mesh:
        await c.put_events([entry(DetailType="hold")])  # c is full
        await a.put_events([entry()])
        await clock.advance(60.2)  # b -> c waited 60 s, throttled; its retry comes in (0.5, 1]
        gate.set()
        await clock.advance(0)
        await clock.advance(5)
    assert b.rules["to-c"].targets[0].attempts == 2
    assert (back.targets[0].attempts, back.targets[0].failed) == (1, 1)
    assert to_b.matched == 1


async def test_trace_context_is_kept_by_archives_and_retries(clock: VirtualClock) -> None:
    """With tracing on, the publisher's trace context is kept with the event: by a retry
    that waited in the store, and by the archive of a bus the event was forwarded or sent
    to (a replay's deliveries run in it)."""
    provider = TracerProvider()
    mesh = Mesh(clock=clock, telemetry=Telemetry(provider), drain_timeout=2.0)
    tracer = provider.get_tracer("test")
    seen: list[tuple[str, int]] = []

    def recorder(label: str, failures: int = 0) -> Any:
        left = [failures]

        async def record(event: dict[str, Any]) -> None:
            seen.append((label, trace.get_current_span().get_span_context().trace_id))
            if left[0]:
                left[0] -= 1
                raise RuntimeError("down")

        return record

    bus = mesh.bus()
    second = mesh.bus("second")
    second_archive = second.archive("all")
    archive = bus.archive("sent", pattern={"source": ["eventmesh"]})
    bus.rule("retry", pattern={"source": ["app.orders"]}, targets=[recorder("retry", 1), second])
    second.rule(
        "replayed", pattern={"replay-name": [{"exists": True}]}, targets=[recorder("second")]
    )
    bus.rule("replayed", pattern={"replay-name": [{"exists": True}]},
             targets=[recorder("sent")])  # fmt: skip
    async with mesh:
        with tracer.start_as_current_span("publisher") as span:
            await bus.put_events([entry()])
            await bus.send({"k": 1})
        await clock.advance(3600)
        await second.replay(second_archive, EPOCH, EPOCH + 1).wait()
        await bus.replay(archive, EPOCH, EPOCH + 1).wait()
        await clock.advance(0)
    trace_id = span.get_span_context().trace_id
    assert sorted(seen) == sorted(
        [("retry", trace_id), ("retry", trace_id), ("second", trace_id), ("sent", trace_id)]
    )


async def test_a_destinations_overflow_does_not_reach_the_buses_callables(
    clock: VirtualClock,
) -> None:
    """A bus used as a Lambda destination takes the record over its own limit, but that
    overflow stays with the destination: a callable target sending to a full queue waits
    for room like any producer."""
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=0)
    inbox = mesh.queue("inbox", max_pending=1)
    bus = mesh.bus()

    async def forward(event: dict[str, Any]) -> None:
        await inbox.send("from the bus")

    bus.rule("results", pattern={"source": ["lambda"]}, targets=[forward])

    @mesh.function(name="worker", on_success=bus)
    async def worker(event: Any, context: Context) -> int:
        return 1

    async with mesh:
        await inbox.send("filler")
        await mesh.invoke("worker", {}, invocation_type="Event")
        await clock.advance(1)
        assert (await inbox.stats()).total == 1  # the callable waits for room
        [filler] = await inbox.receive(1)
        await inbox.delete(filler.receipt_handle)
        await clock.advance(1)
        [message] = await inbox.receive(1)
    assert message.body == "from the bus"


async def test_a_retry_under_way_is_pending_work(mesh: Mesh, clock: VirtualClock) -> None:
    """A retry taken from the store and under way counts as the bus's pending work (the mesh
    waits for it when it drains), as a first attempt under way does."""
    gate = asyncio.Event()
    calls: list[int] = []

    async def fails_then_blocks(event: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("down")
        await gate.wait()

    bus = mesh.bus()
    bus.rule("r", pattern={}, targets=[fails_then_blocks])
    async with mesh:
        await bus.put_events([entry()])
        await clock.advance(0)
        assert await bus.pending() == 0  # waiting to retry
        await clock.advance(1.0)
        assert len(calls) == 2
        assert await bus.pending() == 1  # the retry is under way
        gate.set()
        await clock.advance(0)
        assert await bus.pending() == 0


async def test_each_bus_retries_its_own_deliveries(mesh: Mesh, clock: VirtualClock) -> None:
    """Retries wait in the store per bus: two buses with alike rules each retry their own
    delivery to their own target."""
    one, two = Recorder(clock, failures=1), Recorder(clock, failures=1)
    mesh.bus("one").rule("r", pattern={}, targets=[one])
    mesh.bus("two").rule("r", pattern={}, targets=[two])
    async with mesh:
        await mesh.bus("one").put_events([entry({"bus": 1})])
        await mesh.bus("two").put_events([entry({"bus": 2})])
        await clock.advance(3600)
    assert [event["detail"] for event in one.payloads] == [{"bus": 1}] * 2
    assert [event["detail"] for event in two.payloads] == [{"bus": 2}] * 2


async def test_max_pending_limits_a_bus_on_durable_storage_too(
    clock: VirtualClock, tmp_path: Path
) -> None:
    """A bus's ``max_pending`` applies on every backend: on durable storage a full bus
    refuses a call that cannot wait."""
    mesh = Mesh(
        clock=clock,
        storage=f"sqlite:///{tmp_path / 'mesh.db'}",
        telemetry=Telemetry(enabled=False),
        drain_timeout=0,
    )
    gate = asyncio.Event()

    async def hold(event: Any) -> None:
        await gate.wait()

    bus = mesh.bus(max_pending=1)
    bus.rule("r", pattern={}, targets=[hold])
    async with mesh:
        await bus.put_events([entry()])
        await clock.advance(0)
        with pytest.raises(BackpressureError):
            await bus.put_events([entry()], timeout=0)
        gate.set()
        await clock.advance(0)


async def test_a_retry_is_transformed_like_the_first_attempt(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A retry sends what the first attempt sent: the input transformer runs again with the
    rule's predefined variables."""
    flaky = Recorder(clock, failures=1)
    bus = mesh.bus()
    template = '{"rule": "<aws.events.rule-name>", "id": <id>}'
    bus.rule("shaped", pattern={}, targets=[
        Target(flaky, input_transformer={"InputPathsMap": {"id": "$.detail.id"},
                                         "InputTemplate": template}),
    ])  # fmt: skip
    async with mesh:
        await bus.put_events([entry({"id": 7})])
        await clock.advance(3600)
    assert flaky.payloads == [{"rule": "shaped", "id": 7}] * 2


async def test_on_durable_storage_deliveries_keep_the_publishers_trace(
    clock: VirtualClock, tmp_path: Path
) -> None:
    """On durable storage the stored delivery keeps the publisher's W3C trace context: the
    target runs in it."""
    provider = TracerProvider()
    mesh = Mesh(
        clock=clock,
        storage=f"sqlite:///{tmp_path / 'mesh.db'}",
        telemetry=Telemetry(provider),
        drain_timeout=0,
    )
    tracer = provider.get_tracer("test")
    trace_ids: list[int] = []

    async def callback(event: dict[str, Any]) -> None:
        trace_ids.append(trace.get_current_span().get_span_context().trace_id)

    bus = mesh.bus()
    bus.rule("r", pattern={}, targets=[callback])
    async with mesh:
        with tracer.start_as_current_span("publisher") as span:
            await bus.put_events([entry()])
        await clock.advance(0)
        await clock.advance(1)
    assert trace_ids == [span.get_span_context().trace_id]


async def test_a_retried_forward_keeps_the_trace_for_the_next_buses_archive(
    clock: VirtualClock,
) -> None:
    """With tracing on, an event forwarded to another bus on a retry (the first attempt was
    throttled) still carries the publisher's trace context: the next bus archives it with
    the event, and a replay's deliveries run in it."""
    provider = TracerProvider()
    mesh = Mesh(clock=clock, telemetry=Telemetry(provider), drain_timeout=0)
    tracer = provider.get_tracer("test")
    gate = asyncio.Event()
    trace_ids: list[int] = []

    async def hold(event: Any) -> None:
        await gate.wait()

    async def replayed(event: dict[str, Any]) -> None:
        trace_ids.append(trace.get_current_span().get_span_context().trace_id)

    a, b = mesh.bus("a"), mesh.bus("b", max_pending=1)
    a.rule("to-b", pattern={"detail-type": ["order"]}, targets=[Target(b, max_retries=3)])
    b.rule("hold", pattern={"detail-type": ["hold"]}, targets=[hold])
    b.rule("replayed", pattern={"replay-name": [{"exists": True}]}, targets=[replayed])
    archive = b.archive("orders", pattern={"detail-type": ["order"]})
    async with mesh:
        await b.put_events([entry(DetailType="hold")])  # b is full
        with tracer.start_as_current_span("publisher") as span:
            await a.put_events([entry()])
        await clock.advance(60.2)  # a -> b waited 60 s, throttled; its retry comes in (0.5, 1]
        gate.set()
        await clock.advance(5)
        assert a.rules["to-b"].targets[0].attempts == 2
        assert await archive.event_count() == 1
        await b.replay(archive, EPOCH, EPOCH + 100).wait()
        await clock.advance(0)
    assert trace_ids == [span.get_span_context().trace_id]
