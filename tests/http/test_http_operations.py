"""Access logs and spans of the HTTP front, over real HTTP."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from eventmesh import Mesh, Telemetry
from eventmesh._http_messages import HttpRequest, HttpResponse
from eventmesh.http import HttpServer
from eventmesh.http._access_log import request_time
from tests.http.conftest import Served

ACCESS_FIELDS = {
    "requestId",
    "ip",
    "requestTime",
    "httpMethod",
    "routeKey",
    "status",
    "protocol",
    "responseLength",
    "integrationLatency",
}


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        json.loads(record.getMessage())
        for record in caplog.records
        if record.name == "eventmesh.http.access"
    ]


async def test_each_request_is_one_json_line_with_api_gateways_fields(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    async def ok(request: HttpRequest) -> HttpResponse:
        return HttpResponse(201, [], b"12345")

    served.mesh.context.endpoints.add("/_eventmesh/ok", ok)
    with caplog.at_level(logging.INFO, "eventmesh.http.access"):
        await served.client.post("/_eventmesh/ok", content=b"abc")
        await served.client.get("/_eventmesh/missing")
    first, second = access_lines(caplog)
    assert set(first) >= ACCESS_FIELDS
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", first["requestId"]
    )
    assert first["requestId"] != second["requestId"]
    assert first["ip"] == "127.0.0.1"
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", first["requestTime"])
    assert (first["httpMethod"], first["status"], first["protocol"]) == ("POST", "201", "HTTP/1.1")
    assert first["responseLength"] == "5"
    assert first["routeKey"] == "-" and first["integrationLatency"] == "-"  # no API's route
    assert all(isinstance(value, str) for value in first.values())  # as API Gateway writes them
    assert (second["status"], second["path"]) == ("404", "/_eventmesh/missing")


def test_request_time_is_clf_as_api_gateway_writes_it() -> None:
    # AWS's sample: "requestTime": "04/Mar/2020:19:15:17 +0000", "requestTimeEpoch": 1583349317135
    assert request_time(1583349317.135) == "04/Mar/2020:19:15:17 +0000"


async def test_no_secret_reaches_the_access_log(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    async def ok(request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, [("set-cookie", "session=s3cr3t-cookie")], b"body-s3cr3t")

    served.mesh.context.endpoints.add("/_eventmesh/ok", ok)
    with caplog.at_level(logging.DEBUG):
        await served.client.post(
            "/_eventmesh/ok?token=s3cr3t-query",
            content=b"s3cr3t-body",
            headers={
                "authorization": "Bearer s3cr3t-token",
                "x-api-key": "s3cr3t-key",
                "cookie": "session=s3cr3t-cookie",
            },
        )
    (line,) = access_lines(caplog)
    assert line["status"] == "200"
    # The client's own logs (httpx) show its URL; no server-side logger may (uvicorn's
    # access log, which prints the query string, included).
    for record in caplog.records:
        if record.name.startswith(("httpx", "httpcore")):
            continue
        text = record.getMessage() + json.dumps(getattr(record, "http_access", {}))
        assert "s3cr3t" not in text, record.name


async def test_health_probes_are_not_logged(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, "eventmesh.http.access"):
        await served.client.get("/health")
        await served.client.get("/health/ready")
    assert access_lines(caplog) == []


async def test_a_413_is_logged_with_its_reason(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, "eventmesh.http.access"):
        await served.client.post("/anything", content=b"x" * (10 * 1024 * 1024 + 1))
    (line,) = access_lines(caplog)
    assert line["status"] == "413"
    assert line["errorMessage"] == "request body over 10485760 bytes"


# -- spans ---------------------------------------------------------------------------------
@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def traced(spans: InMemorySpanExporter) -> AsyncIterator[Served]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    mesh = Mesh(telemetry=Telemetry(provider, enabled=True), drain_timeout=2.0)
    async with (
        HttpServer(mesh, port=0) as server,
        httpx.AsyncClient(base_url=server.base_url) as client,
    ):
        yield Served(mesh, server, client)


def server_spans(spans: InMemorySpanExporter) -> list[Any]:
    return [s for s in spans.get_finished_spans() if "http.request.method" in (s.attributes or {})]


async def test_a_request_is_a_server_span_after_the_http_conventions(
    traced: Served, spans: InMemorySpanExporter
) -> None:
    async def ok(request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, [], b"ok")

    traced.mesh.context.endpoints.add("/_eventmesh/ok", ok)
    await traced.client.get("/_eventmesh/ok?x=1", headers={"user-agent": "probe/2"})
    (span,) = server_spans(spans)
    port = traced.server.address[1]
    assert span.kind == SpanKind.SERVER
    assert span.name == "GET /_eventmesh/ok"
    assert dict(span.attributes or {}) == {
        "http.request.method": "GET",
        "url.path": "/_eventmesh/ok",
        "url.scheme": "http",
        "url.query": "x=REDACTED",
        "network.protocol.version": "1.1",
        "server.address": "127.0.0.1",
        "server.port": port,
        "client.address": "127.0.0.1",
        "user_agent.original": "probe/2",
        "http.route": "/_eventmesh/ok",
        "http.response.status_code": 200,
    }
    assert span.status.status_code == StatusCode.UNSET


async def test_a_5xx_marks_the_span_as_an_error_and_a_4xx_does_not(
    traced: Served, spans: InMemorySpanExporter
) -> None:
    async def broken(request: HttpRequest) -> HttpResponse:
        raise RuntimeError("boom")

    traced.mesh.context.endpoints.add("/_eventmesh/broken", broken)
    await traced.client.get("/_eventmesh/broken")
    await traced.client.get("/_eventmesh/missing")
    failed, missing = server_spans(spans)
    assert failed.status.status_code == StatusCode.ERROR
    assert (failed.attributes or {})["error.type"] == "500"
    assert missing.status.status_code == StatusCode.UNSET
    assert (missing.attributes or {})["http.response.status_code"] == 404
    assert missing.name == "GET"  # no route matched: the method alone
    assert "http.route" not in (missing.attributes or {})


async def test_the_http_span_is_the_parent_of_the_invocation_span(
    traced: Served, spans: InMemorySpanExporter
) -> None:
    """The front hands its span's context on in HttpRequest.trace_context; an invocation
    made with it as parent (as the gateway makes it) is the HTTP span's child."""
    mesh = traced.mesh

    @mesh.function
    async def work(event: Any, context: Any) -> str:
        return "done"

    async def invoke(request: HttpRequest) -> HttpResponse:
        result = await mesh.context.invoke_sync(
            mesh.resolve_function("work"),
            {},
            trigger="http",
            parent_context=request.trace_context,
        )
        return HttpResponse(200, [], str(result.payload).encode())

    mesh.context.endpoints.add("/_eventmesh/invoke", invoke)
    response = await traced.client.get("/_eventmesh/invoke")
    assert response.status_code == 200
    (http_span,) = server_spans(spans)
    (invocation,) = [s for s in spans.get_finished_spans() if s.name == "work"]
    assert invocation.parent is not None
    assert invocation.parent.span_id == http_span.context.span_id
    assert invocation.context.trace_id == http_span.context.trace_id


async def test_a_callers_traceparent_makes_the_http_span_its_child(
    traced: Served, spans: InMemorySpanExporter
) -> None:
    async def ok(request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, [], b"ok")

    traced.mesh.context.endpoints.add("/_eventmesh/ok", ok)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    await traced.client.get(
        "/_eventmesh/ok", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
    )
    (span,) = server_spans(spans)
    assert trace.format_trace_id(span.context.trace_id) == trace_id
    assert (
        span.parent is not None and trace.format_span_id(span.parent.span_id) == "00f067aa0ba902b7"
    )


async def test_no_span_is_made_while_telemetry_is_off(served: Served) -> None:
    assert served.mesh.telemetry.tracer is None
    seen: list[HttpRequest] = []

    async def ok(request: HttpRequest) -> HttpResponse:
        seen.append(request)
        return HttpResponse(200, [], b"ok")

    served.mesh.context.endpoints.add("/_eventmesh/ok", ok)
    await served.client.get("/_eventmesh/ok")
    assert seen[0].trace_context is None
