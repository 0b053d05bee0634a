"""SQS's operations as handlers, on the virtual clock: what each answers, AWS's values and
error codes where AWS documents them, and the queue's semantics underneath."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from aws_handlers import ENDPOINT, Caller

from eventmesh import Mesh
from eventmesh.aws import _model, catalog
from eventmesh.aws.operations import AwsError
from eventmesh.aws.services.sqs_queues import RECHECK_SECONDS
from eventmesh.telemetry import Telemetry
from eventmesh.testing import VirtualClock

URL = f"{ENDPOINT}/123456789012/"
NON_EXISTENT = "AWS.SimpleQueueService.NonExistentQueue"


def codes(error: AwsError) -> tuple[str, str]:
    """The JSON protocol's code and the query-compatible one the protocol adds (which
    botocore shows as the error's Code)."""
    return error.code, _model.query_code("sqs", error.code)


async def test_create_get_list_delete(mesh: Mesh) -> None:
    sqs = Caller(mesh, "sqs")
    async with mesh:
        created = await sqs.CreateQueue(QueueName="orders")
        assert created == {"QueueUrl": URL + "orders"}
        await sqs.CreateQueue(QueueName="orders-dlq")
        await sqs.CreateQueue(QueueName="billing")
        assert await sqs.GetQueueUrl(QueueName="orders") == created
        listed = await sqs.ListQueues(QueueNamePrefix="orders")
        assert listed == {"QueueUrls": [URL + "orders", URL + "orders-dlq"]}
        page = await sqs.ListQueues(MaxResults=2)
        assert page["QueueUrls"] == [URL + "billing", URL + "orders"]
        rest = await sqs.ListQueues(MaxResults=2, NextToken=page["NextToken"])
        assert rest == {"QueueUrls": [URL + "orders-dlq"]}
        assert await sqs.DeleteQueue(QueueUrl=URL + "orders") == {}
        with pytest.raises(AwsError) as caught:
            await sqs.GetQueueUrl(QueueName="orders")
        assert codes(caught.value) == ("QueueDoesNotExist", NON_EXISTENT)
        assert caught.value.message == "The specified queue does not exist."
        with pytest.raises(AwsError) as caught:
            await sqs.SendMessage(QueueUrl=URL + "orders", MessageBody="x")
        assert codes(caught.value) == ("QueueDoesNotExist", NON_EXISTENT)
        assert await sqs.ListQueues(QueueNamePrefix="zzz") == {}


async def test_queue_urls_with_another_host_name_the_queue_by_their_last_part(
    mesh: Mesh,
) -> None:
    sqs = Caller(mesh, "sqs")
    async with mesh:
        await sqs.CreateQueue(QueueName="q")
        other = "https://sqs.us-east-1.amazonaws.com/123456789012/q"
        assert "MessageId" in await sqs.SendMessage(QueueUrl=other, MessageBody="a")
        assert "MessageId" in await sqs.SendMessage(QueueUrl=URL + "q/", MessageBody="b")


async def test_create_is_idempotent_with_the_same_attributes_only(mesh: Mesh) -> None:
    sqs = Caller(mesh, "sqs")
    async with mesh:
        attributes = {"VisibilityTimeout": "60", "DelaySeconds": "5"}
        first = await sqs.CreateQueue(QueueName="q", Attributes=attributes)
        assert await sqs.CreateQueue(QueueName="q", Attributes=attributes) == first
        assert await sqs.CreateQueue(QueueName="q") == first  # no attribute differs
        assert await sqs.CreateQueue(QueueName="q", Attributes={"DelaySeconds": "5"}) == first
        with pytest.raises(AwsError) as caught:
            await sqs.CreateQueue(QueueName="q", Attributes={"VisibilityTimeout": "61"})
        assert codes(caught.value) == ("QueueNameExists", "QueueAlreadyExists")
        assert "different value for attribute VisibilityTimeout" in caught.value.message


@pytest.mark.parametrize(
    ("name", "attributes", "code"),
    [
        ("q", {"VisibilityTimeout": "43201"}, "InvalidAttributeValue"),
        ("q", {"DelaySeconds": "-1"}, "InvalidAttributeValue"),
        ("q", {"MessageRetentionPeriod": "59"}, "InvalidAttributeValue"),
        ("q", {"MaximumMessageSize": "1023"}, "InvalidAttributeValue"),
        ("q", {"ReceiveMessageWaitTimeSeconds": "21"}, "InvalidAttributeValue"),
        ("q", {"VisibilityTimeout": "ten"}, "InvalidAttributeValue"),
        ("q", {"VisibilityTimeout": "9" * 5000}, "InvalidAttributeValue"),
        ("q", {"DelaySeconds": "0" * 5000 + "901"}, "InvalidAttributeValue"),
        ("q", {"Colour": "blue"}, "InvalidAttributeName"),
        ("q", {"ContentBasedDeduplication": "true"}, "InvalidAttributeName"),
        ("q", {"FifoQueue": "true"}, "InvalidParameterValue"),
        ("q.fifo", {}, "InvalidParameterValue"),
        ("bad name", {}, "InvalidParameterValue"),
        ("x" * 81, {}, "InvalidParameterValue"),
        ("q", {"RedrivePolicy": "{not json"}, "InvalidParameterValue"),
        (
            "q",
            {
                "RedrivePolicy": '{"deadLetterTargetArn": "x", "maxReceiveCount": "%s"}'
                % ("9" * 5000)
            },
            "InvalidParameterValue",
        ),
        (
            "q",
            {
                "RedrivePolicy": '{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:'
                'none", "maxReceiveCount": 3}'
            },
            "InvalidParameterValue",
        ),
    ],
)
async def test_create_refuses_what_sqs_refuses(
    mesh: Mesh, name: str, attributes: dict[str, str], code: str
) -> None:
    sqs = Caller(mesh, "sqs")
    async with mesh:
        with pytest.raises(AwsError) as caught:
            await sqs.CreateQueue(QueueName=name, Attributes=attributes)
        assert codes(caught.value) == (code, code)
        assert mesh.context.find_resource(name) is None


async def test_attributes_read_and_set(mesh: Mesh, clock: VirtualClock) -> None:
    sqs = Caller(mesh, "sqs")
    async with mesh:
        await sqs.CreateQueue(QueueName="dlq")
        await sqs.CreateQueue(QueueName="q", Attributes={"VisibilityTimeout": "45"})
        await sqs.SendMessage(QueueUrl=URL + "q", MessageBody="visible")
        await sqs.SendMessage(QueueUrl=URL + "q", MessageBody="later", DelaySeconds=60)
        await sqs.SendMessage(QueueUrl=URL + "q", MessageBody="taken")
        await sqs.ReceiveMessage(QueueUrl=URL + "q")
        answer = await sqs.GetQueueAttributes(QueueUrl=URL + "q", AttributeNames=["All"])
        attributes = answer["Attributes"]
        assert attributes["QueueArn"] == "arn:aws:sqs:us-east-1:123456789012:q"
        assert attributes["VisibilityTimeout"] == "45"
        assert attributes["DelaySeconds"] == "0"
        assert attributes["MessageRetentionPeriod"] == "345600"
        assert attributes["MaximumMessageSize"] == "1048576"
        assert attributes["ReceiveMessageWaitTimeSeconds"] == "0"
        assert attributes["ApproximateNumberOfMessages"] == "1"
        assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"
        assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"
        assert "FifoQueue" not in attributes
        assert "RedrivePolicy" not in attributes
        some = await sqs.GetQueueAttributes(QueueUrl=URL + "q", AttributeNames=["QueueArn"])
        assert some == {"Attributes": {"QueueArn": "arn:aws:sqs:us-east-1:123456789012:q"}}
        assert await sqs.GetQueueAttributes(QueueUrl=URL + "q") == {}
        with pytest.raises(AwsError) as caught:
            await sqs.GetQueueAttributes(QueueUrl=URL + "q", AttributeNames=["Nope"])
        assert codes(caught.value) == ("InvalidAttributeName", "InvalidAttributeName")

        await clock.advance(100)
        policy = (
            '{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:dlq","maxReceiveCount":2}'
        )
        await sqs.SetQueueAttributes(
            QueueUrl=URL + "q",
            Attributes={"VisibilityTimeout": "5", "RedrivePolicy": policy, "DelaySeconds": "1"},
        )
        attributes = (await sqs.GetQueueAttributes(QueueUrl=URL + "q", AttributeNames=["All"]))[
            "Attributes"
        ]
        assert attributes["VisibilityTimeout"] == "5"
        assert orjson.loads(attributes["RedrivePolicy"]) == orjson.loads(policy)
        assert int(attributes["LastModifiedTimestamp"]) >= int(attributes["CreatedTimestamp"]) + 100
        queue = mesh.queue("q")
        assert (queue.visibility_timeout, queue.delay, queue.max_receive_count) == (5, 1, 2)
        await sqs.SetQueueAttributes(QueueUrl=URL + "q", Attributes={"RedrivePolicy": ""})
        assert queue.max_receive_count is None
        with pytest.raises(AwsError) as caught:
            await sqs.SetQueueAttributes(QueueUrl=URL + "q", Attributes={"FifoQueue": "true"})
        assert caught.value.code == "InvalidAttributeValue"


async def test_redrive_moves_a_message_received_too_often(mesh: Mesh, clock: VirtualClock) -> None:
    sqs = Caller(mesh, "sqs")
    async with mesh:
        await sqs.CreateQueue(QueueName="dlq")
        policy = orjson.dumps(
            {
                "deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:dlq",
                "maxReceiveCount": "1",
            }
        ).decode()
        await sqs.CreateQueue(
            QueueName="q", Attributes={"RedrivePolicy": policy, "VisibilityTimeout": "1"}
        )
        await sqs.SendMessage(QueueUrl=URL + "q", MessageBody="poison")
        assert len((await sqs.ReceiveMessage(QueueUrl=URL + "q"))["Messages"]) == 1
        await clock.advance(2)
        assert await sqs.ReceiveMessage(QueueUrl=URL + "q") == {}
        moved = await sqs.ReceiveMessage(QueueUrl=URL + "dlq")
        assert moved["Messages"][0]["Body"] == "poison"


async def test_send_and_receive_with_aws_documented_md5s(mesh: Mesh) -> None:
    sqs = Caller(mesh, "sqs")
    async with mesh:
        await sqs.CreateQueue(QueueName="q")
        attributes = {
            "Count": {"DataType": "Number", "StringValue": "1"},
            "Foo": {"DataType": "String", "StringValue": "Bar"},
        }
        sent = await sqs.SendMessage(
            QueueUrl=URL + "q", MessageBody="This is a test", MessageAttributes=attributes
        )
        # AWS's ReceiveMessage example: body "This is a test", attributes Count=1, Foo=Bar.
        assert sent["MD5OfMessageBody"] == "ce114e4501d2f4e2dcea3e17b546f339"
        assert sent["MD5OfMessageAttributes"] == "324758f82d026ac6ec5b31a3b192d1e3"
        received = await sqs.ReceiveMessage(QueueUrl=URL + "q", MessageAttributeNames=["All"])
        (message,) = received["Messages"]
        assert message["MessageId"] == sent["MessageId"]
        assert message["Body"] == "This is a test"
        assert message["MD5OfBody"] == "ce114e4501d2f4e2dcea3e17b546f339"
        assert message["MD5OfMessageAttributes"] == "324758f82d026ac6ec5b31a3b192d1e3"
        assert message["MessageAttributes"] == attributes
        assert "Attributes" not in message  # none asked for


async def test_receive_selects_attributes_by_name_prefix_and_all(mesh: Mesh) -> None:
    sqs = Caller(mesh, "sqs")
    async with mesh:
        await sqs.CreateQueue(QueueName="q", Attributes={"VisibilityTimeout": "0"})
        await sqs.SendMessage(
            QueueUrl=URL + "q",
            MessageBody="b",
            MessageAttributes={
                "order.id": {"DataType": "String", "StringValue": "7"},
                "order.size": {"DataType": "Number", "StringValue": "3"},
                "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
                "other": {"DataType": "String.custom", "StringValue": "o"},
            },
        )

        async def names(**given: object) -> tuple[list[str], list[str]]:
            (message,) = (await sqs.ReceiveMessage(QueueUrl=URL + "q", **given))["Messages"]
            return sorted(message.get("MessageAttributes", {})), sorted(
                message.get("Attributes", {})
            )

        assert (await names(MessageAttributeNames=["order.*"]))[0] == ["order.id", "order.size"]
        assert (await names(MessageAttributeNames=[".*"]))[0] == [
            "blob", "order.id", "order.size", "other"
        ]  # fmt: skip
        assert (await names(MessageAttributeNames=["blob", "nope"]))[0] == ["blob"]
        assert (await names(AttributeNames=["SentTimestamp"]))[1] == ["SentTimestamp"]
        assert (await names(MessageSystemAttributeNames=["All"]))[1] == [
            "ApproximateFirstReceiveTimestamp", "ApproximateReceiveCount", "SenderId",
            "SentTimestamp",
        ]  # fmt: skip
        (message,) = (await sqs.ReceiveMessage(QueueUrl=URL + "q", MessageAttributeNames=["blob"]))[
            "Messages"
        ]
        assert message["MessageAttributes"]["blob"] == {
            "DataType": "Binary",
            "BinaryValue": b"\x00\xff",
        }


async def test_long_polling_waits_for_a_message(mesh: Mesh, clock: VirtualClock) -> None:
    sqs = Caller(mesh, "sqs")
    async with mesh:
        await sqs.CreateQueue(QueueName="q", Attributes={"ReceiveMessageWaitTimeSeconds": "20"})
        waiting = asyncio.create_task(sqs.ReceiveMessage(QueueUrl=URL + "q"))  # the queue's wait
        await clock.advance(19.9)
        assert not waiting.done()
        await clock.advance(0.1)
        assert await waiting == {}
        waiting = asyncio.create_task(sqs.ReceiveMessage(QueueUrl=URL + "q", WaitTimeSeconds=5))
        await clock.advance(3)
        await sqs.SendMessage(QueueUrl=URL + "q", MessageBody="arrived")
        await clock.advance(0)
        (message,) = (await asyncio.wait_for(waiting, 5))["Messages"]
        assert message["Body"] == "arrived"
        assert await sqs.ReceiveMessage(QueueUrl=URL + "q", WaitTimeSeconds=0) == {}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"MaxNumberOfMessages": 11}, "Value 11 for parameter MaxNumberOfMessages is invalid."),
        ({"MaxNumberOfMessages": 0}, "Value 0 for parameter MaxNumberOfMessages is invalid."),
        ({"WaitTimeSeconds": 21}, "Value 21 for parameter WaitTimeSeconds is invalid."),
        ({"VisibilityTimeout": 43201}, "Value 43201 for parameter VisibilityTimeout is invalid."),
    ],
)
async def test_receive_refuses_values_out_of_range(
    mesh: Mesh, given: dict[str, int], message: str
) -> None:
    sqs = Caller(mesh, "sqs")
    async with mesh:
        await sqs.CreateQueue(QueueName="q")
        with pytest.raises(AwsError) as caught:
            await sqs.ReceiveMessage(QueueUrl=URL + "q", **given)
        assert codes(caught.value) == ("InvalidParameterValue", "InvalidParameterValue")
        assert caught.value.message.startswith(message)


async def test_visibility_delete_and_receipts(mesh: Mesh, clock: VirtualClock) -> None:
    sqs = Caller(mesh, "sqs")
    async with mesh:
        await sqs.CreateQueue(QueueName="q", Attributes={"VisibilityTimeout": "30"})
        await sqs.SendMessage(QueueUrl=URL + "q", MessageBody="m")
        (first,) = (await sqs.ReceiveMessage(QueueUrl=URL + "q", VisibilityTimeout=10))["Messages"]
        await clock.advance(9)
        await sqs.ChangeMessageVisibility(
            QueueUrl=URL + "q", ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=100
        )
        await clock.advance(90)
        assert await sqs.ReceiveMessage(QueueUrl=URL + "q") == {}
        await clock.advance(10)
        (again,) = (await sqs.ReceiveMessage(QueueUrl=URL + "q", AttributeNames=["All"]))[
            "Messages"
        ]
        assert again["Attributes"]["ApproximateReceiveCount"] == "2"
        # The first receipt is stale: deleting with it succeeds and deletes nothing, as SQS does.
        assert (
            await sqs.DeleteMessage(QueueUrl=URL + "q", ReceiptHandle=first["ReceiptHandle"]) == {}
        )
        with pytest.raises(AwsError) as caught:
            await sqs.ChangeMessageVisibility(
                QueueUrl=URL + "q", ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=5
            )
        assert caught.value.code == "InvalidParameterValue"
        assert "Message does not exist or is not available" in caught.value.message
        with pytest.raises(AwsError) as caught:
            await sqs.DeleteMessage(QueueUrl=URL + "q", ReceiptHandle="garbage")
        assert codes(caught.value) == ("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid")
        assert caught.value.status == 404
        await sqs.DeleteMessage(QueueUrl=URL + "q", ReceiptHandle=again["ReceiptHandle"])
        await clock.advance(60)
        assert await sqs.ReceiveMessage(QueueUrl=URL + "q") == {}


async def test_batches(mesh: Mesh, clock: VirtualClock) -> None:
    sqs = Caller(mesh, "sqs")
    async with mesh:
        await sqs.CreateQueue(QueueName="q")
        sent = await sqs.SendMessageBatch(
            QueueUrl=URL + "q",
            Entries=[
                {"Id": "a", "MessageBody": "This is a test"},
                {"Id": "b", "MessageBody": "two", "DelaySeconds": 1000},
                {"Id": "c", "MessageBody": ""},
            ],
        )
        assert [entry["Id"] for entry in sent["Successful"]] == ["a"]
        assert sent["Successful"][0]["MD5OfMessageBody"] == "ce114e4501d2f4e2dcea3e17b546f339"
        assert [(f["Id"], f["Code"], f["SenderFault"]) for f in sent["Failed"]] == [
            ("b", "InvalidParameterValue", True),
            ("c", "MissingParameter", True),
        ]
        await sqs.SendMessage(QueueUrl=URL + "q", MessageBody="second")
        messages = (await sqs.ReceiveMessage(QueueUrl=URL + "q", MaxNumberOfMessages=10))[
            "Messages"
        ]
        assert len(messages) == 2
        changed = await sqs.ChangeMessageVisibilityBatch(
            QueueUrl=URL + "q",
            Entries=[
                {"Id": "x", "ReceiptHandle": messages[0]["ReceiptHandle"], "VisibilityTimeout": 0},
                {"Id": "y", "ReceiptHandle": "bad", "VisibilityTimeout": 0},
            ],
        )
        assert changed["Successful"] == [{"Id": "x"}]
        assert changed["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
        again = (await sqs.ReceiveMessage(QueueUrl=URL + "q"))["Messages"]
        deleted = await sqs.DeleteMessageBatch(
            QueueUrl=URL + "q",
            Entries=[
                {"Id": "1", "ReceiptHandle": again[0]["ReceiptHandle"]},
                {"Id": "2", "ReceiptHandle": messages[1]["ReceiptHandle"]},
            ],
        )
        assert deleted == {"Successful": [{"Id": "1"}, {"Id": "2"}], "Failed": []}
        stats = await mesh.queue("q").stats()
        assert stats.total == 0


@pytest.mark.parametrize("operation", ["SendMessageBatch", "DeleteMessageBatch",
                                       "ChangeMessageVisibilityBatch"])  # fmt: skip
async def test_batch_requests_refused_whole(mesh: Mesh, operation: str) -> None:
    sqs = Caller(mesh, "sqs")
    entry = {"MessageBody": "m", "ReceiptHandle": "a:1", "VisibilityTimeout": 1}
    cases = [
        ([], "EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest"),
        ([{**entry, "Id": str(i)} for i in range(11)], "TooManyEntriesInBatchRequest",
         "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"),
        ([{**entry, "Id": "same"}, {**entry, "Id": "same"}], "BatchEntryIdsNotDistinct",
         "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"),
        ([{**entry, "Id": "not ok"}], "InvalidBatchEntryId",
         "AWS.SimpleQueueService.InvalidBatchEntryId"),
    ]  # fmt: skip
    async with mesh:
        await sqs.CreateQueue(QueueName="q")
        for entries, code, query_code in cases:
            with pytest.raises(AwsError) as caught:
                await getattr(sqs, operation)(QueueUrl=URL + "q", Entries=entries)
            assert codes(caught.value) == (code, query_code)
        assert (await mesh.queue("q").stats()).total == 0
    assert caught.value.message == (
        "A batch entry id can only contain alphanumeric characters, hyphens and underscores. "
        "It can be at most 80 letters long."
    )


async def test_message_size_limit_is_the_queues(mesh: Mesh) -> None:
    sqs = Caller(mesh, "sqs")
    async with mesh:
        await sqs.CreateQueue(QueueName="q", Attributes={"MaximumMessageSize": "1024"})
        await sqs.SendMessage(QueueUrl=URL + "q", MessageBody="x" * 1024)
        with pytest.raises(AwsError) as caught:
            await sqs.SendMessage(QueueUrl=URL + "q", MessageBody="x" * 1025)
        assert caught.value.code == "InvalidParameterValue"
        assert "Message must be shorter than 1024 bytes" in caught.value.message
        with pytest.raises(AwsError) as caught:
            await sqs.SendMessage(QueueUrl=URL + "q", MessageBody="bad \x00 char")
        assert codes(caught.value) == ("InvalidMessageContents", "InvalidMessageContents")
        with pytest.raises(AwsError) as caught:
            await sqs.SendMessage(
                QueueUrl=URL + "q",
                MessageBody="m",
                MessageAttributes={"n": {"DataType": "Number", "StringValue": "abc"}},
            )
        assert caught.value.code == "InvalidParameterValue"


async def test_fifo_queue(mesh: Mesh) -> None:
    sqs = Caller(mesh, "sqs")
    async with mesh:
        url = (
            await sqs.CreateQueue(
                QueueName="jobs.fifo",
                Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
            )
        )["QueueUrl"]
        attributes = (await sqs.GetQueueAttributes(QueueUrl=url, AttributeNames=["All"]))[
            "Attributes"
        ]
        assert attributes["FifoQueue"] == "true"
        assert attributes["ContentBasedDeduplication"] == "true"
        assert attributes["DeduplicationScope"] == "queue"
        assert attributes["FifoThroughputLimit"] == "perQueue"
        first = await sqs.SendMessage(QueueUrl=url, MessageBody="one", MessageGroupId="g")
        duplicate = await sqs.SendMessage(QueueUrl=url, MessageBody="one", MessageGroupId="g")
        assert duplicate["MessageId"] == first["MessageId"]
        await sqs.SendMessage(
            QueueUrl=url, MessageBody="two", MessageGroupId="g", MessageDeduplicationId="d2"
        )
        (message,) = (
            await sqs.ReceiveMessage(
                QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
            )
        )["Messages"][:1]
        assert message["Body"] == "one"
        assert message["Attributes"]["MessageGroupId"] == "g"
        assert len(message["Attributes"]["SequenceNumber"]) == 20
        with pytest.raises(AwsError) as caught:
            await sqs.SendMessage(QueueUrl=url, MessageBody="x")
        assert caught.value.code == "MissingParameter"
        assert caught.value.message == "The request must contain the parameter MessageGroupId."
        with pytest.raises(AwsError) as caught:
            await sqs.SendMessage(QueueUrl=url, MessageBody="x", MessageGroupId="g", DelaySeconds=5)
        assert caught.value.code == "InvalidParameterValue"
        plain = (await sqs.CreateQueue(QueueName="plain.fifo", Attributes={"FifoQueue": "true"}))[
            "QueueUrl"
        ]
        with pytest.raises(AwsError) as caught:
            await sqs.SendMessage(QueueUrl=plain, MessageBody="x", MessageGroupId="g")
        assert caught.value.message == (
            "The queue should either have ContentBasedDeduplication enabled or "
            "MessageDeduplicationId provided explicitly"
        )


async def test_purge_empties_the_queue_once_a_minute(mesh: Mesh, clock: VirtualClock) -> None:
    sqs = Caller(mesh, "sqs")
    async with mesh:
        await sqs.CreateQueue(QueueName="q")
        for body in ("a", "b", "c"):
            await sqs.SendMessage(QueueUrl=URL + "q", MessageBody=body)
        await sqs.ReceiveMessage(QueueUrl=URL + "q")
        assert await sqs.PurgeQueue(QueueUrl=URL + "q") == {}
        assert (await mesh.queue("q").stats()).total == 0
        with pytest.raises(AwsError) as caught:
            await sqs.PurgeQueue(QueueUrl=URL + "q")
        assert codes(caught.value) == (
            "PurgeQueueInProgress",
            "AWS.SimpleQueueService.PurgeQueueInProgress",
        )
        assert caught.value.status == 403
        await clock.advance(60)
        assert await sqs.PurgeQueue(QueueUrl=URL + "q") == {}


async def test_queues_declared_in_code_are_reachable(mesh: Mesh) -> None:
    mesh.queue("declared", visibility_timeout=12)
    sqs = Caller(mesh, "sqs")
    async with mesh:
        url = (await sqs.GetQueueUrl(QueueName="declared"))["QueueUrl"]
        attributes = (await sqs.GetQueueAttributes(QueueUrl=url, AttributeNames=["All"]))[
            "Attributes"
        ]
        assert attributes["VisibilityTimeout"] == "12"
        assert await sqs.ListQueues() == {"QueueUrls": [URL + "declared"]}
        assert await catalog.recorded(mesh, "sqs.queue") == {}  # the code declares it


def _sqlite_mesh(path: Path, clock: VirtualClock) -> Mesh:
    return Mesh(storage=f"sqlite:///{path}", clock=clock, telemetry=Telemetry(enabled=False))


async def test_two_meshes_on_one_file_share_queues_and_keep_them_across_restarts(
    tmp_path: Path, clock: VirtualClock
) -> None:
    path = tmp_path / "mesh.db"
    async with _sqlite_mesh(path, clock) as one, _sqlite_mesh(path, clock) as two:
        a, b = Caller(one, "sqs"), Caller(two, "sqs")
        await a.CreateQueue(QueueName="dlq")
        policy = (
            '{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:dlq","maxReceiveCount":4}'
        )
        url = (
            await a.CreateQueue(
                QueueName="shared", Attributes={"VisibilityTimeout": "7", "RedrivePolicy": policy}
            )
        )["QueueUrl"]
        assert await b.GetQueueUrl(QueueName="shared") == {"QueueUrl": url}
        await b.SendMessage(QueueUrl=url, MessageBody="from two")
        (message,) = (await a.ReceiveMessage(QueueUrl=url))["Messages"]
        assert message["Body"] == "from two"
        assert two.queue("shared").visibility_timeout == 7
        assert two.queue("shared").max_receive_count == 4
        await a.SendMessage(QueueUrl=url, MessageBody="kept")
        await a.CreateQueue(QueueName="gone")
        await b.GetQueueUrl(QueueName="gone")
        await a.DeleteQueue(QueueUrl=URL + "gone")
        await clock.advance(RECHECK_SECONDS)
        with pytest.raises(AwsError):  # deleted through the other mesh
            await b.GetQueueUrl(QueueName="gone")
    async with _sqlite_mesh(path, clock) as again:
        restored = await catalog.restore(again)
        assert ("sqs.queue", "shared") in restored
        assert ("sqs.queue", "gone") not in restored
        c = Caller(again, "sqs")
        attributes = (await c.GetQueueAttributes(QueueUrl=url, AttributeNames=["All"]))[
            "Attributes"
        ]
        assert attributes["VisibilityTimeout"] == "7"
        assert orjson.loads(attributes["RedrivePolicy"])["maxReceiveCount"] == 4
        await clock.advance(10)
        bodies = {
            m["Body"]
            for m in (await c.ReceiveMessage(QueueUrl=url, MaxNumberOfMessages=10))["Messages"]
        }
        assert bodies == {"from two", "kept"}


async def test_a_record_this_mesh_cannot_rebuild_is_no_queue_and_no_crash(mesh: Mesh) -> None:
    sqs = Caller(mesh, "sqs")
    async with mesh:
        await catalog.record(mesh, "sqs.queue", "broken", {"attributes": {"DelaySeconds": "x"}})
        with pytest.raises(AwsError) as caught:
            await sqs.GetQueueUrl(QueueName="broken")
        assert codes(caught.value) == ("QueueDoesNotExist", NON_EXISTENT)
        assert await catalog.restore(mesh) == []  # logged and skipped
