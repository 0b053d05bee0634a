"""Function URLs from a template (``AWS::Lambda::Url``, what SAM's ``FunctionUrlConfig``
becomes), served on the real HTTP front and driven with httpx as curl would. Functions are
declared in code and named by ARN, name or alias ARN."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from eventmesh import Mesh, Telemetry
from eventmesh.http import HttpServer
from eventmesh.sam import Application, TemplateError, build_application

FN = "arn:aws:lambda:us-east-1:123456789012:function"

TEMPLATE: dict[str, Any] = {
    "Resources": {
        "HelloUrl": {
            "Type": "AWS::Lambda::Url",
            "Properties": {
                "TargetFunctionArn": f"{FN}:hello",
                "AuthType": "NONE",
                "Cors": {"AllowOrigins": ["https://a.example"], "MaxAge": 10},
            },
        },
        "SignedUrl": {
            "Type": "AWS::Lambda::Url",
            "Properties": {
                "TargetFunctionArn": "signed",
                "AuthType": "AWS_IAM",
                "InvokeMode": "RESPONSE_STREAM",
            },
        },
        "LiveUrl": {
            "Type": "AWS::Lambda::Url",
            "Properties": {"TargetFunctionArn": f"{FN}:aliased:live", "AuthType": "NONE"},
        },
    },
    "Outputs": {
        "Url": {"Value": {"Fn::GetAtt": ["HelloUrl", "FunctionUrl"]}},
        "LiveUrl": {"Value": {"Fn::GetAtt": ["LiveUrl", "FunctionUrl"]}},
        "Arn": {"Value": {"Ref": "LiveUrl"}},
    },
}


def declare_functions(mesh: Mesh) -> None:
    def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {
            "routeKey": event["routeKey"],
            "rawPath": event["rawPath"],
            "authorizer": event["requestContext"].get("authorizer"),
            "function": context.invoked_function_arn,
        }

    mesh.function(echo, name="hello")
    mesh.function(echo, name="signed")
    aliased = mesh.function(echo, name="aliased")
    mesh.alias(aliased, "live", version=aliased.publish_version().version)


@dataclass
class Served:
    app: Application
    client: httpx.AsyncClient


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


async def test_the_url_answers_with_payload_2_0_and_its_cors(served: Served) -> None:
    answer = await served.client.get(
        "/_lambda-url/hello/any/path", headers={"Origin": "https://a.example"}
    )
    assert seen(answer) == {
        "routeKey": "$default",
        "rawPath": "/any/path",
        "authorizer": None,
        "function": f"{FN}:hello",
    }
    assert answer.headers["access-control-allow-origin"] == "https://a.example"
    preflight = await served.client.options(
        "/_lambda-url/hello/x",
        headers={"Origin": "https://a.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.headers["access-control-max-age"] == "10"


async def test_get_att_function_url_is_the_lambda_url_host_the_mesh_serves(
    served: Served,
) -> None:
    url = served.app.outputs["Url"]
    assert url == "https://2csk0qbc6tgixkv71cosat70lnoyk4e4.lambda-url.us-east-1.on.aws/"
    host = {"Host": "2csk0qbc6tgixkv71cosat70lnoyk4e4.lambda-url.localhost"}
    assert seen(await served.client.get("/by/host", headers=host))["rawPath"] == "/by/host"


async def test_aws_iam_needs_a_signature_and_streaming_is_buffered(served: Served) -> None:
    unsigned = await served.client.get("/_lambda-url/signed/")
    assert (unsigned.status_code, unsigned.content) == (403, b'{"Message":"Forbidden"}')
    signature = (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261207/us-east-1/lambda/"
        "aws4_request, SignedHeaders=host, Signature=abc"
    )
    signed = seen(
        await served.client.get("/_lambda-url/signed/", headers={"Authorization": signature})
    )
    assert signed["authorizer"]["iam"]["accessKey"] == "AKIAIOSFODNN7EXAMPLE"
    assert any("RESPONSE_STREAM" in warning for warning in served.app.warnings)


async def test_a_url_on_an_alias_invokes_the_alias(served: Served) -> None:
    answer = seen(await served.client.get("/_lambda-url/aliased/"))
    assert answer["function"] == f"{FN}:aliased:live"
    assert served.app.outputs["Arn"] == f"{FN}:aliased:live"
    assert served.app.outputs["LiveUrl"] == (
        "https://mbt9xsa6929wuiwx750k1zadexvzn7nh.lambda-url.us-east-1.on.aws/"
    )


def test_a_url_for_no_function_is_an_error() -> None:
    template = {
        "Resources": {
            "Url": {"Type": "AWS::Lambda::Url", "Properties": {"TargetFunctionArn": f"{FN}:gone"}}
        }
    }
    with pytest.raises(TemplateError) as raised:
        build_application(template, mesh=Mesh(telemetry=Telemetry(enabled=False)))
    assert str(raised.value) == (
        "Resources.Url.Properties.TargetFunctionArn (AWS::Lambda::Url): no function 'gone' "
        "in the template or the mesh"
    )


def test_an_unknown_cors_setting_is_an_error() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    declare_functions(mesh)
    template = {
        "Resources": {
            "Url": {
                "Type": "AWS::Lambda::Url",
                "Properties": {
                    "TargetFunctionArn": "hello",
                    "AuthType": "NONE",
                    "Cors": {"AllowOrigin": "*"},
                },
            }
        }
    }
    with pytest.raises(TemplateError, match=r"Resources\.Url\.Properties\.Cors .*'AllowOrigin'"):
        build_application(template, mesh=mesh)
