"""Mesh: owns functions, resources and backends, and runs them for the life of ``async with``."""

from __future__ import annotations

import asyncio
import logging
import math
import random
import re
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar, overload

import orjson

from eventmesh._async_queue import AsyncInvocationQueue, Resolver
from eventmesh._backpressure import (
    DEFAULT_MAX_PENDING,
    PendingLimit,
    check_max_pending,
    check_timeout,
)
from eventmesh._clock import Clock, RealClock, TimerHandle
from eventmesh._context import ClientContext
from eventmesh._destinations import Destination, DestinationSpec, MessageAttributes
from eventmesh._egress import EgressPolicy
from eventmesh._environment import EnvironmentPool
from eventmesh._errors import (
    ConfigurationError,
    EventMeshError,
    InvocationError,
    PayloadError,
    ResourceNotFoundError,
)
from eventmesh._function import (
    LATEST,
    Alias,
    Function,
    FunctionConfig,
    FunctionVersion,
    Handler,
)
from eventmesh._invoker import InvocationResult, Invoker, encode_payload
from eventmesh._shutdown_report import NOTHING, FunctionWork, describe_service, describe_work
from eventmesh._validation import (
    check_mapping,
    check_number,
    check_text,
    json_bytes,
    settings_conflict,
)
from eventmesh.backends.memory import MemoryQueueStore, memory_backend
from eventmesh.backends.protocols import Backend
from eventmesh.idempotency import Idempotency, KeySpec, idempotent
from eventmesh.resources._base import Resource, Service

if TYPE_CHECKING:
    from datetime import datetime

    from eventmesh.resources.bucket import Bucket
    from eventmesh.resources.bus import Bus
    from eventmesh.resources.queue import Queue
    from eventmesh.resources.schedule import Schedule
    from eventmesh.resources.stream import Stream
    from eventmesh.resources.topic import Topic
from eventmesh.telemetry import Telemetry

__all__ = ["Mesh"]

logger = logging.getLogger("eventmesh")

InvocationType = Literal["RequestResponse", "Event", "DryRun"]
R = TypeVar("R", bound=Resource)
P = ParamSpec("P")
T = TypeVar("T")

_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:lambda:[^:]*:[^:]*:function:(.+)$")
_PARTIAL_ARN = re.compile(r"^\d{12}:function:(.+)$")
_RESOURCE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_MB = 1024 * 1024
MAX_CLIENT_CONTEXT = 3583
_loads = orjson.loads


def _log_failure(task: asyncio.Task[Any]) -> None:
    """A service started while the mesh runs fails in the background: say so at once."""
    if not task.cancelled() and (error := task.exception()) is not None:
        logger.error("starting %s failed: %s", task.get_name(), error, exc_info=error)


def _given(**settings: Any) -> dict[str, Any]:
    """The settings a caller gave (None means "the default")."""
    return {key: value for key, value in settings.items() if value is not None}


def _client_context(value: Any) -> ClientContext:
    """Lambda's ClientContext: a JSON object of at most 3,583 bytes once base64-encoded; the
    handler gets a decoded copy, as it does on Lambda."""
    body = json_bytes(check_mapping(value, "client_context"), "client_context")
    encoded = 4 * -(-len(body) // 3)
    if encoded > MAX_CLIENT_CONTEXT:
        raise PayloadError(
            f"client_context: {encoded} bytes once base64-encoded; Lambda takes at most "
            f"{MAX_CLIENT_CONTEXT}"
        )
    return ClientContext(_loads(body))


def _resource_name(name: str, kind: str, limit: int) -> str:
    if not isinstance(name, str) or not _RESOURCE_NAME.match(name) or len(name) > limit:
        raise ConfigurationError(
            f"{kind} name {name!r} must be 1-{limit} letters, digits, '-', '_' or '.'"
        )
    return name


class _Target:
    """What an invocation name resolves to: a function, and a version or an alias."""

    __slots__ = ("alias", "arn", "function", "qualifier", "version")

    def __init__(
        self,
        function: Function,
        qualifier: str | None,
        version: FunctionVersion | None,
        alias: Alias | None,
        arn: str,
    ) -> None:
        self.function = function
        self.qualifier = qualifier
        self.version = version
        self.alias = alias
        self.arn = arn

    def pick(self) -> FunctionVersion:
        if self.alias is not None:
            return self.alias.pick()
        if self.version is not None:
            return self.version
        return self.function.latest


class FunctionDestination:
    """A function as a destination: it is invoked with the record as its event."""

    def __init__(self, mesh: Mesh, function: Function) -> None:
        self._mesh = mesh
        self.function = function

    async def send(self, message: Any, attributes: MessageAttributes | None = None) -> Any:
        return await self._mesh.invoke(self.function.name, message, invocation_type="Event")

    def __repr__(self) -> str:
        return f"<FunctionDestination {self.function.name}>"


class Mesh:
    """Functions, their event sources and their destinations, in one asyncio program.

    ``async with Mesh() as mesh:`` starts pollers and provisioned environments; leaving the
    block drains in-flight invocations and queued events for up to ``drain_timeout`` seconds,
    then cancels what is left.

    Settings: ``storage`` (``"memory"``); ``clock`` (a :class:`~eventmesh.testing.VirtualClock`
    in tests); ``concurrency_limit``, the mesh-wide cap on concurrent executions (Lambda's
    account limit, 1000); ``max_sync_payload`` and ``max_event_payload`` (6 MB and 1 MB);
    ``environment_idle_timeout`` before an idle environment is reclaimed; ``max_threads`` for
    plain ``def`` handlers; ``region`` and ``account_id`` for ARNs; ``telemetry``; ``seed`` for
    alias routing's random choices; ``allow_http_hosts``, the hosts, addresses or networks
    that HTTP subscriptions and targets may reach although they are link-local or cloud
    metadata addresses (refused otherwise, see :mod:`eventmesh._egress`); ``max_pending``,
    the limit on the pending work of every queue, function (its Event invocations), topic,
    bus and stream shard that sets none of its own (without it: 100,000 for queues,
    functions and shards, 10,000 deliveries for topics and buses); producers wait for room
    at the limit, or raise :class:`~eventmesh.BackpressureError` when their ``timeout`` ends.
    """

    def __init__(
        self,
        *,
        storage: str | Backend = "memory",
        clock: Clock | None = None,
        concurrency_limit: int = 1000,
        max_sync_payload: int = 6 * _MB,
        max_event_payload: int = 1 * _MB,
        drain_timeout: float = 30.0,
        environment_idle_timeout: float = 600.0,
        max_threads: int = 64,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        telemetry: Telemetry | None = None,
        seed: int | None = None,
        allow_http_hosts: Iterable[str] = (),
        max_pending: int | None = None,
    ) -> None:
        self.max_pending = check_max_pending(max_pending)
        if not isinstance(concurrency_limit, int) or concurrency_limit < 1:
            raise ConfigurationError(
                f"concurrency_limit must be a positive integer, got {concurrency_limit!r}"
            )
        for setting, value in (
            ("max_sync_payload", max_sync_payload),
            ("max_event_payload", max_event_payload),
            ("max_threads", max_threads),
        ):
            if not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{setting} must be a positive integer, got {value!r}")
        drain_timeout = check_number(drain_timeout, "drain_timeout", 0, math.inf)
        environment_idle_timeout = check_number(
            environment_idle_timeout, "environment_idle_timeout", 1e-3, math.inf
        )
        for setting, text in (("region", region), ("account_id", account_id)):
            check_text(text, setting, ConfigurationError)
        if not isinstance(storage, str | Backend):
            raise ConfigurationError(
                f"storage: 'memory', 'sqlite:///path/to/mesh.db' or a Backend, got {storage!r}"
            )
        self.clock: Clock = clock or RealClock()
        self.storage = storage if isinstance(storage, str) else type(storage).__name__
        self._closes_backend = False
        self.backend: Backend = self._open_storage(storage)
        # Stored work is counted by this mesh, so only a memory backend of its own is bounded:
        # another mesh (or process) sharing the store consumes what this count cannot see.
        self._bounds_store = isinstance(storage, str) and self.backend.in_memory
        self.concurrency_limit = concurrency_limit
        self.max_sync_payload = max_sync_payload
        self.max_event_payload = max_event_payload
        self.drain_timeout = drain_timeout
        self.environment_idle_timeout = environment_idle_timeout
        self.region = region
        self.account_id = account_id
        self.telemetry = telemetry or Telemetry()
        self.egress = EgressPolicy(allow_http_hosts)
        self._random = random.Random(seed)
        self._invoker = Invoker(
            clock=self.clock,
            telemetry=self.telemetry,
            concurrency_limit=concurrency_limit,
            max_response_bytes=max_sync_payload,
            max_threads=max_threads,
            region=region,
            account_id=account_id,
        )
        self._functions: dict[str, Function] = {}
        self._resources: dict[str, Destination] = {}
        self._services: list[Service] = []
        self._async_queues: dict[str, AsyncInvocationQueue] = {}
        self._function_destinations: dict[str, FunctionDestination] = {}
        self._targets: dict[str, _Target] = {}
        self._running = False
        self._to_stop: list[Callable[[], Awaitable[None]]] | None = None  # see _shut_down
        self._stopping = False  # a stop() is under way
        self._reaper: TimerHandle | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._limits: list[PendingLimit] = []  # stopped with the mesh: see _shut_down

    def _open_storage(self, storage: str | Backend) -> Backend:
        if isinstance(storage, Backend):
            return storage  # shared with another mesh, e.g. two workers of one process
        if storage == "memory":
            return memory_backend(self.clock)
        if storage.startswith("sqlite:"):
            from eventmesh.backends.sqlite import sqlite_backend_from_url

            self._closes_backend = True  # a file the mesh opened is the mesh's to close
            return sqlite_backend_from_url(storage, self.clock)
        raise ConfigurationError(
            f"unknown storage {storage!r}: use 'memory' or 'sqlite:///path/to/mesh.db'"
        )

    # -- registration ------------------------------------------------------------------------
    @overload
    def function(self, handler: Handler, /) -> Function: ...

    @overload
    def function(
        self,
        handler: None = None,
        /,
        *,
        name: str | None = None,
        timeout: float = 3,
        memory: int = 128,
        reserved_concurrency: int | None = None,
        provisioned_concurrency: int = 0,
        retries: int = 2,
        max_event_age: int = 21600,
        on_success: DestinationSpec | None = None,
        on_failure: DestinationSpec | None = None,
        dead_letter: DestinationSpec | None = None,
        environment: Mapping[str, str] | None = None,
        idempotency: Idempotency | None = None,
        max_pending: int | None = None,
    ) -> Callable[[Handler], Function]: ...

    def function(
        self,
        handler: Handler | None = None,
        /,
        *,
        name: str | None = None,
        timeout: float = 3,
        memory: int = 128,
        reserved_concurrency: int | None = None,
        provisioned_concurrency: int = 0,
        retries: int = 2,
        max_event_age: int = 21600,
        on_success: DestinationSpec | None = None,
        on_failure: DestinationSpec | None = None,
        dead_letter: DestinationSpec | None = None,
        environment: Mapping[str, str] | None = None,
        idempotency: Idempotency | None = None,
        max_pending: int | None = None,
    ) -> Function | Callable[[Handler], Function]:
        """Register a handler as a function; use as ``@mesh.function`` or with settings.

        ``idempotency=Idempotency("body.order_id")`` runs the handler once per key and gives
        duplicates the stored result (see :mod:`eventmesh.idempotency`). ``max_pending``
        limits its Event invocations queued or waiting to retry (default: the mesh's).
        """
        check_max_pending(max_pending)
        if idempotency is not None and not isinstance(idempotency, Idempotency):
            raise ConfigurationError(f"idempotency must be an Idempotency, got {idempotency!r}")
        config = FunctionConfig(
            timeout=timeout,
            memory=memory,
            reserved_concurrency=reserved_concurrency,
            provisioned_concurrency=provisioned_concurrency,
            retries=retries,
            max_event_age=max_event_age,
            on_success=on_success,
            on_failure=on_failure,
            dead_letter=dead_letter,
            environment=environment or {},
        )

        def register(handler: Handler) -> Function:
            return self._register(handler, name, config, idempotency, max_pending)

        return register(handler) if handler is not None else register

    def _register(
        self,
        handler: Handler,
        name: str | None,
        config: FunctionConfig,
        idempotency: Idempotency | None = None,
        max_pending: int | None = None,
    ) -> Function:
        if not callable(handler):
            raise ConfigurationError("a handler must be callable as handler(event, context)")
        name = name or str(getattr(handler, "__name__", ""))
        if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
            raise ConfigurationError(
                f"function name {name!r} must be 1-64 letters, digits, '-' or '_'"
            )
        if name in self._functions:
            raise ConfigurationError(f"a function named {name!r} is already registered")
        self._check_dead_letter(config)
        middleware = None
        if idempotency is not None:
            middleware = idempotency.bind(
                self.backend.values, self.clock, namespace=name, timeout=config.timeout
            )
        function = Function(name, handler, config, middleware)
        self._check_capacity(function, config)
        function._validators.append(lambda version: self._check_version(function, version))
        function._on_change.append(self._attach)
        self._functions[name] = function
        self._attach(function.latest)
        self._async_queues[name] = AsyncInvocationQueue(
            function,
            self.backend.queues,
            self._invoker,
            self._resolver(function),
            self._destination,
            self.pending_limit("function", name, max_pending, stored=True),
        )
        self._recompute_capacity()
        if self._running:
            self._async_queues[name].start()
        return function

    def idempotent(
        self,
        idempotency: Idempotency | KeySpec,
        /,
        *,
        namespace: str | None = None,
        timeout: float | None = None,
        **options: Any,
    ) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Coroutine[Any, Any, T]]]:
        """Make any async function idempotent on this mesh's store and clock, e.g. the
        per-record work of a batch handler: ``@mesh.idempotent("body.order_id")``.

        ``idempotency`` is an :class:`~eventmesh.Idempotency`, or a key with its settings as
        ``options``; see :func:`eventmesh.idempotency.idempotent`.
        """
        return idempotent(
            idempotency,
            store=self.backend.values,
            clock=self.clock,
            namespace=namespace,
            timeout=timeout,
            **options,
        )

    def _check_dead_letter(self, config: FunctionConfig) -> None:
        if isinstance(config.dead_letter, Function):
            raise ConfigurationError(
                "a dead-letter target is a queue or a topic (anything with async send), not "
                "a function; use on_failure to send failures to a function"
            )

    def _check_version(self, function: Function, version: FunctionVersion) -> None:
        self._check_dead_letter(version.config)
        self._check_capacity(function, version.config)

    def _check_capacity(self, function: Function, config: FunctionConfig) -> None:
        reserved = sum(
            f.latest.config.reserved_concurrency or 0
            for f in self._functions.values()
            if f is not function
        ) + (config.reserved_concurrency or 0)
        floor = min(100, self.concurrency_limit // 10)
        if reserved > self.concurrency_limit - floor:
            raise ConfigurationError(
                f"reserving {config.reserved_concurrency} for {function.name!r} would reserve "
                f"{reserved} of the mesh's concurrency_limit {self.concurrency_limit}; at "
                f"least {floor} must stay unreserved"
            )

    def _recompute_capacity(self) -> None:
        reserved = sum(f.latest.config.reserved_concurrency or 0 for f in self._functions.values())
        self._invoker.unreserved_capacity = self.concurrency_limit - reserved

    def _attach(self, version: FunctionVersion) -> None:
        """Give a new version its environment pool (and provision it if running)."""
        pool = EnvironmentPool(version, self.environment_idle_timeout)
        pool.on_new_environment = self._arm_reaper
        version.pool = pool
        self._targets.clear()
        self._recompute_capacity()
        if self._running and version.config.provisioned_concurrency:
            self._spawn(self._provision(version))

    def alias(
        self,
        function: Function | str,
        name: str,
        version: str,
        routing: Mapping[str, float] | None = None,
    ) -> Alias:
        """Create (or repoint) an alias; ``routing={"3": 0.1}`` sends 10 % to version 3."""
        target = self.get_function(function) if isinstance(function, str) else function
        if (
            not isinstance(name, str)
            or not _FUNCTION_NAME.match(name)
            or name.isdigit()
            or name == LATEST
        ):
            raise ConfigurationError(
                f"alias name {name!r} must be letters, digits, '-' or '_', not only digits"
            )
        existing = target.aliases.get(name)
        if existing is not None:
            existing.update(version=str(version), routing=routing or {})
        else:
            existing = Alias(target, name, str(version), routing, self._random)
            target.aliases[name] = existing
        self._targets.clear()
        return existing

    def get_function(self, name: str) -> Function:
        try:
            return self._functions[name]
        except KeyError:
            raise ResourceNotFoundError(f"no function named {name!r}", function_name=name) from None

    @property
    def functions(self) -> Mapping[str, Function]:
        return dict(self._functions)

    def pending_limit(
        self, kind: str, name: str, max_pending: int | None, *, stored: bool
    ) -> PendingLimit:
        """The limit on a resource's pending work: its own ``max_pending``, else the mesh's,
        else the default for its kind.

        ``stored``: the work sits in the backend's queues or logs, so it is limited only when
        the backend keeps them in memory and no other mesh shares it; a topic's or bus's
        deliveries are always in this process's memory.
        """
        limit = check_max_pending(max_pending) or self.max_pending or DEFAULT_MAX_PENDING[kind]
        bounded = self._bounds_store or not stored
        pending = PendingLimit(kind, name, limit if bounded else None, self.clock)
        self._limits.append(pending)
        return pending

    def register_resource(self, name: str, resource: Destination) -> None:
        """Make an object with ``async send`` reachable by name as a destination."""
        if name in self._resources and self._resources[name] is not resource:
            raise ConfigurationError(f"a resource named {name!r} is already registered")
        self._resources[name] = resource

    def _resource(self, kind: type[R], name: str, settings: Mapping[str, Any]) -> R:
        """The resource of that kind and name: created once, then the same object.

        Asking again with other settings is an error rather than a silent second queue.
        """
        existing = self._resources.get(name)
        if existing is not None:
            if not isinstance(existing, kind):
                raise ConfigurationError(
                    f"{name!r} is already a {type(existing).__name__}; names are shared by "
                    "every resource of a mesh"
                )
            if settings and settings != existing.settings:
                raise ConfigurationError(
                    settings_conflict(kind.kind, name, existing.settings, settings)
                )
            return existing
        resource = kind(self, name, settings)
        self._resources[name] = resource  # type: ignore[assignment]
        self.add_service(resource)
        return resource

    # -- resources ---------------------------------------------------------------------------
    def queue(
        self,
        name: str,
        *,
        visibility_timeout: float | None = None,
        delay: float | None = None,
        retention: float | None = None,
        max_receive_count: int | None = None,
        dead_letter: Queue | str | None = None,
        fifo: bool | None = None,
        content_based_deduplication: bool | None = None,
        max_pending: int | None = None,
    ) -> Queue:
        """An SQS-style queue (created on first use; later calls return the same one).

        Defaults as SQS: ``visibility_timeout=30``, ``delay=0``, ``retention=345600`` (4 days);
        ``max_receive_count`` with ``dead_letter`` is the redrive policy; a name ending in
        ``.fifo`` is a FIFO queue. ``max_pending`` limits the messages stored and not deleted
        (default: the mesh's); it applies on the memory backend.
        """
        from eventmesh.resources.queue import Queue

        settings = _given(
            visibility_timeout=visibility_timeout,
            delay=delay,
            retention=retention,
            max_receive_count=max_receive_count,
            dead_letter=dead_letter,
            fifo=fifo,
            content_based_deduplication=content_based_deduplication,
            max_pending=max_pending,
        )
        return self._resource(Queue, _resource_name(name, "queue", 80), settings)

    def stream(
        self,
        name: str,
        *,
        shards: int | None = None,
        retention: float | None = None,
        max_pending: int | None = None,
    ) -> Stream:
        """A Kinesis-style stream (created on first use; later calls return the same one).

        Defaults as Kinesis: one shard, ``retention=86400`` (24 h; up to 365 days).
        ``max_pending`` limits each shard's records not yet read by every running mapping
        (default: the mesh's); it applies on the memory backend.
        """
        from eventmesh.resources.stream import create_stream

        return create_stream(
            self, name, shards=shards, retention=retention, max_pending=max_pending
        )

    def bus(self, name: str = "default", *, max_pending: int | None = None) -> Bus:
        """An EventBridge-style event bus (created on first use; later calls return the same one).

        ``rule`` sends the events matching a pattern (or, on the default bus, the ticks of a
        ``rate()``/``cron()`` schedule) to up to five targets; ``put_events`` takes PutEvents'
        entries; ``archive`` and ``replay`` keep events and put them back; as a destination
        (``on_success=mesh.bus()``) it puts Lambda's invocation records on the bus.
        ``max_pending`` limits its deliveries not yet completed (default: the mesh's).
        """
        from eventmesh.resources.bus import Bus

        settings = _given(max_pending=max_pending)
        return self._resource(Bus, _resource_name(name, "bus", 256), settings)

    def topic(self, name: str, *, max_pending: int | None = None) -> Topic:
        """An SNS-style standard topic (created on first use; later calls return the same one).

        ``subscribe`` a function, a queue, an http(s):// URL or an async callable; ``publish``
        fans a message out to every subscription whose filter policy accepts it.
        ``max_pending`` limits its deliveries not yet completed (default: the mesh's).
        """
        from eventmesh.resources.topic import Topic

        settings = _given(max_pending=max_pending)
        return self._resource(Topic, _resource_name(name, "topic", 256), settings)

    def bucket(self, name: str) -> Bucket:
        """An S3-style bucket over the mesh's blob store (created on first use; later calls
        return the same one); ``notify`` sends S3 event records to a function, queue or topic."""
        from eventmesh.resources.bucket import Bucket

        return self._resource(Bucket, _resource_name(name, "bucket", 63), {})

    def schedule(
        self,
        expression: str,
        target: Any,
        *,
        timezone: str = "UTC",
        input: Any = None,
        flexible_window: int | None = None,
        name: str | None = None,
        start: datetime | None = None,
    ) -> Schedule:
        """An EventBridge-style schedule firing ``target`` on ``rate()``, ``cron()`` or ``at()``.

        ``target``: a function (or ``"name[:qualifier]"``, invoked asynchronously), anything
        with ``async send`` (a queue, a topic, or its name) or a callable taking the payload.
        It receives ``input`` if given, else the Scheduled Event. ``timezone`` is an IANA
        name; ``flexible_window`` (1-1440 minutes) fires each tick at a random moment within
        that many minutes after it; ``start`` (aware) is when the schedule begins. Without
        ``name`` one is derived from the settings (the same in every process).
        """
        from eventmesh.resources.schedule import create_schedule

        return create_schedule(
            self,
            expression,
            target,
            timezone=timezone,
            input=input,
            flexible_window=flexible_window,
            name=name,
            start=start,
        )

    def add_service(self, service: Service) -> None:
        """Run ``service`` for as long as the mesh runs (started now if it already is)."""
        self._services.append(service)
        if self._running:
            self._spawn(service.start())

    # -- for resources and event source mappings -------------------------------------------
    def resolve_function(self, target: Function | str) -> _Target:
        """A function, or a name with an optional qualifier, as an invocation target."""
        name = target.name if isinstance(target, Function) else target
        return self._target(name)

    async def invoke_sync(
        self,
        target: _Target,
        event: Any,
        *,
        trigger: str,
        parent_context: Any = None,
    ) -> InvocationResult:
        """A synchronous invocation by an event source mapping (raises when throttled)."""
        return await self._invoker.run(
            target.pick(), event, target.arn, trigger=trigger, parent_context=parent_context
        )

    async def invoke_async(
        self, target: _Target, event: Any, *, trigger: str, timeout: float | None = None
    ) -> str:
        """An asynchronous invocation by a service (topic, bucket, schedule); the request id.

        Waits up to ``timeout`` for room when the function's queue is at its limit."""
        body = encode_payload(event, self.max_event_payload, target.function.name)
        queue = self._async_queues[target.function.name]
        return await queue.put(target.qualifier or "", body, trigger, timeout=timeout)

    # -- resolution --------------------------------------------------------------------------
    def _target(self, name: str) -> _Target:
        target = self._targets.get(name)
        if target is None:
            target = self._targets[name] = self._resolve_name(name)
        return target

    def _resolve_name(self, name: str) -> _Target:
        bare = name
        for pattern in (_ARN, _PARTIAL_ARN):
            match = pattern.match(name)
            if match:
                bare = match.group(1)
                break
        function_name, _, qualifier = bare.partition(":")
        function = self.get_function(function_name)
        arn = self._invoker.arn_prefix + function_name
        if not qualifier:
            return _Target(function, None, None, None, arn)
        arn = f"{arn}:{qualifier}"
        if qualifier == LATEST:
            return _Target(function, qualifier, None, None, arn)
        if qualifier in function.aliases:
            return _Target(function, qualifier, None, function.aliases[qualifier], arn)
        if qualifier in function.versions:
            return _Target(function, qualifier, function.versions[qualifier], None, arn)
        raise ResourceNotFoundError(
            f"function {function_name!r} has no version or alias {qualifier!r}",
            function_name=function_name,
        )

    def _resolver(self, function: Function) -> Resolver:
        """For the async queue: a stored qualifier ("" when none was given) to the version to
        run, the ARN the caller invoked, and the qualified ARN that records name."""

        def resolve(qualifier: str) -> tuple[FunctionVersion, str, str]:
            target = self._target(f"{function.name}:{qualifier}" if qualifier else function.name)
            record_arn = target.arn if qualifier else f"{target.arn}:{LATEST}"
            return target.pick(), target.arn, record_arn

        return resolve

    def _destination(self, spec: DestinationSpec) -> Destination:
        if isinstance(spec, Function):
            return self._function_destination(spec)
        if isinstance(spec, str):
            if spec in self._resources:
                resource = self._resources[spec]
                if not callable(getattr(resource, "send", None)):
                    raise ConfigurationError(f"{spec!r} cannot receive messages (no send)")
                return resource
            if spec in self._functions:
                return self._function_destination(self._functions[spec])
            raise ResourceNotFoundError(f"no function or resource named {spec!r}")
        if callable(getattr(spec, "send", None)):
            return spec
        raise ConfigurationError(f"{spec!r} is not a destination (a name, a function, or send)")

    def _function_destination(self, function: Function) -> FunctionDestination:
        destination = self._function_destinations.get(function.name)
        if destination is None:
            destination = FunctionDestination(self, function)
            self._function_destinations[function.name] = destination
        return destination

    # -- invoking ----------------------------------------------------------------------------
    async def invoke(
        self,
        name: str,
        payload: Any = None,
        invocation_type: InvocationType = "RequestResponse",
        *,
        client_context: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> InvocationResult:
        """Invoke a function by name (``fn``, ``fn:3``, ``fn:live`` or an ARN).

        ``RequestResponse`` runs it and returns its result (200); ``Event`` queues it and
        returns 202 at once; ``DryRun`` only validates the name and payload (204).
        An ``Event`` invocation of a function whose queue is at its ``max_pending`` waits
        for room up to ``timeout`` seconds (None: as long as needed; 0: not at all), then
        raises :class:`~eventmesh.BackpressureError`.
        """
        if timeout is not None:
            timeout = check_timeout(timeout)
        if not self._running:
            raise EventMeshError("the mesh is not running: use `async with mesh:` first")
        if not isinstance(name, str):
            raise ConfigurationError(
                f"name: must be a function name, name:qualifier or ARN (a str), got {name!r}"
            )
        target = self._target(name)
        if invocation_type == "RequestResponse":
            version = target.pick()
            body = encode_payload(payload, self.max_sync_payload, target.function.name)
            return await self._invoker.run(
                version,
                _loads(body),
                target.arn,
                client_context=None if client_context is None else _client_context(client_context),
            )
        if invocation_type == "Event":
            body = encode_payload(payload, self.max_event_payload, target.function.name)
            queue = self._async_queues[target.function.name]
            request_id = await queue.put(target.qualifier or "", body, timeout=timeout)
            return InvocationResult(202, None, None, None, request_id)
        if invocation_type == "DryRun":
            target.pick()
            encode_payload(payload, self.max_sync_payload, target.function.name)
            return InvocationResult(204)
        raise InvocationError(
            f"invocation_type must be RequestResponse, Event or DryRun, not {invocation_type!r}"
        )

    # -- lifecycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> Mesh:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._running:
            raise EventMeshError("the mesh is already running")
        self._check_destinations()
        self.telemetry.start()
        self._invoker.bind(asyncio.get_running_loop())
        self._running = True
        self._to_stop = None
        for limit in self._limits:
            limit.start()
        try:
            for queue in self._async_queues.values():
                queue.start()
            for service in list(self._services):
                await service.start()
            versions = [
                version
                for function in self._functions.values()
                for version in (function.latest, *function.versions.values())
                if version.config.provisioned_concurrency
            ]
            await asyncio.gather(*(self._provision(version) for version in versions))
        except BaseException:
            # Half-started: stop what did start, without waiting for work to drain.
            await self._shut_down()
            raise

    def _check_destinations(self) -> None:
        problems = []
        for function in self._functions.values():
            for version in (function.latest, *function.versions.values()):
                for setting in ("on_success", "on_failure", "dead_letter"):
                    spec = getattr(version.config, setting)
                    if spec is None:
                        continue
                    try:
                        destination = self._destination(spec)
                    except EventMeshError as exc:
                        problems.append(f"{function.name}:{version.version} {setting}: {exc}")
                        continue
                    if setting == "dead_letter" and isinstance(destination, FunctionDestination):
                        problems.append(
                            f"{function.name}:{version.version} dead_letter: {spec!r} is a "
                            "function; a dead-letter target is a queue or a topic"
                        )
        if problems:
            raise ConfigurationError("invalid destinations: " + "; ".join(problems))

    async def _provision(self, version: FunctionVersion) -> None:
        """Initialise provisioned environments ahead of any invocation."""
        pool = version.pool
        assert pool is not None
        for environment in pool.provision(version.config.provisioned_concurrency):
            error, reusable = await self._invoker.initialise(environment, version)
            if reusable:
                pool.give_back(environment, self.clock.now())
            else:
                pool.discard(environment)
            if error is not None:
                logger.error(
                    "provisioning %s:%s failed: %s",
                    version.function.name,
                    version.version,
                    error.get("errorMessage") if isinstance(error, Mapping) else error,
                )

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)

    def _arm_reaper(self) -> None:
        if self._reaper is None and self._running:
            self._reaper = self.clock.call_at(
                self.clock.now() + self.environment_idle_timeout, self._reap
            )

    def _reap(self) -> None:
        """Reclaim idle environments; re-arm for the next one due, while any can be."""
        self._reaper = None
        now = self.clock.now()
        next_due: float | None = None
        on_demand = 0
        for function in self._functions.values():
            for version in (function.latest, *function.versions.values()):
                pool = version.pool
                if pool is None:
                    continue
                pool.reap(now)
                on_demand += pool.size - pool.provisioned  # busy ones become idle later
                oldest = pool.oldest_idle()
                if oldest is not None:
                    due = oldest + pool.idle_timeout
                    next_due = due if next_due is None else min(next_due, due)
        if next_due is not None:
            self._reaper = self.clock.call_at(max(next_due, now + 1e-6), self._reap)
        elif on_demand > 0:
            self._arm_reaper()

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until no invocation runs and no queued event is due; False on timeout.

        Logs what it waits for (``draining (up to 30 s): function charge 3 running, ...``)
        when there is anything, and ``drained`` when it is done.
        """
        loop = asyncio.get_running_loop()
        limit = self.drain_timeout if timeout is None else timeout
        deadline = loop.time() + limit
        reported = False
        while True:
            pending = self._invoker.in_flight
            for queue in self._async_queues.values():
                pending += await queue.pending()
            for service in self._services:
                pending += await service.pending()
            if pending == 0:
                if reported:
                    logger.info("drained")
                return True
            if not reported:
                reported = True
                logger.info("draining (up to %g s): %s", limit, await self._work_report())
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.005)

    async def _work_report(self) -> str:
        """Per function and resource, the work in hand: one line for the stop's log."""
        functions = []
        for name, function in self._functions.items():
            stats = await self._async_queues[name].stats()
            functions.append(FunctionWork(name, function.in_flight, stats.visible, stats.delayed))
        services = [(describe_service(s), await s.pending()) for s in self._services]
        return describe_work(functions, services)

    async def _report_abandoned(self, why: str) -> bool:
        """Log the work in hand as abandoned, if any; True when there was some."""
        report = await self._work_report()
        if report == NOTHING:
            return False
        logger.warning("abandoned: %s (%s)", report, why)
        return True

    async def stop(self, *, drain: bool = True) -> bool:
        """Drain (up to ``drain_timeout``; not at all with ``drain=False``), then stop
        everything. True when nothing was abandoned: the drain finished and no Event
        invocation was left unrun in memory. A stop while another is under way returns True at
        once (the first one reports)."""
        if self._stopping or (not self._running and self._to_stop is None):
            return True
        self._stopping = True
        try:
            if not self._running:  # a stop cancelled part-way (a second Ctrl-C): finish it
                await self._shut_down()
                return False
            return await self._drain_and_shut_down(drain)
        finally:
            self._stopping = False

    async def _drain_and_shut_down(self, drain: bool) -> bool:
        clean = True
        try:
            if not drain:
                clean = not await self._report_abandoned("stopped without draining")
            elif not await self.drain():
                why = f"the drain deadline of {self.drain_timeout:g} s passed"
                clean = not await self._report_abandoned(why)
        except asyncio.CancelledError:
            await self._report_abandoned("the drain was cancelled")
            raise
        except Exception:
            # A failing store (a damaged file, a disk error) must not keep the mesh running.
            clean = False
            logger.exception("draining the mesh failed; stopping anyway")
        finally:
            lost = await self._shut_down()
        return clean and not lost

    async def _report_stored_events(self) -> int:
        """Event invocations still stored once stopped: in memory they are lost with the
        process, so count and log them as abandoned; in a durable store they wait for the
        next start. Returns how many were lost."""
        lost = 0
        in_memory = isinstance(self.backend.queues, MemoryQueueStore)
        for name, queue in self._async_queues.items():
            try:
                stats = await queue.stats()
            except Exception:
                continue  # a failing store: nothing more to learn from it
            if not stats.total:
                continue
            detail = (
                f"{stats.visible} queued, {stats.delayed} waiting to retry, {stats.in_flight} taken"
            )
            if in_memory:
                self._functions[name].stats.abandoned_events += stats.total
                lost += stats.total
                logger.warning(
                    "abandoned: function %s %d Event invocations not run (%s); memory storage "
                    "keeps nothing after the process ends",
                    name,
                    stats.total,
                    detail,
                )
            else:
                logger.info(
                    "function %s: %d Event invocations stay in the store for the next start (%s)",
                    name,
                    stats.total,
                    detail,
                )
        return lost

    async def _shut_down(self) -> int:
        """Stop everything; returns how many Event invocations were lost (memory only).

        Stopping a service or a function's workers waits a few seconds for a handler that
        ignores its cancellation; a stop cancelled there (a second Ctrl-C) is finished by the
        next ``stop()`` from that step, so the services after it still stop and the Event
        invocations lost are still counted and logged."""
        self._running = False
        if self._to_stop is None:
            self._to_stop = [
                *(service.stop for service in reversed(self._services)),
                *(queue.stop for queue in self._async_queues.values()),
            ]
        while self._to_stop:
            await self._to_stop[0]()
            del self._to_stop[0]
        for limit in self._limits:
            limit.stop()  # no consumer frees room now: waiting producers are told, not left
        lost = await self._report_stored_events()
        for task in list(self._background):
            task.cancel()
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        await self._invoker.abandoned.stop()
        self._invoker.close()
        if self._closes_backend:
            await self.backend.close()
        self._to_stop = None
        return lost

    @property
    def running(self) -> bool:
        return self._running

    def __repr__(self) -> str:
        return f"<Mesh storage={self.storage!r} functions={sorted(self._functions)}>"
