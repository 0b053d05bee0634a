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

Pending work (the function's ``max_pending``) is every Event invocation queued, running or
waiting to retry: ``put`` counts one (waiting for room at the limit), and the final delete
(success, discard, rejection) frees it; a retry replaces its original and counts nothing.
Destination and dead-letter records go out over their target's limit: they report work
already done, and refusing them would lose it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

import orjson
from opentelemetry import propagate

from eventmesh._backpressure import OVERFLOW, PendingLimit, consuming, delivery_mode
from eventmesh._callbacks import contained
from eventmesh._destinations import (
    Destination,
    DestinationSpec,
    dead_letter_attributes,
    invocation_record,
)
from eventmesh._errors import BackendError, ResourceNotFoundError
from eventmesh._failure_log import log_function_error
from eventmesh._invoker import Invoker, extend_chain, invocation_chain
from eventmesh._outage import Outage
from eventmesh._tasks import stop_tasks
from eventmesh.backends.protocols import Delivery, OutgoingMessage, QueueStats, QueueStore

if TYPE_CHECKING:
    from eventmesh._function import Function, FunctionVersion

__all__ = ["AsyncInvocationQueue"]

logger = logging.getLogger("eventmesh.async")

FUNCTION_ERROR_DELAYS = (60.0, 120.0)
"""Seconds before the second and the third attempt after a function error."""
THROTTLE_BASE_DELAY = 1.0
THROTTLE_MAX_DELAY = 300.0
POLL_WAIT = 20.0
IDLE_POLL_WAIT = 3600.0
"""The last worker never retires, so it need not wake to decide: sends wake it. Waking every
20 s would make an idle mesh cost real time on a virtual clock advanced by days."""
YIELD_EVERY = 16
VISIBILITY_MARGIN = 170.0
"""Beyond the function's timeout, how long a taken event stays hidden from other pollers:
room for a provisioned environment's init (up to 130 s) and the destinations."""

Resolver = Callable[[str], tuple["FunctionVersion", str, str]]
"""A stored qualifier to (version to run, ARN as invoked, qualified ARN for records)."""
DestinationResolver = Callable[[DestinationSpec], Destination]


class AsyncInvocationQueue:
    """One function's queue of Event invocations, and the workers that run them."""

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
        self._workers: set[asyncio.Task[None]] = set()
        self._idle = 0  # workers waiting in a long poll
        self.busy = 0  # events taken and not finished
        self._stopping = False

    @cached_property
    def _store(self) -> QueueStore:
        """The mesh's queue store, bound on first use (storage is bound when the mesh
        starts, so a command line can choose it)."""
        return self._store_of()

    @cached_property
    def _outage(self) -> Outage:
        """The workers' failed polls: one backoff and one log line per outage for all."""
        return Outage(f"polling {self.name}", logger, self._invoker.clock)

    # -- producing ---------------------------------------------------------------------------
    async def put(
        self, qualifier: str, body: bytes, trigger: str = "other", *, timeout: float | None = None
    ) -> str:
        """Queue an event; returns its request id. Raises if a destination loop is detected,
        or :class:`~eventmesh.BackpressureError` when no room came within ``timeout``."""
        invoker = self._invoker
        chain = invocation_chain.get()
        if chain is not None:
            invoker.check_recursion(self.function, chain)
        await self.limit.acquire(timeout)
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
        try:
            await self._store.send(self.name, [OutgoingMessage(body, attributes)])
        except BaseException:
            self.limit.release()
            raise
        return request_id

    # -- polling -----------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping = False  # a mesh can be started again after a stop
        if not self._workers:
            self._spawn_worker()

    def _capacity(self) -> int:
        reserved = self.function.latest.config.reserved_concurrency
        if reserved is not None:
            return max(reserved, 1)  # with 0, one worker still takes events to discard them
        return max(self._invoker.unreserved_capacity, 1)

    def _spawn_worker(self) -> None:
        task = asyncio.create_task(self._work(), name=f"{self.name}.worker")
        self._workers.add(task)
        task.add_done_callback(self._workers.discard)

    async def _work(self) -> None:
        """One poller-worker: take an event, run it, repeat.

        Workers poll the store themselves, so an event reaches a handler without a hand-off
        between tasks. A worker that takes an event while no other worker is waiting starts
        another (up to the function's concurrency), and a worker whose long poll comes back
        empty retires, unless it is the last.
        """
        store = self._store
        name = self.name
        taken = 0
        while not self._stopping:
            visibility = self.function.latest.config.timeout + VISIBILITY_MARGIN
            self._idle += 1
            try:
                wait = POLL_WAIT if len(self._workers) > 1 else IDLE_POLL_WAIT
                deliveries = await store.receive(name, 1, visibility, wait=wait)
            except Exception as exc:
                self._idle -= 1
                await self._outage.failed(exc)
                continue
            self._idle -= 1
            self._outage.recovered()
            if self._stopping:
                return  # what was just taken comes back after its visibility timeout
            if not deliveries:
                if len(self._workers) > 1:
                    # Leave the set now, not in a done-callback a loop turn later: workers
                    # whose polls end together would all see the old count and all retire.
                    self._workers.discard(asyncio.current_task())
                    return
                continue
            if self._idle == 0 and len(self._workers) < self._capacity():
                self._spawn_worker()
            self.busy += 1
            try:
                await self._process(deliveries[0])
            except BackendError as exc:
                # The event stays in the store and comes back after its visibility timeout.
                self._outage.note(exc, f"finishing an event of {name}")
            except Exception:
                # The event stays in the store and comes back after its visibility timeout.
                logger.exception("processing an event of %s failed", name)
            finally:
                self.busy -= 1
            taken += 1
            if taken % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # a backlog of handlers that never wait must not starve

    async def pending(self) -> int:
        """Events visible in the store now, plus those being processed."""
        stats = await self._store.stats(self.name)
        return stats.visible + self.busy

    async def stats(self) -> QueueStats:
        """The store's counts of this function's Event invocations (for stop's report)."""
        return await self._store.stats(self.name)

    async def stop(self) -> None:
        """Stop the workers; one whose handler swallows the cancellation is not waited for."""
        self._stopping = True
        await stop_tasks(self._workers)

    # -- one event ---------------------------------------------------------------------------
    async def _process(self, delivery: Delivery) -> None:
        attributes = delivery.attributes
        try:
            chain: Mapping[str, int] = (
                orjson.loads(attributes["chain"]) if "chain" in attributes else {}
            )
            for required in ("request_id", "qualifier", "enqueued_at"):
                attributes[required]
            float(attributes["enqueued_at"])
            event = orjson.loads(delivery.body)
        except (KeyError, ValueError) as exc:  # orjson.JSONDecodeError is a ValueError
            await self._reject(delivery, f"malformed stored event: {exc!r}")
            return
        token = invocation_chain.set(extend_chain(chain, self.function.name))
        held = consuming.set(self.limit)  # an Event invocation of itself does not wait for it
        try:
            await self._run(delivery, attributes, event)
        finally:
            consuming.reset(held)
            invocation_chain.reset(token)

    async def _run(self, delivery: Delivery, attributes: Mapping[str, str], event: Any) -> None:
        invoker = self._invoker
        clock = invoker.clock
        function = self.function
        try:
            version, invoked_arn, arn = self._resolve(attributes["qualifier"])
        except ResourceNotFoundError as exc:
            logger.error("dropping event %s: %s", attributes["request_id"], exc)
            await self._finish(delivery)
            invoker.telemetry.count("async_dropped", function.name)
            return
        config = version.config
        age = clock.time() - float(attributes["enqueued_at"])
        invoker.telemetry.record_event_age(function.name, age * 1000.0)
        if age >= config.max_event_age:
            await self._discard(delivery, version, arn, "EventAgeExceeded")
            return
        if function.latest.config.reserved_concurrency == 0:
            await self._discard(delivery, version, arn, "ZeroReservedConcurrency")
            return
        acquired, lease = invoker.try_acquire(function)
        if not acquired:
            invoker.throttle_error(function, lease)  # counts the throttle
            throttles = int(attributes.get("throttles", "0")) + 1
            delay = min(THROTTLE_BASE_DELAY * 2 ** (throttles - 1), THROTTLE_MAX_DELAY)
            changes = {"throttles": str(throttles)}
            if "last" not in attributes:  # a function error seen before says more
                changes["last"] = _throttle_summary(version.version)
            await self._retry_later(delivery, changes, delay, config.max_event_age, age)
            return
        parent = propagate.extract(attributes) if invoker.telemetry.tracing else None
        outcome = await invoker.run(
            version,
            event,
            invoked_arn,
            "Event",
            request_id=attributes["request_id"],
            trigger=attributes.get("trigger", "other"),
            parent_context=parent,
            lease=lease,
        )
        attempts = int(attributes.get("attempts", "0")) + 1
        if outcome.function_error is None:
            if config.on_success is not None:
                record = self._record(
                    delivery, attributes, arn, "Success", attempts, 200,
                    outcome.executed_version, None, outcome.payload,
                )  # fmt: skip
                await self._send(config.on_success, record, None, "destination_failures")
            await self._finish(delivery)
            return
        log_function_error(function.name, outcome.request_id, attempts, outcome.payload, "Event")
        last = orjson.dumps(
            {
                "status": 200,
                "version": outcome.executed_version,
                "error": outcome.function_error,
                "payload": outcome.payload,
            }
        ).decode()
        if attempts > config.retries:
            changes = {"attempts": str(attempts), "last": last}
            await self._discard(delivery, version, arn, "RetriesExhausted", changes)
            return
        delay = FUNCTION_ERROR_DELAYS[min(attempts, len(FUNCTION_ERROR_DELAYS)) - 1]
        age = clock.time() - float(attributes["enqueued_at"])
        changes = {"attempts": str(attempts), "last": last}
        await self._retry_later(delivery, changes, delay, config.max_event_age, age)

    async def _finish(self, delivery: Delivery) -> None:
        """The event is done with (whatever the outcome): delete it and free its room."""
        self.limit.release(await self._store.delete(self.name, [delivery.receipt]))

    async def _retry_later(
        self,
        delivery: Delivery,
        changes: Mapping[str, str],
        delay: float,
        max_event_age: float,
        age: float,
    ) -> None:
        """Store the event again, ``delay`` s from now, but no later than its expiry."""
        delay = max(0.0, min(delay, max_event_age - age))
        attributes = {**delivery.attributes, **changes}
        await self._store.send(self.name, [OutgoingMessage(delivery.body, attributes, delay)])
        await self._store.delete(self.name, [delivery.receipt])

    async def _discard(
        self,
        delivery: Delivery,
        version: FunctionVersion,
        arn: str,
        condition: str,
        changes: Mapping[str, str] | None = None,
    ) -> None:
        """The event's processing is over without success: tell on_failure and dead_letter."""
        attributes = {**delivery.attributes, **(changes or {})}
        last = orjson.loads(attributes["last"]) if "last" in attributes else None
        attempts = int(attributes.get("attempts", "0"))
        config = version.config
        if last is None:
            record = self._record(
                delivery, attributes, arn, condition, attempts, None, None, None, None
            )
        else:
            record = self._record(
                delivery,
                attributes,
                arn,
                condition,
                attempts,
                last["status"],
                last["version"],
                last["error"],
                last["payload"],
            )
        if config.on_failure is not None:
            await self._send(config.on_failure, record, None, "destination_failures")
        if config.dead_letter is not None:
            # Lambda's ErrorCode is the status of the last attempt; an event that never ran
            # was held back by concurrency, as a throttle is.
            error_code = last["status"] if last else 429
            message = _error_message(last, condition)
            dead = dead_letter_attributes(attributes["request_id"], error_code, message)
            await self._send(
                config.dead_letter, orjson.loads(delivery.body), dead, "dead_letter_errors"
            )
        self._invoker.telemetry.count("async_dropped", self.function.name)
        self.function.stats.dropped_events += 1
        await self._finish(delivery)

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
        await self._finish(delivery)

    def _record(
        self,
        delivery: Delivery,
        attributes: Mapping[str, str],
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
            request_id=attributes["request_id"],
            function_arn=arn,
            condition=condition,
            invoke_count=attempts,
            request_payload=orjson.loads(delivery.body),
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
