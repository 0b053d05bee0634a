"""The shipped conformance kit's backend, queue and sharing suites on Redis, with the
adapter's capabilities record, in real time on the server's clock.

Each test opens the backend under a key prefix of its own, deleted after it. The suite's
durations are scaled by ``TIME_SCALE`` (a 30-second visibility timeout lasts 0.6 s); the
queue suite's shortest steps (0.25 s, so 5 ms) stay above a loaded machine's scheduling
delays at this scale, not at 0.01. (test_conformance runs the log, key-value and blob suites.)
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
    MultiProcessSuite,
    QueueStoreSuite,
)
from eventmesh_redis import redis_backend_from_url
from eventmesh_redis.capabilities import REDIS_CAPABILITIES

TIME_SCALE = 0.02


@pytest_asyncio.fixture
async def conformance_backend() -> AsyncIterator[BackendUnderTest]:
    server = await require_redis()
    prefix = f"conformance-{uuid.uuid4().hex[:12]}"
    url = f"{server}?prefix={prefix}"

    def open_redis(clock: Clock, directory: Path) -> Backend:
        return redis_backend_from_url(url, clock)

    yield BackendUnderTest(
        "redis",
        open_redis,
        REDIS_CAPABILITIES,
        url=lambda directory: url,
        time_scale=TIME_SCALE,
    )
    await delete_prefix(server, prefix)


class TestBackend(BackendSuite):
    pass


class TestQueueStore(QueueStoreSuite):
    pass


class TestMultiProcess(MultiProcessSuite):
    pass
