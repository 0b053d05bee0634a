"""``AWS::Scheduler::Schedule``: a schedule of the mesh with EventBridge Scheduler's target,
retry policy and dead-letter queue (SAM's ``ScheduleV2`` events become these).

The declaration is the same as ``CreateSchedule``'s and goes through
:mod:`eventmesh.declare.scheduler`, as the AWS endpoint's does. The schedule's name in the
mesh is ``scheduler.<group>.<name>`` (stable across restarts: it keys the schedule's ticks in
the store); ``Ref`` is the schedule's name, ``Fn::GetAtt Arn`` Scheduler's ARN
``arn:aws:scheduler:<region>:<account>:schedule/<group>/<name>``. A ``DISABLED`` schedule is
declared and does not fire.

What the mesh cannot reach is warned about (``--strict`` refuses it): a schedule whose target
is a resource left out, an ARN of nothing in the template or the mesh (a universal target, a
state machine, another stack's resource) or a target taking ``EcsParameters`` or
``SageMakerPipelineParameters`` is left out; a dead-letter queue outside both is dropped.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from eventmesh.declare import DeclarationError, scheduler
from eventmesh.resources.queue import Queue
from eventmesh.sam._model import BuildContext, Built, CfnResource
from eventmesh.sam.kinds import register
from eventmesh.sam.kinds._targets import (
    find_target,
    has_target,
    is_standard_queue,
    outside_reach,
)

__all__ = ["ScheduleKind"]

_METADATA = ("KmsKeyArn",)


def mesh_name(group: str, name: str) -> str:
    """``scheduler.<group>.<name>``, or a digest of them when that passes 64 characters."""
    plain = f"scheduler.{group}.{name}"
    if len(plain) <= 64:
        return plain
    return f"scheduler.{hashlib.sha256(f'{group}/{name}'.encode()).hexdigest()[:24]}"


class ScheduleKind:
    types: ClassVar[tuple[str, ...]] = ("AWS::Scheduler::Schedule",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        properties = resource.properties
        name = properties.get("Name") or resource.logical_id
        group = properties.get("GroupName") or "default"
        try:
            name = scheduler.check_name(name, "Name")
            group = scheduler.check_name(group, "GroupName")
        except DeclarationError as exc:
            raise resource.error(str(exc), exc.member) from None
        arn = scheduler.schedule_arn(context.mesh, group, name)
        target = properties.get("Target")
        unsupported = [
            key
            for key in scheduler.UNSUPPORTED_TARGET_PARAMETERS
            if isinstance(target, dict) and target.get(key) is not None
        ]
        if unsupported:
            context.warn(
                resource,
                f"Target.{unsupported[0]}: a target taking {unsupported[0]} is not emulated: "
                "the schedule is left out",
            )
            return Built(None, name, {"Arn": arn})
        why = self._outside_reach(target, context)
        if why is not None:
            context.warn(resource, f"Target.Arn: {why}: the schedule is left out too")
            return Built(None, name, {"Arn": arn})
        try:
            scheduler.check_schedule(properties)
        except DeclarationError as exc:
            raise resource.error(str(exc), exc.member) from None
        target = properties["Target"]
        found = find_target(context, target["Arn"])
        if found is None:
            raise resource.error(
                f"nothing in the template or the mesh has the ARN {target['Arn']}", "Target.Arn"
            )
        message_group = (target.get("SqsParameters") or {}).get("MessageGroupId")
        if isinstance(found, Queue) and found.fifo and not message_group:
            raise resource.error(
                f"{target['Arn']} is a FIFO queue: give the message group of what the schedule "
                "sends",
                "Target.SqsParameters.MessageGroupId",
            )
        dead_letter = scheduler.dead_letter_arn(target)
        if dead_letter is not None and not is_standard_queue(context, dead_letter):
            why = outside_reach(context, dead_letter) if isinstance(dead_letter, str) else None
            if why is None:
                raise resource.error(
                    f"no standard queue {dead_letter} in the template or the mesh",
                    "Target.DeadLetterConfig.Arn",
                )
            context.warn(
                resource,
                f"Target.DeadLetterConfig.Arn: {why}: the schedule has no dead-letter queue "
                "(what it cannot deliver is dropped)",
            )
            target = {k: v for k, v in target.items() if k != "DeadLetterConfig"}
            properties = {**properties, "Target": target}
        for key in _METADATA:
            if properties.get(key) is not None:
                context.warn(resource, f"{key} is ignored locally")
        schedule = None
        if properties.get("State", "ENABLED") == "ENABLED":
            try:
                schedule = scheduler.make_schedule(
                    context.mesh, properties, name=mesh_name(group, name), arn=arn
                )
            except DeclarationError as exc:
                raise resource.error(str(exc), exc.member) from None
        return Built(schedule, name, {"Arn": arn})

    @staticmethod
    def _outside_reach(target: Any, context: BuildContext) -> str | None:
        """Why the mesh cannot reach the target (a resource left out, an ARN of nothing in
        the template or the mesh), if it cannot."""
        arn = target.get("Arn") if isinstance(target, dict) else None
        if not isinstance(arn, str) or has_target(context, arn):
            return None
        return outside_reach(context, arn)


register(ScheduleKind())
