"""A handler's result as Lambda's Python runtime marshals it, and as its caller decodes it.

awslambdaric's marshaller (``lambda_runtime_marshaller.py``) encodes a result with simplejson's
``JSONEncoder`` (NaN allowed, ``Decimal`` written as its own digits, non-str keys of the basic
types turned into text) and turns any failure into ``Runtime.MarshalError`` with the message
``Unable to marshal response: <reason>``, e.g. ``Object of type datetime is not JSON
serializable``. What Lambda returns for ``float("nan")`` is the text ``NaN``, which Python's
``json.loads`` (what a boto3 caller uses) reads back as ``nan``; so the caller here gets
``nan``, ``inf`` or ``-inf``, a ``Decimal("1.5")`` arrives as ``1.5`` and ``Decimal("2")`` as
``2``.

The fast path is one orjson call, told to refuse its own extras that Lambda refuses
(datetimes, dataclasses). Only when orjson refused something (a Decimal, a set, a datetime, an
int past 64 bits, a non-str key) or wrote ``null`` where a non-finite float was does the
standard library's encoder, configured as Lambda's, give the answer. The size that the
response limit is checked against is Lambda's: its encoder writes ``", "`` and ``": "``
between items (``{"a": [1, 2]}``, not orjson's ``{"a":[1,2]}``) and, on the python3.12 and
later runtimes, non-ASCII text as UTF-8 rather than ``\\u`` escapes.

Known differences: orjson writes ``uuid.UUID`` and ``enum.Enum`` values natively (Lambda
refuses a UUID and a plain Enum), a named tuple is a list here (simplejson writes an object),
and a ``bytes`` result, which Lambda returns raw, is its UTF-8 text here as bytes nested in a
result are on Lambda.
"""

from __future__ import annotations

import decimal
import json
import math
from typing import Any

import orjson

__all__ = ["MARSHAL_OPTIONS", "MarshalError", "lambda_marshal", "lambda_size"]

_dumps = orjson.dumps
_loads = orjson.loads
MARSHAL_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
"""orjson refuses, as Lambda does, the datetimes and dataclasses it would otherwise write."""


class MarshalError(Exception):
    """The result cannot be marshalled; ``str()`` is Lambda's ``errorMessage``."""


def _lambda_default(value: Any) -> Any:
    """simplejson's ``default`` in Lambda's encoder: a Decimal is its digits; NaN is NaN."""
    if isinstance(value, decimal.Decimal):
        if value.is_nan():
            return math.nan
        return json.loads(str(value))  # the number the caller's json.loads reads
    if isinstance(value, bytes):
        return value.decode()  # simplejson writes bytes as UTF-8 text
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def lambda_marshal(result: Any) -> tuple[Any, int]:
    """Lambda's encoder (simplejson as awslambdaric sets it up), for what orjson cannot do."""
    try:
        text = _lambda_text(result)
    except Exception as exc:  # whatever the encoder raised, as awslambdaric catches it
        raise MarshalError(f"Unable to marshal response: {exc}") from None
    return json.loads(text), _size(text)


def lambda_size(result: Any, compact: int) -> int:
    """The size in bytes of ``result`` as Lambda's runtime writes it, which orjson's
    ``compact`` output undercounts by a byte for each ``,`` and ``:``. Asked only for a
    result whose compact form is over half the limit (the spaces make it at most 1.5 times
    longer). A value only orjson writes (a UUID, an Enum) keeps the compact size."""
    try:
        return _size(_lambda_text(result))
    except Exception:  # a type Lambda's encoder refuses and orjson writes (a known difference)
        return compact


def _lambda_text(result: Any) -> str:
    """As awslambdaric's ``Encoder`` writes it on the python3.12 and later runtimes: the
    default separators (``", "`` and ``": "``) and ``ensure_ascii=False``."""
    return json.dumps(result, default=_lambda_default, allow_nan=True, ensure_ascii=False)


def _size(text: str) -> int:
    # A lone surrogate (which Lambda's encoder lets through) counts as its 3 bytes.
    return len(text.encode("utf-8", "surrogatepass"))
