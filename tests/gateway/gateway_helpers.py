"""Requests for the gateway's tests: an HttpRequest as the front would build it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

import orjson

from eventmesh import Mesh
from eventmesh._http_messages import HttpRequest, HttpResponse
from eventmesh.gateway.front import Gateway, GatewayAnswer

EPOCH = 1_767_225_600.0  # the VirtualClock's zero: 2026-01-01T00:00:00Z


def request(
    method: str,
    target: str,
    *,
    body: bytes | str = b"",
    headers: Iterable[tuple[str, str]] = (),
    host: str = "127.0.0.1:8000",
    source_ip: str = "192.0.2.1",
    received_at: float = EPOCH + 0.125,
) -> HttpRequest:
    """``target`` is the raw path with an optional ``?query``."""
    raw_path, _, query = target.partition("?")
    all_headers = [("host", host), *((name.lower(), value) for name, value in headers)]
    return HttpRequest(
        method=method,
        path=unquote(raw_path),
        raw_path=raw_path,
        query_string=query,
        body=body.encode() if isinstance(body, str) else body,
        headers=tuple(all_headers),
        source_ip=source_ip,
        received_at=received_at,
    )


async def call(mesh: Mesh, req: HttpRequest) -> GatewayAnswer:
    return await Gateway(mesh.context).handle(req)


def json_of(response: HttpResponse) -> Any:
    return orjson.loads(response.body)


def header(response: HttpResponse, name: str) -> list[str]:
    return [value for key, value in response.headers if key == name]


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A handler answering with the event it got, as a JSON body (payload 1.0 and 2.0)."""
    return {"statusCode": 200, "body": orjson.dumps(event).decode()}
