"""REST APIs from a template (``AWS::ApiGateway::*``, what SAM's ``Api`` events become),
served on the real HTTP front and driven with httpx as curl would.

The template is plain CloudFormation in the shape AWS's SAM translator writes (a swagger
``Body``, a ``Deployment`` with ``StageName: Stage``, a ``Prod`` stage, SAM's CORS ``OPTIONS``
mock methods carrying the default authorizer, an API key in a usage plan); the functions are
declared in code and named by ARN, so the test needs no other kind.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from eventmesh import Mesh, Telemetry
from eventmesh.http import HttpServer
from eventmesh.sam import Application, TemplateError, build_application, load_template

ACCOUNT = "123456789012"
REGION = "us-east-1"
FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function"
API_KEY = "a-key-of-twenty-chars-or-more-0001"


def uri(function: str) -> str:
    return (
        f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{FN}:{function}/invocations"
    )


def proxy(function: str, **security: list[str]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "x-amazon-apigateway-integration": {
            "httpMethod": "POST",
            "type": "aws_proxy",
            "uri": uri(function),
        },
        "responses": {},
    }
    if security:
        operation["security"] = [{name: scopes} for name, scopes in security.items()]
    return operation


HEADER = "method.response.header.Access-Control-"


def cors_options(methods: str) -> dict[str, Any]:
    """The OPTIONS operation SAM writes for ``Cors`` (with the default authorizer on it)."""
    return {
        "x-amazon-apigateway-integration": {
            "type": "mock",
            "requestTemplates": {"application/json": '{\n  "statusCode" : 200\n}\n'},
            "responses": {
                "default": {
                    "statusCode": "200",
                    "responseTemplates": {"application/json": "{}\n"},
                    "responseParameters": {
                        f"{HEADER}Allow-Origin": "'https://shop.example'",
                        f"{HEADER}Allow-Methods": f"'{methods}'",
                        f"{HEADER}Allow-Headers": "'Content-Type,Authorization'",
                    },
                }
            },
        },
        "summary": "CORS support",
        "security": [{"TokenAuth": []}],
        "responses": {},
    }


TEMPLATE: dict[str, Any] = {
    "Resources": {
        "ShopApi": {
            "Type": "AWS::ApiGateway::RestApi",
            "Properties": {
                "Body": {
                    "swagger": "2.0",
                    "info": {"title": "shop", "version": "1.0"},
                    "paths": {
                        "/hello/{name}": {
                            "get": proxy("hello", TokenAuth=[]),
                            "options": cors_options("GET,OPTIONS"),
                        },
                        "/{proxy+}": {"x-amazon-apigateway-any-method": proxy("hello")},
                        "/keyed": {"post": proxy("hello", api_key=[])},
                        "/members": {"get": proxy("hello", Cog=[])},
                        "/signed": {"get": proxy("hello", AWS_IAM=[])},
                        "/ask": {"get": proxy("hello", ReqAuth=[])},
                        "/legacy": {
                            "get": {
                                "x-amazon-apigateway-integration": {
                                    "type": "http_proxy",
                                    "httpMethod": "GET",
                                    "uri": "https://legacy.example/",
                                }
                            }
                        },
                    },
                    "securityDefinitions": {
                        "api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"},
                        "TokenAuth": {
                            "type": "apiKey",
                            "name": "Authorization",
                            "in": "header",
                            "x-amazon-apigateway-authtype": "custom",
                            "x-amazon-apigateway-authorizer": {
                                "type": "token",
                                "authorizerResultTtlInSeconds": 0,
                                "authorizerUri": uri("gate"),
                            },
                        },
                        "ReqAuth": {
                            "type": "apiKey",
                            "name": "Unused",
                            "in": "header",
                            "x-amazon-apigateway-authtype": "custom",
                            "x-amazon-apigateway-authorizer": {
                                "type": "request",
                                "identitySource": "method.request.header.X-Token, "
                                "method.request.querystring.user",
                                "authorizerResultTtlInSeconds": 0,
                                "authorizerUri": uri("asker"),
                            },
                        },
                        "Cog": {
                            "type": "apiKey",
                            "name": "Authorization",
                            "in": "header",
                            "x-amazon-apigateway-authtype": "cognito_user_pools",
                            "x-amazon-apigateway-authorizer": {
                                "type": "cognito_user_pools",
                                "providerARNs": [
                                    f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/x"
                                ],
                            },
                        },
                        "AWS_IAM": {
                            "type": "apiKey",
                            "name": "Authorization",
                            "in": "header",
                            "x-amazon-apigateway-authtype": "awsSigv4",
                        },
                    },
                    "x-amazon-apigateway-binary-media-types": ["image/png"],
                }
            },
        },
        "ShopApiDeployment0123abcd": {
            "Type": "AWS::ApiGateway::Deployment",
            "Properties": {"RestApiId": {"Ref": "ShopApi"}, "StageName": "Stage"},
        },
        "ShopApiProdStage": {
            "Type": "AWS::ApiGateway::Stage",
            "Properties": {
                "RestApiId": {"Ref": "ShopApi"},
                "DeploymentId": {"Ref": "ShopApiDeployment0123abcd"},
                "StageName": "Prod",
                "Variables": {"table": "orders"},
            },
        },
        "ShopApiUsagePlan": {
            "Type": "AWS::ApiGateway::UsagePlan",
            "DependsOn": ["ShopApi"],
            "Properties": {
                "ApiStages": [{"ApiId": {"Ref": "ShopApi"}, "Stage": {"Ref": "ShopApiProdStage"}}]
            },
        },
        "ShopApiApiKey": {
            "Type": "AWS::ApiGateway::ApiKey",
            "DependsOn": ["ShopApiUsagePlan"],
            "Properties": {"Enabled": True, "Value": API_KEY},
        },
        "ShopApiUsagePlanKey": {
            "Type": "AWS::ApiGateway::UsagePlanKey",
            "Properties": {
                "KeyId": {"Ref": "ShopApiApiKey"},
                "KeyType": "API_KEY",
                "UsagePlanId": {"Ref": "ShopApiUsagePlan"},
            },
        },
    },
    "Outputs": {
        "ApiId": {"Value": {"Ref": "ShopApi"}},
        "Root": {"Value": {"Fn::GetAtt": ["ShopApi", "RootResourceId"]}},
        "Url": {
            "Value": {
                "Fn::Sub": "https://${ShopApi}.execute-api.${AWS::Region}.amazonaws.com/Prod/"
            }
        },
        "KeyId": {"Value": {"Ref": "ShopApiApiKey"}},
        "Stage": {"Value": {"Ref": "ShopApiProdStage"}},
    },
}

PNG = b"\x89PNG\r\n\x1a\n\x00\x00"


def declare_functions(mesh: Mesh) -> None:
    @mesh.function(name="hello")
    def hello(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if event["path"].endswith("/picture.png"):
            return {
                "statusCode": 200,
                "headers": {"content-type": "image/png"},
                "body": base64.b64encode(PNG).decode(),
                "isBase64Encoded": True,
            }
        request = event["requestContext"]
        seen = {
            "resource": event["resource"],
            "path": event["path"],
            "pathParameters": event["pathParameters"],
            "stage": request["stage"],
            "stageVariables": event["stageVariables"],
            "authorizer": request.get("authorizer"),
            "apiKeyId": request["identity"].get("apiKeyId"),
        }
        return {"statusCode": 200, "body": json.dumps(seen)}

    @mesh.function(name="gate")
    def gate(event: dict[str, Any], context: Any) -> dict[str, Any]:
        token = event["authorizationToken"]
        if token not in ("allow", "deny"):
            raise Exception("Unauthorized")
        effect = "Allow" if token == "allow" else "Deny"
        statement = {"Action": "execute-api:Invoke", "Effect": effect, "Resource": "*"}
        return {
            "principalId": "user-7",
            "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
            "context": {"tier": "gold"},
        }

    @mesh.function(name="asker")
    def asker(event: dict[str, Any], context: Any) -> dict[str, Any]:
        allowed = event["headers"].get("X-Token") == "yes"
        statement = {
            "Action": "execute-api:Invoke",
            "Effect": "Allow" if allowed else "Deny",
            "Resource": event["methodArn"],
        }
        return {
            "principalId": event["queryStringParameters"]["user"],
            "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
        }


@dataclass
class Served:
    app: Application
    client: httpx.AsyncClient

    @property
    def host(self) -> str:
        return f"{self.app.outputs['ApiId']}.execute-api.localhost"


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    declare_functions(mesh)
    app = build_application(TEMPLATE, mesh=mesh)
    async with (
        HttpServer(mesh, "127.0.0.1", 0) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=30) as client,
    ):
        yield Served(app, client)


def seen(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    value: dict[str, Any] = json.loads(response.content)
    return value


async def test_a_route_with_its_path_parameters_stage_and_variables(served: Served) -> None:
    answer = seen(await served.client.get("/hello/world", headers={"Authorization": "allow"}))
    assert answer["resource"] == "/hello/{name}"
    assert answer["path"] == "/hello/world"
    assert answer["pathParameters"] == {"name": "world"}
    assert answer["stage"] == "Prod"
    assert answer["stageVariables"] == {"table": "orders"}
    assert answer["authorizer"]["principalId"] == "user-7"
    assert answer["authorizer"]["tier"] == "gold"


async def test_ref_and_attributes_are_stable_ids(served: Served) -> None:
    outputs = served.app.outputs
    assert outputs["ApiId"] == "y3j3xsqyxn"  # derived from the API's name: same every run
    assert outputs["Url"] == "https://y3j3xsqyxn.execute-api.us-east-1.amazonaws.com/Prod/"
    assert outputs["Stage"] == "Prod"
    assert isinstance(outputs["Root"], str) and len(outputs["Root"]) == 10


async def test_the_token_authorizer_refuses_as_api_gateway(served: Served) -> None:
    missing = await served.client.get("/hello/world")
    assert (missing.status_code, missing.content) == (401, b'{"message":"Unauthorized"}')
    failed = await served.client.get("/hello/world", headers={"Authorization": "who"})
    assert (failed.status_code, failed.content) == (401, b'{"message":"Unauthorized"}')
    denied = await served.client.get("/hello/world", headers={"Authorization": "deny"})
    assert denied.status_code == 403
    assert denied.json() == {
        "Message": "User is not authorized to access this resource with an explicit deny"
    }


async def test_a_request_authorizer_gets_its_identity_sources(served: Served) -> None:
    ok = await served.client.get("/ask?user=ann", headers={"X-Token": "yes"})
    assert seen(ok)["authorizer"]["principalId"] == "ann"
    no_query = await served.client.get("/ask", headers={"X-Token": "yes"})
    assert (no_query.status_code, no_query.content) == (401, b'{"message":"Unauthorized"}')
    refused = await served.client.get("/ask?user=ann", headers={"X-Token": "no"})
    assert refused.status_code == 403


async def test_each_stage_of_the_template_by_the_execute_api_host(served: Served) -> None:
    headers = {"Host": served.host, "Authorization": "allow"}
    prod = seen(await served.client.get("/Prod/hello/x", headers=headers))
    assert (prod["stage"], prod["stageVariables"]) == ("Prod", {"table": "orders"})
    assert prod["path"] == "/hello/x"
    stage = seen(await served.client.get("/Stage/hello/x", headers=headers))
    assert (stage["stage"], stage["stageVariables"]) == ("Stage", None)
    other = await served.client.get("/Beta/hello/x", headers=headers)
    assert (other.status_code, other.content) == (403, b'{"message":"Forbidden"}')


async def test_sams_cors_options_answers_the_mock_integrations_headers(served: Served) -> None:
    headers = {
        "Origin": "https://shop.example",
        "Access-Control-Request-Method": "GET",
        "Authorization": "allow",
    }
    answer = await served.client.options("/hello/world", headers=headers)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "https://shop.example"
    assert answer.headers["access-control-allow-methods"] == "GET,OPTIONS"
    assert answer.headers["access-control-allow-headers"] == "Content-Type,Authorization"
    assert answer.headers["content-type"] == "application/json"
    assert answer.content == b"{}\n"


async def test_a_preflight_without_the_default_authorizers_token_is_401(served: Served) -> None:
    # SAM puts the API's DefaultAuthorizer on the CORS OPTIONS method (unless
    # AddDefaultAuthorizerToCorsPreflight is false): API Gateway then refuses a browser's
    # preflight, which carries no Authorization header.
    headers = {"Origin": "https://shop.example", "Access-Control-Request-Method": "GET"}
    answer = await served.client.options("/hello/world", headers=headers)
    assert (answer.status_code, answer.content) == (401, b'{"message":"Unauthorized"}')


async def test_any_method_on_a_greedy_path(served: Served) -> None:
    answer = seen(await served.client.delete("/orders/7/lines"))
    assert answer["resource"] == "/{proxy+}"
    assert answer["pathParameters"] == {"proxy": "orders/7/lines"}


async def test_an_api_key_from_a_usage_plan(served: Served) -> None:
    missing = await served.client.post("/keyed")
    assert (missing.status_code, missing.content) == (403, b'{"message":"Forbidden"}')
    wrong = await served.client.post("/keyed", headers={"x-api-key": "x" * 30})
    assert (wrong.status_code, wrong.content) == (403, b'{"message":"Forbidden"}')
    right = seen(await served.client.post("/keyed", headers={"x-api-key": API_KEY}))
    assert right["apiKeyId"] == served.app.outputs["KeyId"]


async def test_a_cognito_authorizer_refuses_every_request_and_is_warned(served: Served) -> None:
    answer = await served.client.get("/members", headers={"Authorization": "any-token"})
    assert (answer.status_code, answer.content) == (401, b'{"message":"Unauthorized"}')
    assert any("Cognito user pool" in warning for warning in served.app.warnings)


async def test_aws_iam_needs_a_signed_request(served: Served) -> None:
    unsigned = await served.client.get("/signed")
    assert unsigned.status_code == 403
    assert unsigned.content == b'{"message":"Missing Authentication Token"}'
    signature = (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261207/us-east-1/execute-api/"
        "aws4_request, SignedHeaders=host, Signature=abc"
    )
    assert (await served.client.get("/signed", headers={"Authorization": signature})).is_success


async def test_an_integration_the_mesh_cannot_run_answers_500_and_is_warned(
    served: Served,
) -> None:
    answer = await served.client.get("/legacy")
    assert (answer.status_code, answer.content) == (500, b'{"message": "Internal server error"}')
    assert any("'http_proxy' is not run locally" in w for w in served.app.warnings)


async def test_binary_media_types_decode_a_base64_response(served: Served) -> None:
    answer = await served.client.get("/files/picture.png", headers={"Accept": "image/png"})
    assert answer.status_code == 200
    assert answer.content == PNG


async def test_no_route_is_missing_authentication_token(served: Served) -> None:
    answer = await served.client.post("/hello/world", headers={"Authorization": "allow"})
    assert answer.status_code == 403
    assert answer.content == b'{"message":"Missing Authentication Token"}'


# -- the explicit form: Resource + Method + Authorizer -------------------------------------

EXPLICIT: dict[str, Any] = {
    "Resources": {
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "explicit"}},
        "Orders": {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                "PathPart": "orders",
            },
        },
        "Order": {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "ParentId": {"Ref": "Orders"},
                "PathPart": "{id}",
            },
        },
        "Gate": {
            "Type": "AWS::ApiGateway::Authorizer",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "Name": "gate",
                "Type": "TOKEN",
                "IdentitySource": "method.request.header.Authorization",
                "AuthorizerUri": uri("gate"),
                "AuthorizerResultTtlInSeconds": 0,
                "IdentityValidationExpression": "^[a-z]+$",
            },
        },
        "GetOrder": {
            "Type": "AWS::ApiGateway::Method",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "ResourceId": {"Ref": "Order"},
                "HttpMethod": "GET",
                "AuthorizationType": "CUSTOM",
                "AuthorizerId": {"Ref": "Gate"},
                "Integration": {
                    "Type": "AWS_PROXY",
                    "IntegrationHttpMethod": "POST",
                    "Uri": uri("hello"),
                },
            },
        },
        "Ping": {
            "Type": "AWS::ApiGateway::Method",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "ResourceId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                "HttpMethod": "GET",
                "AuthorizationType": "NONE",
                "Integration": {
                    "Type": "MOCK",
                    "RequestTemplates": {"application/json": '{"statusCode": 200}'},
                    "IntegrationResponses": [
                        {"StatusCode": "500", "SelectionPattern": "5\\d{2}"},
                        {
                            "StatusCode": "200",
                            "ResponseTemplates": {"application/json": '{"pong": true}'},
                            "ResponseParameters": {"method.response.header.X-Mock": "'yes'"},
                        },
                    ],
                },
            },
        },
        "Deployment": {
            "Type": "AWS::ApiGateway::Deployment",
            "DependsOn": ["GetOrder", "Ping"],
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "StageName": "v1",
                "StageDescription": {"Variables": {"color": "blue"}},
            },
        },
    }
}


async def test_the_explicit_form_resource_method_authorizer_deployment() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    declare_functions(mesh)
    app = build_application(EXPLICIT, mesh=mesh)
    async with (
        HttpServer(mesh, "127.0.0.1", 0) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=30) as client,
    ):
        answer = seen(await client.get("/orders/42", headers={"Authorization": "allow"}))
        assert answer["resource"] == "/orders/{id}"
        assert answer["pathParameters"] == {"id": "42"}
        assert (answer["stage"], answer["stageVariables"]) == ("v1", {"color": "blue"})
        refused = await client.get("/orders/42")
        assert (refused.status_code, refused.content) == (401, b'{"message":"Unauthorized"}')
        # fails IdentityValidationExpression: refused without calling the authorizer
        calls = app.resources["Gate"].value.invocations
        invalid = await client.get("/orders/42", headers={"Authorization": "allow!"})
        assert (invalid.status_code, invalid.content) == (401, b'{"message":"Unauthorized"}')
        assert app.resources["Gate"].value.invocations == calls
        ping = await client.get("/")
        assert (ping.status_code, ping.content) == (200, b'{"pong": true}')
        assert ping.headers["x-mock"] == "yes"


# -- bad templates: a clear error naming the property -------------------------------------


def _api_with(operation: dict[str, Any]) -> dict[str, Any]:
    body = {"swagger": "2.0", "paths": {"/x": {"get": operation}}}
    return {
        "Resources": {"Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Body": body}}}
    }


def test_an_integration_naming_no_function_is_an_error() -> None:
    """By a bare name; by ARN it is another stack's function, warned about
    (tests/sam/test_api_function_elsewhere.py)."""
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    operation = proxy("nowhere")
    operation["x-amazon-apigateway-integration"]["uri"] = "nowhere"
    with pytest.raises(TemplateError) as raised:
        build_application(_api_with(operation), mesh=mesh)
    assert str(raised.value) == (
        "Resources.Api.Properties.Body.paths./x.get.x-amazon-apigateway-integration.uri "
        "(AWS::ApiGateway::RestApi): no function 'nowhere' in the template or the mesh"
    )


def test_a_function_chosen_by_a_stage_variable_is_refused() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    operation = proxy("hello")
    operation["x-amazon-apigateway-integration"]["uri"] = uri("${stageVariables.fn}")
    with pytest.raises(TemplateError, match=r"Body\.paths\./x\.get\..*stage variable"):
        build_application(_api_with(operation), mesh=mesh)


def test_a_body_in_s3_is_refused() -> None:
    template = {
        "Resources": {
            "Api": {
                "Type": "AWS::ApiGateway::RestApi",
                "Properties": {"BodyS3Location": {"Bucket": "b", "Key": "k"}},
            }
        }
    }
    with pytest.raises(TemplateError, match=r"Resources\.Api\.Properties\.BodyS3Location"):
        build_application(template, mesh=Mesh(telemetry=Telemetry(enabled=False)))


def test_two_apis_of_a_template_are_served_under_their_logical_ids() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    declare_functions(mesh)
    template = _api_with(proxy("hello"))
    template["Resources"]["Other"] = dict(template["Resources"]["Api"])
    app = build_application(template, mesh=mesh)
    assert app.resources["Api"].value.base_path == "Api"
    assert app.resources["Other"].value.base_path == "Other"
    alone = Mesh(telemetry=Telemetry(enabled=False))
    declare_functions(alone)
    assert (
        build_application(_api_with(proxy("hello")), mesh=alone).resources["Api"].value.base_path
        == ""
    )


def test_definition_extensions_the_mesh_does_not_honour_are_warned() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    declare_functions(mesh)
    template = _api_with(proxy("hello"))
    body = template["Resources"]["Api"]["Properties"]["Body"]
    body["x-amazon-apigateway-gateway-responses"] = {"DEFAULT_4XX": {}}
    body["x-amazon-apigateway-request-validators"] = {"body": {"validateRequestBody": True}}
    app = build_application(template, mesh=mesh)
    assert app.warnings == [
        "Resources.Api (AWS::ApiGateway::RestApi): Body.x-amazon-apigateway-gateway-responses: "
        "custom gateway responses are not used locally (API Gateway's default answers are sent)",
        "Resources.Api (AWS::ApiGateway::RestApi): Body.x-amazon-apigateway-request-validators: "
        "requests are not validated locally",
    ]


def test_front_lines_say_where_each_api_and_route_is_served() -> None:
    from eventmesh.gateway.describe import front_lines

    mesh = Mesh(telemetry=Telemetry(enabled=False))
    declare_functions(mesh)
    build_application(EXPLICIT, mesh=mesh)
    mesh.function_url("hello", auth_type="AWS_IAM")
    assert front_lines(mesh.context, "http://127.0.0.1:3000/") == [
        "REST API explicit (qfkpjxa7jc), stage v1: http://127.0.0.1:3000",
        "  GET /orders/{id} -> hello",
        "  GET / -> (answered by the gateway)",
        "  also http://qfkpjxa7jc.execute-api.localhost:3000/v1/...",
        "function URL of hello: http://127.0.0.1:3000/_lambda-url/hello/",
    ]


def test_a_definition_included_from_a_local_file(tmp_path: Path) -> None:
    (tmp_path / "api.json").write_text(
        json.dumps(_api_with(proxy("hello"))["Resources"]["Api"]["Properties"]["Body"])
    )
    template = {
        "Resources": {
            "Api": {
                "Type": "AWS::ApiGateway::RestApi",
                "Properties": {
                    "Body": {
                        "Fn::Transform": {
                            "Name": "AWS::Include",
                            "Parameters": {"Location": "./api.json"},
                        }
                    }
                },
            }
        }
    }
    (tmp_path / "template.json").write_text(json.dumps(template))
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    declare_functions(mesh)
    app = load_template(tmp_path / "template.json", mesh=mesh)
    assert [route.key.text for route in app.resources["Api"].value.routes.values()] == ["GET /x"]
    (tmp_path / "api.json").unlink()
    with pytest.raises(TemplateError, match=r"^Resources\.Api\.Properties\.Body\.Fn::Transform: "):
        load_template(tmp_path / "template.json", mesh=Mesh(telemetry=Telemetry(enabled=False)))
