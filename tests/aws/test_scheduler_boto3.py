"""EventBridge Scheduler through boto3 against the endpoint on a free loopback port: create,
get, delete, AWS's errors, and a one-time schedule firing on the endpoint's real clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from eventmesh import Mesh, Telemetry

ACCOUNT = "123456789012"
QUEUE_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:ticks"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/scheduler"

Client = Callable[..., Any]  # conftest's aws_client: awaited boto3 clients


@pytest.fixture
def aws_mesh() -> Mesh:
    mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    mesh.queue("ticks")
    return mesh


def error_of(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = caught.value.response
    error = response["Error"]
    return error["Code"], error.get("Message", ""), response["ResponseMetadata"]["HTTPStatusCode"]


async def test_create_get_delete(aws_client: Client) -> None:
    scheduler = aws_client("scheduler")
    created = await scheduler.create_schedule(
        Name="nightly",
        ScheduleExpression="cron(0 2 * * ? *)",
        ScheduleExpressionTimezone="Europe/Paris",
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10},
        Target={
            "Arn": QUEUE_ARN,
            "RoleArn": ROLE,
            "Input": "run",
            "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 600},
        },
        Description="every night",
    )
    arn = f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule/default/nightly"
    assert created["ScheduleArn"] == arn
    got = await scheduler.get_schedule(Name="nightly")
    assert got["Arn"] == arn
    assert got["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert got["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert got["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10}
    assert got["State"] == "ENABLED"
    assert got["Target"]["RetryPolicy"] == {
        "MaximumRetryAttempts": 3,
        "MaximumEventAgeInSeconds": 600,
    }
    assert isinstance(got["CreationDate"], datetime)
    with pytest.raises(ClientError) as twice:
        await scheduler.create_schedule(
            Name="nightly",
            ScheduleExpression="rate(1 hour)",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": QUEUE_ARN, "RoleArn": ROLE},
        )
    assert error_of(twice) == ("ConflictException", "Schedule nightly already exists.", 409)
    await scheduler.delete_schedule(Name="nightly")
    with pytest.raises(ClientError) as gone:
        await scheduler.get_schedule(Name="nightly")
    assert error_of(gone) == ("ResourceNotFoundException", "Schedule nightly does not exist.", 404)
    with pytest.raises(ClientError) as bad:
        await scheduler.create_schedule(
            Name="bad",
            ScheduleExpression="rate(0 minutes)",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": QUEUE_ARN, "RoleArn": ROLE},
        )
    assert error_of(bad)[0::2] == ("ValidationException", 400)


async def test_a_one_time_schedule_fires(aws_client: Client, aws_mesh: Mesh) -> None:
    scheduler = aws_client("scheduler")
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    await scheduler.create_schedule(
        Name="soon",
        ScheduleExpression=f"at({when.strftime('%Y-%m-%dT%H:%M:%S')})",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": QUEUE_ARN, "RoleArn": ROLE, "Input": '{"hello": "mesh"}'},
    )
    queue = aws_mesh.queue("ticks")
    messages = await queue.receive(1, wait=10)
    assert [message.body for message in messages] == ['{"hello": "mesh"}']
    assert datetime.now(UTC) >= when
    await asyncio.sleep(0)
