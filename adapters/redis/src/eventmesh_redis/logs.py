"""The LogStore on Redis: one Redis Stream per (stream, shard).

Sequence numbers. The protocol numbers a shard's records 1, 2, 3, ... with no gap, never
reused, even after a trim removed them all (as the memory and SQLite backends do). Here the
Redis stream id of the record with sequence ``s`` is exactly ``s-0``: the id's first part *is*
the protocol's sequence and its second part is always 0. Appends give explicit ids (never
``*``), one more than the stream's ``last-generated-id``, which Redis keeps even when every
entry has been trimmed, so sequences continue after a trim and the mapping is one to one and
monotonic both ways: ``read(after=s)`` is ``XRANGE key (s-0 +`` (or ``XREAD ... s-0``, which is
exclusive too), and a trim up to sequence ``s`` is ``XTRIM key MINID s-0`` with an exact id.
(Redis's own ``*`` ids, ``<ms>-<n>``, could not give consecutive integers.)

Arrival times. Each entry carries its arrival as the server's ``TIME`` in microseconds, read
inside the append script, so every process appending to a shard shares one clock. As in memory,
arrival never decreases within a shard (a server clock stepped back repeats the newest kept
record's arrival), so records are in arrival order and a time retention removes a prefix:
``trim(before)`` and ``sequence_at(t)`` find the first record that arrived at or after the time
by a binary search over sequences (``XRANGE s-0 s-0`` per step, O(log² n)) inside one script,
then ``XTRIM MINID`` removes exactly the records before it.

Long polls. ``read(wait=w)`` blocks on ``XREAD BLOCK`` in slices of at most ``block_slice``
seconds (5 s, or half the URL's ``timeout``, the socket timeout, so it never fires inside a
block), woken by any appender of the shard in any process; ``close`` ends the polls in progress,
which then return nothing. Each poll holds one of the pool's ``pool_size`` connections while it
waits, so a process long-polling more shards at once than that starves its other commands.
Redis times a block out on its event loop's tick (``hz`` 10 by default), so a poll that finds
nothing may return up to 0.1 s after its ``wait``.

Keys (``{...}`` is the hash tag, :meth:`RedisConnection.key`, so one stream's shards share a
Redis Cluster slot)::

    {<prefix>:log:<stream>}:<shard>    STREAM  fields t (arrival µs), d (data),
                                               k (partition key), a (attributes, JSON; absent
                                               when empty)
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from eventmesh.backends.protocols import LogRecord
from eventmesh_redis.connection import REFUSED, UNREACHABLE, RedisConnection, Script

__all__ = ["APPEND", "BOUNDS", "SEQUENCE_AT", "TRIM", "RedisLogStore", "log_key"]

# The newest kept record's arrival and the stream's last sequence, for an append.
_LAST = """
local function last_of(key)
  if redis.call('EXISTS', key) == 0 then return 0, nil end
  local info = redis.call('XINFO', 'STREAM', key)
  local last, arrival = 0, nil
  for i = 1, #info, 2 do
    local name, value = info[i], info[i + 1]
    if name == 'last-generated-id' then
      last = tonumber(string.match(value, '^(%d+)'))
    elseif name == 'last-entry' and value then
      arrival = tonumber(value[2][2])
    end
  end
  return last, arrival
end
"""

# KEYS[1] the shard's stream; ARGV: n, then per record data, partition key, attributes ('' for
# none). Returns {first sequence, arrival µs as a string}.
_APPEND = (
    _LAST
    + """
local key = KEYS[1]
local n = tonumber(ARGV[1])
local now = redis.call('TIME')
local arrival = tonumber(now[1]) * 1000000 + tonumber(now[2])
local last, newest = last_of(key)
if newest and newest > arrival then arrival = newest end
local stamp = string.format('%.0f', arrival)
for i = 1, n do
  local base = 1 + (i - 1) * 3
  local id = string.format('%.0f', last + i) .. '-0'
  if ARGV[base + 3] == '' then
    redis.call('XADD', key, id, 't', stamp, 'd', ARGV[base + 1], 'k', ARGV[base + 2])
  else
    redis.call('XADD', key, id, 't', stamp, 'd', ARGV[base + 1], 'k', ARGV[base + 2],
               'a', ARGV[base + 3])
  end
end
return {last + 1, stamp}
"""
)

# The oldest kept sequence - 1 and the newest sequence, as the protocol's ``bounds``.
_BOUNDS_OF = """
local function bounds_of(key)
  if redis.call('EXISTS', key) == 0 then return 0, 0 end
  local info = redis.call('XINFO', 'STREAM', key)
  local first, last = nil, 0
  for i = 1, #info, 2 do
    local name, value = info[i], info[i + 1]
    if name == 'last-generated-id' then
      last = tonumber(string.match(value, '^(%d+)'))
    elseif name == 'first-entry' and value then
      first = tonumber(string.match(value[1], '^(%d+)'))
    end
  end
  if first == nil then return last, last end
  return first - 1, last
end
"""

_BOUNDS = (
    _BOUNDS_OF
    + """
local before, last = bounds_of(KEYS[1])
return {before, last}
"""
)

# The first kept sequence whose arrival is at or after ARGV[1] (µs), or last + 1: a binary
# search over the consecutive sequences first..last (each probe one XRANGE of one id).
_FIRST_AT = (
    _BOUNDS_OF
    + """
local function first_at(key, at)
  local before, last = bounds_of(key)
  local lo, hi = before + 1, last + 1
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local id = string.format('%.0f', mid) .. '-0'
    local entry = redis.call('XRANGE', key, id, id)[1]
    if tonumber(entry[2][2]) < at then lo = mid + 1 else hi = mid end
  end
  return lo, before
end
"""
)

_SEQUENCE_AT = (
    _FIRST_AT
    + """
local first = first_at(KEYS[1], tonumber(ARGV[1]))
return first - 1
"""
)

# Removes the records that arrived before ARGV[1] (µs); returns how many.
_TRIM = (
    _FIRST_AT
    + """
local key = KEYS[1]
local keep, before = first_at(key, tonumber(ARGV[1]))
if keep <= before + 1 then return 0 end
return redis.call('XTRIM', key, 'MINID', '=', string.format('%.0f', keep) .. '-0')
"""
)


APPEND = Script("log_append", _APPEND)
BOUNDS = Script("log_bounds", _BOUNDS)
SEQUENCE_AT = Script("log_sequence_at", _SEQUENCE_AT)
TRIM = Script("log_trim", _TRIM)


def log_key(connection: RedisConnection, stream: str, shard: str) -> str:
    """The Redis key of one shard's stream (hash-tagged by the eventmesh stream)."""
    return f"{connection.key('log', stream)}:{shard}"


def _sequence(entry_id: bytes | str) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.partition("-")[0])


def _field(fields: Mapping[Any, Any], name: str) -> Any:
    value = fields.get(name.encode())
    return fields.get(name) if value is None else value


def _record(entry_id: bytes | str, fields: Mapping[Any, Any]) -> LogRecord:
    attributes = _field(fields, "a")
    key = _field(fields, "k")
    return LogRecord(
        _sequence(entry_id),
        bytes(_field(fields, "d")),
        key.decode() if isinstance(key, bytes) else str(key),
        int(_field(fields, "t")) / 1_000_000,
        {} if attributes is None else orjson.loads(attributes),
    )


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a dropped read's outcome as seen, so nothing is logged as never retrieved."""
    if not future.cancelled():
        future.exception()


def _micros(seconds: float) -> int:
    """A wall time as whole microseconds, rounded up: ``arrival < t`` holds exactly when
    ``arrival_us < _micros(t)`` for an arrival stored in whole microseconds."""
    return math.ceil(seconds * 1_000_000)


def _block_slice(connection: RedisConnection) -> float:
    """The longest single ``XREAD BLOCK``: 5 s, or half the connection's ``timeout`` (its
    socket timeout) when that is shorter, so a block never ends as a timeout error."""
    return min(5.0, connection.options.timeout / 2)


class RedisLogStore:
    """:class:`~eventmesh.backends.protocols.LogStore` on Redis Streams; see the module text."""

    def __init__(self, connection: RedisConnection, *, block_slice: float | None = None) -> None:
        if block_slice is None:
            block_slice = _block_slice(connection)
        if block_slice <= 0:
            raise ValueError("block_slice must be > 0")
        self._connection = connection
        self._block_slice = block_slice
        self._closed = asyncio.Event()
        connection.add_scripts([APPEND, BOUNDS, SEQUENCE_AT, TRIM])

    async def append(
        self,
        stream: str,
        shard: str,
        records: Sequence[tuple[bytes, str, Mapping[str, str]]],
    ) -> list[LogRecord]:
        if not records:
            return []
        args: list[Any] = [len(records)]
        owned: list[tuple[bytes, str, dict[str, str]]] = []
        for data, partition_key, attributes in records:
            copied, kept = bytes(data), dict(attributes)
            owned.append((copied, partition_key, kept))
            args += [copied, partition_key, orjson.dumps(kept) if kept else b""]
        key = log_key(self._connection, stream, shard)
        first, stamp = await self._connection.call(APPEND, [key], args)
        arrival = int(stamp) / 1_000_000
        return [
            LogRecord(int(first) + index, data, partition_key, arrival, attributes)
            for index, (data, partition_key, attributes) in enumerate(owned)
        ]

    async def read(
        self, stream: str, shard: str, after: int, limit: int, wait: float = 0.0
    ) -> list[LogRecord]:
        if limit <= 0:
            return []
        key = log_key(self._connection, stream, shard)
        entries = await self._range(key, max(after, 0), limit)
        if entries or wait <= 0 or self._closed.is_set():
            return [_record(entry_id, fields) for entry_id, fields in entries]
        return await self._poll(key, max(after, 0), limit, wait)

    async def _range(
        self, key: str, after: int, limit: int
    ) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """The entries after ``after`` (``XRANGE (after-0 +``), tried again as any command is
        while the server cannot be reached."""

        async def entries(client: aioredis.Redis) -> Any:
            return await client.xrange(key, f"({after}-0", "+", count=limit)

        found: list[tuple[bytes, dict[bytes, bytes]]] | None = await self._connection.run(
            "reading a log", entries
        )
        return found or []

    async def _poll(self, key: str, after: int, limit: int, wait: float) -> list[LogRecord]:
        """Block until a record after ``after`` is appended, ``wait`` passes, or ``close``."""
        client = await self._connection.client()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        closed = asyncio.ensure_future(self._closed.wait())
        reading: asyncio.Future[Any] | None = None
        try:
            while not closed.done():
                left = deadline - loop.time()
                if left <= 0:
                    break
                block = max(1, math.ceil(min(left, self._block_slice) * 1000))
                reading = asyncio.ensure_future(
                    client.xread({key: f"{after}-0"}, count=limit, block=block)
                )
                await asyncio.wait((reading, closed), return_when=asyncio.FIRST_COMPLETED)
                if not reading.done():
                    break  # closed
                try:
                    answer: list[Any] | None = reading.result()
                except REFUSED as exc:
                    raise self._connection.error("reading a log", exc) from exc
                except UNREACHABLE:
                    # The connection was dropped (CLIENT KILL, a restart, a network cut):
                    # look once more the way every command does, trying again while the
                    # server cannot be reached; the caller's next read blocks again.
                    found = await self._range(key, after, limit)
                    return [_record(entry_id, fields) for entry_id, fields in found]
                except RedisError as exc:
                    raise self._connection.error("reading a log", exc) from exc
                if answer:
                    entries: list[tuple[bytes, dict[bytes, bytes]]] = answer[0][1]
                    return [_record(entry_id, fields) for entry_id, fields in entries]
            return []
        finally:
            closed.cancel()
            if reading is not None and not reading.done():
                # redis-py drops the connection of a cancelled command; that ends on its own,
                # so a cancelled or closed poll returns at once.
                reading.cancel()
                reading.add_done_callback(_retrieve)

    async def bounds(self, stream: str, shard: str) -> tuple[int, int]:
        key = log_key(self._connection, stream, shard)
        before, last = await self._connection.call(BOUNDS, [key], [])
        return int(before), int(last)

    async def sequence_at(self, stream: str, shard: str, timestamp: float) -> int:
        key = log_key(self._connection, stream, shard)
        return int(await self._connection.call(SEQUENCE_AT, [key], [_micros(timestamp)]))

    async def trim(self, stream: str, shard: str, before: float) -> int:
        key = log_key(self._connection, stream, shard)
        return int(await self._connection.call(TRIM, [key], [_micros(before)]))

    async def close(self) -> None:
        """End the long polls in progress; the connection belongs to the backend, which closes
        it."""
        self._closed.set()
