"""The Redis KeyValueStore against a real Redis: conditions, server-side expiry, versions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from eventmesh import BackendError
from eventmesh.backends.protocols import KeyValueStore, StoredValue
from eventmesh_redis.connection import RedisConnection, parse_redis_url
from eventmesh_redis.values import RedisKeyValueStore, value_key


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
def values(connection: RedisConnection) -> RedisKeyValueStore:
    return RedisKeyValueStore(connection)


async def server_micros(client: Redis) -> int:
    seconds, micros = await client.time()
    return seconds * 1_000_000 + micros


async def test_is_a_key_value_store(values: RedisKeyValueStore) -> None:
    assert isinstance(values, KeyValueStore)


async def test_each_key_is_one_hash_with_its_own_hash_tag(
    values: RedisKeyValueStore, client: Redis, connection: RedisConnection
) -> None:
    version = await values.put("lease:a", b"v")
    prefix = connection.options.prefix
    assert value_key(connection, "lease:a") == f"{{{prefix}:kv:lease:a}}"
    stored = await client.hgetall(value_key(connection, "lease:a"))
    assert stored == {b"v": b"v", b"n": str(version).encode()}
    assert await client.pttl(value_key(connection, "lease:a")) == -1  # no expiry


async def test_a_version_is_the_server_clock_in_microseconds(
    values: RedisKeyValueStore, client: Redis
) -> None:
    before = await server_micros(client)
    version = await values.put("k", b"v")
    after = await server_micros(client)
    assert version is not None and before <= version <= after


async def test_a_version_ahead_of_the_clock_is_still_exceeded(
    values: RedisKeyValueStore, client: Redis, connection: RedisConnection
) -> None:
    """After a server clock stepped back, a key's next version is its last + 1."""
    ahead = await server_micros(client) + 3_600_000_000
    await client.hset(value_key(connection, "k"), mapping={"v": b"old", "n": str(ahead)})
    assert await values.put("k", b"new", only_if_version=ahead) == ahead + 1
    assert await values.put("k", b"newer") == ahead + 2


async def test_a_ttl_is_kept_by_the_server(
    values: RedisKeyValueStore, client: Redis, connection: RedisConnection
) -> None:
    before = await server_micros(client)
    await values.put("k", b"v", ttl=30)
    stored = await values.get("k")
    assert stored is not None and stored.expires_at is not None
    assert before / 1e6 + 30 <= stored.expires_at <= before / 1e6 + 31
    assert 29_000 < await client.pttl(value_key(connection, "k")) <= 30_001
    await values.put("k", b"v")  # a write without ttl clears the server's expiry too
    assert await client.pttl(value_key(connection, "k")) == -1


async def test_a_value_past_its_expiry_is_absent_before_redis_removes_it(
    values: RedisKeyValueStore, client: Redis, connection: RedisConnection
) -> None:
    """The stored expiry is compared with the server's TIME to the microsecond."""
    past = await server_micros(client) - 1
    await client.hset(value_key(connection, "k"), mapping={"v": b"v", "n": "5", "e": str(past)})
    assert await values.get("k") is None
    assert not await values.delete("k")
    assert not await values.delete("k", only_if_version=5)
    assert await values.put("k", b"late", only_if_version=5) is None
    new = await values.put("k", b"again", only_if_absent=True)
    assert new is not None and new > 5
    assert await values.get("k") == StoredValue(b"again", new, None)


async def test_a_ttl_of_zero_stores_an_expired_value(values: RedisKeyValueStore) -> None:
    assert await values.put("k", b"v", ttl=0) is not None
    assert await values.get("k") is None
    assert await values.put("k", b"v", only_if_absent=True) is not None


async def test_conditions_hold_across_clients(
    values: RedisKeyValueStore, client: Redis, connection: RedisConnection
) -> None:
    connections = [RedisConnection(connection.url, connection.options) for _ in range(5)]
    stores = [RedisKeyValueStore(other) for other in connections]
    results = await asyncio.gather(
        *(stores[i % 5].put("lease", str(i).encode(), only_if_absent=True) for i in range(50))
    )
    assert sum(result is not None for result in results) == 1
    version = next(result for result in results if result is not None)
    cas = await asyncio.gather(
        *(store.put("lease", b"next", only_if_version=version) for store in stores)
    )
    assert sum(result is not None for result in cas) == 1
    for other in connections:
        await other.close()


async def test_delete_only_if_version(values: RedisKeyValueStore) -> None:
    old = await values.put("k", b"1")
    new = await values.put("k", b"2")
    assert old is not None and new is not None
    assert not await values.delete("k", only_if_version=old)
    assert await values.delete("k", only_if_version=new)
    assert await values.get("k") is None
    again = await values.put("k", b"3")
    assert again is not None and again > new


async def test_both_conditions_are_refused(values: RedisKeyValueStore) -> None:
    with pytest.raises(ValueError, match="not both"):
        await values.put("k", b"v", only_if_absent=True, only_if_version=1)


async def test_a_refused_command_is_a_backend_error(
    values: RedisKeyValueStore, client: Redis, connection: RedisConnection
) -> None:
    await client.set(value_key(connection, "k"), "not a hash")
    with pytest.raises(BackendError, match=r"script kv_put: ResponseError: .*WRONGTYPE"):
        await values.put("k", b"v")
