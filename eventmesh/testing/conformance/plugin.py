"""The conformance kit's pytest plugin: the fixtures its suites run on.

An adapter loads it from the conftest of its conformance tests::

    pytest_plugins = ["eventmesh.testing.conformance.plugin"]

and declares a ``conformance_backend`` fixture (one :class:`BackendUnderTest` per param).

Why ``pytest_plugins`` rather than a ``pytest11`` entry point: an entry point would load this
module into every pytest session of every project that has eventmesh installed, adding fixture
names (``queue_store``, ``timing``, ...) that such a project never asked for and could shadow or
be shadowed by its own; a line in the conftest that wants the kit loads it there only. Nothing
here runs until a test requests one of these fixtures.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from eventmesh.backends.protocols import Backend, BlobStore, KeyValueStore, LogStore, QueueStore
from eventmesh.testing.conformance import (
    BackendUnderTest,
    Capabilities,
    ServerTime,
    Store,
    TimeDriver,
    TimeSource,
    VirtualTime,
)
from eventmesh.testing.conformance.multiprocess import workers

__all__ = [
    "backend",
    "blob_store",
    "capabilities",
    "conformance_backend",
    "kv_store",
    "log_store",
    "queue_store",
    "timing",
    "workers",
]


@pytest.fixture
def conformance_backend() -> BackendUnderTest:
    """Overridden by the adapter's conftest: the backend (or, by params, backends) to test."""
    raise pytest.UsageError(
        "the conformance suite needs a 'conformance_backend' fixture giving a BackendUnderTest "
        "(see eventmesh.testing.conformance)"
    )


@pytest.fixture
def capabilities(conformance_backend: BackendUnderTest) -> Capabilities:
    return conformance_backend.capabilities


@pytest.fixture
def timing(conformance_backend: BackendUnderTest, capabilities: Capabilities) -> TimeDriver:
    """A virtual clock for a mesh-clock backend; real time widened by its tolerance, and its
    durations scaled by the backend's ``time_scale``, otherwise."""
    if capabilities.time_source is TimeSource.MESH_CLOCK:
        return VirtualTime()
    return ServerTime(capabilities.clock_tolerance, scale=conformance_backend.time_scale)


@pytest_asyncio.fixture
async def backend(
    conformance_backend: BackendUnderTest, timing: TimeDriver, tmp_path: Path
) -> AsyncIterator[Backend]:
    """A fresh backend for this test, closed after it."""
    opened = conformance_backend.open(timing.clock, tmp_path)
    if inspect.isawaitable(opened):
        opened = await opened
    assert isinstance(opened, Backend), f"{conformance_backend.name}: open() gave {opened!r}"
    yield opened
    await opened.close()


def _offered(capabilities: Capabilities, store: Store) -> None:
    if store not in capabilities.protocols:
        raise pytest.UsageError(
            f"the capabilities record offers no {store.value}: do not run that suite (the "
            "refusal itself is asserted by BackendSuite)"
        )


@pytest.fixture
def queue_store(backend: Backend, capabilities: Capabilities) -> QueueStore:
    _offered(capabilities, Store.QUEUES)
    return backend.queues


@pytest.fixture
def log_store(backend: Backend, capabilities: Capabilities) -> LogStore:
    _offered(capabilities, Store.LOGS)
    return backend.logs


@pytest.fixture
def kv_store(backend: Backend, capabilities: Capabilities) -> KeyValueStore:
    _offered(capabilities, Store.VALUES)
    return backend.values


@pytest.fixture
def blob_store(backend: Backend, capabilities: Capabilities) -> BlobStore:
    _offered(capabilities, Store.BLOBS)
    return backend.blobs
