"""Writing an answer to ASGI. Unlike the HTTP front's, an answer to HEAD keeps the
``content-length`` its handler gave (S3's ``HeadObject`` reports the object's size with no
body), and answers to everything else get the length of the body they carry."""

from __future__ import annotations

from eventmesh._http_messages import HttpResponse
from eventmesh.http._asgi_types import Send

__all__ = ["send_answer"]

_NO_BODY = frozenset({204, 304})


def _encode(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


async def send_answer(send: Send, response: HttpResponse, *, head: bool) -> None:
    """Write ``response`` (checked already); the client having gone is not an error."""
    declared: str | None = None
    headers: list[tuple[bytes, bytes]] = []
    for name, value in response.headers:
        lowered = name.lower()
        if lowered == "content-length":
            declared = value.strip()
            continue
        if lowered == "transfer-encoding":
            continue
        headers.append((_encode(lowered), _encode(value.strip(" \t"))))
    body = b"" if response.status in _NO_BODY else response.body
    if response.status not in _NO_BODY:
        length = declared if head and declared is not None else str(len(body))
        headers.append((b"content-length", length.encode()))
    try:
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else body})
    except OSError:
        return
