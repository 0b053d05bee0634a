"""AWS::SNS::Topic and AWS::SNS::Subscription in a template: names, Ref and Fn::GetAtt,
inline and separate subscriptions of queues, functions and URLs with their attributes, what
the mesh refuses (FIFO topics, protocols SNS does not know) and what it warns about (a
subscription's dead-letter queue; subscriptions it leaves out: email, sms, firehose, an
endpoint or topic outside the template and the mesh)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from eventmesh import Context, Mesh
from eventmesh.declare.sns import topic_attributes_given
from eventmesh.resources.queue import Queue
from eventmesh.resources.topic import Topic
from eventmesh.sam import TemplateError, build_application
from eventmesh.testing import VirtualClock

ACCOUNT = "123456789012"


def template(resources: dict[str, Any], outputs: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"Resources": resources, "Outputs": outputs or {}}


def resource_of(mesh: Mesh, name: str, kind: type[Any]) -> Any:
    found = mesh.context.find_resource(name)
    assert isinstance(found, kind)
    return found


def subscription(**properties: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::SNS::Subscription",
        "Properties": {"TopicArn": {"Ref": "Alerts"}, **properties},
    }


ALERTS = {"Type": "AWS::SNS::Topic"}
AUDIT = {"Type": "AWS::SQS::Queue"}
AUDIT_ARN = {"Fn::GetAtt": ["Audit", "Arn"]}


def test_ref_is_the_topic_arn_and_getatt_gives_arn_and_name(mesh: Mesh) -> None:
    app = build_application(
        template(
            {
                "Alerts": ALERTS,
                "Named": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "ops",
                                                                    "DisplayName": "Ops"}},
            },
            {
                "Ref": {"Value": {"Ref": "Alerts"}},
                "Arn": {"Value": {"Fn::GetAtt": ["Named", "TopicArn"]}},
                "Name": {"Value": {"Fn::GetAtt": ["Named", "TopicName"]}},
            },
        ),
        mesh=mesh,
    )  # fmt: skip
    assert app.outputs == {
        "Ref": f"arn:aws:sns:us-east-1:{ACCOUNT}:Alerts",
        "Arn": f"arn:aws:sns:us-east-1:{ACCOUNT}:ops",
        "Name": "ops",
    }
    assert topic_attributes_given(resource_of(mesh, "ops", Topic)) == {"DisplayName": "Ops"}


@pytest.mark.parametrize(
    ("properties", "member"),
    [({"FifoTopic": True, "ContentBasedDeduplication": True}, "FifoTopic"),
     ({"FifoTopic": "True"}, "FifoTopic"),
     ({"TopicName": "alerts.fifo"}, "TopicName")],
)  # fmt: skip
def test_fifo_topics_are_refused(mesh: Mesh, properties: dict[str, Any], member: str) -> None:
    with pytest.raises(TemplateError) as caught:
        build_application(
            template({"Alerts": {"Type": "AWS::SNS::Topic", "Properties": properties}}), mesh=mesh
        )
    assert str(caught.value).startswith(
        f"Resources.Alerts.Properties.{member} (AWS::SNS::Topic): Invalid parameter: "
    )
    assert str(caught.value).endswith(
        "FIFO topics are not supported by this endpoint (eventmesh topics are standard topics)"
    )


def test_tags_and_kms_are_ignored_quietly(mesh: Mesh) -> None:
    app = build_application(
        template(
            {"Alerts": {"Type": "AWS::SNS::Topic", "Properties": {
                "Tags": [{"Key": "team", "Value": "ops"}], "KmsMasterKeyId": "alias/aws/sns"}}}
        ),
        mesh=mesh,
        strict=True,
    )  # fmt: skip
    assert app.warnings == []


def test_a_topics_delivery_policy_is_warned_about(mesh: Mesh) -> None:
    """A topic's DeliveryPolicy is the default retry policy of its HTTP(S) subscriptions on
    AWS; the mesh's subscriptions do not read it."""
    policy = {"http": {"defaultHealthyRetryPolicy": {"numRetries": 5}}}
    app = build_application(
        template({"Alerts": {"Type": "AWS::SNS::Topic", "Properties": {"DeliveryPolicy": policy}}}),
        mesh=mesh,
    )
    assert app.warnings == [
        "Resources.Alerts (AWS::SNS::Topic): DeliveryPolicy: a topic's default delivery policy "
        "is not applied locally: HTTP(S) subscriptions retry with SNS's default policy unless "
        "they have a DeliveryPolicy of their own"
    ]


async def test_an_inline_subscription_delivers_to_a_queue(mesh: Mesh, clock: VirtualClock) -> None:
    build_application(
        template(
            {
                "Audit": AUDIT,
                "Alerts": {"Type": "AWS::SNS::Topic", "Properties": {
                    "Subscription": [{"Protocol": "sqs", "Endpoint": AUDIT_ARN}]}},
            }
        ),
        mesh=mesh,
    )  # fmt: skip
    topic, audit = resource_of(mesh, "Alerts", Topic), resource_of(mesh, "Audit", Queue)
    async with mesh:
        message_id = await topic.publish("disk full", "ops")
        (message,) = await audit.receive()
    envelope = json.loads(message.body)
    assert envelope["Type"] == "Notification"
    assert envelope["MessageId"] == message_id
    assert envelope["Message"] == "disk full"
    assert envelope["TopicArn"] == f"arn:aws:sns:us-east-1:{ACCOUNT}:Alerts"


@pytest.mark.parametrize(
    "policy", [{"severity": ["critical"]}, '{"severity": ["critical"]}'], ids=["mapping", "text"]
)
async def test_a_filter_policy_on_attributes_and_raw_delivery(
    mesh: Mesh, clock: VirtualClock, policy: Any
) -> None:
    build_application(
        template(
            {
                "Audit": AUDIT,
                "Alerts": ALERTS,
                "Sub": subscription(Protocol="sqs", Endpoint=AUDIT_ARN, FilterPolicy=policy,
                                    RawMessageDelivery=True),
            }
        ),
        mesh=mesh,
    )  # fmt: skip
    topic, audit = resource_of(mesh, "Alerts", Topic), resource_of(mesh, "Audit", Queue)
    async with mesh:
        await topic.publish("minor", attributes={"severity": "low"})
        await topic.publish("major", attributes={"severity": "critical"})
        (message,) = await audit.receive(max_messages=10)
    assert message.body == "major"  # raw: the message itself, not the envelope


async def test_a_filter_policy_on_the_body(mesh: Mesh, clock: VirtualClock) -> None:
    build_application(
        template(
            {
                "Audit": AUDIT,
                "Alerts": ALERTS,
                "Sub": subscription(Protocol="sqs", Endpoint=AUDIT_ARN,
                                    FilterPolicyScope="MessageBody",
                                    FilterPolicy={"total": [{"numeric": [">", 99]}]},
                                    RawMessageDelivery="true"),
            }
        ),
        mesh=mesh,
    )  # fmt: skip
    topic, audit = resource_of(mesh, "Alerts", Topic), resource_of(mesh, "Audit", Queue)
    async with mesh:
        await topic.publish(json.dumps({"total": 5}))
        await topic.publish(json.dumps({"total": 150}))
        (message,) = await audit.receive(max_messages=10)
    assert json.loads(message.body) == {"total": 150}


async def test_a_lambda_subscription_invokes_the_function(mesh: Mesh, clock: VirtualClock) -> None:
    seen: list[Any] = []

    @mesh.function(name="notify")
    async def notify(event: dict[str, Any], context: Context) -> None:
        seen.append(event["Records"][0]["Sns"]["Message"])

    app = build_application(
        template(
            {
                "Alerts": ALERTS,
                "Sub": subscription(
                    Protocol="lambda",
                    Endpoint=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:notify",
                ),
            },
            {"Sub": {"Value": {"Ref": "Sub"}}},
        ),
        mesh=mesh,
    )
    assert app.outputs["Sub"].startswith(f"arn:aws:sns:us-east-1:{ACCOUNT}:Alerts:")
    async with mesh:
        await resource_of(mesh, "Alerts", Topic).publish("hello")
        await clock.advance(0)
    assert seen == ["hello"]


@pytest.mark.parametrize(
    ("properties", "member", "message"),
    [
        ({"Protocol": "pigeon", "Endpoint": "ops@example.com"}, "Protocol",
         "Invalid parameter: Amazon SNS does not support this protocol string: pigeon "
         "(this endpoint takes sqs, lambda, http, https)"),
        ({"Protocol": "sqs", "Endpoint": "https://example.com/"}, "Endpoint",
         "Invalid parameter: SQS endpoint ARN"),
        ({"Protocol": "https", "Endpoint": "http://example.com/"}, "Endpoint",
         "Invalid parameter: Endpoint must match the specified protocol"),
        ({"Protocol": "sqs", "Endpoint": AUDIT_ARN, "FilterPolicyScope": "Body"},
         "FilterPolicyScope", "Invalid parameter: Attributes Reason: FilterPolicyScope"),
        ({"Protocol": "sqs", "Endpoint": AUDIT_ARN, "RawMessageDelivery": "maybe"},
         "RawMessageDelivery", "Invalid parameter: Attributes Reason: RawMessageDelivery"),
        ({"Protocol": "sqs", "Endpoint": {"Fn::GetAtt": ["Jobs", "Arn"]}}, "Endpoint",
         "Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to "
         "standard SNS topics"),
        ({"Protocol": "lambda", "Endpoint": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:f",
          "RawMessageDelivery": True}, "RawMessageDelivery",
         "Invalid parameter: Attributes Reason: Delivery protocol [lambda] does not support "
         "raw message delivery."),
        ({"Protocol": "https", "Endpoint": "https://example.com/",
          "DeliveryPolicy": {"healthyRetryPolicy": 5}}, "DeliveryPolicy",
         "Invalid parameter: Attributes Reason: DeliveryPolicy"),
        ({"Protocol": "https", "Endpoint": "https://example.com/", "DeliveryPolicy": [1]},
         "DeliveryPolicy", "Invalid parameter: Attributes Reason: DeliveryPolicy"),
        ({"Protocol": "https", "Endpoint": "https://example.com/",
          "DeliveryPolicy": {"healthyRetryPolicy": {"numRetries": "x"}}}, "DeliveryPolicy",
         "Invalid parameter: Attributes Reason: DeliveryPolicy: a delivery policy's retry "
         "counts are integers >= 0"),
    ],
)  # fmt: skip
def test_a_subscription_sns_refuses_is_refused_naming_the_property(
    mesh: Mesh, properties: dict[str, Any], member: str, message: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        build_application(
            template(
                {
                    "Audit": AUDIT,
                    "Alerts": ALERTS,
                    "Sub": subscription(**properties),
                    "Jobs": {"Type": "AWS::SQS::Queue", "Properties": {"FifoQueue": True}},
                }
            ),
            mesh=mesh,
        )
    assert str(caught.value) == (
        f"Resources.Sub.Properties.{member} (AWS::SNS::Subscription): {message}"
    )


def test_an_inline_subscription_is_named_by_its_index(mesh: Mesh) -> None:
    with pytest.raises(TemplateError) as caught:
        build_application(
            template({"Alerts": {"Type": "AWS::SNS::Topic", "Properties": {"Subscription": [
                {"Protocol": "sqs", "Endpoint": "+15555550100"}]}}}),
            mesh=mesh,
        )  # fmt: skip
    assert str(caught.value) == (
        "Resources.Alerts.Properties.Subscription[0].Endpoint (AWS::SNS::Topic): Invalid "
        "parameter: SQS endpoint ARN"
    )


@pytest.mark.parametrize(
    ("properties", "warning"),
    [
        ({"Protocol": "email", "Endpoint": "ops@example.com"},
         "Protocol: email subscriptions are not emulated: the subscription of "
         "'ops@example.com' is left out (the topic delivers to its other subscribers)"),
        ({"Protocol": "SMS", "Endpoint": "+15555550100"},
         "Protocol: sms subscriptions are not emulated: the subscription of '+15555550100' "
         "is left out (the topic delivers to its other subscribers)"),
        ({"Protocol": "firehose",
          "Endpoint": f"arn:aws:firehose:us-east-1:{ACCOUNT}:deliverystream/archive"},
         "Protocol: firehose subscriptions are not emulated: the subscription of "
         f"'arn:aws:firehose:us-east-1:{ACCOUNT}:deliverystream/archive' is left out (the "
         "topic delivers to its other subscribers)"),
        ({"Protocol": "sqs", "Endpoint": f"arn:aws:sqs:us-east-1:{ACCOUNT}:nowhere"},
         f"Endpoint: the queue arn:aws:sqs:us-east-1:{ACCOUNT}:nowhere is neither in the "
         "template nor in the mesh (not emulated, or another stack's): the subscription is "
         "left out"),
        ({"Protocol": "lambda", "Endpoint": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:none"},
         f"Endpoint: the function arn:aws:lambda:us-east-1:{ACCOUNT}:function:none is neither "
         "in the template nor in the mesh (not emulated, or another stack's): the "
         "subscription is left out"),
    ],
)  # fmt: skip
async def test_a_subscription_the_mesh_cannot_deliver_is_left_out_with_a_warning(
    mesh: Mesh, properties: dict[str, Any], warning: str
) -> None:
    resources = {
        "Audit": AUDIT,
        "Alerts": {"Type": "AWS::SNS::Topic", "Properties": {"Subscription": [
            {**properties}, {"Protocol": "sqs", "Endpoint": AUDIT_ARN}]}},
        "Sub": subscription(**properties),
    }  # fmt: skip
    app = build_application(template(resources, {"Sub": {"Value": {"Ref": "Sub"}}}), mesh=mesh)
    assert app.warnings == [
        f"Resources.Alerts (AWS::SNS::Topic): Subscription[0].{warning}",
        f"Resources.Sub (AWS::SNS::Subscription): {warning}",
    ]
    assert app.outputs["Sub"] == f"arn:aws:sns:us-east-1:{ACCOUNT}:Alerts:Sub"
    topic = resource_of(mesh, "Alerts", Topic)
    assert len(topic.subscriptions) == 1  # the queue's, and it still delivers
    async with mesh:
        await topic.publish("hello")
        (received,) = await resource_of(mesh, "Audit", Queue).receive()
    assert json.loads(received.body)["Message"] == "hello"
    with pytest.raises(TemplateError) as refused:
        build_application(template(resources), mesh=Mesh(), strict=True)
    assert str(refused.value).startswith("--strict: Resources.Alerts (AWS::SNS::Topic)")


def test_a_subscription_of_a_topic_not_in_the_mesh_is_left_out_with_a_warning(
    mesh: Mesh,
) -> None:
    app = build_application(
        template({"Audit": AUDIT, "Sub": {"Type": "AWS::SNS::Subscription", "Properties": {
            "TopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:gone", "Protocol": "sqs",
            "Endpoint": AUDIT_ARN}}}),
        mesh=mesh,
    )  # fmt: skip
    assert app.warnings == [
        "Resources.Sub (AWS::SNS::Subscription): TopicArn: the topic "
        f"arn:aws:sns:us-east-1:{ACCOUNT}:gone is neither in the template nor in the mesh (not "
        "emulated, or another stack's): the subscription is left out"
    ]


def test_a_subscription_dead_letter_queue_is_warned_about(mesh: Mesh) -> None:
    app = build_application(
        template(
            {
                "Audit": AUDIT,
                "Dlq": {"Type": "AWS::SQS::Queue"},
                "Alerts": ALERTS,
                "Sub": subscription(Protocol="sqs", Endpoint=AUDIT_ARN, RedrivePolicy={
                    "deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]}}),
            }
        ),
        mesh=mesh,
    )  # fmt: skip
    assert app.warnings == [
        "Resources.Sub (AWS::SNS::Subscription): RedrivePolicy: the mesh's SNS subscriptions "
        "have no dead-letter queue: a message the subscriber never takes (an HTTP(S) endpoint "
        "failing past SNS's retries) is logged and dropped, not sent to "
        f"arn:aws:sqs:us-east-1:{ACCOUNT}:Dlq"
    ]
    assert len(resource_of(mesh, "Alerts", Topic).subscriptions) == 1


def test_an_https_subscription_waits_for_its_confirmation(mesh: Mesh) -> None:
    build_application(
        template({"Alerts": ALERTS,
                  "Hook": subscription(Protocol="https", Endpoint="https://hooks.example.com/a",
                                       DeliveryPolicy={"healthyRetryPolicy": {"numRetries": 1}})}),
        mesh=mesh,
    )  # fmt: skip
    (hook,) = resource_of(mesh, "Alerts", Topic).subscriptions
    assert hook.pending_confirmation
    assert hook.endpoint == "https://hooks.example.com/a"
