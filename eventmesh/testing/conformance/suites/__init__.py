"""The conformance suites: subclass each in a ``Test*`` class to run it (see
:mod:`eventmesh.testing.conformance`). Every test reads the backend's capabilities record and
asserts what it declares."""

from eventmesh.testing.conformance.suites.backend import BackendSuite
from eventmesh.testing.conformance.suites.blob_store import BlobStoreSuite
from eventmesh.testing.conformance.suites.kv_store import KeyValueStoreSuite
from eventmesh.testing.conformance.suites.log_store import LogStoreSuite
from eventmesh.testing.conformance.suites.multi_process import MultiProcessSuite
from eventmesh.testing.conformance.suites.queue_store import QueueStoreSuite

__all__ = [
    "BackendSuite",
    "BlobStoreSuite",
    "KeyValueStoreSuite",
    "LogStoreSuite",
    "MultiProcessSuite",
    "QueueStoreSuite",
]
