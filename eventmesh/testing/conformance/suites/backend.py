"""The Backend as a whole: its stores, the time they keep, the protocols it offers."""

from __future__ import annotations

import pytest

from eventmesh._errors import ConfigurationError
from eventmesh.backends.protocols import (
    Backend,
    BlobStore,
    KeyValueStore,
    LogStore,
    OutgoingMessage,
    QueueStore,
)
from eventmesh.testing.conformance.capabilities import Capabilities, Store
from eventmesh.testing.conformance.timing import TimeDriver


class BackendSuite:
    """The whole backend; subclass as ``class TestBackend(BackendSuite)``."""

    async def test_each_store_implements_its_protocol(
        self, backend: Backend, capabilities: Capabilities
    ) -> None:
        kinds = {
            Store.QUEUES: QueueStore,
            Store.LOGS: LogStore,
            Store.VALUES: KeyValueStore,
            Store.BLOBS: BlobStore,
        }
        for store in capabilities.protocols:
            assert isinstance(getattr(backend, store.value), kinds[store])

    async def test_every_store_keeps_time_on_the_declared_source(
        self, backend: Backend, timing: TimeDriver, capabilities: Capabilities
    ) -> None:
        """A delay, an arrival, an expiry and a modification time, all on the time source the
        record declares (on the mesh's clock: exactly the virtual clock's)."""
        offered = capabilities.protocols
        await timing.advance(7)
        if Store.QUEUES in offered:
            await backend.queues.send("q", [OutgoingMessage(b"m", delay=timing.seconds(10))])
        if Store.LOGS in offered:
            (record,) = await backend.logs.append("s", "0", [(b"r", "pk", {})])
            assert record.arrival == timing.at(7)
        if Store.VALUES in offered and capabilities.store_ttl in (None, 10):
            await backend.values.put("k", b"v", ttl=timing.seconds(10))
        if Store.BLOBS in offered:
            info = await backend.blobs.put("b", "key", b"x")
            assert info.last_modified == timing.at(7)
        if Store.QUEUES in offered:
            assert await backend.queues.receive("q", 10, timing.seconds(30)) == []
        await timing.advance_past(10, slack=capabilities.ttl_resolution)
        if Store.QUEUES in offered:
            got = await backend.queues.receive("q", 10, timing.seconds(30))
            assert [d.body for d in got] == [b"m"]
        if Store.VALUES in offered and capabilities.store_ttl in (None, 10):
            assert await backend.values.get("k") is None

    async def test_protocols_not_offered_are_refused(
        self, backend: Backend, capabilities: Capabilities
    ) -> None:
        """A store the record does not offer refuses its first use with a ConfigurationError
        (RabbitMQ has no log), rather than half-working."""
        missing = set(Store) - capabilities.protocols
        for store in missing:
            with pytest.raises(ConfigurationError):
                if store is Store.QUEUES:
                    await backend.queues.send("q", [OutgoingMessage(b"m")])
                elif store is Store.LOGS:
                    await backend.logs.append("s", "0", [(b"r", "pk", {})])
                elif store is Store.VALUES:
                    await backend.values.put("k", b"v")
                else:
                    await backend.blobs.put("b", "k", b"x")
        assert missing or capabilities.protocols == frozenset(Store)
