"""A rule or a schedule whose target is a resource of the template the mesh does not emulate
(a Step Functions state machine: SAM's EventBridgeRule and ScheduleV2 events on an
``AWS::Serverless::StateMachine`` make exactly this) builds with a warning naming it, instead
of failing the whole template as naming nothing; the rule still delivers to its other
targets. Found running aws-samples/serverless-patterns' s3-event-sfn-lambda-ddb-sns."""

from __future__ import annotations

from typing import Any

import pytest

from eventmesh import Mesh
from eventmesh.resources.queue import Queue
from eventmesh.sam import TemplateError, build_application
from eventmesh.testing import VirtualClock

MACHINE = {
    "Type": "AWS::StepFunctions::StateMachine",
    "Properties": {
        "DefinitionString": '{"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": true}}}'
    },
}


def rule_template(machine_arn: Any) -> dict[str, Any]:
    return {
        "Resources": {
            "Machine": MACHINE,
            "Copies": {"Type": "AWS::SQS::Queue"},
            "Uploaded": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "EventPattern": {"source": ["shop"]},
                    "Targets": [
                        {"Id": "Machine", "Arn": machine_arn},
                        {"Id": "Copies", "Arn": {"Fn::GetAtt": ["Copies", "Arn"]}},
                    ],
                },
            },
        }
    }


@pytest.mark.parametrize(
    "machine_arn",
    [{"Ref": "Machine"}, {"Fn::GetAtt": ["Machine", "Arn"]}],
    ids=["Ref (what SAM writes)", "GetAtt Arn"],
)
async def test_a_rule_target_left_out_is_warned_and_the_other_targets_deliver(
    clock: VirtualClock, mesh: Mesh, machine_arn: Any
) -> None:
    app = build_application(rule_template(machine_arn), mesh=mesh)
    assert app.unsupported == {"Machine": "AWS::StepFunctions::StateMachine"}
    assert app.warnings == [
        "not emulated, left out: Machine (AWS::StepFunctions::StateMachine)",
        "Resources.Uploaded (AWS::Events::Rule): Targets[0].Arn: Machine is a resource left "
        "out (not emulated): the rule delivers to its other targets only",
    ]
    async with mesh:
        answer = await mesh.bus("default").put_events(
            [{"Source": "shop", "DetailType": "Placed", "Detail": {"id": "A-1"}}]
        )
        assert answer["FailedEntryCount"] == 0
        copies = mesh.context.find_resource("Copies")
        assert isinstance(copies, Queue)
        [message] = await copies.receive(max_messages=10)
    assert '"source":"shop"' in message.body.replace(" ", "")


def test_strict_refuses_a_rule_on_a_left_out_target(mesh: Mesh) -> None:
    with pytest.raises(TemplateError, match=r"--strict: the mesh cannot emulate Machine"):
        build_application(rule_template({"Ref": "Machine"}), mesh=mesh, strict=True)


def test_a_rule_target_outside_the_template_is_left_out_with_a_warning(mesh: Mesh) -> None:
    template = rule_template("arn:aws:states:us-east-1:123456789012:stateMachine:Elsewhere")
    app = build_application(template, mesh=mesh)
    assert app.warnings[1:] == [
        "Resources.Uploaded (AWS::Events::Rule): Targets[0].Arn: "
        "arn:aws:states:us-east-1:123456789012:stateMachine:Elsewhere is neither in the "
        "template nor in the mesh (not emulated, or another stack's): the rule delivers to its "
        "other targets only"
    ]


def test_a_rule_target_that_is_no_arn_and_names_nothing_is_still_an_error(mesh: Mesh) -> None:
    with pytest.raises(TemplateError) as caught:
        build_application(rule_template("Elsewhere"), mesh=mesh)
    assert str(caught.value) == (
        "Resources.Uploaded.Properties.Targets[0].Arn (AWS::Events::Rule): nothing in the "
        "template or the mesh has the ARN Elsewhere"
    )


def test_a_schedule_on_a_left_out_target_is_left_out_with_a_warning(mesh: Mesh) -> None:
    template = {
        "Resources": {
            "Machine": MACHINE,
            "Nightly": {
                "Type": "AWS::Scheduler::Schedule",
                "Properties": {
                    "ScheduleExpression": "rate(1 hour)",
                    "FlexibleTimeWindow": {"Mode": "OFF"},
                    "Target": {
                        "Arn": {"Ref": "Machine"},
                        "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
                    },
                },
            },
        },
        "Outputs": {"Arn": {"Value": {"Fn::GetAtt": ["Nightly", "Arn"]}}},
    }
    app = build_application(template, mesh=mesh)
    assert app.warnings[1:] == [
        "Resources.Nightly (AWS::Scheduler::Schedule): Target.Arn: Machine is a resource left "
        "out (not emulated): the schedule is left out too"
    ]
    assert app.resources["Nightly"].value is None
    assert app.outputs == {
        "Arn": "arn:aws:scheduler:us-east-1:123456789012:schedule/default/Nightly"
    }
