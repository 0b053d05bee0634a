"""The invoker: runs one invocation in an execution environment, and accounts for concurrency.

The hot path of a warm ``RequestResponse`` invocation runs in the caller's own task: no task,
no timer, no lock. A single :class:`~eventmesh._deadlines.DeadlineWatcher` cancels the task
of an invocation that outlives its timeout; the invoker recognises its own cancellation,
takes it back (``Task.uncancel``) and reports Lambda's timeout error instead. An ``async def``
handler is driven through :func:`~eventmesh._trampoline.drive`, so that one that ignores the
cancellation, or blocks the loop past its deadline, still times out at the deadline. A plain
``def`` handler runs in a thread of the mesh's own pool, so a slow one blocks nobody; on a
timeout its thread cannot be killed, so its environment is discarded rather than reused.

Whatever a handler raises becomes a function error (``BaseException`` included: a runtime
that exits); only a cancellation of the caller itself propagates.

A function with middleware (see :mod:`eventmesh.middleware`) runs through its chain, composed
when the mesh starts: inside the unit of concurrency, outside the execution environment. An
``Exception`` a middleware raises becomes the invocation's function error too, so it follows
Lambda's retry rules on every path (an Event invocation is retried, a queue batch comes back)
instead of escaping to a poller or a worker; being in the mesh's own process, a middleware's
``BaseException`` (``SystemExit``, a cancellation of the caller) is not caught.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import traceback
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import orjson

from eventmesh._clock import Clock
from eventmesh._context import ClientContext, Context, enter_environment
from eventmesh._deadlines import DeadlineWatcher
from eventmesh._errors import (
    EventMeshError,
    PayloadError,
    RecursiveInvocationError,
    ReportedFunctionError,
    RequestTooLargeError,
    TooManyRequestsError,
)
from eventmesh._ids import RequestIds
from eventmesh._invocation import CallHandler, Invocation, InvocationResult, Middleware
from eventmesh._marshal import MARSHAL_OPTIONS, MarshalError, lambda_marshal, lambda_size
from eventmesh._trampoline import AbandonedWork, Overran, drive, drive_on
from eventmesh._validation import check_finite, has_non_finite, json_error
from eventmesh.middleware.stack import MiddlewareStack
from eventmesh.telemetry import Telemetry, invocation_logger

if TYPE_CHECKING:
    from eventmesh._environment import Environment
    from eventmesh._function import Function, FunctionVersion

__all__ = ["EncodedEvent", "InvocationResult", "Invoker", "encode_payload", "function_error"]

HANDLER_THREADS = "eventmesh-handler"
"""The name prefix of the threads running plain ``def`` handlers: one still alive after the
mesh stopped runs a handler past its timeout, which nothing can stop."""

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_RUNTIME_FILES = frozenset(
    os.path.join(_PACKAGE_DIR, name)
    for name in ("_invoker.py", "_async_queue.py", "_mesh.py", "_environment.py", "_trampoline.py")
)
_MIDDLEWARE_DIR = os.path.join(_PACKAGE_DIR, "middleware")
try:  # Python 3.11's asyncio.current_task is pure Python; its table is one dict lookup away
    from asyncio.tasks import _current_tasks as _tasks  # type: ignore[attr-defined]

    _current_tasks: dict[asyncio.AbstractEventLoop | None, asyncio.Task[Any]] = _tasks
    _current_task: Callable[[asyncio.AbstractEventLoop | None], asyncio.Task[Any] | None]
    _current_task = _current_tasks.get  # the dict's own get: no Python frame per call

except ImportError:  # pragma: no cover - other Pythons
    _current_task = asyncio.current_task
_dumps = orjson.dumps
_INFO = logging.INFO
_logs_info = invocation_logger.isEnabledFor  # bound once: the logger is the module's for good
_known_level: Callable[[int], bool | None] = getattr(invocation_logger, "_cache", {}).get
"""What ``isEnabledFor`` last answered for a level (logging's own cache, cleared in place
whenever a level changes), or None: a False there is final (a logger disabled since answers
False too), so the hot path asks ``isEnabledFor`` (a Python call) only otherwise."""
_RAW_JSON = (bytes, bytearray, memoryview)
_loads = orjson.loads
_new_result = InvocationResult.__new__

SHARED = "shared"
RESERVED = "reserved"
"""The pools a unit of concurrency comes from: the mesh's unreserved pool, or the function's."""

STALL_REPORT_SECONDS = 0.1
"""A step that blocked the loop this long and ran past the deadline is logged as a stall
(asyncio's own threshold for a slow callback); a shorter one is a plain timeout."""

ON_DEMAND_INIT = "Init"
PROVISIONED_INIT = "ProvisionedInit"
"""The ``invocation_type`` of an init hook's context: an on-demand environment's cold start, or
a provisioned environment initialised ahead of any invocation."""

RECURSION_LIMIT = 16
"""How many times one chain of invocations may run the same function (Lambda's loop limit)."""

invocation_chain: contextvars.ContextVar[Mapping[str, int] | None] = contextvars.ContextVar(
    "eventmesh_invocation_chain", default=None
)
"""How many times each function has run in the chain of invocations that led here."""


def function_error(exc: BaseException) -> dict[str, Any]:
    """Lambda's Python error object, with eventmesh's own frames left out of the trace."""
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if frame.filename not in _RUNTIME_FILES
        and "concurrent/futures" not in frame.filename
        and not frame.filename.startswith(_MIDDLEWARE_DIR)
    ]
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_list(frames),
    }


def _timeout_error(request_id: str, timeout: float) -> dict[str, Any]:
    return {
        "errorMessage": (
            f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
        ),
        "errorType": "Sandbox.Timedout",
        "stackTrace": [],
    }


class EncodedEvent:
    """An event eventmesh encoded as JSON itself (orjson's output, or pieces of it joined,
    as a topic's Lambda event is), in ``data``: :func:`encode_payload` takes it as it is
    and checks only its size, where bytes from a caller are parsed first to prove they are
    JSON. (A wrapper, not a bytes subclass: orjson parses only bytes itself.)"""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


def encode_payload(payload: Any, limit: int, function_name: str) -> bytes:
    """The payload as JSON bytes, checked against ``limit``; raises PayloadError or 413."""
    if type(payload) is EncodedEvent:
        body = payload.data
    elif isinstance(payload, _RAW_JSON):
        body = bytes(payload)
        try:
            _loads(body)
        except orjson.JSONDecodeError as exc:
            raise PayloadError(
                f"payload bytes are not a JSON document: {exc}", function_name=function_name
            ) from None
    else:
        try:
            body = _dumps(payload)
        except TypeError:
            raise json_error(payload, "payload", function_name=function_name) from None
        if body.partition(b"null")[1]:  # NaN and Infinity are written as null: only then look
            check_finite(payload, body, "payload", function_name=function_name)
    if len(body) > limit:
        raise RequestTooLargeError(
            f"request payload is {len(body)} bytes; the limit for this invocation type is "
            f"{limit} bytes",
            function_name=function_name,
        )
    return body


class Invoker:
    """Runs invocations: concurrency accounting, middleware, environments, deadlines."""

    def __init__(
        self,
        *,
        clock: Clock,
        telemetry: Telemetry,
        concurrency_limit: int,
        max_response_bytes: int,
        max_threads: int,
        region: str,
        account_id: str,
        middleware: Iterable[Middleware] | None = None,
    ) -> None:
        self.clock = clock
        self._now = clock.now
        self.telemetry = telemetry
        self.middleware = MiddlewareStack(middleware, telemetry)
        self.watcher = DeadlineWatcher(clock)
        self.abandoned = AbandonedWork(clock.now)
        self.request_ids = RequestIds()
        self.concurrency_limit = concurrency_limit
        self.unreserved_capacity = concurrency_limit
        self.unreserved_in_flight = 0
        """Units of concurrency taken from the mesh's unreserved pool."""
        self.reserved_in_flight = 0
        """Units taken by functions with reserved concurrency (from their own pools)."""
        self.max_response_bytes = max_response_bytes
        self._max_threads = max_threads
        self.threads_held = 0
        """Threads still running a plain ``def`` handler whose invocation ended (timed out or
        cancelled): while all ``max_threads`` are held, such handlers wait for one."""
        self._executor: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.running = False
        """From the mesh's start to the beginning of its shutdown: ``mesh.invoke``'s calls
        run only then."""
        self.arn_prefix = f"arn:aws:lambda:{region}:{account_id}:function:"

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """At start: the loop this invoker runs on (one lookup at start instead of one per
        call), and each function's middleware chain, composed now and fixed until stop."""
        self._loop = loop
        self.middleware.start(self.execute)
        self.running = True

    # -- concurrency -----------------------------------------------------------------------
    @property
    def in_flight(self) -> int:
        """Invocations running now, in either pool (a sum read at shutdown, so that an
        invocation updates one pool's count, not a total as well)."""
        return self.unreserved_in_flight + self.reserved_in_flight

    def try_acquire(self, function: Function) -> tuple[bool, str]:
        """Take one unit of concurrency: ``(True, pool)``, or ``(False, throttle reason)``.

        The pool (``SHARED`` or ``RESERVED``) goes to :meth:`run` as its ``lease``, released
        from that pool at the end, so a change of reserved concurrency while an invocation
        runs cannot unbalance the accounts.
        """
        reserved = function.reserved
        if reserved is not None:
            if function.in_flight >= reserved:
                return False, "ReservedFunctionConcurrentInvocationLimitExceeded"
            self.reserved_in_flight += 1
            pool = RESERVED
        elif self.unreserved_in_flight >= self.unreserved_capacity:
            return False, "ConcurrentInvocationLimitExceeded"
        else:
            self.unreserved_in_flight += 1
            pool = SHARED
        function.in_flight += 1
        return True, pool

    def throttle_error(self, function: Function, reason: str) -> TooManyRequestsError:
        function.stats.throttles += 1
        self.telemetry.count("throttles", function.name)
        if reason == "ReservedFunctionConcurrentInvocationLimitExceeded":
            message = f"Rate Exceeded: function {function.name!r} is at its reserved concurrency"
        else:
            message = "Rate Exceeded: the mesh's concurrency limit is reached"
        return TooManyRequestsError(
            message, reason=reason, retry_after=1.0, function_name=function.name
        )

    # -- running an invocation -------------------------------------------------------------
    async def run(
        self,
        version: FunctionVersion,
        event: Any,
        invoked_arn: str,
        invocation_type: str = "RequestResponse",
        request_id: str | None = None,
        client_context: ClientContext | None = None,
        trigger: str = "other",
        parent_context: Any = None,
        lease: str | None = None,
        payload_limit: int | None = None,
    ) -> InvocationResult:
        """Run one invocation in an environment of ``version`` and return its result.

        Takes a unit of concurrency (or raises ``TooManyRequestsError`` without running the
        handler) and follows the chain of invocations for loop detection, unless the caller
        holds a ``lease`` (the pool :meth:`try_acquire` charged) and keeps the chain itself, as
        the async queue does. Either way, releases the concurrency at the end. Everything
        happens in the caller's task: this is the hot path.

        With ``payload_limit`` (``mesh.invoke``'s call), ``event`` is the caller's payload:
        encoded as Lambda does (refused when it is not JSON or over the limit) and decoded
        into the handler's own copy, once the mesh is known to be running. (Every argument
        may be passed by position: the hot path's call does, which costs a third less than
        keywords.)
        """
        function = version.function
        if payload_limit is not None:
            if not self.running:
                raise EventMeshError("the mesh is not running: use `async with mesh:` first")
            if type(event) is dict:  # encode_payload's common case, inline
                try:
                    body = _dumps(event)
                except TypeError:
                    body = b""
                # partition()[1] is b"null" when found, else b"": a third of find()'s cost
                # (find parses its optional bounds from a tuple on every call).
                if not body or body.partition(b"null")[1] or len(body) > payload_limit:
                    body = encode_payload(event, payload_limit, function.name)
            else:
                body = encode_payload(event, payload_limit, function.name)
            event = _loads(body)
        chain = None
        if lease is None:
            chain = invocation_chain.get()
            if chain is not None:
                self.check_recursion(function, chain)
            # try_acquire, inlined: the concurrency accounting of every synchronous call.
            reserved = function.reserved
            if reserved is not None:
                if function.in_flight >= reserved:
                    reason = "ReservedFunctionConcurrentInvocationLimitExceeded"
                    raise self.throttle_error(function, reason)
                self.reserved_in_flight += 1
                lease = RESERVED
            elif self.unreserved_in_flight >= self.unreserved_capacity:
                raise self.throttle_error(function, "ConcurrentInvocationLimitExceeded")
            else:
                self.unreserved_in_flight += 1
                lease = SHARED
            function.in_flight += 1
        if request_id is None:
            request_id = self.request_ids.next()
        token = None if chain is None else invocation_chain.set(extend_chain(chain, function.name))
        try:
            if function.chain is not None:
                return await self._through_middleware(
                    function.chain, version, event, invoked_arn, invocation_type, request_id,
                    client_context, trigger, parent_context,
                )  # fmt: skip
            pool = version.pool
            assert pool is not None, "the mesh attaches a pool to every version"
            ready = pool.ready  # take(), inline when an environment is idle
            environment = ready.pop() if ready else pool.take()
            if environment.initialised and version.handler_is_async:
                # The hot path: a warm environment, an async def handler, no middleware.
                # What _guarded, drive, _finished and _complete do, for the common case, in
                # this frame: the handler's first step is taken here, and a handler that
                # finishes without waiting needs no deadline watch at all (no other code can
                # run on the loop meanwhile: whether that step ran past the deadline is one
                # comparison with the clock reading taken at the end anyway). Only a handler
                # that waits is watched, from its first wait; anything else goes the general
                # way.
                log = _known_level(_INFO) is not False and _logs_info(_INFO)
                if log:
                    _log_start(request_id, version)
                timeout = version.timeout
                now = self._now
                started = now()
                deadline = started + timeout
                # The version's context class holds its constant fields: only what changes
                # per call is set here (see context_template).
                context = version.contexts()  # no __init__ call: see context_template
                context.aws_request_id = request_id
                context.invoked_function_arn = invoked_arn
                context.invocation_type = invocation_type
                context.log_stream_name = environment.log_stream_name
                context.state = environment.state
                context._deadline = deadline
                context._now = now
                if client_context is not None:
                    context.client_context = client_context
                waited = False
                try:
                    coroutine = version.handler(event, context)
                    try:
                        payload = coroutine.send(None)
                    except StopIteration as stop:
                        payload = stop.value
                    else:
                        waited = True
                        task = self._watch(environment, timeout, deadline)
                        payload = await drive_on(coroutine, environment, now, payload)
                except BaseException as exc:
                    task = self._watched(environment, timeout, deadline, waited)
                    payload, error, reusable = self._failed(
                        environment, task, exc, request_id, True
                    )
                    return self._complete(
                        environment, version, request_id, payload, error, reusable, started,
                        False, None, log,
                    )  # fmt: skip
                if waited:
                    self.watcher.unwatch(environment, timeout)
                ended = now()
                if ended <= deadline and not (waited and environment.timed_out):
                    if payload is None and environment.generation == pool.generation:
                        # Done in time with nothing to marshal: give the environment back
                        # (give_back, inline: one retired meanwhile goes the general way) and
                        # count it.
                        if waited:
                            environment.task = None
                        environment.last_used = ended
                        ready.append(environment)
                        function.stats.invocations += 1
                        duration = (ended - started) * 1000.0
                        if log:
                            _log_end(
                                request_id, version, duration, None, False, False,
                                environment.memory_probe,
                            )  # fmt: skip
                        # InvocationResult(200, None, None, version, request id, False,
                        # duration), its fields set without the dataclass's __init__ call.
                        result = _new_result(InvocationResult)
                        result.status_code = 200
                        result.payload = None
                        result.function_error = None
                        result.executed_version = version.version
                        result.request_id = request_id
                        result.cold_start = False
                        result.duration_ms = duration
                        result.init_duration_ms = None
                        return result
                    error, reusable = False, True
                else:
                    task = self._watched(environment, timeout, deadline, waited)
                    payload, error, reusable = self._finished(
                        environment, task, payload, request_id, ended
                    )
                return self._complete(
                    environment, version, request_id, payload, error, reusable, started,
                    False, None, log, ended,
                )  # fmt: skip
            context = Context(
                request_id, function.name, version.version, invoked_arn, version.memory,
                "", 0.0, self.clock.now, False, None, version.variables, invocation_type,
                client_context,
            )  # fmt: skip
            return await self._run_general(environment, version, event, context)
        finally:
            function.in_flight -= 1
            if lease == SHARED:
                self.unreserved_in_flight -= 1
            else:
                self.reserved_in_flight -= 1
            if token is not None:
                invocation_chain.reset(token)

    async def _through_middleware(
        self,
        chain: CallHandler,
        version: FunctionVersion,
        event: Any,
        invoked_arn: str,
        invocation_type: str,
        request_id: str,
        client_context: ClientContext | None,
        trigger: str,
        parent_context: Any,
    ) -> InvocationResult:
        """Run the invocation through its function's middleware chain (see :meth:`execute`).

        The context is made before an environment is chosen; until then its remaining time
        counts from the function's timeout. What a middleware raises is a function error."""
        config = version.config
        now = self.clock.now
        context = Context(
            request_id, version.function.name, version.version, invoked_arn, config.memory,
            "", now() + config.timeout, now, False, None, config.environment, invocation_type,
            client_context,
        )  # fmt: skip
        try:
            return await chain(Invocation(event, context, version, trigger, parent_context))
        except Exception as exc:
            error = function_error(exc)
        except asyncio.CancelledError as exc:
            task = _current_task(self._loop)
            if task is None or task.cancelling() > 0:
                raise  # the caller's (or the mesh's stop): passes on
            error = function_error(exc)  # a middleware awaited something cancelled
        version.function.stats.errors += 1
        return InvocationResult(200, error, "Unhandled", version.version, request_id)

    async def execute(self, invocation: Invocation) -> InvocationResult:
        """The innermost call of every middleware chain: take an environment of the
        invocation's version and run the handler there, with the (possibly changed) event
        and the invocation's context."""
        version = invocation.version
        pool = version.pool
        assert pool is not None, "the mesh attaches a pool to every version"
        environment = pool.take()
        context = invocation.context
        if not (environment.initialised and version.handler_is_async):
            return await self._run_general(environment, version, invocation.event, context)
        # A warm async handler: run's hot path, with _guarded inlined likewise.
        log = invocation_logger.isEnabledFor(logging.INFO)
        request_id = context.aws_request_id
        if log:
            _log_start(request_id, version)
        timeout = version.config.timeout
        now = self.clock.now
        started = now()
        deadline = started + timeout
        enter_environment(context, deadline, environment.log_stream_name, False, environment.state)
        task = self._watch(environment, timeout, deadline)
        ended = None
        try:
            payload = await drive(version.handler(invocation.event, context), environment, now)
        except BaseException as exc:
            payload, error, reusable = self._failed(environment, task, exc, request_id, True)
        else:
            self.watcher.unwatch(environment, timeout)
            ended = now()
            payload, error, reusable = self._finished(environment, task, payload, request_id, ended)
        return self._complete(
            environment, version, request_id, payload, error, reusable, started, False, None,
            log, ended,
        )  # fmt: skip

    async def _run_general(
        self, environment: Environment, version: FunctionVersion, event: Any, context: Context
    ) -> InvocationResult:
        """Every other case: a cold start, a plain ``def`` handler, middleware.

        ``context`` is completed with the environment's share when the handler starts."""
        now = self.clock.now
        request_id = context.aws_request_id
        log = invocation_logger.isEnabledFor(logging.INFO)
        if log:
            _log_start(request_id, version)
        cold_start = not environment.initialised
        init_duration = None
        if cold_start:
            init_started = now()
            init_error, reusable = await self.initialise(environment, version)
            init_duration = (now() - init_started) * 1000.0
            if init_error is not None:
                return self._complete(
                    environment, version, request_id, init_error, True, reusable,
                    now(), True, init_duration, log,
                )  # fmt: skip
        config = version.config
        started = now()
        deadline = started + config.timeout
        enter_environment(
            context, deadline, environment.log_stream_name, cold_start, environment.state
        )
        payload, error, reusable = await self._guarded(
            environment, version.handler, version.handler_is_async, (event, context),
            config.timeout, deadline, request_id,
        )  # fmt: skip
        return self._complete(
            environment, version, request_id, payload, error, reusable, started,
            cold_start, init_duration, log,
        )  # fmt: skip

    def _complete(
        self,
        environment: Environment,
        version: FunctionVersion,
        request_id: str,
        payload: Any,
        error: bool,
        reusable: bool,
        started: float,
        cold_start: bool,
        init_duration: float | None,
        log: bool,
        ended: float | None = None,
    ) -> InvocationResult:
        """Marshal the result, return the environment, count, report: the end of every run.

        ``ended`` is when the handler ended, when the caller has read the clock already."""
        if ended is None:
            ended = self.clock.now()
        if not error and payload is not None:
            payload, error = self._marshal(payload)
        if reusable:
            environment.pool.give_back(environment, ended)
        else:
            environment.pool.discard(environment)
        stats = version.function.stats
        stats.invocations += 1
        if error:
            stats.errors += 1
        if cold_start:
            stats.cold_starts += 1
        duration = (ended - started) * 1000.0
        if log:
            _log_end(
                request_id, version, duration, init_duration, cold_start, error,
                environment.memory_probe,
            )  # fmt: skip
        return InvocationResult(
            200,
            payload,
            "Unhandled" if error else None,
            version.version,
            request_id,
            cold_start,
            duration,
            init_duration,
        )

    def check_recursion(self, function: Function, chain: Mapping[str, int]) -> None:
        if chain.get(function.name, 0) >= RECURSION_LIMIT:
            self.telemetry.count("recursion_dropped", function.name)
            raise RecursiveInvocationError(
                f"function {function.name!r} was invoked {RECURSION_LIMIT} times in one chain "
                "of invocations; the loop was stopped",
                function_name=function.name,
            )

    async def initialise(
        self, environment: Environment, version: FunctionVersion
    ) -> tuple[Any, bool]:
        """Run the init hook: ``(None, True)`` on success, else ``(error object, reusable)``;
        the caller gives the environment back (or discards it when it is not reusable)."""
        hook = version.init_hook
        if hook is None:
            environment.initialised = True
            return None, True
        limit = max(130.0, version.config.timeout) if environment.provisioned else 10.0
        deadline = self.clock.now() + limit
        init_context = Context(
            "",
            version.function.name,
            version.version,
            self.arn_prefix + version.function.name,
            version.config.memory,
            environment.log_stream_name,
            deadline,
            self.clock.now,
            True,
            None,
            version.config.environment,
            PROVISIONED_INIT if environment.provisioned else ON_DEMAND_INIT,
        )
        state, error, reusable = await self._guarded(
            environment, hook, version.init_is_async, (init_context,), limit, deadline, "init"
        )
        if error:
            return state, reusable
        environment.state = state
        environment.initialised = True
        environment.memory_probe = getattr(state, "max_memory_used_mb", None)
        return None, True

    async def _guarded(
        self,
        environment: Environment,
        target: Callable[..., Any],
        is_async: bool,
        args: tuple[Any, ...],
        timeout: float,
        deadline: float,
        request_id: str,
    ) -> tuple[Any, bool, bool]:
        """Call a handler or init hook under the deadline watcher.

        Returns ``(result or error object, failed, environment reusable)``.
        """
        task = self._watch(environment, timeout, deadline)
        try:
            if is_async:
                result = await drive(target(*args), environment, self.clock.now)
            else:
                result = await self._in_thread(target, args)
        except BaseException as exc:
            return self._failed(environment, task, exc, request_id, is_async)
        self.watcher.unwatch(environment, timeout)
        return self._finished(
            environment, task, result, request_id, self.clock.now() if is_async else None
        )

    def _watch(
        self, environment: Environment, timeout: float, deadline: float
    ) -> asyncio.Task[Any]:
        """The environment runs in the current task until ``deadline``: watch it."""
        task = _current_task(self._loop)
        assert task is not None
        environment.task = task
        environment.timed_out = False
        environment.timeout = timeout
        environment.deadline = deadline
        self.watcher.watch(environment, timeout, deadline)
        return task

    def _watched(
        self, environment: Environment, timeout: float, deadline: float, waited: bool
    ) -> asyncio.Task[Any]:
        """The hot path's environment, as :meth:`_watch` would have left it, for the rare
        outcomes (an error, a step past the deadline) after a first step that may not have
        waited: the general checks read the environment's deadline and whether it timed
        out. Returns the current task."""
        task = _current_task(self._loop)
        assert task is not None
        if not waited:  # never watched: the first step ended the handler
            environment.timed_out = False
            environment.timeout = timeout
            environment.deadline = deadline
        return task

    def _finished(
        self,
        environment: Environment,
        task: asyncio.Task[Any],
        result: Any,
        request_id: str,
        ended: float | None,
    ) -> tuple[Any, bool, bool]:
        """A handler returned ``result``; at ``ended`` if it ran on the loop (None: a thread)."""
        environment.task = None
        if environment.timed_out:  # the handler swallowed our cancellation
            environment.reset()
            if task.uncancel() > 0:  # and someone else cancelled the caller too: honour it
                environment.pool.discard(environment)
                raise asyncio.CancelledError
            return _timeout_error(request_id, environment.timeout), True, True
        if ended is not None and ended > environment.deadline:
            # It ended past the deadline, in a step that blocked the loop (or ran late): a
            # timeout, whatever it returned. The step began with the invocation, or later.
            began = max(environment.deadline - environment.timeout, environment.step_began)
            overran = Overran(None, blocked=ended - began)
            return self._overran(environment, task, overran, request_id)
        return result, False, True

    def _failed(
        self,
        environment: Environment,
        task: asyncio.Task[Any],
        exc: BaseException,
        request_id: str,
        is_async: bool,
    ) -> tuple[Any, bool, bool]:
        """Turn what a handler raised into Lambda's outcome, or re-raise what isn't ours.

        Only a cancellation that is not the deadline's (the caller's, the mesh's shutdown)
        propagates; anything else a handler raises, ``BaseException`` included, is a function
        error, as a Lambda runtime that exits is one.
        """
        self.watcher.unwatch(environment, environment.timeout)
        environment.task = None
        if isinstance(exc, Overran):
            return self._overran(environment, task, exc, request_id)
        if isinstance(exc, asyncio.CancelledError):
            if not environment.timed_out and task.cancelling() == 0:
                # Nobody cancelled the caller: the handler raised it (it awaited a cancelled
                # task, say). A function error like any other, not the caller's to receive.
                return function_error(exc), True, True
            # Cancelled by our caller (or by the caller as well as the deadline): pass it on.
            if not environment.timed_out or task.uncancel() > 0:
                environment.reset()
                environment.pool.discard(environment)
                raise exc
            environment.reset()
            if not is_async:
                self._report_thread(environment, request_id)
            # A thread cannot be stopped: its environment must not be used again.
            return _timeout_error(request_id, environment.timeout), True, is_async
        if environment.timed_out:
            # The deadline's cancellation came back as another exception (the handler, or a
            # library it awaited, turned it into one of its own): Lambda would have stopped
            # the handler at the deadline, so a timeout; and the cancellation is ours to take
            # back, or it would stay pending on the caller's task.
            environment.reset()
            if task.uncancel() > 0:  # the caller was cancelled too: that passes on
                environment.pool.discard(environment)
                raise asyncio.CancelledError
            return _timeout_error(request_id, environment.timeout), True, True
        if type(exc) is ReportedFunctionError:
            # The environment made the error object itself (its runtime posted it, or exited).
            if exc.reset:
                environment.reset()
            return exc.error, True, True
        if not isinstance(exc, Exception):
            # SystemExit, KeyboardInterrupt, GeneratorExit, a bare BaseException: the
            # runtime exited. A crash: the environment is reset, the error follows the rules.
            environment.reset()
            error = function_error(exc)
            error["errorType"] = "Runtime.ExitError"
            error["errorMessage"] = (
                f"RequestId: {request_id} Process exited before completing request"
            )
            return error, True, True
        return function_error(exc), True, True

    def _overran(
        self, environment: Environment, task: asyncio.Task[Any], exc: Overran, request_id: str
    ) -> tuple[Any, bool, bool]:
        """The handler ran past its deadline and kept going (it caught the cancellation, or
        awaited in its cleanup: a TaskGroup waiting for its children) or blocked the loop: a
        timeout at the deadline; what still runs is abandoned, reported."""
        environment.reset()
        function = environment.pool.version.function
        fields = {"request_id": request_id, "function_name": function.name}
        if exc.blocked is not None and exc.blocked >= STALL_REPORT_SECONDS:
            function.stats.loop_stalls += 1
            invocation_logger.warning(
                "function %s RequestId: %s blocked the event loop for %.2f s and ran past its "
                "timeout of %.2f s: an async def handler must not block (time.sleep, blocking "
                "I/O); await instead, or make it a plain def handler, which runs in a thread",
                function.name,
                request_id,
                exc.blocked,
                environment.timeout,
                extra={**fields, "blocked_s": round(exc.blocked, 3)},
            )
        if exc.coroutine is not None:
            function.stats.runaways += 1
            self.telemetry.count("runaways", function.name)
            invocation_logger.warning(
                "function %s RequestId: %s still runs after its timeout of %.2f s (it caught "
                "the cancellation, or awaits in its cleanup): abandoned to the background, its "
                "concurrency released",
                function.name,
                request_id,
                environment.timeout,
                extra=fields,
            )
            self.abandoned.adopt(
                exc.coroutine, exc.pending, function.name, request_id, environment.deadline
            )
        if environment.timed_out and task.uncancel() > 0:
            # The deadline's cancellation is ours to take back; the caller's own passes on.
            environment.pool.discard(environment)
            raise asyncio.CancelledError
        return _timeout_error(request_id, environment.timeout), True, True

    def _report_thread(self, environment: Environment, request_id: str) -> None:
        function = environment.pool.version.function
        function.stats.runaways += 1
        self.telemetry.count("runaways", function.name)
        invocation_logger.warning(
            "function %s RequestId: %s: its thread still runs after the timeout of %.2f s (a "
            "thread cannot be stopped); its environment is discarded, its concurrency "
            "released; %d of the mesh's %d handler threads are held by timed-out handlers",
            function.name,
            request_id,
            environment.timeout,
            self.threads_held,
            self._max_threads,
            extra={"request_id": request_id, "function_name": function.name},
        )

    def _hold_thread(self, work: Future[Any], loop: asyncio.AbstractEventLoop) -> None:
        self.threads_held += 1

        def release() -> None:
            self.threads_held -= 1

        def on_done(_: Future[Any]) -> None:  # in the handler's thread
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(release)

        work.add_done_callback(on_done)

    async def _in_thread(self, target: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self._max_threads, thread_name_prefix=HANDLER_THREADS
            )
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        work = self._executor.submit(context.run, _exits_as_result, target, args)
        future = asyncio.wrap_future(work, loop=loop)
        track = getattr(self.clock, "track", None)  # a virtual clock waits for threads
        if track is not None:
            track(future)
        try:
            result = await future
        except asyncio.CancelledError:
            if not work.done():  # it runs on, in a thread no one can stop: count it held
                self._hold_thread(work, loop)
            raise
        if type(result) is _Exited:
            raise result.exception  # raised here, not thrown in by the task (see _Exited)
        return result

    def _marshal(self, result: Any) -> tuple[Any, bool]:
        """The handler's result as the caller will see it: through JSON, as Lambda returns it."""
        if result is None:
            return None, False
        # The fast path inline (one orjson call); Lambda's rules for the rest in _marshal.
        try:
            body = _dumps(result, None, MARSHAL_OPTIONS)
        except TypeError:
            body = b""
        fast = bool(body) and (not body.partition(b"null")[1] or not has_non_finite(result, body))
        if fast:
            payload: Any = None
            size = len(body)
            if size * 2 > self.max_response_bytes:  # Lambda's spaces could put it over
                size = lambda_size(result, size)
        else:
            try:
                payload, size = lambda_marshal(result)
            except MarshalError as exc:
                return {"errorMessage": str(exc), "errorType": "Runtime.MarshalError",
                        "stackTrace": []}, True  # fmt: skip
        if size > self.max_response_bytes:
            return {
                "errorMessage": (
                    f"Response payload size ({size} bytes) exceeded maximum allowed "
                    f"payload size ({self.max_response_bytes} bytes)."
                ),
                "errorType": "Function.ResponseSizeTooLarge",
                "stackTrace": [],
            }, True
        return (_loads(body) if fast else payload), False

    def close(self) -> None:
        """After the mesh stops. Invocations still running keep their deadlines, and threads
        still running finish on their own (a thread cannot be stopped)."""
        self.middleware.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None


class _Exited:
    """A ``BaseException`` (not an ``Exception``) that a handler raised in its thread.

    It comes back as a result, to be raised in the invoker's frame: a task throws a future's
    ``GeneratorExit`` into its coroutine, which closes the whole chain of awaits instead.
    """

    __slots__ = ("exception",)

    def __init__(self, exception: BaseException) -> None:
        self.exception = exception


def _exits_as_result(target: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    try:
        return target(*args)
    except Exception:
        raise
    except BaseException as exc:  # carried back to the loop's thread
        return _Exited(exc)


def extend_chain(chain: Mapping[str, int], name: str) -> dict[str, int]:
    extended = dict(chain)
    extended[name] = extended.get(name, 0) + 1
    return extended


def _log_start(request_id: str, version: FunctionVersion) -> None:
    invocation_logger.info(
        "START RequestId: %s Version: %s",
        request_id,
        version.version,
        extra={
            "request_id": request_id,
            "function_name": version.function.name,
            "function_version": version.version,
            "phase": "START",
        },
    )


def _log_end(
    request_id: str,
    version: FunctionVersion,
    duration: float,
    init_duration: float | None,
    cold_start: bool,
    error: bool,
    memory_probe: Callable[[], int | None] | None = None,
) -> None:
    memory = None if memory_probe is None else memory_probe()
    fields = {
        "request_id": request_id,
        "function_name": version.function.name,
        "function_version": version.version,
        "duration_ms": round(duration, 3),
        "init_duration_ms": None if init_duration is None else round(init_duration, 3),
        "cold_start": cold_start,
        "error": error,
        "max_memory_used_mb": memory,
    }
    invocation_logger.info("END RequestId: %s", request_id, extra={**fields, "phase": "END"})
    init = f" Init Duration: {init_duration:.2f} ms" if init_duration is not None else ""
    used = f" Max Memory Used: {memory} MB" if memory is not None else ""
    invocation_logger.info(
        "REPORT RequestId: %s Duration: %.2f ms Memory Size: %d MB%s%s",
        request_id,
        duration,
        version.config.memory,
        used,
        init,
        extra={**fields, "phase": "REPORT"},
    )
