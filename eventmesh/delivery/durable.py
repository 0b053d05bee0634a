"""Deliveries kept in the ``QueueStore``, so that on durable storage they survive a crash.

A resource that delivers to targets (an SNS-style topic to its subscriptions, an
EventBridge-style bus to its rule targets) puts each delivery into a :class:`DeliveryQueue`:
one queue of the store per resource, holding the owner's serialised message and where it goes.
Workers take deliveries from the store and call the owner's ``attempt``, which says whether the
delivery is finished or must be tried again after a delay. A retry is a delayed re-send, as in
the asynchronous invocation queue: the store keeps the waiting delivery, not a task sleeping
on the clock, so on SQLite a process killed while deliveries wait to retry loses none of them;
the next process that opens the file attempts them when their delay is over.

Guarantees (at least once, as SNS and EventBridge deliver):

* a retry stores the successor first, then deletes the delivery taken: a crash between the two
  attempts it twice, never zero times;
* a worker that dies mid-attempt (the process killed) leaves the delivery hidden for
  ``visibility`` seconds (wall time, so across restarts), after which it is attempted again
  with the same ``retries``. ``visibility`` must therefore outlast the longest attempt: one
  still running when it ends is attempted a second time in parallel.

What the store holds per delivery, in the message's attributes: the route, the retries made,
when it was first queued (wall time) and the trace context captured at put (``trace.`` keys).
The owner's body is stored as given; the queue never reads it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from opentelemetry import context as otel_context
from opentelemetry import propagate

from eventmesh._bound_once import bound_once
from eventmesh._clock import Clock
from eventmesh._errors import ConfigurationError
from eventmesh._store_workers import StoreWorkers
from eventmesh.backends.protocols import Delivery, OutgoingMessage, QueueStats, QueueStore

__all__ = ["Attempt", "DeliveryQueue", "StoredDelivery"]

logger = logging.getLogger("eventmesh.delivery")

ROUTE = "route"
RETRIES = "retries"
FIRST_ATTEMPT_AT = "first_attempt_at"
TRACE_PREFIX = "trace."
"""Attribute names of a stored delivery; trace context keys are stored under this prefix."""

DEFAULT_WORKERS = 8
DEFAULT_VISIBILITY = 120.0
"""Seconds a taken delivery stays hidden: beyond an HTTP attempt's timeout (SNS waits 15 s,
EventBridge 5 s) and an asynchronous invocation's put, with room to spare."""

_NO_TRACE: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class StoredDelivery:
    """One delivery as the owner's ``attempt`` sees it."""

    route: str
    """The owner's id of where it goes (a subscription id, a rule target id)."""
    body: bytes
    """The owner's serialised message, as put."""
    retries: int
    """Retries already made (0: this is the first attempt)."""
    first_attempt_at: float
    """``clock.time()`` when the delivery was put (for a maximum event age)."""
    trace: Mapping[str, str] = field(default_factory=dict)
    """The W3C trace context given at put (empty if none); current during the attempt."""


Attempt = Callable[[StoredDelivery], Awaitable[float | None]]
"""Try a delivery once: ``None`` when it is finished (delivered, or given up: the owner logs or
dead-letters it), else the delay in seconds before the next retry."""


class DeliveryQueue:
    """Deliveries of one resource (a topic, a bus) stored in the ``QueueStore``, attempted by
    workers, retried as delayed re-sends, so on durable storage they survive a crash.

    ``name`` is the store's queue name (choose one no user queue can take, such as
    ``eventmesh.topic.<name>``). ``store`` is read on first use, since a mesh binds its storage
    when it starts. Up to ``workers`` attempts run at once: workers are started as deliveries
    arrive and retire when idle, except one, which long-polls the store.

    ``attempt`` raising is a bug in the owner: the exception is logged with the route, and the
    delivery stays in the store, hidden, to be attempted again (same ``retries``) after
    ``visibility`` seconds; it is neither lost nor allowed to kill the worker. A stored message
    that is not a delivery (damaged or foreign attributes) is logged and deleted.
    """

    def __init__(
        self,
        name: str,
        store: Callable[[], QueueStore],
        clock: Clock,
        attempt: Attempt,
        *,
        workers: int = DEFAULT_WORKERS,
        visibility: float = DEFAULT_VISIBILITY,
    ) -> None:
        if workers < 1:
            raise ConfigurationError(f"workers must be at least 1, not {workers}")
        if not visibility > 0:
            raise ConfigurationError(f"visibility must be a positive time, not {visibility}")
        self.name = name
        self.clock = clock
        self.workers = workers
        self.visibility = visibility
        self._store_of = store
        self._attempt = attempt
        self._workers = StoreWorkers(
            name,
            store,
            clock,
            self._process,
            capacity=lambda: self.workers,
            visibility=lambda: self.visibility,
            logger=logger,
            noun="a delivery",
        )

    @bound_once
    def _store(self) -> QueueStore:
        """The mesh's queue store, bound on first use."""
        return self._store_of()

    # -- producing ---------------------------------------------------------------------------
    async def put(
        self,
        route: str,
        body: bytes,
        *,
        delay: float = 0.0,
        trace: Mapping[str, str] = _NO_TRACE,
        retries: int = 0,
        first_attempt_at: float | None = None,
    ) -> None:
        """Store a new delivery, to be attempted ``delay`` seconds from now. A delivery whose
        first attempts the owner made itself (in memory, at once) comes with the ``retries``
        already made and the ``first_attempt_at`` of the first."""
        await self.put_many(
            [(route, body)],
            delay=delay,
            trace=trace,
            retries=retries,
            first_attempt_at=first_attempt_at,
        )

    async def put_many(
        self,
        deliveries: Iterable[tuple[str, bytes]],
        *,
        delay: float = 0.0,
        trace: Mapping[str, str] = _NO_TRACE,
        retries: int = 0,
        first_attempt_at: float | None = None,
    ) -> None:
        """Store several new ``(route, body)`` deliveries in one write (a topic's fan-out).

        ``trace``: the W3C context to restore around each attempt. The owner captures it
        (``propagate.inject``), since it knows whether tracing is on and may share one
        capture among many deliveries.
        """
        first = self.clock.time() if first_attempt_at is None else first_attempt_at
        common = {RETRIES: str(retries), FIRST_ATTEMPT_AT: repr(first)}
        for key, value in trace.items():
            common[TRACE_PREFIX + key] = value
        delay = max(0.0, delay)
        messages = [
            OutgoingMessage(body, {**common, ROUTE: route}, delay) for route, body in deliveries
        ]
        if messages:
            await self._store.send(self.name, messages)

    # -- workers -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start attempting what the store holds, including what an earlier process left."""
        self._workers.start()

    async def stop(self) -> None:
        """Stop the workers. Deliveries stay in the store: those being attempted come back
        after ``visibility`` (an attempt that swallows its cancellation is not waited for
        long); on memory storage they are lost with the process (``stats`` says how many)."""
        await self._workers.stop()

    async def pending(self) -> int:
        """Deliveries due now or being attempted; those waiting to retry are not counted."""
        stats = await self._store.stats(self.name)
        return stats.visible + self._workers.busy

    async def report_at_stop(self, owner: str, durable: bool, log: logging.Logger) -> int:
        """Once stopped, say what is still stored: kept for the next start on durable
        storage, lost with the process on memory storage. Returns how many were lost."""
        try:
            stats = await self.stats()
        except Exception:
            return 0  # a failing store: nothing more to learn from it
        if not stats.total:
            return 0
        if durable:
            log.info(
                "%s: %d deliveries stay in the store for the next start (%d waiting to retry)",
                owner,
                stats.total,
                stats.delayed,
            )
            return 0
        log.warning(
            "abandoned: %s %d deliveries unfinished (%d waiting to retry); memory storage "
            "keeps nothing after the process ends",
            owner,
            stats.total,
            stats.delayed,
        )
        return stats.total

    async def stats(self) -> QueueStats:
        """The store's counts: due (visible), being attempted (in flight), waiting (delayed)."""
        return await self._store.stats(self.name)

    async def _process(self, message: Delivery) -> None:
        store = self._store
        try:
            delivery = _decode(message)
        except (KeyError, ValueError) as exc:
            logger.error(
                "%s: deleting stored message %s, which is not a delivery: %r",
                self.name,
                message.message_id,
                exc,
            )
            await store.delete(self.name, [message.receipt])
            return
        try:
            if delivery.trace:
                token = otel_context.attach(propagate.extract(delivery.trace))
                try:
                    delay = await self._attempt(delivery)
                finally:
                    otel_context.detach(token)
            else:
                delay = await self._attempt(delivery)
        except Exception:
            logger.exception(
                "%s: attempting the delivery to %s raised (a bug in its owner); it is kept "
                "and attempted again in %g s",
                self.name,
                delivery.route,
                self.visibility,
            )
            return
        if delay is not None:
            attributes = {**message.attributes, RETRIES: str(delivery.retries + 1)}
            retry = OutgoingMessage(message.body, attributes, max(0.0, delay))
            await store.send(self.name, [retry])  # the successor first: never a loss
        await store.delete(self.name, [message.receipt])

    def __repr__(self) -> str:
        return f"<DeliveryQueue {self.name} ({len(self._workers.tasks)} workers)>"


def _decode(message: Delivery) -> StoredDelivery:
    """The delivery a stored message holds; KeyError or ValueError if it holds none."""
    attributes = message.attributes
    route = attributes[ROUTE]
    retries = int(attributes[RETRIES])
    first_attempt_at = float(attributes[FIRST_ATTEMPT_AT])
    if retries < 0:
        raise ValueError(f"negative retries: {retries}")
    if not math.isfinite(first_attempt_at):
        raise ValueError(f"first_attempt_at is not a time: {first_attempt_at}")
    trace = {
        key[len(TRACE_PREFIX) :]: value
        for key, value in attributes.items()
        if key.startswith(TRACE_PREFIX)
    }
    return StoredDelivery(route, message.body, retries, first_attempt_at, trace)
