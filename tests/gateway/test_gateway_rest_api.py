"""REST APIs: payload 1.0 events (no ``version``), stages in execute-api URLs, the resource
tree, binary media types, API keys, SAM-style CORS, and API Gateway's REST errors."""

from __future__ import annotations

import asyncio
import base64
import re
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventModel
from gateway_helpers import call, echo, header, request

from eventmesh import ConfigurationError, Context, Mesh
from eventmesh.testing import VirtualClock

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


async def _capture(mesh: Mesh, req: Any, key: str = "ANY /{proxy+}", **api: Any) -> Any:
    seen: list[dict[str, Any]] = []

    @mesh.function(name="capture")
    def capture(event: dict[str, Any], context: Context) -> dict[str, Any]:
        seen.append(event)
        return {"statusCode": 200, "body": "ok"}

    rest = mesh.rest_api("admin", **api)
    rest.route(key, "capture")
    async with mesh:
        answer = await call(mesh, req(rest) if callable(req) else req)
    assert answer.response.status == 200, answer
    return seen[0], rest, answer


async def test_a_rest_event_has_awss_fields_and_no_version(mesh: Mesh) -> None:
    def req(api: Any) -> Any:
        return request(
            "GET",
            "/prod/pets/dog%201?a=1&a=2&b=x",
            host=f"{api.id}.execute-api.localhost:8000",
            headers=[("user-agent", "agent"), ("x-m", "1"), ("x-m", "2")],
        )

    event, api, answer = await _capture(mesh, req, "GET /pets/{id}", stage="prod")
    assert "version" not in event
    assert event["resource"] == "/pets/{id}"
    assert event["path"] == "/pets/dog 1"
    assert event["httpMethod"] == "GET"
    assert event["headers"]["X-M"] == "2"
    assert event["multiValueHeaders"]["X-M"] == ["1", "2"]
    assert event["queryStringParameters"] == {"a": "2", "b": "x"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x"]}
    assert event["pathParameters"] == {"id": "dog 1"}
    assert event["stageVariables"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["stage"] == "prod"
    assert context["path"] == "/prod/pets/dog 1"
    assert context["resourcePath"] == "/pets/{id}"
    assert context["httpMethod"] == "GET"
    assert context["apiId"] == api.id
    assert context["domainName"] == f"{api.id}.execute-api.localhost"
    assert context["domainPrefix"] == api.id
    assert context["requestTime"] == "01/Jan/2026:00:00:00 +0000"
    assert context["requestTimeEpoch"] == 1767225600125
    assert re.fullmatch(UUID, context["requestId"])
    assert re.fullmatch(r"[A-Za-z0-9+/]{15}=", context["extendedRequestId"])
    assert context["identity"]["sourceIp"] == "192.0.2.1"
    assert context["identity"]["userAgent"] == "agent"
    assert context["identity"]["accessKey"] is None and context["identity"]["user"] is None
    assert "authorizer" not in context
    assert header(answer.response, "x-amzn-requestid") == [context["requestId"]]
    APIGatewayProxyEventModel.model_validate(event)
    data = APIGatewayProxyEvent(event)
    assert data.resource == "/pets/{id}"
    assert data.path_parameters == {"id": "dog 1"}
    assert data.multi_value_query_string_parameters == {"a": ["1", "2"], "b": ["x"]}
    assert data.request_context.stage == "prod"


async def test_the_default_stage_is_prod_as_sams_implicit_api(mesh: Mesh) -> None:
    event, api, _ = await _capture(
        mesh, lambda api: request("GET", "/Prod/x", host=f"{api.id}.execute-api.x")
    )
    assert api.stage == "Prod" and event["requestContext"]["stage"] == "Prod"
    assert event["path"] == "/x"


async def test_stage_variables_are_passed(mesh: Mesh) -> None:
    event, _, _ = await _capture(
        mesh, request("GET", "/a"), stage="prod", stage_variables={"table": "orders-prod"}
    )
    assert event["stageVariables"] == {"table": "orders-prod"}


async def test_a_missing_route_is_403_missing_authentication_token(mesh: Mesh) -> None:
    mesh.function(echo)
    mesh.rest_api("admin").route("GET /pets", "echo")
    async with mesh:
        unknown = await call(mesh, request("GET", "/toys"))
        method = await call(mesh, request("DELETE", "/pets"))
    for answer in (unknown, method):
        assert answer.response.status == 403
        assert answer.response.body == b'{"message":"Missing Authentication Token"}'
        assert header(answer.response, "x-amzn-errortype") == [
            "MissingAuthenticationTokenException"
        ]


async def test_an_unknown_stage_on_the_execute_api_host_is_403(mesh: Mesh) -> None:
    mesh.function(echo)
    api = mesh.rest_api("admin", stage="prod")
    api.route("GET /pets", "echo")
    async with mesh:
        answer = await call(mesh, request("GET", "/dev/pets", host=f"{api.id}.execute-api.x"))
    assert answer.response.status == 403
    assert answer.response.body == b'{"message":"Forbidden"}'


async def _respond(mesh: Mesh, result: Any, **req: Any) -> Any:
    @mesh.function(name="fn")
    def fn(event: dict[str, Any], context: Context) -> Any:
        return result

    mesh.rest_api("admin", binary_media_types=["image/*"]).route("ANY /{proxy+}", "fn")
    async with mesh:
        return (await call(mesh, request("GET", "/x", **req))).response


@pytest.mark.parametrize(
    "result",
    [
        {"body": "no status"},
        {"statusCode": 200, "unknown": 1},
        {"statusCode": 200, "body": {"an": "object"}},
        "a string",
        None,
        {"statusCode": 200, "headers": {"x": {"nested": 1}}},
        {"statusCode": 200, "multiValueHeaders": {"x": "not a list"}},
        {"statusCode": "\u00b2"},  # str.isdigit() is true, int() fails: not a traceback
        {"statusCode": "\u0662\u0660\u0660"},  # Arabic-Indic digits are no status code
        {"statusCode": "2e2"},
    ],
)
async def test_a_malformed_response_is_502(mesh: Mesh, result: Any) -> None:
    response = await _respond(mesh, result)
    assert response.status == 502
    assert response.body == b'{"message": "Internal server error"}'


async def test_multi_value_headers_win_over_headers(mesh: Mesh) -> None:
    response = await _respond(
        mesh,
        {
            "statusCode": 200,
            "headers": {"X-A": "single", "X-B": "b"},
            "multiValueHeaders": {"X-A": ["m1", "m2"]},
            "body": "hi",
        },
    )
    assert header(response, "x-a") == ["m1", "m2"]
    assert header(response, "x-b") == ["b"]
    assert header(response, "content-type") == ["application/json"]
    assert response.body == b"hi"


async def test_a_base64_body_is_decoded_for_a_binary_media_type(mesh: Mesh) -> None:
    png = b"\x89PNG\x00\xff"
    result = {
        "statusCode": 200,
        "headers": {"Content-Type": "image/png"},
        "isBase64Encoded": True,
        "body": base64.b64encode(png).decode(),
    }
    assert (await _respond(mesh, result)).body == png


async def test_a_base64_body_stays_text_outside_the_binary_media_types(mesh: Mesh) -> None:
    result = {
        "statusCode": 200,
        "headers": {"Content-Type": "application/octet-stream"},
        "isBase64Encoded": True,
        "body": base64.b64encode(b"\x00\x01").decode(),
    }
    assert (await _respond(mesh, result)).body == b"AAE="


async def test_the_accept_header_chooses_binary_as_aws(mesh: Mesh) -> None:
    result = {"statusCode": 200, "isBase64Encoded": True, "body": "AAE="}
    response = await _respond(mesh, result, headers=[("accept", "image/webp,*/*")])
    assert response.body == b"\x00\x01"


@pytest.mark.parametrize(
    ("types", "content_type", "encoded"),
    [
        (["image/png"], "image/png", True),
        (["image/*"], "image/jpeg", True),
        (["*/*"], "application/json", True),
        (["image/png"], "image/jpeg", False),
        ([], "application/octet-stream", False),
    ],
)
async def test_a_request_body_is_base64_per_binary_media_types(
    mesh: Mesh, types: list[str], content_type: str, encoded: bool
) -> None:
    req = request("POST", "/up", body=b"\x00ab", headers=[("content-type", content_type)])
    event, _, _ = await _capture(mesh, req, "POST /up", binary_media_types=types)
    assert event["isBase64Encoded"] is encoded
    assert event["body"] == ("AGFi" if encoded else "\x00ab")


async def test_a_binary_round_trip(mesh: Mesh) -> None:
    blob = bytes(range(256))

    @mesh.function(name="mirror")
    def mirror(event: dict[str, Any], context: Context) -> dict[str, Any]:
        assert event["isBase64Encoded"]
        data = base64.b64decode(event["body"])
        return {
            "statusCode": 200,
            "headers": {"content-type": "application/octet-stream"},
            "isBase64Encoded": True,
            "body": base64.b64encode(data[::-1]).decode(),
        }

    mesh.rest_api("files", binary_media_types=["application/octet-stream"]).route(
        "PUT /blob", "mirror"
    )
    async with mesh:
        answer = await call(
            mesh,
            request(
                "PUT", "/blob", body=blob, headers=[("content-type", "application/octet-stream")]
            ),
        )
    assert answer.response.status == 200
    assert answer.response.body == blob[::-1]


async def test_a_function_error_is_502(mesh: Mesh) -> None:
    @mesh.function(name="boom")
    def boom(event: dict[str, Any], context: Context) -> None:
        raise ValueError("no")

    mesh.rest_api("admin").route("GET /boom", boom)
    async with mesh:
        answer = await call(mesh, request("GET", "/boom"))
    assert answer.response.status == 502
    assert answer.response.body == b'{"message": "Internal server error"}'


async def test_past_29_seconds_is_504_endpoint_request_timed_out(
    mesh: Mesh, clock: VirtualClock
) -> None:
    finished: list[float] = []

    @mesh.function(name="slow", timeout=60)
    async def slow(event: dict[str, Any], context: Context) -> dict[str, Any]:
        await clock.sleep(40)
        finished.append(clock.now())
        return {"statusCode": 200}

    mesh.rest_api("admin").route("GET /slow", slow)
    async with mesh:
        started = clock.now()
        pending = asyncio.ensure_future(call(mesh, request("GET", "/slow")))
        await clock.advance(28.9)
        assert not pending.done()
        await clock.advance(0.1)
        assert pending.done()  # at 29 s, not when the function ends
        answer = await pending
        assert finished == []
        await clock.advance(20)
        assert finished == [started + 40]  # the function was not stopped (as on AWS)
    assert answer.response.status == 504
    assert answer.integration_latency_ms is None
    assert answer.response.body == b'{"message": "Endpoint request timed out"}'


async def test_a_throttled_function_is_429(mesh: Mesh) -> None:
    gate = asyncio.Event()

    @mesh.function(name="one", reserved_concurrency=1)
    async def one(event: dict[str, Any], context: Context) -> dict[str, Any]:
        await gate.wait()
        return {"statusCode": 200}

    mesh.rest_api("admin").route("GET /one", one)
    async with mesh:
        first = asyncio.ensure_future(call(mesh, request("GET", "/one")))
        for _ in range(3):
            await asyncio.sleep(0)
        second = await call(mesh, request("GET", "/one"))
        gate.set()
        await first
    assert second.response.status == 429
    assert second.response.body == b'{"message":"Too Many Requests"}'


async def test_an_event_over_6_mb_is_413_request_too_long(mesh: Mesh) -> None:
    mesh.function(echo)
    mesh.rest_api("admin").route("POST /up", "echo")
    async with mesh:
        big = await call(mesh, request("POST", "/up", body=b"x" * (7 * 1024 * 1024)))
        huge = await call(mesh, request("POST", "/up", body=b"x" * (11 * 1024 * 1024)))
    assert big.response.status == 413
    assert big.response.body == b'{"message": "Request Too Long"}'
    assert huge.response.status == 413
    assert huge.response.body == b"HTTP content length exceeded 10485760 bytes."


# -- API keys ----------------------------------------------------------------------------------
async def test_api_keys_are_required_per_route(mesh: Mesh) -> None:
    seen: list[dict[str, Any]] = []

    @mesh.function(name="fn")
    def fn(event: dict[str, Any], context: Context) -> dict[str, Any]:
        seen.append(event)
        return {"statusCode": 200}

    api = mesh.rest_api("admin")
    key = api.api_key("k" * 20 + "-abc")
    generated = api.api_key(name="other")
    assert len(generated.value) >= 20 and generated.value not in repr(generated)
    api.route("GET /private", "fn", api_key_required=True)
    api.route("GET /public", "fn")
    async with mesh:
        missing = await call(mesh, request("GET", "/private"))
        wrong = await call(mesh, request("GET", "/private", headers=[("x-api-key", "x" * 24)]))
        good = await call(mesh, request("GET", "/private", headers=[("x-api-key", key.value)]))
        public = await call(mesh, request("GET", "/public"))
    for answer in (missing, wrong):
        assert answer.response.status == 403
        assert answer.response.body == b'{"message":"Forbidden"}'
    assert good.response.status == 200 and public.response.status == 200
    identity = seen[0]["requestContext"]["identity"]
    assert identity["apiKey"] == key.value and identity["apiKeyId"] == key.id
    with pytest.raises(ConfigurationError, match="20 to 128"):
        api.api_key("short")


async def test_a_non_ascii_api_key_is_refused_not_a_500(mesh: Mesh) -> None:
    """secrets.compare_digest raises on non-ASCII str: keys are compared as bytes."""

    @mesh.function(name="fn")
    def fn(event: dict[str, Any], context: Context) -> dict[str, Any]:
        return {"statusCode": 200}

    api = mesh.rest_api("admin")
    api.api_key("k" * 24)
    accented = api.api_key("\u00e9" * 24)
    api.route("GET /private", "fn", api_key_required=True)
    async with mesh:
        wrong = await call(mesh, request("GET", "/private", headers=[("x-api-key", "é" * 25)]))
        good = await call(mesh, request("GET", "/private", headers=[("x-api-key", accented.value)]))
    assert (wrong.response.status, wrong.response.body) == (403, b'{"message":"Forbidden"}')
    assert good.response.status == 200


# -- CORS --------------------------------------------------------------------------------------
async def test_sam_cors_answers_options_and_leaves_the_functions_headers(mesh: Mesh) -> None:
    @mesh.function(name="fn")
    def fn(event: dict[str, Any], context: Context) -> dict[str, Any]:
        return {"statusCode": 200, "headers": {"Access-Control-Allow-Origin": "*"}}

    cors = {
        "allow_origins": ["https://a.example"],
        "allow_headers": ["content-type"],
        "max_age": 600,
    }
    api = mesh.rest_api("admin", cors=cors)
    api.route("GET /items", "fn")
    api.route("POST /items", "fn")
    async with mesh:
        preflight = await call(
            mesh,
            request("OPTIONS", "/items", headers=[("origin", "https://a.example"),
                                                 ("access-control-request-method", "POST")]),
        )  # fmt: skip
        actual = await call(
            mesh, request("GET", "/items", headers=[("origin", "https://a.example")])
        )
        nothing = await call(mesh, request("OPTIONS", "/nothing"))
    assert preflight.response.status == 200
    assert header(preflight.response, "access-control-allow-origin") == ["https://a.example"]
    assert header(preflight.response, "access-control-allow-methods") == ["OPTIONS,GET,POST"]
    assert header(preflight.response, "access-control-allow-headers") == ["content-type"]
    assert header(preflight.response, "access-control-max-age") == ["600"]
    # the proxy function's own headers reach the client, as on AWS
    assert header(actual.response, "access-control-allow-origin") == ["*"]
    assert nothing.response.status == 403


async def test_a_rest_api_without_routes_for_a_function_fails_at_start(mesh: Mesh) -> None:
    mesh.rest_api("admin").route("GET /x", "missing")
    with pytest.raises(ConfigurationError, match="missing"):
        async with mesh:
            pass


def test_a_rest_apis_cors_has_one_origin(mesh: Mesh) -> None:
    """REST sends AllowOrigin as it is: two origins joined would be an invalid header."""
    with pytest.raises(ConfigurationError, match="one allow_origins"):
        mesh.rest_api("admin", cors={"allow_origins": ["https://a.test", "https://b.test"]})


def test_rest_settings_are_checked(mesh: Mesh) -> None:
    with pytest.raises(ConfigurationError, match="binary_media_types"):
        mesh.rest_api("a", binary_media_types="image/png")
    with pytest.raises(ConfigurationError, match="stage"):
        mesh.rest_api("b", stage="bad stage", base_path="b")
    with pytest.raises(ConfigurationError, match="unknown settings"):
        mesh.rest_api("c", payload_format_version="2.0", base_path="c")
    with pytest.raises(ConfigurationError, match=r"payload 1\.0 only"):
        mesh.rest_api("e", base_path="e").route("GET /x", "fn", payload_format_version="2.0")
    with pytest.raises(ConfigurationError, match="stage variable"):
        mesh.rest_api("d", stage_variables={"bad name": "x"}, base_path="d")


async def test_json_body_passes_as_text(mesh: Mesh) -> None:
    req = request("POST", "/j", body='{"a": 1}', headers=[("content-type", "application/json")])
    event, _, _ = await _capture(mesh, req, "POST /j")
    assert event["body"] == '{"a": 1}' and event["isBase64Encoded"] is False


async def test_payload_1_0_header_names_are_in_canonical_http_case(mesh: Mesh) -> None:
    """ASGI lower-cases names; 1.0 handlers read ``headers["Content-Type"]``, so the names
    come back in the case clients send (the client's own case is lost)."""
    req = request(
        "POST",
        "/x",
        body="{}",
        headers=[
            ("content-type", "application/json"),
            ("x-api-key", "k"),
            ("user-agent", "agent"),
            ("x-amz-date", "1"),
            ("x-amz-date", "2"),
        ],
    )
    event, _, _ = await _capture(mesh, req, "POST /x")
    assert event["headers"]["Content-Type"] == "application/json"
    assert event["headers"]["X-Api-Key"] == "k"
    assert event["headers"]["User-Agent"] == "agent"
    assert event["headers"]["Host"] == "127.0.0.1:8000"
    assert event["multiValueHeaders"]["X-Amz-Date"] == ["1", "2"]
    assert not [name for name in event["headers"] if name.islower()]
    assert not [name for name in event["multiValueHeaders"] if name.islower()]
    assert event["requestContext"]["identity"]["userAgent"] == "agent"
    assert APIGatewayProxyEvent(event).headers.get("content-type") == "application/json"


async def test_the_api_key_header_is_found_whatever_its_case(mesh: Mesh) -> None:
    @mesh.function(name="ok")
    def ok(event: dict[str, Any], context: Context) -> dict[str, Any]:
        return {"statusCode": 200, "body": event["requestContext"]["identity"]["apiKeyId"]}

    api = mesh.rest_api("admin")
    key = api.api_key("k" * 24)
    api.route("GET /k", "ok", api_key_required=True)
    async with mesh:
        answer = await call(mesh, request("GET", "/k", headers=[("X-API-KEY", "k" * 24)]))
    assert (answer.response.status, answer.response.body) == (200, key.id.encode())
