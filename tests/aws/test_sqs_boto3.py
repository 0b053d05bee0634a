"""SQS through boto3 against the endpoint on a free loopback port: every operation, with
AWS's error codes as botocore reports them (the query-compatible codes SQS keeps), AWS's
documented MD5s, a queue created through one endpoint used through another on the same
SQLite file and after a restart, and a process handler forwarding with ``sqs.send_message``.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import AwsEndpoint
from process_prefix import skip_if_hidden

from eventmesh import Context, Mesh, Telemetry

ACCOUNT = "123456789012"
Client = Callable[..., Any]


def error_of(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


async def test_queue_lifecycle(aws_endpoint: AwsEndpoint, aws_client: Client) -> None:
    sqs = aws_client("sqs")
    url = (await sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "40"}))[
        "QueueUrl"
    ]
    assert url == f"{aws_endpoint.url}/{ACCOUNT}/orders"
    assert (await sqs.create_queue(QueueName="orders"))["QueueUrl"] == url  # idempotent
    with pytest.raises(ClientError) as caught:
        await sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "41"})
    assert error_of(caught) == ("QueueAlreadyExists", 400)
    assert isinstance(caught.value, sqs.sync.exceptions.QueueNameExists)
    await sqs.create_queue(QueueName="other")
    assert (await sqs.get_queue_url(QueueName="orders"))["QueueUrl"] == url
    listed = await sqs.list_queues(QueueNamePrefix="ord")
    assert listed["QueueUrls"] == [url]
    attributes = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]))[
        "Attributes"
    ]
    assert attributes["VisibilityTimeout"] == "40"
    assert attributes["QueueArn"] == f"arn:aws:sqs:us-east-1:{ACCOUNT}:orders"
    await sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "2"})
    assert (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["DelaySeconds"]))[
        "Attributes"
    ] == {"DelaySeconds": "2"}
    with pytest.raises(ClientError) as caught:
        await sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "99999"})
    assert error_of(caught) == ("InvalidAttributeValue", 400)
    with pytest.raises(ClientError) as caught:
        await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Colour"])
    assert error_of(caught)[0] in ("InvalidAttributeName", "InvalidParameterValue")
    await sqs.delete_queue(QueueUrl=url)
    with pytest.raises(ClientError) as caught:
        await sqs.get_queue_url(QueueName="orders")
    assert error_of(caught) == ("AWS.SimpleQueueService.NonExistentQueue", 400)
    assert isinstance(caught.value, sqs.sync.exceptions.QueueDoesNotExist)
    assert caught.value.response["Error"]["QueryErrorCode"] == "QueueDoesNotExist"
    with pytest.raises(ClientError) as caught:
        await sqs.send_message(QueueUrl=url, MessageBody="x")
    assert error_of(caught) == ("AWS.SimpleQueueService.NonExistentQueue", 400)


async def test_messages_round_trip(aws_client: Client) -> None:
    sqs = aws_client("sqs")
    url = (await sqs.create_queue(QueueName="q"))["QueueUrl"]
    sent = await sqs.send_message(
        QueueUrl=url,
        MessageBody="This is a test",
        MessageAttributes={
            "Count": {"DataType": "Number", "StringValue": "1"},
            "Foo": {"DataType": "String", "StringValue": "Bar"},
            "Raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    assert sent["MD5OfMessageBody"] == "ce114e4501d2f4e2dcea3e17b546f339"
    received = await sqs.receive_message(
        QueueUrl=url,
        MessageAttributeNames=["Count", "Foo"],
        MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
        VisibilityTimeout=0,
    )
    (message,) = received["Messages"]
    assert message["MessageId"] == sent["MessageId"]
    assert message["Body"] == "This is a test"
    assert message["MD5OfBody"] == "ce114e4501d2f4e2dcea3e17b546f339"
    # AWS's documented MD5 of the attributes Count=1 (Number) and Foo=Bar (String).
    assert message["MD5OfMessageAttributes"] == "324758f82d026ac6ec5b31a3b192d1e3"
    assert message["MessageAttributes"] == {
        "Count": {"DataType": "Number", "StringValue": "1"},
        "Foo": {"DataType": "String", "StringValue": "Bar"},
    }
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    assert abs(int(message["Attributes"]["SentTimestamp"]) / 1000 - time.time()) < 60
    (again,) = (await sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"]))["Messages"]
    assert again["MessageAttributes"]["Raw"] == {"DataType": "Binary", "BinaryValue": b"\x00\x01"}
    await sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=again["ReceiptHandle"], VisibilityTimeout=0
    )
    (third,) = (await sqs.receive_message(QueueUrl=url))["Messages"]
    await sqs.delete_message(QueueUrl=url, ReceiptHandle=third["ReceiptHandle"])
    assert "Messages" not in await sqs.receive_message(QueueUrl=url)
    with pytest.raises(ClientError) as caught:
        await sqs.delete_message(QueueUrl=url, ReceiptHandle="garbage")
    assert error_of(caught) == ("ReceiptHandleIsInvalid", 404)
    with pytest.raises(ClientError) as caught:
        await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
    assert error_of(caught) == ("InvalidParameterValue", 400)
    with pytest.raises(ClientError) as caught:  # not supported: said so, not a 500
        await sqs.tag_queue(QueueUrl=url, Tags={"team": "a"})
    assert error_of(caught)[1] == 400
    assert "does not implement sqs.TagQueue" in caught.value.response["Error"]["Message"]


async def test_batches_and_purge(aws_client: Client) -> None:
    sqs = aws_client("sqs")
    url = (await sqs.create_queue(QueueName="q"))["QueueUrl"]
    sent = await sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": f"m{i}", "MessageBody": f"body {i}"} for i in range(3)]
        + [{"Id": "late", "MessageBody": "x", "DelaySeconds": 901}],
    )
    assert [entry["Id"] for entry in sent["Successful"]] == ["m0", "m1", "m2"]
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in sent["Failed"]] == [
        ("late", "InvalidParameterValue", True)
    ]
    messages = (await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10))["Messages"]
    assert sorted(m["Body"] for m in messages) == ["body 0", "body 1", "body 2"]
    changed = await sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "a", "ReceiptHandle": messages[0]["ReceiptHandle"], "VisibilityTimeout": 0}
        ],
    )
    assert changed["Successful"] == [{"Id": "a"}]
    deleted = await sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[{"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in
                 enumerate(messages[1:])],
    )  # fmt: skip
    assert [entry["Id"] for entry in deleted["Successful"]] == ["d0", "d1"]
    with pytest.raises(ClientError) as caught:
        await sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "same", "MessageBody": "a"}] * 2)
    assert error_of(caught) == ("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400)
    assert isinstance(caught.value, sqs.sync.exceptions.BatchEntryIdsNotDistinct)
    with pytest.raises(ClientError) as caught:
        await sqs.delete_message_batch(QueueUrl=url, Entries=[])
    assert error_of(caught) == ("AWS.SimpleQueueService.EmptyBatchRequest", 400)
    with pytest.raises(ClientError) as caught:
        await sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "a"} for i in range(11)]
        )
    assert error_of(caught) == ("AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400)
    await sqs.purge_queue(QueueUrl=url)
    assert "Messages" not in await sqs.receive_message(QueueUrl=url)
    with pytest.raises(ClientError) as caught:
        await sqs.purge_queue(QueueUrl=url)
    assert error_of(caught) == ("AWS.SimpleQueueService.PurgeQueueInProgress", 403)


async def test_long_polling_and_fifo(aws_client: Client) -> None:
    sqs = aws_client("sqs")
    url = (await sqs.create_queue(QueueName="q"))["QueueUrl"]
    waiting = asyncio.ensure_future(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    await sqs.send_message(QueueUrl=url, MessageBody="woke")
    (message,) = (await asyncio.wait_for(waiting, 10))["Messages"]
    assert message["Body"] == "woke"
    fifo = (
        await sqs.create_queue(
            QueueName="jobs.fifo",
            Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
        )
    )["QueueUrl"]
    first = await sqs.send_message(QueueUrl=fifo, MessageBody="one", MessageGroupId="g")
    again = await sqs.send_message(QueueUrl=fifo, MessageBody="one", MessageGroupId="g")
    assert again["MessageId"] == first["MessageId"]
    with pytest.raises(ClientError) as caught:
        await sqs.send_message(QueueUrl=fifo, MessageBody="no group")
    assert error_of(caught) == ("MissingParameter", 400)
    (got,) = (await sqs.receive_message(QueueUrl=fifo, MessageSystemAttributeNames=["All"]))[
        "Messages"
    ]
    assert got["Attributes"]["MessageGroupId"] == "g"


def _sqlite_mesh(path: Path) -> Mesh:
    return Mesh(storage=f"sqlite:///{path}", telemetry=Telemetry(enabled=False), drain_timeout=2)


async def test_a_queue_created_through_one_endpoint_is_used_through_another_and_restarts(
    aws_endpoint: AwsEndpoint, tmp_path: Path
) -> None:
    path = tmp_path / "mesh.db"
    one = await aws_endpoint.start(_sqlite_mesh(path))
    two = await aws_endpoint.start(_sqlite_mesh(path))
    sqs_one, sqs_two = one.client("sqs"), two.client("sqs")
    await sqs_one.create_queue(QueueName="shared", Attributes={"VisibilityTimeout": "300"})
    url_two = (await sqs_two.get_queue_url(QueueName="shared"))["QueueUrl"]
    assert url_two == f"{two.url}/{ACCOUNT}/shared"
    await sqs_two.send_message(QueueUrl=url_two, MessageBody="hello from two")
    url_one = f"{one.url}/{ACCOUNT}/shared"
    (message,) = (await sqs_one.receive_message(QueueUrl=url_one))["Messages"]
    assert message["Body"] == "hello from two"
    await sqs_one.send_message(QueueUrl=url_one, MessageBody="kept")
    await one.server.stop()
    await one.mesh.stop()
    async with _sqlite_mesh(path) as again:  # a restart: the endpoint restores the queue
        third = await aws_endpoint.start(again)
        sqs = third.client("sqs")
        attributes = (
            await sqs.get_queue_attributes(
                QueueUrl=f"{third.url}/{ACCOUNT}/shared", AttributeNames=["VisibilityTimeout"]
            )
        )["Attributes"]
        assert attributes == {"VisibilityTimeout": "300"}
        assert again.queue("shared").visibility_timeout == 300
        (kept,) = (await sqs.receive_message(QueueUrl=f"{third.url}/{ACCOUNT}/shared"))["Messages"]
        assert kept["Body"] == "kept"


FORWARDER = """
import json
import boto3

sqs = boto3.client("sqs")

def handler(event, context):
    url = sqs.get_queue_url(QueueName=event["queue"])["QueueUrl"]
    sent = sqs.send_message(
        QueueUrl=url,
        MessageBody=json.dumps(event["order"]),
        MessageAttributes={"source": {"DataType": "String", "StringValue": "forwarder"}},
    )
    return {"MessageId": sent["MessageId"], "MD5OfMessageBody": sent["MD5OfMessageBody"]}
"""


@pytest.fixture
def forwarder_code() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="eventmesh-code-", dir="/var/tmp"))
    (root / "app.py").write_text(textwrap.dedent(FORWARDER).lstrip())
    yield root
    shutil.rmtree(root, ignore_errors=True)


SEEN: list[dict[str, Any]] = []


@pytest.fixture
def aws_mesh(request: pytest.FixtureRequest) -> Mesh:
    """The endpoint's mesh; with ``forwarder_code``, the process function ``forward`` and a
    queue ``forwarded`` whose records an in-process ``consumer`` keeps in SEEN."""
    mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    if "forwarder_code" in request.fixturenames:
        SEEN.clear()
        code = request.getfixturevalue("forwarder_code")
        mesh.function(name="forward", handler="app.handler", code=code, timeout=60)

        @mesh.function(name="consumer")
        async def consumer(event: dict[str, Any], context: Context) -> None:
            SEEN.extend(event["Records"])

        mesh.queue("forwarded").subscribe("consumer")
    return mesh


@skip_if_hidden
async def test_a_process_handler_forwards_to_a_queue_with_boto3(
    aws_endpoint: AwsEndpoint, forwarder_code: Path
) -> None:
    """A handler in a process environment sends with plain boto3 (AWS_ENDPOINT_URL and the
    credentials come from the mesh); the queue's event source mapping delivers it."""
    result = await aws_endpoint.mesh.invoke("forward", {"queue": "forwarded", "order": {"id": 7}})
    assert result.payload["MD5OfMessageBody"] == hashlib.md5(b'{"id": 7}').hexdigest()
    for _ in range(400):
        if SEEN:
            break
        await asyncio.sleep(0.05)
    (record,) = SEEN
    assert record["messageId"] == result.payload["MessageId"]
    assert record["body"] == '{"id": 7}'
    assert record["messageAttributes"]["source"]["stringValue"] == "forwarder"
    assert record["eventSourceARN"] == f"arn:aws:sqs:us-east-1:{ACCOUNT}:forwarded"
