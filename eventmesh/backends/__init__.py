"""Backends: the four storage protocols, the data they carry, and how a URL picks a backend.

Resources keep and move their data through :class:`QueueStore`, :class:`LogStore`,
:class:`KeyValueStore` and :class:`BlobStore`, gathered in a :class:`Backend`. A backend is
chosen by URL scheme among those registered in the ``eventmesh.backends`` entry-point group
(:func:`open_backend`); :func:`open_storage` opens what ``Mesh(storage=...)`` accepts (a URL, a
Backend, or a per-protocol mapping). An adapter (``eventmesh-redis`` and the like) implements
the protocols, registers its factory under its scheme, and runs the conformance kit in
:mod:`eventmesh.testing.conformance` with its capabilities record.
"""

from eventmesh.backends.protocols import (
    Backend,
    BlobInfo,
    BlobStore,
    Delivery,
    ImmediateQueueStore,
    KeyValueStore,
    LogRecord,
    LogStore,
    OutgoingMessage,
    QueueStats,
    QueueStore,
    Redrive,
    RedrivingQueueStore,
    StoredValue,
    redrives_in_receive,
    sends_now,
)
from eventmesh.backends.registry import (
    ADAPTER_DISTRIBUTIONS,
    ENTRY_POINT_GROUP,
    BackendFactory,
    installed_schemes,
    open_backend,
)
from eventmesh.backends.storage import PROTOCOLS, Storage, StorageSpec, open_storage
from eventmesh.backends.urls import url_options, url_scheme

__all__ = [
    "ADAPTER_DISTRIBUTIONS",
    "ENTRY_POINT_GROUP",
    "PROTOCOLS",
    "Backend",
    "BackendFactory",
    "BlobInfo",
    "BlobStore",
    "Delivery",
    "ImmediateQueueStore",
    "KeyValueStore",
    "LogRecord",
    "LogStore",
    "OutgoingMessage",
    "QueueStats",
    "QueueStore",
    "Redrive",
    "RedrivingQueueStore",
    "Storage",
    "StorageSpec",
    "StoredValue",
    "installed_schemes",
    "open_backend",
    "open_storage",
    "redrives_in_receive",
    "sends_now",
    "url_options",
    "url_scheme",
]
