"""The json protocol (SQS's 1.0, Kinesis's and EventBridge's 1.1) through real boto3 clients,
with test-only handlers: botocore's own parsers are the oracle for what goes on the wire."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from eventmesh.aws import AwsCall, AwsError, OperationRegistry, operation
from tests.aws.conftest import AwsEndpoint

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:botocore")


def _registry() -> OperationRegistry:
    registry = OperationRegistry()

    @operation("sqs", "SendMessage", registry)
    async def send_message(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        if params["QueueUrl"].endswith("/missing"):
            raise AwsError(
                "AWS.SimpleQueueService.NonExistentQueue",
                "The specified queue does not exist.",
            )
        if params["QueueUrl"].endswith("/boom"):
            raise RuntimeError("a secret detail that must not reach the client")
        body = params["MessageBody"].encode()
        return {
            "MD5OfMessageBody": hashlib.md5(body).hexdigest(),
            "MessageId": f"{call.service}.{call.operation}@{call.region}/{call.access_key}",
        }

    @operation("sqs", "GetQueueUrl", registry)
    async def get_queue_url(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        return {"QueueUrl": f"{call.endpoint_url}/{call.account_id}/{params['QueueName']}"}

    @operation("kinesis", "PutRecord", registry)
    async def put_record(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        assert isinstance(params["Data"], bytes)
        return {"ShardId": "shardId-000000000000", "SequenceNumber": params["Data"].hex()}

    @operation("kinesis", "DescribeStreamSummary", registry)
    async def describe(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "StreamDescriptionSummary": {
                "StreamName": params["StreamName"],
                "StreamARN": "arn:aws:kinesis:us-east-1:123456789012:stream/s",
                "StreamStatus": "ACTIVE",
                "RetentionPeriodHours": 24,
                "StreamCreationTimestamp": datetime(2026, 12, 7, 1, 2, 3, 500000, UTC),
                "EnhancedMonitoring": [],
                "OpenShardCount": 1,
            }
        }

    @operation("events", "PutEvents", registry)
    async def put_events(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        entries = params["Entries"]
        return {
            "FailedEntryCount": 0,
            "Entries": [{"EventId": str(entry["Time"].timestamp())} for entry in entries],
        }

    return registry


@pytest.fixture
async def endpoint(aws_endpoint: AwsEndpoint) -> AwsEndpoint:
    return await aws_endpoint.start(registry=_registry())


async def test_a_json_1_0_call_round_trips_through_boto3(endpoint: AwsEndpoint) -> None:
    sqs = endpoint.client("sqs")
    url = (await sqs.get_queue_url(QueueName="orders"))["QueueUrl"]
    assert url == f"{endpoint.url}/123456789012/orders"
    sent = await sqs.send_message(QueueUrl=url, MessageBody="héllo")
    assert sent["MD5OfMessageBody"] == hashlib.md5("héllo".encode()).hexdigest()
    assert sent["MessageId"] == "sqs.SendMessage@us-east-1/AKIDEVENTMESHTEST"
    assert sent["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert sent["ResponseMetadata"]["RequestId"]


async def test_json_1_1_blobs_and_timestamps(endpoint: AwsEndpoint) -> None:
    kinesis = endpoint.client("kinesis")
    put = await kinesis.put_record(StreamName="s", Data=b"\x00\xffdata", PartitionKey="k")
    assert put["SequenceNumber"] == b"\x00\xffdata".hex()
    summary = (await kinesis.describe_stream_summary(StreamName="s"))["StreamDescriptionSummary"]
    assert summary["StreamCreationTimestamp"] == datetime(2026, 12, 7, 1, 2, 3, 500000, UTC)
    events = endpoint.client("events")
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    answer = await events.put_events(
        Entries=[{"Source": "s", "DetailType": "t", "Detail": "{}", "Time": when}]
    )
    assert answer["Entries"] == [{"EventId": str(when.timestamp())}]


async def test_sqs_errors_carry_the_query_compatible_code(endpoint: AwsEndpoint) -> None:
    sqs = endpoint.client("sqs")
    with pytest.raises(ClientError) as caught:
        await sqs.send_message(QueueUrl=f"{endpoint.url}/1/missing", MessageBody="x")
    error = caught.value.response["Error"]
    assert error["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert error["Message"] == "The specified queue does not exist."
    assert error["Type"] == "Sender"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # boto3's modeled exception class is matched by the query code
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        await sqs.send_message(QueueUrl=f"{endpoint.url}/1/missing", MessageBody="x")


async def test_an_operation_without_a_handler_is_named_in_the_error(
    endpoint: AwsEndpoint,
) -> None:
    sqs = endpoint.client("sqs")
    with pytest.raises(ClientError) as caught:
        await sqs.tag_queue(QueueUrl=f"{endpoint.url}/1/q", Tags={"a": "b"})
    assert caught.value.response["Error"]["Code"] == "UnknownOperationException"
    assert (
        caught.value.response["Error"]["Message"] == "eventmesh does not implement sqs.TagQueue yet"
    )
    kinesis = endpoint.client("kinesis")
    with pytest.raises(ClientError) as caught:
        await kinesis.list_streams()
    assert caught.value.response["Error"]["Code"] == "UnknownOperationException"
    assert "kinesis.ListStreams" in caught.value.response["Error"]["Message"]


async def test_a_failing_handler_is_an_internal_error_without_its_details(
    endpoint: AwsEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    sqs = endpoint.client("sqs")
    with (
        caplog.at_level(logging.ERROR, logger="eventmesh.aws"),
        pytest.raises(ClientError) as caught,
    ):
        await sqs.send_message(QueueUrl=f"{endpoint.url}/1/boom", MessageBody="x")
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert response["Error"]["Code"] == "InternalError"
    assert "secret detail" not in str(response)
    assert any("secret detail" in (r.exc_text or "") for r in caplog.records)


async def test_a_malformed_body_is_refused_not_crashed(endpoint: AwsEndpoint) -> None:
    async with httpx.AsyncClient(base_url=endpoint.url, timeout=10) as client:
        for body in (b"{not json", b"[1, 2]", b'{"QueueUrl": 5, "MessageBody": "x"}'):
            answer = await client.post(
                "/",
                content=body,
                headers={
                    "x-amz-target": "AmazonSQS.SendMessage",
                    "content-type": "application/x-amz-json-1.0",
                },
            )
            assert answer.status_code in (400, 403)
            assert "Traceback" not in answer.text


async def test_missing_members_are_refused_in_aws_words(aws_endpoint: AwsEndpoint) -> None:
    endpoint = await aws_endpoint.start(registry=_registry(), credentials=None)
    async with httpx.AsyncClient(base_url=endpoint.url, timeout=10) as client:
        answer = await client.post(
            "/",
            content=b'{"QueueUrl": "http://x/1/q"}',
            headers={
                "x-amz-target": "AmazonSQS.SendMessage",
                "content-type": "application/x-amz-json-1.0",
            },
        )
    assert answer.status_code == 400
    assert answer.headers["x-amzn-query-error"] == "MissingParameter;Sender"
    assert answer.json()["message"] == (
        "1 validation error detected: Value null at 'messageBody' failed to satisfy "
        "constraint: Member must not be null"
    )
