"""Backends under the shared conformance suite: every backend passes the same tests.

Each entry builds a store on a virtual clock; later backends (SQLite, Redis, NATS, ...) join
the list, with their capability records where a broker's semantics differ.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from eventmesh.backends.memory import (
    MemoryBlobStore,
    MemoryKeyValueStore,
    MemoryLogStore,
    MemoryQueueStore,
)
from eventmesh.backends.protocols import BlobStore, KeyValueStore, LogStore, QueueStore
from eventmesh.testing import VirtualClock

QUEUE_STORES: dict[str, Callable[[VirtualClock], QueueStore]] = {
    "memory": MemoryQueueStore,
}
LOG_STORES: dict[str, Callable[[VirtualClock], LogStore]] = {
    "memory": MemoryLogStore,
}
KV_STORES: dict[str, Callable[[VirtualClock], KeyValueStore]] = {
    "memory": MemoryKeyValueStore,
}
BLOB_STORES: dict[str, Callable[[VirtualClock], BlobStore]] = {
    "memory": MemoryBlobStore,
}


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
