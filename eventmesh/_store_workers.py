"""The worker loop over one queue of the ``QueueStore``, shared by every consumer of stored work.

A function's asynchronous invocation queue and a resource's :class:`DeliveryQueue` (a topic's
or a bus's deliveries) both keep their work in the store and run it the same way: reusable
worker tasks each take one message with a long poll, process it, and take the next, so a
message reaches its consumer without a hand-off between tasks. :class:`StoreWorkers` is that
loop, written once:

* **spawn on demand**: a worker that takes a message while no other worker waits in a long
  poll starts another, up to ``capacity()``;
* **idle retirement**: a worker whose long poll of :data:`POLL_WAIT` comes back empty retires,
  unless it is the last; the last waits :data:`IDLE_POLL_WAIT` (a send wakes it), so an idle
  mesh costs nothing, even on a virtual clock advanced by days;
* **outage backoff**: a failing poll pauses all workers as one (:class:`~eventmesh._outage.Outage`);
  a store failure while finishing a message is noted in the same outage;
* a worker yields to the loop every :data:`YIELD_EVERY` messages, so a backlog of work that
  never waits does not starve the loop.

What a message means, and how it is finished (deleted, re-sent with a delay), is the owner's
``process``; a message it leaves unfinished (it raised) comes back after ``visibility()``.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable

from eventmesh._bound_once import bound_once
from eventmesh._clock import Clock
from eventmesh._errors import BackendError
from eventmesh._outage import Outage
from eventmesh._tasks import start_task, stop_tasks
from eventmesh.backends.protocols import Delivery, QueueStore

__all__ = ["IDLE_POLL_WAIT", "POLL_WAIT", "YIELD_EVERY", "StoreWorkers"]

POLL_WAIT = 20.0
"""A long poll of a worker that is not the last: an empty one retires the worker."""
IDLE_POLL_WAIT = 3600.0
"""The last worker never retires, so it need not wake to decide: sends wake it. Waking more
often would make an idle consumer cost real time on a virtual clock advanced by days."""
YIELD_EVERY = 16
"""A worker yields to the loop after this many messages: a store that has messages ready
answers without waiting, and work that never waits must not starve the loop."""


class StoreWorkers:
    """Workers taking the messages of queue ``name`` of the store one at a time.

    ``store`` is read on first use (a mesh binds its storage when it starts); ``capacity``
    and ``visibility`` are read on every poll, so a change of configuration applies at once.
    ``noun`` names one message in the log ("an event", "a delivery"); the tasks are named
    ``task_name`` (``<name>.worker`` by default); each starts in a copy of ``context`` (by
    default, of the context it is started from).
    """

    def __init__(
        self,
        name: str,
        store: Callable[[], QueueStore],
        clock: Clock,
        process: Callable[[Delivery], Awaitable[None]],
        *,
        capacity: Callable[[], int],
        visibility: Callable[[], float],
        logger: logging.Logger,
        noun: str,
        task_name: str | None = None,
        context: contextvars.Context | None = None,
    ) -> None:
        self.name = name
        self._context = context
        self._task_name = f"{name}.worker" if task_name is None else task_name
        self.clock = clock
        self._store_of = store
        self._process = process
        self._capacity = capacity
        self._visibility = visibility
        self._logger = logger
        self._noun = noun
        self.tasks: set[asyncio.Task[None]] = set()
        self.idle = 0
        """Workers waiting in a long poll."""
        self.busy = 0
        """Messages taken and not finished."""
        self.stopping = False

    @bound_once
    def store(self) -> QueueStore:
        """The mesh's queue store, bound on first use."""
        return self._store_of()

    @bound_once
    def outage(self) -> Outage:
        """The workers' failed polls: one backoff and one log line per outage for all."""
        return Outage(f"polling {self.name}", self._logger, self.clock)

    def start(self) -> None:
        """Start taking messages, including those an earlier process left (a mesh can be
        started again after a stop)."""
        self.stopping = False
        if not self.tasks:
            self._spawn()

    async def stop(self) -> None:
        """Stop the workers; one whose work swallows the cancellation is not waited for long.
        What they had taken comes back after its visibility timeout."""
        self.stopping = True
        await stop_tasks(self.tasks)

    def _spawn(self) -> None:
        start_task(self.tasks, self._work(), self._task_name, self._context)

    async def _work(self) -> None:
        """One worker: take a message, process it, repeat (see the module docstring)."""
        store = self.store
        name = self.name
        tasks = self.tasks
        taken = 0
        while not self.stopping:
            self.idle += 1
            try:
                wait = POLL_WAIT if len(tasks) > 1 else IDLE_POLL_WAIT
                deliveries = await store.receive(name, 1, self._visibility(), wait=wait)
            except Exception as exc:
                self.idle -= 1
                await self.outage.failed(exc)
                continue
            self.idle -= 1
            self.outage.recovered()
            if self.stopping:
                return  # what was just taken comes back after its visibility timeout
            if not deliveries:
                if len(tasks) > 1:
                    # Leave the set now, not in a done-callback a loop turn later: workers
                    # whose polls end together would all see the old count and all retire.
                    tasks.discard(asyncio.current_task())
                    return
                continue
            if self.idle == 0 and len(tasks) < self._capacity():
                self._spawn()
            self.busy += 1
            try:
                await self._process(deliveries[0])
            except BackendError as exc:
                # The message comes back after its visibility; the next poll paces the workers.
                self.outage.note(exc, f"finishing {self._noun} of {name}")
            except Exception:
                # A store failure while finishing, or a bug: the message comes back after
                # its visibility timeout, neither lost nor allowed to kill the worker.
                self._logger.exception("processing %s of %s failed", self._noun, name)
            finally:
                self.busy -= 1
            taken += 1
            if taken % YIELD_EVERY == 0:
                await asyncio.sleep(0)
