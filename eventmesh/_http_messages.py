"""An HTTP request and response as the mesh's HTTP front hands them around, free of any server.

The face (:mod:`eventmesh.http`) turns an ASGI request into an :class:`HttpRequest` and an
:class:`HttpResponse` back into ASGI messages; everything between (API Gateway's routing,
events, authorizers, the mesh's own endpoints) works on these two and never sees ASGI, so it
is tested without a server and could sit behind another one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["HttpRequest", "HttpResponse"]


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One request as it arrived.

    ``path`` is percent-decoded (as ASGI gives it), ``raw_path`` as sent (without the query);
    ``query_string`` has no leading ``?`` (latin-1 text of the raw bytes); ``headers`` keep
    their order and repeats, names lower-cased; ``received_at`` is epoch seconds on the
    mesh's clock; ``trace_context`` is the OpenTelemetry context of the server span the
    front opened for it (the parent of the invocation's span), or None.
    """

    method: str
    path: str
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    query_string: str = ""
    raw_path: str = ""
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"
    scheme: str = "http"
    received_at: float = 0.0
    trace_context: Any = None

    def header(self, name: str) -> str | None:
        """The header's values joined by commas (as HTTP allows), or None when absent."""
        name = name.lower()
        values = [value for key, value in self.headers if key == name]
        return ",".join(values) if values else None

    @property
    def host(self) -> str:
        """The Host header, or empty."""
        return self.header("host") or ""


@dataclass(slots=True)
class HttpResponse:
    """An answer: status, headers in order (repeats allowed, e.g. ``set-cookie``), body."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @classmethod
    def json(cls, status: int, value: Any, headers: Iterable[tuple[str, str]] = ()) -> HttpResponse:
        """``value`` as a JSON body with ``content-type: application/json``."""
        return cls(status, [("content-type", "application/json"), *headers], orjson.dumps(value))
