"""The in-memory backend: the default, fast, and gone when the process ends.

Time comes from the mesh's clock, so a virtual clock drives delays and visibility timeouts.
Everything runs on the event loop's thread; no locks are needed.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Sequence

from eventmesh._clock import Clock, TimerHandle
from eventmesh._context import RequestIds
from eventmesh.backends.protocols import Delivery, OutgoingMessage, QueueStats

__all__ = ["MemoryQueueStore"]


class _Message:
    __slots__ = (
        "attributes",
        "body",
        "deleted",
        "first_received_at",
        "group_id",
        "message_id",
        "receipt",
        "receive_count",
        "sent_at",
        "sequence",
        "visible_at",
    )

    def __init__(
        self, message_id: str, sequence: int, outgoing: OutgoingMessage, sent_at: float
    ) -> None:
        self.message_id = message_id
        self.sequence = sequence
        self.body = outgoing.body
        self.attributes = outgoing.attributes
        self.group_id = outgoing.group_id
        self.sent_at = sent_at
        self.receive_count = 0
        self.first_received_at = 0.0
        self.receipt = ""
        self.visible_at = 0.0
        self.deleted = False


class _Queue:
    __slots__ = ("delayed", "groups_in_flight", "hidden", "in_flight", "ready", "waiters")

    def __init__(self) -> None:
        self.delayed = 0  # messages in ``hidden`` that were sent with a delay
        # Visible messages, oldest sequence first (a message that comes back keeps its place).
        self.ready: list[tuple[int, _Message]] = []
        # Delayed and in-flight messages by the time they become visible.
        self.hidden: list[tuple[float, int, _Message]] = []
        self.in_flight: dict[str, _Message] = {}
        self.groups_in_flight: dict[str, int] = {}
        self.waiters: list[asyncio.Future[None]] = []


class MemoryQueueStore:
    """:class:`~eventmesh.backends.protocols.QueueStore` in memory."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._queues: dict[str, _Queue] = {}
        self._ids = RequestIds()
        self._sequence = itertools.count(1)

    def _queue(self, name: str) -> _Queue:
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = _Queue()
        return queue

    async def send(self, queue: str, messages: Sequence[OutgoingMessage]) -> list[str]:
        state = self._queue(queue)
        now = self._clock.now()
        wall = self._clock.time()
        ids = []
        for outgoing in messages:
            sequence = next(self._sequence)
            message = _Message(self._ids.next(), sequence, outgoing, wall)
            if outgoing.delay > 0:
                message.visible_at = now + outgoing.delay
                heapq.heappush(state.hidden, (message.visible_at, sequence, message))
                state.delayed += 1
            else:
                heapq.heappush(state.ready, (sequence, message))
            ids.append(message.message_id)
        if state.waiters:
            self._wake(state, len(ids))
        return ids

    def _wake(self, state: _Queue, count: int | None = None) -> None:
        """Wake ``count`` waiting receivers (all when None): one per new message is enough."""
        waiters = state.waiters
        while waiters and (count is None or count > 0):
            waiter = waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                if count is not None:
                    count -= 1

    def _surface(self, state: _Queue, now: float) -> None:
        """Move delayed and in-flight messages whose time has come back to ``ready``."""
        hidden = state.hidden
        while hidden and hidden[0][0] <= now:
            visible_at, _, message = heapq.heappop(hidden)
            if message.deleted or message.visible_at != visible_at:
                continue  # deleted, or its visibility was changed since
            if message.receipt:
                del state.in_flight[message.receipt]
                message.receipt = ""
                self._group_done(state, message)
            else:
                state.delayed -= 1
            heapq.heappush(state.ready, (message.sequence, message))

    def _group_done(self, state: _Queue, message: _Message) -> None:
        group = message.group_id
        if group is not None:
            left = state.groups_in_flight[group] - 1
            if left:
                state.groups_in_flight[group] = left
            else:
                del state.groups_in_flight[group]

    async def receive(
        self, queue: str, max_messages: int, visibility_timeout: float, wait: float = 0.0
    ) -> list[Delivery]:
        state = self._queue(queue)
        deliveries = self._take(state, max_messages, visibility_timeout)
        if deliveries or wait <= 0:
            return deliveries
        deadline = self._clock.now() + wait
        while not deliveries:
            now = self._clock.now()
            if now >= deadline:
                break
            await self._wait(state, min(deadline, state.hidden[0][0] if state.hidden else deadline))
            deliveries = self._take(state, max_messages, visibility_timeout)
        return deliveries

    async def _wait(self, state: _Queue, until: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        state.waiters.append(future)
        timer: TimerHandle = self._clock.call_at(until, lambda: self._wake_one(future))
        try:
            await future
        finally:
            timer.cancel()
            if future in state.waiters:
                state.waiters.remove(future)

    @staticmethod
    def _wake_one(future: asyncio.Future[None]) -> None:
        if not future.done():
            future.set_result(None)

    def _take(self, state: _Queue, max_messages: int, visibility: float) -> list[Delivery]:
        now = self._clock.now()
        if state.hidden:
            self._surface(state, now)
        ready = state.ready
        if not ready:
            return []
        wall = self._clock.time()
        deliveries: list[Delivery] = []
        blocked: list[tuple[int, _Message]] = []
        taken_groups: set[str] = set()
        groups_in_flight = state.groups_in_flight
        while ready and len(deliveries) < max_messages:
            entry = heapq.heappop(ready)
            message = entry[1]
            if message.deleted:
                continue
            group = message.group_id
            if group is not None:
                if group in groups_in_flight and group not in taken_groups:
                    blocked.append(entry)  # an earlier receive of this group is in flight
                    continue
                taken_groups.add(group)
                groups_in_flight[group] = groups_in_flight.get(group, 0) + 1
            message.receive_count += 1
            if message.receive_count == 1:
                message.first_received_at = wall
            receipt = f"{message.message_id}:{message.receive_count}"
            message.receipt = receipt
            message.visible_at = now + visibility
            state.in_flight[receipt] = message
            heapq.heappush(state.hidden, (message.visible_at, message.sequence, message))
            deliveries.append(
                Delivery(
                    message.message_id,
                    receipt,
                    message.body,
                    message.attributes,
                    message.receive_count,
                    message.sent_at,
                    message.first_received_at,
                    group,
                )
            )
        for entry in blocked:
            heapq.heappush(ready, entry)
        return deliveries

    async def delete(self, queue: str, receipts: Sequence[str]) -> int:
        state = self._queue(queue)
        deleted = 0
        for receipt in receipts:
            message = state.in_flight.pop(receipt, None)
            if message is None:
                continue
            message.deleted = True
            message.receipt = ""
            self._group_done(state, message)
            deleted += 1
        if deleted and state.waiters and state.ready:
            self._wake(state)  # a FIFO group may have been unblocked
        return deleted

    async def change_visibility(self, queue: str, receipt: str, timeout: float) -> bool:
        state = self._queue(queue)
        message = state.in_flight.get(receipt)
        if message is None:
            return False
        message.visible_at = self._clock.now() + timeout
        heapq.heappush(state.hidden, (message.visible_at, message.sequence, message))
        if timeout <= 0:
            self._surface(state, self._clock.now())
            self._wake(state)
        return True

    async def stats(self, queue: str) -> QueueStats:
        state = self._queue(queue)
        self._surface(state, self._clock.now())
        # A message in ``ready`` is never deleted: deleting takes a receipt, which only an
        # in-flight message has.
        return QueueStats(
            visible=len(state.ready), in_flight=len(state.in_flight), delayed=state.delayed
        )

    async def close(self) -> None:
        for state in self._queues.values():
            self._wake(state)
