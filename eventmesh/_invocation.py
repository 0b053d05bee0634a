"""What a middleware sees: one invocation, the call that runs it, and the result.

A middleware is a function from "call the handler" to "call the handler" (starlette's and
watermill's shape)::

    def timing(call_handler: CallHandler) -> CallHandler:
        async def timed(invocation: Invocation) -> InvocationResult:
            started = time.perf_counter()
            result = await call_handler(invocation)
            print(invocation.context.function_name, time.perf_counter() - started)
            return result

        return timed

The innermost call runs the invocation in an execution environment and returns its
:class:`InvocationResult` (the handler's result, or its function error, a timeout included).
The mesh composes the chain once per function when it starts, so an invocation pays for the
layers it has and nothing else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from eventmesh._errors import ConfigurationError

if TYPE_CHECKING:
    from eventmesh._context import Context
    from eventmesh._function import FunctionVersion

__all__ = [
    "CallHandler",
    "Invocation",
    "InvocationResult",
    "Middleware",
    "check_middleware",
    "compose",
]


@dataclass(slots=True)
class InvocationResult:
    """What ``mesh.invoke`` returns, as Lambda's Invoke API does.

    ``status_code`` is 200 (RequestResponse, even when the function failed), 202 (Event) or
    204 (DryRun). ``function_error`` is ``"Unhandled"`` when the function failed, and then
    ``payload`` is Lambda's error object ``{"errorMessage", "errorType", "stackTrace"}``.
    """

    status_code: int
    payload: Any = None
    function_error: str | None = None
    executed_version: str | None = None
    request_id: str = ""
    cold_start: bool = False
    """Whether this invocation initialised its execution environment."""
    duration_ms: float = 0.0
    """How long the handler ran (the init hook not included)."""
    init_duration_ms: float | None = None
    """How long the init hook ran, on a cold start."""


class Invocation:
    """One invocation on its way to the handler, as every middleware sees it.

    ``event`` is what the handler will get: a middleware may replace it. ``context`` is the
    Lambda context the handler will get; its ``log_stream_name``, ``cold_start`` and
    ``state`` belong to the execution environment and are filled in when the call reaches
    one (``state`` only for environments in this process), and its remaining time counts
    from the function's timeout until then. ``trigger`` is the kind of event source
    (``"other"`` for ``mesh.invoke``, ``"pubsub"`` for queues, streams and topics,
    ``"datasource"`` for buckets, ``"timer"`` for schedules); ``context.invocation_type`` is
    ``"RequestResponse"`` or ``"Event"``. ``version`` is the function version that runs.
    """

    __slots__ = ("context", "event", "parent_context", "trigger", "version")

    def __init__(
        self,
        event: Any,
        context: Context,
        version: FunctionVersion,
        trigger: str = "other",
        parent_context: Any = None,
    ) -> None:
        self.event = event
        self.context = context
        self.version = version
        self.trigger = trigger
        self.parent_context = parent_context
        """The OpenTelemetry context the event carried from its producer, if any."""

    @property
    def invocation_type(self) -> str:
        return self.context.invocation_type

    @property
    def request_id(self) -> str:
        return self.context.aws_request_id

    def respond(self, payload: Any) -> InvocationResult:
        """A successful result without running the handler (a short-circuit, as
        idempotency's stored results are); ``payload`` as the caller will see it (JSON)."""
        return InvocationResult(200, payload, None, self.version.version, self.request_id)

    def __repr__(self) -> str:
        context = self.context
        return (
            f"<Invocation {context.function_name}:{context.function_version} "
            f"{context.invocation_type} trigger={self.trigger} {context.aws_request_id}>"
        )


CallHandler: TypeAlias = Callable[[Invocation], Awaitable[InvocationResult]]
"""Run an invocation (through the middleware inside this one, then the handler)."""

Middleware: TypeAlias = Callable[[CallHandler], CallHandler]
"""A function from "call the handler" to "call the handler"."""


def check_middleware(middleware: Any, where: str) -> tuple[Middleware, ...]:
    """A list of middleware as given to ``Mesh`` or ``mesh.function``, checked at once."""
    if middleware is None:
        return ()
    if callable(middleware) or isinstance(middleware, str | bytes):
        raise ConfigurationError(
            f"{where}: middleware must be a list of middleware (functions from a call to a "
            f"call), got {middleware!r}; wrap a single one in a list"
        )
    try:
        layers = tuple(middleware)
    except TypeError:
        raise ConfigurationError(
            f"{where}: middleware must be a list of middleware, got {middleware!r}"
        ) from None
    for layer in layers:
        if not callable(layer):
            raise ConfigurationError(
                f"{where}: a middleware must be callable as middleware(call_handler) -> "
                f"call_handler, got {layer!r}"
            )
    return layers


def compose(middleware: Sequence[Middleware], innermost: CallHandler) -> CallHandler:
    """The chain around ``innermost``: the first middleware is the outermost."""
    call = innermost
    for layer in reversed(middleware):
        wrapped = layer(call)
        if not callable(wrapped):
            raise ConfigurationError(
                f"middleware {layer!r} returned {wrapped!r}, not a call: a middleware takes "
                "the next call and returns a new one"
            )
        call = wrapped
    return call
