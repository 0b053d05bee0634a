"""The Redis BlobStore against a real Redis: key layout, order, paging, the size limit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from eventmesh import PayloadError
from eventmesh.backends.protocols import BlobInfo, BlobStore
from eventmesh_redis.blobs import DEFAULT_MAX_OBJECT_SIZE, RedisBlobStore, bucket_keys
from eventmesh_redis.connection import RedisConnection, parse_redis_url


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
def blobs(connection: RedisConnection) -> RedisBlobStore:
    return RedisBlobStore(connection, max_object_size=1024)


async def keys(blobs: RedisBlobStore, **options: object) -> list[str]:
    return [info.key for info in await blobs.list("b", **options)]  # type: ignore[arg-type]


async def test_is_a_blob_store(blobs: RedisBlobStore) -> None:
    assert isinstance(blobs, BlobStore)


async def test_a_bucket_is_three_keys_under_one_hash_tag(
    blobs: RedisBlobStore, client: Redis, connection: RedisConnection
) -> None:
    await blobs.put("b", "a/1", b"hello", {"m": "1"}, "text/plain")
    data, info, index = bucket_keys(connection, "b")
    tag = f"{{{connection.options.prefix}:blob:b}}"
    assert (data, info, index) == (f"{tag}:data", f"{tag}:info", f"{tag}:keys")
    assert await client.hget(data, "a/1") == b"hello"
    assert await client.zrange(index, 0, -1, withscores=True) == [(b"a/1", 0.0)]
    assert await blobs.delete("b", "a/1")
    assert await client.exists(data, info, index) == 0  # nothing left behind


async def test_last_modified_is_the_servers_time(blobs: RedisBlobStore, client: Redis) -> None:
    seconds, micros = await client.time()
    info = await blobs.put("b", "k", b"x")
    assert seconds + micros / 1e6 <= info.last_modified < seconds + micros / 1e6 + 1
    assert await blobs.head("b", "k") == info


async def test_keys_list_in_code_point_order(blobs: RedisBlobStore) -> None:
    """UTF-8 byte order, which ZRANGEBYLEX uses, is code-point order (as in memory and S3)."""
    names = ["é", "z", "a", "\U0001f600", "\uff41", "A", "e\u0301", "~"]
    for name in names:
        await blobs.put("b", name, b"")
    assert await keys(blobs) == sorted(names)
    assert await keys(blobs, prefix="e") == ["e\u0301"]
    assert await keys(blobs, start_after="z") == ["~", "é", "\uff41", "\U0001f600"]


async def test_paging_over_many_keys_visits_each_once(blobs: RedisBlobStore) -> None:
    for i in range(1200):
        await blobs.put("b", f"k/{i:04}", b"")
    await blobs.put("b", "l", b"")
    seen: list[str] = []
    after = ""
    while page := await keys(blobs, prefix="k/", start_after=after, limit=700):
        seen += page
        after = page[-1]
    assert seen == [f"k/{i:04}" for i in range(1200)]
    assert len(await keys(blobs, limit=5000)) == 1201  # listed in chunks inside the script


async def test_an_object_over_the_limit_is_refused_and_nothing_is_stored(
    blobs: RedisBlobStore,
) -> None:
    assert (await blobs.put("b", "max", b"x" * 1024)).size == 1024
    with pytest.raises(
        PayloadError,
        match=r"^an object of 1025 bytes is over the Redis blob store's limit of 1024 bytes "
        r"\(max_object_size\)$",
    ):
        await blobs.put("b", "big", b"x" * 1025)
    assert await blobs.head("b", "big") is None
    assert await keys(blobs) == ["max"]


def test_the_default_limit_is_16_mib() -> None:
    url = "redis://127.0.0.1:6379/0"
    connection = RedisConnection(url, parse_redis_url(url))
    assert RedisBlobStore(connection).max_object_size == DEFAULT_MAX_OBJECT_SIZE
    assert DEFAULT_MAX_OBJECT_SIZE == 16 * 1024 * 1024
    with pytest.raises(ValueError, match="max_object_size"):
        RedisBlobStore(connection, max_object_size=-1)


async def test_metadata_and_content_type_round_trip(blobs: RedisBlobStore) -> None:
    info = await blobs.put("b", "k", b"hello", {"a": "1", "ü": "|"}, "text/plain")
    assert info.metadata == {"a": "1", "ü": "|"}
    found = await blobs.get("b", "k")
    assert found is not None
    assert found == (
        b"hello",
        BlobInfo("k", 5, info.etag, info.last_modified, info.metadata, "text/plain"),
    )
