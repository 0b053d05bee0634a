"""EventBridge Scheduler over the mesh's schedules: CreateSchedule, GetSchedule,
DeleteSchedule.

A schedule is a :class:`~eventmesh.resources.schedule.Schedule` of the mesh (``at()``,
``rate()`` or ``cron()`` in its time zone, a flexible window, start and end dates, Scheduler's
``RetryPolicy`` and ``DeadLetterConfig``; fired once per tick across processes sharing the
store, on the mesh's clock), made from the request by :mod:`eventmesh.declare.scheduler`
(which templates' ``AWS::Scheduler::Schedule`` share): its target is a
:class:`~eventmesh.declare.scheduler.SchedulerTarget` sending each tick to the target's ARN.
A schedule ``DISABLED`` is kept but not run.

Only the ``default`` schedule group exists. ``ActionAfterCompletion: DELETE`` is accepted and
kept: a completed one-time schedule stays (and fires no more). ``KmsKeyArn`` and
``RoleArn`` are kept and unused.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from eventmesh.aws import catalog
from eventmesh.aws.operations import AwsCall, AwsError, operation
from eventmesh.aws.services._shared import PerMesh
from eventmesh.declare import DeclarationError, scheduler
from eventmesh.resources.schedule import Schedule

if TYPE_CHECKING:
    from eventmesh._mesh import Mesh

__all__: list[str] = []

KIND = "scheduler.schedule"
"""Catalog kind: a schedule as ``group/name`` with its request, mesh name and creation."""
DEFAULT_GROUP = "default"
_DATES = ("StartDate", "EndDate")
MAX_RETRIES, MAX_EVENT_AGE = scheduler.MAX_RETRIES, scheduler.MAX_EVENT_AGE


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
    return scheduler.schedule_arn(mesh, group, name)


def _mesh_name(group: str, name: str) -> str:
    """A name for the mesh schedule: its own (no clash with a queue named like the schedule)
    and new at each creation (a schedule made again starts afresh in the store)."""
    digest = hashlib.sha256(f"{group}/{name}".encode()).hexdigest()[:20]
    return f"scheduler-{digest}-{uuid.uuid4().hex[:12]}"


def _run(mesh: Mesh, record: _ScheduleRecord, arn: str) -> Schedule:
    """Make the mesh schedule of a record (it starts at once when the mesh runs)."""
    try:
        return scheduler.make_schedule(mesh, record.request, name=record.mesh_name, arn=arn)
    except DeclarationError as exc:
        raise _validation(str(exc)) from None


@operation("scheduler", "CreateSchedule")
async def create_schedule(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    name: str = params["Name"]
    group = _group(params)
    try:
        scheduler.check_name(name, "Name")
    except DeclarationError as exc:
        raise _validation(str(exc)) from None
    state = _STATE.of(call.mesh)
    if (group, name) in state.schedules or await catalog.lookup(call.mesh, KIND, f"{group}/{name}"):
        raise AwsError("ConflictException", f"Schedule {name} already exists.", 409)
    try:
        scheduler.check_schedule(params)
    except DeclarationError as exc:
        raise _validation(str(exc)) from None
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
