"""AWS's scalar values in both spellings: typed (CloudFormation's ``VisibilityTimeout: 30``,
``FifoQueue: true``, ``RedrivePolicy: {...}``; Lambda's JSON parameters) and text (SQS's and
SNS's attributes: ``"30"``, ``"true"``, a JSON text). CloudFormation takes either spelling in
a template too (``VisibilityTimeout: "30"``), so every declaration reads both.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

__all__ = ["NOT_JSON", "flag", "integer", "json_value", "text_of"]

_INTEGER = re.compile(r"-?0*[0-9]{1,18}")  # bounded: int() refuses over 4300 digits

NOT_JSON: Any = object()
"""What :func:`json_value` returns for a text that is not JSON."""


def integer(value: Any) -> int | None:
    """An integer given as an int (not a bool) or as decimal digits, a minus first for a
    negative one (``"-1"``, Lambda's "no limit", as a Number parameter's ``Ref`` gives it);
    ``None`` for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        digits = value.removeprefix("-")
        number = int(digits.lstrip("0") or "0")
        return -number if value.startswith("-") else number
    return None


def flag(value: Any, *, any_case: bool = False) -> bool | None:
    """A boolean given as ``true``/``false`` or the texts ``"true"``/``"false"`` (in any
    case with ``any_case``: CloudFormation's Boolean, as ``Fn::If`` reads it); ``None`` for
    anything else."""
    if isinstance(value, bool):
        return value
    if any_case and isinstance(value, str):
        value = value.lower()
    if value in ("true", "false"):
        return bool(value == "true")
    return None


def json_value(value: Any) -> Any:
    """A JSON document given as a value (a dict, a list) or as its text; :data:`NOT_JSON`
    for a text that does not parse."""
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return NOT_JSON
    return value


def text_of(value: Any) -> str:
    """A value as AWS's attribute text: booleans ``true``/``false``, numbers in decimal,
    documents as compact JSON, texts as they are."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return orjson.dumps(value).decode()
