"""The exceptions eventmesh raises.

Our exception hierarchy::

    EventMeshError
    ├── ConfigurationError (also ValueError)   bad settings, caught at registration
    ├── ResourceNotFoundError                  unknown function, alias, version, queue, ...
    ├── InvocationError                        the invocation could not start
    │   ├── TooManyRequestsError               throttled: (reason, retry_after)
    │   ├── RequestTooLargeError               payload over the configured limit
    │   └── RecursiveInvocationError           a destination loop was stopped
    ├── PatternError (also ValueError)         an invalid event pattern or filter policy
    ├── BackendError                           a storage backend failed
    ├── BackpressureError                      a resource is at its max_pending limit
    ├── PayloadError (also ValueError)         not JSON-serialisable, undecodable
    └── IdempotencyError                       an idempotent call could not go ahead
        ├── IdempotencyInProgressError         a duplicate arrived while the first one runs
        ├── IdempotencyPayloadMismatchError    a key was reused with a different payload
        └── IdempotencyKeyError (also PayloadError)  no key in the event, or not JSON

A handler's own exception is never wrapped in these: it becomes a function error
(``{"errorMessage", "errorType", "stackTrace"}``) and follows Lambda's retry rules.
Errors raised about an invocation carry ``function_name`` and ``request_id`` when known.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BackpressureError",
    "ConfigurationError",
    "EventMeshError",
    "IdempotencyError",
    "IdempotencyInProgressError",
    "IdempotencyKeyError",
    "IdempotencyPayloadMismatchError",
    "InvocationError",
    "PatternError",
    "PayloadError",
    "RecursiveInvocationError",
    "ReportedFunctionError",
    "RequestTooLargeError",
    "ResourceNotFoundError",
    "TooManyRequestsError",
]


class EventMeshError(Exception):
    """Base class of every error eventmesh raises on its own behalf."""

    function_name: str | None = None
    request_id: str | None = None

    def __init__(
        self,
        message: str,
        *,
        function_name: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.function_name = function_name
        self.request_id = request_id


class ConfigurationError(EventMeshError, ValueError):
    """A setting is invalid; raised when the resource or function is registered."""


class ResourceNotFoundError(EventMeshError, LookupError):
    """No function, version, alias or resource has that name (Lambda's 404)."""


class InvocationError(EventMeshError):
    """The invocation could not start: nothing ran."""


class TooManyRequestsError(InvocationError):
    """Throttled (Lambda's 429): the handler did not run, so retrying is safe.

    ``reason`` is one of Lambda's reasons, e.g. ``ConcurrentInvocationLimitExceeded`` or
    ``ReservedFunctionConcurrentInvocationLimitExceeded``; ``retry_after`` is in seconds.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        retry_after: float = 1.0,
        function_name: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, function_name=function_name, request_id=request_id)
        self.reason = reason
        self.retry_after = retry_after


class RequestTooLargeError(InvocationError):
    """The request payload is larger than the invocation type allows (Lambda's 413)."""


class RecursiveInvocationError(InvocationError):
    """A chain of invocations came back to the same function too many times."""


class PatternError(EventMeshError, ValueError):
    """An event pattern or filter policy is invalid; the message says what and where."""


class BackendError(EventMeshError):
    """A storage backend failed (connection lost, corrupt database, ...)."""


class BackpressureError(EventMeshError):
    """A producer found a resource at its ``max_pending`` limit and could not wait longer
    (its ``timeout`` ran out, or was 0): nothing was stored, so trying again later is safe.

    ``resource`` and ``kind`` name the queue, function, topic, bus or stream; ``limit`` is
    its ``max_pending``.
    """

    def __init__(self, message: str, *, resource: str, kind: str, limit: int) -> None:
        super().__init__(message, function_name=resource if kind == "function" else None)
        self.resource = resource
        self.kind = kind
        self.limit = limit


class PayloadError(EventMeshError, ValueError):
    """A payload is not JSON-serialisable, or bytes could not be decoded."""


class IdempotencyError(EventMeshError):
    """An idempotent call could not go ahead; ``idempotency_key`` is the stored key if known."""

    def __init__(
        self,
        message: str,
        *,
        idempotency_key: str | None = None,
        function_name: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, function_name=function_name, request_id=request_id)
        self.idempotency_key = idempotency_key


class IdempotencyInProgressError(IdempotencyError):
    """A call with the same key is running (here or in another process): nothing ran.

    Retrying later is safe: it gets the first call's result, or runs if that call failed.
    """


class IdempotencyPayloadMismatchError(IdempotencyError):
    """The key was seen before with a different payload (``validate_payload`` is on)."""


class IdempotencyKeyError(IdempotencyError, PayloadError):
    """The event has no idempotency key at the configured path, or it is not JSON."""


class ReportedFunctionError(Exception):
    """A function error whose Lambda error object is already made, to be returned verbatim.

    An execution environment that runs its handler out of the mesh's reach (another process,
    say) learns of the error as an object, not as an exception with a traceback: the invoker
    returns ``error`` as the invocation's function error, unchanged. ``reset`` says the
    environment cannot go on as it is (its runtime exited): it is initialised again before
    its next invocation, as Lambda resets an environment after a crash.
    """

    def __init__(self, error: dict[str, object], *, reset: bool = False) -> None:
        super().__init__(str(error.get("errorMessage", "")))
        self.error = error
        self.reset = reset
