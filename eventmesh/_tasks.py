"""Background tasks: how eventmesh stops them."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Coroutine
from typing import Any

__all__ = ["abandon_deliveries", "start_task", "stop_tasks"]


def start_task(
    tasks: set[asyncio.Task[None]],
    coroutine: Coroutine[Any, Any, None],
    name: str,
    context: contextvars.Context | None = None,
) -> asyncio.Task[None]:
    """Start a background task, kept in ``tasks`` while it runs (for :func:`stop_tasks`); in
    a copy of ``context`` when given, else of the current one."""
    task = asyncio.create_task(
        coroutine, name=name, context=None if context is None else context.copy()
    )
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return task


async def stop_tasks(tasks: set[asyncio.Task[None]], grace: float = 5.0) -> None:
    """Cancel background tasks and wait for them, but not forever: a handler may swallow
    the cancellation. A cancellation of the caller itself still propagates."""
    pending = list(tasks)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=grace)


async def abandon_deliveries(
    deliveries: set[asyncio.Task[None]],
    backing_off: int,
    owner: str,
    logger: logging.Logger,
    *others: asyncio.Task[None],
) -> int:
    """Stop a resource's in-memory deliveries (topic, bus) at shutdown: say how many were
    abandoned, and how many of those were waiting to retry. Returns how many."""
    abandoned = len(deliveries)
    if abandoned:
        logger.warning(
            "abandoned: %s %d deliveries unfinished (%d waiting to retry)",
            owner,
            abandoned,
            backing_off,
        )
    await stop_tasks({*deliveries, *others})
    return abandoned
