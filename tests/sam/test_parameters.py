"""Parameters: types, constraints, overrides, NoEcho; and --parameter-overrides' syntax."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from eventmesh import Mesh
from eventmesh.sam import TemplateError, load_template, parse_overrides
from eventmesh.sam._parameters import redact

from .resolve_support import RECORDER, THING, build, resolved


def value_of(spec: dict[str, Any], override: str | None = None) -> Any:
    """What ``Ref`` gives for a parameter declared by ``spec``."""
    parameters = None if override is None else {"P": override}
    return resolved({"Ref": "P"}, Parameters={"P": spec}, parameters=parameters)


def error_of(spec: dict[str, Any], override: str | None = None) -> str:
    parameters = None if override is None else {"P": override}
    with pytest.raises(TemplateError) as caught:
        build(
            {"Parameters": {"P": spec}, "Resources": {"T": {"Type": THING}}}, parameters=parameters
        )
    return str(caught.value)


# -- values and types -------------------------------------------------------------------------


def test_default_and_override() -> None:
    assert value_of({"Type": "String", "Default": "dev"}) == "dev"
    assert value_of({"Type": "String", "Default": "dev"}, "prod") == "prod"
    assert value_of({"Type": "String", "Default": ""}) == ""


def test_defaults_written_as_yaml_scalars_are_text() -> None:
    assert value_of({"Type": "String", "Default": True}) == "true"
    assert value_of({"Type": "String", "Default": 10}) == "10"


def test_a_parameter_without_default_needs_a_value() -> None:
    assert error_of({"Type": "String"}) == (
        "Parameters.P: no Default and no value given (--parameter-overrides P=<value>)"
    )
    assert value_of({"Type": "String"}, "given") == "given"


def test_an_override_of_an_undeclared_parameter_is_an_error() -> None:
    with pytest.raises(TemplateError) as caught:
        build(
            {
                "Parameters": {"Env": {"Type": "String", "Default": "a"}},
                "Resources": {"T": {"Type": THING}},
            },
            parameters={"Stage": "x"},
        )
    assert str(caught.value) == (
        "--parameter-overrides: the template has no parameter Stage (it declares: Env)"
    )


def test_a_parameter_needs_a_known_type() -> None:
    assert error_of({"Default": "x"}) == (
        "Parameters.P.Type: a parameter needs a Type (String, Number, ...)"
    )
    assert error_of({"Type": "Strin", "Default": "x"}).startswith(
        "Parameters.P.Type: 'Strin' is not a parameter type"
    )


def test_number_values_are_checked() -> None:
    assert error_of({"Type": "Number", "Default": "ten"}) == (
        "Parameters.P: 'ten' (from Default) does not satisfy the parameter's constraints: "
        "a number (the parameter's Type is Number)"
    )
    assert error_of({"Type": "Number"}, "1.2.3").startswith(
        "Parameters.P: '1.2.3' (from --parameter-overrides)"
    )


def test_a_number_written_as_an_integer_is_an_integer() -> None:
    # Decision: CloudFormation passes a Number on as text; an integer is given to kinds as an
    # integer (as a YAML literal would be), other numbers stay the text given.
    assert value_of({"Type": "Number", "Default": 30}) == 30
    assert value_of({"Type": "Number", "Default": "30"}, "-4") == -4
    assert value_of({"Type": "Number", "Default": "1.5"}) == "1.5"
    assert value_of({"Type": "Number", "Default": "007"}) == "007"
    assert value_of({"Type": "Number", "Default": "1e3"}) == "1e3"


def test_a_number_parameter_where_a_number_is_needed_and_in_text() -> None:
    template = {
        "Parameters": {"Timeout": {"Type": "Number", "Default": 30}},
        "Resources": {
            "F": {
                "Type": THING,
                "Properties": {
                    "Timeout": {"Ref": "Timeout"},
                    "Label": {"Fn::Sub": "timeout-${Timeout}"},
                },
            }
        },
    }
    build(template, parameters={"Timeout": "45"})
    assert RECORDER.properties("F") == {"Timeout": 45, "Label": "timeout-45"}


def test_list_of_numbers() -> None:
    assert value_of({"Type": "List<Number>", "Default": "1,2,3.5"}) == [1, 2, "3.5"]
    assert error_of({"Type": "List<Number>", "Default": "1,x"}).startswith(
        "Parameters.P: 'x' (from Default) does not satisfy"
    )


def test_comma_delimited_list_gives_a_list() -> None:
    assert value_of({"Type": "CommaDelimitedList", "Default": "a,b,c"}) == ["a", "b", "c"]
    assert value_of({"Type": "CommaDelimitedList", "Default": "a"}, "x,y") == ["x", "y"]


def test_comma_delimited_list_items_are_space_trimmed() -> None:
    # CloudFormation's Parameters reference: "Also, each member string is space trimmed."
    spec = {"Type": "CommaDelimitedList", "Default": "a", "AllowedValues": ["sg-1", "sg-2"]}
    assert value_of(spec, "sg-1, sg-2 ") == ["sg-1", "sg-2"]


def test_aws_specific_types_take_the_value_as_given() -> None:
    assert value_of({"Type": "AWS::EC2::VPC::Id", "Default": "vpc-123"}) == "vpc-123"
    spec = {"Type": "List<AWS::EC2::Subnet::Id>", "Default": "subnet-1,subnet-2"}
    assert value_of(spec) == ["subnet-1", "subnet-2"]
    assert value_of({"Type": "AWS::SSM::Parameter::Name", "Default": "/app/x"}) == "/app/x"


def test_ssm_parameter_values_need_an_override() -> None:
    spec = {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/app/db-host"}
    assert error_of(spec) == (
        "Parameters.P: type AWS::SSM::Parameter::Value<String> is the value of the SSM "
        "parameter '/app/db-host' in AWS, which cannot be resolved offline: pass "
        "--parameter-overrides P=<value>"
    )
    assert value_of(spec, "db.local") == "db.local"
    spec = {"Type": "AWS::SSM::Parameter::Value<List<String>>", "Default": "/app/hosts"}
    assert value_of(spec, "a,b") == ["a", "b"]


# -- constraints ------------------------------------------------------------------------------


def test_allowed_values() -> None:
    spec = {"Type": "String", "Default": "dev", "AllowedValues": ["dev", "prod"]}
    assert value_of(spec, "prod") == "prod"
    assert error_of(spec, "qa") == (
        "Parameters.P: 'qa' (from --parameter-overrides) does not satisfy the parameter's "
        "constraints: one of the AllowedValues (dev, prod)"
    )


def test_allowed_values_of_each_list_item() -> None:
    spec = {"Type": "CommaDelimitedList", "Default": "a,b", "AllowedValues": ["a", "b"]}
    assert value_of(spec) == ["a", "b"]
    assert "'c' (from --parameter-overrides)" in error_of(spec, "a,c")


def test_constraint_description_replaces_the_explanation() -> None:
    spec = {
        "Type": "String",
        "Default": "dev",
        "AllowedValues": ["dev", "prod"],
        "ConstraintDescription": "Env is dev or prod",
    }
    assert error_of(spec, "qa") == (
        "Parameters.P: 'qa' (from --parameter-overrides) does not satisfy the parameter's "
        "constraints: Env is dev or prod"
    )


def test_allowed_pattern_must_match_the_whole_value() -> None:
    spec = {"Type": "String", "Default": "abc", "AllowedPattern": "[a-z]+"}
    assert value_of(spec) == "abc"
    assert error_of(spec, "abc1").endswith("the whole value must match AllowedPattern [a-z]+")
    assert "'1abc'" in error_of(spec, "1abc")


def test_allowed_pattern_in_javas_syntax() -> None:
    # CloudFormation's patterns are Java regular expressions: POSIX classes like \p{Print}.
    pattern = "^(?=(.*\\p{Print}){4,})(?!.*[ ,:=])[\\p{Print}]{12,}$"
    spec = {"Type": "String", "Default": "Secret#Pass1", "AllowedPattern": pattern}
    assert value_of(spec) == "Secret#Pass1"
    assert "must match AllowedPattern" in error_of(spec, "has a space in")
    spec = {"Type": "String", "Default": "ab_", "AllowedPattern": "\\P{Digit}+"}
    assert value_of(spec) == "ab_"
    assert "must match AllowedPattern" in error_of(spec, "ab1")


def test_a_pattern_that_is_not_a_regular_expression_is_an_error() -> None:
    spec = {"Type": "String", "Default": "a", "AllowedPattern": "[a-"}
    assert error_of(spec).startswith("Parameters.P.AllowedPattern: not a regular expression")


def test_allowed_pattern_of_each_list_item() -> None:
    spec = {"Type": "CommaDelimitedList", "Default": "ab,cd", "AllowedPattern": "[a-z]{2}"}
    assert value_of(spec) == ["ab", "cd"]
    assert "'c' (from --parameter-overrides)" in error_of(spec, "ab,c")


def test_lengths() -> None:
    spec = {"Type": "String", "Default": "abc", "MinLength": 2, "MaxLength": 4}
    assert value_of(spec) == "abc"
    assert error_of(spec, "a").endswith("at least 2 character(s) (MinLength)")
    assert error_of(spec, "abcde").endswith("at most 4 character(s) (MaxLength)")


def test_number_bounds() -> None:
    spec = {"Type": "Number", "Default": 5, "MinValue": 1, "MaxValue": 10}
    assert value_of(spec, "10") == 10
    assert value_of(spec, "0.5e1") == "0.5e1"
    assert error_of(spec, "0").endswith("at least 1 (MinValue)")
    assert error_of(spec, "10.5").endswith("at most 10 (MaxValue)")
    spec = {"Type": "List<Number>", "Default": "1", "MaxValue": 3}
    assert error_of(spec, "1,4").endswith("at most 3 (MaxValue)")


def test_number_allowed_values_compare_numbers() -> None:
    spec = {"Type": "Number", "Default": 1, "AllowedValues": [1, 2]}
    assert value_of(spec, "2.0") == "2.0"
    assert error_of(spec, "3").endswith("one of the AllowedValues (1, 2)")


# -- NoEcho -----------------------------------------------------------------------------------

SECRET = "s3cr3t-value"


def test_no_echo_values_never_appear_in_constraint_errors() -> None:
    spec = {"Type": "String", "NoEcho": True, "Default": "x", "AllowedPattern": "[a-z]"}
    message = error_of(spec, SECRET)
    assert SECRET not in message
    assert message == (
        "Parameters.P: the value (from --parameter-overrides) does not satisfy the parameter's "
        "constraints: the whole value must match AllowedPattern [a-z]"
    )


NO_ECHO_TEMPLATE: dict[str, Any] = {
    "Parameters": {"Password": {"Type": "String", "NoEcho": "true", "Default": "x"}},
    "Mappings": {"Users": {"admin": {"Role": "all"}}},
    "Resources": {"T": {"Type": THING, "Properties": {"Secret": {"Ref": "Password"}}}},
    "Outputs": {"Role": {"Value": {"Fn::FindInMap": ["Users", {"Ref": "Password"}, "Role"]}}},
}


def test_no_echo_values_never_appear_in_warnings_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    app = build(NO_ECHO_TEMPLATE, parameters={"Password": SECRET})
    assert RECORDER.properties("T") == {"Secret": SECRET}
    assert app.warnings == [
        "Outputs.Role.Value: Mappings.Users has no top-level key '****' (the output is left out)"
    ]
    with caplog.at_level(logging.WARNING, logger="eventmesh.sam"):
        app.log_warnings()
    assert len(caplog.records) == 1
    assert SECRET not in caplog.text
    assert "'****'" in caplog.text


def test_no_echo_values_never_appear_in_errors() -> None:
    template = {
        **NO_ECHO_TEMPLATE,
        "Resources": {
            "T": {
                "Type": THING,
                "Properties": {"Role": {"Fn::FindInMap": ["Users", {"Ref": "Password"}, "Role"]}},
            }
        },
        "Outputs": {},
    }
    with pytest.raises(TemplateError) as caught:
        build(template, parameters={"Password": SECRET})
    assert str(caught.value) == (
        "Resources.T.Properties.Role: Mappings.Users has no top-level key '****'"
    )


def test_no_echo_values_never_appear_in_translation_errors(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Parameters:\n"
        "  Password: {Type: String, NoEcho: true}\n"
        "Resources:\n"
        "  F:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      Handler: app.handler\n"
        "      Runtime: python3.12\n"
        "      CodeUri: s3://bucket/code.zip\n"
        "      AutoPublishAlias: !Ref Password\n"
    )
    with pytest.raises(TemplateError) as caught:
        load_template(template, parameters={"Password": "not an alias!"}, mesh=Mesh())
    assert str(caught.value).startswith(
        "the SAM template is not valid: Resource with id [F] is invalid. AutoPublishAlias name "
        "('****') must contain only"
    )


# -- --parameter-overrides --------------------------------------------------------------------


def test_overrides_as_key_value_words() -> None:
    assert parse_overrides(["Env=prod", "Size=3"]) == {"Env": "prod", "Size": "3"}
    assert parse_overrides(["Env=prod Size=3"]) == {"Env": "prod", "Size": "3"}


def test_overrides_in_sam_long_form() -> None:
    arguments = ["ParameterKey=Env,ParameterValue=prod ParameterKey=Ids,ParameterValue=a,b"]
    assert parse_overrides(arguments) == {"Env": "prod", "Ids": "a,b"}


def test_override_values_keep_equals_signs_and_may_be_empty() -> None:
    assert parse_overrides(["Url=https://x.test/?a=b", "Empty="]) == {
        "Url": "https://x.test/?a=b",
        "Empty": "",
    }


def test_override_values_with_spaces() -> None:
    assert parse_overrides(['Greeting="hello big world" Env=dev']) == {
        "Greeting": "hello big world",
        "Env": "dev",
    }
    assert parse_overrides(["Greeting='a b'"]) == {"Greeting": "a b"}
    # The shell removed the quotes of Greeting="hello world": one argument with a space.
    assert parse_overrides(["Greeting=hello world"]) == {"Greeting": "hello world"}
    assert parse_overrides(['Quote="say \\"hi\\""']) == {"Quote": 'say "hi"'}


def test_a_later_override_wins() -> None:
    assert parse_overrides(["Env=dev", "Env=prod"]) == {"Env": "prod"}


def test_malformed_overrides_are_errors() -> None:
    with pytest.raises(TemplateError) as caught:
        parse_overrides(["prod"])
    assert str(caught.value) == (
        "--parameter-overrides: 'prod' is not Key=Value (or ParameterKey=Key,ParameterValue=Value)"
    )
    with pytest.raises(TemplateError) as caught:
        parse_overrides(["My-Key=1"])
    assert str(caught.value) == (
        "--parameter-overrides: 'My-Key' is not a parameter name (letters and digits)"
    )
    with pytest.raises(TemplateError) as caught:
        parse_overrides(["ParameterKey=Env"])
    assert str(caught.value) == (
        "--parameter-overrides: ParameterKey=Env: expected ParameterKey=Key,ParameterValue=Value"
    )


def test_malformed_overrides_never_show_a_value() -> None:
    # The template is not read yet: any value may be a NoEcho parameter's.
    with pytest.raises(TemplateError) as caught:
        parse_overrides(['Stage=prod Password="hunter2'])
    assert str(caught.value) == (
        "--parameter-overrides: cannot read the argument giving Stage, Password (a quote left "
        "open?)"
    )
    with pytest.raises(TemplateError) as caught:
        parse_overrides(["ParameterKey=Password,ParameterValu=hunter2"])
    assert str(caught.value) == (
        "--parameter-overrides: ParameterKey=Password: expected "
        "ParameterKey=Key,ParameterValue=Value"
    )


def test_no_echo_values_never_appear_escaped_in_errors() -> None:
    # An error quoting the value with repr() or JSON doubles a backslash and writes a line
    # break as \n: the escaped forms are replaced too.
    secret = 'pa\\ss\n"word'
    template = {
        **NO_ECHO_TEMPLATE,
        "Resources": {
            "T": {
                "Type": THING,
                "Properties": {"Role": {"Fn::FindInMap": ["Users", {"Ref": "Password"}, "Role"]}},
            }
        },
        "Outputs": {},
    }
    with pytest.raises(TemplateError) as caught:
        build(template, parameters={"Password": secret})
    assert str(caught.value) == (
        "Resources.T.Properties.Role: Mappings.Users has no top-level key '****'"
    )
    assert redact('"pa\\\\ss\\n\\"word" and pa\\\\ss\\n"word', [secret]) == '"****" and ****'


def test_no_echo_values_never_appear_in_a_kinds_unexpected_error() -> None:
    # A kind's bug (a ValueError quoting what it was given) is no TemplateError: it is one
    # only when it would show a NoEcho value, masked.
    template = {
        **NO_ECHO_TEMPLATE,
        "Resources": {"T": {"Type": THING, "Properties": {"Crash": {"Ref": "Password"}}}},
        "Outputs": {},
    }
    with pytest.raises(TemplateError) as caught:
        build(template, parameters={"Password": SECRET})
    assert str(caught.value) == "ValueError: cannot use ****"
    with pytest.raises(ValueError, match="cannot use visible"):
        build({**template, "Parameters": {"Password": {"Type": "String", "Default": "visible"}}})
