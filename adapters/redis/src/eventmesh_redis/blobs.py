"""The BlobStore on Redis: a bucket's objects in two hashes and a sorted set of its keys.

Keys (``{...}`` is the hash tag: a bucket is one resource, so its three keys share a Redis
Cluster slot and every operation is one script over declared keys)::

    {<prefix>:blob:<bucket>}:data    HASH  object key -> bytes
    {<prefix>:blob:<bucket>}:info    HASH  object key -> "<last modified µs>|<JSON: size, etag,
                                            content type, metadata>"
    {<prefix>:blob:<bucket>}:keys    ZSET  object keys, all scored 0, so ZRANGEBYLEX lists them

Order. ``ZRANGEBYLEX`` compares keys as bytes; UTF-8 byte order is code-point order, the order
the memory and SQLite backends (and S3) list in. A listing is one script: the keys from
``max(prefix, start_after)`` up to ``limit`` of them, with their descriptions, read atomically.

Limit. Redis holds an object in one string; a big one blocks the server while it is copied and
sits in memory whole. ``max_object_size`` (16 MiB by default) bounds it: a larger ``put`` is
refused with :class:`~eventmesh.PayloadError` naming both sizes, before anything is sent.

``last_modified`` is the server's ``TIME`` at the put; the etag (MD5 of the bytes) is computed
by the client, since Redis's Lua has no MD5.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from eventmesh import PayloadError
from eventmesh.backends.protocols import BlobInfo
from eventmesh_redis.connection import RedisConnection, Script

__all__ = ["DEFAULT_MAX_OBJECT_SIZE", "RedisBlobStore", "bucket_keys"]

DEFAULT_MAX_OBJECT_SIZE = 16 * 1024 * 1024
"""The largest object a Redis blob store accepts unless told otherwise: 16 MiB."""

# KEYS: data, info, keys; ARGV: object key, bytes, description JSON. Returns the µs stamp.
_PUT = """
local t = redis.call('TIME')
local stamp = string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2]))
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], stamp .. '|' .. ARGV[3])
redis.call('ZADD', KEYS[3], 0, ARGV[1])
return stamp
"""

# KEYS: data, info; ARGV: object key, '1' to include the bytes. Returns {info, bytes} or nil.
_GET = """
local info = redis.call('HGET', KEYS[2], ARGV[1])
if not info then return nil end
if ARGV[2] == '1' then return {info, redis.call('HGET', KEYS[1], ARGV[1])} end
return {info}
"""

# KEYS: data, info, keys; ARGV: object key. Returns 1 when it existed.
_DELETE = """
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
"""

# KEYS: info, keys; ARGV: lex min, lex max, limit. Returns {key, info, key, info, ...}.
_LIST = """
local keys = redis.call('ZRANGEBYLEX', KEYS[2], ARGV[1], ARGV[2], 'LIMIT', 0, ARGV[3])
local out = {}
if #keys == 0 then return out end
for first = 1, #keys, 500 do
  local last = math.min(first + 499, #keys)
  local infos = redis.call('HMGET', KEYS[1], unpack(keys, first, last))
  for i = first, last do
    out[#out + 1] = keys[i]
    out[#out + 1] = infos[i - first + 1]
  end
end
return out
"""


_PUT_SCRIPT = Script("blob_put", _PUT)
_GET_SCRIPT = Script("blob_get", _GET)
_DELETE_SCRIPT = Script("blob_delete", _DELETE)
_LIST_SCRIPT = Script("blob_list", _LIST)


def bucket_keys(connection: RedisConnection, bucket: str) -> tuple[str, str, str]:
    """The Redis keys of one bucket: its objects' bytes, their descriptions, its key index."""
    tag = connection.key("blob", bucket)
    return f"{tag}:data", f"{tag}:info", f"{tag}:keys"


def _info(key: str, stored: bytes) -> BlobInfo:
    stamp, _, described = stored.partition(b"|")
    size, etag, content_type, metadata = orjson.loads(described)
    return BlobInfo(key, size, etag, int(stamp) / 1_000_000, metadata, content_type)


def _bounds(prefix: str, start_after: str) -> tuple[bytes, bytes]:
    """``ZRANGEBYLEX`` bounds for keys that start with ``prefix`` and sort after
    ``start_after``: from the larger of the two (inclusive for the prefix, exclusive for the
    key to start after) to just past every key with the prefix (no UTF-8 byte is 0xFF)."""
    low_prefix, after = prefix.encode(), start_after.encode()
    if start_after and after >= low_prefix:
        low = b"(" + after
    else:
        low = b"[" + low_prefix if prefix else b"-"
    high = b"(" + low_prefix + b"\xff" if prefix else b"+"
    return low, high


class RedisBlobStore:
    """:class:`~eventmesh.backends.protocols.BlobStore` on Redis; see the module text."""

    def __init__(
        self, connection: RedisConnection, *, max_object_size: int = DEFAULT_MAX_OBJECT_SIZE
    ) -> None:
        if max_object_size < 0:
            raise ValueError("max_object_size must be >= 0")
        self._connection = connection
        self.max_object_size = max_object_size
        connection.add_scripts([_PUT_SCRIPT, _GET_SCRIPT, _DELETE_SCRIPT, _LIST_SCRIPT])

    async def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        metadata: Mapping[str, str] | None = None,
        content_type: str = "application/octet-stream",
    ) -> BlobInfo:
        owned = bytes(data)
        if len(owned) > self.max_object_size:
            raise PayloadError(
                f"an object of {len(owned)} bytes is over the Redis blob store's limit of "
                f"{self.max_object_size} bytes (max_object_size)"
            )
        meta = dict(metadata or {})
        etag = hashlib.md5(owned, usedforsecurity=False).hexdigest()
        described = orjson.dumps([len(owned), etag, content_type, meta])
        keys = list(bucket_keys(self._connection, bucket))
        stamp = await self._connection.call(_PUT_SCRIPT, keys, [key, owned, described])
        return BlobInfo(key, len(owned), etag, int(stamp) / 1_000_000, meta, content_type)

    async def _fetch(self, bucket: str, key: str, with_data: bool) -> list[Any] | None:
        data_key, info_key, _ = bucket_keys(self._connection, bucket)
        found: list[Any] | None = await self._connection.call(
            _GET_SCRIPT, [data_key, info_key], [key, "1" if with_data else "0"]
        )
        return found

    async def get(self, bucket: str, key: str) -> tuple[bytes, BlobInfo] | None:
        found = await self._fetch(bucket, key, with_data=True)
        return None if found is None else (bytes(found[1]), _info(key, found[0]))

    async def head(self, bucket: str, key: str) -> BlobInfo | None:
        found = await self._fetch(bucket, key, with_data=False)
        return None if found is None else _info(key, found[0])

    async def delete(self, bucket: str, key: str) -> bool:
        keys = list(bucket_keys(self._connection, bucket))
        removed = await self._connection.call(_DELETE_SCRIPT, keys, [key])
        return bool(removed)

    async def list(
        self, bucket: str, prefix: str = "", start_after: str = "", limit: int = 1000
    ) -> list[BlobInfo]:
        if limit <= 0:
            return []
        _, info_key, index_key = bucket_keys(self._connection, bucket)
        low, high = _bounds(prefix, start_after)
        flat: list[bytes] = await self._connection.call(
            _LIST_SCRIPT, [info_key, index_key], [low, high, limit]
        )
        return [_info(flat[i].decode(), flat[i + 1]) for i in range(0, len(flat), 2)]

    async def close(self) -> None:
        """Nothing waits on a blob store; the connection belongs to the backend."""
