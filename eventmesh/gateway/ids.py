"""The ids API Gateway and Lambda give an API, a function URL and a request.

An API's id is 10 lowercase letters and digits, as API Gateway's are; a function URL's id is
32. Both are derived from the name, so an API keeps its id (and its ``execute-api`` host)
from one run to the next. Request ids follow AWS's shapes: a UUID for REST APIs and function
URLs, 16 characters of base64 for an HTTP API's ``requestId`` and a REST API's
``extendedRequestId``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import uuid

__all__ = ["api_id", "short_request_id", "url_id", "uuid_request_id"]

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(seed: str, length: int) -> str:
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    digits = []
    for _ in range(length):
        number, digit = divmod(number, 36)
        digits.append(_ALPHABET[digit])
    return "".join(digits)


def api_id(kind: str, name: str) -> str:
    """The id of the API of that kind (``"rest"``, ``"http"``) and name: 10 of ``[a-z0-9]``."""
    return _base36(f"{kind}:{name}", 10)


def url_id(function: str) -> str:
    """The id of a function URL (``name`` or ``name:alias``): 32 of ``[a-z0-9]``."""
    return _base36(f"url:{function}", 32)


def uuid_request_id() -> str:
    """A REST API's or a function URL's request id."""
    return str(uuid.uuid4())


def short_request_id() -> str:
    """An HTTP API's ``requestId`` (a REST API's ``extendedRequestId``): ``JKJaXmPLvHcESHA=``."""
    return base64.b64encode(os.urandom(11)).decode()[:15] + "="
