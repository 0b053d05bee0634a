"""Idempotency: run a handler once per key, as a middleware around an invocation.

Queues, streams and the async invocation queue deliver at least once, so a handler sees
duplicates. :class:`Idempotency` describes where an event's key is and how long a result is
remembered; bound to a :class:`~eventmesh.backends.protocols.KeyValueStore` and the mesh's
clock (an :class:`IdempotencyLayer`), it runs a call once per key and gives every later
duplicate the stored result. ``mesh.function(idempotency=...)`` puts it around the function's
invocations as its innermost middleware (:class:`IdempotencyMiddleware`), so it sees the
event as the handler does, and a duplicate is answered without an execution environment;
the layer also wraps a handler of ``(event, context)`` or any async function directly::

    @mesh.function(timeout=10, idempotency=Idempotency("body.order_id", expires=3600))
    async def charge(record, context): ...

    @mesh.idempotent("order_id")          # any async function, e.g. per record of a batch
    async def charge_one(order): ...

Each key has a record in the store, keyed ``idempotency:<namespace>:<sha256 of the key's
canonical JSON>`` (the namespace is the function's name unless given). Its life::

    absent ──claim: put(only_if_absent, ttl=in-progress expiry)──────────► IN_PROGRESS
    IN_PROGRESS ──handler returned: put(only_if_version, ttl=expires)────► COMPLETED
    IN_PROGRESS ──handler raised or was cancelled: delete(only_if_version)► absent
    IN_PROGRESS ──result not JSON-serialisable: delete, log a warning────► absent
    IN_PROGRESS ──in-progress expiry passed (the worker crashed)─────────► absent
    COMPLETED ───``expires`` passed──────────────────────────────────────► absent

The in-progress expiry is the time the invocation has left (``context.
get_remaining_time_in_millis()``), else the function's timeout, else ``min(expires, 900)``
(no Lambda invocation runs longer than 900 s): a crashed worker's claim ends when its
invocation would have ended, and never holds the key longer than that. The middleware claims
the key before an execution environment is initialised, so its claim lasts 10 s longer
(Lambda's limit on an init phase).

A duplicate that finds the key IN_PROGRESS waits (``in_progress="wait"``, the default) or
raises :class:`~eventmesh.IdempotencyInProgressError` at once (``in_progress="raise"``).
Waiting duplicates in the same process await the first call's future (no store traffic);
duplicates in other processes poll the store with backoff on the mesh's clock. When the
first call fails, its record is gone, and a waiting duplicate claims the key and runs.
A wait ends at ``wait_timeout`` seconds (an IdempotencyInProgressError) or, without one,
when the first call finishes or its claim expires.

A duplicate that finds the key COMPLETED gets the stored result, decoded afresh from JSON
each time, without running the handler. The first caller gets the handler's own return value.
Every time-to-live is measured by the store (the memory store on the mesh's clock).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import logging
import math
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, ParamSpec, TypeAlias, TypeVar, cast

import orjson

from eventmesh._clock import Clock, RealClock
from eventmesh._errors import (
    ConfigurationError,
    IdempotencyError,
    IdempotencyInProgressError,
    IdempotencyKeyError,
    IdempotencyPayloadMismatchError,
    PayloadError,
)
from eventmesh._function import Handler, is_async_callable
from eventmesh._invocation import CallHandler, Invocation, InvocationResult
from eventmesh._jsonpath import JsonPath
from eventmesh.backends.protocols import KeyValueStore, StoredValue

if TYPE_CHECKING:
    from eventmesh._context import Context

__all__ = [
    "MISSING",
    "Idempotency",
    "IdempotencyLayer",
    "IdempotencyMiddleware",
    "KeyPath",
    "idempotent",
]

logger = logging.getLogger("eventmesh.idempotency")

P = ParamSpec("P")
T = TypeVar("T")

KeySpec: TypeAlias = str | Callable[..., Any]
"""A dotted path, a JSONPath (``$...``), or a callable returning the key."""
InProgressPolicy: TypeAlias = Literal["wait", "raise"]
AsyncFunction: TypeAlias = Callable[P, Awaitable[T]]

IN_PROGRESS: Final = "IN_PROGRESS"
COMPLETED: Final = "COMPLETED"
KEY_PREFIX: Final = "idempotency"
MAX_IN_PROGRESS: Final = 900.0
"""The in-progress expiry when neither a context nor a timeout says more (Lambda's max)."""
INIT_ALLOWANCE: Final = 10.0
"""Lambda's limit on an on-demand init phase: a claim the middleware takes before the
execution environment is initialised lasts this much longer than the invocation's time."""
_POLL_FIRST = 0.05
_POLL_MIN = 0.001
_POLL_MAX = 1.0
_SORTED = orjson.OPT_SORT_KEYS


# -- paths into an event ---------------------------------------------------------------------
# JSONPath text is parsed by the bus's resolver (eventmesh/_jsonpath.py: $, .name, ['name'],
# [index]; wildcards, slices and filters are refused, which suits a key: one value). The
# resolution is ours, because it decodes JSON strings on the way (an SQS or SNS body).


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Final = _Missing()

Step: TypeAlias = str | int


def _parse_dotted(text: str) -> tuple[Step, ...]:
    parts = text.split(".")
    if not all(parts):
        raise ConfigurationError(f"invalid key path {text!r}: empty segment")
    return tuple(parts)


def _decoded(value: Any) -> Any:
    """A JSON object or array in a string (an SQS or SNS body) as data; else the value."""
    if isinstance(value, str | bytes) and value.lstrip()[:1] in ("{", "[", b"{", b"["):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _step(value: Any, step: Step) -> Any:
    value = _decoded(value)
    if isinstance(value, Mapping):
        return value.get(step, MISSING) if isinstance(step, str) else MISSING
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        if isinstance(step, str):
            if not (step.isascii() and step.isdigit()):
                return MISSING
            step = int(step)
        try:
            return value[step]
        except IndexError:
            return MISSING
    return MISSING


class KeyPath:
    """A compiled path into an event: dotted (``body.order_id``) or JSONPath (``$.a[0].b``).

    A step that lands on a string holding a JSON object or array decodes it first, so
    ``body.order_id`` reads the ``order_id`` of an SQS record whose body is a JSON string.
    In dotted paths a segment of digits indexes a list (``Records.0.body``).
    """

    __slots__ = ("steps", "text")

    def __init__(self, text: str) -> None:
        if not isinstance(text, str) or not text.strip():
            raise ConfigurationError(f"a key path must be a non-empty string, got {text!r}")
        self.text = text
        self.steps = JsonPath(text).steps if text.startswith("$") else _parse_dotted(text)

    def resolve(self, document: Any) -> Any:
        """The value at the path, or :data:`MISSING`."""
        value = document
        for step in self.steps:
            value = _step(value, step)
            if value is MISSING:
                break
        return value

    def __repr__(self) -> str:
        return f"KeyPath({self.text!r})"


# -- records ---------------------------------------------------------------------------------
def _digest(value: Any, what: str, error: type[PayloadError]) -> str:
    try:
        canonical = orjson.dumps(value, option=_SORTED)
    except TypeError as exc:
        raise error(f"the {what} is not JSON-serialisable: {exc}") from None
    return hashlib.sha256(canonical).hexdigest()


def _in_progress_record(payload_hash: str | None) -> bytes:
    return orjson.dumps({"status": IN_PROGRESS, "payload_hash": payload_hash})


def _completed_record(payload_hash: str | None, encoded_result: bytes) -> bytes:
    return orjson.dumps(
        {
            "status": COMPLETED,
            "payload_hash": payload_hash,
            "result": orjson.Fragment(encoded_result),
        }
    )


def _parse_record(stored: StoredValue, key: str) -> dict[str, Any]:
    try:
        record = orjson.loads(stored.value)
    except orjson.JSONDecodeError:
        record = None
    if not isinstance(record, dict) or record.get("status") not in (IN_PROGRESS, COMPLETED):
        raise IdempotencyError(
            f"the idempotency record {key!r} is not one eventmesh wrote", idempotency_key=key
        )
    return record


def _positive(name: str, value: Any, *, allow_none: bool = False, allow_zero: bool = False) -> None:
    if value is None and allow_none:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not allow_zero)
    ):
        raise ConfigurationError(f"{name} must be a positive number of seconds, got {value!r}")


# -- configuration ---------------------------------------------------------------------------
class Idempotency:
    """Where an event's idempotency key is and how its records behave.

    ``key``: a dotted path (``"body.order_id"``), a JSONPath (``"$.Records[0].body"``), or a
    callable returning the key. A path step that lands on a string holding JSON decodes it,
    which is what makes ``"body.order_id"`` work on an SQS record (its body is a JSON
    string). For a handler the callable gets the event; for :func:`idempotent` it gets the
    function's arguments (a path applies to the first positional argument). A key that is
    missing or ``None`` raises :class:`~eventmesh.IdempotencyKeyError`, or, with
    ``raise_on_missing_key=False``, runs the call without idempotency (and logs a warning).

    ``expires``: seconds a COMPLETED result is remembered. ``validate_payload``: remember a
    hash of the event (or of the value at ``payload_path``, which implies validation) and
    raise :class:`~eventmesh.IdempotencyPayloadMismatchError` when the key comes back with
    another payload. ``in_progress``: what a duplicate does while the first call runs:
    ``"wait"`` (for at most ``wait_timeout`` seconds, if given) or ``"raise"``
    :class:`~eventmesh.IdempotencyInProgressError`. ``store``: a KeyValueStore of its own
    (the mesh's by default). ``namespace``: prefixes the stored keys (the function's name
    by default), so two functions with the same keys do not share results.
    """

    __slots__ = (
        "_key_path",
        "_payload_path",
        "expires",
        "in_progress",
        "key",
        "namespace",
        "payload_path",
        "raise_on_missing_key",
        "store",
        "validate_payload",
        "wait_timeout",
    )

    def __init__(
        self,
        key: KeySpec,
        *,
        expires: float = 3600,
        validate_payload: bool = False,
        payload_path: str | None = None,
        raise_on_missing_key: bool = True,
        in_progress: InProgressPolicy = "wait",
        wait_timeout: float | None = None,
        store: KeyValueStore | None = None,
        namespace: str | None = None,
    ) -> None:
        if isinstance(key, str):
            self._key_path: KeyPath | None = KeyPath(key)
        elif callable(key):
            self._key_path = None
        else:
            raise ConfigurationError(f"key must be a path or a callable, got {key!r}")
        _positive("expires", expires)
        _positive("wait_timeout", wait_timeout, allow_none=True, allow_zero=True)
        if in_progress not in ("wait", "raise"):
            raise ConfigurationError(f"in_progress must be 'wait' or 'raise', got {in_progress!r}")
        if store is not None and not isinstance(store, KeyValueStore):
            raise ConfigurationError(f"store must be a KeyValueStore, got {store!r}")
        if namespace is not None and (not isinstance(namespace, str) or not namespace):
            raise ConfigurationError(f"namespace must be a non-empty string, got {namespace!r}")
        self.key = key
        self.expires = float(expires)
        self.payload_path = payload_path
        self._payload_path = None if payload_path is None else KeyPath(payload_path)
        self.validate_payload = bool(validate_payload) or payload_path is not None
        self.raise_on_missing_key = raise_on_missing_key
        self.in_progress: InProgressPolicy = in_progress
        self.wait_timeout = None if wait_timeout is None else float(wait_timeout)
        self.store = store
        self.namespace = namespace

    def bind(
        self,
        store: KeyValueStore | None = None,
        clock: Clock | None = None,
        *,
        namespace: str | None = None,
        timeout: float | None = None,
    ) -> IdempotencyLayer:
        """This configuration on a store and a clock: a middleware for handlers/functions.

        ``store`` and ``namespace`` are defaults (the mesh's store, the function's name):
        the configuration's own ``store`` and ``namespace`` win. ``timeout`` is the in-progress
        expiry when a call has no context to ask for its remaining time.
        """
        chosen = self.store if self.store is not None else store
        if chosen is None:
            raise ConfigurationError("idempotency needs a KeyValueStore: pass store=")
        _positive("timeout", timeout, allow_none=True)
        return IdempotencyLayer(
            self,
            chosen,
            clock or RealClock(),
            namespace=self.namespace or namespace,
            timeout=timeout,
        )

    def key_of_event(self, event: Any) -> Any:
        """The key of a handler's event (:data:`MISSING` when absent)."""
        if self._key_path is not None:
            return self._key_path.resolve(event)
        return cast(Callable[[Any], Any], self.key)(event)

    def key_of_arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The key of an idempotent function's call: a path reads the first argument."""
        if self._key_path is not None:
            return self._key_path.resolve(args[0]) if args else MISSING
        return cast(Callable[..., Any], self.key)(*args, **kwargs)

    def payload_hash(self, event: Any) -> str | None:
        """The hash compared by ``validate_payload`` (None when validation is off)."""
        if not self.validate_payload:
            return None
        value = event if self._payload_path is None else self._payload_path.resolve(event)
        return _digest(None if value is MISSING else value, "payload", PayloadError)

    def __repr__(self) -> str:
        return (
            f"Idempotency(key={self.key!r}, expires={self.expires:g}, "
            f"validate_payload={self.validate_payload}, in_progress={self.in_progress!r})"
        )


# -- the layer -------------------------------------------------------------------------------
class _InFlight:
    """A call running in this process: duplicates here await ``done`` instead of polling.

    ``done`` gets the JSON of the result, or None when nothing was stored (the call failed,
    or its result is not JSON): waiters then try to claim the key themselves.
    """

    __slots__ = ("done", "payload_hash")

    def __init__(self, done: asyncio.Future[bytes | None], payload_hash: str | None) -> None:
        self.done = done
        self.payload_hash = payload_hash


class IdempotencyLayer:
    """An :class:`Idempotency` bound to a store and a clock.

    Call it on a handler (``layer(handler)``) for a handler of ``(event, context)``, or use
    :meth:`function` on any async function. It keeps the calls running in this process, so
    concurrent duplicates share one run; other processes meet through the store.
    """

    def __init__(
        self,
        config: Idempotency,
        store: KeyValueStore,
        clock: Clock,
        *,
        namespace: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.namespace = namespace
        self.timeout = timeout
        self._in_flight: dict[str, _InFlight] = {}

    # -- wrapping ------------------------------------------------------------------------
    def __call__(self, handler: Handler) -> Handler:
        """Wrap a handler of ``(event, context)``; a plain ``def`` one runs in a thread."""
        namespace = self.namespace or _qualified_name(handler)
        run = _as_async(handler, self.clock)
        config = self.config

        @functools.wraps(handler)
        async def idempotent_handler(event: Any, context: Context) -> Any:
            return await self.run(
                namespace,
                config.key_of_event(event),
                event,
                functools.partial(run, event, context),
                functools.partial(self._in_progress_ttl, context),
            )

        return idempotent_handler

    def function(
        self, func: AsyncFunction[P, T], *, namespace: str | None = None
    ) -> Callable[P, Coroutine[Any, Any, T]]:
        """Wrap an async function: the key comes from its first argument (or the key
        callable, given all its arguments); the payload is the first argument."""
        if not is_async_callable(func):
            raise ConfigurationError(f"idempotent wraps async functions, got {func!r}")
        space = namespace or self.namespace or _qualified_name(func)
        config = self.config

        @functools.wraps(func)
        async def idempotent_function(*args: P.args, **kwargs: P.kwargs) -> T:
            return await self.run(
                space,
                config.key_of_arguments(args, kwargs),
                args[0] if args else kwargs,
                functools.partial(func, *args, **kwargs),
                functools.partial(self._in_progress_ttl, None),
            )

        return idempotent_function

    def _in_progress_ttl(self, context: Any) -> float:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if callable(remaining):
            return max(float(remaining()) / 1000.0, 0.001)
        if self.timeout is not None:
            return self.timeout
        return min(self.config.expires, MAX_IN_PROGRESS)

    def _claim_before_init(self, context: Any) -> float:
        return self._in_progress_ttl(context) + INIT_ALLOWANCE

    def stored_key(self, namespace: str, key: Any) -> str:
        """``idempotency:<namespace>:<sha256 of the key's canonical JSON>``."""
        return f"{KEY_PREFIX}:{namespace}:{_digest(key, 'idempotency key', IdempotencyKeyError)}"

    # -- one call ------------------------------------------------------------------------
    async def run(
        self,
        namespace: str,
        key: Any,
        payload: Any,
        call: Callable[[], Awaitable[T]],
        in_progress_ttl: Callable[[], float],
    ) -> T:
        """Run ``call`` once for ``key``; a duplicate gets the stored result.

        ``in_progress_ttl`` is asked when the key is claimed (after any wait).
        """
        if key is MISSING or key is None:
            if self.config.raise_on_missing_key:
                raise IdempotencyKeyError(
                    f"no idempotency key at {self.config.key!r} in the event of {namespace!r}"
                )
            logger.warning("no idempotency key in the event of %r: running it anyway", namespace)
            return await call()
        stored_key = self.stored_key(namespace, key)
        return await self._run(stored_key, self.config.payload_hash(payload), call, in_progress_ttl)

    async def _run(
        self,
        key: str,
        payload_hash: str | None,
        call: Callable[[], Awaitable[T]],
        ttl: Callable[[], float],
    ) -> T:
        wait_timeout = self.config.wait_timeout
        deadline = None if wait_timeout is None else self.clock.now() + wait_timeout
        polls = 0
        while True:
            flight = self._in_flight.get(key)
            if flight is not None:
                self._check_payload(key, flight.payload_hash, payload_hash)
                self._refuse_if_raising(key)
                encoded = await self._await_flight(key, flight, deadline)
                if encoded is not None:
                    return cast(T, orjson.loads(encoded))
                continue  # the first call failed: try to claim the key
            version = await self.store.put(
                key, _in_progress_record(payload_hash), ttl=ttl(), only_if_absent=True
            )
            if version is not None:
                return await self._run_claimed(key, version, payload_hash, call)
            stored = await self.store.get(key)
            if stored is None:
                continue  # it expired or was cleared since the claim failed
            record = _parse_record(stored, key)
            self._check_payload(key, record.get("payload_hash"), payload_hash)
            if record["status"] == COMPLETED:
                return cast(T, record.get("result"))
            self._refuse_if_raising(key)
            if key not in self._in_flight:  # claimed by another process: poll
                await self._pause(key, stored, deadline, polls)
                polls += 1

    async def _run_claimed(
        self, key: str, version: int, payload_hash: str | None, call: Callable[[], Awaitable[T]]
    ) -> T:
        flight = _InFlight(asyncio.get_running_loop().create_future(), payload_hash)
        self._in_flight[key] = flight
        encoded: bytes | None = None
        try:
            try:
                result = await call()
            except GeneratorExit:  # the coroutine was closed: no awaiting; the claim expires
                raise
            except BaseException:
                await self._release(key, version)
                raise
            encoded = await self._complete(key, version, payload_hash, result)
            return result
        finally:
            if self._in_flight.get(key) is flight:
                del self._in_flight[key]
            flight.done.set_result(encoded)

    async def _complete(
        self, key: str, version: int, payload_hash: str | None, result: Any
    ) -> bytes | None:
        """Store the result; returns its JSON, or None when it is not JSON (nothing kept)."""
        try:
            encoded = orjson.dumps(result)
        except TypeError as exc:
            logger.warning(
                "the result for idempotency key %r is not JSON-serialisable (%s): it was "
                "returned but not stored, so a duplicate will run again",
                key,
                exc,
            )
            await self._release(key, version)
            return None
        try:
            stored = await self.store.put(
                key,
                _completed_record(payload_hash, encoded),
                ttl=self.config.expires,
                only_if_version=version,
            )
        except Exception:
            logger.exception("could not store the result for idempotency key %r", key)
            return encoded
        if stored is None:
            logger.warning(
                "the in-progress record for idempotency key %r expired while the call ran; "
                "its result was returned but not stored",
                key,
            )
        return encoded

    async def _release(self, key: str, version: int) -> None:
        """Clear our claim after a failure, so a retry can run (best effort: it expires)."""
        try:
            await self.store.delete(key, only_if_version=version)
        except Exception:
            logger.exception(
                "could not clear idempotency key %r after a failure; it expires on its own", key
            )

    # -- duplicates ----------------------------------------------------------------------
    def _check_payload(self, key: str, stored_hash: str | None, payload_hash: str | None) -> None:
        if payload_hash is not None and stored_hash is not None and stored_hash != payload_hash:
            raise IdempotencyPayloadMismatchError(
                f"idempotency key {key!r} was used before with a different payload",
                idempotency_key=key,
            )

    def _refuse_if_raising(self, key: str) -> None:
        if self.config.in_progress == "raise":
            raise _in_progress(key, "")

    async def _await_flight(
        self, key: str, flight: _InFlight, deadline: float | None
    ) -> bytes | None:
        done = flight.done
        if not done.done():
            if deadline is None:
                await asyncio.shield(done)
            else:
                await _wait_until(done, self.clock, deadline)
                if not done.done():
                    raise _in_progress(key, f" after waiting {self.config.wait_timeout:g} s")
        return done.result()

    async def _pause(
        self, key: str, stored: StoredValue, deadline: float | None, polls: int
    ) -> None:
        """Sleep before polling again: backoff, but never past the claim's expiry or the
        wait's deadline (raising IdempotencyInProgressError at the deadline)."""
        delay = min(_POLL_FIRST * 2**polls, _POLL_MAX)
        if stored.expires_at is not None:  # wall time: a float of ~0.2 us precision
            delay = min(delay, max(stored.expires_at - self.clock.time(), _POLL_MIN))
        if deadline is not None:
            left = deadline - self.clock.now()
            if left <= 0:
                raise _in_progress(key, f" after waiting {self.config.wait_timeout:g} s")
            delay = min(delay, left)
        await self.clock.sleep(delay)


class _FunctionFailed(Exception):
    """The invocation ended in a function error: its claim is released, nothing stored."""


class IdempotencyMiddleware:
    """Idempotency around a function's invocations: ``mesh.function(idempotency=...)``.

    The function's innermost middleware, so it sees the event as the handler will. The
    first invocation of a key runs and its result, as the caller gets it, is stored; a
    duplicate gets the stored result without running the handler (no execution environment,
    no cold start); a function error or a timeout releases the key, so a retry runs.

    ``layer`` is an :class:`IdempotencyLayer`, or a function making one, called when the
    chain is first composed (when the mesh starts and its storage is bound).
    """

    __slots__ = ("_bind", "_layer", "namespace")

    def __init__(
        self,
        layer: IdempotencyLayer | Callable[[], IdempotencyLayer],
        namespace: str | None = None,
    ) -> None:
        if isinstance(layer, IdempotencyLayer):
            self._layer: IdempotencyLayer | None = layer
            self._bind = None
            chosen = namespace or layer.namespace
        else:
            self._layer = None
            self._bind = layer
            chosen = namespace
        if not chosen:
            raise ConfigurationError("an idempotency middleware needs a namespace")
        self.namespace = chosen

    @property
    def layer(self) -> IdempotencyLayer:
        """The layer (made now, if it was given as a function and not made yet)."""
        if self._layer is None:
            assert self._bind is not None
            self._layer = self._bind()
        return self._layer

    def __call__(self, call_handler: CallHandler) -> CallHandler:
        layer = self.layer
        config = layer.config
        namespace = self.namespace

        async def idempotent_invocation(invocation: Invocation) -> InvocationResult:
            ran: InvocationResult | None = None

            async def run_handler() -> Any:
                nonlocal ran
                ran = await call_handler(invocation)
                if ran.function_error is not None:
                    raise _FunctionFailed
                return ran.payload

            event = invocation.event
            try:
                payload = await layer.run(
                    namespace,
                    config.key_of_event(event),
                    event,
                    run_handler,
                    functools.partial(layer._claim_before_init, invocation.context),
                )
            except _FunctionFailed:
                assert ran is not None
                return ran
            return ran if ran is not None else invocation.respond(payload)

        return idempotent_invocation

    def __repr__(self) -> str:
        return f"IdempotencyMiddleware(namespace={self.namespace!r})"


def _in_progress(key: str, detail: str) -> IdempotencyInProgressError:
    return IdempotencyInProgressError(
        f"a call with idempotency key {key!r} is already in progress{detail}",
        idempotency_key=key,
    )


async def _wait_until(done: asyncio.Future[Any], clock: Clock, deadline: float) -> None:
    """Wait for ``done`` or for the clock to reach ``deadline``, whichever comes first,
    without cancelling ``done`` (other duplicates wait on it too)."""
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def wake(*_: object) -> None:
        if not waiter.done():
            waiter.set_result(None)

    done.add_done_callback(wake)
    timer = clock.call_at(deadline, wake)
    try:
        await waiter
    finally:
        timer.cancel()
        done.remove_done_callback(wake)


def _qualified_name(func: Callable[..., Any]) -> str:
    module = getattr(func, "__module__", None) or ""
    name = getattr(func, "__qualname__", None) or type(func).__qualname__
    return f"{module}.{name}" if module else name


def _as_async(handler: Handler, clock: Clock) -> Callable[[Any, Context], Awaitable[Any]]:
    """The handler as a coroutine function; a plain ``def`` runs in the loop's executor."""
    if is_async_callable(handler):
        return cast(Callable[[Any, "Context"], Awaitable[Any]], handler)

    async def in_thread(event: Any, context: Context) -> Any:
        run = contextvars.copy_context().run
        future = asyncio.get_running_loop().run_in_executor(None, run, handler, event, context)
        track = getattr(clock, "track", None)  # a virtual clock waits for threads
        if track is not None:
            track(future)
        return await future

    return in_thread


# -- the decorator ---------------------------------------------------------------------------
def idempotent(
    idempotency: Idempotency | KeySpec,
    /,
    *,
    store: KeyValueStore | None = None,
    clock: Clock | None = None,
    namespace: str | None = None,
    timeout: float | None = None,
    **options: Any,
) -> Callable[[AsyncFunction[P, T]], Callable[P, Coroutine[Any, Any, T]]]:
    """Make any async function idempotent, e.g. the per-record work of a batch handler::

        @idempotent("order_id", store=mesh.backend.values, clock=mesh.clock, expires=600)
        async def charge(order): ...

    ``idempotency`` is an :class:`Idempotency`, or a key (path or callable) with the other
    settings as ``options``. A path reads the first positional argument; a callable gets all
    the arguments. The namespace defaults to the function's qualified name; ``timeout`` is
    the in-progress expiry (default ``min(expires, 900)`` s).
    """
    if isinstance(idempotency, Idempotency):
        if options:
            raise ConfigurationError(
                f"give settings to Idempotency(...) or as options, not both: {sorted(options)}"
            )
        config = idempotency
    else:
        config = Idempotency(idempotency, **options)
    layer = config.bind(store, clock, namespace=namespace, timeout=timeout)

    def decorate(func: AsyncFunction[P, T]) -> Callable[P, Coroutine[Any, Any, T]]:
        return layer.function(func)

    return decorate
