"""Progress while a side runs: a rich bar on stderr, or nothing (``--no-progress``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from time import perf_counter
from typing import Any, Protocol

from eventmesh.bench.recorder import Recorder

__all__ = ["NullProgress", "ProgressHook", "RichProgress", "ticking"]

TICK = 0.2


class ProgressHook(Protocol):
    def begin(self, label: str, total: float) -> None:
        """A new phase: ``total`` events, or seconds when counting by time."""

    def update(self, completed: float) -> None: ...

    def end(self) -> None: ...


class NullProgress:
    def begin(self, label: str, total: float) -> None:
        pass

    def update(self, completed: float) -> None:
        pass

    def end(self) -> None:
        pass


class RichProgress:
    """One bar per phase. Refreshed from the event loop (no rich thread taking the GIL)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description:<34}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            auto_refresh=False,
            transient=True,
        )
        self._task: Any = None

    def begin(self, label: str, total: float) -> None:
        if self._task is None:
            self._progress.start()
        else:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(label, total=max(total, 1))
        self._progress.refresh()

    def update(self, completed: float) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=completed)
            self._progress.refresh()

    def end(self) -> None:
        if self._task is not None:
            self._progress.stop()
            self._task = None


@contextlib.asynccontextmanager
async def ticking(
    progress: ProgressHook,
    label: str,
    recorder: Recorder,
    *,
    events: int | None,
    seconds: float | None,
) -> AsyncIterator[None]:
    """Show a phase's progress: events handled of ``events``, or seconds of ``seconds``."""
    by_time = events is None
    progress.begin(label, float(seconds or 0.0) if by_time else float(events or 0))
    started = perf_counter()

    async def tick() -> None:
        while True:
            await asyncio.sleep(TICK)
            if by_time:
                progress.update(min(perf_counter() - started, seconds or 0.0))
            else:
                progress.update(recorder.count)

    task = asyncio.create_task(tick())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        progress.update(float(seconds or 0.0) if by_time else float(recorder.count))
