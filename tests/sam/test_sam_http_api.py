"""HTTP APIs from a template (``AWS::ApiGatewayV2::*``, what SAM's ``HttpApi`` events
become), served on the real HTTP front and driven with httpx as curl would.

The first template is the OpenAPI 3 ``Body`` SAM's translator writes (JWT and Lambda
authorizers, ``x-amazon-apigateway-cors``, a ``$default`` route, a named stage); the second
is the explicit form (Integration, Route, Authorizer, Stage) beside a quick-create API and a
WebSocket API. Functions are declared in code and named by ARN.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from eventmesh import Mesh, Telemetry
from eventmesh.http import HttpServer
from eventmesh.sam import Application, build_application

REGION = "us-east-1"
FN = f"arn:aws:lambda:{REGION}:123456789012:function"
AUDIENCE = "my-app-client"


def uri(function: str) -> str:
    return (
        f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{FN}:{function}/invocations"
    )


def proxy(version: str = "2.0", **security: list[str]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "x-amazon-apigateway-integration": {
            "httpMethod": "POST",
            "type": "aws_proxy",
            "uri": uri("hello"),
            "payloadFormatVersion": version,
        },
        "responses": {},
    }
    if security:
        operation["security"] = [{name: scopes} for name, scopes in security.items()]
    return operation


class Issuer:
    """An OpenID issuer on a free loopback port: its keys at ``/.well-known/jwks.json``."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = {"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def token(self, **claims: Any) -> str:
        now = int(time.time())
        base = {"iss": self.url, "aud": AUDIENCE, "sub": "ann", "iat": now, "exp": now + 600}
        return jwt.encode({**base, **claims}, self.key, algorithm="RS256", headers={"kid": "k1"})

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        found = request.startswith(b"GET /.well-known/jwks.json ")
        payload = orjson.dumps(self.jwks) if found else b"{}"
        writer.write(
            f"HTTP/1.1 {200 if found else 404} X\r\ncontent-type: application/json\r\n"
            f"content-length: {len(payload)}\r\nconnection: close\r\n\r\n".encode()
            + payload
        )
        await writer.drain()
        writer.close()

    async def __aenter__(self) -> Issuer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


def body_template(issuer: str) -> dict[str, Any]:
    body = {
        "openapi": "3.0.1",
        "info": {"title": "shop", "version": "1.0"},
        "paths": {
            "/items/{id}": {"get": proxy(Jwt=["read"])},
            "/mine": {"get": proxy(Jwt=[])},
            "/la": {"post": proxy(La=[])},
            "/classic/{id}": {"get": proxy("1.0")},
            "$default": {"x-amazon-apigateway-any-method": {**proxy(), "isDefaultRoute": True}},
        },
        "x-amazon-apigateway-cors": {
            "allowOrigins": ["https://a.example"],
            "allowMethods": ["GET", "POST"],
            "allowHeaders": ["authorization"],
            "maxAge": 600,
        },
        "components": {
            "securitySchemes": {
                "Jwt": {
                    "type": "oauth2",
                    "x-amazon-apigateway-authorizer": {
                        "type": "jwt",
                        "identitySource": "$request.header.Authorization",
                        "jwtConfiguration": {"issuer": issuer, "audience": [AUDIENCE]},
                    },
                },
                "La": {
                    "type": "apiKey",
                    "name": "Unused",
                    "in": "header",
                    "x-amazon-apigateway-authorizer": {
                        "type": "request",
                        "authorizerUri": uri("checker"),
                        "identitySource": ["$request.header.Authorization"],
                        "authorizerPayloadFormatVersion": "2.0",
                        "enableSimpleResponses": True,
                        "authorizerResultTtlInSeconds": 0,
                    },
                },
            }
        },
    }
    return {
        "Resources": {
            "MyHttp": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"Body": body}},
            "MyHttpv1Stage": {
                "Type": "AWS::ApiGatewayV2::Stage",
                "Properties": {
                    "ApiId": {"Ref": "MyHttp"},
                    "StageName": "v1",
                    "StageVariables": {"color": "blue"},
                    "AutoDeploy": True,
                },
            },
        },
        "Outputs": {
            "ApiId": {"Value": {"Ref": "MyHttp"}},
            "Endpoint": {"Value": {"Fn::GetAtt": ["MyHttp", "ApiEndpoint"]}},
        },
    }


def declare_functions(mesh: Mesh) -> None:
    @mesh.function(name="hello")
    def hello(event: dict[str, Any], context: Any) -> dict[str, Any]:
        request = event["requestContext"]
        seen = {
            "version": event.get("version"),
            "routeKey": event.get("routeKey", event.get("resource")),
            "pathParameters": event.get("pathParameters"),
            "stage": request["stage"],
            "stageVariables": event.get("stageVariables"),
            "authorizer": request.get("authorizer"),
        }
        return {
            "statusCode": 200,
            "headers": {"access-control-allow-origin": "https://function.example"},
            "body": json.dumps(seen),
        }

    @mesh.function(name="checker")
    def checker(event: dict[str, Any], context: Any) -> dict[str, Any]:
        allowed = event["headers"].get("authorization") == "let-me-in"
        return {"isAuthorized": allowed, "context": {"who": "ann"}}


@dataclass
class Served:
    app: Application
    client: httpx.AsyncClient
    issuer: Issuer


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    async with Issuer() as issuer:
        mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)
        declare_functions(mesh)
        app = build_application(body_template(issuer.url), mesh=mesh)
        async with (
            HttpServer(mesh, "127.0.0.1", 0) as server,
            httpx.AsyncClient(base_url=server.base_url, timeout=30) as client,
        ):
            yield Served(app, client, issuer)


def seen(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    value: dict[str, Any] = json.loads(response.content)
    return value


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_jwt_route_with_scopes_and_the_stage(served: Served) -> None:
    token = served.issuer.token(scope="read write")
    answer = seen(await served.client.get("/items/42", headers=bearer(token)))
    assert answer["version"] == "2.0"
    assert answer["routeKey"] == "GET /items/{id}"
    assert answer["pathParameters"] == {"id": "42"}
    assert (answer["stage"], answer["stageVariables"]) == ("v1", {"color": "blue"})
    assert answer["authorizer"]["jwt"]["claims"]["sub"] == "ann"
    assert answer["authorizer"]["jwt"]["scopes"] == ["read", "write"]


async def test_jwt_refusals_as_api_gateway(served: Served) -> None:
    missing = await served.client.get("/items/42")
    assert (missing.status_code, missing.content) == (401, b'{"message":"Unauthorized"}')
    foreign = served.issuer.token(aud="someone-else")
    wrong = await served.client.get("/mine", headers=bearer(foreign))
    assert (wrong.status_code, wrong.content) == (401, b'{"message":"Unauthorized"}')
    unscoped = served.issuer.token(scope="write")
    scoped = await served.client.get("/items/42", headers=bearer(unscoped))
    assert (scoped.status_code, scoped.content) == (403, b'{"message":"Forbidden"}')
    assert seen(await served.client.get("/mine", headers=bearer(unscoped)))["routeKey"] == (
        "GET /mine"
    )


async def test_a_lambda_authorizer_with_simple_responses(served: Served) -> None:
    allowed = seen(await served.client.post("/la", headers={"Authorization": "let-me-in"}))
    assert allowed["authorizer"] == {"lambda": {"who": "ann"}}
    refused = await served.client.post("/la", headers={"Authorization": "no"})
    assert (refused.status_code, refused.content) == (403, b'{"message":"Forbidden"}')
    missing = await served.client.post("/la")
    assert (missing.status_code, missing.content) == (401, b'{"message":"Unauthorized"}')


async def test_payload_1_0_for_an_integration_that_asks(served: Served) -> None:
    answer = seen(await served.client.get("/classic/7"))
    assert answer["version"] == "1.0"
    assert answer["routeKey"] == "/classic/{id}"


async def test_the_default_route_takes_the_rest(served: Served) -> None:
    answer = seen(await served.client.delete("/anything/else"))
    assert answer["routeKey"] == "$default"


async def test_cors_preflight_and_responses(served: Served) -> None:
    preflight = await served.client.options(
        "/items/42",
        headers={"Origin": "https://a.example", "Access-Control-Request-Method": "GET"},
    )
    # the $default route takes an OPTIONS request no other route has, as on AWS
    assert seen(preflight)["routeKey"] == "$default"
    assert preflight.headers["access-control-allow-origin"] == "https://a.example"
    answer = await served.client.get("/classic/1", headers={"Origin": "https://a.example"})
    assert answer.headers["access-control-allow-origin"] == "https://a.example"
    other = await served.client.get("/classic/1", headers={"Origin": "https://b.example"})
    assert "access-control-allow-origin" not in other.headers


async def test_the_stage_by_the_execute_api_host_and_the_endpoint(served: Served) -> None:
    api_id = served.app.outputs["ApiId"]
    assert api_id == "s4vlws3n2y"
    assert (
        served.app.outputs["Endpoint"] == "https://s4vlws3n2y.execute-api.us-east-1.amazonaws.com"
    )
    host = {"Host": f"{api_id}.execute-api.localhost"}
    answer = seen(await served.client.get("/v1/classic/3", headers=host))
    assert answer["stage"] == "v1"
    missing = await served.client.get("/v2/classic/3", headers=host)
    assert (missing.status_code, missing.content) == (404, b'{"message":"Not Found"}')


# -- the explicit form, quick create and WebSocket APIs ------------------------------------

EXPLICIT: dict[str, Any] = {
    "Resources": {
        "Explicit": {
            "Type": "AWS::ApiGatewayV2::Api",
            "Properties": {
                "Name": "explicit-http",
                "ProtocolType": "HTTP",
                "CorsConfiguration": {"AllowOrigins": ["*"], "MaxAge": 60},
            },
        },
        "Lambda": {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {
                "ApiId": {"Ref": "Explicit"},
                "IntegrationType": "AWS_PROXY",
                "IntegrationUri": f"{FN}:hello",
                "PayloadFormatVersion": "2.0",
            },
        },
        "Elsewhere": {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {
                "ApiId": {"Ref": "Explicit"},
                "IntegrationType": "HTTP_PROXY",
                "IntegrationUri": "https://legacy.example",
                "IntegrationMethod": "ANY",
                "PayloadFormatVersion": "1.0",
            },
        },
        "Checker": {
            "Type": "AWS::ApiGatewayV2::Authorizer",
            "Properties": {
                "ApiId": {"Ref": "Explicit"},
                "Name": "checker",
                "AuthorizerType": "REQUEST",
                "AuthorizerUri": uri("checker"),
                "IdentitySource": ["$request.header.Authorization"],
                "AuthorizerPayloadFormatVersion": "2.0",
                "EnableSimpleResponses": True,
                "AuthorizerResultTtlInSeconds": 0,
            },
        },
        "GetThing": {
            "Type": "AWS::ApiGatewayV2::Route",
            "Properties": {
                "ApiId": {"Ref": "Explicit"},
                "RouteKey": "GET /things/{id}",
                "Target": {"Fn::Sub": "integrations/${Lambda}"},
                "AuthorizationType": "CUSTOM",
                "AuthorizerId": {"Ref": "Checker"},
            },
        },
        "Legacy": {
            "Type": "AWS::ApiGatewayV2::Route",
            "Properties": {
                "ApiId": {"Ref": "Explicit"},
                "RouteKey": "ANY /legacy",
                "Target": {"Fn::Sub": "integrations/${Elsewhere}"},
            },
        },
        "Default": {
            "Type": "AWS::ApiGatewayV2::Stage",
            "Properties": {
                "ApiId": {"Ref": "Explicit"},
                "StageName": "$default",
                "AutoDeploy": True,
                "StageVariables": {"tier": "gold"},
            },
        },
        "Quick": {
            "Type": "AWS::ApiGatewayV2::Api",
            "Properties": {"ProtocolType": "HTTP", "Target": f"{FN}:hello"},
        },
        "Chat": {
            "Type": "AWS::ApiGatewayV2::Api",
            "Properties": {
                "ProtocolType": "WEBSOCKET",
                "RouteSelectionExpression": "$request.body.action",
            },
        },
        "ChatConnect": {
            "Type": "AWS::ApiGatewayV2::Route",
            "Properties": {"ApiId": {"Ref": "Chat"}, "RouteKey": "$connect"},
        },
        "ChatStage": {
            "Type": "AWS::ApiGatewayV2::Stage",
            "Properties": {"ApiId": {"Ref": "Chat"}, "StageName": "prod"},
        },
    }
}


async def test_the_explicit_form_quick_create_and_websocket_apis() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    declare_functions(mesh)
    app = build_application(EXPLICIT, mesh=mesh)
    assert (
        "Resources.Chat (AWS::ApiGatewayV2::Api): WEBSOCKET API is not supported locally: "
        "left out, with its parts"
    ) in app.warnings
    assert app.resources["ChatConnect"].value is None
    assert any("'HTTP_PROXY' is not run locally" in w for w in app.warnings)
    async with (
        HttpServer(mesh, "127.0.0.1", 0) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=30) as client,
    ):
        # two HTTP APIs in one template: each under its logical id
        headers = {"Authorization": "let-me-in", "Origin": "https://any.example"}
        thing = await client.get("/Explicit/things/9", headers=headers)
        answer = seen(thing)
        assert answer["routeKey"] == "GET /things/{id}"
        assert answer["stageVariables"] == {"tier": "gold"}
        assert answer["authorizer"] == {"lambda": {"who": "ann"}}
        # the gateway's CORS headers replace the function's
        assert thing.headers["access-control-allow-origin"] == "*"
        refused = await client.get("/Explicit/things/9", headers={"Authorization": "no"})
        assert (refused.status_code, refused.content) == (403, b'{"message":"Forbidden"}')
        legacy = await client.get("/Explicit/legacy")
        assert legacy.status_code == 500
        assert legacy.content == b'{"message":"Internal Server Error"}'
        quick = seen(await client.post("/Quick/any/path"))
        assert (quick["routeKey"], quick["stage"]) == ("$default", "$default")


def test_an_authorizer_payload_version_unlike_the_routes_is_warned() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    declare_functions(mesh)
    template = body_template("https://issuer.example")
    template["Resources"]["MyHttp"]["Properties"]["Body"]["paths"]["/la1"] = {
        "post": proxy("1.0", La=[])
    }
    app = build_application(template, mesh=mesh)
    assert app.warnings == [
        "Resources.MyHttp (AWS::ApiGatewayV2::Api): Body.paths./la1.post: the authorizer's "
        "payload format 2.0 differs from the route's 1.0; the mesh sends a Lambda authorizer "
        "the route's payload version"
    ]


def test_route_throttling_is_warned() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    declare_functions(mesh)
    template = body_template("https://issuer.example")
    stage = template["Resources"]["MyHttpv1Stage"]["Properties"]
    stage["DefaultRouteSettings"] = {"ThrottlingBurstLimit": 10, "ThrottlingRateLimit": 5}
    app = build_application(template, mesh=mesh)
    assert app.warnings == [
        "Resources.MyHttpv1Stage (AWS::ApiGatewayV2::Stage): DefaultRouteSettings: "
        "throttling is not enforced locally"
    ]


def test_a_service_integration_is_warned_and_answers_500() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    declare_functions(mesh)
    template = body_template("https://issuer.example")
    template["Resources"]["MyHttp"]["Properties"]["Body"]["paths"]["/events"] = {
        "post": {
            "x-amazon-apigateway-integration": {
                "type": "aws_proxy",
                "integrationSubtype": "EventBridge-PutEvents",
                "credentials": "arn:aws:iam::123456789012:role/r",
                "requestParameters": {"Detail": "$request.body", "DetailType": "x"},
                "payloadFormatVersion": "1.0",
            }
        }
    }
    app = build_application(template, mesh=mesh)
    assert app.warnings == [
        "Resources.MyHttp (AWS::ApiGatewayV2::Api): Body.paths./events.post."
        "x-amazon-apigateway-integration: integration type 'aws_proxy EventBridge-PutEvents' "
        "is not run locally (only aws_proxy to a Lambda function and mock): the route answers "
        "500 as API Gateway does for an integration it cannot call"
    ]
    route = next(r for r in app.resources["MyHttp"].value.routes.values() if "events" in r.key.text)
    assert route.fixed.status == 500


@pytest.mark.parametrize("path", ["$default", "/$default"])
def test_the_default_route_in_either_spelling(path: str) -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    declare_functions(mesh)
    template = body_template("https://issuer.example")
    paths = template["Resources"]["MyHttp"]["Properties"]["Body"]["paths"]
    paths[path] = {
        "x-amazon-apigateway-any-method": paths.pop("$default")["x-amazon-apigateway-any-method"]
    }
    app = build_application(template, mesh=mesh)
    keys = [route.key.text for route in app.resources["MyHttp"].value.routes.values()]
    assert "$default" in keys
