"""S3's EventBridge notifications: a bucket's object events on the default bus.

The expected events are AWS's, written out by hand from the S3 user guide ("EventBridge event
message structure", ev-events.html: the "Object created" and "Object deleted" examples and the
detail field list) and events S3 really sent for an unversioned bucket (a permanent delete has
neither ``size`` nor ``etag``). Without versioning there is no ``version-id``. The virtual
clock starts at 2026-01-01T00:00:00Z, so the first sequencer is ``006955B90000000000``.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from eventmesh import ConfigurationError, Context, Mesh, Telemetry
from eventmesh.resources.bus import Bus
from eventmesh.testing import VirtualClock

MD5_HELLO = "5d41402abc4b2a76b9719d911017c592"  # md5(b"hello")
CREATED = {"source": ["aws.s3"], "detail-type": ["Object Created"]}
EVERYTHING = {"source": ["aws.s3"]}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def keeper(events: list[dict[str, Any]]) -> Any:
    async def keep(event: dict[str, Any]) -> None:
        events.append(event)

    return keep


def without_ids(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its random ids checked and taken out (the rest is compared whole)."""
    assert UUID.fullmatch(event["id"]), event["id"]
    assert re.fullmatch(r"[0-9A-Z]{16}", event["detail"]["request-id"])
    detail = {k: v for k, v in event["detail"].items() if k != "request-id"}
    return {**{k: v for k, v in event.items() if k != "id"}, "detail": detail}


async def test_object_created_is_aws_s_event(mesh: Mesh, clock: VirtualClock) -> None:
    events: list[dict[str, Any]] = []
    bucket = mesh.bucket("uploads")
    bucket.send_to_eventbridge()
    pattern = {**CREATED, "detail": {"bucket": {"name": ["uploads"]}}}
    mesh.bus().rule("created", pattern, targets=[keeper(events)])
    async with mesh:
        await clock.advance(3)
        await bucket.put_object("images/red flower.jpg", b"hello")
        await mesh.drain()

    [event] = events
    assert list(event) == [
        "version", "id", "detail-type", "source", "account", "time", "region", "resources",
        "detail",
    ]  # fmt: skip
    assert list(event["detail"]) == [
        "version", "bucket", "object", "request-id", "requester", "source-ip-address", "reason",
    ]  # fmt: skip
    assert without_ids(event) == {
        "version": "0",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-01-01T00:00:03Z",
        "region": "us-east-1",
        "resources": ["arn:aws:s3:::uploads"],
        "detail": {
            "version": "0",
            "bucket": {"name": "uploads"},
            "object": {
                "key": "images/red flower.jpg",  # not URL-encoded, unlike S3's records
                "size": 5,
                "etag": MD5_HELLO,
                "sequencer": "006955B90300000000",
            },
            "requester": "123456789012",
            "source-ip-address": "127.0.0.1",
            "reason": "PutObject",
        },
    }


async def test_copy_and_delete(mesh: Mesh, clock: VirtualClock) -> None:
    events: list[dict[str, Any]] = []
    bucket = mesh.bucket("uploads")
    bucket.send_to_eventbridge(True)
    mesh.bus().rule("all", EVERYTHING, targets=[keeper(events)])
    async with mesh:
        await bucket.put_object("a", b"hello")
        await bucket.copy_object("a", "b c")
        await bucket.delete_object("a")
        await bucket.delete_object("never-there")  # removes nothing: no event
        await mesh.drain()

    assert [(e["detail-type"], e["detail"]["reason"]) for e in events] == [
        ("Object Created", "PutObject"),
        ("Object Created", "CopyObject"),
        ("Object Deleted", "DeleteObject"),
    ]
    assert events[1]["detail"]["object"] == {
        "key": "b c",
        "size": 5,
        "etag": MD5_HELLO,
        "sequencer": "006955B90000000001",
    }
    deleted = without_ids(events[2])
    assert deleted["detail"] == {
        "version": "0",
        "bucket": {"name": "uploads"},
        "object": {"key": "a", "sequencer": "006955B90000000002"},
        "requester": "123456789012",
        "source-ip-address": "127.0.0.1",
        "reason": "DeleteObject",
        "deletion-type": "Permanently Deleted",
    }
    assert list(events[2]["detail"])[-2:] == ["reason", "deletion-type"]
    assert bucket.eventbridge_sent == 3


async def test_off_unless_enabled_and_can_be_turned_off(mesh: Mesh) -> None:
    events: list[dict[str, Any]] = []
    quiet = mesh.bucket("quiet")
    loud = mesh.bucket("loud")
    loud.send_to_eventbridge()
    mesh.bus().rule("all", EVERYTHING, targets=[keeper(events)])
    assert (quiet.eventbridge, loud.eventbridge) == (False, True)
    async with mesh:
        await quiet.put_object("k", b"")
        await loud.put_object("k", b"")
        loud.send_to_eventbridge(False)
        await loud.put_object("later", b"")
        loud.send_to_eventbridge()  # on again while running
        await loud.put_object("again", b"")
        await mesh.drain()

    assert [(e["detail"]["bucket"]["name"], e["detail"]["object"]["key"]) for e in events] == [
        ("loud", "k"),
        ("loud", "again"),
    ]
    with pytest.raises(ConfigurationError):
        loud.send_to_eventbridge("yes")  # type: ignore[arg-type]


async def test_rules_match_bucket_names_and_raw_key_prefixes(mesh: Mesh) -> None:
    images: list[dict[str, Any]] = []
    deletes: list[dict[str, Any]] = []
    bus = mesh.bus()
    bus.rule(
        "images",
        {**CREATED, "detail": {"object": {"key": [{"prefix": "images/red "}]}}},
        targets=[keeper(images)],
    )
    bus.rule(
        "deletes",
        {"source": ["aws.s3"], "detail": {"deletion-type": ["Permanently Deleted"]}},
        targets=[keeper(deletes)],
    )
    bucket = mesh.bucket("uploads")
    bucket.send_to_eventbridge()
    async with mesh:
        await bucket.put_object("images/red flower.jpg", b"")
        await bucket.put_object("images/blue.jpg", b"")
        await bucket.delete_object("images/blue.jpg")
        await mesh.drain()

    assert [e["detail"]["object"]["key"] for e in images] == ["images/red flower.jpg"]
    assert [e["detail"]["object"]["key"] for e in deletes] == ["images/blue.jpg"]


async def test_eventbridge_and_configurations_share_the_request(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """One write: the S3 record and the EventBridge event carry the same sequencer and
    request id (S3's ``x-amz-request-id`` is the event's ``request-id``)."""
    records: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []

    @mesh.function(name="worker")
    async def worker(event: dict[str, Any], context: Context) -> None:
        records.append(event["Records"][0])

    bucket = mesh.bucket("uploads")
    bucket.notify("worker", ["s3:ObjectCreated:*"])
    bucket.send_to_eventbridge()
    mesh.bus().rule("all", EVERYTHING, targets=[keeper(events)])
    async with mesh:
        await bucket.put_object("red flower.jpg", b"hello")
        await mesh.drain()

    [record] = records
    [event] = events
    assert record["s3"]["object"]["key"] == "red+flower.jpg"
    assert event["detail"]["object"]["key"] == "red flower.jpg"
    assert event["detail"]["object"]["sequencer"] == record["s3"]["object"]["sequencer"]
    assert event["detail"]["request-id"] == record["responseElements"]["x-amz-request-id"]


async def test_the_default_bus_is_made_when_the_mesh_has_none(mesh: Mesh) -> None:
    bucket = mesh.bucket("uploads")
    assert mesh.context.find_resource("default") is None
    bucket.send_to_eventbridge()
    bus = mesh.context.find_resource("default")
    assert isinstance(bus, Bus)
    assert mesh.bus() is bus  # the bus mesh.bus() gives, started with the mesh
    async with mesh:
        await bucket.put_object("k", b"")
        assert bus.events_put == 1


def test_a_default_that_is_not_a_bus_is_refused(mesh: Mesh) -> None:
    mesh.queue("default")
    bucket = mesh.bucket("uploads")
    with pytest.raises(ConfigurationError, match="default bus"):
        bucket.send_to_eventbridge()
    assert not bucket.eventbridge


async def test_a_busy_bus_is_waited_for_and_loses_nothing(mesh: Mesh) -> None:
    """At the bus's max_pending the write waits for room (as PutEvents does without a
    timeout) instead of dropping the event."""
    released = asyncio.Event()
    keys: list[str] = []

    async def slow(event: dict[str, Any]) -> None:
        await released.wait()
        keys.append(event["detail"]["object"]["key"])

    bus = mesh.bus("default", max_pending=1)
    bus.rule("slow", EVERYTHING, targets=[slow])
    bucket = mesh.bucket("uploads")
    bucket.send_to_eventbridge()
    async with mesh:
        await bucket.put_object("first", b"")  # its delivery holds the bus's one place
        second = asyncio.create_task(bucket.put_object("second", b""))
        for _ in range(5):
            await asyncio.sleep(0)
        assert not second.done()  # waiting for room, not dropped
        released.set()
        await second
        await mesh.drain()

    assert keys == ["first", "second"]
    assert bucket.notification_failures == 0


async def test_on_durable_storage_through_a_queue(tmp_path: Path, clock: VirtualClock) -> None:
    mesh = Mesh(
        clock=clock,
        storage=f"sqlite:///{tmp_path / 'mesh.db'}",
        telemetry=Telemetry(enabled=False),
    )
    queue = mesh.queue("s3-events")
    mesh.bus().rule("to-queue", CREATED, targets=[queue])
    bucket = mesh.bucket("uploads")
    bucket.send_to_eventbridge()
    async with mesh:
        await bucket.put_object("k", b"hello")
        await mesh.drain()
        [message] = await queue.receive(10)

    event = orjson.loads(message.body)
    assert (event["source"], event["detail-type"]) == ("aws.s3", "Object Created")
    assert event["detail"]["object"]["etag"] == MD5_HELLO
