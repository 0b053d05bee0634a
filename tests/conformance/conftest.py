"""Memory and SQLite under the shipped conformance kit, each with its capabilities record.

Both take time from the mesh's clock, so the kit drives them with a virtual clock. The SQLite
backend opens a fresh database in the test's directory (synchronous=NORMAL: the suite tests
semantics, not fsync) and, being a file, may be shared by several processes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eventmesh import Clock
from eventmesh.backends import Backend
from eventmesh.backends.memory import memory_backend
from eventmesh.backends.sqlite import sqlite_backend
from eventmesh.testing.conformance import BackendUnderTest, Capabilities

# The kit's plugin is loaded by tests/conftest.py (pytest_plugins belongs to the top level).


def _memory(clock: Clock, directory: Path) -> Backend:
    return memory_backend(clock)


def _sqlite(clock: Clock, directory: Path) -> Backend:
    return sqlite_backend(directory / "conformance.db", clock, synchronous="NORMAL")


MEMORY = BackendUnderTest("memory", _memory, Capabilities(redrive_in_receive=True))
SQLITE = BackendUnderTest(
    "sqlite",
    _sqlite,
    Capabilities(multi_process=True, redrive_in_receive=True),
    url=lambda directory: f"sqlite:///{directory / 'conformance.db'}",
)


@pytest.fixture(params=[MEMORY, SQLITE], ids=lambda backend: backend.name)
def conformance_backend(request: pytest.FixtureRequest) -> BackendUnderTest:
    backend: BackendUnderTest = request.param
    return backend
