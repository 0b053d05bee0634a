"""The in-memory backend: the default, fast, and gone when the process ends.

Time comes from the mesh's clock, so a virtual clock drives delays and visibility timeouts.
Everything runs on the event loop's thread; no locks are needed.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from itertools import starmap
from operator import itemgetter
from types import MappingProxyType
from typing import cast

from eventmesh._clock import Clock, TimerHandle
from eventmesh._errors import ConfigurationError
from eventmesh._ids import RequestIds
from eventmesh.backends.protocols import (
    Backend,
    BlobInfo,
    Delivery,
    LogRecord,
    OutgoingMessage,
    QueueStats,
    Redrive,
    StoredValue,
)
from eventmesh.backends.registry import CheckedFactory
from eventmesh.backends.urls import shown_url, url_options, url_scheme

_COMPACT_AFTER = 1024
_NO_GROUPS: set[str] = set()
"""The groups a receive took before it took one: never added to (a receive makes its own)."""
_SUFFIXED = 16
_RECEIPT_SUFFIXES = tuple(f":{count}" for count in range(_SUFFIXED))
"""A receipt is the message id and the receive count: ``id:count``."""

__all__ = [
    "MemoryBlobStore",
    "MemoryKeyValueStore",
    "MemoryLogStore",
    "MemoryQueueStore",
    "memory_backend",
    "memory_backend_from_url",
    "memory_factory",
]


class _Message(Delivery):
    """A stored message, which is also the delivery its first receive hands out.

    Until a receive hands it out, the store fills in its delivery fields (receipt, receive
    count, first-receive time); from then on they stay as handed out, whatever happens to
    the message, and a later receive hands out a copy. Only the store's own fields change
    after: ``sequence`` (its place among visible messages), ``visible_at``, ``in_flight``
    (hidden by a receive whose receipt is current) and ``deleted``.
    """

    __slots__ = ("deleted", "in_flight", "sequence", "visible_at")

    def __init__(
        self,
        message_id: str,
        sequence: int,
        body: bytes,
        attributes: Mapping[str, str],
        group_id: str | None,
        sent_at: float,
    ) -> None:
        self.message_id = message_id
        self.receipt = ""
        self.body = body
        self.attributes = attributes
        self.receive_count = 0
        self.sent_at = sent_at
        self.first_received_at = 0.0
        self.group_id = group_id
        self.dead_lettered = False
        self.sequence = sequence
        self.visible_at = 0.0
        self.in_flight = False
        self.deleted = False

    def __lt__(self, other: object) -> bool:
        """Never: the heaps' entries, ``(time, sequence, message)``, can tie on both (a
        stale place of a message beside the place of its later receive's copy), and either
        order is right then; comparing two messages must not raise."""
        return False


_new_message = _Message.__new__


class _Waiter:
    """A receiver in a long poll: woken by a send, a message coming back, or its deadline.

    ``wants``: the most messages it takes when it wakes (its receive's ``max_messages``).
    """

    __slots__ = ("deadline", "future", "wants")

    def __init__(self, future: asyncio.Future[None], deadline: float, wants: int) -> None:
        self.future = future
        self.deadline = deadline
        self.wants = wants


class _Queue:
    """One queue's messages.

    Visible messages are taken oldest sequence first, from two places merged by sequence:
    ``fresh``, those never hidden since they were sent (a deque: sends append in sequence
    order), and ``returned``, a heap of those that came back (an expired visibility, the end
    of a delay, a FIFO group that was busy). Hidden messages wait in ``timeline`` when their
    times arrive in order (receives with one visibility timeout, the common case: a deque,
    no heap) and in the heap ``hidden`` otherwise (delays, a shorter timeout than the last,
    ``change_visibility``). An entry of ``timeline`` is one receive's: the messages it hid
    share their deadline, so one entry stands for them all (no tuple per message). A
    message's place in either is stale once it was deleted, re-hidden or came back; stale
    ones are dropped as they are met (``head`` counts those of the first timeline entry
    already met), or all at once by a compaction when they outnumber the live ones.
    """

    __slots__ = (
        "delayed",
        "fresh",
        "groups_in_flight",
        "head",
        "hidden",
        "in_flight",
        "promised",
        "returned",
        "stale",
        "timed",
        "timeline",
        "waiters",
        "wake_due",
    )

    def __init__(self) -> None:
        # Places in ``timeline`` and ``hidden`` (a message each) that no longer stand for one.
        self.stale = 0
        self.delayed = 0  # messages in ``hidden`` that were sent with a delay
        self.fresh: deque[_Message] = deque()
        self.returned: list[tuple[int, _Message]] = []
        self.timeline: deque[tuple[float, tuple[_Message, ...]]] = deque()
        self.head = 0  # messages of ``timeline[0]`` found stale, at its start
        self.timed = 0  # messages in ``timeline``'s entries, stale ones included
        self.hidden: list[tuple[float, int, _Message]] = []
        self.in_flight: dict[str, _Message] = {}
        self.groups_in_flight: dict[str, int] = {}
        self.waiters: deque[_Waiter] = deque()
        # Messages that receivers woken but not yet run will take (their ``wants``): a send
        # wakes another receiver only for messages beyond these.
        self.promised = 0
        self.wake_due = False  # a call to wake receivers is scheduled on the loop

    @property
    def visible(self) -> int:
        return len(self.fresh) + len(self.returned)

    def next_due(self) -> float:
        """When the next hidden message may become visible (a stale entry's time at worst)."""
        due = math.inf
        if self.timeline:
            due = self.timeline[0][0]
        if self.hidden and self.hidden[0][0] < due:
            due = self.hidden[0][0]
        return due


def _own(data: bytes) -> bytes:
    """A right-sized copy. ``bytes(b)`` returns ``b`` itself, and orjson's output keeps a
    4 KB allocation whatever its length: a queue of small messages would hold 4 KB each.
    ``b"%b" %`` copies any buffer (bytearray, memoryview too) in a quarter of the time
    ``bytes(memoryview(b))`` takes."""
    return b"%b" % data


def _stale(deadline: float, message: _Message) -> bool:
    """Whether a message's place in a timeline entry no longer stands for it: it was deleted
    or came back (not in flight), or was hidden again since (another time)."""
    return not message.in_flight or message.visible_at != deadline


class MemoryQueueStore:
    """:class:`~eventmesh.backends.protocols.QueueStore` in memory; a receive given a
    :class:`Redrive` moves what it redrives within the same synchronous section.

    Long polls share one timer per store, armed for the earliest moment a waiting receiver
    must wake (its deadline, or a hidden message becoming visible): a receive that finds the
    queue empty costs a future, not a timer of its own.
    """

    redrives_in_receive = True

    def __init__(self, clock: Clock) -> None:
        # ``send_now`` only where it is ``send``: a subclass overriding ``send`` (to record
        # or fail calls) sees every send.
        self.sends_now = type(self).send is MemoryQueueStore.send
        # ``receive_now`` and ``delete_now`` likewise: only where ``receive`` and ``delete``
        # are this class's own.
        self.takes_now = (
            type(self).receive is MemoryQueueStore.receive
            and type(self).delete is MemoryQueueStore.delete
        )
        self._clock = clock
        self._queues: dict[str, _Queue] = {}
        self._closed = False
        self._next_id = RequestIds().next
        self._sequence = itertools.count(1)
        self._timer: TimerHandle | None = None
        self._timer_at = math.inf

    def _queue(self, name: str) -> _Queue:
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = _Queue()
        return queue

    async def send(self, queue: str, messages: Sequence[OutgoingMessage]) -> list[str]:
        state = self._queue(queue)
        wall = self._clock.time()  # one sent time for the messages sent together
        ids = [
            self._store(state, m.body, m.attributes, m.delay, m.group_id, wall) for m in messages
        ]
        if state.waiters:
            self._wake_soon(state)
            if any(message.delay > 0 for message in messages):
                self._arm(state.next_due())  # delayed messages wake receivers when due
        return ids

    def send_now(
        self,
        queue: str,
        body: bytes,
        attributes: Mapping[str, str],
        delay: float = 0.0,
        group_id: str | None = None,
    ) -> str:
        """``send`` of one message, done when it returns (see ImmediateQueueStore)."""
        state = self._queues.get(queue) or self._queue(queue)
        if delay > 0:
            message_id = self._store(state, body, attributes, delay, group_id, self._clock.time())
        else:
            # _store and _Message's __init__, inline, for a message visible at once: the
            # same fields (a test compares every slot with the general path's).
            message_id = self._next_id()
            message = _new_message(_Message)
            message.message_id = message_id
            message.receipt = ""
            message.body = b"%b" % body  # _own, inline
            message.attributes = attributes
            message.receive_count = 0
            message.sent_at = self._clock.time()
            message.first_received_at = 0.0
            message.group_id = group_id
            message.dead_lettered = False
            message.sequence = next(self._sequence)
            message.visible_at = 0.0
            message.in_flight = False
            message.deleted = False
            state.fresh.append(message)
        if state.waiters:
            if delay > 0:
                self._arm(state.next_due())  # it wakes receivers when due
            elif not state.wake_due and len(state.fresh) + len(state.returned) > state.promised:
                self._wake_soon(state)
        return message_id

    def plain_sender(self, queue: str) -> Callable[[bytes, Mapping[str, str]], str]:
        """A sender bound to ``queue``: ``send_now(queue, body, attributes)`` (no delay, no
        group) with the queue's state, id and sequence generators resolved once, not per
        message. Only for a store that declares ``sends_now`` (its ``send`` is its own)."""
        # The state is never replaced (a store keeps a queue's state for good); its ``fresh``
        # and ``returned`` are, by a purge or a compaction: read from the state each time.
        state = self._queue(queue)
        next_id = self._next_id
        sequence = self._sequence
        wall = self._clock.time  # bound once, not looked up per message
        wake_soon = self._wake_soon

        def send(body: bytes, attributes: Mapping[str, str]) -> str:
            # _store and _Message's __init__, inline, for a message visible at once: the
            # same fields (a test compares every slot with the general path's).
            message = _new_message(_Message)
            message.message_id = message_id = next_id()
            message.receipt = ""
            message.body = b"%b" % body  # _own, inline
            message.attributes = attributes
            message.receive_count = 0
            message.sent_at = wall()
            message.first_received_at = 0.0
            message.group_id = None
            message.dead_lettered = False
            message.sequence = next(sequence)
            message.visible_at = 0.0
            message.in_flight = False
            message.deleted = False
            state.fresh.append(message)
            if (
                state.waiters
                and not state.wake_due
                and len(state.fresh) + len(state.returned) > state.promised
            ):
                wake_soon(state)
            return message_id

        return send

    def _store(
        self,
        state: _Queue,
        body: bytes,
        attributes: Mapping[str, str],
        delay: float,
        group_id: str | None,
        wall: float,
    ) -> str:
        message_id = self._next_id()
        # b"%b" %: _own inlined, on the hot path
        message = _Message(
            message_id, next(self._sequence), b"%b" % body, attributes, group_id, wall
        )
        if delay > 0:
            message.visible_at = self._clock.now() + delay
            heapq.heappush(state.hidden, (message.visible_at, message.sequence, message))
            state.delayed += 1
        else:
            state.fresh.append(message)
        return message_id

    def _wake_soon(self, state: _Queue) -> None:
        """Wake a waiting receiver for the visible messages once the running task yields.

        Not at once: the task that sends may go on sending (one receiver then takes them
        all), and a receiver taking now may come back for more before a receiver woken for
        them runs (it would wake to nothing, and wait again: the dearest thing a long poll
        does). A receiver that leaves messages visible calls this again, so a burst wakes
        one receiver after another, each when the last one has taken its batch and yielded.
        """
        if not state.wake_due:
            state.wake_due = True
            asyncio.get_running_loop().call_soon(self._wake_one, state)

    def _wake_one(self, state: _Queue) -> None:
        state.wake_due = False
        waiters = state.waiters
        while waiters and state.visible > state.promised:
            waiter = waiters.popleft()
            if not waiter.future.done():
                self._resolve(state, waiter)
                return

    def _wake(self, state: _Queue) -> None:
        """Wake waiting receivers, oldest first, until those woken can take every visible
        message (a FIFO group unblocked, a message made visible by hand)."""
        waiters = state.waiters
        while waiters and state.visible > state.promised:
            self._resolve(state, waiters.popleft())

    @staticmethod
    def _resolve(state: _Queue, waiter: _Waiter) -> None:
        if not waiter.future.done():
            waiter.future.set_result(None)
            state.promised += waiter.wants

    def _arm(self, when: float) -> None:
        """Have the store's timer fire by ``when``."""
        if when < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = when
            self._timer = self._clock.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        """Wake the receivers whose long poll ended, and one per message that became
        visible; then arm the timer for the next such moment."""
        self._timer = None
        self._timer_at = math.inf
        now = self._clock.now()
        due = math.inf
        for state in self._queues.values():
            if not state.waiters:
                continue
            self._surface(state, now)
            waiting: deque[_Waiter] = deque()
            for waiter in state.waiters:
                if waiter.future.done():
                    continue
                if waiter.deadline <= now or state.visible > state.promised:
                    self._resolve(state, waiter)
                else:
                    waiting.append(waiter)
                    due = min(due, waiter.deadline)
            state.waiters = waiting
            if waiting:
                due = min(due, state.next_due())
        if due < math.inf and not self._closed:
            self._arm(due)

    def _surface(self, state: _Queue, now: float) -> None:
        """Move delayed and in-flight messages whose time has come back to ``returned``."""
        timeline = state.timeline
        while timeline:
            deadline, messages = timeline[0]
            start = index = state.head
            end = len(messages)
            for message in messages[start:] if start else messages:  # stale: see _stale
                if message.in_flight and message.visible_at == deadline:
                    break
                index += 1
            if index > start:
                state.stale = max(0, state.stale - (index - start))
            if index < end and deadline > now:
                state.head = index
                break
            timeline.popleft()
            state.head = 0
            state.timed -= end
            for message in messages[index:]:  # due: the live ones come back
                if message.in_flight and message.visible_at == deadline:
                    self._come_back(state, message)
                elif state.stale:
                    state.stale -= 1
        hidden = state.hidden
        while hidden and hidden[0][0] <= now:
            visible_at, _, message = heapq.heappop(hidden)
            if (
                message.deleted
                or message.visible_at != visible_at
                or (not message.in_flight and message.receive_count > 0)  # already back
            ):
                if state.stale:
                    state.stale -= 1
                continue  # deleted, re-hidden since, or surfaced by an earlier entry
            if message.in_flight:
                self._come_back(state, message)
            else:
                state.delayed -= 1
                heapq.heappush(state.returned, (message.sequence, message))

    def _come_back(self, state: _Queue, message: _Message) -> None:
        """An in-flight message whose visibility ended: visible again, in its old place."""
        del state.in_flight[message.receipt]
        message.in_flight = False
        self._group_done(state, message)
        heapq.heappush(state.returned, (message.sequence, message))

    def _group_done(self, state: _Queue, message: _Message) -> None:
        group = message.group_id
        if group is not None:
            left = state.groups_in_flight[group] - 1
            if left:
                state.groups_in_flight[group] = left
            else:
                del state.groups_in_flight[group]

    async def receive(
        self,
        queue: str,
        max_messages: int,
        visibility_timeout: float,
        wait: float = 0.0,
        redrive: Redrive | None = None,
    ) -> list[Delivery]:
        state = self._queue(queue)
        deliveries = self._take(state, max_messages, visibility_timeout, redrive)
        if deliveries or wait <= 0:
            return deliveries
        return await self._long_poll(
            state, max_messages, visibility_timeout, self._clock.now() + wait, redrive
        )

    def receive_now(
        self,
        queue: str,
        max_messages: int,
        visibility_timeout: float,
        redrive: Redrive | None = None,
    ) -> list[Delivery]:
        """``receive`` without a wait, done when it returns (no coroutine): a consumer on the
        hot path calls it first, and ``receive`` to wait only when it found nothing."""
        return self._take(
            self._queues.get(queue) or self._queue(queue), max_messages, visibility_timeout, redrive
        )

    async def receive_after_empty(
        self,
        queue: str,
        max_messages: int,
        visibility_timeout: float,
        wait: float,
        redrive: Redrive | None = None,
    ) -> list[Delivery]:
        """``receive`` right after a ``receive_now`` that found nothing, in the same step:
        it waits first, since taking again before could only find nothing again."""
        state = self._queues.get(queue) or self._queue(queue)
        if state.fresh or state.returned:  # not after an empty take after all: take first
            deliveries = self._take(state, max_messages, visibility_timeout, redrive)
            if deliveries:
                return deliveries
        return await self._long_poll(
            state, max_messages, visibility_timeout, self._clock.now() + wait, redrive
        )

    async def _long_poll(
        self,
        state: _Queue,
        max_messages: int,
        visibility_timeout: float,
        deadline: float,
        redrive: Redrive | None,
    ) -> list[Delivery]:
        """Wait, then take, until a take finds something, ``deadline`` passes or the store
        closes (the wait of ``receive`` and ``receive_after_empty``)."""
        deliveries: list[Delivery] = []
        while not deliveries and not self._closed and self._clock.now() < deadline:
            await self._wait(state, deadline, max_messages)
            deliveries = self._take(state, max_messages, visibility_timeout, redrive)
        return deliveries

    async def _wait(self, state: _Queue, deadline: float, wants: int) -> None:
        """Wait to be woken (see :meth:`_wake`), then take back the promise made for it."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(future, deadline, wants)
        state.waiters.append(waiter)
        due = state.next_due()
        self._arm(deadline if deadline < due else due)
        try:
            await future
        except asyncio.CancelledError:
            if future.cancelled():
                with contextlib.suppress(ValueError):
                    state.waiters.remove(waiter)
            else:  # woken for messages it will not take: let another receiver take them
                state.promised -= wants
                self._wake(state)
            raise
        state.promised -= wants

    def _take(
        self, state: _Queue, max_messages: int, visibility: float, redrive: Redrive | None
    ) -> list[Delivery]:
        now = self._clock.now()
        if state.timeline or state.hidden:
            self._surface(state, now)
        fresh = state.fresh
        returned = state.returned
        if not fresh and not returned:
            return []
        wall = self._clock.time()
        deliveries: list[Delivery] = []
        blocked: list[tuple[int, _Message]] = []
        taken_groups = _NO_GROUPS  # made when a message of a group is taken
        groups_in_flight = state.groups_in_flight
        in_flight = state.in_flight
        deadline = now + visibility
        moved = 0
        if not returned:
            # The common case: only messages never received, each its own delivery; the
            # general loop below takes over at the first that is not plain (a FIFO group's,
            # put back where it was).
            popleft = fresh.popleft
            # (int: a count given as a float, as Queue.receive lets through, is taken as the
            # general loop takes it, which goes on from here.)
            for _ in range(min(int(max_messages), len(fresh))):
                message = popleft()
                if message.group_id is not None or message.receive_count or message.deleted:
                    fresh.appendleft(message)
                    break
                message.first_received_at = wall
                message.receive_count = 1
                message.receipt = receipt = message.message_id + ":1"
                message.visible_at = deadline
                message.in_flight = True
                in_flight[receipt] = message
                deliveries.append(message)
        while len(deliveries) < max_messages:
            if returned and (not fresh or returned[0][0] < fresh[0].sequence):
                message = heapq.heappop(returned)[1]
            elif fresh:
                message = fresh.popleft()
            else:
                break
            if message.deleted:
                continue
            group = message.group_id
            if group is not None and group in groups_in_flight and group not in taken_groups:
                blocked.append((message.sequence, message))  # an earlier receive is in flight
                continue
            if redrive is not None and message.receive_count >= redrive.max_receive_count:
                deliveries.append(self._dead_letter(message, redrive.dead_letter))
                moved += 1
                continue
            if not message.receive_count:  # never handed out: it is its own delivery
                if group is not None:
                    if taken_groups is _NO_GROUPS:
                        taken_groups = set()
                    taken_groups.add(group)
                    groups_in_flight[group] = groups_in_flight.get(group, 0) + 1
                message.first_received_at = wall
                message.receive_count = 1
                message.receipt = receipt = message.message_id + ":1"
                message.visible_at = deadline
                message.in_flight = True
                in_flight[receipt] = message
                deliveries.append(message)
                continue
            if group is not None:
                if taken_groups is _NO_GROUPS:
                    taken_groups = set()
                taken_groups.add(group)
                groups_in_flight[group] = groups_in_flight.get(group, 0) + 1
            # Received before: the one handed out then stays as it was, this is a copy.
            count = message.receive_count + 1
            first_received_at = message.first_received_at
            message = _Message(
                message.message_id,
                message.sequence,
                message.body,
                message.attributes,
                group,
                message.sent_at,
            )
            message.first_received_at = first_received_at
            message.receive_count = count
            receipt = message.message_id + (
                _RECEIPT_SUFFIXES[count] if count < _SUFFIXED else f":{count}"
            )
            message.receipt = receipt
            message.visible_at = deadline
            message.in_flight = True
            in_flight[receipt] = message
            deliveries.append(message)
        if deliveries:
            taken = cast(
                "tuple[_Message, ...]",
                tuple(deliveries) if not moved else tuple(d for d in deliveries if d.receipt),
            )
            timeline = state.timeline
            if not timeline or timeline[-1][0] <= deadline:  # in order: one entry for all
                if taken:
                    timeline.append((deadline, taken))
                    state.timed += len(taken)
            else:
                hidden = state.hidden
                for message in taken:
                    heapq.heappush(hidden, (deadline, message.sequence, message))
        if blocked:
            for entry in blocked:
                heapq.heappush(returned, entry)
        if state.waiters and not state.wake_due and deliveries and (fresh or returned):
            self._wake_soon(state)  # more than this receiver took: another may take them
        if state.waiters and deadline < self._timer_at and deliveries:
            self._arm(deadline)  # long polls wake when these come back
        if moved and redrive is not None and (target := self._queue(redrive.dead_letter)).waiters:
            self._wake(target)
        return deliveries

    def _dead_letter(self, message: _Message, dead_letter: str) -> Delivery:
        """Move a visible message to the end of ``dead_letter``, as sent then with no delay
        but keeping its id and sent time; the delivery says what moved."""
        moved = _Message(
            message.message_id,
            next(self._sequence),
            message.body,
            message.attributes,
            message.group_id,
            message.sent_at,
        )
        self._queue(dead_letter).fresh.append(moved)  # the newest sequence: fresh's end
        message.deleted = True  # entries of it left in ``hidden`` are already counted stale
        return Delivery(
            message.message_id,
            "",
            moved.body,
            moved.attributes,
            message.receive_count + 1,
            message.sent_at,
            message.first_received_at,
            message.group_id,
            dead_lettered=True,
        )

    async def delete(self, queue: str, receipts: Sequence[str]) -> int:
        return self.delete_now(queue, receipts)

    def delete_now(self, queue: str, receipts: Sequence[str]) -> int:
        """``delete``, done when it returns (no coroutine)."""
        state = self._queues.get(queue) or self._queue(queue)
        in_flight = state.in_flight
        before = len(in_flight)  # what was deleted is what left in_flight: no count per receipt
        pop = in_flight.pop
        grouped = False
        for receipt in receipts:
            message = pop(receipt, None)
            if message is not None:
                message.deleted = True  # its hidden entry lives on until met or compacted
                message.in_flight = False
                if message.group_id is not None:
                    self._group_done(state, message)
                    grouped = True
        deleted = before - len(in_flight)
        if not deleted:
            return 0
        state.stale += deleted
        if state.stale > _COMPACT_AFTER and state.stale * 2 > len(state.hidden) + len(
            state.timeline
        ):
            self._compact(state)
        if grouped and state.waiters and state.visible:
            self._wake(state)  # a FIFO group may have been unblocked
        return deleted

    async def change_visibility(self, queue: str, receipt: str, timeout: float) -> bool:
        state = self._queue(queue)
        now = self._clock.now()
        if state.timeline or state.hidden:
            # A message whose visibility timeout ended is no longer in flight (SQS's
            # MessageNotInflight), whether or not another call surfaced it since.
            self._surface(state, now)
        message = state.in_flight.get(receipt)
        if message is None:
            return False
        message.visible_at = now + timeout
        heapq.heappush(state.hidden, (message.visible_at, message.sequence, message))
        state.stale += 1  # the entry of its previous visibility
        if timeout <= 0:
            self._surface(state, now)
            if state.waiters:
                self._wake(state)
        elif state.waiters:
            self._arm(message.visible_at)
        return True

    async def stats(self, queue: str) -> QueueStats:
        state = self._queue(queue)
        self._surface(state, self._clock.now())
        # A visible message is never deleted: deleting takes a receipt, which only an
        # in-flight message has.
        return QueueStats(
            visible=state.visible, in_flight=len(state.in_flight), delayed=state.delayed
        )

    async def purge(self, queue: str, sent_before: float) -> int:
        state = self._queue(queue)
        removed = 0
        for message in itertools.chain(state.fresh, (entry[1] for entry in state.returned)):
            if message.sent_at < sent_before:
                message.deleted = True
                removed += 1
        if removed:
            state.fresh = deque(message for message in state.fresh if not message.deleted)
            state.returned = [entry for entry in state.returned if not entry[1].deleted]
            heapq.heapify(state.returned)
        for receipt, message in list(state.in_flight.items()):
            if message.sent_at < sent_before:
                del state.in_flight[receipt]
                message.deleted = True
                message.in_flight = False
                self._group_done(state, message)
                removed += 1
        for visible_at, _, message in state.hidden:
            delayed = message.receive_count == 0 and message.visible_at == visible_at
            if delayed and not message.deleted and message.sent_at < sent_before:
                message.deleted = True
                state.delayed -= 1
                removed += 1
        if removed:
            self._compact(state, force=True)  # purged bodies are not kept until their time
            if state.waiters and state.visible:
                self._wake(state)  # a FIFO group whose in-flight messages expired is free
        return removed

    @staticmethod
    def _compact(state: _Queue, *, force: bool = False) -> None:
        """Drop the entries of deleted or re-hidden messages in one pass (``force``: even
        when the stale places counted are few, as after a purge, which does not count the
        places it makes stale)."""
        if not force and state.stale * 2 <= len(state.hidden) + state.timed:
            # Not yet worth it: a deletion's check counts the timeline's entries, each of
            # which stands for all the messages of one receive.
            return
        timeline: deque[tuple[float, tuple[_Message, ...]]] = deque()
        for deadline, messages in state.timeline:
            live = tuple(message for message in messages if not _stale(deadline, message))
            if live:
                timeline.append((deadline, live))
        state.timeline = timeline
        state.head = 0
        state.timed = sum(len(messages) for _, messages in timeline)
        state.hidden = [
            entry
            for entry in state.hidden
            if not entry[2].deleted
            and entry[2].visible_at == entry[0]
            and (entry[2].in_flight or entry[2].receive_count == 0)  # hidden, or delayed
        ]
        heapq.heapify(state.hidden)
        state.stale = 0

    async def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._timer_at = math.inf
        for state in self._queues.values():
            waiters, state.waiters = state.waiters, deque()
            for waiter in waiters:
                self._resolve(state, waiter)


_NO_ATTRIBUTES: Mapping[str, str] = MappingProxyType({})

_Kept = tuple[int, bytes, str, float] | tuple[int, bytes, str, float, Mapping[str, str]]
"""A kept record: ``(sequence, data, partition_key, arrival)``, and its attributes when it
has any (``LogRecord(*kept)`` is the record; one without attributes gets an empty dict of
its own)."""
_arrival = itemgetter(3)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Shard:
    """One (stream, shard) log: the kept records, oldest first, with consecutive sequences.

    Sequences have no gaps and only a prefix is ever trimmed, so the record with sequence
    ``s`` sits at index ``s - first``: a read finds its start by arithmetic, not a search.

    A record is kept as a plain tuple of its fields (see ``_Kept``), not as a LogRecord: a
    tuple of an int, bytes, a str and a float is one the cyclic garbage collector stops
    tracking, so a day of retention costs its full collections nothing, where as many
    LogRecords would each be traversed by every one of them (and a long log makes them
    longer and more frequent). A read makes the LogRecords it returns, which live only as
    long as their reader keeps them.
    """

    __slots__ = ("first", "last_arrival", "records", "waiters")

    def __init__(self) -> None:
        self.records: list[_Kept] = []
        self.first = 1  # sequence of records[0]; the next sequence to assign when empty
        self.last_arrival = float("-inf")
        self.waiters: dict[asyncio.Future[None], float] = {}  # -> deadline (clock.now())

    @property
    def last(self) -> int:
        """The newest sequence ever assigned (0 before the first append)."""
        return self.first + len(self.records) - 1

    def after(self, sequence: int, limit: int) -> list[LogRecord]:
        start = max(sequence + 1, self.first) - self.first
        return list(starmap(LogRecord, self.records[start : start + limit]))

    def wake_all(self) -> None:
        """Wake every reader: a log is not consumed, so each may want the new records."""
        for waiter in self.waiters:
            _resolve(waiter)
        self.waiters.clear()


class MemoryLogStore:
    """:class:`~eventmesh.backends.protocols.LogStore` in memory.

    ``arrival`` is the clock's wall time at append, held non-decreasing within a shard (a
    wall clock stepped back repeats the previous arrival), so that ``trim`` and
    ``sequence_at`` can bisect on it and a trim only ever removes a prefix.

    Reads that wait share one timer, set for the earliest deadline among them (readers of a
    stream mapping wait an hour, and an append wakes them long before): a wait costs a
    future, not a timer of the event loop's made and cancelled. When the last reader stops
    waiting, the timer is cancelled at the end of the loop's turn, unless a reader waits
    again by then (as a mapping's reader does once it has read what woke it).
    """

    def __init__(self, clock: Clock) -> None:
        # ``append_now`` only where it is ``append``: a subclass overriding ``append`` (to
        # record or fail calls) sees every append.
        self.appends_now = type(self).append is MemoryLogStore.append
        self.listens = type(self).read is MemoryLogStore.read  # (likewise for ``read``)
        self._clock = clock
        self._shards: dict[tuple[str, str], _Shard] = {}
        self._closed = False
        self._timer: TimerHandle | None = None
        self._timer_at = math.inf
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        self._waiting = 0
        self._idle_check = False

    def _shard(self, stream: str, shard: str) -> _Shard:
        key = (stream, shard)
        state = self._shards.get(key)
        if state is None:
            state = self._shards[key] = _Shard()
        return state

    async def append(
        self,
        stream: str,
        shard: str,
        records: Sequence[tuple[bytes, str, Mapping[str, str]]],
    ) -> list[LogRecord]:
        state = self._shards.get((stream, shard)) or self._shard(stream, shard)
        arrival = self._clock.time()
        if arrival < state.last_arrival:
            arrival = state.last_arrival
        state.last_arrival = arrival
        sequence = state.first + len(state.records)
        given: Mapping[str, str] | None = None
        # One read-only copy per distinct attributes object of the call: records of one
        # append may share it, since it reaches user code (a stream record's trace context)
        # where a change to one record's must not show in another's.
        kept = _NO_ATTRIBUTES
        entries: list[_Kept] = []
        for data, partition_key, attributes in records:
            if attributes is not given:
                given = attributes
                kept = MappingProxyType(dict(attributes)) if attributes else _NO_ATTRIBUTES
            if kept is _NO_ATTRIBUTES:
                entries.append((sequence, _own(data), partition_key, arrival))
            else:
                entries.append((sequence, _own(data), partition_key, arrival, kept))
            sequence += 1
        state.records += entries
        if state.waiters and entries:
            state.wake_all()
        return list(starmap(LogRecord, entries))

    def append_now(
        self,
        stream: str,
        shard: str,
        data: bytes,
        partition_key: str,
        attributes: Mapping[str, str],
    ) -> tuple[int, float]:
        """``append`` of one record, done when it returns (see ImmediateLogStore)."""
        return self.appender(stream, shard)(data, partition_key, attributes)

    def appender(
        self, stream: str, shard: str
    ) -> Callable[[bytes, str, Mapping[str, str]], tuple[int, float]]:
        """``append_now`` bound to one shard (see ImmediateLogStore): its state, its list
        of records and the clock looked up once, for a producer's hot path."""
        state = self._shards.get((stream, shard)) or self._shard(stream, shard)
        records, time = state.records, self._clock.time

        def append_now(
            data: bytes, partition_key: str, attributes: Mapping[str, str]
        ) -> tuple[int, float]:
            arrival = time()
            if arrival < state.last_arrival:
                arrival = state.last_arrival
            state.last_arrival = arrival
            sequence = state.first + len(records)
            if attributes:  # copied, read-only, as append's
                kept = MappingProxyType(dict(attributes))
                records.append((sequence, _own(data), partition_key, arrival, kept))
            else:
                records.append((sequence, _own(data), partition_key, arrival))
            if state.waiters:
                state.wake_all()
            return sequence, arrival

        return append_now

    def listen(self, stream: str, shard: str, future: asyncio.Future[None]) -> None:
        """Resolve ``future`` at the next append to the shard, or at ``close`` (no deadline,
        so no timer; see ListeningLogStore)."""
        if self._closed:
            _resolve(future)
            return
        state = self._shards.get((stream, shard)) or self._shard(stream, shard)
        state.waiters[future] = math.inf

    def unlisten(self, stream: str, shard: str, future: asyncio.Future[None]) -> None:
        state = self._shards.get((stream, shard))
        if state is not None:
            state.waiters.pop(future, None)

    def read_now(self, stream: str, shard: str, after: int, limit: int) -> list[LogRecord]:
        """``read`` without waiting, done when it returns (see ListeningLogStore)."""
        state = self._shards.get((stream, shard))
        return [] if state is None else state.after(after, limit)

    async def read(
        self, stream: str, shard: str, after: int, limit: int, wait: float = 0.0
    ) -> list[LogRecord]:
        state = self._shards.get((stream, shard)) or self._shard(stream, shard)
        records = state.after(after, limit)
        if records or wait <= 0 or limit <= 0:
            return records
        deadline = self._clock.now() + wait
        while not records and not self._closed and self._clock.now() < deadline:
            await self._wait(state, deadline)
            records = state.after(after, limit)
        return records

    async def _wait(self, state: _Shard, deadline: float) -> None:
        """Wait for an append to the shard, the deadline, or ``close``."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        state.waiters[future] = deadline
        self._waiting += 1
        if deadline < self._timer_at or loop is not self._timer_loop:
            self._arm(deadline, loop)  # (a store kept for a mesh restarted on another loop)
        try:
            await future
        finally:
            state.waiters.pop(future, None)
            self._waiting -= 1
            if not self._waiting and self._timer is not None and not self._idle_check:
                self._idle_check = True
                loop.call_soon(self._disarm_if_idle)

    def _disarm_if_idle(self) -> None:
        self._idle_check = False
        if not self._waiting:
            self._disarm()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, math.inf

    def _arm(self, when: float, loop: asyncio.AbstractEventLoop) -> None:
        self._disarm()
        self._timer_at, self._timer_loop = when, loop
        self._timer = self._clock.call_at(when, self._expire)

    def _expire(self) -> None:
        """The shared timer: wake the readers whose deadline came, and wait for the next."""
        self._timer, self._timer_at = None, math.inf
        now = self._clock.now()
        earliest = math.inf
        for state in self._shards.values():
            for future, deadline in list(state.waiters.items()):
                if deadline <= now:
                    del state.waiters[future]
                    _resolve(future)
                elif deadline < earliest:
                    earliest = deadline
        if earliest < math.inf:
            self._arm(earliest, asyncio.get_running_loop())

    async def bounds(self, stream: str, shard: str) -> tuple[int, int]:
        state = self._shard(stream, shard)
        return state.first - 1, state.last

    async def sequence_at(self, stream: str, shard: str, timestamp: float) -> int:
        state = self._shard(stream, shard)
        index = bisect.bisect_left(state.records, timestamp, key=_arrival)
        return state.first + index - 1

    async def trim(self, stream: str, shard: str, before: float) -> int:
        state = self._shard(stream, shard)
        count = bisect.bisect_left(state.records, before, key=_arrival)
        if count:
            del state.records[:count]
            state.first += count
        return count

    async def close(self) -> None:
        self._closed = True
        self._disarm()
        for state in self._shards.values():
            state.wake_all()


class _Entry:
    __slots__ = ("expires_at", "value", "version")

    def __init__(self, value: bytes, version: int, expires_at: float | None) -> None:
        self.value = value
        self.version = version
        self.expires_at = expires_at


class MemoryKeyValueStore:
    """:class:`~eventmesh.backends.protocols.KeyValueStore` in memory.

    Versions come from one counter per store, so they increase per key and never repeat,
    even across a delete or an expiry: a version read before a key was deleted and written
    again never matches the new value (no ABA for leases). They start at 1 but are not
    consecutive per key.

    Expiry is measured on the clock's wall time; a value is expired from ``expires_at`` on.
    Expired values are dropped when touched and, so that never-read ones do not pile up,
    by a heap of expiry times purged on every call.
    """

    def __init__(self, clock: Clock) -> None:
        # ``put_now`` only where it is ``put``: a subclass overriding ``put`` (to record or
        # fail writes) sees every write.
        self.puts_now = type(self).put is MemoryKeyValueStore.put
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._expiries: list[tuple[float, int, str]] = []  # (expires_at, version, key)
        self._versions = itertools.count(1)

    def _live(self, key: str) -> _Entry | None:
        """The key's unexpired entry, after dropping everything expired by now."""
        self._purge(self._clock.time())
        return self._entries.get(key)

    def _purge(self, now: float) -> None:
        expiries = self._expiries
        while expiries and expiries[0][0] <= now:
            _, version, key = heapq.heappop(expiries)
            entry = self._entries.get(key)
            if entry is not None and entry.version == version:
                del self._entries[key]  # otherwise overwritten or deleted since

    async def get(self, key: str) -> StoredValue | None:
        entry = self._live(key)
        if entry is None:
            return None
        return StoredValue(entry.value, entry.version, entry.expires_at)

    async def put(
        self,
        key: str,
        value: bytes,
        *,
        ttl: float | None = None,
        only_if_absent: bool = False,
        only_if_version: int | None = None,
    ) -> int | None:
        return self.put_now(
            key, value, ttl=ttl, only_if_absent=only_if_absent, only_if_version=only_if_version
        )

    def put_now(
        self,
        key: str,
        value: bytes,
        *,
        ttl: float | None = None,
        only_if_absent: bool = False,
        only_if_version: int | None = None,
    ) -> int | None:
        """``put``, done when it returns (see ImmediateKeyValueStore)."""
        if only_if_absent and only_if_version is not None:
            raise ValueError("give only_if_absent or only_if_version, not both")
        entry = self._live(key)
        if only_if_absent and entry is not None:
            return None
        if only_if_version is not None and (entry is None or entry.version != only_if_version):
            return None
        version = next(self._versions)
        expires_at = None if ttl is None else self._clock.time() + ttl
        self._entries[key] = _Entry(_own(value), version, expires_at)
        if expires_at is not None:
            heapq.heappush(self._expiries, (expires_at, version, key))
        return version

    async def delete(self, key: str, *, only_if_version: int | None = None) -> bool:
        entry = self._live(key)
        if entry is None or (only_if_version is not None and entry.version != only_if_version):
            return False
        del self._entries[key]
        return True

    async def close(self) -> None:
        """Nothing waits on a key-value store; kept for the protocol."""


class _Bucket:
    """A bucket's objects, and their keys kept sorted so ``list`` can bisect."""

    __slots__ = ("keys", "objects")

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, BlobInfo]] = {}
        self.keys: list[str] = []


class MemoryBlobStore:
    """:class:`~eventmesh.backends.protocols.BlobStore` in memory.

    Key order is Python string order (code points), which is the UTF-8 byte order S3 uses.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, name: str) -> _Bucket:
        bucket = self._buckets.get(name)
        if bucket is None:
            bucket = self._buckets[name] = _Bucket()
        return bucket

    async def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        metadata: Mapping[str, str] | None = None,
        content_type: str = "application/octet-stream",
    ) -> BlobInfo:
        state = self._bucket(bucket)
        data = _own(data)
        info = BlobInfo(
            key=key,
            size=len(data),
            etag=hashlib.md5(data, usedforsecurity=False).hexdigest(),
            last_modified=self._clock.time(),
            metadata=dict(metadata or {}),
            content_type=content_type,
        )
        if key not in state.objects:
            bisect.insort(state.keys, key)
        state.objects[key] = (data, info)
        return info

    async def get(self, bucket: str, key: str) -> tuple[bytes, BlobInfo] | None:
        state = self._buckets.get(bucket)
        return None if state is None else state.objects.get(key)

    async def head(self, bucket: str, key: str) -> BlobInfo | None:
        found = await self.get(bucket, key)
        return None if found is None else found[1]

    async def delete(self, bucket: str, key: str) -> bool:
        state = self._buckets.get(bucket)
        if state is None or state.objects.pop(key, None) is None:
            return False
        del state.keys[bisect.bisect_left(state.keys, key)]
        return True

    async def list(
        self, bucket: str, prefix: str = "", start_after: str = "", limit: int = 1000
    ) -> list[BlobInfo]:
        state = self._buckets.get(bucket)
        if state is None or limit <= 0:
            return []
        keys = state.keys
        start = max(bisect.bisect_left(keys, prefix), bisect.bisect_right(keys, start_after))
        infos: list[BlobInfo] = []
        for key in keys[start : start + limit]:
            if not key.startswith(prefix):
                break  # keys with the prefix are contiguous in sorted order
            infos.append(state.objects[key][1])
        return infos

    async def close(self) -> None:
        """Nothing waits on a blob store; kept for the protocol."""


def memory_backend(clock: Clock) -> Backend:
    """The four in-memory stores on ``clock``: the mesh's default backend."""
    return Backend(
        queues=MemoryQueueStore(clock),
        logs=MemoryLogStore(clock),
        values=MemoryKeyValueStore(clock),
        blobs=MemoryBlobStore(clock),
        in_memory=True,
    )


def memory_backend_from_url(url: str, clock: Clock) -> Backend:
    """Open ``memory`` (or ``memory://``): a new in-memory backend, which takes no options."""
    check_memory_url(url)
    return memory_backend(clock)


def check_memory_url(url: str) -> None:
    """Refuse a memory URL with a location or options (it has none)."""
    scheme = url_scheme(url)
    location, _, query = url[len(scheme) :].removeprefix(":").removeprefix("//").partition("?")
    if scheme != "memory" or location:
        raise ConfigurationError(
            f"{shown_url(url)!r} is not a memory storage URL: use 'memory' (it names no place)"
        )
    url_options(url, query, {})


memory_factory = CheckedFactory(memory_backend_from_url, check_memory_url)
"""The ``memory`` entry point of the ``eventmesh.backends`` group."""
