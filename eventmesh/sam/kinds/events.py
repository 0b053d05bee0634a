"""``AWS::Events::EventBus`` and ``AWS::Events::Rule``: the mesh's buses and rules.

SAM's ``EventBridgeRule``, ``CloudWatchEvent`` and ``Schedule`` events become rules (a
``Schedule`` is a rule with a ``ScheduleExpression`` on the default bus: its targets get the
Scheduled Event, or their ``Input``). Targets are translated by
:mod:`eventmesh.declare.events`, as the AWS endpoint's ``PutTargets`` does.

What the mesh cannot reach is left out with a warning (``--strict`` refuses it), the rest of
the rule working: a target taking parameters of a kind of target not emulated (ECS, Batch,
HTTP/API destinations, AppSync, SSM Run Command, Redshift, SageMaker, SQS's
``MessageGroupId``), a target ARN of nothing in the template or the mesh (Step Functions,
SSM automation, another stack's or region's resource), a dead-letter queue outside both (the
target then has none); a rule on a bus outside both is left out whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from eventmesh.declare import DeclarationError, events
from eventmesh.resources.bus import Bus, Target
from eventmesh.resources.queue import Queue
from eventmesh.sam._model import BuildContext, Built, CfnResource
from eventmesh.sam.kinds import register
from eventmesh.sam.kinds._targets import find_target, is_standard_queue, outside_reach

__all__ = ["EventBusKind", "RuleKind"]

_QUIET = ("Description", "RoleArn")
"""Properties that mean nothing locally (a role: IAM is not enforced)."""
_METADATA = ("Tags", "KmsKeyIdentifier", "Policy")


class EventBusKind:
    """``AWS::Events::EventBus``: ``mesh.bus(Name)``; ``Ref`` is its name, ``Fn::GetAtt``
    ``Arn`` and ``Name``."""

    types: ClassVar[tuple[str, ...]] = ("AWS::Events::EventBus",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        properties = resource.properties
        name = properties.get("Name")
        if not isinstance(name, str) or not name:
            raise resource.error("Name is required", "Name")
        if name == "default":
            raise resource.error("the default bus always exists: name another bus", "Name")
        if properties.get("EventSourceName") is not None:
            raise resource.error("partner event buses are not supported locally", "EventSourceName")
        if properties.get("DeadLetterConfig") is not None:
            raise resource.error(
                "a bus's own dead-letter queue is not supported locally (give each rule "
                "target a DeadLetterConfig)",
                "DeadLetterConfig",
            )
        for key in _METADATA:
            if properties.get(key) is not None:
                context.warn(resource, f"{key} is ignored locally")
        try:
            bus = context.mesh.bus(name)
        except Exception as exc:
            raise resource.error(str(exc), "Name") from None
        return Built(bus, name, {"Arn": bus.arn, "Name": name})


class RuleKind:
    """``AWS::Events::Rule``: ``bus.rule(...)`` on ``EventBusName`` (a name or an ARN; the
    default bus when absent). ``Ref`` is CloudFormation's physical id of the rule: its name on
    the default bus, ``<bus name>|<rule name>`` on another bus (as the resource provider's
    ``CompositePID`` makes it); ``Fn::GetAtt Arn`` is its ARN."""

    types: ClassVar[tuple[str, ...]] = ("AWS::Events::Rule",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        properties = resource.properties
        name = properties.get("Name") or resource.logical_id
        bus = self._bus(resource, context)
        if bus is None:
            bus_name = events.bus_name(properties.get("EventBusName"))
            context.warn(
                resource,
                f"EventBusName: the event bus {bus_name!r} is neither in the template nor in "
                "the mesh (another stack's): the rule is left out",
            )
            arn = f"arn:aws:events:{context.region}:{context.account_id}:rule/{bus_name}/{name}"
            return Built(None, f"{bus_name}|{name}", {"Arn": arn})
        source = properties.get("EventPattern")
        schedule = properties.get("ScheduleExpression")
        if source is None and schedule is None:
            raise resource.error("EventPattern or ScheduleExpression is required")
        state = properties.get("State", "ENABLED")
        if state not in events.STATES:
            raise resource.error(
                f"State must be one of {', '.join(events.STATES)}, got {state!r}", "State"
            )
        try:
            pattern = None if source is None else events.pattern(source)
            if schedule is not None:
                events.check_schedule(bus, schedule)
        except DeclarationError as exc:
            raise resource.error(str(exc), exc.member) from None
        targets = self._targets(resource, context)
        try:
            rule = events.make_rule(
                bus, name, pattern, schedule, targets, state in events.ENABLED_STATES
            )
        except DeclarationError as exc:
            raise resource.error(str(exc), "Name" if "name" in str(exc) else None) from None
        ref = name if bus.name == "default" else f"{bus.name}|{name}"
        return Built(rule, ref, {"Arn": rule.arn})

    @staticmethod
    def _bus(resource: CfnResource, context: BuildContext) -> Bus | None:
        """The rule's bus; None for a bus neither in the template nor in the mesh (another
        stack's)."""
        given = resource.properties.get("EventBusName")
        if given is not None and not isinstance(given, str):
            raise resource.error("EventBusName is a bus's name or ARN", "EventBusName")
        name = events.bus_name(given)
        if name == "default":
            return context.mesh.bus("default")
        found = context.find(name)
        if found is None:
            return None
        if not isinstance(found, Bus):
            raise resource.error(f"{name!r} is not an event bus", "EventBusName")
        return found

    @staticmethod
    def _targets(resource: CfnResource, context: BuildContext) -> list[Target]:
        given = resource.properties.get("Targets") or []
        if not isinstance(given, list):
            raise resource.error("Targets is a list of targets", "Targets")
        targets: list[Target] = []
        for index, target in enumerate(given):
            where = f"Targets[{index}]"
            if not isinstance(target, Mapping):
                raise resource.error("a target is a mapping with Id and Arn", where)
            if not target.get("Id"):
                raise resource.error("Id is required", f"{where}.Id")
            unsupported = [k for k in events.UNSUPPORTED_TARGET_PARAMETERS if target.get(k)]
            if unsupported:
                context.warn(
                    resource,
                    f"{where}.{unsupported[0]}: a target taking {unsupported[0]} (of "
                    f"{target.get('Arn')}) is not emulated: target {target['Id']} is left "
                    "out, the rule delivers to its other targets only",
                )
                continue
            try:
                spec = events.target_spec(target)
            except DeclarationError as exc:
                member = f"{where}.{exc.member}" if exc.member else where
                raise resource.error(str(exc), member) from None
            arn: Any = target["Arn"]
            found = find_target(context, arn) if isinstance(arn, str) else None
            if found is None:
                why = outside_reach(context, arn) if isinstance(arn, str) else None
                if why is None:
                    raise resource.error(
                        f"nothing in the template or the mesh has the ARN {arn}", f"{where}.Arn"
                    )
                context.warn(
                    resource, f"{where}.Arn: {why}: the rule delivers to its other targets only"
                )
                continue
            if isinstance(found, Queue) and found.fifo:
                raise resource.error(
                    f"{arn} is a FIFO queue; a rule's targets here are standard queues "
                    "(SqsParameters is not supported)",
                    f"{where}.Arn",
                )
            dead_letter = spec.dead_letter
            if isinstance(dead_letter, str) and not is_standard_queue(context, dead_letter):
                why = outside_reach(context, dead_letter)
                if why is None:
                    raise resource.error(
                        f"no standard queue {dead_letter} in the template or the mesh",
                        f"{where}.DeadLetterConfig.Arn",
                    )
                context.warn(
                    resource,
                    f"{where}.DeadLetterConfig.Arn: {why}: target {target['Id']} has no "
                    "dead-letter queue (what it cannot deliver is dropped)",
                )
                spec.dead_letter = None
            targets.append(spec)
        return targets


register(EventBusKind())
register(RuleKind())
