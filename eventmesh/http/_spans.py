"""The OpenTelemetry server span of one HTTP request, after the HTTP server semantic
conventions: named ``{method} {route}`` (``{method}`` alone when no route matched), with
``http.request.method``, ``url.path``, ``url.scheme``, ``url.query``, ``http.route``,
``http.response.status_code``, ``server.address`` and ``server.port``, ``client.address``,
``user_agent.original`` and ``network.protocol.version``; a 5xx answer sets the span's status
to ERROR and ``error.type`` to the status code, as the conventions ask of a server.

``url.query`` keeps each parameter's name but not its value (``Token=REDACTED``): the
conventions ask that sensitive query values be scrubbed, with the literal ``REDACTED``, and a
query is where secrets travel (an SNS confirmation URL's ``Token``, a signed URL's
``Signature``, an ``api_key``), so no value is kept at all.

The span is the parent of the invocation's span: the front passes its context to the
gateway in :attr:`HttpRequest.trace_context`. A ``traceparent`` sent by the client (the
globally configured propagator's format) makes the span a child of the caller's.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from eventmesh._http_messages import HttpRequest

__all__ = ["KNOWN_METHODS", "REDACTED", "RequestSpan", "redact_query", "route_of"]

REDACTED = "REDACTED"
"""What a query value becomes in ``url.query`` (the conventions' literal)."""

KNOWN_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}
)
"""The methods the conventions name; any other is recorded as ``_OTHER``."""


def _server(request: HttpRequest, scope_server: tuple[str, int] | None) -> tuple[str, int | None]:
    """``server.address`` and ``server.port``: from the Host header, else the socket."""
    host = request.host
    if host:
        name, _, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
        if name and port.isdigit():
            return name.strip("[]"), int(port)
        return host.strip("[]"), None
    if scope_server:
        return scope_server[0], scope_server[1]
    return "", None


class RequestSpan:
    """One request's span (see the module docstring); :attr:`context` is its context."""

    __slots__ = ("context", "method", "name_method", "span")

    def __init__(
        self, tracer: Tracer, request: HttpRequest, scope_server: tuple[str, int] | None
    ) -> None:
        method = request.method if request.method in KNOWN_METHODS else "_OTHER"
        self.method = method
        self.name_method = "HTTP" if method == "_OTHER" else method
        carrier = {name: value for name, value in request.headers}
        parent = propagate.extract(carrier)
        address, port = _server(request, scope_server)
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": request.path,
            "url.scheme": request.scheme,
            "network.protocol.version": request.protocol.removeprefix("HTTP/"),
        }
        if method == "_OTHER":
            attributes["http.request.method_original"] = request.method
        if request.query_string:
            attributes["url.query"] = redact_query(request.query_string)
        if address:
            attributes["server.address"] = address
        if port is not None:
            attributes["server.port"] = port
        if request.source_ip:
            attributes["client.address"] = request.source_ip
        agent = request.header("user-agent")
        if agent:
            attributes["user_agent.original"] = agent
        self.span = tracer.start_span(
            self.name_method, context=parent, kind=SpanKind.SERVER, attributes=attributes
        )
        self.context = trace.set_span_in_context(self.span, parent)

    def end(self, status: int | None, route: str | None, error: str | None = None) -> None:
        """Close the span with the answer's status and the route matched (if any)."""
        span = self.span
        if route:
            span.set_attribute("http.route", route)
            span.update_name(f"{self.name_method} {route}")
        if status is not None:
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_attribute("error.type", str(status))
                span.set_status(Status(StatusCode.ERROR, error or None))
        else:
            span.set_attribute("error.type", error or "client disconnected")
            span.set_status(Status(StatusCode.ERROR, error))
        span.end()


def redact_query(query: str) -> str:
    """``query`` with every value replaced by :data:`REDACTED`, names and order kept."""
    return "&".join(
        f"{name}={REDACTED}" if sep else name
        for name, sep, _ in (pair.partition("=") for pair in query.split("&"))
    )


def route_of(route_key: str | None) -> str | None:
    """``http.route`` of an API Gateway route key: ``GET /orders/{id}`` gives
    ``/orders/{id}``; ``$default`` (no template) gives None."""
    if not route_key:
        return None
    _, _, path = route_key.partition(" ")
    return path if path.startswith("/") else None
