"""SNS through boto3 against the endpoint on a free loopback port: topics, subscriptions of
queues, functions and a real HTTP endpoint (SNS's SubscriptionConfirmation, then
ConfirmSubscription with its token), filter policies, raw delivery, Publish and
PublishBatch, SNS's error codes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from botocore.exceptions import ClientError
from conftest import AwsEndpoint
from http_endpoint import Endpoint, eventually

from eventmesh import Context, Mesh, Telemetry

ACCOUNT = "123456789012"
QUEUE_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:"
Client = Callable[..., Any]
EVENTS: list[dict[str, Any]] = []


def error_of(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def aws_mesh() -> Mesh:
    EVENTS.clear()
    mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)

    @mesh.function(name="worker")
    async def worker(event: dict[str, Any], context: Context) -> None:
        EVENTS.append(event)

    return mesh


async def received(sqs: Any, url: str, count: int = 1) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for _ in range(500):  # up to ~10 s on a loaded machine
        answer = await sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )
        messages += answer.get("Messages", [])
        if len(messages) >= count:
            break
        await asyncio.sleep(0.02)
    return messages


async def test_topics(aws_client: Client) -> None:
    sns = aws_client("sns")
    arn = (await sns.create_topic(Name="alerts"))["TopicArn"]
    assert arn == f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts"
    assert (await sns.create_topic(Name="alerts"))["TopicArn"] == arn
    await sns.create_topic(Name="billing", Attributes={"DisplayName": "Billing"})
    topics = [t["TopicArn"] for t in (await sns.list_topics())["Topics"]]
    assert topics == [arn, f"arn:aws:sns:us-east-1:{ACCOUNT}:billing"]
    with pytest.raises(ClientError) as caught:
        await sns.create_topic(Name="billing", Attributes={"DisplayName": "Other"})
    assert error_of(caught) == ("InvalidParameter", 400)
    assert isinstance(caught.value, sns.sync.exceptions.InvalidParameterException)
    await sns.delete_topic(TopicArn=arn)
    with pytest.raises(ClientError) as caught:
        await sns.publish(TopicArn=arn, Message="m")
    assert error_of(caught) == ("NotFound", 404)
    assert isinstance(caught.value, sns.sync.exceptions.NotFoundException)
    with pytest.raises(ClientError) as caught:
        await sns.create_topic(Name="ordered.fifo", Attributes={"FifoTopic": "true"})
    assert error_of(caught) == ("InvalidParameter", 400)


async def test_queue_and_function_subscribers(
    aws_endpoint: AwsEndpoint, aws_client: Client
) -> None:
    sns, sqs = aws_client("sns"), aws_client("sqs")
    topic = (await sns.create_topic(Name="orders"))["TopicArn"]
    everything = (await sqs.create_queue(QueueName="everything"))["QueueUrl"]
    big = (await sqs.create_queue(QueueName="big"))["QueueUrl"]
    first = await sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=QUEUE_ARN + "everything")
    await sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=QUEUE_ARN + "big",
        Attributes={
            "FilterPolicy": orjson.dumps({"size": [{"numeric": [">=", 10]}]}).decode(),
            "RawMessageDelivery": "true",
        },
    )
    await sns.subscribe(
        TopicArn=topic,
        Protocol="lambda",
        Endpoint=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:worker",
        ReturnSubscriptionArn=True,
    )
    small_id = (
        await sns.publish(
            TopicArn=topic,
            Message="small",
            Subject="Order",
            MessageAttributes={"size": {"DataType": "Number", "StringValue": "1"}},
        )
    )["MessageId"]
    await sns.publish(
        TopicArn=topic,
        Message="large",
        MessageAttributes={"size": {"DataType": "Number", "StringValue": "12"}},
    )
    envelopes = [orjson.loads(m["Body"]) for m in await received(sqs, everything, 2)]
    assert [e["Message"] for e in envelopes] == ["small", "large"]
    assert envelopes[0]["MessageId"] == small_id
    assert envelopes[0]["Subject"] == "Order"
    assert envelopes[0]["TopicArn"] == topic
    (raw,) = await received(sqs, big)
    assert raw["Body"] == "large"
    assert raw["MessageAttributes"] == {"size": {"DataType": "Number", "StringValue": "12"}}
    await eventually(lambda: len(EVENTS) == 2, timeout=30)
    assert [e["Records"][0]["Sns"]["Message"] for e in EVENTS] == ["small", "large"]
    listed = (await sns.list_subscriptions_by_topic(TopicArn=topic))["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in listed] == [
        ("sqs", QUEUE_ARN + "everything"),
        ("sqs", QUEUE_ARN + "big"),
        ("lambda", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:worker"),
    ]
    assert listed[0]["SubscriptionArn"] == first["SubscriptionArn"]
    assert listed[0]["Owner"] == ACCOUNT
    assert (await sns.list_subscriptions())["Subscriptions"] == listed
    big_arn = listed[1]["SubscriptionArn"]
    attributes = (await sns.get_subscription_attributes(SubscriptionArn=big_arn))["Attributes"]
    assert attributes["RawMessageDelivery"] == "true"
    assert attributes["PendingConfirmation"] == "false"
    assert attributes["Endpoint"] == QUEUE_ARN + "big"
    assert orjson.loads(attributes["FilterPolicy"]) == {"size": [{"numeric": [">=", 10]}]}
    assert attributes["FilterPolicyScope"] == "MessageAttributes"
    topic_attributes = (await sns.get_topic_attributes(TopicArn=topic))["Attributes"]
    assert topic_attributes["TopicArn"] == topic
    assert topic_attributes["SubscriptionsConfirmed"] == "3"
    assert topic_attributes["SubscriptionsPending"] == "0"
    with pytest.raises(ClientError) as caught:
        await sns.get_subscription_attributes(SubscriptionArn=topic + ":nope")
    assert error_of(caught) == ("NotFound", 404)
    await sns.unsubscribe(SubscriptionArn=first["SubscriptionArn"])
    assert len((await sns.list_subscriptions_by_topic(TopicArn=topic))["Subscriptions"]) == 2
    batch = await sns.publish_batch(
        TopicArn=topic,
        PublishBatchRequestEntries=[
            {"Id": "a", "Message": "batched",
             "MessageAttributes": {"size": {"DataType": "Number", "StringValue": "50"}}},
            {"Id": "b", "Message": "json", "MessageStructure": "json"},
        ],
    )  # fmt: skip
    assert [s["Id"] for s in batch["Successful"]] == ["a"]
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in batch["Failed"]] == [
        ("b", "InvalidParameter", True)
    ]
    (raw,) = await received(sqs, big)
    assert raw["Body"] == "batched"
    assert await received(sqs, everything, 0) == []  # unsubscribed
    with pytest.raises(ClientError) as caught:
        await sns.publish_batch(
            TopicArn=topic,
            PublishBatchRequestEntries=[{"Id": "x", "Message": "m"}, {"Id": "x", "Message": "m"}],
        )
    assert error_of(caught) == ("BatchEntryIdsNotDistinct", 400)
    assert isinstance(caught.value, sns.sync.exceptions.BatchEntryIdsNotDistinctException)
    with pytest.raises(ClientError) as caught:
        await sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint="not-an-arn")
    assert error_of(caught) == ("InvalidParameter", 400)
    with pytest.raises(ClientError) as caught:
        await sns.publish(
            TopicArn=topic,
            Message="m",
            MessageAttributes={"n": {"DataType": "Number", "StringValue": "x"}},
        )
    assert error_of(caught) == ("ParameterValueInvalid", 400)


async def test_http_subscription_confirmed_with_its_token(
    aws_endpoint: AwsEndpoint, aws_client: Client
) -> None:
    # No HTTP front in this test: the SubscribeURL would name one; the token is what counts.
    aws_endpoint.mesh.context.endpoints.base_url = "http://127.0.0.1:9"
    sns = aws_client("sns")
    topic = (await sns.create_topic(Name="hooks"))["TopicArn"]
    async with Endpoint() as endpoint:
        answer = await sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url)
        assert answer["SubscriptionArn"] == "pending confirmation"
        await eventually(lambda: len(endpoint.requests) == 1, timeout=30)
        confirmation = orjson.loads(endpoint.requests[0].body)
        assert confirmation["Type"] == "SubscriptionConfirmation"
        assert endpoint.requests[0].headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
        (listed,) = (await sns.list_subscriptions_by_topic(TopicArn=topic))["Subscriptions"]
        assert listed["SubscriptionArn"] == "PendingConfirmation"
        await sns.publish(TopicArn=topic, Message="not delivered while pending")
        with pytest.raises(ClientError) as caught:
            await sns.confirm_subscription(TopicArn=topic, Token="wrong")
        assert error_of(caught) == ("InvalidParameter", 400)
        confirmed = await sns.confirm_subscription(TopicArn=topic, Token=confirmation["Token"])
        (listed,) = (await sns.list_subscriptions_by_topic(TopicArn=topic))["Subscriptions"]
        assert listed["SubscriptionArn"] == confirmed["SubscriptionArn"]
        await sns.publish(TopicArn=topic, Message="delivered", Subject="Hi")
        await eventually(lambda: len(endpoint.requests) == 2, timeout=30)
        notification = orjson.loads(endpoint.requests[1].body)
        assert notification["Type"] == "Notification"
        assert notification["Message"] == "delivered"
        assert notification["Subject"] == "Hi"
        await sns.unsubscribe(SubscriptionArn=confirmed["SubscriptionArn"])
        assert (await sns.list_subscriptions_by_topic(TopicArn=topic))["Subscriptions"] == []
