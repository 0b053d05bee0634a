"""S3 through boto3 against the endpoint: AWS's documented answers for buckets, objects,
ranges, listings, batch deletes, notification configurations, virtual-host-style addressing,
and a bucket notification whose handler (in its own process) reads the object with boto3."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from process_prefix import hidden_python_environment

from eventmesh import Mesh, Telemetry
from eventmesh._aws_credentials import AwsCredentials
from tests.aws.conftest import KEY, SECRET, AsyncClient, AwsEndpoint, boto3_client

Client = Callable[..., AsyncClient]
_HIDDEN = hidden_python_environment()


@pytest.fixture
def aws_client(aws_endpoint: AwsEndpoint) -> Iterator[Client]:
    """The endpoint's clients, closed after the test (their pooled connections with them)."""
    made: list[AsyncClient] = []

    def make(service: str, **options: Any) -> AsyncClient:
        made.append(aws_endpoint.client(service, **options))
        return made[-1]

    yield make
    for client in made:
        client.sync.close()


@pytest.fixture
def code_root() -> Iterator[Path]:
    """A code directory outside /tmp (each process environment has a private /tmp)."""
    if _HIDDEN is not None:
        pytest.skip(_HIDDEN)
    root = Path(tempfile.mkdtemp(prefix="eventmesh-code-", dir="/var/tmp"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def code(err: ClientError) -> str:
    return str(err.response["Error"]["Code"])


def status(answer: Any) -> int:
    return int(answer["ResponseMetadata"]["HTTPStatusCode"])


async def test_buckets(aws_client: Client) -> None:
    s3 = aws_client("s3")
    created = await s3.create_bucket(Bucket="photos")
    assert created["Location"] == "/photos"
    assert status(await s3.create_bucket(Bucket="photos")) == 200  # us-east-1: legacy 200
    await s3.create_bucket(Bucket="docs")
    listed = await s3.list_buckets()
    assert [b["Name"] for b in listed["Buckets"]] == ["docs", "photos"]
    assert "ID" in listed["Owner"]
    assert status(await s3.head_bucket(Bucket="docs")) == 200
    with pytest.raises(ClientError) as caught:
        await s3.create_bucket(Bucket="Not_Valid")
    assert code(caught.value) == "InvalidBucketName"
    with pytest.raises(ClientError) as caught:
        await s3.head_bucket(Bucket="missing")
    assert code(caught.value) == "404"  # HEAD: no body, boto3 reports the status
    with pytest.raises(ClientError) as caught:
        await s3.list_objects_v2(Bucket="missing")
    assert code(caught.value) == "NoSuchBucket"
    assert caught.value.response["Error"]["BucketName"] == "missing"
    assert status(caught.value.response) == 404


async def test_objects_ranges_and_errors(aws_client: Client) -> None:
    s3 = aws_client("s3")
    await s3.create_bucket(Bucket="docs")
    body = b"0123456789" * 10
    put = await s3.put_object(
        Bucket="docs", Key="dir/a b.txt", Body=body, ContentType="text/plain",
        Metadata={"owner": "ann"},
    )  # fmt: skip
    etag = '"' + hashlib.md5(body).hexdigest() + '"'
    assert put["ETag"] == etag
    got = await s3.get_object(Bucket="docs", Key="dir/a b.txt")
    assert got["Body"].read() == body
    assert (got["ETag"], got["ContentType"], got["ContentLength"]) == (etag, "text/plain", 100)
    assert got["Metadata"] == {"owner": "ann"}
    assert got["LastModified"].tzinfo is not None
    part = await s3.get_object(Bucket="docs", Key="dir/a b.txt", Range="bytes=10-19")
    assert status(part) == 206
    assert part["ContentRange"] == "bytes 10-19/100"
    assert part["Body"].read() == b"0123456789" and part["ContentLength"] == 10
    tail = await s3.get_object(Bucket="docs", Key="dir/a b.txt", Range="bytes=-5")
    assert tail["ContentRange"] == "bytes 95-99/100" and tail["Body"].read() == b"56789"
    rest = await s3.get_object(Bucket="docs", Key="dir/a b.txt", Range="bytes=98-")
    assert rest["Body"].read() == b"89"
    with pytest.raises(ClientError) as caught:
        await s3.get_object(Bucket="docs", Key="dir/a b.txt", Range="bytes=100-")
    assert code(caught.value) == "InvalidRange" and status(caught.value.response) == 416
    head = await s3.head_object(Bucket="docs", Key="dir/a b.txt")
    assert (head["ContentLength"], head["ETag"]) == (100, etag)
    with pytest.raises(ClientError) as caught:
        await s3.get_object(Bucket="docs", Key="missing")
    assert code(caught.value) == "NoSuchKey"
    assert caught.value.response["Error"]["Key"] == "missing"
    with pytest.raises(ClientError) as caught:
        await s3.head_object(Bucket="docs", Key="missing")
    assert code(caught.value) == "404"
    with pytest.raises(ClientError) as caught:
        await s3.get_object(Bucket="docs", Key="dir/a b.txt", IfNoneMatch=etag)
    assert code(caught.value) == "304"
    with pytest.raises(ClientError) as caught:
        await s3.get_object(Bucket="docs", Key="dir/a b.txt", IfMatch='"nope"')
    assert code(caught.value) == "PreconditionFailed" and status(caught.value.response) == 412
    assert status(await s3.delete_object(Bucket="docs", Key="dir/a b.txt")) == 204
    assert status(await s3.delete_object(Bucket="docs", Key="dir/a b.txt")) == 204
    with pytest.raises(ClientError) as caught:
        await s3.put_object(Bucket="missing", Key="k", Body=b"x")
    assert code(caught.value) == "NoSuchBucket"


async def test_large_object_arrives_whole(aws_client: Client) -> None:
    s3 = aws_client("s3")
    await s3.create_bucket(Bucket="big")
    body = bytes(range(256)) * 8192  # 2 MB, sent aws-chunked with a checksum trailer
    await s3.put_object(Bucket="big", Key="blob", Body=body)
    got = await s3.get_object(Bucket="big", Key="blob")
    assert got["Body"].read() == body


async def test_list_objects_v2(aws_client: Client) -> None:
    s3 = aws_client("s3")
    await s3.create_bucket(Bucket="docs")
    keys = ["a.txt", "dir/1", "dir/2", "dir/sub/3", "e f.txt", "logs/x", "z"]
    for key in keys:
        await s3.put_object(Bucket="docs", Key=key, Body=b"x")
    top = await s3.list_objects_v2(Bucket="docs", Delimiter="/")
    assert [c["Key"] for c in top["Contents"]] == ["a.txt", "e f.txt", "z"]
    assert top["CommonPrefixes"] == [{"Prefix": "dir/"}, {"Prefix": "logs/"}]
    assert (top["KeyCount"], top["IsTruncated"]) == (5, False)
    inner = await s3.list_objects_v2(Bucket="docs", Prefix="dir/", Delimiter="/")
    assert [c["Key"] for c in inner["Contents"]] == ["dir/1", "dir/2"]
    assert inner["CommonPrefixes"] == [{"Prefix": "dir/sub/"}]
    first = await s3.list_objects_v2(Bucket="docs", MaxKeys=3)
    assert first["IsTruncated"] is True and first["KeyCount"] == 3
    second = await s3.list_objects_v2(
        Bucket="docs", MaxKeys=3, ContinuationToken=first["NextContinuationToken"]
    )
    assert [c["Key"] for c in second["Contents"]] == ["dir/sub/3", "e f.txt", "logs/x"]
    paginator = s3.sync.get_paginator("list_objects_v2")
    pages = await asyncio.to_thread(
        lambda: list(paginator.paginate(Bucket="docs", PaginationConfig={"PageSize": 2}))
    )
    assert [c["Key"] for p in pages for c in p.get("Contents", [])] == keys
    after = await s3.list_objects_v2(Bucket="docs", StartAfter="logs/x")
    assert [c["Key"] for c in after["Contents"]] == ["z"]
    none = await s3.list_objects_v2(Bucket="docs", Prefix="nothing/")
    assert none["KeyCount"] == 0 and "Contents" not in none


async def test_delete_objects_quiet_and_not(aws_client: Client) -> None:
    s3 = aws_client("s3")
    await s3.create_bucket(Bucket="docs")
    for key in ("a", "b", "c", "d"):
        await s3.put_object(Bucket="docs", Key=key, Body=b"x")
    loud = await s3.delete_objects(
        Bucket="docs",
        Delete={"Objects": [{"Key": "a"}, {"Key": "missing"}, {"Key": "b", "VersionId": "v9"}]},
    )
    assert [d["Key"] for d in loud["Deleted"]] == ["a", "missing"]
    assert [(e["Key"], e["Code"]) for e in loud["Errors"]] == [("b", "InvalidArgument")]
    quiet = await s3.delete_objects(
        Bucket="docs", Delete={"Objects": [{"Key": "c"}, {"Key": "d"}], "Quiet": True}
    )
    assert "Deleted" not in quiet and "Errors" not in quiet
    listed = await s3.list_objects_v2(Bucket="docs")
    assert [c["Key"] for c in listed["Contents"]] == ["b"]
    with pytest.raises(ClientError) as caught:
        await s3.delete_bucket(Bucket="docs")
    assert code(caught.value) == "BucketNotEmpty" and status(caught.value.response) == 409


async def test_notification_configuration_round_trip(
    aws_client: Client, aws_endpoint: AwsEndpoint
) -> None:
    mesh = aws_endpoint.mesh
    s3 = aws_client("s3")
    sqs_queue = mesh.queue("uploads")
    await s3.create_bucket(Bucket="docs")
    configuration = {
        "QueueConfigurations": [
            {
                "Id": "to-queue",
                "QueueArn": sqs_queue.arn,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".csv"}]}},
            }
        ]
    }
    await s3.put_bucket_notification_configuration(
        Bucket="docs", NotificationConfiguration=configuration
    )
    got = await s3.get_bucket_notification_configuration(Bucket="docs")
    assert got["QueueConfigurations"] == [
        {
            "Id": "to-queue",
            "QueueArn": sqs_queue.arn,
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "Suffix", "Value": ".csv"}]}},
        }
    ]
    await s3.put_object(Bucket="docs", Key="report.csv", Body=b"1,2")
    await s3.put_object(Bucket="docs", Key="report.txt", Body=b"1,2")
    messages = await sqs_queue.receive(max_messages=10)
    assert len(messages) == 1
    with pytest.raises(ClientError) as caught:
        await s3.put_bucket_notification_configuration(
            Bucket="docs",
            NotificationConfiguration={
                "LambdaFunctionConfigurations": [
                    {"LambdaFunctionArn": "nobody", "Events": ["s3:ObjectCreated:*"]}
                ]
            },
        )
    assert code(caught.value) == "InvalidArgument"


async def test_virtual_host_style_addressing(aws_endpoint: AwsEndpoint) -> None:
    """boto3 puts the bucket in the host (``docs.localhost:port``); the request goes to the
    endpoint's address with that Host header, signed for it."""
    port = urlsplit(aws_endpoint.url).port
    config = Config(s3={"addressing_style": "virtual"}, retries={"max_attempts": 1})
    client = AsyncClient(boto3_client(f"http://localhost:{port}", "s3", config=config))
    sync = client.sync
    try:
        await _virtual_calls(client, sync, port)
    finally:
        sync.close()


async def _virtual_calls(client: AsyncClient, sync: Any, port: int | None) -> None:
    hosts: list[str] = []

    def to_loopback(request: Any, **_: Any) -> None:
        parts = urlsplit(request.url)
        hosts.append(parts.netloc)
        request.headers["Host"] = parts.netloc
        request.url = parts._replace(netloc=f"127.0.0.1:{port}").geturl()

    sync.meta.events.register_first("before-send.s3", to_loopback)
    await client.create_bucket(Bucket="docs")
    await client.put_object(Bucket="docs", Key="a/b.txt", Body=b"virtual")
    got = await client.get_object(Bucket="docs", Key="a/b.txt")
    assert got["Body"].read() == b"virtual"
    listed = await client.list_objects_v2(Bucket="docs")
    assert [c["Key"] for c in listed["Contents"]] == ["a/b.txt"]
    assert hosts and all(host == f"docs.localhost:{port}" for host in hosts)


HANDLER = textwrap.dedent(
    """
    import boto3
    from urllib.parse import unquote_plus

    s3 = boto3.client("s3")  # AWS_ENDPOINT_URL and the credentials come from the mesh

    def lambda_handler(event, context):
        record = event["Records"][0]["s3"]
        bucket = record["bucket"]["name"]
        key = unquote_plus(record["object"]["key"])
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        s3.put_object(Bucket=bucket, Key="out/" + key, Body=body.upper())
        return len(body)
    """
)


@pytest.fixture
def aws_mesh() -> Mesh:
    return Mesh(
        telemetry=Telemetry(enabled=False),
        drain_timeout=2.0,
        aws_credentials=AwsCredentials(KEY, SECRET),
    )


async def test_s3_triggered_handler_reads_its_object_with_boto3(
    aws_client: Client, aws_endpoint: AwsEndpoint, code_root: Path
) -> None:
    """The issue's motivating failure: a bucket notification invokes a function (in its own
    process, as on Lambda) whose handler calls ``s3.get_object`` against the endpoint."""
    (code_root / "app.py").write_text(HANDLER)
    mesh = aws_endpoint.mesh
    mesh.function(name="shout", handler="app.lambda_handler", code=code_root, timeout=30)
    s3 = aws_client("s3")
    await s3.create_bucket(Bucket="inbox")
    await s3.put_bucket_notification_configuration(
        Bucket="inbox",
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {
                    "LambdaFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:shout",
                    "Events": ["s3:ObjectCreated:Put"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"}]}},
                }
            ]
        },
    )
    await s3.put_object(Bucket="inbox", Key="in/hello world.txt", Body=b"hello")
    for _ in range(300):
        try:
            got = await s3.get_object(Bucket="inbox", Key="out/in/hello world.txt")
        except ClientError:
            await asyncio.sleep(0.1)
            continue
        assert got["Body"].read() == b"HELLO"
        break
    else:
        pytest.fail("the notified handler never wrote its answer")


async def test_eventbridge_configuration_sends_object_events_to_the_default_bus(
    aws_client: Client, aws_endpoint: AwsEndpoint
) -> None:
    """PutBucketNotificationConfiguration's ``EventBridgeConfiguration: {}`` turns S3's
    EventBridge notifications on; a rule made with boto3 on the default bus gets them."""
    s3, events, sqs = aws_client("s3"), aws_client("events"), aws_client("sqs")
    url = (await sqs.create_queue(QueueName="s3-events"))["QueueUrl"]
    arn = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"]))["Attributes"][
        "QueueArn"
    ]
    await s3.create_bucket(Bucket="docs")
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": ["docs"]}},
    }
    await events.put_rule(Name="docs-created", EventPattern=orjson.dumps(pattern).decode())
    await events.put_targets(Rule="docs-created", Targets=[{"Id": "q", "Arn": arn}])
    await s3.put_bucket_notification_configuration(
        Bucket="docs",
        NotificationConfiguration={
            "EventBridgeConfiguration": {},
            "QueueConfigurations": [
                {"Id": "removed", "QueueArn": arn, "Events": ["s3:ObjectRemoved:*"]}
            ],
        },
    )
    got = await s3.get_bucket_notification_configuration(Bucket="docs")
    assert got["EventBridgeConfiguration"] == {}
    assert [c["Id"] for c in got["QueueConfigurations"]] == ["removed"]
    await s3.put_object(Bucket="docs", Key="in/red flower.txt", Body=b"hello")
    answer = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    [message] = answer["Messages"]
    event = orjson.loads(message["Body"])
    assert (event["source"], event["detail-type"]) == ("aws.s3", "Object Created")
    assert event["resources"] == ["arn:aws:s3:::docs"]
    assert event["detail"]["object"]["key"] == "in/red flower.txt"
    assert event["detail"]["object"]["etag"] == "5d41402abc4b2a76b9719d911017c592"
    assert event["detail"]["reason"] == "PutObject"

    # A configuration without it turns it off (the call replaces the whole configuration).
    await s3.put_bucket_notification_configuration(Bucket="docs", NotificationConfiguration={})
    got = await s3.get_bucket_notification_configuration(Bucket="docs")
    assert "EventBridgeConfiguration" not in got
    await s3.put_object(Bucket="docs", Key="later.txt", Body=b"x")
    answer = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    assert "Messages" not in answer
