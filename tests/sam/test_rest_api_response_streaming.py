"""A REST API integration that streams the function's response (``responseTransferMode:
STREAM`` and the ``2021-11-15/functions/{ARN}/response-streaming-invocations`` URI, as
serverless-patterns' apigw-rest-api-lambda-python-response-streaming writes it) invokes the
function as any proxy integration, with a warning that the response is sent whole; the
template failed to load, the URI taken for no Lambda integration."""

from __future__ import annotations

from typing import Any

import httpx

from eventmesh import Mesh, Telemetry
from eventmesh.http import HttpServer
from eventmesh.sam import build_application

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:story"
STREAMING_URI = (
    "arn:aws:apigateway:us-east-1:lambda:path/2021-11-15/functions/"
    f"{FUNCTION_ARN}/response-streaming-invocations"
)


async def test_a_streaming_integration_is_invoked_and_answers_whole() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))

    @mesh.function(name="story")
    async def handle(event: Any, context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": "once upon a time"}

    integration = {"type": "aws_proxy", "httpMethod": "POST", "uri": STREAMING_URI,
                   "responseTransferMode": "STREAM"}  # fmt: skip
    template = {
        "Resources": {
            "Stories": {
                "Type": "AWS::ApiGateway::RestApi",
                "Properties": {
                    "Body": {
                        "openapi": "3.0.1",
                        "paths": {
                            "/story": {"post": {"x-amazon-apigateway-integration": integration}}
                        },
                    }
                },
            }
        }
    }
    app = build_application(template, mesh=mesh)
    assert app.warnings == [
        "Resources.Stories (AWS::ApiGateway::RestApi): Body.paths./story.post."
        "x-amazon-apigateway-integration: response streaming (responseTransferMode STREAM): "
        "the response is buffered and sent whole locally"
    ]
    api = app.resources["Stories"].ref
    async with HttpServer(mesh, port=0) as server, httpx.AsyncClient() as client:
        port = server.base_url.rsplit(":", 1)[1]
        answer = await client.post(
            f"http://127.0.0.1:{port}/Prod/story",
            headers={"host": f"{api}.execute-api.localhost:{port}"},
        )
    assert (answer.status_code, answer.text) == (200, "once upon a time")
