"""Input checking for the public producer and configuration calls.

One place decides what a bad input is and how its error reads, so a caller gets the same
answer from ``queue.send``, ``topic.publish``, ``stream.put_record``, ``bus.put_events``,
``bucket.put_object`` and ``mesh.invoke``: a :class:`PayloadError` for data that is carried
(payloads, bodies, details, attributes, client contexts) or a :class:`ConfigurationError` for
names and settings, whose message starts with the field as the caller wrote it
(``entries[2].body``, ``payload.items[0].price``, ``attributes['color']``), never a raw
``TypeError``, ``UnicodeEncodeError`` or ``OverflowError`` from deep inside.

JSON is encoded once, by orjson, which refuses non-str keys, lone surrogates, integers past
64 bits and types it cannot serialise (a ``TypeError`` without a path), but writes NaN and
±Infinity as ``null``. The cheapest correct check: look for ``null`` in the encoded bytes (one
C scan with ``bytes.find``, measured faster than ``in`` on short bodies) and only when it is
there walk the value for a non-finite float. The path of any other failure is found by
walking the value after orjson refused it, off the hot path.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import orjson

from eventmesh._errors import ConfigurationError, EventMeshError, PayloadError

__all__ = [
    "check_entries",
    "check_flag",
    "check_finite",
    "check_mapping",
    "check_new_mapping",
    "check_number",
    "check_text",
    "has_non_finite",
    "json_bytes",
    "json_error",
    "settings_conflict",
    "text_bytes",
]

_dumps = orjson.dumps
_NULL = b"null"
_MAX_DEPTH = 254  # orjson's recursion limit
_DEFAULT = object()
_SCALAR = (str, int, type(None))  # nothing inside to look at (bool is an int)


def _key_path(path: str, key: Any) -> str:
    if isinstance(key, str) and key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{key!r}]"


def _surrogate(text: str) -> int | None:
    """The index of the first lone surrogate in ``text``, or None."""
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def _problems(value: Any, path: str, depth: int = 0) -> Iterator[str]:
    """Why ``value`` cannot be JSON, with the path of the first offending part."""
    bad = f"{path}: not JSON-serialisable:"
    if depth > _MAX_DEPTH:
        yield f"{bad} nested more than {_MAX_DEPTH} levels deep"
        return
    if isinstance(value, str):
        index = _surrogate(value)
        if index is not None:
            yield f"{bad} a lone surrogate {value[index]!r} at index {index} is not valid Unicode"
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            yield f"{bad} {value!r} (NaN and Infinity are not JSON numbers)"
        return
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        if not -(2**63) <= value < 2**64:
            yield f"{bad} the integer {value} is outside the 64-bit range"
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = _key_path(path, key)
            if not isinstance(key, str):
                yield f"{where}: not JSON-serialisable: the key {key!r} is not a str"
                return
            index = _surrogate(key)
            if index is not None:
                yield (
                    f"{where}: not JSON-serialisable: the key has a lone surrogate "
                    f"{key[index]!r} at index {index}"
                )
                return
            yield from _problems(item, where, depth + 1)
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _problems(item, f"{path}[{index}]", depth + 1)
        return
    if isinstance(value, enum.Enum):
        yield from _problems(value.value, path, depth + 1)
        return
    fields = _dataclass_fields(value)
    if fields:
        for name, item in fields:
            yield from _problems(item, f"{path}.{name}", depth + 1)
        return
    try:
        _dumps(value)
    except TypeError:
        yield f"{bad} a {type(value).__name__} has no JSON form"


def _non_finite(value: Any) -> bool:
    """Whether ``value`` holds a NaN or ±Infinity: in dicts, lists and tuples, and in the
    other containers orjson writes natively (dataclasses, enum values).

    It builds no path on the way: it runs on every payload whose JSON holds a ``null`` (an
    SNS event's Subject, for one), and :func:`json_error` finds the path when there is one.
    """
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        items: Iterable[Any] = value.values()
    elif isinstance(value, list | tuple):
        items = value
    elif isinstance(value, enum.Enum):
        return _non_finite(value.value)
    else:
        items = [item for _, item in _dataclass_fields(value)]
    for item in items:
        if isinstance(item, _SCALAR):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                return True
        elif _non_finite(item):
            return True
    return False


def _dataclass_fields(value: Any) -> list[tuple[str, Any]]:
    """The fields of a dataclass instance, as orjson writes them; none for anything else."""
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return []
    return [(field.name, getattr(value, field.name)) for field in dataclasses.fields(value)]


def json_error(
    value: Any, field: str, error: type[EventMeshError] = PayloadError, **context: Any
) -> EventMeshError:
    """The error for a value orjson refused (or wrote NaN as null in), naming the part."""
    for problem in _problems(value, field):
        return error(problem, **context)
    return error(f"{field}: not JSON-serialisable", **context)


def check_finite(
    value: Any,
    body: bytes,
    field: str,
    error: type[EventMeshError] = PayloadError,
    **context: Any,
) -> None:
    """Refuse the NaN or ±Infinity orjson wrote as ``null`` in ``body`` (the encoded
    ``value``); a walk happens only when ``null`` appears at all."""
    if body.find(_NULL) >= 0 and _non_finite(value):
        raise json_error(value, field, error, **context)


def has_non_finite(value: Any, body: bytes) -> bool:
    """Whether orjson wrote a NaN or ±Infinity of ``value`` as ``null`` in ``body``."""
    return body.find(_NULL) >= 0 and _non_finite(value)


def json_bytes(value: Any, field: str, error: type[EventMeshError] = PayloadError) -> bytes:
    """``value`` as JSON bytes: no NaN, no ±Infinity, str keys only, valid Unicode."""
    try:
        body = _dumps(value)
    except TypeError:
        raise json_error(value, field, error) from None
    if body.partition(_NULL)[1] and _non_finite(value):  # find(_NULL) >= 0, cheaper
        raise json_error(value, field, error)
    return body


def text_bytes(text: str, field: str, error: type[EventMeshError] = PayloadError) -> bytes:
    """A str as UTF-8; a lone surrogate is refused with its position."""
    try:
        return text.encode()
    except UnicodeEncodeError as exc:
        raise error(
            f"{field}: a lone surrogate {text[exc.start]!r} at index {exc.start} is not valid "
            "Unicode (text must encode as UTF-8)"
        ) from None


def check_text(
    value: Any, field: str, error: type[EventMeshError] = PayloadError, *, what: str = "a str"
) -> str:
    """``value`` if it is a str of valid Unicode."""
    if not isinstance(value, str):
        raise error(f"{field}: must be {what}, got {value!r}")
    text_bytes(value, field, error)
    return value


def check_mapping(
    value: Any, field: str, error: type[EventMeshError] = PayloadError, *, what: str = "values"
) -> Mapping[str, Any]:
    """``value`` if it is a mapping whose keys are str of valid Unicode."""
    if not isinstance(value, Mapping):
        raise error(f"{field}: must be a mapping of names to {what}, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise error(f"{field}: the name {key!r} is not a str")
        text_bytes(key, f"{field}[{key!r}]", error)
    return value


def check_number(
    value: Any,
    field: str,
    low: float,
    high: float,
    *,
    integer: bool = False,
    error: type[EventMeshError] = ConfigurationError,
) -> float:
    """``value`` if it is a finite number (an int if ``integer``) from ``low`` to ``high``."""
    number = not isinstance(value, bool) and isinstance(value, int if integer else int | float)
    if not number or not low <= value <= high:
        what = "an integer" if integer else "a number"
        raise error(f"{field}: must be {what} from {low:g} to {high:g}, got {value!r}")
    try:
        return float(value)
    except OverflowError:  # an int past a float's range, under an infinite ``high``
        return math.inf


def check_flag(value: Any, field: str) -> bool:
    """``value`` if it is a bool (``"no"`` is not False)."""
    if not isinstance(value, bool):
        raise ConfigurationError(f"{field}: must be True or False, got {value!r}")
    return value


def check_entries(
    entries: Any, field: str, low: int, high: int, *, call: str
) -> Sequence[Mapping[str, Any]]:
    """A batch call's entries: a list (or tuple) of ``low``-``high`` mappings.

    A generator or any other iterable is refused rather than consumed: the call would not
    be able to say which entry failed nor repeat itself.
    """
    if isinstance(entries, str | bytes | Mapping) or not isinstance(entries, Sequence):
        raise PayloadError(
            f"{field}: {call} takes a list of {low} to {high} entries, got {type(entries).__name__}"
        )
    if not low <= len(entries) <= high:
        raise PayloadError(f"{field}: {call} takes {low} to {high} entries, got {len(entries)}")
    for index, entry in enumerate(entries):
        check_mapping(entry, f"{field}[{index}]", what="entry fields")
    return entries


def check_new_mapping(existing: Sequence[Any], function: Any, source: str, arn: str) -> None:
    """Refuse a second event source mapping of one function to one queue or stream.

    Lambda answers CreateEventSourceMapping with ResourceConflictException ("The event
    source arn ... and function ... provided mapping already exists. Please update or delete
    the existing mapping"); a second poller of the same source would only compete with the
    first for the same records.
    """
    name = function if isinstance(function, str) else getattr(function, "name", None)
    if not isinstance(name, str):
        raise ConfigurationError(f"function: must be a function or its name, got {function!r}")
    text_bytes(name, "function", ConfigurationError)
    for mapping in existing:
        other = mapping.function
        if (other if isinstance(other, str) else getattr(other, "name", other)) == name:
            raise ConfigurationError(
                f"a mapping of {source} ({arn}) to function {name!r} already exists "
                "(Lambda's ResourceConflictException): one function reads one source through "
                "one mapping; change the settings of the existing mapping instead"
            )


def settings_conflict(kind: str, name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """The message for a resource asked for again with other settings: which ones differ."""
    differ = []
    for key in sorted(set(old) | set(new)):
        if old.get(key, _DEFAULT) != new.get(key, _DEFAULT):
            before = repr(old[key]) if key in old else "the default"
            after = repr(new[key]) if key in new else "the default"
            differ.append(f"{key} (exists: {before}, asked: {after})")
    return (
        f"{kind} {name!r} already exists with other settings: {', '.join(differ)}; ask with "
        "the same settings (or none) to get it, or use another name"
    )
