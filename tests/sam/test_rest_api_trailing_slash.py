"""A REST API path written with a trailing slash (SAM's ``Api`` event ``Path: /plantest/``, as
in serverless-patterns' apigw-usage-plans) is the resource without it, as API Gateway imports
it; the template failed to load on it. An HTTP API route keeps refusing it, as API Gateway
does."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from eventmesh import Mesh, Telemetry
from eventmesh.http import HttpServer
from eventmesh.sam import TemplateError, build_application

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:hello"
URI = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{FUNCTION_ARN}/invocations"
ROUTE = {"x-amazon-apigateway-integration": {"type": "aws_proxy", "httpMethod": "POST", "uri": URI}}


def mesh_with_hello() -> tuple[Mesh, list[str]]:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    resources: list[str] = []

    @mesh.function(name="hello")
    async def handle(event: Any, context: Any) -> dict[str, Any]:
        resources.append(event["resource"])
        return {"statusCode": 200, "body": "hello"}

    return mesh, resources


async def test_a_rest_path_with_a_trailing_slash_is_the_resource_without_it() -> None:
    mesh, resources = mesh_with_hello()
    template = {
        "Resources": {
            "Plans": {
                "Type": "AWS::ApiGateway::RestApi",
                "Properties": {
                    "Body": {"swagger": "2.0", "paths": {"/plantest/": {"post": ROUTE}}}
                },
            }
        }
    }
    app = build_application(template, mesh=mesh)
    api = app.resources["Plans"].ref
    async with HttpServer(mesh, port=0) as server, httpx.AsyncClient() as client:
        port = server.base_url.rsplit(":", 1)[1]
        answer = await client.post(
            f"http://127.0.0.1:{port}/Prod/plantest",
            headers={"host": f"{api}.execute-api.localhost:{port}"},
        )
    assert (answer.status_code, answer.text) == (200, "hello")
    assert resources == ["/plantest"]


def test_an_http_api_route_with_a_trailing_slash_is_still_refused() -> None:
    mesh, _ = mesh_with_hello()
    template = {
        "Resources": {
            "Plans": {
                "Type": "AWS::ApiGatewayV2::Api",
                "Properties": {
                    "Body": {"openapi": "3.0.1", "paths": {"/plantest/": {"post": ROUTE}}}
                },
            }
        }
    }
    with pytest.raises(TemplateError, match=r"a path does not end with '/'"):
        build_application(template, mesh=mesh)
