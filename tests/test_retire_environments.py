"""Function.retire_environments: every environment made so far goes (idle ones now, busy ones
when their invocation ends), the next invocation starts cold, and no work is lost: what
``eventmesh run --reload`` does to a function whose code changed."""

from __future__ import annotations

import asyncio
from typing import Any

from eventmesh import Context, Mesh
from eventmesh.testing import VirtualClock


async def test_idle_environments_end_and_the_next_invocation_is_cold(mesh: Mesh) -> None:
    inits: list[str] = []

    @mesh.function
    async def handler(event: Any, context: Context) -> str:
        return context.log_stream_name

    @handler.init
    async def setup(context: Context) -> None:
        inits.append(context.log_stream_name)

    async with mesh:
        first = await mesh.invoke("handler")
        assert (await mesh.invoke("handler")).cold_start is False
        assert handler.retire_environments() == (1, 0)
        after = await mesh.invoke("handler")
        again = await mesh.invoke("handler")
    assert first.cold_start is True
    assert after.cold_start is True
    assert after.payload != first.payload  # a new environment
    assert again.cold_start is False and again.payload == after.payload
    assert len(inits) == 2


async def test_a_busy_environment_finishes_its_invocation_then_goes(
    mesh: Mesh, clock: VirtualClock
) -> None:
    release = asyncio.Event()
    reclaimed: list[str] = []

    @mesh.function(timeout=60)
    async def handler(event: Any, context: Context) -> dict[str, Any]:
        if event == "slow":
            await release.wait()
        return {"stream": context.log_stream_name, "event": event}

    async with mesh:
        pool = handler.latest.pool
        assert pool is not None
        pool.on_reclaim = lambda environment: reclaimed.append(environment.log_stream_name)
        slow = asyncio.ensure_future(mesh.invoke("handler", "slow"))
        await clock.advance(1)
        assert handler.retire_environments() == (0, 1)
        fresh = await mesh.invoke("handler", "fresh")
        release.set()
        old = await slow
        assert pool.idle == 1  # only the new environment is kept
        assert pool.size == 1
        warm = await mesh.invoke("handler", "warm")
    assert old.function_error is None
    assert old.payload == {"stream": old.payload["stream"], "event": "slow"}
    assert fresh.cold_start is True
    assert fresh.payload["stream"] != old.payload["stream"]
    assert reclaimed == [old.payload["stream"]]  # the retired one went once it finished
    assert warm.cold_start is False and warm.payload["stream"] == fresh.payload["stream"]


async def test_a_retired_environment_that_returns_nothing_is_not_reused(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """The invoker's fast path gives back an environment whose handler returned None inline:
    a retired one must go there too."""
    release = asyncio.Event()
    streams: list[str] = []

    @mesh.function(timeout=60)
    async def handler(event: Any, context: Context) -> None:
        streams.append(context.log_stream_name)
        if event == "slow":
            await release.wait()

    async with mesh:
        await mesh.invoke("handler", "warm-up")
        slow = asyncio.ensure_future(mesh.invoke("handler", "slow"))  # warm: the fast path
        await clock.advance(1)
        handler.retire_environments()
        release.set()
        assert (await slow).cold_start is False
        assert (await mesh.invoke("handler", "after")).cold_start is True
    assert streams[0] == streams[1] != streams[2]


async def test_published_versions_are_retired_and_queued_events_kept(
    mesh: Mesh, clock: VirtualClock
) -> None:
    seen: list[tuple[str, bool]] = []

    @mesh.function
    async def handler(event: Any, context: Context) -> None:
        seen.append((event, context.cold_start))

    handler.publish_version()
    async with mesh:
        await mesh.invoke("handler:1", "v1")
        await mesh.invoke("handler", "latest")
        await mesh.invoke("handler", "queued", "Event")
        assert handler.retire_environments()[0] >= 1
        await mesh.invoke("handler:1", "v1 again")
        await mesh.drain()
    assert ("v1 again", True) in seen
    assert [event for event, _ in seen].count("queued") == 1
