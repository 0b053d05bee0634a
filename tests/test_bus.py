"""Buses: PutEvents, the EventBridge envelope, rules and targets, retries, archives, replays.

Expected values (envelope fields, ARNs, times, error codes, retry bounds) are written by hand
from the reference (§1.4, §2.6, §4.5, §4.6, §5.2) and EventBridge's documented behaviour.
Time is a VirtualClock starting at 2026-01-01T00:00:00Z (epoch 1767225600); the only real
waiting is an HTTP round trip to a server on 127.0.0.1 that the test starts.

Retry delays: retry ``n`` (from 0) waits ``min(600, 2**n) * f`` with ``f`` in ``(0.5, 1]``,
so the gap before retry ``n`` lies in ``(2**n / 2, 2**n]`` seconds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from http_endpoint import Endpoint, eventually
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from eventmesh import ConfigurationError, Context, EventMeshError, Mesh, PayloadError, Telemetry
from eventmesh._jsonpath import JsonPath, PathNotFoundError, json_path
from eventmesh.resources.bus import (
    FAILURE_DETAIL_TYPE,
    SUCCESS_DETAIL_TYPE,
    Bus,
    InputTransformer,
    Target,
    backoff_delay,
)
from eventmesh.resources.queue import Queue
from eventmesh.resources.stream import create_stream
from eventmesh.resources.topic import Topic
from eventmesh.testing import VirtualClock

EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z, where the VirtualClock starts
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
BUS_ARN = "arn:aws:events:us-east-1:123456789012:event-bus/default"
RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/"
ENVELOPE_KEYS = [
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
]


# -- helpers ---------------------------------------------------------------------------------
def make_bus(mesh: Mesh, name: str = "default") -> Bus:
    return mesh.resource(Bus, name)


def make_queue(mesh: Mesh, name: str, **settings: Any) -> Queue:
    return mesh.resource(Queue, name, **settings)


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
    """An async callable target that keeps each payload and the virtual time it came."""

    def __init__(self, clock: VirtualClock, failures: int = 0) -> None:
        self.clock = clock
        self.failures = failures
        self.payloads: list[Any] = []
        self.times: list[float] = []

    async def __call__(self, payload: Any) -> None:
        self.payloads.append(payload)
        self.times.append(self.clock.now())
        if self.failures:
            self.failures -= 1
            raise RuntimeError("target is down")


# -- PutEvents -------------------------------------------------------------------------------
async def test_a_malformed_entry_fails_alone_with_its_error_code(
    mesh: Mesh, clock: VirtualClock
) -> None:
    bus = make_bus(mesh)
    seen = Recorder(clock)
    bus.rule("all", pattern={"source": ["app.orders"]}, targets=[seen])
    async with mesh:
        answer = await bus.put_events(
            [
                entry({"n": 1}),
                entry(Source=None),
                entry(DetailType=None),
                entry(Detail=None),
                entry("[1, 2]"),
                entry("{not json"),
                entry(Source="aws.ec2"),
                entry({"big": "x" * (1024 * 1024)}),
                entry('{"n": 2}'),
                entry(Resources="arn:aws:s3:::bucket"),
            ]
        )
        await clock.advance(0)

    results = answer["Entries"]
    assert answer["FailedEntryCount"] == 8
    assert len(results) == 10
    codes = [result.get("ErrorCode") for result in results]
    assert codes == [
        None,
        "InvalidArgument",
        "InvalidArgument",
        "InvalidArgument",
        "MalformedDetail",
        "MalformedDetail",
        "NotAuthorizedForSourceException",
        "InvalidArgument",
        None,
        "InvalidArgument",
    ]
    assert "Source" in results[1]["ErrorMessage"]
    assert "DetailType" in results[2]["ErrorMessage"]
    assert "Detail" in results[3]["ErrorMessage"]
    assert "bytes" in results[7]["ErrorMessage"]
    assert set(results[0]) == {"EventId"} and set(results[8]) == {"EventId"}
    assert [event["detail"] for event in seen.payloads] == [{"n": 1}, {"n": 2}]
    assert [event["id"] for event in seen.payloads] == [
        results[0]["EventId"],
        results[8]["EventId"],
    ]
    assert (bus.events_put, bus.failed_entries) == (2, 8)


async def test_other_invalid_entries(mesh: Mesh) -> None:
    bus = make_bus(mesh)
    async with mesh:
        answer = await bus.put_events(
            [
                entry(Detail_Type="order"),  # an unknown field
                entry(Time=datetime(2026, 1, 1, 12, 0)),  # no time zone
                entry(Time="yesterday"),
                entry(EventBusName="other"),
                entry(EventBusName=BUS_ARN),
                entry(Source=""),
                entry(TraceHeader=42),
            ]
        )
    codes = [result.get("ErrorCode") for result in answer["Entries"]]
    assert codes == ["InvalidArgument"] * 4 + [None] + ["InvalidArgument"] * 2


async def test_event_size_counts_like_eventbridge(mesh: Mesh) -> None:
    # Source "app" (3) + DetailType "t" (1) + Detail '{"x":"' + n * "a" + '"}' (8 + n) bytes,
    # + 14 when Time is given + each resource's bytes; the limit is 1 MB = 1,048,576 bytes.
    limit = 1_048_576
    bus = make_bus(mesh)

    def sized(n: int, **fields: Any) -> dict[str, Any]:
        return {"Source": "app", "DetailType": "t", "Detail": '{"x":"' + "a" * n + '"}', **fields}

    async with mesh:
        answer = await bus.put_events(
            [
                sized(limit - 12),
                sized(limit - 11),
                sized(limit - 26, Time=EPOCH),
                sized(limit - 25, Time=EPOCH),
                sized(limit - 14, Resources=["ab"]),
                sized(limit - 13, Resources=["ab"]),
            ]
        )
    codes = [result.get("ErrorCode") for result in answer["Entries"]]
    assert codes == [None, "InvalidArgument"] * 3


async def test_whole_call_errors(mesh: Mesh) -> None:
    bus = make_bus(mesh)
    with pytest.raises(EventMeshError, match="before the mesh runs"):
        await bus.put_events([entry()])
    async with mesh:
        with pytest.raises(PayloadError, match="1 to 10"):
            await bus.put_events([])
        with pytest.raises(PayloadError, match="1 to 10"):
            await bus.put_events([entry()] * 11)
        with pytest.raises(PayloadError, match="list"):
            await bus.put_events(entry())  # type: ignore[arg-type]


async def test_the_envelope_field_by_field(mesh: Mesh, clock: VirtualClock) -> None:
    bus = make_bus(mesh)
    seen = Recorder(clock)
    bus.rule("all", pattern={"source": [{"prefix": "app."}]}, targets=[seen])
    async with mesh:
        await clock.advance(90.5)
        answer = await bus.put_events(
            [
                entry('{"order": {"id": "o-1"}}', Resources=["arn:aws:s3:::b/k"]),
                entry(Time=datetime(2025, 6, 1, 12, 0, 7, tzinfo=UTC)),
                entry(Time=EPOCH + 3600),
                entry(Time="2025-06-01T12:00:00+02:00"),
            ]
        )
        await clock.advance(0)

    first = seen.payloads[0]
    assert list(first) == ENVELOPE_KEYS
    assert first == {
        "version": "0",
        "id": answer["Entries"][0]["EventId"],
        "detail-type": "order",
        "source": "app.orders",
        "account": "123456789012",
        "time": "2026-01-01T00:01:30Z",
        "region": "us-east-1",
        "resources": ["arn:aws:s3:::b/k"],
        "detail": {"order": {"id": "o-1"}},
    }
    assert re.fullmatch(UUID, first["id"])
    assert [event["time"] for event in seen.payloads[1:]] == [
        "2025-06-01T12:00:07Z",
        "2026-01-01T01:00:00Z",
        "2025-06-01T10:00:00Z",
    ]
    assert seen.payloads[1]["resources"] == []
    assert len({event["id"] for event in seen.payloads}) == 4


# -- rules and patterns ----------------------------------------------------------------------
async def test_every_matching_rule_gets_the_event(mesh: Mesh, clock: VirtualClock) -> None:
    bus = make_bus(mesh)
    by_source, big, other, disabled = (Recorder(clock) for _ in range(4))
    orders = bus.rule("orders", pattern={"source": ["app.orders"]}, targets=[by_source])
    totals = bus.rule(
        "big", pattern={"detail": {"total": [{"numeric": [">", 100]}]}}, targets=[big]
    )
    bus.rule("other", pattern={"source": ["app.billing"]}, targets=[other])
    late = bus.rule("late", pattern={"detail-type": ["order"]}, targets=[disabled], enabled=False)
    async with mesh:
        await bus.put_events([entry({"total": 150}), entry({"total": 50})])
        await clock.advance(0)
        late.enabled = True
        await bus.put_events([entry({"total": 7})])
        await clock.advance(0)

    assert [event["detail"]["total"] for event in by_source.payloads] == [150, 50, 7]
    assert [event["detail"]["total"] for event in big.payloads] == [150]
    assert other.payloads == []
    assert [event["detail"]["total"] for event in disabled.payloads] == [7]
    assert (orders.matched, totals.matched, late.matched) == (3, 1, 1)
    assert orders.arn == RULE_ARN + "orders"
    assert bus.arn == BUS_ARN


async def test_rules_on_a_custom_bus_have_the_bus_in_their_arn(mesh: Mesh) -> None:
    bus = make_bus(mesh, "orders")
    rule = bus.rule("r", pattern={"source": ["x"]})
    assert rule.arn == RULE_ARN + "orders/r"
    assert bus.arn == "arn:aws:events:us-east-1:123456789012:event-bus/orders"


# -- target kinds ----------------------------------------------------------------------------
async def test_a_function_target_is_invoked_asynchronously_with_the_event(
    mesh: Mesh, clock: VirtualClock
) -> None:
    seen: list[tuple[Any, str]] = []

    @mesh.function(name="on-order")
    async def on_order(event: Any, context: Context) -> None:
        seen.append((event, context.invocation_type))

    bus = make_bus(mesh)
    rule = bus.rule("r", pattern={"source": ["app.orders"]}, targets=["on-order"])
    async with mesh:
        answer = await bus.put_events([entry({"n": 3})])
        await clock.advance(0)

    [(event, invocation_type)] = seen
    assert invocation_type == "Event"
    assert event["id"] == answer["Entries"][0]["EventId"]
    assert event["detail"] == {"n": 3}
    [target] = rule.targets
    assert (target.kind, target.delivered) == ("lambda", 1)
    assert target.arn == "arn:aws:lambda:us-east-1:123456789012:function:on-order"


async def test_queue_and_topic_targets_get_the_event_json(mesh: Mesh, clock: VirtualClock) -> None:
    queue = make_queue(mesh, "inbox")
    raw = make_queue(mesh, "raw")
    topic = mesh.resource(Topic, "alerts")
    topic.subscribe(raw, raw_message_delivery=True)
    bus = make_bus(mesh)
    bus.rule("r", pattern={"source": ["app.orders"]}, targets=[queue, "alerts"])
    async with mesh:
        answer = await bus.put_events([entry({"n": 4})])
        await clock.advance(0)
        [message] = await queue.receive(10)
        [via_topic] = await raw.receive(10)

    event = message.json()
    assert event["id"] == answer["Entries"][0]["EventId"]
    assert event["detail"] == {"n": 4}
    assert via_topic.body == message.body


async def test_a_stream_target_uses_the_partition_key_path(mesh: Mesh, clock: VirtualClock) -> None:
    stream = create_stream(mesh.context, "orders-stream", shards=4)
    bus = make_bus(mesh)
    bus.rule(
        "r",
        pattern={"source": ["app.orders"]},
        targets=[
            Target(stream, partition_key_path="$.detail.customer"),
            Target("orders-stream", input_path="$.detail"),  # no path: the event id
        ],
    )
    async with mesh:
        answer = await bus.put_events([entry({"customer": "c-42", "n": 1})])
        await clock.advance(0)
        records = []
        for shard_id in stream.shard_ids:
            iterator = await stream.get_shard_iterator(shard_id, "TRIM_HORIZON")
            records += (await stream.get_records(iterator)).records

    event_id = answer["Entries"][0]["EventId"]
    by_key = {record.partition_key: record for record in records}
    assert set(by_key) == {"c-42", event_id}
    assert by_key["c-42"].json()["id"] == event_id
    assert by_key["c-42"].shard_id == stream.shard_for("c-42")
    assert by_key[event_id].json() == {"customer": "c-42", "n": 1}


async def test_a_bus_target_gets_the_event_itself(mesh: Mesh, clock: VirtualClock) -> None:
    default = make_bus(mesh)
    orders = make_bus(mesh, "orders")
    seen = Recorder(clock)
    forward = default.rule("forward", pattern={"source": ["app.orders"]}, targets=["orders"])
    orders.rule("inbound", pattern={"detail-type": ["order"]}, targets=[seen])
    back = orders.rule("back", pattern={"detail-type": ["order"]}, targets=[default])
    async with mesh:
        answer = await default.put_events([entry({"n": 5})])
        await clock.advance(0)

    [event] = seen.payloads
    assert event["id"] == answer["Entries"][0]["EventId"]  # the same event, not a copy
    assert event["detail"] == {"n": 5}
    assert forward.targets[0].arn == "arn:aws:events:us-east-1:123456789012:event-bus/orders"
    # The event never enters a bus it came through: the loop back stops at once.
    [loop] = back.targets
    assert (loop.attempts, loop.failed, loop.dropped) == (1, 1, 1)
    assert default.rules["forward"].matched == 1


async def test_http_targets_are_posted_and_retried_on_5xx(mesh: Mesh, clock: VirtualClock) -> None:
    bus = make_bus(mesh)
    async with Endpoint(statuses=[503], path="/events") as server, mesh:
        rule = bus.rule("hook", pattern={"source": ["app.orders"]}, targets=[server.url])
        [target] = rule.targets
        answer = await bus.put_events([entry({"n": 6}, TraceHeader="Root=1-abc")])
        await eventually(lambda: target.attempts == 1)
        await clock.advance(1.0)  # the first retry comes within (0.5, 1] s
        await eventually(lambda: target.delivered == 1)

    assert [request.line for request in server.requests] == ["POST /events HTTP/1.1"] * 2
    request = server.requests[-1]
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.headers["x-amzn-trace-id"] == "Root=1-abc"
    body = orjson.loads(request.body)
    assert body["id"] == answer["Entries"][0]["EventId"]
    assert server.requests[0].body == request.body


async def test_an_http_client_error_goes_to_the_dead_letter_queue_at_once(
    mesh: Mesh, clock: VirtualClock
) -> None:
    dead = make_queue(mesh, "dlq")
    bus = make_bus(mesh)
    async with Endpoint(statuses=[404], path="/events") as server, mesh:
        rule = bus.rule(
            "hook",
            pattern={"source": ["app.orders"]},
            targets=[Target(server.url, input_transformer={"InputTemplate": "plain text"},
                            dead_letter="dlq")],
        )  # fmt: skip
        [target] = rule.targets
        await bus.put_events([entry()])
        await eventually(lambda: target.failed == 1)
        await clock.advance(0)
        [message] = await dead.receive(10)

    [request] = server.requests
    assert request.body == b"plain text"
    assert request.headers["content-type"] == "text/plain; charset=utf-8"
    attributes = {name: value["StringValue"] for name, value in message.message_attributes.items()}
    assert attributes == {
        "RULE_ARN": RULE_ARN + "hook",
        "TARGET_ARN": server.url,
        "ERROR_CODE": "ERROR_FROM_TARGET",
        "ERROR_MESSAGE": f"POST {server.url} answered 404",
    }
    assert message.json()["detail"] == {"id": 1}  # the event, not the transformed input


async def test_an_http_connection_error_is_retried(mesh: Mesh, clock: VirtualClock) -> None:
    async with Endpoint(path="/events") as closed:
        url = closed.url  # nothing listens there once the server is closed
    bus = make_bus(mesh)
    async with mesh:
        rule = bus.rule("hook", pattern={}, targets=[Target(url, max_retries=1)])
        [target] = rule.targets
        await bus.put_events([entry()])
        await eventually(lambda: target.attempts == 1)
        assert target.failed == 0
        await clock.advance(1.0)
        await eventually(lambda: target.failed == 1)

    assert (target.attempts, target.dropped) == (2, 1)


# -- input, input_path, input_transformer ----------------------------------------------------
async def test_constant_input_and_input_path(mesh: Mesh, clock: VirtualClock) -> None:
    queue = make_queue(mesh, "texts")
    bus = make_bus(mesh)
    constant, detail, missing = Recorder(clock), Recorder(clock), Recorder(clock)
    bus.rule(
        "r",
        pattern={"source": ["app.orders"]},
        targets=[
            Target(constant, input={"fixed": True}),
            Target(detail, input_path="$.detail.order"),
            Target(missing, input_path="$.detail.nothing[3]"),
            Target(queue, input="hello"),
        ],
    )
    async with mesh:
        await bus.put_events([entry({"order": {"id": "o-1", "items": [1, 2]}})])
        await clock.advance(0)
        [message] = await queue.receive(10)

    assert constant.payloads == [{"fixed": True}]
    assert detail.payloads == [{"id": "o-1", "items": [1, 2]}]
    assert missing.payloads == [None]
    assert message.body == "hello"


async def test_input_transformer_inserts_strings_raw_in_strings_and_as_json_outside(
    mesh: Mesh, clock: VirtualClock
) -> None:
    queue = make_queue(mesh, "texts")
    bus = make_bus(mesh)
    json_target, text_target, string_target, whole = (Recorder(clock) for _ in range(4))
    paths = {
        "id": "$.detail.id",
        "state": "$.detail.state",
        "n": "$.detail.n",
        "obj": "$.detail.obj",
        "nothing": "$.detail.absent",
        "first": "$.detail.tags[0]",
        "quoted": "$.detail['odd key']",
    }
    template = (
        '{"id": <id>, "msg": "order <id> is <state> (<n>)", "n": <n>, "nested": "<obj>", '
        '"obj": <obj>, "missing": <nothing>, "gap": "[<nothing>]", "tag": <first>, '
        '"q": "<quoted>", "rule": "<aws.events.rule-name>", "arn": <aws.events.rule-arn>}'
    )
    bus.rule(
        "shape",
        pattern={"source": ["app.orders"]},
        targets=[
            Target(json_target, input_transformer={"input_paths_map": paths,
                                                   "input_template": template}),
            Target(text_target, input_transformer=InputTransformer(
                paths, "Order <id> has <n> items: <obj> <nothing>")),
            Target(string_target, input_transformer={"InputPathsMap": paths,
                                                     "InputTemplate": '"<id> is <state>"'}),
            Target(queue, input_transformer={"InputPathsMap": paths,
                                             "InputTemplate": '"<id> is <state>"'}),
            Target(whole, input_transformer={"InputTemplate": (
                '{"event": <aws.events.event>, "text": <aws.events.event.json>, '
                '"at": "<aws.events.event.ingestion-time>"}')}),
        ],
    )  # fmt: skip
    detail = {
        "id": "o-1",
        "state": 'NEW "fresh"',
        "n": 3,
        "obj": {"a": 1},
        "tags": ["t1"],
        "odd key": "ok",
    }
    async with mesh:
        await clock.advance(2.25)
        answer = await bus.put_events([entry(detail)])
        await clock.advance(0)
        [message] = await queue.receive(10)

    assert json_target.payloads == [
        {
            "id": "o-1",
            "msg": 'order o-1 is NEW "fresh" (3)',
            "n": 3,
            "nested": '{"a":1}',
            "obj": {"a": 1},
            "missing": None,
            "gap": "[]",
            "tag": "t1",
            "q": "ok",
            "rule": "shape",
            "arn": RULE_ARN + "shape",
        }
    ]
    assert text_target.payloads == ['Order o-1 has 3 items: {"a":1} ']
    assert string_target.payloads == ['o-1 is NEW "fresh"']
    assert message.body == '"o-1 is NEW \\"fresh\\""'  # the JSON text, as EventBridge sends it
    [shaped] = whole.payloads
    assert shaped["event"]["id"] == answer["Entries"][0]["EventId"]
    assert orjson.loads(shaped["text"]) == shaped["event"]
    assert shaped["at"] == "2026-01-01T00:00:02.250Z"


def test_input_transformer_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="<missing>"):
        InputTransformer({"a": "$.a"}, '{"x": <missing>}')
    with pytest.raises(ConfigurationError, match="reserved"):
        InputTransformer({"aws.events.event": "$.a"}, "<aws.events.event>")
    with pytest.raises(ConfigurationError, match="at most 100"):
        InputTransformer({f"v{i}": "$.a" for i in range(101)}, "x")
    assert InputTransformer({f"v{i}": "$.a" for i in range(100)}, "x").json_mode is False
    with pytest.raises(ConfigurationError, match="JSONPath"):
        InputTransformer({"a": "detail.a"}, "<a>")
    with pytest.raises(ConfigurationError, match="unknown input transformer keys"):
        InputTransformer.of({"Template": "x"})
    with pytest.raises(ConfigurationError, match="exclusive"):
        Target(Recorder(VirtualClock()), input=1, input_path="$.a")


# -- retries, dead letters, event age --------------------------------------------------------
def test_backoff_delays_stay_within_their_jitter_bounds() -> None:
    class Fixed:
        def __init__(self, value: float) -> None:
            self.value = value

        def random(self) -> float:
            return self.value

    low, high = Fixed(0.999999), Fixed(0.0)
    for retry, ceiling in [(0, 1), (1, 2), (2, 4), (5, 32), (9, 512), (10, 600), (184, 600)]:
        assert backoff_delay(retry, high) == ceiling  # type: ignore[arg-type]
        assert backoff_delay(retry, low) == pytest.approx(ceiling / 2, rel=1e-5)  # type: ignore[arg-type]


async def test_a_failing_target_is_retried_with_exponential_backoff_and_jitter(
    mesh: Mesh, clock: VirtualClock
) -> None:
    bus = make_bus(mesh)
    flaky = Recorder(clock, failures=5)
    rule = bus.rule("r", pattern={"source": ["app.orders"]}, targets=[flaky])
    async with mesh:
        await bus.put_events([entry()])
        await clock.advance(86400)  # past every retry (the backoff is at most 600 s)

    assert len(flaky.times) == 6
    gaps = [later - earlier for earlier, later in zip(flaky.times, flaky.times[1:], strict=False)]
    for retry, gap in enumerate(gaps):
        assert 2**retry / 2 < gap <= 2**retry
    [target] = rule.targets
    assert (target.attempts, target.delivered, target.failed) == (6, 1, 0)
    assert bus.delivered == 1


async def test_exhausted_retries_send_the_event_to_the_dead_letter_queue(
    mesh: Mesh, clock: VirtualClock
) -> None:
    dead = make_queue(mesh, "dlq")
    bus = make_bus(mesh)
    broken = Recorder(clock, failures=100)
    rule = bus.rule(
        "r",
        pattern={"source": ["app.orders"]},
        targets=[Target(broken, max_retries=2, dead_letter=dead)],
    )
    async with mesh:
        answer = await bus.put_events([entry({"n": 9})])
        await clock.advance(86400)  # past every retry (the backoff is at most 600 s)
        [message] = await dead.receive(10)

    assert len(broken.times) == 3  # the first attempt and 2 retries
    assert message.json()["id"] == answer["Entries"][0]["EventId"]
    attributes = message.message_attributes
    assert {name: value["StringValue"] for name, value in attributes.items()} == {
        "RULE_ARN": RULE_ARN + "r",
        "TARGET_ARN": rule.targets[0].arn,
        "ERROR_CODE": "ERROR_FROM_TARGET",
        "ERROR_MESSAGE": "target is down",
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
        "RETRY_ATTEMPTS": "2",
    }
    assert attributes["RETRY_ATTEMPTS"]["DataType"] == "Number"
    assert rule.targets[0].arn.endswith("Recorder")
    assert (bus.delivery_failures, bus.dead_lettered, bus.dropped) == (1, 1, 0)


async def test_an_event_older_than_max_event_age_is_dropped(
    mesh: Mesh, clock: VirtualClock
) -> None:
    bus = make_bus(mesh)
    broken = Recorder(clock, failures=1000)
    rule = bus.rule("r", pattern={}, targets=[Target(broken, max_event_age=60)])
    async with mesh:
        await bus.put_events([entry()])
        await clock.advance(86400)  # past every retry (the backoff is at most 600 s)

    # Retries 0-5 (ceilings 1..32 s) end after (31.5, 63] s; retry 6 would wait more than
    # 32 s, beyond 60 s in every case: 6 or 7 attempts, all within the age limit.
    assert len(broken.times) in (6, 7)
    assert all(moment <= 60 for moment in broken.times)
    [target] = rule.targets
    assert (target.failed, target.dropped, bus.dropped) == (1, 1, 1)
    assert await bus.pending() == 0


async def test_client_errors_are_not_retried(clock: VirtualClock) -> None:
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), max_event_payload=1000)

    @mesh.function(name="small")
    async def small(event: Any, context: Context) -> None:
        pass

    dead = make_queue(mesh, "dlq")
    bus = make_bus(mesh)
    rule = bus.rule("r", pattern={}, targets=[Target("small", dead_letter="dlq")])
    async with mesh:
        await bus.put_events([entry({"text": "x" * 2000})])
        await clock.advance(0)
        [message] = await dead.receive(10)

    [target] = rule.targets
    assert target.attempts == 1
    attributes = {name: value["StringValue"] for name, value in message.message_attributes.items()}
    assert attributes["ERROR_CODE"] == "INVALID_PARAMETER"
    assert attributes["TARGET_ARN"] == "arn:aws:lambda:us-east-1:123456789012:function:small"
    assert "EXHAUSTED_RETRY_CONDITION" not in attributes


# -- scheduled rules -------------------------------------------------------------------------
async def test_a_scheduled_rule_sends_the_scheduled_event(mesh: Mesh, clock: VirtualClock) -> None:
    bus = make_bus(mesh)
    seen = Recorder(clock)
    rule = bus.rule("tick", schedule="rate(5 minutes)", targets=[seen])
    async with mesh:
        await bus.put_events([entry()])  # a schedule-only rule takes no events
        await clock.advance(300)
        await clock.advance(300)
        rule.enabled = False
        await clock.advance(300)

    assert [event["time"] for event in seen.payloads] == [
        "2026-01-01T00:05:00Z",
        "2026-01-01T00:10:00Z",
    ]
    first = seen.payloads[0]
    assert list(first) == ENVELOPE_KEYS
    assert first["detail-type"] == "Scheduled Event"
    assert first["source"] == "aws.events"
    assert first["resources"] == [RULE_ARN + "tick"]
    assert first["detail"] == {}
    assert (first["account"], first["region"], first["version"]) == (
        "123456789012",
        "us-east-1",
        "0",
    )
    assert re.fullmatch(UUID, first["id"])
    assert rule.schedule is not None and rule.matched == 2


def test_scheduled_rules_are_only_on_the_default_bus(mesh: Mesh) -> None:
    with pytest.raises(ConfigurationError, match="default bus"):
        make_bus(mesh, "orders").rule("tick", schedule="rate(1 minute)")
    with pytest.raises(ConfigurationError, match=r"rate\(...\) or cron"):
        make_bus(mesh).rule("once", schedule="at(2026-01-01T00:00:00)")


# -- archives and replays --------------------------------------------------------------------
async def test_replay_puts_archived_events_back_in_order_to_the_given_rules(
    mesh: Mesh, clock: VirtualClock
) -> None:
    bus = make_bus(mesh)
    archive = bus.archive("orders", pattern={"detail-type": ["order"]})
    assert bus.archive("orders", pattern={"detail-type": ["order"]}) is archive
    first, second = Recorder(clock), Recorder(clock)
    bus.rule("first", pattern={"source": ["app.orders"]}, targets=[first])
    bus.rule("second", pattern={"source": ["app.orders"]}, targets=[second])
    async with mesh:
        for n in range(4):  # at t = 0, 10, 20, 30
            await bus.put_events([entry({"n": n}), entry({"n": -1}, DetailType="ping")])
            await clock.advance(10)
        assert await archive.event_count() == 4
        first.payloads.clear()
        second.payloads.clear()

        replay = bus.replay(archive, EPOCH + 5, EPOCH + 30, rules=["first"], name="again")
        assert replay.state == "STARTING"
        await replay.wait()
        await clock.advance(0)
        everything = await bus.replay("orders", EPOCH, datetime(2026, 1, 2, tzinfo=UTC)).wait()
        await clock.advance(0)
        assert await archive.event_count() == 4  # replayed events are never archived again

    assert (replay.state, replay.events_total, replay.events_replayed) == ("COMPLETED", 2, 2)
    assert replay.arn == "arn:aws:events:us-east-1:123456789012:replay/again"
    assert [event["detail"]["n"] for event in first.payloads[:2]] == [1, 2]
    assert {event["replay-name"] for event in first.payloads[:2]} == {"again"}
    assert (everything.state, everything.events_total) == ("COMPLETED", 4)
    assert [event["detail"]["n"] for event in first.payloads[2:]] == [0, 1, 2, 3]
    assert [event["detail"]["n"] for event in second.payloads] == [0, 1, 2, 3]
    assert {event["replay-name"] for event in second.payloads} == {everything.name}


async def test_a_replay_reports_its_progress(mesh: Mesh, clock: VirtualClock) -> None:
    bus = make_bus(mesh)
    archive = bus.archive("all")
    progress: list[tuple[str, int, int]] = []
    replays: list[Any] = []

    async def watch(event: dict[str, Any]) -> None:
        if "replay-name" in event and not progress:
            replay = replays[0]
            progress.append((replay.state, replay.events_replayed, replay.events_total))

    bus.rule("r", pattern={}, targets=[watch])
    async with mesh:
        for start in range(0, 150, 10):
            await bus.put_events([entry({"n": n}) for n in range(start, start + 10)])
        replays.append(bus.replay(archive, EPOCH, EPOCH + 1))
        await replays[0].wait()

    # Events go back 100 at a time; the first deliveries start after the first 100.
    assert progress == [("RUNNING", 100, 150)]
    assert (replays[0].state, replays[0].events_replayed) == ("COMPLETED", 150)
    assert replays[0].ended_at == EPOCH


async def test_archives_live_in_the_log_store_and_keep_their_retention(
    mesh: Mesh, clock: VirtualClock
) -> None:
    bus = make_bus(mesh)
    short = bus.archive("short", retention=60)
    async with mesh:
        await bus.put_events([entry({"n": 1})])
        await clock.advance(100)
        await bus.put_events([entry({"n": 2})])
        assert await short.event_count() == 1

    # A second mesh on the same backend (a restart, another worker) replays what is stored.
    other = Mesh(clock=clock, storage=mesh.backend, telemetry=Telemetry(enabled=False))
    bus2 = make_bus(other)
    again = bus2.archive("short", retention=60)
    seen = Recorder(clock)
    bus2.rule("r", pattern={"source": ["app.orders"]}, targets=[seen])
    async with other:
        replay = await bus2.replay(again, EPOCH, EPOCH + 200).wait()
        await clock.advance(0)

    assert replay.events_total == 1
    assert [event["detail"] for event in seen.payloads] == [{"n": 2}]


async def test_replay_settings_are_checked(mesh: Mesh) -> None:
    bus = make_bus(mesh)
    archive = bus.archive("a")
    with pytest.raises(EventMeshError, match="before the mesh runs"):
        bus.replay(archive, EPOCH, EPOCH + 1)
    async with mesh:
        with pytest.raises(ConfigurationError, match="no archive"):
            bus.replay("nope", EPOCH, EPOCH + 1)
        with pytest.raises(ConfigurationError, match="before its end"):
            bus.replay(archive, EPOCH + 1, EPOCH)
        with pytest.raises(ConfigurationError, match="no rule"):
            bus.replay(archive, EPOCH, EPOCH + 1, rules=["ghost"])
        with pytest.raises(ConfigurationError, match="aware"):
            bus.replay(archive, datetime(2026, 1, 1), EPOCH + 1)
        await bus.replay(archive, EPOCH, EPOCH + 1, name="r1").wait()
        with pytest.raises(ConfigurationError, match="already exists"):
            bus.replay(archive, EPOCH, EPOCH + 1, name="r1")
    with pytest.raises(ConfigurationError, match="other settings"):
        bus.archive("a", retention=10)


# -- the bus as a destination ----------------------------------------------------------------
async def test_the_bus_is_a_lambda_destination(mesh: Mesh, clock: VirtualClock) -> None:
    bus = make_bus(mesh)
    results = Recorder(clock)
    bus.rule("results", pattern={"source": ["lambda"]}, targets=[results])

    @mesh.function(name="worker", on_success=bus)
    async def worker(event: Any, context: Context) -> dict[str, int]:
        return {"doubled": event["n"] * 2}

    @mesh.function(name="broken", retries=0, on_failure="default")
    async def broken(event: Any, context: Context) -> None:
        raise ValueError("no")

    async with mesh:
        await mesh.invoke("worker", {"n": 21}, invocation_type="Event")
        await mesh.invoke("broken", {"n": 1}, invocation_type="Event")
        await clock.advance(0)

    by_condition = {
        event["detail"]["requestContext"]["condition"]: event for event in results.payloads
    }
    assert set(by_condition) == {"Success", "RetriesExhausted"}
    success, failure = by_condition["Success"], by_condition["RetriesExhausted"]
    assert SUCCESS_DETAIL_TYPE == "Lambda Function Invocation Result \u2013 Success"
    assert FAILURE_DETAIL_TYPE == "Lambda Function Invocation Result \u2013 Failure"
    assert success["detail-type"] == SUCCESS_DETAIL_TYPE
    assert failure["detail-type"] == FAILURE_DETAIL_TYPE
    assert success["source"] == failure["source"] == "lambda"
    assert success["resources"] == [
        "arn:aws:lambda:us-east-1:123456789012:function:worker:$LATEST",
        BUS_ARN,
    ]
    assert failure["resources"][0].endswith("function:broken:$LATEST")
    assert success["detail"]["responsePayload"] == {"doubled": 42}
    assert success["detail"]["requestPayload"] == {"n": 21}
    assert failure["detail"]["responseContext"]["functionError"] == "Unhandled"


async def test_send_wraps_other_messages(mesh: Mesh, clock: VirtualClock) -> None:
    bus = make_bus(mesh)
    seen = Recorder(clock)
    bus.rule("r", pattern={"source": ["eventmesh"]}, targets=[seen])
    async with mesh:
        event_id = await bus.send("plain")
        await bus.send({"k": 1})
        await clock.advance(0)

    assert [event["detail"] for event in seen.payloads] == [{"message": "plain"}, {"k": 1}]
    assert seen.payloads[0]["id"] == event_id
    assert seen.payloads[0]["detail-type"] == "Message"


# -- trace context ---------------------------------------------------------------------------
async def test_deliveries_and_replays_carry_the_publishers_trace_context(
    clock: VirtualClock,
) -> None:
    provider = TracerProvider()
    mesh = Mesh(clock=clock, telemetry=Telemetry(provider), drain_timeout=2.0)
    tracer = provider.get_tracer("test")
    queue = make_queue(mesh, "inbox")
    trace_ids: list[int] = []

    async def callback(event: dict[str, Any]) -> None:
        trace_ids.append(trace.get_current_span().get_span_context().trace_id)

    bus = make_bus(mesh)
    archive = bus.archive("all")
    bus.rule("r", pattern={}, targets=[callback, queue])
    async with mesh:
        with tracer.start_as_current_span("publisher") as span:
            await bus.put_events([entry()])
        trace_id = span.get_span_context().trace_id
        await clock.advance(0)
        [message] = await queue.receive(10)
        await bus.replay(archive, EPOCH, EPOCH + 1).wait()  # outside the publisher's span
        await clock.advance(0)

    assert trace_ids == [trace_id, trace_id]
    assert f"-{trace_id:032x}-" in message.trace_context["traceparent"]


# -- configuration ---------------------------------------------------------------------------
async def test_rule_and_target_settings_are_checked(mesh: Mesh, clock: VirtualClock) -> None:
    bus = make_bus(mesh)
    recorder = Recorder(clock)
    with pytest.raises(ConfigurationError, match="at most 5"):
        bus.rule("many", pattern={}, targets=[recorder] * 6)
    with pytest.raises(ConfigurationError, match="a pattern, a schedule"):
        bus.rule("none")
    with pytest.raises(ConfigurationError, match="rule name"):
        bus.rule("bad name", pattern={})
    bus.rule("once", pattern={})
    with pytest.raises(ConfigurationError, match="already has"):
        bus.rule("once", pattern={})
    for settings in ({"max_event_age": 59}, {"max_event_age": 86401}, {"max_retries": -1},
                     {"max_retries": 186}, {"max_retries": 1.5}):  # fmt: skip
        with pytest.raises(ConfigurationError):
            Target(recorder, **settings)
    assert Target(recorder, max_event_age=60, max_retries=0).max_retries == 0

    def not_async(event: Any) -> None:
        pass

    with pytest.raises(ConfigurationError, match="async"):
        Target(not_async)
    with pytest.raises(ConfigurationError, match="cannot be a target"):
        Target(42)
    with pytest.raises(ConfigurationError, match="partition_key_path"):
        Target(recorder, partition_key_path="$.id")
    with pytest.raises(ConfigurationError, match="event itself"):
        Target(bus, input={"x": 1})
    with pytest.raises(ConfigurationError, match="JSON-serialisable"):
        Target(recorder, input={1, 2})


async def test_unknown_and_fifo_targets_fail_when_the_mesh_starts(clock: VirtualClock) -> None:
    cases: list[tuple[Any, str]] = [
        (Target("nobody"), "no function or resource"),
        (Target("jobs.fifo"), "FIFO"),
        (Target("http://127.0.0.1:9/x", dead_letter="missing"), "dead-letter"),
        (Target("q", partition_key_path="$.id"), "partition_key_path"),
    ]
    for target, problem in cases:
        mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False))
        make_queue(mesh, "jobs.fifo")
        make_queue(mesh, "q")
        make_bus(mesh).rule("r", pattern={}, targets=[target])
        with pytest.raises(ConfigurationError, match=problem):
            await mesh.start()
        await mesh.stop()


# -- JSONPath --------------------------------------------------------------------------------
def test_jsonpath_resolves_simple_paths() -> None:
    document = {
        "detail": {
            "order": {"id": "o-1", "lines": [{"sku": "a"}, {"sku": "b"}]},
            "instance-id": "i-1",
            "a/b": 1,
            "odd.key": {"x]": 2},
            "zero": 0,
        }
    }
    assert JsonPath("$").find(document) is document
    assert JsonPath("$.detail.order.id").find(document) == "o-1"
    assert JsonPath("$.detail.order.lines[1].sku").find(document) == "b"
    assert JsonPath("$.detail.instance-id").find(document) == "i-1"
    assert JsonPath("$.detail.a/b").find(document) == 1
    assert JsonPath("$['detail']['odd.key'][\"x]\"]").find(document) == 2
    assert JsonPath("$.detail.zero").get(document, "default") == 0
    assert JsonPath(r"$['it\'s']").steps == ("it's",)
    for missing in ("$.nope", "$.detail.order.lines[2]", "$.detail.order.id.x", "$.detail[0]"):
        assert JsonPath(missing).get(document) is None
        with pytest.raises(PathNotFoundError):
            JsonPath(missing).find(document)
    assert JsonPath("$.detail.order.id.x").get(document, "d") == "d"
    assert JsonPath("$.a") == JsonPath("$['a']")
    assert json_path("$.a") is json_path("$.a")


@pytest.mark.parametrize(
    "path",
    ["detail.id", "$.", "$..id", "$.*", "$[*]", "$[-1]", "$[0:2]", "$['open", "$[1", "$ .a", ""],
)
def test_jsonpath_rejects_what_eventbridge_does_not_take(path: str) -> None:
    with pytest.raises(ConfigurationError, match="JSONPath"):
        JsonPath(path)


async def test_an_entry_no_calendar_or_json_encoder_can_take_fails_alone(
    mesh: Mesh, clock: VirtualClock
) -> None:
    got: list[Any] = []

    async def target(event: Any) -> None:
        got.append(event["detail"])

    bus = mesh.resource(Bus, "default")
    bus.rule("all", pattern={"source": ["shop"]}, targets=[target])
    deep: Any = {}
    node = deep
    for _ in range(2000):
        node["x"] = {}
        node = node["x"]
    async with mesh:
        answer = await bus.put_events(
            [
                {"Source": "shop", "DetailType": "T", "Detail": {"n": 1}},
                {"Source": "shop", "DetailType": "T", "Detail": {"n": 2}, "Time": float("inf")},
                {"Source": "shop", "DetailType": "T", "Detail": deep},
                {"Source": "shop", "DetailType": "T", "Detail": {"n": 4}},
            ]
        )
        await clock.advance(0)
    assert answer["FailedEntryCount"] == 2
    assert answer["Entries"][1]["ErrorCode"] == "InvalidArgument"
    assert answer["Entries"][2]["ErrorCode"] == "MalformedDetail"
    assert sorted(d["n"] for d in got) == [1, 4]
