"""Functions: a handler, its configuration, its published versions and its aliases.

``@mesh.function(...)`` turns a handler into a :class:`Function`, the ``$LATEST`` version that
can still change (``update_code``, ``update_configuration``). ``publish_version()`` freezes the
handler and the configuration into an immutable numbered :class:`FunctionVersion`, as Lambda's
PublishVersion does; an :class:`Alias` points at one version, or splits traffic between two.
"""

from __future__ import annotations

import dataclasses
import inspect
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from eventmesh._context import context_template
from eventmesh._errors import ConfigurationError, ResourceNotFoundError
from eventmesh._validation import text_bytes

if TYPE_CHECKING:
    from eventmesh._context import Context
    from eventmesh._destinations import DestinationSpec
    from eventmesh._environment import EnvironmentPool
    from eventmesh._invocation import CallHandler, Middleware

__all__ = [
    "Alias",
    "Function",
    "FunctionConfig",
    "FunctionStats",
    "FunctionTarget",
    "FunctionVersion",
    "Handler",
    "InitHook",
    "check_signature",
]

Handler: TypeAlias = Callable[[Any, "Context"], Any]
"""``async def handler(event, context)`` or a plain ``def handler(event, context)``."""

InitHook: TypeAlias = Callable[["Context"], Any]
"""``async def setup(context)`` or a plain ``def``; its result becomes ``context.state``."""

LATEST = "$LATEST"
_MAX_ENVIRONMENT_BYTES = 4096
EVENT_INVOKE_SETTINGS = ("retries", "max_event_age", "on_success", "on_failure")
"""The settings of an asynchronous invocation that Lambda's event invoke configuration sets
per qualifier (``PutFunctionEventInvokeConfig``)."""
_EVENT_INVOKE_DEFAULTS: dict[str, Any] = {
    "retries": 2,
    "max_event_age": 21600,
    "on_success": None,
    "on_failure": None,
}


def _check_range(name: str, value: Any, low: float, high: float, *, integer: bool) -> None:
    kind = "an integer" if integer else "a number"
    bounds = f"of {low:g} or more" if high >= 1e9 else f"from {low:g} to {high:g}"
    valid_type = isinstance(value, int) if integer else isinstance(value, int | float)
    if (
        isinstance(value, bool)
        or not valid_type
        or not low <= value <= high  # exact for an int of any size; False for NaN
    ):
        raise ConfigurationError(f"{name} must be {kind} {bounds}, got {value!r}")


@dataclass(frozen=True, slots=True)
class FunctionConfig:
    """A function version's settings, with Lambda's ranges and defaults.

    ``timeout`` (s) 1-900, default 3; ``memory`` (MB) 128-10240; ``reserved_concurrency``
    ``None`` (share the unreserved pool) or 0 and up (0 throttles the function entirely);
    ``provisioned_concurrency`` environments initialised at start; ``retries`` 0-2 and
    ``max_event_age`` (s) 60-21600 for asynchronous invocations; destinations for their
    outcome; ``dead_letter`` for events that failed all attempts; ``environment`` variables,
    4 KB in all; ``ephemeral_storage`` (MB) 512-10240, the size of a process environment's
    ``/tmp`` (Lambda's ``EphemeralStorage``; nothing in process).
    """

    timeout: float = 3
    memory: int = 128
    reserved_concurrency: int | None = None
    provisioned_concurrency: int = 0
    retries: int = 2
    max_event_age: int = 21600
    on_success: DestinationSpec | None = None
    on_failure: DestinationSpec | None = None
    dead_letter: DestinationSpec | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    ephemeral_storage: int = 512

    def __post_init__(self) -> None:
        _check_range("timeout", self.timeout, 1, 900, integer=False)
        _check_range("memory", self.memory, 128, 10240, integer=True)
        _check_range("ephemeral_storage", self.ephemeral_storage, 512, 10240, integer=True)
        if self.reserved_concurrency is not None:
            _check_range("reserved_concurrency", self.reserved_concurrency, 0, 1e9, integer=True)
        _check_range("provisioned_concurrency", self.provisioned_concurrency, 0, 1e9, integer=True)
        if (
            self.reserved_concurrency is not None
            and self.provisioned_concurrency > self.reserved_concurrency
        ):
            raise ConfigurationError(
                f"provisioned_concurrency ({self.provisioned_concurrency}) cannot exceed "
                f"reserved_concurrency ({self.reserved_concurrency})"
            )
        _check_range("retries", self.retries, 0, 2, integer=True)
        _check_range("max_event_age", self.max_event_age, 60, 21600, integer=True)
        self._check_environment()

    def _check_environment(self) -> None:
        if not isinstance(self.environment, Mapping):
            raise ConfigurationError("environment must be a mapping of str to str")
        size = 0
        for key, value in self.environment.items():
            if not isinstance(key, str) or not isinstance(value, str):
                shown = repr(key) if isinstance(key, str) else f"a {type(key).__name__} key"
                raise ConfigurationError(  # the value's type only: values are often secrets
                    "environment variables must map str to str, got "
                    f"{shown}: a {type(value).__name__} value"
                )
            size += len(text_bytes(key, "environment", ConfigurationError))
            size += len(text_bytes(value, f"environment[{key!r}]", ConfigurationError))
        if size > _MAX_ENVIRONMENT_BYTES:
            raise ConfigurationError(
                f"environment variables take {size} bytes; the limit is 4 KB (4096 bytes)"
            )
        object.__setattr__(self, "environment", dict(self.environment))

    def __repr__(self) -> str:
        """Every setting, but environment values masked: they are often secrets, and a
        configuration gets logged."""
        shown = []
        for setting in dataclasses.fields(self):
            value = getattr(self, setting.name)
            if setting.name == "environment":
                value = {key: "***" for key in value}
            shown.append(f"{setting.name}={value!r}")
        return f"FunctionConfig({', '.join(shown)})"

    def replace(self, **changes: Any) -> FunctionConfig:
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigurationError(f"unknown function settings: {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)


def check_signature(target: Any, role: str, name: str) -> None:
    """Refuse, at registration, a handler that cannot be called as ``handler(event, context)``
    or an init hook that cannot be called as ``hook(context)``: the mistake would otherwise
    show only as a TypeError on every invocation. ``*args``, defaults, keyword parameters with
    defaults, callable objects, bound methods and ``functools.partial`` all pass; a callable
    whose signature Python cannot read (some builtins) is given the benefit of the doubt."""
    parameters = ("event", "context") if role == "handler" else ("context",)
    expected = f"{role}({', '.join(parameters)})"
    example = f"def {name}({', '.join(parameters)})"
    if not callable(target):
        raise ConfigurationError(
            f"{role} {name!r} must be callable as {expected}, got {target!r}: expected "
            f"`{example}` or `async {example}`"
        )
    try:
        # The callable itself is called, not what a decorator's functools.wraps names as
        # wrapped: a wrapper may supply arguments its inner function takes differently.
        signature = inspect.signature(target, follow_wrapped=False)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*parameters)
    except TypeError as exc:
        raise ConfigurationError(
            f"{role} {name!r} has the signature {signature} and cannot be called as "
            f"{expected} ({exc}): expected `{example}` or `async {example}`"
        ) from None


def is_async_callable(obj: Callable[..., Any]) -> bool:
    """True for ``async def`` functions and objects whose ``__call__`` is one."""
    if inspect.iscoroutinefunction(obj):
        return True
    call = getattr(obj, "__call__", None)  # noqa: B004 - a callable object's method
    return call is not None and inspect.iscoroutinefunction(call)


class FunctionStats:
    """Counts kept for every function whether or not telemetry is on (a few integer adds)."""

    __slots__ = (
        "abandoned_events",
        "cold_starts",
        "dead_letter_errors",
        "destination_failures",
        "dropped_events",
        "errors",
        "invocations",
        "loop_stalls",
        "runaways",
        "throttles",
    )

    def __init__(self) -> None:
        self.runaways = 0
        """Invocations timed out whose work still ran on: a handler that caught the
        deadline's cancellation (run on in the background) or a plain ``def`` handler's
        thread."""
        self.loop_stalls = 0
        """Timeouts caused by an ``async def`` handler blocking the event loop."""
        self.invocations = 0
        self.errors = 0
        self.throttles = 0
        self.cold_starts = 0
        self.dropped_events = 0
        self.dead_letter_errors = 0
        self.destination_failures = 0
        self.abandoned_events = 0
        """Event invocations a memory mesh stopped with, not run: lost with the process."""

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __repr__(self) -> str:
        return f"FunctionStats({self.as_dict()})"


class FunctionVersion:
    """One version of a function: ``$LATEST`` or an immutable published number.

    It owns its pool of execution environments: environments never cross versions, as
    code and configuration differ between them.
    """

    def __init__(
        self,
        function: Function,
        version: str,
        handler: Handler,
        init_hook: InitHook | None,
        config: FunctionConfig,
    ) -> None:
        self.function = function
        self.version = version
        self.handler = handler
        self.handler_is_async = is_async_callable(handler)
        self.init_hook = init_hook
        self.init_is_async = init_hook is not None and is_async_callable(init_hook)
        self.config = config
        # What every invocation reads, taken from the (frozen) configuration once.
        self.timeout = config.timeout
        self.memory = config.memory
        self.variables = config.environment
        self.contexts = context_template(function.name, version, config.memory, config.environment)
        """The class of this version's warm contexts (its constant fields preset)."""
        self.pool: EnvironmentPool | None = None  # attached by the mesh

    @property
    def name(self) -> str:
        return self.function.name

    def __repr__(self) -> str:
        return f"<FunctionVersion {self.function.name}:{self.version}>"


class Function:
    """A registered function: the ``$LATEST`` version, its published versions and aliases.

    Calling the object calls the handler directly, so a unit test of the handler stays a
    plain function call.
    """

    def __init__(
        self,
        name: str,
        handler: Handler,
        config: FunctionConfig,
        middleware: Sequence[Middleware] = (),
    ) -> None:
        self.name = name
        check_signature(handler, "handler", name)
        # The function's own middleware, around every version's invocations (so new code
        # and published versions keep it); the mesh composes the chain when it starts.
        self.middleware: tuple[Middleware, ...] = tuple(middleware)
        self.chain: CallHandler | None = None
        """The composed chain, or None: no middleware, the invoker's direct path."""
        self.latest = FunctionVersion(self, LATEST, handler, None, config)
        self.reserved = config.reserved_concurrency
        """``$LATEST``'s reserved concurrency (it applies to every version), read on every
        invocation: kept here as ``$LATEST`` changes."""
        self.versions: dict[str, FunctionVersion] = {}
        self.aliases: dict[str, Alias] = {}
        self.event_invoke: dict[str, dict[str, Any]] = {}
        """Event invoke settings of published versions and aliases, by qualifier (``$LATEST``'s
        are its configuration's): see :meth:`configure_event_invoke`."""
        self._event_configs: dict[tuple[str, FunctionVersion], FunctionConfig] = {}
        self._last_published: tuple[Handler, InitHook | None, FunctionConfig] | None = None
        # The mesh's hooks: validators may refuse a new $LATEST; listeners see every version.
        self._validators: list[Callable[[FunctionVersion], None]] = []
        self._on_change: list[Callable[[FunctionVersion], None]] = []
        self._on_provision: list[Callable[[FunctionVersion], None]] = []
        """Told of a version whose provisioned concurrency changed (a running mesh provisions
        it at once)."""
        # Concurrency in flight across every version, for reserved concurrency.
        self.in_flight = 0
        self.stats = FunctionStats()

    # -- $LATEST -----------------------------------------------------------------------
    @property
    def handler(self) -> Handler:
        return self.latest.handler

    @property
    def config(self) -> FunctionConfig:
        return self.latest.config

    def __call__(self, event: Any, context: Context) -> Any:
        return self.latest.handler(event, context)

    def init(self, hook: InitHook) -> InitHook:
        """Decorate the hook that runs once per execution environment (a cold start)."""
        check_signature(hook, "init hook", getattr(hook, "__name__", "setup"))
        self._replace_latest(init_hook=hook)
        return hook

    def update_code(self, handler: Handler) -> None:
        """Replace ``$LATEST``'s handler; its environments start cold again, as in Lambda."""
        check_signature(handler, "handler", self.name)
        self._replace_latest(handler=handler)

    def update_configuration(self, **changes: Any) -> None:
        """Change ``$LATEST``'s settings (published versions keep theirs)."""
        self._replace_latest(config=self.latest.config.replace(**changes))

    def _replace_latest(
        self,
        *,
        handler: Handler | None = None,
        init_hook: InitHook | None = None,
        config: FunctionConfig | None = None,
    ) -> None:
        old = self.latest
        new = FunctionVersion(
            self,
            LATEST,
            handler if handler is not None else old.handler,
            init_hook if init_hook is not None else old.init_hook,
            config if config is not None else old.config,
        )
        for validate in self._validators:
            validate(new)
        self.latest = new
        self.reserved = new.config.reserved_concurrency
        for listener in self._on_change:
            listener(new)

    # -- event invoke configuration ------------------------------------------------------
    def configure_event_invoke(self, qualifier: str = LATEST, **settings: Any) -> None:
        """Lambda's ``PutFunctionEventInvokeConfig``: ``retries``, ``max_event_age``,
        ``on_success`` and ``on_failure`` for the Event invocations made through
        ``qualifier``: ``$LATEST`` (the unqualified name: its configuration changes, as
        :meth:`update_configuration` changes it), a published version or an alias (the
        invocations naming it, ``fn:3``, ``fn:live``, over the configuration of the version
        that runs). As Put does, the four are replaced together: one not given is Lambda's
        default (2 retries, 21600 s, no destination)."""
        unknown = set(settings) - set(EVENT_INVOKE_SETTINGS)
        if unknown:
            raise ConfigurationError(
                f"not event invoke settings: {', '.join(sorted(unknown))} (they are "
                f"{', '.join(EVENT_INVOKE_SETTINGS)})"
            )
        settings = {**_EVENT_INVOKE_DEFAULTS, **settings}
        if qualifier == LATEST:
            self.update_configuration(**settings)
            return
        if qualifier not in self.versions and qualifier not in self.aliases:
            raise ResourceNotFoundError(
                f"function {self.name!r} has no version or alias {qualifier!r}",
                function_name=self.name,
            )
        FunctionConfig().replace(**settings)  # the ranges, checked now
        self.event_invoke[qualifier] = dict(settings)
        self._event_configs.clear()

    def event_config(self, qualifier: str, version: FunctionVersion) -> FunctionConfig:
        """The configuration an Event invocation through ``qualifier`` runs ``version`` with:
        the version's, with the qualifier's event invoke settings over it."""
        settings = self.event_invoke.get(qualifier) if qualifier else None
        if not settings:
            return version.config
        key = (qualifier, version)
        config = self._event_configs.get(key)
        if config is None:
            config = self._event_configs[key] = version.config.replace(**settings)
        return config

    # -- provisioned concurrency ---------------------------------------------------------
    def provision(self, qualifier: str, count: int) -> None:
        """Lambda's ``PutProvisionedConcurrencyConfig``: ``count`` environments of a published
        version, or of an alias's version (an alias with weighted routing shares them by its
        weights), initialised when the mesh starts, or at once if it runs (``$LATEST``'s is its
        configuration's ``provisioned_concurrency``: Lambda refuses provisioned concurrency on
        it). Lowering it keeps environments already initialised until the mesh stops."""
        _check_range("provisioned concurrency", count, 0, 1e9, integer=True)
        if qualifier == LATEST:
            raise ConfigurationError(
                "provisioned concurrency is for a published version or an alias, not $LATEST"
            )
        alias = self.aliases.get(qualifier)
        shares: dict[str, int]
        if alias is None:
            self.version(qualifier)  # ResourceNotFoundError for a version not published
            shares = {qualifier: count}
        elif alias.version == LATEST:
            raise ConfigurationError(
                f"alias {qualifier!r} points to $LATEST: provisioned concurrency needs a "
                "published version"
            )
        else:
            extra = {version: round(count * weight) for version, weight in alias.routing.items()}
            shares = {alias.version: count - sum(extra.values()), **extra}
        for number, share in shares.items():
            version = self.versions[number]
            config = version.config.replace(provisioned_concurrency=share)
            for validate in self._validators:
                validate(FunctionVersion(self, number, version.handler, version.init_hook, config))
            version.config = config
            for listener in self._on_provision:
                listener(version)

    def retire_environments(self) -> tuple[int, int]:
        """Let every execution environment of every version go, without losing work: idle
        ones end now, busy ones when their invocation ends (it finishes in the environment
        it began in); the next invocation of any version starts a new environment, cold.
        Queued events are untouched. For a function whose environments load code when they
        start (a process function whose files changed), new invocations run the new code.
        Provisioned concurrency is kept: new provisioned environments replace the retired ones
        at once (on a running mesh).
        Returns (idle environments ended now, busy ones that end when their invocation does).
        """
        ended = busy = 0
        for version in (self.latest, *self.versions.values()):
            pool = version.pool
            if pool is not None:
                busy += pool.busy
                ended += pool.retire()
                if version.config.provisioned_concurrency:
                    for listener in self._on_provision:  # replaced now, on a running mesh
                        listener(version)
        return ended, busy

    # -- versions ----------------------------------------------------------------------
    def publish_version(self) -> FunctionVersion:
        """Freeze ``$LATEST`` into a numbered version; unchanged since the last? Reuse it."""
        snapshot = (self.latest.handler, self.latest.init_hook, self.latest.config)
        if self._last_published == snapshot and self.versions:
            return self.versions[str(len(self.versions))]
        number = str(len(self.versions) + 1)
        version = FunctionVersion(self, number, *snapshot)
        self.versions[number] = version
        self._last_published = snapshot
        for listener in self._on_change:
            listener(version)
        return version

    def version(self, qualifier: str) -> FunctionVersion:
        if qualifier == LATEST:
            return self.latest
        try:
            return self.versions[qualifier]
        except KeyError:
            raise ResourceNotFoundError(
                f"function {self.name!r} has no version {qualifier!r}", function_name=self.name
            ) from None

    def __repr__(self) -> str:
        return f"<Function {self.name}>"


class Alias:
    """A named pointer to a version, optionally sending a weighted share to a second one."""

    def __init__(
        self,
        function: Function,
        name: str,
        version: str,
        routing: Mapping[str, float] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.function = function
        self.name = name
        self._rng = rng or random.Random()
        self.version = ""
        self.routing: dict[str, float] = {}
        self._primary: FunctionVersion
        self._secondary: FunctionVersion | None = None
        self._weight = 0.0
        self.update(version=version, routing=routing or {})

    def update(
        self, version: str | None = None, routing: Mapping[str, float] | None = None
    ) -> None:
        """Point the alias elsewhere; ``routing={}`` sends all traffic to ``version``."""
        version = version if version is not None else self.version
        routing = dict(routing) if routing is not None else dict(self.routing)
        primary = self.function.version(str(version))
        if len(routing) > 1:
            raise ConfigurationError("an alias routes to at most one additional version")
        secondary = None
        weight = 0.0
        for extra, share in routing.items():
            _check_range(f"routing weight for version {extra}", share, 0.0, 1.0, integer=False)
            secondary = self.function.version(str(extra))
            if LATEST in (primary.version, secondary.version):
                raise ConfigurationError(
                    "weighted routing needs two published versions, not $LATEST"
                )
            if secondary is primary:
                raise ConfigurationError("the additional version must differ from the primary")
            weight = float(share)
        self.version = primary.version
        self.routing = {secondary.version: weight} if secondary else {}
        self._primary, self._secondary, self._weight = primary, secondary, weight

    def pick(self) -> FunctionVersion:
        """The version this invocation runs: a simple probabilistic choice, as Lambda's."""
        if self._secondary is not None and self._rng.random() < self._weight:
            return self._secondary
        return self._primary

    def __repr__(self) -> str:
        return f"<Alias {self.function.name}:{self.name} -> {self.version} {self.routing}>"


class FunctionTarget:
    """What an invocation name resolves to: a function, and a version or an alias.

    ``qualifier`` is the version or alias named (None when the name had none); ``arn`` is the
    ARN as invoked. :meth:`pick` chooses the version each invocation runs (an alias with
    weighted routing may choose differently each time).
    """

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

    def longest_timeout(self) -> float:
        """The longest timeout of the versions an invocation may run (every version an alias
        routes to), found without drawing from the alias's routing."""
        alias = self.alias
        if alias is None:
            return self.pick().config.timeout
        versions = (alias.version, *alias.routing)
        return max(self.function.version(version).config.timeout for version in versions)

    def __repr__(self) -> str:
        return f"<FunctionTarget {self.arn}>"
