"""Queues, topics, subscriptions and streams built from a template, seen through boto3 against
the AWS endpoint as a handler sees them: the queue URL ``Ref`` gives (SQS's own host) names
the queue, and the attributes the template set are the ones SQS and SNS answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import AwsEndpoint

from eventmesh import Mesh, Telemetry
from eventmesh.sam import build_application

ACCOUNT = "123456789012"
Client = Callable[..., Any]

TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Dlq": {"Type": "AWS::SQS::Queue"},
        "Orders": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "VisibilityTimeout": 60,
                "MaximumMessageSize": 2048,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]},
                    "maxReceiveCount": 3,
                },
            },
        },
        "Alerts": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "Ops alerts"}},
        "AlertsToOrders": {
            "Type": "AWS::SNS::Subscription",
            "Properties": {
                "TopicArn": {"Ref": "Alerts"},
                "Protocol": "sqs",
                "Endpoint": {"Fn::GetAtt": ["Orders", "Arn"]},
                "RawMessageDelivery": True,
            },
        },
        "Clicks": {
            "Type": "AWS::Kinesis::Stream",
            "Properties": {"ShardCount": 2, "RetentionPeriodHours": 48},
        },
        "Views": {
            "Type": "AWS::Kinesis::Stream",
            "Properties": {"StreamModeDetails": {"StreamMode": "ON_DEMAND"}},
        },
    },
    "Outputs": {"OrdersUrl": {"Value": {"Ref": "Orders"}}},
}


@pytest.fixture
def aws_mesh() -> Mesh:
    mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    build_application(TEMPLATE, mesh=mesh)
    return mesh


async def test_the_queue_url_ref_gives_names_the_queue_through_the_endpoint(
    aws_endpoint: AwsEndpoint, aws_client: Client
) -> None:
    url = build_application(TEMPLATE, mesh=Mesh()).outputs["OrdersUrl"]
    assert url == f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/Orders"
    sqs = aws_client("sqs")
    await sqs.send_message(QueueUrl=url, MessageBody="order 1")
    received = await sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert [message["Body"] for message in received["Messages"]] == ["order 1"]


async def test_the_template_attributes_are_the_queues_attributes(
    aws_endpoint: AwsEndpoint, aws_client: Client
) -> None:
    sqs = aws_client("sqs")
    url = (await sqs.get_queue_url(QueueName="Orders"))["QueueUrl"]
    attributes = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]))[
        "Attributes"
    ]
    assert attributes["VisibilityTimeout"] == "60"
    assert attributes["MaximumMessageSize"] == "2048"
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:Dlq",
        "maxReceiveCount": 3,
    }
    with pytest.raises(ClientError) as caught:
        await sqs.send_message(QueueUrl=url, MessageBody="x" * 3000)
    assert caught.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "Message must be shorter than 2048 bytes" in caught.value.response["Error"]["Message"]


async def test_the_topic_and_its_subscription_through_sns(
    aws_endpoint: AwsEndpoint, aws_client: Client
) -> None:
    sns, sqs = aws_client("sns"), aws_client("sqs")
    topic_arn = f"arn:aws:sns:us-east-1:{ACCOUNT}:Alerts"
    attributes = (await sns.get_topic_attributes(TopicArn=topic_arn))["Attributes"]
    assert attributes["DisplayName"] == "Ops alerts"
    (listed,) = (await sns.list_subscriptions_by_topic(TopicArn=topic_arn))["Subscriptions"]
    assert (listed["Protocol"], listed["Endpoint"]) == (
        "sqs",
        f"arn:aws:sqs:us-east-1:{ACCOUNT}:Orders",
    )
    await sns.publish(TopicArn=topic_arn, Message="disk full")
    url = (await sqs.get_queue_url(QueueName="Orders"))["QueueUrl"]
    received = await sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert [message["Body"] for message in received["Messages"]] == ["disk full"]


async def test_the_stream_through_kinesis(aws_endpoint: AwsEndpoint, aws_client: Client) -> None:
    summary = (await aws_client("kinesis").describe_stream_summary(StreamName="Clicks"))[
        "StreamDescriptionSummary"
    ]
    assert summary["OpenShardCount"] == 2
    assert summary["RetentionPeriodHours"] == 48
    assert summary["StreamARN"] == f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/Clicks"
    assert summary["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    views = (await aws_client("kinesis").describe_stream_summary(StreamName="Views"))[
        "StreamDescriptionSummary"
    ]
    assert views["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert views["OpenShardCount"] == 4
