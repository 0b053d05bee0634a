"""The backend builders: each gives the four stores, on the mesh's clock."""

from __future__ import annotations

from pathlib import Path

from eventmesh.backends.memory import memory_backend
from eventmesh.backends.protocols import (
    Backend,
    BlobStore,
    KeyValueStore,
    LogStore,
    OutgoingMessage,
    QueueStore,
)
from eventmesh.backends.sqlite import sqlite_backend
from eventmesh.testing import VirtualClock

T0 = 1_767_225_600.0  # the conformance clock's wall time at the start of each test


async def uses_the_clock(backend: Backend, clock: VirtualClock) -> None:
    """Every store reads ``clock``: a delay, an arrival, an expiry and a modification time."""
    assert isinstance(backend.queues, QueueStore)
    assert isinstance(backend.logs, LogStore)
    assert isinstance(backend.values, KeyValueStore)
    assert isinstance(backend.blobs, BlobStore)
    await clock.advance(7)
    await backend.queues.send("q", [OutgoingMessage(b"m", delay=10)])
    (record,) = await backend.logs.append("s", "0", [(b"r", "pk", {})])
    await backend.values.put("k", b"v", ttl=10)
    info = await backend.blobs.put("b", "key", b"x")
    assert (record.arrival, info.last_modified) == (T0 + 7, T0 + 7)
    assert await backend.queues.receive("q", 10, 30) == []
    await clock.advance(10)
    assert [d.body for d in await backend.queues.receive("q", 10, 30)] == [b"m"]
    assert await backend.values.get("k") is None


async def test_the_memory_backend_keeps_everything_in_this_process() -> None:
    """``in_memory`` is what makes the mesh bound queues and logs with ``max_pending``."""
    clock = VirtualClock()
    backend = memory_backend(clock)
    assert backend.in_memory is True
    await uses_the_clock(backend, clock)
    await backend.close()


async def test_the_sqlite_backend_is_not_in_memory(tmp_path: Path) -> None:
    clock = VirtualClock()
    backend = sqlite_backend(tmp_path / "mesh.db", clock, synchronous="NORMAL")
    assert backend.in_memory is False
    await uses_the_clock(backend, clock)
    await backend.close()
