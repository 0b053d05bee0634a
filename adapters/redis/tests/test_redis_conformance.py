"""The shipped conformance kit on Redis, all six suites, with the adapter's one capabilities
record (``eventmesh_redis.capabilities.REDIS_CAPABILITIES``), in real time on the server's
clock.

Each test opens the backend under a key prefix of its own, deleted after it. The suites'
durations are scaled (``time_scale``): the backend, queue and sharing suites by 0.02 (a
30-second visibility timeout lasts 0.6 s); the log, key-value and blob suites by 0.1 (their
long polls end on Redis's 0.1 s tick). A test that must act before a short wait or delay
ends lengthens it to cover the 0.25 s clock tolerance (``suites.durations.sub_second``): 5 ms of
scaled time do not cover a loaded machine's scheduling.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from redis_test_server import delete_prefix, require_redis

from eventmesh import Clock
from eventmesh.backends import Backend
from eventmesh.testing.conformance import BackendUnderTest
from eventmesh.testing.conformance.suites import (
    BackendSuite,
    BlobStoreSuite,
    KeyValueStoreSuite,
    LogStoreSuite,
    MultiProcessSuite,
    QueueStoreSuite,
)
from eventmesh_redis import redis_backend_from_url
from eventmesh_redis.capabilities import REDIS_CAPABILITIES

QUEUE_TIME_SCALE = 0.02
STORE_TIME_SCALE = 0.1


async def _redis(time_scale: float) -> AsyncIterator[BackendUnderTest]:
    server = await require_redis()
    prefix = f"conformance-{uuid.uuid4().hex[:12]}"
    url = f"{server}?prefix={prefix}"

    def open_redis(clock: Clock, directory: Path) -> Backend:
        return redis_backend_from_url(url, clock)

    yield BackendUnderTest(
        "redis", open_redis, REDIS_CAPABILITIES, url=lambda directory: url, time_scale=time_scale
    )
    await delete_prefix(server, prefix)


@pytest_asyncio.fixture
async def conformance_backend() -> AsyncIterator[BackendUnderTest]:
    async for backend in _redis(QUEUE_TIME_SCALE):
        yield backend


class TestBackend(BackendSuite):
    pass


class TestQueueStore(QueueStoreSuite):
    pass


class TestMultiProcess(MultiProcessSuite):
    pass


class _StoreScale:
    """The log, key-value and blob suites at their own time scale."""

    @pytest_asyncio.fixture
    async def conformance_backend(self) -> AsyncIterator[BackendUnderTest]:
        async for backend in _redis(STORE_TIME_SCALE):
            yield backend


class TestLogStore(_StoreScale, LogStoreSuite):
    pass


class TestKeyValueStore(_StoreScale, KeyValueStoreSuite):
    pass


class TestBlobStore(_StoreScale, BlobStoreSuite):
    pass
