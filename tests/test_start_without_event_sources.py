"""mesh.start(event_sources=False): mappings and schedules stay still, everything else runs:
how ``eventmesh invoke`` runs one invocation of an application and nothing else."""

from __future__ import annotations

from typing import Any

from eventmesh import Context, Mesh
from eventmesh.testing import VirtualClock


async def test_mappings_and_schedules_do_not_run_but_invocations_do(
    mesh: Mesh, clock: VirtualClock
) -> None:
    seen: list[Any] = []

    @mesh.function
    async def worker(event: Any, context: Context) -> str:
        seen.append(event)
        return "done"

    queue = mesh.queue("orders")
    queue.subscribe(worker)
    mesh.schedule("rate(1 minute)", worker, name="tick")
    await mesh.start(event_sources=False)
    try:
        await queue.send("a message")
        await clock.advance(300)
        assert seen == []  # no poller took the message, no tick fired
        assert (await queue.stats()).visible == 1  # the message waits in the queue
        result = await mesh.invoke("worker", {"by": "hand"})
        assert result.payload == "done"
        assert seen == [{"by": "hand"}]
    finally:
        assert await mesh.stop() is True  # the held sources are not drained nor stopped


async def test_by_default_the_sources_run(mesh: Mesh, clock: VirtualClock) -> None:
    seen: list[Any] = []

    @mesh.function
    async def worker(event: Any, context: Context) -> None:
        seen.append(event)

    queue = mesh.queue("orders")
    queue.subscribe(worker)
    async with mesh:
        await queue.send("a message")
        await clock.advance(5)
    assert len(seen) == 1
