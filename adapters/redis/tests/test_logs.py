"""The Redis LogStore against a real Redis: the id mapping, exact trims, long polls."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from eventmesh import BackendError
from eventmesh.backends.protocols import LogRecord, LogStore
from eventmesh_redis.connection import RedisConnection, parse_redis_url
from eventmesh_redis.logs import RedisLogStore, log_key

NOW = 1_800_000_000  # a wall time in seconds, for planted records


@pytest.fixture
async def connection(redis_url: str) -> AsyncIterator[RedisConnection]:
    """A connection with this test's own key prefix (deleted after it)."""
    opened = RedisConnection(redis_url, parse_redis_url(redis_url))
    yield opened
    await opened.close()


@pytest.fixture
async def client(connection: RedisConnection) -> Redis:
    """The connection's raw client, to look at and plant keys."""
    return await connection.client()


@pytest.fixture
def logs(connection: RedisConnection) -> RedisLogStore:
    return RedisLogStore(connection, block_slice=0.5)


async def plant(client: Redis, key: str, sequence: int, arrival: float) -> None:
    """An entry as the store writes it, with an arrival chosen by the test."""
    stamp = str(round(arrival * 1_000_000))
    await client.xadd(key, {"t": stamp, "d": f"r{sequence}", "k": "pk"}, id=f"{sequence}-0")


def sequences(records: list[LogRecord]) -> list[int]:
    return [record.sequence for record in records]


async def test_is_a_log_store(logs: RedisLogStore) -> None:
    assert isinstance(logs, LogStore)


async def test_a_records_stream_id_is_its_sequence_dash_zero(
    logs: RedisLogStore, client: Redis, connection: RedisConnection
) -> None:
    await logs.append("s", "0", [(b"a", "k", {}), (b"b", "k", {"x": "1"})])
    await logs.append("s", "0", [(b"c", "k", {})])
    entries: Any = await client.xrange(log_key(connection, "s", "0"))
    assert [entry_id for entry_id, _ in entries] == [b"1-0", b"2-0", b"3-0"]
    assert entries[1][1][b"a"] == b'{"x":"1"}'
    assert b"a" not in entries[0][1]  # no attributes, no field


async def test_the_key_is_hash_tagged_by_the_stream(connection: RedisConnection) -> None:
    prefix = connection.options.prefix
    assert log_key(connection, "clicks", "shardId-000") == f"{{{prefix}:log:clicks}}:shardId-000"


async def test_arrival_is_the_servers_time_in_microseconds(
    logs: RedisLogStore, client: Redis
) -> None:
    seconds, micros = await client.time()
    stored = await logs.append("s", "0", [(b"a", "k", {})])
    server = seconds + micros / 1_000_000
    assert server <= stored[0].arrival < server + 1
    assert stored == await logs.read("s", "0", 0, 10)


async def test_arrival_never_goes_back_within_a_shard(
    logs: RedisLogStore, client: Redis, connection: RedisConnection
) -> None:
    """A newest record stamped ahead of the server clock (a clock stepped back) is repeated."""
    ahead = float(int(time.time()) + 3600)
    await plant(client, log_key(connection, "s", "0"), 1, ahead)
    stored = await logs.append("s", "0", [(b"a", "k", {})])
    assert (stored[0].sequence, stored[0].arrival) == (2, ahead)


async def test_sequences_continue_after_everything_is_trimmed(
    logs: RedisLogStore, client: Redis, connection: RedisConnection
) -> None:
    """Redis keeps a stream's last id when its entries are gone; the next append follows it."""
    await logs.append("s", "0", [(b"a", "k", {}), (b"b", "k", {})])
    assert await logs.trim("s", "0", before=time.time() + 60) == 2
    assert await client.xlen(log_key(connection, "s", "0")) == 0
    assert await logs.bounds("s", "0") == (2, 2)
    assert sequences(await logs.append("s", "0", [(b"c", "k", {})])) == [3]
    assert await logs.bounds("s", "0") == (2, 3)


async def test_trim_removes_exactly_the_records_that_arrived_before(
    logs: RedisLogStore, client: Redis, connection: RedisConnection
) -> None:
    key = log_key(connection, "s", "0")
    for sequence, arrival in enumerate([NOW, NOW + 1, NOW + 1, NOW + 2, NOW + 3], 1):
        await plant(client, key, sequence, arrival)
    assert await logs.trim("s", "0", before=NOW) == 0
    assert await logs.trim("s", "0", before=NOW + 1) == 1  # a record at the time stays
    assert await logs.trim("s", "0", before=NOW + 1.000001) == 2
    assert sequences(await logs.read("s", "0", 0, 10)) == [4, 5]
    assert await logs.bounds("s", "0") == (3, 5)
    assert await logs.trim("s", "0", before=NOW + 2.5) == 1
    assert await logs.trim("s", "0", before=NOW + 2.5) == 0


async def test_trim_is_exact_on_a_long_shard(
    logs: RedisLogStore, client: Redis, connection: RedisConnection
) -> None:
    """Redis's approximate trim removes whole nodes only (none of five records); this is exact
    at every position of a shard spanning several stream nodes."""
    key = log_key(connection, "s", "0")
    async with client.pipeline(transaction=False) as pipe:
        for sequence in range(1, 501):
            stamp = str((NOW + sequence) * 1_000_000)
            pipe.xadd(key, {"t": stamp, "d": b"", "k": "pk"}, id=f"{sequence}-0")
        await pipe.execute()
    assert await logs.trim("s", "0", before=NOW + 137.5) == 137
    assert await logs.bounds("s", "0") == (137, 500)
    assert await logs.sequence_at("s", "0", NOW + 300) == 299
    assert await logs.trim("s", "0", before=NOW + 301) == 163
    assert sequences(await logs.read("s", "0", 0, 1)) == [301]


async def test_sequence_at_finds_the_first_record_at_or_after_a_time(
    logs: RedisLogStore, client: Redis, connection: RedisConnection
) -> None:
    key = log_key(connection, "s", "0")
    for sequence, arrival in enumerate([NOW, NOW + 10, NOW + 10, NOW + 20], 1):
        await plant(client, key, sequence, arrival)
    at = [await logs.sequence_at("s", "0", NOW + d) for d in (-1, 0, 5, 10, 15, 20, 25)]
    assert at == [0, 0, 1, 1, 3, 3, 4]
    assert await logs.sequence_at("s", "1", NOW) == 0


async def test_read_is_exclusive_of_its_position(logs: RedisLogStore) -> None:
    await logs.append("s", "0", [(str(i).encode(), "k", {}) for i in range(1, 6)])
    assert sequences(await logs.read("s", "0", after=2, limit=2)) == [3, 4]
    assert sequences(await logs.read("s", "0", after=5, limit=2)) == []
    assert sequences(await logs.read("s", "0", after=-3, limit=1)) == [1]


async def test_a_long_poll_is_woken_by_an_append_from_another_client(
    logs: RedisLogStore, client: Redis, connection: RedisConnection
) -> None:
    other_connection = RedisConnection(connection.url, connection.options)
    other = RedisLogStore(other_connection)
    started = time.monotonic()
    waiting = asyncio.create_task(logs.read("s", "0", after=0, limit=10, wait=30))
    await asyncio.sleep(0.2)  # real time: the poll blocks in Redis meanwhile
    assert not waiting.done()
    await other.append("s", "0", [(b"a", "k", {})])
    got = await asyncio.wait_for(waiting, 5)
    assert sequences(got) == [1]
    assert time.monotonic() - started < 5
    await other_connection.close()


async def test_a_long_poll_blocks_in_slices_and_still_ends_at_its_wait(
    logs: RedisLogStore,
) -> None:
    started = time.monotonic()
    assert await logs.read("s", "0", after=0, limit=10, wait=1.2) == []  # slices of 0.5 s
    assert 1.2 <= time.monotonic() - started < 1.6  # Redis times a block out within 1/hz


async def test_close_ends_a_long_poll(logs: RedisLogStore) -> None:
    waiting = asyncio.create_task(logs.read("s", "0", after=0, limit=10, wait=30))
    await asyncio.sleep(0.1)
    await logs.close()
    assert await asyncio.wait_for(waiting, 2) == []
    assert await logs.read("s", "0", after=0, limit=10, wait=30) == []  # at once when closed


async def test_a_refused_command_is_a_backend_error(
    logs: RedisLogStore, client: Redis, connection: RedisConnection
) -> None:
    await client.set(log_key(connection, "s", "0"), "not a stream")
    with pytest.raises(BackendError, match=r"reading a log: ResponseError: WRONGTYPE"):
        await logs.read("s", "0", 0, 10)
    with pytest.raises(BackendError, match=r"script log_append: ResponseError: .*WRONGTYPE"):
        await logs.append("s", "0", [(b"a", "k", {})])


def test_a_block_slice_stays_under_the_socket_timeout() -> None:
    url = "redis://127.0.0.1:6379/0?timeout=3"
    assert RedisLogStore(RedisConnection(url, parse_redis_url(url)))._block_slice == 1.5


def test_block_slice_must_be_positive() -> None:
    with pytest.raises(ValueError, match="block_slice"):
        url = "redis://127.0.0.1:6379/0"
        RedisLogStore(RedisConnection(url, parse_redis_url(url)), block_slice=0)
