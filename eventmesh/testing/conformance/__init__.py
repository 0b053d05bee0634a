"""The conformance kit: one suite every backend must pass, shipped with eventmesh.

A backend (memory and SQLite here; ``eventmesh-redis`` and the other adapters outside) runs
the same tests with its own factory and its own :class:`Capabilities` record; the suite asserts
what the record declares, so where engines differ the difference is tested, not skipped.

How an adapter uses it (its ``tests/conftest.py``)::

    import pytest
    from eventmesh.testing.conformance import BackendUnderTest, Capabilities, TimeSource

    pytest_plugins = ["eventmesh.testing.conformance.plugin"]

    REDIS = BackendUnderTest(
        "redis",
        open=lambda clock, directory: redis_backend_from_url(URL, clock),
        capabilities=Capabilities(time_source=TimeSource.SERVER_CLOCK, clock_tolerance=0.05,
                                  multi_process=True),
        url=lambda directory: URL,
    )

    @pytest.fixture(params=[REDIS], ids=lambda backend: backend.name)
    def conformance_backend(request):
        return request.param

and one test module that subclasses the suites (only ``Test*`` classes are collected)::

    from eventmesh.testing.conformance.suites import (
        BackendSuite, BlobStoreSuite, KeyValueStoreSuite, LogStoreSuite, MultiProcessSuite,
        QueueStoreSuite,
    )

    class TestBackend(BackendSuite): ...
    class TestQueueStore(QueueStoreSuite): ...
    ...

This package imports neither pytest nor any engine: an adapter may declare its record in its
own package. The suites and the plugin (:mod:`.suites`, :mod:`.plugin`) import pytest and
pytest-asyncio (``pip install eventmesh[testing]``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from eventmesh._clock import Clock
from eventmesh.backends.protocols import Backend
from eventmesh.testing.conformance.capabilities import (
    Capabilities,
    CrashRedelivery,
    Fifo,
    Store,
    TimeSource,
    Trim,
    Ttl,
)
from eventmesh.testing.conformance.timing import ServerTime, TimeDriver, VirtualTime

__all__ = [
    "BackendUnderTest",
    "Capabilities",
    "CrashRedelivery",
    "Fifo",
    "ServerTime",
    "Store",
    "TimeDriver",
    "TimeSource",
    "Trim",
    "Ttl",
    "VirtualTime",
]


@dataclass(frozen=True, slots=True)
class BackendUnderTest:
    """A backend as the suite runs it.

    ``open(clock, directory)`` builds a fresh backend for one test: on ``clock`` (a
    :class:`~eventmesh.testing.VirtualClock` for a mesh-clock backend), with ``directory`` a
    fresh directory of that test (for files); it may be a coroutine function. ``url(directory)``
    gives the storage URL under which another process opens the same store, for a backend
    declaring ``multi_process``. ``time_scale`` shortens the suite's durations for a backend
    on a server clock, which the suite waits for in real time (see
    :class:`~eventmesh.testing.conformance.ServerTime`); it must be 1 on the mesh clock.
    """

    name: str
    open: Callable[[Clock, Path], Backend | Awaitable[Backend]]
    capabilities: Capabilities
    url: Callable[[Path], str] | None = None
    time_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        if self.time_scale != 1.0 and self.capabilities.time_source is TimeSource.MESH_CLOCK:
            raise ValueError("time_scale applies to a server clock only")
