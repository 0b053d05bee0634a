"""The plain HTTP/1.1 requests a runtime sends, parsed without a state machine.

AWS's runtime interface client, curl and Node's fetch send the Runtime API simple requests:
a request line, a few headers, a body framed by ``Content-Length`` or none. Those are read
here, a few microseconds each; anything else (chunked bodies, ``Expect``, ``Connection:
close``, an upgrade, HTTP/1.0, a malformed head, a body over the limit) returns
:data:`UNUSUAL`, and the connection is handed to h11 for the rest of its life, with the bytes
already read. The warm invocation's two exchanges (``/next`` answered, ``/response``
acknowledged) are the hot path of a process environment: h11's general machinery cost
about as much as the rest of the invocation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["UNUSUAL", "SimpleRequest", "format_response", "parse_request"]

MAX_HEAD = 64 * 1024
_REASONS: Final = {
    200: b"OK",
    202: b"Accepted",
    400: b"Bad Request",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    413: b"Payload Too Large",
}
_UNUSUAL_HEADERS: Final = frozenset((b"transfer-encoding", b"expect", b"upgrade"))


@dataclass(slots=True)
class SimpleRequest:
    method: bytes
    target: bytes
    error_type: str | None
    body: bytes


class _Unusual:
    def __repr__(self) -> str:
        return "UNUSUAL"


UNUSUAL: Final = _Unusual()
"""A request this parser leaves to h11."""


def parse_request(buffer: bytearray, max_body: int) -> tuple[SimpleRequest, int] | _Unusual | None:
    """The first request in ``buffer`` and how many bytes it took; None when incomplete;
    :data:`UNUSUAL` when h11 must read it."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return UNUSUAL if len(buffer) > MAX_HEAD else None
    lines = bytes(buffer[:end]).split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or parts[2] != b"HTTP/1.1" or not parts[0].isalpha():
        return UNUSUAL
    length = 0
    seen_length = False
    error_type = None
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            return UNUSUAL
        name = name.lower()
        value = value.strip()
        if name == b"content-length":
            if seen_length or not value.isdigit():
                return UNUSUAL
            seen_length = True
            length = int(value)
        elif name in _UNUSUAL_HEADERS or (name == b"connection" and value.lower() != b"keep-alive"):
            return UNUSUAL
        elif name == b"lambda-runtime-function-error-type":
            error_type = value.decode("utf-8", "replace")
    if length > max_body:
        return UNUSUAL  # h11's path counts an oversized body without keeping it
    start = end + 4
    if len(buffer) < start + length:
        return None
    body = bytes(buffer[start : start + length])
    return SimpleRequest(parts[0], parts[1], error_type, body), start + length


def format_response(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    """An HTTP/1.1 response, as h11 would write it for these headers."""
    head = [b"HTTP/1.1 %d %s" % (status, _REASONS.get(status, b""))]
    head.extend(name + b": " + value for name, value in headers)
    head.append(b"content-length: %d" % len(body))
    return b"\r\n".join(head) + b"\r\n\r\n" + body
