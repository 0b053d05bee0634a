"""The shipped conformance suites, run on memory and SQLite (declared in the conftest)."""

from __future__ import annotations

from eventmesh.testing.conformance.suites import (
    BackendSuite,
    BlobStoreSuite,
    KeyValueStoreSuite,
    LogStoreSuite,
    MultiProcessSuite,
    QueueStoreSuite,
)


class TestBackend(BackendSuite):
    pass


class TestQueueStore(QueueStoreSuite):
    pass


class TestLogStore(LogStoreSuite):
    pass


class TestKeyValueStore(KeyValueStoreSuite):
    pass


class TestBlobStore(BlobStoreSuite):
    pass


class TestMultiProcess(MultiProcessSuite):
    pass
