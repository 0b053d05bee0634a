"""rest-xml (S3) through real boto3 clients with test-only handlers: path- and virtual-host-
style addressing, streaming bodies, metadata headers, XML payloads, HEAD, errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from eventmesh.aws import AwsCall, AwsError, OperationRegistry, operation
from tests.aws.conftest import AwsEndpoint

MODIFIED = datetime(2026, 12, 7, 1, 2, 3, tzinfo=UTC)


def _registry(objects: dict[tuple[str, str], dict[str, Any]]) -> OperationRegistry:
    registry = OperationRegistry()

    @operation("s3", "PutObject", registry)
    async def put_object(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        objects[params["Bucket"], params["Key"]] = params
        return {"ETag": '"etag"'}

    def found(params: dict[str, Any]) -> dict[str, Any]:
        stored = objects.get((params["Bucket"], params["Key"]))
        if stored is None:
            raise AwsError(
                "NoSuchKey",
                "The specified key does not exist.",
                404,
                fields={"Key": params["Key"]},
            )
        return stored

    @operation("s3", "GetObject", registry)
    async def get_object(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        stored = found(params)
        body: bytes = stored["Body"]
        answer: dict[str, Any] = {
            "Body": body,
            "ContentType": stored.get("ContentType"),
            "Metadata": stored.get("Metadata", {}),
            "LastModified": MODIFIED,
            "ContentLength": len(body),
        }
        if "Range" in params:
            first, last = params["Range"].removeprefix("bytes=").split("-")
            part = body[int(first) : int(last) + 1]
            answer |= {
                "Body": part,
                "ContentLength": len(part),
                "ContentRange": f"bytes {first}-{last}/{len(body)}",
            }
        return answer

    @operation("s3", "HeadObject", registry)
    async def head_object(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        stored = found(params)
        return {"ContentLength": len(stored["Body"]), "LastModified": MODIFIED, "ETag": '"e"'}

    @operation("s3", "ListObjectsV2", registry)
    async def list_objects(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        keys = sorted(k for b, k in objects if b == params["Bucket"])
        return {
            "Name": params["Bucket"],
            "Prefix": params.get("Prefix", ""),
            "KeyCount": len(keys),
            "IsTruncated": False,
            "Contents": [
                {
                    "Key": key,
                    "Size": len(objects[params["Bucket"], key]["Body"]),
                    "LastModified": MODIFIED,
                }
                for key in keys
            ],
        }

    @operation("s3", "ListBuckets", registry)
    async def list_buckets(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        names = sorted({b for b, _ in objects})
        return {"Buckets": [{"Name": n, "CreationDate": MODIFIED} for n in names]}

    @operation("s3", "DeleteObjects", registry)
    async def delete_objects(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        gone = [item["Key"] for item in params["Delete"]["Objects"]]
        return {"Deleted": [{"Key": key} for key in gone]}

    @operation("s3", "PutBucketNotificationConfiguration", registry)
    async def put_notification(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        objects["config", params["Bucket"]] = params["NotificationConfiguration"]
        return {}

    @operation("s3", "GetBucketNotificationConfiguration", registry)
    async def get_notification(call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        return dict(objects.get(("config", params["Bucket"]), {}))

    return registry


@pytest.fixture
def objects() -> dict[tuple[str, str], dict[str, Any]]:
    return {}


@pytest.fixture
async def endpoint(
    aws_endpoint: AwsEndpoint, objects: dict[tuple[str, str], dict[str, Any]]
) -> AwsEndpoint:
    return await aws_endpoint.start(registry=_registry(objects))


async def test_objects_round_trip_with_metadata_and_keys_that_need_encoding(
    endpoint: AwsEndpoint,
) -> None:
    s3 = endpoint.client("s3")
    key = "dir/a key+with ünicode?&=.txt"
    await s3.put_object(
        Bucket="b",
        Key=key,
        Body=b"hello world",
        ContentType="text/plain",
        Metadata={"owner": "ann"},
    )
    got = await s3.get_object(Bucket="b", Key=key)
    assert got["Body"].read() == b"hello world"
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"owner": "ann"}
    assert got["LastModified"] == MODIFIED
    ranged = await s3.get_object(Bucket="b", Key=key, Range="bytes=0-4")
    assert ranged["Body"].read() == b"hello"
    assert ranged["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert ranged["ContentRange"] == "bytes 0-4/11"
    head = await s3.head_object(Bucket="b", Key=key)
    assert head["ContentLength"] == 11
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-id-2"]
    listed = await s3.list_objects_v2(Bucket="b")
    assert [item["Key"] for item in listed["Contents"]] == [key]
    assert listed["KeyCount"] == 1
    buckets = await s3.list_buckets()
    assert [b["Name"] for b in buckets["Buckets"]] == ["b"]


async def test_xml_payloads_parse_into_the_model(endpoint: AwsEndpoint) -> None:
    s3 = endpoint.client("s3")
    deleted = await s3.delete_objects(
        Bucket="b", Delete={"Objects": [{"Key": "x"}, {"Key": "y"}], "Quiet": False}
    )
    assert deleted["Deleted"] == [{"Key": "x"}, {"Key": "y"}]
    configuration = {
        "QueueConfigurations": [
            {
                "Id": "q",
                "QueueArn": "arn:aws:sqs:us-east-1:123456789012:q",
                "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"}]}},
            }
        ]
    }
    await s3.put_bucket_notification_configuration(
        Bucket="b", NotificationConfiguration=configuration
    )
    got = await s3.get_bucket_notification_configuration(Bucket="b")
    got.pop("ResponseMetadata")
    assert got == configuration


async def test_errors_are_s3_error_documents_and_head_has_no_body(endpoint: AwsEndpoint) -> None:
    s3 = endpoint.client("s3")
    with pytest.raises(s3.exceptions.NoSuchKey) as caught:
        await s3.get_object(Bucket="b", Key="missing")
    error = caught.value.response["Error"]
    assert error["Code"] == "NoSuchKey"
    assert error["Key"] == "missing"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as head:
        await s3.head_object(Bucket="b", Key="missing")
    assert head.value.response["Error"]["Code"] == "404"  # S3 answers HEAD without a body
    with pytest.raises(ClientError) as unknown:
        await s3.get_bucket_tagging(Bucket="b")
    assert unknown.value.response["Error"]["Code"] == "NotImplemented"
    assert unknown.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert "s3.GetBucketTagging" in unknown.value.response["Error"]["Message"]


async def test_virtual_host_style_addressing(
    aws_endpoint: AwsEndpoint, objects: dict[tuple[str, str], dict[str, Any]]
) -> None:
    endpoint = await aws_endpoint.start(registry=_registry(objects), credentials=None)
    port = endpoint.server.address[1]
    async with httpx.AsyncClient(base_url=endpoint.url, timeout=10) as client:
        put = await client.put(
            "/k/one.txt", content=b"v", headers={"host": f"mybucket.localhost:{port}"}
        )
        assert put.status_code == 200
        got = await client.get(
            "/k/one.txt", headers={"host": "mybucket.s3.us-east-1.amazonaws.com"}
        )
        assert got.content == b"v"
        listed = await client.get("/?list-type=2", headers={"host": f"mybucket.localhost:{port}"})
    assert "<Key>k/one.txt</Key>" in listed.text
    assert listed.text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' in listed.text
    assert ("mybucket", "k/one.txt") in objects


async def test_malformed_xml_is_malformed_xml(endpoint: AwsEndpoint) -> None:
    async with httpx.AsyncClient(base_url=endpoint.url, timeout=10) as client:
        answer = await client.post("/b?delete", content=b"<Delete><Object>")
    # unsigned: refused before the body is read
    assert answer.status_code == 403
    assert "<Code>AccessDenied</Code>" in answer.text
