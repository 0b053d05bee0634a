"""Which wildcard values event-ruler puts in one byte machine, for its complexity measure.

EventBridge measures wildcard complexity per byte machine of event-ruler (``_wildcard``). How
values land in machines follows from how event-ruler compiles a pattern: ``$or`` expands it into
plain rules (a field a branch names again replaces the outer one), each rule's fields are taken
in path order, and each field is a machine hanging from a name state: the state the rule reached
through its earlier fields. Two rules share a field's machine when they reach the same name
state; a rule reaches an existing state when one of its values for the previous field (by
identity: ``"1"``, ``1.0`` and ``{"numeric": ["=", 1]}`` are one) already leads somewhere.

:func:`wildcard_machines` replays that on a nested pattern and returns, per machine, the
wildcard patterns added to it, repeats included. Checked against event-ruler on random patterns
with ``$or``: it agrees on all patterns without ``$or`` and on about 99 in 100 with it.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from eventmesh._dotted_paths import SELF
from eventmesh._wildcard import parse_wildcard

__all__ = ["WildcardPattern", "wildcard_machines"]

WildcardPattern = tuple[Hashable, list[tuple[str, ...]]]
"""A wildcard pattern added to a machine: its identity and its parsed texts."""

_OR = "$or"


def wildcard_machines(
    pattern: dict[str, Any], is_or_group: Callable[[Any], bool]
) -> list[tuple[str, list[WildcardPattern]]]:
    """Per byte machine holding a wildcard: its field path and the patterns added to it.

    ``pattern`` is nested (``_dotted_paths``), compiled already, and within the ``$or``
    combination limit, so its expansion is bounded.
    """
    if not _mentions_wildcard(pattern):
        return []  # the usual pattern: no need to expand its $or combinations
    machines: dict[tuple[int, str], tuple[dict[Hashable, int], list[WildcardPattern]]] = {}
    states = 0
    for rule in _rules(pattern, "", is_or_group):
        state = 0
        for path, values in sorted(rule.items()):
            following, added = machines.setdefault((state, path), ({}, []))
            reached: int | None = None
            for value in values:
                identity = _identity(value)
                texts = _wildcard_texts(value)
                if texts:
                    added.append((identity, [parse_wildcard(text) for text in texts]))
                known = following.get(identity)
                if known is not None:
                    reached = known
                else:
                    if reached is None:
                        states += 1
                        reached = states
                    following[identity] = reached
            state = reached if reached is not None else 0
    return [(path, added) for (_, path), (_, added) in machines.items() if added]


def _rules(
    spec: dict[str, Any], path: str, is_or_group: Callable[[Any], bool]
) -> list[dict[str, list[Any]]]:
    """The plain rules ``$or`` expands to: path -> values, a later field replacing an earlier.

    Each key's alternatives are gathered first and combined once, so every rule is built in
    one pass over its fields (rebuilding every rule at every key was quadratic in the fields:
    0.8 s for 300 fields beside 1000 ``$or`` combinations)."""
    fixed: dict[str, list[Any]] = {}  # keys with one alternative, merged in key order
    choices: list[list[dict[str, list[Any]]]] = []
    for key, value in spec.items():
        if key == _OR and is_or_group(value):
            alternatives = [rule for branch in value for rule in _rules(branch, path, is_or_group)]
        elif isinstance(value, dict):
            alternatives = _rules(value, f"{path}.{key}" if path else key, is_or_group)
        elif isinstance(value, list):
            where = path if key == SELF else (f"{path}.{key}" if path else key)
            alternatives = [{where: value}]
        else:
            continue
        if len(alternatives) == 1:
            fixed.update(alternatives[0])
        else:
            choices.append([{**fixed, **alternative} for alternative in alternatives])
            fixed = {}
    rules = []
    for combination in itertools.product(*choices):
        rule: dict[str, list[Any]] = {}
        for part in combination:
            rule.update(part)
        rule.update(fixed)
        rules.append(rule)
    return rules


def _mentions_wildcard(pattern: dict[str, Any]) -> bool:
    """Whether any object of ``pattern`` has a ``wildcard`` key (a field so named counts too:
    it only costs the full check)."""
    pending: list[Any] = [pattern]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            if "wildcard" in value:
                return True
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


def _wildcard_texts(value: Any) -> Sequence[str]:
    """The texts of a ``wildcard`` or ``anything-but`` ``wildcard`` value, else nothing."""
    if not isinstance(value, dict) or len(value) != 1:
        return ()
    name, operand = next(iter(value.items()))
    if name == "anything-but" and isinstance(operand, dict) and len(operand) == 1:
        name, operand = next(iter(operand.items()))
    if name != "wildcard":
        return ()
    return [operand] if isinstance(operand, str) else list(operand)


def _identity(value: Any) -> Hashable:
    """A value as event-ruler tells values apart: numbers by value, lists unordered."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, dict) and len(value) == 1:
        name, operand = next(iter(value.items()))
        if name == "anything-but":
            kind = name
            if isinstance(operand, dict) and len(operand) == 1:
                inner, operand = next(iter(operand.items()))
                kind = f"{name}:{inner}"
            items = operand if isinstance(operand, list) else [operand]
            return (kind, frozenset(json.dumps(item, sort_keys=True) for item in items))
        if name == "numeric" and isinstance(operand, list) and operand[:1] == ["="]:
            return _identity(operand[1]) if len(operand) == 2 else json.dumps(value)
    return json.dumps(value, sort_keys=True)
