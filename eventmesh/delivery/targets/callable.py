"""A callable as a target: called with the value; a coroutine it returns is awaited, so that
its failure is the delivery's failure (and a BaseException it raises is contained)."""

from __future__ import annotations

import inspect
from typing import Any

from eventmesh._callbacks import contained
from eventmesh.delivery.target import DeliveryContext, Outgoing

__all__ = ["CALLABLE", "CallableTarget"]


class CallableTarget:
    kind = "callable"

    def __init__(self, call: Any) -> None:
        self.call = call

    @property
    def arn(self) -> str:
        call = self.call
        return str(getattr(call, "__qualname__", None) or type(call).__qualname__)

    async def deliver(self, outgoing: Outgoing, timeout: float | None = None) -> Any:
        return await contained(self._call(outgoing.value()))

    async def _call(self, value: Any) -> Any:
        result = self.call(value)
        return await result if inspect.isawaitable(result) else result


class _CallableKind:
    name = "callable"

    def claims(self, spec: Any, context: DeliveryContext) -> bool:
        return callable(spec) and not isinstance(spec, str)

    def bind(self, spec: Any, context: DeliveryContext) -> CallableTarget:
        return CallableTarget(spec)


CALLABLE = _CallableKind()
