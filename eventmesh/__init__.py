"""eventmesh: run event-driven Python services the way AWS Lambda runs functions.

Everything public is importable from here; the modules behind it are private.
"""

from eventmesh._aws_credentials import AwsCredentials
from eventmesh._clock import Clock, RealClock
from eventmesh._context import Context
from eventmesh._destinations import Destination
from eventmesh._errors import (
    BackendError,
    BackpressureError,
    ConfigurationError,
    EventMeshError,
    IdempotencyError,
    IdempotencyInProgressError,
    IdempotencyKeyError,
    IdempotencyPayloadMismatchError,
    InvocationError,
    PatternError,
    PayloadError,
    RecursiveInvocationError,
    RequestTooLargeError,
    ResourceNotFoundError,
    TooManyRequestsError,
)
from eventmesh._function import Alias, Function, FunctionConfig, FunctionStats, FunctionVersion
from eventmesh._invocation import CallHandler, Invocation, InvocationResult, Middleware
from eventmesh._mesh import Mesh
from eventmesh.idempotency import Idempotency
from eventmesh.patterns import FilterPolicy, Pattern
from eventmesh.resources.bucket import Bucket
from eventmesh.resources.bus import Bus, InputTransformer, Target
from eventmesh.resources.queue import Message, Queue
from eventmesh.resources.schedule import Schedule
from eventmesh.resources.schedule_expression import ScheduleExpression
from eventmesh.resources.stream import Stream
from eventmesh.resources.topic import Topic
from eventmesh.telemetry import Telemetry

__version__ = "0.1.0"

__all__ = [
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
]
