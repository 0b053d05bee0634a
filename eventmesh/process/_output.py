"""A process's output, line by line, into the mesh's invocation log.

Each line is logged with the function's name and the request id of the invocation the
environment ran last (None during init, before the first one): what Lambda's log stream shows
between START and END. A last line without a newline is logged when the process closes its
output (at exit).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from eventmesh.telemetry import invocation_logger

__all__ = ["MAX_LINE", "relay_output"]

MAX_LINE = 256 * 1024
"""The reader's limit: a longer line is logged in pieces of this size."""


async def relay_output(
    stream: asyncio.StreamReader,
    source: str,
    function_name: str,
    request_id: Callable[[], str | None],
) -> None:
    """Log every line ``stream`` yields until its end (``source``: stdout or stderr)."""
    while True:
        try:
            line = await stream.readuntil(b"\n")
        except asyncio.IncompleteReadError as end:
            line = end.partial
            if line:
                _log(line, source, function_name, request_id())
            return
        except asyncio.LimitOverrunError as over:
            line = await stream.readexactly(over.consumed)
        _log(line.rstrip(b"\n"), source, function_name, request_id())


def _log(line: bytes, source: str, function_name: str, request_id: str | None) -> None:
    invocation_logger.info(
        "%s",
        line.decode("utf-8", "replace"),
        extra={
            "request_id": request_id,
            "function_name": function_name,
            "phase": "OUTPUT",
            "stream": source,
        },
    )
