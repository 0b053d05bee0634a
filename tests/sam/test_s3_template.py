"""A SAM template's S3 event and S3's EventBridge notifications, end to end, into process
functions: SAM writes the bucket's ``NotificationConfiguration`` naming the function's alias
(``AutoPublishAlias``) by ARN; the bucket's ``EventBridgeConfiguration`` sends ``Object
Created`` to the default bus, where the other function's ``EventBridgeRule`` picks it up. Each
function's success goes to an SQS destination of the template (``Globals``), read here.

One running application for the module (each cold start is a real process); the virtual clock
is never moved while a process works.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio
from process_prefix import skip_if_hidden

from eventmesh import Mesh, Queue, Telemetry
from eventmesh.resources.bucket import Bucket
from eventmesh.sam import Application, load_template
from eventmesh.testing import VirtualClock
from tests.sam.lambda_support import template_folder

pytestmark = [skip_if_hidden, pytest.mark.asyncio(loop_scope="module")]

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:"
AUDITOR = FUNCTION_ARN + "Auditor:$LATEST"  # a success record's ARN of an unqualified call
MD5_HELLO = "5d41402abc4b2a76b9719d911017c592"

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    Handler: app.handler
    CodeUri: worker/
    EventInvokeConfig:
      MaximumRetryAttempts: 0
      DestinationConfig:
        OnSuccess:
          Type: SQS
          Destination: !GetAtt Done.Arn
Resources:
  Done:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: s3-done
  Uploads:
    Type: AWS::S3::Bucket
    Properties:
      NotificationConfiguration:
        EventBridgeConfiguration:
          EventBridgeEnabled: true
      Tags:
        - {Key: team, Value: media}
  Thumbnails:
    Type: AWS::Serverless::Function
    Properties:
      AutoPublishAlias: live
      Events:
        Images:
          Type: S3
          Properties:
            Bucket: !Ref Uploads
            Events: s3:ObjectCreated:*
            Filter:
              S3Key:
                Rules:
                  - {Name: prefix, Value: images/}
                  - {Name: suffix, Value: .jpg}
  Auditor:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Created:
          Type: EventBridgeRule
          Properties:
            Pattern:
              source: [aws.s3]
              detail-type: [Object Created]
              detail:
                bucket:
                  name: [!Ref Uploads]
Outputs:
  BucketName: {Value: !Ref Uploads}
  BucketArn: {Value: !GetAtt Uploads.Arn}
"""

FILES = {
    "template.yaml": TEMPLATE,
    "worker/app.py": "def handler(event, context):\n    return {'ok': True}\n",
}


class App:
    def __init__(self, application: Application) -> None:
        self.application = application
        self.mesh = application.mesh

    @property
    def done(self) -> Queue:
        found = self.mesh.context.find_resource("s3-done")
        assert isinstance(found, Queue)
        return found

    @property
    def bucket(self) -> Bucket:
        found = self.application.resources["Uploads"].value
        assert isinstance(found, Bucket)
        return found


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with template_folder(FILES) as root:
        yield root


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app(folder: Path) -> AsyncIterator[App]:
    mesh = Mesh(clock=VirtualClock(), telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    application = load_template(folder / "template.yaml", mesh=mesh)
    async with mesh:
        yield App(application)


async def successes(queue: Queue, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    """``count`` success records (function ARN and request payload), waiting in real time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    found: list[dict[str, Any]] = []
    while len(found) < count:
        if loop.time() > deadline:
            raise AssertionError(f"{len(found)} of {count} records reached {queue.name}: {found}")
        messages = await queue.receive(max_messages=10)
        for message in messages:
            found.append(orjson.loads(message.body))
            await queue.delete(message.receipt_handle)
        if not messages:
            await asyncio.sleep(0.05)
    return found


async def test_the_bucket_is_built_from_the_template(app: App) -> None:
    assert app.application.outputs == {
        "BucketName": "uploads",
        "BucketArn": "arn:aws:s3:::uploads",
    }
    [configuration] = app.bucket.notifications
    assert configuration.target == FUNCTION_ARN + "Thumbnails:live"
    assert (configuration.events, configuration.prefix, configuration.suffix) == (
        ("s3:ObjectCreated:*",),
        "images/",
        ".jpg",
    )
    assert app.bucket.eventbridge
    assert not [w for w in app.application.warnings if "Uploads" in w]  # Tags: quiet


async def test_an_upload_reaches_the_s3_event_and_the_eventbridge_rule(app: App) -> None:
    await app.bucket.put_object("images/red flower.jpg", b"hello")
    await app.bucket.put_object("docs/readme.txt", b"hello")
    records = await successes(app.done, 3)
    by_function: dict[str, list[Any]] = {}
    for record in records:
        arn = record["requestContext"]["functionArn"]
        by_function.setdefault(arn, []).append(record["requestPayload"])

    assert set(by_function) == {FUNCTION_ARN + "Thumbnails:live", AUDITOR}
    [thumbnail_event] = by_function[FUNCTION_ARN + "Thumbnails:live"]
    [s3_record] = thumbnail_event["Records"]
    assert (s3_record["eventSource"], s3_record["eventName"]) == ("aws:s3", "ObjectCreated:Put")
    assert s3_record["s3"]["bucket"]["name"] == "uploads"
    assert s3_record["s3"]["object"]["key"] == "images/red+flower.jpg"  # URL-encoded here

    audited = sorted(by_function[AUDITOR], key=lambda e: e["time"] + e["id"])
    assert sorted(e["detail"]["object"]["key"] for e in audited) == [
        "docs/readme.txt",
        "images/red flower.jpg",  # not URL-encoded in EventBridge's event
    ]
    for event in audited:
        assert (event["source"], event["detail-type"]) == ("aws.s3", "Object Created")
        assert event["resources"] == ["arn:aws:s3:::uploads"]
        assert event["detail"]["reason"] == "PutObject"
        assert event["detail"]["object"]["etag"] == MD5_HELLO


async def test_a_delete_is_not_object_created(app: App) -> None:
    """The rule wants ``Object Created`` and the S3 event ``s3:ObjectCreated:*``: a delete
    reaches neither; the upload after it does reach the rule (so the delete was seen)."""
    await app.bucket.delete_object("docs/readme.txt")
    await app.bucket.put_object("docs/after.txt", b"x")
    [record] = await successes(app.done, 1)
    assert record["requestContext"]["functionArn"] == AUDITOR
    assert record["requestPayload"]["detail"]["object"]["key"] == "docs/after.txt"
    await asyncio.sleep(0.2)
    assert await app.done.receive(max_messages=10) == []
