"""What a template's APIs protect: no route of a template ends up open when API Gateway would
protect it, and a route SAM opens on purpose (``Auth: {Authorizer: NONE}`` under a
``DefaultAuthorizer``) is open. A security declaration the mesh cannot read is an error naming
its place, never a route served without its authorizer.

Functions are declared in code and named by ARN (no process environments), so these tests are
fast; the HTTP ones go through the real front with httpx.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from eventmesh import Mesh, Telemetry
from eventmesh.gateway.apis import Api
from eventmesh.http import HttpServer
from eventmesh.sam import TemplateError, build_application, load_template

REGION = "us-east-1"
FN = f"arn:aws:lambda:{REGION}:123456789012:function"


def uri(function: str) -> str:
    return (
        f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{FN}:{function}/invocations"
    )


def proxy(**extra: Any) -> dict[str, Any]:
    return {
        "x-amazon-apigateway-integration": {
            "httpMethod": "POST",
            "type": "aws_proxy",
            "uri": uri("hello"),
            "payloadFormatVersion": "2.0",
        },
        "responses": {},
        **extra,
    }


def new_mesh() -> Mesh:
    mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)

    @mesh.function(name="hello")
    def hello(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": "hello"}

    @mesh.function(name="checker")
    def checker(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"isAuthorized": event["headers"].get("authorization") == "let-me-in"}

    return mesh


LAMBDA_SCHEME = {
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
}


def http_api(paths: dict[str, Any], **top: Any) -> dict[str, Any]:
    """An HTTP API's Body as SAM's translator writes it, with one Lambda authorizer."""
    body = {
        "openapi": "3.0.1",
        "info": {"title": "t", "version": "1.0"},
        "paths": paths,
        "components": {"securitySchemes": {"LambdaAuth": copy.deepcopy(LAMBDA_SCHEME)}},
        **top,
    }
    return {
        "Resources": {"MyHttp": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"Body": body}}}
    }


def routes(mesh: Mesh) -> dict[str, Any]:
    return {
        route.key.text: route.authorizer
        for api in mesh.context.resources_of(Api)
        for route in api.routes.values()
    }


# -- SAM's Authorizer: NONE under a DefaultAuthorizer ----------------------------------------


async def test_an_http_api_route_with_authorizer_none_is_open_and_the_others_are_not() -> None:
    """SAM writes ``security: [{"NONE": []}]`` for an HttpApi event's ``Auth: {Authorizer:
    NONE}`` under a ``DefaultAuthorizer``: API Gateway serves that route without authorization
    (SAM documents NONE as the way to override the default); it failed the build as naming no
    security scheme."""
    template = http_api(
        {
            "/open": {"get": proxy(security=[{"NONE": []}])},
            "/closed": {"get": proxy(security=[{"LambdaAuth": []}])},
        }
    )
    mesh = new_mesh()
    build_application(template, mesh=mesh)
    async with (
        HttpServer(mesh, "127.0.0.1", 0) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=30) as client,
    ):
        opened = await client.get("/open")
        assert (opened.status_code, opened.text) == (200, "hello")
        refused = await client.get("/closed", headers={"Authorization": "no"})
        assert (refused.status_code, refused.content) == (403, b'{"message":"Forbidden"}')
        allowed = await client.get("/closed", headers={"Authorization": "let-me-in"})
        assert (allowed.status_code, allowed.text) == (200, "hello")


def test_a_scheme_the_template_names_none_is_still_that_scheme() -> None:
    """A definition that declares a scheme called NONE means that scheme."""
    template = http_api({"/x": {"get": proxy(security=[{"NONE": []}])}})
    schemes = template["Resources"]["MyHttp"]["Properties"]["Body"]["components"]
    schemes["securitySchemes"]["NONE"] = copy.deepcopy(LAMBDA_SCHEME)
    mesh = new_mesh()
    build_application(template, mesh=mesh)
    assert routes(mesh)["GET /x"] is not None


# -- security in a shape the mesh cannot read: an error, never an open route ------------------


@pytest.mark.parametrize(
    ("security", "where"),
    [
        ({"LambdaAuth": []}, "Body.paths./x.get.security"),
        (["LambdaAuth"], r"Body.paths./x.get.security\[0\]"),
        ([{"LambdaAuth": "read"}], r"Body.paths./x.get.security\[0\].LambdaAuth"),
    ],
)
def test_an_operations_security_of_the_wrong_shape_is_an_error(security: Any, where: str) -> None:
    """``security`` is a list of mappings of scheme names to lists of scopes; a mapping, a
    list of names or a scope string was read as no security at all (the route served
    open) or as one scope per character."""
    template = http_api({"/x": {"get": proxy(security=security)}})
    with pytest.raises(TemplateError, match=rf"^Resources\.MyHttp\.Properties\.{where} "):
        build_application(template, mesh=new_mesh())


def test_a_top_level_security_of_the_wrong_shape_is_an_error() -> None:
    template = http_api({"/x": {"get": proxy()}}, security="LambdaAuth")
    with pytest.raises(TemplateError, match=r"^Resources\.MyHttp\.Properties\.Body\.security "):
        build_application(template, mesh=new_mesh())


def test_top_level_security_protects_operations_without_their_own() -> None:
    template = http_api(
        {"/x": {"get": proxy()}, "/y": {"get": proxy(security=[])}},
        security=[{"LambdaAuth": []}],
    )
    mesh = new_mesh()
    build_application(template, mesh=mesh)
    found = routes(mesh)
    assert found["GET /x"] is not None
    assert found["GET /y"] is None


# -- the explicit forms: an authorizer named is an authorizer used ----------------------------


def rest_method(**props: Any) -> dict[str, Any]:
    return {
        "Resources": {
            "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {}},
            "Gate": {
                "Type": "AWS::ApiGateway::Authorizer",
                "Properties": {
                    "RestApiId": {"Ref": "Api"},
                    "Type": "TOKEN",
                    "AuthorizerUri": uri("checker"),
                    "IdentitySource": "method.request.header.Authorization",
                },
            },
            "Get": {
                "Type": "AWS::ApiGateway::Method",
                "Properties": {
                    "RestApiId": {"Ref": "Api"},
                    "ResourceId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                    "HttpMethod": "GET",
                    "AuthorizerId": {"Ref": "Gate"},
                    "Integration": {"Type": "AWS_PROXY", "Uri": uri("hello")},
                    **props,
                },
            },
        }
    }


@pytest.mark.parametrize("props", [{}, {"AuthorizationType": "NONE"}])
def test_a_rest_method_naming_an_authorizer_without_its_type_is_an_error(
    props: dict[str, Any],
) -> None:
    """API Gateway uses a method's AuthorizerId only with AuthorizationType CUSTOM or
    COGNITO_USER_POOLS; the mesh served such a method open."""
    with pytest.raises(TemplateError) as raised:
        build_application(rest_method(**props), mesh=new_mesh())
    assert str(raised.value).startswith(
        "Resources.Get.Properties.AuthorizationType (AWS::ApiGateway::Method): "
    )
    mesh = new_mesh()
    build_application(rest_method(AuthorizationType="CUSTOM"), mesh=mesh)
    assert routes(mesh)["GET /"] is not None


def http_route(**props: Any) -> dict[str, Any]:
    return {
        "Resources": {
            "Api": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"ProtocolType": "HTTP"}},
            "Jwt": {
                "Type": "AWS::ApiGatewayV2::Authorizer",
                "Properties": {
                    "ApiId": {"Ref": "Api"},
                    "AuthorizerType": "JWT",
                    "IdentitySource": ["$request.header.Authorization"],
                    "JwtConfiguration": {"Issuer": "https://issuer.example", "Audience": ["a"]},
                },
            },
            "Hello": {
                "Type": "AWS::ApiGatewayV2::Integration",
                "Properties": {
                    "ApiId": {"Ref": "Api"},
                    "IntegrationType": "AWS_PROXY",
                    "IntegrationUri": f"{FN}:hello",
                    "PayloadFormatVersion": "2.0",
                },
            },
            "Route": {
                "Type": "AWS::ApiGatewayV2::Route",
                "Properties": {
                    "ApiId": {"Ref": "Api"},
                    "RouteKey": "GET /x",
                    "Target": {"Fn::Sub": "integrations/${Hello}"},
                    "AuthorizerId": {"Ref": "Jwt"},
                    **props,
                },
            },
        }
    }


@pytest.mark.parametrize("props", [{}, {"AuthorizationType": "NONE"}])
def test_an_http_route_naming_an_authorizer_without_its_type_is_an_error(
    props: dict[str, Any],
) -> None:
    with pytest.raises(TemplateError) as raised:
        build_application(http_route(**props), mesh=new_mesh())
    assert str(raised.value).startswith(
        "Resources.Route.Properties.AuthorizationType (AWS::ApiGatewayV2::Route): "
    )


def test_an_http_routes_scopes_are_a_list() -> None:
    """A scope string was one scope per character: a token with the scope "r" passed a route
    requiring "read"."""
    with pytest.raises(TemplateError) as raised:
        build_application(
            http_route(AuthorizationType="JWT", AuthorizationScopes="read"), mesh=new_mesh()
        )
    assert str(raised.value) == (
        "Resources.Route.Properties.AuthorizationScopes (AWS::ApiGatewayV2::Route): "
        "a list of scopes"
    )
    mesh = new_mesh()
    build_application(http_route(AuthorizationType="JWT", AuthorizationScopes=["read"]), mesh=mesh)
    assert routes(mesh)["GET /x"].scopes == ("read",)


def test_a_function_urls_auth_type_is_required() -> None:
    """``AuthType`` is required (AWS::Lambda::Url): a URL without it was served open."""
    template = {
        "Resources": {
            "Url": {"Type": "AWS::Lambda::Url", "Properties": {"TargetFunctionArn": "hello"}}
        }
    }
    with pytest.raises(TemplateError) as raised:
        build_application(template, mesh=new_mesh())
    assert str(raised.value) == (
        "Resources.Url.Properties.AuthType (AWS::Lambda::Url): required: NONE or AWS_IAM"
    )


# -- odd values in a definition: a TemplateError naming the place, not a crash ---------------


def rest_api(paths: dict[str, Any], **top: Any) -> dict[str, Any]:
    body = {"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": paths, **top}
    return {
        "Resources": {"Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Body": body}}}
    }


def mock(**integration: Any) -> dict[str, Any]:
    return {"get": {"x-amazon-apigateway-integration": {"type": "mock", **integration}}}


def with_integration(**integration: Any) -> dict[str, Any]:
    operation = proxy()
    operation["x-amazon-apigateway-integration"].update(integration)
    return {"get": operation}


TOKEN_SCHEME = {
    "type": "apiKey",
    "name": "Authorization",
    "in": "header",
    "x-amazon-apigateway-authtype": "custom",
    "x-amazon-apigateway-authorizer": {
        "type": "request",
        "authorizerUri": uri("checker"),
        "identitySource": 5,
    },
}


@pytest.mark.parametrize(
    ("template", "where"),
    [
        (rest_api({"/x": mock(responses=["default"])}),
         "Body.paths./x.get.x-amazon-apigateway-integration.responses"),
        (rest_api({"/x": mock(responses={"default": {"statusCode": "abc"}})}),
         "Body.paths./x.get.x-amazon-apigateway-integration.responses.default.statusCode"),
        (rest_api({"/x": mock(responses={"default": {"responseParameters": ["a"]}})}),
         "Body.paths./x.get.x-amazon-apigateway-integration.responses.default."
         "responseParameters"),
        (rest_api({"/x": with_integration(timeoutInMillis="abc")}),
         "Body.paths./x.get.x-amazon-apigateway-integration.timeoutInMillis"),
        (rest_api({}, **{"x-amazon-apigateway-binary-media-types": 5}),
         "Body.x-amazon-apigateway-binary-media-types"),
        (rest_api({"/x": {"get": proxy(security=[{"Gate": []}])}},
                  securityDefinitions={"Gate": TOKEN_SCHEME}),
         "Body.securityDefinitions.Gate.identitySource"),
        (http_api({}, **{"x-amazon-apigateway-cors": {"maxAge": "x"}}),
         "Body.x-amazon-apigateway-cors.maxAge"),
        (http_api({}, **{"x-amazon-apigateway-cors": {1: 2}}),
         "Body.x-amazon-apigateway-cors"),
    ],
)  # fmt: skip
def test_odd_values_in_a_definition_are_errors_naming_their_place(
    template: dict[str, Any], where: str
) -> None:
    logical_id = next(iter(template["Resources"]))
    with pytest.raises(TemplateError) as raised:
        build_application(template, mesh=new_mesh())
    assert str(raised.value).startswith(f"Resources.{logical_id}.Properties.{where} (")


def test_odd_values_in_the_explicit_forms_are_errors_naming_their_place() -> None:
    method = rest_method(AuthorizationType="CUSTOM")
    method["Resources"]["Get"]["Properties"]["Integration"]["TimeoutInMillis"] = "abc"
    with pytest.raises(TemplateError, match=r"^Resources\.Get\.Properties\.Integration\."
                       r"TimeoutInMillis \("):  # fmt: skip
        build_application(method, mesh=new_mesh())
    mocked = rest_method(AuthorizationType="CUSTOM")
    mocked["Resources"]["Get"]["Properties"]["Integration"] = {
        "Type": "MOCK",
        "IntegrationResponses": [{"StatusCode": "abc"}],
    }
    with pytest.raises(TemplateError, match=r"^Resources\.Get\.Properties\.Integration\."
                       r"IntegrationResponses\[0\]\.StatusCode \("):  # fmt: skip
        build_application(mocked, mesh=new_mesh())
    route = http_route(AuthorizationType="JWT")
    route["Resources"]["Hello"]["Properties"]["TimeoutInMillis"] = "abc"
    with pytest.raises(TemplateError, match=r"^Resources\.Hello\.Properties\.TimeoutInMillis \("):
        build_application(route, mesh=new_mesh())
    url = {
        "Resources": {
            "Url": {
                "Type": "AWS::Lambda::Url",
                "Properties": {"TargetFunctionArn": "hello", "AuthType": "NONE",
                               "Cors": {"MaxAge": "x"}},
            }
        }
    }  # fmt: skip
    with pytest.raises(TemplateError, match=r"^Resources\.Url\.Properties\.Cors\.MaxAge \("):
        build_application(url, mesh=new_mesh())
    binary = {
        "Resources": {
            "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"BinaryMediaTypes": "a/b"}}
        }
    }
    with pytest.raises(TemplateError, match=r"^Resources\.Api\.Properties\.BinaryMediaTypes \("):
        build_application(binary, mesh=new_mesh())


# -- AWS::Include of local files -------------------------------------------------------------


def include(location: str) -> dict[str, Any]:
    return {"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": location}}}


def including(location: str) -> dict[str, Any]:
    return {
        "Resources": {
            "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Body": include(location)}}
        }
    }


def test_an_include_may_lead_out_of_the_templates_folder(tmp_path: Path) -> None:
    """A definition shared by several applications (``../shared/api.json``) is read, as
    ``aws cloudformation package`` and ``CodeUri`` read paths out of the template's folder:
    the template names the code that runs, so it is trusted as much."""
    (tmp_path / "shared").mkdir()
    (tmp_path / "app").mkdir()
    body = rest_api({"/x": {"get": proxy()}})["Resources"]["Api"]["Properties"]["Body"]
    (tmp_path / "shared" / "api.json").write_text(json.dumps(body))
    (tmp_path / "app" / "template.json").write_text(json.dumps(including("../shared/api.json")))
    mesh = new_mesh()
    load_template(tmp_path / "app" / "template.json", mesh=mesh)
    assert list(routes(mesh)) == ["GET /x"]


def test_a_file_including_itself_is_an_error(tmp_path: Path) -> None:
    """An include cycle was a RecursionError."""
    (tmp_path / "a.json").write_text(json.dumps({"paths": include("b.json")}))
    (tmp_path / "b.json").write_text(json.dumps(include("./a.json")))
    (tmp_path / "template.json").write_text(json.dumps(including("a.json")))
    with pytest.raises(TemplateError) as raised:
        load_template(tmp_path / "template.json", mesh=new_mesh())
    assert str(raised.value) == (
        "Resources.Api.Properties.Body.paths.Fn::Transform: AWS::Include ./a.json: "
        "the file includes itself"
    )


def test_only_a_regular_file_is_included(tmp_path: Path) -> None:
    """A folder is an error, and so is a pipe (reading one would wait forever)."""
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "pipe")
    for name in ("folder", "pipe"):
        (tmp_path / "template.json").write_text(json.dumps(including(name)))
        with pytest.raises(TemplateError) as raised:
            load_template(tmp_path / "template.json", mesh=new_mesh())
        assert str(raised.value) == (
            f"Resources.Api.Properties.Body.Fn::Transform: AWS::Include {name}: "
            f"not a file ({tmp_path / name})"
        )


# -- CloudFormation's booleans: true/false or their texts ------------------------------------


@pytest.mark.parametrize(("given", "required"), [(True, True), ("true", True), ("false", False)])
def test_api_key_required_is_cloudformations_boolean(given: Any, required: bool) -> None:
    """``ApiKeyRequired: "false"`` (a parameter's text) was read as true."""
    template = rest_method(AuthorizationType="CUSTOM", ApiKeyRequired=given)
    mesh = new_mesh()
    build_application(template, mesh=mesh)
    [api] = mesh.context.resources_of(Api)
    assert [route.api_key_required for route in api.routes.values()] == [required]


def test_a_boolean_that_is_neither_is_an_error() -> None:
    with pytest.raises(TemplateError) as raised:
        build_application(
            rest_method(AuthorizationType="CUSTOM", ApiKeyRequired="yes"), mesh=new_mesh()
        )
    assert str(raised.value) == (
        "Resources.Get.Properties.ApiKeyRequired (AWS::ApiGateway::Method): "
        "true or false, got 'yes'"
    )
    scheme = copy.deepcopy(LAMBDA_SCHEME)
    scheme["x-amazon-apigateway-authorizer"]["enableSimpleResponses"] = "no"
    template = http_api({"/x": {"get": proxy(security=[{"LambdaAuth": []}])}})
    template["Resources"]["MyHttp"]["Properties"]["Body"]["components"]["securitySchemes"][
        "LambdaAuth"
    ] = scheme
    with pytest.raises(TemplateError) as raised:
        build_application(template, mesh=new_mesh())
    assert str(raised.value) == (
        "Resources.MyHttp.Properties.Body.securityDefinitions.LambdaAuth.enableSimpleResponses "
        "(AWS::ApiGatewayV2::Api): true or false, got 'no'"
    )


# -- API keys are for the stages their usage plans cover -------------------------------------

KEY = "a-key-of-twenty-chars-or-more-0002"


def keyed_api(plan_stage: Any) -> dict[str, Any]:
    """What SAM's translator makes of ``Auth: {ApiKeyRequired: true, UsagePlan:
    {CreateUsagePlan: PER_API}}`` on an Api with ``StageName: Prod`` (its Deployment also
    makes the stage ``Stage``), with the key's value given."""
    body = {"swagger": "2.0", "paths": {"/x": {"get": proxy(security=[{"api_key": []}])}},
            "securityDefinitions": {"api_key": {"type": "apiKey", "name": "x-api-key",
                                                "in": "header"}}}  # fmt: skip
    stage_keys = {"RestApiId": {"Ref": "MyApi"}}
    plan_stages = {"ApiId": {"Ref": "MyApi"}}
    if plan_stage is not None:
        stage_keys["StageName"] = plan_stage
        plan_stages["Stage"] = plan_stage
    return {
        "Resources": {
            "MyApi": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Body": body}},
            "MyApiDeployment": {
                "Type": "AWS::ApiGateway::Deployment",
                "Properties": {"RestApiId": {"Ref": "MyApi"}, "StageName": "Stage"},
            },
            "MyApiProdStage": {
                "Type": "AWS::ApiGateway::Stage",
                "Properties": {
                    "RestApiId": {"Ref": "MyApi"},
                    "StageName": "Prod",
                    "DeploymentId": {"Ref": "MyApiDeployment"},
                },
            },
            "MyApiUsagePlan": {
                "Type": "AWS::ApiGateway::UsagePlan",
                "Properties": {"ApiStages": [plan_stages]},
            },
            "MyApiApiKey": {
                "Type": "AWS::ApiGateway::ApiKey",
                "Properties": {"Enabled": True, "Value": KEY, "StageKeys": [stage_keys]},
            },
            "MyApiUsagePlanKey": {
                "Type": "AWS::ApiGateway::UsagePlanKey",
                "Properties": {
                    "KeyId": {"Ref": "MyApiApiKey"},
                    "KeyType": "API_KEY",
                    "UsagePlanId": {"Ref": "MyApiUsagePlan"},
                },
            },
        },
        "Outputs": {"ApiId": {"Value": {"Ref": "MyApi"}}},
    }


async def test_an_api_key_works_only_on_the_stages_of_its_usage_plan() -> None:
    """A key of a usage plan for the stage Prod is refused on the API's other stage, as API
    Gateway refuses a key on a stage none of its usage plans covers (it was accepted on
    every stage of the API); a plan naming no stage covers them all."""
    mesh = new_mesh()
    app = build_application(keyed_api({"Ref": "MyApiProdStage"}), mesh=mesh)
    every = new_mesh()
    open_app = build_application(keyed_api(None), mesh=every)
    async with (
        HttpServer(mesh, "127.0.0.1", 0) as server,
        HttpServer(every, "127.0.0.1", 0) as other,
        httpx.AsyncClient(timeout=30) as client,
    ):
        key = {"x-api-key": KEY}
        host = {"host": f"{app.outputs['ApiId']}.execute-api.localhost"}
        prod = await client.get(f"{server.base_url}/Prod/x", headers={**host, **key})
        assert (prod.status_code, prod.text) == (200, "hello")
        stage = await client.get(f"{server.base_url}/Stage/x", headers={**host, **key})
        assert (stage.status_code, stage.content) == (403, b'{"message":"Forbidden"}')
        host = {"host": f"{open_app.outputs['ApiId']}.execute-api.localhost"}
        for name in ("Prod", "Stage"):
            answer = await client.get(f"{other.base_url}/{name}/x", headers={**host, **key})
            assert (answer.status_code, answer.text) == (200, "hello")


def test_cors_settings_in_each_spelling_of_their_place() -> None:
    """An HTTP API's CorsConfiguration takes CloudFormation's and OpenAPI's spellings; a
    function URL's Cors CloudFormation's only (one translation for both kinds)."""
    mesh = new_mesh()
    template = http_api({})
    template["Resources"]["MyHttp"]["Properties"]["CorsConfiguration"] = {
        "AllowOrigins": ["https://a.example"],
        "maxAge": "600",
    }
    app = build_application(template, mesh=mesh)
    cors = app.resources["MyHttp"].value.cors
    assert (cors.allow_origins, cors.max_age) == (("https://a.example",), 600)
    url = {
        "Resources": {
            "Url": {
                "Type": "AWS::Lambda::Url",
                "Properties": {"TargetFunctionArn": "hello", "AuthType": "NONE",
                               "Cors": {"allowOrigins": ["*"]}},
            }
        }
    }  # fmt: skip
    with pytest.raises(TemplateError) as raised:
        build_application(url, mesh=new_mesh())
    assert str(raised.value) == (
        "Resources.Url.Properties.Cors (AWS::Lambda::Url): unknown CORS setting "
        "'allowOrigins'; known: AllowOrigins, AllowMethods, AllowHeaders, ExposeHeaders, "
        "MaxAge, AllowCredentials"
    )


# -- x-amazon-apigateway-auth: an operation's IAM authorization -------------------------------


async def test_an_operation_with_x_amazon_apigateway_auth_aws_iam_needs_a_signature() -> None:
    """API Gateway's ``x-amazon-apigateway-auth`` (type AWS_IAM or NONE, any case) on an
    operation: the route needs a SigV4 signature; it was ignored and the route served open."""
    template = http_api(
        {
            "/iam": {"get": proxy(**{"x-amazon-apigateway-auth": {"type": "aws_iam"}})},
            "/none": {"get": proxy(**{"x-amazon-apigateway-auth": {"type": "NONE"}})},
        }
    )
    mesh = new_mesh()
    build_application(template, mesh=mesh)
    signed = {
        "authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/"
        "execute-api/aws4_request, SignedHeaders=host, Signature=abc"
    }
    async with (
        HttpServer(mesh, "127.0.0.1", 0) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=30) as client,
    ):
        refused = await client.get("/iam")
        assert (refused.status_code, refused.content) == (403, b'{"message":"Forbidden"}')
        allowed = await client.get("/iam", headers=signed)
        assert (allowed.status_code, allowed.text) == (200, "hello")
        opened = await client.get("/none")
        assert (opened.status_code, opened.text) == (200, "hello")


def test_x_amazon_apigateway_auth_on_a_rest_operation_and_its_errors() -> None:
    auth = {"x-amazon-apigateway-auth": {"type": "AWS_IAM"}}
    mesh = new_mesh()
    build_application(rest_api({"/x": {"get": proxy(**auth)}}), mesh=mesh)
    assert type(routes(mesh)["GET /x"]).__name__ == "SigV4Authorizer"
    with pytest.raises(TemplateError) as raised:
        build_application(
            rest_api({"/x": {"get": proxy(**{"x-amazon-apigateway-auth": {"type": "COGNITO"}})}}),
            mesh=new_mesh(),
        )
    assert str(raised.value) == (
        "Resources.Api.Properties.Body.paths./x.get.x-amazon-apigateway-auth.type "
        "(AWS::ApiGateway::RestApi): AWS_IAM or NONE, got 'COGNITO'"
    )
    both = http_api({"/x": {"get": proxy(security=[{"LambdaAuth": []}], **auth)}})
    with pytest.raises(TemplateError) as raised:
        build_application(both, mesh=new_mesh())
    assert str(raised.value) == (
        "Resources.MyHttp.Properties.Body.paths./x.get.x-amazon-apigateway-auth "
        "(AWS::ApiGatewayV2::Api): one authorizer per operation (security names one)"
    )


# -- $ref to components ------------------------------------------------------------------------


def test_an_integration_given_by_ref_to_the_definitions_components() -> None:
    """An HTTP API's operations may name their integration in
    ``components.x-amazon-apigateway-integrations`` by ``$ref``, as API Gateway exports them;
    the route answered 500 as an integration the mesh cannot run."""
    integration = dict(proxy()["x-amazon-apigateway-integration"])
    operation = {"x-amazon-apigateway-integration": {"$ref": "#/components/"
                 "x-amazon-apigateway-integrations/hello"}}  # fmt: skip
    template = http_api({"/x": {"get": operation}})
    components = template["Resources"]["MyHttp"]["Properties"]["Body"]["components"]
    components["x-amazon-apigateway-integrations"] = {"hello": integration}
    mesh = new_mesh()
    app = build_application(template, mesh=mesh)
    [route] = app.resources["MyHttp"].value.routes.values()
    assert (route.function, route.fixed) == ("hello", None)
    assert app.warnings == []
    operation["x-amazon-apigateway-integration"]["$ref"] = "#/components/nowhere"
    with pytest.raises(TemplateError) as raised:
        build_application(template, mesh=new_mesh())
    assert str(raised.value) == (
        "Resources.MyHttp.Properties.Body.paths./x.get.x-amazon-apigateway-integration.$ref "
        "(AWS::ApiGatewayV2::Api): '#/components/nowhere' names nothing in the definition"
    )
    operation["x-amazon-apigateway-integration"]["$ref"] = "other.yaml#/x"
    with pytest.raises(TemplateError, match="only a reference within the definition"):
        build_application(template, mesh=new_mesh())


def test_an_authorizer_resources_errors_name_its_properties() -> None:
    """Errors of the explicit Authorizer resources name their CloudFormation properties (they
    named OpenAPI's keys under Type: Resources.Gate.Properties.Type.identitySource)."""
    method = rest_method(AuthorizationType="CUSTOM")
    method["Resources"]["Gate"]["Properties"]["AuthorizerResultTtlInSeconds"] = "soon"
    with pytest.raises(TemplateError) as raised:
        build_application(method, mesh=new_mesh())
    assert str(raised.value) == (
        "Resources.Gate.Properties.AuthorizerResultTtlInSeconds (AWS::ApiGateway::Authorizer): "
        "seconds from 0 to 3600, got 'soon'"
    )
    route = http_route(AuthorizationType="JWT")
    route["Resources"]["Jwt"]["Properties"]["IdentitySource"] = 5
    with pytest.raises(TemplateError) as raised:
        build_application(route, mesh=new_mesh())
    assert str(raised.value) == (
        "Resources.Jwt.Properties.IdentitySource (AWS::ApiGatewayV2::Authorizer): "
        "a list of strings, got 5"
    )
    route = http_route(AuthorizationType="JWT")
    del route["Resources"]["Jwt"]["Properties"]["JwtConfiguration"]["Issuer"]
    with pytest.raises(TemplateError) as raised:
        build_application(route, mesh=new_mesh())
    assert str(raised.value) == (
        "Resources.Jwt.Properties.JwtConfiguration (AWS::ApiGatewayV2::Authorizer): "
        "a JWT authorizer needs an issuer"
    )
