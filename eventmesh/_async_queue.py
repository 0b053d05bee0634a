"""Lambda's internal queue for asynchronous (``Event``) invocations, one per function.

``invoke(..., invocation_type="Event")`` stores the event and returns 202. A poller takes
events from the store as concurrency allows and hands each to a reusable worker task, which
runs it and applies Lambda's rules:

* a function error is retried ``retries`` times (default 2), 1 minute then 2 minutes later;
* a throttle puts the event back with a delay growing from 1 s to 5 min;
* an event older than ``max_event_age`` is discarded (``EventAgeExceeded``), and so is one
  that exhausted its retries (``RetriesExhausted``), or any event of a function whose
  reserved concurrency is 0 (``ZeroReservedConcurrency``), at once;
* a discarded event's invocation record goes to ``on_failure`` and the event itself to
  ``dead_letter``; a success's record goes to ``on_success``.

The event's state (attempts, throttles, when it was first queued, the last error) travels
in the stored message's attributes, so a durable store keeps retries across restarts: a
retry is a delayed re-send, and the original is deleted only once its successor is stored.
Workers take events from the store with the loop every stored consumer shares
(:class:`~eventmesh._store_workers.StoreWorkers`).

On the mesh's own memory store (a ``MemoryQueueStore`` itself, not a subclass that may add
failures or persistence) nothing is gained by storing an event that workers take back at
once, so a new event is handed to the workers directly (:class:`~eventmesh._hand_off.HandOff`)
as a plain tuple (:data:`_Fresh`): no attributes to format and parse, no chain to encode, no
receipt to delete, no object to build. A worker runs such an event on the hot path
(:meth:`AsyncInvocationQueue._take_handed`) as long as nothing but a run and a success
happens: anything else (a qualifier to resolve, an expired event, a throttle, a function
error, a destination on success, a failure) makes it an :class:`_Event` there and then, and
the general code takes over from that point. Only what must wait goes to the store: a retry
or a throttled event is stored with its state in attributes, exactly as on durable storage,
and one store worker hands it back when it is due. Both paths apply the same rules to the
same :class:`_Event`, so they cannot disagree; ``AsyncInvocationQueue.hand_off = False``
turns the hand-off off (tests run the rules both ways). Events handed over and not
finished count as the store's would: in ``pending()``, in ``stats()`` (queued: visible;
running: in flight), and at a stop, where an event whose run the stop interrupted is put
back in line, as a stored one would come back.
An unexpected failure outside the handler (a bug, the store failing while it stores a retry)
loses nothing either way: a stored event stays in the store and comes back after its
visibility timeout; a handed-over one is stored to come back as late, or, if even that fails,
goes back in line after the store outage's pause (:meth:`AsyncInvocationQueue._keep`).

Pending work (the function's ``max_pending``) is every Event invocation queued, running or
waiting to retry: ``put`` counts one (waiting for room at the limit), and the final delete
(success, discard, rejection) frees it; a retry replaces its original and counts nothing.
Destination and dead-letter records go out over their target's limit: they report work
already done, and refusing them would lose it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

import orjson
from opentelemetry import propagate

from eventmesh._backpressure import (
    OVERFLOW,
    YIELD_EVERY,
    PendingLimit,
    consuming,
    delivery_mode,
)
from eventmesh._bound_once import bound_once
from eventmesh._callbacks import contained
from eventmesh._destinations import (
    Destination,
    DestinationSpec,
    dead_letter_attributes,
    invocation_record,
)
from eventmesh._errors import EventMeshError, ResourceNotFoundError
from eventmesh._failure_log import log_function_error
from eventmesh._hand_off import HandOff
from eventmesh._invocation import InvocationResult
from eventmesh._invoker import (
    RESERVED,
    SHARED,
    Invoker,
    encode_payload,
    extend_chain,
    invocation_chain,
)
from eventmesh._outage import Outage
from eventmesh._store_workers import POLL_WAIT, StoreWorkers
from eventmesh.backends.memory import MemoryQueueStore
from eventmesh.backends.protocols import Delivery, OutgoingMessage, QueueStats, QueueStore

if TYPE_CHECKING:
    from eventmesh._function import Function, FunctionConfig, FunctionVersion

__all__ = ["POLL_WAIT", "AsyncInvocationQueue"]

logger = logging.getLogger("eventmesh.async")

FUNCTION_ERROR_DELAYS = (60.0, 120.0)
"""Seconds before the second and the third attempt after a function error."""
THROTTLE_BASE_DELAY = 1.0
THROTTLE_MAX_DELAY = 300.0
VISIBILITY_MARGIN = 170.0
"""Beyond the function's timeout, how long a taken event stays hidden from other pollers:
room for a provisioned environment's init (up to 130 s) and the destinations."""

Resolver = Callable[[str], tuple["FunctionVersion", str, str]]
"""A stored qualifier to (version to run, ARN as invoked, qualified ARN for records)."""
DestinationResolver = Callable[[DestinationSpec], Destination]

_NO_CHAIN: Mapping[str, int] = MappingProxyType({})
_loads = orjson.loads
_dumps = orjson.dumps
_new_result = InvocationResult.__new__

_Fresh = tuple[bytes, str, str, float, Mapping[str, int], str, dict[str, str] | None]
"""A new event handed over on memory storage, as it was put: its body, request id,
qualifier, when it was queued (epoch seconds), the chain of invocations that led to it, its
trigger, and its trace context (None: tracing was off). In :class:`_Event`'s argument order,
so ``_Event(*fresh)`` is the same event once it needs more."""


class _Event:
    """One Event invocation as the rules see it, whichever way it came: handed over (no
    ``delivery``: made from a :data:`_Fresh` tuple once it left the hot path) or taken from
    the store (its ``delivery``, whose attributes it was read from and whose receipt
    finishes it)."""

    __slots__ = (
        "attempts",
        "body",
        "chain",
        "delivery",
        "done",
        "enqueued_at",
        "interrupted",
        "last",
        "qualifier",
        "request_id",
        "taken",
        "throttles",
        "trace",
        "trigger",
    )

    def __init__(
        self,
        body: bytes,
        request_id: str,
        qualifier: str,
        enqueued_at: float,
        chain: Mapping[str, int],
        trigger: str,
        trace: Mapping[str, str] | None,
        delivery: Delivery | None = None,
    ) -> None:
        self.body = body
        self.request_id = request_id
        self.qualifier = qualifier
        self.enqueued_at = enqueued_at
        self.chain = chain
        self.trigger = trigger
        self.trace = trace
        """The W3C trace context captured at put (None: tracing was off)."""
        self.delivery = delivery
        self.attempts = 0
        self.throttles = 0
        self.last: str | None = None
        """The last attempt's outcome, as stored (JSON: status, version, error, payload)."""
        self.taken: asyncio.Future[None] | None = None
        """Set when a store worker handed it over: resolved once a worker takes it."""
        self.done = False
        """Finished, or stored again: nothing left to do with it here."""
        self.interrupted = False
        """Taken, then put back in line by a stop (counted as taken, as a stored one is)."""

    @classmethod
    def stored(cls, delivery: Delivery) -> _Event:
        """The event a stored message holds; KeyError or ValueError if it holds none."""
        attributes = delivery.attributes
        chain = orjson.loads(attributes["chain"]) if "chain" in attributes else _NO_CHAIN
        event = cls(
            delivery.body,
            attributes["request_id"],
            attributes["qualifier"],
            float(attributes["enqueued_at"]),
            chain,
            attributes.get("trigger", "other"),
            attributes,
            delivery,
        )
        event.attempts = int(attributes.get("attempts", "0"))
        event.throttles = int(attributes.get("throttles", "0"))
        event.last = attributes.get("last")
        return event

    def attributes(self) -> dict[str, str]:
        """The stored message's attributes for this event in its present state."""
        if self.delivery is not None:
            attributes = dict(self.delivery.attributes)
        else:
            attributes = {
                "request_id": self.request_id,
                "qualifier": self.qualifier,
                "enqueued_at": repr(self.enqueued_at),
            }
            if self.chain:
                attributes["chain"] = orjson.dumps(self.chain).decode()
            if self.trigger != "other":
                attributes["trigger"] = self.trigger
            if self.trace:
                attributes.update(self.trace)
        if self.attempts:
            attributes["attempts"] = str(self.attempts)
        if self.throttles:
            attributes["throttles"] = str(self.throttles)
        if self.last is not None:
            attributes["last"] = self.last
        return attributes


class AsyncInvocationQueue:
    """One function's queue of Event invocations, and the workers that run them."""

    hand_off: ClassVar[bool] = True
    """Hand new events to the workers directly on the mesh's own memory store (see the
    module docstring); False stores every event, as durable storage does."""

    def __init__(
        self,
        function: Function,
        store: Callable[[], QueueStore],
        invoker: Invoker,
        resolve: Resolver,
        destination: DestinationResolver,
        limit: PendingLimit,
    ) -> None:
        self.function = function
        self.limit = limit
        self.name = f"eventmesh.async.{function.name}"
        self._store_of = store
        self._invoker = invoker
        self._resolve = resolve
        self._destination = destination
        self._handed: HandOff[_Fresh | _Event] | None = None
        """The hand-off, once the store is known to be the mesh's memory (at start)."""
        self._workers: StoreWorkers | None = None
        self._processing = 0  # stored events being run (by _process)
        self._stored_held = 0  # stored events held by a hand-off worker (_take_due)
        self._stored_waiting = 0  # stored events handed to the workers and not yet taken
        self._interrupted = 0  # events handed over whose run a stop interrupted
        self._context = contextvars.Context()
        self._own_chain: Mapping[str, int] = {function.name: 1}
        """The chain of an event no invocation led to (most of them), made once. A plain
        dict, never changed (a chain is extended by copy): what the handler invokes or
        publishes stores it as JSON, which a read-only mapping proxy cannot be encoded to."""
        self._unqualified: tuple[str, str] | None = None
        """The ARNs of an unqualified event (as invoked, as recorded), resolved once."""

    @bound_once
    def _store(self) -> QueueStore:
        """The mesh's queue store, bound on first use (storage is bound when the mesh
        starts, so a command line can choose it)."""
        return self._store_of()

    # -- producing ---------------------------------------------------------------------------
    async def put(
        self, qualifier: str, body: bytes, trigger: str = "other", *, timeout: float | None = None
    ) -> str:
        """Queue an event; returns its request id. Raises if a destination loop is detected,
        or :class:`~eventmesh.BackpressureError` when no room came within ``timeout``."""
        chain = invocation_chain.get()
        if chain is not None:
            self._invoker.check_recursion(self.function, chain)
        limit = self.limit
        # limit.try_acquire(), inline (a Python call less per event): count this event at
        # once unless acquire would yield (every YIELD_EVERY-th call) or wait for room.
        calls = limit._calls + 1
        if calls % YIELD_EVERY and (
            (most := limit.limit) is None or (limit.pending < most and not limit._waiters)
        ):
            limit._calls = calls
            limit.pending += 1
        else:
            await limit.acquire(timeout)
        try:  # whatever fails from here, the caller is told and the place is given back
            handed = self._handed
            if handed is not None:
                return self._hand(handed, qualifier, body, trigger, chain)
            return await self._store_new(qualifier, body, trigger, chain)
        except BaseException:
            limit.release()
            raise

    async def invoke(self, qualifier: str, payload: Any, payload_limit: int) -> InvocationResult:
        """``mesh.invoke(name, payload, "Event")`` of a name resolved before, with no timeout:
        :meth:`put` of the payload encoded, answered 202 (one coroutine for the whole call;
        ``Mesh._invoke`` is the general way, with the same checks in the same order)."""
        invoker = self._invoker
        if not invoker.running:
            raise EventMeshError("the mesh is not running: use `async with mesh:` first")
        if type(payload) is dict:  # encode_payload's common case, inline (as Invoker.run)
            try:
                body = _dumps(payload)
            except TypeError:
                body = b""
            # partition()[1] is b"null" when found (NaN and Infinity are written as null:
            # encode_payload checks), else b"": a third of find()'s cost.
            if not body or body.partition(b"null")[1] or len(body) > payload_limit:
                body = encode_payload(payload, payload_limit, self.function.name)
        else:
            body = encode_payload(payload, payload_limit, self.function.name)
        chain = invocation_chain.get()
        if chain is not None:
            invoker.check_recursion(self.function, chain)
        limit = self.limit
        calls = limit._calls + 1  # limit.try_acquire(), inline, as in put
        if calls % YIELD_EVERY and (
            (most := limit.limit) is None or (limit.pending < most and not limit._waiters)
        ):
            limit._calls = calls
            limit.pending += 1
        else:
            await limit.acquire(None)
        try:
            handed = self._handed
            if handed is not None:
                request_id = self._hand(handed, qualifier, body, "other", chain)
            else:
                request_id = await self._store_new(qualifier, body, "other", chain)
        except BaseException:
            limit.release()
            raise
        # InvocationResult(202, None, None, None, request_id), without the dataclass's
        # __init__ call (as the invoker makes its results).
        result = _new_result(InvocationResult)
        result.status_code = 202
        result.payload = None
        result.function_error = None
        result.executed_version = None
        result.request_id = request_id
        result.cold_start = False
        result.duration_ms = 0.0
        result.init_duration_ms = None
        return result

    def _hand(
        self,
        handed: HandOff[_Fresh | _Event],
        qualifier: str,
        body: bytes,
        trigger: str,
        chain: Mapping[str, int] | None,
    ) -> str:
        """A new event, its place counted, to the hand-off's workers: a :data:`_Fresh` tuple."""
        invoker = self._invoker
        request_id = invoker.request_ids.next()
        trace: dict[str, str] | None = None
        if invoker.telemetry.tracing:
            trace = {}
            propagate.inject(trace)
        ready = handed.ready
        if ready:
            # It waits behind others: keep a right-sized copy (orjson's output holds a 4 KB
            # allocation whatever its length), as the memory store does.
            body = bytes(memoryview(body))
        # handed.put(...), inline
        ready.append(
            (body, request_id, qualifier, invoker.clock.time(), chain or _NO_CHAIN, trigger, trace)
        )
        if not handed.coming and handed.running:
            handed.call_worker()
        return request_id

    async def _store_new(
        self, qualifier: str, body: bytes, trigger: str, chain: Mapping[str, int] | None
    ) -> str:
        """A new event, its place counted, to the store (durable storage, or no hand-off)."""
        invoker = self._invoker
        request_id = invoker.request_ids.next()
        attributes = {
            "request_id": request_id,
            "qualifier": qualifier,
            "enqueued_at": repr(invoker.clock.time()),
        }
        if chain:
            attributes["chain"] = orjson.dumps(chain).decode()
        if trigger != "other":
            attributes["trigger"] = trigger
        if invoker.telemetry.tracing:
            propagate.inject(attributes)
        await self._store.send(self.name, [OutgoingMessage(body, attributes)])
        return request_id

    # -- workers -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._workers is None:
            # The workers' context: the mesh's at start (never a producer's), in which an
            # Event invocation of the function itself does not wait for room in its queue.
            self._context = contextvars.copy_context()
            self._context.run(consuming.set, self.limit)
            memory = self.hand_off and type(self._store) is MemoryQueueStore
            if memory:
                # The store holds only what waits (retries, throttles): one worker hands
                # each back when due; the hand-off's workers run everything.
                # Its workers' context holds the chain of an event no invocation led to: the
                # hot path sets one only for an event that has a chain of its own.
                context = self._context.copy()
                context.run(invocation_chain.set, self._own_chain)
                self._handed = HandOff(
                    self.name, self._take_handed, capacity=self._capacity,
                    clock=self._invoker.clock, logger=logger, context=context,
                )  # fmt: skip
            self._workers = StoreWorkers(
                self.name,
                self._store_of,
                self._invoker.clock,
                self._hand_back if memory else self._take_stored,
                capacity=_one if memory else self._capacity,
                visibility=self._visibility,
                logger=logger,
                noun="an event",
                task_name=f"{self.name}.due" if memory else None,
                context=self._context,
            )
        if self._handed is not None:
            self._handed.start()
        self._workers.start()

    def _capacity(self) -> int:
        reserved = self.function.reserved
        if reserved is not None:
            return max(reserved, 1)  # with 0, one worker still takes events to discard them
        return max(self._invoker.unreserved_capacity, 1)

    def _visibility(self) -> float:
        """Long enough for the version the event runs: a published one keeps its own
        timeout, which may be longer than ``$LATEST``'s."""
        function = self.function
        timeout = function.latest.config.timeout
        for version in function.versions.values():
            timeout = max(timeout, version.config.timeout)
        return timeout + VISIBILITY_MARGIN

    @property
    def busy(self) -> int:
        """Events taken and not finished (either way): stored ones being run, and those the
        hand-off's workers hold that did not come from the store (which counts those)."""
        handed = self._handed
        if handed is None:
            return self._processing
        return self._processing + self._handed_busy(handed)

    def _handed_busy(self, handed: HandOff[_Fresh | _Event]) -> int:
        """Events handed over (not stored) that a hand-off worker holds now."""
        return handed.busy - self._stored_held

    async def pending(self) -> int:
        """Events visible in the store now, plus those handed over or being processed."""
        stats = await self._store.stats(self.name)
        handed = self._handed
        return stats.visible + self.busy + (0 if handed is None else len(handed.ready))

    async def stats(self) -> QueueStats:
        """The counts of this function's Event invocations (for stop's report): the store's,
        plus the events handed over (waiting: visible; running: in flight)."""
        stats = await self._store.stats(self.name)
        handed = self._handed
        if handed is None:
            return stats
        # A stored event handed back waits for a worker as a visible one would: queued.
        waiting = len(handed.ready) - self._interrupted
        taken = self._handed_busy(handed) + self._interrupted - self._stored_waiting
        return QueueStats(stats.visible + waiting, stats.in_flight + taken, stats.delayed)

    async def stop(self) -> None:
        """Stop the workers; one whose handler swallows the cancellation is not waited for.
        Events handed over and not finished stay in line for a restart (or are counted lost
        with the memory store's); stored ones come back after their visibility timeout, or at
        once if they were only waiting for a worker."""
        if self._workers is not None:
            await self._workers.stop()
        handed = self._handed
        if handed is not None:
            await handed.stop()
            if self._stored_waiting:  # the store has them (in flight): put back in line
                kept: list[_Fresh | _Event] = []
                for item in list(handed.ready):
                    if not isinstance(item, _Event) or item.delivery is None:
                        kept.append(item)
                    else:  # due and not taken: visible again at once, as if never received
                        await self._store.change_visibility(self.name, item.delivery.receipt, 0)
                handed.ready.clear()
                handed.ready.extend(kept)
                self._stored_waiting = 0

    # -- taking an event ---------------------------------------------------------------------
    async def _take_stored(self, delivery: Delivery) -> None:
        """A store worker took ``delivery``: run it here."""
        try:
            event = _Event.stored(delivery)
        except (KeyError, ValueError) as exc:  # orjson.JSONDecodeError is a ValueError
            await self._reject(delivery, f"malformed stored event: {exc!r}")
            return
        await self._process(event)

    async def _hand_back(self, delivery: Delivery) -> None:
        """The memory store's worker took a stored event now due: hand it to the hand-off's
        workers ahead of new ones, and take no other until one of them has it."""
        try:
            event = _Event.stored(delivery)
        except (KeyError, ValueError) as exc:
            await self._reject(delivery, f"malformed stored event: {exc!r}")
            return
        handed = self._handed
        assert handed is not None
        taken = event.taken = asyncio.get_running_loop().create_future()
        self._stored_waiting += 1
        handed.put_front(event)
        await taken

    async def _take_handed(self, item: _Fresh | _Event) -> None:
        """A hand-off worker took ``item``: the hot path for a new event (a :data:`_Fresh`
        tuple) that only runs and succeeds; :meth:`_take_event` for any other.

        What :meth:`_run`, :meth:`_ran` and :meth:`_finish` do, for that common case, in this
        frame: an unqualified event (its ARNs resolved before), younger than its maximum age,
        of a function with room to run it now, that succeeds with no ``on_success``
        destination. At the first step off that path the tuple becomes an :class:`_Event`
        and the general code goes on from there (a check that fails has changed nothing, so
        :meth:`_run` makes it again). No counter is kept here: the hand-off's ``busy`` counts
        the events its workers hold (see :attr:`busy`)."""
        if isinstance(item, _Event):
            await self._take_event(item)
            return
        body, request_id, qualifier, enqueued_at, chain, trigger, trace = item
        function = self.function
        # The worker's context holds the chain of an event no invocation led to (start).
        token = invocation_chain.set(extend_chain(chain, function.name)) if chain else None
        event: _Event | None = None  # made as soon as the event leaves the hot path
        try:
            try:
                invoker = self._invoker
                unqualified = self._unqualified
                version = function.latest
                config = version.config  # function.event_config("", version), as it is
                age = invoker.clock.time() - enqueued_at
                reserved = function.reserved
                # invoker.try_acquire, inline (the throttle is the general path's, below)
                if reserved is None:
                    room = invoker.unreserved_in_flight < invoker.unreserved_capacity
                else:
                    room = 0 < reserved > function.in_flight
                if qualifier or unqualified is None or age >= config.max_event_age or not room:
                    event = _Event(*item)
                    await self._run(event)
                    return
                invoker.telemetry.record_event_age(function.name, age * 1000.0)
                if reserved is None:
                    invoker.unreserved_in_flight += 1
                    lease = SHARED
                else:
                    invoker.reserved_in_flight += 1
                    lease = RESERVED
                function.in_flight += 1
                invoked_arn, arn = unqualified
                parent = propagate.extract(trace or {}) if invoker.telemetry.tracing else None
                # By position (a third cheaper than keywords): version, event, ARN, invocation
                # type, request id, client context, trigger, parent context, lease.
                outcome = await invoker.run(
                    version, _loads(body), invoked_arn, "Event", request_id, None, trigger,
                    parent, lease,
                )  # fmt: skip
                if outcome.function_error is None and config.on_success is None:
                    # _finish: nothing was stored, nothing to delete. limit.release(),
                    # inline when no producer waits for room.
                    limit = self.limit
                    if limit._waiters:
                        limit.release()
                    elif limit.pending > 0:
                        limit.pending -= 1
                    return
                event = _Event(*item)
                await self._ran(event, outcome, config, arn)
            except Exception:
                if event is None:
                    event = _Event(*item)
                if event.done:  # finished or stored: nothing to keep
                    logger.exception(
                        "event %s of %s failed after it was finished", request_id, function.name
                    )
                else:
                    await self._keep(event)
        except asyncio.CancelledError:
            if event is None:
                event = _Event(*item)
            self._interrupt(event)
            raise
        finally:
            if token is not None:
                invocation_chain.reset(token)

    async def _take_event(self, event: _Event) -> None:
        """A hand-off worker took an :class:`_Event`: one from the store, due (handed back by
        :meth:`_hand_back`), or a new one put back in line (by a stop, or kept after a
        failure)."""
        if event.taken is not None:  # a stored one, handed back when due
            self._stored_waiting -= 1
            self._stored_held += 1
            try:
                await self._take_due(event, event.taken)
            finally:
                self._stored_held -= 1
            return
        if event.interrupted:
            event.interrupted = False
            self._interrupted -= 1
        chain = event.chain
        token = invocation_chain.set(
            extend_chain(chain, self.function.name) if chain else self._own_chain
        )
        try:
            try:
                await self._run(event)
            except Exception:
                if event.done:  # finished or stored: nothing to keep
                    logger.exception(
                        "event %s of %s failed after it was finished", event.request_id,
                        self.function.name,
                    )  # fmt: skip
                else:
                    await self._keep(event)
        except asyncio.CancelledError:
            self._interrupt(event)
            raise
        finally:
            invocation_chain.reset(token)

    def _interrupt(self, event: _Event) -> None:
        """A stop cancelled the run of a handed-over ``event``: unless it was finished, it is
        counted as taken, as the store counts a message in flight, and put back in line, to
        run if the mesh starts again."""
        if not event.done and self._handed is not None:
            event.interrupted = True
            self._interrupted += 1
            self._handed.requeue(event)

    async def _take_due(self, event: _Event, taken: asyncio.Future[None]) -> None:
        """Run a stored ``event`` a store worker handed back when due."""
        delivery = event.delivery
        assert delivery is not None
        # It may have waited here for a worker as long as a handler's timeout: its
        # visibility counts from now, as if a store worker had just taken it, or the
        # store would hand it back again while it runs.
        try:
            renewed = await self._store.change_visibility(
                self.name, delivery.receipt, self._visibility()
            )
        except Exception:
            renewed = False  # still hidden for the visibility it was taken with
            self._log_kept(event, "when the visibility it was taken with ends")
        finally:  # the store worker waiting for this hand-over takes the next one
            if not taken.done():
                taken.set_result(None)
        if renewed:  # else it is back in the store, which hands it over again
            try:
                await self._process(event)
            except Exception:  # the store keeps it, as a store worker's would be kept
                self._log_kept(event, f"in {self._visibility():g} s (its visibility)")

    async def _keep(self, event: _Event) -> None:
        """Something beside the handler failed while the handed-over ``event`` was processed
        (a bug, or the store failing while it stored a retry): keep it, as a store keeps a
        message whose processing raised. It is stored to come back after the visibility
        timeout, as it would on the store path, its ``max_pending`` place going with it; if
        even that fails, this worker waits for the store outage's pause and puts it back in
        line (a stop during the pause puts it back in line too). The place is released once,
        whenever the event finally finishes."""
        visibility = self._visibility()
        self._log_kept(event, f"in {visibility:g} s (its visibility)")
        message = OutgoingMessage(event.body, event.attributes(), visibility)
        try:
            await self._store.send(self.name, [message])
        except Exception as exc:
            await self._keeping.failed(exc)
            handed = self._handed
            assert handed is not None
            handed.put(event)
            return
        self._keeping.recovered()
        event.done = True  # the store has it now, and counts it in max_pending

    def _log_kept(self, event: _Event, when: str) -> None:
        """The one line, with the traceback being handled, for an event kept after a failure."""
        logger.exception(
            "processing event %s of %s failed outside its handler; it runs again %s",
            event.request_id, self.function.name, when,
        )  # fmt: skip

    @bound_once
    def _keeping(self) -> Outage:
        """Failures to store an event kept after a failure: pauses and log lines per outage."""
        return Outage(f"storing a kept event of {self.name}", logger, self._invoker.clock)

    async def _process(self, event: _Event) -> None:
        """Run a stored event (in a worker, whose context says it is a consumer)."""
        self._processing += 1
        token = invocation_chain.set(extend_chain(event.chain, self.function.name))
        try:
            await self._run(event)
        finally:
            invocation_chain.reset(token)
            self._processing -= 1

    # -- one event ---------------------------------------------------------------------------
    async def _run(self, event: _Event) -> None:
        invoker = self._invoker
        clock = invoker.clock
        function = self.function
        try:
            if event.qualifier or self._unqualified is None:
                version, invoked_arn, arn = self._resolve(event.qualifier)
                if not event.qualifier:
                    self._unqualified = (invoked_arn, arn)
            else:  # functions are never removed: only $LATEST may change
                version = function.latest
                invoked_arn, arn = self._unqualified
        except ResourceNotFoundError as exc:
            logger.error("dropping event %s: %s", event.request_id, exc)
            await self._finish(event)
            invoker.telemetry.count("async_dropped", function.name)
            return
        config = function.event_config(event.qualifier, version)
        age = clock.time() - event.enqueued_at
        invoker.telemetry.record_event_age(function.name, age * 1000.0)
        if age >= config.max_event_age:
            await self._discard(event, config, arn, "EventAgeExceeded")
            return
        if function.reserved == 0:
            await self._discard(event, config, arn, "ZeroReservedConcurrency")
            return
        acquired, lease = invoker.try_acquire(function)
        if not acquired:
            invoker.throttle_error(function, lease)  # counts the throttle
            event.throttles += 1
            delay = min(THROTTLE_BASE_DELAY * 2 ** (event.throttles - 1), THROTTLE_MAX_DELAY)
            if event.last is None:  # a function error seen before says more
                event.last = _throttle_summary(version.version)
            await self._retry_later(event, delay, config.max_event_age, age)
            return
        parent = propagate.extract(event.trace or {}) if invoker.telemetry.tracing else None
        outcome = await invoker.run(
            version, _loads(event.body), invoked_arn, "Event", event.request_id, None,
            event.trigger, parent, lease,
        )  # fmt: skip
        await self._ran(event, outcome, config, arn)

    async def _ran(
        self, event: _Event, outcome: InvocationResult, config: FunctionConfig, arn: str
    ) -> None:
        """After an attempt: finish the event, or retry it, or discard it (Lambda's rules)."""
        event.attempts += 1
        attempts = event.attempts
        if outcome.function_error is None:
            if config.on_success is not None:
                record = self._record(
                    event, arn, "Success", attempts, 200, outcome.executed_version, None,
                    outcome.payload,
                )  # fmt: skip
                await self._send(config.on_success, record, None, "destination_failures")
            await self._finish(event)
            return
        function = self.function
        log_function_error(function.name, outcome.request_id, attempts, outcome.payload, "Event")
        event.last = orjson.dumps(
            {
                "status": 200,
                "version": outcome.executed_version,
                "error": outcome.function_error,
                "payload": outcome.payload,
            }
        ).decode()
        if attempts > config.retries:
            await self._discard(event, config, arn, "RetriesExhausted")
            return
        delay = FUNCTION_ERROR_DELAYS[min(attempts, len(FUNCTION_ERROR_DELAYS)) - 1]
        age = self._invoker.clock.time() - event.enqueued_at
        await self._retry_later(event, delay, config.max_event_age, age)

    async def _finish(self, event: _Event) -> None:
        """The event is done with (whatever the outcome): delete it and free its room."""
        event.done = True
        if event.delivery is None:
            self.limit.release()
        else:
            self.limit.release(await self._store.delete(self.name, [event.delivery.receipt]))

    async def _retry_later(
        self, event: _Event, delay: float, max_event_age: float, age: float
    ) -> None:
        """Store the event again, ``delay`` s from now, but no later than its expiry."""
        delay = max(0.0, min(delay, max_event_age - age))
        message = OutgoingMessage(event.body, event.attributes(), delay)
        await self._store.send(self.name, [message])
        event.done = True  # the store has it now (and counts it in max_pending as before)
        if event.delivery is not None:
            await self._store.delete(self.name, [event.delivery.receipt])

    async def _discard(
        self, event: _Event, config: FunctionConfig, arn: str, condition: str
    ) -> None:
        """The event's processing is over without success: tell on_failure and dead_letter."""
        last = orjson.loads(event.last) if event.last is not None else None
        if last is None:
            record = self._record(event, arn, condition, event.attempts, None, None, None, None)
        else:
            record = self._record(
                event, arn, condition, event.attempts, last["status"], last["version"],
                last["error"], last["payload"],
            )  # fmt: skip
        if config.on_failure is not None:
            await self._send(config.on_failure, record, None, "destination_failures")
        if config.dead_letter is not None:
            # Lambda's ErrorCode is the status of the last attempt; an event that never ran
            # was held back by concurrency, as a throttle is.
            error_code = last["status"] if last else 429
            message = _error_message(last, condition)
            dead = dead_letter_attributes(event.request_id, error_code, message)
            await self._send(
                config.dead_letter, orjson.loads(event.body), dead, "dead_letter_errors"
            )
        self._invoker.telemetry.count("async_dropped", self.function.name)
        self.function.stats.dropped_events += 1
        await self._finish(event)

    async def _reject(self, delivery: Delivery, reason: str) -> None:
        """An event that cannot even be read (a damaged store): to the dead letters with its
        reason, never retried forever, never silently lost."""
        logger.error("event %s of %s rejected: %s", delivery.message_id, self.name, reason)
        config = self.function.latest.config
        if config.dead_letter is not None:
            try:
                message: Any = orjson.loads(delivery.body)
            except ValueError:
                message = delivery.body.decode(errors="replace")
            request_id = delivery.attributes.get("request_id", delivery.message_id)
            attributes = dead_letter_attributes(request_id, 400, reason)
            await self._send(config.dead_letter, message, attributes, "dead_letter_errors")
        self._invoker.telemetry.count("async_dropped", self.function.name)
        self.function.stats.dropped_events += 1
        self.limit.release(await self._store.delete(self.name, [delivery.receipt]))

    def _record(
        self,
        event: _Event,
        arn: str,
        condition: str,
        attempts: int,
        status: int | None,
        version: str | None,
        error: str | None,
        payload: Any,
    ) -> dict[str, Any]:
        return invocation_record(
            timestamp=self._invoker.clock.time(),
            request_id=event.request_id,
            function_arn=arn,
            condition=condition,
            invoke_count=attempts,
            request_payload=orjson.loads(event.body),
            status_code=status,
            executed_version=version,
            function_error=error,
            response_payload=payload,
        )

    async def _send(
        self,
        spec: DestinationSpec,
        message: Any,
        attributes: Mapping[str, Mapping[str, str]] | None,
        failure_metric: str,
    ) -> None:
        try:
            destination = self._destination(spec)
            with delivery_mode(OVERFLOW):
                await contained(destination.send(message, attributes))
        except Exception:
            logger.exception("delivering to %r for function %s failed", spec, self.function.name)
            self._invoker.telemetry.count(failure_metric, self.function.name)
            if failure_metric == "dead_letter_errors":
                self.function.stats.dead_letter_errors += 1
            else:
                self.function.stats.destination_failures += 1


def _one() -> int:
    return 1


def _throttle_summary(version: str) -> str:
    return orjson.dumps(
        {
            "status": 429,
            "version": version,
            "error": None,
            "payload": {
                "errorMessage": "Rate Exceeded.",
                "errorType": "TooManyRequestsException",
            },
        }
    ).decode()


def _error_message(last: Mapping[str, Any] | None, condition: str) -> str:
    if last is None:
        return condition
    payload = last.get("payload")
    if isinstance(payload, Mapping) and "errorMessage" in payload:
        return str(payload["errorMessage"])
    return condition
