"""The capabilities record: what a backend's engine can and cannot do, declared once.

Engines differ in ways the protocols cannot hide (see the research notes on distributed
backends, sections 6, 10 and 11): who keeps time, how soon a dead consumer's messages come
back, whether FIFO groups are exact, how long a delay may be, whether a log can be trimmed,
how finely a key expires, whether several processes may share the store. A backend declares
these in a :class:`Capabilities` record; the conformance suite reads the record and asserts
the declared behaviour, so a difference between engines is tested, never skipped.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = [
    "Capabilities",
    "CrashRedelivery",
    "Fifo",
    "Store",
    "TimeSource",
    "Trim",
    "Ttl",
]


class TimeSource(enum.Enum):
    """Who keeps the time that visibility timeouts, delays and expiries are measured on."""

    MESH_CLOCK = "mesh clock"
    """The store reads the mesh's clock (memory, SQLite): a virtual clock drives it in tests."""
    SERVER_CLOCK = "server clock"
    """The engine keeps its own time (Redis ``TIME``, JetStream, SQS): tests wait in real time
    and widen each time assertion by ``Capabilities.clock_tolerance``."""


class CrashRedelivery(enum.Enum):
    """When the messages a consumer received come back after it dies without deleting them."""

    VISIBILITY_TIMEOUT = "after the visibility timeout"
    """SQS, the Redis sorted-set design, memory and SQLite."""
    IMMEDIATE = "when the connection drops"
    """RabbitMQ requeues a dead channel's unacknowledged messages at once."""
    ACK_WAIT = "after a fixed acknowledgement wait"
    """JetStream: ``AckWait`` from the delivery (``crash_redelivery_after`` seconds)."""


class Fifo(enum.Enum):
    """How a store keeps the order of a message group (``OutgoingMessage.group_id``)."""

    EXACT = "exact"
    """One batch of a group in flight at a time; other groups go meanwhile (SQS FIFO)."""
    PARTITIONED = "partitioned"
    """Order within a group is exact, but groups hashed to one partition wait for each other
    (JetStream, RabbitMQ single active consumer): ``fifo_partitions`` partitions."""
    NONE = "none"
    """Group ids are carried but do not order or hold anything."""


class Trim(enum.Enum):
    """What ``LogStore.trim(before)`` does."""

    EXACT = "exact"
    """Removes exactly the records that arrived before ``before`` (Redis ``XTRIM MINID``)."""
    APPROXIMATE = "approximate"
    """Removes some of them (whole segments), never a record that arrived at or after it."""
    NONE = "none"
    """Refused with :class:`~eventmesh.ConfigurationError` (Kinesis keeps by retention only)."""


class Ttl(enum.Enum):
    """How a key-value store expires keys given a ``ttl``."""

    PER_KEY = "per key"
    """Each put's own ``ttl`` (Redis ``PX``; DynamoDB with the expiry filtered on read)."""
    PER_STORE = "per store"
    """One expiry for the whole store (JetStream KV before 2.11): a put's ``ttl`` must equal
    ``Capabilities.store_ttl``, any other is refused."""


class Store(enum.Enum):
    """One of the four storage protocols, named as a Backend attribute."""

    QUEUES = "queues"
    LOGS = "logs"
    VALUES = "values"
    BLOBS = "blobs"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What one backend can do; the conformance suite asserts exactly this.

    The defaults describe the in-memory backend: every protocol, the mesh's clock, exact FIFO,
    exact trims, per-key expiry to the microsecond, one process; all but
    ``redrive_in_receive``, False so that a record written before it existed stays true.
    """

    time_source: TimeSource = TimeSource.MESH_CLOCK
    clock_tolerance: float = 0.0
    """Seconds by which a server clock's deadlines may differ from the test's wall clock
    (network round trips, timer granularity); 0 on the mesh clock."""
    crash_redelivery: CrashRedelivery = CrashRedelivery.VISIBILITY_TIMEOUT
    crash_redelivery_after: float | None = None
    """Seconds after the delivery, for ``CrashRedelivery.ACK_WAIT``."""
    fifo: Fifo = Fifo.EXACT
    fifo_partitions: int | None = None
    """For ``Fifo.PARTITIONED``: how many partitions groups are hashed into."""
    max_delay: float | None = None
    """The longest ``OutgoingMessage.delay`` accepted (SQS: 900); None for no limit. A longer
    one is refused with :class:`~eventmesh.ConfigurationError`, never shortened."""
    dedup_window: float | None = None
    """Seconds within which a repeated deduplication id stores nothing; None when the store
    does not deduplicate. The protocols carry no deduplication id yet: the suite asserts it
    (T6) once ``OutgoingMessage`` does."""
    trim: Trim = Trim.EXACT
    ttl: Ttl = Ttl.PER_KEY
    store_ttl: float | None = None
    """For ``Ttl.PER_STORE``: the one expiry every key gets."""
    ttl_resolution: float = 0.0
    """Seconds by which a key may outlive its ``ttl`` (an engine counting whole seconds: 1)."""
    multi_process: bool = False
    """Several processes may open the same store (from the same URL) and share its contents."""
    stale_receipts_rejected: bool = True
    """A receipt from an earlier receive of a message deletes and extends nothing (moto's SQS
    accepts them: False)."""
    receipts_cross_processes: bool = True
    """A receipt may be used by another process than the receiver (RabbitMQ: False). Read by
    the multi-process tests (T8, T10 of the notes), which the Redis adapter's issue adds."""
    exact_stats: bool = True
    """``QueueStore.stats`` counts exactly; False where the engine only approximates (SQS).
    Read by the stats tests under concurrency (T9), which come with the first such engine."""
    redrive_in_receive: bool = False
    """The queue store declares ``redrives_in_receive`` and moves a message past its
    :class:`~eventmesh.backends.Redrive` maximum to the dead-letter queue within the receive
    (memory, SQLite, Redis). False: the queue resource redrives in two steps."""
    protocols: frozenset[Store] = field(default_factory=lambda: frozenset(Store))
    """The protocols offered; the others are refused when the backend is opened."""

    def __post_init__(self) -> None:
        if self.time_source is TimeSource.MESH_CLOCK and self.clock_tolerance:
            raise ValueError("clock_tolerance applies to a server clock only")
        if self.clock_tolerance < 0 or self.ttl_resolution < 0:
            raise ValueError("clock_tolerance and ttl_resolution are >= 0")
        if (self.crash_redelivery is CrashRedelivery.ACK_WAIT) != (
            self.crash_redelivery_after is not None
        ):
            raise ValueError("crash_redelivery_after is given exactly for ACK_WAIT")
        if (self.fifo is Fifo.PARTITIONED) != (self.fifo_partitions is not None):
            raise ValueError("fifo_partitions is given exactly for Fifo.PARTITIONED")
        if (self.ttl is Ttl.PER_STORE) != (self.store_ttl is not None):
            raise ValueError("store_ttl is given exactly for Ttl.PER_STORE")
