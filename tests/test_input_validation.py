"""Bad input gets a clear error at the call: the error class, and a message naming the field.

Each row is one bad input to one public producer or configuration call. Before the input
checking layer these were stored silently (NaN as ``null``, an empty SQS body) or failed with a
raw ``TypeError``, ``AttributeError``, ``UnicodeEncodeError`` or ``OverflowError``.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from eventmesh import (
    ConfigurationError,
    Context,
    Mesh,
    PatternError,
    PayloadError,
    Target,
    Telemetry,
)
from eventmesh.resources.queue import Queue
from eventmesh.testing import VirtualClock

NAN = float("nan")
INF = float("inf")
LONE = "\ud800"  # a lone surrogate: not encodable as UTF-8

Producer = Callable[[Mesh], Awaitable[Any]]


def _echo(event: Any, context: Context) -> Any:
    return event


def _resources(mesh: Mesh) -> None:
    mesh.function(name="echo")(_echo)
    mesh.queue("q")
    mesh.queue("f.fifo")
    mesh.topic("t")
    mesh.stream("s")
    mesh.bucket("bkt")
    mesh.bus()


def q(mesh: Mesh) -> Queue:
    return mesh.queue("q")


# (id, call, error class, text the message must start with or contain)
PRODUCERS: list[tuple[str, Producer, type[Exception], str]] = [
    # queue.send
    ("send-nan", lambda m: q(m).send({"price": NAN}), PayloadError, "body.price: "),
    ("send-inf", lambda m: q(m).send([1, INF]), PayloadError, "body[1]: "),
    ("send-minus-inf", lambda m: q(m).send({"a": {"b": -INF}}), PayloadError, "body.a.b: "),
    ("send-lone-surrogate", lambda m: q(m).send(f"x{LONE}"), PayloadError, "body: "),
    ("send-surrogate-in-json", lambda m: q(m).send({"a": LONE}), PayloadError, "body.a: "),
    ("send-non-str-key", lambda m: q(m).send({1: "x"}), PayloadError, "body[1]: "),
    ("send-empty-body", lambda m: q(m).send(""), PayloadError, "body: must not be empty"),
    ("send-no-body", lambda m: q(m).send(None), PayloadError, "body: "),
    ("send-invalid-char", lambda m: q(m).send("a\x00b"), PayloadError, "body: invalid char"),
    ("send-u+fffe", lambda m: q(m).send("a\ufffeb"), PayloadError, "body: invalid char"),
    ("send-bytes-control", lambda m: q(m).send(b"a\x07"), PayloadError, "body: invalid char"),
    ("send-attrs-list", lambda m: q(m).send("x", ["a"]), PayloadError, "attributes: "),  # type: ignore[arg-type]
    ("send-attrs-int-key", lambda m: q(m).send("x", {1: "a"}), PayloadError, "attributes: "),
    ("send-attr-nan", lambda m: q(m).send("x", {"n": NAN}), PayloadError, "attributes['n']"),
    (
        "send-attr-number-text",
        lambda m: q(m).send("x", {"n": {"DataType": "Number", "StringValue": "abc"}}),
        PayloadError,
        "attributes['n']: 'abc' is not a number",
    ),
    (
        "send-attr-number-nan-text",
        lambda m: q(m).send("x", {"n": {"DataType": "Number", "StringValue": "nan"}}),
        PayloadError,
        "attributes['n']: 'nan' is not a number",
    ),
    (
        "send-attr-empty",
        lambda m: q(m).send("x", {"s": ""}),
        PayloadError,
        "attributes['s']: must contain a non-empty value",
    ),
    (
        "send-attr-string-value-not-str",
        lambda m: q(m).send("x", {"s": {"DataType": "String", "StringValue": ["a"]}}),
        PayloadError,
        "attributes['s'].StringValue",
    ),
    ("send-attr-surrogate", lambda m: q(m).send("x", {"s": LONE}), PayloadError, "attributes['s']"),
    (
        "send-fifo-group-int",
        lambda m: m.queue("f.fifo").send("x", group_id=5, deduplication_id="d"),
        PayloadError,
        "group_id: ",
    ),
    (
        "send-fifo-dedup-surrogate",
        lambda m: m.queue("f.fifo").send("x", group_id="g", deduplication_id=LONE),
        PayloadError,
        "deduplication_id: ",
    ),
    # queue.send_batch: the request itself is malformed, so the whole call is refused
    ("batch-none", lambda m: q(m).send_batch(None), PayloadError, "entries: "),  # type: ignore[arg-type]
    (
        "batch-generator",
        lambda m: q(m).send_batch({"body": str(i)} for i in range(2)),  # type: ignore[arg-type]
        PayloadError,
        "entries: ",
    ),
    ("batch-empty", lambda m: q(m).send_batch([]), PayloadError, "entries: "),
    (
        "batch-entry-not-mapping",
        lambda m: q(m).send_batch([{"body": "a"}, "b"]),  # type: ignore[list-item]
        PayloadError,
        "entries[1]: ",
    ),
    (
        "batch-no-body",
        lambda m: q(m).send_batch([{"body": "a"}, {"body": "b"}, {"id": "c"}]),
        PayloadError,
        "entries[2].body: ",
    ),
    (
        "batch-aws-field-name",
        lambda m: q(m).send_batch([{"MessageBody": "a"}]),
        PayloadError,
        "entries[0]: unknown field(s) MessageBody",
    ),
    (
        "batch-nan-body",
        lambda m: q(m).send_batch([{"body": "a"}, {"body": {"v": NAN}}]),
        PayloadError,
        "entries[1].body.v: ",
    ),
    (
        "batch-attrs-wrong-shape",
        lambda m: q(m).send_batch([{"body": "a", "attributes": "color=red"}]),
        PayloadError,
        "entries[0].attributes: ",
    ),
    (
        "batch-bad-id",
        lambda m: q(m).send_batch([{"id": "a b", "body": "a"}]),
        PayloadError,
        "entries[0].id: ",
    ),
    # topic.publish
    ("publish-nan", lambda m: m.topic("t").publish({"v": NAN}), PayloadError, "message.v: "),
    ("publish-surrogate", lambda m: m.topic("t").publish(LONE), PayloadError, "message: "),
    ("publish-none", lambda m: m.topic("t").publish(None), PayloadError, "message: "),
    (
        "publish-attrs-str",
        lambda m: m.topic("t").publish("x", attributes="a=b"),  # type: ignore[arg-type]
        PayloadError,
        "attributes: ",
    ),
    (
        "publish-attr-inf",
        lambda m: m.topic("t").publish("x", attributes={"n": INF}),
        PayloadError,
        "attributes['n']",
    ),
    (
        "publish-attr-array-nan",
        lambda m: m.topic("t").publish("x", attributes={"a": [1, NAN]}),
        PayloadError,
        "attributes['a'][1]: ",
    ),
    # stream.put_record / put_records (Kinesis validates the whole request)
    ("put-record-nan", lambda m: m.stream("s").put_record({"v": NAN}, "k"), PayloadError, "data.v"),
    ("put-record-surrogate", lambda m: m.stream("s").put_record(LONE, "k"), PayloadError, "data: "),
    ("put-record-none", lambda m: m.stream("s").put_record(None, "k"), PayloadError, "data: "),
    (
        "put-record-key-surrogate",
        lambda m: m.stream("s").put_record("x", LONE),
        PayloadError,
        "partition_key: ",
    ),
    (
        "put-record-hash-key-inf",
        lambda m: m.stream("s").put_record("x", "k", explicit_hash_key=INF),  # type: ignore[arg-type]
        PayloadError,
        "explicit_hash_key: ",
    ),
    ("put-records-none", lambda m: m.stream("s").put_records(None), PayloadError, "entries: "),  # type: ignore[arg-type]
    (
        "put-records-generator",
        lambda m: m.stream("s").put_records(
            {"data": "a", "partition_key": "k"}
            for _ in range(2)  # type: ignore[arg-type]
        ),
        PayloadError,
        "entries: ",
    ),
    (
        "put-records-nan",
        lambda m: m.stream("s").put_records(
            [{"data": "a", "partition_key": "k"}, {"data": [NAN], "partition_key": "k"}]
        ),
        PayloadError,
        "entries[1].data[0]: ",
    ),
    # bucket.put_object
    (
        "put-object-surrogate",
        lambda m: m.bucket("bkt").put_object("k", LONE),
        PayloadError,
        "body: ",
    ),
    ("put-object-key", lambda m: m.bucket("bkt").put_object(LONE, "x"), PayloadError, "key: "),
    (
        "put-object-metadata-list",
        lambda m: m.bucket("bkt").put_object("k", "x", metadata=["a"]),  # type: ignore[arg-type]
        PayloadError,
        "metadata: ",
    ),
    (
        "put-object-metadata-surrogate",
        lambda m: m.bucket("bkt").put_object("k", "x", metadata={"a": LONE}),
        PayloadError,
        "metadata['a']: ",
    ),
    # bus.put_events: the call itself
    ("put-events-none", lambda m: m.bus().put_events(None), PayloadError, "entries: "),  # type: ignore[arg-type]
    # mesh.invoke
    ("invoke-name-none", lambda m: m.invoke(None), ConfigurationError, "name: "),  # type: ignore[arg-type]
    ("invoke-nan", lambda m: m.invoke("echo", {"v": NAN}), PayloadError, "payload.v: "),
    ("invoke-event-nan", lambda m: m.invoke("echo", [INF], "Event"), PayloadError, "payload[0]: "),
    ("invoke-dry-run-nan", lambda m: m.invoke("echo", NAN, "DryRun"), PayloadError, "payload: "),
    ("invoke-surrogate", lambda m: m.invoke("echo", {"a": LONE}), PayloadError, "payload.a: "),
    (
        "invoke-client-context-list",
        lambda m: m.invoke("echo", {}, client_context=["a"]),  # type: ignore[arg-type]
        PayloadError,
        "client_context: ",
    ),
    (
        "invoke-client-context-nan",
        lambda m: m.invoke("echo", {}, client_context={"custom": {"v": NAN}}),
        PayloadError,
        "client_context.custom.v: ",
    ),
    (
        "invoke-client-context-too-large",
        lambda m: m.invoke("echo", {}, client_context={"custom": {"v": "x" * 3000}}),
        PayloadError,
        "client_context: ",
    ),
]


@dataclasses.dataclass
class Reading:
    value: float


class Level(float, enum.Enum):
    UNKNOWN = NAN


def _number(text: str) -> dict[str, dict[str, str]]:
    return {"n": {"DataType": "Number", "StringValue": text}}


PRODUCERS += [
    # SQS's and SNS's Number: up to 38 digits of precision, 0 or 10^-128 to 10^+126
    ("send-attr-number-too-large", lambda m: q(m).send("x", _number("1e127")), PayloadError,
     "attributes['n']: '1e127' is not a Number SQS and SNS can hold"),
    ("send-attr-number-too-small", lambda m: q(m).send("x", _number("-1e-129")), PayloadError,
     "attributes['n']: '-1e-129' is not a Number SQS and SNS can hold"),
    ("send-attr-number-39-digits", lambda m: q(m).send("x", _number("1" * 39)), PayloadError,
     "attributes['n']: '111111111111111111111111111111111111111' is not a Number"),
    ("send-attr-number-huge-exponent",
     lambda m: q(m).send("x", _number("1e99999999999999999999")), PayloadError,
     "attributes['n']: '1e99999999999999999999' is not a Number"),
    ("publish-attr-number-too-large",
     lambda m: m.topic("t").publish("x", attributes=_number("1e999")), PayloadError,
     "attributes['n']: '1e999' is not a Number SQS and SNS can hold"),
    # orjson writes dataclasses and enums natively, NaN inside them as null too
    ("send-nan-in-dataclass", lambda m: q(m).send({"a": Reading(NAN)}), PayloadError,
     "body.a.value: not JSON-serialisable: nan"),
    ("invoke-inf-in-dataclass", lambda m: m.invoke("echo", [Reading(INF)]), PayloadError,
     "payload[0].value: not JSON-serialisable: inf"),
    ("publish-nan-enum", lambda m: m.topic("t").publish({"level": Level.UNKNOWN}),
     PayloadError, "message.level: not JSON-serialisable: <Level.UNKNOWN: nan>"),
    ("receive-visibility-text", lambda m: q(m).receive(visibility_timeout="5"),
     ConfigurationError, "visibility_timeout must be a number from 0 to 43200"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("call", "error", "field"),
    [pytest.param(call, error, field, id=name) for name, call, error, field in PRODUCERS],
)
async def test_a_bad_producer_input_is_refused_naming_the_field(
    mesh: Mesh, call: Producer, error: type[Exception], field: str
) -> None:
    _resources(mesh)
    async with mesh:
        with pytest.raises(error) as caught:
            await call(mesh)
        assert str(caught.value).startswith(field) or field in str(caught.value)
        assert (await q(mesh).stats()).total == 0  # nothing was stored on the way


Configure = Callable[[Mesh], Any]

CONFIGURATION: list[tuple[str, Configure, type[Exception], str]] = [
    ("rate-overflow", lambda m: m.schedule("rate(99999999999999999999 minutes)", "echo"),
     ConfigurationError, "rate(99999999999999999999 minutes): value"),
    ("timezone-none", lambda m: m.schedule("rate(1 minute)", "echo", timezone=None),
     ConfigurationError, "timezone: "),
    ("timezone-int", lambda m: m.schedule("cron(0 12 * * ? *)", "echo", timezone=1),
     ConfigurationError, "timezone: "),
    ("timezone-surrogate", lambda m: m.schedule("rate(1 minute)", "echo", timezone=LONE),
     ConfigurationError, "timezone: "),
    ("expression-surrogate", lambda m: m.schedule(f"rate(1 {LONE})", "echo"),
     ConfigurationError, "expression: "),
    ("schedule-input-nan", lambda m: m.schedule("rate(1 minute)", "echo", input={"v": NAN}),
     ConfigurationError, "input.v: "),
    ("rule-target-input-nan", lambda m: Target("echo", input=[NAN]),
     ConfigurationError, "input[0]: "),
    ("function-name-int", lambda m: m.function(name=5)(_echo),
     ConfigurationError, "function name 5"),
    ("function-environment-surrogate",
     lambda m: m.function(name="f", environment={"K": LONE})(_echo),
     ConfigurationError, "environment['K']: "),
    ("alias-name-int", lambda m: m.alias("echo", 5, "$LATEST"),
     ConfigurationError, "alias name 5"),
    ("queue-fifo-text", lambda m: m.queue("x", fifo="yes"), ConfigurationError, "fifo: "),
    ("queue-dedup-text", lambda m: m.queue("x.fifo", content_based_deduplication="no"),
     ConfigurationError, "content_based_deduplication: "),
    ("queue-redefined", lambda m: m.queue("q", visibility_timeout=60, delay=5),
     ConfigurationError, "queue 'q' already exists with other settings: delay (exists: the "
     "default, asked: 5), visibility_timeout (exists: the default, asked: 60)"),
    ("stream-redefined", lambda m: m.stream("s", shards=2),
     ConfigurationError, "stream 's' already exists with other settings: shards"),
    ("mapping-window-text", lambda m: m.queue("q").subscribe("echo", batching_window="1"),
     ConfigurationError, "batching_window: "),
    ("mapping-concurrency-text", lambda m: m.queue("q").subscribe("echo", max_concurrency="5"),
     ConfigurationError, "max_concurrency: "),
    ("mapping-filters-mapping",
     lambda m: m.queue("q").subscribe("echo", filters={"body": {"a": [1]}}),
     ConfigurationError, "filters: "),
    ("mapping-function-int", lambda m: m.queue("q").subscribe(5),
     ConfigurationError, "function: "),
    ("mapping-timestamp-nan", lambda m: m.stream("s").subscribe(
        "echo", starting_position="AT_TIMESTAMP", starting_position_timestamp=NAN),
     ConfigurationError, "starting_position_timestamp"),
    ("notify-prefix-int", lambda m: m.bucket("bkt").notify("echo", prefix=5),
     ConfigurationError, "prefix: "),
    ("notify-events-generator",
     lambda m: m.bucket("bkt").notify("echo", events=(e for e in ["s3:ObjectCreated:*"])),
     ConfigurationError, "events: "),
    ("mesh-drain-timeout-nan", lambda m: Mesh(drain_timeout=NAN),
     ConfigurationError, "drain_timeout: "),
    ("mesh-drain-timeout-text", lambda m: Mesh(drain_timeout="5"),
     ConfigurationError, "drain_timeout: "),
    ("mesh-idle-timeout-nan", lambda m: Mesh(environment_idle_timeout=NAN),
     ConfigurationError, "environment_idle_timeout: "),
    ("mesh-region-int", lambda m: Mesh(region=5), ConfigurationError, "region: "),
    ("mesh-storage-int", lambda m: Mesh(storage=5), ConfigurationError, "storage: "),
    # Settings that reached float(), JSON or UTF-8 before any check did.
    ("function-timeout-huge-int", lambda m: m.function(name="f", timeout=10**400)(_echo),
     ConfigurationError, "timeout must be a number from 1 to 900"),
    ("queue-delay-text", lambda m: m.queue("x", delay="5"),
     ConfigurationError, "delay must be a number from 0 to 900"),
    ("queue-retention-huge-int", lambda m: m.queue("x", retention=10**400),
     ConfigurationError, "retention must be a number from 60 to 1209600"),
    ("queue-visibility-dict", lambda m: m.queue("x", visibility_timeout={}),
     ConfigurationError, "visibility_timeout must be a number from 0 to 43200"),
    ("schedule-expression-bytes", lambda m: m.schedule(b"rate(1 minute)", "echo"),
     ConfigurationError, "schedule expression must be a str"),
    ("schedule-window-huge-int",
     lambda m: m.schedule("rate(1 minute)", "echo", flexible_window=2**70),
     ConfigurationError, "flexible_window must be a whole number of minutes"),
    ("schedule-target-surrogate", lambda m: m.schedule("rate(1 minute)", LONE),
     ConfigurationError, "target: a lone surrogate"),
    ("stream-mapping-function-surrogate", lambda m: m.stream("s").subscribe(LONE),
     ConfigurationError, "function: a lone surrogate"),
    ("mapping-timestamp-huge-int", lambda m: m.stream("s").subscribe(
        "echo", starting_position="AT_TIMESTAMP", starting_position_timestamp=10**400),
     ConfigurationError, "starting_position_timestamp is epoch seconds or a datetime"),
    ("delivery-policy-int-key", lambda m: m.topic("t").subscribe("echo", delivery_policy={1: 2}),
     ConfigurationError, "delivery_policy: the name 1 is not a str"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("call", "error", "field"),
    [pytest.param(call, error, field, id=name) for name, call, error, field in CONFIGURATION],
)
def test_a_bad_setting_is_refused_naming_the_field(
    mesh: Mesh, call: Configure, error: type[Exception], field: str
) -> None:
    _resources(mesh)
    with pytest.raises(error) as caught:
        call(mesh)
    assert str(caught.value).startswith(field)


@pytest.mark.parametrize("resource", ["queue", "stream"])
def test_a_second_mapping_of_a_function_to_one_source_is_refused(mesh: Mesh, resource: str) -> None:
    """CreateEventSourceMapping answers ResourceConflictException ("... provided mapping
    already exists. Please update or delete the existing mapping")."""
    _resources(mesh)
    source = mesh.queue("q") if resource == "queue" else mesh.stream("s")
    source.subscribe(mesh.get_function("echo"))
    with pytest.raises(ConfigurationError) as caught:
        source.subscribe("echo")
    assert "to function 'echo' already exists (Lambda's ResourceConflictException)" in str(
        caught.value
    )
    assert len(source.mappings) == 1


def test_the_same_function_may_map_to_two_sources(mesh: Mesh) -> None:
    _resources(mesh)
    mesh.queue("q").subscribe("echo")
    mesh.queue("q2").subscribe("echo")
    assert len(mesh.queue("q2").mappings) == 1


async def test_a_dead_letter_queue_that_does_not_exist_is_refused_at_start(mesh: Mesh) -> None:
    mesh.queue("jobs", max_receive_count=3, dead_letter="nowhere")
    with pytest.raises(ConfigurationError, match="queue 'jobs': dead-letter queue 'nowhere'"):
        await mesh.start()
    await mesh.stop()


async def test_a_rate_whose_next_tick_is_past_year_9999_never_fires(
    mesh: Mesh, clock: VirtualClock
) -> None:
    calls: list[Any] = []
    schedule = mesh.schedule("rate(999999999 days)", calls.append)
    async with mesh:
        await clock.advance(3600)
    assert calls == []
    assert schedule.expression.next_after(datetime(2030, 1, 1, tzinfo=UTC)) is None


# -- batch calls: nothing half-stored ----------------------------------------------------------
async def test_a_refused_send_batch_stores_nothing(mesh: Mesh) -> None:
    queue = mesh.queue("q")
    async with mesh:
        with pytest.raises(PayloadError, match=r"^entries\[2\]\.body\.v: "):
            await queue.send_batch([{"body": "a"}, {"body": "b"}, {"body": {"v": NAN}}])
        assert (await queue.stats()).total == 0


async def test_send_batch_fails_what_sqs_judges_per_message_alone(mesh: Mesh) -> None:
    """SQS answers an empty body or a Number attribute that is not a number per entry, in
    Failed, and sends the other entries."""
    queue = mesh.queue("q")
    async with mesh:
        result = await queue.send_batch(
            [
                {"id": "ok", "body": "a"},
                {"id": "empty", "body": ""},
                {"id": "number", "body": "c", "attributes": {"n": {"DataType": "Number",
                                                                   "StringValue": "x"}}},
            ]
        )  # fmt: skip
        assert [entry["Id"] for entry in result["Successful"]] == ["ok"]
        failed = {entry["Id"]: entry["Message"] for entry in result["Failed"]}
        assert failed == {
            "empty": "body: must not be empty (SQS requires at least one character)",
            "number": "attributes['n']: 'x' is not a number (DataType Number)",
        }
        assert (await queue.stats()).visible == 1


async def test_a_refused_put_records_stores_nothing(mesh: Mesh) -> None:
    stream = mesh.stream("s")
    async with mesh:
        with pytest.raises(PayloadError, match=r"^entries\[1\]\.partition_key: "):
            await stream.put_records(
                [{"data": "a", "partition_key": "k"}, {"data": "b", "partition_key": LONE}]
            )
        (shard,) = stream.shard_ids
        iterator = await stream.get_shard_iterator(shard, "TRIM_HORIZON")
        assert (await stream.get_records(iterator)).records == []


async def test_put_events_fails_a_malformed_entry_alone_naming_the_field(mesh: Mesh) -> None:
    """PutEvents reports per entry (ErrorCode, ErrorMessage) and puts the others."""
    bus = mesh.bus()
    async with mesh:
        result = await bus.put_events(
            [
                {"Source": "app", "DetailType": "t", "Detail": {"ok": 1}},
                {"Source": "app", "DetailType": "t", "Detail": {"price": NAN}},
                {"Source": LONE, "DetailType": "t", "Detail": {}},
            ]
        )
    assert result["FailedEntryCount"] == 2
    ok, nan, surrogate = result["Entries"]
    assert "EventId" in ok
    assert nan["ErrorCode"] == "MalformedDetail"
    assert nan["ErrorMessage"].startswith("Detail is malformed: Detail.price: ")
    assert surrogate["ErrorCode"] == "InvalidArgument"
    assert surrogate["ErrorMessage"].startswith("Parameter Source: a lone surrogate")


# -- handler results, as Lambda's Python runtime marshals them --------------------------------
async def _result_of(mesh: Mesh, value: Any) -> Any:
    @mesh.function(name="give")
    def give(event: Any, context: Context) -> Any:
        return value

    async with mesh:
        return await mesh.invoke("give")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("1.5"), 1.5),
        (Decimal("2"), 2),
        ({"total": Decimal("10.25"), "n": [Decimal("3")]}, {"total": 10.25, "n": [3]}),
        ({1: "a", 2.5: "b", None: "c"}, {"1": "a", "2.5": "b", "null": "c"}),
        ({"big": 2**70}, {"big": 1180591620717411303424}),
        ({"raw": b"text"}, {"raw": "text"}),
    ],
    ids=["decimal", "decimal-integer", "decimals-nested", "non-str-keys", "big-int", "bytes"],
)
async def test_a_result_is_marshalled_as_lambda_does(mesh: Mesh, value: Any, expected: Any) -> None:
    result = await _result_of(mesh, value)
    assert result.function_error is None
    assert result.payload == expected
    assert type(result.payload) is type(expected)


async def test_nan_in_a_result_reaches_the_caller_as_nan(mesh: Mesh) -> None:
    """Lambda's runtime writes NaN and Infinity as the text NaN / Infinity (simplejson with
    allow_nan), which Python's json.loads reads back as floats; they never become null."""
    result = await _result_of(mesh, {"a": NAN, "b": [INF, -INF], "c": Decimal("NaN")})
    assert result.function_error is None
    payload = result.payload
    assert math.isnan(payload["a"]) and math.isnan(payload["c"])
    assert payload["b"] == [INF, -INF]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (datetime(2024, 1, 1, tzinfo=UTC), "Object of type datetime is not JSON serializable"),
        ({"when": datetime(2024, 1, 1)}, "Object of type datetime is not JSON serializable"),
        ({"tags": {"a", "b"}}, "Object of type set is not JSON serializable"),
        ({"value": object()}, "Object of type object is not JSON serializable"),
    ],
    ids=["datetime", "naive-datetime-nested", "set", "object"],
)
async def test_an_unmarshallable_result_is_lambdas_marshal_error(
    mesh: Mesh, value: Any, message: str
) -> None:
    result = await _result_of(mesh, value)
    assert result.function_error == "Unhandled"
    assert result.payload == {
        "errorMessage": f"Unable to marshal response: {message}",
        "errorType": "Runtime.MarshalError",
        "stackTrace": [],
    }


# -- names that resolve to nothing: refused at start, naming them -----------------------------
UNRESOLVED: list[tuple[str, Configure, str]] = [
    # (case, configuration, the message: what refers to the name, then the name)
    (
        "topic-subscriber",
        lambda m: m.topic("t").subscribe("nowhere"),
        "subscription of topic 't': no function or queue 'nowhere' [(]no function named "
        "'nowhere'[)]",
    ),
    (
        "bus-rule-target",
        lambda m: m.bus().rule("r", pattern={"source": ["a"]}, targets=["nowhere"]),
        "rule 'r': no function or resource 'nowhere' [(]no function named 'nowhere'[)]",
    ),
    (
        "bus-rule-dead-letter",
        lambda m: m.bus().rule(
            "r", pattern={"source": ["a"]}, targets=[Target("echo", dead_letter="nowhere")]
        ),
        "rule 'r': no dead-letter queue named 'nowhere'",
    ),
    (
        "bucket-notification",
        lambda m: m.bucket("bkt").notify("nowhere"),
        # the notification's id is generated
        "notification '[0-9a-f-]{36}' of bucket 'bkt': no function, queue or topic 'nowhere' "
        "[(]no function named 'nowhere'[)]",
    ),
    (
        "schedule-target",
        lambda m: m.schedule("rate(1 minute)", "nowhere"),
        # the schedule's name is derived from its settings
        "schedule 'nowhere-[0-9a-f]{12}': target 'nowhere' is neither a function nor a "
        "resource: no function named 'nowhere'",
    ),
    (
        "queue-mapping",
        lambda m: m.queue("q").subscribe("nowhere"),
        "mapping of queue 'q': no function named 'nowhere'",
    ),
    (
        "stream-mapping-on-failure",
        lambda m: m.stream("s").subscribe("echo", on_failure="nowhere"),
        "mapping of stream 's': no function or resource named 'nowhere'",
    ),
    (
        "function-destination",
        lambda m: m.function(name="f", on_failure="nowhere")(_echo),
        "invalid destinations: f:[$]LATEST on_failure: no function or resource named 'nowhere'",
    ),
    (
        "queue-dead-letter",
        lambda m: m.queue("jobs", max_receive_count=2, dead_letter="nowhere"),
        "queue 'jobs': dead-letter queue 'nowhere' of 'jobs' not found",
    ),
]


@pytest.mark.parametrize(
    ("configure", "message"),
    [pytest.param(configure, message, id=name) for name, configure, message in UNRESOLVED],
)
async def test_a_name_that_resolves_to_nothing_is_refused_at_start(
    mesh: Mesh, configure: Configure, message: str
) -> None:
    mesh.function(name="echo")(_echo)
    configure(mesh)
    with pytest.raises(ConfigurationError) as raised:
        await mesh.start()
    await mesh.stop()
    assert not mesh.running
    # What refers to the missing name comes first, then the name (a pattern: ids are made up).
    assert re.fullmatch(message, str(raised.value)), str(raised.value)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda m: q(m).send("x", timeout=10**400), id="send"),
        pytest.param(lambda m: m.topic("t").publish("x", timeout=10**400), id="publish"),
        pytest.param(lambda m: m.stream("s").put_record("x", "k", timeout=10**400), id="record"),
        pytest.param(lambda m: m.invoke("echo", 1, "Event", timeout=10**400), id="invoke"),
    ],
)
async def test_a_producer_timeout_past_a_floats_range_waits_as_long_as_needed(
    mesh: Mesh, call: Producer
) -> None:
    """An int too large for a float (OverflowError from math and float()) is as long as
    infinity, which is accepted: the call goes through."""
    _resources(mesh)
    async with mesh:
        assert await call(mesh) is not None


async def _result_under_limit(limit: int, value: Any) -> Any:
    mesh = Mesh(clock=VirtualClock(), telemetry=Telemetry(enabled=False), max_sync_payload=limit)
    return await _result_of(mesh, value)


async def test_a_results_size_is_counted_as_lambda_writes_it_with_its_spaces() -> None:
    """awslambdaric's encoder writes ``[0, 0, ...]``: 8 zeros are 24 bytes (17 compact)."""
    result = await _result_under_limit(20, [0] * 8)
    assert result.function_error == "Unhandled"
    assert result.payload == {
        "errorMessage": "Response payload size (24 bytes) exceeded maximum allowed payload size "
        "(20 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
        "stackTrace": [],
    }
    assert (await _result_under_limit(24, [0] * 8)).payload == [0] * 8


async def test_non_ascii_text_counts_its_utf8_bytes_whichever_encoder_writes_it() -> None:
    """On the python3.12+ runtimes ``{"d": 1, "s": "££££££££"}`` is 33 bytes (65 with \\u
    escapes); a Decimal, which only the standard encoder writes here, changes nothing."""
    for value in ({"d": Decimal("1"), "s": "£" * 8}, {"d": 1, "s": "£" * 8}):
        result = await _result_under_limit(33, value)
        assert result.payload == {"d": 1, "s": "£" * 8}
        refused = await _result_under_limit(32, value)
        assert refused.payload["errorMessage"].startswith("Response payload size (33 bytes)")


async def test_a_large_result_lambdas_encoder_refuses_keeps_orjsons_size() -> None:
    """A UUID is a known difference (orjson writes it); sizing a large one must not fail."""
    value = {"id": uuid.UUID(int=0)}
    result = await _result_under_limit(50, value)
    assert result.payload == {"id": "00000000-0000-0000-0000-000000000000"}


async def test_a_mesh_timeout_past_a_floats_range_is_as_long_as_infinity() -> None:
    """Accepted as ``math.inf`` is; kept as a float, so that the mesh's timers can use it."""
    mesh = Mesh(
        clock=VirtualClock(),
        telemetry=Telemetry(enabled=False),
        drain_timeout=10**400,
        environment_idle_timeout=10**400,
    )
    assert mesh.drain_timeout == INF
    assert mesh.environment_idle_timeout == INF
    mesh.function(name="echo")(_echo)
    async with mesh:
        assert (await mesh.invoke("echo", 1)).payload == 1


def test_a_filter_with_an_integer_past_64_bits_is_a_pattern_like_any_other(mesh: Mesh) -> None:
    """As a bus rule or a filter policy takes it (its length used to be measured by orjson,
    which refuses such an integer with a raw TypeError)."""
    _resources(mesh)
    mapping = mesh.queue("q").subscribe("echo", filters=[{"body": {"n": [10**30]}}])
    assert len(mapping.filters) == 1
    with pytest.raises(PatternError, match="the limit is 4096 characters"):
        mesh.queue("q2").subscribe("echo", filters=[{"body": {"n": [10**30] * 200}}])


async def test_numbers_at_the_edges_of_sqs_range_are_sent(mesh: Mesh) -> None:
    """Zeros are trimmed before the 38 digits are counted; 0 needs no magnitude."""
    _resources(mesh)
    async with mesh:
        for text in ("1e126", "-1e-128", "0.000", "000" + "9" * 38 + "000", "1.5"):
            await q(mesh).send("x", _number(text))
        assert (await q(mesh).stats()).total == 5
