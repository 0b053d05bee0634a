"""A mesh on Redis: the queue resource's own logic (redrive, deduplication) over the shared
stores, seen from two meshes standing for two processes."""

from __future__ import annotations

import asyncio

from eventmesh import Mesh, Telemetry


def _mesh(url: str) -> Mesh:
    return Mesh(storage=url, telemetry=Telemetry(enabled=False), drain_timeout=2.0)


async def test_a_message_received_too_often_moves_to_the_dead_letter_queue(
    redis_url: str,
) -> None:
    """Redrive is the queue resource's: it reads the receive count the Redis store keeps, on
    the receive that exceeds it, in whichever process receives."""
    first, second = _mesh(redis_url), _mesh(redis_url)
    queues = []
    for mesh in (first, second):
        mesh.queue("dlq")
        queues.append(
            mesh.queue("orders", visibility_timeout=0.2, max_receive_count=2, dead_letter="dlq")
        )
    async with first, second:
        await queues[0].send("poison")
        for receiver in queues:  # one receive in each process, never deleted
            assert [m.body for m in await receiver.receive()] == ["poison"]
            await asyncio.sleep(0.25)
        assert await queues[0].receive() == [], "the third receive redrives instead"
        (dead,) = await second.queue("dlq").receive()
        assert dead.body == "poison"


async def test_a_fifo_deduplication_id_is_seen_by_every_process(redis_url: str) -> None:
    first, second = _mesh(redis_url), _mesh(redis_url)
    async with first, second:
        await first.queue("jobs.fifo", fifo=True).send("a", group_id="g", deduplication_id="x")
        await second.queue("jobs.fifo", fifo=True).send("a", group_id="g", deduplication_id="x")
        got = await first.queue("jobs.fifo").receive(10)
        assert [m.body for m in got] == ["a"]
