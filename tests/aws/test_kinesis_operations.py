"""Kinesis's operations on the mesh's streams, called as the endpoint calls them (handlers
directly, virtual clock): streams, shards, puts, shard iterators and reads."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from stream_calls import ACCOUNT, aws, refused

from eventmesh import Mesh, Telemetry
from eventmesh.aws import catalog
from eventmesh.resources.stream import Stream
from eventmesh.testing import VirtualClock

STREAM_ARN = f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/"
TOP = str(2**128 - 1)  # 340282366920938463463374607431768211455


async def test_create_describe_and_list_shards(mesh: Mesh, clock: VirtualClock) -> None:
    async with mesh:
        assert await aws(mesh, "kinesis", "CreateStream", StreamName="clicks", ShardCount=2) == {}
        summary = (await aws(mesh, "kinesis", "DescribeStreamSummary", StreamName="clicks"))[
            "StreamDescriptionSummary"
        ]
        assert summary["StreamARN"] == STREAM_ARN + "clicks"
        assert summary["StreamStatus"] == "ACTIVE"
        assert summary["RetentionPeriodHours"] == 24
        assert summary["OpenShardCount"] == 2
        assert summary["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
        assert summary["StreamCreationTimestamp"] == datetime.fromtimestamp(clock.time(), UTC)
        shards = (await aws(mesh, "kinesis", "ListShards", StreamARN=STREAM_ARN + "clicks"))[
            "Shards"
        ]
        assert [shard["ShardId"] for shard in shards] == [
            "shardId-000000000000",
            "shardId-000000000001",
        ]
        assert shards[0]["HashKeyRange"] == {
            "StartingHashKey": "0",
            "EndingHashKey": "170141183460469231731687303715884105727",
        }
        assert shards[1]["HashKeyRange"] == {
            "StartingHashKey": "170141183460469231731687303715884105728",
            "EndingHashKey": TOP,
        }
        paged = await aws(mesh, "kinesis", "ListShards", StreamName="clicks", MaxResults=1)
        assert len(paged["Shards"]) == 1
        rest = await aws(mesh, "kinesis", "ListShards", NextToken=paged["NextToken"])
        assert [shard["ShardId"] for shard in rest["Shards"]] == ["shardId-000000000001"]
        assert "NextToken" not in rest
        await aws(
            mesh,
            "kinesis",
            "CreateStream",
            StreamName="auto",
            StreamModeDetails={"StreamMode": "ON_DEMAND"},
        )
        auto = await aws(mesh, "kinesis", "DescribeStreamSummary", StreamName="auto")
        assert auto["StreamDescriptionSummary"]["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
        assert auto["StreamDescriptionSummary"]["OpenShardCount"] == 4


async def test_stream_errors(mesh: Mesh) -> None:
    async with mesh:
        await aws(mesh, "kinesis", "CreateStream", StreamName="clicks", ShardCount=1)
        again = await refused(mesh, "kinesis", "CreateStream", StreamName="clicks", ShardCount=1)
        assert (again.code, again.message) == (
            "ResourceInUseException",
            f"Stream clicks under account {ACCOUNT} already exists.",
        )
        missing = await refused(mesh, "kinesis", "DescribeStreamSummary", StreamName="ghost")
        assert (missing.code, missing.message) == (
            "ResourceNotFoundException",
            f"Stream ghost under account {ACCOUNT} not found.",
        )
        put = await refused(
            mesh, "kinesis", "PutRecord", StreamName="ghost", Data=b"x", PartitionKey="k"
        )
        assert put.code == "ResourceNotFoundException"
        shard = await refused(
            mesh,
            "kinesis",
            "GetShardIterator",
            StreamName="clicks",
            ShardId="shardId-000000000009",
            ShardIteratorType="LATEST",
        )
        assert shard.code == "ResourceNotFoundException"
        garbage = await refused(mesh, "kinesis", "GetRecords", ShardIterator="not-an-iterator")
        assert garbage.code == "InvalidArgumentException"
        number = await refused(
            mesh,
            "kinesis",
            "GetShardIterator",
            StreamName="clicks",
            ShardId="shardId-000000000000",
            ShardIteratorType="AT_SEQUENCE_NUMBER",
        )
        assert number.code == "InvalidArgumentException"


async def iterator(mesh: Mesh, kind: str, **params: object) -> str:
    answer = await aws(
        mesh,
        "kinesis",
        "GetShardIterator",
        StreamName="clicks",
        ShardId="shardId-000000000000",
        ShardIteratorType=kind,
        **params,
    )
    return str(answer["ShardIterator"])


async def test_put_records_and_read_them_back(mesh: Mesh, clock: VirtualClock) -> None:
    async with mesh:
        await aws(mesh, "kinesis", "CreateStream", StreamName="clicks", ShardCount=1)
        one = await aws(
            mesh, "kinesis", "PutRecord", StreamName="clicks", Data=b"first", PartitionKey="a"
        )
        assert one["ShardId"] == "shardId-000000000000"
        assert len(one["SequenceNumber"]) == 56
        put = await aws(
            mesh,
            "kinesis",
            "PutRecords",
            StreamName="clicks",
            Records=[
                {"Data": b"second", "PartitionKey": "b"},
                {"Data": b"third", "PartitionKey": "c"},
            ],
        )
        assert put["FailedRecordCount"] == 0
        numbers = [one["SequenceNumber"]] + [record["SequenceNumber"] for record in put["Records"]]
        assert numbers == sorted(numbers)
        start = await iterator(mesh, "TRIM_HORIZON")
        read = await aws(mesh, "kinesis", "GetRecords", ShardIterator=start, Limit=2)
        assert [record["Data"] for record in read["Records"]] == [b"first", b"second"]
        assert [record["PartitionKey"] for record in read["Records"]] == ["a", "b"]
        assert read["Records"][0]["ApproximateArrivalTimestamp"] == datetime.fromtimestamp(
            clock.time(), UTC
        )
        rest = await aws(mesh, "kinesis", "GetRecords", ShardIterator=read["NextShardIterator"])
        assert [record["Data"] for record in rest["Records"]] == [b"third"]
        assert rest["MillisBehindLatest"] == 0
        after = await iterator(mesh, "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=numbers[0])
        assert [
            r["Data"]
            for r in (await aws(mesh, "kinesis", "GetRecords", ShardIterator=after))["Records"]
        ] == [
            b"second",
            b"third",
        ]
        at = await iterator(mesh, "AT_SEQUENCE_NUMBER", StartingSequenceNumber=numbers[2])
        assert [
            r["Data"]
            for r in (await aws(mesh, "kinesis", "GetRecords", ShardIterator=at))["Records"]
        ] == [b"third"]
        latest = await iterator(mesh, "LATEST")
        assert (await aws(mesh, "kinesis", "GetRecords", ShardIterator=latest))["Records"] == []
        await clock.advance(10)
        moment = datetime.fromtimestamp(clock.time(), UTC)
        await aws(
            mesh, "kinesis", "PutRecord", StreamName="clicks", Data=b"later", PartitionKey="a"
        )
        stamped = await iterator(mesh, "AT_TIMESTAMP", Timestamp=moment)
        assert [
            r["Data"]
            for r in (await aws(mesh, "kinesis", "GetRecords", ShardIterator=stamped))["Records"]
        ] == [b"later"]


async def test_explicit_hash_key_picks_the_shard(mesh: Mesh) -> None:
    async with mesh:
        await aws(mesh, "kinesis", "CreateStream", StreamName="clicks", ShardCount=2)
        low = await aws(
            mesh,
            "kinesis",
            "PutRecord",
            StreamName="clicks",
            Data=b"x",
            PartitionKey="k",
            ExplicitHashKey="0",
        )
        high = await aws(
            mesh,
            "kinesis",
            "PutRecord",
            StreamName="clicks",
            Data=b"x",
            PartitionKey="k",
            ExplicitHashKey=TOP,
            SequenceNumberForOrdering=low["SequenceNumber"],
        )
        assert (low["ShardId"], high["ShardId"]) == ("shardId-000000000000", "shardId-000000000001")
        bad = await refused(
            mesh,
            "kinesis",
            "PutRecord",
            StreamName="clicks",
            Data=b"x",
            PartitionKey="k",
            ExplicitHashKey=str(2**128),
        )
        assert bad.code == "InvalidArgumentException"
        no_key = await refused(mesh, "kinesis", "PutRecord", StreamName="clicks", Data=b"x")
        assert no_key.code == "ValidationException"


async def test_shard_iterators_expire_after_five_minutes(mesh: Mesh, clock: VirtualClock) -> None:
    async with mesh:
        await aws(mesh, "kinesis", "CreateStream", StreamName="clicks", ShardCount=1)
        fresh = await iterator(mesh, "TRIM_HORIZON")
        await clock.advance(299)
        assert (await aws(mesh, "kinesis", "GetRecords", ShardIterator=fresh))["Records"] == []
        old = await iterator(mesh, "TRIM_HORIZON")
        await clock.advance(301)
        expired = await refused(mesh, "kinesis", "GetRecords", ShardIterator=old)
        assert expired.code == "ExpiredIteratorException"
        assert expired.message.startswith("Iterator expired.")


async def test_a_full_shard_fails_its_own_records(clock: VirtualClock) -> None:
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=1.0, max_pending=2)
    async with mesh:
        await aws(mesh, "kinesis", "CreateStream", StreamName="clicks", ShardCount=2)
        stream = mesh.context.find_resource("clicks")
        assert isinstance(stream, Stream)
        keys: dict[str, str] = {}
        for number in range(100):
            keys.setdefault(stream.shard_for(f"k{number}"), f"k{number}")
        full, free = keys["shardId-000000000000"], keys["shardId-000000000001"]
        for _ in range(2):
            await aws(
                mesh, "kinesis", "PutRecord", StreamName="clicks", Data=b"x", PartitionKey=full
            )
        call = asyncio.ensure_future(
            aws(
                mesh,
                "kinesis",
                "PutRecords",
                StreamName="clicks",
                Records=[
                    {"Data": b"a", "PartitionKey": full},
                    {"Data": b"b", "PartitionKey": free},
                ],
            )
        )
        await clock.advance(6)
        answer = await call
    assert answer["FailedRecordCount"] == 1
    failed, stored = answer["Records"]
    assert failed["ErrorCode"] == "ProvisionedThroughputExceededException"
    assert failed["ErrorMessage"] == (
        f"Rate exceeded for shard shardId-000000000000 in stream clicks under account {ACCOUNT}."
    )
    assert stored["ShardId"] == "shardId-000000000001"


async def test_streams_are_recorded_and_restored(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'mesh.db'}"
    first = Mesh(storage=storage, clock=VirtualClock(), telemetry=Telemetry(enabled=False))
    async with first:
        await aws(first, "kinesis", "CreateStream", StreamName="clicks", ShardCount=3)
        await aws(
            first, "kinesis", "PutRecord", StreamName="clicks", Data=b"kept", PartitionKey="a"
        )
    second = Mesh(storage=storage, clock=VirtualClock(), telemetry=Telemetry(enabled=False))
    async with second:
        assert ("kinesis.stream", "clicks") in await catalog.restore(second)
        shards = (await aws(second, "kinesis", "ListShards", StreamName="clicks"))["Shards"]
        assert len(shards) == 3
    third = Mesh(storage=storage, clock=VirtualClock(), telemetry=Telemetry(enabled=False))
    async with third:  # found when a call names it
        summary = await aws(third, "kinesis", "DescribeStreamSummary", StreamName="clicks")
        assert summary["StreamDescriptionSummary"]["OpenShardCount"] == 3
        again = await refused(third, "kinesis", "CreateStream", StreamName="clicks", ShardCount=1)
        assert again.code == "ResourceInUseException"


async def test_get_records_limit_out_of_range_says_which_bound(mesh: Mesh) -> None:
    async with mesh:
        await aws(mesh, "kinesis", "CreateStream", StreamName="clicks", ShardCount=1)
        start = await iterator(mesh, "TRIM_HORIZON")
        low = await refused(mesh, "kinesis", "GetRecords", ShardIterator=start, Limit=0)
        assert (low.code, low.message) == (
            "ValidationException",
            "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
            "Member must have value greater than or equal to 1",
        )
        high = await refused(mesh, "kinesis", "GetRecords", ShardIterator=start, Limit=10001)
        assert high.message.endswith("Member must have value less than or equal to 10000")
