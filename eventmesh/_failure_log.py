"""The log line of a function error on an asynchronous path, where no caller sees it.

A RequestResponse caller gets the error object back; an Event invocation, a queue or stream
mapping, a topic or bus delivery to a function or a schedule does not, so each failed
attempt writes one line to the ``eventmesh.invocations`` logger (beside START, END and
REPORT), shaped as the Lambda Python runtime's own error line::

    [ERROR] ValueError: declined RequestId: 3f0c... Function: charge Attempt: 2 Source: queue q
    Traceback (most recent call last):
      File "app.py", line 12, in charge
        ...

The level is ERROR, as Lambda's: the failure is the function's, and an attempt that will be
retried is still a failure someone should see (retries hide nothing: each attempt has its
line, with its number). The fields are also in ``extra``: ``function_name``, ``request_id``,
``attempt``, ``error_type``, ``error_message``, ``source``. URLs in the message are redacted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from eventmesh._redact import redact_text
from eventmesh.telemetry import invocation_logger

__all__ = ["log_function_error"]


def log_function_error(
    function_name: str, request_id: str, attempt: int, error: Any, source: str
) -> None:
    """Write the ``[ERROR]`` line of one failed attempt (``error`` is Lambda's error object)."""
    if not invocation_logger.isEnabledFor(logging.ERROR):
        return
    if isinstance(error, Mapping):
        error_type = str(error.get("errorType", "Unhandled"))
        message = redact_text(str(error.get("errorMessage", "")))
        trace = error.get("stackTrace") or []
    else:
        error_type, message, trace = "Unhandled", redact_text(str(error)), []
    lines = [
        f"[ERROR] {error_type}: {message} RequestId: {request_id} Function: {function_name} "
        f"Attempt: {attempt} Source: {source}"
    ]
    if trace:
        lines.append("Traceback (most recent call last):")
        lines.extend(str(frame).rstrip("\n") for frame in trace)
    invocation_logger.error(
        "\n".join(lines),
        extra={
            "function_name": function_name,
            "request_id": request_id,
            "attempt": attempt,
            "error_type": error_type,
            "error_message": message,
            "source": source,
            "phase": "ERROR",
        },
    )
