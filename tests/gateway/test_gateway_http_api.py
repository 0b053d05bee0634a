"""HTTP APIs: payload 2.0 (and 1.0) events as AWS sends them, the response rules, and API
Gateway's errors. Expected values are written from the reference (§1.2, §1.3, §1.6)."""

from __future__ import annotations

import asyncio
import base64
import re
from typing import Any

import orjson
import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayProxyEventModel,
    APIGatewayProxyEventV2Model,
)
from gateway_helpers import EPOCH, call, echo, header, request

from eventmesh import ConfigurationError, Context, Mesh
from eventmesh.testing import VirtualClock


async def _event(mesh: Mesh, req: Any, key: str = "ANY /{proxy+}", **route: Any) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []

    @mesh.function(name="capture")
    def capture(event: dict[str, Any], context: Context) -> dict[str, Any]:
        seen.append(event)
        return {"statusCode": 200}

    mesh.http_api("shop").route(key, "capture", **route)
    async with mesh:
        answer = await call(mesh, req)
    assert answer.response.status == 200, answer
    return seen[0]


async def test_a_payload_2_0_event_has_awss_fields(mesh: Mesh) -> None:
    req = request(
        "POST",
        "/orders/a%20b?parameter1=value1&parameter1=value2&parameter2=value",
        body='{"n": 1}',
        headers=[
            ("Content-Type", "application/json"),
            ("User-Agent", "agent"),
            ("X-Multi", "value1"),
            ("X-Multi", "value2"),
            ("Cookie", "cookie1=a; cookie2=b"),
        ],
    )
    event = await _event(mesh, req, "POST /orders/{id}")
    api_id = mesh.http_api("shop").id
    assert re.fullmatch(r"[a-z0-9]{10}", api_id)
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /orders/{id}"
    assert event["rawPath"] == "/orders/a%20b"
    assert event["rawQueryString"] == "parameter1=value1&parameter1=value2&parameter2=value"
    assert event["cookies"] == ["cookie1=a", "cookie2=b"]
    assert event["headers"]["x-multi"] == "value1,value2"
    assert "cookie" not in event["headers"]
    assert event["queryStringParameters"] == {"parameter1": "value1,value2", "parameter2": "value"}
    assert event["pathParameters"] == {"id": "a b"}
    assert event["body"] == '{"n": 1}'
    assert event["isBase64Encoded"] is False
    assert "stageVariables" not in event
    context = event["requestContext"]
    assert context["accountId"] == "123456789012"
    assert context["apiId"] == api_id
    assert context["domainName"] == f"{api_id}.execute-api.us-east-1.amazonaws.com"
    assert context["domainPrefix"] == api_id
    assert context["http"] == {
        "method": "POST",
        "path": "/orders/a b",
        "protocol": "HTTP/1.1",
        "sourceIp": "192.0.2.1",
        "userAgent": "agent",
    }
    assert context["routeKey"] == "POST /orders/{id}"
    assert context["stage"] == "$default"
    assert context["time"] == "01/Jan/2026:00:00:00 +0000"
    assert context["timeEpoch"] == 1767225600125  # milliseconds
    assert re.fullmatch(r"[A-Za-z0-9+/]{15}=", context["requestId"])
    assert "authorizer" not in context and "authentication" not in context
    APIGatewayProxyEventV2Model.model_validate(event)
    data = APIGatewayProxyEventV2(event)
    assert data.path_parameters == {"id": "a b"}
    assert data.cookies == ["cookie1=a", "cookie2=b"]
    assert data.request_context.http.method == "POST"
    assert data.raw_query_string == "parameter1=value1&parameter1=value2&parameter2=value"


async def test_a_request_without_query_cookies_or_body_leaves_those_keys_out(mesh: Mesh) -> None:
    event = await _event(mesh, request("GET", "/"), "$default")
    assert event["routeKey"] == "$default"
    assert event["rawQueryString"] == ""
    for key in ("cookies", "queryStringParameters", "pathParameters", "body", "stageVariables"):
        assert key not in event
    assert event["isBase64Encoded"] is False
    APIGatewayProxyEventV2Model.model_validate(event)


async def test_stage_variables_are_in_the_event(clock: VirtualClock) -> None:
    from eventmesh import Telemetry

    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False))
    seen: list[dict[str, Any]] = []

    @mesh.function(name="capture")
    def capture(event: dict[str, Any], context: Context) -> None:
        seen.append(event)

    mesh.http_api("shop", stage_variables={"table": "orders"}).route("GET /x", "capture")
    async with mesh:
        await call(mesh, request("GET", "/x"))
    assert seen[0]["stageVariables"] == {"table": "orders"}


@pytest.mark.parametrize(
    ("content_type", "encoded"),
    [
        ("application/octet-stream", True),
        ("image/png", True),
        ("text/plain; charset=utf-8", False),
        ("application/json", False),
        ("application/xml", False),
        ("application/javascript", False),
        ("application/vnd.api+json", False),
        ("application/x-www-form-urlencoded", False),
    ],
)
async def test_a_body_is_base64_unless_its_content_type_is_textual(
    mesh: Mesh, content_type: str, encoded: bool
) -> None:
    body = b"\x00\x01hello\xff" if encoded else b"hello"
    req = request("POST", "/up", body=body, headers=[("content-type", content_type)])
    event = await _event(mesh, req, "POST /up")
    assert event["isBase64Encoded"] is encoded
    assert event["body"] == (base64.b64encode(body).decode() if encoded else "hello")


async def test_payload_1_0_on_an_http_api_has_version_1_0(mesh: Mesh) -> None:
    req = request("GET", "/items/7?a=1&a=2", headers=[("x-h", "1"), ("x-h", "2")])
    event = await _event(mesh, req, "GET /items/{id}", payload_format_version="1.0")
    assert event["version"] == "1.0"
    assert event["resource"] == "/items/{id}"
    assert event["path"] == "/items/7"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"id": "7"}
    assert event["queryStringParameters"] == {"a": "2"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
    assert event["multiValueHeaders"]["X-H"] == ["1", "2"]
    assert event["headers"]["X-H"] == "2"
    assert event["requestContext"]["stage"] == "$default"
    assert event["requestContext"]["requestTimeEpoch"] == 1767225600125
    APIGatewayProxyEventModel.model_validate(event)


async def test_payload_2_0_header_names_stay_lower_case_as_aws(mesh: Mesh) -> None:
    req = request("GET", "/h", headers=[("Content-Type", "text/plain"), ("X-Api-Key", "k")])
    event = await _event(mesh, req, "GET /h")
    assert event["headers"]["content-type"] == "text/plain"
    assert event["headers"]["x-api-key"] == "k"
    assert all(name.islower() for name in event["headers"])


async def test_payload_1_0_on_an_http_api_has_canonical_header_names(mesh: Mesh) -> None:
    req = request("GET", "/h", headers=[("content-type", "text/plain"), ("cookie", "a=1")])
    event = await _event(mesh, req, "GET /h", payload_format_version="1.0")
    assert event["headers"]["Content-Type"] == "text/plain"
    assert event["headers"]["Cookie"] == "a=1"
    assert event["multiValueHeaders"]["Content-Type"] == ["text/plain"]


async def test_payload_format_version_is_checked(mesh: Mesh) -> None:
    with pytest.raises(ConfigurationError, match="payload_format_version"):
        mesh.http_api("shop", payload_format_version="3.0")


# -- responses ---------------------------------------------------------------------------------
async def _answer(mesh: Mesh, result: Any, version: str = "2.0", **req: Any) -> Any:
    @mesh.function(name="fn")
    def fn(event: dict[str, Any], context: Context) -> Any:
        return result

    mesh.http_api("shop").route("ANY /{proxy+}", "fn", payload_format_version=version)
    async with mesh:
        return (await call(mesh, request("GET", "/x", **req))).response


async def test_a_result_without_status_code_is_a_200_json_response(mesh: Mesh) -> None:
    response = await _answer(mesh, {"message": "Hello from Lambda!"})
    assert response.status == 200
    assert header(response, "content-type") == ["application/json"]
    assert orjson.loads(response.body) == {"message": "Hello from Lambda!"}


async def test_a_string_result_is_the_body_as_is(mesh: Mesh) -> None:
    response = await _answer(mesh, "Hello from Lambda!")
    assert response.status == 200
    assert response.body == b"Hello from Lambda!"
    assert header(response, "content-type") == ["application/json"]


async def test_a_structured_response_with_cookies_and_base64(mesh: Mesh) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\xff"
    response = await _answer(
        mesh,
        {
            "statusCode": 201,
            "headers": {"content-type": "image/png", "x-n": 5},
            "cookies": ["a=1; Secure", "b=2"],
            "isBase64Encoded": True,
            "body": base64.b64encode(png).decode(),
        },
    )
    assert response.status == 201
    assert response.body == png
    assert header(response, "set-cookie") == ["a=1; Secure", "b=2"]
    assert header(response, "x-n") == ["5"]


async def test_payload_1_0_without_status_code_is_500(mesh: Mesh) -> None:
    response = await _answer(mesh, {"body": "x"}, version="1.0")
    assert response.status == 500
    assert response.body == b'{"message":"Internal Server Error"}'


async def test_a_function_error_is_500(mesh: Mesh) -> None:
    @mesh.function(name="boom")
    def boom(event: dict[str, Any], context: Context) -> None:
        raise RuntimeError("secret detail")

    mesh.http_api("shop").route("GET /boom", boom)
    async with mesh:
        answer = await call(mesh, request("GET", "/boom"))
    assert answer.response.status == 500
    assert answer.response.body == b'{"message":"Internal Server Error"}'
    assert b"secret" not in answer.response.body
    assert answer.route_key == "GET /boom"
    assert answer.integration_latency_ms is not None


async def test_a_malformed_2_0_response_is_500(mesh: Mesh) -> None:
    response = await _answer(mesh, {"statusCode": "abc"})
    assert response.status == 500
    assert response.body == b'{"message":"Internal Server Error"}'


async def test_no_route_is_404_not_found(mesh: Mesh) -> None:
    mesh.function(echo)
    mesh.http_api("shop").route("GET /a", "echo")
    async with mesh:
        answer = await call(mesh, request("GET", "/b"))
        post = await call(mesh, request("POST", "/a"))
    assert answer.response.status == 404
    assert answer.response.body == b'{"message":"Not Found"}'
    assert answer.route_key is None and answer.integration_latency_ms is None
    assert post.response.status == 404
    assert header(answer.response, "apigw-requestid") == [answer.request_id]


async def test_a_throttled_function_is_429(mesh: Mesh) -> None:
    gate = asyncio.Event()

    @mesh.function(name="slow", reserved_concurrency=1)
    async def slow(event: dict[str, Any], context: Context) -> str:
        await gate.wait()
        return "done"

    mesh.http_api("shop").route("GET /slow", slow)
    async with mesh:
        first = asyncio.ensure_future(call(mesh, request("GET", "/slow")))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        second = await call(mesh, request("GET", "/slow"))
        gate.set()
        assert (await first).response.status == 200
    assert second.response.status == 429
    assert second.response.body == b'{"message":"Too Many Requests"}'


async def test_past_the_integration_timeout_is_503(mesh: Mesh, clock: VirtualClock) -> None:
    finished: list[float] = []

    @mesh.function(name="slow", timeout=60)
    async def slow(event: dict[str, Any], context: Context) -> str:
        await clock.sleep(45)
        finished.append(clock.now())
        return "late"

    mesh.http_api("shop").route("GET /slow", slow)
    async with mesh:
        started = clock.now()
        pending = asyncio.ensure_future(call(mesh, request("GET", "/slow")))
        await clock.advance(29.9)
        assert not pending.done()
        await clock.advance(0.1)
        assert pending.done()
        answer = await pending
        await clock.advance(20)
        assert finished == [started + 45]  # the invocation ran on to its end
    assert answer.response.status == 503
    assert answer.response.body == b'{"message":"Service Unavailable"}'


async def test_the_integration_timeout_is_configurable(mesh: Mesh, clock: VirtualClock) -> None:
    @mesh.function(name="slow", timeout=60)
    async def slow(event: dict[str, Any], context: Context) -> str:
        await clock.sleep(10)
        return "late"

    mesh.http_api("shop", timeout=5).route("GET /slow", slow)
    mesh.http_api("shop").route("GET /fast", slow, timeout=15)
    async with mesh:
        pending = asyncio.ensure_future(call(mesh, request("GET", "/slow")))
        fast = asyncio.ensure_future(call(mesh, request("GET", "/fast")))
        await clock.advance(4.9)
        assert not pending.done()  # the API's 5 s, not less
        await clock.advance(0.1)
        assert pending.done()  # nor the default 30 s
        assert (await pending).response.status == 503
        await clock.advance(5)
        assert (await fast).response.status == 200
    with pytest.raises(ConfigurationError, match="timeout"):
        mesh.http_api("other", timeout=31, base_path="o")


async def test_a_body_over_10_mb_is_413(mesh: Mesh) -> None:
    mesh.function(echo)
    mesh.http_api("shop").route("POST /up", "echo")
    async with mesh:
        answer = await call(mesh, request("POST", "/up", body=b"x" * (10 * 1024 * 1024 + 1)))
    assert answer.response.status == 413
    assert answer.response.body == b"HTTP content length exceeded 10485760 bytes."


async def test_an_event_over_lambdas_6_mb_is_413(mesh: Mesh) -> None:
    mesh.function(echo)
    mesh.http_api("shop").route("POST /up", "echo")
    async with mesh:
        answer = await call(mesh, request("POST", "/up", body=b"x" * (7 * 1024 * 1024)))
    assert answer.response.status == 413
    assert answer.response.body == b'{"message":"Request Entity Too Large"}'


async def test_request_time_comes_from_the_clock_when_the_front_gives_none(mesh: Mesh) -> None:
    event = await _event(mesh, request("GET", "/t", received_at=0.0))
    assert event["requestContext"]["timeEpoch"] == int(EPOCH * 1000)
