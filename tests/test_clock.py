"""The virtual clock runs what is due, in order, and nothing early."""

from __future__ import annotations

import asyncio

import pytest

from eventmesh import RealClock
from eventmesh.testing import VirtualClock


async def test_sleepers_wake_in_time_order_and_not_early() -> None:
    clock = VirtualClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("b", 120), ("a", 60), ("c", 180))]
    await clock.advance(59.9)
    assert woke == []
    await clock.advance(100)
    assert woke == [("a", 60), ("b", 120)]
    await clock.advance(1000)
    assert woke == [("a", 60), ("b", 120), ("c", 180)]
    assert clock.now() == pytest.approx(1159.9)
    await asyncio.gather(*tasks)


async def test_a_chain_of_sleeps_inside_one_advance_runs_fully() -> None:
    clock = VirtualClock()
    times: list[float] = []

    async def ticker() -> None:
        for _ in range(5):
            await clock.sleep(10)
            times.append(clock.now())

    task = asyncio.create_task(ticker())
    await clock.advance(45)
    assert times == [10, 20, 30, 40]
    await clock.advance(5)
    assert times == [10, 20, 30, 40, 50]
    await task


async def test_cancelled_timers_do_not_fire() -> None:
    clock = VirtualClock()
    fired: list[str] = []
    handle = clock.call_at(5, lambda: fired.append("cancelled"))
    clock.call_at(6, lambda: fired.append("kept"))
    handle.cancel()
    await clock.advance(10)
    assert fired == ["kept"]


async def test_wall_time_moves_with_the_clock() -> None:
    clock = VirtualClock(start=1_000_000.0)
    await clock.advance(2.5)
    assert clock.time() == 1_000_002.5
    with pytest.raises(ValueError, match="back in time"):
        await clock.advance(-1)


async def test_run_until_idle_fires_everything() -> None:
    clock = VirtualClock()
    fired: list[float] = []
    for when in (3600, 10, 86400):
        clock.call_at(when, lambda when=when: fired.append(when))  # type: ignore[misc]
    await clock.run_until_idle()
    assert fired == [10, 3600, 86400]
    assert clock.pending_timers == 0


async def test_the_real_clock_sleeps_and_fires_timers() -> None:
    clock = RealClock()
    fired = asyncio.Event()
    start = clock.now()
    clock.call_at(clock.now() + 0.01, fired.set)
    await asyncio.wait_for(fired.wait(), 2)
    await clock.sleep(0.01)
    assert clock.now() - start >= 0.01
    assert clock.time() > 1.7e9
