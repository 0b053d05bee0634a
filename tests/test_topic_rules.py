"""Topics: the SNS rules each test pins, one rule a test where it can be.

The shapes, limits and policies come from the reference (§4.2 the Lambda event, §5.1 filter
policies, SNS-RETRY the delivery policies) and SNS's documentation of Publish (a subject of
1-99 printable ASCII characters, a message up to 256 KiB with its attributes, attribute names
and data types), of raw message delivery and of the HTTP/S notification (its headers, its
string to sign). Time is a VirtualClock; the only real waiting is an HTTP round trip to a
server on 127.0.0.1 that the test starts.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import sys
from typing import Any

import orjson
import pytest
from http_endpoint import Endpoint, eventually
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from eventmesh import (
    BackendError,
    BackpressureError,
    ConfigurationError,
    Context,
    Mesh,
    PayloadError,
    Telemetry,
)
from eventmesh.resources.topic import (
    AWS_MANAGED_POLICY,
    HTTP_DEFAULT_POLICY,
    DeliveryPolicy,
    Topic,
    encode_sns_attributes,
)
from eventmesh.testing import VirtualClock

TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:alerts"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:inbox"
LIMIT = 256 * 1024


def collector() -> tuple[list[dict[str, Any]], Any]:
    """An async callable subscriber and the envelopes it got."""
    got: list[dict[str, Any]] = []

    async def callback(envelope: dict[str, Any]) -> None:
        got.append(envelope)

    return got, callback


def string_to_sign(envelope: dict[str, Any]) -> str:
    """SNS's string to sign for a Notification: the fields in this order, each as name and
    value on a line of their own, Subject only when the message has one."""
    names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    return "".join(f"{name}\n{envelope[name]}\n" for name in names if name in envelope)


def sha1_b64(text: str) -> str:
    return base64.b64encode(hashlib.sha1(text.encode()).digest()).decode()


# -- delivery policies (SNS-RETRY) -----------------------------------------------------------
def test_delivery_policy_defaults_are_snss_http_default() -> None:
    """SNS's default HTTP/S policy: 3 retries, no immediate or minimum-delay phase, 20 s."""
    policy = DeliveryPolicy()
    assert (policy.num_retries, policy.num_no_delay_retries) == (3, 0)
    assert (policy.num_min_delay_retries, policy.num_max_delay_retries) == (0, 0)
    assert (policy.min_delay_target, policy.max_delay_target) == (20.0, 20.0)
    assert policy.backoff_function == "linear"
    assert policy == HTTP_DEFAULT_POLICY
    assert HTTP_DEFAULT_POLICY.total_delay() == 60.0


def test_the_aws_managed_policy_phases() -> None:
    """SNS-RETRY: AWS-managed endpoints get 3 immediate retries, 2 one second apart, 10 with
    exponential backoff from 1 to 20 s and 100,000 20 s apart (100,015 attempts in all)."""
    policy = AWS_MANAGED_POLICY
    assert policy.num_retries + 1 == 100_015
    assert policy.num_no_delay_retries == 3
    assert policy.num_min_delay_retries == 2
    assert policy.num_backoff_retries == 10
    assert policy.num_max_delay_retries == 99_999
    assert (policy.min_delay_target, policy.max_delay_target) == (1.0, 20.0)
    assert policy.backoff_function == "exponential"
    # About 23 days: 2 + 68.107 (the backoff phase, 20 ** (k / 9) for k in 0..9) + 99,999 * 20.
    assert policy.total_delay() == pytest.approx(2 + 68.10726 + 99_999 * 20, abs=1e-4)


def test_a_policy_may_spend_all_its_retries_in_the_fixed_phases() -> None:
    """The three fixed phases may add up to numRetries exactly (no backoff phase left)."""
    policy = DeliveryPolicy(
        num_retries=4,
        num_no_delay_retries=1,
        num_min_delay_retries=1,
        num_max_delay_retries=2,
        min_delay_target=2,
        max_delay_target=7,
    )
    assert policy.num_backoff_retries == 0
    assert list(policy.delays()) == [0.0, 2.0, 7.0, 7.0]
    assert policy.total_delay() == 16.0
    assert list(DeliveryPolicy(num_retries=0).delays()) == []


def test_a_single_backoff_retry_waits_the_minimum_delay() -> None:
    """A backoff phase of one retry starts (and ends) at minDelayTarget, both curves."""
    for curve in ("linear", "exponential"):
        policy = DeliveryPolicy(
            num_retries=1, min_delay_target=5, max_delay_target=10, backoff_function=curve
        )
        assert list(policy.delays()) == [5.0]


def test_backoff_phases_run_from_the_minimum_to_the_maximum_delay() -> None:
    """Linear: evenly spaced; exponential: each delay the same factor larger."""
    linear = DeliveryPolicy(
        num_retries=4, min_delay_target=2, max_delay_target=8, num_max_delay_retries=1
    )
    assert list(linear.delays()) == [2.0, 5.0, 8.0, 8.0]
    exponential = DeliveryPolicy(
        num_retries=4,
        num_min_delay_retries=1,
        min_delay_target=2,
        max_delay_target=18,
        backoff_function="exponential",
    )
    assert list(exponential.delays()) == pytest.approx([2.0, 2.0, 6.0, 18.0])
    two = DeliveryPolicy(num_retries=2, min_delay_target=1, max_delay_target=4)
    assert list(two.delays()) == [1.0, 4.0]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"num_retries": -1}, "retry counts are integers >= 0"),
        ({"num_no_delay_retries": -1}, "retry counts are integers >= 0"),
        ({"num_min_delay_retries": -1}, "retry counts are integers >= 0"),
        ({"num_max_delay_retries": -1}, "retry counts are integers >= 0"),
        ({"num_retries": True}, "retry counts are integers >= 0"),
        ({"num_retries": 2.0}, "retry counts are integers >= 0"),
        ({"num_retries": 1, "num_min_delay_retries": 2}, "must not exceed num_retries"),
        ({"num_retries": 1, "num_max_delay_retries": 2}, "must not exceed num_retries"),
        (
            {"num_retries": 2, "num_no_delay_retries": 1, "num_max_delay_retries": 2},
            "must not exceed num_retries",
        ),
        ({"min_delay_target": 0}, r"0 < min_delay_target <= max_delay_target"),
        ({"min_delay_target": -1}, r"0 < min_delay_target <= max_delay_target"),
        ({"min_delay_target": 21}, r"0 < min_delay_target <= max_delay_target"),
        ({"backoff_function": "geometric"}, "must be 'linear' or 'exponential', not 'geometric'"),
    ],
)
def test_a_delivery_policy_out_of_snss_bounds_is_refused(
    settings: dict[str, Any], message: str
) -> None:
    """SNS refuses counts below 0, phases adding up past numRetries, a minDelayTarget of 0 or
    above maxDelayTarget, and a backoff function it does not know."""
    with pytest.raises(ConfigurationError, match=message):
        DeliveryPolicy(**settings)


def test_a_delivery_policy_from_snss_json_names() -> None:
    """``healthyRetryPolicy``'s JSON names map to the policy's fields, every one of them."""
    policy = DeliveryPolicy.from_sns(
        {
            "numRetries": 6,
            "numNoDelayRetries": 1,
            "numMinDelayRetries": 2,
            "numMaxDelayRetries": 1,
            "minDelayTarget": 3,
            "maxDelayTarget": 12,
            "backoffFunction": "exponential",
        }
    )
    assert policy == DeliveryPolicy(
        num_retries=6,
        num_no_delay_retries=1,
        num_min_delay_retries=2,
        num_max_delay_retries=1,
        min_delay_target=3,
        max_delay_target=12,
        backoff_function="exponential",
    )
    assert DeliveryPolicy.from_sns({}) == DeliveryPolicy()
    with pytest.raises(ConfigurationError, match=r"unknown delivery policy keys: a, retries$"):
        DeliveryPolicy.from_sns({"retries": 1, "a": 2, "numRetries": 1})
    with pytest.raises(ConfigurationError, match="delivery_policy"):
        DeliveryPolicy.from_sns([("numRetries", 1)])  # type: ignore[arg-type]


# -- publish's limits ------------------------------------------------------------------------
async def test_a_subject_is_1_to_99_printable_ascii_characters(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Publish's Subject: ASCII, starting with a letter, number or punctuation, no line breaks
    or control characters, fewer than 100 characters."""
    topic = mesh.topic("alerts")
    got, callback = collector()
    topic.subscribe(callback)
    async with mesh:
        await topic.publish("m", subject="s" * 99)
        for bad in ("", "s" * 100, "caf\u00e9", "tab\there", "two\nlines", 42):
            with pytest.raises(PayloadError, match="printable ASCII of 1-99 characters"):
                await topic.publish("m", subject=bad)  # type: ignore[arg-type]
        await clock.advance(0)

    assert [envelope["Subject"] for envelope in got] == ["s" * 99]
    assert topic.published == 1


async def test_a_message_is_utf8_text(mesh: Mesh, clock: VirtualClock) -> None:
    """An SNS message is text: bytes are decoded as UTF-8, other values sent as JSON; a
    message that is missing, empty, not UTF-8 or not valid Unicode is refused."""
    topic = mesh.topic("alerts")
    got, callback = collector()
    topic.subscribe(callback)
    async with mesh:
        await topic.publish(b"caf\xc3\xa9")
        await topic.publish(bytearray(b"raw"))
        await topic.publish(["a", 1])
        with pytest.raises(PayloadError, match=r"^message: an SNS message must be text \(UTF-8\)$"):
            await topic.publish(b"\xff\xfe")
        with pytest.raises(
            PayloadError, match=r"^message: a message is required \(SNS's Message\)$"
        ):
            await topic.publish(None)
        with pytest.raises(PayloadError, match=r"^message: an SNS message must not be empty$"):
            await topic.publish(b"")
        with pytest.raises(PayloadError, match=r"^message: a lone surrogate"):
            await topic.publish("bad \ud800")
        with pytest.raises(PayloadError, match=r"^message\.n: not JSON-serialisable"):
            await topic.publish({"n": float("nan")})
        await clock.advance(0)

    assert [envelope["Message"] for envelope in got] == ["caf\u00e9", "raw", '["a",1]']


async def test_the_256_kib_limit_counts_attribute_names_types_and_values_in_bytes(
    mesh: Mesh,
) -> None:
    """SNS's 256 KiB limit is on the message and its attributes together: each attribute's
    name, data type and value, counted in UTF-8 bytes."""
    topic = mesh.topic("alerts")
    attributes = {"name": "\u00e9\u00e9"}  # 4 + len("String") + 4 bytes
    size = 4 + 6 + 4
    async with mesh:
        await topic.publish("\u00e9" + "x" * (LIMIT - size - 2), attributes=attributes)
        with pytest.raises(PayloadError, match=f"message of {LIMIT + 1} bytes"):
            await topic.publish("\u00e9" + "x" * (LIMIT - size - 1), attributes=attributes)
        numbers = {"n": 12, "m": {"DataType": "Number.int", "StringValue": "7"}}
        size = (1 + 6 + 2) + (1 + 10 + 1)
        await topic.publish("x" * (LIMIT - size), attributes=numbers)
        with pytest.raises(PayloadError, match="over SNS's 256 KB limit"):
            await topic.publish("x" * (LIMIT - size + 1), attributes=numbers)
    assert topic.published == 2


# -- message attributes ----------------------------------------------------------------------
def test_attribute_names_follow_snss_rules() -> None:
    """Names are 1-256 characters of letters, digits, '_', '-' and '.', and may not start
    with ``AWS.`` or ``Amazon.`` in any case."""
    good = {"a": "1", "a.b-c_D9": "2", "n" * 256: "3", "AWSome": "4", "amazonia": "5"}
    assert set(encode_sns_attributes(good)) == set(good)
    for name in ("n" * 257, "with space", "caf\u00e9", "a/b", "aws.x", "AWS.x", "Amazon.x"):
        with pytest.raises(PayloadError, match=f"message attribute name {name!r} must be"):
            encode_sns_attributes({name: "v"})
    with pytest.raises(PayloadError, match=r"not start with 'AWS\.' or 'Amazon\.'"):
        encode_sns_attributes({"amazon.y": "v"})


def test_attribute_data_types_are_string_number_or_binary_with_an_optional_label() -> None:
    """A DataType is String, Number or Binary, optionally followed by ``.label``; the label
    is kept as given."""
    encoded = encode_sns_attributes(
        {
            "s": {"DataType": "String.color", "StringValue": "red"},
            "n": {"Type": "Number.float", "Value": "1.5"},
            "b": {"DataType": "Binary.png", "BinaryValue": b"\x00"},
        }
    )
    assert encoded == {
        "s": {"DataType": "String.color", "StringValue": "red"},
        "n": {"DataType": "Number.float", "StringValue": "1.5"},
        "b": {"DataType": "Binary.png", "BinaryValue": "AA=="},
    }
    dotted = encode_sns_attributes({"d": {"DataType": "Number.a.b", "StringValue": "1"}})
    assert dotted == {"d": {"DataType": "Number.a.b", "StringValue": "1"}}  # a dotted label
    for data_type in ("Integer", "Str", "Strings", "Text.String"):
        with pytest.raises(
            PayloadError, match=f"DataType must be String, Number or Binary .*not '{data_type}'"
        ):
            encode_sns_attributes({"x": {"DataType": data_type, "StringValue": "v"}})


def test_snss_binary_shape_carries_base64_in_value() -> None:
    """SNS writes a Binary attribute as ``{"Type": "Binary", "Value": <base64>}``: it is
    stored as the binary value, not as a string."""
    encoded = encode_sns_attributes({"b": {"Type": "Binary", "Value": "AQI="}})
    assert encoded == {"b": {"DataType": "Binary", "BinaryValue": "AQI="}}
    labelled = encode_sns_attributes({"b": {"Type": "Binary.gif", "Value": "AQI="}})
    assert labelled == {"b": {"DataType": "Binary.gif", "BinaryValue": "AQI="}}


def test_number_attributes_must_be_numbers() -> None:
    """A Number's value must parse as a number, whatever its label."""
    assert encode_sns_attributes({"n": {"DataType": "Number", "StringValue": "-1.5e3"}}) == {
        "n": {"DataType": "Number", "StringValue": "-1.5e3"}
    }
    for value in ("x", "1,5", "NaN"):
        with pytest.raises(PayloadError, match="'n'"):
            encode_sns_attributes({"n": {"DataType": "Number.x", "StringValue": value}})


def test_lists_are_string_arrays_and_nothing_is_no_attributes() -> None:
    """A list or tuple is SNS's String.Array, its value the JSON array; None gives none."""
    assert encode_sns_attributes(None) == {}
    assert encode_sns_attributes({"t": ("a", 1, None, True)}) == {
        "t": {"DataType": "String.Array", "StringValue": '["a",1,null,true]'}
    }
    with pytest.raises(PayloadError, match=r"attributes\['t'\]"):
        encode_sns_attributes({"t": [float("nan")]})
    with pytest.raises(PayloadError, match="attributes: must be a mapping"):
        encode_sns_attributes([("a", "b")])  # type: ignore[arg-type]


# -- what subscribers get --------------------------------------------------------------------
async def test_the_envelope_leaves_out_subject_and_attributes_when_there_are_none(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """SNS's JSON notification has a Subject only when one was published, and
    MessageAttributes only when the message has any (the Lambda event always has both)."""
    topic = mesh.topic("alerts")
    got, callback = collector()
    subscription = topic.subscribe(callback)
    async with mesh:
        message_id = await topic.publish("plain")
        await clock.advance(0)

    [envelope] = got
    assert envelope == {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": TOPIC_ARN,
        "Message": "plain",
        "Timestamp": "2026-01-01T00:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": sha1_b64(string_to_sign(envelope)),
        "SigningCertURL": (
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-eventmesh.pem"
        ),
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&"
        f"SubscriptionArn={subscription.arn}",
    }


async def test_the_signature_is_a_digest_of_snss_string_to_sign(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """The Signature stands for SNS's: the base64 SHA-1 of the string to sign (Message,
    MessageId, Subject if any, Timestamp, TopicArn, Type, each as a name line and a value
    line), the same in the envelope and in the Lambda event."""
    events: list[dict[str, Any]] = []

    @mesh.function(name="worker")
    async def worker(event: dict[str, Any], context: Context) -> None:
        events.append(event["Records"][0]["Sns"])

    topic = mesh.topic("alerts")
    got, callback = collector()
    topic.subscribe(callback)
    topic.subscribe(worker)
    async with mesh:
        await clock.advance(3.25)
        await topic.publish("with subject", subject="Hello")
        await topic.publish("without subject")
        await clock.advance(0)

    with_subject, without_subject = got
    expected = (
        f"Message\nwith subject\nMessageId\n{with_subject['MessageId']}\nSubject\nHello\n"
        f"Timestamp\n2026-01-01T00:00:03.250Z\nTopicArn\n{TOPIC_ARN}\nType\nNotification\n"
    )
    assert string_to_sign(with_subject) == expected
    assert with_subject["Signature"] == sha1_b64(expected)
    assert without_subject["Signature"] == sha1_b64(string_to_sign(without_subject))
    assert "Subject" not in without_subject
    assert [event["Signature"] for event in events] == [
        with_subject["Signature"],
        without_subject["Signature"],
    ]
    assert events[1]["Subject"] is None


async def test_the_urls_name_the_meshs_region(clock: VirtualClock) -> None:
    """SigningCertURL and UnsubscribeURL are on the region's SNS endpoint; ARNs carry the
    region and the account."""
    mesh = Mesh(clock=clock, region="eu-west-3", account_id="999999999999")
    topic = mesh.topic("alerts")
    got, callback = collector()
    subscription = topic.subscribe(callback)
    async with mesh:
        await topic.publish("m")
        await clock.advance(0)

    [envelope] = got
    assert envelope["TopicArn"] == "arn:aws:sns:eu-west-3:999999999999:alerts"
    assert subscription.arn.startswith("arn:aws:sns:eu-west-3:999999999999:alerts:")
    assert envelope["SigningCertURL"] == (
        "https://sns.eu-west-3.amazonaws.com/SimpleNotificationService-eventmesh.pem"
    )
    assert envelope["UnsubscribeURL"] == (
        "https://sns.eu-west-3.amazonaws.com/?Action=Unsubscribe&SubscriptionArn="
        + subscription.arn
    )


async def test_message_attributes_in_the_envelope_and_the_lambda_event(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """SNS shows attributes as ``{"Type", "Value"}``, a Binary's Value as base64, in both the
    JSON notification and the Lambda event."""
    events: list[dict[str, Any]] = []

    @mesh.function(name="worker")
    async def worker(event: dict[str, Any], context: Context) -> None:
        events.append(event["Records"][0]["Sns"]["MessageAttributes"])

    topic = mesh.topic("alerts")
    got, callback = collector()
    topic.subscribe(callback)
    topic.subscribe("worker")
    attributes = {"b": b"\xff", "s": {"DataType": "String.x", "StringValue": "v"}}
    expected = {"b": {"Type": "Binary", "Value": "/w=="}, "s": {"Type": "String.x", "Value": "v"}}
    async with mesh:
        await topic.publish("m", attributes=attributes)
        await clock.advance(0)

    assert got[0]["MessageAttributes"] == expected
    assert events == [expected]


async def test_raw_delivery_to_a_queue_keeps_binary_attributes_binary(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """With raw message delivery the SQS message carries the message attributes as SQS
    message attributes, a Binary one as BinaryValue."""
    queue = mesh.queue("inbox")
    topic = mesh.topic("alerts")
    topic.subscribe(queue, raw_message_delivery=True)
    async with mesh:
        await topic.publish("m", attributes={"b": {"Type": "Binary", "Value": "AQI="}, "n": 1.5})
        await clock.advance(0)
        [message] = await queue.receive(10)

    assert message.body == "m"
    assert message.message_attributes == {
        "b": {"DataType": "Binary", "BinaryValue": "AQI="},
        "n": {"DataType": "Number", "StringValue": "1.5"},
    }


# -- subscriptions ---------------------------------------------------------------------------
async def test_subscribing_the_same_endpoint_again_with_other_settings_is_refused(
    mesh: Mesh,
) -> None:
    """SNS returns the existing subscription for the same endpoint and settings, and refuses
    the same endpoint with another filter policy, scope, raw setting or delivery policy."""
    queue = mesh.queue("inbox")
    topic = mesh.topic("alerts")
    first = topic.subscribe(queue, filter_policy={"a": ["1"]})
    assert topic.subscribe("inbox", filter_policy={"a": ["1"]}) is not first  # a name is not
    # the queue object: SNS compares endpoints as given
    topic = mesh.topic("other")
    first = topic.subscribe(queue, filter_policy={"a": ["1"]})
    assert topic.subscribe(mesh.queue("inbox"), filter_policy={"a": ["1"]}) is first
    for settings in (
        {"filter_policy": {"a": ["2"]}},
        {"filter_policy": {"a": ["1"]}, "filter_policy_scope": "MessageBody"},
        {},
        {"filter_policy": {"a": ["1"]}, "raw_message_delivery": True},
    ):
        with pytest.raises(
            ConfigurationError,
            match=r"^inbox is already subscribed to topic 'other' with other settings$",
        ):
            topic.subscribe(queue, **settings)
    assert topic.subscriptions == [first]

    _got, callback = collector()
    policy = DeliveryPolicy(num_retries=1)
    by_callable = topic.subscribe(callback, delivery_policy=policy)
    assert topic.subscribe(callback, delivery_policy={"numRetries": 1}) is by_callable
    with pytest.raises(ConfigurationError, match="already subscribed"):
        topic.subscribe(callback, delivery_policy={"numRetries": 2})
    with pytest.raises(ConfigurationError, match="already subscribed"):
        topic.subscribe(callback)

    async def another(envelope: dict[str, Any]) -> None:
        pass

    assert topic.subscribe(another) is not by_callable
    url = "http://127.0.0.1:9/hook"
    assert topic.subscribe(url) is topic.subscribe(url)
    assert len(topic.subscriptions) == 4


async def test_a_function_and_a_queue_of_the_same_name_are_two_endpoints(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A function and a queue may share a name; subscribing both makes two subscriptions,
    and each gets the message in its own shape."""
    events: list[dict[str, Any]] = []

    @mesh.function(name="work")
    async def work(event: dict[str, Any], context: Context) -> None:
        events.append(event)

    queue = mesh.queue("work")
    topic = mesh.topic("alerts")
    by_function = topic.subscribe(work)
    by_queue = topic.subscribe(queue)
    assert by_function is not by_queue
    assert topic.subscribe(work) is by_function
    async with mesh:
        await topic.publish("m")
        await clock.advance(0)
        [message] = await queue.receive(10)
        assert by_function.endpoint == "arn:aws:lambda:us-east-1:123456789012:function:work"
        assert by_queue.endpoint == "arn:aws:sqs:us-east-1:123456789012:work"

    assert events[0]["Records"][0]["EventSource"] == "aws:sns"
    assert message.json()["Message"] == "m"


async def test_a_subscription_made_while_the_mesh_runs_delivers_at_once(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Subscribing by name while the mesh runs resolves the name then and there."""
    events: list[dict[str, Any]] = []

    @mesh.function(name="worker")
    async def worker(event: dict[str, Any], context: Context) -> None:
        events.append(event)

    queue = mesh.queue("inbox")
    topic = mesh.topic("alerts")
    async with mesh:
        by_name = topic.subscribe("worker")
        by_queue_name = topic.subscribe("inbox", raw_message_delivery=True)
        await topic.publish("m")
        await clock.advance(0)
        [message] = await queue.receive(10)

    assert len(events) == 1
    assert message.body == "m"
    assert (by_name.protocol, by_queue_name.protocol) == ("lambda", "sqs")
    assert (by_name.delivered, by_queue_name.delivered, topic.delivered) == (1, 1, 2)
    assert (by_name.attempts, by_name.failed, topic.delivery_failures) == (1, 0, 0)


async def test_queue_endpoints_by_arn_and_by_a_name_made_later(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A queue is an endpoint by its ARN or its name, even one created after subscribing;
    until the mesh starts such a name may still be a function's."""
    topic = mesh.topic("alerts")
    by_arn = topic.subscribe(QUEUE_ARN, raw_message_delivery=True)
    assert by_arn.protocol == "sqs"
    later = topic.subscribe("later")  # a function's or a queue's name: decided at start
    assert later.protocol == "lambda"
    raw_later = topic.subscribe("raw-later", raw_message_delivery=True)  # only a queue takes raw
    assert raw_later.protocol == "sqs"
    inbox = mesh.queue("inbox")
    queue = mesh.queue("later")
    raw_queue = mesh.queue("raw-later")
    async with mesh:
        assert later.protocol == "sqs"
        assert later.endpoint == "arn:aws:sqs:us-east-1:123456789012:later"
        await topic.publish("m")
        await clock.advance(0)
        [raw] = await inbox.receive(10)
        [enveloped] = await queue.receive(10)
        [raw_too] = await raw_queue.receive(10)

    assert raw.body == "m"
    assert raw_too.body == "m"
    assert enveloped.json()["Message"] == "m"


async def test_queue_names_take_no_delivery_policy_and_must_exist(mesh: Mesh) -> None:
    """Function and queue endpoints get SNS's fixed AWS-managed policy, so a name (or a queue
    ARN) refuses a delivery policy; a raw subscription's name must be a queue's."""
    topic = mesh.topic("alerts")
    with pytest.raises(ConfigurationError, match="only HTTP\\(S\\) and callable subscriptions"):
        topic.subscribe("q", delivery_policy={"numRetries": 1})
    with pytest.raises(ConfigurationError, match="only HTTP\\(S\\) and callable subscriptions"):
        topic.subscribe(QUEUE_ARN, delivery_policy={"numRetries": 1})
    topic.subscribe("missing", raw_message_delivery=True)
    with pytest.raises(ConfigurationError, match="no queue named 'missing'"):
        async with mesh:
            pass


async def test_raw_delivery_is_refused_for_functions_and_callables(mesh: Mesh) -> None:
    """Raw message delivery is a setting of queue and HTTP(S) subscriptions only; the error
    names the endpoint and its protocol."""

    @mesh.function(name="worker")
    async def worker(event: dict[str, Any], context: Context) -> None:
        pass

    topic = mesh.topic("alerts")
    _got, callback = collector()
    with pytest.raises(
        ConfigurationError, match=r"not for 'collector\.<locals>\.callback' \(callable\)"
    ):
        topic.subscribe(callback, raw_message_delivery=True)
    with pytest.raises(ConfigurationError, match="not for 'worker' \\(lambda\\)"):
        topic.subscribe(worker, raw_message_delivery=True)


async def test_endpoint_and_repr_name_the_subscriber(mesh: Mesh) -> None:
    """A subscription shows its protocol, its endpoint (an ARN, a URL without credentials,
    a callable's name) and its topic."""
    topic = mesh.topic("alerts")
    _got, callback = collector()
    by_callable = topic.subscribe(callback)
    assert by_callable.endpoint.endswith("collector.<locals>.callback")
    assert repr(by_callable) == f"<Subscription callable {by_callable.endpoint} of alerts>"
    queue = mesh.queue("inbox")
    by_queue = topic.subscribe(queue)
    assert by_queue.endpoint == "inbox"
    url = topic.subscribe("https://user:secret@example.com/hook")
    assert url.protocol == "https"
    assert "secret" not in url.endpoint
    assert "secret" not in repr(url)
    assert url.endpoint.startswith("https://")
    assert url.endpoint.endswith("example.com/hook")
    plain = topic.subscribe("http://example.com/hook")
    assert plain.protocol == "http"
    assert plain.endpoint == "http://example.com/hook"
    async with mesh:
        assert by_queue.endpoint == QUEUE_ARN
        assert repr(by_queue) == f"<Subscription sqs {QUEUE_ARN} of alerts>"


async def test_unsubscribing_twice_or_a_stranger_does_nothing(mesh: Mesh) -> None:
    """Unsubscribe is idempotent, as SNS's is."""
    topic = mesh.topic("alerts")
    other = mesh.topic("other")
    _got, callback = collector()
    subscription = topic.subscribe(callback)
    stranger = other.subscribe(callback)
    async with mesh:
        await topic.unsubscribe(stranger)
        await topic.unsubscribe(subscription)
        await topic.unsubscribe(subscription)
    assert topic.subscriptions == []
    assert other.subscriptions == [stranger]


# -- delivery and retries (SNS-RETRY) --------------------------------------------------------
async def test_a_function_refusing_the_event_is_a_client_error_and_not_retried(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """SNS retries a Lambda delivery only on a server-side error; an event Lambda refuses
    (here: over the mesh's asynchronous payload limit) fails at once, and is logged."""
    mesh = Mesh(clock=clock, max_event_payload=2000, drain_timeout=2.0)
    events: list[dict[str, Any]] = []

    @mesh.function(name="worker")
    async def worker(event: dict[str, Any], context: Context) -> None:
        events.append(event)

    topic = mesh.topic("alerts")
    subscription = topic.subscribe(worker)
    others, callback = collector()
    topic.subscribe(callback)  # after the function: still served
    with caplog.at_level(logging.WARNING, logger="eventmesh.topics"):
        async with mesh:
            await topic.publish("small")
            message_id = await topic.publish("x" * 3000)
            await clock.advance(3600)

    assert len(events) == 1
    assert len(others) == 2
    assert (subscription.attempts, subscription.delivered, subscription.failed) == (2, 1, 1)
    assert (topic.published, topic.delivered, topic.delivery_failures) == (2, 3, 1)
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.getMessage() == (
        f"topic alerts: delivery of {message_id} to "
        "arn:aws:lambda:us-east-1:123456789012:function:worker failed after 1 attempt(s): "
        "request payload is 3721 bytes; the limit for this invocation type is 2000 bytes"
    )


async def test_a_function_at_its_limit_does_not_hold_the_publisher_and_gets_the_message(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A subscriber at its own limit is waited for in the background, not by the publisher,
    and the message is delivered once there is room (never dropped for being full)."""
    release = asyncio.Event()
    seen: list[str] = []

    @mesh.function(name="worker", max_pending=1)
    async def worker(event: dict[str, Any], context: Context) -> None:
        seen.append(event["Records"][0]["Sns"]["Message"])
        await release.wait()

    topic = mesh.topic("alerts")
    subscription = topic.subscribe(worker)
    async with mesh:
        await topic.publish("one")
        await clock.advance(0)
        # The function's queue is full: publish returns anyway, without the clock moving.
        publishing = asyncio.create_task(topic.publish("two"))
        await clock.advance(0)
        assert publishing.done()
        await publishing
        await topic.publish("three")
        await clock.advance(0)
        assert seen == ["one"]
        assert subscription.delivered == 1
        assert await topic.pending() == 2
        release.set()
        await clock.advance(1)
        await clock.advance(1)

    assert seen == ["one", "two", "three"]
    assert (subscription.delivered, subscription.failed, topic.delivered) == (3, 0, 3)
    assert subscription.attempts == 3


async def test_a_callable_follows_its_own_delivery_policy(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """HTTP(S) and callable subscriptions take a delivery policy (SNS's healthyRetryPolicy):
    here 1 immediate retry then 2 linear ones from 5 to 10 s; then the delivery fails."""
    calls: list[float] = []

    async def broken(envelope: dict[str, Any]) -> None:
        calls.append(clock.now())
        raise ValueError("no")

    topic = mesh.topic("alerts")
    subscription = topic.subscribe(
        broken,
        delivery_policy={
            "numRetries": 3,
            "numNoDelayRetries": 1,
            "minDelayTarget": 5,
            "maxDelayTarget": 10,
        },
    )
    with caplog.at_level(logging.DEBUG, logger="eventmesh.topics"):
        async with mesh:
            message_id = await topic.publish("m")
            await clock.advance(4.9)
            assert calls == [0, 0]
            await clock.advance(100)

    assert calls == [0, 0, 5, 15]
    assert (subscription.attempts, subscription.failed, topic.delivery_failures) == (4, 1, 1)
    endpoint = subscription.endpoint
    assert endpoint.endswith(".<locals>.broken")
    retries = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert retries == [
        f"topic alerts: delivery to {endpoint} failed (no); retrying in {delay} s"
        for delay in (0, 5, 10)
    ]
    [failure] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert failure.getMessage() == (
        f"topic alerts: delivery of {message_id} to {endpoint} failed after 4 attempt(s): no"
    )
    assert failure.exc_info  # a subscriber's own error keeps its traceback


async def test_a_retry_waiting_is_not_pending_work_and_unsubscribe_stops_it(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A drain does not wait for deliveries waiting to retry; unsubscribing stops them."""
    calls: list[float] = []

    async def broken(envelope: dict[str, Any]) -> None:
        calls.append(clock.now())
        raise RuntimeError("down")

    topic = mesh.topic("alerts")
    subscription = topic.subscribe(broken)
    async with mesh:
        await topic.publish("m")
        await clock.advance(0)
        assert await topic.pending() == 0
        assert await mesh.drain(timeout=0)
        await clock.advance(20)
        assert calls == [0, 20]
        await topic.unsubscribe(subscription)
        await clock.advance(100)
        assert calls == [0, 20]
        assert await topic.pending() == 0

    assert subscription.failed == 0
    assert topic.delivery_failures == 0


async def test_stopping_abandons_the_retries_and_counts_them_as_failures(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Deliveries still retrying when the mesh stops are abandoned, logged and counted."""

    async def broken(envelope: dict[str, Any]) -> None:
        raise RuntimeError("down")

    topic = mesh.topic("alerts")
    topic.subscribe(broken)
    once = topic.subscribe(named_subscriber([], failures=1), delivery_policy={"numRetries": 0})
    with caplog.at_level(logging.WARNING, logger="eventmesh.topics"):
        async with mesh:
            await topic.publish("one")
            await topic.publish("two")
            await clock.advance(0)
            assert once.failed == 1

    assert topic.delivery_failures == 3  # one given up, two abandoned
    assert (
        "abandoned: topic alerts 2 deliveries unfinished (2 waiting to retry); memory storage "
        "keeps nothing after the process ends"
    ) in caplog.messages


async def test_publish_waits_for_room_at_the_topics_limit(clock: VirtualClock) -> None:
    """A topic's pending deliveries are limited (``max_pending``): at the limit, publish
    waits up to its timeout, then raises having delivered nothing."""
    mesh = Mesh(clock=clock, drain_timeout=2.0)
    release = asyncio.Event()
    got: list[str] = []

    async def slow(envelope: dict[str, Any]) -> None:
        await release.wait()
        got.append(envelope["Message"])

    topic = mesh.topic("alerts", max_pending=1)
    topic.subscribe(slow)
    async with mesh:
        await topic.publish("one")
        await clock.advance(0)
        with pytest.raises(BackpressureError, match=r"^topic 'alerts' has 1 pending, at its limit"):
            await topic.publish("two", timeout=0)
        with pytest.raises(ConfigurationError, match="timeout must be a number"):
            await topic.publish("two", timeout=-1)
        waiting = asyncio.create_task(topic.publish("three", timeout=None))
        await clock.advance(0)
        assert not waiting.done()
        release.set()
        await clock.advance(0)
        assert waiting.done()
        await waiting
        await clock.advance(0)

    assert got == ["one", "three"]
    assert topic.published == 2


def test_topic_names_and_settings() -> None:
    """A standard topic's name is 1-256 letters, digits, '-' or '_'; FIFO topics (``.fifo``)
    are not supported; a topic's settings are ``max_pending`` and ``signature_version``."""
    mesh = Mesh()
    assert mesh.topic("t" * 256).name == "t" * 256
    assert mesh.topic("a-b_C9").arn == "arn:aws:sns:us-east-1:123456789012:a-b_C9"
    with pytest.raises(ConfigurationError, match=r"topic name 'a\.b' must be 1-256 letters"):
        mesh.topic("a.b")
    with pytest.raises(
        ConfigurationError, match=r"^FIFO topics are not supported; use a standard topic$"
    ):
        mesh.topic("events.fifo")
    with pytest.raises(ConfigurationError, match=r"unknown topic settings: color, fifo$"):
        mesh.resource(Topic, "t", fifo=True, color="red", max_pending=3)
    assert mesh.resource(Topic, "u", max_pending=3).limit.limit == 3


# -- HTTP(S) subscribers ---------------------------------------------------------------------
async def test_an_http_notification_has_snss_headers_and_the_json_envelope(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """SNS POSTs the JSON notification as ``text/plain; charset=UTF-8`` with its
    ``x-amz-sns-*`` headers and its user agent; the raw-delivery header only when raw."""
    topic = mesh.topic("alerts")
    async with Endpoint(clock) as server, mesh:
        subscription = topic.subscribe(server.url)
        message_id = await topic.publish("hello")
        await eventually(lambda: subscription.delivered == 1)

    [request] = server.requests
    assert request.headers["user-agent"] == "Amazon Simple Notification Service Agent"
    assert request.headers["x-amz-sns-message-type"] == "Notification"
    assert request.headers["x-amz-sns-message-id"] == message_id
    assert request.headers["x-amz-sns-topic-arn"] == TOPIC_ARN
    assert request.headers["x-amz-sns-subscription-arn"] == subscription.arn
    assert request.headers["content-type"] == "text/plain; charset=UTF-8"
    assert "x-amz-sns-rawdelivery" not in request.headers
    assert "traceparent" not in request.headers  # the mesh does not trace
    body = orjson.loads(request.body)
    assert body["Message"] == "hello"
    # An RSA 2048 signature (its verification: tests/test_sns_signing.py).
    assert len(base64.b64decode(body["Signature"], validate=True)) == 256
    # With the token that makes it unguessable (tests/test_sns_confirmation.py).
    head, _, token = body["UnsubscribeURL"].partition("&Token=")
    assert head.endswith("SubscriptionArn=" + subscription.arn)
    assert len(token) == 64 and int(token, 16) >= 0


async def test_http_raw_delivery_posts_the_message_as_utf8(mesh: Mesh, clock: VirtualClock) -> None:
    """Raw message delivery POSTs the message itself, as UTF-8, with
    ``x-amz-sns-rawdelivery: true``."""
    topic = mesh.topic("alerts")
    async with Endpoint(clock) as server, mesh:
        subscription = topic.subscribe(server.url, raw_message_delivery=True)
        await topic.publish("caf\u00e9", subject="S", attributes={"a": "b"})
        await eventually(lambda: subscription.delivered == 1)

    [request] = server.requests
    assert request.body == "caf\u00e9".encode()
    assert request.headers["x-amz-sns-rawdelivery"] == "true"


@pytest.mark.parametrize("status", [429, 500, 502, 599])
async def test_http_throttling_and_server_errors_are_retried(
    mesh: Mesh, clock: VirtualClock, status: int
) -> None:
    """SNS retries an HTTP/S delivery on a 5xx answer or a 429 (throttled)."""
    topic = mesh.topic("alerts")
    async with Endpoint(clock, [status]) as server, mesh:
        subscription = topic.subscribe(server.url)
        await topic.publish("m")
        await eventually(lambda: subscription.attempts == 1)
        await clock.advance(20)
        await eventually(lambda: subscription.delivered == 1)

    assert [(r.at, r.status) for r in server.requests] == [(0, status), (20, 200)]
    assert (subscription.attempts, subscription.failed) == (2, 0)


@pytest.mark.parametrize("status", [300, 301, 304, 400, 403, 428, 451])
async def test_other_http_answers_fail_at_once(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    """Any other answer outside 2xx is a client-side error: no retry (a redirect is not
    followed)."""
    topic = mesh.topic("alerts")
    with caplog.at_level(logging.WARNING, logger="eventmesh.topics"):
        async with Endpoint(clock, [status]) as server, mesh:
            subscription = topic.subscribe(server.url)
            message_id = await topic.publish("m")
            await eventually(lambda: subscription.failed == 1)
            await clock.advance(100)

    assert len(server.requests) == 1
    assert (subscription.attempts, topic.delivery_failures) == (1, 1)
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.getMessage() == (
        f"topic alerts: delivery of {message_id} to {server.url} failed after 1 attempt(s): "
        f"POST {server.url} answered {status}"
    )
    assert not record.exc_info  # the mesh's own error: no traceback


@pytest.mark.parametrize("status", [200, 201, 204, 226])
async def test_any_2xx_answer_is_a_delivery(mesh: Mesh, clock: VirtualClock, status: int) -> None:
    """SNS counts any 2xx answer as delivered."""
    topic = mesh.topic("alerts")
    async with Endpoint(clock, [status]) as server, mesh:
        subscription = topic.subscribe(server.url)
        await topic.publish("m")
        await eventually(lambda: subscription.delivered == 1)

    assert len(server.requests) == 1
    assert (subscription.attempts, subscription.failed) == (1, 0)


async def test_an_http_delivery_policy_retries_for_at_most_an_hour(mesh: Mesh) -> None:
    """SNS caps an HTTP/S policy's total retry time at 3,600 s; callables take any policy."""
    topic = mesh.topic("alerts")
    hour = DeliveryPolicy(num_retries=180)  # 180 * 20 s
    assert topic.subscribe("http://127.0.0.1:9/a", delivery_policy=hour).delivery_policy == hour
    with pytest.raises(
        ConfigurationError,
        match="an HTTP\\(S\\) delivery policy retries for at most 3600 s, this one for 3620 s",
    ):
        topic.subscribe("https://127.0.0.1:9/b", delivery_policy=DeliveryPolicy(num_retries=181))
    long = DeliveryPolicy(num_retries=1000)
    _got, callback = collector()
    assert topic.subscribe(callback, delivery_policy=long).delivery_policy == long
    assert topic.subscribe("http://127.0.0.1:9/c").delivery_policy == HTTP_DEFAULT_POLICY


async def test_a_metadata_address_is_refused_when_subscribing(mesh: Mesh) -> None:
    """An HTTP endpoint at a link-local or cloud metadata address is refused up front."""
    topic = mesh.topic("alerts")
    with pytest.raises(ConfigurationError):
        topic.subscribe("http://169.254.169.254/latest/meta-data")
    assert topic.subscriptions == []


async def test_an_http_delivery_that_cannot_be_sent_fails_without_retry(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A URL the HTTP client refuses (an unclosed IPv6 bracket) is a client-side error: no
    retry."""
    topic = mesh.topic("alerts")
    async with mesh:
        subscription = topic.subscribe("http://[::1/hook")
        await topic.publish("m")
        await eventually(lambda: subscription.failed == 1)
        await clock.advance(100)

    assert subscription.attempts == 1


async def test_a_full_queue_counts_as_a_throttled_attempt_after_a_minute_and_is_retried(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A queue subscriber at its limit is waited for 60 s per attempt; then the attempt
    counts as throttled (a server-side error) and SNS's AWS-managed policy retries it: 3
    immediate retries, then 1 s apart. The message arrives once there is room."""
    queue = mesh.queue("inbox", max_pending=1)
    topic = mesh.topic("alerts")
    subscription = topic.subscribe(queue, raw_message_delivery=True)
    assert subscription.delivery_policy == AWS_MANAGED_POLICY
    async with mesh:
        await queue.send("first")
        await topic.publish("second")
        await clock.advance(0)
        assert subscription.attempts == 0  # waiting for room, in the background
        await clock.advance(59.9)
        assert subscription.attempts == 0
        await clock.advance(0.1)
        assert subscription.attempts == 1
        await clock.advance(60 * 3)  # 3 immediate retries, each waiting a minute
        assert subscription.attempts == 4
        await clock.advance(30)
        [first] = await queue.receive(1)
        await queue.delete(first.receipt_handle)
        await clock.advance(0)
        [second] = await queue.receive(1)

    assert second.body == "second"
    assert (subscription.attempts, subscription.delivered, subscription.failed) == (5, 1, 0)


async def test_a_full_function_counts_as_a_throttled_attempt_after_a_minute(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """The same for a function whose Event queue is full: its delivery waits 60 s per
    attempt, is retried as throttled, and is delivered once there is room."""
    release = asyncio.Event()
    seen: list[str] = []

    @mesh.function(name="worker", max_pending=1, timeout=900)
    async def worker(event: dict[str, Any], context: Context) -> None:
        seen.append(event["Records"][0]["Sns"]["Message"])
        await release.wait()

    topic = mesh.topic("alerts")
    subscription = topic.subscribe(worker)
    assert subscription.delivery_policy == AWS_MANAGED_POLICY
    async with mesh:
        await topic.publish("one")
        await clock.advance(0)
        await topic.publish("two")
        await clock.advance(60)
        assert subscription.attempts == 2  # one delivered, one throttled
        assert subscription.failed == 0
        release.set()
        await clock.advance(0)
        await clock.advance(0)

    assert seen == ["one", "two"]
    assert (subscription.attempts, subscription.delivered) == (3, 2)


async def test_a_topics_deliveries_are_limited_on_every_backend(
    clock: VirtualClock, tmp_path: Any
) -> None:
    """A topic's deliveries live in this process's memory, so ``max_pending`` bounds them
    even when the mesh stores its queues elsewhere (SQLite)."""
    mesh = Mesh(clock=clock, storage=f"sqlite:///{tmp_path / 'mesh.db'}", drain_timeout=0)
    release = asyncio.Event()

    async def slow(envelope: dict[str, Any]) -> None:
        await release.wait()

    topic = mesh.topic("alerts", max_pending=1)
    topic.subscribe(slow)
    async with mesh:
        await topic.publish("one")
        await clock.advance(0)
        with pytest.raises(BackpressureError):
            await topic.publish("two", timeout=0)
        release.set()
        await clock.advance(0)


async def test_a_topic_is_closed_once_the_mesh_stops(mesh: Mesh, clock: VirtualClock) -> None:
    """Publishing needs a running mesh, also after it stopped."""
    topic = mesh.topic("alerts")
    async with mesh:
        await topic.publish("m")
    with pytest.raises(Exception, match="cannot publish before the mesh runs"):
        await topic.publish("m")
    assert topic.published == 1


async def test_as_a_destination_the_topic_publishes_the_attributes_too(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A topic used as a destination (``send``) publishes the message with its attributes."""
    queue = mesh.queue("inbox")
    topic = mesh.topic("alerts")
    topic.subscribe(queue, raw_message_delivery=True)
    async with mesh:
        await topic.send({"k": 1}, {"kind": {"DataType": "String", "StringValue": "v"}})
        await clock.advance(0)
        [message] = await queue.receive(1)

    assert message.body == '{"k":1}'
    assert message.message_attributes == {"kind": {"DataType": "String", "StringValue": "v"}}


def test_a_number_attribute_needs_a_string_value() -> None:
    """SNS's Number is sent as a string; a Number given as binary is refused."""
    with pytest.raises(PayloadError, match=r"^message attribute 'n' is not a number$"):
        encode_sns_attributes({"n": {"DataType": "Number", "BinaryValue": b"1"}})


async def test_what_cannot_subscribe_is_named(mesh: Mesh) -> None:
    """The error for an unknown subscriber lists what can subscribe."""
    topic = mesh.topic("alerts")
    with pytest.raises(
        ConfigurationError,
        match=r"^42 cannot subscribe: give a function, a queue, an http\(s\):// URL or an "
        r"async callable$",
    ):
        topic.subscribe(42)  # type: ignore[arg-type]
    assert topic.subscribe(QUEUE_ARN).protocol == "sqs"  # an ARN is a queue's, raw or not
    assert topic.subscribe("https://example.com/x").delivery_policy == HTTP_DEFAULT_POLICY


async def test_an_sqs_arn_names_the_queue_by_its_last_part(mesh: Mesh, clock: VirtualClock) -> None:
    """A queue endpoint given as an SQS ARN is the queue named by the ARN's last part."""
    queue = mesh.queue("inbox")
    topic = mesh.topic("alerts")
    subscription = topic.subscribe(QUEUE_ARN)
    async with mesh:
        assert subscription.endpoint == QUEUE_ARN
        await topic.publish("m")
        await clock.advance(0)
        [message] = await queue.receive(1)
    assert message.json()["Message"] == "m"


async def test_a_function_delivery_is_a_pubsub_triggered_invocation(clock: VirtualClock) -> None:
    """SNS invokes a function asynchronously as a pub/sub trigger: the invocation's span
    says ``faas.trigger = pubsub``."""
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    mesh = Mesh(clock=clock, telemetry=Telemetry(provider), drain_timeout=2.0)

    @mesh.function(name="notified")
    async def notified(event: Any, context: Context) -> None:
        return None

    topic = mesh.topic("alerts")
    topic.subscribe(notified)
    async with mesh:
        await topic.publish("m")
        await clock.advance(0)

    [span] = [span for span in spans.get_finished_spans() if span.name == "notified"]
    assert (span.attributes or {})["faas.trigger"] == "pubsub"


async def test_a_subscriber_does_not_inherit_a_destinations_overflow(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Records of done work (a function's on_success record) go to a topic even when it is
    full, but the topic's subscribers then run as any producer: a callable subscriber
    sending to a full queue waits for room instead of going over the queue's limit."""
    queue = mesh.queue("inbox", max_pending=1)
    sent: list[str] = []

    async def forward(envelope: dict[str, Any]) -> None:
        await queue.send(envelope["Message"])
        sent.append(envelope["Message"])

    topic = mesh.topic("results")
    topic.subscribe(forward)

    @mesh.function(name="worker", on_success="results")
    async def worker(event: Any, context: Context) -> str:
        return "done"

    async with mesh:
        await queue.send("first")
        await mesh.invoke("worker", {}, invocation_type="Event")
        await clock.advance(0)
        assert sent == []  # waiting for room in the queue
        assert (await queue.stats()).total == 1
        [first] = await queue.receive(1)
        await queue.delete(first.receipt_handle)
        await clock.advance(0)
        assert len(sent) == 1


def test_http_subscriptions_say_how_to_install_httpx(
    mesh: Mesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without httpx an HTTP(S) subscription is refused, naming the extra to install."""
    monkeypatch.setitem(sys.modules, "httpx", None)  # as if it were not installed
    with pytest.raises(
        ConfigurationError,
        match=r"^HTTP\(S\) subscriptions (and targets )?need httpx: "
        r"pip install 'eventmesh\[http\]'$",
    ):
        mesh.topic("alerts").subscribe("http://127.0.0.1:9/hook")


async def test_an_http_redirect_is_not_followed(mesh: Mesh, clock: VirtualClock) -> None:
    """SNS does not follow redirects: a 3xx answer, even with a Location, fails the
    delivery at once and nothing is posted to the new location."""
    target = Endpoint(clock, path="/moved")
    async with target, Endpoint(clock, [307], location="") as server, mesh:
        server.location = target.url
        topic = mesh.topic("alerts")
        subscription = topic.subscribe(server.url)
        await topic.publish("m")
        await eventually(lambda: subscription.failed == 1)

    assert len(server.requests) == 1
    assert target.requests == []


async def test_http_connection_errors_are_logged_with_the_url(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A connection that fails is retried; the failure names the URL and the error."""
    async with Endpoint(clock) as closed:
        url = closed.url  # nothing listens there once the server is closed
    topic = mesh.topic("alerts")
    with caplog.at_level(logging.WARNING, logger="eventmesh.topics"):
        async with mesh:
            subscription = topic.subscribe(url, delivery_policy={"numRetries": 1})
            await topic.publish("m")
            await eventually(lambda: subscription.attempts == 1)
            await clock.advance(20)
            await eventually(lambda: subscription.failed == 1)

    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"failed after 2 attempt(s): POST {url} failed: ConnectError(" in record.getMessage()


async def test_raw_delivery_to_https_is_allowed(mesh: Mesh) -> None:
    """Raw message delivery is a setting of HTTPS subscriptions too."""
    subscription = mesh.topic("alerts").subscribe(
        "https://example.com/hook", raw_message_delivery=True
    )
    assert (subscription.protocol, subscription.raw_message_delivery) == ("https", True)


async def test_the_setting_errors_say_which_subscriptions_take_them(mesh: Mesh) -> None:
    """The errors name the rule: raw delivery is for queues and HTTP(S); the delivery
    policy of function and queue subscriptions is SNS's fixed one."""

    @mesh.function(name="worker")
    async def worker(event: dict[str, Any], context: Context) -> None:
        pass

    topic = mesh.topic("alerts")
    with pytest.raises(
        ConfigurationError,
        match=r"^raw_message_delivery is for queue and HTTP\(S\) subscriptions, not for "
        r"'worker' \(lambda\)$",
    ):
        topic.subscribe(worker, raw_message_delivery=True)
    for target in (worker, "worker", mesh.queue("inbox")):
        with pytest.raises(
            ConfigurationError,
            match=r"^the delivery policy of function and queue subscriptions is SNS's fixed "
            r"one for AWS-managed endpoints; only HTTP\(S\) and callable subscriptions take one$",
        ):
            topic.subscribe(target, delivery_policy={"numRetries": 1})  # type: ignore[arg-type]


async def test_a_fifo_queue_cannot_subscribe_to_a_standard_topic(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A standard topic delivers only to standard queues."""
    topic = mesh.topic("alerts")
    topic.subscribe("jobs.fifo")
    mesh.queue("jobs.fifo")
    with pytest.raises(
        ConfigurationError,
        match=r"^queue 'jobs\.fifo' is FIFO; a standard topic delivers only to standard queues$",
    ):
        async with mesh:
            pass


async def test_an_http_url_the_client_refuses_is_logged(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A URL the HTTP client cannot use fails once, with the client's error in the log."""
    topic = mesh.topic("alerts")
    with caplog.at_level(logging.WARNING, logger="eventmesh.topics"):
        async with mesh:
            subscription = topic.subscribe("http://[::1/hook")
            await topic.publish("m")
            await eventually(lambda: subscription.failed == 1)

    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    shown = subscription.endpoint  # an unparsable URL is shown masked
    assert f"failed after 1 attempt(s): POST {shown} failed: InvalidURL(" in record.getMessage()
    assert not record.exc_info


# -- stored deliveries -----------------------------------------------------------------------
def named_subscriber(log: list[dict[str, Any]], failures: int = 0) -> Any:
    """An async callable named ``subscriber`` (the same name in every mesh) that fails its
    first ``failures`` calls and records every envelope it gets."""

    async def subscriber(envelope: dict[str, Any]) -> None:
        log.append(envelope)
        if len(log) <= failures:
            raise RuntimeError("not yet")

    return subscriber


async def test_a_subscription_arn_is_the_same_in_every_process(clock: VirtualClock) -> None:
    """A subscription's ARN (the topic's and an id) depends only on the topic and the
    endpoint, so a stored delivery finds its subscription again after a restart; another
    endpoint, or a second callable of the same name, gets another."""
    arns: list[dict[str, str]] = []
    for order in (1, -1):  # the second process subscribes in the other order
        mesh = Mesh(clock=clock)

        @mesh.function(name="work")
        async def work(event: Any, context: Context) -> None:
            pass

        elsewhere = named_subscriber([])
        elsewhere.__module__ = "elsewhere"
        endpoints: dict[str, Any] = {
            "queue": mesh.queue("work"),
            "function": work,
            "url": "http://127.0.0.1:9/hook",
            "other-url": "http://127.0.0.1:9/other",
            "callable": named_subscriber([]),
            "other-callable": collector()[1],
            "callable-elsewhere": elsewhere,
            "alpha": Alpha(),
            "beta": Beta(),
        }
        topic = mesh.topic("alerts")
        arns.append({key: topic.subscribe(endpoints[key]).arn for key in list(endpoints)[::order]})
    assert arns[0] == arns[1]
    assert len(set(arns[0].values())) == 9
    assert all(arn.startswith(TOPIC_ARN + ":") for arn in arns[0].values())
    assert mesh.topic("other").subscribe(named_subscriber([])).arn not in arns[0].values()
    twin = mesh.topic("alerts").subscribe(named_subscriber([]))  # the same name again
    assert twin.arn not in arns[0].values()


class Alpha:
    """A callable object subscriber (no ``__qualname__`` of its own)."""

    async def __call__(self, envelope: dict[str, Any]) -> None:
        pass


class Beta(Alpha):
    pass


async def test_a_retry_delivers_the_same_notification(mesh: Mesh, clock: VirtualClock) -> None:
    """SNS retries the same message: the same MessageId, Timestamp, Signature, attributes,
    and no Subject when there was none."""
    got: list[dict[str, Any]] = []
    topic = mesh.topic("alerts")
    topic.subscribe(named_subscriber(got, failures=1))
    attributes = {"b": b"\x01", "n": 2, "s": {"DataType": "String.x", "StringValue": "v"}}
    async with mesh:
        await clock.advance(1.25)
        await topic.publish("m", attributes=attributes)
        await clock.advance(20)
        await clock.advance(0)

    first, retry = got
    assert retry == first
    assert "Subject" not in retry
    assert retry["Timestamp"] == "2026-01-01T00:00:01.250Z"
    assert retry["Signature"] == sha1_b64(string_to_sign(retry))
    assert retry["MessageAttributes"]["b"] == {"Type": "Binary", "Value": "AQ=="}


@pytest.mark.parametrize("durable", [False, True])
async def test_a_retry_keeps_the_publishers_trace(
    clock: VirtualClock, tmp_path: Any, durable: bool
) -> None:
    """A retried delivery runs in the publisher's trace, as the first attempt did (on
    durable storage, where the first attempt is stored too, both come from the store)."""
    provider = TracerProvider()
    storage = f"sqlite:///{tmp_path / 'mesh.db'}" if durable else "memory"
    mesh = Mesh(clock=clock, storage=storage, telemetry=Telemetry(provider), drain_timeout=2.0)
    seen: list[int] = []

    async def flaky(envelope: dict[str, Any]) -> None:
        seen.append(trace.get_current_span().get_span_context().trace_id)
        if len(seen) == 1:
            raise RuntimeError("not yet")

    topic = mesh.topic("alerts")
    topic.subscribe(flaky)
    async with mesh:
        with provider.get_tracer("test").start_as_current_span("publisher") as span:
            await topic.publish("m")
        await clock.advance(0)
        await clock.advance(20)
        await clock.advance(0)

    trace_id = span.get_span_context().trace_id
    assert seen == [trace_id, trace_id]


async def test_a_retry_for_a_subscription_gone_is_dropped_and_logged(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A stored retry whose subscription was removed meanwhile (unsubscribed, or not made
    again after a restart) is dropped, with a warning."""
    got: list[dict[str, Any]] = []
    topic = mesh.topic("alerts", max_pending=1)
    subscription = topic.subscribe(named_subscriber(got, failures=5))
    with caplog.at_level(logging.WARNING, logger="eventmesh.topics"):
        async with mesh:
            message_id = await topic.publish("m")
            await clock.advance(0)
            await topic.unsubscribe(subscription)
            await clock.advance(20)
            await clock.advance(0)
            assert await topic.pending() == 0
            await topic.publish("room again", timeout=0)  # the dropped one gave its place back

    assert len(got) == 1
    assert (
        f"topic alerts: delivery of {message_id} dropped: its subscription no longer exists"
    ) in caplog.messages


async def test_on_durable_storage_a_retry_waits_in_the_store_for_the_next_start(
    clock: VirtualClock, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """On durable storage every delivery is stored first; one still waiting to retry when
    the mesh stops stays in the store (not a failure) and is delivered after the next start
    to the same endpoint."""
    storage = f"sqlite:///{tmp_path / 'mesh.db'}"
    first: list[dict[str, Any]] = []
    mesh = Mesh(clock=clock, storage=storage, drain_timeout=0)
    topic = mesh.topic("alerts")
    topic.subscribe(named_subscriber(first, failures=5))
    with caplog.at_level(logging.INFO, logger="eventmesh.topics"):
        async with mesh:
            message_id = await topic.publish("m", subject="S")
            await clock.advance(0)
            await clock.advance(0)
            assert len(first) == 1
    assert topic.delivery_failures == 0
    assert (
        "topic alerts: 1 deliveries stay in the store for the next start (1 waiting to retry)"
    ) in caplog.messages

    second: list[dict[str, Any]] = []
    mesh = Mesh(clock=clock, storage=storage, drain_timeout=0)
    topic = mesh.topic("alerts")
    subscription = topic.subscribe(named_subscriber(second))
    async with mesh:
        await clock.advance(20)
        await clock.advance(0)
        await clock.advance(0)

    [envelope] = second
    assert (envelope["MessageId"], envelope["Subject"], envelope["Message"]) == (
        message_id,
        "S",
        "m",
    )
    assert envelope["Timestamp"] == first[0]["Timestamp"]
    assert (subscription.delivered, topic.delivered) == (1, 1)


async def test_on_durable_storage_a_delivery_goes_through_the_store(
    clock: VirtualClock, tmp_path: Any
) -> None:
    """On durable storage a first attempt is stored too, then delivered, to every kind."""
    mesh = Mesh(clock=clock, storage=f"sqlite:///{tmp_path / 'mesh.db'}", drain_timeout=1)
    events: list[dict[str, Any]] = []

    @mesh.function(name="worker")
    async def worker(event: dict[str, Any], context: Context) -> None:
        events.append(event)

    queue = mesh.queue("inbox")
    got: list[dict[str, Any]] = []
    topic = mesh.topic("alerts")
    topic.subscribe(worker)
    topic.subscribe(queue, raw_message_delivery=True)
    topic.subscribe(named_subscriber(got))
    async with mesh:
        await topic.publish("m", attributes={"a": "b"})
        for _ in range(5):
            await clock.advance(0)
        [message] = await queue.receive(10)

    assert events[0]["Records"][0]["Sns"]["Message"] == "m"
    assert message.body == "m"
    assert message.message_attributes == {"a": {"DataType": "String", "StringValue": "b"}}
    assert got[0]["MessageAttributes"] == {"a": {"Type": "String", "Value": "b"}}
    assert (topic.delivered, topic.delivery_failures) == (3, 0)


@pytest.mark.parametrize("durable", [False, True])
async def test_a_function_publishing_to_its_own_topic_is_stopped_after_16_invocations(
    clock: VirtualClock, tmp_path: Any, caplog: pytest.LogCaptureFixture, durable: bool
) -> None:
    """Lambda's recursive loop detection follows a chain through SNS: a function that
    publishes to the topic it subscribes to runs 16 times, then the delivery fails without
    retry (a client-side error). On durable storage the chain travels in the store."""
    storage = f"sqlite:///{tmp_path / 'mesh.db'}" if durable else "memory"
    mesh = Mesh(clock=clock, storage=storage, drain_timeout=0)
    topic = mesh.topic("loop")
    calls: list[float] = []

    @mesh.function(name="echo")
    async def echo(event: dict[str, Any], context: Context) -> None:
        calls.append(clock.now())
        if len(calls) <= 20:  # a loop that is not stopped ends the test, not the process
            await topic.publish("again")

    subscription = topic.subscribe(echo)
    with caplog.at_level(logging.WARNING, logger="eventmesh.topics"):
        async with mesh:
            await topic.publish("start")
            for _ in range(60):
                await clock.advance(1)
            await clock.advance(3600)  # nothing comes back later either

    assert len(calls) == 16
    assert (topic.published, subscription.delivered, subscription.failed) == (17, 16, 1)
    assert subscription.attempts == 17
    assert any(
        "failed after 1 attempt(s): function 'echo' was invoked 16 times in one chain" in m
        for m in caplog.messages
    )


async def test_a_retry_frees_the_topics_room_once_it_is_delivered(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A delivery waiting to retry still holds its place in the topic's ``max_pending``
    until it is delivered; then the room is free again."""
    got: list[dict[str, Any]] = []
    topic = mesh.resource(Topic, "alerts", max_pending=1)
    topic.subscribe(named_subscriber(got, failures=1))
    async with mesh:
        await topic.publish("one")
        await clock.advance(0)
        with pytest.raises(BackpressureError):
            await topic.publish("two", timeout=0)
        await clock.advance(20)
        await clock.advance(0)
        await topic.publish("three", timeout=0)
        await clock.advance(0)

    assert [envelope["Message"] for envelope in got] == ["one", "one", "three"]


async def test_failures_are_counted_per_message(mesh: Mesh, clock: VirtualClock) -> None:
    """``failed`` counts every message a subscription gave up on, the topic's
    ``delivery_failures`` likewise."""

    async def broken(envelope: dict[str, Any]) -> None:
        raise RuntimeError("down")

    topic = mesh.topic("alerts")
    subscription = topic.subscribe(broken, delivery_policy={"numRetries": 1})
    async with mesh:
        await topic.publish("one")
        await topic.publish("two")
        await clock.advance(20)
        await clock.advance(0)

    assert (subscription.attempts, subscription.failed, topic.delivery_failures) == (4, 2, 2)


async def test_unsubscribing_cancels_a_delivery_under_way(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Unsubscribing stops a delivery in progress and waits until it has stopped."""
    started = asyncio.Event()
    finished: list[str] = []

    async def slow(envelope: dict[str, Any]) -> None:
        started.set()
        await asyncio.Event().wait()
        finished.append(envelope["Message"])

    topic = mesh.topic("alerts")
    subscription = topic.subscribe(slow)
    async with mesh:
        await topic.publish("m")
        await clock.advance(0)
        assert started.is_set()
        assert await topic.pending() == 1
        await topic.unsubscribe(subscription)
        assert await topic.pending() == 0
        await clock.advance(0)

    assert finished == []
    assert topic.subscriptions == []
    assert not [r for r in caplog.records if r.name == "asyncio"]  # no failing callback


async def test_an_http_retry_answered_with_a_client_error_ends_the_delivery(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A retry that meets a client-side error (a 404 after a 500) is not retried further."""
    topic = mesh.topic("alerts")
    async with Endpoint(clock, [500, 404]) as server, mesh:
        subscription = topic.subscribe(server.url)
        await topic.publish("m")
        await eventually(lambda: subscription.attempts == 1)
        await clock.advance(20)
        await eventually(lambda: subscription.failed == 1)
        await clock.advance(100)

    assert [(r.at, r.status) for r in server.requests] == [(0, 500), (20, 404)]
    assert subscription.attempts == 2


async def test_a_delivery_given_up_frees_the_topics_room(mesh: Mesh, clock: VirtualClock) -> None:
    """A delivery that failed for good, at once or after its retries, frees its place in
    the topic's ``max_pending``."""

    async def broken(envelope: dict[str, Any]) -> None:
        raise RuntimeError("down")

    topic = mesh.resource(Topic, "alerts", max_pending=1)
    subscription = topic.subscribe(broken, delivery_policy={"numRetries": 1})
    async with Endpoint(clock, [404] * 3) as server, mesh:
        await topic.publish("one")
        await clock.advance(20)
        await clock.advance(0)
        assert subscription.failed == 1
        await topic.publish("two", timeout=0)
        await clock.advance(20)
        await clock.advance(0)
        assert subscription.failed == 2
        await topic.unsubscribe(subscription)
        by_http = topic.subscribe(server.url)
        for n in (1, 2):
            await topic.publish("three", timeout=0)
            await eventually(lambda n=n: by_http.failed == n)  # type: ignore[misc]


async def test_a_callable_is_retried_whatever_it_raises(mesh: Mesh, clock: VirtualClock) -> None:
    """A callable's failure is its own and may pass: any exception is retried under its
    policy, the mesh's own errors included."""
    calls: list[float] = []

    async def strict(envelope: dict[str, Any]) -> None:
        calls.append(clock.now())
        raise PayloadError("refused by the subscriber")

    topic = mesh.topic("alerts")
    subscription = topic.subscribe(strict, delivery_policy={"numRetries": 2})
    async with mesh:
        await topic.publish("m")
        await clock.advance(40)
        await clock.advance(0)

    assert calls == [0, 20, 40]
    assert (subscription.attempts, subscription.failed) == (3, 1)


async def test_a_delivery_under_way_at_stop_is_abandoned_in_memory(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """On memory storage a first attempt still running when the mesh stops is abandoned,
    logged and counted as a failure."""
    mesh = Mesh(clock=clock, drain_timeout=0)

    async def stuck(envelope: dict[str, Any]) -> None:
        await asyncio.Event().wait()

    topic = mesh.topic("alerts")
    topic.subscribe(stuck)
    with caplog.at_level(logging.WARNING, logger="eventmesh.topics"):
        async with mesh:
            await topic.publish("m")
            await clock.advance(0)
            assert await topic.pending() == 1

    assert topic.delivery_failures == 1
    assert "abandoned: topic alerts 1 deliveries unfinished (0 waiting to retry)" in (
        caplog.messages
    )


async def test_on_durable_storage_a_delivery_under_way_at_stop_stays_stored(
    clock: VirtualClock, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """On durable storage a delivery being attempted counts as pending, and one still
    running when the mesh stops stays in the store for the next start: not a failure."""
    mesh = Mesh(clock=clock, storage=f"sqlite:///{tmp_path / 'mesh.db'}", drain_timeout=0)
    started = asyncio.Event()

    async def stuck(envelope: dict[str, Any]) -> None:
        started.set()
        await asyncio.Event().wait()

    topic = mesh.topic("alerts")
    topic.subscribe(stuck)
    with caplog.at_level(logging.INFO, logger="eventmesh.topics"):
        async with mesh:
            await topic.publish("m")
            await asyncio.wait_for(started.wait(), 5)  # the store's worker, on real I/O
            assert await topic.pending() == 1

    assert topic.delivery_failures == 0
    assert any(
        message.startswith("topic alerts: 1 deliveries stay in the store for the next start")
        for message in caplog.messages
    )


async def test_names_are_checked_when_the_mesh_runs_or_at_once_if_it_does(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A name that is neither a function nor a queue fails when the mesh starts, or at
    subscribe while it runs; a raw subscription's name must be a queue's, not a function's."""

    @mesh.function(name="worker")
    async def worker(event: dict[str, Any], context: Context) -> None:
        pass

    topic = mesh.topic("alerts")
    async with mesh:
        with pytest.raises(
            ConfigurationError,
            match=r"^subscription of topic 'alerts': no function or queue 'nobody' "
            r"\(no function named 'nobody'\)$",
        ):
            topic.subscribe("nobody")
        with pytest.raises(
            ConfigurationError, match=r"^subscription of topic 'alerts': no queue named 'worker'$"
        ):
            topic.subscribe("worker", raw_message_delivery=True)


async def test_the_error_messages_name_what_is_wrong(mesh: Mesh) -> None:
    """Errors say which rule a call broke, in full."""
    topic = mesh.topic("alerts")
    with pytest.raises(
        Exception,
        match=r"^topic 'alerts' cannot publish before the mesh runs: use `async with mesh:` "
        r"first$",
    ):
        await topic.publish("m")
    with pytest.raises(
        PayloadError,
        match=r"^attributes: must be a mapping of names to attribute values, got list$",
    ):
        encode_sns_attributes([("a", "b")])  # type: ignore[arg-type]
    with pytest.raises(
        PayloadError,
        match=r"^message attribute name 'aws\.x' must be 1-256 letters, digits, '_', '-' or "
        r"'\.', and not start with 'AWS\.' or 'Amazon\.'$",
    ):
        encode_sns_attributes({"aws.x": "v"})
    topic.subscribe("missing", raw_message_delivery=True)
    with pytest.raises(
        ConfigurationError, match=r"^subscription of topic 'alerts': no queue named 'missing'$"
    ):
        async with mesh:
            pass


async def test_a_publish_the_store_refuses_gives_back_its_place(
    clock: VirtualClock, tmp_path: Any
) -> None:
    """On durable storage every delivery is stored first. A publish whose deliveries the
    store cannot take fails with the store's error and leaves the topic's ``max_pending``
    as it was: the next publish meets the same error, not a full topic."""
    mesh = Mesh(clock=clock, storage=f"sqlite:///{tmp_path / 'mesh.db'}", drain_timeout=0)
    topic = mesh.topic("alerts", max_pending=1)
    topic.subscribe(named_subscriber([]))
    async with mesh:
        await mesh.backend.close()
        with pytest.raises(BackendError):
            await topic.publish("one", timeout=0)
        with pytest.raises(BackendError):
            await topic.publish("two", timeout=0)
