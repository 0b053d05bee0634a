"""A tiny real HTTP/1.1 endpoint on 127.0.0.1 for the tests of HTTP targets (no mocks)."""

from __future__ import annotations

import asyncio
import http
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from eventmesh import Clock


@dataclass
class Request:
    at: float
    """The virtual time when the request arrived."""
    line: str
    headers: dict[str, str]
    body: bytes
    status: int


class Endpoint:
    """A tiny HTTP/1.1 server on 127.0.0.1 answering each request with the next scripted
    status (then 200), and recording what it received. ``location`` is sent as the
    ``Location`` header of every answer (for redirects)."""

    def __init__(
        self,
        clock: Clock | None = None,
        statuses: Sequence[int] = (),
        path: str = "/sns",
        location: str | None = None,
    ) -> None:
        self.clock = clock
        self.path = path
        self.location = location
        self.statuses = list(statuses)
        self.requests: list[Request] = []
        self.url = ""
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Endpoint:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}{self.path}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        line, *header_lines = head.split("\r\n")
        headers = {}
        for header in header_lines:
            if header:
                name, _, value = header.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        status = self.statuses.pop(0) if self.statuses else 200
        at = self.clock.now() if self.clock is not None else 0.0
        self.requests.append(Request(at, line, headers, body, status))
        phrase = http.HTTPStatus(status).phrase
        location = f"Location: {self.location}\r\n" if self.location is not None else ""
        writer.write(
            f"HTTP/1.1 {status} {phrase}\r\n{location}Content-Length: 0\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()
        await writer.wait_closed()


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait in real time (for a real HTTP round trip) until ``condition`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.001)
