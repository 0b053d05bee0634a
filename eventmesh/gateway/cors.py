"""CORS as HTTP APIs and function URLs configure it, and as SAM's ``Cors`` does for REST APIs.

HTTP APIs and function URLs answer CORS themselves: a preflight (``OPTIONS`` with
``Origin`` and ``Access-Control-Request-Method``) gets 204 with the configured headers,
when no route takes ``OPTIONS`` for its path (a matching ``ANY`` route or ``$default`` takes it,
authorizer included, as on AWS); other responses to an allowed origin get
``access-control-allow-origin`` (and the exposed headers, credentials). CORS headers the
function sends are dropped whatever the origin ("API Gateway ignores CORS headers returned
from your backend integration").
REST APIs with SAM's ``Cors`` get an ``OPTIONS`` method on every resource that has none,
answering with the configured headers; the function adds its own CORS headers to its
responses, as on AWS.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eventmesh._errors import ConfigurationError
from eventmesh._http_messages import HttpRequest, HttpResponse

__all__ = ["Cors", "cors_of"]

_CORS_HEADERS = (
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-expose-headers",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-max-age",
)


def _strings(value: Any, setting: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Iterable) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigurationError(f"cors {setting}: a list of strings, got {value!r}")


@dataclass(frozen=True, slots=True)
class Cors:
    """A CORS configuration (``allow_origins`` may hold ``"*"``; ``max_age`` in seconds)."""

    allow_origins: tuple[str, ...] = ("*",)
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    def __post_init__(self) -> None:
        if self.allow_credentials and "*" in self.allow_origins:
            raise ConfigurationError(
                "cors: allow_credentials cannot be combined with allow_origins '*' (as AWS)"
            )
        if self.max_age is not None and (
            isinstance(self.max_age, bool) or not isinstance(self.max_age, int)
            or not 0 <= self.max_age <= 86400
        ):  # fmt: skip
            raise ConfigurationError("cors max_age: seconds from 0 to 86400")

    def origin_allowed(self, origin: str) -> str | None:
        """The ``access-control-allow-origin`` value for ``origin``, or None. Besides exact
        origins and ``*``, HTTP APIs take ``https://*`` and ``http://*`` (any origin of that
        scheme), answered with the request's origin."""
        if "*" in self.allow_origins:
            return "*"
        if origin in self.allow_origins:
            return origin
        scheme, sep, rest = origin.partition("://")
        if sep and rest and f"{scheme}://*" in self.allow_origins:
            return origin
        return None

    def is_preflight(self, request: HttpRequest) -> bool:
        return (
            request.method == "OPTIONS"
            and request.header("origin") is not None
            and request.header("access-control-request-method") is not None
        )

    def preflight(self, request: HttpRequest, methods: Iterable[str] = ()) -> HttpResponse:
        """The answer to a preflight: 204 with the configured headers, or without them when
        the origin is not allowed (the browser checks its method and headers against the
        lists)."""
        origin = self.origin_allowed(request.header("origin") or "")
        headers: list[tuple[str, str]] = []
        if origin is not None:
            allowed = self.allow_methods or tuple(methods)
            headers.append(("access-control-allow-origin", origin))
            if self.allow_credentials:
                headers.append(("access-control-allow-credentials", "true"))
            if allowed:
                headers.append(("access-control-allow-methods", ",".join(allowed)))
            if self.allow_headers:
                headers.append(("access-control-allow-headers", ",".join(self.allow_headers)))
            if self.max_age is not None:
                headers.append(("access-control-max-age", str(self.max_age)))
        return HttpResponse(204, headers)

    def decorate(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """An actual response to an allowed origin, with the configured CORS headers in
        place of the function's."""
        headers = [(n, v) for n, v in response.headers if n not in _CORS_HEADERS]
        origin_header = request.header("origin")
        origin = None if origin_header is None else self.origin_allowed(origin_header)
        if origin is None:
            response.headers = headers
            return response
        headers.append(("access-control-allow-origin", origin))
        if self.allow_credentials:
            headers.append(("access-control-allow-credentials", "true"))
        if self.expose_headers:
            headers.append(("access-control-expose-headers", ",".join(self.expose_headers)))
        response.headers = headers
        return response

    def rest_preflight(self, methods: Iterable[str]) -> HttpResponse:
        """SAM's OPTIONS method of a REST resource: 200, its headers, an empty body."""
        allowed = self.allow_methods or ("OPTIONS", *sorted(set(methods) - {"OPTIONS"}))
        headers = [("content-type", "application/json")]
        headers.append(("access-control-allow-origin", ",".join(self.allow_origins)))
        headers.append(("access-control-allow-methods", ",".join(allowed)))
        if self.allow_headers:
            headers.append(("access-control-allow-headers", ",".join(self.allow_headers)))
        if self.max_age is not None:
            headers.append(("access-control-max-age", str(self.max_age)))
        if self.allow_credentials:
            headers.append(("access-control-allow-credentials", "true"))
        return HttpResponse(200, headers)


def cors_of(value: Any) -> Cors | None:
    """A ``cors=`` setting: None/False (none), True (any origin), a :class:`Cors`, or a
    mapping of its fields (``allow_origins``, ``allow_methods``, ``allow_headers``,
    ``expose_headers``, ``max_age``, ``allow_credentials``)."""
    if value is None or value is False:
        return None
    if value is True:
        return Cors()
    if isinstance(value, Cors):
        return value
    if isinstance(value, Mapping):
        known = {f for f in Cors.__dataclass_fields__}
        unknown = set(value) - known
        if unknown:
            raise ConfigurationError(
                f"cors: unknown settings {sorted(unknown)}; known: {sorted(known)}"
            )
        fields: dict[str, Any] = dict(value)
        for key in ("allow_origins", "allow_methods", "allow_headers", "expose_headers"):
            if key in fields:
                fields[key] = _strings(fields[key], key)
        fields["allow_credentials"] = bool(fields.get("allow_credentials", False))
        return Cors(**fields)
    raise ConfigurationError(f"cors: True, a Cors or a mapping of its settings, got {value!r}")
