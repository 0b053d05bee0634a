"""APIs served at several stages (``add_stage``: a template's Stage and Deployment
resources), fixed routes (a mock integration's answer, after the authorizer and API key),
moving an API's base path (``mount``), and ``mesh.function_url`` for an existing function."""

from __future__ import annotations

from typing import Any

import pytest
from gateway_helpers import call, echo, json_of, request

from eventmesh import ConfigurationError, Mesh
from eventmesh.gateway import FunctionUrl
from eventmesh.gateway.apis import FixedResponse
from eventmesh.gateway.authorizers.fixed import RefusingAuthorizer


async def test_each_stage_is_reached_by_host_with_its_own_variables(mesh: Mesh) -> None:
    mesh.function(echo, name="echo")
    api = mesh.rest_api("shop", stage="Prod", stage_variables={"table": "orders"})
    api.add_stage("Stage")
    api.add_stage("beta", {"table": "beta_orders"})
    api.route("GET /orders/{id}", "echo")
    host = f"{api.id}.execute-api.localhost"
    async with mesh:
        beta = await call(mesh, request("GET", "/beta/orders/1", host=host))
        event = json_of(beta.response)
        assert (event["requestContext"]["stage"], event["stageVariables"]) == (
            "beta",
            {"table": "beta_orders"},
        )
        assert event["requestContext"]["path"] == "/beta/orders/1"
        plain = json_of((await call(mesh, request("GET", "/Stage/orders/1", host=host))).response)
        assert (plain["requestContext"]["stage"], plain["stageVariables"]) == ("Stage", None)
        # the base path reaches the primary stage
        root = json_of((await call(mesh, request("GET", "/orders/1"))).response)
        assert (root["requestContext"]["stage"], root["stageVariables"]) == (
            "Prod",
            {"table": "orders"},
        )
        none = await call(mesh, request("GET", "/gamma/orders/1", host=host))
        assert (none.response.status, none.response.body) == (403, b'{"message":"Forbidden"}')


async def test_an_http_api_with_default_and_named_stages(mesh: Mesh) -> None:
    mesh.function(echo, name="echo")
    api = mesh.http_api("shop")
    api.add_stage("v1", {"color": "blue"})
    api.route("GET /items/{id}", "echo")
    host = f"{api.id}.execute-api.localhost"
    async with mesh:
        named = json_of((await call(mesh, request("GET", "/v1/items/2", host=host))).response)
        assert (named["requestContext"]["stage"], named["stageVariables"]) == (
            "v1",
            {"color": "blue"},
        )
        default = json_of((await call(mesh, request("GET", "/items/2", host=host))).response)
        assert default["requestContext"]["stage"] == "$default"
        assert "stageVariables" not in default


async def test_make_primary_moves_what_the_base_path_reaches(mesh: Mesh) -> None:
    mesh.function(echo, name="echo")
    api = mesh.rest_api("shop")
    api.add_stage("dev", {"x": "1"})
    api.make_primary("dev")
    api.route("GET /a", "echo")
    async with mesh:
        event = json_of((await call(mesh, request("GET", "/a"))).response)
        assert event["requestContext"]["stage"] == "dev"
    with pytest.raises(ConfigurationError, match="no stage 'qa'"):
        api.make_primary("qa")


def test_bad_stages_are_refused(mesh: Mesh) -> None:
    api = mesh.rest_api("shop")
    with pytest.raises(ConfigurationError, match="not \\$default"):
        api.add_stage("$default")
    with pytest.raises(ConfigurationError, match="stage 'a b'"):
        api.add_stage("a b")
    with pytest.raises(ConfigurationError, match="stage variable name"):
        api.add_stage("ok", {"bad name": "x"})


async def test_a_fixed_route_answers_after_its_authorizer_and_api_key(mesh: Mesh) -> None:
    api = mesh.rest_api("shop")
    answer = FixedResponse(200, (("content-type", "application/json"), ("x-mock", "1")), b"{}")
    api.fixed_route("OPTIONS /a", answer)
    api.fixed_route("GET /keyed", answer, api_key_required=True)
    api.fixed_route("GET /closed", answer, authorizer=RefusingAuthorizer("test"))
    key = api.api_key("k" * 20, key_id="abc123")
    async with mesh:  # no function: a fixed route needs none
        first = await call(mesh, request("OPTIONS", "/a"))
        second = await call(mesh, request("OPTIONS", "/a"))
        assert (first.response.status, first.response.body) == (200, b"{}")
        assert ("x-mock", "1") in first.response.headers
        assert first.response is not second.response
        refused = await call(mesh, request("GET", "/keyed"))
        assert (refused.response.status, refused.response.body) == (
            403,
            b'{"message":"Forbidden"}',
        )
        keyed = await call(mesh, request("GET", "/keyed", headers=[("x-api-key", key.value)]))
        assert keyed.response.status == 200
        closed = await call(mesh, request("GET", "/closed"))
        assert (closed.response.status, closed.response.body) == (
            401,
            b'{"message":"Unauthorized"}',
        )
    assert key.id == "abc123"


async def test_mount_moves_an_api_and_refuses_a_claimed_path(mesh: Mesh) -> None:
    mesh.function(echo, name="echo")
    first = mesh.http_api("first")
    second = mesh.http_api("second", base_path=None)
    second.route("GET /x", "echo")
    with pytest.raises(ConfigurationError, match="both claim the root path"):
        second.mount("")
    second.mount("v2")
    async with mesh:
        event = json_of((await call(mesh, request("GET", "/v2/x"))).response)
        assert event["routeKey"] == "GET /x"
    assert first.base_path == ""


async def test_function_url_gives_an_existing_function_a_url(mesh: Mesh) -> None:
    def hello(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"arn": context.invoked_function_arn}

    function = mesh.function(hello, name="hello")
    mesh.alias(function, "live", version=function.publish_version().version)
    url = mesh.function_url("hello", qualifier="live", cors={"allow_origins": ["*"]})
    assert isinstance(url, FunctionUrl)
    assert url.function == "hello:live"
    assert mesh.function_url("hello", qualifier="live", cors={"allow_origins": ["*"]}) is url
    with pytest.raises(ConfigurationError):
        mesh.function_url("hello", auth_type="AWS_IAM")  # one URL per function
    async with mesh:
        answer = await call(mesh, request("GET", "/_lambda-url/hello/"))
        assert json_of(answer.response)["arn"].endswith(":function:hello:live")


async def test_an_api_key_works_on_its_stages_only(mesh: Mesh) -> None:
    """A key given ``stages`` (a usage plan's API stages) is refused on the API's other
    stages; giving it again with more stages adds them; a key with another id and the same
    value is refused."""
    mesh.function(echo, name="echo")
    api = mesh.rest_api("shop", stage="Prod")
    api.add_stage("Stage")
    api.add_stage("beta")
    api.route("GET /x", "echo", api_key_required=True)
    key = api.api_key("k" * 20, key_id="abc123", stages=["Prod"])
    assert api.key_for("k" * 20, "Stage") is None
    assert api.key_for("k" * 20, "Prod") == key
    host = f"{api.id}.execute-api.localhost"
    sent = [("x-api-key", "k" * 20)]
    async with mesh:
        prod = await call(mesh, request("GET", "/Prod/x", host=host, headers=sent))
        assert prod.response.status == 200
        stage = await call(mesh, request("GET", "/Stage/x", host=host, headers=sent))
        assert (stage.response.status, stage.response.body) == (403, b'{"message":"Forbidden"}')
    wider = api.api_key("k" * 20, key_id="abc123", stages=["Stage"])
    assert wider.stages == frozenset({"Prod", "Stage"})
    assert api.key_for("k" * 20, "beta") is None
    assert api.api_key("k" * 20, key_id="abc123").stages is None
    with pytest.raises(ConfigurationError, match="already has that key"):
        api.api_key("k" * 20, key_id="other")


async def test_an_aws_iam_route_of_an_http_api_tells_the_function_its_caller(mesh: Mesh) -> None:
    """Payload 2.0 of an HTTP API route with IAM authorization carries the caller in
    ``requestContext.authorizer.iam``, as a function URL's with AWS_IAM does."""
    from eventmesh.gateway.authorizers.fixed import SigV4Authorizer

    mesh.function(echo, name="echo")
    api = mesh.http_api("signed")
    api.route("GET /x", "echo", authorizer=SigV4Authorizer())
    signed = [
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/execute-api/"
            "aws4_request, SignedHeaders=host, Signature=abc",
        )
    ]
    async with mesh:
        event = json_of((await call(mesh, request("GET", "/x", headers=signed))).response)
        assert event["requestContext"]["authorizer"] == {
            "iam": {
                "accessKey": "AKIAIOSFODNN7EXAMPLE",
                "accountId": mesh.context.account_id,
                "callerId": "AKIAIOSFODNN7EXAMPLE",
                "cognitoIdentity": None,
                "principalOrgId": None,
                "userArn": f"arn:aws:iam::{mesh.context.account_id}:root",
                "userId": mesh.context.account_id,
            }
        }
        refused = await call(mesh, request("GET", "/x"))
        assert (refused.response.status, refused.response.body) == (
            403,
            b'{"message":"Forbidden"}',
        )
