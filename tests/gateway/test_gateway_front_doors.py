"""Which API a request is for (hosts, base paths, the function-URL path), function URL
events and answers, HTTP API CORS, and authorizers called before the function."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import LambdaFunctionUrlEvent
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayProxyEventModel,
    APIGatewayProxyEventV2Model,
    LambdaFunctionUrlModel,
)
from gateway_helpers import call, header, json_of, request
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from eventmesh import ConfigurationError, Context, Mesh, Telemetry
from eventmesh._http_messages import HttpResponse
from eventmesh.gateway.authorization import Authorization, AuthorizationRequest
from eventmesh.gateway.function_url import FunctionUrl, FunctionUrlConfig

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _capturing(mesh: Mesh, name: str, seen: list[dict[str, Any]], **settings: Any) -> None:
    def handler(event: dict[str, Any], context: Context) -> dict[str, Any]:
        seen.append(event)
        return {"statusCode": 200, "body": name}

    handler.__name__ = name
    mesh.function(name=name, **settings)(handler)


# -- choosing the API --------------------------------------------------------------------------
async def test_base_paths_choose_the_api_and_are_stripped(mesh: Mesh) -> None:
    seen: list[dict[str, Any]] = []
    _capturing(mesh, "shop", seen)
    _capturing(mesh, "admin", seen)
    mesh.http_api("shop").route("GET /orders/{id}", "shop")
    mesh.rest_api("admin", base_path="admin/v1").route("GET /orders/{id}", "admin")
    async with mesh:
        root = await call(mesh, request("GET", "/orders/1"))
        mapped = await call(mesh, request("GET", "/admin/v1/orders/2"))
    assert root.response.body == b"shop" and mapped.response.body == b"admin"
    v2, v1 = seen
    assert v2["rawPath"] == "/orders/1"
    # payload 1.0's path keeps the base path mapping, its resource does not
    assert v1["path"] == "/admin/v1/orders/2"
    assert v1["resource"] == "/orders/{id}"
    assert v1["requestContext"]["path"] == "/admin/v1/orders/2"


async def test_a_percent_encoded_base_path_still_chooses_its_api(mesh: Mesh) -> None:
    """``%61dmin`` is ``admin`` (RFC 3986 §6.2.2.2: encoded unreserved characters are the
    same characters): it must not slip past the admin mapping to a root API's route that
    the mapping shadows, nor past the function URLs' reserved prefix."""
    _capturing(mesh, "root", [])
    _capturing(mesh, "admin", [], url=True)
    root = mesh.http_api("root")
    root.route("GET /admin/secret", "root")
    root.route("GET /_lambda-url/admin", "root")
    mesh.http_api("admin", base_path="admin").route("GET /secret", "admin")
    async with mesh:
        plain = await call(mesh, request("GET", "/admin/secret"))
        encoded = await call(mesh, request("GET", "/%61dmin/secret"))
        upper = await call(mesh, request("GET", "/%61DMIN/secret"))
        url = await call(mesh, request("GET", "/%5Flambda-url/admin/"))
    assert plain.response.body == b"admin"
    assert (encoded.response.body, encoded.route_key) == (b"admin", "GET /secret")
    assert upper.response.body != b"admin"  # paths are case-sensitive: %61DMIN is aDMIN
    assert url.response.body == b"admin" and url.api_id != root.id


async def test_rawpath_excludes_the_base_path_mapping(mesh: Mesh) -> None:
    seen: list[dict[str, Any]] = []
    _capturing(mesh, "fn", seen)
    mesh.http_api("shop", base_path="shop").route("GET /items", "fn")
    async with mesh:
        await call(mesh, request("GET", "/shop/items"))
        miss = await call(mesh, request("GET", "/shopping/items"))
    assert seen[0]["rawPath"] == "/items"
    assert seen[0]["requestContext"]["http"]["path"] == "/items"
    assert miss.response.status == 403
    assert miss.response.body == b'{"message":"Forbidden"}'


def test_two_apis_claiming_one_base_path_is_a_configuration_error(mesh: Mesh) -> None:
    mesh.http_api("a")
    with pytest.raises(ConfigurationError, match="both claim the root path"):
        mesh.rest_api("b")
    mesh.http_api("c", base_path="v1")
    with pytest.raises(ConfigurationError, match="both claim /v1"):
        mesh.http_api("d", base_path="/v1/")
    mesh.http_api("e", base_path=None)  # only by its execute-api host
    mesh.rest_api("f", base_path=None)


async def test_the_execute_api_host_chooses_the_api(mesh: Mesh) -> None:
    seen: list[dict[str, Any]] = []
    _capturing(mesh, "fn", seen)
    api = mesh.http_api("shop", base_path=None)
    api.route("GET /x", "fn")
    staged = mesh.http_api("staged", stage="beta", base_path=None)
    staged.route("GET /x", "fn")
    assert re.fullmatch(r"[a-z0-9]{10}", api.id) and api.id != staged.id
    assert mesh.http_api("shop").id == api.id  # stable: from the name
    async with mesh:
        plain = await call(mesh, request("GET", "/x", host=f"{api.id}.execute-api.localhost"))
        beta = await call(
            mesh, request("GET", "/beta/x", host=f"{staged.id}.execute-api.localhost")
        )
        wrong = await call(mesh, request("GET", "/x", host=f"{staged.id}.execute-api.localhost"))
        unknown = await call(mesh, request("GET", "/x", host="zzzzzzzzzz.execute-api.localhost"))
        no_api = await call(mesh, request("GET", "/x"))
    assert plain.response.status == 200 and beta.response.status == 200
    assert plain.api_id == api.id and plain.stage == "$default"
    assert seen[1]["rawPath"] == "/beta/x"  # a named stage stays in rawPath
    assert seen[1]["requestContext"]["stage"] == "beta"
    assert wrong.response.status == 404
    assert unknown.response.status == 403 and no_api.response.status == 403


# -- function URLs -----------------------------------------------------------------------------
async def test_a_function_url_event_as_lambda_sends_it(mesh: Mesh) -> None:
    seen: list[dict[str, Any]] = []
    _capturing(mesh, "hook", seen, url=True)
    url = mesh.context.find_resource(FunctionUrl.resource_name("hook"))
    assert isinstance(url, FunctionUrl)
    assert re.fullmatch(r"[a-z0-9]{32}", url.id)
    async with mesh:
        answer = await call(
            mesh,
            request(
                "POST", "/my/path?p=1&p=2", body="Hello from client!",
                host=f"{url.id}.lambda-url.us-east-1.localhost:8000",
                headers=[("content-type", "text/plain"), ("cookie", "c1=1")],
            ),
        )  # fmt: skip
    assert answer.response.status == 200 and answer.response.body == b"hook"
    event = seen[0]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/my/path"
    assert event["rawQueryString"] == "p=1&p=2"
    assert event["queryStringParameters"] == {"p": "1,2"}
    assert event["cookies"] == ["c1=1"]
    assert event["pathParameters"] is None and event["stageVariables"] is None
    assert event["body"] == "Hello from client!"
    context = event["requestContext"]
    assert context["routeKey"] == "$default" and context["stage"] == "$default"
    assert context["authorizer"] is None and context["authentication"] is None
    assert context["apiId"] == url.id and context["domainPrefix"] == url.id
    assert context["domainName"] == f"{url.id}.lambda-url.us-east-1.localhost"
    assert re.fullmatch(UUID, context["requestId"])
    assert url.domain_name == f"{url.id}.lambda-url.us-east-1.on.aws"
    LambdaFunctionUrlModel.model_validate(event)
    data = LambdaFunctionUrlEvent(event)
    assert data.request_context.http.method == "POST"
    assert data.raw_path == "/my/path"


async def test_the_function_url_path_for_clients_without_wildcard_dns(mesh: Mesh) -> None:
    seen: list[dict[str, Any]] = []
    _capturing(mesh, "hook", seen, url=True)
    _capturing(mesh, "root", [])
    mesh.http_api("shop").route("$default", "root")  # the prefix is never an API's
    async with mesh:
        answer = await call(mesh, request("GET", "/_lambda-url/hook/a/b?x=1"))
        root = await call(mesh, request("GET", "/_lambda-url/hook"))
        missing = await call(mesh, request("GET", "/_lambda-url/nope/a"))
    assert answer.response.status == 200 and root.response.status == 200
    assert seen[0]["rawPath"] == "/a/b"
    assert seen[1]["rawPath"] == "/"
    url = mesh.context.find_resource(FunctionUrl.resource_name("hook"))
    assert isinstance(url, FunctionUrl)
    assert seen[0]["requestContext"]["domainName"] == url.domain_name
    assert missing.response.status == 403
    assert missing.response.body == b'{"Message":"Forbidden"}'
    assert re.fullmatch(UUID, header(answer.response, "x-amzn-requestid")[0])


async def test_function_url_responses_follow_payload_2_0(mesh: Mesh) -> None:
    @mesh.function(name="hi", url=True)
    def hi(event: dict[str, Any], context: Context) -> dict[str, Any]:
        return {"message": "hi"}

    @mesh.function(name="boom", url={"auth_type": "NONE"})
    def boom(event: dict[str, Any], context: Context) -> None:
        raise RuntimeError("x")

    async with mesh:
        ok = await call(mesh, request("GET", "/_lambda-url/hi/"))
        failed = await call(mesh, request("GET", "/_lambda-url/boom/"))
    assert ok.response.status == 200 and json_of(ok.response) == {"message": "hi"}
    assert failed.response.status == 502


async def test_an_aws_iam_function_url_needs_a_signed_request(mesh: Mesh) -> None:
    seen: list[dict[str, Any]] = []
    _capturing(mesh, "iam", seen, url=FunctionUrlConfig(auth_type="AWS_IAM"))
    signed = (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/lambda/"
        "aws4_request, SignedHeaders=host, Signature=abc"
    )
    async with mesh:
        refused = await call(mesh, request("GET", "/_lambda-url/iam/"))
        allowed = await call(
            mesh, request("GET", "/_lambda-url/iam/", headers=[("authorization", signed)])
        )
    assert refused.response.status == 403
    assert allowed.response.status == 200
    iam = seen[0]["requestContext"]["authorizer"]["iam"]
    assert iam["accessKey"] == "AKIAIOSFODNN7EXAMPLE"
    assert iam["accountId"] == "123456789012"
    LambdaFunctionUrlModel.model_validate(seen[0])


def test_function_url_settings_are_checked(mesh: Mesh) -> None:
    with pytest.raises(ConfigurationError, match="auth_type"):
        mesh.function(name="a", url={"auth_type": "KEY"})(lambda e, c: None)
    with pytest.raises(ConfigurationError, match="unknown settings"):
        mesh.function(name="b", url={"invoke": 1})(lambda e, c: None)


# -- HTTP API and function URL CORS ------------------------------------------------------------
async def test_http_api_cors_answers_preflight_and_decorates_responses(mesh: Mesh) -> None:
    @mesh.function(name="fn", url={"cors": {"allow_origins": ["https://u.example"]}})
    def fn(event: dict[str, Any], context: Context) -> dict[str, Any]:
        return {"statusCode": 200, "headers": {"access-control-allow-origin": "https://evil"}}

    cors = {
        "allow_origins": ["https://a.example"],
        "allow_methods": ["GET", "POST"],
        "allow_headers": ["authorization"],
        "expose_headers": ["x-total"],
        "max_age": 300,
        "allow_credentials": True,
    }
    mesh.http_api("shop", cors=cors).route("GET /items", "fn")
    preflight_headers = [("origin", "https://a.example"), ("access-control-request-method", "GET")]
    async with mesh:
        preflight = await call(mesh, request("OPTIONS", "/items", headers=preflight_headers))
        actual = await call(
            mesh, request("GET", "/items", headers=[("origin", "https://a.example")])
        )
        other = await call(
            mesh, request("GET", "/items", headers=[("origin", "https://b.example")])
        )
        url = await call(
            mesh, request("GET", "/_lambda-url/fn/", headers=[("origin", "https://u.example")])
        )
    assert preflight.response.status == 204
    assert preflight.route_key is None and preflight.integration_latency_ms is None
    assert header(preflight.response, "access-control-allow-origin") == ["https://a.example"]
    assert header(preflight.response, "access-control-allow-methods") == ["GET,POST"]
    assert header(preflight.response, "access-control-allow-headers") == ["authorization"]
    assert header(preflight.response, "access-control-max-age") == ["300"]
    assert header(preflight.response, "access-control-allow-credentials") == ["true"]
    assert header(actual.response, "access-control-allow-origin") == ["https://a.example"]
    assert header(actual.response, "access-control-expose-headers") == ["x-total"]
    # "API Gateway ignores CORS headers returned from your backend integration"
    assert header(other.response, "access-control-allow-origin") == []
    assert header(url.response, "access-control-allow-origin") == ["https://u.example"]


async def test_a_preflight_goes_to_a_route_that_takes_options_authorizer_included(
    mesh: Mesh,
) -> None:
    """AWS answers a preflight itself only when no route takes OPTIONS: an ANY route with an
    authorizer refuses it (why AWS's docs ask for an OPTIONS route without authorization)."""
    seen: list[dict[str, Any]] = []
    _capturing(mesh, "fn", seen)
    refuse = Recorder(Authorization(refusal=HttpResponse(401, [], b'{"message":"Unauthorized"}')))
    cors = {"allow_origins": ["https://a.example"], "allow_methods": ["GET"]}
    api = mesh.http_api("shop", cors=cors)
    api.route("GET /only-get", "fn")
    api.route("ANY /guarded/{proxy+}", "fn", authorizer=refuse)
    api.route("OPTIONS /open/{proxy+}", "fn")
    preflight = [("origin", "https://a.example"), ("access-control-request-method", "GET")]
    async with mesh:
        answered = await call(mesh, request("OPTIONS", "/only-get", headers=preflight))
        guarded = await call(mesh, request("OPTIONS", "/guarded/x", headers=preflight))
        opened = await call(mesh, request("OPTIONS", "/open/x", headers=preflight))
    assert answered.response.status == 204
    assert header(answered.response, "access-control-allow-methods") == ["GET"]
    assert guarded.response.status == 401 and len(refuse.asked) == 1
    assert (opened.response.status, opened.route_key) == (200, "OPTIONS /open/{proxy+}")
    assert header(opened.response, "access-control-allow-origin") == ["https://a.example"]
    assert [event["routeKey"] for event in seen] == ["OPTIONS /open/{proxy+}"]


async def test_cors_origins_https_star_and_http_star_match_a_scheme(mesh: Mesh) -> None:
    _capturing(mesh, "fn", [])
    mesh.http_api("shop", cors={"allow_origins": ["https://*"]}).route("GET /x", "fn")
    async with mesh:
        secure = await call(mesh, request("GET", "/x", headers=[("origin", "https://a.test")]))
        plain = await call(mesh, request("GET", "/x", headers=[("origin", "http://a.test")]))
    assert header(secure.response, "access-control-allow-origin") == ["https://a.test"]
    assert header(plain.response, "access-control-allow-origin") == []


def test_cors_settings_are_checked(mesh: Mesh) -> None:
    with pytest.raises(ConfigurationError, match="allow_credentials"):
        mesh.http_api("a", cors={"allow_credentials": True})
    with pytest.raises(ConfigurationError, match="unknown settings"):
        mesh.http_api("b", cors={"origins": ["x"]})


# -- authorizers -------------------------------------------------------------------------------
class Recorder:
    def __init__(self, answer: Authorization) -> None:
        self.answer = answer
        self.asked: list[AuthorizationRequest] = []

    async def authorize(self, request: AuthorizationRequest) -> Authorization:
        self.asked.append(request)
        return self.answer


async def test_an_authorizers_context_reaches_the_event(mesh: Mesh) -> None:
    seen: list[dict[str, Any]] = []
    _capturing(mesh, "fn", seen)
    jwt = Recorder(Authorization(context={"jwt": {"claims": {"sub": "u1"}, "scopes": None}}))
    rest = Recorder(Authorization(context={"principalId": "u1", "role": "admin"}))
    http = mesh.http_api("shop")
    http.route("GET /me", "fn", authorizer=jwt)
    admin = mesh.rest_api("admin", base_path="admin", stage="prod")
    admin.route("GET /me", "fn", authorizer=rest)
    async with mesh:
        await call(mesh, request("GET", "/me"))
        await call(mesh, request("GET", "/admin/me"))
    v2, v1 = seen
    assert v2["requestContext"]["authorizer"] == {"jwt": {"claims": {"sub": "u1"}, "scopes": None}}
    assert v1["requestContext"]["authorizer"] == {"principalId": "u1", "role": "admin"}
    APIGatewayProxyEventV2Model.model_validate(v2)
    APIGatewayProxyEventModel.model_validate(v1)
    asked = jwt.asked[0]
    assert asked.api_kind == "http" and "authorizer" not in asked.event["requestContext"]
    assert (
        asked.route_arn == f"arn:aws:execute-api:us-east-1:123456789012:{http.id}/$default/GET/me"
    )
    assert rest.asked[0].route_arn.endswith(f"{admin.id}/prod/GET/me")
    assert rest.asked[0].api_kind == "rest"


async def test_a_refusal_is_the_answer_and_the_function_never_runs(mesh: Mesh) -> None:
    seen: list[dict[str, Any]] = []
    _capturing(mesh, "fn", seen)
    refusal = HttpResponse.json(401, {"message": "Unauthorized"})
    mesh.http_api("shop").route("GET /me", "fn", authorizer=Recorder(Authorization(refusal)))
    async with mesh:
        answer = await call(mesh, request("GET", "/me"))
    assert answer.response.status == 401
    assert json_of(answer.response) == {"message": "Unauthorized"}
    assert answer.integration_latency_ms is None
    assert seen == []


async def test_a_failing_authorizer_is_api_gateways_500_not_a_traceback(mesh: Mesh) -> None:
    class Broken:
        async def authorize(self, request: AuthorizationRequest) -> Authorization:
            raise RuntimeError("bug")

    seen: list[dict[str, Any]] = []
    _capturing(mesh, "fn", seen)
    mesh.http_api("shop").route("GET /me", "fn", authorizer=Broken())
    async with mesh:
        answer = await call(mesh, request("GET", "/me"))
    assert answer.response.status == 500
    assert answer.response.body == b'{"message":"Internal Server Error"}'
    assert seen == []


async def test_an_unexpected_failure_is_a_500_without_a_traceback(
    mesh: Mesh, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import eventmesh.gateway.front as front

    async def broken(*args: Any) -> None:
        raise KeyError("internal detail")

    monkeypatch.setattr(front, "answer_api", broken)
    _capturing(mesh, "fn", [])
    mesh.http_api("shop").route("GET /x", "fn")
    async with mesh:
        answer = await call(mesh, request("GET", "/x"))
    assert answer.response.status == 500
    assert answer.response.body == b'{"message":"Internal Server Error"}'
    assert "internal detail" in caplog.text  # logged, never sent


@pytest.mark.parametrize(
    ("door", "status", "body"),
    [
        ("rest", 502, b'{"message": "Internal server error"}'),
        ("url", 502, b'{"Message":"Internal Server Error"}'),
    ],
)
async def test_an_unexpected_failure_is_the_doors_own_500(
    mesh: Mesh, monkeypatch: pytest.MonkeyPatch, door: str, status: int, body: bytes
) -> None:
    """A REST API's internal failure is its 502, a function URL's Lambda's 502 (the README's
    error table), not an HTTP API's 500; the request id header is still sent."""
    import eventmesh.gateway.front as front

    async def broken(*args: Any) -> None:
        raise KeyError("internal detail")

    monkeypatch.setattr(front, "answer_api" if door == "rest" else "answer_url", broken)
    _capturing(mesh, "fn", [], url=True)
    mesh.rest_api("admin").route("GET /x", "fn")
    async with mesh:
        path = "/x" if door == "rest" else "/_lambda-url/fn/"
        answer = await call(mesh, request("GET", path))
    assert (answer.response.status, answer.response.body) == (status, body)
    assert re.fullmatch(UUID, header(answer.response, "x-amzn-requestid")[0])
    assert answer.error is not None and "KeyError" in answer.error


async def test_the_authorizers_invocation_is_a_child_of_the_requests_span() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    mesh = Mesh(telemetry=Telemetry(provider, enabled=True))

    @mesh.function(name="gatekeeper")
    def gatekeeper(event: dict[str, Any], context: Context) -> dict[str, Any]:
        return {"isAuthorized": True, "context": {}}

    _capturing(mesh, "orders", [])
    api = mesh.http_api("shop")
    api.route("GET /o", "orders", authorizer=api.lambda_authorizer("gatekeeper", ttl=0,
              simple_responses=True))  # fmt: skip
    request_span = provider.get_tracer("test").start_span("GET /o")
    req = dataclasses.replace(
        request("GET", "/o", headers=[("authorization", "t")]),
        trace_context=trace.set_span_in_context(request_span),
    )
    async with mesh:
        answer = await call(mesh, req)
    request_span.end()
    assert answer.response.status == 200
    by_name = {span.name: span for span in exporter.get_finished_spans()}
    for name in ("gatekeeper", "orders"):
        parent = by_name[name].parent
        assert parent is not None and parent.span_id == request_span.get_span_context().span_id
    assert trace.get_current_span() is trace.INVALID_SPAN  # the context was restored


async def test_api_key_source_authorizer_takes_the_key_the_authorizer_returns(mesh: Mesh) -> None:
    """``ApiKeySourceType: AUTHORIZER``: the key is the authorizer's ``usageIdentifierKey``;
    an ``x-api-key`` header counts for nothing."""
    seen: list[dict[str, Any]] = []
    _capturing(mesh, "fn", seen)
    api = mesh.rest_api("admin", api_key_source="AUTHORIZER")
    key = api.api_key("k" * 24)
    with_key = Recorder(Authorization(context={"principalId": "u"}, usage_identifier_key=key.value))
    without = Recorder(Authorization(context={"principalId": "u"}))
    api.route("GET /a", "fn", authorizer=with_key, api_key_required=True)
    api.route("GET /b", "fn", authorizer=without, api_key_required=True)
    async with mesh:
        keyed = await call(mesh, request("GET", "/a"))
        header_only = await call(mesh, request("GET", "/b", headers=[("x-api-key", key.value)]))
    assert keyed.response.status == 200
    assert seen[0]["requestContext"]["identity"]["apiKeyId"] == key.id
    assert (header_only.response.status, header_only.response.body) == (
        403,
        b'{"message":"Forbidden"}',
    )
    with pytest.raises(ConfigurationError, match="api_key_source"):
        mesh.rest_api("other", api_key_source="QUERY", base_path="o")
