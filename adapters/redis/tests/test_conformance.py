"""The shipped conformance kit's log, key-value and blob suites on the Redis backend.

Redis keeps its own time (``TIME`` inside every script), so the kit waits in real time with
the record's tolerance, its durations scaled by ``time_scale``. Each test opens the backend
from a storage URL with a key prefix of its own, deleted after it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from eventmesh import Clock
from eventmesh.backends import Backend
from eventmesh.testing.conformance import (
    BackendUnderTest,
    Capabilities,
    Store,
    TimeSource,
    Trim,
    Ttl,
)
from eventmesh.testing.conformance.suites import (
    BlobStoreSuite,
    KeyValueStoreSuite,
    LogStoreSuite,
)
from eventmesh_redis import redis_backend_from_url

pytest_plugins = ["eventmesh.testing.conformance.plugin"]

STORES = Capabilities(
    time_source=TimeSource.SERVER_CLOCK,
    # Round trips on loopback take a millisecond; Redis ends a blocked read on its event
    # loop's tick (hz 10: up to 0.1 s late); the rest is the test machine's own scheduling.
    clock_tolerance=0.25,
    trim=Trim.EXACT,
    ttl=Ttl.PER_KEY,
    ttl_resolution=0.0,  # a read compares the stored expiry with TIME to the microsecond
    multi_process=True,
    protocols=frozenset({Store.LOGS, Store.VALUES, Store.BLOBS}),
)
"""The record's entries for the log, key-value and blob stores (the queue store's entries
come with it)."""


@pytest.fixture
async def conformance_backend(redis_server: str) -> AsyncIterator[BackendUnderTest]:
    """The Redis backend under a fresh prefix (``redis_server`` skips, or fails under CI, when
    no Redis answers); the prefix's keys are deleted after the test."""
    url = f"{redis_server}?prefix=conformance-{uuid.uuid4().hex[:12]}"

    def open_backend(clock: Clock, directory: Path) -> Backend:
        return redis_backend_from_url(url, clock)

    yield BackendUnderTest("redis", open_backend, STORES, url=lambda _: url, time_scale=0.1)
    client = aioredis.Redis.from_url(redis_server)
    prefix = url.rpartition("prefix=")[2]
    keys = [key async for key in client.scan_iter(match=f"{{{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


class TestLogStore(LogStoreSuite): ...


class TestKeyValueStore(KeyValueStoreSuite): ...


class TestBlobStore(BlobStoreSuite): ...
