"""Stream: Kinesis Data Streams' semantics over a LogStore.

A stream has a fixed number of shards that split the 128-bit hash-key range evenly, as
Kinesis does when it creates a stream: the MD5 of a record's partition key, read as a
128-bit integer, falls in one shard's range, so the records of one key stay in order in one
shard. Each shard numbers its records in arrival order. The store counts from 1; callers see
Kinesis-like sequence numbers: 56-digit decimal strings (see :func:`sequence_number`), so
comparing two of them as strings or as numbers gives the same answer.

Reading never removes a record; records older than the retention period (24 hours to 365
days) are trimmed. Readers of their own walk a shard with iterators (``TRIM_HORIZON``,
``LATEST``, ``AT_SEQUENCE_NUMBER``, ``AFTER_SEQUENCE_NUMBER``, ``AT_TIMESTAMP``) and
``get_records``; functions subscribe through an event source mapping
(:mod:`eventmesh.mappings.stream_mapping`).

The store knows none of this: shard choice, sequence-number shapes, retention and the
Lambda event shape are this module's.

Backpressure: a log is not consumed by reading, so a shard's pending records are those not yet
read by every running mapping (from the slowest mapping's read position to the newest record),
or, with no mapping running, every record kept. At ``max_pending`` (per shard, on the memory
backend) ``put_record(s)`` waits until the slowest mapping reads on, or retention trims, up to
its ``timeout``. Records every mapping has read stay until retention, as Kinesis keeps them for
new readers: the limit bounds what consumers owe, retention what the log keeps.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import orjson
from opentelemetry import propagate

from eventmesh._backpressure import PendingLimit, check_timeout
from eventmesh._errors import (
    BackpressureError,
    ConfigurationError,
    PayloadError,
    ResourceNotFoundError,
)
from eventmesh._validation import (
    check_entries,
    check_new_mapping,
    check_text,
    json_bytes,
    text_bytes,
)
from eventmesh.backends.protocols import LogRecord, LogStore
from eventmesh.resources._base import Resource

if TYPE_CHECKING:
    from eventmesh._destinations import DestinationSpec, MessageAttributes
    from eventmesh._function import Function
    from eventmesh.mappings.stream_mapping import StreamMapping
    from eventmesh.resources.context import ResourceContext

__all__ = [
    "GetRecordsResult",
    "IteratorType",
    "PutRecordResult",
    "Shard",
    "ShardIterator",
    "Stream",
    "StreamRecord",
    "create_stream",
    "sequence_number",
]

IteratorType = Literal[
    "TRIM_HORIZON", "LATEST", "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "AT_TIMESTAMP"
]
ITERATOR_TYPES: tuple[str, ...] = (
    "TRIM_HORIZON",
    "LATEST",
    "AT_SEQUENCE_NUMBER",
    "AFTER_SEQUENCE_NUMBER",
    "AT_TIMESTAMP",
)

HASH_KEY_SPACE = 2**128
MAX_RECORD_BYTES = 1024 * 1024  # data + partition key, as Kinesis counts a record
MAX_PUT_RECORDS = 500
_ENTRY_FIELDS = frozenset(("data", "partition_key", "explicit_hash_key"))
MAX_PUT_RECORDS_BYTES = 5 * 1024 * 1024
MAX_PARTITION_KEY = 256
MAX_SHARDS = 500  # Kinesis's default shard quota per account in its large regions
MIN_RETENTION = 86_400.0  # 24 hours
MAX_RETENTION = 31_536_000.0  # 365 days
MAX_GET_RECORDS = 10_000
TRIM_RECHECK = 60.0
"""Seconds before an empty shard is looked at again for records to trim (another process
may have appended; this one learns of its own appends at once)."""

# Sequence numbers: "49", then 14 digits of shard index, then 40 digits of the store's
# sequence. Always 56 digits, so string order is numeric order; a number names its shard.
SEQUENCE_DIGITS = 56
_SEQUENCE_BASE = 49 * 10**54
_SHARD_STRIDE = 10**40

_STREAM_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def sequence_number(shard_index: int, position: int) -> str:
    """The Kinesis-style sequence number of the store's ``position`` in shard ``shard_index``.

    ``sequence_number(0, 1) == "49" + "0" * 53 + "1"``.
    """
    return str(_SEQUENCE_BASE + shard_index * _SHARD_STRIDE + position)


def _position(shard_index: int, shard_id: str, text: str) -> int:
    """The store's position behind a sequence number of this shard (ConfigurationError if
    it is not one)."""
    well_formed = isinstance(text, str) and len(text) == SEQUENCE_DIGITS and text.isascii()
    if not well_formed or not text.isdigit():
        raise ConfigurationError(f"{text!r} is not a sequence number")
    position = int(text) - _SEQUENCE_BASE - shard_index * _SHARD_STRIDE
    if not 1 <= position < _SHARD_STRIDE:
        raise ConfigurationError(f"sequence number {text} is not one of {shard_id}")
    return position


def _number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigurationError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")
    return float(value)


def _data_bytes(data: Any, field: str) -> bytes:
    """A record's data: bytes as they are, text as UTF-8, anything else as JSON."""
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    if isinstance(data, str):
        return text_bytes(data, field)
    if data is None:
        raise PayloadError(f"{field}: a record needs data (Kinesis's Data is required)")
    return json_bytes(data, field)


def _check_partition_key(partition_key: Any, field: str) -> str:
    if not isinstance(partition_key, str) or not 1 <= len(partition_key) <= MAX_PARTITION_KEY:
        raise PayloadError(
            f"{field}: a partition key is a string of 1 to {MAX_PARTITION_KEY} characters, "
            f"got {partition_key!r}"
        )
    return check_text(partition_key, field)


def _hash_key(partition_key: str, explicit_hash_key: int | str | None, field: str) -> int:
    if explicit_hash_key is None:
        digest = hashlib.md5(partition_key.encode(), usedforsecurity=False).digest()
        return int.from_bytes(digest, "big")
    if isinstance(explicit_hash_key, bool | float):
        value = -1
    else:
        try:
            value = int(explicit_hash_key)
        except (TypeError, ValueError):
            value = -1
    if not 0 <= value < HASH_KEY_SPACE:
        raise PayloadError(
            f"{field}: an explicit hash key is an integer from 0 to 2**128 - 1 (or its "
            f"decimal text), got {explicit_hash_key!r}"
        )
    return value


@dataclass(slots=True, frozen=True)
class Shard:
    """A shard and the range of hash keys (inclusive) whose records it holds."""

    shard_id: str
    starting_hash_key: int
    ending_hash_key: int


def _split_hash_range(count: int) -> tuple[Shard, ...]:
    """Kinesis's even split: shard ``i`` starts at ``i * (2**128 // count)``; the last one
    ends at ``2**128 - 1``."""
    span = HASH_KEY_SPACE // count
    return tuple(
        Shard(
            f"shardId-{index:012d}",
            index * span,
            HASH_KEY_SPACE - 1 if index == count - 1 else (index + 1) * span - 1,
        )
        for index in range(count)
    )


@dataclass(slots=True)  # not frozen: made per record, and frozen costs ~1 µs
class PutRecordResult:
    """Where a record went: its shard and its sequence number."""

    shard_id: str
    sequence_number: str


@dataclass(slots=True)  # not frozen: made per record, and frozen costs ~1 µs
class StreamRecord:
    """A record read from a shard, with Kinesis's fields."""

    shard_id: str
    sequence_number: str
    partition_key: str
    data: bytes
    approximate_arrival_timestamp: float
    """Wall-clock epoch seconds at which the stream took the record."""
    position: int = field(repr=False)
    """The store's sequence of the record in its shard (what checkpoints hold)."""
    trace_context: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    """The W3C trace context of the producer (``traceparent``), for the consumer's span."""

    def text(self) -> str:
        """The data decoded as UTF-8."""
        return self.data.decode()

    def json(self) -> Any:
        """The data decoded as JSON."""
        return orjson.loads(self.data)

    def to_record(self, stream_arn: str, region: str, invoke_identity_arn: str) -> dict[str, Any]:
        """The record as one record of the event Lambda receives from Kinesis (§4.4)."""
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": self.partition_key,
                "sequenceNumber": self.sequence_number,
                "data": base64.b64encode(self.data).decode(),
                "approximateArrivalTimestamp": round(self.approximate_arrival_timestamp, 3),
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{self.shard_id}:{self.sequence_number}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": invoke_identity_arn,
            "awsRegion": region,
            "eventSourceARN": stream_arn,
        }


@dataclass(slots=True, frozen=True)
class ShardIterator:
    """A reader's place in one shard: the next read returns the records after ``position``
    (the store's sequence, 0 before the first record)."""

    stream: str
    shard_id: str
    position: int


@dataclass(slots=True, frozen=True)
class GetRecordsResult:
    """What ``get_records`` returns, as Kinesis's GetRecords does.

    ``millis_behind_latest`` is 0 when the records reach the tip of the shard, otherwise how
    long ago the last record returned arrived.
    """

    records: list[StreamRecord]
    next_shard_iterator: ShardIterator
    millis_behind_latest: int


class Stream(Resource):
    """A Kinesis-style data stream; see the module docstring for its rules."""

    kind = "stream"
    service = "kinesis"

    def __init__(self, context: ResourceContext, name: str, settings: Mapping[str, Any]) -> None:
        super().__init__(context, name, settings)
        shards = settings.get("shards", 1)
        if isinstance(shards, bool) or not isinstance(shards, int):
            raise ConfigurationError(f"shards must be an integer from 1 to {MAX_SHARDS}")
        _number("shards", shards, 1, MAX_SHARDS)
        self.retention = _number(
            "retention", settings.get("retention", MIN_RETENTION), MIN_RETENTION, MAX_RETENTION
        )
        self.shards: tuple[Shard, ...] = _split_hash_range(shards)
        self._index = {shard.shard_id: index for index, shard in enumerate(self.shards)}
        self._next_trim = {shard.shard_id: float("-inf") for shard in self.shards}
        self.mappings: list[StreamMapping] = []
        max_pending = settings.get("max_pending")
        self._limits = {
            shard.shard_id: context.pending_limit("stream", name, max_pending, stored=True)
            for shard in self.shards
        }
        self._newest: dict[str, int] = {}  # newest sequence of each shard, once known
        self._oldest: dict[str, int] = {}  # the sequence before its oldest kept record

    @cached_property
    def _logs(self) -> LogStore:
        return self.context.backend.logs  # bound on first use: see Resource

    @property
    def arn(self) -> str:
        mesh = self.context
        return f"arn:aws:kinesis:{mesh.region}:{mesh.account_id}:stream/{self.name}"

    @property
    def shard_ids(self) -> list[str]:
        return [shard.shard_id for shard in self.shards]

    def shard_for(self, partition_key: str, explicit_hash_key: int | str | None = None) -> str:
        """The shard that takes records of ``partition_key`` (or of the explicit hash key)."""
        key = _check_partition_key(partition_key, "partition_key")
        hash_key = _hash_key(key, explicit_hash_key, "explicit_hash_key")
        return self.shards[self._shard_index(hash_key)].shard_id

    def _shard_index(self, hash_key: int) -> int:
        return min(hash_key // (HASH_KEY_SPACE // len(self.shards)), len(self.shards) - 1)

    def _shard(self, shard_id: str) -> int:
        try:
            return self._index[shard_id]
        except KeyError:
            raise ResourceNotFoundError(f"stream {self.name!r} has no shard {shard_id!r}") from None

    # -- producing ---------------------------------------------------------------------------
    async def put_record(
        self,
        data: Any,
        partition_key: str,
        *,
        explicit_hash_key: int | str | None = None,
        timeout: float | None = None,
    ) -> PutRecordResult:
        """PutRecord: append one record to the shard its partition key hashes to."""
        entry = {
            "data": data,
            "partition_key": partition_key,
            "explicit_hash_key": explicit_hash_key,
        }
        if timeout is not None:
            timeout = check_timeout(timeout)
        (result,) = await self._append([self._prepare(entry, "")], timeout)
        return result

    async def put_records(
        self, entries: Sequence[Mapping[str, Any]], *, timeout: float | None = None
    ) -> list[PutRecordResult]:
        """PutRecords: up to 500 entries ``{"data", "partition_key", "explicit_hash_key"}``;
        results in the order of the entries.

        An invalid entry rejects the whole call (PayloadError), as Kinesis's validation does;
        no entry fails alone. A shard at its ``max_pending`` is waited for up to ``timeout``
        seconds (None: as long as needed; 0: not at all), then
        :class:`~eventmesh.BackpressureError` is raised and nothing is appended; a call is
        admitted whole once each of its shards is under the limit.
        """
        if timeout is not None:
            timeout = check_timeout(timeout)
        check_entries(entries, "entries", 1, MAX_PUT_RECORDS, call="PutRecords")
        prepared = [self._prepare(entry, f"entries[{i}].") for i, entry in enumerate(entries)]
        return await self._append(prepared, timeout)

    async def _append(
        self, prepared: list[tuple[int, bytes, str]], timeout: float | None
    ) -> list[PutRecordResult]:
        if sum(len(data) + len(key.encode()) for _, data, key in prepared) > MAX_PUT_RECORDS_BYTES:
            raise PayloadError("a PutRecords request is at most 5 MiB")
        trace: dict[str, str] = {}
        if self.context.telemetry.tracing:
            propagate.inject(trace)
        by_shard: dict[int, list[int]] = {}
        for position, (index, _, _) in enumerate(prepared):
            by_shard.setdefault(index, []).append(position)
        results: list[PutRecordResult | None] = [None] * len(prepared)
        admitted = await self._admit([self.shards[index].shard_id for index in by_shard], timeout)
        try:
            for index, positions in by_shard.items():
                shard_id = self.shards[index].shard_id
                await self._trim(shard_id)
                stored = await self._logs.append(
                    self.name,
                    shard_id,
                    [(prepared[p][1], prepared[p][2], trace) for p in positions],
                )
                admitted.pop(shard_id).release()
                self._note_append(shard_id, stored)
                for position, record in zip(positions, stored, strict=True):
                    results[position] = PutRecordResult(
                        shard_id, sequence_number(index, record.sequence)
                    )
        finally:
            for limit in admitted.values():  # shards not reached when an append failed
                limit.release()
        return [result for result in results if result is not None]

    def _prepare(self, entry: Mapping[str, Any], prefix: str) -> tuple[int, bytes, str]:
        unknown = set(entry) - _ENTRY_FIELDS
        if unknown:
            raise PayloadError(
                f"{prefix.rstrip('.') or 'entry'}: unknown field(s) {', '.join(sorted(unknown))} "
                f"(a record has {', '.join(sorted(_ENTRY_FIELDS))})"
            )
        partition_key = _check_partition_key(entry.get("partition_key"), f"{prefix}partition_key")
        data = _data_bytes(entry.get("data"), f"{prefix}data")
        if len(data) + len(partition_key.encode()) > MAX_RECORD_BYTES:
            raise PayloadError(
                f"a record of {len(data)} bytes is over Kinesis's 1 MiB limit "
                "(data and partition key)"
            )
        hash_key = _hash_key(
            partition_key, entry.get("explicit_hash_key"), f"{prefix}explicit_hash_key"
        )
        return self._shard_index(hash_key), data, partition_key

    async def send(self, message: Any, attributes: MessageAttributes | None = None) -> Any:
        """As a destination: put the message with a random partition key (as EventBridge
        does for a Kinesis target without a partition key path)."""
        return await self.put_record(message, str(uuid.uuid4()))

    # -- backpressure ------------------------------------------------------------------------
    async def _admit(
        self, shard_ids: Sequence[str], timeout: float | None
    ) -> dict[str, PendingLimit]:
        """Room in each shard (all, or none and BackpressureError)."""
        clock = self.context.clock
        deadline = None if timeout is None else clock.now() + timeout
        admitted: dict[str, PendingLimit] = {}
        try:
            for shard_id in shard_ids:
                await self._room(shard_id, deadline)
                admitted[shard_id] = self._limits[shard_id]
        except BaseException:
            for limit in admitted.values():
                limit.release()
            raise
        return admitted

    async def _room(self, shard_id: str, deadline: float | None) -> None:
        """Count one call in the shard's pending work, once it has room. Room comes when the
        slowest mapping reads on, or, with no mapping, when retention trims the oldest
        records: a waiter wakes then (at most once per trim) to look again."""
        clock = self.context.clock
        limit = self._limits[shard_id]
        if limit.limit is None:
            await limit.acquire()  # not limited (durable log): only yields now and then
            return
        if shard_id not in self._newest:
            self._oldest[shard_id], self._newest[shard_id] = await self._logs.bounds(
                self.name, shard_id
            )
        while True:
            await self._trim(shard_id)
            limit.set(self.lag(shard_id))
            remaining = None if deadline is None else max(0.0, deadline - clock.now())
            until_trim = max(1e-3, self._next_trim[shard_id] - clock.time())
            if remaining is not None and remaining <= until_trim:
                await limit.acquire(remaining)
                return
            try:
                await limit.acquire(until_trim)
                return
            except BackpressureError:
                if limit.stopped:
                    raise  # the mesh stopped: no trim nor reader will come
                continue  # the oldest records have expired: trim, and look again

    def lag(self, shard_id: str) -> int:
        """The shard's records not yet read by every running mapping (all kept records when
        none runs): its pending work. Known once this process appended to the shard."""
        newest = self._newest.get(shard_id)
        if newest is None:
            return 0
        oldest = self._oldest.get(shard_id, 0)
        floor: int | None = None
        for mapping in self.mappings:
            position = mapping.read_position(shard_id)
            if position is not None and (floor is None or position < floor):
                floor = position
        return newest - max(oldest, floor if floor is not None else oldest)

    def note_read(self, shard_id: str) -> None:
        """A mapping read on (or started, or stopped): producers waiting may now have room."""
        limit = self._limits[shard_id]
        if limit.waiting:
            limit.set(self.lag(shard_id))

    # -- retention ---------------------------------------------------------------------------
    def _note_append(self, shard_id: str, stored: Sequence[LogRecord]) -> None:
        if stored:
            expiry = stored[0].arrival + self.retention
            self._next_trim[shard_id] = min(self._next_trim[shard_id], expiry)
            if shard_id in self._newest:
                self._newest[shard_id] = stored[-1].sequence
                self._limits[shard_id].set(self.lag(shard_id))

    async def _trim(self, shard_id: str) -> None:
        """Remove the records older than the retention, when the oldest one has become so.

        The oldest record's expiry is remembered, so most calls only compare two numbers.
        """
        now = self.context.clock.time()
        if now <= self._next_trim[shard_id]:
            return
        await self._logs.trim(self.name, shard_id, now - self.retention)
        oldest = await self._logs.read(self.name, shard_id, 0, 1)
        self._next_trim[shard_id] = (
            oldest[0].arrival + self.retention if oldest else now + TRIM_RECHECK
        )
        if shard_id in self._newest:
            self._oldest[shard_id] = oldest[0].sequence - 1 if oldest else self._newest[shard_id]
            self.note_read(shard_id)

    # -- reading -----------------------------------------------------------------------------
    # The positions API below is what an event source mapping reads a shard through.
    async def positions(self, shard_id: str) -> tuple[int, int]:
        """(position before the oldest kept record, newest position) after trimming."""
        await self._trim(shard_id)
        return await self._logs.bounds(self.name, shard_id)

    async def read_after(
        self, shard_id: str, after: int, limit: int, wait: float = 0.0
    ) -> list[StreamRecord]:
        """Up to ``limit`` records after ``after``, waiting up to ``wait`` s for one."""
        await self._trim(shard_id)
        index = self._index[shard_id]
        stored = await self._logs.read(self.name, shard_id, after, limit, wait)
        return [self._record(shard_id, index, record) for record in stored]

    @staticmethod
    def _record(shard_id: str, index: int, record: LogRecord) -> StreamRecord:
        return StreamRecord(
            shard_id,
            sequence_number(index, record.sequence),
            record.partition_key,
            record.data,
            record.arrival,
            record.sequence,
            record.attributes,
        )

    def sequence_number_at(self, shard_id: str, position: int) -> str:
        """The Kinesis sequence number of the record at ``position`` in the shard."""
        return sequence_number(self._shard(shard_id), position)

    async def newest_position(self, shard_id: str) -> int:
        """The newest position of the shard, without trimming first."""
        return (await self._logs.bounds(self.name, shard_id))[1]

    async def position_at(self, shard_id: str, timestamp: float) -> int:
        """The position before the first record that arrived at or after ``timestamp``."""
        return await self._logs.sequence_at(self.name, shard_id, timestamp)

    async def get_shard_iterator(
        self,
        shard_id: str,
        iterator_type: IteratorType | str,
        sequence_number: str | None = None,
        timestamp: float | datetime | None = None,
    ) -> ShardIterator:
        """GetShardIterator: a place to read ``shard_id`` from.

        ``TRIM_HORIZON``: the oldest kept record; ``LATEST``: records put from now on;
        ``AT_SEQUENCE_NUMBER`` / ``AFTER_SEQUENCE_NUMBER``: at or after ``sequence_number``;
        ``AT_TIMESTAMP``: the first record that arrived at or after ``timestamp`` (epoch
        seconds or an aware datetime).
        """
        index = self._shard(shard_id)
        if iterator_type not in ITERATOR_TYPES:
            raise ConfigurationError(
                f"iterator type must be one of {', '.join(ITERATOR_TYPES)}, got {iterator_type!r}"
            )
        by_number = iterator_type in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER")
        if by_number != (sequence_number is not None):
            raise ConfigurationError(
                "a sequence number goes with AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER only"
            )
        if (iterator_type == "AT_TIMESTAMP") != (timestamp is not None):
            raise ConfigurationError("a timestamp goes with AT_TIMESTAMP only")
        oldest, newest = await self.positions(shard_id)
        if iterator_type == "TRIM_HORIZON":
            return ShardIterator(self.name, shard_id, oldest)
        if iterator_type == "LATEST":
            return ShardIterator(self.name, shard_id, newest)
        if timestamp is not None:
            when = timestamp.timestamp() if isinstance(timestamp, datetime) else timestamp
            after = await self._logs.sequence_at(self.name, shard_id, float(when))
            return ShardIterator(self.name, shard_id, after)
        assert sequence_number is not None
        position = _position(index, shard_id, sequence_number)
        if position > newest:
            raise ConfigurationError(
                f"sequence number {sequence_number} is beyond the newest record of {shard_id}"
            )
        after = position - 1 if iterator_type == "AT_SEQUENCE_NUMBER" else position
        return ShardIterator(self.name, shard_id, after)

    async def get_records(
        self, iterator: ShardIterator, limit: int = MAX_GET_RECORDS
    ) -> GetRecordsResult:
        """GetRecords: up to ``limit`` (1-10,000) records from the iterator's place, the
        iterator to continue with, and how far behind the tip of the shard they are."""
        if iterator.stream != self.name:
            raise ConfigurationError(f"that iterator reads stream {iterator.stream!r}")
        self._shard(iterator.shard_id)
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise ConfigurationError("limit must be an integer from 1 to 10000")
        _number("limit", limit, 1, MAX_GET_RECORDS)
        records = await self.read_after(iterator.shard_id, iterator.position, limit)
        if not records:
            return GetRecordsResult([], iterator, 0)
        last = records[-1]
        _, newest = await self._logs.bounds(self.name, iterator.shard_id)
        behind = 0
        if last.position < newest:
            age = self.context.clock.time() - last.approximate_arrival_timestamp
            behind = max(0, int(age * 1000))
        following = ShardIterator(self.name, iterator.shard_id, last.position)
        return GetRecordsResult(records, following, behind)

    # -- event source ------------------------------------------------------------------------
    def subscribe(
        self,
        function: Function | str,
        *,
        batch_size: int = 100,
        batching_window: float = 0,
        starting_position: str = "LATEST",
        starting_position_timestamp: float | datetime | None = None,
        parallelization_factor: int = 1,
        bisect_on_error: bool = False,
        max_retries: int = -1,
        max_record_age: int = -1,
        report_batch_item_failures: bool = False,
        on_failure: DestinationSpec | None = None,
        filters: Sequence[Mapping[str, Any] | str] | None = None,
        enabled: bool = True,
        lease_duration: float | None = None,
    ) -> StreamMapping:
        """An event source mapping: read each shard in order and invoke ``function`` with
        batches (see :mod:`eventmesh.mappings.stream_mapping`).

        When several processes share the mesh's storage, they split the shards with leases
        (:mod:`eventmesh.mappings.shard_leases`); ``lease_duration`` is how long a silent
        owner keeps its shards before another process takes them over (default 10 s, the
        Kinesis Client Library's failover time)."""
        check_new_mapping(self.mappings, function, f"stream {self.name!r}", self.arn)
        mapping: StreamMapping = self.context.event_source_mapping(
            "stream",
            self,
            function,
            {
                "batch_size": batch_size,
                "batching_window": batching_window,
                "starting_position": starting_position,
                "starting_position_timestamp": starting_position_timestamp,
                "parallelization_factor": parallelization_factor,
                "bisect_on_error": bisect_on_error,
                "max_retries": max_retries,
                "max_record_age": max_record_age,
                "report_batch_item_failures": report_batch_item_failures,
                "on_failure": on_failure,
                "filters": filters,
                "enabled": enabled,
                "lease_duration": lease_duration,
            },
        )
        self.mappings.append(mapping)
        return mapping


def create_stream(
    context: ResourceContext,
    name: str,
    *,
    shards: int | None = None,
    retention: float | None = None,
    max_pending: int | None = None,
) -> Stream:
    """The stream of that name in the mesh: created on first use, then the same object.

    Kinesis's rules: a name of 1-128 letters, digits, ``_``, ``-`` or ``.``; 1 to 500
    shards (default 1); a retention of 86,400 to 31,536,000 seconds (24 hours, the default,
    to 365 days).
    """
    if not isinstance(name, str) or not _STREAM_NAME.match(name):
        raise ConfigurationError(
            f"stream name {name!r} must be 1-128 letters, digits, '-', '_' or '.'"
        )
    settings = {
        key: value
        for key, value in (
            ("shards", shards),
            ("retention", retention),
            ("max_pending", max_pending),
        )
        if value is not None
    }
    return context.resource(Stream, name, settings)
