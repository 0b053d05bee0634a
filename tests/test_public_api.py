"""The public surface is exactly what ``eventmesh.__all__`` lists, sorted."""

from __future__ import annotations

import eventmesh

EXPECTED = {
    "Alias",
    "AwsCredentials",
    "BackendError",
    "BackpressureError",
    "Bucket",
    "Bus",
    "CallHandler",
    "Clock",
    "ConfigurationError",
    "Context",
    "Destination",
    "EventMeshError",
    "FilterPolicy",
    "Function",
    "FunctionConfig",
    "FunctionStats",
    "FunctionVersion",
    "Idempotency",
    "IdempotencyError",
    "IdempotencyInProgressError",
    "IdempotencyKeyError",
    "IdempotencyPayloadMismatchError",
    "InputTransformer",
    "Invocation",
    "InvocationError",
    "InvocationResult",
    "Mesh",
    "Message",
    "Middleware",
    "Pattern",
    "PatternError",
    "PayloadError",
    "Queue",
    "RealClock",
    "RecursiveInvocationError",
    "RequestTooLargeError",
    "ResourceNotFoundError",
    "Schedule",
    "ScheduleExpression",
    "Stream",
    "Target",
    "Telemetry",
    "TooManyRequestsError",
    "Topic",
}


def test_all_is_the_public_set_and_sorted() -> None:
    assert set(eventmesh.__all__) == EXPECTED
    assert list(eventmesh.__all__) == sorted(eventmesh.__all__)


def test_every_public_name_is_importable() -> None:
    for name in eventmesh.__all__:
        assert getattr(eventmesh, name) is not None


def test_the_error_tree() -> None:
    e = eventmesh
    assert issubclass(e.ConfigurationError, e.EventMeshError)
    assert issubclass(e.ConfigurationError, ValueError)
    assert issubclass(e.TooManyRequestsError, e.InvocationError)
    assert issubclass(e.RequestTooLargeError, e.InvocationError)
    assert issubclass(e.RecursiveInvocationError, e.InvocationError)
    for name in (
        "ResourceNotFoundError",
        "PatternError",
        "BackendError",
        "BackpressureError",
        "PayloadError",
    ):
        assert issubclass(getattr(e, name), e.EventMeshError)
