"""JSON documents to input values by shape, and output values to JSON documents: shared by
the json and rest-json protocols (blobs as base64, timestamps as epoch seconds unless the
shape says otherwise, members under their ``jsonName`` when they have one)."""

from __future__ import annotations

import math
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

from eventmesh.aws._values import (
    TypeProblem,
    decode_blob,
    encode_blob,
    format_timestamp,
    parse_timestamp,
    timestamp_format,
)

__all__ = ["from_json", "to_json"]

_NUMBERS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _wire_name(name: str, member: Shape) -> str:
    return str(member.serialization.get("name", name))


def from_json(shape: Shape, value: Any, where: str = "") -> Any:
    """``value`` decoded from JSON to what handlers are given for ``shape``; TypeProblem when
    it is not of the shape's type. Members not in the shape are ignored (as AWS does)."""
    if value is None:
        return None
    kind = shape.type_name
    label = where or shape.name
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            raise TypeProblem(f"{label}: expected an object")
        result: dict[str, Any] = {}
        for name, member in shape.members.items():
            item = value.get(_wire_name(name, member))
            if item is not None:
                result[name] = from_json(member, item, f"{label}.{name}" if where else name)
        return result
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            raise TypeProblem(f"{label}: expected a list")
        return [from_json(shape.member, item, f"{label}[{i}]") for i, item in enumerate(value)]
    if isinstance(shape, MapShape):
        if not isinstance(value, dict):
            raise TypeProblem(f"{label}: expected an object")
        return {key: from_json(shape.value, item, f"{label}.{key}") for key, item in value.items()}
    if kind == "string":
        if not isinstance(value, str):
            raise TypeProblem(f"{label}: expected a string")
        return value
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise TypeProblem(f"{label}: expected a whole number")
        return value
    if kind in ("float", "double"):
        if isinstance(value, str) and value in _NUMBERS:
            return _NUMBERS[value]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeProblem(f"{label}: expected a number")
        return float(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise TypeProblem(f"{label}: expected true or false")
        return value
    if kind == "blob":
        return decode_blob(value, label)
    if kind == "timestamp":
        return parse_timestamp(value, label)
    return value  # document


def to_json(shape: Shape, value: Any, timestamps: str = "unixTimestamp") -> Any:
    """``value`` (a handler's output) as a JSON-ready value for ``shape``; members that are
    None or not in the shape are left out."""
    if value is None:
        return None
    if isinstance(shape, StructureShape):
        result: dict[str, Any] = {}
        for name, member in shape.members.items():
            item = value.get(name) if isinstance(value, dict) else None
            if item is not None:
                result[_wire_name(name, member)] = to_json(member, item, timestamps)
        return result
    if isinstance(shape, ListShape):
        return [to_json(shape.member, item, timestamps) for item in value]
    if isinstance(shape, MapShape):
        return {str(key): to_json(shape.value, item, timestamps) for key, item in value.items()}
    kind = shape.type_name
    if kind == "blob":
        return encode_blob(value)
    if kind == "timestamp":
        return format_timestamp(value, timestamp_format(shape, timestamps))
    if kind in ("float", "double") and isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value
