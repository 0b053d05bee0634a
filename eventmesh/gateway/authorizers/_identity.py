"""Identity sources: where in a request an authorizer finds the identity it needs.

Both spellings API Gateway uses are accepted: HTTP APIs' selection expressions
(``$request.header.Authorization``, ``$request.querystring.token``, ``$context.routeKey``,
``$stageVariables.name``) and REST APIs' (``method.request.header.Authorization``,
``method.request.querystring.token``, ``context.routeKey``, ``stageVariables.name``). Header
names are case-insensitive, query string names case-sensitive. A value that is absent or
empty counts as missing: API Gateway then answers 401 without calling the authorizer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from eventmesh._errors import ConfigurationError
from eventmesh.gateway.authorization import AuthorizationRequest

__all__ = ["DEFAULT_IDENTITY_SOURCE", "IdentitySource", "identity_sources"]

DEFAULT_IDENTITY_SOURCE = "$request.header.Authorization"

_PREFIXES: tuple[tuple[str, str], ...] = (
    ("$request.header.", "header"),
    ("method.request.header.", "header"),
    ("$request.querystring.", "querystring"),
    ("method.request.querystring.", "querystring"),
    ("$context.", "context"),
    ("context.", "context"),
    ("$stageVariables.", "stage"),
    ("stageVariables.", "stage"),
)


@dataclass(frozen=True, slots=True)
class IdentitySource:
    """One parsed identity source expression."""

    expression: str
    kind: str  # "header", "querystring", "context" or "stage"
    name: str

    @classmethod
    def parse(cls, expression: str) -> IdentitySource:
        if not isinstance(expression, str):
            raise ConfigurationError(f"identity source {expression!r}: expected a string")
        for prefix, kind in _PREFIXES:
            if expression.startswith(prefix) and len(expression) > len(prefix):
                return cls(expression, kind, expression[len(prefix) :])
        raise ConfigurationError(
            f"identity source {expression!r}: expected $request.header.NAME, "
            "$request.querystring.NAME, $context.NAME or $stageVariables.NAME "
            "(or REST's method.request.header.NAME, method.request.querystring.NAME, "
            "context.NAME, stageVariables.NAME)"
        )

    def value(self, request: AuthorizationRequest) -> str | None:
        """The source's value in this request, or None when absent or empty."""
        found: Any
        if self.kind == "header":
            found = request.request.header(self.name)
        elif self.kind == "querystring":
            values = [
                value
                for key, value in parse_qsl(request.request.query_string, keep_blank_values=True)
                if key == self.name
            ]
            found = ",".join(values) if values else None
        elif self.kind == "stage":
            variables = request.event.get("stageVariables")
            found = variables.get(self.name) if isinstance(variables, Mapping) else None
        else:
            found = _context_value(request.event, self.name)
        if found is None or isinstance(found, (Mapping, list)):
            return None
        text = found if isinstance(found, str) else str(found)
        return text or None


_V2_CONTEXT = {
    "identity.sourceIp": "http.sourceIp",
    "identity.userAgent": "http.userAgent",
    "httpMethod": "http.method",
    "path": "http.path",
    "protocol": "http.protocol",
}
"""HTTP API context variables whose values a payload 2.0 event keeps under
``requestContext.http`` (payload 1.0 and REST events keep them where the variable says)."""


def _context_value(event: Mapping[str, Any], name: str) -> Any:
    path = name
    if event.get("version") == "2.0":
        path = _V2_CONTEXT.get(name, name)
    found: Any = event.get("requestContext")
    for part in path.split("."):
        found = found.get(part) if isinstance(found, Mapping) else None
    return found


def identity_sources(value: str | Iterable[str] | None) -> tuple[IdentitySource, ...]:
    """Identity sources from one expression, several, a comma-separated string (as REST
    writes them) or None (the ``Authorization`` header)."""
    if value is None:
        return (IdentitySource.parse(DEFAULT_IDENTITY_SOURCE),)
    expressions: Sequence[str]
    if isinstance(value, str):
        expressions = [part.strip() for part in value.split(",")]
    else:
        expressions = list(value)
    return tuple(IdentitySource.parse(expression) for expression in expressions)
