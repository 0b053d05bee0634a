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
from eventmesh.testing.conformance.capabilities import Capabilities, CrashRedelivery
from eventmesh.testing.conformance.suites.shard_lease_processes import ShardLeaseProcesses
from eventmesh.testing.conformance.timing import TimeDriver


class MultiProcessSuite(ShardLeaseProcesses):
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

    async def test_a_dead_consumers_messages_come_back_as_declared(
        self,
        backend: Backend,
        conformance_backend: BackendUnderTest,
        capabilities: Capabilities,
        timing: TimeDriver,
        tmp_path: Path,
    ) -> None:
        """A consumer that received and then lost its connection (closed here, in this
        process; SIGKILLed in the multi-process tests) without deleting: its message comes back,
        one receive later, on the schedule the record declares (section 6 of the notes)."""
        if not capabilities.multi_process:
            # No other consumer can share the store: a consumer that stops deleting is the
            # only kind of death, and its messages come back after the visibility timeout.
            assert capabilities.crash_redelivery is CrashRedelivery.VISIBILITY_TIMEOUT
            await backend.queues.send("q", [OutgoingMessage(b"m")])
            await backend.queues.receive("q", 1, timing.seconds(30))
            await timing.advance_past(30)
            again = await backend.queues.receive("q", 1, timing.seconds(30))
            assert [d.receive_count for d in again] == [2]
            return
        opened = conformance_backend.open(timing.clock, tmp_path)
        survivor = await opened if inspect.isawaitable(opened) else opened
        try:
            await survivor.queues.send("q", [OutgoingMessage(b"m")])
            (taken,) = await backend.queues.receive("q", 1, timing.seconds(30))
            await backend.close()  # the consumer dies holding the message
            comes_back = {
                CrashRedelivery.IMMEDIATE: 0.0,
                CrashRedelivery.ACK_WAIT: capabilities.crash_redelivery_after or 0.0,
                CrashRedelivery.VISIBILITY_TIMEOUT: 30.0,
            }[capabilities.crash_redelivery]
            early = min(comes_back, 0.1)
            if comes_back:
                await timing.advance_before(comes_back - early)
                assert await survivor.queues.receive("q", 1, timing.seconds(30)) == []
            await timing.advance_past(early)
            again = await survivor.queues.receive("q", 1, timing.seconds(30))
            assert [(d.message_id, d.receive_count) for d in again] == [(taken.message_id, 2)]
        finally:
            await survivor.close()
