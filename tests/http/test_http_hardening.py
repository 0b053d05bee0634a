"""The HTTP front against hostile or broken clients and backends, over real HTTP: slow
clients are dropped, connections are bounded, a refused body is not invited, secrets in a
query never reach a span, and readiness tells the truth about a locked database."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from eventmesh import Mesh, Telemetry
from eventmesh._http_messages import HttpRequest, HttpResponse
from eventmesh.http import HttpServer, asgi_app
from eventmesh.http._health import readiness
from eventmesh.http._requests import MAX_BODY, read_body, route_path
from eventmesh.http._server import DEFAULT_LIMIT_CONCURRENCY, DEFAULT_READ_TIMEOUT


def echo(mesh: Mesh) -> list[HttpRequest]:
    seen: list[HttpRequest] = []

    async def handler(request: HttpRequest) -> HttpResponse:
        seen.append(request)
        return HttpResponse(200, [], request.body)

    mesh.context.endpoints.add("/_eventmesh/echo", handler)
    return seen


@pytest.fixture
async def quick() -> AsyncIterator[tuple[Mesh, HttpServer]]:
    """A server whose clients have 0.5 s to send a request, headers and body."""
    mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    async with HttpServer(mesh, port=0, read_timeout=0.5) as server:
        yield mesh, server


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """What the server sent before closing the connection; fails if it is still open."""
    return await asyncio.wait_for(reader.read(), seconds)


# -- slow clients --------------------------------------------------------------------------
async def test_a_connection_that_sends_nothing_is_closed(
    quick: tuple[Mesh, HttpServer],
) -> None:
    reader, writer = await asyncio.open_connection(*quick[1].address)
    assert await closed_within(reader, 15) == b""
    writer.close()


async def test_a_client_trickling_its_headers_is_closed(quick: tuple[Mesh, HttpServer]) -> None:
    reader, writer = await asyncio.open_connection(*quick[1].address)
    request = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100

    async def trickle() -> None:
        for byte in request:
            writer.write(bytes([byte]))
            await asyncio.sleep(0.05)  # each byte well inside any per-read timeout

    task = asyncio.create_task(trickle())
    try:
        assert await closed_within(reader, 15) == b""
    finally:
        task.cancel()
        writer.close()


async def test_a_kept_alive_connection_trickling_its_next_request_is_closed(
    quick: tuple[Mesh, HttpServer],
) -> None:
    reader, writer = await asyncio.open_connection(*quick[1].address)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    await reader.readexactly(int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0]))

    async def trickle() -> None:
        for byte in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
            writer.write(bytes([byte]))
            await asyncio.sleep(0.05)

    task = asyncio.create_task(trickle())
    try:
        assert await closed_within(reader, 15) == b""
    finally:
        task.cancel()
        writer.close()


async def test_a_client_trickling_its_body_is_dropped_before_a_handler_sees_it(
    quick: tuple[Mesh, HttpServer],
) -> None:
    mesh, server = quick
    seen = echo(mesh)
    reader, writer = await asyncio.open_connection(*server.address)
    writer.write(b"POST /_eventmesh/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 300\r\n\r\n")

    async def trickle() -> None:
        for _ in range(300):
            writer.write(b"a")
            await asyncio.sleep(0.05)

    task = asyncio.create_task(trickle())
    try:
        await closed_within(reader, 15)
    finally:
        task.cancel()
        writer.close()
    assert seen == []
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        assert (await client.post("/_eventmesh/echo", content=b"fine")).text == "fine"


async def test_a_request_that_arrives_in_time_is_answered(quick: tuple[Mesh, HttpServer]) -> None:
    mesh, server = quick
    echo(mesh)
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        for _ in range(3):  # the same kept-alive connection, past the read timeout in all
            assert (await client.post("/_eventmesh/echo", content=b"x")).status_code == 200
            await asyncio.sleep(0.3)


async def test_the_connections_served_at_once_are_bounded() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    async with HttpServer(mesh, port=0, limit_concurrency=2) as server:
        _, idle = await asyncio.open_connection(*server.address)
        await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            assert (await client.get("/health")).status_code == 503
            idle.close()
            await asyncio.sleep(0.1)
            assert (await client.get("/health")).status_code == 200


def test_the_defaults_bound_slow_clients_and_connections() -> None:
    server = HttpServer(Mesh(telemetry=Telemetry(enabled=False)))
    assert server.read_timeout == DEFAULT_READ_TIMEOUT == 60.0
    assert server.limit_concurrency == DEFAULT_LIMIT_CONCURRENCY == 1000


async def test_a_huge_header_block_is_refused_and_the_server_lives_on(
    quick: tuple[Mesh, HttpServer],
) -> None:
    _, server = quick
    reader, writer = await asyncio.open_connection(*server.address)
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(5000))  # ~50 KB
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    answer = await closed_within(reader, 15)
    assert answer.startswith((b"HTTP/1.1 400", b"HTTP/1.1 431"))
    writer.close()
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        assert (await client.get("/health")).status_code == 200


# -- a refused body is not invited -------------------------------------------------------------
async def test_a_body_over_the_cap_gets_its_413_without_a_100_continue(
    quick: tuple[Mesh, HttpServer],
) -> None:
    _, server = quick
    reader, writer = await asyncio.open_connection(*server.address)
    writer.write(
        b"POST /_eventmesh/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 20000000\r\n"
        b"Expect: 100-continue\r\n\r\n"
    )
    status = await asyncio.wait_for(reader.readline(), 15)
    writer.close()
    assert status.startswith(b"HTTP/1.1 413")


# -- spans ---------------------------------------------------------------------------------
async def test_query_values_never_reach_a_span() -> None:
    """The SNS confirmation URL carries its Token in the query: a span must not."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    mesh = Mesh(telemetry=Telemetry(provider, enabled=True), drain_timeout=2.0)
    echo(mesh)
    async with (
        HttpServer(mesh, port=0) as server,
        httpx.AsyncClient(base_url=server.base_url) as client,
    ):
        await client.get("/_eventmesh/echo?Action=Confirm&Token=s3cr3t-token&flag")
    (span,) = [s for s in exporter.get_finished_spans() if s.kind.name == "SERVER"]
    attributes: dict[str, Any] = dict(span.attributes or {})
    assert attributes["url.query"] == "Action=REDACTED&Token=REDACTED&flag"
    assert not any("s3cr3t" in str(value) for value in attributes.values())


# -- readiness -----------------------------------------------------------------------------
async def test_readiness_is_503_while_another_process_locks_the_sqlite_database(
    tmp_path: Path,
) -> None:
    path = tmp_path / "mesh.db"
    mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    mesh.use_storage(f"sqlite:///{path}")
    async with mesh:
        assert (await readiness(mesh.context, timeout=1.0)).status == 200
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN EXCLUSIVE")  # nobody else can write now
            locked = await readiness(mesh.context, timeout=0.5)
            assert locked.status == 503
            other.execute("ROLLBACK")
        finally:
            other.close()
        assert (await readiness(mesh.context, timeout=5.0)).status == 200


# -- the mount point -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "raw_path", "root", "expected"),
    [
        ("/api/orders/1", b"/api/orders/1", "/api", ("/orders/1", "/orders/1")),
        ("/api", b"/api", "/api", ("/", "/")),
        # A server that leaves the mount point out of ``path`` (older ASGI servers): a path
        # that merely starts with the same letters is not below the mount point.
        ("/apiary/x", b"/apiary/x", "/api", ("/apiary/x", "/apiary/x")),
        # The mount point in the raw path is percent-encoded: it is cut there too.
        ("/my api/a%2Fb", b"/my%20api/a%252Fb", "/my api", ("/a%2Fb", "/a%252Fb")),
    ],
)
def test_the_path_below_the_mount_point(
    path: str, raw_path: bytes, root: str, expected: tuple[str, str]
) -> None:
    scope = {"type": "http", "path": path, "raw_path": raw_path, "root_path": root}
    assert route_path(scope) == expected


async def test_mounted_under_an_encoded_prefix_the_raw_path_is_below_it() -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    seen = echo(mesh)
    host = Starlette(routes=[Mount("/my api", app=asgi_app(mesh))])
    async with (
        mesh,
        HttpServer(mesh, port=0, app=host) as server,
        httpx.AsyncClient(base_url=server.base_url) as client,
    ):
        response = await client.post("/my%20api/_eventmesh/echo", content=b"hi")
    assert response.status_code == 200
    assert (seen[0].path, seen[0].raw_path) == ("/_eventmesh/echo", "/_eventmesh/echo")


# -- a body in tiny pieces -------------------------------------------------------------------
async def test_a_body_in_tiny_pieces_costs_its_size_not_its_piece_count() -> None:
    """A client can make every ``http.request`` message one byte (tiny TCP segments): the
    memory held must follow the body's size, not the number of messages."""
    pieces = 200_000
    sent = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        sent += 1
        return {"type": "http.request", "body": b"x", "more_body": sent < pieces}

    tracemalloc.start()
    try:
        body = await read_body(receive, None, MAX_BODY)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert body == b"x" * pieces
    assert peak < 4 * pieces  # a list of 200,000 one-byte objects would hold ~8 MB


# -- HEAD ------------------------------------------------------------------------------------
async def test_head_declares_the_get_length_and_sends_no_body(
    quick: tuple[Mesh, HttpServer],
) -> None:
    """On one kept-alive connection: a HEAD answer's content-length is the GET's, no body
    byte follows it (the next answer starts right after its head)."""
    mesh, server = quick

    async def hello(request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, [("content-type", "text/plain")], b"hello world")

    mesh.context.endpoints.add("/_eventmesh/hello", hello)
    reader, writer = await asyncio.open_connection(*server.address)
    try:
        writer.write(
            b"HEAD /_eventmesh/hello HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /_eventmesh/hello HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 15)
        assert head.startswith(b"HTTP/1.1 200")
        assert b"\r\ncontent-length: 11\r\n" in head
        following = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 15)
        assert following.startswith(b"HTTP/1.1 200")  # not "hello world" first
        assert await asyncio.wait_for(reader.readexactly(11), 15) == b"hello world"
    finally:
        writer.close()


@pytest.mark.parametrize("replaced", [False, True])
async def test_readiness_is_503_when_the_sqlite_file_is_removed_or_replaced(
    tmp_path: Path, replaced: bool
) -> None:
    """The open file still answers reads and writes; what is written is lost all the same."""
    path = tmp_path / "mesh.db"
    mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    mesh.use_storage(f"sqlite:///{path}")
    async with mesh:
        assert (await readiness(mesh.context, timeout=5.0)).status == 200
        path.unlink()
        if replaced:
            sqlite3.connect(path).close()
            path.write_bytes(b"")
        answer = await readiness(mesh.context, timeout=5.0)
        assert answer.status == 503
        down = json.loads(answer.body)["down"]
        word = "replaced" if replaced else "removed"
        assert down == {
            "backend": f"BackendError: the SQLite database {str(path)!r} was {word} while in use"
        }


async def test_uvicorns_access_log_stays_silent_whatever_its_logger_is_given() -> None:
    """A host's logging set-up often gives ``uvicorn.access`` a handler of its own; its line
    prints the query string, and a query carries tokens."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    async with HttpServer(mesh, port=0) as server:
        access = logging.getLogger("uvicorn.access")
        handler = Keep()
        access.addHandler(handler)
        access.setLevel(logging.INFO)
        try:
            async with httpx.AsyncClient(base_url=server.base_url) as client:
                await client.get("/health?token=s3cr3t")
                await client.get("/anything?token=s3cr3t")
        finally:
            access.removeHandler(handler)
            access.setLevel(logging.NOTSET)
    assert records == []
