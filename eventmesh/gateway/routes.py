"""Route keys as API Gateway writes them, and the matching of a request to a route.

A route key is ``METHOD /path`` (``GET /orders/{id}``, ``ANY /{proxy+}``) or, on HTTP APIs,
``$default``. A path segment is a literal, a variable ``{name}``, or, last only, a greedy
variable ``{name+}`` that takes one or more segments. Among the routes a path matches, the
most specific wins, segment by segment from the left: a literal before a variable before a
greedy variable; then a route's own method before ``ANY``; ``$default`` last (API Gateway's
"Routing API requests", §1.7 of the reference).

HTTP APIs choose among routes (a method and a path); REST APIs among resources (paths), then
the method on the resource found: a method the resource does not have is no route, even when
a less specific resource has it (REST's resource tree).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import unquote

from eventmesh._errors import ConfigurationError

__all__ = ["DEFAULT_ROUTE", "METHODS", "Match", "RouteKey", "RouteTable", "parse_route_key"]

DEFAULT_ROUTE = "$default"
METHODS = frozenset({"ANY", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"})
_VARIABLE = re.compile(r"^\{([A-Za-z0-9._-]+)(\+?)\}$")
_LITERAL = re.compile(r"^[A-Za-z0-9._~:@!$&'()*,;=%-]+$")

LITERAL, VARIABLE, GREEDY = 0, 1, 2

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Segment:
    kind: int
    text: str  # the literal, or the variable's name


@dataclass(frozen=True, slots=True)
class RouteKey:
    """A parsed route key: ``method`` is a verb, ``ANY`` or ``$default`` (then ``path`` is
    empty)."""

    method: str
    path: str
    segments: tuple[Segment, ...] = ()

    @property
    def text(self) -> str:
        return DEFAULT_ROUTE if self.method == DEFAULT_ROUTE else f"{self.method} {self.path}"

    @property
    def is_default(self) -> bool:
        return self.method == DEFAULT_ROUTE

    def rank(self) -> tuple[int, ...]:
        """Smaller is more specific: each segment's kind, then the end of the path (a path
        that ends before another's variable part is checked on a literal)."""
        return tuple(segment.kind for segment in self.segments)


def parse_path(path: str, *, where: str) -> tuple[Segment, ...]:
    """The segments of a resource path, checked as API Gateway checks them."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise ConfigurationError(f"{where}: a path starts with '/', got {path!r}")
    if path == "/":
        return ()
    if path.endswith("/"):
        raise ConfigurationError(f"{where}: a path does not end with '/' (except '/' itself)")
    segments = []
    names: set[str] = set()
    parts = path[1:].split("/")
    for index, part in enumerate(parts):
        if not part:
            raise ConfigurationError(f"{where}: empty path segment in {path!r}")
        variable = _VARIABLE.match(part)
        if variable:
            name, greedy = variable.group(1), variable.group(2)
            if name in names:
                raise ConfigurationError(f"{where}: path variable {{{name}}} appears twice")
            names.add(name)
            if greedy and index != len(parts) - 1:
                raise ConfigurationError(
                    f"{where}: a greedy path variable ({part}) must be the last segment"
                )
            segments.append(Segment(GREEDY if greedy else VARIABLE, name))
        elif "{" in part or "}" in part or not _LITERAL.match(part):
            raise ConfigurationError(
                f"{where}: bad path segment {part!r} (a literal, {{name}} or a last {{name+}})"
            )
        else:
            segments.append(Segment(LITERAL, part))
    return tuple(segments)


def parse_route_key(key: str, *, allow_default: bool = True) -> RouteKey:
    """``"GET /orders/{id}"``, ``"ANY /{proxy+}"`` or ``"$default"`` (HTTP APIs only) as a
    :class:`RouteKey`; anything else is a :class:`ConfigurationError` saying why."""
    if not isinstance(key, str):
        raise ConfigurationError(f"a route key is a string, got {type(key).__name__}")
    if key == DEFAULT_ROUTE:
        if not allow_default:
            raise ConfigurationError("REST APIs have no $default route: use 'ANY /{proxy+}'")
        return RouteKey(DEFAULT_ROUTE, "")
    method, space, path = key.partition(" ")
    if not space or " " in path:
        raise ConfigurationError(
            f"route key {key!r}: write 'METHOD /path' (e.g. 'GET /orders/{{id}}')"
            + (" or '$default'" if allow_default else "")
        )
    if method not in METHODS:
        known = ", ".join(sorted(METHODS))
        raise ConfigurationError(f"route key {key!r}: method {method!r} is not one of {known}")
    return RouteKey(method, path, parse_path(path, where=f"route key {key!r}"))


@dataclass(frozen=True, slots=True)
class Match(Generic[T]):
    """A route found for a request: its value, its key and the path parameters (decoded)."""

    value: T
    key: RouteKey
    parameters: dict[str, str] = field(default_factory=dict)


def split_path(raw_path: str) -> list[str]:
    """The raw (percent-encoded) segments of a request path; a trailing '/' is ignored."""
    stripped = raw_path.strip("/")
    return stripped.split("/") if stripped else []


def match_segments(segments: tuple[Segment, ...], parts: list[str]) -> dict[str, str] | None:
    """The decoded parameters when the route's segments match the raw parts, else None."""
    parameters: dict[str, str] = {}
    for index, segment in enumerate(segments):
        if segment.kind == GREEDY:
            rest = parts[index:]
            if not rest:
                return None
            parameters[segment.text] = unquote("/".join(rest))
            return parameters
        if index >= len(parts):
            return None
        part = unquote(parts[index])
        if segment.kind == LITERAL:
            if part != unquote(segment.text):
                return None
        else:
            parameters[segment.text] = part
    return parameters if len(parts) == len(segments) else None


class RouteTable(Generic[T]):
    """The routes of one API. ``rest=True``: REST's resource tree (see the module docstring)."""

    def __init__(self, *, rest: bool) -> None:
        self.rest = rest
        self._routes: dict[str, tuple[RouteKey, T]] = {}

    def add(self, key: RouteKey, value: T) -> None:
        if key.text in self._routes:
            raise ConfigurationError(f"route {key.text!r} is already defined")
        if self.rest:
            self._check_siblings(key)
        self._routes[key.text] = (key, value)

    def _check_siblings(self, key: RouteKey) -> None:
        """REST allows one variable child per resource (``/pets/{id}`` and ``/pets/{name}``
        cannot both exist, nor ``/{id}`` beside ``/{proxy+}``)."""
        for other, _ in self._routes.values():
            for mine, theirs in zip(key.segments, other.segments, strict=False):
                if mine.kind == LITERAL or theirs.kind == LITERAL:
                    if mine != theirs:
                        break
                    continue
                if mine != theirs:
                    raise ConfigurationError(
                        f"route {key.text!r}: a sibling resource of /{{{mine.text}}} already "
                        f"has a variable path part ({other.text!r}); only one is allowed"
                    )

    @property
    def keys(self) -> list[RouteKey]:
        return [key for key, _ in self._routes.values()]

    def values(self) -> Iterable[T]:
        return (value for _, value in self._routes.values())

    def find(self, method: str, raw_path: str) -> Match[T] | None:
        """The route for a request (``raw_path`` percent-encoded), or None."""
        parts = split_path(raw_path)
        best: tuple[tuple[int, ...], int, RouteKey, T, dict[str, str]] | None = None
        default: tuple[RouteKey, T] | None = None
        for key, value in self._routes.values():
            if key.is_default:
                default = (key, value)
                continue
            if not self.rest and key.method not in (method, "ANY"):
                continue
            parameters = match_segments(key.segments, parts)
            if parameters is None:
                continue
            if self.rest:
                candidate = (key.rank(), 0, key, value, parameters)
            else:
                candidate = (key.rank(), key.method == "ANY", key, value, parameters)
            if best is None or candidate[:2] < best[:2]:
                best = candidate
        if best is not None:
            if self.rest:
                return self._method_of(best[2].path, method, best[4])
            return Match(best[3], best[2], best[4])
        if default is not None:
            return Match(default[1], default[0], {})
        return None

    def _method_of(self, path: str, method: str, parameters: dict[str, str]) -> Match[T] | None:
        for candidate in (method, "ANY"):
            found = self._routes.get(f"{candidate} {path}")
            if found is not None:
                return Match(found[1], found[0], parameters)
        return None

    def has_resource(self, raw_path: str) -> str | None:
        """The template path of the most specific resource a path matches (any method), or
        None: REST's resource for an OPTIONS preflight."""
        parts = split_path(raw_path)
        best: tuple[tuple[int, ...], str] | None = None
        for key, _ in self._routes.values():
            if key.is_default or match_segments(key.segments, parts) is None:
                continue
            if best is None or key.rank() < best[0]:
                best = (key.rank(), key.path)
        return best[1] if best else None

    def methods_of(self, path: str) -> list[str]:
        """The methods defined on a resource path."""
        return [key.method for key in self.keys if key.path == path]
