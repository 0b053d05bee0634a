"""EventBridge's rules and targets: ``PutRule``/``PutTargets``' parameters (the AWS endpoint) and
``AWS::Events::Rule``'s properties (templates) as the mesh's rules and
:class:`~eventmesh.resources.bus.Target`.

A target is one shape in both: ``Id``, ``Arn``, ``Input`` (JSON text), ``InputPath``,
``InputTransformer`` (``InputPathsMap``, ``InputTemplate``), ``KinesisParameters``
(``PartitionKeyPath``), ``RetryPolicy`` (``MaximumRetryAttempts``,
``MaximumEventAgeInSeconds``) and ``DeadLetterConfig`` (``Arn``). An ``EventPattern`` is JSON
text in the API and a mapping (or JSON text) in a template.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from eventmesh._errors import EventMeshError
from eventmesh.declare import DeclarationError
from eventmesh.declare._values import integer
from eventmesh.patterns import Pattern
from eventmesh.resources.bus import Bus, Rule, Target
from eventmesh.resources.schedule_expression import ScheduleExpression

__all__ = [
    "ENABLED_STATES",
    "bus_name",
    "check_schedule",
    "make_rule",
    "pattern",
    "target_spec",
]

ENABLED_STATES = ("ENABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS")
"""A rule's ``State`` values that match events (``DISABLED`` is the other)."""
STATES = (*ENABLED_STATES, "DISABLED")
UNSUPPORTED_TARGET_PARAMETERS = (
    "RunCommandParameters",
    "EcsParameters",
    "BatchParameters",
    "HttpParameters",
    "RedshiftDataParameters",
    "SageMakerPipelineParameters",
    "AppSyncParameters",
    "SqsParameters",
)


def bus_name(given: str | None) -> str:
    """A bus named by name or ARN (``arn:...:event-bus/<name>``); ``default`` when none."""
    if not given:
        return "default"
    if given.startswith("arn:"):
        _, _, resource = given.partition(":event-bus/")
        return resource or given
    return given


def pattern(source: Any) -> Pattern:
    """An ``EventPattern`` (JSON text, or a mapping as a template gives it)."""
    try:
        return Pattern(source)
    except EventMeshError as exc:
        raise DeclarationError(
            f"Event pattern is not valid. Reason: {exc}", "EventPattern"
        ) from None


def check_schedule(bus: Bus, expression: Any) -> None:
    """A rule's ``ScheduleExpression``: ``rate()`` or ``cron()``, on the default bus only."""
    if bus.name != "default":
        raise DeclarationError(
            "ScheduleExpression is supported only on the default event bus.", "ScheduleExpression"
        )
    try:
        parsed = ScheduleExpression(expression)
    except EventMeshError:
        raise DeclarationError(
            "Parameter ScheduleExpression is not valid.", "ScheduleExpression"
        ) from None
    if parsed.kind == "at":
        raise DeclarationError("Parameter ScheduleExpression is not valid.", "ScheduleExpression")


def target_spec(target: Mapping[str, Any]) -> Target:
    """The mesh's :class:`~eventmesh.resources.bus.Target` for an EventBridge target."""
    target_id, arn = target.get("Id"), target.get("Arn")
    if not isinstance(arn, str) or not arn:
        raise DeclarationError(f"Target {target_id}: Arn is required.", "Arn")
    for key in UNSUPPORTED_TARGET_PARAMETERS:
        if target.get(key) is not None:
            raise DeclarationError(
                f"Target {target_id}: {key} is not supported by eventmesh's EventBridge.", key
            )
    settings: dict[str, Any] = {}
    if target.get("Input") is not None:
        try:
            settings["input"] = orjson.loads(target["Input"])
        except (orjson.JSONDecodeError, TypeError):
            raise DeclarationError(
                f"Target {target_id}: Input is not valid JSON text.", "Input"
            ) from None
    if target.get("InputPath") is not None:
        settings["input_path"] = target["InputPath"]
    transformer = target.get("InputTransformer")
    if transformer is not None:
        if not isinstance(transformer, Mapping) or "InputTemplate" not in transformer:
            raise DeclarationError(
                f"Target {target_id}: InputTransformer needs an InputTemplate.",
                "InputTransformer.InputTemplate",
            )
        settings["input_transformer"] = {
            "input_paths_map": transformer.get("InputPathsMap") or {},
            "input_template": transformer["InputTemplate"],
        }
    kinesis = target.get("KinesisParameters")
    if kinesis is not None:
        if not isinstance(kinesis, Mapping) or "PartitionKeyPath" not in kinesis:
            raise DeclarationError(
                f"Target {target_id}: KinesisParameters needs a PartitionKeyPath.",
                "KinesisParameters.PartitionKeyPath",
            )
        settings["partition_key_path"] = kinesis["PartitionKeyPath"]
    retry = target.get("RetryPolicy") or {}
    if not isinstance(retry, Mapping):
        raise DeclarationError(
            f"Target {target_id}: RetryPolicy is an object (MaximumRetryAttempts, "
            "MaximumEventAgeInSeconds).",
            "RetryPolicy",
        )
    for member, setting in (
        ("MaximumRetryAttempts", "max_retries"),
        ("MaximumEventAgeInSeconds", "max_event_age"),
    ):
        if retry.get(member) is not None:
            number = integer(retry[member])  # a template may write it as text
            settings[setting] = retry[member] if number is None else number
    dead_letter = target.get("DeadLetterConfig") or {}
    if not isinstance(dead_letter, Mapping):
        raise DeclarationError(
            f"Target {target_id}: DeadLetterConfig is an object with an Arn.", "DeadLetterConfig"
        )
    if dead_letter.get("Arn"):
        settings["dead_letter"] = dead_letter["Arn"]
    try:
        return Target(arn, **settings)
    except EventMeshError as exc:
        raise DeclarationError(f"Target {target_id}: {exc}") from None


def make_rule(
    bus: Bus,
    name: str,
    compiled: Pattern | None,
    schedule: str | None,
    targets: list[Target],
    enabled: bool,
) -> Rule:
    """``bus.rule(...)``, its refusal a :class:`DeclarationError`."""
    try:
        return bus.rule(name, compiled, schedule=schedule, targets=targets, enabled=enabled)
    except EventMeshError as exc:
        raise DeclarationError(str(exc)) from None
