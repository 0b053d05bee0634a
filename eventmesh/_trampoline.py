"""Driving an ``async def`` handler so that its deadline holds whatever the handler does.

A warm invocation runs its handler in the caller's own task, with no task or timer of its own
(see :mod:`eventmesh._invoker`). :func:`drive` sits between the two: it sends and throws into
the handler's coroutine and yields what the coroutine yields, exactly as a Task would, and
watches for the two things a Task cannot stop:

* **The handler swallows its deadline's cancellation and carries on** (``except
  CancelledError`` around an await, then more awaits), or awaits while it unwinds (a
  ``TaskGroup`` waiting for its cancelled children, an ``async with`` whose exit awaits; no
  one can tell the two apart). Lambda would kill the runtime at the
  deadline; here :func:`drive` stops driving the coroutine, and raises :class:`Overran` so
  the invoker answers ``Sandbox.Timedout`` at the deadline and releases the concurrency. The
  coroutine is not lost: :class:`AbandonedWork` keeps running it in a background task,
  reports it, and cancels it again when the mesh stops.
* **One step of the handler blocks the event loop past the deadline** (``time.sleep`` or
  blocking I/O in a coroutine). No timer can fire while the loop is blocked, so each step is
  timed, and a step that ends past the deadline makes the invocation a timeout, reported as a
  stall; what the handler had left to do is cancelled. (The step that ends the handler is
  timed by the invoker, which reads the clock at the end of every invocation anyway.)

Code in an abandoned coroutine that captured "the current task" before its deadline (an
``asyncio.timeout`` it is still inside, say) still points at the invoking task: a runaway
handler can do harm there, as it could in a shared process; it can no longer block the caller.
"""

from __future__ import annotations

import asyncio
import logging
import types
from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eventmesh._environment import Environment

__all__ = ["AbandonedWork", "Overran", "drive", "drive_on"]

logger = logging.getLogger("eventmesh.invocations")


class Overran(Exception):
    """An invocation ran past its deadline in a way a cancellation could not stop.

    Raised by :func:`drive` to the invoker, never to handler code. ``coroutine`` and
    ``pending`` (what it last yielded) are the handler's work still running, or ``None`` when
    it ended; ``blocked`` is how long one step blocked the event loop, when that is the cause.
    """

    def __init__(
        self,
        coroutine: Coroutine[Any, Any, Any] | None,
        pending: Any = None,
        blocked: float | None = None,
    ) -> None:
        super().__init__("the invocation ran past its deadline")
        self.coroutine = coroutine
        self.pending = pending
        self.blocked = blocked


@types.coroutine
def drive(
    coroutine: Coroutine[Any, Any, Any], environment: Environment, now: Callable[[], float]
) -> Generator[Any, Any, Any]:
    """Run ``coroutine`` in the awaiting task, under ``environment.deadline``.

    The first step is inlined: a handler that finishes without waiting (the common warm
    case) costs one generator here. Whether the step that ends the handler blocked the loop
    past the deadline is the invoker's to check, with the clock reading it takes at the end
    of every invocation anyway.
    """
    try:
        pending = coroutine.send(None)
    except StopIteration as stop:
        return stop.value
    return (yield from _drive_on(coroutine, environment, now, pending))


@types.coroutine
def drive_on(
    coroutine: Coroutine[Any, Any, Any],
    environment: Environment,
    now: Callable[[], float],
    pending: Any,
) -> Generator[Any, Any, Any]:
    """:func:`drive` from the second step, for a caller that made the first step itself
    (``coroutine.send(None)`` returned ``pending``): the warm path of the invoker, which
    then needs no generator at all for a handler that finishes without waiting."""
    return (yield from _drive_on(coroutine, environment, now, pending))


def _drive_on(
    coroutine: Coroutine[Any, Any, Any],
    environment: Environment,
    now: Callable[[], float],
    pending: Any,
) -> Generator[Any, Any, Any]:
    """After the first step: yield what the coroutine yields, time each step, watch the
    deadline. When the last step began is left in ``environment.step_began``, for the
    invoker's check of the step that ends the handler."""
    deadline = environment.deadline
    begun = deadline - environment.timeout  # the first step began with the invocation
    while True:
        if environment.timed_out:
            # The deadline's cancellation was just thrown in, and the handler carried on.
            raise Overran(coroutine, pending)
        ended = now()
        if ended > deadline:
            _stop_stalled(coroutine, pending, ended - begun)
        try:
            value = yield pending
        except BaseException as exc:  # what the task throws in: the coroutine's to handle
            environment.step_began = begun = now()
            try:
                pending = coroutine.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            environment.step_began = begun = now()
            try:
                pending = coroutine.send(value)
            except StopIteration as stop:
                return stop.value


def _stop_stalled(coroutine: Coroutine[Any, Any, Any], pending: Any, blocked: float) -> None:
    """A step blocked the loop past the deadline: cancel the rest, as the deadline would have."""
    if isinstance(pending, asyncio.Future):
        pending.cancel()
    try:
        pending = coroutine.throw(asyncio.CancelledError())
    except BaseException:  # ended (returned, re-raised, failed): the timeout is the outcome
        raise Overran(None, blocked=blocked) from None
    raise Overran(coroutine, pending, blocked)


@types.coroutine
def _resume(
    coroutine: Coroutine[Any, Any, Any], pending: Any, work: AbandonedWork
) -> Generator[Any, Any, Any]:
    """Carry on driving ``coroutine`` from where it yielded ``pending``, as a Task would,
    until ``work`` gives up on it (:meth:`AbandonedWork.stop`): then what is thrown in ends
    the driving, and the coroutine is closed instead of being asked again."""
    while True:
        try:
            value = yield pending
        except BaseException as exc:
            if work.closing:
                _close(coroutine)
                raise
            try:
                pending = coroutine.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                pending = coroutine.send(value)
            except StopIteration as stop:
                return stop.value


def _close(coroutine: Coroutine[Any, Any, Any]) -> None:
    """Close a coroutine no one drives any more; whatever its ``finally`` does is its own."""
    try:
        coroutine.close()
    except BaseException:  # it ignored GeneratorExit or raised in its cleanup: nothing to do
        logger.debug("an abandoned coroutine did not close cleanly", exc_info=True)


class AbandonedWork:
    """Handler coroutines that outlived their invocation, each run on by a background task.

    ``total`` counts every one abandoned; ``running`` is how many still run. :meth:`stop`
    (when the mesh stops) cancels them again and waits up to ``grace`` seconds; what still
    runs then is no longer driven: its coroutine is closed, so that no task is left that
    would hold up the event loop's own shutdown (``asyncio.run`` cancels every task left and
    waits for each to end).
    """

    grace = 5.0
    """Seconds :meth:`stop` waits for abandoned work to end after cancelling it."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._tasks: dict[asyncio.Task[None], str] = {}
        self.total = 0
        self.closing = False

    @property
    def running(self) -> int:
        return len(self._tasks)

    def adopt(
        self,
        coroutine: Coroutine[Any, Any, Any],
        pending: Any,
        function_name: str,
        request_id: str,
        deadline: float,
    ) -> None:
        """Run ``coroutine`` on in the background from ``pending``; report it as it ends."""
        self.total += 1
        description = f"function {function_name} RequestId: {request_id}"
        task = asyncio.get_running_loop().create_task(
            self._finish(coroutine, pending, description, deadline),
            name=f"eventmesh.abandoned.{function_name}.{request_id}",
        )
        self._tasks[task] = description
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)

    async def _finish(
        self,
        coroutine: Coroutine[Any, Any, Any],
        pending: Any,
        description: str,
        deadline: float,
    ) -> None:
        outcome = "returned"
        try:
            await _resume(coroutine, pending, self)
        except asyncio.CancelledError:
            outcome = "was cancelled"
        except BaseException as exc:  # a runaway handler's end is only reported
            outcome = f"raised {type(exc).__name__}"
        logger.info(
            "%s: abandoned work %s %.2f s after its deadline; its result is discarded",
            description,
            outcome,
            self._now() - deadline,
        )

    async def stop(self) -> None:
        """Cancel what still runs and wait up to :attr:`grace` seconds; then close what is
        left (it swallowed the cancellation again) and name it."""
        tasks = list(self._tasks)
        if not tasks:
            return
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=self.grace)
        left = [task for task in tasks if not task.done()]
        if not left:
            return
        names = [self._tasks[task] for task in left]
        self.closing = True
        try:
            for task in left:
                task.cancel()  # thrown into _resume, which now closes the coroutine
            await asyncio.wait(left)
        finally:
            self.closing = False
        logger.warning(
            "%d abandoned invocations still ran %.2f s after being cancelled at stop; they "
            "were closed (no longer run): %s",
            len(names),
            self.grace,
            "; ".join(names),
        )
