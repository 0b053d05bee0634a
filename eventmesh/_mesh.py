"""Mesh: the facade users see. It registers functions and resources and runs them for the
life of ``async with``; the work is done by its parts: the registry (names and ARNs,
:mod:`eventmesh._registry`), the lifecycle (start, drain, stop, :mod:`eventmesh._lifecycle`),
the context resources are given (:mod:`eventmesh._mesh_context`), the storage binding
(:mod:`eventmesh._storage`) and the runtime (invoker, Event invocation queues)."""

from __future__ import annotations

import math
import os
import random
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from datetime import datetime
from typing import Any, Literal, ParamSpec, TypeVar, overload

import orjson

from eventmesh._async_queue import AsyncInvocationQueue
from eventmesh._aws_credentials import TEST_CREDENTIALS, AwsCredentials
from eventmesh._backpressure import check_max_pending, check_timeout
from eventmesh._clock import Clock, RealClock
from eventmesh._context import ClientContext
from eventmesh._destinations import Destination, DestinationSpec
from eventmesh._egress import EgressPolicy
from eventmesh._environment import EnvironmentPool
from eventmesh._errors import (
    ConfigurationError,
    EventMeshError,
    InvocationError,
    PayloadError,
)
from eventmesh._function import (
    LATEST,
    Alias,
    Function,
    FunctionConfig,
    FunctionTarget,
    FunctionVersion,
    Handler,
)
from eventmesh._invocation import Middleware, check_middleware
from eventmesh._invoker import InvocationResult, Invoker, encode_payload
from eventmesh._lifecycle import Lifecycle
from eventmesh._mesh_context import MeshContext
from eventmesh._registry import (
    Registry,
    check_api_name,
    check_function_name,
    check_resource_name,
)
from eventmesh._storage import BoundValues, StorageBinding, StorageSpec
from eventmesh._validation import check_mapping, check_number, check_text, json_bytes
from eventmesh.backends.protocols import Backend
from eventmesh.delivery.destinations import FunctionDestination
from eventmesh.gateway.apis import HttpApi, RestApi
from eventmesh.gateway.function_url import FunctionUrl, url_settings
from eventmesh.idempotency import Idempotency, IdempotencyLayer, KeySpec, idempotent
from eventmesh.mappings.queue_mapping import QueueMapping
from eventmesh.mappings.stream_mapping import StreamMapping
from eventmesh.middleware.idempotency import IdempotencyMiddleware
from eventmesh.process._adapter import ProcessSettings
from eventmesh.process._function import ProcessFunction, check_isolation, handler_of
from eventmesh.process._launch import LaunchOptions
from eventmesh.resources.bucket import Bucket
from eventmesh.resources.bus import Bus
from eventmesh.resources.context import ResourceContext, Service
from eventmesh.resources.queue import Queue
from eventmesh.resources.schedule import Schedule, create_schedule
from eventmesh.resources.stream import Stream, create_stream
from eventmesh.resources.topic import Topic
from eventmesh.telemetry import Telemetry

__all__ = ["Mesh"]

InvocationType = Literal["RequestResponse", "Event", "DryRun"]
R = TypeVar("R")
P = ParamSpec("P")
T = TypeVar("T")

_MB = 1024 * 1024
MAX_CLIENT_CONTEXT = 3583
_loads = orjson.loads
_SYNC = "RequestResponse"
_OTHER = "other"  # the trigger of a direct invocation, as telemetry names it


def _given(**settings: Any) -> dict[str, Any]:
    """The settings a caller gave (None means "the default")."""
    return {key: value for key, value in settings.items() if value is not None}


def _unused_handler(event: Any, context: Any) -> None:
    """What a function declared by its handler string registers as its Python handler: none
    (its handler runs in its processes; the function is built by ProcessFunction)."""


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


class Mesh:
    """Functions, their event sources and their destinations, in one asyncio program.

    ``async with Mesh() as mesh:`` starts pollers and provisioned environments; leaving the
    block drains in-flight invocations and queued events for up to ``drain_timeout`` seconds,
    then cancels what is left.

    Settings: ``storage`` (``"memory"``; a URL such as ``"sqlite:///app.db"``, a
    :class:`~eventmesh.backends.protocols.Backend` shared with another mesh, or a mapping
    from protocol to either, see :mod:`eventmesh.backends.storage`), bound when the
    mesh starts (see :meth:`use_storage`); ``clock`` (a
    :class:`~eventmesh.testing.VirtualClock` in tests); ``concurrency_limit``, the mesh-wide
    cap on concurrent executions (Lambda's account limit, 1000); ``max_sync_payload`` and
    ``max_event_payload`` (6 MB and 1 MB); ``environment_idle_timeout`` before an idle
    environment is reclaimed; ``max_threads`` for plain ``def`` handlers; ``region`` and
    ``account_id`` for ARNs; ``telemetry``; ``seed`` for alias routing's random choices;
    ``allow_http_hosts``, the hosts, addresses or networks that HTTP subscriptions and
    targets may reach although they are link-local or cloud metadata addresses (refused
    otherwise, see :mod:`eventmesh._egress`); ``max_pending``, the limit on the pending work
    of every queue, function (its Event invocations), topic, bus and stream shard that sets
    none of its own (without it: 100,000 for queues, functions and shards, 10,000 deliveries
    for topics and buses); producers wait for room at the limit, or raise
    :class:`~eventmesh.BackpressureError` when their ``timeout`` ends. ``middleware``:
    functions from "call the handler" to "call the handler" around every function's
    invocations, the first outermost (see :mod:`eventmesh.middleware`). ``aws_credentials``:
    the :class:`~eventmesh.AwsCredentials` that handlers running in processes find, with
    ``region`` (default: dummy test credentials, so an AWS SDK finds some).
    """

    def __init__(
        self,
        *,
        storage: StorageSpec = "memory",
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
        middleware: Iterable[Middleware] | None = None,
        aws_credentials: AwsCredentials | None = None,
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
        self.clock: Clock = clock or RealClock()
        self._storage = StorageBinding(storage, self.clock)
        self.concurrency_limit = concurrency_limit
        self.max_sync_payload = max_sync_payload
        self.max_event_payload = max_event_payload
        self.environment_idle_timeout = environment_idle_timeout
        self.region = region
        self.account_id = account_id
        if aws_credentials is not None and not isinstance(aws_credentials, AwsCredentials):
            raise ConfigurationError(
                f"aws_credentials must be an AwsCredentials, got {type(aws_credentials).__name__}"
            )
        self.aws_credentials = aws_credentials or TEST_CREDENTIALS
        """What handlers in process environments find as their AWS credentials."""
        self.aws_endpoint_url: str | None = None
        """The AWS-compatible endpoint serving this mesh (set by :mod:`eventmesh.aws` while
        it serves): process environments find it in ``AWS_ENDPOINT_URL``."""
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
            middleware=middleware,
        )
        self._registry = Registry(self._invoker.arn_prefix)
        self._resolved = self._registry.resolved
        self._run = self._invoker.run
        self._async_queues: dict[str, AsyncInvocationQueue] = {}
        self._lifecycle = Lifecycle(
            clock=self.clock,
            invoker=self._invoker,
            registry=self._registry,
            async_queues=self._async_queues,
            storage=self._storage,
            telemetry=self.telemetry,
            drain_timeout=drain_timeout,
            environment_idle_timeout=environment_idle_timeout,
            check=self._check_destinations,
        )
        self._context = MeshContext(
            clock=self.clock,
            storage=self._storage,
            region=region,
            account_id=account_id,
            telemetry=self.telemetry,
            egress=self.egress,
            rng=self._random,
            registry=self._registry,
            lifecycle=self._lifecycle,
            invoker=self._invoker,
            async_queues=self._async_queues,
            max_event_payload=max_event_payload,
            max_pending=self.max_pending,
        )
        self._lifecycle.closers.append(self._context.http.close)
        self._context.mapping_kinds.update(queue=QueueMapping, stream=StreamMapping)

    # -- storage -----------------------------------------------------------------------------
    @property
    def storage(self) -> str:
        """The storage asked for: ``'memory'``, its URL, or the type of the Backend given."""
        return self._storage.description

    def use_storage(self, storage: StorageSpec) -> None:
        """Choose other storage for a mesh defined elsewhere (what ``eventmesh run
        --storage`` and ``EVENTMESH_STORAGE`` do); only before the storage is bound, which it
        is when the mesh starts or a resource first uses its store."""
        self._storage.choose(storage)

    @property
    def backend(self) -> Backend:
        """The storage's stores (binds the storage if it is not bound yet)."""
        return self._storage.backend

    @property
    def context(self) -> ResourceContext:
        """What this mesh gives its resources: for a resource kind of your own, built with
        :meth:`resource`."""
        return self._context

    # -- registration ------------------------------------------------------------------------
    @overload
    def function(self, func: Handler, /) -> Function: ...

    @overload
    def function(
        self,
        func: None = None,
        /,
        *,
        name: str,
        handler: str,
        code: str | os.PathLike[str],
        isolation: Literal["process"] | None = None,
        runtime: str | None = None,
        layers: Iterable[str | os.PathLike[str]] = (),
        timeout: float = 3,
        memory: int = 128,
        ephemeral_storage: int = 512,
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
        middleware: Iterable[Middleware] | None = None,
        url: Any = None,
    ) -> Function: ...

    @overload
    def function(
        self,
        func: None = None,
        /,
        *,
        isolation: Literal["in_process", "process"] | None = None,
        name: str | None = None,
        timeout: float = 3,
        memory: int = 128,
        ephemeral_storage: int = 512,
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
        middleware: Iterable[Middleware] | None = None,
        url: Any = None,
    ) -> Callable[[Handler], Function]: ...

    def function(
        self,
        func: Handler | None = None,
        /,
        *,
        handler: str | None = None,
        code: str | os.PathLike[str] | None = None,
        isolation: Literal["in_process", "process"] | None = None,
        runtime: str | None = None,
        layers: Iterable[str | os.PathLike[str]] = (),
        name: str | None = None,
        timeout: float = 3,
        memory: int = 128,
        ephemeral_storage: int = 512,
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
        middleware: Iterable[Middleware] | None = None,
        url: Any = None,
    ) -> Function | Callable[[Handler], Function]:
        """Register a handler as a function; use as ``@mesh.function`` or with settings.

        ``idempotency=Idempotency("body.order_id")`` runs the handler once per key and gives
        duplicates the stored result (see :mod:`eventmesh.idempotency`). ``max_pending``
        limits its Event invocations queued or waiting to retry (default: the mesh's).
        ``middleware`` goes around this function's invocations, inside the mesh's and
        outside its idempotency, the first outermost (see :mod:`eventmesh.middleware`).

        ``handler="app.lambda_handler", code="src/"`` (with ``name``) registers a handler
        written for Lambda, unchanged, and returns the function: each execution environment is
        an OS process speaking Lambda's Runtime API (a code directory with an executable
        ``bootstrap`` is a custom runtime, in any language). A decorated plain ``def`` runs in
        the mesh's process unless ``isolation="process"`` (see :mod:`eventmesh.process`).

        ``runtime`` names Lambda's runtime for a handler string: ``python3.x`` (AWS's Python
        runtime client on this interpreter, even when the code directory holds a
        ``bootstrap``) or ``provided``, ``provided.al2``, ``provided.al2023`` (the executable
        ``bootstrap`` of the code directory, else of the last layer holding one); ``None``
        decides by the code directory. ``layers`` are layer directories, as Lambda extracts
        them into ``/opt`` (later ones win): each one's ``python`` and
        ``python/lib/python3.x/site-packages`` go on a Python handler's import path after the
        code directory, its ``bin`` on ``PATH`` and its ``lib`` on ``LD_LIBRARY_PATH``.
        ``ephemeral_storage`` (MB, 512-10240) is the size of a process environment's ``/tmp``.

        ``url=True`` (or a :class:`~eventmesh.gateway.function_url.FunctionUrlConfig`, or a
        mapping with ``auth_type`` and ``cors``) gives the function a function URL.
        """
        check_isolation(isolation)
        url_config = url_settings(url)
        check_max_pending(max_pending)
        wrappers = check_middleware(middleware, "function")
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
            ephemeral_storage=ephemeral_storage,
        )
        if isinstance(layers, str | os.PathLike):
            raise ConfigurationError(f"layers must be a list of directories, got {layers!r}")
        launch_options = LaunchOptions(runtime, tuple(layers))

        if handler is not None or code is not None:
            if func is not None:
                raise ConfigurationError(
                    "give either a handler function or handler= and code=, not both"
                )
            if handler is None or code is None or name is None:
                raise ConfigurationError(
                    "a function declared by its handler string needs name=, handler= "
                    "('module.function') and code= (the code directory)"
                )
            if isolation == "in_process":
                raise ConfigurationError(
                    "a handler string runs with isolation='process' (its own processes); for "
                    "isolation='in_process', import the handler and decorate it"
                )
            return self._with_url(
                self._register_process(
                    name, handler, code, config, idempotency, max_pending, wrappers, None,
                    launch_options,
                ),
                url_config,
            )  # fmt: skip
        if launch_options != LaunchOptions():
            raise ConfigurationError(
                "runtime= and layers= are settings of a function declared by its handler "
                "string (handler= and code=)"
            )

        def register(target: Handler) -> Function:
            if isolation == "process":
                handler_string, root = handler_of(
                    target, str(name or getattr(target, "__name__", ""))
                )
                return self._with_url(self._register_process(
                    name or target.__name__, handler_string, root, config, idempotency,
                    max_pending, wrappers, target,
                ), url_config)  # fmt: skip
            function = self._register(target, name, config, idempotency, max_pending, wrappers)
            return self._with_url(function, url_config)

        return register(func) if func is not None else register

    def _with_url(self, function: Function, url: Mapping[str, Any] | None) -> Function:
        """Give ``function`` its function URL when ``url=`` asked for one."""
        if url is not None:
            name = FunctionUrl.resource_name(function.name)
            self.resource(FunctionUrl, name, function=function.name, **url)
        return function

    def _register_process(
        self,
        name: str,
        handler: str,
        code: str | os.PathLike[str],
        config: FunctionConfig,
        idempotency: Idempotency | None,
        max_pending: int | None,
        middleware: tuple[Middleware, ...],
        original: Handler | None,
        options: LaunchOptions | None = None,
    ) -> Function:
        settings = ProcessSettings(
            region=self.region,
            credentials=self.aws_credentials,
            max_response_bytes=self.max_sync_payload,
            endpoint_source=lambda: self.aws_endpoint_url,
            credentials_source=lambda: self.aws_credentials,
        )

        def build(
            name: str, _: Handler, config: FunctionConfig, layers: tuple[Middleware, ...]
        ) -> Function:
            return ProcessFunction(name, handler, code, config, settings, layers, original, options)

        function = self._register(
            original or _unused_handler, name, config, idempotency, max_pending, middleware, build
        )
        assert isinstance(function, ProcessFunction)
        self._lifecycle.closers.append(function.runtime.close)
        return function

    def _register(
        self,
        handler: Handler,
        name: str | None,
        config: FunctionConfig,
        idempotency: Idempotency | None = None,
        max_pending: int | None = None,
        middleware: tuple[Middleware, ...] = (),
        build: Callable[
            [str, Handler, FunctionConfig, tuple[Middleware, ...]], Function
        ] = Function,
    ) -> Function:
        if not callable(handler):
            raise ConfigurationError("a handler must be callable as handler(event, context)")
        name = check_function_name(name or str(getattr(handler, "__name__", "")))
        if name in self._registry.functions:
            raise ConfigurationError(f"a function named {name!r} is already registered")
        self._check_dead_letter(config)
        if idempotency is not None:
            middleware = (*middleware, self._idempotency(idempotency, name, config.timeout))
        function = build(name, handler, config, middleware)
        self._check_capacity(function, config)
        function._validators.append(lambda version: self._check_version(function, version))
        function._on_change.append(self._attach)
        function._on_provision.append(self._lifecycle.version_added)
        self._registry.add_function(function)
        self._invoker.middleware.register(function)
        self._attach(function.latest)
        queue = AsyncInvocationQueue(
            function,
            lambda: self._storage.backend.queues,
            self._invoker,
            self._resolver(function),
            self._context.destination,
            self._context.pending_limit("function", name, max_pending, stored=True),
        )
        self._async_queues[name] = queue
        self._recompute_capacity()
        if self.running:
            queue.start()
        return function

    def _idempotency(
        self, idempotency: Idempotency, name: str, timeout: float
    ) -> IdempotencyMiddleware:
        """The function's idempotency, bound to the store when its chain is first composed
        (at start, when the storage is bound)."""

        def bind() -> IdempotencyLayer:
            values = self.backend.values
            return idempotency.bind(values, self.clock, namespace=name, timeout=timeout)

        return IdempotencyMiddleware(bind, namespace=idempotency.namespace or name)

    def add_middleware(self, middleware: Middleware) -> None:
        """Add a middleware around every function, innermost of the mesh's; refused once the
        mesh runs (the chains are composed when it starts)."""
        self._invoker.middleware.add(middleware)

    @property
    def middleware(self) -> tuple[Middleware, ...]:
        """The mesh-wide middleware, outermost first."""
        return self._invoker.middleware.mesh_wide

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
            store=BoundValues(self._storage),  # not bound until first used: see use_storage
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
            for f in self._registry.functions.values()
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
        reserved = sum(
            f.latest.config.reserved_concurrency or 0 for f in self._registry.functions.values()
        )
        self._invoker.unreserved_capacity = self.concurrency_limit - reserved

    def _attach(self, version: FunctionVersion) -> None:
        """Give a new version its environment pool (and provision it if running)."""
        pool = EnvironmentPool(version, self.environment_idle_timeout)
        pool.on_new_environment = self._lifecycle.arm_reaper
        if isinstance(version.function, ProcessFunction):
            pool.on_reclaim = version.function.on_reclaim
        version.pool = pool
        self._registry.versions_changed()
        self._recompute_capacity()
        self._lifecycle.version_added(version)

    def alias(
        self,
        function: Function | str,
        name: str,
        version: str,
        routing: Mapping[str, float] | None = None,
    ) -> Alias:
        """Create (or repoint) an alias; ``routing={"3": 0.1}`` sends 10 % to version 3."""
        target = self.get_function(function) if isinstance(function, str) else function
        check_function_name(name, "alias")
        if name.isdigit() or name == LATEST:
            raise ConfigurationError(
                f"alias name {name!r} must be letters, digits, '-' or '_', not only digits"
            )
        existing = target.aliases.get(name)
        if existing is not None:
            existing.update(version=str(version), routing=routing or {})
        else:
            existing = Alias(target, name, str(version), routing, self._random)
            target.aliases[name] = existing
        self._registry.versions_changed()
        return existing

    def get_function(self, name: str) -> Function:
        return self._registry.get_function(name)

    def function_url(
        self,
        function: Function | str,
        /,
        *,
        qualifier: str | None = None,
        auth_type: str = "NONE",
        cors: Any = None,
    ) -> FunctionUrl:
        """Give an existing function its function URL (what ``url=`` on
        :meth:`function` does), invoking ``qualifier`` (an alias or version) when given:
        ``auth_type`` ``"NONE"`` or ``"AWS_IAM"``, ``cors`` as ``url={"cors": ...}``. A
        function has one URL; asking again with the same settings returns it."""
        target = self.get_function(function) if isinstance(function, str) else function
        invoked = target.name if qualifier is None else f"{target.name}:{qualifier}"
        if qualifier is not None:
            check_function_name(qualifier, "qualifier")
        name = FunctionUrl.resource_name(target.name)
        return self.resource(FunctionUrl, name, function=invoked, auth_type=auth_type, cors=cors)

    @property
    def functions(self) -> Mapping[str, Function]:
        return dict(self._registry.functions)

    def register_resource(self, name: str, resource: Destination) -> None:
        """Make an object with ``async send`` reachable by name as a destination."""
        self._registry.add_resource(name, resource)

    def add_service(self, service: Service) -> None:
        """Run ``service`` for as long as the mesh runs (started now if it already is)."""
        self._lifecycle.add_service(service)

    # -- resources ---------------------------------------------------------------------------
    def resource(self, kind: type[R], name: str, /, **settings: Any) -> R:
        """The resource of ``kind`` named ``name``: built as ``kind(mesh.context, name,
        settings)`` and run for as long as the mesh runs (started at once if it already
        does) on first use, then the same object; other settings for that name are an error.

        Every resource kind, the six built in and any of your own, is registered this way;
        ``mesh.queue("orders")`` is ``mesh.resource(Queue, "orders")`` with the name checked.
        Settings left as None mean "the default".
        """
        return self._context.resource(kind, name, _given(**settings))

    async def remove_resource(self, name: str) -> bool:
        """Stop and forget the resource named ``name`` (what SQS's ``DeleteQueue`` and SNS's
        ``DeleteTopic`` do to the resource; its stored messages are the caller's to purge).
        The name is free again; False when no resource has it."""
        return await self._context.remove_resource(name)

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
        return self.resource(
            Queue,
            check_resource_name(name, "queue", 80),
            visibility_timeout=visibility_timeout,
            delay=delay,
            retention=retention,
            max_receive_count=max_receive_count,
            dead_letter=dead_letter,
            fifo=fifo,
            content_based_deduplication=content_based_deduplication,
            max_pending=max_pending,
        )

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
        return create_stream(
            self._context, name, shards=shards, retention=retention, max_pending=max_pending
        )

    def bus(self, name: str = "default", *, max_pending: int | None = None) -> Bus:
        """An EventBridge-style event bus (created on first use; later calls return the same one).

        ``rule`` sends the events matching a pattern (or, on the default bus, the ticks of a
        ``rate()``/``cron()`` schedule) to up to five targets; ``put_events`` takes PutEvents'
        entries; ``archive`` and ``replay`` keep events and put them back; as a destination
        (``on_success=mesh.bus()``) it puts Lambda's invocation records on the bus.
        ``max_pending`` limits its deliveries not yet completed (default: the mesh's).
        """
        return self.resource(Bus, check_resource_name(name, "bus", 256), max_pending=max_pending)

    def topic(
        self, name: str, *, max_pending: int | None = None, signature_version: str | int = "1"
    ) -> Topic:
        """An SNS-style standard topic (created on first use; later calls return the same one).

        ``subscribe`` a function, a queue, an http(s):// URL or an async callable; ``publish``
        fans a message out to every subscription whose filter policy accepts it.
        ``max_pending`` limits its deliveries not yet completed (default: the mesh's).
        ``signature_version`` is SNS's topic attribute: HTTP(S) deliveries are signed with
        SHA1withRSA (``"1"``, SNS's default) or SHA256withRSA (``"2"``).
        """
        return self.resource(
            Topic,
            check_resource_name(name, "topic", 256),
            max_pending=max_pending,
            signature_version=str(signature_version),
        )

    def bucket(self, name: str) -> Bucket:
        """An S3-style bucket over the mesh's blob store (created on first use; later calls
        return the same one); ``notify`` sends S3 event records to a function, queue or topic."""
        return self.resource(Bucket, check_resource_name(name, "bucket", 63))

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
        end: datetime | None = None,
        retries: int = 185,
        max_event_age: float = 86400,
        dead_letter: Queue | str | None = None,
        arn: str | None = None,
    ) -> Schedule:
        """An EventBridge-style schedule firing ``target`` on ``rate()``, ``cron()`` or ``at()``.

        ``target``: a function (or ``"name[:qualifier]"``, invoked asynchronously), anything
        with ``async send`` (a queue, a topic, or its name) or a callable taking the payload.
        It receives ``input`` if given (Scheduler's ``<aws.scheduler.*>`` context attributes
        replaced), else the Scheduled Event. ``timezone`` is an IANA name;
        ``flexible_window`` (1-1440 minutes) fires each tick at a random moment within that
        many minutes after it; ``start`` and ``end`` (aware) bound the ticks that fire. A
        failed attempt is retried with backoff up to ``retries`` times (0-185) within
        ``max_event_age`` seconds (60-86400), then goes to the ``dead_letter`` queue (a queue,
        its name or ARN) with Scheduler's attributes, as EventBridge Scheduler's
        ``RetryPolicy`` and ``DeadLetterConfig`` do. ``arn``: the ARN it goes by (in the
        Scheduled Event and dead letters). Without ``name`` one is derived from the settings
        (the same in every process).
        """
        return create_schedule(
            self._context,
            expression,
            target,
            timezone=timezone,
            input=input,
            flexible_window=flexible_window,
            name=name,
            start=start,
            end=end,
            retries=retries,
            max_event_age=max_event_age,
            dead_letter=dead_letter,
            arn=arn,
        )

    def http_api(self, name: str, /, **settings: Any) -> HttpApi:
        """An API Gateway HTTP API (created on first use; later calls return the same one):
        ``.route("GET /orders/{id}", fn)``. Settings: ``stage`` (``$default``),
        ``stage_variables``, ``base_path`` (the root; None: only by its execute-api host),
        ``payload_format_version`` (``"2.0"``), ``timeout`` (30 s), ``cors``. See
        :mod:`eventmesh.gateway`."""
        return self._context.resource(HttpApi, check_api_name(name), settings)

    def rest_api(self, name: str, /, **settings: Any) -> RestApi:
        """An API Gateway REST API (created on first use; later calls return the same one):
        ``.route("GET /orders/{id}", fn, api_key_required=True)``, ``.api_key()``. Settings:
        ``stage`` (``Prod``), ``stage_variables``, ``base_path``, ``binary_media_types``,
        ``timeout`` (29 s), ``cors``. See :mod:`eventmesh.gateway`."""
        return self._context.resource(RestApi, check_api_name(name), settings)

    # -- resolution --------------------------------------------------------------------------
    def resolve_function(self, target: Function | str) -> FunctionTarget:
        """A function, or a name with an optional qualifier, as an invocation target."""
        return self._context.resolve_function(target)

    def _resolver(self, function: Function) -> Callable[[str], tuple[FunctionVersion, str, str]]:
        """For the async queue: a stored qualifier ("" when none was given) to the version to
        run, the ARN the caller invoked, and the qualified ARN that records name."""
        registry = self._registry

        def resolve(qualifier: str) -> tuple[FunctionVersion, str, str]:
            target = registry.target(f"{function.name}:{qualifier}" if qualifier else function.name)
            record_arn = target.arn if qualifier else f"{target.arn}:{LATEST}"
            return target.pick(), target.arn, record_arn

        return resolve

    # -- invoking ----------------------------------------------------------------------------
    def invoke(
        self,
        name: str,
        payload: Any = None,
        invocation_type: InvocationType = "RequestResponse",
        *,
        client_context: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Coroutine[Any, Any, InvocationResult]:
        """Invoke a function by name (``fn``, ``fn:3``, ``fn:live`` or an ARN): await it.

        ``RequestResponse`` runs it and returns its result (200); ``Event`` queues it and
        returns 202 at once; ``DryRun`` only validates the name and payload (204).
        An ``Event`` invocation of a function whose queue is at its ``max_pending`` waits
        for room up to ``timeout`` seconds (None: as long as needed; 0: not at all), then
        raises :class:`~eventmesh.BackpressureError`.

        A coroutine, as from an ``async def``: nothing is checked or run until it is
        awaited. The common call, RequestResponse of a name invoked before (its resolution
        cached until a version, an alias or a configuration changes), is the invoker's
        coroutine itself (which encodes the payload and checks that the mesh runs when
        awaited), and an Event call of such a name with no timeout is its function's queue's
        (:meth:`~eventmesh._async_queue.AsyncInvocationQueue.invoke`); every other call takes
        the general one.
        """
        if (
            type(name) is str
            and invocation_type == "RequestResponse"
            and client_context is None
            and timeout is None
        ):
            target = self._resolved(name)
            if target is not None:
                alias = target.alias
                if alias is None:
                    version = target.version or target.function.latest
                else:
                    version = alias.pick()  # weighted routing: chosen per call
                return self._run(
                    version, payload, target.arn, _SYNC, None, None, _OTHER, None, None,
                    self.max_sync_payload,
                )  # fmt: skip
        elif invocation_type == "Event" and timeout is None and type(name) is str:
            # An Event call of a name invoked before: its queue's own coroutine, which makes
            # the general way's checks in the same order (client_context plays no part).
            target = self._resolved(name)
            if target is not None:
                queue = self._async_queues[target.function.name]
                return queue.invoke(target.qualifier or "", payload, self.max_event_payload)
        return self._invoke(name, payload, invocation_type, client_context, timeout)

    async def _invoke(
        self,
        name: str,
        payload: Any,
        invocation_type: InvocationType,
        client_context: Mapping[str, Any] | None,
        timeout: float | None,
    ) -> InvocationResult:
        """:meth:`invoke`'s general way, for every call its hot path does not take."""
        if timeout is not None:
            timeout = check_timeout(timeout)
        if not self._lifecycle.running:
            raise EventMeshError("the mesh is not running: use `async with mesh:` first")
        if not isinstance(name, str):
            raise ConfigurationError(
                f"name: must be a function name, name:qualifier or ARN (a str), got {name!r}"
            )
        target = self._registry.target(name)
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

    async def start(self, *, event_sources: bool = True) -> None:
        """Bind the storage, start the workers, every resource and mapping, and the
        provisioned environments (see :mod:`eventmesh._lifecycle`).

        ``event_sources=False`` leaves out what makes events on its own: event source
        mappings (they poll nothing) and schedules (scheduled rules too: they fire nothing),
        so only what is invoked runs (``eventmesh invoke`` starts the mesh this way)."""
        await self._lifecycle.start(event_sources=event_sources)

    def _check_destinations(self) -> None:
        problems = []
        for function in self._registry.functions.values():
            for version in (function.latest, *function.versions.values()):
                for setting in ("on_success", "on_failure", "dead_letter"):
                    spec = getattr(version.config, setting)
                    if spec is None:
                        continue
                    try:
                        destination = self._context.destination(spec)
                    except EventMeshError as exc:
                        problems.append(f"{function.name}:{version.version} {setting}: {exc}")
                        continue
                    if setting == "dead_letter" and isinstance(destination, FunctionDestination):
                        problems.append(
                            f"{function.name}:{version.version} dead_letter: {spec!r} is a "
                            "function; a dead-letter target is a queue or a topic"
                        )
            for qualifier, settings in function.event_invoke.items():
                for setting in ("on_success", "on_failure"):
                    spec = settings.get(setting)
                    if spec is None:
                        continue
                    try:
                        self._context.destination(spec)
                    except EventMeshError as exc:
                        problems.append(f"{function.name}:{qualifier} {setting}: {exc}")
        if problems:
            raise ConfigurationError("invalid destinations: " + "; ".join(problems))

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until no invocation runs and no queued event is due; False on timeout.

        Logs what it waits for (``draining (up to 30 s): function charge 3 running, ...``)
        when there is anything, and ``drained`` when it is done.
        """
        return await self._lifecycle.drain(timeout)

    async def stop(self, *, drain: bool = True) -> bool:
        """Drain (up to ``drain_timeout``; not at all with ``drain=False``), then stop
        everything. True when nothing was abandoned: the drain finished and no Event
        invocation was left unrun in memory. A stop while another is under way returns True at
        once (the first one reports)."""
        return await self._lifecycle.stop(drain=drain)

    async def _shut_down(self) -> int:
        return await self._lifecycle._shut_down()

    @property
    def drain_timeout(self) -> float:
        return self._lifecycle.drain_timeout

    @drain_timeout.setter
    def drain_timeout(self, seconds: float) -> None:
        self._lifecycle.drain_timeout = check_number(seconds, "drain_timeout", 0, math.inf)

    @property
    def running(self) -> bool:
        return self._lifecycle.running

    def __repr__(self) -> str:
        return f"<Mesh storage={self.storage!r} functions={sorted(self._registry.functions)}>"
