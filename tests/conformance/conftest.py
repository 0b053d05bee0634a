"""Backends under the shared conformance suite: every backend passes the same tests.

Each entry builds a store on a virtual clock; later backends (SQLite, Redis, NATS, ...) join
the list, with their capability records where a broker's semantics differ.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from eventmesh.backends.memory import MemoryQueueStore
from eventmesh.backends.protocols import QueueStore
from eventmesh.testing import VirtualClock

QUEUE_STORES: dict[str, Callable[[VirtualClock], QueueStore]] = {
    "memory": MemoryQueueStore,
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
