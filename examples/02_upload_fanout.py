"""An upload fans out: bucket -> topic -> a thumbnail function and an audit queue.

A user uploads photos to the "uploads" bucket. The bucket notifies the topic "uploads-events"
on `s3:ObjectCreated:*` for keys under "images/". The topic has two subscribers:

* the `thumbnail` function, which reads the S3 record out of the SNS message and writes a
  thumbnail to the same bucket under "thumbnails/";
* the queue "audit", which an event source mapping feeds to the `audit` function.

The recursion hazard (the S3 reference, §4.1): a function that writes into the bucket that
triggers it runs again for its own output, forever. Here the notification only matches
"images/", and thumbnails go under "thumbnails/", so writing one notifies nobody (a second
bucket would do as well). eventmesh would stop a runaway loop after 16 runs of the same chain
(Lambda's loop detection), but a filter that cannot match your own output is the real fix.

Keys in S3 records are URL-encoded ("red flower.jpg" arrives as "red+flower.jpg"):
`urllib.parse.unquote_plus` gives the key back.

Run: uv run python examples/02_upload_fanout.py
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import unquote_plus

from eventmesh import Context, Mesh

mesh = Mesh()
uploads = mesh.bucket("uploads")
events = mesh.topic("uploads-events")
audit_queue = mesh.queue("audit")

new_images = uploads.notify(events, ["s3:ObjectCreated:*"], prefix="images/", id="new-images")


@mesh.function
async def thumbnail(event: dict[str, Any], context: Context) -> str:
    """SNS -> Lambda: the S3 event is the JSON text of the SNS message."""
    s3_event = json.loads(event["Records"][0]["Sns"]["Message"])
    record = s3_event["Records"][0]
    encoded = record["s3"]["object"]["key"]
    key = unquote_plus(encoded)
    print(
        f"  thumbnail <- SNS <- S3: {record['eventName']} (configuration "
        f"{record['s3']['configurationId']!r}), key {encoded!r} is {key!r}"
    )
    source = await uploads.get_object(key)
    small = source["Body"][:8]  # "resizing"
    target = "thumbnails/" + key.removeprefix("images/")
    await uploads.put_object(target, small, content_type=source["ContentType"])
    print(f"  thumbnail: PUT {target!r} ({len(small)} bytes)")
    return target


@mesh.function
def audit(event: dict[str, Any], context: Context) -> None:
    """SQS -> Lambda: each body is the SNS envelope, whose Message is the S3 event."""
    print(f"  audit <- SQS: a batch of {len(event['Records'])} message(s)")
    for message in event["Records"]:
        envelope = json.loads(message["body"])
        for record in json.loads(envelope["Message"])["Records"]:
            obj = record["s3"]["object"]
            print(
                f"  audit <- SNS ({envelope['Subject']!r}): {record['eventName']} "
                f"s3://{record['s3']['bucket']['name']}/{unquote_plus(obj['key'])} "
                f"({obj['size']} bytes)"
            )


audit_queue.subscribe(audit, batch_size=10)
events.subscribe(thumbnail)
events.subscribe(audit_queue)


async def main() -> None:
    async with mesh:
        for key, body in (
            ("images/red flower.jpg", b"\xff\xd8 pixels of a red flower"),
            ("images/cat.png", b"\x89PNG a cat"),
            ("docs/notes.txt", b"not under images/"),
        ):
            sent = new_images.sent
            await uploads.put_object(key, body, content_type=_content_type(key))
            if new_images.sent > sent:
                print(f"PUT {key!r} ({len(body)} bytes): S3 event published to the topic")
            else:
                print(f"PUT {key!r} ({len(body)} bytes): no S3 event, not under 'images/'")
        print("leaving `async with`: the mesh drains the fan-out, then stops")
    print("keys in 'uploads':")
    for item in (await uploads.list_objects())["Contents"]:
        print(f"  {item['Key']} ({item['Size']} bytes)")
    print(
        f"topic: {events.published} messages published, {events.delivered} deliveries "
        f"to {len(events.subscriptions)} subscribers; invocations: thumbnail "
        f"{thumbnail.stats.invocations}, audit {audit.stats.invocations}"
    )


def _content_type(key: str) -> str:
    return {"jpg": "image/jpeg", "png": "image/png"}.get(key.rsplit(".", 1)[-1], "text/plain")


if __name__ == "__main__":
    asyncio.run(main())
