"""QueueStore on Redis: sorted sets of ready and hidden messages, a hash per message, Lua.

Keys of queue ``N`` under prefix ``P`` (one hash tag, so one Cluster slot, per queue)::

    {P:queue:N}:ready     ZSET  id -> sequence      visible messages, oldest sent first
    {P:queue:N}:hidden    ZSET  id -> visible-at µs  delayed and in-flight messages
    {P:queue:N}:sent      ZSET  id -> sent-at µs     every message, for purge (retention)
    {P:queue:N}:meta      HASH  seq (last sequence), delayed (how many delayed)
    {P:queue:N}:groups    HASH  group -> messages in flight (FIFO: a group with any waits)
    {P:queue:N}:m:<id>    HASH  b body, a attributes, g group, s sent-at, q sequence,
                                rc receive count, fr first receive, rh current receipt

Every operation is one script that reads the time from the server (``TIME``), so all the
processes sharing a queue share one clock. A hidden message whose time has come goes back to
``ready`` under its sequence, at the start of the next receive or stats ("surfacing"), so it
keeps its place ahead of later messages (what FIFO order needs after a visibility timeout).
A receipt is ``<id>:<receive count>``, kept in ``rh`` while that delivery is in flight: a
receipt from an earlier delivery matches nothing, so it deletes and extends nothing.

A delay is a visible-at time in ``hidden``, never "received and held", so it may be of any
length. A receive given a redrive policy moves a message past the maximum receive count to
the dead-letter queue in the same script (its hash renamed under the dead-letter queue's tag,
the ids moved between the sorted sets), so a crash never leaves it in both queues or in
neither. On Redis Cluster a queue and its dead-letter queue must then share a slot.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Sequence
from typing import Any

import orjson

from eventmesh.backends import Delivery, OutgoingMessage, QueueStats, Redrive
from eventmesh_redis.connection import RedisConnection, Script
from eventmesh_redis.doorbell import Doorbell

__all__ = ["QUEUE_SCRIPTS", "RedisQueueStore"]

_COMMON = """
local function num(x) return string.format('%.0f', x) end
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function release(groups, g)
  if redis.call('HINCRBY', groups, g, -1) <= 0 then redis.call('HDEL', groups, g) end
end
-- Hidden messages whose time has come go back to ready under their sequence.
local function surface(base, ready, hidden, meta, groups, now)
  local due = redis.call('ZRANGEBYSCORE', hidden, '-inf', num(now))
  if #due == 0 then return 0 end
  local delayed = 0
  for _, id in ipairs(due) do
    local m = base .. ':m:' .. id
    local f = redis.call('HMGET', m, 'rh', 'g', 'q')
    if f[3] then
      if f[1] ~= '' then
        redis.call('HSET', m, 'rh', '')
        if f[2] ~= '' then release(groups, f[2]) end
      else
        delayed = delayed + 1
      end
      redis.call('ZADD', ready, f[3], id)
    end
  end
  redis.call('ZREMRANGEBYSCORE', hidden, '-inf', num(now))
  if delayed > 0 then redis.call('HINCRBY', meta, 'delayed', -delayed) end
  return #due
end
"""

# KEYS: ready hidden sent meta; ARGV: base channel name, then (id body attrs group delay_us)...
_SEND = (
    _COMMON
    + """
local base = ARGV[1]
local now = clock()
local n = (#ARGV - 3) / 5
local seq = redis.call('HINCRBY', KEYS[4], 'seq', n) - n
local delayed = 0
for i = 0, n - 1 do
  local a = 4 + i * 5
  local id = ARGV[a]
  seq = seq + 1
  redis.call('HSET', base .. ':m:' .. id, 'b', ARGV[a + 1], 'a', ARGV[a + 2], 'g', ARGV[a + 3],
    's', num(now), 'q', num(seq), 'rc', 0, 'fr', 0, 'rh', '')
  redis.call('ZADD', KEYS[3], num(now), id)
  local delay = tonumber(ARGV[a + 4])
  if delay > 0 then
    redis.call('ZADD', KEYS[2], num(now + delay), id)
    delayed = delayed + 1
  else
    redis.call('ZADD', KEYS[1], num(seq), id)
  end
end
if delayed > 0 then redis.call('HINCRBY', KEYS[4], 'delayed', delayed) end
if n > delayed then redis.call('PUBLISH', ARGV[2], (n - delayed) .. ':' .. ARGV[3]) end
return n
"""
)

# KEYS: ready hidden meta groups sent, then with a redrive policy the dead-letter queue's
# ready sent meta; ARGV: base max visibility_us, then with a redrive policy the dead-letter
# queue's base, the maximum receive count, the channel and the dead-letter queue's name.
# Returns {µs until the next hidden message is due (-1: none), then 8 fields per delivery};
# a message moved to the dead-letter queue comes with an empty receipt.
_RECEIVE = (
    _COMMON
    + """
local base = ARGV[1]
local max = tonumber(ARGV[2])
local visibility = tonumber(ARGV[3])
local dead = ARGV[4]
local most = tonumber(ARGV[5] or '0')
local now = clock()
surface(base, KEYS[1], KEYS[2], KEYS[3], KEYS[4], now)
local out = {-1}
local taken = {}
local count = 0
local dead_count = 0
local start = 0
local first = num(now)
local hidden_until = num(now + visibility)
while count < max do
  local need = math.min(max - count, 1000)
  local ids = redis.call('ZRANGE', KEYS[1], start, start + need - 1)
  if #ids == 0 then break end
  local moved = {}
  for _, id in ipairs(ids) do
    local m = base .. ':m:' .. id
    local f = redis.call('HMGET', m, 'g', 'rc', 'fr', 'b', 'a', 's')
    local g = f[1]
    local free = true
    if not f[6] then
      free = false -- no message: a key removed by hand; drop the entry
      moved[#moved + 1] = id
    elseif g ~= '' and not taken[g] and redis.call('HEXISTS', KEYS[4], g) == 1 then
      free = false -- an earlier receive of this group is in flight
    end
    local rc = tonumber(f[2] or '0') + 1
    local receipt = ''
    local fr = f[3]
    if free and dead and rc > most then
      -- Redrive: to the end of the dead-letter queue, as sent then, keeping id and sent time.
      local seq = redis.call('HINCRBY', KEYS[8], 'seq', 1)
      redis.call('RENAME', m, dead .. ':m:' .. id)
      redis.call('HSET', dead .. ':m:' .. id, 'q', seq, 'rc', 0, 'fr', 0, 'rh', '')
      redis.call('ZADD', KEYS[6], seq, id)
      redis.call('ZADD', KEYS[7], f[6], id)
      redis.call('ZREM', KEYS[5], id)
      dead_count = dead_count + 1
    elseif free then
      if g ~= '' then
        taken[g] = true
        redis.call('HINCRBY', KEYS[4], g, 1)
      end
      if rc == 1 then fr = first end
      receipt = id .. ':' .. rc
      redis.call('HSET', m, 'rc', rc, 'fr', fr, 'rh', receipt)
      redis.call('ZADD', KEYS[2], hidden_until, id)
    end
    if free then
      moved[#moved + 1] = id
      count = count + 1
      local k = #out
      out[k + 1] = id
      out[k + 2] = receipt
      out[k + 3] = f[4]
      out[k + 4] = f[5]
      out[k + 5] = rc
      out[k + 6] = f[6]
      out[k + 7] = fr
      out[k + 8] = g
    end
  end
  if #moved > 0 then redis.call('ZREM', KEYS[1], unpack(moved)) end
  start = start + #ids - #moved
end
if dead_count > 0 then redis.call('PUBLISH', ARGV[6], dead_count .. ':' .. ARGV[7]) end
if count == 0 then
  local next = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  if #next > 0 then out[1] = math.max(0, tonumber(next[2]) - now) end
end
return out
"""
)

# KEYS: ready hidden sent groups; ARGV: base channel name, then (id receipt)...
_DELETE = (
    _COMMON
    + """
local base = ARGV[1]
local n = 0
local freed = false
for i = 4, #ARGV, 2 do
  local id = ARGV[i]
  local m = base .. ':m:' .. id
  local f = redis.call('HMGET', m, 'rh', 'g')
  if f[1] and f[1] ~= '' and f[1] == ARGV[i + 1] then
    redis.call('DEL', m)
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
    if f[2] ~= '' then
      release(KEYS[4], f[2])
      freed = true
    end
    n = n + 1
  end
end
if freed and redis.call('ZCARD', KEYS[1]) > 0 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return n
"""
)

# KEYS: ready hidden meta groups; ARGV: base channel name id receipt timeout_us.
_CHANGE_VISIBILITY = (
    _COMMON
    + """
local base = ARGV[1]
local held = redis.call('HGET', base .. ':m:' .. ARGV[4], 'rh')
if not held or held == '' or held ~= ARGV[5] then return 0 end
local now = clock()
local timeout = tonumber(ARGV[6])
redis.call('ZADD', KEYS[2], num(now + timeout), ARGV[4])
if timeout <= 0 then
  surface(base, KEYS[1], KEYS[2], KEYS[3], KEYS[4], now)
  redis.call('PUBLISH', ARGV[2], ARGV[3])
end
return 1
"""
)

# KEYS: ready hidden meta groups; ARGV: base. Returns {visible, hidden, delayed}.
_STATS = (
    _COMMON
    + """
surface(ARGV[1], KEYS[1], KEYS[2], KEYS[3], KEYS[4], clock())
local delayed = tonumber(redis.call('HGET', KEYS[3], 'delayed') or '0')
return {redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2]), delayed}
"""
)

# KEYS: ready hidden sent meta groups; ARGV: base channel name sent_before_us.
_PURGE = (
    _COMMON
    + """
local base = ARGV[1]
local cutoff = '(' .. ARGV[4]
local ids = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', cutoff)
local delayed = 0
local freed = false
for _, id in ipairs(ids) do
  local m = base .. ':m:' .. id
  local f = redis.call('HMGET', m, 'rh', 'g')
  if redis.call('ZREM', KEYS[1], id) == 0 then
    redis.call('ZREM', KEYS[2], id)
    if f[1] and f[1] ~= '' then
      if f[2] ~= '' then
        release(KEYS[5], f[2])
        freed = true
      end
    else
      delayed = delayed + 1
    end
  end
  redis.call('DEL', m)
end
if #ids > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', cutoff)
  if delayed > 0 then redis.call('HINCRBY', KEYS[4], 'delayed', -delayed) end
end
if freed then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return #ids
"""
)

_SEND_SCRIPT = Script("queue.send", _SEND)
_RECEIVE_SCRIPT = Script("queue.receive", _RECEIVE)
_DELETE_SCRIPT = Script("queue.delete", _DELETE)
_CHANGE_VISIBILITY_SCRIPT = Script("queue.change_visibility", _CHANGE_VISIBILITY)
_STATS_SCRIPT = Script("queue.stats", _STATS)
_PURGE_SCRIPT = Script("queue.purge", _PURGE)

QUEUE_SCRIPTS = (
    _SEND_SCRIPT,
    _RECEIVE_SCRIPT,
    _DELETE_SCRIPT,
    _CHANGE_VISIBILITY_SCRIPT,
    _STATS_SCRIPT,
    _PURGE_SCRIPT,
)

_KIND = "queue"


def _micros(seconds: float) -> int:
    """Seconds as whole microseconds, rounded up: a delay is never shortened."""
    return max(0, math.ceil(seconds * 1_000_000)) if seconds > 0 else 0


def _group(stored: bytes) -> str | None:
    """A message's group as stored: ``""`` for none, ``"=" + id`` for a group."""
    return stored[1:].decode() if stored else None


class RedisQueueStore:
    """:class:`~eventmesh.backends.QueueStore` on Redis (see the module docstring)."""

    redrives_in_receive = True

    def __init__(self, connection: RedisConnection) -> None:
        self._connection = connection
        connection.add_scripts(QUEUE_SCRIPTS)
        self._channel = connection.channel(_KIND)
        self._doorbell = Doorbell(connection, self._channel)
        self._closed = False

    def _keys(self, queue: str) -> tuple[str, str, str, str, str, str]:
        base = self._connection.key(_KIND, queue)
        return (
            base,
            f"{base}:ready",
            f"{base}:hidden",
            f"{base}:sent",
            f"{base}:meta",
            f"{base}:groups",
        )

    async def send(self, queue: str, messages: Sequence[OutgoingMessage]) -> list[str]:
        if not messages:
            return []
        base, ready, hidden, sent, meta, _ = self._keys(queue)
        ids = [uuid.uuid4().hex for _ in messages]
        args: list[Any] = [base, self._channel, queue]
        for message_id, message in zip(ids, messages, strict=True):
            attributes = orjson.dumps(dict(message.attributes)) if message.attributes else b""
            group = "" if message.group_id is None else f"={message.group_id}"
            args += [message_id, bytes(message.body), attributes, group, _micros(message.delay)]
        await self._connection.call(_SEND_SCRIPT, [ready, hidden, sent, meta], args)
        return ids

    async def _receive_once(
        self, queue: str, max_messages: int, visibility_timeout: float, redrive: Redrive | None
    ) -> tuple[list[Delivery], float | None]:
        """The deliveries, and when none: seconds until a hidden message is due (or None)."""
        base, ready, hidden, sent, meta, groups = self._keys(queue)
        keys = [ready, hidden, meta, groups, sent]
        args: list[Any] = [base, max_messages, _micros(visibility_timeout)]
        if redrive is not None:
            dead, dead_ready, _, dead_sent, dead_meta, _ = self._keys(redrive.dead_letter)
            keys += [dead_ready, dead_sent, dead_meta]
            args += [dead, redrive.max_receive_count, self._channel, redrive.dead_letter]
        reply = await self._connection.call(_RECEIVE_SCRIPT, keys, args)
        deliveries = []
        for at in range(1, len(reply), 8):
            message_id, receipt, body, attributes, count, sent, first, group = reply[at : at + 8]
            deliveries.append(
                Delivery(
                    message_id.decode(),
                    receipt.decode(),
                    body,
                    orjson.loads(attributes) if attributes else {},
                    int(count),
                    int(sent) / 1_000_000,
                    int(first) / 1_000_000,
                    _group(group),
                    not receipt,
                )
            )
        due = int(reply[0])
        return deliveries, (None if due < 0 else due / 1_000_000)

    async def receive(
        self,
        queue: str,
        max_messages: int,
        visibility_timeout: float,
        wait: float = 0.0,
        redrive: Redrive | None = None,
    ) -> list[Delivery]:
        if max_messages < 1 or self._closed:
            return []
        if wait <= 0:
            deliveries, _ = await self._receive_once(
                queue, max_messages, visibility_timeout, redrive
            )
            return deliveries
        poll = self._connection.options.poll_interval
        # The first long poll of this process subscribes (a connection and a round trip): the
        # wait counts from then, or a short one would end before it could be woken.
        await self._doorbell.listening(within=poll)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while not self._closed:
            rung = self._doorbell.register(queue)
            try:
                deliveries, due = await self._receive_once(
                    queue, max_messages, visibility_timeout, redrive
                )
                remaining = deadline - loop.time()
                if deliveries or remaining <= 0:
                    break
                pause = min(remaining, poll, math.inf if due is None else due + 0.001)
                await asyncio.wait([rung], timeout=pause)
            finally:
                self._doorbell.unregister(queue, rung)
        else:
            return []
        if 1 < max_messages <= len(deliveries) or rung.done():
            # A full batch of several may leave more behind, and a wake this receiver did not
            # use (it came while it was receiving) may be another message's: pass it on. A
            # receiver of one message at a time (an Event invocation's worker) does not: a
            # send wakes one receiver per message it made visible, and passing it on as well
            # measured 20 % fewer Event invocations per second.
            self._doorbell.ring(queue)
        return deliveries

    async def delete(self, queue: str, receipts: Sequence[str]) -> int:
        args: list[Any] = []
        for receipt in receipts:
            message_id, colon, _ = receipt.rpartition(":")
            if colon and message_id:
                args += [message_id, receipt]
        if not args:
            return 0
        base, ready, hidden, sent, _, groups = self._keys(queue)
        deleted = await self._connection.call(
            _DELETE_SCRIPT, [ready, hidden, sent, groups], [base, self._channel, queue, *args]
        )
        return int(deleted)

    async def change_visibility(self, queue: str, receipt: str, timeout: float) -> bool:
        message_id, colon, _ = receipt.rpartition(":")
        if not (colon and message_id):
            return False
        base, ready, hidden, _, meta, groups = self._keys(queue)
        changed = await self._connection.call(
            _CHANGE_VISIBILITY_SCRIPT,
            [ready, hidden, meta, groups],
            [base, self._channel, queue, message_id, receipt, _micros(timeout)],
        )
        return bool(changed)

    async def stats(self, queue: str) -> QueueStats:
        base, ready, hidden, _, meta, groups = self._keys(queue)
        visible, hidden_count, delayed = await self._connection.call(
            _STATS_SCRIPT, [ready, hidden, meta, groups], [base]
        )
        return QueueStats(
            visible=int(visible), in_flight=int(hidden_count) - int(delayed), delayed=int(delayed)
        )

    async def purge(self, queue: str, sent_before: float) -> int:
        base, ready, hidden, sent, meta, groups = self._keys(queue)
        removed = await self._connection.call(
            _PURGE_SCRIPT,
            [ready, hidden, sent, meta, groups],
            [base, self._channel, queue, repr(sent_before * 1_000_000)],
        )
        return int(removed)

    async def close(self) -> None:
        """End this process's long polls (they return what they have: nothing)."""
        self._closed = True
        await self._doorbell.close()
