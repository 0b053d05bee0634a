"""EventBridge over the mesh's buses: PutEvents, rules and their targets, TestEventPattern,
CreateEventBus.

A bus is ``mesh.bus(name)`` (``default`` always exists; others once created here or in the
app's code), a rule ``bus.rule(...)``: its pattern goes through the mesh's pattern engine,
its ``rate()``/``cron()`` schedule (default bus only, as in EventBridge) fires on the mesh's
clock. Targets are named by ARN (a function, a queue, a topic, a stream or another bus of
the mesh) and keep EventBridge's ``Input``, ``InputPath``, ``InputTransformer``,
``KinesisParameters``, ``RetryPolicy`` and ``DeadLetterConfig``
(:class:`eventmesh.resources.bus.Target`). What the mesh's rules do not hold (target ids, a
rule's description and the texts as given) is kept beside the mesh in :data:`_STATE`.

Differences from AWS (see the README): an event for a bus that does not exist fails with
``ResourceNotFoundException`` (AWS answers with an event id and drops it); a target whose
resource does not exist, or of a kind the mesh has not (ECS, Batch, API destinations...), is
refused with ``ValidationException`` when put (AWS accepts it and fails each delivery).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from eventmesh._errors import BackendError, BackpressureError, EventMeshError, PayloadError
from eventmesh.aws import catalog
from eventmesh.aws.operations import AwsCall, AwsError, operation
from eventmesh.aws.services._shared import PerMesh, page
from eventmesh.declare import DeclarationError, events
from eventmesh.patterns import Pattern
from eventmesh.resources.bus import MAX_TARGETS, Bus, Rule, RuleTarget, Target

if TYPE_CHECKING:
    from eventmesh._mesh import Mesh

__all__: list[str] = []

BUS_KIND = "events.bus"
RULE_KIND = "events.rule"
"""Catalog kinds: a bus by name; a rule as ``bus/rule`` with its PutRule settings and its
targets as PutTargets gave them."""

PUT_EVENTS_TIMEOUT = 10.0
"""Seconds a PutEvents waits for room on a bus at its limit before ThrottlingException."""
_RULE_NAME = re.compile(r"^[\.\-_A-Za-z0-9]{1,64}$")
_BUS_NAME = re.compile(r"^[/\.\-_A-Za-z0-9]{1,256}$")
_TARGET_ID = re.compile(r"^[\.\-_A-Za-z0-9]{1,64}$")
_ENABLED_STATES = events.ENABLED_STATES


@dataclass
class _RuleRecord:
    """What EventBridge reports of a rule that the mesh's Rule does not keep."""

    state: str = "ENABLED"
    pattern: str | None = None
    schedule: str | None = None
    description: str | None = None
    role_arn: str | None = None
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Targets by id, as PutTargets gave them (ListTargetsByRule answers them)."""
    specs: dict[str, Target] = field(default_factory=dict)
    """The mesh's Target for each id."""


@dataclass
class _EventsState:
    rules: dict[tuple[str, str], _RuleRecord] = field(default_factory=dict)
    buses: set[str] = field(default_factory=set)
    """Buses made through CreateEventBus."""


_STATE: PerMesh[_EventsState] = PerMesh(_EventsState)


# -- lookups ---------------------------------------------------------------------------------
def _bus_name(given: str | None) -> str:
    return events.bus_name(given)


async def _bus(call: AwsCall, given: str | None) -> Bus:
    name = _bus_name(given)
    mesh = call.mesh
    found = mesh.context.find_resource(name)
    if found is None and await catalog.load(mesh, BUS_KIND, name):
        found = mesh.context.find_resource(name)
    if isinstance(found, Bus):
        return found
    if name == "default" and found is None:
        return mesh.bus("default")
    raise AwsError("ResourceNotFoundException", f"Event bus {name} does not exist.")


async def _find_rule(call: AwsCall, bus: Bus, name: str) -> Rule | None:
    """The rule, loaded from the catalog when another worker made it."""
    rule = bus.rules.get(name)
    if rule is None and await catalog.load(call.mesh, RULE_KIND, f"{bus.name}/{name}"):
        rule = bus.rules.get(name)
    return rule


async def _rule(call: AwsCall, bus: Bus, name: str) -> Rule:
    rule = await _find_rule(call, bus, name)
    if rule is None:
        raise AwsError(
            "ResourceNotFoundException", f"Rule {name} does not exist on EventBus {bus.name}."
        )
    return rule


async def _save(mesh: Mesh, bus: Bus, name: str, record: _RuleRecord) -> None:
    settings = {
        "state": record.state,
        "pattern": record.pattern,
        "schedule": record.schedule,
        "description": record.description,
        "role_arn": record.role_arn,
        "targets": list(record.targets.values()),
    }
    await catalog.record(mesh, RULE_KIND, f"{bus.name}/{name}", settings)


def _record(call: AwsCall, bus: Bus, rule: Rule) -> _RuleRecord:
    """The rule's record; a rule defined in the app's code gets one made from the rule (its
    targets keep their objects, with ids ``eventmesh-1``...)."""
    state = _STATE.of(call.mesh)
    record = state.rules.get((bus.name, rule.name))
    if record is None:
        record = _RuleRecord(
            state="ENABLED" if rule.enabled else "DISABLED",
            pattern=None if rule.pattern is None else orjson.dumps(rule.pattern.source).decode(),
            schedule=None if rule.schedule is None else rule.schedule.expression.expression,
        )
        for index, target in enumerate(rule.targets, 1):
            target_id = f"eventmesh-{index}"
            record.targets[target_id] = {"Id": target_id, "Arn": _target_arn(target)}
            record.specs[target_id] = target.spec
        state.rules[(bus.name, rule.name)] = record
    return record


def _target_arn(target: RuleTarget) -> str:
    arn = target.arn
    if target.kind == "lambda" and not arn.startswith("arn:"):
        found = target.spec.target
        name = getattr(found, "name", arn)
        context = target.context
        return f"arn:aws:lambda:{context.region}:{context.account_id}:function:{name}"
    return arn


# -- PutEvents -------------------------------------------------------------------------------
@operation("events", "PutEvents")
async def put_events(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    entries: list[dict[str, Any]] = params["Entries"]
    if not 1 <= len(entries) <= 10:
        raise AwsError(
            "ValidationException",
            "1 validation error detected: Value at 'entries' failed to satisfy constraint: "
            "Member must have length less than or equal to 10 and greater than or equal to 1",
        )
    results: list[dict[str, Any] | None] = [None] * len(entries)
    by_bus: dict[str, tuple[Bus, list[int]]] = {}
    for index, entry in enumerate(entries):
        name = _bus_name(entry.get("EventBusName"))
        try:
            bus = await _bus(call, name)
        except AwsError as exc:
            results[index] = {"ErrorCode": exc.code, "ErrorMessage": exc.message}
            continue
        by_bus.setdefault(bus.name, (bus, []))[1].append(index)
    for bus, indexes in by_bus.values():
        batch = []
        for index in indexes:
            entry = {key: value for key, value in entries[index].items() if value is not None}
            entry.pop("EventBusName", None)  # the bus is chosen: the name may be an ARN
            batch.append(entry)
        try:
            answer = await bus.put_events(batch, timeout=PUT_EVENTS_TIMEOUT)
        except BackpressureError:
            raise AwsError(
                "ThrottlingException", f"Rate exceeded: event bus {bus.name} is at its limit."
            ) from None
        except PayloadError as exc:
            raise AwsError("ValidationException", str(exc)) from None
        for index, result in zip(indexes, answer["Entries"], strict=True):
            results[index] = result
    final = [result or {} for result in results]
    failed = sum(1 for result in final if "ErrorCode" in result)
    return {"FailedEntryCount": failed, "Entries": final}


# -- rules -----------------------------------------------------------------------------------
def _check_rule_name(name: str) -> None:
    if not _RULE_NAME.match(name):
        raise AwsError(
            "ValidationException",
            f"1 validation error detected: Value '{name}' at 'name' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+",
        )


def _pattern(text: str) -> Pattern:
    try:
        return events.pattern(text)
    except DeclarationError as exc:
        raise AwsError("InvalidEventPatternException", str(exc)) from None


def _check_schedule(bus: Bus, expression: str) -> None:
    try:
        events.check_schedule(bus, expression)
    except DeclarationError as exc:
        raise AwsError("ValidationException", str(exc)) from None


@operation("events", "PutRule")
async def put_rule(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    name: str = params["Name"]
    _check_rule_name(name)
    bus = await _bus(call, params.get("EventBusName"))
    pattern_text: str | None = params.get("EventPattern") or None
    schedule: str | None = params.get("ScheduleExpression") or None
    if pattern_text is None and schedule is None:
        raise AwsError(
            "ValidationException",
            "Parameter(s) EventPattern or ScheduleExpression must be specified.",
        )
    pattern = None if pattern_text is None else _pattern(pattern_text)
    if schedule is not None:
        _check_schedule(bus, schedule)
    state_name = params.get("State") or "ENABLED"
    enabled = state_name in _ENABLED_STATES
    existing = await _find_rule(call, bus, name)
    if existing is None:
        rule = _make_rule(bus, name, pattern, schedule, [], enabled)
        record = _RuleRecord()
        _STATE.of(call.mesh).rules[(bus.name, name)] = record
    else:
        record = _record(call, bus, existing)
        if schedule != record.schedule:
            # A schedule is its own resource: the rule is made again around the new one.
            del bus.rules[name]
            if existing.schedule is not None:
                await call.mesh.remove_resource(existing.schedule.name)
            rule = _make_rule(bus, name, pattern, schedule, list(record.specs.values()), enabled)
        else:
            rule = existing
            rule.pattern = pattern
            rule.enabled = enabled
    record.state = state_name
    record.pattern = pattern_text
    record.schedule = schedule
    record.description = params.get("Description")
    record.role_arn = params.get("RoleArn")
    await _save(call.mesh, bus, name, record)
    return {"RuleArn": rule.arn}


def _make_rule(
    bus: Bus,
    name: str,
    pattern: Pattern | None,
    schedule: str | None,
    targets: list[Target],
    enabled: bool,
) -> Rule:
    try:
        return events.make_rule(bus, name, pattern, schedule, targets, enabled)
    except DeclarationError as exc:
        raise AwsError("ValidationException", str(exc)) from None


@operation("events", "DeleteRule")
async def delete_rule(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    try:
        bus = await _bus(call, params.get("EventBusName"))
    except AwsError:
        return {}  # as EventBridge: deleting what is not there succeeds
    rule = await _find_rule(call, bus, params["Name"])
    if rule is None:
        return {}
    if rule.targets:
        raise AwsError("ValidationException", "Rule can't be deleted since it has targets.")
    del bus.rules[rule.name]
    if rule.schedule is not None:
        await call.mesh.remove_resource(rule.schedule.name)
    _STATE.of(call.mesh).rules.pop((bus.name, rule.name), None)
    await catalog.forget(call.mesh, RULE_KIND, f"{bus.name}/{rule.name}")
    return {}


def _describe(call: AwsCall, bus: Bus, rule: Rule) -> dict[str, Any]:
    record = _record(call, bus, rule)
    answer: dict[str, Any] = {
        "Name": rule.name,
        "Arn": rule.arn,
        "State": record.state,
        "EventBusName": bus.name,
    }
    for key, value in (
        ("EventPattern", record.pattern),
        ("ScheduleExpression", record.schedule),
        ("Description", record.description),
        ("RoleArn", record.role_arn),
    ):
        if value is not None:
            answer[key] = value
    return answer


@operation("events", "DescribeRule")
async def describe_rule(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    bus = await _bus(call, params.get("EventBusName"))
    rule = await _find_rule(call, bus, params["Name"])
    if rule is None:
        raise AwsError("ResourceNotFoundException", f"Rule {params['Name']} does not exist.")
    answer = _describe(call, bus, rule)
    answer["CreatedBy"] = call.account_id
    return answer


@operation("events", "ListRules")
async def list_rules(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    bus = await _bus(call, params.get("EventBusName"))
    prefix = params.get("NamePrefix") or ""
    for key in await catalog.recorded(call.mesh, RULE_KIND):
        bus_name, _, name = key.rpartition("/")
        if bus_name == bus.name and name not in bus.rules:
            await _find_rule(call, bus, name)  # made by another worker
    rules = [bus.rules[name] for name in sorted(bus.rules) if name.startswith(prefix)]
    chunk, token = page(rules, _limit(params), params.get("NextToken"), 100, "ValidationException")
    answer: dict[str, Any] = {"Rules": [_describe(call, bus, rule) for rule in chunk]}
    if token is not None:
        answer["NextToken"] = token
    return answer


# -- targets ---------------------------------------------------------------------------------
def _target_spec(target: Mapping[str, Any]) -> Target:
    """The mesh's Target for an EventBridge target (ValidationException if it has none)."""
    try:
        return events.target_spec(target)
    except DeclarationError as exc:
        raise AwsError("ValidationException", str(exc)) from None


def _set_targets(bus: Bus, rule: Rule, record: _RuleRecord) -> None:
    """Give the rule the record's targets (each resolved now if the bus runs); the rule's
    targets are unchanged if one cannot be resolved."""
    kept = {id(target.spec): target for target in rule.targets}
    targets = [kept.get(id(spec)) or RuleTarget(rule, spec) for spec in record.specs.values()]
    try:
        if bus.context.running:
            for target in targets:
                if target not in rule.targets:
                    target.resolve()
    except EventMeshError as exc:
        raise AwsError("ValidationException", str(exc)) from None
    rule.targets = targets


@operation("events", "PutTargets")
async def put_targets(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    bus = await _bus(call, params.get("EventBusName"))
    rule = await _rule(call, bus, params["Rule"])
    record = _record(call, bus, rule)
    given: list[dict[str, Any]] = params["Targets"]
    specs = dict(record.specs)
    shown = dict(record.targets)
    for target in given:
        if not _TARGET_ID.match(target["Id"]):
            raise AwsError(
                "ValidationException",
                f"Parameter Id is not valid: {target['Id']!r} must be 1-64 letters, digits, "
                "'.', '-' or '_'.",
            )
        specs[target["Id"]] = _target_spec(target)
        shown[target["Id"]] = {key: value for key, value in target.items() if value is not None}
    if len(specs) > MAX_TARGETS:
        raise AwsError(
            "LimitExceededException",
            f"The requested resource exceeds the maximum number allowed ({MAX_TARGETS} "
            "targets per rule).",
        )
    previous = record.specs, record.targets
    record.specs, record.targets = specs, shown
    try:
        _set_targets(bus, rule, record)
    except AwsError:
        record.specs, record.targets = previous
        raise
    await _save(call.mesh, bus, rule.name, record)
    return {"FailedEntryCount": 0, "FailedEntries": []}


@operation("events", "RemoveTargets")
async def remove_targets(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    bus = await _bus(call, params.get("EventBusName"))
    rule = await _rule(call, bus, params["Rule"])
    record = _record(call, bus, rule)
    for target_id in params["Ids"]:
        record.specs.pop(target_id, None)
        record.targets.pop(target_id, None)
    _set_targets(bus, rule, record)
    await _save(call.mesh, bus, rule.name, record)
    return {"FailedEntryCount": 0, "FailedEntries": []}


def _limit(params: Mapping[str, Any]) -> int | None:
    """A list call's Limit, 1 to 100 as EventBridge takes it (0 would page forever)."""
    limit: int | None = params.get("Limit")
    if limit is not None and not 1 <= limit <= 100:
        bound = "greater than or equal to 1" if limit < 1 else "less than or equal to 100"
        raise AwsError(
            "ValidationException",
            f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
            f"constraint: Member must have value {bound}",
        )
    return limit


@operation("events", "ListTargetsByRule")
async def list_targets_by_rule(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    bus = await _bus(call, params.get("EventBusName"))
    rule = await _rule(call, bus, params["Rule"])
    targets = list(_record(call, bus, rule).targets.values())
    chunk, token = page(
        targets, _limit(params), params.get("NextToken"), 100, "ValidationException"
    )
    answer: dict[str, Any] = {"Targets": chunk}
    if token is not None:
        answer["NextToken"] = token
    return answer


# -- patterns and buses ----------------------------------------------------------------------
_EVENT_FIELDS = ("id", "account", "source", "time", "region", "resources", "detail-type")


@operation("events", "TestEventPattern")
async def test_event_pattern(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    pattern = _pattern(params["EventPattern"])
    try:
        event = orjson.loads(params["Event"])
    except orjson.JSONDecodeError:
        raise AwsError("InvalidEventPatternException", "Parameter Event is not valid.") from None
    if not isinstance(event, dict):
        raise AwsError("InvalidEventPatternException", "Parameter Event is not valid.")
    missing = [name for name in _EVENT_FIELDS if name not in event]
    if missing:
        raise AwsError(
            "InvalidEventPatternException",
            f"Parameter Event is not valid: it has no {', '.join(missing)}.",
        )
    return {"Result": pattern.matches(event)}


@operation("events", "CreateEventBus")
async def create_event_bus(call: AwsCall, params: dict[str, Any]) -> Mapping[str, Any]:
    name: str = params["Name"]
    if params.get("EventSourceName"):
        raise AwsError(
            "ValidationException", "Partner event buses (EventSourceName) are not supported."
        )
    if not _BUS_NAME.match(name) or name == "default":
        raise AwsError(
            "ValidationException",
            f"Event bus name {name!r} is not valid: 1-256 letters, digits, '/', '.', '-' or "
            "'_', and not 'default'.",
        )
    existing = call.mesh.context.find_resource(name)
    if existing is not None:
        if isinstance(existing, Bus):
            raise AwsError("ResourceAlreadyExistsException", f"Event bus {name} already exists.")
        raise AwsError(
            "ValidationException", f"{name!r} already names another resource of the mesh."
        )
    try:
        bus = call.mesh.bus(name)
    except (EventMeshError, BackendError) as exc:
        raise AwsError("ValidationException", str(exc)) from None
    _STATE.of(call.mesh).buses.add(name)
    await catalog.record(call.mesh, BUS_KIND, name, {})
    answer: dict[str, Any] = {"EventBusArn": bus.arn}
    if params.get("Description"):
        answer["Description"] = params["Description"]
    return answer


# -- the catalog -----------------------------------------------------------------------------
async def _restore_bus(mesh: Mesh, name: str, settings: Mapping[str, Any]) -> None:
    if not isinstance(mesh.context.find_resource(name), Bus):
        mesh.bus(name)


async def _restore_rule(mesh: Mesh, key: str, settings: Mapping[str, Any]) -> None:
    """Make a recorded rule again, with its targets (the bus first, if it is recorded)."""
    bus_name, _, name = key.rpartition("/")
    found = mesh.context.find_resource(bus_name)
    if found is None and bus_name != "default":
        await catalog.load(mesh, BUS_KIND, bus_name)
        found = mesh.context.find_resource(bus_name)
    bus = found if isinstance(found, Bus) else mesh.bus(bus_name)
    if name in bus.rules:
        return
    record = _RuleRecord(
        state=settings.get("state") or "ENABLED",
        pattern=settings.get("pattern"),
        schedule=settings.get("schedule"),
        description=settings.get("description"),
        role_arn=settings.get("role_arn"),
    )
    for target in settings.get("targets", []):
        record.targets[target["Id"]] = dict(target)
        record.specs[target["Id"]] = _target_spec(target)
    pattern = None if record.pattern is None else _pattern(record.pattern)
    targets = list(record.specs.values())
    _make_rule(bus, name, pattern, record.schedule, targets, record.state in _ENABLED_STATES)
    _STATE.of(mesh).rules[(bus.name, name)] = record


catalog.register_kind(BUS_KIND, _restore_bus)
catalog.register_kind(
    RULE_KIND,
    _restore_rule,
    after=(BUS_KIND, "sqs.queue", "sns.topic", "kinesis.stream"),
)
