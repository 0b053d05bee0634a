"""A function as a target: an asynchronous (``Event``) invocation with the value as its event,
so Lambda's retries and destinations apply; a full function queue is waited for up to the
delivery's timeout. JSON the source already encoded goes to the invocation as it is, when the
context declares it takes it (an :class:`EncodedEvent`); any other context gets the value."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from eventmesh._function import Function, FunctionTarget
from eventmesh.delivery.target import (
    DeliveryContext,
    EncodedEvent,
    Outgoing,
    accepts_encoded_events,
)

__all__ = ["FUNCTION", "FunctionDelivery"]


class FunctionDelivery:
    kind = "lambda"

    def __init__(self, function: FunctionTarget, context: DeliveryContext) -> None:
        self.function = function
        self._context = context
        self._encoded = accepts_encoded_events(context)

    @property
    def arn(self) -> str:
        return self.function.arn

    def deliver(self, outgoing: Outgoing, timeout: float | None = None) -> Coroutine[Any, Any, Any]:
        """The context's ``invoke_async`` coroutine itself (no frame of its own around it,
        once per delivery); every caller awaits it at once, so what the call raises (a value
        that is not JSON) reaches the same ``except`` as what the await raises."""
        data = outgoing.encoded
        event = EncodedEvent(data) if data is not None and self._encoded else outgoing.value()
        return self._context.invoke_async(
            self.function, event, trigger=outgoing.trigger, timeout=timeout
        )


class _FunctionKind:
    name = "lambda"

    def claims(self, spec: Any, context: DeliveryContext) -> bool:
        """A Function, or a name or ARN that no resource has (resolved as a function)."""
        if isinstance(spec, Function):
            return True
        return isinstance(spec, str) and context.find_resource(spec) is None

    def bind(self, spec: Any, context: DeliveryContext) -> FunctionDelivery:
        return FunctionDelivery(context.resolve_function(spec), context)


FUNCTION = _FunctionKind()
