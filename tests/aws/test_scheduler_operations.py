"""EventBridge Scheduler's operations on the mesh's schedules, called as the endpoint calls
them (handlers directly): schedules fire on the mesh's virtual clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stream_calls import ACCOUNT, aws, refused

from eventmesh import Mesh, Telemetry
from eventmesh.aws import catalog
from eventmesh.testing import VirtualClock

QUEUE_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/scheduler"
OFF = {"Mode": "OFF"}


def schedule(
    name: str, arn: str, expression: str = "rate(1 minute)", **extra: Any
) -> dict[str, Any]:
    target = {"Arn": arn, "RoleArn": ROLE, **extra.pop("target", {})}
    return {
        "Name": name,
        "ScheduleExpression": expression,
        "FlexibleTimeWindow": OFF,
        "Target": target,
        **extra,
    }


async def test_a_schedule_sends_its_input_to_a_queue(mesh: Mesh, clock: VirtualClock) -> None:
    async with mesh:
        queue = mesh.queue("ticks")
        created = await aws(
            mesh,
            "scheduler",
            "CreateSchedule",
            **schedule("tick", QUEUE_ARN + "ticks", target={"Input": "hello"}),
        )
        assert created == {
            "ScheduleArn": f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule/default/tick"
        }
        await clock.advance(61)
        (message,) = await queue.receive()
        assert message.body == "hello"


async def test_a_function_target_gets_json_and_at_fires_once(
    mesh: Mesh, clock: VirtualClock
) -> None:
    events: list[Any] = []

    @mesh.function(name="job")
    async def job(event: Any, context: Any) -> None:
        events.append(event)

    when = datetime.fromtimestamp(clock.time(), UTC) + timedelta(minutes=2)
    async with mesh:
        await aws(
            mesh,
            "scheduler",
            "CreateSchedule",
            **schedule(
                "once",
                FUNCTION_ARN + "job",
                f"at({when.strftime('%Y-%m-%dT%H:%M:%S')})",
                target={"Input": '{"run": 1}'},
            ),
        )
        await clock.advance(121)
        await mesh.drain(5)
        await clock.advance(3600)
        await mesh.drain(5)
    assert events == [{"run": 1}]


async def test_get_conflict_and_delete(mesh: Mesh, clock: VirtualClock) -> None:
    async with mesh:
        queue = mesh.queue("ticks")
        request = schedule(
            "tick",
            QUEUE_ARN + "ticks",
            "cron(0 12 * * ? *)",
            ScheduleExpressionTimezone="Europe/Paris",
            Description="noon in Paris",
            FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
        )
        await aws(mesh, "scheduler", "CreateSchedule", **request)
        got = await aws(mesh, "scheduler", "GetSchedule", Name="tick")
        assert got["Arn"] == f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule/default/tick"
        assert got["GroupName"] == "default"
        assert got["ScheduleExpression"] == "cron(0 12 * * ? *)"
        assert got["ScheduleExpressionTimezone"] == "Europe/Paris"
        assert got["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}
        assert got["State"] == "ENABLED"
        assert got["Description"] == "noon in Paris"
        assert got["Target"]["Arn"] == QUEUE_ARN + "ticks"
        assert got["Target"]["RetryPolicy"] == {
            "MaximumEventAgeInSeconds": 86400,
            "MaximumRetryAttempts": 185,
        }
        conflict = await refused(mesh, "scheduler", "CreateSchedule", **request)
        assert (conflict.code, conflict.status, conflict.message) == (
            "ConflictException",
            409,
            "Schedule tick already exists.",
        )
        await aws(mesh, "scheduler", "CreateSchedule", **schedule("minutely", QUEUE_ARN + "ticks"))
        assert await aws(mesh, "scheduler", "DeleteSchedule", Name="minutely") == {}
        await clock.advance(180)
        assert await queue.receive() == []
        gone = await refused(mesh, "scheduler", "GetSchedule", Name="minutely")
        assert (gone.code, gone.status, gone.message) == (
            "ResourceNotFoundException",
            404,
            "Schedule minutely does not exist.",
        )
        again = await refused(mesh, "scheduler", "DeleteSchedule", Name="minutely")
        assert again.code == "ResourceNotFoundException"
        group = await refused(mesh, "scheduler", "GetSchedule", Name="tick", GroupName="other")
        assert (group.code, group.message) == (
            "ResourceNotFoundException",
            "Schedule group other does not exist.",
        )


async def test_validation(mesh: Mesh) -> None:
    async with mesh:
        mesh.queue("ticks")
        for request in (
            schedule("bad", QUEUE_ARN + "ticks", "rate(0 minutes)"),
            schedule("bad", QUEUE_ARN + "ticks", "rate(" + "9" * 5000 + " minutes)"),
            schedule("bad", QUEUE_ARN + "ticks", "cron(" + "9" * 5000 + " * * * ? *)"),
            schedule("bad", QUEUE_ARN + "ticks", ScheduleExpressionTimezone="Mars/Olympus"),
            schedule("bad", f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/c"),
            schedule("bad", FUNCTION_ARN + "job", target={"Input": "not json"}),
            schedule("bad", QUEUE_ARN + "ticks", FlexibleTimeWindow={"Mode": "FLEXIBLE"}),
            schedule(
                "bad", QUEUE_ARN + "ticks", target={"RetryPolicy": {"MaximumRetryAttempts": 186}}
            ),
            schedule("bad", QUEUE_ARN + "ticks", target={"RetryPolicy": "twice"}),
            schedule("bad", QUEUE_ARN + "ticks", target={"DeadLetterConfig": "dead"}),
            schedule("nightly report", QUEUE_ARN + "ticks"),  # off Scheduler's name pattern
        ):
            error = await refused(mesh, "scheduler", "CreateSchedule", **request)
            assert (error.code, error.status) == ("ValidationException", 400), request


async def test_retries_then_dead_letter(mesh: Mesh, clock: VirtualClock) -> None:
    async with mesh:
        dead = mesh.queue("dead")
        await aws(
            mesh,
            "scheduler",
            "CreateSchedule",
            **schedule(
                "broken",
                QUEUE_ARN + "missing",
                target={
                    "Input": "payload",
                    "DeadLetterConfig": {"Arn": QUEUE_ARN + "dead"},
                    "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60},
                },
            ),
        )
        await clock.advance(61)
        (message,) = await dead.receive()
    assert message.body == "payload"
    attributes = {name: value["StringValue"] for name, value in message.message_attributes.items()}
    assert attributes["ERROR_CODE"] == "NO_RESOURCE"
    assert attributes["TARGET_ARN"] == QUEUE_ARN + "missing"


async def test_disabled_schedules_do_not_fire(mesh: Mesh, clock: VirtualClock) -> None:
    async with mesh:
        queue = mesh.queue("ticks")
        await aws(
            mesh,
            "scheduler",
            "CreateSchedule",
            **schedule("off", QUEUE_ARN + "ticks", State="DISABLED"),
        )
        await clock.advance(180)
        assert await queue.receive() == []
        assert (await aws(mesh, "scheduler", "GetSchedule", Name="off"))["State"] == "DISABLED"


async def test_schedules_are_recorded_and_restored(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'mesh.db'}"
    clock = VirtualClock()
    start = datetime.fromtimestamp(clock.time(), UTC) + timedelta(minutes=5)

    def make() -> Mesh:
        mesh = Mesh(storage=storage, clock=clock, telemetry=Telemetry(enabled=False))
        mesh.queue("ticks")
        return mesh

    first = make()
    async with first:
        await aws(
            first,
            "scheduler",
            "CreateSchedule",
            **schedule("tick", QUEUE_ARN + "ticks", StartDate=start, target={"Input": '{"n": 1}'}),
        )
    second = make()
    async with second:
        assert ("scheduler.schedule", "default/tick") in await catalog.restore(second)
        got = await aws(second, "scheduler", "GetSchedule", Name="tick")
        assert got["StartDate"] == start
        await clock.advance(5 * 60 + 1)  # the first fire is at StartDate
        messages = await second.queue("ticks").receive(10)
    assert [json.loads(message.body) for message in messages] == [{"n": 1}]


async def test_context_attributes_and_end_date(mesh: Mesh, clock: VirtualClock) -> None:
    """Scheduler replaces <aws.scheduler.*> in Input at each invocation; no tick fires at or
    after EndDate."""
    end = datetime.fromtimestamp(clock.time(), UTC) + timedelta(minutes=2)
    async with mesh:
        queue = mesh.queue("ticks")
        await aws(
            mesh,
            "scheduler",
            "CreateSchedule",
            **schedule(
                "ctx",
                QUEUE_ARN + "ticks",
                EndDate=end,
                target={
                    "Input": '{"arn": "<aws.scheduler.schedule-arn>", '
                    '"at": "<aws.scheduler.scheduled-time>", '
                    '"n": "<aws.scheduler.attempt-number>"}'
                },
            ),
        )
        await clock.advance(5 * 60)
        messages = await queue.receive(10)
    assert [json.loads(message.body) for message in messages] == [
        {
            "arn": f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule/default/ctx",
            "at": "2026-01-01T00:01:00Z",
            "n": "1",
        }
    ]  # 00:02 is the EndDate: no tick then
