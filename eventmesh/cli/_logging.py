"""The command's log: lines with time and level, or one JSON object per line for shippers.

``text`` (the default): ``2026-12-07T02:45:43.123Z INFO    eventmesh: running ...``.
``json``: ``{"time": "2026-12-07T02:45:43.123Z", "level": "INFO", "logger": "eventmesh",
"message": "...", ...}`` with every field the mesh's loggers attach to the record (the
function's name, the request id, the phase of an invocation line, an HTTP access line's
fields) and, for a record carrying an exception, ``"exception"``: its formatted traceback.
Times are UTC.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO

import orjson

from eventmesh.cli._settings import CliError

__all__ = [
    "FORMATS",
    "LEVELS",
    "JsonFormatter",
    "TextFormatter",
    "check_format",
    "check_level",
    "configure",
    "format_value",
    "level_value",
]

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
FORMATS = ("text", "json")
LEVEL_EXPECTED = f"expected one of {', '.join(LEVELS)} (any case)"
FORMAT_EXPECTED = "expected text or json"

_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)
"""A record's own attributes; anything else on it came from ``extra=``."""

_DROPPED = frozenset(("color_message",))
"""``extra=`` fields that only repeat the message: uvicorn's copy with ANSI colours."""


def _utc(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


class TextFormatter(logging.Formatter):
    """``time level logger: message``, the time in UTC (ISO 8601, milliseconds)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _utc(record.created)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the record's extra fields,
    and ``exception`` when it carries one."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key in _STANDARD or key in _DROPPED or key.startswith("_") or key in fields:
                continue
            fields[key] = value
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            fields["exception"] = record.exc_text
        if record.stack_info:
            fields["stack"] = record.stack_info
        return orjson.dumps(fields, default=str).decode()


def check_level(level: str) -> str:
    """A level name (any case), or a usage error listing the names."""
    upper = str(level).strip().upper()
    if upper not in LEVELS:
        raise CliError(f"--log-level {level!r}: {LEVEL_EXPECTED}", status=2)
    return upper


def check_format(name: str) -> str:
    lower = str(name).strip().lower()
    if lower not in FORMATS:
        raise CliError(f"--log-format {name!r}: {FORMAT_EXPECTED}", status=2)
    return lower


def level_value(text: str) -> None:
    """An ``EVENTMESH_LOG_LEVEL`` value's check (the message names the variable)."""
    if text.strip().upper() not in LEVELS:
        raise CliError(LEVEL_EXPECTED, 2)


def format_value(text: str) -> None:
    if text.strip().lower() not in FORMATS:
        raise CliError(FORMAT_EXPECTED, 2)


def configure(level: str, format: str = "text", stream: TextIO | None = None) -> None:
    """Send every logger's records at ``level`` and above to ``stream`` (stderr) in
    ``format``, replacing the root logger's handlers (so a second call in one process, a test's
    say, does not double the lines).

    uvicorn's INFO lines (``Started server process [pid]``, ``Shutting down``) are left out
    below DEBUG: the HTTP front and the AWS endpoint each say when they serve and stop (uvicorn
    said it once per server, so twice in a process serving both)."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if check_format(format) == "json" else TextFormatter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(check_level(level))
    logging.getLogger("uvicorn.error").setLevel(
        logging.DEBUG if check_level(level) == "DEBUG" else logging.WARNING
    )
