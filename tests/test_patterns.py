"""Tests of the pattern engine: EventBridge event patterns, SNS filter policies, ESM filters.

Every expected value is written by hand from the AWS rules (reference §3.4, §5.1, §5.2).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from eventmesh import _dotted_paths, patterns
from eventmesh._errors import PatternError
from eventmesh.patterns import FilterPolicy, Pattern, matches_any

# The EC2 state-change event of reference §4.5.
EC2_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "111122223333",
    "time": "2017-12-22T18:43:48Z",
    "region": "us-west-1",
    "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
    "detail": {"instance-id": "i-1234567890abcdef0", "state": "terminated"},
}

# A custom event with numbers, addresses and arrays.
ORDER_EVENT: dict[str, Any] = {
    "source": "shop.orders",
    "detail-type": "Order Placed",
    "detail": {
        "count": 5,
        "total": 301.8,
        "text": "5",
        "paid": True,
        "client-ip": "10.0.0.33",
        "client-ip6": "2001:db8::17",
        "tags": ["gift", "express"],
        "lines": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}],
        "file": "uploads/photos/cat.png",
    },
}


def match(pattern: dict[str, Any] | str, event: dict[str, Any]) -> bool:
    return Pattern(pattern).matches(event)


# --------------------------------------------------------------------------- exact values


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"source": ["aws.ec2"]}, True),
        ({"source": ["aws.s3"]}, False),
        ({"source": ["AWS.EC2"]}, False),  # case-sensitive
        ({"source": ["aws.s3", "aws.ec2"]}, True),  # values are ORed
        ({"source": ["aws.ec2"], "detail": {"state": ["running"]}}, False),  # keys are ANDed
        ({"source": ["aws.ec2"], "detail": {"state": ["running", "terminated"]}}, True),
        ({"detail-type": ["EC2 Instance State-change Notification"]}, True),
        ({"detail": {"instance-id": ["i-1234567890abcdef0"]}}, True),
        ({"detail": {"missing": ["x"]}}, False),  # every pattern field must be present
        ({"nowhere": {"state": ["terminated"]}}, False),
        ({"state": ["terminated"]}, False),  # same nesting as the event
        ({"region": ["us-west-1"], "account": ["111122223333"]}, True),
        ({}, True),  # the empty pattern matches everything
    ],
)
def test_exact_values_on_the_ec2_event(pattern: dict[str, Any], expected: bool) -> None:
    assert match(pattern, EC2_EVENT) is expected


def test_empty_pattern_matches_an_empty_event() -> None:
    assert match({}, {})


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ([300], 300, True),
        ([300], 300.0, True),  # numbers compare by value, as event-ruler canonicalises them
        ([300], "300", False),  # a string is not a number
        ([300.0], 300.0, True),
        ([300.0], 300, True),
        (["300"], 300, False),
        ([True], True, True),
        ([True], 1, False),
        ([True], "true", False),
        ([1], True, False),
        ([False], False, True),
        ([None], None, True),
        ([None], "", False),  # null and "" are distinct
        ([""], "", True),
        ([""], None, False),
    ],
)
def test_exact_scalar_types(pattern: list[Any], value: Any, expected: bool) -> None:
    assert match({"x": pattern}, {"x": value}) is expected


@pytest.mark.parametrize("pattern", [[None], [""], ["a"], [0]])
def test_an_absent_field_matches_no_value(pattern: list[Any]) -> None:
    assert not match({"x": pattern}, {"y": None})


def test_numbers_written_differently_in_json_match_by_value() -> None:
    event = json.loads('{"x": 3.0e2}')
    assert match('{"x": [3.0e2]}', event)
    assert match('{"x": [300]}', event)  # event-ruler canonicalises both to the same number
    assert match('{"x": [300.00]}', event)
    assert not match('{"x": [300.5]}', event)


def test_pattern_from_json_text_and_bytes() -> None:
    text = '{"source": ["aws.ec2"], "detail": {"state": ["terminated"]}}'
    assert match(text, EC2_EVENT)
    assert Pattern(text.encode()).matches(EC2_EVENT)


def test_duplicate_keys_in_json_text_last_one_wins() -> None:
    assert match('{"source": ["aws.s3"], "source": ["aws.ec2"]}', EC2_EVENT)
    assert not match('{"source": ["aws.ec2"], "source": ["aws.s3"]}', EC2_EVENT)


# --------------------------------------------------------------------------- arrays in events


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        (["b", "z"], ["a", "b"], True),  # the intersection is not empty
        (["z"], ["a", "b"], False),
        (["a"], [], False),
        (["c"], [["a"], ["b", ["c"]]], True),  # nested arrays are flattened
        ([5], [1, 5, "x"], True),
    ],
)
def test_event_arrays_match_if_any_element_matches(
    pattern: list[Any], value: Any, expected: bool
) -> None:
    assert match({"x": pattern}, {"x": value}) is expected


def test_resources_array_of_the_ec2_event() -> None:
    arn = "arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"
    assert match({"resources": ["arn:aws:s3:::other", arn]}, EC2_EVENT)
    assert not match({"resources": ["arn:aws:s3:::other"]}, EC2_EVENT)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"detail": {"lines": {"sku": ["B-7"]}}}, True),
        ({"detail": {"lines": {"sku": ["A-1"], "qty": [2]}}}, True),
        # Both fields must come from the same element of the array.
        ({"detail": {"lines": {"sku": ["A-1"], "qty": [1]}}}, False),
        ({"detail": {"lines": {"sku": ["C-3"]}}}, False),
    ],
)
def test_arrays_of_objects_match_element_by_element(
    pattern: dict[str, Any], expected: bool
) -> None:
    assert match(pattern, ORDER_EVENT) is expected


# --------------------------------------------------------------------------- prefix, suffix, case


@pytest.mark.parametrize(
    ("operator", "event", "expected"),
    [
        ({"prefix": "2017-12-22"}, {"x": "2017-12-22T18:43:48Z"}, True),
        ({"prefix": "2018"}, {"x": "2017-12-22T18:43:48Z"}, False),
        ({"prefix": "2017"}, {"x": "2017"}, True),
        ({"prefix": "1"}, {"x": 123}, False),  # strings only
        ({"prefix": "us-"}, {"x": ["eu-west-1", "us-east-1"]}, True),
        ({"prefix": {"equals-ignore-case": "EventB"}}, {"x": "eventbridge"}, True),
        ({"prefix": {"equals-ignore-case": "EventB"}}, {"x": "my-eventbridge"}, False),
        ({"prefix": "EventB"}, {"x": "eventbridge"}, False),
        ({"suffix": ".png"}, {"x": "uploads/cat.png"}, True),
        ({"suffix": ".png"}, {"x": "uploads/cat.PNG"}, False),
        ({"suffix": ".png"}, {"x": "uploads/cat.png.txt"}, False),
        ({"suffix": {"equals-ignore-case": ".png"}}, {"x": "uploads/cat.PNG"}, True),
        ({"suffix": {"equals-ignore-case": ".png"}}, {"x": "uploads/cat.jpg"}, False),
        ({"equals-ignore-case": "AWS.EC2"}, {"x": "aws.ec2"}, True),
        ({"equals-ignore-case": "AWS.EC2"}, {"x": "aws.ec2x"}, False),
        ({"equals-ignore-case": "5"}, {"x": 5}, False),
    ],
)
def test_string_operators(operator: dict[str, Any], event: dict[str, Any], expected: bool) -> None:
    assert match({"x": [operator]}, event) is expected


def test_string_operators_on_the_ec2_event() -> None:
    assert match({"time": [{"prefix": "2017-12-22"}]}, EC2_EVENT)
    assert match({"detail": {"instance-id": [{"suffix": "abcdef0"}]}}, EC2_EVENT)
    assert match({"source": [{"equals-ignore-case": "AWS.EC2"}]}, EC2_EVENT)
    assert not match({"source": [{"equals-ignore-case": "AWS.S3"}]}, EC2_EVENT)


# --------------------------------------------------------------------------- anything-but


@pytest.mark.parametrize(
    ("operand", "value", "expected"),
    [
        ("running", "terminated", True),
        ("terminated", "terminated", False),
        (["stopped", "terminated"], "terminated", False),
        (["pending", "running"], "terminated", True),
        (5, 5, False),
        (5, 6, True),
        ([100, 200], 100, False),
        ([100, 200], 200.0, False),  # anything-but numbers compare numerically
        ([100, 200], 150, True),
        ({"prefix": "term"}, "terminated", False),
        ({"prefix": "run"}, "terminated", True),
        ({"suffix": "ated"}, "terminated", False),
        ({"suffix": "ing"}, "terminated", True),
        ({"equals-ignore-case": "TERMINATED"}, "terminated", False),
        ({"equals-ignore-case": ["RUNNING", "STOPPED"]}, "terminated", True),
        ({"wildcard": "term*d"}, "terminated", False),
        ({"wildcard": "run*"}, "terminated", True),
        ("a", ["a", "b"], True),  # EventBridge arrays: one element outside the list is enough
        ("a", ["a"], False),
    ],
)
def test_anything_but(operand: Any, value: Any, expected: bool) -> None:
    assert match({"x": [{"anything-but": operand}]}, {"x": value}) is expected


def test_anything_but_never_matches_an_absent_field() -> None:
    assert not match({"detail": {"nope": [{"anything-but": "x"}]}}, EC2_EVENT)


@pytest.mark.parametrize(
    ("event", "expected"), [({}, True), ({"x": "a"}, False), ({"x": "b"}, True)]
)
def test_anything_but_combined_with_exists_false(event: dict[str, Any], expected: bool) -> None:
    assert match({"x": [{"anything-but": "a"}, {"exists": False}]}, event) is expected


# --------------------------------------------------------------------------- numeric


@pytest.mark.parametrize(
    ("field", "condition", "expected"),
    [
        ("count", [">", 0], True),
        ("count", [">", 5], False),
        ("count", [">=", 5], True),
        ("count", ["<", 5], False),
        ("count", ["<=", 5], True),
        ("count", ["=", 5], True),
        ("count", ["=", 5.0], True),  # numeric compares values: 5 == 5.0
        ("count", ["=", 4], False),
        ("count", [">", 0, "<=", 5], True),
        ("count", [">", 5, "<", 10], False),
        ("count", ["<", 10, ">", 4], True),  # the bounds may come in either order
        ("total", ["=", 3.018e2], True),
        ("total", [">=", 301.81], False),
        ("text", ["=", 5], False),  # only JSON numbers, not numeric strings
        ("paid", [">", 0], False),  # booleans are not numbers
        ("tags", [">", 0], False),
        ("missing", [">", 0], False),
    ],
)
def test_numeric(field: str, condition: list[Any], expected: bool) -> None:
    assert match({"detail": {field: [{"numeric": condition}]}}, ORDER_EVENT) is expected


def test_numeric_only_matches_values_within_plus_minus_5e9() -> None:
    assert match({"x": [{"numeric": [">", 0]}]}, {"x": 5.0e9})
    assert not match({"x": [{"numeric": [">", 0]}]}, {"x": 5.1e9})


def test_numeric_matches_any_number_of_an_array() -> None:
    assert match({"x": [{"numeric": [">", 10]}]}, {"x": [1, 2, 30]})
    assert not match({"x": [{"numeric": [">", 10]}]}, {"x": [1, 2, 3]})


# --------------------------------------------------------------------------- exists


@pytest.mark.parametrize(
    ("pattern", "event", "expected"),
    [
        ({"detail": {"state": [{"exists": True}]}}, EC2_EVENT, True),
        ({"detail": {"c-count": [{"exists": True}]}}, EC2_EVENT, False),
        ({"detail": {"c-count": [{"exists": False}]}}, EC2_EVENT, True),
        ({"detail": {"state": [{"exists": False}]}}, EC2_EVENT, False),
        ({"detail": {"c-count": [{"exists": False}]}}, {}, True),  # no parent either
        ({"x": [{"exists": True}]}, {"x": None}, True),  # null is a value
        ({"x": [{"exists": True}]}, {"x": ""}, True),
        ({"x": [{"exists": True}]}, {"x": []}, False),  # an empty array has no leaf value
        ({"x": [{"exists": False}]}, {"x": []}, True),
        # Exists only looks at leaves: an object is not a value.
        ({"x": [{"exists": True}]}, {"x": {"c1": 100}}, False),
        ({"x": [{"exists": False}]}, {"x": {"c1": 100}}, True),
    ],
)
def test_exists(pattern: dict[str, Any], event: dict[str, Any], expected: bool) -> None:
    assert match(pattern, event) is expected


# --------------------------------------------------------------------------- cidr


@pytest.mark.parametrize(
    ("network", "value", "expected"),
    [
        ("10.0.0.0/24", "10.0.0.33", True),
        ("10.0.0.0/24", "10.0.0.255", True),
        ("10.0.0.0/24", "10.0.1.1", False),
        ("10.0.0.0/8", "10.200.3.4", True),
        ("10.0.0.0/24", "not an address", False),
        ("10.0.0.0/24", 167772161, False),  # only strings hold addresses
        ("2001:db8::/32", "2001:db8::17", True),
        ("2001:db8::/32", "2001:db9::1", False),
        ("2001:db8::/32", "10.0.0.33", False),
        ("::/0", "10.0.0.33", False),  # an IPv4 address is never in an IPv6 network
        ("0.0.0.0/0", "2001:db8::17", False),
    ],
)
def test_cidr(network: str, value: Any, expected: bool) -> None:
    assert match({"ip": [{"cidr": network}]}, {"ip": value}) is expected


def test_cidr_on_the_order_event() -> None:
    assert match({"detail": {"client-ip": [{"cidr": "10.0.0.0/24"}]}}, ORDER_EVENT)
    assert match({"detail": {"client-ip6": [{"cidr": "2001:db8::/64"}]}}, ORDER_EVENT)


# --------------------------------------------------------------------------- wildcard


@pytest.mark.parametrize(
    ("wildcard", "value", "expected"),
    [
        ("dir/*.png", "dir/cat.png", True),
        ("dir/*.png", "dir/.png", True),  # * matches zero characters
        ("dir/*.png", "dir/a/b.png", True),
        ("dir/*.png", "dir/cat.jpg", False),
        ("dir/*.png", "other/dir/cat.png", False),
        ("DIR/*", "dir/cat.png", False),  # case-sensitive
        ("*/lib/*/*.so", "usr/lib/x/y.so", True),
        ("*/lib/*/*.so", "usr/lib/y.so", False),
        ("a*b*c", "abc", True),
        ("a*b*c", "axxbyyc", True),
        ("a*b*c", "acb", False),
        ("no-star", "no-star", True),
        ("no-star", "no-stars", False),
        ("a\\*b", "a*b", True),  # \* is a literal star
        ("a\\*b", "axb", False),
        ("a\\\\b", "a\\b", True),  # \\ is a literal backslash
        ("a\\**", "a*xyz", True),  # a literal star, then a wildcard
        ("a\\**", "axyz", False),
        ("a\\\\*", "a\\xyz", True),  # a literal backslash, then a wildcard
        ("a\\\\*", "axyz", False),
        ("*", 5, False),  # strings only
    ],
)
def test_wildcard(wildcard: str, value: Any, expected: bool) -> None:
    assert match({"x": [{"wildcard": wildcard}]}, {"x": value}) is expected


def test_wildcard_from_json_text_with_escapes() -> None:
    pattern = Pattern(r'{"x": [{"wildcard": "price\\*2*"}]}')
    assert pattern.matches({"x": "price*2 EUR"})
    assert not pattern.matches({"x": "price 2 EUR"})


# --------------------------------------------------------------------------- $or


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (
            {
                "source": ["aws.ec2"],
                "$or": [{"detail-type": ["nope"]}, {"detail": {"state": ["terminated"]}}],
            },
            True,
        ),
        (
            {"source": ["aws.ec2"], "$or": [{"detail-type": ["nope"]}, {"region": ["eu-west-1"]}]},
            False,
        ),
        ({"source": ["aws.s3"], "$or": [{"region": ["us-west-1"]}, {"account": ["1"]}]}, False),
        (
            {"detail": {"$or": [{"state": ["running"]}, {"instance-id": [{"prefix": "i-"}]}]}},
            True,
        ),
        (
            {
                "$or": [
                    {"region": ["eu-west-1"]},
                    {"region": ["us-west-1"], "$or": [{"account": ["1"]}, {"version": ["0"]}]},
                ]
            },
            True,
        ),
        (
            {
                "$or": [
                    {"region": ["eu-west-1"]},
                    {"region": ["us-west-1"], "$or": [{"account": ["1"]}, {"version": ["9"]}]},
                ]
            },
            False,
        ),
    ],
)
def test_or(pattern: dict[str, Any], expected: bool) -> None:
    assert match(pattern, EC2_EVENT) is expected


def test_or_holding_operator_objects_is_a_field_name() -> None:
    # Objects whose keys are operator names are value matchers, not sub-patterns.
    pattern = Pattern({"$or": [{"prefix": "a"}, {"suffix": "z"}]})
    assert pattern.matches({"$or": "xyz"})
    assert not pattern.matches({"$or": "xyy"})


def test_or_combinations_up_to_1000_are_allowed() -> None:
    def group(size: int) -> dict[str, Any]:
        return {"$or": [{f"k{index}": ["v"]} for index in range(size)]}

    Pattern({"a": group(10), "b": group(10), "c": group(10)})  # 1000
    with pytest.raises(PatternError, match="1100 combinations"):
        Pattern({"a": group(11), "b": group(10), "c": group(10)})


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("pattern", "fragments"),
    [
        ({"source": "aws.ec2"}, ["source:", "array"]),
        ({"detail": {"total": [{"numeric": [">", "100"]}]}}, ["detail.total:", "numeric"]),
        ({"detail": {"total": [{"numeric": [">"]}]}}, ["detail.total:", "numeric expects"]),
        ({"detail": {"total": [{"numeric": "> 5"}]}}, ["detail.total:", "numeric expects"]),
        ({"n": [{"numeric": ["~", 1]}]}, ["n:", '"~"']),
        ({"n": [{"numeric": [">", True]}]}, ["n:", "needs a number"]),
        ({"n": [{"numeric": [">", 6.0e9]}]}, ["n:", "range"]),
        ({"n": [{"numeric": ["<", -5.5e9]}]}, ["n:", "range"]),
        ({"n": [{"numeric": [">", 5, "<", 1]}]}, ["n:", "empty"]),
        ({"n": [{"numeric": [">", 1, ">=", 5]}]}, ["n:", "one of >, >= and one of <, <="]),
        ({"n": [{"numeric": ["=", 1, "<", 5]}]}, ["n:", "one of >, >="]),
        ({"x": [{"prefx": "a"}]}, ["x:", 'unknown operator "prefx"']),
        ({"x": [{"prefix": 1}]}, ["x:", "prefix expects a string"]),
        ({"x": [{"prefix": {"suffix": "a"}}]}, ["x:", "equals-ignore-case"]),
        ({"x": [{"equals-ignore-case": ["a"]}]}, ["x:", "equals-ignore-case expects a string"]),
        ({"x": [{"prefix": "a", "suffix": "b"}]}, ["x:", "exactly one key"]),
        ({"x": [{}]}, ["x:", "exactly one key"]),
        ({"x": [{"exists": "yes"}]}, ["x:", "exists expects true or false"]),
        ({"x": [{"cidr": "10.0.0.0/33"}]}, ["x:", "cidr"]),
        ({"x": [{"cidr": 10}]}, ["x:", "cidr expects a string"]),
        ({"x": [{"wildcard": "a**b"}]}, ["x:", "consecutive"]),
        ({"x": [{"wildcard": "a\\b"}]}, ["x:", "backslash"]),
        ({"x": [{"wildcard": "ab\\"}]}, ["x:", "backslash"]),
        ({"x": [{"wildcard": "**"}]}, ["x:", "consecutive"]),
        ({"x": [{"anything-but": []}]}, ["x:", "anything-but"]),
        ({"x": [{"anything-but": ["a", 1]}]}, ["x:", "anything-but"]),
        ({"x": [{"anything-but": None}]}, ["x:", "anything-but"]),
        ({"x": [{"anything-but": True}]}, ["x:", "anything-but"]),
        ({"x": [{"anything-but": {"numeric": [">", 1]}}]}, ["x:", 'cannot wrap "numeric"']),
        ({"x": [{"anything-but": [1, 7e9]}]}, ["x:", "range"]),
        ({"x": []}, ["x:", "empty array"]),
        ({"x": [["a"]]}, ["x:", "nested"]),
        ({"a": {"b": {}}}, ["a.b:", "empty object"]),
        ({"$or": [{"a": ["x"]}]}, ["$or:", "at least 2"]),
        ({"$or": [{"a": ["x"]}, {"b": "y"}]}, ["$or[1].b:", "array"]),
        ({"$or": [{"a": ["x"]}, {}]}, ["$or[1]:", "empty sub-pattern"]),
        ({"detail": {"order": {"total": [{"numeric": [">"]}]}}}, ["detail.order.total:"]),
        ({"a": [object()]}, ["a:", "not a JSON value"]),
        ({"a": [float("nan")]}, ["a:", "not a JSON value"]),
        ({1: ["x"]}, ["keys must be strings"]),
    ],
)
def test_invalid_patterns_say_what_and_where(pattern: Any, fragments: list[str]) -> None:
    """The message starts with the offending key's dotted path (PatternError's promise), then
    says what is wrong."""
    with pytest.raises(PatternError) as caught:
        Pattern(pattern)
    message = str(caught.value)
    where, *what = fragments
    if where.endswith(":"):
        assert message.startswith(f"{where} "), message
    else:
        what = fragments
    for fragment in what:
        assert fragment in message


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        # then the JSON decoder's own words
        ('{"source": ', "event pattern is not valid JSON: "),
        ('{"x": [NaN]}', "event pattern is not valid JSON: NaN is not valid JSON"),
        ('["aws.ec2"]', "event pattern must be a JSON object, got list"),
        ("42", "event pattern must be a JSON object, got int"),
    ],
)
def test_invalid_pattern_text(source: str, fragment: str) -> None:
    with pytest.raises(PatternError) as caught:
        Pattern(source)
    assert str(caught.value).startswith(fragment)
    if not fragment.endswith(": "):
        assert str(caught.value) == fragment


def test_pattern_errors_are_value_errors() -> None:
    with pytest.raises(ValueError) as caught:
        Pattern({"source": "aws.ec2"})
    assert str(caught.value) == (
        'source: the value must be an array of allowed values, got "aws.ec2"'
    )


# --------------------------------------------------------------------------- wildcard complexity

# Complexities computed by aws/event-ruler's MachineComplexityEvaluator for one field holding the
# value; EventBridge refuses a field above 10 ("Rule is too complex").
TOO_COMPLEX = (
    "Rule is too complex - try using fewer wildcard characters or fewer repeating character "
    "sequences after a wildcard character"
)


@pytest.mark.parametrize(
    "wildcard",
    [
        "*a*a*a*a*b",  # complexity 9
        "*a*b*c*d*e*f*g*h*i",  # 10: nine stars, but no repeated character after them
        "*aaaaaaaaa",  # 10
        "*aaaaaaaaab",  # 10
        "\\*\\*\\*\\*\\*\\*\\*\\*\\*\\*\\*\\*",  # 1: escaped stars are literal
    ],
)
def test_wildcards_event_ruler_judges_simple_enough_are_accepted(wildcard: str) -> None:
    Pattern({"x": [{"wildcard": wildcard}]})


@pytest.mark.parametrize(
    "pattern",
    [
        {"x": [{"wildcard": "*a*a*a*a*a*b"}]},  # 11: the issue's rule
        {"x": [{"wildcard": "a*a*a*a*a*a*a*a*a*b"}]},  # 17
        {"x": [{"wildcard": "*aaaaaaaaaa"}]},  # 11
        {"x": [{"wildcard": "*é*é*é*é*é*b"}]},  # 11: counted on UTF-8 bytes
        {"x": [{"anything-but": {"wildcard": "*a*a*a*a*a*b"}}]},  # 11
        # One field's values add up: 9 for three ARN wildcards, 12 for four.
        {"id": [{"wildcard": f"*:stack/{name}/*"} for name in ("Api", "Data", "Web", "Jobs")]},
        # $or branches on one field share event-ruler's machine: 7 and 5 alone, 12 together.
        {"$or": [{"x": [{"wildcard": "*a*a*a*b"}]}, {"x": [{"wildcard": "*a*a*c"}]}]},
    ],
)
def test_wildcards_event_ruler_judges_too_complex_are_refused(pattern: dict[str, Any]) -> None:
    with pytest.raises(PatternError) as caught:
        Pattern(pattern)
    assert TOO_COMPLEX in str(caught.value)
    assert str(caught.value).startswith(("x:", "id:"))


def test_an_anything_but_wildcard_list_is_one_pattern() -> None:
    # event-ruler: one pattern with four texts sharing "ab*" is 9; four patterns are 12.
    texts = ["ab*c*d", "ab*c*e", "ab*c*f", "ab*c*g"]
    Pattern({"x": [{"anything-but": {"wildcard": texts}}]})
    with pytest.raises(PatternError, match="Rule is too complex"):
        Pattern({"x": [{"wildcard": text} for text in texts]})


def test_a_long_wildcard_within_the_limit_is_accepted() -> None:
    # 4003 characters, 12 KB of UTF-8, complexity 7: validation explores it in full.
    segment = "".join(chr(0x4E00 + index) for index in range(2000))
    pattern = Pattern({"x": [{"wildcard": f"*{segment}*{segment}*"}]})
    assert pattern.matches({"x": f"<{segment}>{segment}."})
    assert not pattern.matches({"x": segment})


def test_validating_a_wildcard_list_whose_state_sets_stay_large_is_bounded() -> None:
    # 320 wildcards "*xy" in one anything-but list: each of event-ruler's state sets holds all
    # 320 star states, though at most 9 identities (within the limit). Exploring them took
    # 11.5 s for this 2,000-character pattern; the work is now bounded, and past the bound the
    # pattern is refused (the benchmark shows the time).
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'()+,-./:;<=>?"
    texts = [
        f"*{first}{letters[(index + step) % len(letters)]}"
        for index, first in enumerate(letters[:80], start=1)
        for step in range(4)
    ]
    with pytest.raises(PatternError, match=r"^x: Rule is too complex"):
        Pattern({"x": [{"anything-but": {"wildcard": texts}}]})
    Pattern({"x": [{"anything-but": {"wildcard": texts[:160]}}]})  # 40 x 4: accepted


def test_machines_holding_the_same_wildcards_are_measured_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Three $or fields before x give x 8 machines in event-ruler, all holding one list: each
    # was measured again (9 such fields and a costly list took a minute for 1.5 KB).
    measured: list[int] = []
    measure = patterns.wildcard_complexity

    def counted(machine: Any, limit: int) -> int:
        measured.append(limit)
        return measure(machine, limit)

    monkeypatch.setattr(patterns, "wildcard_complexity", counted)
    pattern: dict[str, Any] = {
        f"k{index}": {"$or": [{"v": ["1"]}, {"v": ["2"]}]} for index in range(3)
    }
    pattern["x"] = [{"anything-but": {"wildcard": ["*ab", "*cd"]}}]
    Pattern(pattern)
    assert measured == [10]
    pattern["y"] = [{"wildcard": "*a*a*a*a*a*b"}]  # another field: measured, and refused
    with pytest.raises(PatternError, match=r"^y: Rule is too complex"):
        Pattern(pattern)


def test_or_branches_apart_on_an_earlier_field_have_machines_of_their_own() -> None:
    # event-ruler: "b" is taken first; b = "1" and b = "2" lead to different machines for x
    # (7 and 5), while two branches with b = "1" share one (12).
    apart = [
        {"b": ["1"], "x": [{"wildcard": "*a*a*a*b"}]},
        {"b": ["2"], "x": [{"wildcard": "*a*a*c"}]},
    ]
    Pattern({"$or": apart})
    together = [apart[0], {"b": ["1"], "x": [{"wildcard": "*a*a*c"}]}]
    with pytest.raises(PatternError, match=r"^x: Rule is too complex"):
        Pattern({"$or": together})


@pytest.mark.parametrize(
    "pattern",
    [
        {"x": [{"wildcard": "*aaaaaa"}, {"wildcard": "*aaaaaa"}]},  # 7 alone, 13 twice
        {
            "y": ["1"],
            "$or": [{"x": [{"wildcard": "*aaaaaa"}]}, {"z": ["2"], "x": [{"wildcard": "*aaaaaa"}]}],
        },
    ],
)
def test_a_wildcard_added_twice_to_one_machine_counts_twice(pattern: dict[str, Any]) -> None:
    Pattern({"x": [{"wildcard": "*aaaaaa"}]})
    with pytest.raises(PatternError, match="Rule is too complex"):
        Pattern(pattern)


def test_wildcard_complexity_is_per_field() -> None:
    # 5 on x and 5 on y: each field is its own machine.
    Pattern({"x": [{"wildcard": "*a*a*b"}], "y": [{"wildcard": "*a*a*c"}]})
    Pattern({"id": [{"wildcard": f"*:stack/{name}/*"} for name in ("Api", "Data", "Web")]})


def test_wildcard_matching_runs_no_regular_expression(monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a regular expression was compiled")

    monkeypatch.setattr(re, "compile", refuse)
    pattern = Pattern({"x": [{"wildcard": "*a*a*a*a*b"}, {"anything-but": {"wildcard": "x*"}}]})
    assert not pattern.matches({"x": "x" + "a" * 10_000})
    assert pattern.matches({"x": "a" * 10_000 + "b"})


@pytest.mark.parametrize(
    ("wildcard", "value", "expected"),
    [
        ("*a*a*a*a*b", "a" * 200, False),  # the issue's slow case, now one pass
        ("*a*a*a*a*b", "a" * 200 + "b", True),
        ("ab*ba", "aba", False),  # prefix and suffix may not overlap
        ("ab*ba", "abba", True),
        ("*\\**", "a*b", True),  # a literal star in the middle
        ("*\\**", "ab", False),
        ("a*b*a", "aba", True),
        ("a*b*a", "abab", False),
        ("", "", True),
        ("", "a", False),
    ],
)
def test_wildcard_segments_in_order(wildcard: str, value: str, expected: bool) -> None:
    assert match({"x": [{"wildcard": wildcard}]}, {"x": value}) is expected


# --------------------------------------------------------------------------- dotted paths


@pytest.mark.parametrize(
    "pattern",
    [{"state": {"status": ["running"]}}, {"state.status": ["running"]}],
)
@pytest.mark.parametrize(
    "event",
    [{"state": {"status": "running"}}, {"state.status": "running"}],
)
def test_dotted_keys_and_nested_keys_are_one_path(
    pattern: dict[str, Any], event: dict[str, Any]
) -> None:
    assert match(pattern, event)
    assert not match(pattern, {"state": {"status": "stopped"}})
    assert not match(pattern, {"state.status": "stopped"})


@pytest.mark.parametrize(
    ("pattern", "event", "expected"),
    [
        # A level can be split anywhere: a.b.c in three spellings each side.
        ({"a.b.c": [1]}, {"a": {"b.c": 1}}, True),
        ({"a": {"b.c": [1]}}, {"a.b": {"c": 1}}, True),
        ({"a.b": {"c": [1]}}, {"a.b.c": 1}, True),
        # Dotted and nested keys of one event object combine.
        ({"a": {"b": [1], "c": [2]}}, {"a": {"b": 1}, "a.c": 2}, True),
        ({"a": {"b": [1], "c": [3]}}, {"a": {"b": 1}, "a.c": 2}, False),
        # A path given twice in the event holds both values.
        ({"a": {"b": [1]}}, {"a": {"b": 2}, "a.b": 1}, True),
        ({"a": {"b": [{"exists": False}]}}, {"a": {"b": 2}, "a.b": 1}, False),
        ({"a.b": [{"exists": False}]}, {"a.c": 1}, True),
        ({"a.b": [{"exists": True}]}, {"a": {"c": 1}, "a.b": None}, True),
        # A path given twice in the pattern: the later value wins, as in event-ruler.
        ({"a.b": [1], "a": {"b": [2]}}, {"a": {"b": 1}}, False),
        ({"a.b": [1], "a": {"b": [2]}}, {"a": {"b": 2}}, True),
        # Inside $or branches and arrays of objects too.
        ({"$or": [{"a.b": [1]}, {"c": [2]}]}, {"a": {"b": 1}}, True),
        ({"a": {"b": [1]}}, {"a": [{"x": 0}, {"b.z": 1}, {"b": 1}]}, True),
        ({"a": {"b": {"c": [1]}}}, {"a": [{"b.c": 1}]}, True),
        ({"a.b": [5]}, {"a.b": {"x": 1}, "a": {"b": 5, "b.y": 2}}, True),
    ],
)
def test_dotted_paths(pattern: dict[str, Any], event: dict[str, Any], expected: bool) -> None:
    assert match(pattern, event) is expected


def test_dotted_event_keys_and_non_string_keys() -> None:
    assert match({"a.b": [1]}, {"a": {"b": 1}, 3: "x", None: 4})  # type: ignore[dict-item]
    assert match({"a.b": [1]}, {"a.b": 1, 3: "x"})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"a": {"b": 1}, "a.b.c": 2}, True),
        ({"a": {"b": 1, "b.c": 2}}, True),
        ({"a": {"b": 1}}, False),
        ({"a": {"b": {"c": 2}}}, False),
    ],
)
def test_a_path_can_be_a_value_and_an_object(event: dict[str, Any], expected: bool) -> None:
    # event-ruler: the pattern asks for a.b = 1 and a.b.c = 2, which only dotted keys can give.
    assert match({"a.b": [1], "a": {"b": {"c": [2]}}}, event) is expected
    assert match({"a.b": [1], "a.b.c": [2]}, event) is expected


@pytest.mark.parametrize(
    "event",
    [
        {"a.b": {"x": 1}, "a": {"b": {"y": 2}}},
        {"a.b": {"x": 1}, "a": {"b": 5, "b.y": 2}},  # objects found at one path merge
    ],
)
def test_objects_met_at_one_path_merge(event: dict[str, Any]) -> None:
    assert match({"a": {"b": {"x": [1], "y": [2]}}}, event)


def test_thousands_of_dotted_keys_under_one_name_merge_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Merging them one by one copied the growing object each time: quadratic, 0.65 s for one
    # matches() on a 290 KB event of 20,000 "a.k<i>" keys. All are gathered, then merged once.
    merges: list[int] = []
    merge = _dotted_paths._merge_objects

    def counted(objects: list[Any]) -> Any:
        merges.append(len(objects))
        return merge(objects)

    monkeypatch.setattr(_dotted_paths, "_merge_objects", counted)
    event = {f"a.k{index}": index for index in range(1000)}
    assert match({"a": {"k999": [999]}}, event)
    assert merges == [1000]


def test_a_dotted_key_at_every_level_nests_each_level_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each level was matched as it is, then again nested: 2**depth walks (2.3 s for 20 levels
    # and a 400-byte event). Now each level is nested once, whatever the depth.
    nestings: list[int] = []
    nest = patterns.nest_event_keys

    def counted(obj: Any) -> Any:
        nestings.append(len(obj))
        return nest(obj)

    monkeypatch.setattr(patterns, "nest_event_keys", counted)
    pattern: dict[str, Any] = {"x": ["1"]}
    event: dict[str, Any] = {"x": "2", "b.c": 1}
    for _ in range(16):
        pattern, event = {"a": pattern}, {"a": event, "b.c": 1}
    assert not Pattern(pattern).matches(event)
    assert nestings == [2] * 16


def test_sns_filter_policies_keep_dotted_names_as_names() -> None:
    attributes = {"store.name": {"Type": "String", "Value": "x"}}
    assert FilterPolicy({"store.name": ["x"]}).matches(attributes)


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ([300], 300.0, True),
        ([300], 3e2, True),
        ([0], -0.0, True),
        ([1e20], 100_000_000_000_000_000_000, True),  # exact in a double: one number
        ([2**53 + 1], float(2**53), False),  # beyond a double: compared exactly
        ([{"anything-but": [1]}], 10**400, True),  # no overflow converting a huge int
        ([{"anything-but": [300.0]}], 300, False),
        ([{"numeric": [">", 0]}], 10**400, False),  # outside EventBridge's numeric range
    ],
)
def test_exact_numbers_compare_by_value(pattern: list[Any], value: Any, expected: bool) -> None:
    assert match({"x": pattern}, {"x": value}) is expected


def test_sns_body_numbers_never_overflow() -> None:
    policy = FilterPolicy({"x": [300, {"anything-but": [1]}]}, scope="MessageBody")
    assert policy.matches({"x": 10**400})
    assert not FilterPolicy({"x": [300]}, scope="MessageBody").matches({"x": 10**400})


# --------------------------------------------------------------------------- malformed patterns


@pytest.mark.parametrize(
    ("pattern", "fragments"),
    [
        ({"x": [{"anything-but": {"prefix": ""}}]}, ["x:", "anything-but prefix cannot be empty"]),
        ({"x": [{"anything-but": {"suffix": ""}}]}, ["x:", "anything-but suffix cannot be empty"]),
        ({"d": {"x": [{"numeric": [[">"], 5]}]}}, ["d.x:", "unknown comparison"]),
        ({"x": [{"numeric": [{">": 1}, 5]}]}, ["x:", "unknown comparison"]),
        ({"x": [{"numeric": [5, ">"]}]}, ["x:", "unknown comparison"]),
        ({"x": [{"numeric": [">", "5"]}]}, ["x:", "needs a number"]),
        ({"x": [{"numeric": [">", True]}]}, ["x:", "needs a number"]),
        ({"x": [{"numeric": [">", [5]]}]}, ["x:", "needs a number"]),
        ({"$or": ["a", "b"]}, ["$or:", "$or expects an array of at least 2 sub-patterns"]),
        ({"$or": "a"}, ["$or:", "$or expects"]),
        ({"$or": []}, ["$or:", "$or expects"]),
        ({"$or": [["a"], {"x": ["a"]}]}, ["$or:", "$or expects"]),
        ({"d": {"$or": [{"x": ["a"]}, 3]}}, ["d.$or:", "$or expects"]),
    ],
)
def test_malformed_operators_are_pattern_errors(pattern: Any, fragments: list[str]) -> None:
    with pytest.raises(PatternError) as caught:
        Pattern(pattern)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_anything_but_prefix_and_suffix_that_are_not_empty_still_work() -> None:
    assert match({"x": [{"anything-but": {"prefix": "a"}}]}, {"x": "ba"})
    assert match({"x": [{"prefix": ""}]}, {"x": "anything"})  # plain prefix "" matches all


def nested_pattern(levels: int) -> dict[str, Any]:
    """A pattern of ``levels`` levels of JSON nesting: objects around one value array."""
    pattern: dict[str, Any] = {"x": ["v"]}
    for _ in range(levels - 2):
        pattern = {"x": pattern}
    return pattern


def nested_event(levels: int) -> dict[str, Any]:
    event: dict[str, Any] = {"x": "v"}
    for _ in range(levels - 1):
        event = {"x": event}
    return event


def test_patterns_nested_up_to_100_levels_work() -> None:
    assert Pattern(nested_pattern(100)).matches(nested_event(99))
    assert not Pattern(nested_pattern(100)).matches(nested_event(98))


@pytest.mark.parametrize("levels", [101, 5_000])
def test_patterns_nested_deeper_are_pattern_errors(levels: int) -> None:
    with pytest.raises(PatternError, match="nested more than 100 levels deep"):
        Pattern(nested_pattern(levels))
    with pytest.raises(PatternError, match="nested more than 100 levels deep"):
        FilterPolicy(nested_pattern(levels), scope="MessageBody")


def test_deep_pattern_errors_name_the_path() -> None:
    with pytest.raises(PatternError) as caught:
        Pattern(nested_pattern(101))
    assert str(caught.value).startswith("x" + ".x" * 99 + ": ")


@pytest.mark.parametrize("segments", [101, 2_000])
def test_each_dot_of_a_key_counts_as_a_level(segments: int) -> None:
    # "a.a" is {"a": {"a": ...}}: a 2,000-segment key raised RecursionError.
    key = ".".join(["a"] * segments)
    with pytest.raises(PatternError, match="nested more than 100 levels deep"):
        Pattern({key: ["1"]})
    with pytest.raises(PatternError, match="nested more than 100 levels deep"):
        Pattern({"$or": [{"b": ["1"]}, {"c": {key: ["1"]}}]})
    assert Pattern({".".join(["a"] * 100): ["1"]}).matches({"a": "x", key[:199]: "1"})
    assert FilterPolicy({key: ["1"]}, scope="MessageBody").matches({key: "1"})  # a plain name


def test_an_event_pattern_over_4096_characters_is_refused() -> None:
    # EventBridge's maximum (2048 by default, 4096 by quota increase; Lambda event filters
    # 4096). It also bounds what validating wildcards can cost: without it, ever longer
    # patterns took ever longer to check.
    Pattern({"x": ["a" * 4086]})  # {"x":["..."]}: 4096 characters
    with pytest.raises(PatternError) as caught:
        Pattern({"x": ["a" * 4087]})
    assert (
        str(caught.value)
        == "event pattern is 4097 characters of JSON; the limit is 4096 characters"
    )
    FilterPolicy({"x": ["a" * 10_000]})  # SNS: 256 KB


def test_pattern_text_nested_past_the_json_parser_is_a_pattern_error() -> None:
    text = '{"x": ' * 100_000 + '["v"]' + "}" * 100_000
    with pytest.raises(PatternError, match="nested"):
        Pattern(text)
    with pytest.raises(PatternError, match="nested"):
        FilterPolicy(text, scope="MessageBody")


def test_a_pattern_containing_itself_is_a_pattern_error() -> None:
    pattern: dict[str, Any] = {"x": ["v"]}
    pattern["y"] = pattern
    with pytest.raises(PatternError, match="nested more than 100 levels deep"):
        Pattern(pattern)


def test_deeply_nested_events_match_without_recursion_errors() -> None:
    deep_array: Any = ["v"]
    for _ in range(100_000):
        deep_array = [deep_array]
    assert match({"x": ["v"]}, {"x": deep_array})
    assert match({"x": {"y": ["v"]}}, {"x": [deep_array, {"y": "v"}]})
    assert not match({"x": ["w"]}, {"x": deep_array})
    assert match({"x": ["v"]}, nested_event(100_000) | {"x": "v"})
    assert not match(nested_pattern(100), nested_event(100_000))


def test_deeply_nested_sns_bodies_do_not_match_rather_than_raise() -> None:
    policy = FilterPolicy({"x": ["v"]}, scope="MessageBody")
    assert not policy.matches('{"x": ' * 100_000 + '"v"' + "}" * 100_000)
    attributes = {"x": {"Type": "String.Array", "Value": "[" * 100_000 + "]" * 100_000}}
    assert not FilterPolicy({"x": ["v"]}).matches(attributes)


# --------------------------------------------------------------------------- Pattern object


def test_source_and_repr() -> None:
    pattern = Pattern('{"source": ["aws.ec2"]}')
    assert pattern.source == {"source": ["aws.ec2"]}
    assert repr(pattern) == 'Pattern({"source": ["aws.ec2"]})'


def test_pattern_is_independent_of_later_changes_to_its_input() -> None:
    spec: dict[str, Any] = {"source": ["aws.ec2"]}
    pattern = Pattern(spec)
    spec["source"].append("aws.s3")
    spec["region"] = ["nowhere"]
    assert pattern.source == {"source": ["aws.ec2"]}
    assert pattern.matches(EC2_EVENT)
    assert not pattern.matches({**EC2_EVENT, "source": "aws.s3"})


def test_a_complex_pattern_on_the_order_event() -> None:
    pattern = Pattern(
        {
            "source": [{"prefix": "shop."}],
            "detail": {
                "count": [{"numeric": [">", 0, "<=", 5]}],
                "total": [{"anything-but": [100, 200, 300]}],
                "client-ip": [{"cidr": "10.0.0.0/8"}],
                "tags": ["express"],
                "file": [{"wildcard": "uploads/*.png"}],
                "coupon": [{"exists": False}],
            },
        }
    )
    assert pattern.matches(ORDER_EVENT)
    assert not pattern.matches({**ORDER_EVENT, "detail": {**ORDER_EVENT["detail"], "count": 6}})


# --------------------------------------------------------------------------- ESM filters


def test_matches_any_ors_the_filters_and_passes_everything_without_filters() -> None:
    record = {"partitionKey": "1", "data": {"Location": "Los Angeles"}}
    esm_filter = Pattern('{ "partitionKey": ["1"], "data": { "Location": ["Los Angeles"] } }')
    other = Pattern({"partitionKey": ["2"]})
    assert matches_any([], record)
    assert matches_any([esm_filter], record)
    assert matches_any([other, esm_filter], record)
    assert not matches_any([other], record)
    assert not matches_any([esm_filter], {"partitionKey": "1", "data": {"Location": "Boston"}})


# --------------------------------------------------------------------------- SNS: attributes

ATTRIBUTES: dict[str, Any] = {
    "customer_interests": {"Type": "String.Array", "Value": '["rugby", "football"]'},
    "store": {"Type": "String", "Value": "example_corp"},
    "price_usd": {"Type": "Number", "Value": "210.75"},
    "encrypted": {"Type": "Binary", "Value": "AAEC"},
    "source_ip": {"Type": "String", "Value": "192.168.1.20"},
}


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({"store": ["example_corp"]}, True),
        ({"store": ["other_corp"]}, False),
        ({"store": ["EXAMPLE_CORP"]}, False),
        ({"store": [{"prefix": "example"}]}, True),
        ({"store": [{"suffix": "_corp"}]}, True),
        ({"store": [{"suffix": "_inc"}]}, False),
        ({"store": [{"equals-ignore-case": "EXAMPLE_CORP"}]}, True),
        ({"store": [{"anything-but": ["other_corp"]}]}, True),
        ({"store": [{"anything-but": {"prefix": "example"}}]}, False),
        ({"customer_interests": ["rugby"]}, True),  # each array element on its own
        ({"customer_interests": ["football", "tennis"]}, True),
        ({"customer_interests": ["tennis"]}, False),
        ({"customer_interests": [{"prefix": "foot"}]}, True),
        # anything-but on String.Array: none of the elements may be listed.
        ({"customer_interests": [{"anything-but": ["rugby"]}]}, False),
        ({"customer_interests": [{"anything-but": ["tennis"]}]}, True),
        ({"price_usd": [{"numeric": [">=", 100]}]}, True),
        ({"price_usd": [{"numeric": [">", 100, "<=", 200]}]}, False),
        ({"price_usd": [{"numeric": ["=", 210.75]}]}, True),
        ({"price_usd": [210.75]}, True),  # exact numbers compare as numbers
        ({"price_usd": ["210.75"]}, False),  # a string does not match a Number attribute
        ({"price_usd": [{"prefix": "210"}]}, False),
        ({"price_usd": [{"anything-but": [100, 210.75]}]}, False),
        ({"price_usd": [{"anything-but": [100, 200]}]}, True),
        ({"source_ip": [{"cidr": "192.168.1.0/24"}]}, True),
        ({"source_ip": [{"cidr": "10.0.0.0/8"}]}, False),
        ({"store": [{"exists": True}]}, True),
        ({"coupon": [{"exists": False}]}, True),
        ({"store": [{"exists": False}]}, False),
        # Binary attributes are ignored.
        ({"encrypted": ["AAEC"]}, False),
        ({"encrypted": [{"exists": True}]}, False),
        ({"encrypted": [{"exists": False}]}, True),
        ({"store": ["example_corp"], "price_usd": [{"numeric": ["<", 100]}]}, False),
        ({"store": ["other"], "$or": [{"price_usd": [210.75]}, {"coupon": ["x"]}]}, False),
        (
            {
                "store": ["example_corp"],
                "$or": [{"price_usd": [1]}, {"customer_interests": ["rugby"]}],
            },
            True,
        ),
    ],
)
def test_attribute_policy(policy: dict[str, Any], expected: bool) -> None:
    assert FilterPolicy(policy).matches(ATTRIBUTES) is expected


def test_attributes_in_sqs_shape() -> None:
    attributes = {
        "store": {"DataType": "String", "StringValue": "example_corp"},
        "price_usd": {"DataType": "Number", "StringValue": "3.0e2"},
        "count": {"dataType": "Number.int", "stringValue": "7"},
    }
    assert FilterPolicy({"store": ["example_corp"]}).matches(attributes)
    assert FilterPolicy({"price_usd": [300]}).matches(attributes)
    assert FilterPolicy({"price_usd": [{"numeric": ["=", 300]}]}).matches(attributes)
    assert FilterPolicy({"count": [{"numeric": [">", 6]}]}).matches(attributes)


def test_string_array_elements_keep_their_json_types() -> None:
    attributes = {"sizes": {"Type": "String.Array", "Value": '[1, 2, "three"]'}}
    assert FilterPolicy({"sizes": [{"numeric": [">", 1]}]}).matches(attributes)
    assert FilterPolicy({"sizes": ["three"]}).matches(attributes)
    assert not FilterPolicy({"sizes": ["1"]}).matches(attributes)


def test_exists_false_needs_at_least_one_attribute() -> None:
    policy = FilterPolicy({"store": [{"exists": False}]})
    assert not policy.matches({})
    assert not policy.matches({"blob": {"Type": "Binary", "Value": "AAEC"}})
    assert policy.matches({"other": {"Type": "String", "Value": "x"}})


def test_exists_true_needs_a_non_empty_value() -> None:
    policy = FilterPolicy({"store": [{"exists": True}]})
    assert not policy.matches({"store": {"Type": "String", "Value": ""}})
    assert not policy.matches({"store": {"Type": "String.Array", "Value": "[]"}})
    assert policy.matches({"store": {"Type": "String", "Value": "x"}})


def test_empty_policy_accepts_every_message() -> None:
    assert FilterPolicy({}).matches({})
    assert FilterPolicy({}, scope="MessageBody").matches("not json")


def test_nested_keys_are_refused_in_attribute_scope() -> None:
    with pytest.raises(PatternError, match="order: nested keys are not allowed"):
        FilterPolicy({"order": {"total": [1]}})


# --------------------------------------------------------------------------- SNS: message body

BODY: dict[str, Any] = {
    "store": "example_corp",
    "order": {"total": 300, "items": [{"sku": "A-1"}, {"sku": "B-7"}], "rush": False},
    "tags": ["gift", "express"],
}


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({"store": ["example_corp"]}, True),
        ({"order": {"total": [300.0]}}, True),  # SNS compares exact numbers by value
        ({"order": {"total": [{"numeric": [">", 299.5]}]}}, True),
        ({"order": {"total": [{"numeric": ["<", 299.5]}]}}, False),
        ({"order": {"items": {"sku": ["B-7"]}}}, True),
        ({"order": {"items": {"sku": ["C-3"]}}}, False),
        ({"order": {"rush": [False]}}, True),
        ({"order": {"coupon": [{"exists": False}]}}, True),
        ({"order": {"total": [{"exists": True}]}}, True),
        ({"tags": ["express"]}, True),
        ({"tags": [{"anything-but": ["gift"]}]}, False),
        ({"missing": {"total": [300]}}, False),
    ],
)
def test_body_policy(policy: dict[str, Any], expected: bool) -> None:
    assert FilterPolicy(policy, scope="MessageBody").matches(BODY) is expected


def test_body_given_as_json_text() -> None:
    policy = FilterPolicy({"order": {"total": [300]}}, scope="MessageBody")
    assert policy.matches(json.dumps(BODY))
    assert policy.matches(json.dumps(BODY).encode())


@pytest.mark.parametrize("body", ["hello", "[1, 2]", "300", '"text"', "{broken"])
def test_body_that_is_not_a_json_object_does_not_match(body: str) -> None:
    policy = FilterPolicy({"store": [{"exists": False}]}, scope="MessageBody")
    assert not policy.matches(body)


def test_filter_policy_source_scope_and_repr() -> None:
    policy = FilterPolicy('{"store": ["a"]}', scope="MessageBody")
    assert policy.source == {"store": ["a"]}
    assert policy.scope == "MessageBody"
    assert repr(policy) == 'FilterPolicy({"store": ["a"]}, scope=\'MessageBody\')'
    assert FilterPolicy({"a": ["b"]}).scope == "MessageAttributes"


# --------------------------------------------------------------------------- SNS: limits


def keys(count: int) -> dict[str, Any]:
    return {f"key{index}": ["v"] for index in range(count)}


def values(count: int) -> list[str]:
    return [f"v{index}" for index in range(count)]


def test_at_most_five_keys() -> None:
    FilterPolicy(keys(5))
    with pytest.raises(PatternError, match="6 keys; the limit is 5"):
        FilterPolicy(keys(6))
    with pytest.raises(PatternError, match="6 keys"):
        FilterPolicy(keys(6), scope="MessageBody")


def test_only_top_level_keys_count_in_nested_body_policies() -> None:
    policy = {
        "state": ["SUCCESS"],
        "severity": [{"exists": True}],
        "message": [{"exists": True}],
        "finding": {
            "standard_control": [{"exists": True}],
            "region": [{"exists": True}],
            "account": [{"exists": True}],
        },
    }
    FilterPolicy(policy, scope="MessageBody")  # 4 top-level keys
    with pytest.raises(PatternError, match="6 keys"):
        FilterPolicy({**policy, "a": ["x"], "b": ["y"]}, scope="MessageBody")


def test_keys_count_per_or_alternative() -> None:
    FilterPolicy({**keys(3), "$or": [{"a": ["x"], "b": ["y"]}, {"c": ["z"]}]})  # 3 + 2
    with pytest.raises(PatternError, match="6 keys"):
        FilterPolicy({**keys(4), "$or": [{"a": ["x"], "b": ["y"]}, {"c": ["z"]}]})


def test_at_most_150_value_combinations() -> None:
    FilterPolicy({"a": values(6), "b": values(5), "c": values(5)})  # 6 x 5 x 5 = 150
    with pytest.raises(PatternError, match="180 value combinations; the limit is 150"):
        FilterPolicy({"a": values(6), "b": values(5), "c": values(6)})


def test_combinations_multiply_nested_keys_and_add_or_branches() -> None:
    with pytest.raises(PatternError, match="160 value combinations"):
        FilterPolicy({"a": values(10), "b": {"c": values(16)}}, scope="MessageBody")
    FilterPolicy({"a": values(2), "$or": [{"b": values(10)}, {"c": values(5)}]})  # 2 x 15
    with pytest.raises(PatternError, match="160 value combinations"):
        FilterPolicy({"a": values(10), "$or": [{"b": values(10)}, {"c": values(6)}]})


@pytest.mark.parametrize(
    ("policy", "fragment"),
    [
        (
            {"n": [{"numeric": [">", 1_000_000_001]}]},
            "n: number 1000000001 is outside the allowed range -1e+09..1e+09",
        ),
        (
            {"n": [{"numeric": ["<", -1.5e9]}]},
            "n: number -1500000000.0 is outside the allowed range -1e+09..1e+09",
        ),
        ({"n": [2.0e9]}, "n: number 2000000000.0 is outside the allowed range -1e+09..1e+09"),
        (
            {"n": [{"anything-but": [5, 3.1e9]}]},
            "n: number 3100000000.0 is outside the allowed range -1e+09..1e+09",
        ),
        (
            {"n": [{"numeric": [">", 1.000001]}]},
            "n: number 1.000001 has more than 5 digits after the point",
        ),
        ({"n": [0.123456]}, "n: number 0.123456 has more than 5 digits after the point"),
    ],
)
def test_sns_numeric_limits(policy: dict[str, Any], fragment: str) -> None:
    with pytest.raises(PatternError) as caught:
        FilterPolicy(policy)
    assert str(caught.value) == fragment


def test_sns_numbers_within_limits_are_accepted() -> None:
    FilterPolicy({"n": [{"numeric": [">=", -1.0e9, "<=", 1.0e9]}]})
    FilterPolicy({"n": [{"numeric": ["=", 1.00001]}]})
    FilterPolicy({"n": [0.12345]})


@pytest.mark.parametrize(
    ("policy", "fragment"),
    [
        (
            {"x": [{"wildcard": "a*"}]},
            'x: unsupported operator "wildcard" in a filter policy with scope MessageAttributes '
            "(use: anything-but, cidr, equals-ignore-case, exists, numeric, prefix, suffix)",
        ),
        (
            {"x": [{"anything-but": {"suffix": "a"}}]},
            'x: anything-but cannot wrap "suffix" in a filter policy with scope '
            "MessageAttributes (prefix)",
        ),
        (
            {"x": [{"nope": "a"}]},
            'x: unknown operator "nope" in a filter policy with scope MessageAttributes '
            "(use: anything-but, cidr, equals-ignore-case, exists, numeric, prefix, suffix)",
        ),
        ({"x": "a"}, 'x: the value must be an array of allowed values, got "a"'),
    ],
)
def test_invalid_sns_policies(policy: dict[str, Any], fragment: str) -> None:
    with pytest.raises(PatternError) as caught:
        FilterPolicy(policy)
    assert str(caught.value) == fragment


def test_unknown_scope_is_refused() -> None:
    with pytest.raises(PatternError) as caught:
        FilterPolicy({"a": ["b"]}, scope="Body")
    assert str(caught.value) == (
        'filter policy scope must be "MessageAttributes" or "MessageBody", got \'Body\''
    )


# ------------------------------------------------------------------- rules pinned by mutants


def test_exists_false_in_an_or_branch_matches_an_absent_field() -> None:
    """EventBridge: ``"exists": false`` matches a field the event lacks, in an ``$or`` branch as
    at the top (EB-OPS, "Exists matching" and "$or matching"); an absent field is not null."""
    pattern = {"$or": [{"a": [{"exists": False}]}, {"b": ["x"]}]}
    assert match(pattern, {"c": 1})
    assert not match(pattern, {"a": None})  # present, even if null
    assert not match({"$or": [{"a": [None]}, {"b": ["x"]}]}, {"c": 1})  # null is not absent


def test_anything_but_prefix_is_case_sensitive() -> None:
    """EventBridge: string matching is case-sensitive unless ``equals-ignore-case`` is asked
    for (EB-OPS); ``{"anything-but": {"prefix": "us-"}}`` keeps "US-east-1" (reference §5.2)."""
    assert match({"region": [{"anything-but": {"prefix": "us-"}}]}, {"region": "US-east-1"})
    assert not match({"region": [{"anything-but": {"prefix": "us-"}}]}, {"region": "us-east-1"})
    assert match({"f": [{"anything-but": {"suffix": ".png"}}]}, {"f": "a.PNG"})
    assert not match({"f": [{"anything-but": {"suffix": ".png"}}]}, {"f": "a.png"})


def test_numeric_range_includes_minus_5e9() -> None:
    """EventBridge numeric matching works for values from -5.0e9 to +5.0e9 inclusive (EB-OPS,
    reference §5.2 limits): both ends match."""
    assert match({"x": [{"numeric": ["<", 0]}]}, {"x": -5.0e9})
    assert not match({"x": [{"numeric": ["<", 0]}]}, {"x": -5.1e9})


def test_sns_numeric_range_includes_minus_1e9() -> None:
    """SNS numeric matching covers -1e9 to 1e9 (reference §5.1 constraints), both ends."""
    policy = FilterPolicy({"n": [{"numeric": ["<", 0]}]}, scope="MessageBody")
    assert policy.matches({"n": -1.0e9})
    assert policy.matches({"n": -1_000_000_000})


def test_sns_policy_of_exactly_256_kb_is_accepted() -> None:
    """SNS: a filter policy may be up to 256 KB (reference §5.1: "policy ≤ 256 KB")."""
    FilterPolicy({"a": ["x" * (262_144 - 11)]})  # '{"a": ["' + text + '"]}' is 262,144 bytes
    with pytest.raises(PatternError, match=r"^filter policy is 262145 bytes; the limit is 256 KB$"):
        FilterPolicy({"a": ["x" * (262_144 - 10)]})


@pytest.mark.parametrize("value", ["3.015e2", "3.015e+2", "30150e-2", "3.015E+2"])
def test_sns_number_attributes_in_exponent_notation_compare_by_value(value: str) -> None:
    """SNS compares Number attributes by value: ``["=", 301.5]`` matches 301.5 and 3.015e2
    (SNS numeric-value-matching, reference §5.1); an exponent may carry a sign."""
    policy = FilterPolicy({"price": [{"numeric": ["=", 301.5]}]})
    assert policy.matches({"price": {"Type": "Number", "Value": value}})


def test_message_attributes_that_are_not_a_mapping_match_nothing() -> None:
    """SNS message attributes are a map of name to attribute; anything else carries no
    attribute, and with no attributes no policy matches (reference §5.1)."""
    policy = FilterPolicy({"color": [{"exists": False}]})
    assert not policy.matches("color=red")
    assert not policy.matches(b"{}")


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (
            {"suffix": {"bogus": "x"}},
            'd.f: suffix accepts a string or {"equals-ignore-case": string}',
        ),
        (
            {"suffix": {"a": 1, "b": 2}},
            'd.f: suffix must have exactly one key, got {"a": 1, "b": 2}',
        ),
        (
            {"suffix": {"equals-ignore-case": 5}},
            "d.f: suffix equals-ignore-case expects a string, got 5",
        ),
        ({"suffix": 5}, "d.f: suffix expects a string, got 5"),
        ({"wildcard": 5}, "d.f: wildcard expects a string, got 5"),
        ({"wildcard": "a**b"}, 'd.f: wildcard "a**b": consecutive * characters are not allowed'),
        (
            {"numeric": [">"]},
            'd.f: numeric expects [op, number] or [">", number, "<=", number], got [">"]',
        ),
        ({"numeric": [">", "1"]}, 'd.f: numeric: ">" needs a number, got "1"'),
        ({"numeric": [">", 5, "<", 5]}, "d.f: numeric range is empty: 5 is not below 5"),
        (
            {"numeric": ["<", 5, "<", 6]},
            "d.f: a numeric range needs one of >, >= and one of <, <=",
        ),
        ({"exists": "yes"}, 'd.f: exists expects true or false, got "yes"'),
        (
            {"anything-but": [True]},
            "d.f: anything-but expects a string, a number, a non-empty list of only strings or "
            "only numbers, or an operator object, got [true]",
        ),
    ],
)
def test_operator_errors_name_the_path_the_operator_and_the_value(
    pattern: dict[str, Any], message: str
) -> None:
    """A refused pattern is a PatternError naming the key's dotted path, the operator and the
    offending value (EventBridge refuses these with InvalidEventPatternException, EB-OPS)."""
    with pytest.raises(PatternError) as caught:
        Pattern({"d": {"f": [pattern]}})
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ({"d": {"$or": [{"a": ["x"]}]}}, "d.$or: $or needs at least 2 sub-patterns"),
        (
            {"d": {"$or": [{"a": ["x"]}, {}]}},
            "d.$or[1]: an empty sub-pattern is not allowed in $or",
        ),
        ({"d": {"f": [float("nan")]}}, "d.f: nan is not a JSON value"),
        ({"d": {"f": [{1, 2}]}}, "d.f: set is not a JSON value"),
    ],
)
def test_structure_errors_name_the_path(pattern: dict[str, Any], message: str) -> None:
    """EventBridge: ``$or`` needs at least two non-empty sub-patterns, and a pattern is JSON."""
    with pytest.raises(PatternError) as caught:
        Pattern(pattern)
    assert str(caught.value) == message


def test_a_filter_policy_that_is_not_json_says_so() -> None:
    with pytest.raises(PatternError, match=r"^filter policy is not valid JSON: "):
        FilterPolicy("[")
