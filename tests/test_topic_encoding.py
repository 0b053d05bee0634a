"""A topic encodes what its subscribers share once per publication and joins each
subscription's own fields to it: those bytes must be exactly the JSON of the event built
field by field (the general path: ``lambda_event``, ``envelope``), in AWS's field order, for
any message, subject and attributes; every subscriber must still get its own copy; and the
first attempt made inline, a delivery that waited for room, a retry from the store and a
traced delivery must all carry the same event.

Expected values are written by hand (reference §4.2); the property tests compare the joined
bytes with ``orjson.dumps`` of the event built field by field. Time is a VirtualClock.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from eventmesh import BackendError, Context, Mesh, Telemetry
from eventmesh.resources.topic import Notification, Subscription, encode_sns_attributes
from eventmesh.testing import VirtualClock

TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:alerts"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-eventmesh.pem"
UUID_V4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def notification(
    message: str = "m", subject: str | None = None, attributes: Any = None
) -> Notification:
    return Notification(
        message_id="95df01b4-ee98-5cb9-9903-4c221d41eb5e",
        topic_arn=TOPIC_ARN,
        message=message,
        subject=subject,
        timestamp="2026-01-01T00:00:01.500Z",
        attributes=encode_sns_attributes(attributes),
        signing_cert_url=CERT_URL,
    )


def subscriptions(clock: VirtualClock) -> dict[str, Subscription]:
    """A subscription of each kind that gets the envelope or the Lambda event."""
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False))
    topic = mesh.topic("alerts")

    async def callback(envelope: dict[str, Any]) -> None:
        return None

    return {
        "lambda": topic.subscribe("worker"),
        "sqs": topic.subscribe(mesh.queue("inbox")),
        "callable": topic.subscribe(callback),
    }


def test_the_lambda_event_is_joined_in_awss_field_order(clock: VirtualClock) -> None:
    subscription = subscriptions(clock)["lambda"]
    arn = subscription.arn
    signature = notification(subject="Hi", attributes={"a": "b"}).signature
    expected = (
        '{"Records":[{"EventVersion":"1.0","EventSubscriptionArn":"' + arn + '",'
        '"EventSource":"aws:sns","Sns":{"Type":"Notification",'
        '"MessageId":"95df01b4-ee98-5cb9-9903-4c221d41eb5e","TopicArn":"' + TOPIC_ARN + '",'
        '"Subject":"Hi","Message":"m","Timestamp":"2026-01-01T00:00:01.500Z",'
        '"SignatureVersion":"1","Signature":"' + signature + '",'
        '"SigningCertUrl":"' + CERT_URL + '",'
        '"UnsubscribeUrl":"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&'
        "SubscriptionArn=" + arn + '",'
        '"MessageAttributes":{"a":{"Type":"String","Value":"b"}}}}]}'
    )
    joined = subscription.lambda_event_data(notification(subject="Hi", attributes={"a": "b"}))
    assert joined.decode() == expected


def test_the_envelope_text_is_joined_in_snss_field_order(clock: VirtualClock) -> None:
    subscription = subscriptions(clock)["sqs"]
    plain = notification()
    expected = (
        '{"Type":"Notification","MessageId":"95df01b4-ee98-5cb9-9903-4c221d41eb5e",'
        '"TopicArn":"' + TOPIC_ARN + '","Message":"m","Timestamp":"2026-01-01T00:00:01.500Z",'
        '"SignatureVersion":"1","Signature":"' + plain.signature + '",'
        '"SigningCertURL":"' + CERT_URL + '",'
        '"UnsubscribeURL":"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&'
        "SubscriptionArn=" + subscription.arn + '"}'
    )
    assert subscription.envelope_data(plain).decode() == expected


attribute_values = st.one_of(
    st.text(min_size=1),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.binary(min_size=1, max_size=8),
    st.lists(st.text(max_size=4), max_size=3),
)


@settings(max_examples=60, deadline=None)
@given(
    message=st.text(min_size=1),
    subject=st.one_of(
        st.none(),
        st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1),
    ),
    attributes=st.dictionaries(
        st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,8}", fullmatch=True),
        attribute_values,
        max_size=3,
    ),
)
def test_joined_json_equals_the_event_built_field_by_field(
    message: str, subject: str | None, attributes: dict[str, Any]
) -> None:
    """Whatever the message (quotes, escapes, any Unicode), subject and attributes: the
    bytes a function and a queue get are the JSON of the event built field by field."""
    kinds = subscriptions(VirtualClock())
    published = notification(message, subject, attributes)
    function, queue = kinds["lambda"], kinds["sqs"]
    assert function.lambda_event_data(published) == orjson.dumps(function.lambda_event(published))
    assert queue.envelope_data(published) == orjson.dumps(queue.envelope(published))


def test_each_callable_gets_a_dict_of_its_own(clock: VirtualClock) -> None:
    """The shared fields are copied: a callable changing its envelope (its attributes too)
    changes no other subscriber's."""
    subscription = subscriptions(clock)["callable"]
    published = notification(attributes={"a": "b"})
    first = subscription.envelope(published)
    first["Message"] = "changed"
    first["MessageAttributes"]["a"]["Value"] = "changed"
    second = subscription.envelope(published)
    assert second["Message"] == "m"
    assert second["MessageAttributes"] == {"a": {"Type": "String", "Value": "b"}}


# -- through the mesh ------------------------------------------------------------------------
async def test_every_function_gets_its_own_arn_and_its_own_copy(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Two function subscribers of one publication: the same message and id, each with its
    own subscription ARN and unsubscribe URL; one changing its event changes nothing for
    the other."""
    got: dict[str, dict[str, Any]] = {}

    for name in ("first", "second"):

        @mesh.function(name=name)
        async def handler(event: dict[str, Any], context: Context) -> None:
            got[context.function_name] = event
            event["Records"][0]["Sns"]["Message"] = "changed by " + context.function_name

    topic = mesh.topic("alerts")
    first = topic.subscribe("first")
    second = topic.subscribe("second")
    async with mesh:
        message_id = await topic.publish("hello")
        await clock.advance(0)

    assert re.fullmatch(UUID_V4, message_id)
    for name, subscription in (("first", first), ("second", second)):
        [record] = got[name]["Records"]
        assert record["EventSubscriptionArn"] == subscription.arn
        assert record["Sns"]["UnsubscribeUrl"].endswith("SubscriptionArn=" + subscription.arn)
        assert record["Sns"]["MessageId"] == message_id
    assert first.arn != second.arn
    assert got["first"]["Records"][0]["Sns"]["Message"] == "changed by first"
    assert got["second"]["Records"][0]["Sns"]["Message"] == "changed by second"


async def test_message_ids_are_unique_and_the_time_is_the_virtual_clocks(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Each publication has a MessageId of its own (a version 4 UUID's shape); its Timestamp
    is the virtual clock's, in milliseconds, rounded as datetime rounds (0.4 µs before a
    second is that second)."""
    stamps: list[tuple[str, str]] = []

    async def callback(envelope: dict[str, Any]) -> None:
        stamps.append((envelope["MessageId"], envelope["Timestamp"]))

    topic = mesh.topic("alerts")
    topic.subscribe(callback)
    async with mesh:
        await clock.advance(1.9999996)
        await topic.publish("a")
        await clock.advance(0.5)
        await topic.publish("b")
        await clock.advance(0)

    (first_id, first_time), (second_id, second_time) = stamps
    assert first_id != second_id
    assert re.fullmatch(UUID_V4, first_id) and re.fullmatch(UUID_V4, second_id)
    assert first_time == "2026-01-01T00:00:02.000Z"
    assert second_time == "2026-01-01T00:00:02.500Z"  # 2.4999996 s: 2.500000 to the µs


async def test_inline_waited_and_retried_deliveries_carry_the_same_event(
    clock: VirtualClock,
) -> None:
    """A function's first delivery is made inline by ``publish``; one to a function at its
    limit waits in the background; one whose first attempt failed (the function's queue
    was stopped) is retried from the store. Each function gets the event the general path
    builds for it."""
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    release = asyncio.Event()
    got: dict[str, list[dict[str, Any]]] = {"inline": [], "full": []}

    @mesh.function(name="inline")
    async def inline(event: dict[str, Any], context: Context) -> None:
        got["inline"].append(event)

    @mesh.function(name="full", max_pending=1)
    async def full(event: dict[str, Any], context: Context) -> None:
        got["full"].append(event)
        await release.wait()

    topic = mesh.topic("alerts")
    subscribed = {"inline": topic.subscribe(inline), "full": topic.subscribe(full)}
    async with mesh:
        await topic.publish("first", subject="S", attributes={"k": "v"})
        await clock.advance(0)
        await topic.publish("second", subject="S", attributes={"k": "v"})  # full waits
        await clock.advance(0)
        assert len(got["full"]) == 1
        release.set()
        await clock.advance(1)
        await clock.advance(1)

    assert [len(got[name]) for name in ("inline", "full")] == [2, 2]
    for name, events in got.items():
        subscription = subscribed[name]
        for event in events:
            sns = event["Records"][0]["Sns"]
            rebuilt = Notification(
                message_id=sns["MessageId"],
                topic_arn=TOPIC_ARN,
                message=sns["Message"],
                subject=sns["Subject"],
                timestamp=sns["Timestamp"],
                attributes={"k": {"DataType": "String", "StringValue": "v"}},
                signing_cert_url=CERT_URL,
            )
            assert event == subscription.lambda_event(rebuilt)
            assert list(sns) == list(subscription.lambda_event(rebuilt)["Records"][0]["Sns"])
    assert (subscribed["full"].delivered, subscribed["full"].attempts) == (2, 2)


async def test_a_retried_function_delivery_gets_the_event_of_its_first_attempt(
    clock: VirtualClock,
) -> None:
    """A first attempt that fails with a server-side error (the store behind the function's
    Event invocations is down) is retried from the store under the AWS-managed policy; the
    function then gets exactly the event the first attempt would have carried."""
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    got: list[dict[str, Any]] = []

    @mesh.function(name="worker")
    async def worker(event: dict[str, Any], context: Context) -> None:
        got.append(event)

    topic = mesh.topic("alerts")
    subscription = topic.subscribe(worker)
    async with mesh:
        context = mesh.context
        real = context.invoke_async
        calls = 0

        async def failing_once(*args: Any, **kwargs: Any) -> str:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise BackendError("store down")
            return await real(*args, **kwargs)

        context.invoke_async = failing_once  # type: ignore[method-assign]
        try:
            message_id = await topic.publish("m", subject="S")
            assert (calls, got) == (1, [])
            await clock.advance(0)  # the AWS-managed policy's first retries are immediate
            await clock.advance(0)
        finally:
            context.invoke_async = real  # type: ignore[method-assign]

    [event] = got
    sns = event["Records"][0]["Sns"]
    assert (sns["MessageId"], sns["Message"], sns["Subject"]) == (message_id, "m", "S")
    assert sns["Timestamp"] == "2026-01-01T00:00:00.000Z"
    assert event["Records"][0]["EventSubscriptionArn"] == subscription.arn
    assert (subscription.attempts, subscription.delivered) == (2, 1)


async def test_a_traced_publication_reaches_the_function_in_the_publishers_trace(
    clock: VirtualClock,
) -> None:
    """With tracing on, the first attempt made inline carries the publisher's trace
    context into the function's invocation."""
    provider = TracerProvider()
    mesh = Mesh(clock=clock, telemetry=Telemetry(provider), drain_timeout=2.0)
    seen: list[int] = []

    @mesh.function(name="worker")
    async def worker(event: dict[str, Any], context: Context) -> None:
        seen.append(trace.get_current_span().get_span_context().trace_id)

    topic = mesh.topic("alerts")
    topic.subscribe(worker)
    async with mesh:
        with provider.get_tracer("test").start_as_current_span("publisher") as span:
            await topic.publish("m")
        await clock.advance(0)

    assert seen == [span.get_span_context().trace_id]
