"""Backends under the shared conformance suite: every backend passes the same tests.

Each entry builds a store on a virtual clock; later backends (Redis, NATS, ...) join the
list, with their capability records where a broker's semantics differ. The SQLite entries open
a fresh database in the test's ``tmp_path`` (synchronous=NORMAL: the suite tests semantics,
not fsync); closing the store closes that database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from eventmesh.backends.memory import (
    MemoryBlobStore,
    MemoryKeyValueStore,
    MemoryLogStore,
    MemoryQueueStore,
)
from eventmesh.backends.protocols import BlobStore, KeyValueStore, LogStore, QueueStore
from eventmesh.backends.sqlite import SQLiteBackend, sqlite_backend
from eventmesh.testing import VirtualClock

_database_dir: list[Path] = []  # the running test's tmp_path, for the SQLite factories


def _sqlite(clock: VirtualClock) -> SQLiteBackend:
    return sqlite_backend(_database_dir[-1] / "conformance.db", clock, synchronous="NORMAL")


QUEUE_STORES: dict[str, Callable[[VirtualClock], QueueStore]] = {
    "memory": MemoryQueueStore,
    "sqlite": lambda clock: _sqlite(clock).queues,
}
LOG_STORES: dict[str, Callable[[VirtualClock], LogStore]] = {
    "memory": MemoryLogStore,
    "sqlite": lambda clock: _sqlite(clock).logs,
}
KV_STORES: dict[str, Callable[[VirtualClock], KeyValueStore]] = {
    "memory": MemoryKeyValueStore,
    "sqlite": lambda clock: _sqlite(clock).values,
}
BLOB_STORES: dict[str, Callable[[VirtualClock], BlobStore]] = {
    "memory": MemoryBlobStore,
    "sqlite": lambda clock: _sqlite(clock).blobs,
}


@pytest.fixture(autouse=True)
def _database_in_tmp_path(tmp_path: Path) -> Iterator[None]:
    """Give the SQLite factories (which take only a clock) this test's directory."""
    _database_dir.append(tmp_path)
    yield
    _database_dir.pop()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture(params=sorted(QUEUE_STORES))
async def queue_store(
    request: pytest.FixtureRequest, clock: VirtualClock
) -> AsyncIterator[QueueStore]:
    store = QUEUE_STORES[request.param](clock)
    yield store
    await store.close()


@pytest.fixture(params=sorted(LOG_STORES))
async def log_store(request: pytest.FixtureRequest, clock: VirtualClock) -> AsyncIterator[LogStore]:
    store = LOG_STORES[request.param](clock)
    yield store
    await store.close()


@pytest.fixture(params=sorted(KV_STORES))
async def kv_store(
    request: pytest.FixtureRequest, clock: VirtualClock
) -> AsyncIterator[KeyValueStore]:
    store = KV_STORES[request.param](clock)
    yield store
    await store.close()


@pytest.fixture(params=sorted(BLOB_STORES))
async def blob_store(
    request: pytest.FixtureRequest, clock: VirtualClock
) -> AsyncIterator[BlobStore]:
    store = BLOB_STORES[request.param](clock)
    yield store
    await store.close()
