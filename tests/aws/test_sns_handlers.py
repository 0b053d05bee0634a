"""SNS's operations as handlers, on the virtual clock: topics, subscriptions of queues and
functions (filter policies, raw delivery), HTTP(S) subscriptions pending confirmation,
Publish and PublishBatch, SNS's error codes; topics and subscriptions shared through the
catalog by two meshes on one file."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import orjson
import pytest
from aws_handlers import ENDPOINT, Caller

from eventmesh import Context, Mesh
from eventmesh.aws import catalog
from eventmesh.aws.operations import AwsError
from eventmesh.telemetry import Telemetry
from eventmesh.testing import VirtualClock

ARN = "arn:aws:sns:us-east-1:123456789012:"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:"
QUEUE_URL = f"{ENDPOINT}/123456789012/"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


async def received(sqs: Caller, queue: str) -> list[dict[str, Any]]:
    answer = await sqs.ReceiveMessage(
        QueueUrl=QUEUE_URL + queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )
    return list(answer.get("Messages", []))


async def test_topics_create_list_delete(mesh: Mesh) -> None:
    sns = Caller(mesh, "sns")
    async with mesh:
        created = await sns.CreateTopic(Name="alerts", Attributes={"DisplayName": "Alerts"})
        assert created == {"TopicArn": ARN + "alerts"}
        assert await sns.CreateTopic(Name="alerts") == created  # idempotent
        assert await sns.CreateTopic(Name="alerts", Attributes={"DisplayName": "Alerts"}) == created
        with pytest.raises(AwsError) as caught:
            await sns.CreateTopic(Name="alerts", Attributes={"DisplayName": "Other"})
        assert caught.value.code == "InvalidParameter"
        assert "Topic already exists with different attributes" in caught.value.message
        await sns.CreateTopic(Name="billing")
        assert await sns.ListTopics() == {
            "Topics": [{"TopicArn": ARN + "alerts"}, {"TopicArn": ARN + "billing"}]
        }
        assert await sns.DeleteTopic(TopicArn=ARN + "alerts") == {}
        assert await sns.DeleteTopic(TopicArn=ARN + "alerts") == {}  # SNS: no error
        assert await sns.ListTopics() == {"Topics": [{"TopicArn": ARN + "billing"}]}
        with pytest.raises(AwsError) as caught:
            await sns.Publish(TopicArn=ARN + "alerts", Message="m")
        assert (caught.value.code, caught.value.status) == ("NotFound", 404)
        assert caught.value.message == "Topic does not exist"


@pytest.mark.parametrize(
    ("name", "attributes"),
    [
        ("bad name", {}),
        ("t.fifo", {"FifoTopic": "true"}),
        ("t", {"FifoTopic": "true"}),
        ("t", {"Colour": "blue"}),
        ("t", {"SignatureVersion": "3"}),
    ],
)
async def test_create_topic_refusals(mesh: Mesh, name: str, attributes: dict[str, str]) -> None:
    sns = Caller(mesh, "sns")
    async with mesh:
        with pytest.raises(AwsError) as caught:
            await sns.CreateTopic(Name=name, Attributes=attributes)
        assert caught.value.code == "InvalidParameter"
        assert caught.value.message.startswith("Invalid parameter:")


async def test_queue_subscriptions_with_filter_and_raw_delivery(mesh: Mesh) -> None:
    sns, sqs = Caller(mesh, "sns"), Caller(mesh, "sqs")
    async with mesh:
        topic = (await sns.CreateTopic(Name="orders"))["TopicArn"]
        await sqs.CreateQueue(QueueName="all")
        await sqs.CreateQueue(QueueName="big")
        everything = await sns.Subscribe(TopicArn=topic, Protocol="sqs", Endpoint=QUEUE_ARN + "all")
        assert everything["SubscriptionArn"].startswith(topic + ":")
        await sns.Subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=QUEUE_ARN + "big",
            Attributes={
                "FilterPolicy": '{"size": [{"numeric": [">", 10]}]}',
                "RawMessageDelivery": "true",
            },
        )
        await sns.Publish(
            TopicArn=topic,
            Message="small order",
            Subject="hello",
            MessageAttributes={"size": {"DataType": "Number", "StringValue": "3"}},
        )
        published = await sns.Publish(
            TopicArn=topic,
            Message="big order",
            MessageAttributes={"size": {"DataType": "Number", "StringValue": "30"}},
        )
        envelopes = [orjson.loads(m["Body"]) for m in await received(sqs, "all")]
        assert [e["Message"] for e in envelopes] == ["small order", "big order"]
        assert envelopes[0]["Type"] == "Notification"
        assert envelopes[0]["Subject"] == "hello"
        assert envelopes[1]["MessageId"] == published["MessageId"]
        assert envelopes[1]["MessageAttributes"] == {"size": {"Type": "Number", "Value": "30"}}
        (raw,) = await received(sqs, "big")
        assert raw["Body"] == "big order"
        assert raw["MessageAttributes"] == {"size": {"DataType": "Number", "StringValue": "30"}}
        listed = await sns.ListSubscriptionsByTopic(TopicArn=topic)
        assert [(s["Protocol"], s["Endpoint"]) for s in listed["Subscriptions"]] == [
            ("sqs", QUEUE_ARN + "all"),
            ("sqs", QUEUE_ARN + "big"),
        ]
        assert listed["Subscriptions"][0] == {
            "SubscriptionArn": everything["SubscriptionArn"],
            "Owner": "123456789012",
            "Protocol": "sqs",
            "Endpoint": QUEUE_ARN + "all",
            "TopicArn": topic,
        }
        await sns.Unsubscribe(SubscriptionArn=everything["SubscriptionArn"])
        await sns.Publish(TopicArn=topic, Message="after")
        assert await received(sqs, "all") == []
        assert len((await sns.ListSubscriptionsByTopic(TopicArn=topic))["Subscriptions"]) == 1


async def test_function_subscription_gets_the_sns_event(mesh: Mesh, clock: VirtualClock) -> None:
    events: list[dict[str, Any]] = []

    @mesh.function(name="worker")
    async def handler(event: dict[str, Any], context: Context) -> None:
        events.append(event)

    sns = Caller(mesh, "sns")
    async with mesh:
        topic = (await sns.CreateTopic(Name="t"))["TopicArn"]
        subscribed = await sns.Subscribe(
            TopicArn=topic, Protocol="lambda", Endpoint=FUNCTION_ARN + "worker"
        )
        await sns.Publish(TargetArn=topic, Message="for the function")
        await clock.advance(0)
        await mesh.drain(5)
    (record,) = events[0]["Records"]
    assert record["EventSubscriptionArn"] == subscribed["SubscriptionArn"]
    assert record["Sns"]["Message"] == "for the function"
    assert record["Sns"]["TopicArn"] == topic


@pytest.mark.parametrize(
    ("protocol", "endpoint", "message"),
    [
        ("email", "a@example.com", "does not support this protocol"),
        ("sqs", "not-an-arn", "Invalid parameter: SQS endpoint ARN"),
        ("sqs", QUEUE_ARN + "missing", "no queue"),
        ("lambda", FUNCTION_ARN + "missing", "no function"),
        ("https", "http://example.com/", "Endpoint must match the specified protocol"),
    ],
)
async def test_subscribe_refusals(mesh: Mesh, protocol: str, endpoint: str, message: str) -> None:
    sns = Caller(mesh, "sns")
    async with mesh:
        topic = (await sns.CreateTopic(Name="t"))["TopicArn"]
        with pytest.raises(AwsError) as caught:
            await sns.Subscribe(TopicArn=topic, Protocol=protocol, Endpoint=endpoint)
        assert caught.value.code == "InvalidParameter"
        assert message in caught.value.message
        with pytest.raises(AwsError) as caught:
            await sns.Subscribe(TopicArn=ARN + "none", Protocol="sqs", Endpoint=QUEUE_ARN + "q")
        assert caught.value.code == "NotFound"


async def test_bad_filter_policy_and_attributes(mesh: Mesh) -> None:
    sns, sqs = Caller(mesh, "sns"), Caller(mesh, "sqs")
    async with mesh:
        topic = (await sns.CreateTopic(Name="t"))["TopicArn"]
        await sqs.CreateQueue(QueueName="q")
        for attributes in (
            {"FilterPolicy": "{not json"},
            {"RawMessageDelivery": "maybe"},
            {"FilterPolicyScope": "Body"},
            {"Unknown": "x"},
        ):
            with pytest.raises(AwsError) as caught:
                await sns.Subscribe(
                    TopicArn=topic, Protocol="sqs", Endpoint=QUEUE_ARN + "q", Attributes=attributes
                )
            assert caught.value.code == "InvalidParameter"


@pytest.mark.parametrize(
    ("protocol", "endpoint", "attributes", "message"),
    [
        ("lambda", FUNCTION_ARN + "f", {"RawMessageDelivery": "true"},
         "Invalid parameter: Attributes Reason: Delivery protocol [lambda] does not support "
         "raw message delivery."),
        ("https", "https://example.com/", {"DeliveryPolicy": '{"healthyRetryPolicy": 5}'},
         "Invalid parameter: Attributes Reason: DeliveryPolicy"),
        ("https", "https://example.com/", {"DeliveryPolicy": "[1]"},
         "Invalid parameter: Attributes Reason: DeliveryPolicy"),
        ("sqs", QUEUE_ARN + "jobs.fifo", {},
         "Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to "
         "standard SNS topics"),
    ],
    ids=["lambda-raw", "healthy-not-object", "policy-not-object", "fifo-queue"],
)  # fmt: skip
async def test_attributes_sns_refuses_for_the_protocol(
    mesh: Mesh, protocol: str, endpoint: str, attributes: dict[str, str], message: str
) -> None:
    @mesh.function(name="f")
    async def f(event: Any, context: Context) -> None:
        return None

    sns = Caller(mesh, "sns")
    mesh.queue("jobs.fifo", fifo=True)
    async with mesh:
        topic = (await sns.CreateTopic(Name="t"))["TopicArn"]
        with pytest.raises(AwsError) as caught:
            await sns.Subscribe(
                TopicArn=topic, Protocol=protocol, Endpoint=endpoint, Attributes=attributes
            )
        assert (caught.value.code, caught.value.message) == ("InvalidParameter", message)
        assert (await sns.ListSubscriptionsByTopic(TopicArn=topic))["Subscriptions"] == []


async def test_http_subscription_is_pending_until_confirmed(mesh: Mesh) -> None:
    sns = Caller(mesh, "sns")
    async with mesh:
        topic = (await sns.CreateTopic(Name="t"))["TopicArn"]
        answer = await sns.Subscribe(
            TopicArn=topic, Protocol="http", Endpoint="http://127.0.0.1:9/hook"
        )
        assert answer == {"SubscriptionArn": "pending confirmation"}
        again = await sns.Subscribe(
            TopicArn=topic,
            Protocol="http",
            Endpoint="http://127.0.0.1:9/hook",
            ReturnSubscriptionArn=True,
        )
        assert again["SubscriptionArn"].startswith(topic + ":")
        (listed,) = (await sns.ListSubscriptionsByTopic(TopicArn=topic))["Subscriptions"]
        assert listed["SubscriptionArn"] == "PendingConfirmation"
        assert listed["Endpoint"] == "http://127.0.0.1:9/hook"
        with pytest.raises(AwsError) as caught:
            await sns.ConfirmSubscription(TopicArn=topic, Token="wrong")
        assert (caught.value.code, caught.value.message) == (
            "InvalidParameter",
            "Invalid parameter: Token",
        )
        await sns.Unsubscribe(SubscriptionArn=again["SubscriptionArn"])
        assert await sns.ListSubscriptionsByTopic(TopicArn=topic) == {"Subscriptions": []}


async def test_publish_rules(mesh: Mesh) -> None:
    sns, sqs = Caller(mesh, "sns"), Caller(mesh, "sqs")
    async with mesh:
        topic = (await sns.CreateTopic(Name="t"))["TopicArn"]
        await sqs.CreateQueue(QueueName="q")
        await sns.Subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=QUEUE_ARN + "q",
            Attributes={"RawMessageDelivery": "true"},
        )
        structured = orjson.dumps({"default": "plain", "sqs": "for queues"}).decode()
        await sns.Publish(TopicArn=topic, Message=structured, MessageStructure="json")
        assert [m["Body"] for m in await received(sqs, "q")] == ["for queues"]
        cases: list[tuple[dict[str, Any], str]] = [
            ({"Message": ""}, "Invalid parameter: Empty message"),
            ({"Message": "{}", "MessageStructure": "json"},
             "Invalid parameter: Message Structure - No default entry in JSON message body"),
            ({"Message": "nope", "MessageStructure": "json"},
             "Invalid parameter: Message Structure - JSON message body failed to parse"),
            ({"Message": "m", "TargetArn": topic}, "Only one of TopicArn or TargetArn"),
            ({"Message": "m", "Subject": "x" * 100}, "Invalid parameter: Subject"),
            ({"Message": "m", "MessageGroupId": "g"}, "Invalid parameter: MessageGroupId"),
            ({"Message": "x" * (256 * 1024 + 1)}, "Invalid parameter: Message too long"),
        ]  # fmt: skip
        for given, message in cases:
            with pytest.raises(AwsError) as caught:
                await sns.Publish(TopicArn=topic, **given)
            assert caught.value.code == "InvalidParameter", given
            assert message in caught.value.message
        with pytest.raises(AwsError) as caught:
            await sns.Publish(
                TopicArn=topic,
                Message="m",
                MessageAttributes={"n": {"DataType": "Number", "StringValue": "abc"}},
            )
        assert caught.value.code == "ParameterValueInvalid"
        with pytest.raises(AwsError) as caught:
            await sns.Publish(Message="m")
        assert "no value for required parameter" in caught.value.message


async def test_publish_batch(mesh: Mesh) -> None:
    sns, sqs = Caller(mesh, "sns"), Caller(mesh, "sqs")
    async with mesh:
        topic = (await sns.CreateTopic(Name="t"))["TopicArn"]
        await sqs.CreateQueue(QueueName="q")
        await sns.Subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=QUEUE_ARN + "q",
            Attributes={"RawMessageDelivery": "true"},
        )
        answer = await sns.PublishBatch(
            TopicArn=topic,
            PublishBatchRequestEntries=[
                {"Id": "one", "Message": "first"},
                {"Id": "two", "Message": ""},
                {"Id": "three", "Message": "third", "Subject": "s"},
            ],
        )
        assert [s["Id"] for s in answer["Successful"]] == ["one", "three"]
        assert answer["Failed"] == [
            {"Id": "two", "Code": "InvalidParameter", "Message": "Invalid parameter: Empty message",
             "SenderFault": True}
        ]  # fmt: skip
        assert sorted(m["Body"] for m in await received(sqs, "q")) == ["first", "third"]
        cases = [
            ([], "EmptyBatchRequest"),
            ([{"Id": str(i), "Message": "m"} for i in range(11)], "TooManyEntriesInBatchRequest"),
            ([{"Id": "a", "Message": "m"}] * 2, "BatchEntryIdsNotDistinct"),
            ([{"Id": "a b", "Message": "m"}], "InvalidBatchEntryId"),
            ([{"Id": "a", "Message": "x" * 200_000}, {"Id": "b", "Message": "x" * 200_000}],
             "BatchRequestTooLong"),
        ]  # fmt: skip
        for entries, code in cases:
            with pytest.raises(AwsError) as caught:
                await sns.PublishBatch(TopicArn=topic, PublishBatchRequestEntries=entries)
            assert caught.value.code == code


async def delivered(sqs: Caller, queue: str, clock: VirtualClock, count: int) -> list[str]:
    """Bodies received from ``queue`` once ``count`` came (on durable storage a topic stores
    each delivery first and hands it over from its store in the background)."""
    bodies: list[str] = []
    for _ in range(500):
        bodies += [m["Body"] for m in await received(sqs, queue)]
        if len(bodies) >= count:
            break
        await clock.advance(0.01)
        await asyncio.sleep(0.001)
    return bodies


def _sqlite_mesh(path: Path, clock: VirtualClock) -> Mesh:
    return Mesh(storage=f"sqlite:///{path}", clock=clock, telemetry=Telemetry(enabled=False))


async def test_topics_and_subscriptions_are_shared_and_restored(
    tmp_path: Path, clock: VirtualClock
) -> None:
    path = tmp_path / "mesh.db"
    async with _sqlite_mesh(path, clock) as one, _sqlite_mesh(path, clock) as two:
        sns_one, sqs_one = Caller(one, "sns"), Caller(one, "sqs")
        sns_two, sqs_two = Caller(two, "sns"), Caller(two, "sqs")
        topic = (await sns_one.CreateTopic(Name="shared"))["TopicArn"]
        await sqs_one.CreateQueue(QueueName="inbox")
        await sqs_one.CreateQueue(QueueName="marker")
        marker = await sns_one.Subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=QUEUE_ARN + "marker",
            Attributes={"RawMessageDelivery": "true"},
        )
        await sns_two.Publish(TopicArn=topic, Message="before")  # two has the topic now
        subscribed = await sns_one.Subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=QUEUE_ARN + "inbox",
            Attributes={"RawMessageDelivery": "true"},
        )
        await sns_two.Publish(TopicArn=topic, Message="through two")
        assert await delivered(sqs_two, "inbox", clock, 1) == ["through two"]
        listed = await sns_two.ListSubscriptionsByTopic(TopicArn=topic)
        assert [s["SubscriptionArn"] for s in listed["Subscriptions"]] == [
            marker["SubscriptionArn"],
            subscribed["SubscriptionArn"],
        ]
        await sns_one.Unsubscribe(SubscriptionArn=subscribed["SubscriptionArn"])
        await sns_two.Publish(TopicArn=topic, Message="after unsubscribe")
        # The other subscription got it, this one not.
        assert await delivered(sqs_two, "marker", clock, 3) == [
            "before", "through two", "after unsubscribe"
        ]  # fmt: skip
        assert await received(sqs_two, "inbox") == []
        await sns_one.Subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=QUEUE_ARN + "inbox",
            Attributes={"RawMessageDelivery": "true"},
        )
        await sns_one.Unsubscribe(SubscriptionArn=marker["SubscriptionArn"])
    async with _sqlite_mesh(path, clock) as again:
        restored = await catalog.restore(again)
        kinds = [kind for kind, _ in restored]
        assert kinds == ["sqs.queue", "sqs.queue", "sns.topic", "sns.subscription"]
        sns, sqs = Caller(again, "sns"), Caller(again, "sqs")
        await sns.Publish(TopicArn=topic, Message="after restart")
        assert await delivered(sqs, "inbox", clock, 1) == ["after restart"]


async def test_a_subscription_record_this_mesh_cannot_rebuild_stops_no_publication(
    mesh: Mesh,
) -> None:
    sns, sqs = Caller(mesh, "sns"), Caller(mesh, "sqs")
    async with mesh:
        topic = (await sns.CreateTopic(Name="t"))["TopicArn"]
        await sqs.CreateQueue(QueueName="q")
        await sns.Subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=QUEUE_ARN + "q",
            Attributes={"RawMessageDelivery": "true"},
        )
        settings = {"topic": "t", "protocol": "sqs", "endpoint": QUEUE_ARN + "gone",
                    "attributes": {}}  # fmt: skip
        await catalog.record(mesh, "sns.subscription", topic + ":broken", settings)
        await sns.Publish(TopicArn=topic, Message="still delivered")
        assert [m["Body"] for m in await received(sqs, "q")] == ["still delivered"]


@pytest.mark.parametrize("start", ["-100", "9" * 5000, "x"])
async def test_a_forged_next_token_is_invalid_parameter(mesh: Mesh, start: str) -> None:
    sns = Caller(mesh, "sns")
    token = base64.urlsafe_b64encode(start.encode()).decode()
    async with mesh:
        await sns.CreateTopic(Name="alerts")
        for name in ("ListTopics", "ListSubscriptions"):
            with pytest.raises(AwsError) as caught:
                await getattr(sns, name)(NextToken=token)
            assert (caught.value.code, caught.value.message) == (
                "InvalidParameter",
                "Invalid parameter: NextToken",
            )
