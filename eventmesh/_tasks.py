"""Background tasks: how eventmesh stops them."""

from __future__ import annotations

import asyncio

__all__ = ["stop_tasks"]


async def stop_tasks(tasks: set[asyncio.Task[None]], grace: float = 5.0) -> None:
    """Cancel background tasks and wait for them, but not forever: a handler may swallow
    the cancellation. A cancellation of the caller itself still propagates."""
    pending = list(tasks)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=grace)
