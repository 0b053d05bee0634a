"""A resource kind of your own is registered like the six built in: ``mesh.resource(Kind,
name, **settings)`` builds ``Kind(context, name, settings)`` with the narrow context (never the
Mesh), runs it for as long as the mesh runs (started at once when the mesh already runs), and
gives the same object for the same name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from eventmesh import ConfigurationError, Mesh, Queue
from eventmesh.resources.context import ResourceContext
from eventmesh.testing import VirtualClock, settle


class Ledger:
    """A resource kind defined outside eventmesh: it keeps entries in the key-value store and
    invokes a function for each one."""

    kind = "ledger"

    def __init__(self, context: ResourceContext, name: str, settings: Mapping[str, Any]) -> None:
        self.context = context
        self.name = name
        self.settings = dict(settings)
        self.started = 0
        self.stopped = 0

    async def start(self) -> None:
        self.started += 1

    async def stop(self) -> None:
        self.stopped += 1

    async def pending(self) -> int:
        return 0

    async def record(self, entry: str) -> str:
        await self.context.backend.values.put(f"ledger/{self.name}/{entry}", b"1")
        target = self.context.resolve_function(self.settings["notify"])
        return await self.context.invoke_async(target, {"entry": entry}, trigger="other")


async def test_a_kind_of_your_own_gets_the_context_and_runs_with_the_mesh(
    mesh: Mesh, clock: VirtualClock
) -> None:
    seen: list[Any] = []

    @mesh.function
    async def notified(event: Any, context: Any) -> None:
        seen.append(event)

    ledger = mesh.resource(Ledger, "books", notify="notified")
    assert ledger.context is mesh.context and not isinstance(ledger.context, Mesh)
    assert ledger.started == 0
    async with mesh:
        assert ledger.started == 1
        await ledger.record("a")
        await settle()
        assert seen == [{"entry": "a"}]
        assert await mesh.backend.values.get("ledger/books/a") is not None
    assert ledger.stopped == 1


async def test_the_same_name_gives_the_same_resource_and_other_settings_are_refused(
    mesh: Mesh,
) -> None:
    ledger = mesh.resource(Ledger, "books", notify="a")
    assert mesh.resource(Ledger, "books", notify="a") is ledger
    assert mesh.resource(Ledger, "books") is ledger  # no settings: whatever it has
    with pytest.raises(ConfigurationError, match="ledger 'books'"):
        mesh.resource(Ledger, "books", notify="b")
    with pytest.raises(ConfigurationError, match="'books' is already a Ledger"):
        mesh.queue("books")


async def test_a_resource_added_while_the_mesh_runs_starts_at_once(mesh: Mesh) -> None:
    async with mesh:
        ledger = mesh.resource(Ledger, "late")
        await settle()
        assert ledger.started == 1
    assert ledger.stopped == 1


def test_the_built_in_factories_are_the_generic_path(mesh: Mesh) -> None:
    queue = mesh.resource(Queue, "orders", visibility_timeout=60)
    assert mesh.queue("orders") is queue
    assert mesh.queue("orders", visibility_timeout=60) is queue


def test_a_kind_without_a_lifecycle_is_refused(mesh: Mesh) -> None:
    class NotAResource:
        def __init__(self, context: ResourceContext, name: str, settings: Any) -> None:
            pass

    with pytest.raises(ConfigurationError, match="needs async start, stop and pending"):
        mesh.resource(NotAResource, "x")


async def test_resources_are_found_by_name_or_by_arn(mesh: Mesh) -> None:
    queue = mesh.queue("orders")
    topic = mesh.topic("alerts")
    stream = mesh.stream("clicks")
    bus = mesh.bus("shop")
    context = mesh.context
    assert context.find_resource("orders") is queue
    assert context.find_resource("arn:aws:sqs:us-east-1:123456789012:orders") is queue
    assert context.find_resource(topic.arn) is topic
    assert context.find_resource(stream.arn) is stream
    assert context.find_resource(bus.arn) is bus
    assert context.find_resource("nothing") is None


def test_a_refused_kind_leaves_the_name_free(mesh: Mesh) -> None:
    class NotAResource:
        def __init__(self, context: ResourceContext, name: str, settings: Any) -> None:
            pass

    with pytest.raises(ConfigurationError):
        mesh.resource(NotAResource, "x")
    assert isinstance(mesh.queue("x"), Queue)
