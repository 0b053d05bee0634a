"""What a rule or a schedule names that the mesh cannot reach is left out with a warning
naming it (``--strict`` refuses the template), never an error failing the whole application,
and never silently: a target taking parameters of a kind of target not emulated (Batch, ECS,
API destinations, AppSync, SQS's MessageGroupId), a target ARN of nothing in the template or
the mesh (SSM automation, another region's bus), a dead-letter queue outside both, a rule's
bus outside both. The rule's other targets still deliver. Found loading
aws-samples/serverless-patterns (eventbridge-batch-sam, eventbridge-cross-region,
eventbridge-api-destinations, eventbridge-rule-to-ssm-automation-sam ...)."""

from __future__ import annotations

from typing import Any

import pytest

from eventmesh import Mesh
from eventmesh.resources.queue import Queue
from eventmesh.sam import TemplateError, build_application
from eventmesh.testing import VirtualClock

ACCOUNT = "123456789012"
COPIES = {"Id": "Copies", "Arn": {"Fn::GetAtt": ["Copies", "Arn"]}}


def rule(*targets: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {
        "Resources": {
            "Copies": {"Type": "AWS::SQS::Queue"},
            "Placed": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "EventPattern": {"source": ["shop"]},
                    "Targets": [*targets, COPIES],
                    **properties,
                },
            },
        },
        "Outputs": {
            "Ref": {"Value": {"Ref": "Placed"}},
            "Arn": {"Value": {"Fn::GetAtt": ["Placed", "Arn"]}},
        },
    }


async def delivered_to_copies(mesh: Mesh) -> list[str]:
    async with mesh:
        answer = await mesh.bus("default").put_events(
            [{"Source": "shop", "DetailType": "Placed", "Detail": {"id": "A-1"}}]
        )
        assert answer["FailedEntryCount"] == 0
        copies = mesh.context.find_resource("Copies")
        assert isinstance(copies, Queue)
        return [message.body for message in await copies.receive(max_messages=10)]


BATCH = {
    "Id": "Job",
    "Arn": f"arn:aws:batch:us-east-1:{ACCOUNT}:job-queue/nightly",
    "BatchParameters": {"JobDefinition": "report", "JobName": "report"},
}
DESTINATION = {
    "Id": "Stripe",
    "Arn": f"arn:aws:events:us-east-1:{ACCOUNT}:api-destination/stripe/1a2b",
    "HttpParameters": {"HeaderParameters": {"Idempotency-Key": "$.id"}},
}
FIFO = {
    "Id": "Ordered",
    "Arn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:ordered.fifo",
    "SqsParameters": {"MessageGroupId": "orders"},
}
AUTOMATION = {
    "Id": "Fix",
    "Arn": "arn:aws:ssm:us-east-1::automation-definition/AWSSupport-ConfigureEC2Metadata",
}
OTHER_REGION = {
    "Id": "West",
    "Arn": f"arn:aws:events:us-west-2:{ACCOUNT}:event-bus/Destination",
}


@pytest.mark.parametrize(
    ("target", "warning"),
    [
        (
            BATCH,
            "Targets[0].BatchParameters: a target taking BatchParameters (of "
            f"arn:aws:batch:us-east-1:{ACCOUNT}:job-queue/nightly) is not emulated: target Job "
            "is left out, the rule delivers to its other targets only",
        ),
        (
            DESTINATION,
            "Targets[0].HttpParameters: a target taking HttpParameters (of "
            f"arn:aws:events:us-east-1:{ACCOUNT}:api-destination/stripe/1a2b) is not emulated: "
            "target Stripe is left out, the rule delivers to its other targets only",
        ),
        (
            FIFO,
            "Targets[0].SqsParameters: a target taking SqsParameters (of "
            f"arn:aws:sqs:us-east-1:{ACCOUNT}:ordered.fifo) is not emulated: target Ordered is "
            "left out, the rule delivers to its other targets only",
        ),
        (
            AUTOMATION,
            "Targets[0].Arn: arn:aws:ssm:us-east-1::automation-definition/"
            "AWSSupport-ConfigureEC2Metadata is neither in the template nor in the mesh (not "
            "emulated, or another stack's): the rule delivers to its other targets only",
        ),
        (
            OTHER_REGION,
            f"Targets[0].Arn: arn:aws:events:us-west-2:{ACCOUNT}:event-bus/Destination is "
            "neither in the template nor in the mesh (not emulated, or another stack's): the "
            "rule delivers to its other targets only",
        ),
    ],
    ids=["batch", "api destination", "sqs message group", "ssm automation", "other region"],
)
async def test_a_target_out_of_reach_is_left_out_and_the_others_deliver(
    clock: VirtualClock, mesh: Mesh, target: dict[str, Any], warning: str
) -> None:
    app = build_application(rule(target), mesh=mesh)
    assert app.warnings == [f"Resources.Placed (AWS::Events::Rule): {warning}"]
    [body] = await delivered_to_copies(mesh)
    assert '"id":"A-1"' in body.replace(" ", "")
    with pytest.raises(TemplateError) as refused:
        build_application(rule(target), mesh=Mesh(), strict=True)
    assert str(refused.value) == f"--strict: Resources.Placed (AWS::Events::Rule): {warning}"


async def test_a_dead_letter_queue_out_of_reach_is_dropped_and_the_target_kept(
    clock: VirtualClock, mesh: Mesh
) -> None:
    dead_letter = f"arn:aws:sqs:us-east-1:{ACCOUNT}:shared-dlq"
    copies = {**COPIES, "DeadLetterConfig": {"Arn": dead_letter}}
    template = rule()
    template["Resources"]["Placed"]["Properties"]["Targets"] = [copies]
    app = build_application(template, mesh=mesh)
    assert app.warnings == [
        "Resources.Placed (AWS::Events::Rule): Targets[0].DeadLetterConfig.Arn: "
        f"{dead_letter} is neither in the template nor in the mesh (not emulated, or another "
        "stack's): target Copies has no dead-letter queue (what it cannot deliver is dropped)"
    ]
    assert len(await delivered_to_copies(mesh)) == 1


def test_a_rule_on_a_bus_out_of_reach_is_left_out(mesh: Mesh) -> None:
    app = build_application(rule(EventBusName="OtherStackBus", Name="relay"), mesh=mesh)
    assert app.warnings == [
        "Resources.Placed (AWS::Events::Rule): EventBusName: the event bus 'OtherStackBus' is "
        "neither in the template nor in the mesh (another stack's): the rule is left out"
    ]
    assert app.resources["Placed"].value is None
    assert app.outputs == {
        "Ref": "OtherStackBus|relay",
        "Arn": f"arn:aws:events:us-east-1:{ACCOUNT}:rule/OtherStackBus/relay",
    }
    assert mesh.context.find_resource("OtherStackBus") is None  # no bus made up for it


def schedule(target: dict[str, Any]) -> dict[str, Any]:
    return {
        "Resources": {
            "Copies": {"Type": "AWS::SQS::Queue"},
            "Nightly": {
                "Type": "AWS::Scheduler::Schedule",
                "Properties": {
                    "ScheduleExpression": "rate(1 hour)",
                    "FlexibleTimeWindow": {"Mode": "OFF"},
                    "Target": {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/scheduler", **target},
                },
            },
        }
    }


@pytest.mark.parametrize(
    ("target", "warning"),
    [
        (
            {"Arn": "arn:aws:scheduler:::aws-sdk:sqs:sendMessage", "Input": "{}"},
            "Target.Arn: arn:aws:scheduler:::aws-sdk:sqs:sendMessage is neither in the "
            "template nor in the mesh (not emulated, or another stack's): the schedule is left "
            "out too",
        ),
        (
            {
                "Arn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/jobs",
                "EcsParameters": {"TaskDefinitionArn": "report"},
            },
            "Target.EcsParameters: a target taking EcsParameters is not emulated: the schedule "
            "is left out",
        ),
    ],
    ids=["universal target", "ecs task"],
)
def test_a_schedule_whose_target_is_out_of_reach_is_left_out(
    mesh: Mesh, target: dict[str, Any], warning: str
) -> None:
    app = build_application(schedule(target), mesh=mesh)
    assert app.warnings == [f"Resources.Nightly (AWS::Scheduler::Schedule): {warning}"]
    assert app.resources["Nightly"].value is None
    with pytest.raises(TemplateError, match=r"^--strict: Resources\.Nightly"):
        build_application(schedule(target), mesh=Mesh(), strict=True)


def test_a_schedule_dead_letter_queue_out_of_reach_is_dropped(mesh: Mesh) -> None:
    dead_letter = f"arn:aws:sqs:us-east-1:{ACCOUNT}:shared-dlq"
    target = {"Arn": {"Fn::GetAtt": ["Copies", "Arn"]}, "DeadLetterConfig": {"Arn": dead_letter}}
    app = build_application(schedule(target), mesh=mesh)
    assert app.warnings == [
        "Resources.Nightly (AWS::Scheduler::Schedule): Target.DeadLetterConfig.Arn: "
        f"{dead_letter} is neither in the template nor in the mesh (not emulated, or another "
        "stack's): the schedule has no dead-letter queue (what it cannot deliver is dropped)"
    ]
    assert app.resources["Nightly"].value is not None
