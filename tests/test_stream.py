"""The Stream resource: Kinesis Data Streams' shards, sequence numbers, iterators, retention.

Expected values come from Kinesis's rules, written by hand: a partition key's shard is found
here from the MD5 hash-range arithmetic with hashlib, never by asking the code under test.
Time is a VirtualClock starting at 2026-01-01T00:00:00Z.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from eventmesh import ConfigurationError, Mesh, PayloadError, ResourceNotFoundError, Telemetry
from eventmesh.resources.stream import Shard, ShardIterator, Stream, create_stream
from eventmesh.testing import VirtualClock

T0 = 1_767_225_600.0
KEYS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "user-42", "🙂"]


def expected_shard(key: str, shards: int) -> str:
    """Kinesis: the key's MD5 as a 128-bit integer, in shards that split 0..2**128-1 evenly."""
    hash_key = int(hashlib.md5(key.encode()).hexdigest(), 16)
    width = 2**128 // shards
    return f"shardId-{min(hash_key // width, shards - 1):012d}"


async def read_all(stream: Stream, iterator: ShardIterator) -> list[bytes]:
    result = await stream.get_records(iterator)
    return [record.data for record in result.records]


# -- creation --------------------------------------------------------------------------------
def test_defaults_and_arn(mesh: Mesh) -> None:
    stream = create_stream(mesh.context, "clicks")
    assert stream.shard_ids == ["shardId-000000000000"]
    assert stream.retention == 86400
    assert stream.arn == "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"
    assert create_stream(mesh.context, "clicks") is stream


def test_shards_split_the_hash_key_range_as_kinesis_does(mesh: Mesh) -> None:
    # The ranges Kinesis reports for a new three-shard stream.
    stream = create_stream(mesh.context, "three", shards=3)
    assert stream.shards == (
        Shard("shardId-000000000000", 0, 113427455640312821154458202477256070484),
        Shard(
            "shardId-000000000001",
            113427455640312821154458202477256070485,
            226854911280625642308916404954512140969,
        ),
        Shard(
            "shardId-000000000002",
            226854911280625642308916404954512140970,
            340282366920938463463374607431768211455,
        ),
    )


@pytest.mark.parametrize(
    "settings",
    [
        {"shards": 0},
        {"shards": 501},
        {"shards": 1.5},
        {"retention": 86399},
        {"retention": 31_536_001},
        {"retention": "1d"},
    ],
)
def test_invalid_settings(mesh: Mesh, settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        create_stream(mesh.context, "bad", **settings)


def test_invalid_name(mesh: Mesh) -> None:
    with pytest.raises(ConfigurationError):
        create_stream(mesh.context, "no spaces")
    with pytest.raises(ConfigurationError):
        create_stream(mesh.context, "x" * 129)


# -- producing -------------------------------------------------------------------------------
@pytest.mark.parametrize("shards", [1, 2, 3, 4, 7])
async def test_partition_key_md5_picks_the_shard(mesh: Mesh, shards: int) -> None:
    stream = create_stream(mesh.context, f"s{shards}", shards=shards)
    for key in KEYS:
        result = await stream.put_record(b"x", key)
        assert result.shard_id == expected_shard(key, shards), key
        assert stream.shard_for(key) == expected_shard(key, shards)


async def test_explicit_hash_key_overrides_the_partition_key(mesh: Mesh) -> None:
    stream = create_stream(mesh.context, "s", shards=4)
    quarter = 2**128 // 4
    first = await stream.put_record(b"x", "k", explicit_hash_key=0)
    assert first.shard_id == "shardId-000000000000"
    last = await stream.put_record(b"x", "k", explicit_hash_key=str(2**128 - 1))
    assert last.shard_id == "shardId-000000000003"
    edge = await stream.put_record(b"x", "k", explicit_hash_key=2 * quarter)
    assert edge.shard_id == "shardId-000000000002"
    with pytest.raises(PayloadError):
        await stream.put_record(b"x", "k", explicit_hash_key=2**128)


async def test_sequence_numbers_are_big_increasing_decimal_strings(mesh: Mesh) -> None:
    stream = create_stream(mesh.context, "s", shards=2)
    numbers = [(await stream.put_record(f"{i}", "same-key")).sequence_number for i in range(12)]
    for number in numbers:
        assert isinstance(number, str) and number.isdigit() and len(number) == 56
    assert [int(n) for n in numbers] == sorted(int(n) for n in numbers)
    assert len(set(numbers)) == 12
    assert numbers == sorted(numbers)  # string order is numeric order (9 < 10 included)
    assert int(numbers[11]) - int(numbers[0]) == 11


async def test_sequence_numbers_differ_across_shards(mesh: Mesh) -> None:
    stream = create_stream(mesh.context, "s", shards=4)
    keys = {expected_shard(key, 4): key for key in KEYS}
    assert len(keys) >= 2
    numbers = [(await stream.put_record(b"x", key)).sequence_number for key in keys.values()]
    assert len(set(numbers)) == len(numbers)


async def test_put_records_returns_shard_and_sequence_in_request_order(mesh: Mesh) -> None:
    stream = create_stream(mesh.context, "s", shards=3)
    entries = [{"data": f"r{i}", "partition_key": key} for i, key in enumerate(KEYS)]
    results = await stream.put_records(entries)
    assert [r.shard_id for r in results] == [expected_shard(key, 3) for key in KEYS]
    for shard_id in stream.shard_ids:
        numbers = [r.sequence_number for r in results if r.shard_id == shard_id]
        assert numbers == sorted(numbers)
        iterator = await stream.get_shard_iterator(shard_id, "TRIM_HORIZON")
        expected = [f"r{i}".encode() for i, r in enumerate(results) if r.shard_id == shard_id]
        assert await read_all(stream, iterator) == expected


async def test_put_records_limits(mesh: Mesh) -> None:
    stream = create_stream(mesh.context, "s")
    with pytest.raises(PayloadError):
        await stream.put_records([])
    with pytest.raises(PayloadError):
        await stream.put_records([{"data": b"x", "partition_key": "k"}] * 501)
    big = {"data": b"x" * (1024 * 1024 - 1), "partition_key": "k"}
    with pytest.raises(PayloadError):  # 6 records of 1 MiB: over 5 MiB
        await stream.put_records([big] * 6)
    # An invalid entry rejects the whole call: nothing was stored.
    with pytest.raises(PayloadError):
        await stream.put_records([{"data": b"ok", "partition_key": "k"}, {"data": b"x"}])
    iterator = await stream.get_shard_iterator("shardId-000000000000", "TRIM_HORIZON")
    assert await read_all(stream, iterator) == []


async def test_data_is_stored_as_bytes(mesh: Mesh) -> None:
    stream = create_stream(mesh.context, "s")
    iterator = await stream.get_shard_iterator("shardId-000000000000", "LATEST")
    await stream.put_record(b"\x00\xff", "k")
    await stream.put_record("héllo", "k")
    await stream.put_record({"id": 1, "tags": ["a"]}, "k")
    await stream.put_record(bytearray(b"ba"), "k")
    assert await read_all(stream, iterator) == [
        b"\x00\xff",
        "héllo".encode(),
        b'{"id":1,"tags":["a"]}',
        b"ba",
    ]


async def test_invalid_records(mesh: Mesh) -> None:
    stream = create_stream(mesh.context, "s")
    with pytest.raises(PayloadError):
        await stream.put_record(object(), "k")
    with pytest.raises(PayloadError):
        await stream.put_record(b"x", "")
    with pytest.raises(PayloadError):
        await stream.put_record(b"x", "k" * 257)
    await stream.put_record(b"x", "k" * 256)
    # 1 MiB counts the data and the partition key together.
    with pytest.raises(PayloadError):
        await stream.put_record(b"x" * (1024 * 1024 - 1), "kk")
    await stream.put_record(b"x" * (1024 * 1024 - 2), "kk")


async def test_producer_trace_context_travels_with_the_record(clock: VirtualClock) -> None:
    provider = TracerProvider()
    mesh = Mesh(clock=clock, telemetry=Telemetry(provider))
    stream = create_stream(mesh.context, "s")
    tracer = provider.get_tracer("test")
    async with mesh:  # tracing is decided when the mesh starts
        with tracer.start_as_current_span("produce") as span:
            await stream.put_record(b"x", "k")
    iterator = await stream.get_shard_iterator("shardId-000000000000", "TRIM_HORIZON")
    (record,) = (await stream.get_records(iterator)).records
    trace_id = f"{span.get_span_context().trace_id:032x}"
    assert trace_id in record.trace_context["traceparent"]


async def test_stream_is_a_destination(mesh: Mesh) -> None:
    stream = create_stream(mesh.context, "s")
    await stream.send({"failed": True})
    iterator = await stream.get_shard_iterator("shardId-000000000000", "TRIM_HORIZON")
    assert await read_all(stream, iterator) == [b'{"failed":true}']


# -- iterators -------------------------------------------------------------------------------
async def test_iterator_types(mesh: Mesh, clock: VirtualClock) -> None:
    stream = create_stream(mesh.context, "s")
    shard = "shardId-000000000000"
    first = await stream.put_record(b"a", "k")
    await clock.advance(10)
    second = await stream.put_record(b"b", "k")
    latest = await stream.get_shard_iterator(shard, "LATEST")
    await clock.advance(10)
    await stream.put_record(b"c", "k")

    async def data(kind: str, **args: Any) -> list[bytes]:
        return await read_all(stream, await stream.get_shard_iterator(shard, kind, **args))

    assert await data("TRIM_HORIZON") == [b"a", b"b", b"c"]
    assert await read_all(stream, latest) == [b"c"]
    assert await data("LATEST") == []
    assert await data("AT_SEQUENCE_NUMBER", sequence_number=second.sequence_number) == [
        b"b",
        b"c",
    ]
    assert await data("AFTER_SEQUENCE_NUMBER", sequence_number=first.sequence_number) == [
        b"b",
        b"c",
    ]
    assert await data("AT_TIMESTAMP", timestamp=T0 + 10) == [b"b", b"c"]
    assert await data("AT_TIMESTAMP", timestamp=T0 + 5) == [b"b", b"c"]
    assert await data("AT_TIMESTAMP", timestamp=datetime.fromtimestamp(T0, UTC)) == [
        b"a",
        b"b",
        b"c",
    ]
    assert await data("AT_TIMESTAMP", timestamp=T0 + 21) == []


async def test_get_records_pages_with_the_next_iterator(mesh: Mesh, clock: VirtualClock) -> None:
    stream = create_stream(mesh.context, "s")
    shard = "shardId-000000000000"
    for letter in "abcde":
        await stream.put_record(letter, "k")
    await clock.advance(3)
    page = await stream.get_records(await stream.get_shard_iterator(shard, "TRIM_HORIZON"), 2)
    assert [r.data for r in page.records] == [b"a", b"b"]
    assert page.millis_behind_latest == 3000  # the last record returned arrived 3 s ago
    page = await stream.get_records(page.next_shard_iterator, 2)
    assert [r.data for r in page.records] == [b"c", b"d"]
    page = await stream.get_records(page.next_shard_iterator, 2)
    assert [r.data for r in page.records] == [b"e"]
    assert page.millis_behind_latest == 0
    empty = await stream.get_records(page.next_shard_iterator)
    assert empty.records == [] and empty.millis_behind_latest == 0
    await stream.put_record("f", "k")
    later = await stream.get_records(empty.next_shard_iterator)
    assert [r.data for r in later.records] == [b"f"]


async def test_records_carry_kinesis_fields(mesh: Mesh) -> None:
    stream = create_stream(mesh.context, "s")
    put = await stream.put_record({"n": 1}, "user-1")
    iterator = await stream.get_shard_iterator("shardId-000000000000", "TRIM_HORIZON")
    (record,) = (await stream.get_records(iterator)).records
    assert record.shard_id == put.shard_id
    assert record.sequence_number == put.sequence_number
    assert record.partition_key == "user-1"
    assert record.approximate_arrival_timestamp == T0
    assert record.json() == {"n": 1}


async def test_invalid_iterator_requests(mesh: Mesh) -> None:
    stream = create_stream(mesh.context, "s", shards=2)
    zero, one = stream.shard_ids
    keys = {expected_shard(key, 2): key for key in KEYS}
    on_one = await stream.put_record(b"x", keys[one])
    with pytest.raises(ResourceNotFoundError):
        await stream.get_shard_iterator("shardId-000000000009", "LATEST")
    with pytest.raises(ConfigurationError):
        await stream.get_shard_iterator(zero, "OLDEST")
    with pytest.raises(ConfigurationError):  # a sequence number of another shard
        await stream.get_shard_iterator(
            zero, "AT_SEQUENCE_NUMBER", sequence_number=on_one.sequence_number
        )
    with pytest.raises(ConfigurationError):
        await stream.get_shard_iterator(one, "AT_SEQUENCE_NUMBER", sequence_number="12")
    with pytest.raises(ConfigurationError):  # beyond the newest record
        beyond = str(int(on_one.sequence_number) + 1)
        await stream.get_shard_iterator(one, "AT_SEQUENCE_NUMBER", sequence_number=beyond)
    with pytest.raises(ConfigurationError):
        await stream.get_shard_iterator(one, "AT_SEQUENCE_NUMBER")
    with pytest.raises(ConfigurationError):
        await stream.get_shard_iterator(one, "LATEST", timestamp=T0)
    iterator = await stream.get_shard_iterator(one, "TRIM_HORIZON")
    for limit in (0, 10_001):
        with pytest.raises(ConfigurationError):
            await stream.get_records(iterator, limit)
    other = create_stream(mesh.context, "other", shards=2)
    with pytest.raises(ConfigurationError):
        await other.get_records(iterator)


# -- retention -------------------------------------------------------------------------------
async def test_records_older_than_the_retention_are_trimmed(
    mesh: Mesh, clock: VirtualClock
) -> None:
    stream = create_stream(mesh.context, "s")
    shard = "shardId-000000000000"
    old = await stream.get_shard_iterator(shard, "TRIM_HORIZON")
    await stream.put_record(b"first", "k")
    await clock.advance(3600)
    await stream.put_record(b"second", "k")
    await clock.advance(86400 - 3600)  # the first record is exactly 24 h old: still kept
    assert await read_all(stream, await stream.get_shard_iterator(shard, "TRIM_HORIZON")) == [
        b"first",
        b"second",
    ]
    await clock.advance(1)
    assert await read_all(stream, await stream.get_shard_iterator(shard, "TRIM_HORIZON")) == [
        b"second"
    ]
    assert await read_all(stream, old) == [b"second"]  # an old iterator reads what is left
    await clock.advance(3600)
    assert await read_all(stream, old) == []


async def test_a_longer_retention_keeps_records_longer(mesh: Mesh, clock: VirtualClock) -> None:
    stream = create_stream(mesh.context, "week", retention=7 * 86400)
    shard = "shardId-000000000000"
    await stream.put_record(b"kept", "k")
    await clock.advance(6 * 86400)
    await stream.put_record(b"newer", "k")
    assert await read_all(stream, await stream.get_shard_iterator(shard, "TRIM_HORIZON")) == [
        b"kept",
        b"newer",
    ]
    await clock.advance(86400 + 1)
    assert await read_all(stream, await stream.get_shard_iterator(shard, "TRIM_HORIZON")) == [
        b"newer"
    ]
