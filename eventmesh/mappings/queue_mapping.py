"""The SQS event source mapping: poll a queue, invoke a function with batches, synchronously.

As Lambda does: messages of a successful batch are deleted; a failed batch (an exception, a
timeout, a throttle) is left to come back after the visibility timeout, so the queue's
``max_receive_count`` eventually moves it to the dead letters. With
``report_batch_item_failures`` the function may return ``{"batchItemFailures":
[{"itemIdentifier": messageId}, ...]}`` and only those stay; a malformed answer (an unknown or
empty identifier, a wrong key, something that is not an object) fails the whole batch.
Messages that no filter matches are deleted without invoking.

Pollers are reusable tasks: a few long-poll the queue, and one that takes a batch while no
other is waiting starts another, up to ``max_concurrency`` (and, unlike Lambda, never more
than the function's reserved concurrency, so a mapping does not throttle its own function).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from opentelemetry import propagate

from eventmesh._backpressure import consuming
from eventmesh._errors import (
    BackendError,
    ConfigurationError,
    EventMeshError,
    TooManyRequestsError,
)
from eventmesh._failure_log import log_function_error
from eventmesh._outage import Outage
from eventmesh._tasks import stop_tasks
from eventmesh._validation import check_number
from eventmesh.patterns import Pattern, matches_any
from eventmesh.resources.queue import ReceivedRecords

if TYPE_CHECKING:
    from eventmesh._function import Function, FunctionTarget
    from eventmesh.resources.queue import Queue

__all__ = ["QueueMapping", "failed_item_ids"]

logger = logging.getLogger("eventmesh.mappings")

INITIAL_POLLERS = 5
MAX_POLLERS = 1000
POLL_WAIT = 20.0
IDLE_POLL_WAIT = 3600.0  # the first pollers never retire: sends and visibility wake them
MAX_BATCH_BYTES = 6 * 1024 * 1024
RECORD_OVERHEAD = 1024  # a record's fields beside its body, generously
THROTTLE_BACKOFF = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
YIELD_EVERY = 16


def failed_item_ids(payload: Any, batch_ids: Sequence[str]) -> set[str] | None:
    """The ids a partial batch response reports as failed, or None if it fails the batch.

    Success is ``None``, ``{}``, or a ``batchItemFailures`` that is null or empty.
    """
    if payload is None:
        return set()
    if not isinstance(payload, Mapping):
        return None
    failures = payload.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    known = set(batch_ids)
    failed: set[str] = set()
    for entry in failures:
        if not isinstance(entry, Mapping) or "itemIdentifier" not in entry:
            return None
        identifier = entry["itemIdentifier"]
        if not isinstance(identifier, str) or not identifier or identifier not in known:
            return None
        failed.add(identifier)
    return failed


def compile_filters(filters: Sequence[Mapping[str, Any] | str] | None) -> list[Pattern]:
    """Lambda's FilterCriteria: up to 10 patterns, ORed, each at most 4,096 characters."""
    if not filters:
        return []
    if isinstance(filters, str | bytes | Mapping) or not isinstance(filters, Sequence):
        raise ConfigurationError(
            f"filters: a list of up to 10 patterns, got {type(filters).__name__}"
        )
    if len(filters) > 10:
        raise ConfigurationError("an event source mapping takes at most 10 filters")
    patterns = []
    for pattern in filters:
        compiled = Pattern(pattern)  # first: it refuses what is no pattern, naming the part
        # Measured as JSON text; by the standard encoder, which (as AWS) writes any integer.
        text = pattern if isinstance(pattern, str) else json.dumps(pattern, separators=(",", ":"))
        if len(text) > 4096:
            raise ConfigurationError("a filter pattern is at most 4,096 characters")
        patterns.append(compiled)
    return patterns


def _filter_view(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """The record as filters see it: a JSON object or array body is matched as JSON."""
    body = record["body"]
    if body[:1] in ("{", "["):
        try:
            return {**record, "body": orjson.loads(body)}
        except orjson.JSONDecodeError:
            pass
    return record


class QueueMapping:
    """Polls one queue for one function; created by ``queue.subscribe(...)``."""

    event_source = True
    """It makes events on its own: ``mesh.start(event_sources=False)`` leaves it out."""

    def __init__(
        self,
        queue: Queue,
        function: Function | str,
        *,
        batch_size: int,
        batching_window: float,
        report_batch_item_failures: bool,
        max_concurrency: int | None,
        filters: Sequence[Mapping[str, Any] | str] | None,
        enabled: bool,
    ) -> None:
        self.queue = queue
        self.function = function
        self.batch_size = batch_size
        self.batching_window = float(check_number(batching_window, "batching_window", 0, 300))
        self.report_batch_item_failures = report_batch_item_failures
        self.max_concurrency = max_concurrency
        self.filters = compile_filters(filters)
        self.enabled = enabled
        self._validate()
        self._target: FunctionTarget | None = None
        self._pollers: set[asyncio.Task[None]] = set()
        self._idle = 0
        self._busy = 0
        self._throttles = 0
        self._stopping = False
        self._carried = ReceivedRecords()
        self.batches = 0
        self.filtered_out = 0
        # The pollers' failed polls: one backoff and one log line per outage for all. Made
        # here, not on first use by a cached_property: that would give the mapping a real
        # ``__dict__``, and every attribute read of a poll a slower dict lookup.
        self._outage = Outage(f"polling queue {queue.name}", logger, queue.context.clock)

    def _validate(self) -> None:
        limit = 10 if self.queue.fifo else 10000
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int):
            raise ConfigurationError(f"batch_size must be an integer from 1 to {limit}")
        if not 1 <= self.batch_size <= limit:
            raise ConfigurationError(
                f"batch_size must be from 1 to {limit} for this queue, got {self.batch_size}"
            )
        if not 0 <= self.batching_window <= 300:
            raise ConfigurationError("batching_window must be from 0 to 300 seconds")
        if self.batch_size > 10 and self.batching_window < 1:
            raise ConfigurationError("a batch_size over 10 needs a batching_window of 1 s or more")
        if self.max_concurrency is not None:
            check_number(self.max_concurrency, "max_concurrency", 2, 1000, integer=True)

    # -- lifecycle ---------------------------------------------------------------------------
    def _capacity(self) -> int:
        cap = self.max_concurrency or MAX_POLLERS
        if self._target is not None:
            reserved = self._target.function.latest.config.reserved_concurrency
            if reserved is not None:
                cap = min(cap, max(reserved, 1))
        return cap

    def _visibility(self) -> float:
        """Lambda's effective visibility while a batch is out (window + timeout + 30 s when
        those exceed the queue's own)."""
        assert self._target is not None
        visibility = self.queue.visibility_timeout
        if not self.batching_window:
            return visibility
        timeout = self._target.longest_timeout()
        if self.batching_window + timeout > visibility:
            return self.batching_window + timeout + 30
        return visibility

    async def start(self) -> None:
        self._stopping = False  # a mesh can be started again after a stop
        mesh = self.queue.context
        try:
            self._target = mesh.resolve_function(self.function)
        except EventMeshError as exc:
            raise ConfigurationError(f"mapping of queue {self.queue.name!r}: {exc}") from None
        timeout = self._target.longest_timeout()
        if timeout > self.queue.visibility_timeout:
            raise ConfigurationError(
                f"function {self._target.function.name!r} times out after {timeout:g} s, "
                f"longer than queue {self.queue.name!r}'s visibility timeout "
                f"({self.queue.visibility_timeout:g} s)"
            )
        if self.enabled:
            for _ in range(min(INITIAL_POLLERS, self._capacity())):
                self._spawn()

    async def stop(self) -> None:
        self._stopping = True
        await stop_tasks(self._pollers)

    async def pending(self) -> int:
        if not self.enabled or not self._pollers:
            return self._busy + len(self._carried)
        return self._busy + len(self._carried) + (await self.queue.stats()).visible

    def _spawn(self) -> None:
        task = asyncio.create_task(self._poll(), name=f"sqs-mapping.{self.queue.name}")
        self._pollers.add(task)
        task.add_done_callback(self._pollers.discard)

    # -- polling -----------------------------------------------------------------------------
    async def _poll(self) -> None:
        batches = 0
        while not self._stopping:
            self._idle += 1
            try:
                pollers = len(self._pollers)  # (<= min(INITIAL_POLLERS, capacity), read lazily)
                base = pollers <= INITIAL_POLLERS and pollers <= self._capacity()
                wait = IDLE_POLL_WAIT if base else POLL_WAIT
                if self._carried or self.batching_window:
                    messages = await self._collect(wait)
                else:  # _collect's common case, one coroutine less per batch
                    queue = self.queue
                    messages = await queue.take_records(
                        min(10, self.batch_size), wait, queue.visibility_timeout
                    )  # (_visibility's without a batching window)
                    # _within_payload_limit's first check, inline: no call for a batch that
                    # fits (nearly all of them)
                    if messages.body_bytes + len(messages.records) * RECORD_OVERHEAD > (
                        MAX_BATCH_BYTES
                    ):
                        messages = self._within_payload_limit(messages)
            except Exception as exc:
                self._idle -= 1
                await self._outage.failed(exc)
                continue
            self._idle -= 1
            self._outage.recovered()
            if self._stopping:
                return  # what was just taken comes back after its visibility timeout
            if not messages:
                if len(self._pollers) > min(INITIAL_POLLERS, self._capacity()):
                    # Leave the set now: pollers whose polls end together must not all retire.
                    self._pollers.discard(asyncio.current_task())
                    return
                continue
            if self._idle == 0 and len(self._pollers) < self._capacity():
                self._spawn()
            self._busy += 1
            try:
                await self._handle(messages)
            except BackendError as exc:
                # Its messages come back after their visibility timeout; the next poll paces.
                self._outage.note(exc, f"finishing a batch of queue {self.queue.name}")
            except Exception:
                logger.exception("a batch of queue %s failed in the mapping", self.queue.name)
            finally:
                self._busy -= 1
            batches += 1
            if batches % YIELD_EVERY == 0:
                await asyncio.sleep(0)

    async def _collect(self, wait: float) -> ReceivedRecords:
        """One batch: up to ``batch_size`` messages, waiting ``batching_window`` to fill it."""
        queue = self.queue
        clock = queue.context.clock
        visibility = self._visibility()
        if self._carried:  # cut from an earlier batch: still in flight, received once
            batch, self._carried = self._carried, ReceivedRecords()
            if len(batch) > self.batch_size:
                self._carried = batch.split(self.batch_size)
            return self._within_payload_limit(batch)
        batch = await queue.take_records(min(10, self.batch_size), wait, visibility)
        if not batch or not self.batching_window:
            return self._within_payload_limit(batch)
        window_ends = clock.now() + self.batching_window
        while len(batch) < self.batch_size and batch.body_bytes < MAX_BATCH_BYTES:
            remaining = window_ends - clock.now()
            if remaining <= 0:
                break
            wanted = min(10, self.batch_size - len(batch))
            more = await queue.take_records(wanted, remaining, visibility)
            batch.extend(more)
        return self._within_payload_limit(batch)

    def _within_payload_limit(self, batch: ReceivedRecords) -> ReceivedRecords:
        """Lambda's 6 MB invocation payload: the batch stops before the record that would
        cross it (at least one record goes); the rest, still in flight, opens the next batch
        (returning it to the queue would count a receive it never had)."""
        if batch.body_bytes + len(batch) * RECORD_OVERHEAD <= MAX_BATCH_BYTES:
            return batch  # the common case: the whole batch fits
        size = 0
        for count, record in enumerate(batch.records):
            body: str = record["body"]
            size += (len(body) if body.isascii() else len(body.encode())) + RECORD_OVERHEAD
            if size > MAX_BATCH_BYTES and count > 0:
                rest = batch.split(count)
                rest.extend(self._carried)
                self._carried = rest
                return batch
        return batch

    async def _handle(self, batch: ReceivedRecords) -> None:
        queue = self.queue
        mesh = queue.context
        assert self._target is not None
        if self.filters:
            records = batch.records
            kept = [i for i, r in enumerate(records) if matches_any(self.filters, _filter_view(r))]
            if len(kept) < len(records):
                dropped = batch.keep(kept)
                self.filtered_out += len(dropped)
                if not queue.delete_now(dropped.receipts):
                    await queue.delete_batch(dropped.receipts)
            if not batch:
                return
        records = batch.records
        receipts = batch.receipts
        # Read before the handler runs: it may change the records it is given.
        ids = [r["messageId"] for r in records] if self.report_batch_item_failures else []
        groups = (
            [r["attributes"]["MessageGroupId"] for r in records]
            if self.report_batch_item_failures and self.queue.fifo
            else []
        )
        parent = None
        if mesh.telemetry.tracing and batch.traces[0]:
            parent = propagate.extract(batch.traces[0])
        token = consuming.set(queue.limit)  # its sends to this queue do not wait for itself
        try:
            result = await mesh.invoke_sync(
                self._target, {"Records": records}, trigger="pubsub", parent_context=parent
            )
        except TooManyRequestsError:
            # The batch comes back after its visibility timeout; this poller backs off.
            delay = THROTTLE_BACKOFF[min(self._throttles, len(THROTTLE_BACKOFF) - 1)]
            self._throttles += 1
            await mesh.clock.sleep(delay)
            return
        finally:
            consuming.reset(token)
        self._throttles = 0
        self.batches += 1
        if result.function_error is not None:
            log_function_error(
                self._target.function.name, result.request_id, batch.most_receives,
                result.payload, f"queue {queue.name}",
            )  # fmt: skip
            return  # the whole batch comes back after its visibility timeout
        done = receipts
        if self.report_batch_item_failures:
            failed = failed_item_ids(result.payload, ids)
            if failed is None:
                logger.warning(
                    "invalid partial batch response from %s: the whole batch failed",
                    self._target.function.name,
                )
                return
            done = self._succeeded(receipts, ids, groups, failed)
        if done and not queue.delete_now(done):
            await queue.delete_batch(done)

    def _succeeded(
        self, receipts: list[str], ids: list[str], groups: list[str], failed: set[str]
    ) -> list[str]:
        """Receipts of the messages to delete. In a FIFO queue, a group's messages after a
        failed one stay too, so the group's order survives the retry."""
        if not self.queue.fifo:
            return [r for r, i in zip(receipts, ids, strict=True) if i not in failed]
        blocked: set[str] = set()
        done = []
        for receipt, message_id, group in zip(receipts, ids, groups, strict=True):
            if message_id in failed or group in blocked:
                blocked.add(group)
                continue
            done.append(receipt)
        return done

    def __repr__(self) -> str:
        name = self.function if isinstance(self.function, str) else self.function.name
        return f"<QueueMapping {self.queue.name} -> {name}>"
