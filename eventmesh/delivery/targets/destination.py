"""Anything with ``async send(message, attributes=None)`` as a target (a destination of your
own, a bucket, a recording destination in tests): sent the value."""

from __future__ import annotations

from typing import Any

from eventmesh.delivery.target import DeliveryContext, Outgoing

__all__ = ["DESTINATION", "DestinationTarget"]


def _sends(obj: Any) -> bool:
    return callable(getattr(obj, "send", None))


class DestinationTarget:
    kind = "destination"

    def __init__(self, destination: Any) -> None:
        self.destination = destination

    @property
    def arn(self) -> str:
        return str(getattr(self.destination, "arn", None) or repr(self.destination))

    async def deliver(self, outgoing: Outgoing, timeout: float | None = None) -> Any:
        return await self.destination.send(outgoing.value(), outgoing.attributes)


class _DestinationKind:
    name = "destination"

    def claims(self, spec: Any, context: DeliveryContext) -> bool:
        if isinstance(spec, str):
            return _sends(context.find_resource(spec))
        return _sends(spec) and not isinstance(spec, type)

    def bind(self, spec: Any, context: DeliveryContext) -> DestinationTarget:
        return DestinationTarget(context.find_resource(spec) if isinstance(spec, str) else spec)


DESTINATION = _DestinationKind()
