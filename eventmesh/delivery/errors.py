"""One classification of a failed delivery attempt, for every source that retries.

Each failure gets EventBridge's ``ERROR_CODE`` (what a dead letter says) and whether another
attempt may succeed: a server-side error (a backend failing, a throttle, a full resource, the
network) is retried; a client-side error (a payload refused, a resource that is gone, a
recursion stopped) is not, because no retry can help. SNS's delivery policies make the same
cut between server-side and client-side errors.
"""

from __future__ import annotations

from eventmesh._errors import (
    BackendError,
    BackpressureError,
    EventMeshError,
    PayloadError,
    RequestTooLargeError,
    ResourceNotFoundError,
    TooManyRequestsError,
)

__all__ = ["DeliveryError", "classify"]


class DeliveryError(Exception):
    """An attempt failed with ``code`` (EventBridge's ERROR_CODE); ``retryable`` says whether
    another attempt may succeed."""

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


def classify(exc: BaseException, *, callable_target: bool = False) -> tuple[str, bool]:
    """The ERROR_CODE of a failed attempt, and whether to retry it.

    ``callable_target``: the failure is the target's own (a callable of the user's), which
    may well succeed next time, as an HTTP endpoint's 5xx would.
    """
    if isinstance(exc, DeliveryError):
        return exc.code, exc.retryable
    if callable_target:
        return "ERROR_FROM_TARGET", True
    if isinstance(exc, TooManyRequestsError | BackpressureError):
        return "THROTTLING", True
    if isinstance(exc, BackendError):
        return "INTERNAL_ERROR", True
    if isinstance(exc, TimeoutError):
        return "TIMEOUT", True
    if isinstance(exc, OSError):
        return "CONNECTION_FAILURE", True
    if isinstance(exc, ResourceNotFoundError):
        return "NO_RESOURCE", False
    if isinstance(exc, PayloadError | RequestTooLargeError):
        return "INVALID_PARAMETER", False
    if isinstance(exc, EventMeshError):
        return "SDK_CLIENT_ERROR", False  # a recursion stopped, a configuration problem
    return "INTERNAL_ERROR", True
