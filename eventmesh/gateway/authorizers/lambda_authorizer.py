"""Lambda authorizers: a function decides who may call a route.

``TOKEN`` (REST APIs) hands the function one header's value; ``REQUEST`` hands it the
request's parts (see :mod:`._lambda_events` for each event). Before calling the function,
API Gateway checks the identity sources: one missing or empty is 401
``{"message":"Unauthorized"}`` without a call (for ``TOKEN``, so is a token that does not
match ``token_validation``, a regular expression the whole token must match).

The function answers with an IAM policy (``principalId``, ``policyDocument``, optional
``context`` and ``usageIdentifierKey``), evaluated against the method's or route's ARN (see
:mod:`._policy`), or, for HTTP APIs with ``simple_responses``, ``{"isAuthorized": bool,
"context": {...}}``. Refused: REST 403 with an explicit or implicit deny message, HTTP APIs
403 ``{"message":"Forbidden"}``. A function that fails, or answers in another shape, is 500
(REST ``{"message":null}``, HTTP ``{"message":"Internal Server Error"}``), except on REST a
failure whose message is exactly ``Unauthorized``, which is 401 (how a REST authorizer says
"no valid identity").

Allowed, the function's ``context`` reaches the route's function: on REST as
``requestContext.authorizer`` = the context's entries, each value a string (an object or a
list there is a malformed answer, as on API Gateway), plus ``principalId`` and
``integrationLatency`` (ms the authorizer took, 0 from the cache); on HTTP APIs as
``requestContext.authorizer.lambda`` = the context as returned.

Results are cached for ``ttl`` seconds (300 by default, 0 for none) on the mesh's clock,
keyed by a digest of the identity sources' values and the API and stage (at most 10,000
results, the oldest dropped first): a second request with the same identity within the TTL
does not call the function, and a cached policy is evaluated again against each request's ARN
(as API Gateway does, so a policy for one method refuses another). Failures are not cached.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from eventmesh._errors import ConfigurationError
from eventmesh._function import Function, FunctionTarget
from eventmesh.gateway.authorization import Authorization, AuthorizationRequest
from eventmesh.gateway.authorizers._cache import ResultCache
from eventmesh.gateway.authorizers._identity import IdentitySource, identity_sources
from eventmesh.gateway.authorizers._lambda_events import (
    http_v1_event,
    http_v2_event,
    rest_request_event,
    token_event,
)
from eventmesh.gateway.authorizers._policy import (
    EXPLICIT_DENY,
    IMPLICIT_DENY,
    Policy,
    PolicyError,
)
from eventmesh.gateway.authorizers._refusals import (
    EXPLICIT_DENY as EXPLICIT_DENY_MESSAGE,
)
from eventmesh.gateway.authorizers._refusals import (
    IMPLICIT_DENY as IMPLICIT_DENY_MESSAGE,
)
from eventmesh.gateway.authorizers._refusals import (
    authorizer_failure,
    forbidden,
    unauthorized,
)
from eventmesh.resources.context import ResourceContext

__all__ = ["DEFAULT_TTL", "LambdaAuthorizer"]

logger = logging.getLogger("eventmesh.gateway.authorizers")

DEFAULT_TTL = 300.0
"""Seconds a result is cached by default (API Gateway's default)."""

MAX_TTL = 3600.0
"""API Gateway's upper bound for ``authorizerResultTtlInSeconds``."""

TRIGGER = "http"
"""The invocation's trigger (OpenTelemetry's ``faas.trigger``): an HTTP request caused it."""


class _Malformed(Exception):
    """The function's answer is not one API Gateway can use."""


class _Unauthorized(Exception):
    """A REST authorizer failed with the message ``Unauthorized``: 401."""


@dataclass(frozen=True, slots=True)
class _Outcome:
    """A function's answer, parsed: a policy, or a simple decision."""

    policy: Policy | None
    authorized: bool
    principal_id: Any
    context: Mapping[str, Any]
    usage_identifier_key: str | None
    latency_ms: int


def _rest_context(context: Mapping[str, Any]) -> dict[str, str]:
    """REST's context: strings, numbers and booleans only, each passed on as a string."""
    flat: dict[str, str] = {}
    for key, value in context.items():
        if isinstance(value, bool):
            flat[key] = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            flat[key] = str(value)
        else:
            raise _Malformed(f"context[{key!r}] must be a string, a number or a boolean")
    return flat


class LambdaAuthorizer:
    """A Lambda authorizer (see the module docstring).

    ``function``: the authorizer function (a :class:`~eventmesh.Function`, or a name, alias
    or ARN). ``type``: ``"TOKEN"`` (REST only) or ``"REQUEST"``. ``identity_sources``: the
    selection expressions whose values identify the caller (default the ``Authorization``
    header; ``TOKEN`` takes exactly one header). ``ttl``: result cache seconds (0 to 3600;
    caching needs at least one identity source). ``simple_responses``: HTTP API payload 2.0
    answers ``{"isAuthorized": ...}`` instead of a policy. ``token_validation``: ``TOKEN``
    only, a regular expression the token must match entirely. ``api_kind`` (``"rest"`` or
    ``"http"``), when known, refuses settings that kind of API cannot use at the call.

    For HTTP APIs the authorizer's payload version is the route's (1.0 or 2.0).
    """

    def __init__(
        self,
        context: ResourceContext,
        function: Function | str,
        *,
        type: Literal["TOKEN", "REQUEST"] = "REQUEST",
        identity_sources: str | Iterable[str] | None = None,
        ttl: float = DEFAULT_TTL,
        simple_responses: bool = False,
        token_validation: str | None = None,
        name: str | None = None,
        api_kind: str | None = None,
    ) -> None:
        if type not in ("TOKEN", "REQUEST"):
            raise ConfigurationError(
                f"Lambda authorizer: type must be TOKEN or REQUEST, not {type!r}"
            )
        if not isinstance(function, (Function, str)) or not function:
            raise ConfigurationError("Lambda authorizer: function must be a Function or a name")
        sources = _identity_sources(identity_sources)
        if type == "TOKEN" and (len(sources) != 1 or sources[0].kind != "header"):
            raise ConfigurationError("a TOKEN authorizer takes its token from exactly one header")
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 0 <= ttl <= MAX_TTL:
            raise ConfigurationError(f"Lambda authorizer: ttl must be 0 to {MAX_TTL:g} seconds")
        if ttl > 0 and not sources:
            raise ConfigurationError(
                "Lambda authorizer: caching (ttl > 0) needs at least one identity source"
            )
        if simple_responses and (type == "TOKEN" or api_kind == "rest"):
            raise ConfigurationError("simple responses are for HTTP APIs' REQUEST authorizers")
        if type == "TOKEN" and api_kind == "http":
            raise ConfigurationError("TOKEN authorizers are for REST APIs; use REQUEST")
        pattern = None
        if token_validation is not None:
            if type != "TOKEN":
                raise ConfigurationError("token_validation applies to TOKEN authorizers only")
            if not isinstance(token_validation, str):
                raise ConfigurationError("token_validation: expected a regular expression")
            try:
                pattern = re.compile(token_validation)
            except re.error as exc:
                raise ConfigurationError(f"token_validation: {exc}") from None
        self._mesh = context
        self.function = function
        self.name = name or (function.name if isinstance(function, Function) else function)
        self.type = type
        self.identity_sources: tuple[IdentitySource, ...] = sources
        self.simple_responses = simple_responses
        self.token_validation = pattern
        self.cache: ResultCache[_Outcome] = ResultCache(context.clock, float(ttl))
        self._target: FunctionTarget | None = None
        self.invocations = 0
        """How many times the function was called (for tests and diagnostics)."""

    def __repr__(self) -> str:
        return f"<LambdaAuthorizer {self.name} {self.type}>"

    async def authorize(self, request: AuthorizationRequest) -> Authorization:
        kind = request.api_kind
        rest = kind == "rest"
        version = None if rest else str(request.event.get("version", "1.0"))
        if not rest and self.type == "TOKEN":
            logger.error("authorizer %s: TOKEN authorizers are for REST APIs", self.name)
            return Authorization(refusal=authorizer_failure(kind))
        if self.simple_responses and version != "2.0":
            logger.error("authorizer %s: simple responses need payload 2.0", self.name)
            return Authorization(refusal=authorizer_failure(kind))
        identity = [source.value(request) for source in self.identity_sources]
        values = [value for value in identity if value is not None]
        if len(values) != len(identity):
            return Authorization(refusal=unauthorized(kind))
        if self.token_validation is not None and not self.token_validation.fullmatch(values[0]):
            return Authorization(refusal=unauthorized(kind))
        request_context = request.event.get("requestContext")
        api = request_context if isinstance(request_context, Mapping) else {}
        key = _cache_key(api.get("apiId"), api.get("stage"), values)
        outcome = self.cache.get(key)
        cached = outcome is not None
        if outcome is None:
            event = self._event(request, values, version)
            try:
                outcome = await self._call(event, rest)
            except _Unauthorized:
                return Authorization(refusal=unauthorized(kind))
            except _Malformed as exc:
                logger.error(
                    "authorizer %s answered in a shape API Gateway rejects: %s", self.name, exc
                )
                return Authorization(refusal=authorizer_failure(kind))
            except Exception as exc:
                logger.error("authorizer %s could not be run: %s", self.name, exc)
                return Authorization(refusal=authorizer_failure(kind))
            self.cache.put(key, outcome)
        return self._decide(outcome, request, rest, version, cached)

    def _event(
        self, request: AuthorizationRequest, identity: list[str], version: str | None
    ) -> dict[str, Any]:
        if version is None:
            if self.type == "TOKEN":
                return token_event(identity[0], request.route_arn)
            return rest_request_event(request.event, request.route_arn)
        if version == "2.0":
            return http_v2_event(request.event, request.route_arn, identity)
        return http_v1_event(request.event, request.route_arn, identity)

    async def _call(self, event: dict[str, Any], rest: bool) -> _Outcome:
        if self._target is None:
            self._target = self._mesh.resolve_function(self.function)
        started = time.perf_counter()
        self.invocations += 1
        result = await self._mesh.invoke_sync(self._target, event, trigger=TRIGGER)
        latency_ms = round((time.perf_counter() - started) * 1000)
        payload = result.payload
        if result.function_error is not None:
            error = payload if isinstance(payload, Mapping) else {}
            if rest and error.get("errorMessage") == "Unauthorized":
                raise _Unauthorized
            # The type only: an authorizer's error message may quote the caller's token.
            raise _Malformed(f"the function failed ({error.get('errorType', 'Unhandled')})")
        return self._parse(payload, rest, latency_ms)

    def _parse(self, payload: Any, rest: bool, latency_ms: int) -> _Outcome:
        if not isinstance(payload, Mapping):
            raise _Malformed("the answer is not a JSON object")
        context = payload.get("context")
        if context is None:
            context = {}
        if not isinstance(context, Mapping):
            raise _Malformed("context must be an object")
        if rest:
            context = _rest_context(context)
        if self.simple_responses:
            authorized = payload.get("isAuthorized")
            if not isinstance(authorized, bool):
                raise _Malformed("isAuthorized must be a boolean")
            return _Outcome(None, authorized, None, context, None, latency_ms)
        try:
            policy = Policy.parse(payload.get("policyDocument"))
        except PolicyError as exc:
            raise _Malformed(str(exc)) from None
        principal = payload.get("principalId")
        if principal is not None and not isinstance(principal, (str, int, float)):
            raise _Malformed("principalId must be a string")
        usage_key = payload.get("usageIdentifierKey")
        if usage_key is not None and not isinstance(usage_key, str):
            raise _Malformed("usageIdentifierKey must be a string")
        return _Outcome(policy, False, principal, context, usage_key, latency_ms)

    def _decide(
        self,
        outcome: _Outcome,
        request: AuthorizationRequest,
        rest: bool,
        version: str | None,
        cached: bool,
    ) -> Authorization:
        kind = request.api_kind
        if outcome.policy is None:
            if not outcome.authorized:
                return Authorization(refusal=forbidden(kind))
        else:
            verdict = outcome.policy.evaluate(request.route_arn)
            if verdict == EXPLICIT_DENY:
                return Authorization(refusal=forbidden(kind, EXPLICIT_DENY_MESSAGE))
            if verdict == IMPLICIT_DENY:
                return Authorization(refusal=forbidden(kind, IMPLICIT_DENY_MESSAGE))
        if not rest:
            return Authorization(context={"lambda": dict(outcome.context)})
        found: dict[str, Any] = dict(outcome.context)
        if outcome.principal_id is not None:
            found["principalId"] = str(outcome.principal_id)
        found["integrationLatency"] = 0 if cached else outcome.latency_ms
        return Authorization(context=found, usage_identifier_key=outcome.usage_identifier_key)


def _cache_key(api_id: Any, stage: Any, identity: list[str]) -> bytes:
    """The cache's key for these identity values on this API and stage: a digest, so an entry
    costs the same whatever the token's size and the cache holds no caller's token."""
    text = repr((api_id, stage, *identity)).encode("utf-8", "surrogatepass")
    return hashlib.sha256(text).digest()


def _identity_sources(value: str | Iterable[str] | None) -> tuple[IdentitySource, ...]:
    if value is not None and not isinstance(value, str):
        try:
            value = list(value)
        except TypeError:
            raise ConfigurationError(
                "Lambda authorizer: identity_sources must be a string or a list of strings"
            ) from None
        if not value:
            return ()
    return identity_sources(value)
