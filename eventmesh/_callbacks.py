"""Calling user code that is not a function: callable targets of topics, buses and schedules,
and destination objects (anything with ``send``) of async invocations and stream mappings.

A function's handler is contained by the invoker. Such code is called directly by a delivery
task or a worker, so what it raises that is not an ``Exception`` (``KeyboardInterrupt``,
``SystemExit``, ``GeneratorExit``, a bare ``BaseException``) would end that task, and a
``KeyboardInterrupt`` or ``SystemExit`` would leave the event loop and stop the process.
:func:`contained` turns it into :class:`CallbackExited`, an ``Exception``: a failed delivery,
retried and reported like any other. Only a real cancellation of the calling task passes
through unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["CallbackExited", "contained"]

T = TypeVar("T")


class CallbackExited(Exception):
    """A callable target raised a ``BaseException`` that is not an ``Exception``."""


async def contained(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable``; a non-``Exception`` it raises becomes :class:`CallbackExited`.

    A ``CancelledError`` is passed on only when the awaiting task is being cancelled (the
    mesh's stop); raised while it is not (the callable awaited a task someone else
    cancelled), it is a failure like any other, which would otherwise end the delivery
    without a retry or a record, as if the mesh had cancelled it.
    """
    try:
        return await awaitable
    except Exception:
        raise
    except asyncio.CancelledError as exc:
        task = asyncio.current_task()
        if task is None or task.cancelling() > 0:
            raise
        raise CallbackExited(
            "the callable raised CancelledError while its task was not cancelled"
        ) from exc
    except BaseException as exc:  # not an Exception: the callable tried to exit
        detail = f": {exc}" if str(exc) else ""
        raise CallbackExited(f"the callable raised {type(exc).__name__}{detail}") from exc
