"""A minimal real HTTP/1.1 front on 127.0.0.1 serving only a mesh's own endpoints
(``/_eventmesh/...``, :class:`eventmesh._endpoints.MeshEndpoints`), for tests of what the
mesh serves itself (SNS's signing certificate, subscription confirmation), with no other
part of the HTTP front. It sets ``endpoints.base_url`` while it runs, as the front does."""

from __future__ import annotations

import asyncio
import http
from urllib.parse import unquote

from eventmesh._endpoints import MeshEndpoints
from eventmesh._http_messages import HttpRequest


class MeshFront:
    def __init__(self, endpoints: MeshEndpoints) -> None:
        self.endpoints = endpoints
        self.base_url = ""
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> MeshFront:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = self.endpoints.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self.endpoints.base_url = None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        line, *header_lines = head.split("\r\n")
        method, target, protocol = line.split(" ")
        headers = []
        for header in header_lines:
            if header:
                name, _, value = header.partition(":")
                headers.append((name.strip().lower(), value.strip()))
        length = int(dict(headers).get("content-length", "0"))
        body = await reader.readexactly(length)
        raw_path, _, query = target.partition("?")
        request = HttpRequest(
            method=method,
            path=unquote(raw_path),
            body=body,
            headers=tuple(headers),
            query_string=query,
            raw_path=raw_path,
            protocol=protocol,
        )
        handler = self.endpoints.find(request.path)
        if handler is None:
            status, response_headers, content = 404, [], b""
        else:
            response = await handler(request)
            status, response_headers, content = response.status, response.headers, response.body
        lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}"]
        lines += [f"{name}: {value}" for name, value in response_headers]
        lines += [f"content-length: {len(content)}", "connection: close", "", ""]
        writer.write("\r\n".join(lines).encode("latin-1") + content)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
