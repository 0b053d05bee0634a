"""The build: dependency order, cycles, malformed resources, strict mode, outputs, warnings."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from eventmesh.sam import TemplateError, build_application

from .resolve_support import RECORDER, TABLE, THING, build


def thing(**properties: Any) -> dict[str, Any]:
    return {"Type": THING, "Properties": properties}


def error(template: dict[str, Any], **options: Any) -> str:
    with pytest.raises(TemplateError) as caught:
        build(template, **options)
    return str(caught.value)


def test_a_resource_is_built_after_what_it_names() -> None:
    template = {
        "Resources": {
            "Last": thing(Uses={"Fn::Join": [",", [{"Fn::GetAtt": ["Middle", "Arn"]}]]}),
            "Middle": thing(Uses={"Fn::Sub": "${First.Name}"}),
            "First": thing(),
        }
    }
    build(template)
    assert RECORDER.order() == ["First", "Middle", "Last"]


def test_references_in_both_branches_of_an_if_order_the_build() -> None:
    template = {
        "Conditions": {"Yes": {"Fn::Equals": ["a", "a"]}},
        "Resources": {
            "User": thing(Uses={"Fn::If": ["Yes", {"Ref": "A"}, {"Ref": "B"}]}),
            "A": thing(),
            "B": thing(),
        },
    }
    build(template)
    assert RECORDER.order() == ["A", "B", "User"]


def test_depends_on_a_name_or_a_list() -> None:
    template = {
        "Resources": {
            "C": {"Type": THING, "DependsOn": ["B", "A"]},
            "B": {"Type": THING, "DependsOn": "A"},
            "A": {"Type": THING},
        }
    }
    build(template)
    assert RECORDER.order() == ["A", "B", "C"]


def test_without_references_the_template_order_is_kept() -> None:
    build({"Resources": {"Z": thing(), "Y": thing(), "X": thing()}})
    assert RECORDER.order() == ["Z", "Y", "X"]


def test_a_cycle_is_an_error_naming_its_path() -> None:
    template = {
        "Resources": {
            "A": thing(Uses={"Ref": "B"}),
            "B": thing(Uses={"Fn::Sub": "${C.Arn}"}),
            "C": {"Type": THING, "DependsOn": "A"},
        }
    }
    assert error(template) == "Resources: circular dependency: A -> B -> C -> A"


def test_a_resource_naming_itself_is_a_cycle() -> None:
    assert error({"Resources": {"A": thing(Me={"Ref": "A"})}}) == (
        "Resources: circular dependency: A -> A"
    )


def test_depends_on_must_name_resources() -> None:
    template = {"Resources": {"A": {"Type": THING, "DependsOn": "Nope"}}}
    assert error(template) == "Resources.A.DependsOn: no resource named Nope"
    template = {"Resources": {"A": {"Type": THING, "DependsOn": {"Ref": "B"}}}}
    assert error(template) == ("Resources.A.DependsOn: must be a resource's name or a list of them")


def test_malformed_resources_are_errors_naming_them() -> None:
    assert error({"Resources": {"A": {"Properties": {}}}}) == (
        "Resources.A: a resource needs a Type"
    )
    assert error({"Resources": {"A": {"Type": ["AWS::SQS::Queue"]}}}) == (
        "Resources.A.Type: must be a string, like AWS::SQS::Queue"
    )
    assert error({"Resources": {"A": {"Type": THING, "Properties": ["x"]}}}) == (
        "Resources.A.Properties: must be a mapping"
    )
    assert error({"Resources": {"A": "AWS::SQS::Queue"}}) == (
        "Resources.A: a resource is a mapping with a Type"
    )
    assert error({"Resources": {"A": {"Type": THING, "Condition": ["x"]}}}) == (
        "Resources.A.Condition: must be a condition's name"
    )


def test_a_template_needs_resources_and_mapping_sections() -> None:
    assert error({}) == "Resources: a template needs at least one resource"
    assert error({"Resources": {}}) == "Resources: a template needs at least one resource"
    assert error({"Resources": {"A": thing()}, "Conditions": ["x"]}) == (
        "Conditions: must be a mapping"
    )
    assert error({"Resources": {"A": thing()}, "Parameters": ["x"]}) == (
        "Parameters: must be a mapping of parameter names to declarations"
    )


def test_unknown_top_level_sections_are_fine() -> None:
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "d",
        "Metadata": {"AWS::CloudFormation::Interface": {}},
        "Rules": {"R": {"Assertions": []}},
        "Something": [1, 2],
        "Resources": {"A": thing()},
    }
    app = build(template)
    assert RECORDER.order() == ["A"]
    assert app.warnings == []


def test_types_without_a_kind_are_placeholders_listed_in_one_warning() -> None:
    template = {
        "Resources": {
            "Table": {"Type": TABLE},
            "Role": {"Type": "AWS::IAM::Role"},
            "Other": {"Type": "Custom::Thing"},
            "A": thing(),
        }
    }
    app = build(template)
    assert app.unsupported == {"Table": TABLE, "Other": "Custom::Thing"}
    assert app.warnings == [
        "not emulated, left out: Table (AWS::DynamoDB::Table), Other (Custom::Thing)"
    ]
    assert sorted(app.resources) == ["A", "Other", "Role", "Table"]
    assert app.resources["Role"].value is None
    assert app.resources["Role"].ref == "Role"


def test_properties_of_resources_without_a_kind_are_not_resolved() -> None:
    # A policy selecting a part of an ARN the mesh only stands in for must not fail the build.
    stream = {"Fn::Select": [3, {"Fn::Split": ["/", {"Fn::GetAtt": ["Table", "StreamArn"]}]}]}
    template = {
        "Resources": {
            "Table": {"Type": TABLE},
            "Policy": {"Type": "AWS::IAM::Policy", "Properties": {"Resource": stream}},
            "Other": {"Type": "Custom::Thing", "Properties": {"X": {"Fn::ImportValue": "y"}}},
        }
    }
    app = build(template)
    assert sorted(app.resources) == ["Other", "Policy", "Table"]


def test_strict_refuses_what_cannot_be_emulated_before_building() -> None:
    template = {"Resources": {"A": thing(), "Table": {"Type": TABLE}}}
    assert error(template, strict=True) == (
        "--strict: the mesh cannot emulate Table (AWS::DynamoDB::Table)"
    )
    assert RECORDER.order() == []


def test_strict_accepts_types_that_mean_nothing_locally() -> None:
    app = build({"Resources": {"A": thing(), "Role": {"Type": "AWS::IAM::Role"}}}, strict=True)
    assert app.warnings == []


def test_a_property_a_kind_ignores_is_a_warning_and_refused_under_strict() -> None:
    template = {"Resources": {"A": thing(Warn="Tags mean nothing locally")}}
    app = build(template)
    assert app.warnings == ["Resources.A (Test::Resolve::Thing): Tags mean nothing locally"]
    assert error(template, strict=True) == (
        "--strict: Resources.A (Test::Resolve::Thing): Tags mean nothing locally"
    )


def test_a_kinds_configuration_error_names_the_resource() -> None:
    template = {"Resources": {"A": thing(Fail="FifoQueue needs a name ending in .fifo")}}
    assert error(template) == (
        "Resources.A (Test::Resolve::Thing): FifoQueue needs a name ending in .fifo"
    )


def test_steps_after_the_build_see_every_resource() -> None:
    build({"Resources": {"A": thing(), "B": thing(Uses={"Ref": "A"})}})
    assert RECORDER.after == [["A", "B"], ["A", "B"]]


def test_outputs_are_resolved() -> None:
    template = {
        "Resources": {"A": thing()},
        "Outputs": {
            "Name": {"Value": {"Ref": "A"}, "Export": {"Name": "x"}},
            "Arn": {"Value": {"Fn::GetAtt": ["A", "Arn"]}, "Description": "d"},
        },
    }
    assert build(template).outputs == {
        "Name": "ref-A",
        "Arn": "arn:aws:test:us-east-1:123456789012:thing/A",
    }


def test_a_malformed_output_is_a_warning() -> None:
    template = {
        "Resources": {"A": thing()},
        "Outputs": {"Bad": "x", "NoValue": {"Description": "d"}},
    }
    app = build(template)
    assert app.outputs == {}
    assert app.warnings == [
        "Outputs.Bad: an output is a mapping with a Value; left out",
        "Outputs.NoValue: an output is a mapping with a Value; left out",
    ]


def test_warnings_are_logged_once_when_asked(caplog: pytest.LogCaptureFixture) -> None:
    app = build({"Resources": {"A": thing(Warn="w"), "Table": {"Type": TABLE}}})
    assert not [r for r in caplog.records if r.name.startswith("eventmesh.sam")]
    with caplog.at_level(logging.WARNING):
        app.log_warnings()
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("eventmesh.sam", "WARNING", "not emulated, left out: Table (AWS::DynamoDB::Table)"),
        ("eventmesh.sam", "WARNING", "Resources.A (Test::Resolve::Thing): w"),
    ]
    own = logging.getLogger("tests.sam.mine")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tests.sam.mine"):
        app.log_warnings(own)
    assert {r.name for r in caplog.records} == {"tests.sam.mine"}


def test_two_resources_of_one_name_are_refused_as_cloudformation_refuses_them() -> None:
    template = {
        "Resources": {
            "First": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "orders"}},
            "Second": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "orders"}},
        }
    }
    with pytest.raises(TemplateError) as raised:
        build_application(template)
    assert str(raised.value) == (
        "Resources.Second (AWS::SQS::Queue): orders already exists: Resources.First has that "
        "name (names are unique per account and region)"
    )
