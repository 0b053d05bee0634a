"""EventBridge and Kinesis through boto3 against the endpoint on a free loopback port: every
operation, with AWS's documented answers and error codes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from eventmesh import Mesh, Telemetry

ACCOUNT = "123456789012"
PATTERN = json.dumps({"source": ["shop.orders"], "detail-type": ["OrderPlaced"]})
ENTRY = {"Source": "shop.orders", "DetailType": "OrderPlaced", "Detail": '{"id": 7}'}

Client = Callable[..., Any]  # conftest's aws_client: awaited boto3 clients


def error_of(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = caught.value.response["Error"]
    return error["Code"], error.get("Message", "")


@pytest.fixture
def seen() -> list[Any]:
    """The events the function ``audit`` was invoked with."""
    return []


@pytest.fixture
def aws_mesh(seen: list[Any]) -> Mesh:
    mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)

    @mesh.function(name="audit")
    async def audit(event: Any, context: Any) -> None:
        seen.append(event)

    return mesh


async def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the condition never held")


async def test_put_events_to_a_function_through_a_rule(aws_client: Client, seen: list[Any]) -> None:
    events = aws_client("events")
    rule = await events.put_rule(Name="orders", EventPattern=PATTERN, Description="all orders")
    assert rule["RuleArn"] == f"arn:aws:events:us-east-1:{ACCOUNT}:rule/orders"
    put = await events.put_targets(
        Rule="orders",
        Targets=[
            {
                "Id": "audit",
                "Arn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:audit",
                "InputPath": "$.detail",
            }
        ],
    )
    assert (put["FailedEntryCount"], put["FailedEntries"]) == (0, [])
    answer = await events.put_events(
        Entries=[ENTRY, {"Source": "shop.orders", "DetailType": "OrderPlaced"}]
    )
    assert answer["FailedEntryCount"] == 1
    assert "EventId" in answer["Entries"][0]
    assert answer["Entries"][1]["ErrorCode"] == "InvalidArgument"
    await wait_for(lambda: len(seen) == 1)
    assert seen == [{"id": 7}]


async def test_rules_and_targets(aws_client: Client) -> None:
    events = aws_client("events")
    sqs_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:"
    await events.put_rule(Name="orders-a", EventPattern=PATTERN)
    await events.put_rule(Name="orders-b", EventPattern=PATTERN, State="DISABLED")
    await events.put_rule(Name="other", ScheduleExpression="rate(1 hour)")
    described = await events.describe_rule(Name="orders-b")
    assert described["State"] == "DISABLED"
    assert described["Arn"] == f"arn:aws:events:us-east-1:{ACCOUNT}:rule/orders-b"
    listed = await events.list_rules(NamePrefix="orders")
    assert [rule["Name"] for rule in listed["Rules"]] == ["orders-a", "orders-b"]
    scheduled = (await events.list_rules(NamePrefix="other"))["Rules"][0]
    assert scheduled["ScheduleExpression"] == "rate(1 hour)"
    function = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:audit"
    await events.put_targets(
        Rule="orders-a",
        Targets=[
            {"Id": "one", "Arn": function, "Input": '{"fixed": true}'},
            {
                "Id": "two",
                "Arn": function,
                "InputTransformer": {
                    "InputPathsMap": {"kind": "$.detail-type"},
                    "InputTemplate": '{"kind": <kind>}',
                },
                "RetryPolicy": {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60},
            },
        ],
    )
    targets = (await events.list_targets_by_rule(Rule="orders-a"))["Targets"]
    assert [target["Id"] for target in targets] == ["one", "two"]
    assert targets[1]["RetryPolicy"] == {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60}
    with pytest.raises(ClientError) as held:
        await events.delete_rule(Name="orders-a")
    assert error_of(held) == ("ValidationException", "Rule can't be deleted since it has targets.")
    removed = await events.remove_targets(Rule="orders-a", Ids=["one", "two"])
    assert removed["FailedEntryCount"] == 0
    await events.delete_rule(Name="orders-a")
    with pytest.raises(ClientError) as gone:
        await events.describe_rule(Name="orders-a")
    assert error_of(gone)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as ghost:
        await events.put_targets(Rule="orders-b", Targets=[{"Id": "q", "Arn": sqs_arn + "ghost"}])
    assert error_of(ghost)[0] == "ValidationException"
    with pytest.raises(ClientError) as pattern:
        await events.put_rule(Name="bad", EventPattern='{"source": "not a list"}')
    assert error_of(pattern)[0] == "InvalidEventPatternException"


async def test_test_event_pattern_and_buses(aws_client: Client) -> None:
    events = aws_client("events")
    event = {
        "id": "e1",
        "account": ACCOUNT,
        "source": "shop.orders",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail-type": "OrderPlaced",
        "detail": {},
    }
    matched = await events.test_event_pattern(EventPattern=PATTERN, Event=json.dumps(event))
    assert matched["Result"] is True
    other = await events.test_event_pattern(
        EventPattern=PATTERN, Event=json.dumps({**event, "source": "elsewhere"})
    )
    assert other["Result"] is False
    created = await events.create_event_bus(Name="orders")
    assert created["EventBusArn"] == f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/orders"
    with pytest.raises(ClientError) as twice:
        await events.create_event_bus(Name="orders")
    assert error_of(twice) == ("ResourceAlreadyExistsException", "Event bus orders already exists.")
    with pytest.raises(ClientError) as missing:
        await events.list_rules(EventBusName="ghost")
    assert error_of(missing) == ("ResourceNotFoundException", "Event bus ghost does not exist.")
    answer = await events.put_events(Entries=[{**ENTRY, "EventBusName": "orders"}])
    assert answer["FailedEntryCount"] == 0


async def test_kinesis_round_trip(aws_client: Client) -> None:
    kinesis = aws_client("kinesis")
    await kinesis.create_stream(StreamName="clicks", ShardCount=2)
    summary = (await kinesis.describe_stream_summary(StreamName="clicks"))[
        "StreamDescriptionSummary"
    ]
    assert summary["StreamStatus"] == "ACTIVE"
    assert summary["OpenShardCount"] == 2
    assert summary["RetentionPeriodHours"] == 24
    assert isinstance(summary["StreamCreationTimestamp"], datetime)
    shards = (await kinesis.list_shards(StreamName="clicks"))["Shards"]
    assert shards[-1]["HashKeyRange"]["EndingHashKey"] == str(2**128 - 1)
    one = await kinesis.put_record(StreamName="clicks", Data=b"\x00first", PartitionKey="user-1")
    put = await kinesis.put_records(
        StreamName="clicks",
        Records=[{"Data": f"r{n}".encode(), "PartitionKey": "user-1"} for n in range(3)],
    )
    assert put["FailedRecordCount"] == 0
    assert {record["ShardId"] for record in put["Records"]} == {one["ShardId"]}
    iterator = (
        await kinesis.get_shard_iterator(
            StreamName="clicks", ShardId=one["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )
    )["ShardIterator"]
    read = await kinesis.get_records(ShardIterator=iterator, Limit=2)
    assert [record["Data"] for record in read["Records"]] == [b"\x00first", b"r0"]
    assert read["Records"][0]["SequenceNumber"] == one["SequenceNumber"]
    arrival = read["Records"][0]["ApproximateArrivalTimestamp"]
    assert abs((datetime.now(UTC) - arrival).total_seconds()) < 60
    rest = await kinesis.get_records(ShardIterator=read["NextShardIterator"])
    assert [record["Data"] for record in rest["Records"]] == [b"r1", b"r2"]
    assert rest["MillisBehindLatest"] == 0
    after = (
        await kinesis.get_shard_iterator(
            StreamName="clicks",
            ShardId=one["ShardId"],
            ShardIteratorType="AFTER_SEQUENCE_NUMBER",
            StartingSequenceNumber=put["Records"][1]["SequenceNumber"],
        )
    )["ShardIterator"]
    assert [r["Data"] for r in (await kinesis.get_records(ShardIterator=after))["Records"]] == [
        b"r2"
    ]


async def test_kinesis_errors(aws_client: Client) -> None:
    kinesis = aws_client("kinesis")
    await kinesis.create_stream(StreamName="clicks", ShardCount=1)
    with pytest.raises(ClientError) as twice:
        await kinesis.create_stream(StreamName="clicks", ShardCount=1)
    assert error_of(twice) == (
        "ResourceInUseException",
        f"Stream clicks under account {ACCOUNT} already exists.",
    )
    with pytest.raises(ClientError) as missing:
        await kinesis.put_record(StreamName="ghost", Data=b"x", PartitionKey="k")
    assert error_of(missing) == (
        "ResourceNotFoundException",
        f"Stream ghost under account {ACCOUNT} not found.",
    )
    with pytest.raises(ClientError) as garbage:
        await kinesis.get_records(ShardIterator="AAAA")
    assert error_of(garbage)[0] == "InvalidArgumentException"
    with pytest.raises(ClientError) as number:
        await kinesis.get_shard_iterator(
            StreamName="clicks",
            ShardId="shardId-000000000000",
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            StartingSequenceNumber="12",
        )
    assert error_of(number)[0] == "InvalidArgumentException"
