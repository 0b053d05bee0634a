"""Clocks: where the mesh gets its time, so that tests can drive it.

Everything in eventmesh that waits (retry delays of minutes, visibility timeouts, handler
deadlines, schedules) asks the mesh's clock, never ``asyncio.sleep`` or ``time.time``
directly. :class:`RealClock` is the event loop's own time; :class:`VirtualClock` stands still
until a test calls :meth:`VirtualClock.advance`, which runs everything due in that span in
order, so a two-minute retry schedule is tested in milliseconds.

A clock has two readings: ``now()`` is monotonic seconds (for deadlines and delays) and
``time()`` is wall-clock epoch seconds (for timestamps in event records).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time as _time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

__all__ = ["Clock", "RealClock", "TimerHandle", "VirtualClock"]


@runtime_checkable
class TimerHandle(Protocol):
    """What ``call_at`` returns: something that can be cancelled."""

    def cancel(self) -> None: ...


@runtime_checkable
class Clock(Protocol):
    """The time source of a mesh."""

    def now(self) -> float:
        """Monotonic seconds, for deadlines and delays."""
        ...

    def time(self) -> float:
        """Wall-clock seconds since the epoch, for timestamps."""
        ...

    def call_at(self, when: float, callback: Callable[[], object]) -> TimerHandle:
        """Run ``callback`` once ``now()`` reaches ``when``."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...

    async def sleep_until(self, when: float) -> None:
        """Wait until ``now()`` reaches ``when``."""
        ...


class RealClock:
    """The system's monotonic time and wall time; timers run on the running event loop.

    ``now()`` is ``time.monotonic`` itself (the cheapest reading, taken several times per
    invocation); ``call_at`` translates to the loop's own time base, which another loop
    implementation (uvloop) may count from elsewhere.
    """

    __slots__ = ()

    now = staticmethod(_time.monotonic)
    time = staticmethod(_time.time)

    def call_at(self, when: float, callback: Callable[[], object]) -> TimerHandle:
        loop = asyncio.get_running_loop()
        return loop.call_at(loop.time() + (when - _time.monotonic()), callback)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def sleep_until(self, when: float) -> None:
        await asyncio.sleep(max(0.0, when - self.now()))

    def __repr__(self) -> str:
        return "RealClock()"


class _VirtualTimer:
    __slots__ = ("callback", "cancelled", "sequence", "when")

    def __init__(self, when: float, sequence: int, callback: Callable[[], object]) -> None:
        self.when = when
        self.sequence = sequence
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: _VirtualTimer) -> bool:
        return (self.when, self.sequence) < (other.when, other.sequence)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class VirtualClock:
    """A clock that moves only when told to.

    ``await clock.advance(90)`` moves time forward by 90 seconds, firing every timer due in
    that span in time order and letting the event loop run everything those timers wake
    before moving on, so the code under test sees the same order of events it would see in
    real time. Work running in threads (plain ``def`` handlers) is waited for too, up to
    ``thread_wait`` real seconds, before time moves. ``start`` is the wall-clock epoch second
    that ``time()`` reports at zero (2026-01-01T00:00:00Z by default).
    """

    def __init__(
        self, start: float = 1_767_225_600.0, thread_wait: float = 2.0
    ) -> None:  # 2026-01-01T00:00:00Z
        self._now = 0.0
        self._epoch = start
        self._timers: list[_VirtualTimer] = []
        self._sequence = itertools.count()
        self._threads: set[asyncio.Future[Any]] = set()
        self.thread_wait = thread_wait

    def track(self, future: asyncio.Future[Any]) -> None:
        """Wait for ``future`` (work running in a thread) before moving time."""
        self._threads.add(future)
        future.add_done_callback(self._threads.discard)

    async def _settle(self) -> None:
        """Let the loop settle, then wait for thread work, again while a step spawns more
        (a chain of SQLite operations is a thread hop each), up to ``thread_wait`` in all."""
        await settle()
        deadline = asyncio.get_running_loop().time() + self.thread_wait
        while self._threads:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            await asyncio.wait(list(self._threads), timeout=remaining)
            await settle()

    def now(self) -> float:
        return self._now

    def time(self) -> float:
        return self._epoch + self._now

    def call_at(self, when: float, callback: Callable[[], object]) -> TimerHandle:
        timer = _VirtualTimer(when, next(self._sequence), callback)
        heapq.heappush(self._timers, timer)
        return timer

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self._now + seconds)

    async def sleep_until(self, when: float) -> None:
        if when <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = self.call_at(when, lambda: _wake(future))
        try:
            await future
        finally:
            timer.cancel()

    @property
    def pending_timers(self) -> int:
        """How many timers are waiting (cancelled ones excluded)."""
        return sum(1 for timer in self._timers if not timer.cancelled)

    def next_timer(self) -> float | None:
        """When the next live timer is due, or ``None``."""
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0].when if self._timers else None

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, running everything due on the way."""
        if seconds < 0:
            raise ValueError("a clock cannot go back in time")
        await self.advance_to(self._now + seconds)

    async def advance_to(self, when: float) -> None:
        """Move time forward to ``when`` (monotonic seconds), running everything due."""
        await self._settle()
        while True:
            due = self.next_timer()
            if due is None or due > when:
                break
            timer = heapq.heappop(self._timers)
            self._now = max(self._now, timer.when)
            timer.callback()
            await self._settle()
        self._now = max(self._now, when)
        await self._settle()

    def stall(self, seconds: float) -> None:
        """Move time forward at once, running nothing: what code that blocks the event loop
        (``time.sleep`` in a coroutine) does to real time. Timers due meanwhile fire late, at
        the next :meth:`advance`. For testing how a mesh copes with a blocked loop."""
        if seconds < 0:
            raise ValueError("a clock cannot go back in time")
        self._now += seconds

    async def run_until_idle(self, limit: float = 365 * 86400.0) -> None:
        """Advance timer by timer until none is left (or ``limit`` seconds have passed).

        A running mesh always has timers armed (long polls, retention sweeps), so this then
        runs to ``limit``, with everything that much time does (retention drops messages):
        with a mesh, prefer :meth:`advance` by the span you mean.
        """
        end = self._now + limit
        await self._settle()
        while (due := self.next_timer()) is not None and due <= end:
            await self.advance_to(due)

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now:.3f})"


async def settle(max_rounds: int = 10_000) -> None:
    """Let the event loop run until nothing is ready to run.

    Waiting on the loop's ready queue is the one way to know that every task woken by a
    timer has reached its next wait; the bound keeps a task that spins from hanging a test.
    """
    loop = asyncio.get_running_loop()
    ready = getattr(loop, "_ready", None)
    if ready is None:  # a loop that hides its ready queue (uvloop): a fixed number of rounds
        for _ in range(100):
            await asyncio.sleep(0)
        return
    await asyncio.sleep(0)
    for _ in range(max_rounds):
        if not ready:
            # One more round: a callback that ran last round may have made a task ready.
            await asyncio.sleep(0)
            if not ready:
                return
        await asyncio.sleep(0)
