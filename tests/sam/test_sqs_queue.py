"""AWS::SQS::Queue in a template: names, SQS's attributes in CloudFormation's typed spelling,
the redrive policy to a queue of the template, Ref and Fn::GetAtt."""

from __future__ import annotations

from typing import Any

import pytest

from eventmesh import Context, Mesh
from eventmesh.declare.sqs import attributes_beside
from eventmesh.resources.queue import Queue
from eventmesh.sam import TemplateError, build_application
from eventmesh.testing import VirtualClock


def template(resources: dict[str, Any], outputs: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"Resources": resources, "Outputs": outputs or {}}


def queue_of(mesh: Mesh, name: str) -> Queue:
    found = mesh.context.find_resource(name)
    assert isinstance(found, Queue)
    return found


def test_the_name_is_queue_name_else_the_logical_id(mesh: Mesh) -> None:
    build_application(
        template(
            {
                "Orders": {"Type": "AWS::SQS::Queue"},
                "Named": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "billing"}},
            }
        ),
        mesh=mesh,
    )
    assert queue_of(mesh, "Orders").fifo is False
    assert queue_of(mesh, "billing").name == "billing"
    assert mesh.context.find_resource("Named") is None


def test_a_fifo_queue_without_a_name_is_the_logical_id_with_the_fifo_suffix(mesh: Mesh) -> None:
    app = build_application(
        template(
            {"Jobs": {"Type": "AWS::SQS::Queue", "Properties": {"FifoQueue": True}}},
            {"Name": {"Value": {"Fn::GetAtt": ["Jobs", "QueueName"]}}},
        ),
        mesh=mesh,
    )
    assert app.outputs["Name"] == "Jobs.fifo"
    assert queue_of(mesh, "Jobs.fifo").fifo is True


def test_a_fifo_queue_name_must_end_with_fifo(mesh: Mesh) -> None:
    with pytest.raises(TemplateError) as caught:
        build_application(
            template(
                {
                    "Jobs": {
                        "Type": "AWS::SQS::Queue",
                        "Properties": {"QueueName": "jobs", "FifoQueue": "true"},
                    }
                }
            ),
            mesh=mesh,
        )
    assert str(caught.value) == (
        "Resources.Jobs.Properties.QueueName (AWS::SQS::Queue): The name of a FIFO queue can "
        "only include alphanumeric characters, hyphens, or underscores, must end with .fifo "
        "suffix and be 1 to 80 in length."
    )


def test_typed_and_text_values_set_the_queue(mesh: Mesh) -> None:
    build_application(
        template(
            {
                "Typed": {
                    "Type": "AWS::SQS::Queue",
                    "Properties": {
                        "VisibilityTimeout": 60,
                        "DelaySeconds": 5,
                        "MessageRetentionPeriod": 120,
                        "MaximumMessageSize": 2048,
                        "ReceiveMessageWaitTimeSeconds": 20,
                    },
                },
                "Text": {
                    "Type": "AWS::SQS::Queue",
                    "Properties": {"VisibilityTimeout": "45", "FifoQueue": "true",
                                   "ContentBasedDeduplication": True},
                },
            }
        ),
        mesh=mesh,
    )  # fmt: skip
    typed = queue_of(mesh, "Typed")
    assert (typed.visibility_timeout, typed.delay, typed.retention) == (60, 5, 120)
    assert attributes_beside(typed) == {
        "MaximumMessageSize": "2048",
        "ReceiveMessageWaitTimeSeconds": "20",
    }
    text = queue_of(mesh, "Text.fifo")
    assert text.visibility_timeout == 45
    assert text.content_based_deduplication is True


@pytest.mark.parametrize(
    ("properties", "member", "message"),
    [
        ({"VisibilityTimeout": 43201}, "VisibilityTimeout",
         "Invalid value for the parameter VisibilityTimeout."),
        ({"DelaySeconds": -1}, "DelaySeconds", "Invalid value for the parameter DelaySeconds."),
        ({"MessageRetentionPeriod": 59}, "MessageRetentionPeriod",
         "Invalid value for the parameter MessageRetentionPeriod."),
        ({"MaximumMessageSize": "big"}, "MaximumMessageSize",
         "Invalid value for the parameter MaximumMessageSize."),
        ({"VisibilityTimeout": True}, "VisibilityTimeout",
         "Invalid value for the parameter VisibilityTimeout."),
        ({"ContentBasedDeduplication": True}, "ContentBasedDeduplication",
         "Unknown Attribute ContentBasedDeduplication."),
        ({"Colour": "blue"}, "Colour", "Unknown Attribute Colour."),
        ({"FifoQueue": "yes"}, "FifoQueue", "Invalid value for the parameter FifoQueue."),
    ],
)  # fmt: skip
def test_values_sqs_refuses_are_refused_naming_the_property(
    mesh: Mesh, properties: dict[str, Any], member: str, message: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        build_application(
            template({"Q": {"Type": "AWS::SQS::Queue", "Properties": properties}}), mesh=mesh
        )
    assert str(caught.value) == f"Resources.Q.Properties.{member} (AWS::SQS::Queue): {message}"


def test_ref_is_the_queue_url_and_getatt_gives_arn_name_and_url(mesh: Mesh) -> None:
    app = build_application(
        template(
            {"Orders": {"Type": "AWS::SQS::Queue"}},
            {
                "Ref": {"Value": {"Ref": "Orders"}},
                "Arn": {"Value": {"Fn::GetAtt": ["Orders", "Arn"]}},
                "Name": {"Value": {"Fn::GetAtt": ["Orders", "QueueName"]}},
                "Url": {"Value": {"Fn::GetAtt": ["Orders", "QueueUrl"]}},
            },
        ),
        mesh=mesh,
    )
    assert app.outputs == {
        "Ref": "https://sqs.us-east-1.amazonaws.com/123456789012/Orders",
        "Arn": "arn:aws:sqs:us-east-1:123456789012:Orders",
        "Name": "Orders",
        "Url": "https://sqs.us-east-1.amazonaws.com/123456789012/Orders",
    }


def test_metadata_properties_are_ignored_quietly(mesh: Mesh) -> None:
    app = build_application(
        template(
            {
                "Q": {
                    "Type": "AWS::SQS::Queue",
                    "Properties": {
                        "KmsMasterKeyId": "alias/aws/sqs",
                        "SqsManagedSseEnabled": False,
                        "Tags": [{"Key": "team", "Value": "orders"}],
                        "RedriveAllowPolicy": {"redrivePermission": "allowAll"},
                    },
                }
            }
        ),
        mesh=mesh,
        strict=True,
    )
    assert app.warnings == []
    assert attributes_beside(queue_of(mesh, "Q"))["RedriveAllowPolicy"] == (
        '{"redrivePermission":"allowAll"}'
    )


def test_message_group_deduplication_is_warned_about_and_refused_under_strict(
    mesh: Mesh,
) -> None:
    resources = {
        "Q": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"FifoQueue": True, "DeduplicationScope": "messageGroup",
                           "FifoThroughputLimit": "perMessageGroupId"},
        }
    }  # fmt: skip
    app = build_application(template(resources), mesh=mesh)
    assert app.warnings == [
        "Resources.Q (AWS::SQS::Queue): DeduplicationScope messageGroup: the mesh "
        "deduplicates a FIFO queue's messages across the whole queue (a deduplication id "
        "repeated in another group within five minutes is dropped)"
    ]
    with pytest.raises(TemplateError, match="--strict"):
        build_application(template(resources), mesh=Mesh(), strict=True)


def redrive_template(policy: Any, *, fifo: bool = False) -> dict[str, Any]:
    source: dict[str, Any] = {"RedrivePolicy": policy, "VisibilityTimeout": 10}
    if fifo:
        source["FifoQueue"] = True
    return template(
        {
            "Orders": {"Type": "AWS::SQS::Queue", "Properties": source, "DependsOn": "Dlq"},
            "Dlq": {"Type": "AWS::SQS::Queue"},
        }
    )


@pytest.mark.parametrize(
    "policy",
    [
        {"deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]}, "maxReceiveCount": 3},
        {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:Dlq", "maxReceiveCount": "3"},
        {"Fn::Sub": '{"deadLetterTargetArn": "${Dlq.Arn}", "maxReceiveCount": 3}'},
    ],
    ids=["getatt", "literal-arn", "json-text"],
)
def test_the_redrive_policy_names_a_queue_of_the_template(mesh: Mesh, policy: Any) -> None:
    build_application(redrive_template(policy), mesh=mesh)
    orders = queue_of(mesh, "Orders")
    assert (orders.dead_letter, orders.max_receive_count) == ("Dlq", 3)


@pytest.mark.parametrize(
    ("policy", "reason"),
    [
        ({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:nowhere",
          "maxReceiveCount": 3}, "Dead letter target does not exist."),
        ({"deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]}, "maxReceiveCount": 0},
         "Invalid value for maxReceiveCount: must be an integer from 1 to 1000."),
        ({"maxReceiveCount": 3}, "Dead letter target does not exist."),
        ("{not json", "Invalid JSON."),
    ],
)  # fmt: skip
def test_a_redrive_policy_sqs_refuses_is_refused(mesh: Mesh, policy: Any, reason: str) -> None:
    with pytest.raises(TemplateError) as caught:
        build_application(redrive_template(policy), mesh=mesh)
    text = str(caught.value)
    assert text.startswith("Resources.Orders.Properties.RedrivePolicy (AWS::SQS::Queue): Value ")
    assert text.endswith(f"for parameter RedrivePolicy is invalid. Reason: {reason}")


def test_a_fifo_queue_needs_a_fifo_dead_letter_queue(mesh: Mesh) -> None:
    policy = {"deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]}, "maxReceiveCount": 2}
    with pytest.raises(TemplateError, match=r"Reason: Dead-letter target must be a FIFO queue\.$"):
        build_application(redrive_template(policy, fifo=True), mesh=mesh)


async def test_a_message_that_keeps_failing_moves_to_the_dead_letter_queue(
    mesh: Mesh, clock: VirtualClock
) -> None:
    attempts: list[str] = []

    @mesh.function(name="fails", timeout=3)
    async def fails(event: dict[str, Any], context: Context) -> None:
        attempts.extend(record["messageId"] for record in event["Records"])
        raise RuntimeError("poison")

    policy = {"deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]}, "maxReceiveCount": 2}
    resources = redrive_template(policy)["Resources"]
    resources["Mapping"] = {
        "Type": "AWS::Lambda::EventSourceMapping",
        "Properties": {"EventSourceArn": {"Fn::GetAtt": ["Orders", "Arn"]},
                       "FunctionName": "fails"},
    }  # fmt: skip
    build_application(template(resources), mesh=mesh)
    orders, dlq = queue_of(mesh, "Orders"), queue_of(mesh, "Dlq")
    async with mesh:
        message_id = await orders.send("poison")
        for _ in range(4):
            await clock.advance(10)  # the visibility timeout
        (moved,) = await dlq.receive()
    assert attempts == [message_id, message_id]
    assert moved.message_id == message_id
    assert moved.body == "poison"
