"""REST APIs and HTTP APIs as resources of a mesh: their settings, stages and routes.

Built through ``context.resource(Kind, name, settings)`` (``mesh.http_api("shop")``,
``mesh.rest_api("admin", stage="prod")``), so they live in the mesh's registry and the
gateway finds them with ``context.resources_of(Api)``. Each has an id of 10 lowercase
letters and digits derived from its name: its host is ``{id}.execute-api.{region}.amazonaws.com``
and its ARNs ``arn:aws:execute-api:{region}:{account}:{id}/...``.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

from eventmesh._errors import ConfigurationError, EventMeshError
from eventmesh._function import Function
from eventmesh._http_messages import HttpResponse
from eventmesh.gateway.authorization import Authorizer
from eventmesh.gateway.authorizers import LambdaAuthorizer
from eventmesh.gateway.cors import Cors, cors_of
from eventmesh.gateway.ids import api_id
from eventmesh.gateway.routes import RouteKey, RouteTable, parse_route_key
from eventmesh.resources._base import Resource
from eventmesh.resources.context import ResourceContext

if TYPE_CHECKING:
    from eventmesh.gateway.authorizers.jwt_authorizer import JwtAuthorizer

__all__ = ["Api", "ApiKey", "FixedResponse", "HttpApi", "RestApi", "Route"]

_STAGE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_BASE_PATH = re.compile(r"^[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$")
_VARIABLE_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_VARIABLE_VALUE = re.compile(r"^[A-Za-z0-9\-._~:/?#&=,]{0,512}$")


@dataclass(frozen=True, slots=True)
class FixedResponse:
    """What a route answers without calling a function: a mock integration's response (the
    ``OPTIONS`` method SAM writes for CORS), or API Gateway's answer for an integration the
    mesh cannot run. A new :class:`HttpResponse` is made for each request."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def response(self) -> HttpResponse:
        return HttpResponse(self.status, list(self.headers), self.body)


@dataclass(frozen=True, slots=True)
class Route:
    """One route: its key, the function it invokes (a Function, a name or ``name:alias``),
    its authorizer, whether it needs an API key (REST), its payload version and timeout;
    ``fixed``: the route answers that instead of invoking (its function is then ``""``)."""

    key: RouteKey
    function: Function | str
    authorizer: Authorizer | None
    api_key_required: bool
    payload_format_version: str
    timeout: float
    fixed: FixedResponse | None = None


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A REST API key: sent as the ``x-api-key`` header; ``stages``: the stages it works on
    (those its usage plans cover), None for every stage of the API."""

    id: str
    name: str
    value: str = ""
    stages: frozenset[str] | None = None

    def __repr__(self) -> str:  # the value is a secret: never in logs
        return f"ApiKey(id={self.id!r}, name={self.name!r})"


def _timeout(value: Any, maximum: float | None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(f"timeout: seconds, got {value!r}")
    if value < 0.05 or (maximum is not None and value > maximum):
        upper = f"{maximum:g}" if maximum is not None else "any"
        raise ConfigurationError(f"timeout must be from 0.05 to {upper} seconds, got {value!r}")
    return float(value)


def _function_spec(fn: Any) -> Function | str:
    if isinstance(fn, Function):
        return fn
    if isinstance(fn, str) and fn and fn.count(":") <= 1 and all(fn.split(":")):
        return fn
    if isinstance(fn, str) and fn.startswith("arn:aws:lambda:"):
        return fn
    raise ConfigurationError(
        f"a route's function is a Function, a name or 'name:alias', got {fn!r}"
    )


class Api(Resource):
    """What REST and HTTP APIs share (see the module docstring)."""

    service: ClassVar[str] = "execute-api"
    api_kind: ClassVar[str] = ""
    default_stage: ClassVar[str] = ""
    default_timeout: ClassVar[float] = 29.0
    _settings: ClassVar[frozenset[str]] = frozenset(
        {"stage", "stage_variables", "base_path", "timeout", "cors"}
    )

    def __init__(self, context: ResourceContext, name: str, settings: Mapping[str, Any]) -> None:
        super().__init__(context, name, settings)
        unknown = set(settings) - self._settings
        if unknown:
            raise ConfigurationError(
                f"{self.kind} {name!r}: unknown settings {sorted(unknown)}; "
                f"known: {sorted(self._settings)}"
            )
        self.id = api_id(self.api_kind, name)
        stage = settings.get("stage", self.default_stage)
        if not isinstance(stage, str) or not (_STAGE.match(stage) or stage == "$default"):
            raise ConfigurationError(
                f"{self.kind} {name!r}: stage {stage!r}: 1-128 letters, digits, '-' or '_'"
            )
        self.stage: str = stage
        self.stage_variables = self._stage_variables(settings.get("stage_variables"))
        self.stages: dict[str, dict[str, str] | None] = {stage: self.stage_variables}
        """Every stage the API is served at, with its stage variables: ``stage`` (the one a
        base path mapping reaches) and those :meth:`add_stage` added (reached by the
        execute-api host, ``/{stage}/...``)."""
        self.timeout = _timeout(settings.get("timeout", self.default_timeout), None)
        self.cors: Cors | None = cors_of(settings.get("cors"))
        self.base_path = self._base_path(settings.get("base_path", ""), context)
        self.routes: RouteTable[Route] = RouteTable(rest=self.api_kind == "rest")

    def _stage_variables(self, value: Any) -> dict[str, str] | None:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise ConfigurationError(f"{self.kind} {self.name!r}: stage_variables: a mapping")
        for key, text in value.items():
            if not isinstance(key, str) or not _VARIABLE_NAME.match(key):
                raise ConfigurationError(
                    f"stage variable name {key!r}: 1-64 letters, digits or '_'"
                )
            if not isinstance(text, str) or not _VARIABLE_VALUE.match(text):
                raise ConfigurationError(
                    f"stage variable {key!r}: up to 512 of letters, digits and -._~:/?#&=,"
                )
        return dict(value) or None

    def _base_path(self, value: Any, context: ResourceContext) -> str | None:
        """``""`` (the root), a path such as ``"v1"`` or ``"shop/v2"``, or None (no base path
        mapping: reached only through its execute-api host)."""
        if value is None:
            return None
        if not isinstance(value, str):
            raise ConfigurationError(f"base_path: a string, got {value!r}")
        path = value.strip("/")
        if path and not _BASE_PATH.match(path):
            raise ConfigurationError(
                f"base_path {path!r}: segments of letters, digits and -._~ separated by '/'"
            )
        for other in context.resources_of(Api):
            if other is not self and other.base_path == path:
                where = f"/{path}" if path else "the root path"
                raise ConfigurationError(
                    f"{self.kind} {self.name!r} and {other.kind} {other.name!r} both claim "
                    f"{where} as base path: give one another base_path= (or base_path=None "
                    "to reach it only by its execute-api host)"
                )
        return path

    def add_stage(self, name: str, variables: Mapping[str, str] | None = None) -> None:
        """Serve the API at one more stage (a template's ``Stage`` and ``Deployment``
        resources), reached by its execute-api host as ``/{name}/...``; ``variables`` its
        stage variables. Adding a stage again replaces its variables."""
        if not isinstance(name, str) or not (_STAGE.match(name) or name == "$default"):
            raise ConfigurationError(
                f"{self.kind} {self.name!r}: stage {name!r}: 1-128 letters, digits, '-' or '_'"
            )
        if name == "$default" and self.api_kind == "rest":
            raise ConfigurationError("a REST API's stage is a name, not $default")
        self.stages[name] = self._stage_variables(variables)

    def make_primary(self, name: str) -> None:
        """Make ``name`` (one of :attr:`stages`) the stage a base path mapping reaches."""
        if name not in self.stages:
            raise ConfigurationError(f"{self.kind} {self.name!r}: no stage {name!r}")
        self.stage, self.stage_variables = name, self.stages[name]

    def mount(self, base_path: str | None) -> None:
        """Reach the API at ``base_path`` (``""``: the root; None: only by its execute-api
        host), checked as ``base_path=`` is (two APIs cannot claim one path)."""
        self.base_path = None
        self.base_path = self._base_path(base_path, self.context)

    # -- identity ----------------------------------------------------------------------------
    @property
    def arn(self) -> str:
        return f"arn:aws:execute-api:{self.context.region}:{self.context.account_id}:{self.id}"

    @property
    def domain_name(self) -> str:
        return f"{self.id}.execute-api.{self.context.region}.amazonaws.com"

    def route_arn(self, method: str, path: str, stage: str | None = None) -> str:
        """``arn:aws:execute-api:{region}:{account}:{id}/{stage}/{METHOD}/{path}`` (``stage``:
        the primary one unless given)."""
        return f"{self.arn}/{stage or self.stage}/{method}/{path.lstrip('/')}"

    # -- routes ------------------------------------------------------------------------------
    def route(
        self,
        key: str,
        fn: Function | str,
        *,
        authorizer: Authorizer | None = None,
        api_key_required: bool = False,
        payload_format_version: str | None = None,
        timeout: float | None = None,
    ) -> Route:
        """Send requests matching ``key`` (``"GET /orders/{id}"``, ``"ANY /{proxy+}"``,
        ``"$default"`` on HTTP APIs) to ``fn``."""
        parsed = parse_route_key(key, allow_default=self.api_kind == "http")
        if authorizer is not None and not callable(getattr(authorizer, "authorize", None)):
            raise ConfigurationError(f"route {key!r}: an authorizer has an async authorize()")
        if not isinstance(api_key_required, bool):
            raise ConfigurationError(f"route {key!r}: api_key_required is a boolean")
        route = Route(
            key=parsed,
            function=_function_spec(fn),
            authorizer=authorizer,
            api_key_required=api_key_required,
            payload_format_version=self._payload_version(payload_format_version),
            timeout=self.timeout if timeout is None else _timeout(timeout, None),
        )
        self.routes.add(parsed, route)
        return route

    def fixed_route(
        self,
        key: str,
        answer: FixedResponse,
        *,
        authorizer: Authorizer | None = None,
        api_key_required: bool = False,
    ) -> Route:
        """A route that answers ``answer`` without calling a function (after its authorizer
        and API key, as a mock integration on AWS)."""
        parsed = parse_route_key(key, allow_default=self.api_kind == "http")
        if not isinstance(answer, FixedResponse):
            raise ConfigurationError(f"route {key!r}: a fixed route answers a FixedResponse")
        route = Route(
            key=parsed,
            function="",
            authorizer=authorizer,
            api_key_required=api_key_required,
            payload_format_version=self._payload_version(None),
            timeout=self.timeout,
            fixed=answer,
        )
        self.routes.add(parsed, route)
        return route

    def lambda_authorizer(self, function: Function | str, /, **settings: Any) -> LambdaAuthorizer:
        """A Lambda authorizer to give routes (``authorizer=``). Settings: ``type``
        (``"REQUEST"``, or ``"TOKEN"`` on REST APIs), ``identity_sources`` (the
        ``Authorization`` header), ``ttl`` (300 s), ``simple_responses`` (HTTP APIs, payload
        2.0), ``token_validation`` (TOKEN). See :mod:`eventmesh.gateway.authorizers`."""
        return LambdaAuthorizer(self.context, function, api_kind=self.api_kind, **settings)

    def _payload_version(self, value: str | None) -> str:
        if value not in (None, "1.0"):
            raise ConfigurationError(f"a REST API sends payload 1.0 only, got {value!r}")
        return "1.0"

    async def start(self) -> None:
        """Check that every route's function exists (a clear error at start, not a 500)."""
        for route in self.routes.values():
            if route.fixed is not None:
                continue
            try:
                self.context.resolve_function(route.function)
            except EventMeshError as exc:
                raise ConfigurationError(
                    f"{self.kind} {self.name!r} route {route.key.text!r}: {exc}"
                ) from None


class HttpApi(Api):
    """An API Gateway HTTP API: payload 2.0 by default (``payload_format_version="1.0"``
    for the API or a route), stage ``$default``, integration timeout 30 s (up to 30),
    CORS answered by the gateway."""

    kind: ClassVar[str] = "http_api"
    api_kind: ClassVar[str] = "http"
    default_stage: ClassVar[str] = "$default"
    default_timeout: ClassVar[float] = 30.0
    _settings = Api._settings | {"payload_format_version"}

    def __init__(self, context: ResourceContext, name: str, settings: Mapping[str, Any]) -> None:
        self.payload_format_version = "2.0"
        super().__init__(context, name, settings)
        self.timeout = _timeout(self.timeout, 30.0)
        self.payload_format_version = self._payload_version(settings.get("payload_format_version"))

    def _payload_version(self, value: str | None) -> str:
        if value is None:
            return self.payload_format_version
        if value not in ("1.0", "2.0"):
            raise ConfigurationError(f"payload_format_version: '1.0' or '2.0', got {value!r}")
        return value

    def jwt_authorizer(self, **settings: Any) -> JwtAuthorizer:
        """A JWT authorizer to give routes (``authorizer=``, or ``authorizer=jwt.requiring(
        "orders:read")`` for a route's scopes). Settings: ``issuer``, ``audiences``, one of
        ``jwks_url``, ``jwks_file`` or ``jwks``, ``identity_source`` (the ``Authorization``
        header), ``algorithms`` (RSA). See :mod:`eventmesh.gateway.authorizers`.

        Needs PyJWT (``pip install "eventmesh[http]"``), imported here rather than with the
        module so that the core imports without the extra."""
        try:
            from eventmesh.gateway.authorizers.jwt_authorizer import JwtAuthorizer
        except ImportError as exc:
            raise ConfigurationError(
                f"JWT authorizers need PyJWT ({exc.name} is not installed): "
                "pip install 'eventmesh[http]'"
            ) from None
        return JwtAuthorizer(self.context, **settings)

    @property
    def stage_prefix(self) -> str:
        return "" if self.stage == "$default" else f"/{self.stage}"


class RestApi(Api):
    """An API Gateway REST API: payload 1.0, a stage (``Prod`` as SAM's implicit API),
    integration timeout 29 s, ``binary_media_types``, API keys (``api_key_source``
    ``"HEADER"`` or ``"AUTHORIZER"``), SAM-style CORS."""

    kind: ClassVar[str] = "rest_api"
    api_kind: ClassVar[str] = "rest"
    default_stage: ClassVar[str] = "Prod"
    default_timeout: ClassVar[float] = 29.0
    _settings = Api._settings | {"binary_media_types", "api_key_source"}

    def __init__(self, context: ResourceContext, name: str, settings: Mapping[str, Any]) -> None:
        super().__init__(context, name, settings)
        if self.stage == "$default":
            raise ConfigurationError("a REST API's stage is a name, not $default")
        types = settings.get("binary_media_types") or ()
        if isinstance(types, str) or not all(isinstance(t, str) and "/" in t for t in types):
            raise ConfigurationError(
                f"binary_media_types: a list of media types such as 'image/png', 'image/*' "
                f"or '*/*', got {types!r}"
            )
        self.binary_media_types: tuple[str, ...] = tuple(types)
        self.api_keys: list[ApiKey] = []
        source = settings.get("api_key_source", "HEADER")
        if source not in ("HEADER", "AUTHORIZER"):
            raise ConfigurationError(f"api_key_source: 'HEADER' or 'AUTHORIZER', got {source!r}")
        self.api_key_source: str = source
        """Where a route's API key comes from: the ``x-api-key`` header, or the
        ``usageIdentifierKey`` a Lambda authorizer returns (``ApiKeySourceType``)."""
        if self.cors is not None and len(self.cors.allow_origins) != 1:
            raise ConfigurationError(
                "a REST API's cors has one allow_origins value (SAM's AllowOrigin is one "
                "string, sent as it is in Access-Control-Allow-Origin), got "
                f"{list(self.cors.allow_origins)!r}"
            )

    def api_key(
        self,
        value: str | None = None,
        *,
        name: str | None = None,
        key_id: str | None = None,
        stages: Iterable[str] | None = None,
    ) -> ApiKey:
        """A key for routes with ``api_key_required=True`` (sent as ``x-api-key``); without
        ``value`` one is generated (40 characters). ``key_id``: its id (``apiKeyId`` in
        events; one is derived from the API's id otherwise). ``stages``: the stages it works
        on (as a usage plan's API stages), every stage when None. Giving the same key (value
        and ``key_id``) again adds its stages, as a key in several usage plans."""
        if value is None:
            value = secrets.token_urlsafe(30)
        if not isinstance(value, str) or not 20 <= len(value) <= 128:
            raise ConfigurationError("an API key's value is 20 to 128 characters (as AWS)")
        if isinstance(stages, str):
            raise ConfigurationError(f"stages: a list of stage names, got {stages!r}")
        allowed = None if stages is None else frozenset(stages)
        for index, key in enumerate(self.api_keys):
            if key.value != value:
                continue
            if key_id is None or key.id != key_id:
                raise ConfigurationError("this API already has that key")
            wider = None if key.stages is None or allowed is None else key.stages | allowed
            self.api_keys[index] = replace(key, stages=wider)
            return self.api_keys[index]
        key_id = key_id or api_id("key", f"{self.id}:{len(self.api_keys)}")
        key = ApiKey(key_id, name or key_id, value, allowed)
        self.api_keys.append(key)
        return key

    def key_for(self, value: str | None, stage: str | None = None) -> ApiKey | None:
        """The key sent, compared in constant time as bytes (``compare_digest`` refuses
        non-ASCII ``str``, and a header may carry any character); with ``stage``, only a key
        that works on that stage."""
        if not value:
            return None
        sent = value.encode("utf-8", "surrogatepass")
        for key in self.api_keys:
            if secrets.compare_digest(key.value.encode("utf-8", "surrogatepass"), sent):
                if stage is not None and key.stages is not None and stage not in key.stages:
                    return None
                return key
        return None
