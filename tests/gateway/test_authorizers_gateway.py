"""Authorizers in front of real routes: through ``Gateway.handle``, a refused request never
reaches the route's function, and an allowed one carries the authorizer's answer in
``requestContext.authorizer``, in the shape Powertools' models of AWS's events accept."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from authorizer_support import SigningKey, jwks
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayProxyEventModel,
    APIGatewayProxyEventV2Model,
)
from gateway_helpers import EPOCH, call, request

from eventmesh import ConfigurationError, Context, Mesh

ISSUER = "https://issuer.example.com/pool"
KEY = SigningKey("gw-1")


class Route:
    """A route's function that records the events it receives."""

    def __init__(self, mesh: Mesh) -> None:
        self.events: list[dict[str, Any]] = []

        @mesh.function(name="orders")
        def orders(event: dict[str, Any], context: Context) -> dict[str, Any]:
            self.events.append(event)
            return {"statusCode": 200, "body": "ok"}


def token(**claims: Any) -> list[tuple[str, str]]:
    base = {"iss": ISSUER, "aud": "app", "sub": "u-1", "exp": int(EPOCH) + 60, **claims}
    return [("Authorization", f"Bearer {KEY.sign(base)}")]


async def test_a_jwt_authorizer_guards_an_http_api_route(mesh: Mesh) -> None:
    route = Route(mesh)
    api = mesh.http_api("shop")
    jwt = api.jwt_authorizer(issuer=ISSUER, audiences=["app"], jwks=jwks(KEY))
    api.route("GET /orders/{id}", "orders", authorizer=jwt.requiring("orders:read"))
    async with mesh:
        missing = await call(mesh, request("GET", "/orders/1"))
        scopeless = await call(mesh, request("GET", "/orders/1", headers=token()))
        allowed = await call(mesh, request("GET", "/orders/1", headers=token(scope="orders:read")))
    assert (missing.response.status, orjson.loads(missing.response.body)) == (
        401,
        {"message": "Unauthorized"},
    )
    assert (scopeless.response.status, orjson.loads(scopeless.response.body)) == (
        403,
        {"message": "Forbidden"},
    )
    assert allowed.response.status == 200
    [event] = route.events
    assert event["requestContext"]["authorizer"] == {
        "jwt": {
            "claims": {
                "iss": ISSUER,
                "aud": "app",
                "sub": "u-1",
                "exp": "1767225660",
                "scope": "orders:read",
            },
            "scopes": ["orders:read"],
        }
    }
    parsed = APIGatewayProxyEventV2Model.model_validate(event)
    assert parsed.requestContext.authorizer is not None
    assert parsed.requestContext.authorizer.jwt is not None
    assert parsed.requestContext.authorizer.jwt.claims["sub"] == "u-1"


async def test_a_token_authorizer_guards_a_rest_api_route(mesh: Mesh) -> None:
    route = Route(mesh)
    seen: list[dict[str, Any]] = []

    @mesh.function(name="gatekeeper")
    def gatekeeper(event: dict[str, Any], context: Context) -> dict[str, Any]:
        seen.append(event)
        effect = "Allow" if event["authorizationToken"] == "let-me-in" else "Deny"
        return {
            "principalId": "user-7",
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Action": "execute-api:Invoke",
                        "Effect": effect,
                        "Resource": event["methodArn"],
                    }
                ],
            },
            "context": {"tenant": "acme", "tier": 2},
        }

    api = mesh.rest_api("admin", stage="prod")
    api.route(
        "GET /orders/{id}", "orders", authorizer=api.lambda_authorizer("gatekeeper", type="TOKEN")
    )
    async with mesh:
        denied = await call(mesh, request("GET", "/orders/1", headers=[("Authorization", "nope")]))
        missing = await call(mesh, request("GET", "/orders/1"))
        allowed = await call(
            mesh, request("GET", "/orders/1", headers=[("Authorization", "let-me-in")])
        )
    assert denied.response.status == 403
    assert orjson.loads(denied.response.body) == {
        "Message": "User is not authorized to access this resource with an explicit deny"
    }
    assert missing.response.status == 401
    assert allowed.response.status == 200, allowed
    assert len(route.events) == 1
    assert [event["methodArn"] for event in seen] == [
        f"arn:aws:execute-api:us-east-1:123456789012:{api.id}/prod/GET/orders/1"
    ] * 2
    authorizer = route.events[0]["requestContext"]["authorizer"]
    assert {key: authorizer[key] for key in ("tenant", "tier", "principalId")} == {
        "tenant": "acme",
        "tier": "2",
        "principalId": "user-7",
    }
    APIGatewayProxyEventModel.model_validate(route.events[0])


async def test_a_simple_lambda_authorizer_guards_an_http_api_route(mesh: Mesh) -> None:
    route = Route(mesh)

    @mesh.function(name="gatekeeper")
    def gatekeeper(event: dict[str, Any], context: Context) -> dict[str, Any]:
        allowed = event["headers"].get("authorization") == "secretToken"
        return {"isAuthorized": allowed, "context": {"user": "u-9", "roles": ["a", "b"]}}

    api = mesh.http_api("shop")
    auth = api.lambda_authorizer("gatekeeper", simple_responses=True)
    api.route("GET /orders/{id}", "orders", authorizer=auth)
    async with mesh:
        refused = await call(
            mesh, request("GET", "/orders/1", headers=[("Authorization", "guess")])
        )
        allowed = await call(
            mesh, request("GET", "/orders/1", headers=[("Authorization", "secretToken")])
        )
    assert (refused.response.status, orjson.loads(refused.response.body)) == (
        403,
        {"message": "Forbidden"},
    )
    assert allowed.response.status == 200
    [event] = route.events
    assert event["requestContext"]["authorizer"] == {"lambda": {"user": "u-9", "roles": ["a", "b"]}}
    parsed = APIGatewayProxyEventV2Model.model_validate(event)
    assert parsed.requestContext.authorizer is not None
    assert parsed.requestContext.authorizer.lambda_value == {"user": "u-9", "roles": ["a", "b"]}


def test_the_apis_refuse_authorizer_settings_their_kind_cannot_use(mesh: Mesh) -> None:
    with pytest.raises(ConfigurationError, match="REST APIs"):
        mesh.http_api("shop").lambda_authorizer("gatekeeper", type="TOKEN")
    with pytest.raises(ConfigurationError, match="HTTP APIs"):
        mesh.rest_api("admin", base_path=None).lambda_authorizer(
            "gatekeeper", simple_responses=True
        )
