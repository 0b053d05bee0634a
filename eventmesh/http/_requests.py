"""An ASGI HTTP request to an :class:`~eventmesh._http_messages.HttpRequest`, the body read
whole up to a cap, and an :class:`~eventmesh._http_messages.HttpResponse` back to ASGI.

The body is read before anything sees the request (API Gateway buffers it too, and the
function's event carries all of it), but never beyond ``max_body``: a declared
``content-length`` over the cap is refused before a byte of the body is read, and a chunked
body is read only until it passes the cap, so a huge upload cannot exhaust memory.

Before the 413 goes out, what the client still sends is read and thrown away for a moment
(:func:`linger`, as nginx's lingering close does): a client that writes its whole body before
reading (httpx, requests) would otherwise have the connection reset under it and never see
the 413. The linger is bounded in time and bytes, so a client declaring a gigabyte gets its
413 after :data:`LINGER_SECONDS` at most, without the gigabyte being read. A client that
sent ``Expect: 100-continue`` is not lingered on: reading would make the server invite the
body (``100 Continue``) that is being refused; it gets its 413 at once.

The request line and headers are bounded too (:data:`MAX_HEAD`): a header block over it is
answered 431, whether it came in pieces (h11 refuses it, see :mod:`eventmesh.http._server`)
or in one read (counted here).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass

from eventmesh._http_messages import HttpRequest, HttpResponse
from eventmesh.gateway.integration import MAX_REQUEST_BODY
from eventmesh.http._asgi_types import Receive, Scope, Send

__all__ = [
    "MAX_BODY",
    "BodyTooLarge",
    "ClientGone",
    "LINGER_BYTES",
    "LINGER_SECONDS",
    "MAX_HEAD",
    "check_response",
    "declared_length",
    "expects_continue",
    "head_size",
    "linger",
    "read_body",
    "route_path",
    "send_response",
    "to_request",
]

MAX_BODY = MAX_REQUEST_BODY
"""API Gateway's payload quota: 10 MB for REST and HTTP APIs."""

MAX_HEAD = 16 * 1024
"""The largest request line plus headers read, in bytes (h11's default; API Gateway's own
quota, 10240 bytes of request line and header values, fits in it)."""

LINGER_SECONDS = 1.0
"""At most this long is spent throwing away the rest of a body over the cap."""
LINGER_BYTES = 64 * 1024 * 1024
"""At most this much of it is read (and thrown away)."""

_SKIPPED_RESPONSE_HEADERS = frozenset({"content-length", "transfer-encoding"})
"""Set by the front for the body it sends, whatever the function's answer said."""
_NO_BODY = frozenset({204, 304})
"""Statuses sent without a body or a ``content-length`` (RFC 9110)."""
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class BodyTooLarge(Exception):
    """The request's body is over the cap (declared or read so far)."""


class ClientGone(Exception):
    """The client disconnected before its request's body arrived in full."""


def route_path(scope: Scope) -> tuple[str, str]:
    """The request's path and raw path below the app's mount point (``root_path``).

    ASGI servers and routers (uvicorn's ``--root-path``, Starlette's ``Mount``) give the full
    path in ``path`` and the mount point in ``root_path``; the gateway routes on what lies
    below it, as API Gateway routes on the path below the stage. The mount point is cut at a
    segment boundary only (``/apiary`` is not below ``/api``), and from the raw path by its
    segments, since there it may be percent-encoded (``/my%20api`` for ``/my api``)."""
    path: str = scope["path"]
    raw: bytes | None = scope.get("raw_path")
    raw_path = raw.decode("latin-1").partition("?")[0] if raw else path
    root: str = (scope.get("root_path", "") or "").rstrip("/")
    if root and (path == root or path.startswith(root + "/")):
        path = path[len(root) :] or "/"
        if raw_path == root or raw_path.startswith(root + "/"):
            raw_path = raw_path[len(root) :] or "/"
        else:
            depth = root.count("/")  # the mount point's segments, cut from the raw path
            parts = raw_path.split("/", depth + 1)
            raw_path = "/" + parts[depth + 1] if len(parts) > depth + 1 else "/"
    return path, raw_path


def declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The ``content-length`` header's value, None when absent or not a number (the server
    has refused a malformed one already)."""
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def expects_continue(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the client waits for ``100 Continue`` before sending its body."""
    return any(
        name == b"expect" and value.strip().lower() == b"100-continue" for name, value in headers
    )


def head_size(scope: Scope) -> int:
    """The request line's and headers' size, in bytes, about as they came on the wire."""
    raw: bytes | None = scope.get("raw_path")
    target = len(raw) if raw else len(scope["path"])
    size = len(scope["method"]) + target + len(scope.get("query_string", b"")) + 12
    for name, value in scope["headers"]:
        size += len(name) + len(value) + 4
    return size


async def read_body(receive: Receive, declared: int | None, max_body: int) -> bytes:
    """The whole body, or BodyTooLarge as soon as it is known to pass ``max_body``, or
    ClientGone when the client left first."""
    if declared is not None and declared > max_body:
        raise BodyTooLarge
    first = b""  # the body when it comes in one message (no copy)
    rest: bytearray | None = None  # else one buffer, not a list: a body in a million
    size = 0  # one-byte messages costs a megabyte, not a million objects
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > max_body:
                raise BodyTooLarge
            if rest is not None:
                rest += chunk
            elif first:
                rest = bytearray(first)
                rest += chunk
            else:
                first = chunk
        if not message.get("more_body", False):
            break
    return first if rest is None else bytes(rest)


async def linger(
    receive: Receive, seconds: float = LINGER_SECONDS, most: int = LINGER_BYTES
) -> None:
    """Read and drop the rest of a refused body, for at most ``seconds`` and ``most`` bytes
    (see the module docstring)."""
    dropped = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while dropped <= most:
                message = await receive()
                if message["type"] == "http.disconnect" or not message.get("more_body", False):
                    return
                dropped += len(message.get("body", b""))


def to_request(scope: Scope, body: bytes, received_at: float) -> HttpRequest:
    """The request as the gateway sees it (see :class:`HttpRequest` for each field)."""
    path, raw_path = route_path(scope)
    client = scope.get("client")
    return HttpRequest(
        method=scope["method"],
        path=path,
        body=body,
        headers=tuple(
            (name.decode("latin-1").lower(), value.decode("latin-1"))
            for name, value in scope["headers"]
        ),
        query_string=scope.get("query_string", b"").decode("latin-1"),
        raw_path=raw_path,
        source_ip=client[0] if client else "",
        protocol="HTTP/" + scope.get("http_version", "1.1"),
        scheme=scope.get("scheme", "http"),
        received_at=received_at,
    )


def check_response(response: HttpResponse) -> str | None:
    """Why ``response`` cannot go on the wire as it is (None when it can): a status outside
    200-599, a header name that is not an HTTP token, a value with a control character (a
    line break would split the header), a body that is not bytes. Header values are not
    quoted in the reason (they may be secrets)."""
    status = response.status
    if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
        return f"status {status!r} is not one a server answers with"
    for name, value in response.headers:
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            return f"header name {name!r} is not an HTTP token"
        if not isinstance(value, str) or _CONTROL.search(value):
            return f"the value of header {name!r} is not a string without control characters"
    if not isinstance(response.body, bytes):
        return f"the body is {type(response.body).__name__}, not bytes"
    return None


def _encode(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


@dataclass(slots=True)
class Sent:
    """What went to the client: the status and the body's length (for the access log)."""

    status: int
    length: int
    delivered: bool
    """False when the client had gone before the answer was written."""


async def send_response(send: Send, response: HttpResponse, *, head: bool = False) -> Sent:
    """Write ``response``, checked by :func:`check_response` (its ``content-length`` set by
    the front; no body for HEAD, nor for 204 and 304)."""
    body = response.body
    headers = [
        (_encode(name.lower()), _encode(value.strip(" \t")))
        for name, value in response.headers
        if name.lower() not in _SKIPPED_RESPONSE_HEADERS
    ]
    if response.status in _NO_BODY:
        body = b""
    else:
        headers.append((b"content-length", str(len(body)).encode()))
    try:
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else body})
    except OSError:  # the client went away (uvicorn raises ClientDisconnected, an OSError)
        return Sent(response.status, len(body), delivered=False)
    return Sent(response.status, len(body), delivered=True)
