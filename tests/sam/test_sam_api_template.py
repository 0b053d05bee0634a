"""A SAM application's HTTP front, end to end: ``Api`` events on an ``AWS::Serverless::Api``
(stage variables, a token authorizer as DefaultAuthorizer, an API key through SAM's usage
plan, CORS), an ``HttpApi`` event on the implicit HTTP API, and ``FunctionUrlConfig`` on a
function with ``AutoPublishAlias``. The functions are process environments (one running
application for the module: each cold start is a real process), driven with httpx as curl
would."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from process_prefix import skip_if_hidden

from eventmesh import Mesh, Telemetry
from eventmesh.http import HttpServer
from eventmesh.sam import Application, load_template
from tests.sam.lambda_support import template_folder

pytestmark = [skip_if_hidden, pytest.mark.asyncio(loop_scope="module")]

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    CodeUri: src/
    Timeout: 10
  Api:
    Cors:
      AllowOrigin: "'https://shop.example'"
      AllowHeaders: "'Content-Type,Authorization'"
Resources:
  ShopApi:
    Type: AWS::Serverless::Api
    Properties:
      StageName: Prod
      Variables: {table: orders}
      Auth:
        DefaultAuthorizer: TokenAuth
        AddDefaultAuthorizerToCorsPreflight: false
        UsagePlan: {CreateUsagePlan: PER_API}
        Authorizers:
          TokenAuth:
            FunctionArn: !GetAtt Gate.Arn
            Identity: {ReauthorizeEvery: 0}
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.orders
      AutoPublishAlias: live
      FunctionUrlConfig:
        AuthType: NONE
        Cors: {AllowOrigins: ["https://shop.example"]}
      Events:
        Get:
          Type: Api
          Properties: {RestApiId: !Ref ShopApi, Path: "/orders/{id}", Method: get}
        Keyed:
          Type: Api
          Properties:
            RestApiId: !Ref ShopApi
            Path: /keyed
            Method: post
            Auth: {Authorizer: NONE, ApiKeyRequired: true}
        Items:
          Type: HttpApi
          Properties: {Path: "/items/{id}", Method: get}
  Gate:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.gate
Outputs:
  ShopApiUrl:
    Value: !Sub "https://${ShopApi}.execute-api.${AWS::Region}.amazonaws.com/Prod/"
  HttpApiUrl:
    Value: !GetAtt ServerlessHttpApi.ApiEndpoint
  OrdersUrl:
    Value: !GetAtt OrdersUrl.FunctionUrl
"""

APP = """\
import json


def orders(event, context):
    request = event["requestContext"]
    authorizer = request.get("authorizer") or {}
    seen = {
        "version": event.get("version", "1.0"),
        "params": event.get("pathParameters"),
        "stage": request.get("stage"),
        "stageVariables": event.get("stageVariables"),
        "principal": authorizer.get("principalId"),
        "function": context.invoked_function_arn,
    }
    return {"statusCode": 200, "body": json.dumps(seen)}


def gate(event, context):
    if event["authorizationToken"] != "allow":
        raise Exception("Unauthorized")
    statement = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"}
    return {
        "principalId": "user-7",
        "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
    }
"""


@dataclass
class Running:
    app: Application
    client: httpx.AsyncClient


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with template_folder({"template.yaml": TEMPLATE, "src/app.py": APP}) as root:
        yield root


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(folder: Path) -> AsyncIterator[Running]:
    mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    app = load_template(folder / "template.yaml", mesh=mesh)
    async with (
        HttpServer(mesh, "127.0.0.1", 0) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=30) as client,
    ):
        yield Running(app, client)


def seen(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    value: dict[str, Any] = json.loads(response.content)
    return value


async def test_an_api_event_behind_the_default_authorizer(running: Running) -> None:
    # two APIs in the template: each under its logical id (and by its execute-api host)
    answer = seen(
        await running.client.get("/ShopApi/orders/42", headers={"Authorization": "allow"})
    )
    assert answer["params"] == {"id": "42"}
    assert (answer["stage"], answer["stageVariables"]) == ("Prod", {"table": "orders"})
    assert answer["principal"] == "user-7"
    assert answer["function"].endswith(":function:Orders:live")
    refused = await running.client.get("/ShopApi/orders/42")
    assert (refused.status_code, refused.content) == (401, b'{"message":"Unauthorized"}')


async def test_the_execute_api_url_of_the_outputs_is_served(running: Running) -> None:
    url = httpx.URL(running.app.outputs["ShopApiUrl"])
    assert url.host.endswith(".execute-api.us-east-1.amazonaws.com")
    host = {"Host": url.host, "Authorization": "allow"}
    answer = seen(await running.client.get(f"{url.path}orders/7", headers=host))
    assert answer["params"] == {"id": "7"}


async def test_sams_cors_preflight(running: Running) -> None:
    preflight = await running.client.options(
        "/ShopApi/orders/42",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
    assert preflight.headers["access-control-allow-methods"] == "GET,OPTIONS"
    assert preflight.headers["access-control-allow-headers"] == "Content-Type,Authorization"


async def test_an_api_key_of_sams_usage_plan(running: Running) -> None:
    missing = await running.client.post("/ShopApi/keyed")
    assert (missing.status_code, missing.content) == (403, b'{"message":"Forbidden"}')
    key = running.app.resources["ShopApiApiKey"].value.value
    answer = seen(await running.client.post("/ShopApi/keyed", headers={"x-api-key": key}))
    assert answer["principal"] is None


async def test_an_http_api_event_on_the_implicit_http_api(running: Running) -> None:
    answer = seen(await running.client.get("/ServerlessHttpApi/items/5"))
    assert answer["version"] == "2.0"
    assert answer["params"] == {"id": "5"}
    assert answer["stage"] == "$default"
    endpoint = httpx.URL(running.app.outputs["HttpApiUrl"])
    by_host = await running.client.get("/items/6", headers={"Host": endpoint.host})
    assert seen(by_host)["params"] == {"id": "6"}


async def test_the_function_url_invokes_the_alias(running: Running) -> None:
    answer = await running.client.get(
        "/_lambda-url/Orders/anything", headers={"Origin": "https://shop.example"}
    )
    assert seen(answer)["function"].endswith(":function:Orders:live")
    assert answer.headers["access-control-allow-origin"] == "https://shop.example"
    url = httpx.URL(running.app.outputs["OrdersUrl"])
    assert url.host.endswith(".lambda-url.us-east-1.on.aws")
    assert seen(await running.client.get("/x", headers={"Host": url.host}))["version"] == "2.0"
