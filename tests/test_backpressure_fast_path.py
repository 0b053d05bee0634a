"""``PendingLimit.try_acquire``: the synchronous path a producer takes first. It counts a
unit exactly when ``acquire`` would go on at once without yielding, and otherwise counts
nothing, leaving the call (and the yield rule's count) to ``acquire``.

Expected counts are written by hand: with ``YIELD_EVERY`` at 32, calls 32, 64, 96... yield.
"""

from __future__ import annotations

import asyncio

import pytest

from eventmesh import BackpressureError, Mesh, Telemetry
from eventmesh._backpressure import YIELD_EVERY, PendingLimit
from eventmesh.testing import VirtualClock, settle


async def _acquire_yielded(limit: PendingLimit) -> bool:
    """Await ``acquire`` and say whether it went through the loop (a callback scheduled
    just before ran by the time it returns)."""
    ran: list[bool] = []
    asyncio.get_running_loop().call_soon(ran.append, True)
    await limit.acquire(timeout=0)
    return bool(ran)


def test_the_yield_rule_is_every_32_calls() -> None:
    assert YIELD_EVERY == 32


def test_try_acquire_counts_under_the_limit_and_refuses_at_it(clock: VirtualClock) -> None:
    limit = PendingLimit("queue", "jobs", 3, clock)
    assert [limit.try_acquire() for _ in range(5)] == [True, True, True, False, False]
    assert limit.pending == 3
    limit.release()
    assert limit.pending == 2
    assert limit.try_acquire() is True
    assert limit.pending == 3
    assert limit.try_acquire() is False
    limit.release(2)
    assert [limit.try_acquire() for _ in range(3)] == [True, True, False]
    assert limit.pending == 3


async def test_at_the_limit_acquire_decides_as_before(clock: VirtualClock) -> None:
    """A refused try_acquire stores nothing: acquire then raises (timeout 0) or, after a
    release, takes the room."""
    limit = PendingLimit("queue", "jobs", 2, clock)
    assert limit.try_acquire() and limit.try_acquire()
    assert limit.try_acquire() is False
    with pytest.raises(BackpressureError, match="queue 'jobs' has 2 pending, at its limit of 2"):
        await limit.acquire(timeout=0)
    assert limit.pending == 2
    limit.release()
    await limit.acquire(timeout=0)
    assert limit.pending == 2


async def test_try_acquire_does_not_pass_a_waiting_producer(clock: VirtualClock) -> None:
    """Room freed while a producer waits goes to that producer, not to a later try_acquire."""
    limit = PendingLimit("queue", "jobs", 1, clock)
    assert limit.try_acquire()
    waiter = asyncio.create_task(limit.acquire())
    await asyncio.sleep(0)
    assert limit.waiting == 1
    limit.release()  # granted to the waiter: counted for it before it wakes
    assert limit.pending == 1
    assert limit.try_acquire() is False
    await waiter
    assert (limit.pending, limit.waiting) == (1, 0)


async def test_try_acquire_leaves_every_32nd_call_to_acquire_which_yields(
    clock: VirtualClock,
) -> None:
    limit = PendingLimit("queue", "jobs", None, clock)
    assert all(limit.try_acquire() for _ in range(31))
    assert limit.try_acquire() is False  # call 32: a yield is due
    assert limit.pending == 31  # nothing counted for it
    assert limit.try_acquire() is False  # still call 32: the refusal did not count the call
    assert await _acquire_yielded(limit) is True  # acquire counts call 32 and yields
    assert limit.pending == 32
    assert all(limit.try_acquire() for _ in range(31))  # calls 33-63
    assert limit.try_acquire() is False  # call 64
    assert await _acquire_yielded(limit) is True
    assert limit.pending == 64


async def test_calls_through_either_path_count_towards_the_same_yields(
    clock: VirtualClock,
) -> None:
    """Ten awaited acquires, then try_acquire: the 32nd call overall is refused, as the
    general path alone would have yielded on it."""
    limit = PendingLimit("queue", "jobs", 100, clock)
    yielded = [await _acquire_yielded(limit) for _ in range(10)]
    assert yielded == [False] * 10
    assert [limit.try_acquire() for _ in range(22)] == [True] * 21 + [False]
    assert await _acquire_yielded(limit) is True  # call 32
    assert limit.pending == 32
    assert [await _acquire_yielded(limit) for _ in range(32)] == [False] * 31 + [True]  # 33-64


async def test_a_stopped_limit_refuses_only_when_full(clock: VirtualClock) -> None:
    """As acquire: a stopped resource with room takes the unit; at its limit, try_acquire
    refuses and acquire says the mesh stopped."""
    limit = PendingLimit("queue", "jobs", 1, clock)
    limit.stop()
    assert limit.try_acquire() is True
    assert limit.try_acquire() is False
    with pytest.raises(BackpressureError, match="the mesh stopped"):
        await limit.acquire()
    assert limit.pending == 1


async def test_queue_send_counts_inline_as_try_acquire_does(clock: VirtualClock) -> None:
    """``Queue.send`` takes try_acquire's path inline: each send under the limit is counted
    at once, the 32nd call goes to acquire and yields, and a send at the limit neither passes
    a producer waiting for room nor stores anything."""
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=0.5)
    queue = mesh.queue("jobs", max_pending=40)
    async with mesh:
        seen: list[int] = []

        async def look() -> None:
            seen.append(queue.limit.pending)

        marker = asyncio.create_task(look())
        for n in range(31):
            await queue.send({"n": n})
        assert seen == []  # 31 sends, none yielded
        assert queue.limit.pending == 31
        await queue.send({"n": 31})  # call 32 yields before it counts
        assert seen == [31]
        await marker
        for n in range(32, 40):
            await queue.send({"n": n})
        assert queue.limit.pending == 40
        waiting = asyncio.create_task(queue.send({"n": "waits"}))
        await settle()
        assert not waiting.done() and queue.limit.waiting == 1
        (message,) = await queue.receive()
        assert await queue.delete(message.receipt_handle)  # the room goes to the waiter
        with pytest.raises(BackpressureError):
            await queue.send({"n": "late"}, timeout=0)
        await waiting
        assert queue.limit.pending == 40
        assert (await queue.stats()).total == 40
