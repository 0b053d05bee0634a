"""The IAM policy a Lambda authorizer returns, evaluated against one method or route ARN.

A statement applies when one of its actions matches ``execute-api:Invoke`` (IAM's wildcards;
actions are case-insensitive) and one of its resources matches the ARN (``*`` any run of
characters, ``/`` included, ``?`` one character; case-sensitive). As in IAM, a matching Deny
wins over any Allow, and no matching Allow is an implicit deny.

IAM conditions (``Condition``) are not evaluated, and fail closed: an Allow statement with a
condition never allows, a Deny statement with one denies as if it had none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ALLOW", "EXPLICIT_DENY", "IMPLICIT_DENY", "Policy", "PolicyError"]

ALLOW = "allow"
EXPLICIT_DENY = "explicit-deny"
IMPLICIT_DENY = "implicit-deny"
_ACTION = "execute-api:Invoke"


class PolicyError(ValueError):
    """The policy document is not one API Gateway can evaluate."""


def _matches(pattern: str, text: str) -> bool:
    """IAM's wildcard match of the whole ``text``: ``*`` any run of characters (``/``
    included), ``?`` exactly one, everything else literally.

    A greedy scan that backtracks only to the last ``*`` (O(len(pattern) * len(text)) at
    worst): the ARN carries the request's path, so a regular expression with several ``.*``
    could be made to backtrack for minutes by a long path and block the event loop."""
    p = t = 0
    star = -1  # the pattern's index just after the last * seen
    resume = 0  # where in text that * 's run currently ends
    while t < len(text):
        if p < len(pattern) and pattern[p] == "*":
            star, resume = p + 1, t
            p += 1
        elif p < len(pattern) and (pattern[p] == "?" or pattern[p] == text[t]):
            p += 1
            t += 1
        elif star >= 0:
            resume += 1
            p, t = star, resume
        else:
            return False
    return all(char == "*" for char in pattern[p:])


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
    conditional: bool = False

    def applies(self, arn: str) -> bool:
        if self.allow and self.conditional:
            return False  # conditions are not evaluated: an Allow under one never allows
        action = _ACTION.lower()
        return any(_matches(a.lower(), action) for a in self.actions) and any(
            _matches(r, arn) for r in self.resources
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
                    statement.get("Condition") is not None,
                )
            )
        return cls(tuple(statements))

    def evaluate(self, arn: str) -> str:
        """:data:`ALLOW`, :data:`EXPLICIT_DENY` or :data:`IMPLICIT_DENY` for ``arn``."""
        applying = [statement for statement in self.statements if statement.applies(arn)]
        if any(not statement.allow for statement in applying):
            return EXPLICIT_DENY
        return ALLOW if applying else IMPLICIT_DENY
