"""The Lambda proxy integration: invoke the function synchronously, within the API's
integration timeout, and turn Lambda's refusals into the gateway's errors.

On a timeout the gateway answers at once and the invocation runs on (as on AWS, where the
function is not stopped when API Gateway gives up); its end is observed so that nothing is
left unretrieved. Time is the mesh's clock, so tests move it with a VirtualClock; deadlines
go through one :class:`~eventmesh._deadlines.DeadlineWatcher`, not a timer per request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import orjson

from eventmesh._deadlines import DeadlineWatcher
from eventmesh._errors import EventMeshError, TooManyRequestsError
from eventmesh._function import Function
from eventmesh._invocation import InvocationResult
from eventmesh.gateway.errors import GatewayError
from eventmesh.resources.context import ResourceContext

__all__ = ["MAX_LAMBDA_PAYLOAD", "MAX_REQUEST_BODY", "Integration"]

logger = logging.getLogger("eventmesh.gateway")

MAX_REQUEST_BODY = 10 * 1024 * 1024
"""API Gateway's payload limit (10 MB), checked on the request body."""
MAX_LAMBDA_PAYLOAD = 6 * 1024 * 1024
"""Lambda's limit on a synchronous invocation's payload (6 MB), checked on the event."""

_running: set[asyncio.Task[Any]] = set()


def _observe(task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.warning("an invocation the gateway gave up on failed: %r", task.exception())


class _Waiter:
    """One request waiting for its invocation: settled by the invocation's end or by the
    deadline, whichever comes first."""

    __slots__ = ("future",)

    def __init__(self, future: asyncio.Future[None]) -> None:
        self.future = future

    def on_deadline(self) -> None:
        if not self.future.done():
            self.future.set_result(None)

    def finished(self, _: object) -> None:
        if not self.future.done():
            self.future.set_result(None)


class Integration:
    """Invokes functions for the gateway of one mesh."""

    def __init__(self, context: ResourceContext) -> None:
        self.context = context
        self._watcher = DeadlineWatcher(context.clock)

    async def invoke(
        self,
        function: Function | str,
        event: dict[str, Any],
        *,
        timeout: float | None,
        parent_context: Any,
    ) -> tuple[InvocationResult, float]:
        """The invocation's result and its latency in ms; raises :class:`GatewayError`
        (``throttled``, ``lambda_too_large``, ``timeout``, ``internal``)."""
        context = self.context
        try:
            target = context.resolve_function(function)
        except EventMeshError as exc:
            raise GatewayError("internal", f"no function: {exc.message}") from None
        size = len(orjson.dumps(event))
        if size > MAX_LAMBDA_PAYLOAD:
            raise GatewayError(
                "lambda_too_large",
                f"the event is {size} bytes; Lambda's limit is {MAX_LAMBDA_PAYLOAD}",
            )
        clock = context.clock
        started = clock.now()
        call = context.invoke_sync(target, event, trigger="http", parent_context=parent_context)
        try:
            if timeout is None:
                result = await call
            else:
                result = await self._within(call, timeout, started + timeout)
        except TooManyRequestsError as exc:
            raise GatewayError("throttled", f"throttled: {exc.reason}") from None
        except EventMeshError as exc:
            raise GatewayError("internal", f"invocation failed: {exc.message}") from None
        return result, (clock.now() - started) * 1000.0

    async def _within(
        self, call: Coroutine[Any, Any, InvocationResult], timeout: float, deadline: float
    ) -> InvocationResult:
        """The invocation runs in a task of its own, so that it can run on past the timeout;
        the request waits on one future that either the task's end or the deadline settles.
        No timer per request: one :class:`DeadlineWatcher` per gateway (as the invoker's)."""
        loop = asyncio.get_running_loop()
        task = loop.create_task(call)
        waiter = _Waiter(loop.create_future())
        task.add_done_callback(waiter.finished)
        watcher = self._watcher
        watcher.watch(waiter, timeout, deadline)
        try:
            await waiter.future
        finally:
            watcher.unwatch(waiter, timeout)
            if not task.done():  # timed out, or the request was cancelled: it runs on
                _running.add(task)
                task.add_done_callback(_observe)
        if task.done():
            return task.result()
        raise GatewayError("timeout", f"the integration timed out after {timeout:g} s")
