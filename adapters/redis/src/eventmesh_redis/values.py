"""The KeyValueStore on Redis: one hash per key, every write one script on the server's clock.

Keys (``{...}`` is the hash tag: each key is its own resource, so keys spread over a Redis
Cluster)::

    {<prefix>:kv:<key>}    HASH  v (value), n (version), e (expiry, server µs; absent: none)

Conditions. ``put(only_if_absent)`` and ``put(only_if_version)`` and ``delete(only_if_version)``
are Lua scripts that read the hash and write it in one step, so concurrent writers in any
number of processes see one order: of fifty racing put-if-absent, exactly one wins.

Expiry. A ``ttl`` is measured on the server's ``TIME``: the script stores the expiry in
microseconds and sets the key's own expiry (``PEXPIREAT``, rounded up to the millisecond) so
Redis removes it; a read compares the stored expiry with ``TIME`` too, so a value is absent from
its ``expires_at`` on, to the microsecond, whatever Redis's millisecond expiry still holds.

Versions. A write's version is the server's ``TIME`` in microseconds, or the key's previous
version + 1 when that is not smaller: it increases with every write of a key and, because it
follows the server clock, a key deleted (or expired) and written again gets a version greater
than any it had, so a version read before the delete never matches again (no ABA) without a
counter that outlives the key. The version is the fencing token a lease needs (a new owner's
version exceeds every earlier owner's), with one caveat: a *server* clock stepped back by more
than the time since a key's last write before its delete could reissue smaller versions; the
protocol has no separate fencing counter. Versions are not consecutive.
"""

from __future__ import annotations

import math
from typing import Any

from eventmesh.backends.protocols import StoredValue
from eventmesh_redis.connection import RedisConnection, Script

__all__ = ["RedisKeyValueStore", "value_key"]

_NOW = """
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
-- The key's version and expiry when it holds a live value; nil otherwise.
local function live(key, now)
  local found = redis.call('HMGET', key, 'n', 'e')
  local version, expiry = tonumber(found[1]), tonumber(found[2])
  if version == nil or (expiry ~= nil and now >= expiry) then return nil, nil end
  return version, expiry
end
"""

# KEYS[1]; returns {value, version, expiry µs or ''} or nil.
_GET = (
    _NOW
    + """
local key = KEYS[1]
local version, expiry = live(key, now_us())
if version == nil then return nil end
return {redis.call('HGET', key, 'v'), string.format('%.0f', version),
        expiry and string.format('%.0f', expiry) or ''}
"""
)

# KEYS[1]; ARGV: value, ttl µs ('' for none), condition ('', 'absent', 'version'), version.
# Returns {version, expiry µs or ''}, or nil when the condition does not hold.
_PUT = (
    _NOW
    + """
local key = KEYS[1]
local now = now_us()
local version = live(key, now)
if ARGV[3] == 'absent' and version ~= nil then return nil end
if ARGV[3] == 'version' and (version == nil or version ~= tonumber(ARGV[4])) then
  return nil
end
local previous = tonumber(redis.call('HGET', key, 'n'))
local new = now
if previous ~= nil and previous >= new then new = previous + 1 end
local stamp = string.format('%.0f', new)
redis.call('DEL', key)
if ARGV[2] == '' then
  redis.call('HSET', key, 'v', ARGV[1], 'n', stamp)
  return {stamp, ''}
end
local expiry = now + tonumber(ARGV[2])
local until_us = string.format('%.0f', expiry)
redis.call('HSET', key, 'v', ARGV[1], 'n', stamp, 'e', until_us)
redis.call('PEXPIREAT', key, string.format('%.0f', math.ceil(expiry / 1000)))
return {stamp, until_us}
"""
)

# KEYS[1]; ARGV: version ('' for any). Returns 1 when a live value was removed, else 0.
_DELETE = (
    _NOW
    + """
local key = KEYS[1]
local version = live(key, now_us())
if version == nil then return 0 end
if ARGV[1] ~= '' and version ~= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', key)
return 1
"""
)


_GET_SCRIPT = Script("kv_get", _GET)
_PUT_SCRIPT = Script("kv_put", _PUT)
_DELETE_SCRIPT = Script("kv_delete", _DELETE)


def value_key(connection: RedisConnection, key: str) -> str:
    """The Redis key holding one key-value entry (its own hash tag)."""
    return connection.key("kv", key)


def _expiry(stamp: bytes | str) -> float | None:
    return int(stamp) / 1_000_000 if stamp else None


class RedisKeyValueStore:
    """:class:`~eventmesh.backends.protocols.KeyValueStore` on Redis; see the module text."""

    def __init__(self, connection: RedisConnection) -> None:
        self._connection = connection
        connection.add_scripts([_GET_SCRIPT, _PUT_SCRIPT, _DELETE_SCRIPT])

    async def get(self, key: str) -> StoredValue | None:
        found = await self._connection.call(_GET_SCRIPT, [value_key(self._connection, key)], [])
        if found is None:
            return None
        value, version, expiry = found
        return StoredValue(bytes(value), int(version), _expiry(expiry))

    async def put(
        self,
        key: str,
        value: bytes,
        *,
        ttl: float | None = None,
        only_if_absent: bool = False,
        only_if_version: int | None = None,
    ) -> int | None:
        if only_if_absent and only_if_version is not None:
            raise ValueError("give only_if_absent or only_if_version, not both")
        condition, expected = "", ""
        if only_if_absent:
            condition = "absent"
        elif only_if_version is not None:
            condition, expected = "version", str(only_if_version)
        # A ttl of 0 or less stores a value that is already expired, as in memory.
        micros = "" if ttl is None else str(max(0, math.ceil(ttl * 1_000_000)))
        args: list[Any] = [bytes(value), micros, condition, expected]
        written = await self._connection.call(_PUT_SCRIPT, [value_key(self._connection, key)], args)
        return None if written is None else int(written[0])

    async def delete(self, key: str, *, only_if_version: int | None = None) -> bool:
        expected = "" if only_if_version is None else str(only_if_version)
        removed = await self._connection.call(
            _DELETE_SCRIPT, [value_key(self._connection, key)], [expected]
        )
        return bool(removed)

    async def close(self) -> None:
        """Nothing waits on a key-value store; the connection belongs to the backend."""
