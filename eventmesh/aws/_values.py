"""Scalar values on the wire and back: timestamps in each of AWS's three formats, blobs in
base64, numbers and booleans written as text (query strings, headers, XML).

AWS's formats (botocore's serialisers write them, so the parsers here read them):
``unixTimestamp`` (epoch seconds, fractional allowed: json bodies), ``iso8601``
(``2026-12-07T00:13:40.123Z``: query, XML, query strings), ``rfc822``
(``Mon, 07 Dec 2026 00:13:40 GMT``: headers).
"""

from __future__ import annotations

import base64
import binascii
import math
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from botocore.model import Shape

__all__ = [
    "TypeProblem",
    "decode_blob",
    "encode_blob",
    "format_timestamp",
    "parse_timestamp",
    "parse_text_scalar",
    "text_of_scalar",
    "timestamp_format",
]


class TypeProblem(ValueError):
    """A value on the wire is not of its shape's type (AWS's ``SerializationException``)."""


def timestamp_format(shape: Shape, default: str) -> str:
    """The shape's own ``timestampFormat`` trait, else the protocol's ``default``."""
    return str(shape.serialization.get("timestampFormat") or default)


def parse_timestamp(value: Any, where: str) -> datetime:
    """Any of the three formats (or epoch seconds as a number) to an aware UTC datetime."""
    if isinstance(value, bool):
        raise TypeProblem(f"{where}: expected a timestamp, got a boolean")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise TypeProblem(f"{where}: {value!r} is not a timestamp")
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise TypeProblem(f"{where}: {value!r} is not a timestamp") from None
    if not isinstance(value, str):
        raise TypeProblem(f"{where}: expected a timestamp, got {type(value).__name__}")
    text = value.strip()
    try:
        return parse_timestamp(float(text), where)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            raise TypeProblem(f"{where}: {value!r} is not a timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # year 1 at +14:00, year 9999 at -10:00
        raise TypeProblem(f"{where}: {value!r} is not a timestamp") from None


def format_timestamp(value: Any, kind: str) -> Any:
    """``value`` (a datetime, or epoch seconds) in format ``kind``: a number for
    ``unixTimestamp``, text for ``iso8601`` and ``rfc822``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = datetime.fromtimestamp(value, UTC)
    if not isinstance(value, datetime):
        raise TypeError(f"a timestamp must be a datetime or epoch seconds, got {value!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    if kind == "unixTimestamp":
        seconds = value.timestamp()
        return int(seconds) if seconds == int(seconds) else round(seconds, 3)
    if kind == "rfc822":
        return format_datetime(value, usegmt=True)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond // 1000:03d}"
    return text + "Z"


def decode_blob(value: Any, where: str) -> bytes:
    """A base64 text to its bytes."""
    if not isinstance(value, str):
        raise TypeProblem(f"{where}: expected base64 text, got {type(value).__name__}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise TypeProblem(f"{where}: not valid base64") from None


def encode_blob(value: Any) -> str:
    """Bytes (or text, as UTF-8) as base64 text."""
    if isinstance(value, str):
        value = value.encode()
    return base64.b64encode(bytes(value)).decode("ascii")


def parse_text_scalar(shape: Shape, text: str, where: str, timestamps: str) -> Any:
    """A scalar written as text (a query parameter, a header, an XML element) to its value;
    ``timestamps``: the protocol's default format for the place it came from."""
    kind = shape.type_name
    if kind == "string":
        return text
    if kind in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            raise TypeProblem(f"{where}: {text!r} is not a whole number") from None
    if kind in ("float", "double"):
        try:
            return float(text)
        except ValueError:
            raise TypeProblem(f"{where}: {text!r} is not a number") from None
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise TypeProblem(f"{where}: {text!r} is not true or false")
        return lowered == "true"
    if kind == "timestamp":
        return parse_timestamp(text, where)
    if kind == "blob":
        return decode_blob(text, where)
    return text


def text_of_scalar(shape: Shape, value: Any, timestamps: str) -> str:
    """A scalar as text for a query string, a header or an XML element."""
    kind = shape.type_name
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        return str(format_timestamp(value, timestamp_format(shape, timestamps)))
    if kind == "blob":
        return encode_blob(value)
    if kind in ("float", "double") and isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
    return str(value)
