"""eventmesh on Redis: ``Mesh(storage="redis://localhost:6379/0?prefix=app")``.

Installed, this distribution registers the ``redis`` and ``rediss`` URL schemes in the
``eventmesh.backends`` entry-point group; eventmesh finds it there (nothing imports it
otherwise). See :mod:`eventmesh_redis.connection` for the URL's options.
"""

from eventmesh_redis.backend import RedisBackend, redis_backend_from_url, redis_factory
from eventmesh_redis.connection import (
    MIN_SERVER_VERSION,
    RedisConnection,
    RedisOptions,
    parse_redis_url,
)

__all__ = [
    "MIN_SERVER_VERSION",
    "RedisBackend",
    "RedisConnection",
    "RedisOptions",
    "parse_redis_url",
    "redis_backend_from_url",
    "redis_factory",
]
