"""S3's notification configuration, in the API's spelling or CloudFormation's, onto a bucket.

The same declaration has two spellings:

* PutBucketNotificationConfiguration's ``NotificationConfiguration``:
  ``LambdaFunctionConfigurations[{Id, LambdaFunctionArn, Events[], Filter.Key.FilterRules}]``,
  ``QueueConfigurations[{Id, QueueArn, Events[], Filter}]``, ``TopicConfigurations[{Id,
  TopicArn, Events[], Filter}]``, and ``EventBridgeConfiguration: {}`` (present: on);
* ``AWS::S3::Bucket``'s ``NotificationConfiguration``: ``LambdaConfigurations[{Event (one),
  Function, Filter.S3Key.Rules}]``, ``QueueConfigurations[{Event, Queue, Filter}]``,
  ``TopicConfigurations[{Event, Topic, Filter}]``, ``EventBridgeConfiguration:
  {EventBridgeEnabled: true}``.

:func:`from_api` and :func:`from_cloudformation` turn each into one
:class:`NotificationDeclaration`; :func:`apply_notifications` puts it on the bucket, all or
nothing, with S3's own error messages (:class:`NotificationError`, a
:class:`~eventmesh.declare.DeclarationError` whose ``member`` is the path in the spelling
given, ``LambdaConfigurations[0].Filter.S3Key.Rules[1]``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eventmesh._errors import ConfigurationError
from eventmesh.declare import DeclarationError
from eventmesh.declare._values import flag
from eventmesh.resources.bucket import EVENT_TYPES, Bucket, NotificationConfiguration

__all__ = [
    "NotificationDeclaration",
    "NotificationError",
    "TargetDeclaration",
    "apply_notifications",
    "from_api",
    "from_cloudformation",
]

OVERLAP = (
    "Configuration is ambiguously defined. Cannot have overlapping suffixes in two rules if "
    "the prefixes are overlapping for the same event type."
)
UNKNOWN_EVENT = "The event is not supported for notifications"
BAD_RULE_NAME = "filter rule name must be either prefix or suffix"
UNRESOLVED = "Unable to validate the following destination configurations"

# (list member, target member, kind of target), per spelling.
_API = (
    ("LambdaFunctionConfigurations", "LambdaFunctionArn", "lambda"),
    ("QueueConfigurations", "QueueArn", "sqs"),
    ("TopicConfigurations", "TopicArn", "sns"),
)
_CLOUDFORMATION = (
    ("LambdaConfigurations", "Function", "lambda"),
    ("QueueConfigurations", "Queue", "sqs"),
    ("TopicConfigurations", "Topic", "sns"),
)


class NotificationError(DeclarationError):
    """A notification configuration S3 refuses, with S3's message; ``argument`` is S3's
    ``(ArgumentName, ArgumentValue)`` when it names one."""

    def __init__(
        self, message: str, member: str | None = None, argument: tuple[str, str] | None = None
    ) -> None:
        super().__init__(message, member)
        self.argument = argument


@dataclass(frozen=True, slots=True)
class TargetDeclaration:
    """One Lambda, queue or topic configuration, spelling aside."""

    where: str
    """Its path in the spelling given (``QueueConfigurations[1]``)."""
    kind: str
    """``lambda``, ``sqs`` or ``sns``."""
    target: Any
    """What it names: an ARN or a name as given (or a mesh object a face resolved)."""
    target_member: str
    """The target's member in the spelling given (``Function``, ``QueueArn``, ...)."""
    events: tuple[str, ...]
    rules: tuple[tuple[str, str], ...]
    """The filter's ``(Name, Value)`` rules as given (checked when applied)."""
    rules_where: str
    """The rules' path (``LambdaConfigurations[0].Filter.S3Key.Rules``)."""
    id: str | None = None


@dataclass(frozen=True, slots=True)
class NotificationDeclaration:
    """A bucket's whole notification configuration."""

    targets: tuple[TargetDeclaration, ...] = ()
    eventbridge: bool = False


# -- the two spellings -----------------------------------------------------------------------
def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise NotificationError(f"{where} must be an object", where)
    return value


def _list(value: Any, where: str) -> Sequence[Any]:
    if value is None:
        return ()
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise NotificationError(f"{where} must be a list", where)
    return value


def _only(value: Mapping[str, Any], members: frozenset[str], where: str | None) -> None:
    """CloudFormation's refusal of a member its schema does not have (the API's spelling in
    a template, say), which would otherwise be skipped: a filter or a whole configuration
    silently not applied."""
    for member in value:
        if member not in members:
            raise NotificationError(f"extraneous key [{member}] is not permitted", where)


_CLOUDFORMATION_MEMBERS = frozenset(
    (
        "EventBridgeConfiguration",
        "LambdaConfigurations",
        "QueueConfigurations",
        "TopicConfigurations",
    )
)


def _rules(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    rules: list[tuple[str, str]] = []
    for index, rule in enumerate(_list(value, where)):
        rule = _mapping(rule, f"{where}[{index}]")
        name, text = rule.get("Name"), rule.get("Value", "")
        if not isinstance(name, str) or not isinstance(text, str):
            raise NotificationError(
                "a filter rule has a Name and a Value, both strings", f"{where}[{index}]"
            )
        rules.append((name, text))
    return tuple(rules)


def from_api(configuration: Mapping[str, Any]) -> NotificationDeclaration:
    """PutBucketNotificationConfiguration's ``NotificationConfiguration``."""
    targets: list[TargetDeclaration] = []
    for member, target_member, kind in _API:
        for index, config in enumerate(_list(configuration.get(member), member)):
            where = f"{member}[{index}]"
            config = _mapping(config, where)
            rules_where = f"{where}.Filter.Key.FilterRules"
            key = _mapping(
                _mapping(config.get("Filter"), f"{where}.Filter").get("Key"), f"{where}.Filter.Key"
            )
            events = _list(config.get("Events"), f"{where}.Events")
            targets.append(
                TargetDeclaration(
                    where=where,
                    kind=kind,
                    target=_required(config, target_member, where),
                    target_member=target_member,
                    events=tuple(events),
                    rules=_rules(key.get("FilterRules"), rules_where),
                    rules_where=rules_where,
                    id=config.get("Id") or None,
                )
            )
    return NotificationDeclaration(
        tuple(targets), configuration.get("EventBridgeConfiguration") is not None
    )


def from_cloudformation(configuration: Mapping[str, Any]) -> NotificationDeclaration:
    """``AWS::S3::Bucket``'s ``NotificationConfiguration`` (its properties resolved)."""
    targets: list[TargetDeclaration] = []
    _only(configuration, _CLOUDFORMATION_MEMBERS, None)
    for member, target_member, kind in _CLOUDFORMATION:
        for index, config in enumerate(_list(configuration.get(member), member)):
            where = f"{member}[{index}]"
            config = _mapping(config, where)
            _only(config, frozenset(("Event", "Filter", target_member)), where)
            event = _required(config, "Event", where)
            if not isinstance(event, str):
                raise NotificationError("Event is one S3 event type, a string", f"{where}.Event")
            rules_where = f"{where}.Filter.S3Key.Rules"
            key_filter = _mapping(config.get("Filter"), f"{where}.Filter")
            _only(key_filter, frozenset(("S3Key",)), f"{where}.Filter")
            s3_key = _mapping(key_filter.get("S3Key"), f"{where}.Filter.S3Key")
            _only(s3_key, frozenset(("Rules",)), f"{where}.Filter.S3Key")
            targets.append(
                TargetDeclaration(
                    where=where,
                    kind=kind,
                    target=_required(config, target_member, where),
                    target_member=target_member,
                    events=(event,),
                    rules=_rules(s3_key.get("Rules"), rules_where),
                    rules_where=rules_where,
                )
            )
    eventbridge = configuration.get("EventBridgeConfiguration")
    enabled = False
    if eventbridge is not None:
        settings = _mapping(eventbridge, "EventBridgeConfiguration")
        _only(settings, frozenset(("EventBridgeEnabled",)), "EventBridgeConfiguration")
        flag = settings.get("EventBridgeEnabled", True)
        enabled = _boolean(flag, "EventBridgeConfiguration.EventBridgeEnabled")
    return NotificationDeclaration(tuple(targets), enabled)


def _required(config: Mapping[str, Any], member: str, where: str) -> Any:
    value = config.get(member)
    if value is None or value == "":
        raise NotificationError(f"{member} is required", f"{where}.{member}")
    return value


def _boolean(value: Any, where: str) -> bool:
    """CloudFormation's Boolean: true/false, or their strings."""
    parsed = flag(value, any_case=True)
    if parsed is None:
        raise NotificationError(f"must be true or false, got {value!r}", where)
    return parsed


# -- onto the bucket -------------------------------------------------------------------------
def _prefix_and_suffix(declared: TargetDeclaration) -> tuple[str | None, str | None]:
    prefix = suffix = None
    for index, (name, value) in enumerate(declared.rules):
        where = f"{declared.rules_where}[{index}]"
        lowered = name.lower()
        if lowered == "prefix" and prefix is None:
            prefix = value
        elif lowered == "suffix" and suffix is None:
            suffix = value
        elif lowered in ("prefix", "suffix"):
            raise NotificationError(
                f"Cannot specify more than one {lowered} rule in a filter.",
                where,
                ("FilterRule", lowered),
            )
        else:
            raise NotificationError(BAD_RULE_NAME, where, ("FilterRule", name))
    return prefix, suffix


def apply_notifications(
    bucket: Bucket,
    declaration: NotificationDeclaration,
    check_target: Callable[[TargetDeclaration], None] | None = None,
) -> None:
    """Replace the bucket's notification configurations (and its EventBridge setting) by
    ``declaration``: all or nothing, on an error the bucket keeps what it had.
    ``check_target`` (a face's own look-up of the target) runs for each configuration once
    its event types and filter are found valid, and may raise.

    Raises :class:`NotificationError` with S3's message: overlapping configurations, an
    event type S3 does not know, a filter with two prefixes (or suffixes) or another rule
    name, or a target the mesh cannot resolve (checked now when the mesh runs, else at start).
    """
    previous = list(bucket.notifications)
    was_on = bucket.eventbridge
    bucket.notifications.clear()
    try:
        for declared in declaration.targets:
            _add(bucket, declared, check_target)
        try:
            bucket.send_to_eventbridge(declaration.eventbridge)
        except ConfigurationError as exc:
            raise NotificationError(f"{UNRESOLVED}: {exc}", "EventBridgeConfiguration") from None
    except BaseException:
        bucket.notifications[:] = previous
        bucket.send_to_eventbridge(was_on)
        raise


def _add(
    bucket: Bucket,
    declared: TargetDeclaration,
    check_target: Callable[[TargetDeclaration], None] | None,
) -> NotificationConfiguration:
    unknown = [event for event in declared.events if event not in EVENT_TYPES]
    if unknown or not declared.events:
        where = f"{declared.where}.{'Event' if len(declared.events) == 1 else 'Events'}"
        raise NotificationError(UNKNOWN_EVENT, where)
    prefix, suffix = _prefix_and_suffix(declared)
    if check_target is not None:
        check_target(declared)
    try:
        return bucket.notify(
            declared.target, declared.events, prefix=prefix, suffix=suffix, id=declared.id
        )
    except ConfigurationError as exc:
        if "configurations overlap" in str(exc):
            raise NotificationError(OVERLAP, declared.where) from None
        raise NotificationError(f"{UNRESOLVED}: {exc}", declared.where) from None
