"""The Kinesis event source mapping: read each shard in order, invoke a function with batches,
synchronously, and hold the shard's place until a batch is done (reference §3.3).

As Lambda does:

* a batch holds records of one shard, in order. With ``parallelization_factor`` > 1 the
  records of a shard are spread over that many lanes by partition key: lanes run
  concurrently, and each key keeps its order because it always goes to the same lane;
* a batch that fails is retried whole and blocks its lane (its shard, with a factor of 1)
  until it succeeds, its records are older than ``max_record_age`` (or the stream's
  retention), or ``max_retries`` retries have failed; then an on-failure record (metadata
  only: the shard and the batch's sequence range) goes to ``on_failure`` and the batch is
  skipped. Only function errors count as retries, never throttles;
* ``bisect_on_error`` splits a failed batch in two and retries each half, first half first;
  a split is not a retry;
* with ``report_batch_item_failures`` the function returns ``{"batchItemFailures":
  [{"itemIdentifier": sequenceNumber}]}``: the records before the lowest one reported are
  done, and the retry starts at it (a bisected batch is thus split at that record). A
  malformed answer fails the whole batch;
* records that no filter matches are skipped: the iterator simply advances. Filters see the
  ``kinesis`` fields beside the others, ``data`` decoded when it is JSON (otherwise it stays
  base64 text, which no object pattern matches, so the record is dropped).

Checkpoints: for each shard, the position of each lane (every record of the lane up to it is
done) is kept in the mesh's key-value store, so a durable backend resumes where it stopped.
A checkpoint never passes a record that is not done; delivery is at least once.

Choices where AWS says nothing precise: a failed batch is retried after 1, 2, 4, 8, 16, then
every 30 seconds; records discarded for their age are reported with the condition
``RecordAgeExceeded`` (named after ``MaximumRecordAgeInSeconds``, as the async queue's
``EventAgeExceeded`` is after ``MaximumEventAgeInSeconds``); a shard is read by one long-poll
reader rather than once a second. On a log kept in this process's memory, a reader woken by
an append lets the event loop's turn finish and reads again before handing the records over,
and goes on so while each turn appends more, up to a batch per lane: records put in one
burst (a producer looping, with a yield now and then) go in full batches rather than in one
batch per wake-up, as a poll of Lambda's finds what was put since the last one. A lone
record waits one turn of the loop, a burst's first record the burst (at most a batch of
puts), never a batching window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import uuid
import zlib
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from opentelemetry import propagate

from eventmesh._bound_once import bound_once
from eventmesh._callbacks import contained
from eventmesh._destinations import iso_timestamp
from eventmesh._errors import (
    BackendError,
    ConfigurationError,
    EventMeshError,
    TooManyRequestsError,
)
from eventmesh._failure_log import log_function_error
from eventmesh._outage import Outage
from eventmesh._tasks import stop_tasks
from eventmesh.mappings.queue_mapping import THROTTLE_BACKOFF, compile_filters, failed_item_ids
from eventmesh.mappings.shard_leases import DEFAULT_LEASE_DURATION, Lease, ShardLeases
from eventmesh.patterns import Pattern, matches_any

if TYPE_CHECKING:
    from eventmesh._destinations import Destination, DestinationSpec
    from eventmesh._function import Function, FunctionTarget
    from eventmesh._invoker import InvocationResult
    from eventmesh.backends.protocols import LogRecord
    from eventmesh.resources.stream import KinesisRecords, Stream

__all__ = ["StreamMapping"]

_FLOAT_MAX = sys.float_info.max
logger = logging.getLogger("eventmesh.mappings")

STARTING_POSITIONS = ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP")
RETRY_BACKOFF = THROTTLE_BACKOFF  # the same gentle ramp, for function errors
POLL_WAIT = 3600.0  # a shard's reader never retires: appends wake it
READ_LIMIT = 10_000
MAX_BATCH_BYTES = 6 * 1024 * 1024
RECORD_OVERHEAD = 600
"""Bytes of JSON around a record's base64 data in the event (an upper estimate)."""
RETRIES_EXHAUSTED = "RetryAttemptsExhausted"
RECORD_AGE_EXCEEDED = "RecordAgeExceeded"


def _check_int(name: str, value: Any, low: int, high: int, *, infinite: bool = False) -> int:
    """An integer in ``low..high`` (or -1, "infinite", when allowed)."""
    valid = not isinstance(value, bool) and isinstance(value, int)
    if valid and not (low <= value <= high or (infinite and value == -1)):
        valid = False
    if not valid:
        also = "-1 or " if infinite else ""
        raise ConfigurationError(f"{name} must be {also}an integer from {low} to {high}")
    return int(value)


def _check_data_patterns(patterns: Sequence[Pattern]) -> None:
    """Kinesis data is filtered as JSON only: a pattern on ``data`` must be an object."""
    for pattern in patterns:
        if "data" in pattern.source and not isinstance(pattern.source["data"], Mapping):
            raise ConfigurationError(
                "a Kinesis filter on 'data' must be a JSON object pattern, e.g. "
                '{"data": {"kind": ["order"]}}'
            )


def _estimated_size(record: LogRecord) -> int:
    return (len(record.data) + 2) // 3 * 4 + len(record.partition_key) + RECORD_OVERHEAD


_KEY_MOST = 256  # characters of a partition key


class _Lane:
    """A queue of one shard's records for one concurrent batch at a time, in order.

    The records wait in a list from ``head`` on: a batch is a slice of it, and the records
    done are dropped by moving ``head`` (the list is emptied when all are done), so no record
    is moved one at a time.
    """

    __slots__ = ("backing_off", "floor", "head", "records", "sleeper", "throttles")

    def __init__(self, floor: int) -> None:
        self.records: list[LogRecord] = []
        self.head = 0
        self.floor = floor
        """Every record of this lane up to here was done before this run started."""
        self.backing_off = False
        self.throttles = 0
        self.sleeper: asyncio.Future[None] | None = None

    def waiting(self) -> int:
        """Records waiting in the lane, the batch being delivered included."""
        return len(self.records) - self.head

    def push(self, records: list[LogRecord]) -> None:
        self.records += records
        self.wake()

    async def sleep(self) -> None:
        """Wait for :meth:`wake` (records pushed, a timer, the shard closing). The lane's
        task looks at what it waits for just before, with nothing in between that could
        wake it, so a bare future does (no :class:`asyncio.Event` to clear and set)."""
        self.sleeper = asyncio.get_running_loop().create_future()
        try:
            await self.sleeper
        finally:
            self.sleeper = None

    def wake(self) -> None:
        sleeper = self.sleeper
        if sleeper is not None and not sleeper.done():
            sleeper.set_result(None)

    def take(self, count: int) -> list[LogRecord]:
        """The lane's oldest ``count`` records (fewer when fewer wait)."""
        head = self.head
        return self.records[head : head + count]

    def drop(self, count: int) -> None:
        """The oldest ``count`` records are done."""
        self.head += count
        if self.head >= len(self.records):
            self.records.clear()
            self.head = 0
        elif self.head > 4096 and self.head * 2 > len(self.records):
            del self.records[: self.head]  # now and then, so the list does not keep growing
            self.head = 0


class _ShardState:
    """One shard this process holds the lease of: the reader's position and the lanes."""

    __slots__ = (
        "candidate",
        "closing",
        "delivering",
        "lane_tasks",
        "lanes",
        "lease",
        "read_position",
        "reader",
        "reading",
        "room",
        "saved",
        "shape",
        "shard_id",
    )

    def __init__(
        self, shard_id: str, lease: Lease, floors: list[int], shape: KinesisRecords
    ) -> None:
        self.shard_id = shard_id
        self.lease = lease
        self.shape = shape
        self.lanes = [_Lane(floor) for floor in floors]
        self.read_position = min(floors)
        self.room = asyncio.Event()
        self.saved: list[int] | None = None
        self.closing = False
        """Set when the shard stops here (lease lost or handed over): no batch starts."""
        self.reader: asyncio.Task[None] | None = None
        """The reader's task; with paired tasks, the one in the reading role now."""
        self.lane_tasks: list[asyncio.Task[None]] = []
        self.reading = False  # paired tasks (see StreamMapping._run_paired): the roles taken
        self.delivering = False
        self.candidate: asyncio.Future[None] | None = None
        """Paired tasks: what the task standing by waits on (an append resolves it while
        the other delivers)."""

    def buffered(self) -> int:
        lanes = self.lanes
        if len(lanes) == 1:
            return lanes[0].waiting()
        return sum([lane.waiting() for lane in lanes])

    def checkpoint(self) -> list[int]:
        """Each lane's position: before its oldest record not done, else as far as read."""
        return [
            lane.records[lane.head].sequence - 1
            if lane.records
            else max(lane.floor, self.read_position)
            for lane in self.lanes
        ]


class _Work:
    """A part of a batch still to deliver, with its invocations and retries so far."""

    __slots__ = ("invocations", "last", "records", "retries")

    def __init__(self, records: list[LogRecord], retries: int = 0) -> None:
        self.records = records
        self.retries = retries
        self.invocations = 0
        self.last: InvocationResult | None = None


class StreamMapping:
    """Reads one stream for one function; created by ``stream.subscribe(...)``.

    ``iterator_age_ms`` holds, per shard, Lambda's ``IteratorAge``: how old the last record
    of the latest batch was when its processing finished.
    """

    event_source = True
    """It makes events on its own: ``mesh.start(event_sources=False)`` leaves it out."""

    def __init__(
        self,
        stream: Stream,
        function: Function | str,
        *,
        batch_size: int,
        batching_window: float,
        starting_position: str,
        starting_position_timestamp: float | datetime | None,
        parallelization_factor: int,
        bisect_on_error: bool,
        max_retries: int,
        max_record_age: int,
        report_batch_item_failures: bool,
        on_failure: DestinationSpec | None,
        filters: Sequence[Mapping[str, Any] | str] | None,
        enabled: bool,
        lease_duration: float | None = None,
    ) -> None:
        self.stream = stream
        self.function = function
        self.batch_size = _check_int("batch_size", batch_size, 1, 10_000)
        if isinstance(batching_window, bool) or not isinstance(batching_window, int | float):
            raise ConfigurationError("batching_window must be a number from 0 to 300 seconds")
        if not 0 <= batching_window <= 300:
            raise ConfigurationError("batching_window must be from 0 to 300 seconds")
        self.batching_window = float(batching_window)
        self.starting_position = starting_position
        self.starting_position_timestamp = self._check_start(
            starting_position, starting_position_timestamp
        )
        self.parallelization_factor = _check_int(
            "parallelization_factor", parallelization_factor, 1, 10
        )
        self.bisect_on_error = bool(bisect_on_error)
        self.max_retries = _check_int("max_retries", max_retries, 0, 10_000, infinite=True)
        self.max_record_age = _check_int(
            "max_record_age", max_record_age, 60, 604_800, infinite=True
        )
        self.report_batch_item_failures = bool(report_batch_item_failures)
        self.on_failure = on_failure
        self.filters = compile_filters(filters)
        _check_data_patterns(self.filters)
        self.enabled = enabled
        if lease_duration is None:
            lease_duration = DEFAULT_LEASE_DURATION
        if (
            isinstance(lease_duration, bool)
            or not isinstance(lease_duration, int | float)
            or not 1 <= lease_duration <= 3600
        ):
            raise ConfigurationError("lease_duration must be a number from 1 to 3600 seconds")
        self.lease_duration = float(lease_duration)
        self.uuid = self._identity()
        self.iterator_age_ms: dict[str, float] = {}
        self.invocations = 0
        self.filtered_out = 0
        self.discarded = 0
        self._target: FunctionTarget | None = None
        self._destination: Destination | None = None
        self._identity_arn = ""
        self._shards: dict[str, _ShardState] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._leases: ShardLeases | None = None
        self._handing_over: set[_ShardState] = set()
        self._lease_failures = 0
        self._stopping = False
        self._capacity = max(2 * self.batch_size, 100) * self.parallelization_factor
        self._linger = False  # see the module docstring: set at start, for an in-memory log
        self._paired = False  # see _run_paired: set at start

    @staticmethod
    def _check_start(position: str, timestamp: float | datetime | None) -> float | None:
        if position not in STARTING_POSITIONS:
            raise ConfigurationError(
                f"starting_position must be one of {', '.join(STARTING_POSITIONS)}, "
                f"got {position!r}"
            )
        if (position == "AT_TIMESTAMP") != (timestamp is not None):
            raise ConfigurationError(
                "starting_position_timestamp goes with starting_position='AT_TIMESTAMP', "
                "and only with it"
            )
        if isinstance(timestamp, datetime):
            return timestamp.timestamp()
        if timestamp is not None and (
            isinstance(timestamp, bool)
            or not isinstance(timestamp, int | float)
            or not -_FLOAT_MAX <= timestamp <= _FLOAT_MAX  # finite, and an int a float holds
        ):
            raise ConfigurationError(
                f"starting_position_timestamp is epoch seconds or a datetime, got {timestamp!r}"
            )
        return None if timestamp is None else float(timestamp)

    def _identity(self) -> str:
        """A UUID stable across runs, so a durable backend finds this mapping's checkpoints:
        from the stream, the function and how many mappings of it the stream had before."""
        name = self._function_name
        ordinal = sum(1 for mapping in self.stream.mappings if mapping._function_name == name)
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.stream.arn}#{name}#{ordinal}"))

    @property
    def _function_name(self) -> str:
        return self.function if isinstance(self.function, str) else self.function.name

    def checkpoint_key(self, shard_id: str) -> str:
        """The key-value store key of the shard's checkpoint."""
        return f"eventmesh/stream-checkpoint/{self.stream.name}/{self.uuid}/{shard_id}"

    async def checkpoint(self, shard_id: str) -> str | None:
        """The sequence number of the shard's last record known done (every record up to it
        is), or None when none is."""
        stored = await self.stream.context.backend.values.get(self.checkpoint_key(shard_id))
        lanes = None if stored is None else orjson.loads(stored.value).get("lanes")
        if not lanes:
            return None
        position = min(lanes)
        return self.stream.sequence_number_at(shard_id, position) if position > 0 else None

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        mesh = self.stream.context
        try:
            self._target = mesh.resolve_function(self.function)
            if self.on_failure is not None:
                self._destination = mesh.destination(self.on_failure)
        except EventMeshError as exc:
            raise ConfigurationError(f"mapping of stream {self.stream.name!r}: {exc}") from None
        function_name = self._target.function.name
        self._identity_arn = f"arn:aws:iam::{mesh.account_id}:role/{function_name}-role"
        if not self.enabled:
            return
        self._stopping = False
        self._linger = mesh.backend.in_memory
        self._paired = (
            self._linger
            and self.stream.can_listen
            and self.parallelization_factor == 1
            and not self.batching_window
        )
        self._leases = ShardLeases(
            mesh.backend.values, mesh.clock, self.checkpoint_key, duration=self.lease_duration
        )
        await self._lease_round_logged()
        self._spawn(self._keep_leases(), "kinesis-leases")

    async def stop(self) -> None:
        self._stopping = True
        await stop_tasks(self._tasks)
        for state in [*self._shards.values(), *self._handing_over]:
            await self._release(state)  # a lease already released or lost is left alone
        if self._leases is not None:
            for lease in list(self._leases.held.values()):  # taken, but not read yet
                await self._release_lease(lease, lease.lanes)
        self._shards.clear()
        self._handing_over.clear()
        for shard_id in self.stream.shard_ids:
            self.stream.note_read(shard_id)  # the slowest reader may have been this one

    # -- leases ------------------------------------------------------------------------------
    @property
    def owner(self) -> str | None:
        """This process's name in the shard leases, while the mapping runs."""
        return None if self._leases is None else self._leases.owner

    def held_shards(self) -> list[str]:
        """The shards this process reads now (with one process: all of them)."""
        return sorted(self._shards)

    async def _keep_leases(self) -> None:
        """Renew the leases held, hand over the ones asked for, take a fair share; once a
        third of the lease duration."""
        assert self._leases is not None
        clock = self.stream.context.clock
        while not self._stopping:
            await clock.sleep(self._leases.renew_interval)
            await self._lease_round_logged()

    async def _lease_round_logged(self) -> None:
        """A lease round; a failing store is logged once until it recovers (the shards then
        start no batch once their leases run out, and the next round tries again)."""
        try:
            await self._lease_round()
        except Exception as exc:
            if not self._lease_failures:
                logger.warning(
                    "stream %s: the shard leases could not be renewed (%s); retrying",
                    self.stream.name,
                    exc,
                )
            self._lease_failures += 1
            return
        if self._lease_failures:
            logger.warning("stream %s: the shard leases are renewed again", self.stream.name)
            self._lease_failures = 0

    async def _lease_round(self) -> None:
        """One round of the lease table, then make the shards read here follow the leases
        held, whatever part of the round a store error cut short."""
        leases = self._leases
        assert leases is not None
        result = await leases.round(self.stream.shard_ids)
        for lease in result.lost:
            state = self._shards.get(lease.shard_id)
            if state is not None and state.lease is lease:
                logger.warning(
                    "stream %s: the lease of %s was taken over; stopped reading it",
                    self.stream.name,
                    lease.shard_id,
                )
        for shard_id, state in list(self._shards.items()):
            if state.lease.lost or leases.held.get(shard_id) is not state.lease:
                self._close(state)
        handing_over = {state.shard_id for state in self._handing_over}
        for lease in list(leases.held.values()):
            state = self._shards.get(lease.shard_id)
            if lease.releasing:
                if state is not None and not state.closing:
                    self._handing_over.add(state)
                    self._spawn(self._hand_over(state), f"kinesis-handover.{lease.shard_id}")
                elif state is None and lease.shard_id not in handing_over:
                    await self._release_lease(lease, lease.lanes)  # nothing read here yet
            elif state is None and not self._stopping:
                try:
                    await self._begin(lease)
                except Exception as exc:  # the lease stays held: the next round tries again
                    logger.warning(
                        "stream %s: could not start reading %s (%s); trying again",
                        self.stream.name,
                        lease.shard_id,
                        exc,
                    )
        if result.error is not None:
            raise result.error

    async def _begin(self, lease: Lease) -> None:
        """Start reading a shard whose lease was just taken, after its checkpoint."""
        state = await self._open(lease)
        if state.closing or lease.lost:
            return  # lost while its checkpoint was being written
        self._shards[lease.shard_id] = state
        self.stream.note_read(lease.shard_id)
        name = lease.shard_id
        if self._paired:
            state.lane_tasks = [
                self._spawn(self._run_paired(state), f"kinesis-shard.{name}") for _ in range(2)
            ]
            return
        state.reader = self._spawn(self._read(state), f"kinesis-reader.{name}")
        state.lane_tasks = [
            self._spawn(self._run_lane(state, lane), f"kinesis-lane.{name}") for lane in state.lanes
        ]

    def _close(self, state: _ShardState) -> None:
        """Stop the shard here: no batch starts; the one running ends on its own."""
        state.closing = True
        if state.reader is not None:
            state.reader.cancel()  # (paired tasks: the one reading, which delivers nothing)
        candidate = state.candidate
        if candidate is not None and not candidate.done():
            candidate.set_result(None)
        for lane in state.lanes:
            lane.wake()
        if self._shards.get(state.shard_id) is state:
            del self._shards[state.shard_id]
        self.stream.note_read(state.shard_id)

    async def _hand_over(self, state: _ShardState) -> None:
        """Another process asked for the shard: finish the running batch, write the
        checkpoint, and release the lease to it, so the shard keeps its order. (The round
        that spawned it put ``state`` in ``_handing_over`` already.)"""
        self._close(state)
        if state.lane_tasks:
            await asyncio.wait(state.lane_tasks)
        await self._release(state)
        self._handing_over.discard(state)

    async def _release(self, state: _ShardState) -> None:
        await self._release_lease(state.lease, state.checkpoint())

    async def _release_lease(self, lease: Lease, lanes: list[int] | None) -> None:
        if self._leases is None:
            return
        try:
            await self._leases.release(lease, lanes)
        except Exception as exc:
            lease.lost = True
            self._leases.held.pop(lease.shard_id, None)
            logger.warning(
                "stream %s: the lease of %s could not be released (%s); it will expire",
                self.stream.name,
                lease.shard_id,
                exc,
            )

    @bound_once
    def _outage(self) -> Outage:
        """The shard readers' failed reads: one backoff and one log line per outage for all."""
        return Outage(f"reading stream {self.stream.name}", logger, self.stream.context.clock)

    def read_position(self, shard_id: str) -> int | None:
        """How far this mapping has read the shard (None when it is not reading it)."""
        state = self._shards.get(shard_id)
        return None if state is None else state.read_position

    async def pending(self) -> int:
        """Records due to be delivered: those waiting in lanes that are not backing off, and
        those not read yet while the reader has room for them."""
        total = 0
        for state in self._shards.values():
            total += sum(lane.waiting() for lane in state.lanes if not lane.backing_off)
            if state.buffered() < self._capacity:
                newest = await self.stream.newest_position(state.shard_id)
                total += max(0, newest - state.read_position)
        return total

    def _spawn(self, coroutine: Any, name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine, name=f"{name}.{self.stream.name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _open(self, lease: Lease) -> _ShardState:
        """The shard's state from the checkpoint in its lease, or from the starting position."""
        factor = self.parallelization_factor
        lanes = lease.lanes
        if lanes:
            floors = lanes if len(lanes) == factor else [min(lanes)] * factor
        else:
            floors = [await self._starting_position(lease.shard_id)] * factor
        shape = self.stream.kinesis_records(lease.shard_id, self._identity_arn)
        state = _ShardState(lease.shard_id, lease, floors, shape)
        await self._save(state)
        return state

    async def _starting_position(self, shard_id: str) -> int:
        stream = self.stream
        oldest, newest = await stream.positions(shard_id)
        if self.starting_position == "TRIM_HORIZON":
            return oldest
        if self.starting_position == "LATEST":
            return newest
        assert self.starting_position_timestamp is not None
        return await stream.position_at(shard_id, self.starting_position_timestamp)

    def _save_now(self, state: _ShardState) -> bool:
        """:meth:`_save` done before it returns, when the lease can write at once (a store of
        this process's own, no write of the lease waiting its turn): True when done, False
        when :meth:`_save` is to await."""
        positions = state.checkpoint()
        if positions == state.saved or state.lease.lost:
            return True
        assert self._leases is not None
        written = self._leases.write_now(state.lease, positions)
        if written is None:
            return False
        if written:
            state.saved = positions
        else:
            self._lost_on_write(state)
        return True

    async def _save(self, state: _ShardState) -> None:
        """Write the shard's checkpoint if it moved, through its lease (so only the owner
        moves it). The lease's writes take turns in the order asked, and the positions are
        read just before asking, so the newest positions are always the last written. A lost
        lease stops the shard here."""
        positions = state.checkpoint()
        if positions == state.saved or state.lease.lost:
            return
        assert self._leases is not None
        if await self._leases.write(state.lease, positions):
            state.saved = positions
            return
        self._lost_on_write(state)

    def _lost_on_write(self, state: _ShardState) -> None:
        """A checkpoint write found the lease taken over: stop the shard here."""
        if not state.closing:  # (writes queued behind the one that failed fail too)
            logger.warning(
                "stream %s: the lease of %s was taken over; stopped reading it",
                self.stream.name,
                state.shard_id,
            )
            self._close(state)

    # -- reading -----------------------------------------------------------------------------
    async def _read(self, state: _ShardState) -> None:
        """The shard's reader: long-polls the log and hands records to the lanes, reading
        ahead at most ``_capacity`` records."""
        while not self._stopping and not state.closing:
            await self._read_once(state)

    async def _read_once(self, state: _ShardState) -> None:
        """Wait for room, or long-poll the log once and hand what it gives to the lanes.

        Paired tasks read without waiting, then listen for the next append (a future the
        log resolves, with no deadline, so no timer) rather than wait inside the log's
        read: the wake-up resumes two coroutines, not four."""
        room = self._capacity - state.buffered()
        if room <= 0:
            state.room.clear()
            await state.room.wait()
            return
        limit = min(room, READ_LIMIT)
        stream, shard_id = self.stream, state.shard_id
        try:
            if self._paired:
                records = stream.read_now(shard_id, state.read_position, limit)
                if records is None:
                    records = await stream.read_log(shard_id, state.read_position, limit)
                if not records:
                    await self._listen(state)
                    records = stream.read_now(shard_id, state.read_position, limit)
                    if records is None:
                        records = await stream.read_log(shard_id, state.read_position, limit)
            else:
                records = await stream.read_log(shard_id, state.read_position, limit, POLL_WAIT)
        except Exception as exc:
            await self._outage.failed(exc)
            return
        self._outage.recovered()
        if self._linger and 0 < len(records) < limit:
            records = await self._rest_of_burst(state, records, limit)
        if records and not self._stopping and not state.closing:
            self._dispatch(state, records)

    async def _run_paired(self, state: _ShardState) -> None:
        """One of a shard's two tasks when a log in this process's memory is read with one
        lane and no batching window: each takes whichever role is free, delivering first.

        The task that read a burst delivers it itself (no hand-over to another task), and
        the other stands by: the log resolves its future at the next append while the
        batch is delivered, so it reads ahead (up to the reader's limit) only when records
        come meanwhile. A delivery that ends before any does costs no task switch: the
        deliverer takes the reading role back, and the one standing by never woke.
        """
        lane = state.lanes[0]
        stream, shard_id = self.stream, state.shard_id
        me = asyncio.current_task()
        while not self._stopping and not state.closing:
            if lane.records and not state.delivering:
                state.delivering = True
                candidate = state.candidate
                if not state.reading and candidate is not None:
                    stream.listen(shard_id, candidate)  # hand the reading role over
                try:
                    await self._deliver_next(state, lane)
                finally:
                    state.delivering = False
                continue
            if state.reading:
                await self._stand_by(state)
                continue
            candidate = state.candidate
            if candidate is not None:
                stream.unlisten(shard_id, candidate)  # take the reading role back
            state.reading, state.reader = True, me
            try:
                await self._read_once(state)
            finally:
                state.reading, state.reader = False, None

    async def _listen(self, state: _ShardState) -> None:
        """Wait for the next append to the shard (or the log's closing)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.stream.listen(state.shard_id, future)
        try:
            await future
        finally:
            self.stream.unlisten(state.shard_id, future)

    async def _stand_by(self, state: _ShardState) -> None:
        """Wait while the other task reads: until it hands the reading role over and an
        append comes, or the shard closes."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        state.candidate = future
        try:
            await future
        finally:
            if state.candidate is future:
                state.candidate = None
            self.stream.unlisten(state.shard_id, future)

    async def _rest_of_burst(
        self, state: _ShardState, records: list[LogRecord], limit: int
    ) -> list[LogRecord]:
        """``records`` and what else the producers append while their burst lasts: each turn
        of the loop that appends to the shard, until a turn appends nothing or a batch per
        lane is read (in-memory logs only: a read there costs nothing, where a durable
        store's own latency gathers a burst). A producer that yields now and then while it
        loops (as ``put_record`` itself does) thus fills batches, as a poll of Lambda's finds
        the records put since the last one; a lone record waits one turn of the loop."""
        wanted = min(limit, self.batch_size * self.parallelization_factor)
        shard_id, stream = state.shard_id, self.stream
        records = records.copy()  # extended in place: a record a turn must not cost n copies
        while len(records) < wanted and not self._stopping and not state.closing:
            await asyncio.sleep(0)
            after = records[-1].sequence
            try:
                more = (
                    stream.read_now(shard_id, after, limit - len(records)) if self._paired else None
                )
                if more is None:
                    more = await stream.read_log(shard_id, after, limit - len(records))
            except Exception:
                break  # read at the next round, as any record not read yet
            if not more:
                break
            records += more
        return records

    def _dispatch(self, state: _ShardState, records: list[LogRecord]) -> None:
        """Hand the records read to their lanes: all to the one lane (no copy), or each by
        its partition key's hash; none a lane did before this run, none filtered out."""
        read = records[-1].sequence
        if self.filters:
            kept = [record for record in records if self._passes(state, record)]
            self.filtered_out += len(records) - len(kept)
            records = kept
        lanes = state.lanes
        if len(lanes) == 1:
            lane = lanes[0]
            if records and records[0].sequence <= lane.floor:
                records = [record for record in records if record.sequence > lane.floor]
            if records:
                lane.push(records)
        elif records:
            count = len(lanes)
            shares: list[list[LogRecord]] = [[] for _ in lanes]
            for record in records:
                index = zlib.crc32(record.partition_key.encode()) % count
                if record.sequence > lanes[index].floor:
                    shares[index].append(record)
            for lane, share in zip(lanes, shares, strict=True):
                if share:
                    lane.push(share)
        state.read_position = read
        self.stream.note_read(state.shard_id)

    def _passes(self, state: _ShardState, record: LogRecord) -> bool:
        """Whether a filter matches; a record that cannot even be filtered (data nested too
        deep, say) counts as filtered out, and is logged: it must not stop the shard."""
        try:
            return matches_any(self.filters, self._filter_view(state, record))
        except Exception:
            logger.exception(
                "stream %s: record %s could not be filtered; skipped",
                self.stream.name,
                state.shape.sequence_number(record.sequence),
            )
            return False

    @staticmethod
    def _filter_view(state: _ShardState, record: LogRecord) -> dict[str, Any]:
        """The record as filters see it: the ``kinesis`` fields beside the others, ``data``
        decoded when it is JSON."""
        event = state.shape.record(record)
        kinesis = event.pop("kinesis")
        with contextlib.suppress(orjson.JSONDecodeError):
            kinesis["data"] = orjson.loads(record.data)
        return {**event, **kinesis}

    # -- delivering --------------------------------------------------------------------------
    async def _run_lane(self, state: _ShardState, lane: _Lane) -> None:
        while not self._stopping and not state.closing:
            if not lane.records:
                await lane.sleep()
                continue
            await self._deliver_next(state, lane)

    async def _deliver_next(self, state: _ShardState, lane: _Lane) -> None:
        """Deliver the lane's next batch (after the batching window)."""
        try:
            if self.batching_window:
                await self._fill(state, lane)
            await self._deliver(state, lane, self._take(lane))
        except BackendError as exc:
            self._outage.note(exc, f"a batch of stream {self.stream.name}")
            await self._back_off(lane, self._outage.pause())
        except Exception:
            logger.exception("a batch of stream %s failed in the mapping", self.stream.name)
            await self._back_off(lane, 1.0)

    async def _fill(self, state: _ShardState, lane: _Lane) -> None:
        """The batching window: wait for a full batch, 6 MB of records, or the window's end."""
        clock = self.stream.context.clock
        deadline = clock.now() + self.batching_window
        while lane.waiting() < self.batch_size and clock.now() < deadline:
            if state.closing or self._stopping:
                return  # the shard stops here: no batch to gather
            waiting = lane.records[lane.head :]
            if sum(_estimated_size(record) for record in waiting) >= MAX_BATCH_BYTES:
                return
            timer = clock.call_at(deadline, lane.wake)
            try:
                await lane.sleep()
            finally:
                timer.cancel()

    def _take(self, lane: _Lane) -> list[LogRecord]:
        """The next batch: the lane's oldest records, up to ``batch_size`` and 6 MB."""
        batch = lane.take(self.batch_size)
        count = len(batch)
        data = sum([len(record.data) for record in batch])
        most = (data + 2 * count) // 3 * 4 + 4 + count * (RECORD_OVERHEAD + _KEY_MOST)
        if most <= MAX_BATCH_BYTES:
            return batch  # within 6 MB even if every key were as long as can be
        size = 0
        for count, record in enumerate(batch):
            size += _estimated_size(record)
            if count and size > MAX_BATCH_BYTES:
                return batch[:count]
        return batch

    async def _deliver(self, state: _ShardState, lane: _Lane, batch: list[LogRecord]) -> None:
        """Deliver a batch until each of its records is done: succeeded or discarded."""
        parts = deque([_Work(batch)])
        clock = self.stream.context.clock
        while parts and not self._stopping and not state.closing:  # what is left is not done
            if not state.lease.current(clock):
                # Not renewed for a lease duration (a store outage, a paused process):
                # another process may own the shard by now, so wait for the next renewal.
                await self._back_off(lane, min(1.0, self.lease_duration / 3))
                continue
            work = parts[0]
            if self._expired(work) and not await self._drop_expired(state, lane, work):
                parts.popleft()
                continue
            result = await self._invoke(state, lane, work)
            if result is None:
                continue  # throttled: back off and try again, not a retry
            retry_from, whole = self._failure(state, work, result)
            if retry_from is None:
                if not self._done(state, lane, work.records):
                    await self._save(state)
                parts.popleft()
                continue
            if whole and self.bisect_on_error and len(work.records) > 1:
                half = len(work.records) // 2
                parts.popleft()
                parts.appendleft(_Work(work.records[half:], work.retries))
                parts.appendleft(_Work(work.records[:half], work.retries))
                continue
            if retry_from:
                await self._complete(state, lane, work.records[:retry_from])
                work.records = work.records[retry_from:]
            work.retries += 1
            if 0 <= self.max_retries < work.retries:
                await self._discard(state, lane, work, work.records, RETRIES_EXHAUSTED)
                parts.popleft()
                continue
            await self._back_off(lane, RETRY_BACKOFF[min(work.retries, len(RETRY_BACKOFF)) - 1])

    def _failure(
        self, state: _ShardState, work: _Work, result: InvocationResult
    ) -> tuple[int | None, bool]:
        """Where the retry starts (None: all done), and whether the whole batch failed."""
        if result.function_error is not None:
            assert self._target is not None
            log_function_error(
                self._target.function.name, result.request_id, work.retries + 1, result.payload,
                f"stream {self.stream.name}",
            )  # fmt: skip
            return 0, True
        if not self.report_batch_item_failures:
            return None, False
        shape = state.shape
        numbers = [shape.sequence_number(record.sequence) for record in work.records]
        failed = failed_item_ids(result.payload, numbers)
        if failed is None:
            assert self._target is not None
            logger.warning(
                "invalid partial batch response from %s: the whole batch failed",
                self._target.function.name,
            )
            return 0, True
        if not failed:
            return None, False
        return min(index for index, number in enumerate(numbers) if number in failed), False

    async def _invoke(
        self, state: _ShardState, lane: _Lane, work: _Work
    ) -> InvocationResult | None:
        """One invocation with the work's records; None when it could not start."""
        mesh = self.stream.context
        assert self._target is not None
        parent = None
        trace = work.records[0].attributes
        if trace and mesh.telemetry.tracing:
            parent = propagate.extract(trace)
        event = {"Records": state.shape.records(work.records)}
        try:
            result = await mesh.invoke_sync(
                self._target, event, trigger="pubsub", parent_context=parent
            )
        except TooManyRequestsError:
            delay = THROTTLE_BACKOFF[min(lane.throttles, len(THROTTLE_BACKOFF) - 1)]
            lane.throttles += 1
            await self._back_off(lane, delay)
            return None
        except EventMeshError as exc:
            logger.warning("stream %s could not invoke: %s", self.stream.name, exc)
            await self._back_off(lane, THROTTLE_BACKOFF[0])
            return None
        lane.throttles = 0
        work.invocations += 1
        work.last = result
        self.invocations += 1
        return result

    async def _back_off(self, lane: _Lane, delay: float) -> None:
        """Wait before trying again; a lane backing off is not work a drain waits for."""
        lane.backing_off = True
        try:
            await self.stream.context.clock.sleep(delay)
        finally:
            lane.backing_off = False

    def _age_limit(self) -> float:
        """Seconds a record may wait: the maximum record age, or the stream's retention."""
        limit = self.stream.retention
        if self.max_record_age != -1:
            limit = min(limit, float(self.max_record_age))
        return limit

    def _expired(self, work: _Work) -> bool:
        """Whether the work's oldest record is older than its records may be."""
        now = self.stream.context.clock.time()
        return now - work.records[0].arrival > self._age_limit()

    async def _drop_expired(self, state: _ShardState, lane: _Lane, work: _Work) -> bool:
        """Discard the work's records older than the maximum record age (or the stream's
        retention); False when none is left."""
        limit = self._age_limit()
        now = self.stream.context.clock.time()
        count = 0
        for record in work.records:  # arrival order: the expired ones come first
            if now - record.arrival <= limit:
                break
            count += 1
        if count:
            await self._discard(state, lane, work, work.records[:count], RECORD_AGE_EXCEEDED)
            work.records = work.records[count:]
        return bool(work.records)

    async def _discard(
        self,
        state: _ShardState,
        lane: _Lane,
        work: _Work,
        records: list[LogRecord],
        condition: str,
    ) -> None:
        """Send the on-failure record for ``records`` (if there is a destination) and move on."""
        self.discarded += len(records)
        assert self._target is not None
        function_name = self._target.function.name
        if self._destination is None:
            logger.warning(
                "discarding %d records of %s (%s) for %s",
                len(records),
                state.shard_id,
                condition,
                function_name,
            )
        else:
            message = self._failure_record(state, records, condition, work)
            try:
                await contained(self._destination.send(message))
            except Exception:
                logger.exception("the on-failure destination of %s failed", function_name)
                self.stream.context.telemetry.count("destination_failures", function_name)
        await self._complete(state, lane, records)

    def _failure_record(
        self, state: _ShardState, records: list[LogRecord], condition: str, work: _Work
    ) -> dict[str, Any]:
        """Lambda's on-failure record for a stream batch: metadata only (§3.3)."""
        assert self._target is not None
        last = work.last
        message: dict[str, Any] = {
            "requestContext": {
                "requestId": last.request_id if last is not None else str(uuid.uuid4()),
                "functionArn": self._target.arn,
                "condition": condition,
                "approximateInvokeCount": work.invocations,
            }
        }
        if last is not None:
            response: dict[str, Any] = {
                "statusCode": last.status_code,
                "executedVersion": last.executed_version,
            }
            if last.function_error is not None:
                response["functionError"] = last.function_error
            message["responseContext"] = response
        message["version"] = "1.0"
        message["timestamp"] = iso_timestamp(self.stream.context.clock.time())
        shape = state.shape
        message["KinesisBatchInfo"] = {
            "shardId": state.shard_id,
            "startSequenceNumber": shape.sequence_number(records[0].sequence),
            "endSequenceNumber": shape.sequence_number(records[-1].sequence),
            "approximateArrivalOfFirstRecord": iso_timestamp(records[0].arrival),
            "approximateArrivalOfLastRecord": iso_timestamp(records[-1].arrival),
            "batchSize": len(records),
            "streamArn": self.stream.arn,
        }
        return message

    async def _complete(self, state: _ShardState, lane: _Lane, records: list[LogRecord]) -> None:
        """Records at the head of the lane are done: drop them, report the iterator age, and
        move the checkpoint."""
        if records and not self._done(state, lane, records):
            await self._save(state)

    def _done(self, state: _ShardState, lane: _Lane, records: list[LogRecord]) -> bool:
        """:meth:`_complete` of at least one record, with the checkpoint written at once
        when it can be (see :meth:`_save_now`): False when :meth:`_save` is still to await."""
        lane.drop(len(records))
        state.room.set()
        age_ms = max(0.0, (self.stream.context.clock.time() - records[-1].arrival) * 1000.0)
        self._report_age(state.shard_id, age_ms)
        return self._save_now(state)

    def _report_age(self, shard_id: str, age_ms: float) -> None:
        self.iterator_age_ms[shard_id] = age_ms
        if self._target is not None:
            self.stream.context.telemetry.record_iterator_age(self._target.function.name, age_ms)

    def __repr__(self) -> str:
        return f"<StreamMapping {self.stream.name} -> {self._function_name}>"
