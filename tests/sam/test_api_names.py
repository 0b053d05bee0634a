"""An API's Name is whatever API Gateway takes: spaces and punctuation included (SAM patterns
name APIs with ``!Sub "${ResourceName} From Stack ${AWS::StackName}"``; two of
serverless-patterns' Python patterns failed to load on it). The name is a label: the API is
served as any other, by its id."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from eventmesh import Mesh, Telemetry
from eventmesh.http import HttpServer
from eventmesh.sam import TemplateError, build_application

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:hello"
URI = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{FUNCTION_ARN}/invocations"


def template(rest_name: Any, http_name: Any = "Stock API (beta)") -> dict[str, Any]:
    integration = {"type": "aws_proxy", "httpMethod": "POST", "uri": URI}
    route = {"x-amazon-apigateway-integration": {**integration, "payloadFormatVersion": "2.0"}}
    return {
        "Resources": {
            "Orders": {
                "Type": "AWS::ApiGateway::RestApi",
                "Properties": {
                    "Name": rest_name,
                    "Body": {"swagger": "2.0", "paths": {"/orders": {"get": route}}},
                },
            },
            "Stock": {
                "Type": "AWS::ApiGatewayV2::Api",
                "Properties": {
                    "Name": http_name,
                    "Body": {"openapi": "3.0.1", "paths": {"/stock": {"get": route}}},
                },
            },
        }
    }


def hello(mesh: Mesh) -> None:
    @mesh.function(name="hello")
    async def handle(event: Any, context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": "hello"}


async def test_api_names_with_spaces_and_punctuation_build_and_serve() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    hello(mesh)
    app = build_application(template("Orders API From Stack local"), mesh=mesh)
    assert app.warnings == []
    rest, http = app.resources["Orders"].ref, app.resources["Stock"].ref
    async with HttpServer(mesh, port=0) as server, httpx.AsyncClient() as client:
        port = server.base_url.rsplit(":", 1)[1]
        orders = await client.get(
            f"http://127.0.0.1:{port}/Prod/orders",
            headers={"host": f"{rest}.execute-api.localhost:{port}"},
        )
        stock = await client.get(
            f"http://127.0.0.1:{port}/stock",
            headers={"host": f"{http}.execute-api.localhost:{port}"},
        )
    assert (orders.status_code, orders.text) == (200, "hello")
    assert (stock.status_code, stock.text) == (200, "hello")


@pytest.mark.parametrize(
    ("name", "shown"), [("x" * 129, repr("x" * 129)), ("tab\there", "'tab\\there'")]
)
def test_an_overlong_or_control_character_name_is_refused(name: str, shown: str) -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    hello(mesh)
    with pytest.raises(TemplateError) as caught:
        build_application(template("Orders", http_name=name), mesh=mesh)
    assert str(caught.value) == (
        f"Resources.Stock (AWS::ApiGatewayV2::Api): API name {shown} must be 1-128 "
        "characters, without control characters"
    )
