"""The HTTP front over real HTTP: requests as the gateway sees them, the mesh's endpoints,
health, the body cap, failures that never reach the client, and the server's life."""

from __future__ import annotations

import asyncio
import logging
import socket

import httpx
import pytest

from eventmesh import Mesh, Telemetry
from eventmesh._errors import ConfigurationError, EventMeshError
from eventmesh._http_messages import HttpRequest, HttpResponse
from eventmesh.http import MAX_BODY, HttpServer, asgi_app, parse_address
from tests.http.conftest import Served


def record_requests(mesh: Mesh, path: str = "/_eventmesh/echo") -> list[HttpRequest]:
    """Serve ``path`` with a handler that keeps each request and answers 200 with its body."""
    seen: list[HttpRequest] = []

    async def echo(request: HttpRequest) -> HttpResponse:
        seen.append(request)
        return HttpResponse(200, [("content-type", "application/octet-stream")], request.body)

    mesh.context.endpoints.add(path, echo)
    return seen


async def test_a_request_reaches_an_endpoint_as_sent(served: Served) -> None:
    seen = record_requests(served.mesh, "/_eventmesh/echo path")
    response = await served.client.post(
        "/_eventmesh/echo%20path?a=1&a=2&b=%20x",
        content=b"\x00\xffbinary",
        headers=[("X-Multi", "one"), ("x-multi", "two"), ("User-Agent", "tester/1")],
    )
    assert response.status_code == 200
    assert response.content == b"\x00\xffbinary"
    (request,) = seen
    assert request.method == "POST"
    assert request.path == "/_eventmesh/echo path"
    assert request.raw_path == "/_eventmesh/echo%20path"
    assert request.query_string == "a=1&a=2&b=%20x"
    assert request.body == b"\x00\xffbinary"
    assert [v for k, v in request.headers if k == "x-multi"] == ["one", "two"]
    assert request.header("X-Multi") == "one,two"
    assert all(name == name.lower() for name, _ in request.headers)
    assert request.header("user-agent") == "tester/1"
    assert request.source_ip == "127.0.0.1"
    assert request.protocol == "HTTP/1.1"
    assert request.scheme == "http"
    assert abs(request.received_at - served.mesh.clock.time()) < 5


async def test_an_unknown_mesh_path_is_404(served: Served) -> None:
    response = await served.client.get("/_eventmesh/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}


async def test_liveness_and_readiness_while_running(served: Served) -> None:
    live = await served.client.get("/health")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    ready = await served.client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "mesh": "running", "backend": "ok"}
    head = await served.client.head("/health")
    assert head.status_code == 200 and head.content == b""


async def test_readiness_is_503_naming_the_mesh_when_it_is_not_running() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    server = HttpServer(mesh, port=0)
    await server.start()  # served, but the mesh was never started
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            assert (await client.get("/health")).status_code == 200
            ready = await client.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json() == {"status": "unavailable", "down": {"mesh": "not running"}}
            other = await client.get("/orders")
            assert other.status_code == 503
            assert other.json() == {"message": "Service Unavailable"}
    finally:
        await server.stop()


class FailingValues:
    """A key-value store whose reads and writes fail (a backend that is down)."""

    def __init__(self, error: Exception | None = None, hang: bool = False) -> None:
        self.error = error
        self.hang = hang

    async def get(self, key: str) -> None:
        if self.hang:
            await asyncio.Event().wait()
        raise self.error or ConnectionError("connection refused")

    async def put(self, key: str, value: bytes, **conditions: object) -> None:
        await self.get(key)


async def test_readiness_is_503_naming_the_backend_when_its_store_fails(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        served.mesh.backend,
        "values",
        FailingValues(ConnectionError("redis://user:hunter2@db:6379 refused")),
    )
    ready = await served.client.get("/health/ready")
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "unavailable"
    assert body["down"]["backend"].startswith("ConnectionError: ")
    assert "hunter2" not in ready.text  # a URL's credentials are masked
    assert (await served.client.get("/health")).status_code == 200


async def test_readiness_gives_a_backend_that_does_not_answer_a_deadline(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventmesh.http import _health

    monkeypatch.setattr(served.mesh.backend, "values", FailingValues(hang=True))
    monkeypatch.setattr(_health, "PROBE_TIMEOUT", 0.05)
    ready = await served.client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["down"] == {"backend": "no answer within 0.05 s"}


async def test_a_body_over_10_mb_is_413_and_never_reaches_a_handler(served: Served) -> None:
    seen = record_requests(served.mesh)
    assert MAX_BODY == 10 * 1024 * 1024  # API Gateway's payload quota
    at_limit = await served.client.post("/_eventmesh/echo", content=b"x" * MAX_BODY)
    assert at_limit.status_code == 200 and len(at_limit.content) == MAX_BODY
    over = await served.client.post("/_eventmesh/echo", content=b"x" * (MAX_BODY + 1))
    assert over.status_code == 413
    assert over.content == b"HTTP content length exceeded 10485760 bytes."  # AWS's literal
    assert len(seen) == 1

    async def chunked() -> object:
        for _ in range(11):
            yield b"y" * (1024 * 1024)

    streamed = await served.client.post("/_eventmesh/echo", content=chunked())
    assert streamed.status_code == 413
    assert len(seen) == 1


async def test_a_huge_declared_body_is_refused_without_being_read(served: Served) -> None:
    """A client declaring 1 GB gets its 413 at once, though it sent almost nothing."""
    host, port = served.server.address
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        b"POST /_eventmesh/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n"
        + b"z" * 1000
    )
    await writer.drain()
    started = asyncio.get_running_loop().time()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    assert status_line.startswith(b"HTTP/1.1 413")
    assert asyncio.get_running_loop().time() - started < 5
    writer.close()


async def test_a_failing_handler_is_a_500_without_its_traceback(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(request: HttpRequest) -> HttpResponse:
        raise RuntimeError("secret internals at /srv/app.py line 3")

    served.mesh.context.endpoints.add("/_eventmesh/broken", broken)
    with caplog.at_level(logging.ERROR, "eventmesh.http"):
        response = await served.client.get("/_eventmesh/broken")
    assert response.status_code == 500
    assert response.content == b'{"message":"Internal Server Error"}'
    assert "secret internals" not in response.text
    assert any("secret internals" in r.exc_text for r in caplog.records if r.exc_text)
    assert (await served.client.get("/health")).status_code == 200  # still serving


async def test_a_client_that_leaves_mid_request_does_not_hurt_the_server(served: Served) -> None:
    release = asyncio.Event()
    answered: list[bool] = []

    async def slow(request: HttpRequest) -> HttpResponse:
        await release.wait()
        answered.append(True)
        return HttpResponse(200, [], b"late")

    served.mesh.context.endpoints.add("/_eventmesh/slow", slow)
    host, port = served.server.address
    # One client leaves while its handler runs, another before its body arrived.
    _, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /_eventmesh/slow HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    _, partial = await asyncio.open_connection(host, port)
    partial.write(b"POST /_eventmesh/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
    await partial.drain()
    await asyncio.sleep(0.1)
    writer.close()
    partial.close()
    await asyncio.sleep(0.1)
    release.set()
    for _ in range(100):
        if answered:
            break
        await asyncio.sleep(0.01)
    assert answered == [True]
    assert (await served.client.get("/health")).status_code == 200


async def test_the_server_reports_its_address_and_sets_the_mesh_base_url(served: Served) -> None:
    host, port = served.server.address
    assert host == "127.0.0.1" and port > 0
    assert served.url == f"http://127.0.0.1:{port}"
    endpoints = served.mesh.context.endpoints
    assert endpoints.base_url == served.url
    assert endpoints.url("/_eventmesh/cert.pem") == f"{served.url}/_eventmesh/cert.pem"


async def test_stopping_clears_the_base_url_and_stops_a_mesh_it_started() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    async with HttpServer(mesh, port=0) as server:
        assert mesh.running and server.serving
        url = server.base_url
    assert not mesh.running and not server.serving
    assert mesh.context.endpoints.base_url is None
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(url + "/health")


async def test_a_mesh_run_by_its_owner_is_left_running() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    async with mesh:
        async with HttpServer(mesh, port=0):
            pass
        assert mesh.running


async def test_a_request_in_hand_finishes_when_the_server_stops() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))

    async def slow(request: HttpRequest) -> HttpResponse:
        await asyncio.sleep(0.3)
        return HttpResponse(200, [], b"finished")

    mesh.context.endpoints.add("/_eventmesh/slow", slow)
    async with mesh:
        server = HttpServer(mesh, port=0)
        await server.start()
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            call = asyncio.create_task(client.get("/_eventmesh/slow"))
            await asyncio.sleep(0.1)
            await server.stop()
            response = await call
        assert (response.status_code, response.content) == (200, b"finished")


async def test_a_taken_port_is_a_clear_error() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EventMeshError) as raised:
            async with HttpServer(mesh, port=port):
                pass
    assert str(raised.value) == (
        f"cannot serve HTTP on 127.0.0.1:{port}: Address already in use (another process "
        "listens there: choose another port, or 0 for a free one)"
    )
    assert not mesh.running


async def test_a_non_loopback_address_is_served_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    with caplog.at_level(logging.INFO, "eventmesh.http"):
        async with HttpServer(mesh, "0.0.0.0", 0) as server:
            assert server.base_url.startswith("http://127.0.0.1:")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "not a loopback address" in warnings[0].getMessage()


async def test_loopback_is_served_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    with caplog.at_level(logging.INFO, "eventmesh.http"):
        async with HttpServer(mesh, port=0) as server:
            pass
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(
        f"serving HTTP on http://127.0.0.1:{server.address[1]}" in r.getMessage()
        for r in caplog.records
    )


def test_the_default_host_is_loopback() -> None:
    server = HttpServer(Mesh(telemetry=Telemetry(enabled=False)))
    assert server.address == ("127.0.0.1", 8000)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8000", ("127.0.0.1", 8000)),
        (":0", ("127.0.0.1", 0)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("[::1]:8080", ("::1", 8080)),
        ("localhost:1", ("localhost", 1)),
    ],
)
def test_addresses_parse(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["", "host:", "host:port", "1.2.3.4:70000", "-1"])
def test_bad_addresses_are_refused(text: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_address(text)


def test_bad_settings_are_refused_at_the_call() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    with pytest.raises(ConfigurationError):
        asgi_app(mesh, max_body=-1)
    with pytest.raises(ConfigurationError):
        asgi_app(mesh, health_path="health")
    with pytest.raises(ConfigurationError):
        asgi_app("not a mesh")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        HttpServer(mesh, port=70000)


async def test_health_can_be_moved_or_switched_off(http_mesh: Mesh) -> None:
    seen = record_requests(http_mesh, "/_eventmesh/echo")
    app = asgi_app(http_mesh, health_path="/_health")
    async with (
        HttpServer(http_mesh, port=0, app=app) as server,
        httpx.AsyncClient(base_url=server.base_url) as client,
    ):
        assert (await client.get("/_health")).status_code == 200
        assert (await client.get("/_health/ready")).status_code == 200
        assert (await client.get("/health")).status_code != 200  # the gateway's now
    assert not seen


@pytest.mark.parametrize("status", [204, 304])
async def test_a_204_or_304_goes_out_without_a_body(served: Served, status: int) -> None:
    async def answer(request: HttpRequest) -> HttpResponse:
        return HttpResponse(status, [("x-kept", "yes")], b"dropped")

    served.mesh.context.endpoints.add("/_eventmesh/empty", answer)
    response = await served.client.get("/_eventmesh/empty")
    assert (response.status_code, response.content) == (status, b"")
    assert "content-length" not in response.headers
    assert response.headers["x-kept"] == "yes"
    assert (await served.client.get("/health")).status_code == 200  # the connection is sound


@pytest.mark.parametrize(
    "bad",
    [
        HttpResponse(101),
        HttpResponse(199),
        HttpResponse(600),
        HttpResponse(200, [("x-split", "a\r\nset-cookie: injected=1")]),
        HttpResponse(200, [("bad name", "v")]),
        HttpResponse(200, [("x-nul", "a\x00b")]),
        HttpResponse(200, [], "text, not bytes"),  # type: ignore[arg-type]
    ],
    ids=["101", "199", "600", "crlf", "name", "nul", "str-body"],
)
async def test_an_answer_that_cannot_go_on_the_wire_is_a_clean_500(
    served: Served, bad: HttpResponse, caplog: pytest.LogCaptureFixture
) -> None:
    async def answer(request: HttpRequest) -> HttpResponse:
        return bad

    served.mesh.context.endpoints.add("/_eventmesh/bad", answer)
    with caplog.at_level(logging.ERROR, "eventmesh.http"):
        response = await served.client.get("/_eventmesh/bad")
    assert response.status_code == 500
    assert response.content == b'{"message":"Internal Server Error"}'
    assert "injected" not in response.headers.get("set-cookie", "")
    assert any("cannot be sent" in r.getMessage() for r in caplog.records)
    assert not any("a\r\nset-cookie" in r.getMessage() for r in caplog.records)
    assert (await served.client.get("/health")).status_code == 200


async def test_header_values_are_sent_trimmed_latin1_else_utf8(served: Served) -> None:
    async def answer(request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, [("x-padded", "  v  "), ("x-latin", "café"), ("x-cup", "☕")])

    served.mesh.context.endpoints.add("/_eventmesh/h", answer)
    response = await served.client.get("/_eventmesh/h")
    raw = dict(response.headers.raw)
    assert raw[b"x-padded"] == b"v"
    assert raw[b"x-latin"] == b"caf\xe9"
    assert raw[b"x-cup"] == "☕".encode()


async def test_a_smaller_body_cap_is_honoured(http_mesh: Mesh) -> None:
    seen = record_requests(http_mesh)
    async with (
        HttpServer(http_mesh, port=0, max_body=10) as server,
        httpx.AsyncClient(base_url=server.base_url) as client,
    ):
        assert (await client.post("/_eventmesh/echo", content=b"x" * 10)).status_code == 200
        assert (await client.post("/_eventmesh/echo", content=b"x" * 11)).status_code == 413
    assert len(seen) == 1
