"""A REST API route integrated with Lambda response streaming (the
``.../2021-11-15/functions/<ARN>/response-streaming-invocations`` URI of
``responseTransferMode: STREAM``) is not emulated: the template builds with a warning naming
the route, and the route answers as API Gateway does for an integration it cannot call (500
``{"message": "Internal server error"}``); the API's other routes work. It was an error ("not a
Lambda integration URI") failing the whole template (serverless-patterns'
apigw-rest-api-lambda-python-response-streaming and apigw-lambda-bedrock-sam-node)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from eventmesh import Mesh, Telemetry
from eventmesh.http import HttpServer
from eventmesh.sam import TemplateError, build_application

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:teller"
STREAMING = (
    "arn:aws:apigateway:us-east-1:lambda:path/2021-11-15/functions/"
    f"{FUNCTION}/response-streaming-invocations"
)
BUFFERED = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{FUNCTION}/invocations"


def integration(uri: str) -> dict[str, Any]:
    return {"type": "aws_proxy", "httpMethod": "POST", "uri": uri}


TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Api": {
            "Type": "AWS::ApiGateway::RestApi",
            "Properties": {
                "Name": "Story API",
                "Body": {
                    "openapi": "3.0.1",
                    "paths": {
                        "/story": {
                            "post": {
                                "x-amazon-apigateway-integration": {
                                    **integration(STREAMING),
                                    "responseTransferMode": "STREAM",
                                }
                            }
                        },
                        "/plain": {
                            "get": {"x-amazon-apigateway-integration": integration(BUFFERED)}
                        },
                    },
                },
            },
        },
        "Tales": {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                "PathPart": "tales",
            },
        },
        "Tell": {
            "Type": "AWS::ApiGateway::Method",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "ResourceId": {"Ref": "Tales"},
                "HttpMethod": "POST",
                "AuthorizationType": "NONE",
                "Integration": {
                    "Type": "AWS_PROXY",
                    "IntegrationHttpMethod": "POST",
                    "Uri": STREAMING,
                },
            },
        },
        "Deployment": {
            "Type": "AWS::ApiGateway::Deployment",
            "DependsOn": ["Tell"],
            "Properties": {"RestApiId": {"Ref": "Api"}, "StageName": "Prod"},
        },
    }
}


def mesh_with_teller() -> Mesh:
    mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)

    @mesh.function(name="teller")
    async def teller(event: Any, context: Any) -> Any:
        return {"statusCode": 200, "body": "once upon a time"}

    return mesh


async def test_a_streaming_route_answers_500_with_a_warning_and_the_others_work() -> None:
    mesh = mesh_with_teller()
    app = build_application(TEMPLATE, mesh=mesh)
    assert app.warnings == [
        "Resources.Api (AWS::ApiGateway::RestApi): Body.paths./story.post."
        "x-amazon-apigateway-integration: integration type 'aws_proxy with response streaming' "
        "is not run locally (only aws_proxy to a Lambda function and mock): the route answers "
        "500 as API Gateway does for an integration it cannot call",
        "Resources.Tell (AWS::ApiGateway::Method): Integration.Type 'AWS_PROXY with response "
        "streaming' is not run locally (only AWS_PROXY to a Lambda function and MOCK): the "
        "route answers 500 as API Gateway does for an integration it cannot call",
    ]
    async with (
        HttpServer(mesh, "127.0.0.1", 0) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=30) as client,
    ):
        for path in ("/story", "/tales"):
            answer = await client.post(path)
            assert (answer.status_code, answer.content) == (
                500,
                b'{"message": "Internal server error"}',
            )
        plain = await client.get("/plain")
        assert (plain.status_code, plain.text) == (200, "once upon a time")


def test_strict_refuses_a_streaming_route() -> None:
    with pytest.raises(TemplateError, match=r"^--strict: .*response streaming"):
        build_application(TEMPLATE, mesh=mesh_with_teller(), strict=True)
