"""Whatever arrives, the endpoint answers in AWS's shape: services it does not serve, requests
it cannot place, bodies over its cap, a mesh that is not running; never a 500 page or a hang."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from eventmesh import Mesh, Telemetry
from eventmesh.aws import AwsCall, AwsServer, OperationRegistry, asgi_app, operation
from tests.aws.conftest import AsyncClient, AwsEndpoint, boto3_client


def _registry() -> OperationRegistry:
    registry = OperationRegistry()

    @operation("kinesis", "ListStreams", registry)
    async def list_streams(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        return {"StreamNames": ["s"], "HasMoreStreams": False}

    @operation("s3", "PutObject", registry)
    async def put_object(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        return {}

    return registry


async def test_a_service_not_served_is_named(aws_endpoint: AwsEndpoint) -> None:
    dynamodb = aws_endpoint.client("dynamodb")
    with pytest.raises(ClientError) as caught:
        await dynamodb.list_tables()
    assert caught.value.response["Error"]["Code"] == "UnknownOperationException"
    assert (
        caught.value.response["Error"]["Message"] == "eventmesh does not serve the dynamodb service"
    )


async def test_requests_that_name_no_operation(aws_endpoint: AwsEndpoint) -> None:
    endpoint = await aws_endpoint.start(registry=_registry(), credentials=None)
    async with httpx.AsyncClient(base_url=endpoint.url, timeout=10) as client:
        no_target = await client.post(
            "/",
            content=b"{}",
            headers={
                "content-type": "application/x-amz-json-1.1",
                "x-amz-target": "Kinesis_20131202.",
            },
        )
        assert no_target.status_code == 400
        assert no_target.json()["__type"] == "UnknownOperationException"
        unknown = await client.post(
            "/", content=b"{}", headers={"x-amz-target": "Kinesis_20131202.NoSuchThing"}
        )
        assert unknown.json()["message"] == "NoSuchThing is not an operation of kinesis"
        odd = await client.request("PATCH", "/some/where?x=1", content=b"\x00\xff")
        assert odd.status_code == 501
        assert "<Code>NotImplemented</Code>" in odd.text
        junk = await client.post(
            "/", content=b"\xff\xfe{", headers={"x-amz-target": "Kinesis_20131202.ListStreams"}
        )
        assert junk.status_code == 400
        assert junk.json()["__type"] == "SerializationException"


async def test_a_body_over_the_cap_is_refused_without_being_read() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    async with AwsServer(
        mesh, "127.0.0.1", 0, credentials="K:S", registry=_registry(), max_body=1024
    ) as server:
        s3 = AsyncClient(boto3_client(server.url, "s3", key="K", secret="S"))
        with pytest.raises(ClientError) as caught:
            await s3.put_object(Bucket="b", Key="k", Body=b"x" * 4096)
        assert caught.value.response["Error"]["Code"] == "EntityTooLarge"
        await s3.put_object(Bucket="b", Key="k", Body=b"x" * 100)


async def test_embedded_app_answers_503_until_the_mesh_runs() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    app = asgi_app(mesh, registry=_registry(), credentials=None)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://aws.test") as client:
        answer = await client.post(
            "/", content=b"{}", headers={"x-amz-target": "Kinesis_20131202.ListStreams"}
        )
        assert answer.status_code == 503
        assert answer.json()["__type"] == "ServiceUnavailable"
        async with mesh:
            answer = await client.post(
                "/", content=b"{}", headers={"x-amz-target": "Kinesis_20131202.ListStreams"}
            )
    assert answer.status_code == 200
    assert answer.json() == {"StreamNames": ["s"], "HasMoreStreams": False}
    assert answer.headers["content-type"] == "application/x-amz-json-1.1"
