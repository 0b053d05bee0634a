"""Fixtures of the adapter's tests: a Redis server (see redis_test_server for the rule when
none answers) and a key prefix per test, deleted after it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from outage_tools import PrivateServer, start_private_server
from redis_test_server import SERVER, delete_prefix, require_redis

# The conformance kit's fixtures (eventmesh.testing.conformance), for test_redis_conformance.
pytest_plugins = ["eventmesh.testing.conformance.plugin"]


@pytest.fixture
async def redis_server() -> str:
    """The test server's URL (without options); skips or fails as the module says."""
    return await require_redis(SERVER)


@pytest.fixture
async def redis_url(redis_server: str) -> AsyncIterator[str]:
    """A storage URL with a prefix of this test's own, whose keys are deleted after it."""
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    yield f"{redis_server}?prefix={prefix}"
    await delete_prefix(redis_server, prefix)


@pytest.fixture
async def private_server() -> AsyncIterator[PrivateServer]:
    """A redis-server of this test's own (see outage_tools), stopped after it: for outages
    that must not reach the shared server other tests use."""
    server = await start_private_server()
    try:
        yield server
    finally:
        server.stop()
