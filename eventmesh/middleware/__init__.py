"""Middleware: functions from "call the handler" to "call the handler".

``Mesh(middleware=[...])`` puts middleware around every function's invocations and
``mesh.function(..., middleware=[...])`` around one function's. Each takes the next call
and returns a new one::

    def log_errors(call_handler: CallHandler) -> CallHandler:
        async def logged(invocation: Invocation) -> InvocationResult:
            result = await call_handler(invocation)
            if result.function_error:
                logger.warning("%r failed: %s", invocation, result.payload["errorMessage"])
            return result

        return logged

The chains are composed once, when the mesh starts: telemetry (while on) outermost, then the
mesh's middleware in list order, then the function's, then its idempotency, then the handler
in an execution environment. Every invocation on every path goes through them: ``mesh.invoke``,
Event invocations and each of their retries, queue and stream batches, topic, bucket,
schedule and bus deliveries. They run in the mesh's process, inside the invocation's unit of
concurrency and outside the execution environment; the function's timeout covers the
handler, not them. What a middleware raises becomes the invocation's function error.

Telemetry (:class:`TelemetryMiddleware`) and idempotency (:class:`IdempotencyMiddleware`)
are middleware themselves, one module each.
"""

from eventmesh._invocation import CallHandler, Invocation, InvocationResult, Middleware
from eventmesh.middleware.idempotency import IdempotencyMiddleware
from eventmesh.middleware.telemetry import TelemetryMiddleware

__all__ = [
    "CallHandler",
    "IdempotencyMiddleware",
    "Invocation",
    "InvocationResult",
    "Middleware",
    "TelemetryMiddleware",
]
