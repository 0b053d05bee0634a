"""Execution environments: cold then warm, one invocation each, reset, reclaim, provisioning."""

from __future__ import annotations

import asyncio
from typing import Any

from eventmesh import Context, Mesh, Telemetry
from eventmesh.testing import VirtualClock


async def test_init_runs_once_then_environments_stay_warm(mesh: Mesh) -> None:
    inits: list[str] = []

    @mesh.function
    async def handler(event: Any, context: Context) -> dict[str, Any]:
        return {"cold": context.cold_start, "db": context.state["db"]}

    @handler.init
    async def setup(context: Context) -> dict[str, str]:
        inits.append(context.log_stream_name)
        return {"db": "connected"}

    async with mesh:
        results = [await mesh.invoke("handler") for _ in range(3)]
    assert [r.payload["cold"] for r in results] == [True, False, False]
    assert [r.cold_start for r in results] == [True, False, False]
    assert all(r.payload["db"] == "connected" for r in results)
    assert len(inits) == 1
    assert handler.stats.cold_starts == 1
    assert handler.stats.invocations == 3


async def test_a_plain_def_init_hook_works_too(mesh: Mesh) -> None:
    @mesh.function
    def handler(event: Any, context: Context) -> Any:
        return context.state

    @handler.init
    def setup(context: Context) -> str:
        return "ready"

    async with mesh:
        assert (await mesh.invoke("handler")).payload == "ready"


async def test_each_environment_runs_one_invocation_at_a_time(
    mesh: Mesh, clock: VirtualClock
) -> None:
    streams: list[str] = []
    inits = 0

    @mesh.function(timeout=60)
    async def handler(event: Any, context: Context) -> None:
        streams.append(context.log_stream_name)
        await clock.sleep(10)

    @handler.init
    async def setup(context: Context) -> None:
        nonlocal inits
        inits += 1

    async with mesh:
        tasks = [asyncio.create_task(mesh.invoke("handler")) for _ in range(3)]
        await clock.advance(10)
        results = await asyncio.gather(*tasks)
        # Done: the three environments are idle and warm; three more reuse them.
        again = await asyncio.gather(
            *(asyncio.create_task(mesh.invoke("handler")) for _ in range(3)),
            clock.advance(10),
        )
    assert inits == 3
    assert len(set(streams[:3])) == 3
    assert all(r.cold_start for r in results)
    assert not any(r.cold_start for r in again[:3])  # type: ignore[union-attr]


async def test_an_exception_keeps_the_environment_warm(mesh: Mesh) -> None:
    inits = 0

    @mesh.function
    async def handler(event: Any, context: Context) -> None:
        if event == "fail":
            raise RuntimeError("handled by Lambda's runtime, the environment lives on")

    @handler.init
    async def setup(context: Context) -> None:
        nonlocal inits
        inits += 1

    async with mesh:
        await mesh.invoke("handler", "fail")
        result = await mesh.invoke("handler", "ok")
    assert inits == 1
    assert result.cold_start is False


async def test_a_timeout_resets_the_environment(mesh: Mesh, clock: VirtualClock) -> None:
    inits = 0

    @mesh.function(timeout=2)
    async def handler(event: Any, context: Context) -> None:
        if event == "hang":
            await asyncio.Event().wait()

    @handler.init
    async def setup(context: Context) -> None:
        nonlocal inits
        inits += 1

    async with mesh:
        await mesh.invoke("handler", "ok")
        task = asyncio.create_task(mesh.invoke("handler", "hang"))
        await clock.advance(2)
        assert (await task).payload["errorType"] == "Sandbox.Timedout"
        after = await mesh.invoke("handler", "ok")
    assert after.cold_start is True
    assert inits == 2


async def test_an_init_error_fails_the_invocation_and_init_runs_again_next_time(
    mesh: Mesh,
) -> None:
    attempts = 0

    @mesh.function
    async def handler(event: Any, context: Context) -> str:
        return context.state

    @handler.init
    async def setup(context: Context) -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("database not reachable")
        return "connected"

    async with mesh:
        first = await mesh.invoke("handler")
        second = await mesh.invoke("handler")
    assert first.function_error == "Unhandled"
    assert first.payload["errorType"] == "ConnectionError"
    assert second.payload == "connected"
    assert second.cold_start is True


async def test_an_init_hook_slower_than_ten_seconds_times_out(
    mesh: Mesh, clock: VirtualClock
) -> None:
    @mesh.function(timeout=60)
    async def handler(event: Any, context: Context) -> None:
        return None

    @handler.init
    async def setup(context: Context) -> None:
        await clock.sleep(11)

    async with mesh:
        task = asyncio.create_task(mesh.invoke("handler"))
        await clock.advance(10)
        result = await task
    assert result.payload["errorType"] == "Sandbox.Timedout"


async def test_idle_environments_are_reclaimed(clock: VirtualClock) -> None:
    mesh = Mesh(clock=clock, environment_idle_timeout=300, telemetry=Telemetry(enabled=False))

    @mesh.function
    async def handler(event: Any, context: Context) -> None:
        return None

    async with mesh:
        assert (await mesh.invoke("handler")).cold_start
        await clock.advance(299)
        assert not (await mesh.invoke("handler")).cold_start  # used again: idle clock restarts
        await clock.advance(301)
        assert (await mesh.invoke("handler")).cold_start


async def test_provisioned_environments_are_initialised_at_start_and_kept(
    clock: VirtualClock,
) -> None:
    mesh = Mesh(clock=clock, environment_idle_timeout=60, telemetry=Telemetry(enabled=False))
    inits = 0

    @mesh.function(provisioned_concurrency=2)
    async def handler(event: Any, context: Context) -> None:
        return None

    @handler.init
    async def setup(context: Context) -> None:
        nonlocal inits
        inits += 1

    async with mesh:
        assert inits == 2, "both provisioned environments initialise before any invocation"
        assert not (await mesh.invoke("handler")).cold_start
        await clock.advance(3600)
        assert not (await mesh.invoke("handler")).cold_start
    assert inits == 2
