"""aiobotocore (the async SDK) against the endpoint, in the test's own event loop."""

from __future__ import annotations

from typing import Any

import pytest
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from eventmesh.aws import AwsCall, AwsError, OperationRegistry, operation
from tests.aws.conftest import AwsEndpoint


def _registry() -> OperationRegistry:
    registry = OperationRegistry()

    @operation("sqs", "SendMessage", registry)
    async def send(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        if params["MessageBody"] == "refuse":
            raise AwsError("InvalidMessageContents", "Invalid characters found.")
        return {"MessageId": "m-1", "MD5OfMessageBody": "0" * 32}

    @operation("s3", "GetObject", registry)
    async def get(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        return {"Body": params["Key"].encode() * 3, "ContentType": "text/plain"}

    return registry


async def test_aiobotocore_clients(aws_endpoint: AwsEndpoint) -> None:
    endpoint = await aws_endpoint.start(registry=_registry())
    session = get_session()
    options = {
        "endpoint_url": endpoint.url,
        "region_name": "us-east-1",
        "aws_access_key_id": endpoint.key,
        "aws_secret_access_key": endpoint.secret,
    }
    async with session.create_client("sqs", **options) as sqs:
        sent = await sqs.send_message(QueueUrl=f"{endpoint.url}/1/q", MessageBody="hi")
        assert sent["MessageId"] == "m-1"
        with pytest.raises(ClientError) as caught:
            await sqs.send_message(QueueUrl=f"{endpoint.url}/1/q", MessageBody="refuse")
        assert caught.value.response["Error"]["Code"] == "InvalidMessageContents"
    async with session.create_client("s3", **options) as s3:
        got = await s3.get_object(Bucket="b", Key="ab")
        async with got["Body"] as body:
            assert await body.read() == b"ababab"
