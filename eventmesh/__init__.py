"""eventmesh: run event-driven Python services the way AWS Lambda runs functions.

Everything public is importable from here; the modules behind it are private.
"""

from eventmesh._clock import Clock, RealClock
from eventmesh._context import Context
from eventmesh._destinations import Destination
from eventmesh._errors import (
    BackendError,
    ConfigurationError,
    EventMeshError,
    InvocationError,
    PatternError,
    PayloadError,
    RecursiveInvocationError,
    RequestTooLargeError,
    ResourceNotFoundError,
    TooManyRequestsError,
)
from eventmesh._function import Alias, Function, FunctionConfig, FunctionStats, FunctionVersion
from eventmesh._invoker import InvocationResult
from eventmesh._mesh import Mesh
from eventmesh.resources.schedule_expression import ScheduleExpression
from eventmesh.telemetry import Telemetry

__version__ = "0.1.0"

__all__ = [
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
]
