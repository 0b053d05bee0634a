"""Retiring a function's environments (``eventmesh run --reload`` after a code change) keeps
its provisioned concurrency: the retired provisioned environments are replaced at once by new
ones, initialised ahead of any invocation, as the configuration still asks."""

from __future__ import annotations

import asyncio
from typing import Any

from eventmesh import Context, Mesh
from eventmesh.testing import VirtualClock


async def settle(clock: VirtualClock) -> None:
    for _ in range(5):
        await clock.advance(0)
        await asyncio.sleep(0)


async def test_idle_provisioned_environments_are_replaced_at_once(
    mesh: Mesh, clock: VirtualClock
) -> None:
    inits: list[str] = []

    @mesh.function
    async def handler(event: Any, context: Context) -> str:
        return context.log_stream_name

    @handler.init
    async def setup(context: Context) -> None:
        inits.append(context.log_stream_name)

    version = handler.publish_version()
    handler.provision(version.version, 2)
    async with mesh:
        await settle(clock)
        assert len(inits) == 2
        assert handler.retire_environments() == (2, 0)
        await settle(clock)
        pool = version.pool
        assert pool is not None
        assert (pool.provisioned, pool.idle) == (2, 2)
        assert len(inits) == 4  # initialised again, before any invocation
        result = await mesh.invoke("handler:1")
    assert result.cold_start is False
    assert result.payload in inits[2:]


async def test_a_busy_provisioned_environment_is_replaced_and_then_goes(
    mesh: Mesh, clock: VirtualClock
) -> None:
    release = asyncio.Event()

    @mesh.function(timeout=60)
    async def handler(event: Any, context: Context) -> str:
        if event == "slow":
            await release.wait()
        return context.log_stream_name

    version = handler.publish_version()
    handler.provision(version.version, 1)
    async with mesh:
        await settle(clock)
        pool = version.pool
        assert pool is not None
        slow = asyncio.ensure_future(mesh.invoke("handler:1", "slow"))
        await clock.advance(1)
        assert handler.retire_environments() == (0, 1)
        await settle(clock)
        assert (pool.provisioned, pool.idle) == (1, 1)  # its replacement, ready
        release.set()
        old = await slow
        await settle(clock)
        assert (pool.provisioned, pool.idle, pool.size) == (1, 1, 1)  # the old one went
        fresh = await mesh.invoke("handler:1", "fresh")
    assert fresh.cold_start is False
    assert fresh.payload != old.payload
