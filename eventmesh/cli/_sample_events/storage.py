"""Buckets: an object put, copied or deleted, as a notified function receives its record."""

from __future__ import annotations

from eventmesh.cli._sample_events import SampleError
from eventmesh.cli._sample_events._sampling import Act, Given, Sampling
from eventmesh.resources.bucket import Bucket

__all__ = [
    "eventbridge_s3_object_created",
    "eventbridge_s3_object_deleted",
    "s3_copy",
    "s3_delete",
    "s3_put",
]

_MAX_SIZE = 64 * 1024 * 1024


def _bucket(sampling: Sampling, given: Given, event_type: str) -> Bucket:
    """The bucket, notifying the receiver of ``event_type`` only."""
    bucket = sampling.mesh.bucket(given.text("bucket"))
    bucket.notify(sampling.receiver(), events=[event_type])
    return bucket


def _content(given: Given) -> bytes:
    """``--body`` as UTF-8, else ``--size`` zero bytes."""
    if given.was_given("body"):
        if given.was_given("size"):
            raise SampleError("--body and --size: give one (the size is the body's)")
        return given.text("body").encode()
    text = given.text("size")
    try:
        size = int(text)
    except ValueError:
        size = -1
    if not 0 <= size <= _MAX_SIZE:
        raise SampleError(f"--size: a number of bytes from 0 to {_MAX_SIZE}, got {text!r}")
    return bytes(size)


def s3_put(sampling: Sampling, given: Given) -> Act:
    """The act: PutObject of ``--key``."""
    bucket = _bucket(sampling, given, "s3:ObjectCreated:Put")
    key, content = given.text("key"), _content(given)
    return lambda: bucket.put_object(key, content)


def s3_copy(sampling: Sampling, given: Given) -> Act:
    """The act: PutObject of a source key (not notified), then CopyObject to ``--key``."""
    bucket = _bucket(sampling, given, "s3:ObjectCreated:Copy")
    key, content = given.text("key"), _content(given)
    source = f"{key}.source"

    async def act() -> None:
        await bucket.put_object(source, content)
        await bucket.copy_object(source, key)

    return act


def s3_delete(sampling: Sampling, given: Given) -> Act:
    """The act: PutObject of ``--key`` (not notified), then DeleteObject."""
    bucket = _bucket(sampling, given, "s3:ObjectRemoved:Delete")
    key = given.text("key")

    async def act() -> None:
        await bucket.put_object(key, b"")
        await bucket.delete_object(key)

    return act


def _to_eventbridge(sampling: Sampling, given: Given, detail_type: str) -> Bucket:
    """The bucket, sending its events to the default bus; a rule there sends S3's events of
    ``detail_type`` to the receiver."""
    bucket = sampling.mesh.bucket(given.text("bucket"))
    bucket.send_to_eventbridge()
    pattern = {"source": ["aws.s3"], "detail-type": [detail_type]}
    sampling.mesh.bus().rule("s3-events", pattern=pattern, targets=[sampling.receiver()])
    return bucket


def eventbridge_s3_object_created(sampling: Sampling, given: Given) -> Act:
    """The act: PutObject of ``--key``, which S3 reports as Object Created."""
    bucket = _to_eventbridge(sampling, given, "Object Created")
    key, content = given.text("key"), _content(given)
    return lambda: bucket.put_object(key, content)


def eventbridge_s3_object_deleted(sampling: Sampling, given: Given) -> Act:
    """The act: PutObject of ``--key`` (its Object Created goes to no rule), then
    DeleteObject."""
    bucket = _to_eventbridge(sampling, given, "Object Deleted")
    key = given.text("key")

    async def act() -> None:
        await bucket.put_object(key, b"")
        await bucket.delete_object(key)

    return act
