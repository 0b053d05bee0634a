"""EventBridge field paths: a key with dots and nested keys name the same path.

event-ruler flattens events and patterns into paths joined with ``.``, so ``{"state.status":
"running"}`` and ``{"state": {"status": "running"}}`` are the same field to it, in an event as in
a pattern, in all four combinations. The pattern engine walks nested objects instead, so both
sides are brought to the nested form: a pattern once, when it is loaded
(:func:`nest_pattern_keys`), and an event object lazily, only when one of its keys has a dot
(:func:`has_dotted_key`, then :func:`nest_event_keys` for that level; deeper levels are nested
when the matcher reaches them). The matcher asks only at a level with nested fields whose value
fields matched (see ``patterns._Object``).

When one path is given twice in a pattern, the later value wins, as in event-ruler; a path can
also be a value array and an object at once (``{"a.b": [1], "a": {"b": {"c": [2]}}}`` asks for
both ``a.b`` and ``a.b.c``). In an event, a path given twice holds both values, as an array
would (both can match; ``exists: false`` cannot).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["SELF", "has_dotted_key", "nest_event_keys", "nest_pattern_keys"]

SELF = "."
"""In a nested pattern, the key of a node's own value array, when its path is also an object
(``{"a.b": [1], "a.b.c": [2]}``): no key can be ``.`` once every key is split at its dots."""

_OR = "$or"


def nest_pattern_keys(pattern: dict[str, Any]) -> dict[str, Any]:
    """``pattern`` with every dotted key split into nested objects (``$or`` branches too).

    Expects a validated copy made of JSON types whose depth was bounded by the caller. A path
    that is both a value array and an object keeps both: the array under :data:`SELF`.
    """
    nested: dict[str, Any] = {}
    for key, value in pattern.items():
        segments = key.split(".")
        if segments[-1] == _OR and isinstance(value, list):  # $or branches are patterns too
            value = [
                nest_pattern_keys(branch) if isinstance(branch, dict) else branch
                for branch in value
            ]
        target = nested
        for segment in segments[:-1]:
            inner = target.get(segment)
            if not isinstance(inner, dict):
                inner = {} if inner is None else {SELF: inner}
                target[segment] = inner
            target = inner
        last = segments[-1]
        if isinstance(value, dict):
            _put_object(target, last, nest_pattern_keys(value))
        elif isinstance(target.get(last), dict):
            target[last][SELF] = value  # the later value of a path wins, as in event-ruler
        else:
            target[last] = value
    return nested


def _put_object(target: dict[str, Any], key: str, value: dict[str, Any]) -> None:
    existing = target.get(key)
    if existing is None:
        target[key] = value
        return
    if not isinstance(existing, dict):
        existing = target[key] = {SELF: existing}
    for inner_key, inner in value.items():
        if isinstance(inner, dict) and inner_key != SELF:
            _put_object(existing, inner_key, inner)
        elif isinstance(existing.get(inner_key), dict) and inner_key != SELF:
            existing[inner_key][SELF] = inner
        else:
            existing[inner_key] = inner


def has_dotted_key(obj: Mapping[Any, Any]) -> bool:
    """Whether any key of ``obj`` has a dot (non-string keys are ignored)."""
    try:
        return "." in "".join(obj)
    except TypeError:
        return any(isinstance(key, str) and "." in key for key in obj)


def nest_event_keys(obj: Mapping[Any, Any]) -> dict[Any, Any]:
    """One level of ``obj`` with each dotted key split at its first dot and merged.

    ``{"a": {"b": 1}, "a.c": 2}`` becomes ``{"a": {"b": 1, "c": 2}}``; two objects under one key
    merge, and two other values make an array (``{"a": 1, "a.b": 2}`` gives ``{"a": [1, {"b":
    2}]}``).
    """
    found: dict[Any, list[Any]] = {}  # every value of a key, gathered before any merge
    for key, value in obj.items():
        if isinstance(key, str) and "." in key:
            key, rest = key.split(".", 1)
            value = {rest: value}
        found.setdefault(key, []).append(value)
    return {
        key: values[0] if len(values) == 1 else _combine(values) for key, values in found.items()
    }


class _Values(list[Any]):
    """Several values found at one path (not an array of the event): one of them an object at
    most, the merge of all the objects found there."""


def _combine(values: list[Any]) -> Any:
    """The values found at one path: their objects merge (at every level), the rest line up.

    All at once: merging them one by one would copy the growing object each time, quadratic in
    an event with thousands of dotted keys under one name."""
    values = [part for value in values for part in _parts(value)]
    objects = [value for value in values if isinstance(value, Mapping)]
    if len(objects) > 1:
        objects = [_merge_objects(objects)]
    combined = [value for value in values if not isinstance(value, Mapping)] + objects
    return combined[0] if len(combined) == 1 else _Values(combined)


def _merge_objects(objects: list[Mapping[Any, Any]]) -> dict[Any, Any]:
    """The objects merged key by key, at every level, with a stack rather than recursion (an
    event nested to any depth cannot exhaust Python's recursion limit); only the objects that
    change are copied."""
    merged = dict(objects[0])
    pending = [(merged, other) for other in objects[1:]]
    while pending:
        into, other = pending.pop()
        for key, value in other.items():
            if key not in into:
                into[key] = value
                continue
            values = _parts(into[key]) + _parts(value)
            inner = [item for item in values if isinstance(item, Mapping)]
            if len(inner) > 1:
                target = dict(inner[0])
                pending.extend((target, item) for item in inner[1:])
                inner = [target]
            combined = [item for item in values if not isinstance(item, Mapping)] + inner
            into[key] = combined[0] if len(combined) == 1 else _Values(combined)
    return merged


def _parts(value: Any) -> list[Any]:
    return list(value) if isinstance(value, _Values) else [value]
