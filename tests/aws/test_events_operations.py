"""EventBridge's operations on the mesh's buses, called as the endpoint calls them (handlers
directly, virtual clock): PutEvents, rules and targets, TestEventPattern, CreateEventBus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stream_calls import ACCOUNT, aws, refused

from eventmesh import Mesh, Telemetry
from eventmesh.aws import catalog
from eventmesh.testing import VirtualClock

FUNCTION_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:"
QUEUE_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:"
ENTRY = {"Source": "shop.orders", "DetailType": "OrderPlaced", "Detail": '{"id": 7}'}
PATTERN = json.dumps({"source": ["shop.orders"], "detail": {"id": [{"numeric": [">", 5]}]}})


def recording(mesh: Mesh, name: str = "seen") -> list[Any]:
    events: list[Any] = []

    @mesh.function(name=name)
    async def handler(event: Any, context: Any) -> None:
        events.append(event)

    return events


async def test_put_events_rule_and_function_target(mesh: Mesh, clock: VirtualClock) -> None:
    events = recording(mesh)
    async with mesh:
        answer = await aws(mesh, "events", "PutRule", Name="big", EventPattern=PATTERN)
        assert answer == {"RuleArn": f"arn:aws:events:us-east-1:{ACCOUNT}:rule/big"}
        put = await aws(
            mesh,
            "events",
            "PutTargets",
            Rule="big",
            Targets=[{"Id": "f", "Arn": FUNCTION_ARN + "seen"}],
        )
        assert put == {"FailedEntryCount": 0, "FailedEntries": []}
        result = await aws(
            mesh, "events", "PutEvents", Entries=[ENTRY, {**ENTRY, "Detail": '{"id": 1}'}]
        )
        assert result["FailedEntryCount"] == 0
        assert all("EventId" in entry for entry in result["Entries"])
        await mesh.drain(5)
    assert [event["detail"] for event in events] == [{"id": 7}]
    assert events[0]["source"] == "shop.orders"
    assert events[0]["detail-type"] == "OrderPlaced"
    assert events[0]["id"] == result["Entries"][0]["EventId"]


async def test_put_events_reports_failures_per_entry(mesh: Mesh) -> None:
    async with mesh:
        result = await aws(
            mesh,
            "events",
            "PutEvents",
            Entries=[
                ENTRY,
                {"Source": "shop", "DetailType": "x"},
                {**ENTRY, "Detail": "not json"},
                {**ENTRY, "EventBusName": "nowhere"},
            ],
        )
    assert result["FailedEntryCount"] == 3
    first, missing, malformed, nowhere = result["Entries"]
    assert "EventId" in first
    assert missing["ErrorCode"] == "InvalidArgument"
    assert malformed["ErrorCode"] == "MalformedDetail"
    assert nowhere == {
        "ErrorCode": "ResourceNotFoundException",
        "ErrorMessage": "Event bus nowhere does not exist.",
    }
    error = await refused(mesh, "events", "PutEvents", Entries=[ENTRY] * 11)
    assert error.code == "ValidationException"


async def test_entries_go_to_the_bus_they_name(mesh: Mesh) -> None:
    async with mesh:
        created = await aws(mesh, "events", "CreateEventBus", Name="orders")
        assert created["EventBusArn"] == f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/orders"
        queue = mesh.queue("copies")
        await aws(
            mesh,
            "events",
            "PutRule",
            Name="all",
            EventBusName="orders",
            EventPattern='{"source": ["shop.orders"]}',
        )
        await aws(
            mesh,
            "events",
            "PutTargets",
            Rule="all",
            EventBusName=created["EventBusArn"],
            Targets=[{"Id": "q", "Arn": QUEUE_ARN + "copies"}],
        )
        result = await aws(
            mesh,
            "events",
            "PutEvents",
            Entries=[ENTRY, {**ENTRY, "EventBusName": created["EventBusArn"]}],
        )
        assert result["FailedEntryCount"] == 0
        messages = await queue.receive(10)
    assert len(messages) == 1
    assert json.loads(messages[0].body)["id"] == result["Entries"][1]["EventId"]


async def test_create_event_bus_twice_and_unknown_buses(mesh: Mesh) -> None:
    async with mesh:
        await aws(mesh, "events", "CreateEventBus", Name="orders")
        again = await refused(mesh, "events", "CreateEventBus", Name="orders")
        assert (again.code, again.message) == (
            "ResourceAlreadyExistsException",
            "Event bus orders already exists.",
        )
        missing = await refused(
            mesh, "events", "PutRule", Name="r", EventBusName="ghost", EventPattern=PATTERN
        )
        assert (missing.code, missing.message) == (
            "ResourceNotFoundException",
            "Event bus ghost does not exist.",
        )


async def test_rules_describe_list_and_delete(mesh: Mesh) -> None:
    recording(mesh)
    async with mesh:
        for name in ("orders-a", "orders-b", "payments"):
            await aws(
                mesh, "events", "PutRule", Name=name, EventPattern=PATTERN, Description=f"{name}!"
            )
        await aws(
            mesh, "events", "PutRule", Name="payments", EventPattern=PATTERN, State="DISABLED"
        )
        described = await aws(mesh, "events", "DescribeRule", Name="payments")
        assert described["State"] == "DISABLED"
        assert described["EventPattern"] == PATTERN
        assert described["EventBusName"] == "default"
        assert mesh.bus().rules["payments"].enabled is False
        first = await aws(mesh, "events", "ListRules", NamePrefix="orders", Limit=1)
        assert [rule["Name"] for rule in first["Rules"]] == ["orders-a"]
        second = await aws(
            mesh, "events", "ListRules", NamePrefix="orders", Limit=1, NextToken=first["NextToken"]
        )
        assert [rule["Name"] for rule in second["Rules"]] == ["orders-b"]
        assert "NextToken" not in second
        await aws(
            mesh,
            "events",
            "PutTargets",
            Rule="orders-a",
            Targets=[{"Id": "f", "Arn": FUNCTION_ARN + "seen"}],
        )
        held = await refused(mesh, "events", "DeleteRule", Name="orders-a")
        assert (held.code, held.message) == (
            "ValidationException",
            "Rule can't be deleted since it has targets.",
        )
        await aws(mesh, "events", "RemoveTargets", Rule="orders-a", Ids=["f"])
        assert await aws(mesh, "events", "DeleteRule", Name="orders-a") == {}
        assert await aws(mesh, "events", "DeleteRule", Name="orders-a") == {}  # as AWS: idempotent
        gone = await refused(mesh, "events", "DescribeRule", Name="orders-a")
        assert (gone.code, gone.message) == (
            "ResourceNotFoundException",
            "Rule orders-a does not exist.",
        )
        assert "orders-a" not in mesh.bus().rules


async def test_invalid_patterns_and_schedules(mesh: Mesh) -> None:
    async with mesh:
        bad = await refused(mesh, "events", "PutRule", Name="r", EventPattern='{"source": "x"}')
        assert bad.code == "InvalidEventPatternException"
        assert bad.message.startswith("Event pattern is not valid. Reason: ")
        neither = await refused(mesh, "events", "PutRule", Name="r")
        assert (neither.code, neither.message) == (
            "ValidationException",
            "Parameter(s) EventPattern or ScheduleExpression must be specified.",
        )
        await aws(mesh, "events", "CreateEventBus", Name="orders")
        scheduled = await refused(
            mesh,
            "events",
            "PutRule",
            Name="r",
            EventBusName="orders",
            ScheduleExpression="rate(5 minutes)",
        )
        assert scheduled.message == "ScheduleExpression is supported only on the default event bus."
        wrong = await refused(
            mesh, "events", "PutRule", Name="r", ScheduleExpression="rate(5 parsecs)"
        )
        assert wrong.message == "Parameter ScheduleExpression is not valid."
        huge = await refused(
            mesh, "events", "PutRule", Name="r", ScheduleExpression=f"rate({'9' * 5000} minutes)"
        )
        assert huge.message == "Parameter ScheduleExpression is not valid."


async def test_targets_carry_eventbridge_settings(mesh: Mesh) -> None:
    async with mesh:
        queue = mesh.queue("shaped")
        mesh.queue("dead")
        await aws(mesh, "events", "PutRule", Name="r", EventPattern='{"source": ["shop.orders"]}')
        target = {
            "Id": "q",
            "Arn": QUEUE_ARN + "shaped",
            "InputTransformer": {
                "InputPathsMap": {"order": "$.detail.id"},
                "InputTemplate": '{"order": <order>, "rule": "<aws.events.rule-name>"}',
            },
            "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 120},
            "DeadLetterConfig": {"Arn": QUEUE_ARN + "dead"},
        }
        await aws(mesh, "events", "PutTargets", Rule="r", Targets=[target])
        listed = await aws(mesh, "events", "ListTargetsByRule", Rule="r")
        assert listed["Targets"] == [target]
        spec = mesh.bus().rules["r"].targets[0].spec
        assert (spec.max_retries, spec.max_event_age, spec.dead_letter) == (
            3,
            120.0,
            QUEUE_ARN + "dead",
        )
        await aws(mesh, "events", "PutEvents", Entries=[ENTRY])
        (message,) = await queue.receive()
    assert json.loads(message.body) == {"order": 7, "rule": "r"}


async def test_put_targets_limits_and_refusals(mesh: Mesh) -> None:
    recording(mesh)
    async with mesh:
        await aws(mesh, "events", "PutRule", Name="r", EventPattern=PATTERN)
        six = [{"Id": f"t{i}", "Arn": FUNCTION_ARN + "seen"} for i in range(6)]
        limit = await refused(mesh, "events", "PutTargets", Rule="r", Targets=six)
        assert limit.code == "LimitExceededException"
        ecs = {"Id": "e", "Arn": FUNCTION_ARN + "seen", "EcsParameters": {"TaskDefinitionArn": "x"}}
        assert (await refused(mesh, "events", "PutTargets", Rule="r", Targets=[ecs])).code == (
            "ValidationException"
        )
        ghost = {"Id": "g", "Arn": QUEUE_ARN + "ghost"}
        assert (await refused(mesh, "events", "PutTargets", Rule="r", Targets=[ghost])).code == (
            "ValidationException"
        )
        missing = await refused(
            mesh,
            "events",
            "PutTargets",
            Rule="nope",
            Targets=[{"Id": "f", "Arn": FUNCTION_ARN + "seen"}],
        )
        assert (missing.code, missing.message) == (
            "ResourceNotFoundException",
            "Rule nope does not exist on EventBus default.",
        )
        assert (await aws(mesh, "events", "ListTargetsByRule", Rule="r"))["Targets"] == []
        # A target put again under its id replaces it.
        await aws(
            mesh,
            "events",
            "PutTargets",
            Rule="r",
            Targets=[{"Id": "a", "Arn": FUNCTION_ARN + "seen"}],
        )
        await aws(
            mesh,
            "events",
            "PutTargets",
            Rule="r",
            Targets=[{"Id": "a", "Arn": FUNCTION_ARN + "seen", "Input": "1"}],
        )
        listed = await aws(mesh, "events", "ListTargetsByRule", Rule="r")
        assert listed["Targets"] == [{"Id": "a", "Arn": FUNCTION_ARN + "seen", "Input": "1"}]
        assert len(mesh.bus().rules["r"].targets) == 1


async def test_test_event_pattern(mesh: Mesh) -> None:
    event = {
        "id": "1",
        "account": ACCOUNT,
        "source": "shop.orders",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail-type": "OrderPlaced",
        "detail": {"id": 9},
    }
    async with mesh:
        yes = await aws(
            mesh, "events", "TestEventPattern", EventPattern=PATTERN, Event=json.dumps(event)
        )
        no = await aws(
            mesh,
            "events",
            "TestEventPattern",
            EventPattern=PATTERN,
            Event=json.dumps({**event, "detail": {"id": 2}}),
        )
        assert (yes, no) == ({"Result": True}, {"Result": False})
        bad = await refused(
            mesh, "events", "TestEventPattern", EventPattern="{", Event=json.dumps(event)
        )
        assert bad.code == "InvalidEventPatternException"
        partial = await refused(
            mesh, "events", "TestEventPattern", EventPattern=PATTERN, Event='{"source": "x"}'
        )
        assert partial.code == "InvalidEventPatternException"


async def test_scheduled_rule_fires_on_the_mesh_clock(mesh: Mesh, clock: VirtualClock) -> None:
    async with mesh:
        queue = mesh.queue("ticks")
        await aws(mesh, "events", "PutRule", Name="tick", ScheduleExpression="rate(5 minutes)")
        await aws(
            mesh,
            "events",
            "PutTargets",
            Rule="tick",
            Targets=[{"Id": "q", "Arn": QUEUE_ARN + "ticks"}],
        )
        await clock.advance(301)
        (message,) = await queue.receive()
        event = json.loads(message.body)
        assert event["detail-type"] == "Scheduled Event"
        assert event["resources"] == [f"arn:aws:events:us-east-1:{ACCOUNT}:rule/tick"]
        await queue.delete(message.receipt_handle)
        # Another schedule makes the rule again around it; the targets stay.
        await aws(mesh, "events", "PutRule", Name="tick", ScheduleExpression="rate(1 hour)")
        await clock.advance(600)
        assert await queue.receive() == []
        await clock.advance(3600)
        assert len(await queue.receive()) == 1


async def test_rules_are_recorded_and_restored(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'mesh.db'}"

    def make() -> tuple[Mesh, list[Any]]:
        mesh = Mesh(storage=storage, clock=VirtualClock(), telemetry=Telemetry(enabled=False))
        return mesh, recording(mesh)

    first, _ = make()
    async with first:
        await aws(first, "events", "CreateEventBus", Name="orders")
        await aws(first, "events", "PutRule", Name="r", EventBusName="orders", EventPattern=PATTERN)
        await aws(
            first,
            "events",
            "PutTargets",
            Rule="r",
            EventBusName="orders",
            Targets=[{"Id": "f", "Arn": FUNCTION_ARN + "seen", "InputPath": "$.detail"}],
        )
    second, events = make()
    async with second:
        restored = await catalog.restore(second)
        assert ("events.bus", "orders") in restored
        assert ("events.rule", "orders/r") in restored
        listed = await aws(second, "events", "ListTargetsByRule", Rule="r", EventBusName="orders")
        assert [target["Id"] for target in listed["Targets"]] == ["f"]
        await aws(second, "events", "PutEvents", Entries=[{**ENTRY, "EventBusName": "orders"}])
        await second.drain(5)
    assert events == [{"id": 7}]
    # A third mesh on the same storage finds the rule when a call names it.
    third, _ = make()
    async with third:
        described = await aws(third, "events", "DescribeRule", Name="r", EventBusName="orders")
        assert described["EventPattern"] == PATTERN


async def test_list_limits_outside_1_to_100_are_refused(mesh: Mesh) -> None:
    """A Limit of 0 once answered an empty page whose NextToken pointed at itself, so a
    paginating client never ended."""
    async with mesh:
        await aws(mesh, "events", "PutRule", Name="r", EventPattern=PATTERN)
        for name, extra in (("ListRules", {}), ("ListTargetsByRule", {"Rule": "r"})):
            for limit, bound in (
                (0, "greater than or equal to 1"),
                (101, "less than or equal to 100"),
            ):
                error = await refused(mesh, "events", name, Limit=limit, **extra)
                assert (error.code, error.message) == (
                    "ValidationException",
                    f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
                    f"constraint: Member must have value {bound}",
                )
