"""The narrow context a resource or an event source mapping is given, instead of the Mesh.

A resource needs a clock, storage, its ARN parts, a way to find functions and other resources
by name or ARN, a way to invoke a function (synchronously for a mapping's batch, asynchronously
for a service's delivery), destinations resolved from a setting, a random source, a limit on its
pending work, and a way to run a background service for as long as the mesh runs. That is all
this protocol offers; the mesh implements it (:mod:`eventmesh._mesh_context`), and a test or a
third-party resource can implement it too.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

from eventmesh._backpressure import PendingLimit
from eventmesh._clock import Clock
from eventmesh._destinations import Destination, DestinationSpec
from eventmesh._egress import EgressPolicy
from eventmesh._endpoints import MeshEndpoints
from eventmesh._function import Function, FunctionTarget
from eventmesh._invoker import EncodedEvent, InvocationResult
from eventmesh.backends.protocols import Backend
from eventmesh.delivery.http import HttpSender
from eventmesh.delivery.target import DeliveryContext
from eventmesh.telemetry import Telemetry

__all__ = ["ResourceContext", "Service"]

R = TypeVar("R")


@runtime_checkable
class Service(Protocol):
    """Something with background work that lives as long as the running mesh."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def pending(self) -> int:
        """Work the mesh should wait for when it drains (0 when idle)."""
        ...


class ResourceContext(DeliveryContext, Protocol):
    """What the mesh offers a resource or a mapping (see the module docstring)."""

    @property
    def clock(self) -> Clock: ...

    @property
    def backend(self) -> Backend:
        """The storage; reading it binds the mesh's storage if it is not bound yet, so read it
        when the store is used (at start or on a call), not when the resource is built."""
        ...

    @property
    def region(self) -> str: ...

    @property
    def account_id(self) -> str: ...

    @property
    def telemetry(self) -> Telemetry: ...

    @property
    def egress(self) -> EgressPolicy: ...

    @property
    def http(self) -> HttpSender:
        """The mesh's one HTTP sender (one client, the host policy)."""
        ...

    @property
    def random(self) -> random.Random: ...

    @property
    def running(self) -> bool: ...

    def pending_limit(
        self, kind: str, name: str, max_pending: int | None, *, stored: bool
    ) -> PendingLimit:
        """The limit on a resource's pending work: its own ``max_pending``, else the mesh's,
        else the default for its kind. ``stored``: the work sits in the backend, so it is
        limited only when the backend keeps it in this process's memory."""
        ...

    def find_resource(self, name_or_arn: str) -> object | None:
        """The resource registered under that name, or named by that ARN; None if none."""
        ...

    def resources_of(self, kind: type[R]) -> list[R]:
        """Every resource of ``kind`` (or a subclass) registered so far, in order."""
        ...

    @property
    def endpoints(self) -> MeshEndpoints:
        """The paths the mesh serves itself on its HTTP front (:mod:`eventmesh._endpoints`)."""
        ...

    def resource(self, kind: type[R], name: str, settings: Mapping[str, Any]) -> R:
        """The resource of that kind and name, built as ``kind(context, name, settings)`` and
        run as a service (started now if the mesh runs) on first use, then the same object;
        other settings for an existing name are an error."""
        ...

    def resolve_function(self, target: Function | str) -> FunctionTarget:
        """A function, or ``name[:qualifier]`` or an ARN, as an invocation target."""
        ...

    async def invoke_sync(
        self, target: FunctionTarget, event: Any, *, trigger: str, parent_context: Any = None
    ) -> InvocationResult:
        """A synchronous invocation by an event source mapping (raises when throttled)."""
        ...

    async def invoke_async(
        self,
        target: FunctionTarget,
        event: Any | EncodedEvent,
        *,
        trigger: str,
        timeout: float | None = None,
    ) -> str:
        """An asynchronous invocation by a service; returns the request id. Waits up to
        ``timeout`` for room when the function's queue is at its limit. ``event`` is a JSON
        value, or an :class:`~eventmesh.delivery.target.EncodedEvent` (JSON bytes eventmesh
        encoded itself) only if the context declares ``accepts_encoded_events = True``
        (:class:`~eventmesh.delivery.target.DeliveryContext`)."""
        ...

    def destination(self, spec: DestinationSpec) -> Destination:
        """A destination setting (a name, a function, or anything with ``async send``)
        resolved to where records go."""
        ...

    def event_source_mapping(
        self, kind: str, source: object, function: Function | str, settings: Mapping[str, Any]
    ) -> Any:
        """An event source mapping of ``kind`` (``"queue"``, ``"stream"``) reading ``source``
        for ``function``, run as a service; the mesh registers the kinds (mappings sit above
        resources, so a resource never imports them)."""
        ...

    def add_service(self, service: Service) -> None:
        """Run ``service`` for as long as the mesh runs (started now if it already is)."""
        ...
