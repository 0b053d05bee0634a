"""An API route whose integration names, by ARN, a function neither in the template nor in the
mesh (another stack's) is out of the mesh's reach: a warning naming it (``--strict`` refuses),
and the route answers as API Gateway does for an integration it cannot call, the API's other
routes working; a function named by a bare name that is nowhere stays an error."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from eventmesh import Mesh, Telemetry
from eventmesh.http import HttpServer
from eventmesh.sam import TemplateError, build_application

ELSEWHERE = "arn:aws:lambda:us-east-1:123456789012:function:other-stack"
HERE = "arn:aws:lambda:us-east-1:123456789012:function:here"


def uri(function_arn: str) -> str:
    return (
        f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    )


def proxy(function_arn: str) -> dict[str, Any]:
    return {"type": "aws_proxy", "httpMethod": "POST", "uri": uri(function_arn)}


REST: dict[str, Any] = {
    "Resources": {
        "Api": {
            "Type": "AWS::ApiGateway::RestApi",
            "Properties": {
                "Name": "Shop",
                "Body": {
                    "openapi": "3.0.1",
                    "paths": {
                        "/elsewhere": {
                            "get": {"x-amazon-apigateway-integration": proxy(ELSEWHERE)}
                        },
                        "/here": {"get": {"x-amazon-apigateway-integration": proxy(HERE)}},
                    },
                },
            },
        },
        "Items": {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                "PathPart": "items",
            },
        },
        "GetItems": {
            "Type": "AWS::ApiGateway::Method",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "ResourceId": {"Ref": "Items"},
                "HttpMethod": "GET",
                "AuthorizationType": "NONE",
                "Integration": {
                    "Type": "AWS_PROXY",
                    "IntegrationHttpMethod": "POST",
                    "Uri": uri(ELSEWHERE),
                },
            },
        },
        "Deployment": {
            "Type": "AWS::ApiGateway::Deployment",
            "DependsOn": ["GetItems"],
            "Properties": {"RestApiId": {"Ref": "Api"}, "StageName": "Prod"},
        },
    }
}

ANSWER_500 = (
    "the function other-stack is neither in the template nor in the mesh (another stack's): "
    "the route answers 500 as API Gateway does for an integration it cannot call"
)


def mesh_with_here() -> Mesh:
    mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)

    @mesh.function(name="here")
    async def here(event: Any, context: Any) -> Any:
        return {"statusCode": 200, "body": "here"}

    return mesh


async def test_a_rest_route_to_another_stacks_function_answers_500_with_a_warning() -> None:
    mesh = mesh_with_here()
    app = build_application(REST, mesh=mesh)
    assert app.warnings == [
        "Resources.Api (AWS::ApiGateway::RestApi): Body.paths./elsewhere.get."
        f"x-amazon-apigateway-integration.uri: {ANSWER_500}",
        f"Resources.GetItems (AWS::ApiGateway::Method): Integration.Uri: {ANSWER_500}",
    ]
    async with (
        HttpServer(mesh, "127.0.0.1", 0) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=30) as client,
    ):
        for path in ("/elsewhere", "/items"):
            answer = await client.get(path)
            assert (answer.status_code, answer.content) == (
                500,
                b'{"message": "Internal server error"}',
            )
        here = await client.get("/here")
        assert (here.status_code, here.text) == (200, "here")
    with pytest.raises(TemplateError, match=r"^--strict: "):
        build_application(REST, mesh=mesh_with_here(), strict=True)


def test_http_api_routes_to_another_stacks_function_are_warned_about() -> None:
    template = {
        "Resources": {
            "Quick": {
                "Type": "AWS::ApiGatewayV2::Api",
                "Properties": {"Name": "quick", "ProtocolType": "HTTP", "Target": ELSEWHERE},
            },
            "Api": {
                "Type": "AWS::ApiGatewayV2::Api",
                "Properties": {"Name": "explicit", "ProtocolType": "HTTP"},
            },
            "Integration": {
                "Type": "AWS::ApiGatewayV2::Integration",
                "Properties": {
                    "ApiId": {"Ref": "Api"},
                    "IntegrationType": "AWS_PROXY",
                    "IntegrationUri": ELSEWHERE,
                    "PayloadFormatVersion": "2.0",
                },
            },
            "Route": {
                "Type": "AWS::ApiGatewayV2::Route",
                "Properties": {
                    "ApiId": {"Ref": "Api"},
                    "RouteKey": "GET /orders",
                    "Target": {"Fn::Join": ["/", ["integrations", {"Ref": "Integration"}]]},
                },
            },
        }
    }
    app = build_application(template, mesh=mesh_with_here())
    assert sorted(app.warnings) == [
        f"Resources.Integration (AWS::ApiGatewayV2::Integration): IntegrationUri: {ANSWER_500}",
        f"Resources.Quick (AWS::ApiGatewayV2::Api): Target: {ANSWER_500}",
    ]


def test_a_route_to_a_bare_name_that_is_nowhere_is_still_an_error() -> None:
    template = {
        "Resources": {
            "Quick": {
                "Type": "AWS::ApiGatewayV2::Api",
                "Properties": {"Name": "quick", "ProtocolType": "HTTP", "Target": "nobody"},
            }
        }
    }
    with pytest.raises(TemplateError) as refused:
        build_application(template, mesh=mesh_with_here())
    assert str(refused.value) == (
        "Resources.Quick.Properties.Target (AWS::ApiGatewayV2::Api): no function 'nobody' in the "
        "template or the mesh"
    )
