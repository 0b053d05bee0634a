"""The IAM policy a Lambda authorizer returns, evaluated against one method or route ARN.

A statement applies when one of its actions matches ``execute-api:Invoke`` (IAM's wildcards;
actions are case-insensitive) and one of its resources matches the ARN (``*`` any run of
characters, ``/`` included, ``?`` one character; case-sensitive). As in IAM, a matching Deny
wins over any Allow, and no matching Allow is an implicit deny.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = ["ALLOW", "EXPLICIT_DENY", "IMPLICIT_DENY", "Policy", "PolicyError"]

ALLOW = "allow"
EXPLICIT_DENY = "explicit-deny"
IMPLICIT_DENY = "implicit-deny"
_ACTION = "execute-api:Invoke"


class PolicyError(ValueError):
    """The policy document is not one API Gateway can evaluate."""


@lru_cache(maxsize=1024)
def _pattern(text: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in text
    )
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _strings(statement: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = statement.get(key)
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise PolicyError(f"a statement's {key} must be a string or a list of strings")


@dataclass(frozen=True, slots=True)
class _Statement:
    allow: bool
    actions: tuple[str, ...]
    resources: tuple[str, ...]

    def applies(self, arn: str) -> bool:
        return any(_pattern(a, True).fullmatch(_ACTION) for a in self.actions) and any(
            _pattern(r, False).fullmatch(arn) for r in self.resources
        )


@dataclass(frozen=True, slots=True)
class Policy:
    """A parsed ``policyDocument``."""

    statements: tuple[_Statement, ...]

    @classmethod
    def parse(cls, document: Any) -> Policy:
        if not isinstance(document, Mapping):
            raise PolicyError("policyDocument must be an object")
        raw = document.get("Statement")
        if isinstance(raw, Mapping):
            raw = [raw]
        if not isinstance(raw, list):
            raise PolicyError("policyDocument.Statement must be a list of statements")
        statements = []
        for statement in raw:
            if not isinstance(statement, Mapping):
                raise PolicyError("each statement must be an object")
            effect = statement.get("Effect")
            if effect not in ("Allow", "Deny"):
                raise PolicyError(f"a statement's Effect must be Allow or Deny, not {effect!r}")
            statements.append(
                _Statement(
                    effect == "Allow",
                    _strings(statement, "Action"),
                    _strings(statement, "Resource"),
                )
            )
        return cls(tuple(statements))

    def evaluate(self, arn: str) -> str:
        """:data:`ALLOW`, :data:`EXPLICIT_DENY` or :data:`IMPLICIT_DENY` for ``arn``."""
        applying = [statement for statement in self.statements if statement.applies(arn)]
        if any(not statement.allow for statement in applying):
            return EXPLICIT_DENY
        return ALLOW if applying else IMPLICIT_DENY
