"""Conditions: evaluated once from the parameters, naming each other; a resource whose
Condition is false is left out, and so is what refers to it outside an Fn::If."""

from __future__ import annotations

from typing import Any

import pytest

from eventmesh.sam import TemplateError

from .resolve_support import RECORDER, TABLE, THING, build, failure, resolved

PARAMETERS = {
    "Env": {"Type": "String", "Default": "dev"},
    "Size": {"Type": "Number", "Default": "5"},
}


def conditions(**bodies: Any) -> dict[str, Any]:
    return {"Parameters": PARAMETERS, "Conditions": bodies}


def equals(name: str, value: Any) -> dict[str, Any]:
    return {"Fn::Equals": [{"Ref": name}, value]}


def truth(body: Any, **others: Any) -> bool:
    value = resolved({"Fn::If": ["Probe", True, False]}, **conditions(Probe=body, **others))
    assert isinstance(value, bool)
    return value


def test_equals() -> None:
    assert truth(equals("Env", "dev")) is True
    assert truth(equals("Env", "prod")) is False


def test_equals_compares_numbers_with_their_text() -> None:
    assert truth(equals("Size", 5)) is True
    assert truth(equals("Size", "5")) is True
    assert truth({"Fn::Equals": [True, "true"]}) is True


def test_not_and_or() -> None:
    dev, prod = equals("Env", "dev"), equals("Env", "prod")
    assert truth({"Fn::Not": [prod]}) is True
    assert truth({"Fn::And": [dev, {"Fn::Not": [prod]}]}) is True
    assert truth({"Fn::And": [dev, prod]}) is False
    assert truth({"Fn::Or": [prod, dev]}) is True
    assert truth({"Fn::Or": [prod, prod, prod]}) is False


def test_conditions_name_each_other() -> None:
    assert truth({"Fn::Not": [{"Condition": "IsProd"}]}, IsProd=equals("Env", "prod")) is True
    body = {"Fn::And": [{"Condition": "IsDev"}, {"Condition": "Small"}]}
    assert truth(body, IsDev=equals("Env", "dev"), Small=equals("Size", 5)) is True


def test_and_or_take_two_to_ten_conditions() -> None:
    dev = equals("Env", "dev")
    message = failure("x", **conditions(Probe={"Fn::Or": [dev]}))
    assert message == "Conditions.Probe: Fn::Or takes 2 to 10 conditions"
    message = failure("x", **conditions(Probe={"Fn::And": [dev] * 11}))
    assert message == "Conditions.Probe: Fn::And takes 2 to 10 conditions"
    assert truth({"Fn::And": [dev] * 10}) is True


def test_a_cycle_of_conditions_is_an_error_naming_it() -> None:
    message = failure(
        "x",
        **conditions(
            A={"Fn::Not": [{"Condition": "B"}]},
            B={"Fn::And": [{"Condition": "C"}, equals("Env", "dev")]},
            C={"Condition": "A"},
        ),
    )
    assert message == "Conditions: circular reference: A -> B -> C -> A"


def test_an_unknown_condition_is_an_error() -> None:
    message = failure("x", **conditions(A={"Fn::Not": [{"Condition": "Nope"}]}))
    assert message == "Conditions.A[0]: no condition Nope in Conditions (it has: A)"
    message = failure({"Fn::If": ["Nope", 1, 2]}, **conditions(A=equals("Env", "dev")))
    assert message == (
        "Resources.Probe.Properties.Value: no condition Nope in Conditions (it has: A)"
    )


def test_every_condition_is_evaluated_even_unused() -> None:
    message = failure("x", **conditions(Unused=equals("Missing", "x")))
    assert message == "Conditions.Unused: Ref Missing: no parameter named Missing"


def test_a_condition_cannot_refer_to_a_resource() -> None:
    message = failure("x", **conditions(A=equals("Thing", "x")))
    assert message == (
        "Conditions.A: Ref Thing: a condition can refer to parameters only, not to the "
        "resource Thing"
    )


def test_a_condition_must_be_a_condition_function() -> None:
    message = failure("x", **conditions(A={"Ref": "Env"}))
    assert message.startswith("Conditions.A: a condition must be Fn::Equals, Fn::Not")


TEMPLATE: dict[str, Any] = {
    **conditions(IsProd=equals("Env", "prod"), IsDev=equals("Env", "dev")),
    "Resources": {
        "Big": {"Type": THING, "Condition": "IsProd"},
        "BigTable": {"Type": TABLE, "Condition": "IsProd"},
        "Small": {"Type": THING, "Condition": "IsDev"},
        "User": {
            "Type": THING,
            "Properties": {
                "Target": {"Fn::If": ["IsProd", {"Fn::GetAtt": ["Big", "Arn"]}, {"Ref": "Small"}]},
                "Extra": {"Fn::If": ["IsProd", {"Ref": "BigTable"}, {"Ref": "AWS::NoValue"}]},
            },
        },
    },
    "Outputs": {
        "BigArn": {"Condition": "IsProd", "Value": {"Fn::GetAtt": ["Big", "Arn"]}},
        "SmallRef": {"Condition": "IsDev", "Value": {"Ref": "Small"}},
        "Size": {"Value": {"Fn::If": ["IsProd", "large", "small"]}},
    },
}


def test_a_resource_whose_condition_is_false_is_left_out() -> None:
    app = build(TEMPLATE)
    assert RECORDER.order() == ["Small", "User"]
    assert sorted(app.resources) == ["Small", "User"]
    assert app.left_out == ["Big", "BigTable"]
    assert app.unsupported == {}
    assert RECORDER.properties("User") == {"Target": "ref-Small"}


def test_the_other_parameter_value_keeps_the_other_resources() -> None:
    app = build(TEMPLATE, parameters={"Env": "prod"})
    assert RECORDER.order() == ["Big", "User"]
    assert app.left_out == ["Small"]
    assert app.unsupported == {"BigTable": TABLE}
    assert RECORDER.properties("User") == {
        "Target": "arn:aws:test:us-east-1:123456789012:thing/Big",
        "Extra": "BigTable",
    }
    assert app.outputs == {
        "BigArn": "arn:aws:test:us-east-1:123456789012:thing/Big",
        "Size": "large",
    }


def test_outputs_with_a_false_condition_are_left_out() -> None:
    app = build(TEMPLATE)
    assert app.outputs == {"SmallRef": "ref-Small", "Size": "small"}
    assert app.warnings == []


def test_ref_or_get_att_of_a_left_out_resource_is_an_error() -> None:
    message = failure({"Ref": "Big"}, **{**TEMPLATE, "Outputs": {}})
    assert message == (
        "Resources.Probe.Properties.Value: Ref: Big is left out (its Condition IsProd is "
        "false); refer to it inside Fn::If [IsProd, ...]"
    )
    message = failure({"Fn::GetAtt": ["Big", "Arn"]}, **{**TEMPLATE, "Outputs": {}})
    assert "Fn::GetAtt Big.Arn: Big is left out (its Condition IsProd is false)" in message


def test_an_output_whose_if_gives_no_value_is_left_out_quietly() -> None:
    template = {
        **TEMPLATE,
        "Outputs": {
            "Big": {"Value": {"Fn::If": ["IsProd", {"Ref": "Big"}, {"Ref": "AWS::NoValue"}]}},
            "Small": {"Value": {"Fn::If": ["IsDev", {"Ref": "Small"}, {"Ref": "AWS::NoValue"}]}},
        },
    }
    app = build(template)
    assert app.outputs == {"Small": "ref-Small"}
    assert app.warnings == []


def test_an_output_of_a_left_out_resource_is_a_warning() -> None:
    template = {**TEMPLATE, "Outputs": {"Big": {"Value": {"Ref": "Big"}}}}
    app = build(template)
    assert app.outputs == {}
    assert app.warnings == [
        "Outputs.Big.Value: Ref: Big is left out (its Condition IsProd is false); refer to "
        "it inside Fn::If [IsProd, ...] (the output is left out)"
    ]


def test_depends_on_a_left_out_resource_is_ignored_and_warned_about() -> None:
    """CloudFormation refuses it (cfn-lint's E3005; "Unresolved resource dependencies" at
    deploy): said, the resource still built here. A left-out resource's DependsOn is not."""
    template = {**TEMPLATE, "Outputs": {}}
    template["Resources"] = {
        **TEMPLATE["Resources"],
        "After": {"Type": THING, "DependsOn": ["Small", "Big"]},
        "AlsoBig": {"Type": THING, "Condition": "IsProd", "DependsOn": "Big"},
    }
    app = build(template)
    assert RECORDER.order() == ["Small", "User", "After"]
    assert app.warnings == [
        "Resources.After.DependsOn: Big is left out (its Condition IsProd is false): "
        "CloudFormation refuses the template (Unresolved resource dependencies [Big]); "
        "ignored here"
    ]


def test_a_resource_condition_must_exist() -> None:
    template = {"Resources": {"A": {"Type": THING, "Condition": "Nope"}}}
    with pytest.raises(TemplateError) as caught:
        build(template)
    assert (
        str(caught.value) == "Resources.A.Condition: no condition Nope in Conditions (it has: none)"
    )


def test_strict_counts_only_the_resources_kept() -> None:
    build(TEMPLATE, strict=True)
    with pytest.raises(TemplateError) as caught:
        build(TEMPLATE, strict=True, parameters={"Env": "prod"})
    assert str(caught.value) == "--strict: the mesh cannot emulate BigTable (AWS::DynamoDB::Table)"
