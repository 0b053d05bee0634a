"""Backpressure: a limit on one resource's pending work, and producers that wait for room.

Every in-memory buffer of the mesh (a queue's messages, a function's Event invocations, a
topic's or a bus's deliveries, a stream's unread records) has a :class:`PendingLimit`. A
producer calls :meth:`PendingLimit.acquire` (or first :meth:`PendingLimit.try_acquire`, which
takes room without a coroutine when there is some) before it stores anything: under the limit
it goes on at once; at the limit it waits, on the mesh's clock, until a consumer frees room
(:meth:`PendingLimit.release` wakes the oldest waiter: no polling, no timer per waiter beyond
its own timeout), or raises :class:`~eventmesh.BackpressureError` when its ``timeout`` runs
out (``0``: do not wait at all).

Internal paths never wait forever and never drop (see :func:`delivery_mode`): records of work
already done (destinations, dead letters, redrives) are admitted over the limit, and a topic's
or bus's delivery waits a bounded time, after which the attempt counts as throttled and the
resource's retry policy (backoff, then its dead-letter queue) takes over.

Producers also yield to the event loop every :data:`YIELD_EVERY` calls, even when nothing
makes them wait: a loop of in-memory sends never suspends otherwise, and its consumers would
not run until it ends. anyio's memory streams were not used: they cannot take the mesh's
(virtual) clock for their timeouts, and the limit is a count, not a buffer of objects.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from contextvars import Context, ContextVar, copy_context
from types import MappingProxyType
from typing import Any

from eventmesh._clock import Clock
from eventmesh._errors import BackpressureError, ConfigurationError

__all__ = [
    "DEFAULT_MAX_PENDING",
    "INTERNAL_WAIT",
    "OVERFLOW",
    "YIELD_EVERY",
    "PendingLimit",
    "check_max_pending",
    "consuming",
    "check_timeout",
    "delivery_mode",
    "task_context",
]

DEFAULT_MAX_PENDING: Mapping[str, int] = MappingProxyType(
    {"queue": 100_000, "function": 100_000, "stream": 100_000, "topic": 10_000, "bus": 10_000}
)
"""Each kind's limit unless the mesh, the resource or the function sets one. Measured by
``benchmarks/pending_memory.py`` with small payloads: about 50 MB for a full queue, 80 MB for
a function's Event invocations, 35 MB for a stream shard; a topic's or bus's delivery is a
task in memory (3.4 KB and 8.6 KB), hence the lower count: about 35 MB and 86 MB."""
YIELD_EVERY = 32
"""A producer yields to the loop once in this many calls (one ``sleep(0)``)."""
INTERNAL_WAIT = 60.0
"""Seconds a topic's or bus's delivery waits for room in a full target before that attempt
counts as throttled and the delivery retries with backoff."""
OVERFLOW = -1.0
"""The delivery mode of records of done work: admitted over the limit, never waiting."""

_mode: ContextVar[float | None] = ContextVar("eventmesh_delivery_mode", default=None)

consuming: ContextVar[PendingLimit | None] = ContextVar("eventmesh_consuming", default=None)
"""The limit whose work the current handler is running (set by the consumer around its
invocation: a queue mapping, a function's Event invocations). A producer call from that
handler into the same resource never waits for room: the room it waits for is freed only
when the handler itself ends, so it would wait for itself (a work queue fed by its own
consumer); it goes in over the limit, as records of done work do. Read only at the limit."""


@contextmanager
def delivery_mode(mode: float | None) -> Iterator[None]:
    """Within the block, a producer call without its own timeout that meets a full resource
    waits at most ``mode`` seconds, or (``OVERFLOW``) is admitted over the limit at once.

    Read only when a limit is reached, so the hot path pays nothing for it.
    """
    token = _mode.set(mode)
    try:
        yield
    finally:
        _mode.reset(token)


def task_context() -> Context | None:
    """The context for a background delivery started by a producer call: the caller's copy,
    without its delivery mode (a destination's overflow must not reach a subscriber's own
    sends). None, meaning "copy the current one", when there is no mode to drop."""
    if _mode.get() is None:
        return None
    context = copy_context()
    context.run(_mode.set, None)
    return context


def check_max_pending(value: Any, what: str = "max_pending") -> int | None:
    """A limit: a positive integer, or None for the default."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{what} must be a positive integer, got {value!r}")
    return value


def check_timeout(value: Any) -> float | None:
    """A producer's timeout: seconds >= 0 (0: do not wait), or None (wait as needed)."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or value != value  # NaN (math.isnan would overflow on an int past a float's range)
        or value < 0
    ):
        raise ConfigurationError(f"timeout must be a number of seconds >= 0 or None, got {value!r}")
    try:
        return float(value)
    except OverflowError:  # an int past a float's range: as long as infinity
        return math.inf


class PendingLimit:
    """The pending work of one resource against its limit (``None``: counted, not limited,
    as on a durable store).

    ``pending`` counts what the owner stored and its consumers have not finished; the owner
    calls :meth:`acquire` (or :meth:`add`, for work that must not wait) when it stores, and
    :meth:`release` when work leaves. A waiter that gets room has its unit counted for it
    before it wakes, so a producer arriving meanwhile cannot take that room.
    """

    __slots__ = ("_calls", "_clock", "_stopped", "_waiters", "kind", "limit", "name", "pending")

    def __init__(self, kind: str, name: str, limit: int | None, clock: Clock) -> None:
        self.kind = kind
        self.name = name
        self.limit = limit
        self.pending = 0
        self._clock = clock
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._calls = 0
        self._stopped = False

    @property
    def waiting(self) -> int:
        """Producers waiting for room now."""
        return len(self._waiters)

    def try_acquire(self) -> bool:
        """Count one unit of pending work at once if :meth:`acquire` would neither yield
        nor wait: True when counted; False (counting nothing, this call included) means
        "await :meth:`acquire`", which then counts the call towards the yield rule itself.

        The common send, under the limit and between two yields, then costs no coroutine.
        """
        calls = self._calls + 1
        if calls % YIELD_EVERY == 0:
            return False
        limit = self.limit
        if limit is None or (self.pending < limit and not self._waiters):
            self._calls = calls
            self.pending += 1
            return True
        return False

    async def acquire(self, timeout: float | None = None) -> None:
        """Count one unit of pending work, waiting for room if the limit is reached."""
        self._calls += 1
        if self._calls % YIELD_EVERY == 0:
            await asyncio.sleep(0)  # let consumers run while a producer loops (counts nothing)
        limit = self.limit
        if limit is None or (self.pending < limit and not self._waiters):
            self.pending += 1
            return
        if consuming.get() is self:  # a handler feeding its own source: see `consuming`
            self.pending += 1
            return
        if timeout is None:
            mode = _mode.get()
            if mode == OVERFLOW:
                self.pending += 1
                return
            timeout = mode
        if (timeout is not None and timeout <= 0) or self._stopped:
            raise self._error()
        await self._wait(timeout)

    async def room(self) -> None:
        """Wait until the limit leaves room, counting nothing (for a paced internal loop)."""
        limit = self.limit
        if limit is None or (self.pending < limit and not self._waiters):
            return
        if self._stopped:
            raise self._error()
        await self._wait(None)
        self.release()

    async def _wait(self, timeout: float | None) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        timer = None
        if timeout is not None:
            timer = self._clock.call_at(self._clock.now() + timeout, lambda: _expire(future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # room was granted as the caller was cancelled: give it back
            else:
                self._forget(future)
            raise
        except BackpressureError:
            self._forget(future)
            raise self._error() from None
        finally:
            if timer is not None:
                timer.cancel()

    def _forget(self, future: asyncio.Future[None]) -> None:
        with suppress(ValueError):
            self._waiters.remove(future)
        self._grant()  # a waiter that left may have stood before others that now fit

    def add(self, count: int = 1) -> None:
        """Count work that does not wait for room (internal paths, a batch's extra items)."""
        self.pending += count

    def release(self, count: int = 1) -> None:
        """Work left (consumed, deleted, expired): wake the producers that now fit."""
        pending = self.pending - count
        self.pending = pending if pending > 0 else 0  # max(0, ...) without a builtin call
        if self._waiters:
            self._grant()

    def set(self, pending: int) -> None:
        """For a resource that measures its pending work instead of counting it (a stream)."""
        self.pending = max(0, pending)
        if self._waiters:
            self._grant()

    def stop(self) -> None:
        """The mesh stopped: its consumers free no more room, so the producers waiting for
        some get a BackpressureError saying so (nothing of theirs was stored), and so does a
        producer that finds the resource full until :meth:`start`."""
        self._stopped = True
        waiters, self._waiters = self._waiters, deque()
        for future in waiters:
            _expire(future)

    def start(self) -> None:
        self._stopped = False

    @property
    def stopped(self) -> bool:
        """The mesh stopped: waiting for room would wait for nothing (see :meth:`stop`)."""
        return self._stopped

    def _grant(self) -> None:
        limit = self.limit
        waiters = self._waiters
        while waiters and (limit is None or self.pending < limit):
            future = waiters.popleft()
            if not future.done():
                self.pending += 1
                future.set_result(None)

    def _error(self) -> BackpressureError:
        why = "the mesh stopped" if self._stopped else "consumers have not freed room"
        return BackpressureError(
            f"{self.kind} {self.name!r} has {self.pending} pending, at its limit of "
            f"{self.limit} (max_pending); {why}",
            resource=self.name,
            kind=self.kind,
            limit=self.limit or 0,
        )

    def __repr__(self) -> str:
        return f"<PendingLimit {self.kind} {self.name} {self.pending}/{self.limit}>"


def _expire(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(BackpressureError("timed out", resource="", kind="", limit=0))
