"""The public surface is exactly what ``eventmesh.__all__`` lists, sorted."""

from __future__ import annotations

import eventmesh

EXPECTED = {
    "Alias",
    "BackendError",
    "Clock",
    "ConfigurationError",
    "Context",
    "Destination",
    "EventMeshError",
    "Function",
    "FunctionConfig",
    "FunctionStats",
    "FunctionVersion",
    "InvocationError",
    "InvocationResult",
    "Mesh",
    "PatternError",
    "PayloadError",
    "RealClock",
    "RecursiveInvocationError",
    "RequestTooLargeError",
    "ResourceNotFoundError",
    "ScheduleExpression",
    "Telemetry",
    "TooManyRequestsError",
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
    for name in ("ResourceNotFoundError", "PatternError", "BackendError", "PayloadError"):
        assert issubclass(getattr(e, name), e.EventMeshError)
