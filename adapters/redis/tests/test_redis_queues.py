"""What the kit does not see: the key layout, and notifications between connections."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from eventmesh.backends import OutgoingMessage
from eventmesh.testing import VirtualClock
from eventmesh_redis import parse_redis_url, redis_backend_from_url


async def test_every_key_of_a_queue_carries_the_queues_hash_tag(redis_url: str) -> None:
    """One queue's keys hash to one Cluster slot: all start with ``{prefix:queue:name}``."""
    backend = redis_backend_from_url(redis_url, VirtualClock())
    await backend.queues.send("orders", [OutgoingMessage(b"m", group_id="g", delay=60)])
    await backend.queues.send("orders", [OutgoingMessage(b"n", group_id="g")])
    await backend.queues.receive("orders", 1, 30)
    await backend.queues.send("orders", [OutgoingMessage(b"o")])
    options = parse_redis_url(redis_url)
    client = aioredis.Redis.from_url(options.server_url)
    try:
        keys = [k.decode() async for k in client.scan_iter(match=f"*{options.prefix}*")]
    finally:
        await client.aclose()
    tag = f"{{{options.prefix}:queue:orders}}"
    assert keys and all(key.startswith(tag) for key in keys), keys
    assert {key[len(tag) :] for key in keys if ":m:" not in key} == {
        ":ready",
        ":hidden",
        ":sent",
        ":meta",
        ":groups",
    }
    await backend.close()


async def test_a_send_through_another_connection_wakes_a_long_poll_at_once(
    redis_url: str,
) -> None:
    """Two backends on one URL stand for two processes: the receiver's long poll returns when
    the other sends, not at its next fallback check (``poll_interval``, set long here)."""
    url = f"{redis_url}&poll_interval=30"
    receiver = redis_backend_from_url(url, VirtualClock())
    sender = redis_backend_from_url(url, VirtualClock())
    waiting = asyncio.create_task(receiver.queues.receive("q", 10, 30, wait=20))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    started = time.monotonic()
    await sender.queues.send("q", [OutgoingMessage(b"hello")])
    got = await asyncio.wait_for(waiting, 5)
    assert [d.body for d in got] == [b"hello"]
    assert time.monotonic() - started < 1
    await sender.close()
    await receiver.close()


async def test_a_delay_longer_than_the_visibility_is_not_a_held_receive(redis_url: str) -> None:
    """Celery's pitfall: a delayed message is never received and held, so a stats count shows
    it delayed, not in flight, and no receive takes it before its time."""
    backend = redis_backend_from_url(redis_url, VirtualClock())
    await backend.queues.send("q", [OutgoingMessage(b"later", delay=3600)])
    assert await backend.queues.receive("q", 10, 0.01) == []
    stats = await backend.queues.stats("q")
    assert (stats.visible, stats.in_flight, stats.delayed) == (0, 0, 1)
    await backend.close()


async def test_a_stale_receipt_extends_nothing(redis_url: str) -> None:
    """A worker paused past its visibility timeout wakes holding an old receipt: it can neither
    hide the message from the worker that now holds it nor return it early."""
    backend = redis_backend_from_url(redis_url, VirtualClock())
    queues = backend.queues
    await queues.send("q", [OutgoingMessage(b"m")])
    (old,) = await queues.receive("q", 1, 0.05)
    await asyncio.sleep(0.1)
    (new,) = await queues.receive("q", 1, 30)
    assert not await queues.change_visibility("q", old.receipt, 0)
    assert not await queues.change_visibility("q", old.receipt, 3600)
    assert await queues.receive("q", 1, 30) == []
    stats = await queues.stats("q")
    assert (stats.visible, stats.in_flight) == (0, 1)
    assert await queues.delete("q", [new.receipt]) == 1
    await backend.close()
