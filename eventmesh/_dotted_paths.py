"""EventBridge field paths: a key with dots and nested keys name the same path.

event-ruler flattens events and patterns into paths joined with ``.``, so ``{"state.status":
"running"}`` and ``{"state": {"status": "running"}}`` are the same field to it, in an event as in
a pattern, in all four combinations. The pattern engine walks nested objects instead, so both
sides are brought to the nested form: a pattern once, when it is loaded
(:func:`nest_pattern_keys`), and an event object lazily, only when one of its keys has a dot
(:func:`has_dotted_key`, then :func:`nest_event_keys` for that level; deeper levels are nested
when the matcher reaches them). Events without dotted keys, nearly all of them, pay one scan of
their keys per object level the pattern visits.

When one path is given twice in a pattern, the later value wins, as in event-ruler. In an event,
a path given twice holds both values, as an array would (both can match; ``exists: false``
cannot).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["DottedPathConflict", "has_dotted_key", "nest_event_keys", "nest_pattern_keys"]

_OR = "$or"


class DottedPathConflict(ValueError):
    """A pattern names one path both as a value array and as an object."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def nest_pattern_keys(pattern: dict[str, Any], path: str = "") -> dict[str, Any]:
    """``pattern`` with every dotted key split into nested objects (``$or`` branches too).

    Expects a validated copy made of JSON types whose depth was bounded by the caller.
    """
    nested: dict[str, Any] = {}
    for key, value in pattern.items():
        if key == _OR and isinstance(value, list):
            branches = [
                nest_pattern_keys(branch, f"{path}{_OR}[{index}]")
                if isinstance(branch, dict)
                else branch
                for index, branch in enumerate(value)
            ]
            nested[key] = branches
            continue
        segments = key.split(".")
        target, where = nested, path
        for segment in segments[:-1]:
            where = f"{where}.{segment}" if where else segment
            inner = target.setdefault(segment, {})
            if not isinstance(inner, dict):
                raise DottedPathConflict(where)
            target = inner
        last = segments[-1]
        where = f"{where}.{last}" if where else last
        if isinstance(value, dict):
            value = nest_pattern_keys(value, where)
            existing = target.get(last)
            if existing is None:
                target[last] = value
            elif isinstance(existing, dict):
                _merge_objects(existing, value, where)
            else:
                raise DottedPathConflict(where)
        elif isinstance(target.get(last), dict):
            raise DottedPathConflict(where)
        else:
            target[last] = value  # the later value of a path wins, as in event-ruler
    return nested


def _merge_objects(into: dict[str, Any], other: dict[str, Any], path: str) -> None:
    for key, value in other.items():
        where = f"{path}.{key}"
        existing = into.get(key)
        if isinstance(existing, dict) and isinstance(value, dict):
            _merge_objects(existing, value, where)
        elif key in into and (isinstance(existing, dict) or isinstance(value, dict)):
            raise DottedPathConflict(where)
        else:
            into[key] = value


def has_dotted_key(obj: Mapping[Any, Any]) -> bool:
    """Whether any key of ``obj`` has a dot (non-string keys are ignored)."""
    try:
        return "." in "".join(obj)
    except TypeError:
        return any(isinstance(key, str) and "." in key for key in obj)


def nest_event_keys(obj: Mapping[Any, Any]) -> dict[Any, Any]:
    """One level of ``obj`` with each dotted key split at its first dot and merged.

    ``{"a": {"b": 1}, "a.c": 2}`` becomes ``{"a": {"b": 1, "c": 2}}``; a value met twice under one
    key becomes an array of both (``{"a": 1, "a.b": 2}`` gives ``{"a": [1, {"b": 2}]}``).
    """
    nested: dict[Any, Any] = {}
    for key, value in obj.items():
        if isinstance(key, str) and "." in key:
            key, rest = key.split(".", 1)
            value = {rest: value}
        if key in nested:
            nested[key] = _combine(nested[key], value)
        else:
            nested[key] = value
    return nested


def _combine(old: Any, new: Any) -> Any:
    """Two values found at one path: objects merge (one level), anything else makes an array."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        merged = dict(old)
        for key, value in new.items():
            merged[key] = [*_as_list(merged[key]), *_as_list(value)] if key in merged else value
        return merged
    return [*_as_list(old), *_as_list(new)]


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]
