"""The context object a handler receives, with the fields of Lambda's Python context."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["ClientContext", "CognitoIdentity", "Context", "context_template", "enter_environment"]


class CognitoIdentity:
    """Lambda's ``context.identity``; always empty in process."""

    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self) -> None:
        self.cognito_identity_id: str | None = None
        self.cognito_identity_pool_id: str | None = None


class ClientContext:
    """Lambda's ``context.client_context`` (synchronous invocations only)."""

    __slots__ = ("client", "custom", "env")

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.client: Mapping[str, Any] | None = data.get("client")
        self.custom: Mapping[str, Any] | None = data.get("custom")
        self.env: Mapping[str, Any] | None = data.get("env")


_NO_IDENTITY = CognitoIdentity()


class Context:
    """What a handler gets as its second argument, as in AWS Lambda's Python runtime.

    Beyond Lambda's fields: ``cold_start`` (this invocation ran the init hook), ``state``
    (what the function's init hook returned in this execution environment), ``environment``
    (the function's configured environment variables; ``os.environ`` is process-wide, so
    eventmesh never writes to it) and ``invocation_type``.
    """

    __slots__ = (
        "_deadline",
        "_now",
        "aws_request_id",
        "client_context",
        "cold_start",
        "environment",
        "function_name",
        "function_version",
        "identity",
        "invocation_type",
        "invoked_function_arn",
        "log_stream_name",
        "memory_limit_in_mb",
        "state",
    )

    def __init__(
        self,
        aws_request_id: str,
        function_name: str,
        function_version: str,
        invoked_function_arn: str,
        memory_limit_in_mb: int,
        log_stream_name: str,
        deadline: float,
        now: Callable[[], float],
        cold_start: bool,
        state: Any,
        environment: Mapping[str, str],
        invocation_type: str = "RequestResponse",
        client_context: ClientContext | None = None,
    ) -> None:
        self.aws_request_id = aws_request_id
        self.function_name = function_name
        self.function_version = function_version
        self.invoked_function_arn = invoked_function_arn
        self.memory_limit_in_mb = memory_limit_in_mb
        self.log_stream_name = log_stream_name
        self.identity = _NO_IDENTITY
        self.client_context = client_context
        self.cold_start = cold_start
        self.state = state
        self.environment = environment
        self.invocation_type = invocation_type
        self._deadline = deadline
        self._now = now

    @property
    def log_group_name(self) -> str:
        """``/aws/lambda/<function name>``, made when read (few handlers do)."""
        return "/aws/lambda/" + self.function_name

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the invocation times out (never negative)."""
        return max(0, int((self._deadline - self._now()) * 1000))

    def __repr__(self) -> str:
        return (
            f"Context(function_name={self.function_name!r}, "
            f"function_version={self.function_version!r}, "
            f"aws_request_id={self.aws_request_id!r})"
        )


def context_template(
    function_name: str,
    function_version: str,
    memory_limit_in_mb: int,
    environment: Mapping[str, str],
) -> Callable[[], Context]:
    """A subclass of :class:`Context` for one function version, for the warm hot path.

    A context is made per invocation, and most of its fields are the version's own: here
    they are class attributes, so an invocation sets only what changes per call (request
    id, ARN invoked, invocation type, deadline, clock, the environment's log stream and
    state) on an object made without ``__init__``. Those fields stay writable, as
    :class:`Context`'s are: a write goes to the instance's own ``__dict__`` (made only if
    a handler writes one), which shadows the class attribute. The class is named
    ``Context`` too, and ``isinstance(context, Context)`` holds.

    Its ``__init__`` is ``object.__init__``: the hot path makes a context by calling the
    class with no arguments (``template()``), a third of what ``template.__new__(template)``
    costs (looking ``__new__`` up on a class, and its wrapper's argument tuple).
    """
    fields: dict[str, Any] = {
        "__slots__": ("__dict__",),
        "__module__": Context.__module__,
        "__qualname__": Context.__qualname__,
        "function_name": function_name,
        "function_version": function_version,
        "memory_limit_in_mb": memory_limit_in_mb,
        "environment": environment,
        "identity": _NO_IDENTITY,
        "client_context": None,
        "cold_start": False,
        "__reduce__": _as_plain_context,
        "__init__": object.__init__,
    }
    template: Callable[[], Context] = type("Context", (Context,), fields)
    return template


def _as_plain_context(context: Context) -> tuple[type[Context], tuple[Any, ...]]:
    """How a warm context pickles (and copies): as the plain :class:`Context` it reads as,
    fields written by a handler included (its class is made per version, not importable)."""
    return Context, (
        context.aws_request_id,
        context.function_name,
        context.function_version,
        context.invoked_function_arn,
        context.memory_limit_in_mb,
        context.log_stream_name,
        context._deadline,
        context._now,
        context.cold_start,
        context.state,
        context.environment,
        context.invocation_type,
        context.client_context,
    )


def enter_environment(
    context: Context, deadline: float, log_stream_name: str, cold_start: bool, state: Any
) -> None:
    """What the execution environment decides, set as the handler starts: a context made
    before one was chosen (the one middleware sees) becomes the handler's."""
    context._deadline = deadline
    context.log_stream_name = log_stream_name
    context.cold_start = cold_start
    context.state = state
