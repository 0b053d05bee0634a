"""The Redis server the adapter's tests use, and the one rule for when there is none.

``EVENTMESH_TEST_REDIS`` names the server (default ``redis://127.0.0.1:6379/15``: database 15,
away from an application's 0). When no server answers, a test that needs one is skipped with
the reason, except under ``CI=true``, where a missing server fails the test: CI starts one
(``.ci/run``), so a skip there would hide that the adapter went untested.
"""

from __future__ import annotations

import os

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

__all__ = ["SERVER", "delete_prefix", "require_redis"]

SERVER = os.environ.get("EVENTMESH_TEST_REDIS", "redis://127.0.0.1:6379/15")


async def _answers(url: str) -> str | None:
    """None when the server answers PING, else why not."""
    client = aioredis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        await client.aclose()
    return None


async def require_redis(url: str = SERVER) -> str:
    """``url`` if a server answers there; else skip (fail under CI=true) saying why."""
    problem = await _answers(url)
    if problem is not None:
        reason = f"no Redis server answers at {url} ({problem})"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason}; CI must run the Redis tests (.ci/run starts the server)")
        pytest.skip(f"{reason}; start one, or set EVENTMESH_TEST_REDIS")
    return url


async def delete_prefix(url: str, prefix: str) -> None:
    """Delete every key a backend with ``prefix`` made (``{prefix:...}...``)."""
    client = aioredis.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{{{prefix}:*", count=1000)]
        for start in range(0, len(keys), 500):
            await client.delete(*keys[start : start + 500])
    finally:
        await client.aclose()
