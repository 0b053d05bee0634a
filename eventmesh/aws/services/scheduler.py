"""EventBridge Scheduler over the mesh's schedules: CreateSchedule, GetSchedule,
DeleteSchedule.

A schedule is a :class:`~eventmesh.resources.schedule.Schedule` of the mesh (``at()``,
``rate()`` or ``cron()`` in its time zone, a flexible window, a start date; fired once per
tick across processes sharing the store, on the mesh's clock). Its target is a
:class:`_Delivery` that sends the tick to the target's ARN (a function, invoked as an
``Event``; a queue; a topic; a stream with ``KinesisParameters``; a bus with
``EventBridgeParameters``) with Scheduler's ``RetryPolicy`` (exponential backoff on the
mesh's clock, up to ``MaximumRetryAttempts`` and ``MaximumEventAgeInSeconds``) and
``DeadLetterConfig`` (a queue that gets what could not be delivered). A schedule ``DISABLED``
is kept but not run; ``EndDate`` stops its fires.

Only the ``default`` schedule group exists. ``ActionAfterCompletion: DELETE`` is accepted and
kept: a completed one-time schedule stays (and fires no more). ``KmsKeyArn`` and
``RoleArn`` are kept and unused.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from eventmesh._errors import EventMeshError, ResourceNotFoundError
from eventmesh.aws import catalog
from eventmesh.aws.operations import AwsCall, AwsError, operation
from eventmesh.aws.services._shared import PerMesh
from eventmesh.delivery.errors import DeliveryError, classify
from eventmesh.delivery.retry import BackoffPolicy, GiveUp
from eventmesh.resources.bus import Bus
from eventmesh.resources.queue import Queue
from eventmesh.resources.schedule import Schedule
from eventmesh.resources.schedule_expression import ScheduleExpression
from eventmesh.resources.stream import Stream
from eventmesh.resources.topic import Topic

if TYPE_CHECKING:
    from eventmesh._mesh import Mesh

__all__: list[str] = []

logger = logging.getLogger("eventmesh.aws.scheduler")

KIND = "scheduler.schedule"
"""Catalog kind: a schedule as ``group/name`` with its request, mesh name and creation."""
DEFAULT_GROUP = "default"
_DATES = ("StartDate", "EndDate")
MAX_RETRIES, MAX_EVENT_AGE = 185, 86_400
_TARGET_SERVICES = ("lambda", "sqs", "sns", "kinesis", "events")
_UNSUPPORTED_TARGET_PARAMETERS = ("EcsParameters", "SageMakerPipelineParameters")


@dataclass
class _ScheduleRecord:
    """A schedule as CreateSchedule gave it, and the mesh schedule that runs it."""

    request: dict[str, Any]
    mesh_name: str
    created: datetime
    schedule: Schedule | None = None


@dataclass
class _SchedulerState:
    schedules: dict[tuple[str, str], _ScheduleRecord] = field(default_factory=dict)


_STATE: PerMesh[_SchedulerState] = PerMesh(_SchedulerState)


def _validation(message: str) -> AwsError:
    return AwsError("ValidationException", message, 400)


def _not_found(message: str) -> AwsError:
    return AwsError("ResourceNotFoundException", message, 404)


def _group(params: Mapping[str, Any]) -> str:
    group = params.get("GroupName") or DEFAULT_GROUP
    if group != DEFAULT_GROUP:
        raise _not_found(f"Schedule group {group} does not exist.")
    return str(group)


def _arn(mesh: Mesh, group: str, name: str) -> str:
    return f"arn:aws:scheduler:{mesh.region}:{mesh.account_id}:schedule/{group}/{name}"


def _service_of(arn: str) -> str:
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn" or parts[2] not in _TARGET_SERVICES:
        raise _validation(
            f"Invalid target ARN {arn}: eventmesh's Scheduler targets functions, queues, "
            "topics, streams and event buses."
        )
    return parts[2]


class _Delivery:
    """The mesh schedule's target: one tick's payload to the Scheduler target, retried with
    backoff on the mesh's clock, then dead-lettered (see the module docstring)."""

    def __init__(self, mesh: Mesh, schedule_arn: str, target: Mapping[str, Any], end: Any):
        self.mesh = mesh
        self.schedule_arn = schedule_arn
        self.target = dict(target)
        self.arn: str = target["Arn"]
        self.service = _service_of(self.arn)
        retry = target.get("RetryPolicy") or {}
        self.policy = BackoffPolicy(
            retry.get("MaximumRetryAttempts", MAX_RETRIES),
            float(retry.get("MaximumEventAgeInSeconds", MAX_EVENT_AGE)),
        )
        self.dead_letter: str | None = (target.get("DeadLetterConfig") or {}).get("Arn")
        self.end: datetime | None = end
        self.delivered = 0
        self.dead_lettered = 0

    async def __call__(self, payload: Any) -> None:
        clock = self.mesh.clock
        if self.end is not None and clock.time() >= self.end.timestamp():
            return  # past EndDate: Scheduler invokes the target no more
        started = clock.time()
        retries = 0
        while True:
            try:
                await self._send(payload)
            except Exception as exc:
                code, retryable = classify(exc)
                decision: float | GiveUp = GiveUp("")
                if retryable:
                    decision = self.policy.next_retry(
                        retries, clock.time() - started, self.mesh.context.random
                    )
                if isinstance(decision, GiveUp):
                    await self._give_up(payload, exc, code, decision.condition or None, retries)
                    return
                retries += 1
                await clock.sleep(decision)
            else:
                self.delivered += 1
                return

    def _text(self, payload: Any) -> str:
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

    async def _give_up(
        self, payload: Any, exc: Exception, code: str, condition: str | None, retries: int
    ) -> None:
        logger.warning(
            "schedule %s: delivery to %s failed after %d attempt(s): %s [%s]",
            self.schedule_arn,
            self.arn,
            retries + 1,
            exc,
            code,
        )
        if self.dead_letter is None:
            return
        attributes = {
            "ERROR_CODE": {"DataType": "String", "StringValue": code},
            "ERROR_MESSAGE": {
                "DataType": "String",
                "StringValue": str(exc).encode()[:1024].decode(errors="ignore") or code,
            },
            "TARGET_ARN": {"DataType": "String", "StringValue": self.arn},
            "SCHEDULE_ARN": {"DataType": "String", "StringValue": self.schedule_arn},
        }
        if condition is not None:
            attributes["EXHAUSTED_RETRY_CONDITION"] = {
                "DataType": "String",
                "StringValue": condition,
            }
            attributes["RETRY_ATTEMPTS"] = {"DataType": "Number", "StringValue": str(retries)}
        queue = self.mesh.context.find_resource(self.dead_letter)
        if not isinstance(queue, Queue):
            logger.warning(
                "schedule %s: no dead-letter queue %s", self.schedule_arn, self.dead_letter
            )
            return
        try:
            await queue.send(self._text(payload), attributes)
        except Exception:
            logger.exception(
                "schedule %s: dead-letter queue %s failed", self.schedule_arn, queue.name
            )
        else:
            self.dead_lettered += 1


def _mesh_name(group: str, name: str) -> str:
    """A name for the mesh schedule: its own (no clash with a queue named like the schedule)
    and new at each creation (a schedule made again starts afresh in the store)."""
    digest = hashlib.sha256(f"{group}/{name}".encode()).hexdigest()[:20]
    return f"scheduler-{digest}-{uuid.uuid4().hex[:12]}"


def _check_target(target: Mapping[str, Any]) -> None:
    service = _service_of(target["Arn"])
    for key in _UNSUPPORTED_TARGET_PARAMETERS:
        if target.get(key) is not None:
            raise _validation(f"{key} is not supported by eventmesh's Scheduler.")
    text = target.get("Input")
    if service in ("lambda", "events") and text is not None:
        try:
            orjson.loads(text)
        except orjson.JSONDecodeError:
            raise _validation("Target Input must be well-formed JSON for this target.") from None
    if service == "kinesis" and not (target.get("KinesisParameters") or {}).get("PartitionKey"):
        raise _validation("KinesisParameters with a PartitionKey are required for a stream.")
    if service == "events" and target.get("EventBridgeParameters") is None:
        raise _validation("EventBridgeParameters are required for an event bus target.")
    retry = target.get("RetryPolicy") or {}
    attempts = retry.get("MaximumRetryAttempts")
    if attempts is not None and not 0 <= attempts <= MAX_RETRIES:
        raise _validation(f"MaximumRetryAttempts must be from 0 to {MAX_RETRIES}.")
    age = retry.get("MaximumEventAgeInSeconds")
    if age is not None and not 60 <= age <= MAX_EVENT_AGE:
        raise _validation(f"MaximumEventAgeInSeconds must be from 60 to {MAX_EVENT_AGE}.")
    dead_letter = (target.get("DeadLetterConfig") or {}).get("Arn")
    if dead_letter is not None and not dead_letter.startswith("arn:aws:sqs:"):
        raise _validation("DeadLetterConfig Arn must be an SQS queue's ARN.")


def _window(params: Mapping[str, Any]) -> int | None:
    window = params["FlexibleTimeWindow"]
    minutes = window.get("MaximumWindowInMinutes")
    if window["Mode"] == "OFF":
        if minutes is not None:
            raise _validation("MaximumWindowInMinutes is only for the FLEXIBLE mode.")
        return None
    if minutes is None or not 1 <= minutes <= 1440:
        raise _validation("MaximumWindowInMinutes from 1 to 1440 is required for FLEXIBLE.")
    return int(minutes)


def _run(mesh: Mesh, record: _ScheduleRecord, arn: str) -> Schedule:
    """Make the mesh schedule of a record (it starts at once when the mesh runs)."""
    request = record.request
    target = request["Target"]
    delivery = _Delivery(mesh, arn, target, request.get("EndDate"))
    try:
        return mesh.schedule(
            request["ScheduleExpression"],
            delivery,
            timezone=request.get("ScheduleExpressionTimezone") or "UTC",
            input=target.get("Input"),
            flexible_window=_window(request),
            name=record.mesh_name,
            start=request.get("StartDate"),
        )
    except EventMeshError as exc:
        raise _validation(str(exc)) from None


@operation("scheduler", "CreateSchedule")
async def create_schedule(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    name: str = params["Name"]
    group = _group(params)
    state = _STATE.of(call.mesh)
    if (group, name) in state.schedules or await catalog.lookup(call.mesh, KIND, f"{group}/{name}"):
        raise AwsError("ConflictException", f"Schedule {name} already exists.", 409)
    expression: str = params["ScheduleExpression"]
    timezone = params.get("ScheduleExpressionTimezone") or "UTC"
    try:
        ScheduleExpression(expression, timezone, params.get("StartDate"))
    except EventMeshError as exc:
        raise _validation(f"Invalid Schedule Expression {expression}. {exc}") from None
    _window(params)
    _check_target(params["Target"])
    start, end = params.get("StartDate"), params.get("EndDate")
    if start is not None and end is not None and end <= start:
        raise _validation("The StartDate must come before the EndDate.")
    now = datetime.fromtimestamp(call.mesh.clock.time(), UTC)
    record = _ScheduleRecord(
        {key: value for key, value in params.items() if value is not None and key != "ClientToken"},
        _mesh_name(group, name),
        now,
    )
    arn = _arn(call.mesh, group, name)
    if params.get("State", "ENABLED") == "ENABLED":
        record.schedule = _run(call.mesh, record, arn)
    state.schedules[(group, name)] = record
    request = {
        key: value.isoformat() if key in _DATES else value for key, value in record.request.items()
    }
    settings = {"request": request, "mesh_name": record.mesh_name, "created": now.isoformat()}
    await catalog.record(call.mesh, KIND, f"{group}/{name}", settings)
    return {"ScheduleArn": arn}


async def _find(call: AwsCall, params: Mapping[str, Any]) -> tuple[str, _ScheduleRecord]:
    group = _group(params)
    schedules = _STATE.of(call.mesh).schedules
    record = schedules.get((group, params["Name"]))
    if record is None and await catalog.load(call.mesh, KIND, f"{group}/{params['Name']}"):
        record = schedules.get((group, params["Name"]))
    if record is None:
        raise _not_found(f"Schedule {params['Name']} does not exist.")
    return group, record


@operation("scheduler", "GetSchedule")
async def get_schedule(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    group, record = await _find(call, params)
    request = record.request
    answer: dict[str, Any] = {
        "Arn": _arn(call.mesh, group, request["Name"]),
        "Name": request["Name"],
        "GroupName": group,
        "CreationDate": record.created,
        "LastModificationDate": record.created,
        "State": request.get("State", "ENABLED"),
        "ScheduleExpressionTimezone": request.get("ScheduleExpressionTimezone", "UTC"),
        "ActionAfterCompletion": request.get("ActionAfterCompletion", "NONE"),
    }
    for key in (
        "ScheduleExpression",
        "FlexibleTimeWindow",
        "Target",
        "Description",
        "StartDate",
        "EndDate",
        "KmsKeyArn",
    ):
        if key in request:
            answer[key] = request[key]
    target = dict(answer["Target"])
    target.setdefault(
        "RetryPolicy",
        {"MaximumEventAgeInSeconds": MAX_EVENT_AGE, "MaximumRetryAttempts": MAX_RETRIES},
    )
    answer["Target"] = target
    return answer


@operation("scheduler", "DeleteSchedule")
async def delete_schedule(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    group, record = await _find(call, params)
    del _STATE.of(call.mesh).schedules[(group, params["Name"])]
    if record.schedule is not None:
        await call.mesh.remove_resource(record.mesh_name)
    await catalog.forget(call.mesh, KIND, f"{group}/{params['Name']}")
    return {}


async def _restore(mesh: Mesh, key: str, settings: Mapping[str, Any]) -> None:
    group, _, name = key.partition("/")
    schedules = _STATE.of(mesh).schedules
    if (group, name) in schedules:
        return
    request = dict(settings["request"])
    for date in _DATES:
        if isinstance(request.get(date), str):
            request[date] = datetime.fromisoformat(request[date])
    record = _ScheduleRecord(
        request, settings["mesh_name"], datetime.fromisoformat(settings["created"])
    )
    if request.get("State", "ENABLED") == "ENABLED":
        record.schedule = _run(mesh, record, _arn(mesh, group, name))
    schedules[(group, name)] = record


catalog.register_kind(
    KIND, _restore, after=("sqs.queue", "sns.topic", "kinesis.stream", "events.bus")
)
