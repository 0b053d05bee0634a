"""Sharing one store: between two opens in this process now, between processes next.

The tests that need several OS processes (section 11 of the research notes: T8, T10, T12,
T14) belong here, written with the ``workers`` fixture of
:mod:`eventmesh.testing.conformance.multiprocess`; the Redis adapter's issue adds them.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from eventmesh.backends.protocols import Backend, OutgoingMessage
from eventmesh.testing.conformance import BackendUnderTest
from eventmesh.testing.conformance.capabilities import Capabilities
from eventmesh.testing.conformance.timing import TimeDriver


class MultiProcessSuite:
    """Stores shared as declared; subclass as ``class TestSharing(MultiProcessSuite)``."""

    async def test_a_second_open_shares_the_store_only_if_declared(
        self,
        backend: Backend,
        conformance_backend: BackendUnderTest,
        capabilities: Capabilities,
        timing: TimeDriver,
        tmp_path: Path,
    ) -> None:
        """Opened twice on the same place (what a second process does), a store shares its
        messages exactly when the record says several processes may share it."""
        opened = conformance_backend.open(timing.clock, tmp_path)
        second = await opened if inspect.isawaitable(opened) else opened
        try:
            await backend.queues.send("q", [OutgoingMessage(b"shared")])
            got = await second.queues.receive("q", 10, 30)
            assert [d.body for d in got] == ([b"shared"] if capabilities.multi_process else [])
        finally:
            await second.close()

    def test_a_shared_store_names_the_url_other_processes_open(
        self, conformance_backend: BackendUnderTest, capabilities: Capabilities, tmp_path: Path
    ) -> None:
        if capabilities.multi_process:
            assert conformance_backend.url is not None, "multi_process needs a url"
            assert "://" in conformance_backend.url(tmp_path)
        else:
            assert conformance_backend.url is None, "no other process can open this store"
