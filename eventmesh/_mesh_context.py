"""The mesh's implementation of :class:`~eventmesh.resources.context.ResourceContext`.

Resources and mappings see only that protocol; this class answers it from the mesh's parts
(registry, lifecycle, invoker, Event invocation queues, storage), so none of them needs the
Mesh or its private members.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

from eventmesh._async_queue import AsyncInvocationQueue
from eventmesh._backpressure import DEFAULT_MAX_PENDING, PendingLimit, check_max_pending
from eventmesh._clock import Clock
from eventmesh._destinations import Destination, DestinationSpec
from eventmesh._egress import EgressPolicy
from eventmesh._endpoints import MeshEndpoints
from eventmesh._errors import ConfigurationError
from eventmesh._function import Function, FunctionTarget
from eventmesh._invoker import InvocationResult, Invoker, encode_payload
from eventmesh._lifecycle import Lifecycle, LimitSetting
from eventmesh._registry import Registry
from eventmesh._storage import StorageBinding
from eventmesh.backends.protocols import Backend
from eventmesh.delivery.destinations import DestinationResolver
from eventmesh.delivery.http import HttpSender
from eventmesh.resources.context import Service
from eventmesh.telemetry import Telemetry

__all__ = ["MeshContext"]

R = TypeVar("R")


class MeshContext:
    """What a resource of this mesh is given; see the module docstring."""

    accepts_encoded_events = True
    """``invoke_async`` takes an EncodedEvent (JSON bytes eventmesh encoded) as it is."""

    def __init__(
        self,
        *,
        clock: Clock,
        storage: StorageBinding,
        region: str,
        account_id: str,
        telemetry: Telemetry,
        egress: EgressPolicy,
        rng: random.Random,
        registry: Registry,
        lifecycle: Lifecycle,
        invoker: Invoker,
        async_queues: Mapping[str, AsyncInvocationQueue],
        max_event_payload: int,
        max_pending: int | None,
    ) -> None:
        # Plain attributes, not properties: resources read them on every message.
        self.clock = clock
        self.region = region
        self.account_id = account_id
        self.telemetry = telemetry
        self.egress = egress
        self.random = rng
        self._storage = storage
        self._registry = registry
        self._lifecycle = lifecycle
        self._invoker = invoker
        self._async_queues = async_queues
        self._max_event_payload = max_event_payload
        self._max_pending = max_pending
        self._destinations = DestinationResolver(self, registry.functions)
        self.mapping_kinds: dict[str, Callable[..., Service]] = {}
        """Event source mapping factories by the kind of resource they read (see Mesh)."""
        self.http = HttpSender(egress)
        self.endpoints = MeshEndpoints()

    # -- what a resource reads ---------------------------------------------------------------
    @property
    def backend(self) -> Backend:
        return self._storage.backend

    @property
    def running(self) -> bool:
        return self._lifecycle.running

    # -- limits, lookup, services ------------------------------------------------------------
    def pending_limit(
        self, kind: str, name: str, max_pending: int | None, *, stored: bool
    ) -> PendingLimit:
        limit = check_max_pending(max_pending) or self._max_pending or DEFAULT_MAX_PENDING[kind]
        setting = LimitSetting(PendingLimit(kind, name, limit, self.clock), limit, stored)
        if self._storage.bound:
            setting.apply(self._storage.bounds_store)
        self._lifecycle.limits.append(setting)
        return setting.pending

    def find_resource(self, name_or_arn: str) -> object | None:
        return self._registry.find(name_or_arn)

    def resources_of(self, kind: type[R]) -> list[R]:
        return [r for r in self._registry.resources.values() if isinstance(r, kind)]

    def resource(self, kind: type[R], name: str, settings: Mapping[str, Any]) -> R:
        def create() -> R:
            resource = kind(self, name, settings)  # type: ignore[call-arg]
            if not isinstance(resource, Service):
                raise ConfigurationError(
                    f"{kind.__name__} is not a resource: it needs async start, stop and pending"
                )
            return resource

        resource, created = self._registry.resource(kind, name, settings, create)
        if created:
            self._lifecycle.add_service(resource)  # type: ignore[arg-type]
        return resource

    async def remove_resource(self, name: str) -> bool:
        """Stop and forget the resource named ``name``; False when there is none."""
        resource = self._registry.remove_resource(name)
        if resource is None:
            return False
        if isinstance(resource, Service):
            await self._lifecycle.remove_service(resource)
        return True

    def event_source_mapping(
        self, kind: str, source: object, function: Function | str, settings: Mapping[str, Any]
    ) -> Any:
        try:
            factory = self.mapping_kinds[kind]
        except KeyError:
            known = ", ".join(sorted(self.mapping_kinds))
            message = f"no event source mapping for {kind!r} (known: {known})"
            raise ConfigurationError(message) from None
        mapping = factory(source, function, **settings)
        self._lifecycle.add_service(mapping)
        return mapping

    def add_service(self, service: Service) -> None:
        self._lifecycle.add_service(service)

    # -- invoking ----------------------------------------------------------------------------
    def resolve_function(self, target: Function | str) -> FunctionTarget:
        name = target.name if isinstance(target, Function) else target
        return self._registry.target(name)

    def invoke_sync(
        self, target: FunctionTarget, event: Any, *, trigger: str, parent_context: Any = None
    ) -> Coroutine[Any, Any, InvocationResult]:
        """The invoker's own coroutine (no frame of its own around it, once per batch); the
        version is picked at the call, as the mappings await it at once."""
        # By position (a third cheaper than keywords): version, event, ARN, invocation type,
        # request id, client context, trigger, parent context.
        return self._invoker.run(
            target.pick(), event, target.arn, "RequestResponse", None, None, trigger,
            parent_context,
        )  # fmt: skip

    def invoke_async(
        self, target: FunctionTarget, event: Any, *, trigger: str, timeout: float | None = None
    ) -> Coroutine[Any, Any, str]:
        """The queue's own coroutine (no frame of its own around it, once per delivery): the
        event is encoded at the call, which its callers await at once."""
        name = target.function.name
        body = encode_payload(event, self._max_event_payload, name)
        return self._async_queues[name].put(target.qualifier or "", body, trigger, timeout=timeout)

    # -- destinations ------------------------------------------------------------------------
    def destination(self, spec: DestinationSpec) -> Destination:
        return self._destinations(spec)
