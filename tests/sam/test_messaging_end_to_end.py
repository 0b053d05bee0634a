"""A SAM application whose functions run in process environments, fed by every messaging
event source it declares: SQS (with ReportBatchItemFailures and a redrive to a dead-letter
queue on the virtual clock), SNS (straight to the function, and through a queue with
``SqsSubscription: true``) and Kinesis. Each handler reports what it got with plain boto3,
through the mesh's AWS endpoint, to a queue named by the URL its ``Ref`` gives
(``https://sqs.<region>.amazonaws.com/<account>/Results``). One running application for the
module: each cold start is a real process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from process_prefix import skip_if_hidden

from eventmesh import Mesh, Queue, Telemetry
from eventmesh.aws import AwsServer
from eventmesh.resources.stream import Stream
from eventmesh.resources.topic import Topic
from eventmesh.sam import Application, load_template
from eventmesh.testing import VirtualClock
from tests.sam.lambda_support import template_folder

pytestmark = [skip_if_hidden, pytest.mark.asyncio(loop_scope="module")]

ACCOUNT = "123456789012"

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    CodeUri: src/
    Timeout: 30
    Environment:
      Variables:
        RESULTS_URL: !Ref Results
Resources:
  Results:
    Type: AWS::SQS::Queue
  OrdersDlq:
    Type: AWS::SQS::Queue
  Orders:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 30
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt OrdersDlq.Arn
        maxReceiveCount: 2
  Alerts:
    Type: AWS::SNS::Topic
  Clicks:
    Type: AWS::Kinesis::Stream
    Properties:
      ShardCount: 1
  OrderWorker:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.orders
      AutoPublishAlias: live
      Events:
        Queue:
          Type: SQS
          Properties:
            Queue: !GetAtt Orders.Arn
            BatchSize: 10
            FunctionResponseTypes: [ReportBatchItemFailures]
  AlertWorker:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.alerts
      Events:
        Direct:
          Type: SNS
          Properties:
            Topic: !Ref Alerts
            FilterPolicy: {route: [direct]}
        Queued:
          Type: SNS
          Properties:
            Topic: !Ref Alerts
            SqsSubscription: true
            FilterPolicy: {route: [queued]}
  ClickWorker:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.clicks
      Events:
        Stream:
          Type: Kinesis
          Properties:
            Stream: !GetAtt Clicks.Arn
            StartingPosition: TRIM_HORIZON
            BatchSize: 10
"""

APP = """\
import base64
import json
import os

import boto3

_sqs = None


def report(source, **fields):
    global _sqs
    if _sqs is None:
        _sqs = boto3.client("sqs")
    _sqs.send_message(QueueUrl=os.environ["RESULTS_URL"],
                      MessageBody=json.dumps({"source": source, **fields}))


def orders(event, context):
    failures = []
    for record in event["Records"]:
        if record["body"] == "poison":
            failures.append({"itemIdentifier": record["messageId"]})
            report("sqs-failed", receives=record["attributes"]["ApproximateReceiveCount"])
        else:
            report("sqs", body=record["body"], arn=context.invoked_function_arn)
    return {"batchItemFailures": failures}


def alerts(event, context):
    for record in event["Records"]:
        if "Sns" in record:
            report("sns", message=record["Sns"]["Message"])
        else:
            report("sns-via-sqs", message=json.loads(record["body"])["Message"],
                   queue=record["eventSourceARN"])


def clicks(event, context):
    for record in event["Records"]:
        report("kinesis", data=json.loads(base64.b64decode(record["kinesis"]["data"])),
               key=record["kinesis"]["partitionKey"])
"""


class App:
    def __init__(self, application: Application, clock: VirtualClock) -> None:
        self.application = application
        self.mesh = application.mesh
        self.clock = clock

    def find(self, name: str, kind: type[Any]) -> Any:
        found = self.mesh.context.find_resource(name)
        assert isinstance(found, kind)
        return found

    async def reports(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The next ``count`` reports the handlers sent (real time passes, virtual time
        does not: only what is due now runs)."""
        results: Queue = self.find("Results", Queue)
        got: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(got) < count and loop.time() < deadline:
            await self.clock.advance(0)
            for message in await results.receive(max_messages=10):
                await results.delete(message.receipt_handle)
                got.append(json.loads(message.body))
            if len(got) < count:
                await asyncio.sleep(0.05)
        assert len(got) == count, f"{len(got)} of {count} reports in {timeout} s: {got}"
        return got

    async def settled(self) -> None:
        """Real time for invocations that have reported to finish before time moves."""
        for _ in range(10):
            await self.clock.advance(0)
            await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with template_folder({"template.yaml": TEMPLATE, "src/app.py": APP}) as root:
        yield root


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app(folder: Path) -> AsyncIterator[App]:
    clock = VirtualClock()
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    application = load_template(folder / "template.yaml", mesh=mesh, strict=True)
    async with AwsServer(mesh, "127.0.0.1", 0):
        yield App(application, clock)


async def test_the_template_builds_without_warnings(app: App) -> None:
    assert app.application.warnings == []


async def test_sqs_delivers_to_the_alias_and_reported_failures_redrive(app: App) -> None:
    orders: Queue = app.find("Orders", Queue)
    await orders.send("order 1")
    (report,) = await app.reports(1)
    assert report == {
        "source": "sqs",
        "body": "order 1",
        "arn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:OrderWorker:live",
    }
    await orders.send("poison")
    assert await app.reports(1) == [{"source": "sqs-failed", "receives": "1"}]
    await app.settled()
    await app.clock.advance(30)  # the visibility timeout: received a second time
    assert await app.reports(1) == [{"source": "sqs-failed", "receives": "2"}]
    await app.settled()
    await app.clock.advance(30)  # past maxReceiveCount: moved, not delivered again
    await app.settled()
    (dead,) = await app.find("OrdersDlq", Queue).receive(max_messages=10)
    assert dead.body == "poison"
    assert await app.find("Results", Queue).receive() == []


async def test_sns_delivers_to_the_function_and_through_its_queue(app: App) -> None:
    alerts: Topic = app.find("Alerts", Topic)
    await alerts.publish("straight", attributes={"route": "direct"})
    await alerts.publish("queued", attributes={"route": "queued"})
    await alerts.publish("nobody", attributes={"route": "elsewhere"})
    got = sorted(await app.reports(2), key=lambda report: report["source"])
    assert got == [
        {"source": "sns", "message": "straight"},
        {
            "source": "sns-via-sqs",
            "message": "queued",
            "queue": f"arn:aws:sqs:us-east-1:{ACCOUNT}:AlertWorkerQueuedQueue",
        },
    ]


async def test_kinesis_delivers_records(app: App) -> None:
    clicks: Stream = app.find("Clicks", Stream)
    await clicks.put_record({"page": "/home"}, "user-1")
    assert await app.reports(1) == [{"source": "kinesis", "data": {"page": "/home"},
                                     "key": "user-1"}]  # fmt: skip
