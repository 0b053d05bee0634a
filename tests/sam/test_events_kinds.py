"""AWS::Events::EventBus, AWS::Events::Rule and AWS::Scheduler::Schedule built from plain
CloudFormation into a mesh on the virtual clock (2026-01-01T00:00:00Z), with functions and
queues declared in code first and named by ARN, as a template names them.

Expected values are AWS's, written literally: the Scheduled Event of a scheduled rule
(``"version": "0"``, ``"detail-type": "Scheduled Event"``, ``"source": "aws.events"``), rule
and bus ARNs, Scheduler's dead-letter attributes.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from eventmesh import Mesh
from eventmesh.resources.bus import Rule
from eventmesh.resources.schedule import Schedule
from eventmesh.sam import TemplateError, build_application
from eventmesh.testing import VirtualClock

ACCOUNT = "123456789012"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:worker"
QUEUE_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:"
MINUTE = 60.0


def template(resources: dict[str, Any], outputs: dict[str, Any] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}
    if outputs:
        document["Outputs"] = {name: {"Value": value} for name, value in outputs.items()}
    return document


def worker(mesh: Mesh) -> list[Any]:
    """A function named ``worker`` declared in code; the events it gets."""
    events: list[Any] = []

    @mesh.function(name="worker")
    async def handle(event: Any, context: Any) -> None:
        events.append(event)

    return events


def attributes_of(message: Any) -> dict[str, str]:
    return {name: value["StringValue"] for name, value in message.message_attributes.items()}


# -- AWS::Events::EventBus and AWS::Events::Rule -------------------------------------------------


async def test_a_rule_on_a_custom_bus_routes_matching_events(
    clock: VirtualClock, mesh: Mesh
) -> None:
    events = worker(mesh)
    app = build_application(
        template(
            {
                "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "orders"}},
                "Big": {
                    "Type": "AWS::Events::Rule",
                    "Properties": {
                        "Name": "big-orders",
                        "EventBusName": {"Ref": "Bus"},
                        "EventPattern": {"detail": {"total": [{"numeric": [">", 100]}]}},
                        "Targets": [
                            {
                                "Id": "Worker",
                                "Arn": FUNCTION_ARN,
                                "InputTransformer": {
                                    "InputPathsMap": {"order": "$.detail.id"},
                                    "InputTemplate": '{"order": <order>}',
                                },
                            }
                        ],
                    },
                },
            },
            {
                "BusRef": {"Ref": "Bus"},
                "BusArn": {"Fn::GetAtt": ["Bus", "Arn"]},
                "BusName": {"Fn::GetAtt": ["Bus", "Name"]},
                "RuleRef": {"Ref": "Big"},
                "RuleArn": {"Fn::GetAtt": ["Big", "Arn"]},
            },
        ),
        mesh=mesh,
    )
    assert app.outputs == {
        "BusRef": "orders",
        "BusArn": f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/orders",
        "BusName": "orders",
        # CloudFormation's physical id of a rule on a custom bus: "<bus>|<rule>" (the
        # AWS::Events::Rule resource provider's CompositePID); the rule's name on the default bus.
        "RuleRef": "orders|big-orders",
        "RuleArn": f"arn:aws:events:us-east-1:{ACCOUNT}:rule/orders/big-orders",
    }
    assert app.warnings == []
    async with mesh:
        bus = mesh.bus("orders")
        await bus.put_events(
            [
                {"Source": "shop", "DetailType": "Placed", "Detail": {"id": "A-1", "total": 150}},
                {"Source": "shop", "DetailType": "Placed", "Detail": {"id": "A-2", "total": 50}},
            ]
        )
        await mesh.drain(5)
    assert events == [{"order": "A-1"}]


async def test_a_pattern_as_json_text_on_a_bus_named_by_arn(
    clock: VirtualClock, mesh: Mesh
) -> None:
    """CloudWatchEvent's shape: InputPath; EventPattern as the API's JSON text."""
    events = worker(mesh)
    mesh.bus("audit")
    build_application(
        template(
            {
                "Audit": {
                    "Type": "AWS::Events::Rule",
                    "Properties": {
                        "EventBusName": f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/audit",
                        "EventPattern": '{"source": ["audit"]}',
                        "Targets": [{"Id": "W", "Arn": FUNCTION_ARN, "InputPath": "$.detail"}],
                    },
                }
            }
        ),
        mesh=mesh,
    )
    rule = mesh.bus("audit").rules["Audit"]  # no Name: the logical id
    async with mesh:
        await rule.bus.put_events(
            [
                {"Source": "audit", "DetailType": "Login", "Detail": {"user": "ana"}},
                {"Source": "shop", "DetailType": "Login", "Detail": {"user": "bob"}},
            ]
        )
        await mesh.drain(5)
    assert events == [{"user": "ana"}]


async def test_a_scheduled_rule_sends_the_scheduled_event(clock: VirtualClock, mesh: Mesh) -> None:
    """SAM's Schedule event: a rule with a ScheduleExpression on the default bus."""
    events = worker(mesh)
    app = build_application(
        template(
            {
                "FnTick": {
                    "Type": "AWS::Events::Rule",
                    "Properties": {
                        "ScheduleExpression": "rate(5 minutes)",
                        "Targets": [{"Id": "FnTickLambdaTarget", "Arn": FUNCTION_ARN}],
                    },
                }
            },
            {"RuleRef": {"Ref": "FnTick"}},
        ),
        mesh=mesh,
    )
    assert app.outputs == {"RuleRef": "FnTick"}  # on the default bus: the rule's name
    async with mesh:
        await clock.advance(5 * MINUTE)
        await mesh.drain(5)
    (event,) = events
    assert event == {
        "version": "0",
        "id": event["id"],
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2026-01-01T00:05:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:{ACCOUNT}:rule/FnTick"],
        "detail": {},
    }


async def test_a_scheduled_rule_with_input_and_a_disabled_one(
    clock: VirtualClock, mesh: Mesh
) -> None:
    events = worker(mesh)
    app = build_application(
        template(
            {
                "On": {
                    "Type": "AWS::Events::Rule",
                    "Properties": {
                        "ScheduleExpression": "rate(10 minutes)",
                        "Targets": [{"Id": "T", "Arn": FUNCTION_ARN, "Input": '{"a": 1}'}],
                    },
                },
                "Off": {
                    "Type": "AWS::Events::Rule",
                    "Properties": {
                        "ScheduleExpression": "rate(1 minute)",
                        "State": "DISABLED",
                        "EventPattern": {"source": ["shop"]},
                        "Targets": [{"Id": "T", "Arn": FUNCTION_ARN, "Input": '{"off": 1}'}],
                    },
                },
            }
        ),
        mesh=mesh,
    )
    off = app.resources["Off"].value
    assert isinstance(off, Rule) and off.enabled is False
    async with mesh:
        await mesh.bus("default").put_events(
            [{"Source": "shop", "DetailType": "Placed", "Detail": {}}]
        )
        await clock.advance(20 * MINUTE)
        await mesh.drain(5)
    assert events == [{"a": 1}, {"a": 1}]  # 00:10 and 00:20; the disabled rule: nothing


async def test_a_rule_targets_retry_policy_and_dead_letter_queue(
    clock: VirtualClock, mesh: Mesh
) -> None:
    full = mesh.queue("full", max_pending=1)
    dlq = mesh.queue("rule-dlq")
    app = build_application(
        template(
            {
                "Rule": {
                    "Type": "AWS::Events::Rule",
                    "Properties": {
                        "Name": "to-full",
                        "EventPattern": {"source": ["shop"]},
                        "Targets": [
                            {
                                "Id": "Full",
                                "Arn": QUEUE_ARN + "full",
                                "RetryPolicy": {
                                    "MaximumRetryAttempts": 1,
                                    "MaximumEventAgeInSeconds": 900,
                                },
                                "DeadLetterConfig": {"Arn": QUEUE_ARN + "rule-dlq"},
                            }
                        ],
                    },
                }
            }
        ),
        mesh=mesh,
    )
    rule = app.resources["Rule"].value
    assert (rule.targets[0].spec.max_retries, rule.targets[0].spec.max_event_age) == (1, 900.0)
    async with mesh:
        await full.send("taking the only place")
        await mesh.bus("default").put_events(
            [{"Source": "shop", "DetailType": "Placed", "Detail": {"n": 1}}]
        )
        await clock.advance(200)  # each attempt waits 60 s for room, then counts as throttled
        (message,) = await dlq.receive()
    assert orjson.loads(message.body)["detail"] == {"n": 1}
    attributes = attributes_of(message)
    assert attributes["RULE_ARN"] == f"arn:aws:events:us-east-1:{ACCOUNT}:rule/to-full"
    assert attributes["TARGET_ARN"] == QUEUE_ARN + "full"
    assert attributes["ERROR_CODE"] == "THROTTLING"
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"
    assert attributes["RETRY_ATTEMPTS"] == "1"


# -- AWS::Scheduler::Schedule ------------------------------------------------------------------


def scheduler_resource(target: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::Scheduler::Schedule",
        "Properties": {
            "ScheduleExpression": "rate(5 minutes)",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/scheduler", **target},
            **properties,
        },
    }


async def test_a_schedule_invokes_a_function_with_its_input(
    clock: VirtualClock, mesh: Mesh
) -> None:
    events = worker(mesh)
    app = build_application(
        template(
            {
                "Nightly": scheduler_resource(
                    {
                        "Arn": FUNCTION_ARN,
                        "Input": '{"arn": "<aws.scheduler.schedule-arn>", '
                        '"at": "<aws.scheduler.scheduled-time>", '
                        '"n": "<aws.scheduler.attempt-number>"}',
                    },
                    Name="nightly",
                    StartDate="2026-01-01T00:02:00.000Z",
                    EndDate="2026-01-01T00:12:00Z",
                    ScheduleExpressionTimezone="UTC",
                )
            },
            {"Ref": {"Ref": "Nightly"}, "Arn": {"Fn::GetAtt": ["Nightly", "Arn"]}},
        ),
        mesh=mesh,
    )
    arn = f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule/default/nightly"
    assert app.outputs == {"Ref": "nightly", "Arn": arn}
    schedule = app.resources["Nightly"].value
    assert isinstance(schedule, Schedule) and schedule.name == "scheduler.default.nightly"
    async with mesh:
        await clock.advance(30 * MINUTE)
        await mesh.drain(5)
    assert events == [  # anchored at StartDate; none at or after EndDate (00:12)
        {"arn": arn, "at": "2026-01-01T00:02:00Z", "n": "1"},
        {"arn": arn, "at": "2026-01-01T00:07:00Z", "n": "1"},
    ]


async def test_a_schedule_puts_its_input_on_a_bus(clock: VirtualClock, mesh: Mesh) -> None:
    """A Scheduler target on a bus: an entry with EventBridgeParameters' Source and
    DetailType, the Input as its detail, routed by the bus's rules."""
    events = worker(mesh)
    build_application(
        template(
            {
                "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "jobs"}},
                "Route": {
                    "Type": "AWS::Events::Rule",
                    "Properties": {
                        "EventBusName": {"Ref": "Bus"},
                        "EventPattern": {"source": ["scheduler.jobs"]},
                        "Targets": [{"Id": "W", "Arn": FUNCTION_ARN}],
                    },
                },
                "Kick": scheduler_resource(
                    {
                        "Arn": {"Fn::GetAtt": ["Bus", "Arn"]},
                        "Input": '{"job": "sweep"}',
                        "EventBridgeParameters": {
                            "Source": "scheduler.jobs",
                            "DetailType": "Sweep",
                        },
                    }
                ),
            }
        ),
        mesh=mesh,
    )
    async with mesh:
        await clock.advance(5 * MINUTE)
        await mesh.drain(5)
    (event,) = events
    assert (event["source"], event["detail-type"], event["detail"]) == (
        "scheduler.jobs",
        "Sweep",
        {"job": "sweep"},
    )


async def test_a_schedule_retries_then_dead_letters(clock: VirtualClock, mesh: Mesh) -> None:
    full = mesh.queue("full", max_pending=1)
    dlq = mesh.queue("dlq")
    build_application(
        template(
            {
                "Report": scheduler_resource(
                    {
                        "Arn": QUEUE_ARN + "full",
                        "Input": "report",
                        "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60},
                        "DeadLetterConfig": {"Arn": QUEUE_ARN + "dlq"},
                    },
                    GroupName="reports",
                )
            }
        ),
        mesh=mesh,
    )
    async with mesh:
        await full.send("taking the only place")
        await clock.advance(5 * MINUTE + 10)
        (message,) = await dlq.receive()
    assert message.body == "report"
    assert attributes_of(message) == {
        "ERROR_CODE": "THROTTLING",
        "ERROR_MESSAGE": attributes_of(message)["ERROR_MESSAGE"],
        "TARGET_ARN": QUEUE_ARN + "full",
        "SCHEDULE_ARN": f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule/reports/Report",
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
        "RETRY_ATTEMPTS": "2",
        "EXECUTION_ID": attributes_of(message)["EXECUTION_ID"],
        "IS_PAYLOAD_TRUNCATED": "false",
        "SCHEDULED_TIME": "2026-01-01T00:05:00Z",
    }


async def test_a_disabled_schedule_is_declared_and_does_not_fire(
    clock: VirtualClock, mesh: Mesh
) -> None:
    events = worker(mesh)
    app = build_application(
        template({"Off": scheduler_resource({"Arn": FUNCTION_ARN}, State="DISABLED")}), mesh=mesh
    )
    assert app.resources["Off"].value is None
    assert app.resources["Off"].attributes["Arn"].endswith(":schedule/default/Off")
    async with mesh:
        await clock.advance(30 * MINUTE)
        await mesh.drain(5)
    assert events == []


# -- errors name the template path -------------------------------------------------------------


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        (
            {"R": {"Type": "AWS::Events::Rule", "Properties": {"Targets": []}}},
            "Resources.R (AWS::Events::Rule): EventPattern or ScheduleExpression is required",
        ),
        (
            {
                "R": {
                    "Type": "AWS::Events::Rule",
                    "Properties": {
                        "EventPattern": {"source": ["x"]},
                        "Targets": [{"Id": "T", "Arn": "nowhere"}],
                    },
                }
            },
            "Resources.R.Properties.Targets[0].Arn (AWS::Events::Rule): nothing in the template "
            "or the mesh has the ARN nowhere",
        ),
        (
            {
                "R": {
                    "Type": "AWS::Events::Rule",
                    "Properties": {
                        "EventPattern": {"source": ["x"]},
                        "Targets": [{"Id": "T", "Arn": FUNCTION_ARN, "Input": "not json"}],
                    },
                }
            },
            "Resources.R.Properties.Targets[0].Input (AWS::Events::Rule): Target T: Input is not "
            "valid JSON text.",
        ),
        (
            {
                "R": {
                    "Type": "AWS::Events::Rule",
                    "Properties": {"EventPattern": {"source": "shop"}, "Targets": []},
                }
            },
            "Resources.R.Properties.EventPattern (AWS::Events::Rule): Event pattern is not valid. "
            "Reason: ",
        ),
        (
            {
                "B": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "orders"}},
                "R": {
                    "Type": "AWS::Events::Rule",
                    "Properties": {
                        "EventBusName": {"Ref": "B"},
                        "ScheduleExpression": "rate(1 hour)",
                        "Targets": [],
                    },
                },
            },
            "Resources.R.Properties.ScheduleExpression (AWS::Events::Rule): ScheduleExpression "
            "is supported only on the default event bus.",
        ),
        (
            {
                "Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "nope"}},
                "R": {
                    "Type": "AWS::Events::Rule",
                    "Properties": {"EventBusName": "nope", "EventPattern": {"a": ["b"]}},
                },
            },
            "Resources.R.Properties.EventBusName (AWS::Events::Rule): 'nope' is not an event bus",
        ),
        (
            {
                "S": scheduler_resource(
                    {"Arn": FUNCTION_ARN, "RetryPolicy": {"MaximumRetryAttempts": 186}}
                )
            },
            "Resources.S.Properties.Target.RetryPolicy.MaximumRetryAttempts "
            "(AWS::Scheduler::Schedule): MaximumRetryAttempts must be from 0 to 185.",
        ),
        (
            {
                "S": scheduler_resource(
                    {"Arn": FUNCTION_ARN}, FlexibleTimeWindow={"Mode": "FLEXIBLE"}
                )
            },
            "Resources.S.Properties.FlexibleTimeWindow.MaximumWindowInMinutes "
            "(AWS::Scheduler::Schedule): MaximumWindowInMinutes from 1 to 1440 is required for "
            "FLEXIBLE.",
        ),
        (
            {"S": scheduler_resource({"Arn": FUNCTION_ARN}, EndDate="next week")},
            "Resources.S.Properties.EndDate (AWS::Scheduler::Schedule): EndDate must be a date "
            "and time in ISO 8601 (2026-01-01T12:00:00Z), got 'next week'.",
        ),
        (
            {"S": scheduler_resource({"Arn": FUNCTION_ARN}, ScheduleExpression="rate(0 minutes)")},
            "Resources.S.Properties.ScheduleExpression (AWS::Scheduler::Schedule): Invalid "
            "Schedule Expression rate(0 minutes). ",
        ),
        (
            {"S": scheduler_resource({"Arn": "nowhere"})},
            "Resources.S.Properties.Target.Arn (AWS::Scheduler::Schedule): Invalid target ARN "
            "nowhere",
        ),
    ],
)
def test_errors_name_the_resource_and_property(
    mesh: Mesh, resources: dict[str, Any], message: str
) -> None:
    worker(mesh)
    with pytest.raises(TemplateError) as raised:
        build_application(template(resources), mesh=mesh)
    assert str(raised.value).startswith(message)


def rule_target(**extra: Any) -> dict[str, Any]:
    """A scheduled rule whose one target has ``extra`` members."""
    return {
        "R": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "ScheduleExpression": "rate(5 minutes)",
                "Targets": [{"Id": "T", "Arn": FUNCTION_ARN, **extra}],
            },
        }
    }


STREAM_ARN = f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/clicks"


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        (
            rule_target(RetryPolicy="twice"),
            "Resources.R.Properties.Targets[0].RetryPolicy (AWS::Events::Rule): Target T: "
            "RetryPolicy is an object (MaximumRetryAttempts, MaximumEventAgeInSeconds).",
        ),
        (
            rule_target(DeadLetterConfig="dlq"),
            "Resources.R.Properties.Targets[0].DeadLetterConfig (AWS::Events::Rule): Target T: "
            "DeadLetterConfig is an object with an Arn.",
        ),
        (
            {"S": scheduler_resource({"Arn": FUNCTION_ARN, "RetryPolicy": "twice"})},
            "Resources.S.Properties.Target.RetryPolicy (AWS::Scheduler::Schedule): RetryPolicy "
            "is an object (MaximumRetryAttempts, MaximumEventAgeInSeconds).",
        ),
        (
            {"S": scheduler_resource({"Arn": FUNCTION_ARN, "DeadLetterConfig": "dlq"})},
            "Resources.S.Properties.Target.DeadLetterConfig (AWS::Scheduler::Schedule): "
            "DeadLetterConfig is an object with an Arn.",
        ),
        (
            {"S": scheduler_resource({"Arn": STREAM_ARN, "KinesisParameters": "key"})},
            "Resources.S.Properties.Target.KinesisParameters (AWS::Scheduler::Schedule): "
            "KinesisParameters with a PartitionKey are required for a stream.",
        ),
        (
            {"S": scheduler_resource({"Arn": QUEUE_ARN + "jobs", "SqsParameters": "g"})},
            "Resources.S.Properties.Target.SqsParameters (AWS::Scheduler::Schedule): "
            "SqsParameters is an object with a MessageGroupId.",
        ),
        (
            {"S": scheduler_resource({"Arn": FUNCTION_ARN}, Name="nightly report")},
            "Resources.S.Properties.Name (AWS::Scheduler::Schedule): Name must be 1-64 letters, "
            "digits, '-', '_' or '.', got 'nightly report'",
        ),
    ],
)
def test_odd_property_types_are_errors_naming_the_path(
    mesh: Mesh, resources: dict[str, Any], message: str
) -> None:
    """Not AttributeErrors: a mapping expected and something else given, in templates (the
    same declarations serve the AWS endpoint)."""
    worker(mesh)
    mesh.queue("jobs")
    mesh.stream("clicks")
    with pytest.raises(TemplateError) as raised:
        build_application(template(resources), mesh=mesh)
    assert str(raised.value).startswith(message)


def test_retry_numbers_written_as_text_are_taken(mesh: Mesh) -> None:
    """CloudFormation takes an Integer property written as text (``"3"``), as other kinds do."""
    worker(mesh)
    retry = {"MaximumRetryAttempts": "3", "MaximumEventAgeInSeconds": "600"}
    window = {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": "15"}
    resources = {
        **rule_target(RetryPolicy=retry),
        "S": scheduler_resource(
            {"Arn": FUNCTION_ARN, "RetryPolicy": retry}, FlexibleTimeWindow=window
        ),
    }
    app = build_application(template(resources), mesh=mesh)
    rule, schedule = app.resources["R"].value, app.resources["S"].value
    assert isinstance(rule, Rule) and isinstance(schedule, Schedule)
    spec = rule.targets[0].spec
    assert (spec.max_retries, spec.max_event_age) == (3, 600)
    assert (schedule.retries, schedule.max_event_age, schedule.flexible_window) == (3, 600.0, 15)


@pytest.mark.parametrize(
    "arn",
    [
        f"arn:aws:sqs:us-east-1:{ACCOUNT}:alerts",
        f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/alerts",
        f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/alerts",
    ],
)
def test_a_target_arn_must_name_a_resource_of_its_service(mesh: Mesh, arn: str) -> None:
    """``alerts`` is a topic: an SQS, Kinesis or EventBridge ARN of that name names nothing
    (a rule would publish to the topic, a Scheduler schedule fail at every tick)."""
    mesh.topic("alerts")
    rule = {"Id": "T", "Arn": arn}
    resources = {
        "R": {
            "Type": "AWS::Events::Rule",
            "Properties": {"ScheduleExpression": "rate(5 minutes)", "Targets": [rule]},
        }
    }
    with pytest.raises(TemplateError) as raised:
        build_application(template(resources), mesh=mesh)
    assert str(raised.value).startswith(
        "Resources.R.Properties.Targets[0].Arn (AWS::Events::Rule): nothing in the template "
        f"or the mesh has the ARN {arn}"
    )
    target = {"Arn": arn, "Input": "{}", "KinesisParameters": {"PartitionKey": "k"}}
    if ":events:" in arn:
        target["EventBridgeParameters"] = {"Source": "s", "DetailType": "d"}
    with pytest.raises(TemplateError) as raised:
        build_application(template({"S": scheduler_resource(target)}), mesh=mesh)
    assert str(raised.value).startswith(
        "Resources.S.Properties.Target.Arn (AWS::Scheduler::Schedule): nothing in the template "
        f"or the mesh has the ARN {arn}"
    )


@pytest.mark.parametrize("dead_letter", ["alerts", "jobs.fifo"])
def test_a_dead_letter_queue_is_a_standard_queue(mesh: Mesh, dead_letter: str) -> None:
    """EventBridge and Scheduler dead-letter into a standard SQS queue only: a topic named by
    an SQS ARN, or a FIFO queue, is an error at build (not a dead letter lost at run time)."""
    worker(mesh)
    mesh.topic("alerts")
    mesh.queue("jobs.fifo", fifo=True)
    arn = QUEUE_ARN + dead_letter
    resources = rule_target(DeadLetterConfig={"Arn": arn})
    with pytest.raises(TemplateError) as raised:
        build_application(template(resources), mesh=mesh)
    assert str(raised.value).startswith(
        "Resources.R.Properties.Targets[0].DeadLetterConfig.Arn (AWS::Events::Rule): no "
        f"standard queue {arn} in the template or the mesh"
    )
    resources = {"S": scheduler_resource({"Arn": FUNCTION_ARN, "DeadLetterConfig": {"Arn": arn}})}
    with pytest.raises(TemplateError) as raised:
        build_application(template(resources), mesh=mesh)
    assert str(raised.value).startswith(
        "Resources.S.Properties.Target.DeadLetterConfig.Arn (AWS::Scheduler::Schedule): no "
        f"standard queue {arn} in the template or the mesh"
    )


def test_a_fifo_queue_target_is_refused_at_build_or_given_its_group(mesh: Mesh) -> None:
    """A rule cannot target a FIFO queue (no SqsParameters here): an error naming the target's
    Arn at build, not a mesh that fails to start. A Scheduler target that is a FIFO queue
    needs SqsParameters.MessageGroupId, or every tick would fail."""
    mesh.queue("jobs.fifo", fifo=True)
    arn = QUEUE_ARN + "jobs.fifo"
    properties = {"ScheduleExpression": "rate(5 minutes)", "Targets": [{"Id": "T", "Arn": arn}]}
    rule = {"R": {"Type": "AWS::Events::Rule", "Properties": properties}}
    with pytest.raises(TemplateError) as raised:
        build_application(template(rule), mesh=mesh)
    assert str(raised.value).startswith(
        "Resources.R.Properties.Targets[0].Arn (AWS::Events::Rule): "
        f"{arn} is a FIFO queue; a rule's targets here are standard queues"
    )
    with pytest.raises(TemplateError) as raised:
        build_application(template({"S": scheduler_resource({"Arn": arn})}), mesh=mesh)
    assert str(raised.value).startswith(
        "Resources.S.Properties.Target.SqsParameters.MessageGroupId (AWS::Scheduler::Schedule): "
        f"{arn} is a FIFO queue: give the message group"
    )


async def test_a_scheduler_schedule_sends_to_a_fifo_queue_in_its_group(
    clock: VirtualClock, mesh: Mesh
) -> None:
    jobs = mesh.queue("jobs.fifo", fifo=True)
    target = {
        "Arn": QUEUE_ARN + "jobs.fifo",
        "Input": "run",
        "SqsParameters": {"MessageGroupId": "g1"},
    }
    build_application(template({"S": scheduler_resource(target)}), mesh=mesh)
    async with mesh:
        await clock.advance(5 * MINUTE)
        (message,) = await jobs.receive()
    assert (message.body, message.attributes["MessageGroupId"]) == ("run", "g1")
