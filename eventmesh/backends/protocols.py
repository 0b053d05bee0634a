"""The storage seams: small protocols that every backend implements.

A resource (queue, stream, bucket, the async invocation queue, ...) keeps and moves its data
only through these. They know nothing of Lambda: no retries, no batching, no destinations.
Bodies are bytes; attributes are opaque string maps the resource owns.

Attributes are typed ``Mapping[str, str]`` and are exactly that: any mapping, not necessarily
a dict. A resource often gives a read-only one (a ``MappingProxyType``; one empty map shared by
every message without attributes), which a JSON encoder may refuse: a store that encodes or
copies them converts first (``dict(attributes)``). A store never mutates the attributes it is
given; the resource does not change them after the call either, so a store in this process may
keep them as given. Attributes a store hands back (``Delivery.attributes``,
``LogRecord.attributes``) are read by the resource and may reach user code: they must be
read-only or each record's own, never one mutable map shared by several. The conformance kit
sends attributes of a class that has nothing beyond ``Mapping`` and checks both.

Time: the memory and SQLite backends read the mesh's clock, so a virtual clock drives their
delays and visibility timeouts; a broker enforces time with its own clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeGuard, runtime_checkable

__all__ = [
    "Backend",
    "BlobInfo",
    "BlobStore",
    "Delivery",
    "ImmediateKeyValueStore",
    "ImmediateLogStore",
    "ImmediateQueueStore",
    "KeyValueStore",
    "ListeningLogStore",
    "LogRecord",
    "LogStore",
    "OutgoingMessage",
    "QueueStats",
    "QueueStore",
    "Redrive",
    "RedrivingQueueStore",
    "StoredValue",
    "appends_now",
    "listens",
    "puts_now",
    "redrives_in_receive",
    "sends_now",
]


@dataclass(slots=True)
class OutgoingMessage:
    """A message to send: its body, the resource's attributes, a delay, a FIFO group.

    ``attributes`` may be any mapping, read-only and shared by several messages (see the
    module's docstring): a store converts it (``dict(attributes)``) before encoding it."""

    body: bytes
    attributes: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    group_id: str | None = None


@dataclass(slots=True)
class Delivery:
    """A received message: hidden from other receivers until deleted or its visibility ends.

    ``receipt`` identifies this receive (a later receive of the same message gets another);
    ``receive_count`` counts receives including this one; times are wall-clock epoch seconds.

    ``dead_lettered``: this receive moved the message to the dead-letter queue of its
    :class:`Redrive` instead of delivering it; it has no receipt (``""``), and its
    ``receive_count`` is the count that exceeded the maximum.
    """

    message_id: str
    receipt: str
    body: bytes
    attributes: Mapping[str, str]
    receive_count: int
    sent_at: float
    first_received_at: float
    group_id: str | None = None
    dead_lettered: bool = False


@dataclass(slots=True, frozen=True)
class Redrive:
    """A queue's redrive policy, for a store that applies it within the receive.

    A message whose receive count would exceed ``max_receive_count`` is moved to the queue
    ``dead_letter`` (of the same store) by the receive itself, in the same atomic step: it
    keeps its message id, body, attributes, group and sent time, and starts there with no
    receives, visible, after the dead-letter queue's other messages.
    """

    dead_letter: str
    max_receive_count: int


@dataclass(slots=True, frozen=True)
class QueueStats:
    visible: int
    in_flight: int
    delayed: int

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed


@runtime_checkable
class QueueStore(Protocol):
    """Queues with delays, visibility timeouts and receive counts (SQS-like storage).

    A message of a FIFO group is not delivered while an earlier message of the same group
    is in flight, so per-group order holds across receivers.
    """

    async def send(self, queue: str, messages: Sequence[OutgoingMessage]) -> list[str]:
        """Store messages; returns their ids in order."""
        ...

    async def receive(
        self, queue: str, max_messages: int, visibility_timeout: float, wait: float = 0.0
    ) -> list[Delivery]:
        """Up to ``max_messages`` visible messages, waiting up to ``wait`` s for the first."""
        ...

    async def delete(self, queue: str, receipts: Sequence[str]) -> int:
        """Remove received messages; a stale receipt deletes nothing. Returns how many."""
        ...

    async def change_visibility(self, queue: str, receipt: str, timeout: float) -> bool:
        """Hide an in-flight message for ``timeout`` s from now (0 returns it at once)."""
        ...

    async def stats(self, queue: str) -> QueueStats: ...

    async def purge(self, queue: str, sent_before: float) -> int:
        """Remove every message sent before ``sent_before`` (wall time), in flight or not;
        returns how many. A queue's retention is this, run now and then."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class RedrivingQueueStore(QueueStore, Protocol):
    """A QueueStore that redrives inside ``receive``, declared by ``redrives_in_receive``.

    Given a :class:`Redrive`, a receive moves each message it takes whose receive count
    would exceed the maximum to the dead-letter queue in the same atomic step (one script,
    one transaction), and returns it flagged ``dead_lettered`` (it counts towards
    ``max_messages``); a FIFO group it belonged to is left free, as by a delete. A process
    that dies at any moment leaves the message in exactly one of the two queues.

    A store without the attribute (or with it False) is redriven by the queue resource in
    two steps, a send to the dead-letter queue then a delete, which a crash between them
    turns into a duplicate in the dead-letter queue.
    """

    redrives_in_receive: bool

    async def receive(
        self,
        queue: str,
        max_messages: int,
        visibility_timeout: float,
        wait: float = 0.0,
        redrive: Redrive | None = None,
    ) -> list[Delivery]: ...


def redrives_in_receive(store: QueueStore) -> TypeGuard[RedrivingQueueStore]:
    """Whether ``store`` declares that its ``receive`` applies a :class:`Redrive`."""
    return getattr(store, "redrives_in_receive", False) is True


@runtime_checkable
class ImmediateQueueStore(QueueStore, Protocol):
    """A QueueStore that keeps its messages in this process, and so can store one at once:
    ``send_now(queue, body, attributes, delay, group_id)`` is ``send`` of that one message
    done before it returns, without a coroutine (nor an OutgoingMessage), and returns the
    message's id. Declared by ``sends_now`` being True.

    A producer on the hot path calls it instead of ``send``; a store that cannot (one that
    does I/O) leaves ``sends_now`` out. A store whose ``send`` is overridden (a subclass that
    records or fails calls) should not declare it, so that every send goes through ``send``.
    """

    sends_now: bool

    def send_now(
        self,
        queue: str,
        body: bytes,
        attributes: Mapping[str, str],
        delay: float = 0.0,
        group_id: str | None = None,
    ) -> str: ...


def sends_now(store: QueueStore) -> TypeGuard[ImmediateQueueStore]:
    """Whether ``store`` declares that ``send_now`` stores a message at once."""
    return getattr(store, "sends_now", False) is True


@dataclass(slots=True)  # not frozen: made per record, and frozen costs ~1 µs
class LogRecord:
    """A record of a shard's log: ``sequence`` increases within the shard, from 1."""

    sequence: int
    data: bytes
    partition_key: str
    arrival: float
    attributes: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class LogStore(Protocol):
    """Append-only logs, one per (stream, shard), read by position (Kinesis-like storage).

    Records are never removed by reading; ``trim`` removes old ones.
    """

    async def append(
        self,
        stream: str,
        shard: str,
        records: Sequence[tuple[bytes, str, Mapping[str, str]]],
    ) -> list[LogRecord]:
        """Append ``(data, partition_key, attributes)`` records; returns them as stored."""
        ...

    async def read(
        self, stream: str, shard: str, after: int, limit: int, wait: float = 0.0
    ) -> list[LogRecord]:
        """Up to ``limit`` records with sequence > ``after`` (0 reads from the oldest kept),
        waiting up to ``wait`` seconds for the first one."""
        ...

    async def bounds(self, stream: str, shard: str) -> tuple[int, int]:
        """``(oldest kept sequence - 1, newest sequence)``; ``(n, n)`` when empty."""
        ...

    async def sequence_at(self, stream: str, shard: str, timestamp: float) -> int:
        """The sequence just before the first record that arrived at or after ``timestamp``."""
        ...

    async def trim(self, stream: str, shard: str, before: float) -> int:
        """Remove records that arrived before ``before`` (wall time); returns how many."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class ImmediateLogStore(LogStore, Protocol):
    """A LogStore that keeps its logs in this process, and so can append one record at once:
    ``append_now(stream, shard, data, partition_key, attributes)`` is ``append`` of that one
    record done before it returns, without a coroutine (nor a list), and returns the record's
    sequence and arrival as stored. Declared by ``appends_now`` being True.

    A producer on the hot path calls it instead of ``append``; a store that cannot (one that
    does I/O) leaves ``appends_now`` out. A store whose ``append`` is overridden (a subclass
    that records or fails calls) should not declare it, so that every append goes through
    ``append``.
    """

    appends_now: bool

    def append_now(
        self,
        stream: str,
        shard: str,
        data: bytes,
        partition_key: str,
        attributes: Mapping[str, str],
    ) -> tuple[int, float]: ...

    def appender(
        self, stream: str, shard: str
    ) -> Callable[[bytes, str, Mapping[str, str]], tuple[int, float]]:
        """``append_now`` bound to one shard: ``appender(stream, shard)(data, partition_key,
        attributes)``."""
        ...


def appends_now(store: LogStore) -> TypeGuard[ImmediateLogStore]:
    """Whether ``store`` declares that ``append_now`` appends a record at once."""
    return getattr(store, "appends_now", False) is True


@runtime_checkable
class ListeningLogStore(LogStore, Protocol):
    """A LogStore in this process that can resolve a future at the next append to a shard
    (or at ``close``), with no timer: ``listen(stream, shard, future)``, undone by
    ``unlisten``. A consumer busy with something else is told that records came without a
    task of its own waiting in ``read``. Declared by ``listens`` being True; a store whose
    ``read`` is overridden (a subclass that records or fails reads) should not declare it,
    as a consumer that listens reads without waiting. ``read_now(stream, shard, after,
    limit)`` is ``read`` without waiting, done before it returns (no coroutine)."""

    listens: bool

    def listen(self, stream: str, shard: str, future: asyncio.Future[None]) -> None: ...

    def unlisten(self, stream: str, shard: str, future: asyncio.Future[None]) -> None: ...

    def read_now(self, stream: str, shard: str, after: int, limit: int) -> list[LogRecord]: ...


def listens(store: LogStore) -> TypeGuard[ListeningLogStore]:
    """Whether ``store`` declares ``listen`` (see ListeningLogStore)."""
    return getattr(store, "listens", False) is True


@dataclass(slots=True, frozen=True)
class StoredValue:
    """A value with its version (increasing per key) and expiry (wall time, or None)."""

    value: bytes
    version: int
    expires_at: float | None = None


@runtime_checkable
class KeyValueStore(Protocol):
    """Keys with versions, expiry and conditional writes (idempotency, leases, checkpoints)."""

    async def get(self, key: str) -> StoredValue | None:
        """The live value, or None (an expired value is absent)."""
        ...

    async def put(
        self,
        key: str,
        value: bytes,
        *,
        ttl: float | None = None,
        only_if_absent: bool = False,
        only_if_version: int | None = None,
    ) -> int | None:
        """Write; returns the new version, or None when the condition did not hold.

        ``only_if_absent``: no live value exists. ``only_if_version``: the live value has
        exactly that version.
        """
        ...

    async def delete(self, key: str, *, only_if_version: int | None = None) -> bool:
        """Remove the key; False when it was absent or the condition did not hold."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class ImmediateKeyValueStore(KeyValueStore, Protocol):
    """A KeyValueStore in this process: ``put_now`` is ``put`` done before it returns, with
    no coroutine (a checkpoint written once per batch on the hot path). Declared by
    ``puts_now`` being True; a store whose ``put`` is overridden (a subclass that records or
    fails writes) should not declare it, so that every write goes through ``put``."""

    puts_now: bool

    def put_now(
        self,
        key: str,
        value: bytes,
        *,
        ttl: float | None = None,
        only_if_absent: bool = False,
        only_if_version: int | None = None,
    ) -> int | None: ...


def puts_now(store: KeyValueStore) -> TypeGuard[ImmediateKeyValueStore]:
    """Whether ``store`` declares that ``put_now`` writes at once."""
    return getattr(store, "puts_now", False) is True


@dataclass(slots=True, frozen=True)
class BlobInfo:
    """An object's description: ``etag`` is the hex MD5 of its bytes."""

    key: str
    size: int
    etag: str
    last_modified: float
    metadata: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/octet-stream"


@runtime_checkable
class BlobStore(Protocol):
    """Objects by bucket and key (S3-like storage)."""

    async def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        metadata: Mapping[str, str] | None = None,
        content_type: str = "application/octet-stream",
    ) -> BlobInfo: ...

    async def get(self, bucket: str, key: str) -> tuple[bytes, BlobInfo] | None: ...

    async def head(self, bucket: str, key: str) -> BlobInfo | None: ...

    async def delete(self, bucket: str, key: str) -> bool:
        """False when there was no such object."""
        ...

    async def list(
        self, bucket: str, prefix: str = "", start_after: str = "", limit: int = 1000
    ) -> list[BlobInfo]:
        """Objects whose key starts with ``prefix``, after ``start_after``, in key order."""
        ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class Backend:
    """The four stores a mesh runs on; each backend module builds one.

    ``in_memory``: the queues and logs live in this process's memory, so the mesh bounds
    them with its ``max_pending`` limits (a durable store keeps them on disk, where other
    processes may consume them, which a count kept by this process cannot see).
    """

    queues: QueueStore
    logs: LogStore
    values: KeyValueStore
    blobs: BlobStore
    in_memory: bool = False

    async def check(self) -> None:
        """Raise when the backend cannot serve for a reason a store's answers do not show
        (the readiness check calls it after a write to the key-value store); by default
        there is none."""

    async def close(self) -> None:
        for store in (self.queues, self.logs, self.values, self.blobs):
            await store.close()
