"""The invoker's hot-path bookkeeping: concurrency counted per pool (the total a sum of
the two), environments taken and given back inline, and the result of a handler that
returned nothing built field by field. Each is checked against what the general path gives.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from eventmesh import Context, InvocationResult, Mesh, TooManyRequestsError
from eventmesh.testing import VirtualClock


async def test_in_flight_counts_both_pools_while_calls_run_and_none_after(
    mesh: Mesh, clock: VirtualClock
) -> None:
    release = asyncio.Event()

    @mesh.function(reserved_concurrency=2, timeout=60)
    async def reserved(event: Any, context: Context) -> None:
        await release.wait()

    @mesh.function(timeout=60)
    async def shared(event: Any, context: Context) -> None:
        await release.wait()

    async with mesh:
        invoker = mesh._invoker
        calls = [asyncio.create_task(mesh.invoke(name)) for name in ("reserved", "shared") * 2]
        await clock.advance(1)
        during = (
            invoker.in_flight,
            invoker.reserved_in_flight,
            invoker.unreserved_in_flight,
            reserved.in_flight,
            shared.in_flight,
        )
        with pytest.raises(TooManyRequestsError):
            await mesh.invoke("reserved")  # its 2 reserved units are taken
        release.set()
        await asyncio.gather(*calls)
        # Warm now: the next calls take the hot path and leave the counts as they found them.
        assert (await mesh.invoke("shared")).function_error is None
        assert (await mesh.invoke("reserved")).function_error is None
        after = (
            invoker.in_flight,
            invoker.reserved_in_flight,
            invoker.unreserved_in_flight,
            reserved.in_flight,
            shared.in_flight,
        )
    assert during == (4, 2, 2, 2, 2)
    assert after == (0, 0, 0, 0, 0)
    assert reserved.stats.throttles == 1


async def test_hot_path_environments_are_reused_then_reaped_when_idle(clock: VirtualClock) -> None:
    from eventmesh import Telemetry

    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), environment_idle_timeout=10.0)
    streams: list[tuple[str, bool]] = []

    @mesh.function(timeout=5)
    async def steps(event: Any, context: Context) -> None:
        streams.append((context.log_stream_name, context.cold_start))
        if event == "wait":
            await clock.sleep(1)

    async with mesh:
        await mesh.invoke("steps")  # cold
        waiting = asyncio.create_task(mesh.invoke("steps", "wait"))  # warm, waits (watched)
        await clock.advance(1)
        await waiting  # given back inline
        await mesh.invoke("steps")  # warm, no wait
        pool = steps.latest.pool
        assert pool is not None
        assert (pool.size, pool.idle) == (1, 1)
        assert [environment.task for environment in pool.ready] == [None]
        await clock.advance(9)
        await mesh.invoke("steps")  # warm: idle for 9 s only
        await clock.advance(30)  # past the idle timeout: reclaimed
        reaped = (pool.size, pool.idle)
        await mesh.invoke("steps")  # cold again, in a new environment
    first = streams[0][0]
    assert streams[:4] == [(first, True), (first, False), (first, False), (first, False)]
    assert reaped == (0, 0)
    assert streams[4][1] is True and streams[4][0] != first


async def test_the_hot_paths_result_equals_the_general_ones(
    mesh: Mesh, clock: VirtualClock
) -> None:
    @mesh.function(timeout=5)
    async def quiet(event: Any, context: Context) -> None:
        if event == "wait":
            await clock.sleep(0.25)

    async with mesh:
        cold = await mesh.invoke("quiet")
        warm = await mesh.invoke("quiet")
        waiting = asyncio.create_task(mesh.invoke("quiet", "wait"))
        await clock.advance(0.25)
        waited = await waiting
    assert cold == InvocationResult(200, None, None, "$LATEST", cold.request_id, True, 0.0, 0.0)
    assert warm == InvocationResult(200, None, None, "$LATEST", warm.request_id, False, 0.0)
    assert waited == InvocationResult(200, None, None, "$LATEST", waited.request_id, False, 250.0)
    assert type(warm) is InvocationResult
    assert warm.request_id not in (cold.request_id, waited.request_id)
    assert quiet.stats.invocations == 3 and quiet.stats.errors == 0
