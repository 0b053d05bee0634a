"""Queue: SQS's semantics over a QueueStore.

Messages stay hidden for the visibility timeout once received and come back unless deleted;
``ApproximateReceiveCount`` counts receives; a message received more than
``max_receive_count`` times moves to the dead-letter queue instead of being delivered.
FIFO queues (names ending in ``.fifo``) keep order per message group, let one batch of a
group be in flight at a time, and drop a message whose deduplication id was seen in the
last five minutes.

The store knows none of this: receive counts and group order are its job, retention,
deduplication and the SQS wire shapes are this module's. Redrive is the store's when it
declares ``redrives_in_receive`` (the policy goes with each receive, and the move is one
atomic step with it); otherwise this module sends the message to the dead-letter queue, then
deletes it (a crash between the two leaves it in both).

Backpressure: a queue's pending messages are those stored and not deleted (visible, in flight
or delayed). At ``max_pending`` (on the memory backend) ``send`` waits for a delete, a
redrive or an expiry to free room, up to its ``timeout``; a redrive into a full dead-letter
queue is admitted over its limit, since refusing it would lose the message.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, cast

import orjson
from opentelemetry import propagate

from eventmesh._backpressure import OVERFLOW, YIELD_EVERY, check_timeout, delivery_mode
from eventmesh._bound_once import bound_once
from eventmesh._errors import ConfigurationError, PayloadError, ResourceNotFoundError
from eventmesh._tasks import stop_tasks
from eventmesh._validation import (
    check_entries,
    check_finite,
    check_flag,
    check_mapping,
    check_new_mapping,
    check_text,
    json_error,
    text_bytes,
)
from eventmesh.backends.protocols import (
    Delivery,
    KeyValueStore,
    OutgoingMessage,
    QueueStats,
    QueueStore,
    Redrive,
    RedrivingQueueStore,
    redrives_in_receive,
    sends_now,
)
from eventmesh.resources._base import Resource

if TYPE_CHECKING:
    from eventmesh._destinations import MessageAttributes
    from eventmesh._function import Function
    from eventmesh.mappings.queue_mapping import QueueMapping
    from eventmesh.resources.context import ResourceContext

__all__ = [
    "Message",
    "Queue",
    "ReceivedRecords",
    "encode_message_attributes",
    "md5_of_message_attributes",
]

logger = logging.getLogger("eventmesh.queues")
_dumps = orjson.dumps

MAX_MESSAGE_BYTES = 1024 * 1024
DEDUPLICATION_WINDOW = 300.0
DEDUP_CLAIM_LEASE = 10.0
_SENDER_ID = "AIDAEVENTMESHLOCAL0001"

# Keys of the store's attributes (the resource's own, opaque to the store).
_ATTRIBUTES = "ma"
_SEQUENCE = "seq"
_DEDUPLICATION = "dd"
_TRACE_KEYS = ("traceparent", "tracestate")
_FIRST_SENT = "sent"  # on a redriven message: when it was first sent
_NO_ATTRIBUTES: Mapping[str, str] = MappingProxyType({})
"""The stored attributes of a message that has none: one shared, immutable map (stores accept
any ``Mapping``, never mutate it, and the conformance kit checks they do not assume a dict)."""
_NO_TRACE: Mapping[str, str] = _NO_ATTRIBUTES
_COUNTS = tuple(str(count) for count in range(16))
_BATCH_FIELDS = frozenset(("id", "body", "attributes", "delay", "group_id", "deduplication_id"))
_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
_FIFO_ID = re.compile(r"[!-~]{1,128}")


_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


# The characters SQS refuses in a body, as UTF-8: C0 controls other than tab, LF and CR, and
# U+FFFE, U+FFFF (UTF-8 cannot hold surrogates, so the other exclusions cannot occur). A
# single character class scans fast; the lead byte 0xEF is then looked at closer.
_SUSPECT_BYTE = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\xef]")
_INVALID_CHARACTER = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|\xef\xbf[\xbe\xbf]")


def _check(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigurationError(f"{name} must be a number from {low} to {high}, got {value!r}")


def _seconds(settings: Mapping[str, Any], name: str, default: int, low: int, high: int) -> float:
    """A queue setting in seconds, checked before it becomes a float (``float()`` of a str
    or of an int past a float's range raises on its own)."""
    value = settings.get(name, default)
    _check(name, value, low, high)
    return float(value)


def encode_message_attributes(
    attributes: Mapping[str, Any] | None, field: str = "attributes"
) -> dict[str, dict[str, str]]:
    """Message attributes in SQS's request shape: ``{name: {DataType, StringValue|BinaryValue}}``.

    Plain values are accepted too: a str is a String, a number a Number, bytes Binary.
    A malformed map raises PayloadError naming the attribute (``attributes['size']``).
    """
    if attributes is None:
        return {}
    check_mapping(attributes, field, what="attribute values")
    if len(attributes) > 10:
        raise PayloadError(f"{field}: a message has at most 10 message attributes")
    encoded: dict[str, dict[str, str]] = {}
    for name, value in attributes.items():
        where = f"{field}[{name!r}]"
        if not name:
            raise PayloadError(f"{field}: an attribute name must not be empty")
        if isinstance(value, Mapping):
            data_type = value.get("DataType") or value.get("dataType") or value.get("Type")
            string = value.get("StringValue", value.get("stringValue", value.get("Value")))
            binary = value.get("BinaryValue", value.get("binaryValue"))
            if not isinstance(data_type, str):
                raise PayloadError(f"{where}: needs a DataType (String, Number or Binary)")
            check_text(data_type, f"{where}.DataType")
            if binary is not None:
                if isinstance(binary, bytes):
                    binary = base64.b64encode(binary).decode()
                check_text(binary, f"{where}.BinaryValue", what="bytes or base64 text")
                encoded[name] = {"DataType": data_type, "BinaryValue": binary}
            elif string is not None:
                if data_type.startswith("Number") and _is_number(string):
                    string = repr(string)
                check_text(string, f"{where}.StringValue")
                encoded[name] = {"DataType": data_type, "StringValue": string}
            else:
                raise PayloadError(f"{where}: has no value (StringValue or BinaryValue)")
        elif isinstance(value, bytes):
            encoded[name] = {"DataType": "Binary", "BinaryValue": base64.b64encode(value).decode()}
        elif isinstance(value, str):
            encoded[name] = {"DataType": "String", "StringValue": check_text(value, where)}
        elif _is_number(value):
            encoded[name] = {"DataType": "Number", "StringValue": repr(value)}
        else:
            raise PayloadError(f"{where}: {value!r} is not a str, a finite number or bytes")
        _check_attribute(where, encoded[name])
    return encoded


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return not isinstance(value, float) or math.isfinite(value)


def _check_attribute(where: str, value: Mapping[str, str]) -> None:
    """SQS's rules for one attribute value: a non-empty value, and a Number that is one."""
    string = value.get("StringValue")
    if string == "" or value.get("BinaryValue") == "":
        raise PayloadError(f"{where}: must contain a non-empty value of type {value['DataType']!r}")
    number = string is not None and value["DataType"].startswith("Number")
    if number and not _NUMBER.fullmatch(string or ""):
        raise PayloadError(f"{where}: {string!r} is not a number (DataType Number)")
    if number and not _number_in_range(string or ""):
        raise PayloadError(
            f"{where}: {string!r} is not a Number SQS and SNS can hold (up to 38 significant "
            "digits, and 0 or a magnitude from 10^-128 to 10^+126)"
        )


def _number_in_range(text: str) -> bool:
    """Whether a number's text (one ``_NUMBER`` matched) fits SQS's (and SNS's) Number: up
    to 38 digits of precision, leading and trailing zeros trimmed, and 0 or between 10^-128
    and 10^+126. Read from the text itself: ``Decimal`` refuses an exponent such as
    ``1e99999999999999999999`` with an error of its own."""
    mantissa, _, exponent = text.lower().lstrip("+-").partition("e")
    whole, _, fraction = mantissa.partition(".")
    significant = (whole + fraction).lstrip("0")
    digits = significant.rstrip("0")
    if not digits:
        return True  # zero
    if len(exponent.lstrip("+-").lstrip("0")) > 6:
        return False  # far past either bound
    leading_zeros = len(whole + fraction) - len(significant)
    power = int(exponent or 0) + len(whole) - 1 - leading_zeros  # of the first digit
    return len(digits) <= 38 and (-128 <= power < 126 or (power == 126 and digits == "1"))


def _record_attributes(encoded: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, Any]]:
    """Message attributes as a Lambda SQS record shows them (camelCase, list fields)."""
    record: dict[str, dict[str, Any]] = {}
    for name, value in encoded.items():
        entry: dict[str, Any] = {
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        if "BinaryValue" in value:
            entry["binaryValue"] = value["BinaryValue"]
        else:
            entry["stringValue"] = value["StringValue"]
        record[name] = entry
    return record


def _md5_of_attributes(encoded: Mapping[str, Mapping[str, str]]) -> str:
    """SQS's MD5 of message attributes: names sorted, each length-prefixed, as SQS computes."""
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(encoded):
        value = encoded[name]
        data_type = value["DataType"]
        for part in (name.encode(), data_type.encode()):
            digest.update(len(part).to_bytes(4, "big") + part)
        if "BinaryValue" in value:
            raw = base64.b64decode(value["BinaryValue"])
            digest.update(b"\x02" + len(raw).to_bytes(4, "big") + raw)
        else:
            raw = value["StringValue"].encode()
            digest.update(b"\x01" + len(raw).to_bytes(4, "big") + raw)
    return digest.hexdigest()


def md5_of_message_attributes(encoded: Mapping[str, Mapping[str, str]]) -> str:
    """SQS's ``MD5OfMessageAttributes`` of attributes shaped as
    :func:`encode_message_attributes` gives them (binary values in base64)."""
    return _md5_of_attributes(encoded)


def _body_bytes(body: Any, field: str = "body") -> bytes:
    """SQS bodies are text: a str goes as is (UTF-8), anything else as JSON."""
    if isinstance(body, str):
        return text_bytes(body, field)
    if isinstance(body, bytes | bytearray):
        try:
            bytes(body).decode()
        except UnicodeDecodeError:
            raise PayloadError(f"{field}: a message body must be text (UTF-8)") from None
        return bytes(body)
    if body is None:
        raise PayloadError(f"{field}: a message needs a body (SQS's MessageBody is required)")
    try:  # json_bytes inline: this is the hot path of every send
        data = _dumps(body)
    except TypeError:
        raise json_error(body, field) from None
    if data.partition(b"null")[1]:  # find(b"null") >= 0, in a third of its cost
        check_finite(body, data, field)
    return data


def _check_fifo_id(value: Any, field: str) -> None:
    """SQS's MessageGroupId and MessageDeduplicationId: 1-128 characters of printable ASCII
    (letters, digits and punctuation, no space)."""
    if not isinstance(value, str) or not _FIFO_ID.fullmatch(value):
        raise PayloadError(
            f"{field}: 1-128 letters, digits or punctuation (printable ASCII, no space), "
            f"got {value!r}"
        )


def _check_body(data: bytes) -> None:
    """What SQS checks of a body it received: at least one character, all of them allowed."""
    if not data:
        raise PayloadError("body: must not be empty (SQS requires at least one character)")
    if _SUSPECT_BYTE.search(data) and _INVALID_CHARACTER.search(data):
        raise PayloadError(
            "body: invalid characters (SQS allows #x9, #xA, #xD and #x20 to #x10FFFF "
            "except #xFFFE and #xFFFF)"
        )


@dataclass(slots=True)  # not frozen: made per record, and frozen costs ~1 µs
class Message:
    """A received message, with SQS's system attributes (all strings, times in epoch ms)."""

    message_id: str
    receipt_handle: str
    body: str
    attributes: Mapping[str, str]
    message_attributes: Mapping[str, Mapping[str, str]]
    md5_of_body: str
    trace_context: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    """The W3C trace context of the producer (``traceparent``), for the consumer's span."""

    def json(self) -> Any:
        """The body decoded as JSON."""
        return orjson.loads(self.body)

    def to_record(self, queue_arn: str, region: str) -> dict[str, Any]:
        """The message as one record of the event Lambda receives from SQS (§4.3)."""
        record: dict[str, Any] = {
            "messageId": self.message_id,
            "receiptHandle": self.receipt_handle,
            "body": self.body,
            "attributes": dict(self.attributes),
            "messageAttributes": _record_attributes(self.message_attributes),
            "md5OfBody": self.md5_of_body,
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }
        if self.message_attributes:
            record["md5OfMessageAttributes"] = _md5_of_attributes(self.message_attributes)
        return record


class ReceivedRecords:
    """Received messages as the records of Lambda's SQS event, with what a consumer keeps
    apart from them (a handler may change the event it is given): each one's receipt
    handle and producer's trace context, the highest receive count among them, and the
    size of their bodies in UTF-8."""

    __slots__ = ("body_bytes", "most_receives", "receipts", "records", "traces")

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.receipts: list[str] = []
        self.traces: list[Mapping[str, str]] = []
        self.most_receives = 0
        self.body_bytes = 0

    def __len__(self) -> int:
        return len(self.records)

    def extend(self, other: ReceivedRecords) -> None:
        self.records += other.records
        self.receipts += other.receipts
        self.traces += other.traces
        self.most_receives = max(self.most_receives, other.most_receives)
        self.body_bytes += other.body_bytes

    def split(self, count: int) -> ReceivedRecords:
        """Keep the first ``count`` records; return the others."""
        rest = ReceivedRecords()
        rest.records, self.records = self.records[count:], self.records[:count]
        rest.receipts, self.receipts = self.receipts[count:], self.receipts[:count]
        rest.traces, self.traces = self.traces[count:], self.traces[:count]
        self._recount()
        rest._recount()
        return rest

    def keep(self, indexes: Sequence[int]) -> ReceivedRecords:
        """Keep the records at ``indexes`` (in order); return the others."""
        kept = set(indexes)
        rest = ReceivedRecords()
        for name in ("records", "receipts", "traces"):
            items: list[Any] = getattr(self, name)
            setattr(rest, name, [item for i, item in enumerate(items) if i not in kept])
            setattr(self, name, [items[i] for i in indexes])
        self._recount()
        rest._recount()
        return rest

    def _recount(self) -> None:
        """The totals again, from the records (still as received: a consumer cuts a batch
        before it invokes)."""
        records = self.records
        counts = (int(r["attributes"]["ApproximateReceiveCount"]) for r in records)
        self.most_receives = max(counts, default=0)
        self.body_bytes = sum(len(r["body"].encode()) for r in records)


class Queue(Resource):
    """An SQS-style queue; see the module docstring for its rules."""

    kind = "queue"
    service = "sqs"

    def __init__(self, context: ResourceContext, name: str, settings: Mapping[str, Any]) -> None:
        super().__init__(context, name, settings)
        self.visibility_timeout = _seconds(settings, "visibility_timeout", 30, 0, 43200)
        self.delay = _seconds(settings, "delay", 0, 0, 900)
        self.retention = _seconds(settings, "retention", 345600, 60, 1209600)
        self.max_receive_count: int | None = settings.get("max_receive_count")
        self.dead_letter: Queue | str | None = settings.get("dead_letter")
        self.fifo = check_flag(settings.get("fifo", name.endswith(".fifo")), "fifo")
        self.content_based_deduplication = check_flag(
            settings.get("content_based_deduplication", False), "content_based_deduplication"
        )
        self._validate()
        self.limit = context.pending_limit("queue", name, settings.get("max_pending"), stored=True)
        self._last_sequence = 0
        self.mappings: list[QueueMapping] = []
        self._sweeper: asyncio.Task[None] | None = None

    @bound_once
    def _store(self) -> QueueStore:
        return self.context.backend.queues  # bound on first use: see Resource

    @bound_once
    def _send_now(
        self,
    ) -> Callable[[str, bytes, Mapping[str, str], float, str | None], str] | None:
        """The store's ``send_now`` if it takes a message at once (read once)."""
        store = self._store
        return store.send_now if sends_now(store) else None

    @bound_once
    def _plain_send(self) -> Callable[[bytes, Mapping[str, str]], str] | None:
        """The store's sender bound to this queue for a message with no delay and no group
        (``plain_sender``), if it stores at once and offers one; None for a FIFO queue and
        any other store (read once)."""
        store = self._store
        if self.fifo or not sends_now(store):
            return None
        plain_sender = getattr(store, "plain_sender", None)
        return (
            None if plain_sender is None else cast("_PlainSenders", store).plain_sender(self.name)
        )

    @bound_once
    def _immediate(self) -> _ImmediateTakes | None:
        """The store if it receives and deletes at once (``receive_now``, ``delete_now``,
        ``receive_after_empty``) and redrives within the receive; None otherwise (read once)."""
        store = self._store
        if (
            getattr(store, "takes_now", False) is True
            and redrives_in_receive(store)
            and callable(getattr(store, "receive_after_empty", None))
        ):
            return cast("_ImmediateTakes", store)
        return None

    @bound_once
    def _values(self) -> KeyValueStore:
        return self.context.backend.values

    def _validate(self) -> None:
        _check("visibility_timeout", self.visibility_timeout, 0, 43200)
        _check("delay", self.delay, 0, 900)
        _check("retention", self.retention, 60, 1209600)
        if self.max_receive_count is not None:
            if not isinstance(self.max_receive_count, int):
                raise ConfigurationError("max_receive_count must be an integer from 1 to 1000")
            _check("max_receive_count", self.max_receive_count, 1, 1000)
            if self.dead_letter is None:
                raise ConfigurationError("max_receive_count needs a dead_letter queue")
        if self.fifo != self.name.endswith(".fifo"):
            raise ConfigurationError("a FIFO queue's name must end with '.fifo', and only its")
        if self.content_based_deduplication and not self.fifo:
            raise ConfigurationError("content_based_deduplication is for FIFO queues")

    @property
    def arn(self) -> str:
        mesh = self.context
        return f"arn:aws:sqs:{mesh.region}:{mesh.account_id}:{self.name}"

    @property
    def url(self) -> str:
        mesh = self.context
        return f"https://sqs.{mesh.region}.amazonaws.com/{mesh.account_id}/{self.name}"

    def _next_sequence(self) -> str:
        """A FIFO sequence number that keeps increasing across restarts: microseconds of
        wall time, or one more than the last when several sends share a microsecond."""
        self._last_sequence = max(self._last_sequence + 1, int(self.context.clock.time() * 1e6))
        return f"{self._last_sequence:020d}"

    def _dead_letter_queue(self) -> Queue:
        target = self.dead_letter
        if isinstance(target, Queue):
            return target
        resource = self.context.find_resource(str(target))
        if not isinstance(resource, Queue):
            raise ResourceNotFoundError(f"dead-letter queue {target!r} of {self.name!r} not found")
        return resource

    async def start(self) -> None:
        if self.dead_letter is not None:
            try:
                dead_letter = self._dead_letter_queue()
            except ResourceNotFoundError as exc:
                raise ConfigurationError(f"queue {self.name!r}: {exc}") from None
            if dead_letter.fifo != self.fifo:
                raise ConfigurationError(
                    f"the dead-letter queue of {self.name!r} must be FIFO if and only if it is"
                )
        self._sweeper = asyncio.create_task(self._sweep(), name=f"sqs.{self.name}.retention")

    async def stop(self) -> None:
        if self._sweeper is not None:
            await stop_tasks({self._sweeper})
            self._sweeper = None

    async def _sweep(self) -> None:
        """Retention for a queue nobody reads: now and then, drop what has expired (a
        receive drops expired messages too, so a consumer never sees one)."""
        clock = self.context.clock
        interval = min(max(self.retention / 4, 60.0), 3600.0)
        while True:
            await clock.sleep(interval)
            try:
                self.limit.release(
                    await self._store.purge(self.name, clock.time() - self.retention)
                )
            except Exception:
                logger.exception("queue %s: dropping expired messages failed", self.name)

    # -- producing ---------------------------------------------------------------------------
    async def send(
        self,
        body: Any,
        attributes: MessageAttributes | Mapping[str, Any] | None = None,
        *,
        delay: float | None = None,
        group_id: str | None = None,
        deduplication_id: str | None = None,
        timeout: float | None = None,
    ) -> str:
        """Send one message; returns its message id (a duplicate gets the original's).

        At the queue's ``max_pending``, waits up to ``timeout`` seconds for room (None: as
        long as needed; 0: not at all), then raises :class:`~eventmesh.BackpressureError`
        having stored nothing.
        """
        if timeout is not None:
            timeout = check_timeout(timeout)
        if (
            type(body) is dict
            and attributes is None
            and delay is None
            and group_id is None
            and deduplication_id is None
            and not self.fifo
        ):
            # The common send: a JSON object, to a standard queue, with no attributes,
            # delay, group or deduplication id. _prepare's checks, inline, in fewer steps.
            try:
                data = _dumps(body)
            except TypeError:
                raise json_error(body, "body") from None
            if data.partition(b"null")[1]:  # find(b"null") >= 0, in a third of its cost
                check_finite(body, data, "body")
            if not data.isascii():
                _check_body(data)
            if len(data) > MAX_MESSAGE_BYTES:
                raise PayloadError(f"message of {len(data)} bytes is over SQS's 1 MiB limit")
            stored = self._trace_context() if self.context.telemetry.tracing else _NO_ATTRIBUTES
            # No delay of the queue's own, and a store that stores at once: its sender bound
            # to this queue (read per send: the delay may be changed).
            plain = None if self.delay else self._plain_send
            wait, group, dedup_key = self.delay, None, None
        else:
            plain = None
            outgoing, dedup_key = self._prepare(body, attributes, delay, group_id, deduplication_id)
            data, stored, wait, group = (
                outgoing.body,
                outgoing.attributes,
                outgoing.delay,
                outgoing.group_id,
            )
        limit = self.limit
        # limit.try_acquire(), inline (a Python call less per message): count this send at
        # once unless acquire would yield (every YIELD_EVERY-th call) or wait for room.
        calls = limit._calls + 1
        if calls % YIELD_EVERY and (
            (most := limit.limit) is None or (limit.pending < most and not limit._waiters)
        ):
            limit._calls = calls
            limit.pending += 1
        else:
            await limit.acquire(timeout)
        try:
            if plain is not None:
                return plain(data, stored)
            if dedup_key is not None:
                return await self._send_once(OutgoingMessage(data, stored, wait, group), dedup_key)
            if (send_now := self._send_now) is not None:
                return send_now(self.name, data, stored, wait, group)
            (message_id,) = await self._store.send(
                self.name, [OutgoingMessage(data, stored, wait, group)]
            )
            return message_id
        except BaseException:
            limit.release()
            raise

    async def _send_once(self, outgoing: OutgoingMessage, dedup_key: str) -> str:
        """FIFO deduplication, safe across processes: claim the id first (put-if-absent),
        send, then record the message id in the claim; a duplicate waits for that id."""
        values = self._values
        clock = self.context.clock
        # A short lease until the message id is recorded: a sender that dies in between
        # blocks the id for seconds, not for the whole deduplication window.
        claim = await values.put(dedup_key, b"", ttl=DEDUP_CLAIM_LEASE, only_if_absent=True)
        if claim is None:
            for _ in range(int(DEDUP_CLAIM_LEASE / 0.01) + 1):  # the first one is still sending
                existing = await values.get(dedup_key)
                if existing is None:
                    return await self._send_once(outgoing, dedup_key)  # it gave up
                if existing.value:
                    self.limit.release()  # a duplicate: nothing stored
                    return existing.value.decode()
                await clock.sleep(0.01)
            raise PayloadError(f"deduplication id {dedup_key!r} is held by a send that hangs")
        try:
            (message_id,) = await self._store.send(self.name, [outgoing])
        except BaseException:
            await values.delete(dedup_key, only_if_version=claim)
            raise
        await values.put(
            dedup_key, message_id.encode(), ttl=DEDUPLICATION_WINDOW, only_if_version=claim
        )
        return message_id

    async def send_batch(
        self, entries: Sequence[Mapping[str, Any]], *, timeout: float | None = None
    ) -> dict[str, list[Any]]:
        """SendMessageBatch: up to 10 entries, each ``{"id", "body", "attributes", "delay",
        "group_id", "deduplication_id"}``.

        As SQS does, a malformed request is refused whole, before anything is stored
        (PayloadError naming the entry: not a list of 1-10 mappings, an unknown field, an id
        that is not 1-80 letters, digits, '-' or '_' or not distinct, no body, a body or
        attributes that cannot be encoded), while what SQS judges per message (an empty body,
        a Number attribute that is not a number, FIFO fields, sizes) fails that entry alone,
        in ``Failed``.

        ``timeout``: at the queue's ``max_pending``, how long to wait for room (None: as long
        as needed; 0: not at all) before raising :class:`~eventmesh.BackpressureError` having
        stored nothing. A batch goes in whole once the queue is under its limit.
        """
        if timeout is not None:
            timeout = check_timeout(timeout)
        check_entries(entries, "entries", 1, 10, call="SendMessageBatch")
        ids: list[str] = []
        bodies: list[bytes] = []
        for index, entry in enumerate(entries):
            where = f"entries[{index}]"
            unknown = set(entry) - _BATCH_FIELDS
            if unknown:
                raise PayloadError(
                    f"{where}: unknown field(s) {', '.join(sorted(unknown))} (an entry has "
                    f"{', '.join(sorted(_BATCH_FIELDS))})"
                )
            entry_id = entry.get("id", str(index))
            if not isinstance(entry_id, str) or not _BATCH_ID.fullmatch(entry_id):
                raise PayloadError(
                    f"{where}.id: {entry_id!r} is not 1-80 letters, digits, '-' or '_' "
                    "(InvalidBatchEntryId)"
                )
            ids.append(entry_id)
            bodies.append(_body_bytes(entry.get("body"), f"{where}.body"))
            attributes = entry.get("attributes")
            if attributes is not None:
                check_mapping(attributes, f"{where}.attributes", what="attribute values")
        if len(set(ids)) != len(ids):
            raise PayloadError("entries: ids must be distinct (BatchEntryIdsNotDistinct)")
        successful: list[dict[str, str]] = []
        failed: list[dict[str, Any]] = []
        limit = self.limit
        if not limit.try_acquire():
            await limit.acquire(timeout)  # held for the batch: its entries then never wait
        try:
            with delivery_mode(OVERFLOW):
                for entry_id, entry, data in zip(ids, entries, bodies, strict=True):
                    try:
                        message_id = await self.send(
                            data,
                            entry.get("attributes"),
                            delay=entry.get("delay"),
                            group_id=entry.get("group_id"),
                            deduplication_id=entry.get("deduplication_id"),
                        )
                    except (PayloadError, ConfigurationError) as exc:
                        failed.append(
                            {"Id": entry_id, "Code": type(exc).__name__, "Message": str(exc),
                             "SenderFault": True}
                        )  # fmt: skip
                    else:
                        successful.append(
                            {"Id": entry_id, "MessageId": message_id,
                             "MD5OfMessageBody": _md5(data)}
                        )  # fmt: skip
        finally:
            limit.release()
        return {"Successful": successful, "Failed": failed}

    def _prepare(
        self,
        body: Any,
        attributes: Mapping[str, Any] | None,
        delay: float | None,
        group_id: str | None,
        deduplication_id: str | None,
    ) -> tuple[OutgoingMessage, str | None]:
        data = _body_bytes(body)
        # Skip the character scan where it cannot find anything: orjson's ASCII output has
        # every control character escaped, and printable text has no control character nor
        # U+FFFE/U+FFFF (unassigned, so not printable).
        if isinstance(body, str):
            if not body or not body.isprintable():
                _check_body(data)
        elif isinstance(body, bytes | bytearray) or not data.isascii():
            _check_body(data)
        size = len(data)
        stored: dict[str, str] = {}
        if attributes is not None and (encoded_map := encode_message_attributes(attributes)):
            encoded = orjson.dumps(encoded_map)
            size += len(encoded)
            stored[_ATTRIBUTES] = encoded.decode()
        if size > MAX_MESSAGE_BYTES:
            raise PayloadError(f"message of {size} bytes is over SQS's 1 MiB limit")
        if self.context.telemetry.tracing:
            propagate.inject(stored)
        dedup_key = None
        if self.fifo:
            if delay is not None:
                raise ConfigurationError("FIFO queues take no per-message delay")
            if not group_id:
                raise PayloadError(f"FIFO queue {self.name!r} needs a group_id per message")
            _check_fifo_id(group_id, "group_id")
            if deduplication_id is not None:
                _check_fifo_id(deduplication_id, "deduplication_id")
            else:
                if not self.content_based_deduplication:
                    raise PayloadError(
                        f"FIFO queue {self.name!r} needs a deduplication_id (or "
                        "content_based_deduplication=True)"
                    )
                deduplication_id = hashlib.sha256(data).hexdigest()
            stored[_DEDUPLICATION] = deduplication_id
            stored[_SEQUENCE] = self._next_sequence()
            dedup_key = f"sqs-dedup/{self.name}/{deduplication_id}"
        elif group_id is not None or deduplication_id is not None:
            raise ConfigurationError("group_id and deduplication_id are for FIFO queues")
        wait = self.delay
        if delay is not None:
            _check("delay", delay, 0, 900)
            wait = delay
        return OutgoingMessage(data, stored or _NO_ATTRIBUTES, wait, group_id), dedup_key

    @staticmethod
    def _trace_context() -> Mapping[str, str]:
        """The attributes a traced send stores: the producer's trace context."""
        stored: dict[str, str] = {}
        propagate.inject(stored)
        return stored

    # -- consuming ---------------------------------------------------------------------------
    async def receive(
        self,
        max_messages: int = 1,
        wait: float = 0.0,
        visibility_timeout: float | None = None,
    ) -> list[Message]:
        """ReceiveMessage: up to ``max_messages`` (1-10), long-polling up to ``wait`` s (0-20)."""
        _check("max_messages", max_messages, 1, 10)
        _check("wait", wait, 0, 20)
        visibility = self.visibility_timeout if visibility_timeout is None else visibility_timeout
        _check("visibility_timeout", visibility, 0, 43200)
        return await self.take(max_messages, wait, visibility)

    async def take(self, max_messages: int, wait: float, visibility: float) -> list[Message]:
        """Receive without the API's limits (mappings take larger batches); applies redrive
        and retention before anything is delivered (see :meth:`_receive`)."""
        return [self._message(d) for d in await self._receive(max_messages, wait, visibility)]

    async def take_records(
        self, max_messages: int, wait: float, visibility: float
    ) -> ReceivedRecords:
        """:meth:`take`, as the records of the event Lambda receives from SQS (what
        :meth:`Message.to_record` gives), built straight from the store's deliveries."""
        received = ReceivedRecords()
        immediate = self._immediate
        if immediate is not None:
            # What _receive does, without its coroutines while messages are there: the store
            # takes them at once; only an empty queue makes this wait.
            redrive = None if self.max_receive_count is None else self._redrive_policy()
            deliveries = immediate.receive_now(self.name, max_messages, visibility, redrive)
            if not deliveries:
                if wait <= 0:
                    return received
                # Found empty just now: the store waits first, not taking again before.
                deadline = self.context.clock.now() + wait
                deliveries = await immediate.receive_after_empty(
                    self.name, max_messages, visibility, wait, redrive
                )
                if not deliveries:
                    return received  # the wait ended, or the store closed
                wait = max(0.0, deadline - self.context.clock.now())
            # The checks of _all_admitted are made as the records are built: a delivery that
            # does not go out as it is (rare) has them all built again, the general way.
            if self._records(deliveries, received, admitting=True):
                return received
            received = ReceivedRecords()
            deliveries = [d for d in deliveries if await self._admit(d)]
            if deliveries:
                self._records(deliveries, received)
                return received
            if wait <= 0:
                return received  # none went out and the wait is over: no take after it
        deliveries = await self._receive(max_messages, wait, visibility)
        if deliveries:
            self._records(deliveries, received)
        return received

    async def _receive(self, max_messages: int, wait: float, visibility: float) -> list[Delivery]:
        """Deliveries to hand out: expired ones are dropped and those past the maximum
        receive count moved to the dead-letter queue first.

        A store that redrives in its receive is given the policy and moves a message to the
        dead-letter queue in the same atomic step; another one's deliveries past the count
        are moved here, in two steps (see :class:`~eventmesh.backends.RedrivingQueueStore`).
        """
        clock = self.context.clock
        deadline = clock.now() + wait
        store = self._store
        redriving = store if redrives_in_receive(store) else None
        redrive = self._redrive_policy() if redriving is not None else None
        while True:
            remaining = max(0.0, deadline - clock.now())
            if redriving is not None and redrive is not None:
                deliveries = await redriving.receive(
                    self.name, max_messages, visibility, wait=remaining, redrive=redrive
                )
            else:
                deliveries = await store.receive(
                    self.name, max_messages, visibility, wait=remaining
                )
            if self._all_admitted(deliveries):
                return deliveries
            admitted = [d for d in deliveries if await self._admit(d)]
            if admitted or clock.now() >= deadline:
                return admitted

    def _all_admitted(self, deliveries: list[Delivery]) -> bool:
        """Whether every delivery goes out as it is (the common case, checked without a
        coroutine per delivery): none moved, expired, past the receive count, or redriven
        before (whose retention counts from its first send)."""
        now = self.context.clock.time()
        retention = self.retention
        most = self.max_receive_count
        for delivery in deliveries:
            if (
                delivery.dead_lettered
                or now - delivery.sent_at > retention
                or (most is not None and delivery.receive_count > most)
                or _FIRST_SENT in delivery.attributes
            ):
                return False
        return True

    def _redrive_policy(self) -> Redrive | None:
        if self.max_receive_count is None:
            return None
        return Redrive(self._dead_letter_queue().name, self.max_receive_count)

    async def _admit(self, delivery: Delivery) -> bool:
        """Whether a delivery goes out: not when it expired or moved to the dead letters."""
        if delivery.dead_lettered:  # moved by the store: the count moves with it
            self._dead_letter_queue().limit.add()  # over its limit if need be, as below
            self.limit.release()
            return False
        now = self.context.clock.time()
        first_sent = delivery.attributes.get(_FIRST_SENT)
        sent_at = delivery.sent_at if first_sent is None else float(first_sent)
        if now - sent_at > self.retention:
            self.limit.release(await self._store.delete(self.name, [delivery.receipt]))
            return False
        if self.max_receive_count is not None and delivery.receive_count > self.max_receive_count:
            await self._redrive(delivery)
            return False
        return True

    async def _redrive(self, delivery: Delivery) -> None:
        dead_letter = self._dead_letter_queue()
        # The dead-letter queue counts retention from the first enqueue, as SQS does.
        attributes = {_FIRST_SENT: repr(delivery.sent_at), **delivery.attributes}
        outgoing = OutgoingMessage(delivery.body, attributes, 0.0, delivery.group_id)
        dead_letter.limit.add()  # over its limit if need be: refusing would lose the message
        await self._store.send(dead_letter.name, [outgoing])
        self.limit.release(await self._store.delete(self.name, [delivery.receipt]))

    def _message(self, delivery: Delivery) -> Message:
        stored = delivery.attributes
        system = {
            "ApproximateReceiveCount": str(delivery.receive_count),
            "SentTimestamp": str(int(float(stored.get(_FIRST_SENT, delivery.sent_at)) * 1000)),
            "SenderId": _SENDER_ID,
            "ApproximateFirstReceiveTimestamp": str(int(delivery.first_received_at * 1000)),
        }
        if self.fifo:
            system["SequenceNumber"] = stored.get(_SEQUENCE, "")
            system["MessageGroupId"] = delivery.group_id or ""
            system["MessageDeduplicationId"] = stored.get(_DEDUPLICATION, "")
        encoded = orjson.loads(stored[_ATTRIBUTES]) if _ATTRIBUTES in stored else {}
        trace = {key: stored[key] for key in _TRACE_KEYS if key in stored}
        return Message(
            delivery.message_id,
            delivery.receipt,
            delivery.body.decode(),
            system,
            encoded,
            _md5(delivery.body),
            trace,
        )

    @bound_once
    def _record_template(self) -> dict[str, Any]:
        """A record's keys in order, with this queue's constant values (see _records)."""
        return {
            "messageId": "",
            "receiptHandle": "",
            "body": "",
            "attributes": _NO_ATTRIBUTES,
            "messageAttributes": _NO_ATTRIBUTES,
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": self.arn,
            "awsRegion": self.context.region,
        }

    def _records(
        self, deliveries: list[Delivery], into: ReceivedRecords, admitting: bool = False
    ) -> bool:
        """Deliveries as records, appended to ``into``; with ``admitting``, False (and
        ``into`` left part-filled, to be dropped) if one of them must not go out as it is
        (what :meth:`_all_admitted` checks, made here for each delivery as its record is
        built: one pass over a receive, not two).

        ``admitting`` is for deliveries of a store that redrives in its receive, given the
        policy, into an empty ``into``: none past the maximum receive count can be among them
        (the store moved it, and says so with ``dead_lettered`` and no receipt), so only
        that and the retention are checked.

        A message stored without attributes (no message attributes, trace context, FIFO
        fields or first-sent time: the common case) has its record built here in one step,
        its first-receive time formatted once for all those a receive took at once; any
        other goes through :meth:`_message` and :meth:`Message.to_record`. Both give the
        same record, as a test checks.
        """
        template = self._record_template
        arn, region = template["eventSourceARN"], template["awsRegion"]
        fifo = self.fifo
        records, receipts = into.records, into.receipts
        most = into.most_receives
        # Admission's retention, on the clock read once; without ``admitting`` nothing expires.
        now = self.context.clock.time()
        retention = self.retention if admitting else math.inf
        size = 0
        plain = 0  # records without a trace context, whose ``traces`` are added at the end
        first_at = -1.0
        first_text = ""
        sent_ms = -1
        sent_text = ""
        shown_count = -1
        # Records are copies of a template (a dict's copy clones its table: a third of the
        # cost of building nine entries), as are their attributes: one template for a run
        # of messages with the same receive count, sent and first-receive times.
        shown: dict[str, str] = {}
        copy = dict.copy
        recent = False  # whether the run's sent time is well within the retention
        for delivery in deliveries:
            receipts.append(delivery.receipt)
            body = delivery.body
            size += len(body)
            # (The plain send's shared empty map is known by identity: no truth test.)
            if ((attributes := delivery.attributes) is not _NO_ATTRIBUTES and attributes) or fifo:
                if admitting and not self._all_admitted([delivery]):
                    return False
                if delivery.receive_count > most:
                    most = delivery.receive_count
                message = self._message(delivery)
                records.append(message.to_record(arn, region))
                if plain:  # keep ``traces`` in step with ``records``
                    into.traces += [_NO_TRACE] * plain
                    plain = 0
                into.traces.append(message.trace_context or _NO_TRACE)
                continue
            # Messages received at once share their first-receive time, and many were sent
            # in the same millisecond: each text is made once for a run of equal values.
            if delivery.first_received_at != first_at:
                first_at = delivery.first_received_at
                first_text = str(int(first_at * 1000))
                shown_count = -1
            sent_at = delivery.sent_at
            if (ms := int(sent_at * 1000)) != sent_ms:
                sent_ms = ms
                sent_text = str(ms)
                shown_count = -1
                # Sent after (ms - 1) / 1000 whichever way int() rounded: a run whose
                # millisecond is a millisecond within the retention is (float errors are
                # far smaller); one on its edge has each of its messages checked.
                recent = now - (ms - 1) / 1000 <= retention
            if not recent and now - sent_at > retention:
                return False
            if (count := delivery.receive_count) != shown_count:
                shown_count = count
                if count > most:
                    most = count
                shown = {
                    "ApproximateReceiveCount": _COUNTS[count] if count < 16 else str(count),
                    "SentTimestamp": sent_text,
                    "SenderId": _SENDER_ID,
                    "ApproximateFirstReceiveTimestamp": first_text,
                }
            record = copy(template)
            record["messageId"] = delivery.message_id
            record["receiptHandle"] = delivery.receipt
            record["body"] = body.decode()
            record["attributes"] = copy(shown)
            record["messageAttributes"] = {}
            record["md5OfBody"] = _md5_new(body).hexdigest()  # _md5 inlined
            records.append(record)
            plain += 1
        if plain:
            into.traces += [_NO_TRACE] * plain
        if admitting and "" in receipts:
            return False  # a delivery moved to the dead letters (it has no receipt)
        into.most_receives = most
        into.body_bytes += size
        return True

    async def delete(self, receipt_handle: str) -> bool:
        """DeleteMessage; False for a receipt that is no longer current."""
        deleted = await self._store.delete(self.name, [receipt_handle])
        self.limit.release(deleted)
        return deleted == 1

    def delete_now(self, receipt_handles: list[str]) -> bool:
        """:meth:`delete_batch` done before it returns, if the store deletes at once: False
        (nothing done) means "await :meth:`delete_batch`"."""
        immediate = self._immediate
        if immediate is None:
            return False
        self.limit.release(immediate.delete_now(self.name, receipt_handles))
        return True

    async def delete_batch(self, receipt_handles: Sequence[str]) -> int:
        deleted = await self._store.delete(self.name, list(receipt_handles))
        self.limit.release(deleted)
        return deleted

    async def change_visibility(self, receipt_handle: str, timeout: float) -> bool:
        """ChangeMessageVisibility: hidden for ``timeout`` s (0-43200) from now."""
        _check("timeout", timeout, 0, 43200)
        return await self._store.change_visibility(self.name, receipt_handle, timeout)

    async def stats(self) -> QueueStats:
        """Approximate numbers of visible, in-flight and delayed messages."""
        return await self._store.stats(self.name)

    async def pending(self) -> int:
        return 0  # a queue's backlog is its mappings' work, counted by them

    # -- event source ------------------------------------------------------------------------
    def subscribe(
        self,
        function: Function | str,
        *,
        batch_size: int = 10,
        batching_window: float = 0,
        report_batch_item_failures: bool = False,
        max_concurrency: int | None = None,
        filters: Sequence[Mapping[str, Any] | str] | None = None,
        enabled: bool = True,
    ) -> QueueMapping:
        """An event source mapping: poll this queue and invoke ``function`` with batches."""
        check_new_mapping(self.mappings, function, f"queue {self.name!r}", self.arn)
        mapping: QueueMapping = self.context.event_source_mapping(
            "queue",
            self,
            function,
            {
                "batch_size": batch_size,
                "batching_window": batching_window,
                "report_batch_item_failures": report_batch_item_failures,
                "max_concurrency": max_concurrency,
                "filters": filters,
                "enabled": enabled,
            },
        )
        self.mappings.append(mapping)
        return mapping


class _PlainSenders(Protocol):
    """A store with a sender bound to one queue for a message with no delay and no group
    (the memory store): what :meth:`Queue.send` calls for the common send."""

    def plain_sender(self, queue: str) -> Callable[[bytes, Mapping[str, str]], str]: ...


class _ImmediateTakes(RedrivingQueueStore, Protocol):
    """A store that receives and deletes at once (the memory store, declaring
    ``takes_now``): what :meth:`Queue.take_records` and :meth:`Queue.delete_now` call
    instead of the coroutines."""

    def receive_now(
        self, queue: str, max_messages: int, visibility_timeout: float, redrive: Redrive | None
    ) -> list[Delivery]: ...

    async def receive_after_empty(
        self,
        queue: str,
        max_messages: int,
        visibility_timeout: float,
        wait: float,
        redrive: Redrive | None,
    ) -> list[Delivery]: ...

    def delete_now(self, queue: str, receipts: Sequence[str]) -> int: ...


def _openssl_md5(data: bytes) -> Any:
    return hashlib.md5(data, usedforsecurity=False)


_md5_new: Callable[[bytes], Any]
try:  # CPython's own MD5 (HACL*): twice as fast as OpenSSL's on short bodies (no EVP setup)
    _md5_new = importlib.import_module("_md5").md5
except ImportError:  # pragma: no cover - a build without it
    _md5_new = _openssl_md5


def _md5(data: bytes) -> str:
    """The hex MD5 of a body's UTF-8 bytes (SQS's MD5OfMessageBody and ``md5OfBody``)."""
    digest: str = _md5_new(data).hexdigest()
    return digest
