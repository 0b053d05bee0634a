"""S3's operation handlers called directly (the wire is tested through boto3 elsewhere):
AWS's answers and error codes for buckets, objects, ranges, listings and notifications."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from eventmesh import Mesh
from eventmesh._http_messages import HttpRequest
from eventmesh.aws import catalog
from eventmesh.aws.operations import OPERATIONS, AwsCall, AwsError
from eventmesh.aws.services import load_services
from eventmesh.aws.services.s3 import parse_range
from eventmesh.telemetry import Telemetry

load_services()


@pytest.fixture
async def mesh() -> AsyncIterator[Mesh]:
    async with Mesh(telemetry=Telemetry(enabled=False)) as running:
        yield running


async def s3(mesh: Mesh, name: str, **params: Any) -> Mapping[str, Any]:
    handler = OPERATIONS.find("s3", name)
    assert handler is not None, name
    call = AwsCall(
        mesh, "s3", name, mesh.region, mesh.account_id, HttpRequest("GET", "/"),
        "http://127.0.0.1:4566",
    )  # fmt: skip
    return await handler(call, params)


async def refused(mesh: Mesh, name: str, **params: Any) -> AwsError:
    with pytest.raises(AwsError) as caught:
        await s3(mesh, name, **params)
    return caught.value


async def test_create_bucket_answers_its_location_and_us_east_1_keeps_the_legacy_200(
    mesh: Mesh,
) -> None:
    assert await s3(mesh, "CreateBucket", Bucket="photos") == {"Location": "/photos"}
    assert await s3(mesh, "CreateBucket", Bucket="photos") == {"Location": "/photos"}
    assert mesh.bucket("photos") is mesh.context.find_resource("photos")
    assert await catalog.lookup(mesh, "s3.bucket", "photos") is not None


async def test_create_bucket_errors() -> None:
    async with Mesh(region="eu-west-1", telemetry=Telemetry(enabled=False)) as mesh:
        config = {"LocationConstraint": "eu-west-1"}
        await s3(mesh, "CreateBucket", Bucket="photos", CreateBucketConfiguration=config)
        again = await refused(
            mesh, "CreateBucket", Bucket="photos", CreateBucketConfiguration=config
        )
        assert (again.code, again.status) == ("BucketAlreadyOwnedByYou", 409)
        assert again.fields["BucketName"] == "photos"
        wrong = await refused(mesh, "CreateBucket", Bucket="other")
        assert wrong.code == "IllegalLocationConstraintException"
        mesh.queue("orders")
        taken = await refused(
            mesh, "CreateBucket", Bucket="orders", CreateBucketConfiguration=config
        )
        assert (taken.code, taken.status) == ("BucketAlreadyExists", 409)
        for bad in ("Upper", "ab", "a..b", "192.168.1.1", "-start", "x" * 64):
            error = await refused(mesh, "CreateBucket", Bucket=bad)
            assert error.code == "InvalidBucketName", bad


async def test_objects_round_trip_with_md5_etag_metadata_and_content_type(mesh: Mesh) -> None:
    await s3(mesh, "CreateBucket", Bucket="docs")
    put = await s3(
        mesh, "PutObject", Bucket="docs", Key="a/b.txt", Body=b"hello",
        ContentType="text/plain", Metadata={"Owner": "ann"},
    )  # fmt: skip
    etag = '"' + hashlib.md5(b"hello").hexdigest() + '"'
    assert put == {"ETag": etag}
    got = await s3(mesh, "GetObject", Bucket="docs", Key="a/b.txt")
    assert got["Body"] == b"hello"
    assert got["ETag"] == etag
    assert got["ContentType"] == "text/plain"
    assert got["ContentLength"] == 5
    assert got["Metadata"] == {"owner": "ann"}
    assert got["AcceptRanges"] == "bytes"
    assert "ContentRange" not in got
    head = await s3(mesh, "HeadObject", Bucket="docs", Key="a/b.txt")
    assert "Body" not in head and head["ETag"] == etag
    assert (await s3(mesh, "GetObject", Bucket="docs", Key="a/b.txt", IfMatch=etag))["Body"]
    failed = await refused(mesh, "GetObject", Bucket="docs", Key="a/b.txt", IfMatch='"0"')
    assert (failed.code, failed.status) == ("PreconditionFailed", 412)
    unchanged = await refused(mesh, "GetObject", Bucket="docs", Key="a/b.txt", IfNoneMatch=etag)
    assert unchanged.status == 304
    create_only = await refused(
        mesh, "PutObject", Bucket="docs", Key="a/b.txt", Body=b"x", IfNoneMatch="*"
    )
    assert create_only.status == 412


async def test_missing_bucket_and_key_errors_carry_their_names(mesh: Mesh) -> None:
    error = await refused(mesh, "GetObject", Bucket="nope", Key="k")
    assert (error.code, error.status, error.fields) == ("NoSuchBucket", 404, {"BucketName": "nope"})
    await s3(mesh, "CreateBucket", Bucket="here")
    error = await refused(mesh, "GetObject", Bucket="here", Key="k")
    assert (error.code, error.status, error.fields) == ("NoSuchKey", 404, {"Key": "k"})
    assert (await refused(mesh, "HeadObject", Bucket="here", Key="k")).status == 404


@pytest.mark.parametrize(
    ("header", "span"),
    [
        ("bytes=0-4", (0, 4)),
        ("bytes=5-", (5, 9)),
        ("bytes=-3", (7, 9)),
        ("bytes=-30", (0, 9)),
        ("bytes=8-100", (8, 9)),
        ("bytes=4-2", None),
        ("bytes=a-b", None),
        ("items=0-1", None),
        ("bytes=0-1,3-4", None),
        ("bytes=0-" + "9" * 5000, (0, 9)),
        ("bytes=-" + "9" * 5000, (0, 9)),
        ("bytes=" + "0" * 5000 + "2-3", (2, 3)),
    ],
)
def test_ranges_as_s3_reads_them(header: str, span: tuple[int, int] | None) -> None:
    assert parse_range(header, 10) == span


@pytest.mark.parametrize(
    "header", ["bytes=10-", "bytes=10-20", "bytes=-0", "bytes=" + "9" * 5000 + "-"]
)
def test_unsatisfiable_ranges_are_416(header: str) -> None:
    with pytest.raises(AwsError) as caught:
        parse_range(header, 10)
    assert (caught.value.code, caught.value.status) == ("InvalidRange", 416)


async def test_range_answers_the_part_with_content_range(mesh: Mesh) -> None:
    await s3(mesh, "CreateBucket", Bucket="docs")
    await s3(mesh, "PutObject", Bucket="docs", Key="k", Body=b"0123456789")
    got = await s3(mesh, "GetObject", Bucket="docs", Key="k", Range="bytes=2-5")
    assert got["Body"] == b"2345"
    assert got["ContentRange"] == "bytes 2-5/10"
    assert got["ContentLength"] == 4


async def test_delete_objects_quiet_and_per_key_errors(mesh: Mesh) -> None:
    await s3(mesh, "CreateBucket", Bucket="docs")
    for key in ("a", "b", "c"):
        await s3(mesh, "PutObject", Bucket="docs", Key=key, Body=b"x")
    answer = await s3(
        mesh, "DeleteObjects", Bucket="docs",
        Delete={"Objects": [{"Key": "a"}, {"Key": "missing"}, {"Key": "b", "VersionId": "v1"}]},
    )  # fmt: skip
    assert answer["Deleted"] == [{"Key": "a"}, {"Key": "missing"}]
    assert [(e["Key"], e["Code"]) for e in answer["Errors"]] == [("b", "InvalidArgument")]
    quiet = await s3(
        mesh, "DeleteObjects", Bucket="docs", Delete={"Objects": [{"Key": "c"}], "Quiet": True}
    )
    assert quiet == {}
    listed = await s3(mesh, "ListObjectsV2", Bucket="docs")
    assert [c["Key"] for c in listed["Contents"]] == ["b"]


async def test_list_objects_v2_with_delimiter_pages_and_tokens(mesh: Mesh) -> None:
    await s3(mesh, "CreateBucket", Bucket="docs")
    keys = ["a.txt", "dir/1", "dir/2", "dir/sub/3", "e.txt", "logs/x", "z"]
    for key in keys:
        await s3(mesh, "PutObject", Bucket="docs", Key=key, Body=b"x")
    top = await s3(mesh, "ListObjectsV2", Bucket="docs", Delimiter="/")
    assert [c["Key"] for c in top["Contents"]] == ["a.txt", "e.txt", "z"]
    assert top["CommonPrefixes"] == [{"Prefix": "dir/"}, {"Prefix": "logs/"}]
    assert top["KeyCount"] == 5 and top["IsTruncated"] is False
    inner = await s3(mesh, "ListObjectsV2", Bucket="docs", Delimiter="/", Prefix="dir/")
    assert [c["Key"] for c in inner["Contents"]] == ["dir/1", "dir/2"]
    assert inner["CommonPrefixes"] == [{"Prefix": "dir/sub/"}]
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        extra = {} if token is None else {"ContinuationToken": token}
        page = await s3(mesh, "ListObjectsV2", Bucket="docs", Delimiter="/", MaxKeys=2, **extra)
        pages += 1
        seen += [c["Key"] for c in page.get("Contents", [])]
        seen += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        assert page["KeyCount"] <= 2
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert sorted(seen) == ["a.txt", "dir/", "e.txt", "logs/", "z"] and pages == 3
    after = await s3(mesh, "ListObjectsV2", Bucket="docs", StartAfter="dir/2")
    assert [c["Key"] for c in after["Contents"]] == ["dir/sub/3", "e.txt", "logs/x", "z"]
    assert after["StartAfter"] == "dir/2"
    empty = await s3(mesh, "ListObjectsV2", Bucket="docs", Prefix="none/")
    assert "Contents" not in empty and empty["KeyCount"] == 0
    bad = await refused(mesh, "ListObjectsV2", Bucket="docs", ContinuationToken="!!")
    assert bad.code == "InvalidArgument"


async def test_list_encodes_keys_when_asked(mesh: Mesh) -> None:
    await s3(mesh, "CreateBucket", Bucket="docs")
    await s3(mesh, "PutObject", Bucket="docs", Key="red flower.jpg", Body=b"x")
    listed = await s3(mesh, "ListObjectsV2", Bucket="docs", EncodingType="url")
    assert listed["Contents"][0]["Key"] == "red+flower.jpg"
    assert listed["EncodingType"] == "url"


async def test_notification_configuration_maps_onto_bucket_notify(mesh: Mesh) -> None:
    events: list[Any] = []

    @mesh.function
    async def on_upload(event: Any, context: Any) -> None:
        events.append(event)

    mesh.queue("uploads")
    await s3(mesh, "CreateBucket", Bucket="docs")
    configuration = {
        "LambdaFunctionConfigurations": [
            {
                "Id": "images",
                "LambdaFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:on_upload",
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [
                    {"Name": "prefix", "Value": "images/"}, {"Name": "suffix", "Value": ".jpg"},
                ]}},
            }
        ],
        "QueueConfigurations": [
            {
                "Id": "removed",
                "QueueArn": "arn:aws:sqs:us-east-1:123456789012:uploads",
                "Events": ["s3:ObjectRemoved:*"],
            }
        ],
    }  # fmt: skip
    await s3(mesh, "PutBucketNotificationConfiguration", Bucket="docs",
             NotificationConfiguration=configuration)  # fmt: skip
    got = await s3(mesh, "GetBucketNotificationConfiguration", Bucket="docs")
    lambda_config = got["LambdaFunctionConfigurations"][0]
    assert lambda_config["Filter"]["Key"]["FilterRules"] == [
        {"Name": "Prefix", "Value": "images/"},
        {"Name": "Suffix", "Value": ".jpg"},
    ]
    assert got["QueueConfigurations"][0]["QueueArn"].endswith(":uploads")
    await s3(mesh, "PutObject", Bucket="docs", Key="images/cat.jpg", Body=b"x")
    await s3(mesh, "PutObject", Bucket="docs", Key="images/cat.png", Body=b"x")
    await mesh.drain()
    assert [e["Records"][0]["s3"]["object"]["key"] for e in events] == ["images/cat.jpg"]
    assert events[0]["Records"][0]["s3"]["configurationId"] == "images"
    queue_arn = "arn:aws:sqs:us-east-1:123456789012:uploads"
    overlap = {"QueueConfigurations": [
        {"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]},
        {"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:Put"]},
    ]}  # fmt: skip
    error = await refused(mesh, "PutBucketNotificationConfiguration", Bucket="docs",
                          NotificationConfiguration=overlap)  # fmt: skip
    assert error.code == "InvalidArgument"
    assert (await s3(mesh, "GetBucketNotificationConfiguration", Bucket="docs")) == got
    missing = {"LambdaFunctionConfigurations": [
        {"LambdaFunctionArn": "nobody", "Events": ["s3:ObjectCreated:*"]},
    ]}  # fmt: skip
    error = await refused(mesh, "PutBucketNotificationConfiguration", Bucket="docs",
                          NotificationConfiguration=missing)  # fmt: skip
    assert error.code == "InvalidArgument"
    await s3(
        mesh, "PutBucketNotificationConfiguration", Bucket="docs", NotificationConfiguration={}
    )
    assert await s3(mesh, "GetBucketNotificationConfiguration", Bucket="docs") == {}


async def test_delete_bucket_refuses_one_with_objects(mesh: Mesh) -> None:
    await s3(mesh, "CreateBucket", Bucket="docs")
    await s3(mesh, "PutObject", Bucket="docs", Key="k", Body=b"x")
    error = await refused(mesh, "DeleteBucket", Bucket="docs")
    assert (error.code, error.status) == ("BucketNotEmpty", 409)
    await s3(mesh, "DeleteObject", Bucket="docs", Key="k")
    await s3(mesh, "DeleteBucket", Bucket="docs")
    assert (await refused(mesh, "HeadBucket", Bucket="docs")).code == "NoSuchBucket"
    assert (await s3(mesh, "ListBuckets"))["Buckets"] == []


async def test_buckets_and_notifications_come_back_after_a_restart(tmp_path: Any) -> None:
    storage = f"sqlite:///{tmp_path / 'mesh.db'}"

    def build() -> Mesh:
        mesh = Mesh(storage=storage, telemetry=Telemetry(enabled=False))
        mesh.queue("uploads")
        return mesh

    config = {"QueueConfigurations": [{
        "Id": "q", "QueueArn": "arn:aws:sqs:us-east-1:123456789012:uploads",
        "Events": ["s3:ObjectCreated:*"],
    }]}  # fmt: skip
    async with build() as first:
        await s3(first, "CreateBucket", Bucket="kept")
        await s3(first, "PutBucketNotificationConfiguration", Bucket="kept",
                 NotificationConfiguration=config)  # fmt: skip
        await s3(first, "PutObject", Bucket="kept", Key="k", Body=b"x")
    async with build() as second:
        restored = await catalog.restore(second)
        assert ("s3.bucket", "kept") in restored and ("s3.notification", "kept") in restored
        got = await s3(second, "GetBucketNotificationConfiguration", Bucket="kept")
        assert got["QueueConfigurations"][0]["Id"] == "q"
        assert (await s3(second, "GetObject", Bucket="kept", Key="k"))["Body"] == b"x"
        listed = await s3(second, "ListBuckets")
        assert [b["Name"] for b in listed["Buckets"]] == ["kept"]


async def test_a_bucket_made_by_another_worker_is_found(tmp_path: Any) -> None:
    storage = f"sqlite:///{tmp_path / 'mesh.db'}"
    one = Mesh(storage=storage, telemetry=Telemetry(enabled=False))
    two = Mesh(storage=storage, telemetry=Telemetry(enabled=False))
    async with one, two:
        await s3(one, "CreateBucket", Bucket="shared")
        await s3(one, "PutObject", Bucket="shared", Key="k", Body=b"x")
        assert (await s3(two, "GetObject", Bucket="shared", Key="k"))["Body"] == b"x"


async def test_a_bucket_whose_notification_target_is_elsewhere_is_still_served(
    tmp_path: Any,
) -> None:
    storage = f"sqlite:///{tmp_path / 'mesh.db'}"
    one = Mesh(storage=storage, telemetry=Telemetry(enabled=False))
    two = Mesh(storage=storage, telemetry=Telemetry(enabled=False))  # has no queue "uploads"
    one.queue("uploads")
    config = {"QueueConfigurations": [{
        "QueueArn": "arn:aws:sqs:us-east-1:123456789012:uploads", "Events": ["s3:ObjectCreated:*"],
    }]}  # fmt: skip
    async with one, two:
        await s3(one, "CreateBucket", Bucket="shared")
        await s3(one, "PutBucketNotificationConfiguration", Bucket="shared",
                 NotificationConfiguration=config)  # fmt: skip
        await s3(two, "PutObject", Bucket="shared", Key="k", Body=b"x")
        assert (await s3(one, "GetObject", Bucket="shared", Key="k"))["Body"] == b"x"


async def test_notification_errors_are_s3s(mesh: Mesh) -> None:
    """S3's InvalidArgument messages (and ArgumentName/Value where S3 names the argument);
    a refused configuration leaves the previous one, EventBridge setting included."""
    mesh.queue("uploads")
    await s3(mesh, "CreateBucket", Bucket="docs")
    queue_arn = "arn:aws:sqs:us-east-1:123456789012:uploads"
    kept = {"EventBridgeConfiguration": {}}
    await s3(mesh, "PutBucketNotificationConfiguration", Bucket="docs",
             NotificationConfiguration=kept)  # fmt: skip

    def queue_config(**changes: Any) -> dict[str, Any]:
        return {"QueueConfigurations": [
            {"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"], **changes}
        ]}  # fmt: skip

    def rules(*pairs: tuple[str, str]) -> dict[str, Any]:
        return {"Key": {"FilterRules": [{"Name": n, "Value": v} for n, v in pairs]}}

    cases = [
        (
            {"QueueConfigurations": [
                {"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]},
                {"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:Put"]},
            ]},
            "Configuration is ambiguously defined. Cannot have overlapping suffixes in two "
            "rules if the prefixes are overlapping for the same event type.",
            {},
        ),
        (
            queue_config(Events=["s3:ObjectCreated"]),
            "The event is not supported for notifications",
            {},
        ),
        (
            queue_config(Filter=rules(("prefix", "a/"), ("Prefix", "b/"))),
            "Cannot specify more than one prefix rule in a filter.",
            {"ArgumentName": "FilterRule", "ArgumentValue": "prefix"},
        ),
        (
            queue_config(Filter=rules(("contains", "a"))),
            "filter rule name must be either prefix or suffix",
            {"ArgumentName": "FilterRule", "ArgumentValue": "contains"},
        ),
    ]  # fmt: skip
    for configuration, message, fields in cases:
        error = await refused(mesh, "PutBucketNotificationConfiguration", Bucket="docs",
                              NotificationConfiguration=configuration)  # fmt: skip
        assert (error.code, error.message, error.fields) == ("InvalidArgument", message, fields)
    got = await s3(mesh, "GetBucketNotificationConfiguration", Bucket="docs")
    assert got == {"EventBridgeConfiguration": {}}
    assert mesh.bucket("docs").eventbridge


async def test_eventbridge_configuration_comes_back_after_a_restart(tmp_path: Any) -> None:
    storage = f"sqlite:///{tmp_path / 'mesh.db'}"
    async with Mesh(storage=storage, telemetry=Telemetry(enabled=False)) as first:
        await s3(first, "CreateBucket", Bucket="kept")
        await s3(first, "PutBucketNotificationConfiguration", Bucket="kept",
                 NotificationConfiguration={"EventBridgeConfiguration": {}})  # fmt: skip
    async with Mesh(storage=storage, telemetry=Telemetry(enabled=False)) as second:
        await catalog.restore(second)
        got = await s3(second, "GetBucketNotificationConfiguration", Bucket="kept")
        assert got == {"EventBridgeConfiguration": {}}
        events: list[Any] = []

        async def keep(event: Any) -> None:
            events.append(event)

        second.bus().rule("s3", {"source": ["aws.s3"]}, targets=[keep])
        await s3(second, "PutObject", Bucket="kept", Key="k", Body=b"x")
        await second.drain()
        assert [e["detail"]["object"]["key"] for e in events] == ["k"]
