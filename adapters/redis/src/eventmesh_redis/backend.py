"""The Redis backend: its stores over one connection, and the factory the URL scheme names."""

from __future__ import annotations

from dataclasses import dataclass

from eventmesh import Clock
from eventmesh.backends import Backend
from eventmesh.backends.registry import CheckedFactory
from eventmesh_redis.blobs import RedisBlobStore
from eventmesh_redis.connection import RedisConnection, parse_redis_url
from eventmesh_redis.logs import RedisLogStore
from eventmesh_redis.queues import RedisQueueStore
from eventmesh_redis.values import RedisKeyValueStore

__all__ = ["RedisBackend", "redis_backend_from_url", "redis_factory"]


@dataclass(slots=True)
class RedisBackend(Backend):
    """A :class:`~eventmesh.backends.Backend` whose stores share one Redis connection, closed
    with them."""

    connection: RedisConnection | None = None

    async def close(self) -> None:
        try:
            await Backend.close(self)
        finally:
            if self.connection is not None:
                await self.connection.close()


def redis_backend_from_url(url: str, clock: Clock) -> RedisBackend:
    """Open ``redis://host:port/db?prefix=...`` (see :mod:`eventmesh_redis.connection` for the
    options). ``clock`` is not used: every time is the Redis server's (``TIME`` inside each
    script), so that all processes sharing the server share one clock."""
    options = parse_redis_url(url)
    connection = RedisConnection(url, options)
    return RedisBackend(
        queues=RedisQueueStore(connection),
        logs=RedisLogStore(connection),
        values=RedisKeyValueStore(connection),
        blobs=RedisBlobStore(connection),
        in_memory=False,
        connection=connection,
    )


redis_factory = CheckedFactory(redis_backend_from_url, parse_redis_url)
"""The ``redis`` and ``rediss`` entry points of the ``eventmesh.backends`` group."""
