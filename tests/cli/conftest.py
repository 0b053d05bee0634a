"""The commands configure logging for their process (the root logger's handler and level, the
invocation log's handler): tests calling ``main`` in process get it all back afterwards."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from eventmesh.telemetry import invocation_logger


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    uvicorn = logging.getLogger("uvicorn.error")
    uvicorn_level = uvicorn.level
    invocations = (
        invocation_logger.handlers[:],
        invocation_logger.propagate,
        invocation_logger.level,
    )
    yield
    root.handlers[:], level = saved
    root.setLevel(level)
    uvicorn.setLevel(uvicorn_level)
    invocation_logger.handlers[:], invocation_logger.propagate, level = invocations
    invocation_logger.setLevel(level)
