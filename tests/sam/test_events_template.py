"""A SAM template's Schedule, ScheduleV2 and EventBridgeRule events, end to end, into a process
function, on the virtual clock: the test moves the mesh's clock to a tick, then waits in real
time for the function's process to answer (its success goes to an SQS destination declared in
code). With AutoPublishAlias every event targets the alias's ARN, so the records name it. And
a Scheduler schedule whose target stays full: retried, then dead-lettered with
Scheduler's attributes.

One running application for the module (each cold start is a real process). The clock is
moved only while no invocation runs: a process's work takes real time, and a virtual minute
passing during it would run out its timeout.
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
from eventmesh.sam import Application, load_template
from eventmesh.testing import VirtualClock
from tests.sam.lambda_support import template_folder

pytestmark = [skip_if_hidden, pytest.mark.asyncio(loop_scope="module")]

ACCOUNT = "123456789012"
QUEUE_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:"
WORKER_ALIAS_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:events-worker:live"

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: events-worker
      Runtime: python3.12
      Handler: app.handler
      CodeUri: worker/
      AutoPublishAlias: live
      EventInvokeConfig:
        MaximumRetryAttempts: 0
        DestinationConfig:
          OnSuccess:
            Type: SQS
            Destination: arn:aws:sqs:us-east-1:123456789012:events-ok
      Events:
        Tick:
          Type: Schedule
          Properties:
            Schedule: rate(5 minutes)
        TickV2:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(5 minutes)
            Input: '{"from": "v2", "at": "<aws.scheduler.scheduled-time>"}'
            RetryPolicy: {MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 120}
        Orders:
          Type: EventBridgeRule
          Properties:
            EventBusName: !Ref Orders
            Pattern: {source: [shop], detail-type: [OrderPlaced]}
            InputTransformer:
              InputPathsMap: {order: $.detail.id}
              InputTemplate: '{"from": "rule", "order": <order>}'
  Orders:
    Type: AWS::Events::EventBus
    Properties:
      Name: orders
  Report:
    Type: AWS::Scheduler::Schedule
    Properties:
      ScheduleExpression: rate(5 minutes)
      FlexibleTimeWindow: {Mode: "OFF"}
      Target:
        Arn: arn:aws:sqs:us-east-1:123456789012:events-full
        RoleArn: arn:aws:iam::123456789012:role/scheduler
        Input: report
        RetryPolicy: {MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 60}
        DeadLetterConfig: {Arn: arn:aws:sqs:us-east-1:123456789012:events-dlq}
Outputs:
  ReportArn: {Value: !GetAtt Report.Arn}
  BusArn: {Value: !GetAtt Orders.Arn}
"""

FILES = {
    "template.yaml": TEMPLATE,
    "worker/app.py": "def handler(event, context):\n    return {'handled': event}\n",
}


class App:
    def __init__(self, application: Application, clock: VirtualClock) -> None:
        self.application = application
        self.mesh = application.mesh
        self.clock = clock

    def queue(self, name: str) -> Queue:
        found = self.mesh.context.find_resource(name)
        assert isinstance(found, Queue)
        return found


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with template_folder(FILES) as root:
        yield root


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app(folder: Path) -> AsyncIterator[App]:
    clock = VirtualClock()
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    mesh.queue("events-ok")
    mesh.queue("events-dlq")
    mesh.queue("events-full", max_pending=1)
    application = load_template(folder / "template.yaml", mesh=mesh)
    async with mesh:
        await mesh.queue("events-full").send("taking the only place")
        yield App(application, clock)


async def successes(queue: Queue, count: int, timeout: float = 30.0) -> list[Any]:
    """The ``requestPayload`` of ``count`` success records, waiting in real time (the virtual
    clock stands still meanwhile: receive without a long poll, sleep on the loop)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    found: list[Any] = []
    while len(found) < count:
        if loop.time() > deadline:
            raise AssertionError(f"{len(found)} of {count} records reached {queue.name}: {found}")
        messages = await queue.receive(max_messages=10)
        for message in messages:
            record = orjson.loads(message.body)
            assert record["requestContext"]["functionArn"] == WORKER_ALIAS_ARN
            found.append(record["requestPayload"])
            await queue.delete(message.receipt_handle)
        if not messages:
            await asyncio.sleep(0.05)
    return found


async def test_schedules_fire_into_the_process_function(app: App) -> None:
    await app.clock.advance(5 * 60)  # 00:05: both schedules' first tick
    events = await successes(app.queue("events-ok"), 2)
    by_origin = {event.get("from", event.get("source")): event for event in events}
    assert by_origin["v2"] == {"from": "v2", "at": "2026-01-01T00:05:00Z"}
    scheduled = by_origin["aws.events"]
    assert scheduled == {
        "version": "0",
        "id": scheduled["id"],
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2026-01-01T00:05:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:{ACCOUNT}:rule/WorkerTick"],
        "detail": {},
    }


async def test_an_eventbridge_rule_delivers_to_the_process_function(app: App) -> None:
    answer = await app.mesh.bus("orders").put_events(
        [
            {"Source": "shop", "DetailType": "OrderPlaced", "Detail": {"id": "A-1"}},
            {"Source": "shop", "DetailType": "OrderShipped", "Detail": {"id": "A-2"}},
        ]
    )
    assert answer["FailedEntryCount"] == 0
    assert await successes(app.queue("events-ok"), 1) == [{"from": "rule", "order": "A-1"}]


async def test_a_schedule_whose_target_stays_full_is_dead_lettered(app: App) -> None:
    dlq = app.queue("events-dlq")
    for _ in range(10):  # the two retries (1 s and 2 s at most) on the virtual clock
        await app.clock.advance(1)
    (message,) = await dlq.receive(max_messages=10)
    assert message.body == "report"
    attributes = {name: value["StringValue"] for name, value in message.message_attributes.items()}
    assert attributes == {
        "ERROR_CODE": "THROTTLING",
        "ERROR_MESSAGE": attributes["ERROR_MESSAGE"],
        "TARGET_ARN": QUEUE_ARN + "events-full",
        "SCHEDULE_ARN": f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule/default/Report",
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
        "RETRY_ATTEMPTS": "2",
        "EXECUTION_ID": attributes["EXECUTION_ID"],
        "IS_PAYLOAD_TRUNCATED": "false",
        "SCHEDULED_TIME": "2026-01-01T00:05:00Z",
    }
    assert app.application.outputs == {
        "ReportArn": f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule/default/Report",
        "BusArn": f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/orders",
    }
