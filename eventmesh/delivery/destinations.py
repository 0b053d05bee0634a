"""Destinations (``on_success``, ``on_failure``, dead letters, a mapping's on-failure) resolved
from a setting to what the runtime sends records to: the runtime sees only the
:class:`~eventmesh._destinations.Destination` protocol, this module supplies it.

A setting is a name (a resource's or a function's), a function, or anything with ``async
send(message, attributes=None)``; a function is invoked asynchronously with the record as its
event.
"""

from __future__ import annotations

from typing import Any

from eventmesh._destinations import Destination, DestinationSpec, MessageAttributes
from eventmesh._errors import ConfigurationError, ResourceNotFoundError
from eventmesh._function import Function
from eventmesh.delivery.target import DeliveryContext

__all__ = ["DestinationResolver", "FunctionDestination"]


class FunctionDestination:
    """A function as a destination: it is invoked (``Event``) with the record as its event."""

    def __init__(self, context: DeliveryContext, function: Function) -> None:
        self._context = context
        self.function = function

    async def send(self, message: Any, attributes: MessageAttributes | None = None) -> Any:
        target = self._context.resolve_function(self.function)
        return await self._context.invoke_async(target, message, trigger="other")

    def __repr__(self) -> str:
        return f"<FunctionDestination {self.function.name}>"


class DestinationResolver:
    """Resolves destination settings for one mesh (a function's destination is made once)."""

    def __init__(self, context: DeliveryContext, functions: dict[str, Function]) -> None:
        self._context = context
        self._functions = functions
        self._function_destinations: dict[str, FunctionDestination] = {}

    def __call__(self, spec: DestinationSpec) -> Destination:
        if isinstance(spec, Function):
            return self._function_destination(spec)
        if isinstance(spec, str):
            resource = self._context.find_resource(spec)
            if resource is not None:
                if not callable(getattr(resource, "send", None)):
                    raise ConfigurationError(f"{spec!r} cannot receive messages (no send)")
                return resource  # type: ignore[return-value]
            if spec in self._functions:
                return self._function_destination(self._functions[spec])
            raise ResourceNotFoundError(f"no function or resource named {spec!r}")
        if callable(getattr(spec, "send", None)):
            return spec
        raise ConfigurationError(f"{spec!r} is not a destination (a name, a function, or send)")

    def _function_destination(self, function: Function) -> FunctionDestination:
        destination = self._function_destinations.get(function.name)
        if destination is None:
            destination = FunctionDestination(self._context, function)
            self._function_destinations[function.name] = destination
        return destination
