"""The raw redis-py loops eventmesh is measured beside when its storage is Redis.

Each does the work of its scenario with ``redis.asyncio`` (hiredis parsing when installed) and
nothing else, on the same server, under the same run's key prefix:

* :class:`RawQueue` is the smallest queue with eventmesh's at-least-once guarantee: a sorted
  set of visible-at times (0 for a new message, so new messages come out in the order of
  their zero-padded ids) and a hash of bodies. Receiving is one Lua script (``TIME``, take up
  to ``count`` visible ids, hide them until now + visibility, return their bodies), so a
  consumer that dies leaves its messages to come back after the visibility timeout, as
  eventmesh's do; acknowledging is one round trip per batch (``ZREM`` and ``HDEL``). A list
  ``bell`` wakes idle consumers (``BLPOP``) when a send lands. It keeps no receive counts,
  receipts, groups, delays or dead letters: those are what eventmesh adds.
* :class:`RawStream` is a Redis stream per shard read with ``XREAD`` after the last id, and a
  checkpoint written per batch.

Nothing here is imported unless the storage is Redis (redis-py is an optional extra).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode

__all__ = [
    "RawQueue",
    "RawStream",
    "consume_queue",
    "consume_stream",
    "delete_prefix",
    "raw_client",
    "run_prefix",
    "Running",
    "stop",
    "server_url",
    "used_memory",
]

_RECEIVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now),
  'LIMIT', 0, tonumber(ARGV[1]))
if #ids == 0 then
  redis.call('DEL', KEYS[3])
  return ids
end
local hidden = string.format('%.0f', now + tonumber(ARGV[2]))
local pairs_ = {}
for i, id in ipairs(ids) do
  pairs_[2 * i - 1] = hidden
  pairs_[2 * i] = id
end
redis.call('ZADD', KEYS[1], unpack(pairs_))
local bodies = redis.call('HMGET', KEYS[2], unpack(ids))
local out = {}
for i, id in ipairs(ids) do
  out[2 * i - 1] = id
  out[2 * i] = bodies[i]
end
return out
"""

BELL_KEEP = 16
"""Wake-ups kept in a queue's bell list at most (a busy consumer does not read them)."""
WAIT = 0.1
"""Seconds an idle raw consumer blocks before looking again (a hidden message may be due,
or the run may be over: a consumer is stopped between commands, because cancelling a
blocked redis-py command waits for its reply anyway and then closes the connection)."""


def server_url(storage: str) -> str:
    """The storage URL without eventmesh's options (what redis-py connects to)."""
    return storage.partition("?")[0]


def run_prefix(storage: str) -> tuple[str, str]:
    """``storage`` with a key prefix of its own (the given one, or ``eventmesh``, plus
    ``-bench-`` and a random suffix), and that prefix."""
    base, _, query = storage.partition("?")
    options = dict(parse_qsl(query, keep_blank_values=True))
    prefix = f"{options.get('prefix') or 'eventmesh'}-bench-{secrets.token_hex(4)}"
    options["prefix"] = prefix
    return f"{base}?{urlencode(options)}", prefix


RAW_POOL = 1000
"""Connections of a raw client's pool at most: idle raw consumers each hold one (BLPOP)."""


def raw_client(storage: str) -> Any:
    """A ``redis.asyncio`` client of the storage's server, with a pool of its own that waits
    for a free connection (as eventmesh's does) rather than failing."""
    import redis.asyncio as aioredis

    pool = aioredis.BlockingConnectionPool.from_url(
        server_url(storage), max_connections=RAW_POOL, timeout=30
    )
    return aioredis.Redis.from_pool(pool)


async def used_memory(client: Any) -> int:
    """The server's ``used_memory`` (bytes), from ``INFO memory``."""
    info = await client.info("memory")
    return int(info["used_memory"])


async def delete_prefix(storage: str, prefix: str) -> int:
    """Delete every key of a bench run (eventmesh's ``{prefix:...}`` and the raw loops');
    returns how many."""
    client = raw_client(storage)
    deleted = 0
    try:
        batch: list[bytes] = []
        async for key in client.scan_iter(match=f"{{{prefix}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += await client.unlink(*batch)
                batch.clear()
        if batch:
            deleted += await client.unlink(*batch)
    finally:
        await client.aclose()
    return deleted


class RawQueue:
    """A sorted set of visible-at times and a hash of bodies (see the module docstring)."""

    def __init__(self, client: Any, prefix: str, name: str, visibility: float = 900.0) -> None:
        base = f"{{{prefix}:raw:{name}}}"
        self.client = client
        self.keys = (f"{base}:visible", f"{base}:bodies", f"{base}:bell")
        self.visibility_us = int(visibility * 1_000_000)
        self._next = 0
        self._receive = client.register_script(_RECEIVE)

    async def send(self, bodies: Sequence[bytes]) -> None:
        """Store ``bodies`` in one round trip, and ring the bell."""
        pipe = self.client.pipeline(transaction=False)
        self.queue_send(pipe, bodies)
        await pipe.execute()

    def queue_send(self, pipe: Any, bodies: Sequence[bytes]) -> None:
        """Add the commands that store ``bodies`` to the pipeline ``pipe``."""
        visible, stored, bell = self.keys
        first, self._next = self._next, self._next + len(bodies)
        ids = [f"{first + index:012d}" for index in range(len(bodies))]
        pipe.hset(stored, mapping=dict(zip(ids, bodies, strict=True)))
        pipe.zadd(visible, dict.fromkeys(ids, 0))
        pipe.rpush(bell, 1)
        pipe.ltrim(bell, -BELL_KEEP, -1)

    async def receive(self, count: int) -> list[tuple[bytes, bytes]]:
        """Up to ``count`` visible messages as (id, body), hidden for the visibility timeout."""
        reply = await self._receive(keys=self.keys, args=[count, self.visibility_us])
        return list(zip(reply[::2], reply[1::2], strict=True))

    async def ack(self, ids: Sequence[bytes]) -> None:
        """Delete handled messages: one round trip for the batch."""
        visible, stored, _ = self.keys
        pipe = self.client.pipeline(transaction=False)
        pipe.zrem(visible, *ids)
        pipe.hdel(stored, *ids)
        await pipe.execute()

    async def wait(self) -> None:
        """Block (a pool connection of its own) until a send rings, or WAIT seconds."""
        await self.client.blpop([self.keys[2]], timeout=WAIT)


class Running:
    """Whether the raw consumers should go on (they stop between commands)."""

    def __init__(self) -> None:
        self.on = True


async def consume_queue(
    queue: RawQueue,
    deliver: Callable[[list[bytes]], Awaitable[None]],
    batch: int,
    running: Running,
) -> None:
    """One raw consumer, while ``running``: receive a batch, deliver it, acknowledge it."""
    receive, ack = queue.receive, queue.ack
    while running.on:
        messages = await receive(batch)
        if not messages:
            await queue.wait()
            continue
        await deliver([body for _, body in messages])
        await ack([message_id for message_id, _ in messages])


class RawStream:
    """A Redis stream per shard, and a checkpoint key per shard."""

    def __init__(self, client: Any, prefix: str, shards: int) -> None:
        self.client = client
        self.keys = [f"{{{prefix}:raw:stream:{shard}}}" for shard in range(shards)]

    async def append(self, shard: int, items: Sequence[tuple[bytes, str]]) -> None:
        """Append (data, partition key) pairs to one shard in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        key = self.keys[shard]
        for data, partition_key in items:
            pipe.xadd(key, {"d": data, "k": partition_key})
        await pipe.execute()


async def consume_stream(
    stream: RawStream,
    shard: int,
    deliver: Callable[[list[tuple[bytes, bytes, bytes]]], Awaitable[None]],
    batch: int,
    running: Running,
) -> None:
    """One shard's reader, while ``running``: read after the last id (blocking when there is
    nothing), deliver the batch as (id, data, partition key), write the checkpoint."""
    client, key = stream.client, stream.keys[shard]
    checkpoint = f"{key}:checkpoint"
    last = b"0-0"
    while running.on:
        reply = await client.xread({key: last}, count=batch, block=int(WAIT * 1000))
        if not reply:
            continue
        entries = reply[0][1]
        await deliver([(entry_id, fields[b"d"], fields[b"k"]) for entry_id, fields in entries])
        last = entries[-1][0]
        await client.set(checkpoint, last)


async def stop(running: Running, tasks: Sequence[asyncio.Task[None]]) -> None:
    """Stop raw consumers: they finish the command in hand (at most WAIT s), then end."""
    running.on = False
    if tasks:
        _, late = await asyncio.wait(tasks, timeout=10 * WAIT + 5)
        for task in late:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
