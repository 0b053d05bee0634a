"""The three front doors end to end through real HTTP: an HTTP API (payload 2.0), a REST API
(payload 1.0, binary media types) and a function URL, with binary round trips and API
Gateway's errors as a client sees them; the access log and the spans of routed requests."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayProxyEventModel,
    APIGatewayProxyEventV2Model,
    LambdaFunctionUrlModel,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from eventmesh import Context, Mesh, Telemetry
from eventmesh.http import HttpServer

PNG = b"\x89PNG\r\n\x1a\n\x00\xff\xfe binary \x00"


def build(mesh: Mesh, events: list[dict[str, Any]]) -> None:
    """An HTTP API at the root, a REST API under /admin, a function URL."""

    @mesh.function(name="order")
    def order(event: dict[str, Any], context: Context) -> dict[str, Any]:
        events.append(event)
        return {"id": event["pathParameters"]["id"], "ok": True}  # no statusCode: 200 JSON

    @mesh.function(name="fails")
    def fails(event: dict[str, Any], context: Context) -> None:
        raise ValueError("bad order")

    def reversed_body(event: dict[str, Any]) -> dict[str, Any]:
        events.append(event)
        body = base64.b64decode(event["body"]) if event["isBase64Encoded"] else b""
        return {
            "statusCode": 201,
            "headers": {"content-type": "image/png"},
            "isBase64Encoded": True,
            "body": base64.b64encode(body[::-1]).decode(),
        }

    @mesh.function(name="flip")
    def flip(event: dict[str, Any], context: Context) -> dict[str, Any]:
        return reversed_body(event)

    @mesh.function(name="no_status")
    def no_status(event: dict[str, Any], context: Context) -> dict[str, Any]:
        return {"hello": "world"}

    @mesh.function(name="thumb", url=True)
    def thumb(event: dict[str, Any], context: Context) -> dict[str, Any]:
        return reversed_body(event)

    shop = mesh.http_api("shop")
    shop.route("GET /orders/{id}", "order")
    shop.route("POST /fail", "fails")
    admin = mesh.rest_api("admin", base_path="admin", binary_media_types=["image/png"])
    admin.route("POST /images", "flip")
    admin.route("GET /plain", "no_status")
    admin.route("GET /broken", "fails")


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def front(
    spans: InMemorySpanExporter,
) -> AsyncIterator[tuple[httpx.AsyncClient, list[dict[str, Any]]]]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    mesh = Mesh(telemetry=Telemetry(provider, enabled=True), drain_timeout=2.0)
    events: list[dict[str, Any]] = []
    build(mesh, events)
    async with (
        HttpServer(mesh, port=0) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=30) as client,
    ):
        yield client, events


async def test_an_http_api_route_end_to_end(
    front: tuple[httpx.AsyncClient, list[dict[str, Any]]],
) -> None:
    client, events = front
    response = await client.get("/orders/42?x=1&x=2", headers={"x-tag": "a"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"id": "42", "ok": True}
    assert response.headers["apigw-requestid"]
    (event,) = events
    APIGatewayProxyEventV2Model.model_validate(event)
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /orders/{id}"
    assert event["rawPath"] == "/orders/42"
    assert event["rawQueryString"] == "x=1&x=2"
    assert event["queryStringParameters"] == {"x": "1,2"}
    assert event["headers"]["x-tag"] == "a"
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"


async def test_http_api_errors_as_a_client_sees_them(
    front: tuple[httpx.AsyncClient, list[dict[str, Any]]],
) -> None:
    client, _ = front
    missing = await client.get("/nowhere")
    assert (missing.status_code, missing.content) == (404, b'{"message":"Not Found"}')
    failed = await client.post("/fail")
    assert (failed.status_code, failed.content) == (500, b'{"message":"Internal Server Error"}')


async def test_a_rest_api_binary_round_trip(
    front: tuple[httpx.AsyncClient, list[dict[str, Any]]],
) -> None:
    client, events = front
    response = await client.post(
        "/admin/images", content=PNG, headers={"content-type": "image/png", "accept": "image/png"}
    )
    assert response.status_code == 201
    assert response.content == PNG[::-1]
    (event,) = events
    APIGatewayProxyEventModel.model_validate(event)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == PNG
    assert event["resource"] == "/images"
    assert event["httpMethod"] == "POST"


async def test_rest_api_errors_as_a_client_sees_them(
    front: tuple[httpx.AsyncClient, list[dict[str, Any]]],
) -> None:
    client, _ = front
    missing = await client.get("/admin/nowhere")
    assert missing.status_code == 403
    assert missing.content == b'{"message":"Missing Authentication Token"}'
    no_status = await client.get("/admin/plain")  # payload 1.0 needs statusCode
    assert no_status.status_code == 502
    assert no_status.content == b'{"message": "Internal server error"}'
    broken = await client.get("/admin/broken")
    assert (broken.status_code, broken.content) == (502, b'{"message": "Internal server error"}')


async def test_a_function_url_binary_round_trip(
    front: tuple[httpx.AsyncClient, list[dict[str, Any]]],
) -> None:
    client, events = front
    response = await client.post(
        "/_lambda-url/thumb/resize?w=10", content=PNG, headers={"content-type": "image/png"}
    )
    assert response.status_code == 201
    assert response.content == PNG[::-1]
    assert response.headers["content-type"] == "image/png"
    (event,) = events
    LambdaFunctionUrlModel.model_validate(event)
    assert (event["routeKey"], event["requestContext"]["stage"]) == ("$default", "$default")
    assert event["rawPath"] == "/resize"
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == PNG


async def test_a_routed_request_is_logged_with_its_route_and_latency(
    front: tuple[httpx.AsyncClient, list[dict[str, Any]]], caplog: pytest.LogCaptureFixture
) -> None:
    client, _ = front
    with caplog.at_level(logging.INFO, "eventmesh.http.access"):
        response = await client.get("/orders/7")
        await client.get("/nowhere")
    found, missing = [
        json.loads(r.getMessage()) for r in caplog.records if r.name == "eventmesh.http.access"
    ]
    assert found["routeKey"] == "GET /orders/{id}"
    assert found["requestId"] == response.headers["apigw-requestid"]
    assert found["integrationLatency"].isdigit()
    assert found["status"] == "200" and found["apiId"] != "-" and found["stage"] == "$default"
    assert missing["routeKey"] == "-" and missing["status"] == "404"


async def test_the_routed_requests_span_parents_the_invocation(
    front: tuple[httpx.AsyncClient, list[dict[str, Any]]], spans: InMemorySpanExporter
) -> None:
    client, _ = front
    await client.get("/orders/9")
    await client.post("/fail")
    finished = spans.get_finished_spans()
    http_spans = [s for s in finished if "http.request.method" in (s.attributes or {})]
    ok, failed = http_spans
    assert ok.name == "GET /orders/{id}"
    assert (ok.attributes or {})["http.route"] == "/orders/{id}"
    (invocation,) = [s for s in finished if s.name == "order"]
    assert invocation.parent is not None and invocation.parent.span_id == ok.context.span_id
    assert failed.name == "POST /fail"
    assert failed.status.status_code == StatusCode.ERROR
    assert (failed.attributes or {})["http.response.status_code"] == 500
