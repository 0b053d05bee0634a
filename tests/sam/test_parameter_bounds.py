"""Parameters at the edges of their constraints: MinLength/MaxLength and MinValue/MaxValue
include their bounds (CloudFormation: "the minimum/maximum number of characters", "the smallest/
largest numeric value"), malformed constraints name themselves, and Java's escapes in an
AllowedPattern. The messages are written out whole."""

from __future__ import annotations

from typing import Any

import pytest

from eventmesh.sam import TemplateError, parse_overrides
from eventmesh.sam._parameters import redact

from .resolve_support import THING, build, resolved


def value_of(spec: dict[str, Any], override: str | None = None) -> Any:
    parameters = None if override is None else {"P": override}
    return resolved({"Ref": "P"}, Parameters={"P": spec}, parameters=parameters)


def error_of(spec: dict[str, Any], override: str | None = None) -> str:
    parameters = None if override is None else {"P": override}
    with pytest.raises(TemplateError) as caught:
        build(
            {"Parameters": {"P": spec}, "Resources": {"T": {"Type": THING}}}, parameters=parameters
        )
    return str(caught.value)


FAIL = "Parameters.P: {shown} (from {source}) does not satisfy the parameter's constraints: {why}"


def test_lengths_include_their_bounds() -> None:
    spec = {"Type": "String", "MinLength": 2, "MaxLength": "4"}
    assert value_of(spec, "ab") == "ab"
    assert value_of(spec, "abcd") == "abcd"
    assert error_of(spec, "a") == FAIL.format(
        shown="'a'", source="--parameter-overrides", why="at least 2 character(s) (MinLength)"
    )
    assert error_of(spec, "abcde") == FAIL.format(
        shown="'abcde'", source="--parameter-overrides", why="at most 4 character(s) (MaxLength)"
    )


def test_number_bounds_include_their_bounds() -> None:
    spec = {"Type": "Number", "MinValue": 1, "MaxValue": "10", "Default": "1"}
    assert value_of(spec) == 1
    assert value_of(spec, "10") == 10
    assert error_of(spec, "0.5") == FAIL.format(
        shown="'0.5'", source="--parameter-overrides", why="at least 1 (MinValue)"
    )
    assert error_of(spec, "11") == FAIL.format(
        shown="'11'", source="--parameter-overrides", why="at most 10 (MaxValue)"
    )
    allowed = {"Type": "Number", "AllowedValues": [1, "2.0"], "Default": "3"}
    assert error_of(allowed) == FAIL.format(
        shown="'3'", source="Default", why="one of the AllowedValues (1, 2.0)"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"Type": "String", "MinLength": "x"}, "Parameters.P.MinLength: must be a number"),
        ({"Type": "String", "MaxLength": "ten"}, "Parameters.P.MaxLength: must be a number"),
        ({"Type": "Number", "MinValue": "x"}, "Parameters.P.MinValue: must be a number"),
        ({"Type": "Number", "MaxValue": "x"}, "Parameters.P.MaxValue: must be a number"),
        ({"Type": "String", "AllowedValues": "a"}, "Parameters.P.AllowedValues: must be a list"),
        ({"Type": "Number", "AllowedValues": "1"}, "Parameters.P.AllowedValues: must be a list"),
    ],
)
def test_malformed_constraints_name_themselves(spec: dict[str, Any], message: str) -> None:
    default = "5" if spec["Type"] == "Number" else "abc"
    assert error_of({**spec, "Default": default}) == message


@pytest.mark.parametrize(
    ("pattern", "good", "bad"),
    [
        (r"a\.b", "a.b", "axb"),
        (r"\d+\\", "12\\", "12"),
        (r"[\p{Alpha}\d]+", "a1", "a-1"),
        (r"[a\]]+", "a]", "a["),
        (r"\P{Digit}+x", "abx", "a1x"),
        (r"[0-9][\p{Upper}]", "1A", "1a"),
        (r"x\\", "x\\", "x"),
    ],
)
def test_allowed_pattern_escapes(pattern: str, good: str, bad: str) -> None:
    spec = {"Type": "String", "AllowedPattern": pattern}
    assert value_of(spec, good) == good
    assert error_of(spec, bad) == FAIL.format(
        shown=repr(bad),
        source="--parameter-overrides",
        why=f"the whole value must match AllowedPattern {pattern}",
    )


def test_a_negated_class_inside_brackets_is_left_for_re() -> None:
    message = error_of({"Type": "String", "AllowedPattern": r"[\P{Digit}]", "Default": "a"})
    assert message.startswith("Parameters.P.AllowedPattern: not a regular expression (")


def test_an_empty_quoted_override_is_empty() -> None:
    assert parse_overrides(["A=\"\" B=''"]) == {"A": "", "B": ""}
    assert parse_overrides(['A="x"']) == {"A": "x"}


def test_no_echo_values_are_masked_in_their_json_spellings() -> None:
    secret = 'é"\n'
    assert redact('{"v": "é\\"\\n"}', [secret]) == '{"v": "****"}'
    assert redact('{"v": "\\u00e9\\"\\n"}', [secret]) == '{"v": "****"}'
    assert redact("'é\"\\n'", [secret]) == "'****'"
