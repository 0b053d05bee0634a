"""The storage seams: small protocols that every backend implements.

A resource (queue, stream, bucket, the async invocation queue, ...) keeps and moves its data
only through these. They know nothing of Lambda: no retries, no batching, no destinations.
Bodies are bytes; attributes are opaque string maps the resource owns.

Time: the memory and SQLite backends read the mesh's clock, so a virtual clock drives their
delays and visibility timeouts; a broker enforces time with its own clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = [
    "Delivery",
    "OutgoingMessage",
    "QueueStats",
    "QueueStore",
]


@dataclass(slots=True)
class OutgoingMessage:
    """A message to send: its body, the resource's attributes, a delay, a FIFO group."""

    body: bytes
    attributes: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    group_id: str | None = None


@dataclass(slots=True)
class Delivery:
    """A received message: hidden from other receivers until deleted or its visibility ends.

    ``receipt`` identifies this receive (a later receive of the same message gets another);
    ``receive_count`` counts receives including this one; times are wall-clock epoch seconds.
    """

    message_id: str
    receipt: str
    body: bytes
    attributes: Mapping[str, str]
    receive_count: int
    sent_at: float
    first_received_at: float
    group_id: str | None = None


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

    async def close(self) -> None: ...
