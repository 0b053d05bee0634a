"""Work handed from producers to reusable worker tasks in this process, with no store between.

What a memory store would hold for a while and hand back at once gains nothing from the round
trip: :class:`HandOff` keeps such work in a deque that worker tasks take from directly. It
keeps the shape of :class:`~eventmesh._store_workers.StoreWorkers` (reusable workers, spawned
on demand up to ``capacity()``, the last one never retiring, a yield every
:data:`~eventmesh._store_workers.YIELD_EVERY` items) without a future or a timer per item:

* a producer wakes an idle worker only when none is on its way already; a worker that takes
  an item while more wait wakes the next one (or starts one, when every other worker is busy
  in its own item), so a burst of items that never wait costs about one wake-up per
  ``YIELD_EVERY`` items, and items that do wait still each find a worker;
* idle workers wait on a future each; one sweep timer, armed only while several are idle,
  retires those idle for :data:`~eventmesh._store_workers.POLL_WAIT` seconds (the most
  recently idle one stays).

The owner's ``process`` decides what an item means and must not raise (what it raises is
logged and the item dropped); a stop cancels the workers, and ``process`` may put back the
item it was cancelled in (:meth:`requeue`), so it is counted, and run if the owner starts again.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from eventmesh._clock import Clock, TimerHandle
from eventmesh._store_workers import POLL_WAIT, YIELD_EVERY
from eventmesh._tasks import start_task, stop_tasks

__all__ = ["HandOff"]

T = TypeVar("T")


class HandOff(Generic[T]):
    """Items handed to at most ``capacity()`` worker tasks running ``process`` on each."""

    def __init__(
        self,
        name: str,
        process: Callable[[T], Awaitable[None]],
        *,
        capacity: Callable[[], int],
        clock: Clock,
        logger: logging.Logger,
        context: contextvars.Context | None = None,
    ) -> None:
        self.name = name
        self._context = contextvars.copy_context() if context is None else context
        """What each worker's context starts as: the owner's at start, never a producer's
        (a worker started from a put would otherwise inherit the producer's variables)."""
        self._process = process
        self._capacity = capacity
        self._clock = clock
        self._logger = logger
        self.ready: deque[T] = deque()
        """Items waiting for a worker, oldest first."""
        self.tasks: set[asyncio.Task[None]] = set()
        self.busy = 0
        """Workers inside ``process``."""
        self._waiters: deque[tuple[asyncio.Future[bool], float]] = deque()
        """Idle workers (a future resolved True to take work, False to retire) and since when,
        oldest first."""
        self.coming = 0
        """Workers woken or started (or yielding) that have not taken an item yet. An owner
        may append to :attr:`ready` itself, then call :meth:`call_worker` if none is coming
        and the workers run: what :meth:`put` does."""
        self._sweep: TimerHandle | None = None
        self.running = False

    # -- producing ---------------------------------------------------------------------------
    def put(self, item: T) -> None:
        """Hand ``item`` over (it runs after the items already waiting)."""
        self.ready.append(item)
        if not self.coming and self.running:
            self.call_worker()

    def put_front(self, item: T) -> None:
        """Hand ``item`` over ahead of those waiting (work that already waited elsewhere)."""
        self.ready.appendleft(item)
        if not self.coming and self.running:
            self.call_worker()

    def requeue(self, item: T) -> None:
        """Put back an item a stop interrupted: first in line, and no worker called."""
        self.ready.appendleft(item)

    def call_worker(self) -> None:
        """Wake the most recently idle worker, or start one if every worker is busy."""
        waiters = self._waiters
        while waiters:
            future, _ = waiters.pop()
            if not future.done():
                future.set_result(True)
                self.coming += 1
                return
        if self.busy >= len(self.tasks) and len(self.tasks) < self._capacity():
            self.coming += 1
            self._spawn()

    # -- workers -----------------------------------------------------------------------------
    def start(self) -> None:
        self.running = True
        if not self.tasks:
            self.coming += 1
            self._spawn()

    async def stop(self) -> None:
        """Stop the workers; items still waiting stay in :attr:`ready`."""
        self.running = False
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        await stop_tasks(self.tasks)
        self._waiters.clear()
        self.coming = 0

    def _spawn(self) -> None:
        start_task(self.tasks, self._work(), f"{self.name}.worker", self._context)

    async def _work(self) -> None:
        ready = self.ready
        process = self._process
        tasks = self.tasks
        taken = 0
        coming = True
        while self.running:
            if not ready:
                if coming:
                    coming = False
                    self.coming -= 1
                if not await self._idle():
                    tasks.discard(asyncio.current_task())
                    return
                coming = True
                continue
            item = ready.popleft()
            if coming:
                coming = False
                self.coming -= 1
            self.busy += 1
            if ready and not self.coming:
                self.call_worker()  # more is waiting: the next worker comes for it
            try:
                await process(item)
            except Exception:
                self._logger.exception("processing an item of %s failed", self.name)
            finally:
                self.busy -= 1
            taken += 1
            if taken % YIELD_EVERY == 0:
                # On its way back to the items, as a woken worker is: nobody calls another
                # worker for them meanwhile (one each time, to find it not needed).
                coming = True
                self.coming += 1
                await asyncio.sleep(0)

    async def _idle(self) -> bool:
        """Wait for work: True to take some, False to retire."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiters.append((future, self._clock.now()))
        if len(self._waiters) > 1 and self._sweep is None:
            self._sweep = self._clock.call_at(self._clock.now() + POLL_WAIT, self._retire)
        try:
            return await future
        finally:
            if not future.done():
                future.cancel()

    def _retire(self) -> None:
        """Retire the workers idle for ``POLL_WAIT`` seconds, except the most recent one."""
        self._sweep = None
        waiters = self._waiters
        due = self._clock.now() - POLL_WAIT
        while len(waiters) > 1:
            future, since = waiters[0]
            if future.done():
                waiters.popleft()
                continue
            if since > due:
                break
            waiters.popleft()
            future.set_result(False)
        if len(waiters) > 1:
            self._sweep = self._clock.call_at(waiters[0][1] + POLL_WAIT, self._retire)
