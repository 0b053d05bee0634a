"""What rest-json (Lambda, Scheduler) and rest-xml (S3) share: finding the operation from the
method and path against each operation's URI template (``/{Bucket}/{Key+}?uploads``: labels,
greedy labels, required query keys), and members bound to the URI, the query string and the
headers, in and out. The body's members are the protocol's own (JSON or XML); a member named
as the ``payload`` is the whole body (raw bytes for a blob or string, a document for a
structure).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

from eventmesh._http_messages import HttpRequest
from eventmesh.aws import _model
from eventmesh.aws._values import TypeProblem, parse_text_scalar, text_of_scalar

__all__ = ["Route", "bound_input", "bound_output", "find_operation", "routes"]

_LABEL = re.compile(r"\{([^}]+?)(\+?)\}")


@dataclass(frozen=True, slots=True)
class Route:
    """One operation's URI template, compiled."""

    operation: str
    method: str
    pattern: re.Pattern[str]
    labels: tuple[str, ...]
    query: tuple[tuple[str, str | None], ...]
    """Query keys the template requires (with the value it requires, if any)."""
    literal: int
    """How many literal characters the path template has (more: more specific)."""
    headers: tuple[str, ...] = ()
    """Headers the operation requires (S3's CopyObject: ``x-amz-copy-source``)."""
    deprecated: bool = False
    """A deprecated operation loses to a current one on the same route."""


def _compile(operation: OperationModel) -> Route:
    uri = str(operation.http.get("requestUri", "/"))
    path, _, query = uri.partition("?")
    labels: list[str] = []
    pattern = ""
    position = 0
    for match in _LABEL.finditer(path):
        pattern += re.escape(path[position : match.start()])
        labels.append(match.group(1))
        pattern += "(.+)" if match.group(2) else "([^/]+)"
        position = match.end()
    pattern += re.escape(path[position:])
    literal = len(_LABEL.sub("", path))
    required: list[tuple[str, str | None]] = []
    for part in filter(None, query.split("&")):
        key, sep, value = part.partition("=")
        if key != "x-id":
            required.append((key, value if sep else None))
    headers: list[str] = []
    shape = operation.input_shape
    if isinstance(shape, StructureShape):
        for name in shape.required_members:
            member = shape.members[name]
            location = member.serialization.get("location")
            wire = str(member.serialization.get("name", name))
            if location == "header":
                headers.append(wire.lower())
            elif location == "querystring" and not isinstance(member, MapShape):
                required.append((wire, None))
    if pattern.endswith("/") and len(pattern) > 1:
        pattern = pattern[:-1] + "/?"
    elif labels or pattern != "/":
        pattern += "/?"
    return Route(
        operation=operation.name,
        method=str(operation.http.get("method", "POST")).upper(),
        pattern=re.compile(pattern + r"\Z"),
        labels=tuple(labels),
        query=tuple(required),
        literal=literal,
        headers=tuple(headers),
        deprecated=bool(operation.deprecated),
    )


@functools.cache
def routes(service: str) -> tuple[Route, ...]:
    """Every operation's route, the most specific first."""
    model = _model.service_model(service)
    compiled = [_compile(model.operation_model(name)) for name in model.operation_names]
    compiled.sort(
        key=lambda route: (
            route.deprecated,
            -(len(route.query) + len(route.headers)),
            -route.literal,
            len(route.labels),
        )
    )
    return tuple(compiled)


def find_operation(
    service: str, method: str, raw_path: str, query: str, headers: frozenset[str] = frozenset()
) -> tuple[str, dict[str, str]] | None:
    """The operation a request calls and its URI labels (percent-decoded); ``headers``: the
    names of the headers the request has."""
    parameters = dict(parse_qsl(query, keep_blank_values=True))
    wanted = parameters.get("x-id")
    path = raw_path or "/"
    for route in routes(service):
        if route.method != method:
            continue
        if wanted is not None and wanted != route.operation:
            continue
        if any(name not in headers for name in route.headers):
            continue
        if any(
            key not in parameters or (value is not None and parameters[key] != value)
            for key, value in route.query
        ):
            continue
        match = route.pattern.match(path)
        if match is None:
            continue
        labels = {
            name: unquote(text) for name, text in zip(route.labels, match.groups(), strict=True)
        }
        return route.operation, labels
    return None


def find(service: str, request: HttpRequest) -> tuple[str, dict[str, str]] | None:
    """:func:`find_operation` for a request."""
    return find_operation(
        service,
        request.method,
        request.raw_path,
        request.query_string,
        frozenset(name for name, _ in request.headers),
    )


def _scalar(shape: Shape, text: str, where: str, timestamps: str) -> Any:
    if shape.type_name == "string" and shape.serialization.get("jsonvalue"):
        return text
    return parse_text_scalar(shape, text, where, timestamps)


def bound_input(
    operation: OperationModel, request: HttpRequest, labels: Mapping[str, str]
) -> dict[str, Any]:
    """The input members bound to the URI, query string and headers."""
    shape = operation.input_shape
    result: dict[str, Any] = {}
    if not isinstance(shape, StructureShape):
        return result
    query = parse_qsl(request.query_string, keep_blank_values=True)
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = str(member.serialization.get("name", name))
        if location == "uri":
            if wire in labels:
                result[name] = _scalar(member, labels[wire], wire, "iso8601")
        elif location == "querystring":
            if isinstance(member, MapShape):
                bound = {
                    str(m.serialization.get("name", n))
                    for n, m in shape.members.items()
                    if m.serialization.get("location") == "querystring"
                }
                result[name] = {key: value for key, value in query if key not in bound}
                continue
            values = [value for key, value in query if key == wire]
            if not values:
                continue
            if isinstance(member, ListShape):
                result[name] = [_scalar(member.member, v, wire, "iso8601") for v in values]
            else:
                result[name] = _scalar(member, values[0], wire, "iso8601")
        elif location == "header":
            text = request.header(wire)
            if text is None:
                continue
            if isinstance(member, ListShape):
                result[name] = [
                    _scalar(member.member, part.strip(), wire, "rfc822") for part in text.split(",")
                ]
            else:
                result[name] = _scalar(member, text, wire, "rfc822")
        elif location == "headers":
            prefix = wire.lower()
            result[name] = {
                key[len(prefix) :]: value
                for key, value in request.headers
                if key.startswith(prefix)
            }
    return result


def bound_output(
    operation: OperationModel, output: Mapping[str, Any]
) -> tuple[int | None, list[tuple[str, str]]]:
    """The status (when a member carries it) and the headers of the output's bound members."""
    shape = operation.output_shape
    status: int | None = None
    headers: list[tuple[str, str]] = []
    if not isinstance(shape, StructureShape):
        return status, headers
    for name, member in shape.members.items():
        value = output.get(name)
        if value is None:
            continue
        location = member.serialization.get("location")
        wire = str(member.serialization.get("name", name))
        if location == "statusCode":
            status = int(value)
        elif location == "header":
            if isinstance(member, ListShape):
                text = ",".join(text_of_scalar(member.member, v, "rfc822") for v in value)
            else:
                text = text_of_scalar(member, value, "rfc822")
            headers.append((wire, text))
        elif location == "headers":
            headers.extend((f"{wire}{key}", str(item)) for key, item in value.items())
    return status, headers


def payload_member(shape: Shape | None) -> tuple[str, Shape] | None:
    """The member named as the whole body, if the shape names one."""
    if not isinstance(shape, StructureShape):
        return None
    name = shape.serialization.get("payload")
    if not name or name not in shape.members:
        return None
    return str(name), shape.members[name]


def is_raw(shape: Shape) -> bool:
    """Whether a payload member is the body's bytes or text as they are."""
    return shape.type_name in ("blob", "string")


def body_members(shape: StructureShape) -> dict[str, Shape]:
    """The members that travel in the body (not URI, query, header or status bound)."""
    return {
        name: member
        for name, member in shape.members.items()
        if not member.serialization.get("location")
    }


__all__ += ["TypeProblem", "body_members", "is_raw", "payload_member"]
