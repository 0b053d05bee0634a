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

import asyncio
import binascii
import hashlib
import math
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

import orjson
from opentelemetry import propagate

from eventmesh._backpressure import YIELD_EVERY, PendingLimit, check_timeout
from eventmesh._bound_once import bound_once
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
from eventmesh.backends.protocols import (
    ListeningLogStore,
    LogRecord,
    LogStore,
    appends_now,
    listens,
)
from eventmesh.resources._base import Resource

if TYPE_CHECKING:
    from eventmesh._destinations import DestinationSpec, MessageAttributes
    from eventmesh._function import Function
    from eventmesh.mappings.stream_mapping import StreamMapping
    from eventmesh.resources.context import ResourceContext

__all__ = [
    "GetRecordsResult",
    "IteratorType",
    "KinesisRecords",
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
_POSITION_DIGITS = 40
_SHARD_STRIDE: int = 10**_POSITION_DIGITS

ShardAppender = Callable[[bytes, str, Mapping[str, str]], tuple[int, float]]
"""A memory store's ``append_now`` bound to one shard (see ImmediateLogStore.appender)."""
_NO_TRACE: Mapping[str, str] = MappingProxyType({})

_STREAM_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_b64encode = binascii.b2a_base64
ROUTES_KEPT = 16_384
"""Partition keys whose shard a stream remembers (then it forgets them all and starts over):
a producer's keys usually repeat, and an MD5 of each costs more than the rest of a put."""


def sequence_number(shard_index: int, position: int) -> str:
    """The Kinesis-style sequence number of the store's ``position`` in shard ``shard_index``.

    ``sequence_number(0, 1) == "49" + "0" * 53 + "1"``.
    """
    return str(_SEQUENCE_BASE + shard_index * _SHARD_STRIDE + position)


def _sequence_prefix(shard_index: int) -> str:
    """The digits a shard's sequence numbers start with; the position's 40 digits follow
    (joining text is several times cheaper than printing a 56-digit integer)."""
    return sequence_number(shard_index, 0)[:-_POSITION_DIGITS]


def padded_heads(prefix: str) -> tuple[str, ...]:
    """What goes before a position of each length in a sequence number of the shard whose
    numbers start with ``prefix``: ``heads[len(digits)] + digits`` is the number, the
    position's digits zero-padded to 40 (half the cost of ``str.zfill`` and a join)."""
    return tuple(prefix + "0" * (_POSITION_DIGITS - length) for length in range(41))


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
    if type(data) is dict:  # the usual data, first
        return json_bytes(data, field)
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    if isinstance(data, str):
        return text_bytes(data, field)
    if data is None:
        raise PayloadError(f"{field}: a record needs data (Kinesis's Data is required)")
    return json_bytes(data, field)


def _millisecond(seconds: float) -> float:
    """``round(seconds, 3)``, in half its time: the nearest millisecond from the product by
    1000, unless that product is within a thousandth of a tie (or too large for its digits
    to be exact), where ``round`` decides as it always does."""
    scaled = seconds * 1000.0 + 0.5
    whole = math.floor(scaled)
    if 0.001 < scaled - whole < 0.999 and -1e12 < seconds < 1e12:
        return whole / 1000.0
    return round(seconds, 3)


def _check_size(data: bytes, partition_key: str) -> None:
    if len(data) + len(partition_key.encode()) > MAX_RECORD_BYTES:
        raise PayloadError(
            f"a record of {len(data)} bytes is over Kinesis's 1 MiB limit (data and partition key)"
        )


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


_new_put_result = PutRecordResult.__new__


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
        shape = KinesisRecords(
            stream_arn,
            region,
            invoke_identity_arn,
            self.shard_id,
            self.sequence_number[:-_POSITION_DIGITS],
        )
        stored = LogRecord(
            self.position, self.data, self.partition_key, self.approximate_arrival_timestamp
        )
        return shape.record(stored)


class KinesisRecords:
    """Lambda's Kinesis event records (§4.4) of one shard, as one mapping invokes with them,
    built straight from the stored records.

    What every record of the shard shares (the ARNs, the region, the ``eventID`` prefix and
    the sequence numbers' first digits) is bound once, so a record costs only its own fields:
    its position's digits, its data in base64, its arrival rounded to the millisecond.
    Each call makes new dicts: a handler may change its event, and neither a retry nor
    another mapping may see that.
    """

    __slots__ = ("_event_id", "_heads", "_shared", "shard_id")

    def __init__(
        self,
        stream_arn: str,
        region: str,
        invoke_identity_arn: str,
        shard_id: str,
        sequence_prefix: str,
    ) -> None:
        self.shard_id = shard_id
        self._event_id = f"{shard_id}:"
        self._heads = padded_heads(sequence_prefix)
        # A record's fields in their order; "kinesis" and "eventID" are each record's own.
        self._shared: dict[str, Any] = {
            "kinesis": None,
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": "",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": invoke_identity_arn,
            "awsRegion": region,
            "eventSourceARN": stream_arn,
        }

    def sequence_number(self, position: int) -> str:
        """The Kinesis sequence number of the store's ``position`` in this shard."""
        digits = str(position)
        return self._heads[len(digits)] + digits

    def records(self, stored: Sequence[LogRecord]) -> list[dict[str, Any]]:
        """The event records of ``stored``, in order.

        Records put one by one each have an arrival of their own, but most share its
        millisecond with the record before: ``whole`` is that millisecond's bucket (the floor
        of the arrival in milliseconds plus half), and an arrival whose scaled value is in it,
        away from its edges, rounds to it without :func:`_millisecond` being called. The test
        is :func:`_millisecond`'s own (``scaled - whole`` is exact: both are at least 4 and
        within a factor of 2 of each other, or the difference is far out of range).
        """
        heads, event_id, shared = self._heads, self._event_id, self._shared
        whole, rounded = math.nan, 0.0  # nan: no bucket yet (every comparison is False)
        built = []
        for record in stored:
            digits = str(record.sequence)
            number = heads[len(digits)] + digits
            arrival = record.arrival
            scaled = arrival * 1000.0 + 0.5
            if not 0.001 < scaled - whole < 0.999:
                rounded = _millisecond(arrival)
                whole = float(math.floor(scaled)) if 4.0 <= scaled < 1e14 else math.nan
                if not 0.001 < scaled - whole < 0.999:
                    whole = math.nan  # rounded by `round`: no bucket to share
            event = shared.copy()  # (a quarter cheaper than a dict display of all its keys)
            event["kinesis"] = {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": record.partition_key,
                "sequenceNumber": number,
                "data": _b64encode(record.data, newline=False).decode(),
                "approximateArrivalTimestamp": rounded,
            }
            event["eventID"] = event_id + number
            built.append(event)
        return built

    def record(self, stored: LogRecord) -> dict[str, Any]:
        """The event record of one stored record."""
        return self.records((stored,))[0]


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


class _ShardLog:
    """What this process knows of one shard's log: its pending limit, its bounds once
    known, the slowest running mapping's read position, when retention next trims, and the
    digits its sequence numbers start with."""

    __slots__ = (
        "appender",
        "calls",
        "floor",
        "heads",
        "index",
        "limit",
        "newest",
        "next_trim",
        "oldest",
        "prefix",
        "shard_id",
    )

    def __init__(self, shard_id: str, index: int, limit: PendingLimit) -> None:
        self.shard_id = shard_id
        self.index = index
        self.limit = limit
        self.prefix = _sequence_prefix(index)
        self.heads = padded_heads(self.prefix)
        """See :func:`padded_heads`."""
        self.next_trim = -math.inf
        self.newest: int | None = None
        """The newest sequence, once this process appended to the shard (memory backend)."""
        self.oldest = 0
        """The sequence before the oldest kept record, once ``newest`` is known."""
        self.floor: int | None = None
        """The slowest running mapping's read position (None: no mapping reads the shard)."""
        self.calls = 0
        """Puts that took the direct path, which yields now and then as ``acquire`` does."""
        self.appender: ShardAppender | None = None
        """The store's appender bound to this shard, once a put took the direct path on a
        store that appends at once."""

    def lag(self) -> int:
        newest = self.newest
        if newest is None:
            return 0
        oldest = self.oldest
        floor = self.floor
        return newest - (oldest if floor is None or floor < oldest else floor)


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
        self.mappings: list[StreamMapping] = []
        max_pending = settings.get("max_pending")
        self._logs_of = tuple(
            _ShardLog(
                shard.shard_id,
                index,
                context.pending_limit("stream", name, max_pending, stored=True),
            )
            for index, shard in enumerate(self.shards)
        )
        self._span = HASH_KEY_SPACE // len(self.shards)
        self._routes: dict[str, int] = {}  # partition key -> shard index, see ROUTES_KEPT

    @bound_once
    def _logs(self) -> LogStore:
        return self.context.backend.logs  # bound on first use: see Resource

    @bound_once
    def _appender(self) -> Callable[[str, str], ShardAppender] | None:
        """The store's ``appender`` when it appends at once (see ImmediateLogStore)."""
        logs = self._logs
        return logs.appender if appends_now(logs) else None

    @bound_once
    def _time(self) -> Callable[[], float]:
        return self.context.clock.time

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
        if explicit_hash_key is None:
            return self.shards[self._route(key)].shard_id
        hash_key = _hash_key(key, explicit_hash_key, "explicit_hash_key")
        return self.shards[self._shard_index(hash_key)].shard_id

    def _shard_index(self, hash_key: int) -> int:
        return min(hash_key // self._span, len(self.shards) - 1)

    def _route(self, partition_key: str) -> int:
        """The shard index of a valid partition key (remembered: see ROUTES_KEPT)."""
        index = self._routes.get(partition_key)
        if index is None:
            index = self._shard_index(_hash_key(partition_key, None, ""))
            if len(self._routes) >= ROUTES_KEPT:
                self._routes.clear()
            self._routes[partition_key] = index
        return index

    def _shard(self, shard_id: str) -> int:
        try:
            return self._index[shard_id]
        except KeyError:
            raise ResourceNotFoundError(f"stream {self.name!r} has no shard {shard_id!r}") from None

    def _log(self, shard_id: str) -> _ShardLog:
        return self._logs_of[self._shard(shard_id)]

    # -- producing ---------------------------------------------------------------------------
    async def put_record(
        self,
        data: Any,
        partition_key: str,
        *,
        explicit_hash_key: int | str | None = None,
        timeout: float | None = None,
    ) -> PutRecordResult:
        """PutRecord: append one record to the shard its partition key hashes to.

        The common call (a partition key seen before, no explicit hash key, room in the
        shard, nothing to trim) goes straight to the store; any other takes the general path
        of ``put_records``, with the same checks in the same order.
        """
        if timeout is not None:
            timeout = check_timeout(timeout)
        index = None
        if explicit_hash_key is None and type(partition_key) is str:
            index = self._routes.get(partition_key)  # known: checked when first routed
        if index is None:
            entry = {
                "data": data,
                "partition_key": partition_key,
                "explicit_hash_key": explicit_hash_key,
            }
            (result,) = await self._append([self._prepare(entry, "")], timeout)
            return result
        body = _data_bytes(data, "data")
        if len(body) + MAX_PARTITION_KEY * 4 > MAX_RECORD_BYTES:  # a key is <= 1 KiB of UTF-8
            _check_size(body, partition_key)
        log = self._logs_of[index]
        limit = log.limit
        log.calls += 1
        if not log.calls % YIELD_EVERY:
            await asyncio.sleep(0)  # let consumers run while a producer loops
        expired = self._time() > log.next_trim
        if limit.limit is not None and (
            expired or log.newest is None or limit.pending >= limit.limit or limit.waiting
        ):
            (result,) = await self._append([(index, body, partition_key)], timeout)
            return result
        if expired:
            await self._trim(log)  # not limited (a durable log): trims here
        trace = _NO_TRACE
        if self.context.telemetry.tracing:
            trace = {}
            propagate.inject(trace)
        append_now = log.appender
        if append_now is None and self._appender is not None:
            append_now = log.appender = self._appender(self.name, log.shard_id)
        if append_now is None:
            stored = await self._logs.append(
                self.name, log.shard_id, ((body, partition_key, trace),)
            )
            self._note_append(log, stored)
            sequence = stored[0].sequence
        else:  # a log in this process's memory: appended at once, no coroutine
            sequence, arrival = append_now(body, partition_key, trace)
            expiry = arrival + self.retention  # _note_append's work, for one record
            if expiry < log.next_trim:
                log.next_trim = expiry
            if log.newest is not None:
                # limit.set(log.lag()), inline. No producer waits for room that a put could
                # grant: an unlimited shard never waits, and a limited one took this path
                # only when none was waiting, with no await since.
                log.newest = sequence
                oldest, floor = log.oldest, log.floor
                lag = sequence - (oldest if floor is None or floor < oldest else floor)
                limit.pending = lag if lag > 0 else 0
        digits = str(sequence)
        result = _new_put_result(PutRecordResult)  # its two fields set without __init__
        result.shard_id = log.shard_id
        result.sequence_number = log.heads[len(digits)] + digits
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
        admitted = await self._admit([self._logs_of[index] for index in by_shard], timeout)
        try:
            for index, positions in by_shard.items():
                log = self._logs_of[index]
                await self._trim(log)
                stored = await self._logs.append(
                    self.name,
                    log.shard_id,
                    [(prepared[p][1], prepared[p][2], trace) for p in positions],
                )
                admitted.pop(index).release()
                self._note_append(log, stored)
                for position, record in zip(positions, stored, strict=True):
                    digits = str(record.sequence)
                    number = log.heads[len(digits)] + digits
                    results[position] = PutRecordResult(log.shard_id, number)
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
        _check_size(data, partition_key)
        explicit_hash_key = entry.get("explicit_hash_key")
        if explicit_hash_key is None:
            return self._route(partition_key), data, partition_key
        hash_key = _hash_key(partition_key, explicit_hash_key, f"{prefix}explicit_hash_key")
        return self._shard_index(hash_key), data, partition_key

    async def send(self, message: Any, attributes: MessageAttributes | None = None) -> Any:
        """As a destination: put the message with a random partition key (as EventBridge
        does for a Kinesis target without a partition key path)."""
        return await self.put_record(message, str(uuid.uuid4()))

    # -- backpressure ------------------------------------------------------------------------
    async def _admit(
        self, logs: Sequence[_ShardLog], timeout: float | None
    ) -> dict[int, PendingLimit]:
        """Room in each shard (all, or none and BackpressureError)."""
        clock = self.context.clock
        deadline = None if timeout is None else clock.now() + timeout
        admitted: dict[int, PendingLimit] = {}
        try:
            for log in logs:
                await self._room(log, deadline)
                admitted[log.index] = log.limit
        except BaseException:
            for limit in admitted.values():
                limit.release()
            raise
        return admitted

    async def _room(self, log: _ShardLog, deadline: float | None) -> None:
        """Count one call in the shard's pending work, once it has room. Room comes when the
        slowest mapping reads on, or, with no mapping, when retention trims the oldest
        records: a waiter wakes then (at most once per trim) to look again."""
        clock = self.context.clock
        limit = log.limit
        if limit.limit is None:
            await limit.acquire()  # not limited (durable log): only yields now and then
            return
        if log.newest is None:
            log.oldest, log.newest = await self._logs.bounds(self.name, log.shard_id)
        while True:
            await self._trim(log)
            limit.set(log.lag())
            remaining = None if deadline is None else max(0.0, deadline - clock.now())
            until_trim = max(1e-3, log.next_trim - clock.time())
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
        return self._log(shard_id).lag()

    def note_read(self, shard_id: str) -> None:
        """A mapping read on (or started, or stopped): the slowest read position may have
        moved, and producers waiting may now have room."""
        log = self._log(shard_id)
        floor: int | None = None
        for mapping in self.mappings:
            position = mapping.read_position(shard_id)
            if position is not None and (floor is None or position < floor):
                floor = position
        log.floor = floor
        if log.newest is not None:
            log.limit.set(log.lag())

    # -- retention ---------------------------------------------------------------------------
    def _note_append(self, log: _ShardLog, stored: Sequence[LogRecord]) -> None:
        """Records were appended: when the first of them expires, and (memory backend) the
        shard's newest sequence and pending work."""
        if stored:
            expiry = stored[0].arrival + self.retention
            if expiry < log.next_trim:
                log.next_trim = expiry
            if log.newest is not None:
                log.newest = stored[-1].sequence
                log.limit.set(log.lag())

    async def _trim(self, log: _ShardLog) -> None:
        """Remove the records older than the retention, when the oldest one has become so.

        The oldest record's expiry is remembered, so most calls only compare two numbers.
        """
        now = self.context.clock.time()
        if now <= log.next_trim:
            return
        await self._logs.trim(self.name, log.shard_id, now - self.retention)
        oldest = await self._logs.read(self.name, log.shard_id, 0, 1)
        log.next_trim = oldest[0].arrival + self.retention if oldest else now + TRIM_RECHECK
        if log.newest is not None:
            log.oldest = oldest[0].sequence - 1 if oldest else log.newest
            log.limit.set(log.lag())

    # -- reading -----------------------------------------------------------------------------
    # The positions API below is what an event source mapping reads a shard through.
    async def positions(self, shard_id: str) -> tuple[int, int]:
        """(position before the oldest kept record, newest position) after trimming."""
        await self._trim(self._log(shard_id))
        return await self._logs.bounds(self.name, shard_id)

    async def read_log(
        self, shard_id: str, after: int, limit: int, wait: float = 0.0
    ) -> list[LogRecord]:
        """Up to ``limit`` records after ``after`` as the store keeps them, waiting up to
        ``wait`` s for one: what a mapping reads (see :meth:`kinesis_records`)."""
        log = self._logs_of[self._index[shard_id]]
        if self.context.clock.time() > log.next_trim:
            await self._trim(log)
        return await self._logs.read(self.name, shard_id, after, limit, wait)

    async def read_after(
        self, shard_id: str, after: int, limit: int, wait: float = 0.0
    ) -> list[StreamRecord]:
        """Up to ``limit`` records after ``after``, waiting up to ``wait`` s for one."""
        heads = self._log(shard_id).heads
        stored = await self.read_log(shard_id, after, limit, wait)
        return [self._record(shard_id, heads, record) for record in stored]

    @bound_once
    def _listening(self) -> ListeningLogStore | None:
        logs = self._logs
        return logs if listens(logs) else None

    @property
    def can_listen(self) -> bool:
        """Whether :meth:`listen` works: the store resolves a future at an append."""
        return self._listening is not None

    def listen(self, shard_id: str, future: asyncio.Future[None]) -> None:
        """Resolve ``future`` at the next append to the shard (or when the store closes),
        with no task waiting in a read (see ``can_listen``); :meth:`unlisten` undoes it."""
        logs = self._listening
        assert logs is not None, "listen needs a store that can (see can_listen)"
        logs.listen(self.name, shard_id, future)

    def read_now(self, shard_id: str, after: int, limit: int) -> list[LogRecord] | None:
        """:meth:`read_log` without waiting, done before it returns, on a store that can
        listen (see ``can_listen``); None when retention is due to trim the shard first
        (then await :meth:`read_log`)."""
        logs = self._listening
        assert logs is not None, "read_now needs a store that can listen (see can_listen)"
        if self.context.clock.time() > self._logs_of[self._index[shard_id]].next_trim:
            return None
        return logs.read_now(self.name, shard_id, after, limit)

    def unlisten(self, shard_id: str, future: asyncio.Future[None]) -> None:
        logs = self._listening
        if logs is not None:
            logs.unlisten(self.name, shard_id, future)

    def kinesis_records(self, shard_id: str, invoke_identity_arn: str) -> KinesisRecords:
        """The builder of the shard's event records for a mapping invoking as that role."""
        return KinesisRecords(
            self.arn, self.context.region, invoke_identity_arn, shard_id, self._log(shard_id).prefix
        )

    @staticmethod
    def _record(shard_id: str, heads: tuple[str, ...], record: LogRecord) -> StreamRecord:
        digits = str(record.sequence)
        return StreamRecord(
            shard_id,
            heads[len(digits)] + digits,
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
