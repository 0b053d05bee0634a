"""The last 4 KB of one invocation's log, for Invoke's ``LogType=Tail``.

An invocation's log is what the mesh writes to the ``eventmesh.invocations`` logger with its
request id: the START, END and REPORT lines and, for a function running in processes, every
line its process printed (see :mod:`eventmesh.process._output`). While at least one
``Tail`` invocation runs, a filter on that logger copies each record carrying a request id
into a bounded buffer for it; the invocation takes its own buffer when it returns.

That logger's lines are built only when INFO is enabled on it. When the application keeps it
quieter, the logger is lowered to INFO for as long as Tail invocations run, and the filter
drops what the application's level would have dropped, so its handlers see the same lines
as before.
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict, deque
from collections.abc import Iterator

from eventmesh.telemetry import invocation_logger

__all__ = ["MAX_TAIL", "LogTail", "TAIL"]

MAX_TAIL = 4096
"""Lambda's LogResult: the last 4 KB of the invocation's log."""
_MAX_REQUESTS = 1024
"""Buffers kept at once: records of invocations nobody tails are dropped oldest first."""


class LogTail(logging.Filter):
    """Collects the log lines of invocations by request id while someone tails one."""

    def __init__(self, logger: logging.Logger = invocation_logger) -> None:
        super().__init__()
        self._logger = logger
        self._active = 0
        self._floor = 0
        self._saved_level = logging.NOTSET
        self._buffers: OrderedDict[str, deque[bytes]] = OrderedDict()
        self._sizes: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = getattr(record, "request_id", None)
        if self._active and isinstance(request_id, str):
            self._add(request_id, record)
        return record.levelno >= self._floor

    def _add(self, request_id: str, record: logging.LogRecord) -> None:
        try:
            line = (record.getMessage() + "\n").encode("utf-8", "replace")
        except Exception:  # a record whose arguments do not format: not ours to raise
            return
        buffer = self._buffers.get(request_id)
        if buffer is None:
            buffer = self._buffers[request_id] = deque()
            self._sizes[request_id] = 0
            while len(self._buffers) > _MAX_REQUESTS:
                dropped, _ = self._buffers.popitem(last=False)
                self._sizes.pop(dropped, None)
        buffer.append(line)
        size = self._sizes[request_id] + len(line)
        while size - len(buffer[0]) >= MAX_TAIL and len(buffer) > 1:
            size -= len(buffer.popleft())
        self._sizes[request_id] = size

    @contextlib.contextmanager
    def capturing(self) -> Iterator[None]:
        """Collect records while the block runs (nested and concurrent blocks share it)."""
        if self._active == 0:
            self._start()
        self._active += 1
        try:
            yield
        finally:
            self._active -= 1
            if self._active == 0:
                self._stop()

    def take(self, request_id: str) -> bytes:
        """The last 4 KB collected for ``request_id`` (forgotten once taken)."""
        buffer = self._buffers.pop(request_id, None)
        self._sizes.pop(request_id, None)
        if not buffer:
            return b""
        return b"".join(buffer)[-MAX_TAIL:]

    def _start(self) -> None:
        logger = self._logger
        self._saved_level = logger.level
        effective = logger.getEffectiveLevel()
        self._floor = 0 if effective <= logging.INFO else effective
        if effective > logging.INFO:
            logger.setLevel(logging.INFO)
        logger.addFilter(self)

    def _stop(self) -> None:
        logger = self._logger
        logger.removeFilter(self)
        if logger.level == logging.INFO and self._floor:
            logger.setLevel(self._saved_level)
        self._floor = 0
        self._buffers.clear()
        self._sizes.clear()


TAIL = LogTail()
"""The one collector the Invoke operation uses."""
