"""What SAM's Schedule, ScheduleV2, EventBridgeRule and CloudWatchEvent events become (AWS's
translator's AWS::Events::Rule and AWS::Scheduler::Schedule, with the AWS::SQS::Queue that
``DeadLetterConfig: {Type: SQS}`` makes), and the mesh's rules and schedules built from them.
Built, not run: no process starts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from process_prefix import skip_if_hidden

from eventmesh import Mesh, Telemetry
from eventmesh.resources.bus import Rule
from eventmesh.resources.queue import Queue
from eventmesh.resources.schedule import Schedule
from eventmesh.sam import load_template
from eventmesh.testing import VirtualClock
from tests.sam.lambda_support import template_folder

pytestmark = [skip_if_hidden]

ACCOUNT = "123456789012"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:Fn"

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Bus:
    Type: AWS::Events::EventBus
    Properties: {Name: orders}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      CodeUri: src/
      Events:
        Tick:
          Type: Schedule
          Properties:
            Schedule: rate(5 minutes)
            Input: '{"a": 1}'
            Enabled: false
            RetryPolicy: {MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 60}
            DeadLetterConfig: {Type: SQS}
        Noon:
          Type: Schedule
          Properties:
            Schedule: cron(0 12 * * ? *)
            Name: noon
        V2:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(1 minute)
            FlexibleTimeWindow: {Mode: FLEXIBLE, MaximumWindowInMinutes: 5}
            StartDate: '2026-02-01T12:00:00.000Z'
            EndDate: '2026-03-01T12:00:00.000Z'
            ScheduleExpressionTimezone: Europe/Paris
            Input: '{"at": "<aws.scheduler.scheduled-time>"}'
            RetryPolicy: {MaximumRetryAttempts: 5, MaximumEventAgeInSeconds: 300}
            DeadLetterConfig: {Type: SQS}
        EB:
          Type: EventBridgeRule
          Properties:
            EventBusName: !Ref Bus
            Pattern: {detail: {state: [terminated]}}
            InputTransformer: {InputPathsMap: {s: $.detail.state}, InputTemplate: '{"s": <s>}'}
            RetryPolicy: {MaximumRetryAttempts: 5, MaximumEventAgeInSeconds: 900}
            DeadLetterConfig: {Type: SQS, QueueLogicalId: EBRuleDLQ}
            Target: {Id: MyTarget}
        CW:
          Type: CloudWatchEvent
          Properties:
            Pattern: {source: [aws.ec2]}
            InputPath: $.detail
"""

DEAD_LETTER_QUEUES = ("FnTickQueue", "FnV2Queue", "EBRuleDLQ")
"""The queues SAM makes for ``DeadLetterConfig: {Type: SQS}`` (``<Fn><Event>Queue``, or the
``QueueLogicalId`` given)."""


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with template_folder(
        {"template.yaml": TEMPLATE, "src/app.py": "def handler(e, c): pass\n"}
    ) as root:
        yield root


def test_sam_events_become_rules_and_schedules(folder: Path) -> None:
    mesh = Mesh(clock=VirtualClock(), telemetry=Telemetry(enabled=False))
    app = load_template(folder / "template.yaml", mesh=mesh)
    built = app.resources
    for name in DEAD_LETTER_QUEUES:  # the template's own queues, built by their kind
        assert isinstance(built[name].value, Queue) and built[name].value.name == name

    tick = built["FnTick"].value  # Schedule -> a scheduled rule, disabled by Enabled: false
    assert isinstance(tick, Rule) and tick.bus.name == "default"
    assert tick.enabled is False
    assert tick.schedule is not None and tick.schedule.expression.expression == "rate(5 minutes)"
    (target,) = tick.targets
    assert (target.spec.target, target.spec.input) == (FUNCTION_ARN, {"a": 1})
    assert (target.spec.max_retries, target.spec.max_event_age) == (2, 60.0)
    assert target.spec.dead_letter == f"arn:aws:sqs:us-east-1:{ACCOUNT}:FnTickQueue"

    noon = built["FnNoon"].value  # Name: the rule's name
    assert isinstance(noon, Rule) and noon.name == "noon" and noon.enabled is True
    assert built["FnNoon"].attributes["Arn"] == f"arn:aws:events:us-east-1:{ACCOUNT}:rule/noon"

    v2 = built["FnV2"].value  # ScheduleV2 -> AWS::Scheduler::Schedule named after its id
    assert isinstance(v2, Schedule)
    assert built["FnV2"].ref == "FnV2"
    assert v2.arn == f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule/default/FnV2"
    assert (v2.expression.expression, v2.timezone, v2.flexible_window) == (
        "rate(1 minute)",
        "Europe/Paris",
        5,
    )
    assert v2.expression.start == datetime(2026, 2, 1, 12, tzinfo=UTC)
    assert v2.end == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert (v2.retries, v2.max_event_age) == (5, 300.0)
    assert v2.input == '{"at": "<aws.scheduler.scheduled-time>"}'
    dead_letter = v2.dead_letter
    assert dead_letter == f"arn:aws:sqs:us-east-1:{ACCOUNT}:FnV2Queue"
    assert isinstance(mesh.context.find_resource(dead_letter), Queue)

    eb = built["FnEB"].value  # EventBridgeRule on the bus it names
    assert isinstance(eb, Rule) and eb.bus.name == "orders"
    assert eb.pattern is not None and eb.pattern.source == {"detail": {"state": ["terminated"]}}
    (target,) = eb.targets
    assert target.spec.input_transformer is not None
    assert target.spec.input_transformer.input_template == '{"s": <s>}'
    assert (target.spec.max_retries, target.spec.max_event_age) == (5, 900.0)
    assert target.spec.dead_letter == f"arn:aws:sqs:us-east-1:{ACCOUNT}:EBRuleDLQ"

    cw = built["FnCW"].value  # CloudWatchEvent: the older EventBridgeRule, default bus
    assert isinstance(cw, Rule) and cw.bus.name == "default"
    assert cw.targets[0].spec.input_path is not None
    assert cw.targets[0].spec.input_path.path == "$.detail"
    assert not [w for w in app.warnings if "Events" in w or "Scheduler" in w]
