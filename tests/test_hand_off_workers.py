"""HandOff's workers on their own: spawned on demand up to the capacity, idle ones retired
POLL_WAIT (20 s) after they went idle except the most recently idle one, what a worker's
``process`` raises logged, and each worker's context the owner's (eventmesh._hand_off)."""

from __future__ import annotations

import asyncio
import contextvars
import logging

import pytest

from eventmesh._hand_off import HandOff
from eventmesh.testing import VirtualClock, settle

LOGGER = logging.getLogger("tests.hand_off")
who: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


class Gates:
    """Items are names; each one's process waits until its gate opens."""

    def __init__(self) -> None:
        self.gates: dict[str, asyncio.Event] = {}
        self.workers: dict[str, asyncio.Task[object] | None] = {}

    async def process(self, item: str) -> None:
        self.workers[item] = asyncio.current_task()
        await self.gates.setdefault(item, asyncio.Event()).wait()

    def open(self, item: str) -> None:
        self.gates.setdefault(item, asyncio.Event()).set()


def hand_off(gates: Gates, clock: VirtualClock, capacity: int) -> HandOff[str]:
    return HandOff("test", gates.process, capacity=lambda: capacity, clock=clock, logger=LOGGER)


async def test_workers_are_spawned_up_to_the_capacity() -> None:
    clock, gates = VirtualClock(), Gates()
    workers = hand_off(gates, clock, 3)
    workers.start()
    for item in "abcde":
        workers.put(item)
    await settle()
    assert (len(workers.tasks), workers.busy, list(workers.ready)) == (3, 3, ["d", "e"])
    gates.open("a")
    await settle()
    assert (sorted(gates.workers), list(workers.ready)) == (["a", "b", "c", "d"], ["e"])
    await workers.stop()


@pytest.mark.parametrize("restarted", [False, True])
async def test_idle_workers_retire_20_s_after_going_idle_except_the_most_recent(
    restarted: bool,
) -> None:
    """Four workers go idle at 0, 10, 20 and 25 s: the sweep at 30 s (20 s after a second
    one went idle) retires those idle since 0 and 10, the next at 40 s the one idle since 20;
    the most recently idle one stays for good. After a restart (stopped with a sweep armed)
    it works the same."""
    clock, gates = VirtualClock(), Gates()
    workers = hand_off(gates, clock, 4)
    workers.start()
    if restarted:
        for item in "xy":
            workers.put(item)
        await settle()
        for item in "xy":
            gates.open(item)
        await settle()  # two idle workers: a sweep is armed
        await workers.stop()
        workers.start()
    for item in "abcd":
        workers.put(item)
    await settle()
    assert len(workers.tasks) == 4
    for item, wait in zip("abcd", (10, 10, 5, 0), strict=True):
        gates.open(item)
        await clock.advance(wait)  # "a"'s worker idle at 0, "b"'s at 10, "c"'s at 20, "d"'s at 25
    counts = [len(workers.tasks)]  # at 25 s
    for wait in (5, 9.9, 0.1, 1000):
        await clock.advance(wait)
        counts.append(len(workers.tasks))  # at 30, 39.9, 40 and 1040 s
    assert counts == [4, 2, 2, 1, 1]
    assert workers.tasks == {gates.workers["d"]}
    await workers.stop()


async def test_what_process_raises_is_logged_and_the_worker_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    done: list[str] = []

    async def process(item: str) -> None:
        if item == "bad":
            raise RuntimeError("broken item")
        done.append(item)

    workers = HandOff("named", process, capacity=lambda: 1, clock=VirtualClock(), logger=LOGGER)
    workers.start()
    for item in ("bad", "good"):
        workers.put(item)
    await settle()
    await workers.stop()
    errors = [(r.name, r.getMessage()) for r in caplog.records if r.levelno >= logging.ERROR]
    assert done == ["good"]
    assert errors == [("tests.hand_off", "processing an item of named failed")]


async def test_nothing_runs_before_start() -> None:
    clock, gates = VirtualClock(), Gates()
    workers = hand_off(gates, clock, 2)
    workers.put("early")
    await settle()
    assert (gates.workers, len(workers.tasks)) == ({}, 0)
    workers.start()
    await settle()
    assert list(gates.workers) == ["early"]
    await workers.stop()


async def test_workers_run_in_the_context_the_hand_off_was_made_in() -> None:
    """Not a producer's: with the first worker busy, a put from another context starts a
    second worker, which sees the context the hand-off was made in."""
    seen: list[str] = []
    gate = asyncio.Event()

    async def process(item: str) -> None:
        seen.append(who.get())
        if item == "first":
            await gate.wait()

    async def make() -> HandOff[str]:
        who.set("owner")
        return HandOff("ctx", process, capacity=lambda: 2, clock=VirtualClock(), logger=LOGGER)

    workers = await asyncio.create_task(make())
    workers.start()
    workers.put("first")
    await settle()

    async def producer() -> None:
        who.set("producer")
        workers.put("second")
        await settle()

    await asyncio.create_task(producer())
    assert len(workers.tasks) == 2
    gate.set()
    await workers.stop()
    assert seen == ["owner", "owner"]


async def test_a_worker_idle_alone_is_retired_20_s_after_a_second_one_goes_idle() -> None:
    """The sweep is armed only while several workers are idle: one idle since 0 outlasts
    POLL_WAIT alone, and is retired 20 s after a second one goes idle (at 100), not before."""
    clock, gates = VirtualClock(), Gates()
    workers = hand_off(gates, clock, 2)
    workers.start()
    for item in "ab":
        workers.put(item)
    await settle()
    gates.open("a")
    await clock.advance(100)
    gates.open("b")
    counts = []
    for wait in (0, 19.9, 0.1):
        await clock.advance(wait)
        counts.append(len(workers.tasks))  # at 100, 119.9 and 120 s
    assert counts == [2, 2, 1]
    assert workers.tasks == {gates.workers["b"]}
    await workers.stop()


async def test_a_worker_yielding_after_a_run_of_items_counts_as_coming_back() -> None:
    """Items that never wait, put in a burst: the worker that takes the first calls one more
    (its own item might wait), and from then on a worker yielding every YIELD_EVERY items
    counts as coming back, so taking the next item calls no other worker. Every item is
    taken once, in order."""
    from eventmesh._store_workers import YIELD_EVERY

    done: list[int] = []
    calls: list[int] = []

    class Counted(HandOff[int]):
        def call_worker(self) -> None:
            calls.append(len(done))
            super().call_worker()

    async def process(item: int) -> None:
        done.append(item)

    workers = Counted("quick", process, capacity=lambda: 4, clock=VirtualClock(), logger=LOGGER)
    workers.start()
    await settle()
    count = YIELD_EVERY * 4
    for item in range(count):
        workers.put(item)
    await settle()
    assert done == list(range(count))
    # The put that woke the idle worker, and that worker's call for the rest: nothing more.
    assert calls == [0, 0]
    assert (len(workers.tasks), workers.busy, workers.coming) == (2, 0, 0)
    await workers.stop()
