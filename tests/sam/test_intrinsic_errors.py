"""Each intrinsic function's malformed arguments, and an error inside an argument, give an
error naming the property where it stands (the full message written out, so a message that
loses its place or its words fails here)."""

from __future__ import annotations

from typing import Any

import pytest

from eventmesh.sam._intrinsics import references

from .resolve_support import failure, resolved

WHERE = "Resources.Probe.Properties.Value"
MISSING = {"Ref": "Nothing"}
MAP_SHAPE = "Fn::FindInMap takes [map, top-level key, second-level key] (and {DefaultValue: value})"
NO_NOTHING = f"{WHERE}: Ref: no parameter or resource named Nothing"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"Ref": ["a"]}, "Ref takes a name, got ['a']"),
        ({"Fn::GetAtt": ["Thing"]}, "Fn::GetAtt takes [resource, attribute]"),
        ({"Fn::GetAtt": [1, "Arn"]}, "Fn::GetAtt takes [resource, attribute]"),
        ({"Fn::GetAtt": "Thing"}, "Fn::GetAtt takes [resource, attribute]"),
        ({"Fn::GetAtt": ["Thing", 5]}, "Fn::GetAtt's attribute must be a string"),
        ({"Fn::Join": ["-"]}, "Fn::Join takes [delimiter, [values]]"),
        ({"Fn::Join": "-"}, "Fn::Join takes [delimiter, [values]]"),
        ({"Fn::Join": [5, ["a"]]}, "Fn::Join's delimiter must be a string"),
        ({"Fn::Join": ["-", "a"]}, "Fn::Join's values must be a list"),
        ({"Fn::Select": [0]}, "Fn::Select takes [index, [values]]"),
        ({"Fn::Select": "0"}, "Fn::Select takes [index, [values]]"),
        ({"Fn::Select": [0, "a"]}, "Fn::Select's values must be a list"),
        ({"Fn::Split": [","]}, "Fn::Split takes [delimiter, string]"),
        ({"Fn::Split": ","}, "Fn::Split takes [delimiter, string]"),
        ({"Fn::Split": ["", "a,b"]}, "Fn::Split's delimiter must be a non-empty string"),
        ({"Fn::Split": [5, "a,b"]}, "Fn::Split's delimiter must be a non-empty string"),
        ({"Fn::Split": [",", ["a"]]}, "Fn::Split's source must be a string, got a list"),
        ({"Fn::If": ["C", 1]}, "Fn::If takes [condition name, if true, if false]"),
        ({"Fn::If": [1, 2, 3]}, "Fn::If takes [condition name, if true, if false]"),
        ({"Fn::If": "C"}, "Fn::If takes [condition name, if true, if false]"),
        ({"Fn::Equals": ["a"]}, "Fn::Equals takes [value, value]"),
        ({"Fn::Equals": "a"}, "Fn::Equals takes [value, value]"),
        (
            {"Fn::FindInMap": ["M", "a"]},
            MAP_SHAPE,
        ),
        (
            {"Fn::FindInMap": "M"},
            MAP_SHAPE,
        ),
        ({"Fn::FindInMap": ["M", "a", "b", 1]}, "Fn::FindInMap's fourth item is {DefaultValue: v}"),
        (
            {"Fn::FindInMap": ["M", "a", "b", {"Default": 1}]},
            "Fn::FindInMap's fourth item is {DefaultValue: v}",
        ),
        ({"Fn::FindInMap": [["M"], "a", "b"]}, "map name must be a string, got a list"),
        ({"Fn::FindInMap": ["M", {"k": 1}, "b"]}, "top-level key must be a string, got a mapping"),
        ({"Fn::FindInMap": ["M", "a", None]}, "second-level key must be a string, got null"),
        ({"Fn::Base64": ["a"]}, "Fn::Base64's value must be a string, got a list"),
        ({"Fn::GetAZs": ["a"]}, "Fn::GetAZs's region must be a string, got a list"),
        ({"Fn::Length": "a"}, "Fn::Length takes a list"),
        ({"Fn::ToJsonString": "a"}, "Fn::ToJsonString takes a mapping or a list"),
        (
            {"Fn::Join": ["-", [{"Ref": "AWS::NoValue"}, {"a": 1}]]},
            "item 0 must be a string, got a mapping",
        ),
        ({"Fn::Join": ["-", ["a", None]]}, "item 1 must be a string, got null"),
        (
            {"Fn::Join": ["-", [{"Ref": "AWS::NoValue"}, [1]]]},
            "item 0 must be a string, got a list",
        ),
    ],
)
def test_malformed_arguments_are_errors_naming_the_property(value: Any, message: str) -> None:
    assert failure(value, Mappings={"M": {"a": {"b": 1}}}) == f"{WHERE}: {message}"


@pytest.mark.parametrize(
    "value",
    [
        {"Fn::GetAtt": ["Thing", MISSING]},
        {"Fn::Join": [MISSING, ["a"]]},
        {"Fn::Select": [MISSING, ["a"]]},
        {"Fn::Split": [MISSING, "a"]},
        {"Fn::Split": [",", MISSING]},
        {"Fn::If": ["Yes", MISSING, "b"]},
        {"Fn::Equals": [MISSING, "a"]},
        {"Fn::FindInMap": [MISSING, "a", "b"]},
        {"Fn::Base64": MISSING},
        {"Fn::GetAZs": MISSING},
        {"Fn::Length": MISSING},
    ],
)
def test_an_error_inside_an_argument_names_the_property(value: Any) -> None:
    conditions = {"Yes": {"Fn::Equals": ["a", "a"]}}
    assert failure(value, Conditions=conditions) == NO_NOTHING


@pytest.mark.parametrize(
    "value",
    [
        {"Fn::Join": ["-", [MISSING]]},
        {"Fn::Select": [0, [MISSING]]},
        {"Fn::ToJsonString": [MISSING]},
    ],
)
def test_an_error_in_a_list_argument_names_the_item(value: Any) -> None:
    assert failure(value) == f"{WHERE}[0]: Ref: no parameter or resource named Nothing"


def test_errors_of_names_inside_functions_name_the_property() -> None:
    assert failure({"Fn::Sub": "${Nothing}"}) == NO_NOTHING
    assert failure({"Fn::Sub": "${Nothing.Arn}"}).startswith(f"{WHERE}: Fn::GetAtt Nothing.Arn")
    assert failure({"Fn::Sub": ["${A}", {"A": MISSING}]}) == (
        f"{WHERE}.A: Ref: no parameter or resource named Nothing"
    )
    value = {"Fn::FindInMap": ["M", "a", "z", {"DefaultValue": MISSING}]}
    assert failure(value, Mappings={"M": {"a": {"b": 1}}}) == (
        f"{WHERE}.DefaultValue: Ref: no parameter or resource named Nothing"
    )


def test_find_in_map_default_value_when_a_level_is_not_a_mapping() -> None:
    value = {"Fn::FindInMap": ["M", "a", "b", {"DefaultValue": "fallback"}]}
    assert resolved(value, Mappings={"M": {"a": "flat"}}) == "fallback"
    message = failure({"Fn::FindInMap": ["M", "a", "b"]}, Mappings={"M": {"a": "flat"}})
    assert message == f"{WHERE}: Mappings.M has no second-level key 'b'"


def test_base64_encodes_the_utf8_bytes() -> None:
    # "é" is C3 A9 in UTF-8: base64 w6k=.
    assert resolved({"Fn::Base64": "é"}) == "w6k="


def test_to_json_string_keeps_non_ascii_characters() -> None:
    assert resolved({"Fn::ToJsonString": {"k": "é"}}) == '{"k":"é"}'


def test_import_value_and_transform_messages() -> None:
    assert failure({"Fn::ImportValue": {"Fn::Sub": "x"}}) == (
        f"{WHERE}: Fn::ImportValue (an export name) reads another stack's export, which cannot "
        "be resolved locally: declare a parameter for the value instead and pass it with "
        "--parameter-overrides"
    )
    assert failure({"Fn::Transform": "Macro"}) == (
        f"{WHERE}: Fn::Transform (None) runs a macro in AWS: not locally"
    )
    assert failure({"Fn::Transform": {"Name": "AWS::Include", "Parameters": "x"}}) == (
        f"{WHERE}: AWS::Include of None cannot be read locally: give the snippet's local file "
        "as its Location"
    )


def test_equals_compares_inside_lists_and_mappings_by_text() -> None:
    conditions = {
        "ListSame": {"Fn::Equals": [[1, True], ["1", "true"]]},
        "ListDiffer": {"Fn::Equals": [[1, 2], ["1", "3"]]},
        "MapSame": {"Fn::Equals": [{"k": 5}, {"k": "5"}]},
        "MapDiffer": {"Fn::Equals": [{"k": 5}, {"k": "6"}]},
    }
    value = [{"Fn::If": [name, "yes", "no"]} for name in conditions]
    assert resolved(value, Conditions=conditions) == ["yes", "no", "yes", "no"]


def test_references_split_names_on_the_first_dot_only() -> None:
    assert list(references({"Fn::GetAtt": "Thing.Endpoint.Address"})) == ["Thing"]
    assert list(references({"Fn::Sub": "${Thing.Endpoint.Address}"})) == ["Thing"]
    assert list(references({"Fn::GetAtt": []})) == []
    assert list(references({"Fn::Sub": ["${A}-${B.Arn}", {"A": {"Ref": "C"}}]})) == ["C", "B"]
    assert list(references({"Fn::Sub": ["${A}"]})) == ["A"]


def test_get_att_long_form_text_splits_on_the_first_dot_only() -> None:
    assert resolved({"Fn::GetAtt": "Thing.Endpoint.Address"}) == "Thing.local"
