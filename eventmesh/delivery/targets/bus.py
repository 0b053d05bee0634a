"""A bus as a target: a bus event is forwarded as itself (same id, the buses it went through
kept, so it never loops); anything else is put on the bus as the bus's ``send`` does."""

from __future__ import annotations

from typing import Any

from eventmesh.delivery.target import DeliveryContext, Outgoing
from eventmesh.delivery.targets._resource import claims_resource, find_resource

__all__ = ["BUS", "BusTarget"]


class BusTarget:
    kind = "events"

    def __init__(self, bus: Any) -> None:
        self.resource = bus

    @property
    def arn(self) -> str:
        return str(self.resource.arn)

    async def deliver(self, outgoing: Outgoing, timeout: float | None = None) -> Any:
        if outgoing.event is not None:
            return await self.resource.forward(outgoing.event, outgoing.origin, timeout=timeout)
        return await self.resource.send(outgoing.value(), outgoing.attributes)


class _BusKind:
    name = "events"

    def claims(self, spec: Any, context: DeliveryContext) -> bool:
        return claims_resource(spec, context, "bus", "arn:aws:events:")

    def bind(self, spec: Any, context: DeliveryContext) -> BusTarget:
        return BusTarget(find_resource(spec, context, "bus"))


BUS = _BusKind()
