"""A JWT's claims as API Gateway hands them to the integration: every value a string.

HTTP APIs flatten each claim to text: a string as it is, a number or a boolean as its JSON
text (``"exp": "1787996002"``, ``"email_verified": "true"``), a list as its items' texts
between brackets, separated by spaces (``"cognito:groups": "[admin poweruser]"``), an object
as its JSON text; a claim whose value is null is left out. This is the shape captured from
real HTTP APIs (the sample events of AWS's payload documentation show only strings).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["render_claims", "token_scopes"]


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + " ".join(_text(item) for item in value if item is not None) + "]"
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # an integer past 64 bits: JSON allows it, orjson does not
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def render_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """The claims as ``requestContext.authorizer.jwt.claims`` carries them."""
    return {key: _text(value) for key, value in claims.items() if value is not None}


def token_scopes(claims: Mapping[str, Any]) -> list[str]:
    """The token's scopes: ``scope`` (space-separated, OAuth 2.0), else ``scp`` (a string
    or a list, as Okta and Entra ID write it)."""
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            return value.split()
        if isinstance(value, list):
            return [item for item in value if isinstance(item, str)]
    return []
