"""The ASGI app on its own under uvicorn (its lifespan runs the mesh) and mounted in a
Starlette app (the host app runs the mesh), over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from eventmesh import Mesh, Telemetry
from eventmesh._http_messages import HttpRequest, HttpResponse
from eventmesh.http import asgi_app


class QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers (the test's loop is pytest's)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def uvicorn_serving(app: Any, lifespan: str) -> AsyncIterator[str]:
    """``app`` under a plain uvicorn server on a free loopback port; yields its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan=lifespan, log_config=None, access_log=False, ws="none")
    server = QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), task
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def echo_endpoint(mesh: Mesh) -> list[HttpRequest]:
    seen: list[HttpRequest] = []

    async def echo(request: HttpRequest) -> HttpResponse:
        seen.append(request)
        return HttpResponse(200, [], request.path.encode())

    mesh.context.endpoints.add("/_eventmesh/echo", echo)
    return seen


async def test_standalone_the_lifespan_starts_and_stops_the_mesh() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    async with uvicorn_serving(asgi_app(mesh), lifespan="on") as url:
        assert mesh.running
        async with httpx.AsyncClient(base_url=url) as client:
            assert (await client.get("/health/ready")).status_code == 200
    assert not mesh.running


async def test_standalone_a_mesh_already_running_is_left_to_its_owner() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    async with mesh:
        async with uvicorn_serving(asgi_app(mesh), lifespan="on"):
            pass
        assert mesh.running


async def test_a_websocket_is_refused_cleanly() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    app = asgi_app(mesh)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: Any) -> None:
        sent.append(message)

    await app({"type": "websocket", "path": "/"}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1003}]


async def test_mounted_in_starlette_under_a_prefix() -> None:
    """``Mount("/api", app=asgi_app(mesh))``: the host app runs the mesh; the mesh sees the
    path below the mount point, and the host's own routes still answer."""
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    seen = echo_endpoint(mesh)

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse("host app")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with mesh:
            yield

    host = Starlette(
        routes=[
            Route("/", home),
            Mount("/api", app=asgi_app(mesh, base_url="http://testserver/api")),
        ],
        lifespan=lifespan,
    )
    async with (
        uvicorn_serving(host, lifespan="on") as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        assert mesh.running
        assert (await client.get("/")).text == "host app"
        response = await client.get("/api/_eventmesh/echo?q=1")
        assert (response.status_code, response.text) == (200, "/_eventmesh/echo")
        assert seen[0].raw_path == "/_eventmesh/echo"
        assert seen[0].query_string == "q=1"
        assert (await client.get("/api/health/ready")).status_code == 200
        assert (await client.get("/health")).status_code == 404  # the host's, not ours
        assert mesh.context.endpoints.url("/_eventmesh/x") == "http://testserver/api/_eventmesh/x"
    assert not mesh.running


async def test_a_mesh_that_cannot_start_fails_the_lifespan_startup() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    mesh.function(name="f", on_failure="no-such-queue")(lambda event, context: None)
    app = asgi_app(mesh)
    messages = iter([{"type": "lifespan.startup"}])
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: Any) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    assert "no-such-queue" in sent[0]["message"]
    assert not mesh.running
