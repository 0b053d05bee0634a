"""Concurrency limits and throttling: a throttled invocation never runs its handler."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from eventmesh import ConfigurationError, Context, Mesh, Telemetry, TooManyRequestsError
from eventmesh.testing import VirtualClock


def blocking_function(mesh: Mesh, name: str, gate: asyncio.Event, **settings: Any) -> list[Any]:
    """Register a function that waits for ``gate``; returns the list of events it ran."""
    ran: list[Any] = []

    async def handler(event: Any, context: Context) -> None:
        ran.append(event)
        await gate.wait()

    mesh.function(name=name, timeout=900, **settings)(handler)
    return ran


async def test_the_mesh_limit_throttles_without_running_the_handler(clock: VirtualClock) -> None:
    mesh = Mesh(clock=clock, concurrency_limit=2, telemetry=Telemetry(enabled=False))
    gate = asyncio.Event()
    ran = blocking_function(mesh, "work", gate)

    async with mesh:
        running = [asyncio.create_task(mesh.invoke("work", i)) for i in range(2)]
        await clock.advance(0)
        with pytest.raises(TooManyRequestsError) as caught:
            await mesh.invoke("work", "third")
        gate.set()
        await asyncio.gather(*running)
        assert (await mesh.invoke("work", "fourth")).status_code == 200
    assert caught.value.reason == "ConcurrentInvocationLimitExceeded"
    assert caught.value.retry_after > 0
    assert caught.value.function_name == "work"
    assert ran == [0, 1, "fourth"]
    assert mesh.functions["work"].stats.throttles == 1


async def test_reserved_concurrency_caps_the_function(mesh: Mesh, clock: VirtualClock) -> None:
    gate = asyncio.Event()
    ran = blocking_function(mesh, "capped", gate, reserved_concurrency=1)
    other = blocking_function(mesh, "free", gate)

    async with mesh:
        first = asyncio.create_task(mesh.invoke("capped", 1))
        await clock.advance(0)
        with pytest.raises(TooManyRequestsError) as caught:
            await mesh.invoke("capped", 2)
        free = asyncio.create_task(mesh.invoke("free", "unaffected"))
        await clock.advance(0)
        gate.set()
        await asyncio.gather(first, free)
    assert caught.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert ran == [1]
    assert other == ["unaffected"]


async def test_reserved_concurrency_is_taken_from_the_shared_pool(clock: VirtualClock) -> None:
    mesh = Mesh(clock=clock, concurrency_limit=20, telemetry=Telemetry(enabled=False))
    gate = asyncio.Event()
    blocking_function(mesh, "reserved", gate, reserved_concurrency=8)
    ran = blocking_function(mesh, "shared", gate)

    async with mesh:
        tasks = [asyncio.create_task(mesh.invoke("shared", i)) for i in range(12)]
        await clock.advance(0)
        with pytest.raises(TooManyRequestsError):
            await mesh.invoke("shared", "thirteenth")
        gate.set()
        await asyncio.gather(*tasks)
    assert len(ran) == 12


async def test_reserved_zero_throttles_every_request_response(mesh: Mesh) -> None:
    @mesh.function(reserved_concurrency=0)
    async def disabled(event: Any, context: Context) -> None:
        raise AssertionError("must never run")

    async with mesh:
        with pytest.raises(TooManyRequestsError) as caught:
            await mesh.invoke("disabled")
    assert caught.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"


def test_reserving_more_than_the_mesh_allows_is_a_configuration_error() -> None:
    mesh = Mesh(concurrency_limit=100)

    @mesh.function(reserved_concurrency=50)
    async def first(event: Any, context: Context) -> None:
        return None

    with pytest.raises(ConfigurationError, match="at least 10 must stay unreserved"):

        @mesh.function(reserved_concurrency=41)
        async def second(event: Any, context: Context) -> None:
            return None

    with pytest.raises(ConfigurationError, match="unreserved"):
        first.update_configuration(reserved_concurrency=91)
    assert first.config.reserved_concurrency == 50


async def test_concurrency_comes_back_after_errors_and_timeouts(
    mesh: Mesh, clock: VirtualClock
) -> None:
    @mesh.function(reserved_concurrency=1, timeout=1)
    async def flaky(event: Any, context: Context) -> None:
        if event == "raise":
            raise ValueError("boom")
        if event == "hang":
            await asyncio.Event().wait()

    async with mesh:
        await mesh.invoke("flaky", "raise")
        task = asyncio.create_task(mesh.invoke("flaky", "hang"))
        await clock.advance(1)
        await task
        assert (await mesh.invoke("flaky", "fine")).function_error is None
    assert flaky.in_flight == 0


async def test_a_new_reserved_concurrency_applies_to_the_next_invocation(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Reserved concurrency is $LATEST's setting for every version (§2.2), read at each
    invocation: a change made while one runs applies to the next, never to the running one."""
    gate = asyncio.Event()

    @mesh.function(name="held", reserved_concurrency=1, timeout=60)
    async def held(event: Any, context: Context) -> str:
        if event == "wait":
            await gate.wait()
        return "ok"

    async with mesh:
        version = held.publish_version()
        running = asyncio.create_task(mesh.invoke("held", "wait"))
        await clock.advance(0)
        with pytest.raises(TooManyRequestsError):
            await mesh.invoke(f"held:{version.version}", "now")
        held.update_configuration(reserved_concurrency=2)
        assert (await mesh.invoke(f"held:{version.version}", "now")).payload == "ok"
        held.update_configuration(reserved_concurrency=0)
        with pytest.raises(TooManyRequestsError):
            await mesh.invoke("held", "now")
        gate.set()
        assert (await running).payload == "ok"
        assert held.stats.throttles == 2
