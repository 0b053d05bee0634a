"""Spans, metrics and structured logs for invocations: see :mod:`eventmesh.middleware.telemetry`.

``Telemetry`` (where a mesh sends spans and metrics) and the ``eventmesh.invocations``
logger stay importable from here.
"""

from eventmesh.middleware.telemetry import Telemetry, invocation_logger

__all__ = ["Telemetry", "invocation_logger"]
