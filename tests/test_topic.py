"""Topics: SNS's event and envelope shapes, fan-out, filter policies, delivery and retries.

Expected values (field names, ARNs, timestamps, retry times) are written by hand from the
reference (§4.2, §5.1, SNS-RETRY) and SNS's documented HTTP/S default policy (up to 3 retries,
20 s apart). Time is a VirtualClock: the only real waiting is an HTTP round trip to a server
on 127.0.0.1 that the test starts.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import sys
from typing import Any

import orjson
import pytest
from http_endpoint import Endpoint, eventually
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from eventmesh import (
    ConfigurationError,
    Context,
    EventMeshError,
    Mesh,
    PatternError,
    PayloadError,
    Telemetry,
)
from eventmesh.patterns import FilterPolicy
from eventmesh.resources.queue import Queue
from eventmesh.resources.topic import (
    AWS_MANAGED_POLICY,
    HTTP_DEFAULT_POLICY,
    DeliveryPolicy,
    Topic,
)
from eventmesh.testing import VirtualClock

TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:alerts"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
ENVELOPE_KEYS = {
    "Type",
    "MessageId",
    "TopicArn",
    "Subject",
    "Message",
    "Timestamp",
    "SignatureVersion",
    "Signature",
    "SigningCertURL",
    "UnsubscribeURL",
    "MessageAttributes",
}


# -- helpers ---------------------------------------------------------------------------------
def make_topic(mesh: Mesh, name: str = "alerts") -> Topic:
    return mesh.resource(Topic, name)


def make_queue(mesh: Mesh, name: str, **settings: Any) -> Queue:
    return mesh.resource(Queue, name, **settings)


def recorder(mesh: Mesh, name: str) -> list[dict[str, Any]]:
    """A function named ``name`` that keeps the events it gets."""
    events: list[dict[str, Any]] = []

    @mesh.function(name=name)
    async def handler(event: dict[str, Any], context: Context) -> None:
        events.append(event)

    return events


# -- the Lambda event (§4.2) -----------------------------------------------------------------
async def test_a_function_subscriber_gets_the_sns_event_field_by_field(
    mesh: Mesh, clock: VirtualClock
) -> None:
    seen: list[tuple[dict[str, Any], str]] = []

    @mesh.function(name="on-alert")
    async def on_alert(event: dict[str, Any], context: Context) -> None:
        seen.append((event, context.invocation_type))

    topic = make_topic(mesh)
    subscription = topic.subscribe(on_alert)
    async with mesh:
        await clock.advance(1.5)
        message_id = await topic.publish(
            "disk full",
            subject="Alert",
            attributes={
                "severity": "critical",
                "count": 3,
                "blob": b"\x01\x02",
                "tags": ["a", "b"],
                "source": {"DataType": "String", "StringValue": "host-1"},
                "zone": {"Type": "String", "Value": "eu"},
            },
        )
        await clock.advance(0)

    assert re.fullmatch(UUID, message_id)
    assert subscription.arn.startswith(TOPIC_ARN + ":")
    assert re.fullmatch(UUID, subscription.arn.removeprefix(TOPIC_ARN + ":"))
    [(event, invocation_type)] = seen
    assert invocation_type == "Event"
    [record] = event["Records"]
    assert set(record) == {"EventVersion", "EventSubscriptionArn", "EventSource", "Sns"}
    assert record["EventVersion"] == "1.0"
    assert record["EventSubscriptionArn"] == subscription.arn
    assert record["EventSource"] == "aws:sns"
    sns = record["Sns"]
    assert set(sns) == {
        "Type",
        "MessageId",
        "TopicArn",
        "Subject",
        "Message",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertUrl",
        "UnsubscribeUrl",
        "MessageAttributes",
    }
    assert sns["Type"] == "Notification"
    assert sns["MessageId"] == message_id
    assert sns["TopicArn"] == TOPIC_ARN
    assert sns["Subject"] == "Alert"
    assert sns["Message"] == "disk full"
    assert sns["Timestamp"] == "2026-01-01T00:00:01.500Z"
    assert sns["SignatureVersion"] == "1"
    assert len(base64.b64decode(sns["Signature"], validate=True)) == 20  # a SHA-1 digest
    assert sns["SigningCertUrl"].startswith("https://sns.us-east-1.amazonaws.com/")
    assert sns["SigningCertUrl"].endswith(".pem")
    assert sns["UnsubscribeUrl"] == (
        "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn="
        + subscription.arn
    )
    assert sns["MessageAttributes"] == {
        "severity": {"Type": "String", "Value": "critical"},
        "count": {"Type": "Number", "Value": "3"},
        "blob": {"Type": "Binary", "Value": "AQI="},
        "tags": {"Type": "String.Array", "Value": '["a","b"]'},
        "source": {"Type": "String", "Value": "host-1"},
        "zone": {"Type": "String", "Value": "eu"},
    }


async def test_no_subject_is_null_and_a_non_str_message_is_json(
    mesh: Mesh, clock: VirtualClock
) -> None:
    events = recorder(mesh, "worker")
    topic = make_topic(mesh)
    topic.subscribe("worker")  # by name, resolved when the mesh starts
    async with mesh:
        await topic.publish({"order": 1, "items": ["a"]})
        await clock.advance(0)

    sns = events[0]["Records"][0]["Sns"]
    assert sns["Subject"] is None
    assert sns["Message"] == '{"order":1,"items":["a"]}'
    assert sns["MessageAttributes"] == {}


# -- fan-out ---------------------------------------------------------------------------------
async def test_every_subscriber_gets_the_message_function_queue_and_callable(
    mesh: Mesh, clock: VirtualClock
) -> None:
    events = recorder(mesh, "worker")
    queue = make_queue(mesh, "inbox")
    received: list[dict[str, Any]] = []

    async def callback(envelope: dict[str, Any]) -> None:
        received.append(envelope)

    topic = make_topic(mesh)
    topic.subscribe("worker")
    topic.subscribe(queue)
    callable_subscription = topic.subscribe(callback)
    async with mesh:
        message_id = await topic.publish("hello", subject="Hi")
        await clock.advance(0)
        [message] = await queue.receive(10)

    assert events[0]["Records"][0]["Sns"]["MessageId"] == message_id
    assert message.json()["MessageId"] == message_id
    [envelope] = received
    assert envelope == {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": TOPIC_ARN,
        "Subject": "Hi",
        "Message": "hello",
        "Timestamp": "2026-01-01T00:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": envelope["Signature"],
        "SigningCertURL": envelope["SigningCertURL"],
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&"
        f"SubscriptionArn={callable_subscription.arn}",
    }
    assert (topic.published, topic.delivered, topic.delivery_failures) == (1, 3, 0)


async def test_publish_returns_before_delivery_and_drain_waits_for_it(
    mesh: Mesh, clock: VirtualClock
) -> None:
    release = asyncio.Event()
    done: list[str] = []

    async def slow(envelope: dict[str, Any]) -> None:
        await release.wait()
        done.append(envelope["Message"])

    topic = make_topic(mesh)
    topic.subscribe(slow)
    async with mesh:
        await topic.publish("one")
        await clock.advance(0)
        assert done == []
        assert await topic.pending() == 1
        assert not await mesh.drain(timeout=0.01)
        release.set()
        assert await mesh.drain(timeout=1.0)
        assert done == ["one"]
        assert await topic.pending() == 0


async def test_a_failing_subscriber_does_not_stop_the_others(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    events = recorder(mesh, "worker")
    queue = make_queue(mesh, "inbox")
    calls: list[float] = []

    async def broken(envelope: dict[str, Any]) -> None:
        calls.append(clock.now())
        raise RuntimeError("subscriber down")

    topic = make_topic(mesh)
    failing = topic.subscribe(broken)
    topic.subscribe("worker")
    topic.subscribe(queue)
    with caplog.at_level(logging.WARNING, logger="eventmesh.topics"):
        async with mesh:
            await topic.publish("hello")
            await clock.advance(0)
            assert len(events) == 1
            assert len(await queue.receive(10)) == 1
            await clock.advance(60)  # the callable's 3 retries, 20 s apart

    assert calls == [0, 20, 40, 60]
    assert (failing.attempts, failing.delivered, failing.failed) == (4, 0, 1)
    assert (topic.delivered, topic.delivery_failures) == (2, 1)
    assert "subscriber down" in caplog.text


async def test_unsubscribe_stops_deliveries(mesh: Mesh, clock: VirtualClock) -> None:
    queue = make_queue(mesh, "inbox")
    topic = make_topic(mesh)
    subscription = topic.subscribe(queue, raw_message_delivery=True)
    async with mesh:
        await topic.publish("one")
        await clock.advance(0)
        await topic.unsubscribe(subscription)
        await topic.publish("two")
        await clock.advance(0)
        assert [m.body for m in await queue.receive(10)] == ["one"]


# -- filter policies (§5.1) ------------------------------------------------------------------
async def test_filter_policy_on_message_attributes(mesh: Mesh, clock: VirtualClock) -> None:
    critical = make_queue(mesh, "critical")
    anything = make_queue(mesh, "anything")
    topic = make_topic(mesh)
    filtered = topic.subscribe(
        critical,
        raw_message_delivery=True,
        filter_policy={"severity": ["critical"], "count": [{"numeric": [">", 2]}]},
    )
    topic.subscribe(anything, raw_message_delivery=True)
    async with mesh:
        await topic.publish("a", attributes={"severity": "critical", "count": 3})
        await topic.publish("b", attributes={"severity": "critical", "count": 1})
        await topic.publish("c", attributes={"severity": "info", "count": 9})
        await topic.publish("d")  # no attributes: a policy on attributes rejects it
        shaped = {
            "severity": {"Type": "String", "Value": "critical"},  # SNS's shape
            "count": {"DataType": "Number", "StringValue": "5"},  # SQS's shape
        }
        await topic.publish("e", attributes=shaped)
        await clock.advance(0)
        assert sorted(m.body for m in await critical.receive(10)) == ["a", "e"]
        assert sorted(m.body for m in await anything.receive(10)) == ["a", "b", "c", "d", "e"]

    assert filtered.filtered_out == 3
    assert topic.filtered_out == 3


async def test_filter_policy_on_the_message_body(mesh: Mesh, clock: VirtualClock) -> None:
    queue = make_queue(mesh, "big-orders")
    topic = make_topic(mesh)
    topic.subscribe(
        queue,
        raw_message_delivery=True,
        filter_policy={"order": {"total": [{"numeric": [">=", 100]}]}},
        filter_policy_scope="MessageBody",
    )
    async with mesh:
        await topic.publish({"order": {"total": 150}})
        await topic.publish({"order": {"total": 20}})
        await topic.publish("not json")
        await topic.publish('{"order": {"total": 100}}')
        await clock.advance(0)
        bodies = sorted(m.body for m in await queue.receive(10))

    assert bodies == ['{"order": {"total": 100}}', '{"order":{"total":150}}']


async def test_an_invalid_filter_policy_fails_at_subscribe(mesh: Mesh) -> None:
    topic = make_topic(mesh)
    with pytest.raises(PatternError):
        topic.subscribe(make_queue(mesh, "q"), filter_policy={"a": "not-a-list"})
    with pytest.raises(PatternError):
        topic.subscribe(make_queue(mesh, "q"), filter_policy={}, filter_policy_scope="Body")  # type: ignore[arg-type]
    policy = FilterPolicy({"a": ["x"]}, "MessageBody")
    assert topic.subscribe(make_queue(mesh, "q"), filter_policy=policy).filter_policy is policy


# -- queue subscribers -----------------------------------------------------------------------
async def test_a_queue_gets_the_json_envelope(mesh: Mesh, clock: VirtualClock) -> None:
    queue = make_queue(mesh, "inbox")
    topic = make_topic(mesh)
    subscription = topic.subscribe("inbox")  # a queue's name
    async with mesh:
        await clock.advance(2)
        message_id = await topic.publish("hello", subject="Greeting", attributes={"n": 1})
        await clock.advance(0)
        [message] = await queue.receive(10)

    body = message.json()
    assert set(body) == ENVELOPE_KEYS
    assert body["Type"] == "Notification"
    assert body["MessageId"] == message_id
    assert body["TopicArn"] == TOPIC_ARN
    assert body["Subject"] == "Greeting"
    assert body["Message"] == "hello"
    assert body["Timestamp"] == "2026-01-01T00:00:02.000Z"
    assert body["SignatureVersion"] == "1"
    assert body["UnsubscribeURL"].endswith("SubscriptionArn=" + subscription.arn)
    assert body["MessageAttributes"] == {"n": {"Type": "Number", "Value": "1"}}
    assert message.message_attributes == {}  # in the envelope, not on the SQS message
    assert subscription.protocol == "sqs"
    assert subscription.endpoint == "arn:aws:sqs:us-east-1:123456789012:inbox"


async def test_raw_delivery_sends_the_message_with_sqs_attributes(
    mesh: Mesh, clock: VirtualClock
) -> None:
    queue = make_queue(mesh, "inbox")
    topic = make_topic(mesh)
    topic.subscribe(queue, raw_message_delivery=True)
    async with mesh:
        await topic.publish({"id": 7}, subject="ignored", attributes={"kind": "order", "n": 2})
        await clock.advance(0)
        [message] = await queue.receive(10)

    assert message.body == '{"id":7}'
    assert message.message_attributes == {
        "kind": {"DataType": "String", "StringValue": "order"},
        "n": {"DataType": "Number", "StringValue": "2"},
    }


async def test_topic_to_queue_to_mapping_end_to_end(mesh: Mesh, clock: VirtualClock) -> None:
    events = recorder(mesh, "consumer")
    queue = make_queue(mesh, "orders")
    queue.subscribe("consumer")
    topic = make_topic(mesh, "orders-topic")
    topic.subscribe(queue)
    async with mesh:
        message_id = await topic.publish({"order": 42}, attributes={"region": "eu"})
        await clock.advance(0)

    [event] = events
    [record] = event["Records"]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:orders"
    envelope = orjson.loads(record["body"])
    assert envelope["MessageId"] == message_id
    assert envelope["TopicArn"] == "arn:aws:sns:us-east-1:123456789012:orders-topic"
    assert orjson.loads(envelope["Message"]) == {"order": 42}
    assert envelope["MessageAttributes"] == {"region": {"Type": "String", "Value": "eu"}}


async def test_a_topic_is_a_destination(mesh: Mesh, clock: VirtualClock) -> None:
    queue = make_queue(mesh, "results")
    topic = make_topic(mesh, "results-topic")
    topic.subscribe(queue, raw_message_delivery=True)

    @mesh.function(name="worker", on_success="results-topic")
    async def worker(event: Any, context: Context) -> dict[str, int]:
        return {"doubled": event["n"] * 2}

    async with mesh:
        await mesh.invoke("worker", {"n": 21}, invocation_type="Event")
        await clock.advance(0)
        [message] = await queue.receive(10)
        message_id = await topic.send("direct", {"k": {"DataType": "String", "StringValue": "v"}})

    record = message.json()
    assert record["requestContext"]["condition"] == "Success"
    assert record["responsePayload"] == {"doubled": 42}
    assert re.fullmatch(UUID, message_id)


# -- HTTP(S) subscribers ---------------------------------------------------------------------
async def test_http_delivery_retries_on_the_default_schedule_until_it_succeeds(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    topic = make_topic(mesh)
    with caplog.at_level(logging.DEBUG, logger="eventmesh.topics"):
        async with Endpoint(clock, [500, 503]) as server, mesh:
            subscription = topic.subscribe(server.url)
            message_id = await topic.publish("hello", subject="Greeting", attributes={"a": "b"})
            await eventually(lambda: subscription.attempts == 1)
            await clock.advance(19.9)
            assert subscription.attempts == 1  # not before 20 s
            await clock.advance(0.1)
            await eventually(lambda: subscription.attempts == 2)
            await clock.advance(20)
            await eventually(lambda: subscription.attempts == 3)

    # The retry waits as the delivery decided it (20 s, not a moment less), each time.
    retries = [m.rsplit("; ", 1)[-1] for m in caplog.messages if "retrying in" in m]
    assert retries == ["retrying in 20 s", "retrying in 20 s"]
    assert [(r.at, r.status) for r in server.requests] == [(0, 500), (20, 503), (40, 200)]
    request = server.requests[-1]
    assert request.line == "POST /sns HTTP/1.1"
    assert request.headers["x-amz-sns-message-type"] == "Notification"
    assert request.headers["x-amz-sns-message-id"] == message_id
    assert request.headers["x-amz-sns-topic-arn"] == TOPIC_ARN
    assert request.headers["x-amz-sns-subscription-arn"] == subscription.arn
    assert request.headers["content-type"] == "text/plain; charset=UTF-8"
    body = orjson.loads(request.body)
    assert set(body) == ENVELOPE_KEYS
    assert body["MessageId"] == message_id
    assert body["Message"] == "hello"
    assert body["MessageAttributes"] == {"a": {"Type": "String", "Value": "b"}}
    assert {r.body for r in server.requests} == {request.body}  # the same message each time
    assert (subscription.delivered, subscription.failed) == (1, 0)
    assert (topic.delivered, topic.delivery_failures) == (1, 0)


async def test_http_delivery_gives_up_after_three_retries(mesh: Mesh, clock: VirtualClock) -> None:
    topic = make_topic(mesh)
    async with Endpoint(clock, [500] * 10) as server, mesh:
        subscription = topic.subscribe(server.url)
        await topic.publish("hello")
        for attempt in range(1, 4):
            await eventually(lambda n=attempt: subscription.attempts == n)  # type: ignore[misc]
            await clock.advance(20)
        await eventually(lambda: subscription.failed == 1)  # the delivery has ended
        await clock.advance(600)

    assert [r.at for r in server.requests] == [0, 20, 40, 60]
    assert topic.delivery_failures == 1
    assert await topic.pending() == 0


async def test_http_client_errors_are_not_retried(mesh: Mesh, clock: VirtualClock) -> None:
    topic = make_topic(mesh)
    async with Endpoint(clock, [404]) as server, mesh:
        subscription = topic.subscribe(server.url)
        await topic.publish("hello")
        await eventually(lambda: subscription.failed == 1)  # the delivery has ended
        await clock.advance(100)

    assert len(server.requests) == 1
    assert subscription.attempts == 1


async def test_http_connection_errors_are_retried(mesh: Mesh, clock: VirtualClock) -> None:
    async with Endpoint(clock) as closed:
        url = closed.url  # nothing listens there once the server is closed
    topic = make_topic(mesh)
    async with mesh:
        subscription = topic.subscribe(url, delivery_policy={"numRetries": 1})
        await topic.publish("hello")
        await eventually(lambda: subscription.attempts == 1)
        assert subscription.failed == 0
        await clock.advance(20)
        await eventually(lambda: subscription.failed == 1)

    assert subscription.attempts == 2


async def test_http_raw_message_delivery(mesh: Mesh, clock: VirtualClock) -> None:
    topic = make_topic(mesh)
    async with Endpoint(clock) as server, mesh:
        subscription = topic.subscribe(server.url, raw_message_delivery=True)
        await topic.publish({"id": 1})
        await eventually(lambda: subscription.delivered == 1)

    [request] = server.requests
    assert request.body == b'{"id":1}'
    assert request.headers["x-amz-sns-rawdelivery"] == "true"


async def test_http_needs_httpx(mesh: Mesh, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)  # as if it were not installed
    topic = make_topic(mesh)
    with pytest.raises(ConfigurationError, match=r"pip install 'eventmesh\[http\]'"):
        topic.subscribe("https://example.com/hook")


# -- trace context ---------------------------------------------------------------------------
async def test_deliveries_carry_the_publishers_trace_context(clock: VirtualClock) -> None:
    provider = TracerProvider()
    mesh = Mesh(clock=clock, telemetry=Telemetry(provider), drain_timeout=2.0)
    tracer = provider.get_tracer("test")
    queue = make_queue(mesh, "inbox")
    seen_trace_ids: list[int] = []

    async def callback(envelope: dict[str, Any]) -> None:
        seen_trace_ids.append(trace.get_current_span().get_span_context().trace_id)

    topic = make_topic(mesh)
    topic.subscribe(queue)
    topic.subscribe(callback)
    async with Endpoint(clock) as server, mesh:
        http_subscription = topic.subscribe(server.url)
        with tracer.start_as_current_span("publisher") as span:
            await topic.publish("traced")
        trace_id = span.get_span_context().trace_id
        await clock.advance(0)
        await eventually(lambda: http_subscription.delivered == 1)
        [message] = await queue.receive(10)

    assert seen_trace_ids == [trace_id]
    assert f"-{trace_id:032x}-" in message.trace_context["traceparent"]
    assert f"-{trace_id:032x}-" in server.requests[0].headers["traceparent"]


# -- limits and configuration ----------------------------------------------------------------
async def test_message_limits(mesh: Mesh) -> None:
    topic = make_topic(mesh)
    async with mesh:
        await topic.publish("x" * 262_144)  # exactly 256 KB
        with pytest.raises(PayloadError, match="256 KB"):
            await topic.publish("x" * 262_145)
        with pytest.raises(PayloadError, match="256 KB"):
            await topic.publish("x" * 262_140, attributes={"ab": "c"})  # 2 + 6 + 1 bytes
        with pytest.raises(PayloadError):
            await topic.publish("")
        with pytest.raises(PayloadError):
            await topic.publish("m", subject="two\nlines")
        with pytest.raises(PayloadError):
            await topic.publish("m", subject="s" * 100)
        with pytest.raises(PayloadError):
            await topic.publish("m", attributes={f"a{i}": "v" for i in range(11)})
        with pytest.raises(PayloadError):
            await topic.publish("m", attributes={"AWS.reserved": "v"})
        with pytest.raises(PayloadError):
            await topic.publish("m", attributes={"n": {"DataType": "Number", "StringValue": "x"}})
        with pytest.raises(PayloadError):
            await topic.publish({1, 2})  # not JSON


async def test_publish_needs_a_running_mesh(mesh: Mesh) -> None:
    topic = make_topic(mesh)
    with pytest.raises(EventMeshError, match="before the mesh runs"):
        await topic.publish("early")


async def test_subscription_settings_are_checked(mesh: Mesh) -> None:
    recorder(mesh, "worker")
    topic = make_topic(mesh)
    with pytest.raises(ConfigurationError, match="raw_message_delivery"):
        topic.subscribe(mesh.get_function("worker"), raw_message_delivery=True)

    def not_async(envelope: dict[str, Any]) -> None:
        pass

    with pytest.raises(ConfigurationError, match="async"):
        topic.subscribe(not_async)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="cannot subscribe"):
        topic.subscribe(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="delivery policy"):
        topic.subscribe(make_queue(mesh, "q"), delivery_policy=DeliveryPolicy())
    with pytest.raises(ConfigurationError, match="3600"):
        topic.subscribe("http://127.0.0.1:9/x", delivery_policy=DeliveryPolicy(num_retries=200))
    with pytest.raises(ConfigurationError):
        make_topic(mesh, "events.fifo")


async def test_unknown_and_fifo_targets_fail_when_the_mesh_starts(clock: VirtualClock) -> None:
    for target, problem in (("nobody", "no function or queue"), ("jobs.fifo", "FIFO")):
        mesh = Mesh(clock=clock)
        make_queue(mesh, "jobs.fifo")
        make_topic(mesh).subscribe(target)
        with pytest.raises(ConfigurationError, match=problem):
            await mesh.start()
        await mesh.stop()


async def test_subscribing_twice_returns_the_same_subscription(mesh: Mesh) -> None:
    queue = make_queue(mesh, "inbox")
    topic = make_topic(mesh)
    first = topic.subscribe(queue, filter_policy={"a": ["1"]})
    assert topic.subscribe(queue, filter_policy={"a": ["1"]}) is first
    with pytest.raises(ConfigurationError, match="already subscribed"):
        topic.subscribe(queue, raw_message_delivery=True)
    assert topic.subscriptions == [first]


# -- delivery policies -----------------------------------------------------------------------
def test_the_delivery_policies() -> None:
    assert list(HTTP_DEFAULT_POLICY.delays()) == [20.0, 20.0, 20.0]
    managed = list(AWS_MANAGED_POLICY.delays())
    assert len(managed) + 1 == 100_015  # attempts, the first included
    assert managed[:5] == [0.0, 0.0, 0.0, 1.0, 1.0]  # 3 immediate, 2 one second apart
    # Backoff from 1 to 20 s in 10 steps: 20 ** (k / 9).
    assert managed[5:15] == pytest.approx(
        [1.0, 1.39495, 1.94589, 2.71442, 3.78648, 5.28195, 7.36806, 10.27809, 14.33742, 20.0],
        rel=1e-5,
    )
    assert set(managed[15:]) == {20.0}
    linear = DeliveryPolicy(
        num_retries=5, num_no_delay_retries=1, min_delay_target=1, max_delay_target=4
    )
    assert list(linear.delays()) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert DeliveryPolicy.from_sns({"numRetries": 2, "minDelayTarget": 5}) == DeliveryPolicy(
        num_retries=2, min_delay_target=5
    )
    with pytest.raises(ConfigurationError):
        DeliveryPolicy(num_retries=1, num_no_delay_retries=2)
    with pytest.raises(ConfigurationError):
        DeliveryPolicy(min_delay_target=30, max_delay_target=20)
    with pytest.raises(ConfigurationError):
        DeliveryPolicy.from_sns({"retries": 1})
