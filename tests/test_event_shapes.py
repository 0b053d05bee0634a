"""Our events against AWS's own sample events, key by key, type by type, format by format.

Each sample in ``tests/samples/`` is copied from the reference (§1.4, §3.3, §4.1-§4.4, §4.6;
``tests/samples/README.md`` says which values were completed where the reference abbreviates).
Each test produces the matching event for real, through the public API on a VirtualClock, and:

1. compares its shape with the sample's (:func:`assert_same_shape`): the same keys at every
   level, the same JSON type for every value;
2. checks, field by field, the formats AWS's handlers rely on (timestamps, encodings, ARNs).

Where our event may legitimately differ from a sample (a key AWS sends only sometimes, a
value that is the user's own), the test says so explicitly on that key, never by loosening
the comparison.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest

from eventmesh import Context, Mesh
from eventmesh.testing import RecordingDestination, VirtualClock

SAMPLES = Path(__file__).parent / "samples"

REGION = "us-east-1"
ACCOUNT = "123456789012"
"""The region and account of the ``mesh`` fixture (Mesh's defaults)."""
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
T0 = 1_767_225_600.0
"""The VirtualClock's wall time at 0: 2026-01-01T00:00:00Z."""

ISO_MILLIS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
"""``2019-11-14T18:16:05.568Z``: S3's eventTime, SNS's Timestamp, Lambda's record timestamps."""
ISO_SECONDS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
"""``2019-03-01T01:23:45Z``: EventBridge's time, whole seconds."""
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
EPOCH_MILLIS = re.compile(r"\d{13}")
MD5_HEX = re.compile(r"[0-9a-f]{32}")
SHARD_ID = re.compile(r"shardId-\d{12}")
SEQUENCE_NUMBER = re.compile(r"\d{21,128}")
BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


# -- the comparison --------------------------------------------------------------------------
def json_type(value: Any) -> str:
    """The JSON type of a decoded value; int and float are both "number"."""
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: bool is an int in Python
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return f"not JSON ({type(value).__name__})"


def shape_differences(ours: Any, sample: Any, path: str = "") -> list[str]:
    """Every place where ``ours`` differs in shape from ``sample``: a missing or extra key,
    or a value of another JSON type. Array elements are compared with the sample's first."""
    where = path or "<root>"
    ours_type, sample_type = json_type(ours), json_type(sample)
    if ours_type != sample_type:
        return [f"{where}: ours is {ours_type} ({ours!r}), AWS's is {sample_type} ({sample!r})"]
    problems: list[str] = []
    if isinstance(sample, dict):
        missing = sorted(set(sample) - set(ours))
        extra = sorted(set(ours) - set(sample))
        problems += [f"{path}.{key}: missing (AWS sends it)" for key in missing]
        problems += [f"{path}.{key}: extra (AWS does not send it)" for key in extra]
        for key in sorted(set(sample) & set(ours)):
            problems += shape_differences(ours[key], sample[key], f"{path}.{key}")
    elif isinstance(sample, list) and sample:
        for index, element in enumerate(ours):
            problems += shape_differences(element, sample[0], f"{path}[{index}]")
    return problems


def assert_same_shape(ours: Any, sample: Any, path: str = "") -> None:
    """The same keys at every object level and the same JSON type for every value."""
    problems = shape_differences(ours, sample, path)
    assert not problems, "shape differs from AWS's sample:\n  " + "\n  ".join(problems)


def load_sample(name: str) -> Any:
    """A sample event (a fresh copy: tests may adjust optional keys)."""
    return json.loads((SAMPLES / f"{name}.json").read_text())


def iso_millis(epoch_seconds: float) -> str:
    """The expected ``...T00:00:00.250Z`` for a moment, computed independently of eventmesh."""
    moment = datetime.fromtimestamp(round(epoch_seconds, 3), tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def recorder(mesh: Mesh, name: str) -> list[Any]:
    """Register a function that keeps every event it receives; returns the list."""
    events: list[Any] = []

    async def handler(event: Any, context: Context) -> None:
        events.append(copy.deepcopy(event))

    mesh.function(name=name)(handler)
    return events


def only(items: list[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]


# -- the helper itself -----------------------------------------------------------------------
def test_the_comparison_reports_missing_and_extra_keys_and_types_with_their_path() -> None:
    sample = {"a": {"b": 1, "c": "x"}, "d": [{"e": True}], "f": None}
    ours = {"a": {"b": 2.5, "g": "y"}, "d": [{"e": True}, {"e": "no"}], "f": {}}
    assert shape_differences(ours, sample) == [
        ".a.c: missing (AWS sends it)",
        ".a.g: extra (AWS does not send it)",
        ".d[1].e: ours is string ('no'), AWS's is boolean (True)",
        ".f: ours is object ({}), AWS's is null (None)",
    ]
    assert shape_differences(1, 1.5) == []  # int and float are both JSON numbers
    assert shape_differences(True, 1) == ["<root>: ours is boolean (True), AWS's is number (1)"]
    with pytest.raises(AssertionError, match=r"\.a\.c: missing"):
        assert_same_shape(ours, sample)


def test_the_format_patterns_accept_the_values_of_awss_samples() -> None:
    """The format checks below are right about AWS: its own values pass them."""
    s3 = load_sample("s3")["Records"][0]
    sns = load_sample("sns")["Records"][0]["Sns"]
    sqs = load_sample("sqs")["Records"][0]
    kinesis = load_sample("kinesis")["Records"][0]
    failure = load_sample("kinesis-on-failure")
    assert ISO_MILLIS.fullmatch(s3["eventTime"])
    assert re.fullmatch(r"[0-9A-F]{18}", s3["s3"]["object"]["sequencer"])
    assert re.fullmatch(r"[0-9A-F]{16}", s3["responseElements"]["x-amz-request-id"])
    assert ISO_MILLIS.fullmatch(sns["Timestamp"])
    assert BASE64.fullmatch(sns["Signature"])
    assert EPOCH_MILLIS.fullmatch(sqs["attributes"]["SentTimestamp"])
    assert MD5_HEX.fullmatch(sqs["md5OfBody"])
    assert UUID.fullmatch(sqs["messageId"])
    assert hashlib.md5(sqs["body"].encode()).hexdigest() == sqs["md5OfBody"]
    assert BASE64.fullmatch(kinesis["kinesis"]["data"])
    assert SHARD_ID.fullmatch(kinesis["eventID"].split(":")[0])
    assert SEQUENCE_NUMBER.fullmatch(kinesis["kinesis"]["sequenceNumber"])
    assert isinstance(kinesis["kinesis"]["approximateArrivalTimestamp"], float)
    assert ISO_MILLIS.fullmatch(failure["KinesisBatchInfo"]["approximateArrivalOfFirstRecord"])
    for name in ("invocation-failure", "invocation-success", "kinesis-on-failure"):
        assert ISO_MILLIS.fullmatch(load_sample(name)["timestamp"])
    assert ISO_SECONDS.fullmatch(load_sample("scheduled")["time"])


# -- SQS (§4.3) ------------------------------------------------------------------------------
async def test_sqs_event_has_awss_shape(mesh: Mesh, clock: VirtualClock) -> None:
    events = recorder(mesh, "consume")
    queue = mesh.queue("my-queue")
    queue.subscribe("consume")
    async with mesh:
        await clock.advance(0.183)
        message_id = await queue.send("Test message.")
        await clock.advance(0)
    event = only(events)
    sample = load_sample("sqs")

    # Optional key: md5OfMessageAttributes comes only with message attributes (§4.3); this
    # message has none, like the sample's.
    assert "md5OfMessageAttributes" not in event["Records"][0]
    assert "md5OfMessageAttributes" not in sample["Records"][0]
    assert_same_shape(event, sample)

    record = only(event["Records"])
    assert record["messageId"] == message_id
    assert UUID.fullmatch(record["messageId"])
    assert record["receiptHandle"]
    assert record["body"] == "Test message."
    assert record["md5OfBody"] == sample["Records"][0]["md5OfBody"]  # AWS's MD5 of this body
    attributes = record["attributes"]
    assert all(isinstance(value, str) for value in attributes.values())  # all strings
    assert attributes["ApproximateReceiveCount"] == "1"
    sent_ms = str(round((T0 + 0.183) * 1000))
    assert EPOCH_MILLIS.fullmatch(attributes["SentTimestamp"])  # epoch milliseconds
    assert attributes["SentTimestamp"] == sent_ms
    assert EPOCH_MILLIS.fullmatch(attributes["ApproximateFirstReceiveTimestamp"])
    assert attributes["ApproximateFirstReceiveTimestamp"] == sent_ms
    assert re.fullmatch(r"[A-Z0-9]{16,32}", attributes["SenderId"])
    assert record["messageAttributes"] == {}
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:my-queue"
    assert record["awsRegion"] == REGION


async def test_sqs_message_attributes_have_the_lambda_event_shape(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A non-empty ``messageAttributes`` entry (⚠️ RS-FIX in §4.3), and its MD5."""
    events = recorder(mesh, "consume")
    queue = mesh.queue("my-queue")
    queue.subscribe("consume")
    async with mesh:
        await queue.send("Test message.", {"Attribute1": "AttributeValue1", "Raw": b"\x00\x01"})
        await clock.advance(0)
    record = only(only(events)["Records"])
    # The reference's entry, verbatim: {"stringValue", "stringListValues", "binaryListValues",
    # "dataType"}; a Binary attribute has "binaryValue" (base64) where a String has
    # "stringValue".
    string_entry = {
        "stringValue": "AttributeValue1",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    binary_entry = {
        "binaryValue": "AAE=",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "Binary",
    }
    attributes = record["messageAttributes"]
    assert_same_shape(attributes["Attribute1"], string_entry, ".messageAttributes.Attribute1")
    assert_same_shape(attributes["Raw"], binary_entry, ".messageAttributes.Raw")
    assert attributes["Attribute1"]["stringValue"] == "AttributeValue1"
    assert base64.b64decode(attributes["Raw"]["binaryValue"], validate=True) == b"\x00\x01"
    # Optional key: with attributes, the record has md5OfMessageAttributes beside the
    # sample's keys.
    sample_record = load_sample("sqs")["Records"][0]
    sample_record["md5OfMessageAttributes"] = "0123456789abcdef0123456789abcdef"
    sample_record["messageAttributes"] = {"Attribute1": string_entry, "Raw": binary_entry}
    assert_same_shape(record, sample_record)
    assert MD5_HEX.fullmatch(record["md5OfMessageAttributes"])


# -- SNS (§4.2) ------------------------------------------------------------------------------
async def test_sns_event_has_awss_shape(mesh: Mesh, clock: VirtualClock) -> None:
    events = recorder(mesh, "sns-handler")
    topic = mesh.topic("sns-lambda")
    subscription = topic.subscribe("sns-handler")
    binary = base64.b64encode(b"TestBinary").decode()
    async with mesh:
        await clock.advance(0.25)
        message_id = await topic.publish(
            "Hello from SNS!",
            subject="TestInvoke",
            attributes={
                "Test": {"Type": "String", "Value": "TestString"},
                "TestBinary": {"Type": "Binary", "Value": binary},
            },
        )
        await clock.advance(0)
    event = only(events)
    assert_same_shape(event, load_sample("sns"))

    record = only(event["Records"])
    topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:sns-lambda"
    assert record["EventVersion"] == "1.0"
    assert record["EventSource"] == "aws:sns"
    assert record["EventSubscriptionArn"] == subscription.arn
    assert re.fullmatch(re.escape(topic_arn) + ":" + UUID.pattern, record["EventSubscriptionArn"])
    sns = record["Sns"]
    # SNS's keys are capitalised, every one of them, down to the attributes' Type and Value.
    assert all(key[0].isupper() for key in (*record, *sns))
    assert all(set(entry) == {"Type", "Value"} for entry in sns["MessageAttributes"].values())
    assert sns["Type"] == "Notification"
    assert sns["MessageId"] == message_id
    assert UUID.fullmatch(sns["MessageId"])
    assert sns["TopicArn"] == topic_arn
    assert sns["Subject"] == "TestInvoke"
    assert sns["Message"] == "Hello from SNS!"
    assert ISO_MILLIS.fullmatch(sns["Timestamp"])
    assert sns["Timestamp"] == iso_millis(T0 + 0.25) == "2026-01-01T00:00:00.250Z"
    assert sns["SignatureVersion"] == "1"
    assert BASE64.fullmatch(sns["Signature"])
    assert base64.b64decode(sns["Signature"], validate=True)
    assert re.fullmatch(
        rf"https://sns\.{REGION}\.amazonaws\.com/SimpleNotificationService-[^/]+\.pem",
        sns["SigningCertUrl"],
    )
    # The reference prints "&amp;" (an HTML-escaping artefact of AWS's docs); the URL has "&".
    assert sns["UnsubscribeUrl"] == (
        f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe"
        f"&SubscriptionArn={record['EventSubscriptionArn']}"
    )
    assert sns["MessageAttributes"] == {
        "Test": {"Type": "String", "Value": "TestString"},
        "TestBinary": {"Type": "Binary", "Value": binary},
    }


async def test_sns_event_without_subject_or_attributes(mesh: Mesh, clock: VirtualClock) -> None:
    """Optional values: no subject is ``"Subject": null``; no attributes is ``{}``."""
    events = recorder(mesh, "sns-handler")
    topic = mesh.topic("sns-lambda")
    topic.subscribe("sns-handler")
    async with mesh:
        await topic.publish("Hello from SNS!")
        await clock.advance(0)
    sns = only(only(events)["Records"])["Sns"]
    assert sns["Subject"] is None
    assert sns["MessageAttributes"] == {}
    expected = load_sample("sns")
    expected["Records"][0]["Sns"]["Subject"] = None  # the key stays; its value is null
    expected["Records"][0]["Sns"]["MessageAttributes"] = {}
    assert_same_shape(only(events), expected)


# -- Kinesis (§4.4) --------------------------------------------------------------------------
async def test_kinesis_event_has_awss_shape(mesh: Mesh, clock: VirtualClock) -> None:
    events = recorder(mesh, "kinesis-handler")
    stream = mesh.stream("lambda-stream")
    stream.subscribe("kinesis-handler", starting_position="LATEST")
    async with mesh:
        await clock.advance(0.987)
        put = await stream.put_record(b"Hello, this is a test.", "1")
        await clock.advance(0)
    event = only(events)
    assert_same_shape(event, load_sample("kinesis"))

    record = only(event["Records"])
    kinesis = record["kinesis"]
    assert kinesis["kinesisSchemaVersion"] == "1.0"
    assert kinesis["partitionKey"] == "1"
    assert SEQUENCE_NUMBER.fullmatch(kinesis["sequenceNumber"])  # a decimal string
    assert kinesis["sequenceNumber"] == put.sequence_number
    assert BASE64.fullmatch(kinesis["data"])
    assert base64.b64decode(kinesis["data"], validate=True) == b"Hello, this is a test."
    # The sample's data is this very text: the same bytes give the same base64.
    assert kinesis["data"] == load_sample("kinesis")["Records"][0]["kinesis"]["data"]
    arrival = kinesis["approximateArrivalTimestamp"]
    assert isinstance(arrival, float)  # epoch seconds, a float, milliseconds as decimals
    assert arrival == pytest.approx(T0 + 0.987, abs=5e-4)
    assert round(arrival, 3) == arrival
    assert record["eventID"] == f"{put.shard_id}:{put.sequence_number}"  # shardId:sequence
    assert SHARD_ID.fullmatch(put.shard_id)
    assert record["eventSource"] == "aws:kinesis"
    assert record["eventVersion"] == "1.0"
    assert record["eventName"] == "aws:kinesis:record"
    assert re.fullmatch(rf"arn:aws:iam::{ACCOUNT}:role/[\w+=,.@-]+", record["invokeIdentityArn"])
    assert record["awsRegion"] == REGION
    assert record["eventSourceARN"] == f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/lambda-stream"


# -- S3 (§4.1) -------------------------------------------------------------------------------
async def test_s3_event_has_awss_shape(mesh: Mesh, clock: VirtualClock) -> None:
    events = recorder(mesh, "s3-handler")
    bucket = mesh.bucket("mybucket")
    bucket.notify("s3-handler", ["s3:ObjectCreated:*"], id="testConfigRule")
    body = b"\xff" * 1024
    async with mesh:
        await clock.advance(0.5)
        await bucket.put_object("photos/red flower+1.jpg", body)
        await clock.advance(0)
    event = only(events)
    obj = only(event["Records"])["s3"]["object"]

    # Optional key: versionId is there only for a versioned bucket; eventmesh's buckets are
    # not versioned (the sample's is).
    assert "versionId" not in obj
    expected = load_sample("s3")
    del expected["Records"][0]["s3"]["object"]["versionId"]
    assert_same_shape(event, expected)

    record = only(event["Records"])
    assert record["eventVersion"] == "2.1"
    assert record["eventSource"] == "aws:s3"
    assert record["awsRegion"] == REGION
    assert ISO_MILLIS.fullmatch(record["eventTime"])  # ISO-8601, milliseconds, Z
    assert record["eventTime"] == "2026-01-01T00:00:00.500Z"
    assert record["eventName"] == "ObjectCreated:Put"  # without the "s3:" prefix
    assert record["userIdentity"]["principalId"]
    assert record["requestParameters"] == {"sourceIPAddress": "127.0.0.1"}
    assert re.fullmatch(r"[0-9A-F]{16}", record["responseElements"]["x-amz-request-id"])
    assert BASE64.fullmatch(record["responseElements"]["x-amz-id-2"])
    s3 = record["s3"]
    assert s3["s3SchemaVersion"] == "1.0"
    assert s3["configurationId"] == "testConfigRule"
    assert s3["bucket"]["name"] == "mybucket"
    assert s3["bucket"]["arn"] == "arn:aws:s3:::mybucket"
    assert s3["bucket"]["ownerIdentity"]["principalId"]
    # The key is URL-encoded (a space is "+", a "+" is "%2B", "/" stays).
    assert obj["key"] == "photos/red+flower%2B1.jpg"
    assert unquote_plus(obj["key"]) == "photos/red flower+1.jpg"
    assert obj["size"] == 1024
    assert isinstance(obj["size"], int)
    assert obj["eTag"] == hashlib.md5(body).hexdigest()  # bare hex, no quotes
    assert re.fullmatch(r"[0-9A-F]{18}", obj["sequencer"])


# -- scheduled event (§4.6) ------------------------------------------------------------------
async def test_scheduled_event_has_awss_shape(mesh: Mesh, clock: VirtualClock) -> None:
    events = recorder(mesh, "tick")
    schedule = mesh.schedule("rate(1 minute)", "tick", name="my-schedule")
    async with mesh:
        await clock.advance(60.25)
    event = only(events)
    assert_same_shape(event, load_sample("scheduled"))

    assert event["version"] == "0"
    assert UUID.fullmatch(event["id"])
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["account"] == ACCOUNT
    assert ISO_SECONDS.fullmatch(event["time"])  # whole seconds: no milliseconds
    assert event["time"] == "2026-01-01T00:01:00Z"  # the scheduled time
    assert event["region"] == REGION
    assert event["resources"] == [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/my-schedule"]
    assert event["resources"] == [schedule.arn]
    assert event["detail"] == {}


# -- asynchronous invocation records (§1.4) --------------------------------------------------
async def test_success_record_has_awss_shape(mesh: Mesh, clock: VirtualClock) -> None:
    destination = RecordingDestination("on-success")

    @mesh.function(name="hello", on_success=destination)
    async def hello(event: Any, context: Context) -> int:
        return 100

    payload = {"key1": 100, "key2": 200, "key3": 300}
    async with mesh:
        await clock.advance(0.043)
        result = await mesh.invoke("hello", payload, invocation_type="Event")
        await clock.advance(0)
    record = only(destination.messages)
    sample = load_sample("invocation-success")
    assert_same_shape(record, sample)

    assert record["version"] == "1.0"
    assert ISO_MILLIS.fullmatch(record["timestamp"])
    assert record["timestamp"] == "2026-01-01T00:00:00.043Z"
    context = record["requestContext"]
    assert context["requestId"] == result.request_id
    assert UUID.fullmatch(context["requestId"])
    assert context["functionArn"] == FUNCTION_ARN + "hello:$LATEST"  # qualified
    assert context["condition"] == "Success"
    assert context["approximateInvokeCount"] == 1
    assert record["requestPayload"] == payload
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert "functionError" not in record["responseContext"]  # absent on success
    assert record["responsePayload"] == 100


async def test_failure_record_has_awss_shape(mesh: Mesh, clock: VirtualClock) -> None:
    destination = RecordingDestination("on-failure")

    @mesh.function(name="my-function", on_failure=destination)
    async def failing(event: Any, context: Context) -> None:
        raise RuntimeError("cannot process the orders")

    sample = load_sample("invocation-failure")
    payload = sample["requestPayload"]
    async with mesh:
        await clock.advance(0.568)
        result = await mesh.invoke("my-function", payload, invocation_type="Event")
        await clock.advance(0)  # attempt 1
        await clock.advance(60)  # attempt 2
        await clock.advance(120)  # attempt 3, then the record
    record = only(destination.messages)

    # The user's payloads: the request payload is the sample's own; the response payload is
    # the function's error object. The sample's is a crashed runtime's (errorMessage only);
    # a Python exception's is §1.1's {"errorMessage", "errorType", "stackTrace"}.
    response_payload = record["responsePayload"]
    assert set(response_payload) == {"errorMessage", "errorType", "stackTrace"}
    assert response_payload["errorMessage"] == "cannot process the orders"
    assert response_payload["errorType"] == "RuntimeError"
    assert all(isinstance(line, str) for line in response_payload["stackTrace"])
    sample["responsePayload"] |= {"errorType": "RuntimeError", "stackTrace": ["  File ..."]}
    assert_same_shape(record, sample)

    assert record["version"] == "1.0"
    assert ISO_MILLIS.fullmatch(record["timestamp"])
    assert record["timestamp"] == "2026-01-01T00:03:00.568Z"  # when the event was discarded
    context = record["requestContext"]
    assert context["requestId"] == result.request_id
    assert UUID.fullmatch(context["requestId"])
    assert context["functionArn"] == FUNCTION_ARN + "my-function:$LATEST"  # qualified
    assert context["condition"] == "RetriesExhausted"
    assert context["approximateInvokeCount"] == 3
    assert record["requestPayload"] == payload
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }


async def test_failure_record_of_a_crashed_runtime_names_the_request(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """The sample's own case: the runtime exited; errorMessage names the request id."""
    destination = RecordingDestination("on-failure")

    @mesh.function(name="my-function", retries=0, on_failure=destination)
    async def crashing(event: Any, context: Context) -> None:
        raise SystemExit(1)

    async with mesh:
        result = await mesh.invoke("my-function", {"ORDER_IDS": []}, invocation_type="Event")
        await clock.advance(0)
    record = only(destination.messages)
    assert record["responseContext"]["functionError"] == "Unhandled"
    message = record["responsePayload"]["errorMessage"]
    assert message.startswith(f"RequestId: {result.request_id} ")


# -- Kinesis on-failure record (§3.3) --------------------------------------------------------
async def test_kinesis_on_failure_record_has_awss_shape(mesh: Mesh, clock: VirtualClock) -> None:
    destination = RecordingDestination("on-failure")

    @mesh.function(name="myfunction")
    async def failing(event: Any, context: Context) -> None:
        raise RuntimeError("bad batch")

    stream = mesh.stream("mystream")
    stream.subscribe(
        "myfunction",
        starting_position="LATEST",
        batching_window=2,
        max_retries=0,
        on_failure=destination,
    )
    async with mesh:
        await clock.advance(0.835)
        first = await stream.put_record(b"first", "1")
        await clock.advance(0.745)
        last = await stream.put_record(b"last", "1")
        await clock.advance(2)  # the window opened with the first record: one batch of 2
    record = only(destination.messages)
    assert_same_shape(record, load_sample("kinesis-on-failure"))

    assert record["version"] == "1.0"
    assert ISO_MILLIS.fullmatch(record["timestamp"])
    assert record["timestamp"] == "2026-01-01T00:00:02.835Z"  # the batch's one invocation
    context = record["requestContext"]
    assert UUID.fullmatch(context["requestId"])
    assert context["functionArn"] == FUNCTION_ARN + "myfunction"  # as the mapping names it
    assert context["condition"] == "RetryAttemptsExhausted"
    assert context["approximateInvokeCount"] == 1
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    info = record["KinesisBatchInfo"]
    assert info["shardId"] == first.shard_id == last.shard_id
    assert SHARD_ID.fullmatch(info["shardId"])
    assert info["startSequenceNumber"] == first.sequence_number
    assert info["endSequenceNumber"] == last.sequence_number
    assert SEQUENCE_NUMBER.fullmatch(info["startSequenceNumber"])
    assert ISO_MILLIS.fullmatch(info["approximateArrivalOfFirstRecord"])
    assert info["approximateArrivalOfFirstRecord"] == "2026-01-01T00:00:00.835Z"
    assert info["approximateArrivalOfLastRecord"] == "2026-01-01T00:00:01.580Z"
    assert info["batchSize"] == 2
    assert info["streamArn"] == f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/mystream"
