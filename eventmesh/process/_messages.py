"""What passes between an environment and its Runtime API: an invocation, and how a phase ended.

(No HTTP here: the server, :mod:`eventmesh.process._runtime_api`, needs the optional h11.)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from opentelemetry import trace

__all__ = ["JSON_HEADER", "Invocation", "Outcome", "trace_header"]

JSON_HEADER = (b"content-type", b"application/json")
"""On every Runtime API response: AWS's runtime client crashes on one without it."""


def trace_header(request_id: str) -> str:
    """Lambda's ``Lambda-Runtime-Trace-Id`` for an invocation (the runtime client sets
    ``_X_AMZN_TRACE_ID`` from it, where the X-Ray SDK and Powertools' Tracer read it):
    ``Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=0``. The root and parent are the
    invocation span's trace and span ids when the mesh traces (X-Ray's root is the W3C trace id
    cut after its first 8 digits), else digits made from the request id. ``Sampled=0``: the
    mesh runs no X-Ray daemon, so the SDK records nothing, where without any header it warns at
    every subsegment that "the Lambda worker is still initializing"."""
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        root, parent = f"{span.trace_id:032x}", f"{span.span_id:016x}"
    else:
        digits = hashlib.sha256(request_id.encode()).hexdigest()
        root, parent = digits[:32], digits[32:48]
    return f"Root=1-{root[:8]}-{root[8:]};Parent={parent};Sampled=0"


@dataclass(slots=True)
class Invocation:
    """What ``/next`` hands the runtime: the event's JSON and Lambda's headers."""

    request_id: str
    body: bytes
    deadline_ms: int
    invoked_function_arn: str
    trace_id: str | None = None
    client_context: str | None = None
    cognito_identity: str | None = None

    def headers(self) -> list[tuple[bytes, bytes]]:
        headers = [
            JSON_HEADER,
            (b"lambda-runtime-aws-request-id", self.request_id.encode()),
            (b"lambda-runtime-deadline-ms", str(self.deadline_ms).encode()),
            (b"lambda-runtime-invoked-function-arn", self.invoked_function_arn.encode()),
        ]
        for name, value in (
            (b"lambda-runtime-trace-id", self.trace_id),
            (b"lambda-runtime-client-context", self.client_context),
            (b"lambda-runtime-cognito-identity", self.cognito_identity),
        ):
            if value is not None:
                headers.append((name, value.encode()))
        return headers


@dataclass(slots=True)
class Outcome:
    """How a phase ended.

    ``kind``: ``"ready"`` (the runtime asked for its first invocation: init is done),
    ``"init_error"`` (``error``: the body posted), ``"response"`` (``body``), ``"error"``
    (``error``; ``error_type``: the header), ``"too_large"`` (``size`` of the response
    refused), ``"exited"`` (the runtime's process ended; the environment reads how),
    ``"not_taken"`` (it ended before asking for the invocation handed to it).
    """

    kind: str
    body: bytes = b""
    error: bytes = b""
    error_type: str | None = None
    size: int = 0
