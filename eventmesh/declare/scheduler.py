"""EventBridge Scheduler's schedules: ``CreateSchedule``'s parameters (the AWS endpoint) and
``AWS::Scheduler::Schedule``'s properties (templates) as a schedule of the mesh.

The two spellings are one shape: ``ScheduleExpression``, ``ScheduleExpressionTimezone``,
``FlexibleTimeWindow`` (``Mode`` ``OFF`` or ``FLEXIBLE`` with ``MaximumWindowInMinutes``),
``StartDate``, ``EndDate`` (a ``datetime`` from an SDK, ISO 8601 text in a template), ``State``
and a ``Target``: ``Arn``, ``Input`` (text, JSON for a function or a bus), ``RetryPolicy``,
``DeadLetterConfig``, and the parameters of its kind of target (``SqsParameters``,
``KinesisParameters``, ``EventBridgeParameters``).

:func:`make_schedule` makes it ``mesh.schedule(...)``, whose retry policy and dead-letter
queue are Scheduler's own (:mod:`eventmesh.resources.schedule`); the target is a
:class:`SchedulerTarget`, which sends each tick's payload where the target's ARN points, the
way Scheduler's templated targets do.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from eventmesh._errors import EventMeshError, ResourceNotFoundError
from eventmesh.declare import DeclarationError
from eventmesh.declare._values import integer
from eventmesh.delivery.errors import DeliveryError, classify
from eventmesh.resources.bus import Bus
from eventmesh.resources.queue import Queue
from eventmesh.resources.schedule import MAX_EVENT_AGE, MAX_RETRIES, MIN_EVENT_AGE, Schedule
from eventmesh.resources.schedule_expression import ScheduleExpression
from eventmesh.resources.stream import Stream
from eventmesh.resources.topic import Topic

if TYPE_CHECKING:
    from eventmesh._mesh import Mesh

__all__ = [
    "MAX_EVENT_AGE",
    "MAX_RETRIES",
    "SchedulerTarget",
    "check_name",
    "check_schedule",
    "check_target",
    "dead_letter_arn",
    "flexible_window",
    "make_schedule",
    "moment",
    "retry_policy",
    "schedule_arn",
]

TARGET_SERVICES = ("lambda", "sqs", "sns", "kinesis", "events")
UNSUPPORTED_TARGET_PARAMETERS = ("EcsParameters", "SageMakerPipelineParameters")
MAX_WINDOW = 1440


_NAME = re.compile(r"[0-9a-zA-Z_.-]{1,64}")
"""Scheduler's pattern for a schedule's and a schedule group's name."""


def check_name(value: Any, member: str) -> str:
    """A schedule's ``Name`` or ``GroupName``: 1-64 of Scheduler's characters."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise DeclarationError(
            f"{member} must be 1-64 letters, digits, '-', '_' or '.', got {value!r}.", member
        )
    return value


def schedule_arn(mesh: Mesh, group: str, name: str) -> str:
    """Scheduler's ARN of a schedule: ``arn:aws:scheduler:<region>:<account>:schedule/<group>/
    <name>``."""
    return f"arn:aws:scheduler:{mesh.region}:{mesh.account_id}:schedule/{group}/{name}"


def service_of(arn: Any) -> str:
    """The service a target's ARN names (``lambda``, ``sqs``, ...), if the mesh has it."""
    parts = arn.split(":", 5) if isinstance(arn, str) else []
    if len(parts) < 6 or parts[0] != "arn" or parts[2] not in TARGET_SERVICES:
        raise DeclarationError(
            f"Invalid target ARN {arn}: eventmesh's Scheduler targets functions, queues, "
            "topics, streams and event buses.",
            "Target.Arn",
        )
    return parts[2]


def moment(value: Any, member: str) -> datetime | None:
    """``StartDate``/``EndDate``: a ``datetime`` (an SDK's) or ISO 8601 text (a template's),
    in UTC when it names no offset."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise DeclarationError(
                f"{member} must be a date and time in ISO 8601 (2026-01-01T12:00:00Z), got "
                f"{value!r}.",
                member,
            ) from None
    if not isinstance(value, datetime):
        raise DeclarationError(f"{member} must be a date and time, got {value!r}.", member)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def flexible_window(params: Mapping[str, Any]) -> int | None:
    """``FlexibleTimeWindow`` as minutes (None: ``OFF``)."""
    window = params.get("FlexibleTimeWindow")
    if not isinstance(window, Mapping) or window.get("Mode") not in ("OFF", "FLEXIBLE"):
        raise DeclarationError(
            "FlexibleTimeWindow with a Mode of OFF or FLEXIBLE is required.", "FlexibleTimeWindow"
        )
    given = window.get("MaximumWindowInMinutes")
    minutes = None if given is None else integer(given)  # a template may write it as text
    if window["Mode"] == "OFF":
        if given is not None:
            raise DeclarationError(
                "MaximumWindowInMinutes is only for the FLEXIBLE mode.",
                "FlexibleTimeWindow.MaximumWindowInMinutes",
            )
        return None
    if minutes is None or not 1 <= minutes <= MAX_WINDOW:
        raise DeclarationError(
            f"MaximumWindowInMinutes from 1 to {MAX_WINDOW} is required for FLEXIBLE.",
            "FlexibleTimeWindow.MaximumWindowInMinutes",
        )
    return minutes


def retry_policy(target: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """``RetryPolicy``'s ``MaximumRetryAttempts`` and ``MaximumEventAgeInSeconds`` (None when
    not given; integers or their text, as a template may write them)."""
    retry = target.get("RetryPolicy") or {}
    if not isinstance(retry, Mapping):
        raise DeclarationError(
            "RetryPolicy is an object (MaximumRetryAttempts, MaximumEventAgeInSeconds).",
            "Target.RetryPolicy",
        )
    numbers: list[int | None] = []
    for member, low, high in (
        ("MaximumRetryAttempts", 0, MAX_RETRIES),
        ("MaximumEventAgeInSeconds", MIN_EVENT_AGE, MAX_EVENT_AGE),
    ):
        value = retry.get(member)
        number = None if value is None else integer(value)
        if value is not None and number is None:
            raise DeclarationError(
                f"{member} must be from {low} to {high}.", f"Target.RetryPolicy.{member}"
            )
        numbers.append(number)
    return numbers[0], numbers[1]


def dead_letter_arn(target: Mapping[str, Any]) -> Any:
    """``DeadLetterConfig``'s ``Arn`` (None when there is none)."""
    config = target.get("DeadLetterConfig") or {}
    if not isinstance(config, Mapping):
        raise DeclarationError(
            "DeadLetterConfig is an object with an Arn.", "Target.DeadLetterConfig"
        )
    return config.get("Arn")


def check_target(target: Any) -> str:
    """A ``Target`` the mesh can run; its service."""
    if not isinstance(target, Mapping):
        raise DeclarationError("Target is required.", "Target")
    service = service_of(target.get("Arn"))
    for key in UNSUPPORTED_TARGET_PARAMETERS:
        if target.get(key) is not None:
            raise DeclarationError(
                f"{key} is not supported by eventmesh's Scheduler.", f"Target.{key}"
            )
    text = target.get("Input")
    if text is not None and not isinstance(text, str):
        raise DeclarationError("Target Input must be text.", "Target.Input")
    if service in ("lambda", "events") and text is not None:
        try:
            orjson.loads(text)
        except orjson.JSONDecodeError:
            raise DeclarationError(
                "Target Input must be well-formed JSON for this target.", "Target.Input"
            ) from None
    kinesis = target.get("KinesisParameters")
    if service == "kinesis" and not (isinstance(kinesis, Mapping) and kinesis.get("PartitionKey")):
        raise DeclarationError(
            "KinesisParameters with a PartitionKey are required for a stream.",
            "Target.KinesisParameters",
        )
    sqs = target.get("SqsParameters")
    if sqs is not None and not isinstance(sqs, Mapping):
        raise DeclarationError(
            "SqsParameters is an object with a MessageGroupId.", "Target.SqsParameters"
        )
    if service == "events":
        parameters = target.get("EventBridgeParameters")
        if not isinstance(parameters, Mapping) or not (
            parameters.get("Source") and parameters.get("DetailType")
        ):
            raise DeclarationError(
                "EventBridgeParameters are required for an event bus target.",
                "Target.EventBridgeParameters",
            )
    attempts, age = retry_policy(target)
    if attempts is not None and not 0 <= attempts <= MAX_RETRIES:
        raise DeclarationError(
            f"MaximumRetryAttempts must be from 0 to {MAX_RETRIES}.",
            "Target.RetryPolicy.MaximumRetryAttempts",
        )
    if age is not None and not MIN_EVENT_AGE <= age <= MAX_EVENT_AGE:
        raise DeclarationError(
            f"MaximumEventAgeInSeconds must be from {MIN_EVENT_AGE} to {MAX_EVENT_AGE}.",
            "Target.RetryPolicy.MaximumEventAgeInSeconds",
        )
    dead_letter = dead_letter_arn(target)
    if dead_letter is not None and not (
        isinstance(dead_letter, str) and dead_letter.startswith("arn:aws:sqs:")
    ):
        raise DeclarationError(
            "DeadLetterConfig Arn must be an SQS queue's ARN.", "Target.DeadLetterConfig.Arn"
        )
    return service


def check_schedule(params: Mapping[str, Any]) -> None:
    """Everything of a schedule the mesh checks before making it (expression, time zone,
    window, dates, target)."""
    expression = params.get("ScheduleExpression")
    timezone = params.get("ScheduleExpressionTimezone") or "UTC"
    start = moment(params.get("StartDate"), "StartDate")
    end = moment(params.get("EndDate"), "EndDate")
    try:
        ScheduleExpression(expression, timezone, start)  # type: ignore[arg-type]
    except EventMeshError as exc:
        member = "ScheduleExpressionTimezone" if "time zone" in str(exc) else "ScheduleExpression"
        raise DeclarationError(f"Invalid Schedule Expression {expression}. {exc}", member) from None
    flexible_window(params)
    check_target(params.get("Target"))
    if start is not None and end is not None and end <= start:
        raise DeclarationError("The StartDate must come before the EndDate.", "EndDate")
    state = params.get("State", "ENABLED")
    if state not in ("ENABLED", "DISABLED"):
        raise DeclarationError(f"State must be ENABLED or DISABLED, got {state!r}.", "State")


def make_schedule(mesh: Mesh, params: Mapping[str, Any], *, name: str, arn: str) -> Schedule:
    """The mesh's schedule of a checked declaration (:func:`check_schedule`), named ``name``
    in the mesh and going by ``arn``; it starts when the mesh runs (at once if it runs)."""
    target = params["Target"]
    attempts, age = retry_policy(target)
    try:
        return mesh.schedule(
            params["ScheduleExpression"],
            SchedulerTarget(mesh, target),
            timezone=params.get("ScheduleExpressionTimezone") or "UTC",
            input=target.get("Input"),
            flexible_window=flexible_window(params),
            name=name,
            start=moment(params.get("StartDate"), "StartDate"),
            end=moment(params.get("EndDate"), "EndDate"),
            retries=MAX_RETRIES if attempts is None else attempts,
            max_event_age=MAX_EVENT_AGE if age is None else age,
            dead_letter=dead_letter_arn(target),
            arn=arn,
        )
    except EventMeshError as exc:
        raise DeclarationError(str(exc)) from None


class SchedulerTarget:
    """A Scheduler target as the mesh schedule's target: each tick's payload (the ``Input``
    text with its context attributes replaced, or the Scheduled Event) sent where ``Arn``
    points: a function (an ``Event`` invocation of the JSON), a queue (with
    ``SqsParameters.MessageGroupId`` for a FIFO one), a topic, a stream (keyed by
    ``KinesisParameters.PartitionKey``), a bus (an entry with ``EventBridgeParameters``'
    ``Source`` and ``DetailType``). The resource is looked up at each attempt; a failure
    carries EventBridge's error code and whether a retry may cure it."""

    def __init__(self, mesh: Mesh, target: Mapping[str, Any]) -> None:
        self.mesh = mesh
        self.target = dict(target)
        self.arn: str = target["Arn"]
        self.service = service_of(self.arn)

    def __eq__(self, other: object) -> bool:
        # The same declaration is the same target (a schedule asked for again is not a clash).
        if not isinstance(other, SchedulerTarget):
            return NotImplemented
        return other.mesh is self.mesh and other.target == self.target

    def __hash__(self) -> int:
        return hash(self.arn)

    @property
    def name(self) -> str:
        return self.arn

    async def __call__(self, payload: Any) -> None:
        try:
            await self._send(payload)
        except DeliveryError:
            raise
        except Exception as exc:
            code, retryable = classify(exc)
            raise DeliveryError(code, str(exc), retryable=retryable) from exc

    @staticmethod
    def _text(payload: Any) -> str:
        return payload if isinstance(payload, str) else orjson.dumps(payload).decode()

    def _resource(self, kind: type[Any]) -> Any:
        found = self.mesh.context.find_resource(self.arn)
        if not isinstance(found, kind):
            raise ResourceNotFoundError(f"no {kind.__name__.lower()} {self.arn}")
        return found

    async def _send(self, payload: Any) -> None:
        service = self.service
        if service == "lambda":
            event = orjson.loads(payload) if isinstance(payload, str) else payload
            await self.mesh.invoke(self.arn, event, "Event", timeout=0)
        elif service == "sqs":
            queue: Queue = self._resource(Queue)
            group = (self.target.get("SqsParameters") or {}).get("MessageGroupId")
            if group is not None:
                await queue.send(
                    self._text(payload), group_id=group, deduplication_id=uuid.uuid4().hex
                )
            else:
                await queue.send(self._text(payload), timeout=0)
        elif service == "sns":
            topic: Topic = self._resource(Topic)
            await topic.publish(self._text(payload), timeout=0)
        elif service == "kinesis":
            stream: Stream = self._resource(Stream)
            key = self.target["KinesisParameters"]["PartitionKey"]
            await stream.put_record(self._text(payload), key, timeout=0)
        else:
            bus: Bus = self._resource(Bus)
            parameters = self.target["EventBridgeParameters"]
            entry = {
                "Source": parameters["Source"],
                "DetailType": parameters["DetailType"],
                "Detail": self._text(payload),
            }
            answer = await bus.put_events([entry], timeout=0)
            result = answer["Entries"][0]
            if "ErrorCode" in result:
                raise DeliveryError(
                    "INVALID_PARAMETER", str(result.get("ErrorMessage")), retryable=False
                )

    def __repr__(self) -> str:
        return f"<SchedulerTarget {self.arn}>"
