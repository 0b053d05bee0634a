"""Buckets: S3's object API over the BlobStore, and S3 event notifications (§4.1).

Expected values are written by hand: ETags are MD5s of the bodies, the virtual clock starts
at 2026-01-01T00:00:00Z (epoch 1767225600 = 0x6955B900), so the first sequencer of a run is
``00`` + ``6955B900`` + ``00000000``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

import orjson
import pytest

from eventmesh import ConfigurationError, Context, Mesh, PayloadError, ResourceNotFoundError
from eventmesh.resources.bucket import Bucket
from eventmesh.resources.queue import Queue
from eventmesh.resources.topic import Topic
from eventmesh.testing import VirtualClock

MD5_HELLO = "5d41402abc4b2a76b9719d911017c592"  # md5(b"hello")
MD5_EMPTY = "d41d8cd98f00b204e9800998ecf8427e"  # md5(b"")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
FIRST_SEQUENCER = "006955B90000000000"


def make_bucket(mesh: Mesh, name: str = "uploads") -> Bucket:
    return mesh.resource(Bucket, name)


def make_queue(mesh: Mesh, name: str, **settings: Any) -> Queue:
    return mesh.resource(Queue, name, **settings)


def recorder(mesh: Mesh, name: str) -> list[dict[str, Any]]:
    """A function named ``name`` that keeps the records it gets."""
    records: list[dict[str, Any]] = []

    @mesh.function(name=name)
    async def handler(event: dict[str, Any], context: Context) -> None:
        assert len(event["Records"]) == 1  # S3 sends one record per event
        records.append(event["Records"][0])

    return records


# -- objects ---------------------------------------------------------------------------------
async def test_put_get_and_head(mesh: Mesh, clock: VirtualClock) -> None:
    bucket = make_bucket(mesh)
    assert bucket.arn == "arn:aws:s3:::uploads"
    put = await bucket.put_object(
        "greeting.txt", b"hello", content_type="text/plain", metadata={"Lang": "en"}
    )
    assert put == {"ETag": f'"{MD5_HELLO}"'}
    await clock.advance(5)
    await bucket.put_object("text", "hello")  # a str is stored as UTF-8
    await bucket.put_object("empty", b"")

    assert await bucket.get_object("greeting.txt") == {
        "Body": b"hello",
        "ContentLength": 5,
        "ContentType": "text/plain",
        "ETag": f'"{MD5_HELLO}"',
        "LastModified": T0,
        "Metadata": {"lang": "en"},  # S3 lower-cases metadata names
    }
    assert await bucket.head_object("text") == {
        "ContentLength": 5,
        "ContentType": "binary/octet-stream",
        "ETag": f'"{MD5_HELLO}"',
        "LastModified": datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC),
        "Metadata": {},
    }
    assert (await bucket.get_object("empty"))["ETag"] == f'"{MD5_EMPTY}"'


async def test_a_missing_key_is_no_such_key(mesh: Mesh) -> None:
    bucket = make_bucket(mesh)
    with pytest.raises(ResourceNotFoundError, match="NoSuchKey"):
        await bucket.get_object("nothing")
    with pytest.raises(ResourceNotFoundError, match="NoSuchKey"):
        await bucket.head_object("nothing")


async def test_delete(mesh: Mesh) -> None:
    bucket = make_bucket(mesh)
    await bucket.put_object("k", b"hello")
    await bucket.delete_object("k")
    with pytest.raises(ResourceNotFoundError):
        await bucket.get_object("k")
    await bucket.delete_object("k")  # S3's 204: deleting a missing key is fine


async def test_invalid_requests(mesh: Mesh) -> None:
    bucket = make_bucket(mesh)
    with pytest.raises(PayloadError):
        await bucket.put_object("", b"x")
    with pytest.raises(PayloadError):
        await bucket.put_object("k" * 1025, b"x")
    with pytest.raises(PayloadError):
        await bucket.put_object("k", 42)  # type: ignore[arg-type]
    with pytest.raises(PayloadError, match="2 KB"):
        await bucket.put_object("k", b"x", metadata={"m": "v" * 2048})
    with pytest.raises(ConfigurationError):
        await bucket.list_objects(max_keys=1001)
    with pytest.raises(ConfigurationError):
        await bucket.list_objects(continuation_token="%%%")
    for name in ("Uploads", "ab", "-uploads", "my_bucket", "a..b"):
        with pytest.raises(ConfigurationError):
            make_bucket(mesh, name)


async def test_copy_object_keeps_metadata_unless_replaced(mesh: Mesh) -> None:
    bucket = make_bucket(mesh)
    other = make_bucket(mesh, "archive")
    await bucket.put_object("a", b"hello", metadata={"m": "1"}, content_type="text/plain")
    assert await bucket.copy_object("a", "b") == {"ETag": f'"{MD5_HELLO}"'}
    await other.copy_object("a", "c", source_bucket="uploads", metadata={"n": "2"})
    copied = await bucket.get_object("b")
    assert (copied["Body"], copied["Metadata"], copied["ContentType"]) == (
        b"hello",
        {"m": "1"},
        "text/plain",
    )
    assert (await other.get_object("c"))["Metadata"] == {"n": "2"}
    with pytest.raises(ResourceNotFoundError, match="NoSuchKey"):
        await bucket.copy_object("missing", "d")


# -- listing (ListObjectsV2) -----------------------------------------------------------------
async def test_list_objects_pages_with_continuation_tokens(mesh: Mesh, clock: VirtualClock) -> None:
    bucket = make_bucket(mesh)
    for key in ("img/3", "img/1", "doc/1", "img/2", "img/4", "img/5"):
        await bucket.put_object(key, b"hello")

    first = await bucket.list_objects("img/", max_keys=2)
    assert first == {
        "Name": "uploads",
        "Prefix": "img/",
        "MaxKeys": 2,
        "KeyCount": 2,
        "IsTruncated": True,
        "Contents": [
            {
                "Key": "img/1",
                "Size": 5,
                "ETag": f'"{MD5_HELLO}"',
                "LastModified": T0,
                "StorageClass": "STANDARD",
            },
            {
                "Key": "img/2",
                "Size": 5,
                "ETag": f'"{MD5_HELLO}"',
                "LastModified": T0,
                "StorageClass": "STANDARD",
            },
        ],
        "NextContinuationToken": first["NextContinuationToken"],
    }
    second = await bucket.list_objects(
        "img/", max_keys=2, continuation_token=first["NextContinuationToken"]
    )
    assert [c["Key"] for c in second["Contents"]] == ["img/3", "img/4"]
    assert second["ContinuationToken"] == first["NextContinuationToken"]
    assert second["IsTruncated"]
    third = await bucket.list_objects(
        "img/", max_keys=2, continuation_token=second["NextContinuationToken"]
    )
    assert [c["Key"] for c in third["Contents"]] == ["img/5"]
    assert not third["IsTruncated"]
    assert "NextContinuationToken" not in third


async def test_list_objects_after_a_key_and_edge_cases(mesh: Mesh) -> None:
    bucket = make_bucket(mesh)
    for key in ("a", "b", "c"):
        await bucket.put_object(key, b"")
    after = await bucket.list_objects(start_after="a")
    assert [c["Key"] for c in after["Contents"]] == ["b", "c"]
    assert after["StartAfter"] == "a"
    assert not after["IsTruncated"]
    exact = await bucket.list_objects(max_keys=3)  # exactly full: not truncated
    assert (exact["KeyCount"], exact["IsTruncated"]) == (3, False)
    nothing = await bucket.list_objects(max_keys=0)
    assert (nothing["KeyCount"], nothing["Contents"], nothing["IsTruncated"]) == (0, [], False)
    assert (await bucket.list_objects("zzz"))["Contents"] == []


# -- notifications: the record (§4.1) --------------------------------------------------------
async def test_the_s3_record_field_by_field(mesh: Mesh, clock: VirtualClock) -> None:
    records = recorder(mesh, "thumbnail")
    seen_types: list[str] = []

    @mesh.function(name="typed")
    async def typed(event: Any, context: Context) -> None:
        seen_types.append(context.invocation_type)

    bucket = make_bucket(mesh)
    bucket.notify("thumbnail", ["s3:ObjectCreated:*"], prefix="images/", id="thumbs")
    bucket.notify("typed", ["s3:ObjectCreated:*"], prefix="other/")
    async with mesh:
        await clock.advance(0.25)
        await bucket.put_object("images/red flower.jpg", b"hello")
        await bucket.put_object("other/x", b"hello")
        await clock.advance(0)

    assert seen_types == ["Event"]
    [record] = records
    assert set(record) == {
        "eventVersion",
        "eventSource",
        "awsRegion",
        "eventTime",
        "eventName",
        "userIdentity",
        "requestParameters",
        "responseElements",
        "s3",
    }
    assert record["eventVersion"] == "2.1"
    assert record["eventSource"] == "aws:s3"
    assert record["awsRegion"] == "us-east-1"
    assert record["eventTime"] == "2026-01-01T00:00:00.250Z"
    assert record["eventName"] == "ObjectCreated:Put"
    assert set(record["userIdentity"]) == {"principalId"}
    assert record["requestParameters"] == {"sourceIPAddress": "127.0.0.1"}
    assert set(record["responseElements"]) == {"x-amz-request-id", "x-amz-id-2"}
    assert re.fullmatch(r"[0-9A-F]{16}", record["responseElements"]["x-amz-request-id"])
    owner = record["s3"]["bucket"]["ownerIdentity"]["principalId"]
    assert isinstance(owner, str) and owner
    assert record["s3"] == {
        "s3SchemaVersion": "1.0",
        "configurationId": "thumbs",
        "bucket": {
            "name": "uploads",
            "ownerIdentity": {"principalId": owner},
            "arn": "arn:aws:s3:::uploads",
        },
        "object": {
            "key": "images/red+flower.jpg",
            "size": 5,
            "eTag": MD5_HELLO,  # bare in records, quoted in API answers
            "sequencer": FIRST_SEQUENCER,
        },
    }
    assert unquote_plus(record["s3"]["object"]["key"]) == "images/red flower.jpg"


async def test_keys_are_url_encoded(mesh: Mesh, clock: VirtualClock) -> None:
    records = recorder(mesh, "worker")
    bucket = make_bucket(mesh)
    bucket.notify("worker")
    keys = ["red flower.jpg", "a/b=c&d.txt", "été/naïve+plus.txt"]
    async with mesh:
        for key in keys:
            await bucket.put_object(key, b"")
        await clock.advance(0)

    encoded = sorted(r["s3"]["object"]["key"] for r in records)
    assert encoded == sorted(
        ["red+flower.jpg", "a/b%3Dc%26d.txt", "%C3%A9t%C3%A9/na%C3%AFve%2Bplus.txt"]
    )
    assert sorted(unquote_plus(k) for k in encoded) == sorted(keys)


async def test_sequencers_increase_per_key(mesh: Mesh, clock: VirtualClock) -> None:
    records = recorder(mesh, "worker")
    bucket = make_bucket(mesh)
    bucket.notify("worker", ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"])
    async with mesh:
        await bucket.put_object("k", b"1")
        await bucket.put_object("k", b"2")
        await bucket.delete_object("k")
        await clock.advance(1)
        await bucket.put_object("k", b"3")
        await clock.advance(0)

    by_sequencer = sorted(records, key=lambda r: r["s3"]["object"]["sequencer"])
    assert [r["s3"]["object"]["sequencer"] for r in by_sequencer] == [
        "006955B90000000000",
        "006955B90000000001",
        "006955B90000000002",
        "006955B90100000000",  # the next second starts higher
    ]
    assert [r["eventName"] for r in by_sequencer] == [
        "ObjectCreated:Put",
        "ObjectCreated:Put",
        "ObjectRemoved:Delete",
        "ObjectCreated:Put",
    ]


async def test_delete_notifications(mesh: Mesh, clock: VirtualClock) -> None:
    records = recorder(mesh, "worker")
    bucket = make_bucket(mesh)
    bucket.notify("worker", ["s3:ObjectRemoved:*"])
    async with mesh:
        await bucket.put_object("gone.txt", b"hello")
        await bucket.delete_object("gone.txt")
        await bucket.delete_object("never-there.txt")  # removes nothing, notifies nothing
        await clock.advance(0)

    [record] = records
    assert record["eventName"] == "ObjectRemoved:Delete"
    assert record["s3"]["object"] == {"key": "gone.txt", "sequencer": "006955B90000000001"}


async def test_prefix_and_suffix_filters(mesh: Mesh, clock: VirtualClock) -> None:
    records = recorder(mesh, "worker")
    bucket = make_bucket(mesh)
    bucket.notify("worker", ["s3:ObjectCreated:Put"], prefix="images/", suffix=".jpg")
    async with mesh:
        for key in ("images/a.jpg", "images/a.png", "docs/a.jpg", "images/.jpg", "images.jpg"):
            await bucket.put_object(key, b"")
        await bucket.copy_object("images/a.jpg", "images/copy.jpg")  # Copy, not Put
        await clock.advance(0)

    assert sorted(unquote_plus(r["s3"]["object"]["key"]) for r in records) == [
        "images/.jpg",
        "images/a.jpg",
    ]


async def test_copy_notifies_object_created_copy(mesh: Mesh, clock: VirtualClock) -> None:
    records = recorder(mesh, "worker")
    bucket = make_bucket(mesh)
    bucket.notify("worker", "s3:ObjectCreated:Copy")
    async with mesh:
        await bucket.put_object("a", b"hello")
        await bucket.copy_object("a", "b")
        await clock.advance(0)

    [record] = records
    assert record["eventName"] == "ObjectCreated:Copy"
    assert record["s3"]["object"]["key"] == "b"
    assert record["s3"]["object"]["eTag"] == MD5_HELLO


# -- notifications: configuration ------------------------------------------------------------
def test_overlapping_configurations_are_an_error(mesh: Mesh) -> None:
    recorder(mesh, "worker")
    bucket = make_bucket(mesh)
    bucket.notify("worker", ["s3:ObjectCreated:*"], prefix="images/", suffix=".jpg", id="jpg")
    # Same event types, prefixes that overlap, suffixes that overlap.
    for events, prefix, suffix in (
        (["s3:ObjectCreated:*"], "images/thumbs/", ".jpg"),
        (["s3:ObjectCreated:Put"], "images/", None),  # Put is in ObjectCreated:*
        (["s3:ObjectCreated:Copy"], None, "large.jpg"),
    ):
        with pytest.raises(ConfigurationError, match="overlap"):
            bucket.notify("worker", events, prefix=prefix, suffix=suffix)
    # Not overlapping: other suffix, other prefix, other event type.
    bucket.notify("worker", ["s3:ObjectCreated:*"], prefix="images/", suffix=".png")
    bucket.notify("worker", ["s3:ObjectCreated:*"], prefix="docs/", suffix=".jpg")
    bucket.notify("worker", ["s3:ObjectRemoved:*"], prefix="images/", suffix=".jpg")
    assert len(bucket.notifications) == 4
    with pytest.raises(ConfigurationError, match="already has"):
        bucket.notify("worker", ["s3:ObjectRestore:*"], id="jpg")
    with pytest.raises(ConfigurationError, match="unknown S3 event types"):
        bucket.notify("worker", ["s3:ObjectCreated"])
    with pytest.raises(ConfigurationError):
        bucket.notify("worker", [])
    with pytest.raises(ConfigurationError):
        bucket.notify(42)  # type: ignore[arg-type]


async def test_unknown_and_fifo_targets_fail_when_the_mesh_starts(clock: VirtualClock) -> None:
    for target, problem in (("nobody", "no function, queue or topic"), ("jobs.fifo", "FIFO")):
        mesh = Mesh(clock=clock)
        make_queue(mesh, "jobs.fifo")
        make_bucket(mesh).notify(target)
        with pytest.raises(ConfigurationError, match=problem):
            await mesh.start()
        await mesh.stop()


async def test_objects_written_before_the_mesh_runs_are_not_notified(
    mesh: Mesh, clock: VirtualClock
) -> None:
    records = recorder(mesh, "worker")
    bucket = make_bucket(mesh)
    bucket.notify("worker")
    await bucket.put_object("seeded", b"")
    async with mesh:
        await bucket.put_object("live", b"")
        await clock.advance(0)

    assert [r["s3"]["object"]["key"] for r in records] == ["live"]


async def test_a_failing_target_does_not_fail_the_write_nor_the_others(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    mesh = Mesh(clock=clock, max_event_payload=100)  # too small for an S3 event
    recorder(mesh, "worker")
    queue = make_queue(mesh, "inbox")
    bucket = make_bucket(mesh)
    failing = bucket.notify("worker", suffix=".jpg")
    working = bucket.notify(queue, suffix=".png")
    async with mesh:
        await bucket.put_object("a.jpg", b"")
        await bucket.put_object("b.png", b"")
        await clock.advance(0)
        [message] = await queue.receive(10)
        assert (await bucket.get_object("a.jpg"))["ContentLength"] == 0  # stored all the same

    assert (failing.sent, failing.failures) == (0, 1)
    assert (working.sent, working.failures) == (1, 0)
    assert bucket.notification_failures == 1
    assert orjson.loads(message.body)["Records"][0]["s3"]["object"]["key"] == "b.png"
    assert "notification" in caplog.text


# -- end to end ------------------------------------------------------------------------------
async def test_bucket_to_queue_to_mapping(mesh: Mesh, clock: VirtualClock) -> None:
    events: list[dict[str, Any]] = []

    @mesh.function(name="consumer")
    async def consumer(event: dict[str, Any], context: Context) -> None:
        events.append(event)

    queue = make_queue(mesh, "uploads-events")
    queue.subscribe("consumer")
    bucket = make_bucket(mesh)
    bucket.notify("uploads-events", ["s3:ObjectCreated:*"], id="to-queue")
    async with mesh:
        await bucket.put_object("report.csv", b"hello")
        await clock.advance(0)

    [event] = events
    [record] = event["Records"]
    assert record["eventSource"] == "aws:sqs"
    s3_event = orjson.loads(record["body"])
    [s3_record] = s3_event["Records"]
    assert s3_record["eventName"] == "ObjectCreated:Put"
    assert s3_record["s3"]["configurationId"] == "to-queue"
    assert s3_record["s3"]["object"] == {
        "key": "report.csv",
        "size": 5,
        "eTag": MD5_HELLO,
        "sequencer": FIRST_SEQUENCER,
    }


async def test_bucket_to_topic_to_queue(mesh: Mesh, clock: VirtualClock) -> None:
    queue = make_queue(mesh, "inbox")
    topic = mesh.resource(Topic, "uploads-topic")
    topic.subscribe(queue)
    bucket = make_bucket(mesh)
    bucket.notify(topic, ["s3:ObjectRemoved:*"])
    async with mesh:
        await bucket.put_object("k", b"hello")
        await bucket.delete_object("k")
        await clock.advance(0)
        [message] = await queue.receive(10)

    envelope = message.json()
    assert envelope["Subject"] == "Amazon S3 Notification"
    assert envelope["TopicArn"] == "arn:aws:sns:us-east-1:123456789012:uploads-topic"
    [record] = orjson.loads(envelope["Message"])["Records"]
    assert record["eventName"] == "ObjectRemoved:Delete"
    assert record["s3"]["bucket"]["name"] == "uploads"


async def test_a_bucket_is_an_on_failure_destination(mesh: Mesh, clock: VirtualClock) -> None:

    failures = mesh.bucket("failures")

    @mesh.function(retries=0, on_failure="failures")
    async def broken(event: Any, context: Context) -> None:
        raise ValueError("nope")

    async with mesh:
        result = await mesh.invoke("broken", {"order": 1}, "Event")
        await clock.advance(0)
        listing = await failures.list_objects(prefix="aws/lambda/async/broken/2026/01/01/")
        (entry,) = listing["Contents"]
        stored = await failures.get_object(entry["Key"])
    assert entry["Key"].endswith(result.request_id)
    record = orjson.loads(stored["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
