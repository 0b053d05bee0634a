"""``http``: requests through the HTTP front (an HTTP API route to a function) against a bare
ASGI app answering the same request, both on the same uvicorn server in the same process.

Both sides are served by :class:`~eventmesh.http.HttpServer` on a free loopback port: the
same uvicorn, the same configuration, the same event loop. eventmesh's side is the mesh's
ASGI app with an HTTP API route ``POST /bench`` to a function (payload 2.0 event, response
rules, access-log record, request id); the baseline is a twelve-line ASGI app that reads the
body, parses it and runs the same work. Each side's handler parses the JSON body and runs
``--handler``'s work; the sample runs from the request's intended send time to the moment
the client has read the whole response.

The load generator is a raw asyncio-streams HTTP/1.1 client in the same process, one
keep-alive connection per concurrent caller, each request's bytes pre-built but for the body:
httpx costs several times what the front does per request, and would measure itself. Being
in the same process and loop, the client's cost is paid by both sides alike and counted in
both throughputs; on a machine with spare cores the server alone would go faster.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
from collections.abc import AsyncIterator, Awaitable, Callable
from time import perf_counter
from typing import Any

import orjson

from eventmesh.bench.options import BenchOptions
from eventmesh.bench.recorder import Recorder
from eventmesh.bench.runner import Side
from eventmesh.bench.scenarios._base import (
    FUNCTION_TIMEOUT,
    Scenario,
    ScenarioUnavailable,
    Which,
    bench_mesh,
    mesh_stats,
)
from eventmesh.bench.workload import make_handler

__all__ = ["HttpFront", "KeepAliveClient"]

PATH = "/bench"


class KeepAliveClient:
    """POSTs JSON over kept-alive HTTP/1.1 connections to one server, at most one request
    per connection at a time (a connection is opened when all are busy)."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self._host = host
        self._port = port
        self._head = (
            f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\n"
            "content-type: application/json\r\ncontent-length: "
        ).encode()
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._all: list[asyncio.StreamWriter] = []

    async def open(self, connections: int) -> None:
        for _ in range(connections):
            self._idle.append(await self._connect())

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(self._host, self._port)
        self._all.append(writer)
        return reader, writer

    async def post(self, body: bytes) -> bytes:
        """The response's body; raises unless the status is 200."""
        connection = self._idle.pop() if self._idle else await self._connect()
        reader, writer = connection
        writer.write(b"%s%d\r\n\r\n%s" % (self._head, len(body), body))
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            writer.close()
            raise RuntimeError(head.split(b"\r\n", 1)[0].decode("latin-1"))
        lowered = head.lower()
        start = lowered.index(b"content-length:") + 15
        length = int(lowered[start : lowered.index(b"\r\n", start)])
        answer = await reader.readexactly(length)
        self._idle.append(connection)
        return answer

    async def close(self) -> None:
        for writer in self._all:
            writer.close()
        for writer in self._all:
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def _timed(
    client: KeepAliveClient, recorder: Recorder
) -> Callable[[dict[str, Any]], Awaitable[None]]:
    """One request per event; the sample ends when the response has been read."""
    post, dumps = client.post, orjson.dumps
    latency, finished, clock = recorder.latencies.append, recorder.finishes.append, perf_counter

    async def call(event: dict[str, Any]) -> None:
        await post(dumps(event))
        now = clock()
        latency(now - event["t"])
        finished(now)

    return call


def _bare_app(work: Callable[[Any], Awaitable[None]]) -> Any:
    """The baseline: an ASGI app that reads the body, parses it, works, answers ``ok``."""
    loads = orjson.loads
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")],
    }
    done = {"type": "http.response.body", "body": b"ok"}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        await work(loads(b"".join(chunks)))
        await send(start)
        await send(done)

    return app


class HttpFront(Scenario):
    name = "http"
    summary = "HTTP requests through the front (HTTP API -> function) vs a bare ASGI app"
    ours_name = "HTTP API route -> function (payload 2.0)"
    baseline_name = "bare ASGI app, same uvicorn server"
    unit = "requests/s"
    default_concurrency = 8

    def check(self, options: BenchOptions) -> None:
        if importlib.util.find_spec("uvicorn") is None:
            raise ScenarioUnavailable(
                "the http scenario needs the http extra: pip install 'eventmesh[http]'"
            )

    @contextlib.asynccontextmanager
    async def open_side(
        self, options: BenchOptions, recorder: Recorder, which: Which
    ) -> AsyncIterator[Side]:
        from eventmesh.http import HttpServer  # the http extra, checked by check()

        work = make_handler(Recorder(), self.work(options))  # its samples are not the run's
        mesh = bench_mesh(options)
        if which == "ours":
            loads = orjson.loads
            ok = {"statusCode": 200, "body": "ok"}

            @mesh.function(name="bench", timeout=FUNCTION_TIMEOUT)
            async def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
                await work(loads(event["body"]))
                return ok

            mesh.http_api("bench").route(f"POST {PATH}", "bench")
            server = HttpServer(mesh, port=0)
            name = self.ours_name
        else:
            server = HttpServer(mesh, port=0, app=_bare_app(work))
            name = self.baseline_name
        async with server:
            host, port = server.address
            client = KeepAliveClient(host, port, PATH)
            await client.open(self.concurrency(options))
            try:
                yield Side(
                    name,
                    _timed(client, recorder),  # type: ignore[arg-type]
                    blocking=True,
                    stats=mesh_stats(mesh) if which == "ours" else None,
                )
            finally:
                await client.close()
