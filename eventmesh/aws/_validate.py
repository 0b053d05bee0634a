"""Input checked against the model after parsing: required members present, enum values
among the enum's (where AWS checks them), as AWS's front ends check before the operation runs.

Problems are reported in AWS's (Coral's) words: ``1 validation error detected: Value null at
'queueUrl' failed to satisfy constraint: Member must not be null``; the protocol picks the
error code the service answers with (``ValidationException``, ``ValidationError``,
``MissingParameter``...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

__all__ = ["Problems", "validate"]


@dataclass(slots=True)
class Problems:
    """What is wrong with an input: missing members and values outside enums."""

    missing: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.missing or self.invalid)

    @property
    def messages(self) -> list[str]:
        return [
            *(
                f"Value null at '{path}' failed to satisfy constraint: Member must not be null"
                for path in self.missing
            ),
            *self.invalid,
        ]

    def message(self) -> str:
        found = self.messages
        noun = "error" if len(found) == 1 else "errors"
        return f"{len(found)} validation {noun} detected: " + "; ".join(found)


def _member_path(parent: str, name: str) -> str:
    name = name[:1].lower() + name[1:]
    return f"{parent}.{name}" if parent else name


def validate(shape: Shape | None, value: Any) -> Problems:
    """The problems of ``value`` (parsed input) against ``shape``."""
    problems = Problems()
    if shape is not None:
        _walk(shape, value, "", problems)
    return problems


def _walk(shape: Shape, value: Any, path: str, problems: Problems) -> None:
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            return
        for name in shape.required_members:
            if value.get(name) is None:
                problems.missing.append(_member_path(path, name))
        for name, member in shape.members.items():
            if value.get(name) is not None:
                _walk(member, value[name], _member_path(path, name), problems)
    elif isinstance(shape, ListShape):
        if isinstance(value, list):
            for index, item in enumerate(value, 1):
                if item is not None:
                    _walk(shape.member, item, f"{path}.{index}.member", problems)
    elif isinstance(shape, MapShape):
        if isinstance(value, dict):
            for key, item in value.items():
                if item is not None:
                    _walk(shape.value, item, f"{path}.{key}", problems)
    elif shape.type_name == "string":
        allowed = getattr(shape, "enum", None)
        if allowed and isinstance(value, str) and value not in allowed:
            problems.invalid.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: Member must "
                f"satisfy enum value set: [{', '.join(allowed)}]"
            )
