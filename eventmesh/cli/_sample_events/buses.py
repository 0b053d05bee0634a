"""The bus and schedules: an event put on the default bus, a rule's Scheduled Event, and what
a Scheduler schedule sends its target."""

from __future__ import annotations

from typing import Any

from eventmesh.cli._sample_events import SampleError
from eventmesh.cli._sample_events._sampling import Act, Given, Sampling
from eventmesh.declare import DeclarationError, scheduler

__all__ = ["eventbridge_put_events", "schedule_scheduled_event", "schedule_v2"]

EVERY_MINUTE = "rate(1 minute)"
"""The schedules' expression: the first tick comes a minute after the mesh starts, which is
``--time`` (the sample's ``lead`` starts the clock a minute early)."""


def eventbridge_put_events(sampling: Sampling, given: Given) -> Act:
    """A rule on the default bus matching ``--source``, the receiver its target; the act is
    PutEvents of one entry (``--detail`` goes as PutEvents' JSON text)."""
    source = given.text("source")
    bus = sampling.mesh.bus()
    bus.rule("sample-rule", pattern={"source": [source]}, targets=[sampling.receiver()])
    entry: dict[str, Any] = {
        "Source": source,
        "DetailType": given.text("detail-type"),
        "Detail": given.text("detail"),
    }
    resources = given.optional("resources")
    if resources:
        entry["Resources"] = [arn.strip() for arn in resources.split(",") if arn.strip()]

    async def act() -> None:
        answer = await bus.put_events([entry])
        for result in answer["Entries"]:
            if "ErrorCode" in result:
                raise SampleError(
                    f"PutEvents refused the entry: {result['ErrorCode']}: {result['ErrorMessage']}"
                )

    return act


async def _nothing() -> None:
    """A schedule needs no act: the clock brings its tick."""


def schedule_scheduled_event(sampling: Sampling, given: Given) -> Act:
    """A rule named ``--rule`` on the default bus with a schedule and the receiver as target."""
    bus = sampling.mesh.bus()
    bus.rule(given.text("rule"), schedule=EVERY_MINUTE, targets=[sampling.receiver()])
    return _nothing


def schedule_v2(sampling: Sampling, given: Given) -> Act:
    """A Scheduler schedule (``--group-name``/``--schedule-name``) whose target is the
    receiver, with ``--input`` as the target's Input: declared as ``CreateSchedule`` and
    ``AWS::Scheduler::Schedule`` declare theirs (:mod:`eventmesh.declare.scheduler`), so its
    context attributes (``<aws.scheduler.scheduled-time>``...) are replaced as theirs are."""
    mesh = sampling.mesh
    target: dict[str, Any] = {"Arn": mesh.resolve_function(sampling.receiver()).arn}
    text = given.optional("input")
    if text is not None:
        target["Input"] = text
    params = {
        "ScheduleExpression": EVERY_MINUTE,
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": target,
    }
    name, group = given.text("schedule-name"), given.text("group-name")
    try:
        scheduler.check_schedule(params)
        scheduler.make_schedule(
            mesh, params, name=name, arn=scheduler.schedule_arn(mesh, group, name)
        )
    except DeclarationError as exc:
        member = f" ({exc.member})" if exc.member else ""
        raise SampleError(f"{exc}{member}") from None
    return _nothing
