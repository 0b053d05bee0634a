"""CloudFormation's intrinsic functions, resolved in a template built into a mesh (each value
read back as an output, or its error as a property's)."""

from __future__ import annotations

from typing import Any

from eventmesh import Mesh
from eventmesh.sam import parse_document
from eventmesh.sam._intrinsics import references

from .resolve_support import RECORDER, THING, build, failure, resolved

ENV = {"Parameters": {"Env": {"Type": "String", "Default": "dev"}}}
NO_VALUE = {"Ref": "AWS::NoValue"}


# -- Ref --------------------------------------------------------------------------------------


def test_ref_of_a_parameter_is_its_value() -> None:
    assert resolved({"Ref": "Env"}, **ENV) == "dev"


def test_ref_of_pseudo_parameters_follows_the_mesh() -> None:
    mesh = Mesh(region="eu-west-1", account_id="111122223333")
    value = {
        "Fn::Join": [
            "|",
            [
                {"Ref": "AWS::Region"},
                {"Ref": "AWS::AccountId"},
                {"Ref": "AWS::Partition"},
                {"Ref": "AWS::StackName"},
                {"Ref": "AWS::URLSuffix"},
            ],
        ]
    }
    assert resolved(value, mesh=mesh) == "eu-west-1|111122223333|aws|local|amazonaws.com"
    assert resolved({"Ref": "AWS::NotificationARNs"}) == []


def test_china_regions_have_their_partition_and_url_suffix() -> None:
    value = {"Fn::Sub": "${AWS::Partition} ${AWS::URLSuffix}"}
    assert resolved(value, mesh=Mesh(region="cn-north-1")) == "aws-cn amazonaws.com.cn"


def test_ref_of_a_resource_is_what_its_kind_says() -> None:
    assert resolved({"Ref": "Thing"}) == "ref-Thing"


def test_ref_of_a_resource_no_kind_builds_is_its_logical_id() -> None:
    assert resolved({"Ref": "Table"}) == "Table"


def test_ref_of_an_unknown_name_is_an_error_naming_the_property() -> None:
    message = failure({"Ref": "Nothing"})
    assert message == (
        "Resources.Probe.Properties.Value: Ref: no parameter or resource named Nothing"
    )


def test_ref_to_a_resource_without_a_ref_value_is_an_error() -> None:
    message = failure(
        {"Ref": "Silent"}, Resources={"Silent": {"Type": THING, "Properties": {"NoRef": 1}}}
    )
    assert "Ref Silent: the resource has no value for Ref locally" in message


def test_no_value_removes_the_key_or_the_item() -> None:
    value = {"Keep": 1, "Drop": NO_VALUE, "List": [1, NO_VALUE, 2]}
    assert resolved(value) == {"Keep": 1, "List": [1, 2]}


# -- Fn::GetAtt -------------------------------------------------------------------------------


def test_get_att_long_and_short_forms() -> None:
    short = parse_document("V: !GetAtt Thing.Arn")["V"]
    assert short == {"Fn::GetAtt": ["Thing", "Arn"]}
    assert resolved(short) == "arn:aws:test:us-east-1:123456789012:thing/Thing"
    assert resolved({"Fn::GetAtt": ["Thing", "Name"]}) == "Thing"


def test_get_att_short_form_splits_on_the_first_dot_only() -> None:
    short = parse_document("V: !GetAtt Thing.Endpoint.Address")["V"]
    assert short == {"Fn::GetAtt": ["Thing", "Endpoint.Address"]}
    assert resolved(short) == "Thing.local"


def test_get_att_attribute_given_by_a_ref() -> None:
    parameters = {"Parameters": {"Attribute": {"Type": "String", "Default": "Name"}}}
    assert resolved({"Fn::GetAtt": ["Thing", {"Ref": "Attribute"}]}, **parameters) == "Thing"


def test_get_att_of_an_attribute_the_kind_lacks_names_what_it_has() -> None:
    message = failure({"Fn::GetAtt": ["Thing", "QueueUrl"]})
    assert message == (
        "Resources.Probe.Properties.Value: Fn::GetAtt Thing.QueueUrl: Thing "
        "(Test::Resolve::Thing) has no attribute QueueUrl locally (it has: Arn, "
        "Endpoint.Address, Name); declare a parameter for the value instead"
    )


def test_get_att_of_a_placeholder_gives_arns_and_its_logical_id() -> None:
    assert resolved({"Fn::GetAtt": ["Table", "Arn"]}) == (
        "arn:aws:dynamodb:us-east-1:123456789012:Table"
    )
    assert resolved({"Fn::GetAtt": ["Table", "StreamArn"]}) == "Table"
    assert resolved({"Fn::GetAtt": ["Table", "TableName"]}) == "Table"


def test_get_att_of_a_parameter_is_an_error() -> None:
    message = failure({"Fn::GetAtt": ["Env", "Arn"]}, **ENV)
    assert "Env is a parameter, not a resource (use Ref)" in message


# -- Fn::Sub ----------------------------------------------------------------------------------


def test_sub_replaces_parameters_pseudo_parameters_resources_and_attributes() -> None:
    value = {"Fn::Sub": "${Env}/${AWS::Region}/${Thing}/${Thing.Name}/${Thing.Endpoint.Address}"}
    assert resolved(value, **ENV) == "dev/us-east-1/ref-Thing/Thing/Thing.local"


def test_sub_with_an_exclamation_mark_writes_the_variable_literally() -> None:
    # CloudFormation: "${!Literal}" produces "${Literal}".
    assert resolved({"Fn::Sub": "${!Literal}-${Env}"}, **ENV) == "${Literal}-dev"


def test_sub_with_variables_and_their_precedence_over_parameters() -> None:
    value = {
        "Fn::Sub": [
            "${Env}-${Name}-${Region}",
            {"Env": "mine", "Name": {"Ref": "Thing"}, "Region": {"Ref": "AWS::Region"}},
        ]
    }
    assert resolved(value, **ENV) == "mine-ref-Thing-us-east-1"


def test_sub_writes_numbers_and_booleans_as_cloudformation_does() -> None:
    value = {"Fn::Sub": ["${A}-${B}", {"A": 5, "B": True}]}
    assert resolved(value) == "5-true"


def test_sub_of_a_list_is_an_error() -> None:
    parameters = {"Parameters": {"Names": {"Type": "CommaDelimitedList", "Default": "a,b"}}}
    message = failure({"Fn::Sub": "x-${Names}"}, **parameters)
    assert message == "Resources.Probe.Properties.Value: ${Names} must be a string, got a list"


def test_sub_of_an_unknown_name_is_an_error() -> None:
    message = failure({"Fn::Sub": "x-${Missing}"})
    assert "no parameter or resource named Missing" in message


def test_sub_with_a_malformed_argument_is_an_error() -> None:
    message = failure({"Fn::Sub": ["only the text"]})
    assert "Fn::Sub takes a string or [string, {variables}]" in message


# -- Fn::Join, Fn::Split, Fn::Select ----------------------------------------------------------


def test_join() -> None:
    assert resolved({"Fn::Join": [",", ["a", "b", 1, True]]}) == "a,b,1,true"
    assert resolved({"Fn::Join": ["", []]}) == ""


def test_join_over_a_split() -> None:
    value = {"Fn::Join": ["-", {"Fn::Split": [",", "a,b,c"]}]}
    assert resolved(value) == "a-b-c"


def test_join_over_a_comma_delimited_list_parameter() -> None:
    parameters = {"Parameters": {"Names": {"Type": "CommaDelimitedList", "Default": "x,y"}}}
    assert resolved({"Fn::Join": [" and ", {"Ref": "Names"}]}, **parameters) == "x and y"


def test_join_of_a_mapping_item_is_an_error() -> None:
    message = failure({"Fn::Join": [",", ["a", {"k": "v"}]]})
    assert message == "Resources.Probe.Properties.Value: item 1 must be a string, got a mapping"


def test_split() -> None:
    assert resolved({"Fn::Split": ["|", "a|b||c"]}) == ["a", "b", "", "c"]
    value = {"Fn::Split": [":", {"Fn::Sub": "${AWS::Region}:x"}]}
    assert resolved(value) == ["us-east-1", "x"]


def test_select() -> None:
    assert resolved({"Fn::Select": [1, ["a", "b", "c"]]}) == "b"
    assert resolved({"Fn::Select": ["2", ["a", "b", "c"]]}) == "c"


def test_select_of_get_azs() -> None:
    assert resolved({"Fn::Select": [0, {"Fn::GetAZs": ""}]}) == "us-east-1a"


def test_select_of_a_split_of_an_attribute() -> None:
    value = {"Fn::Select": [5, {"Fn::Split": [":", {"Fn::GetAtt": ["Thing", "Arn"]}]}]}
    assert resolved(value) == "thing/Thing"


def test_select_out_of_range_is_an_error() -> None:
    # CloudFormation: the index must be 0 to N-1; out of bounds is a stack error.
    message = failure({"Fn::Select": [3, ["a", "b", "c"]]})
    assert message == (
        "Resources.Probe.Properties.Value: Fn::Select index 3 is out of range: the list "
        "has 3 item(s), so the index must be 0 to 2"
    )
    assert "Fn::Select index -1 is out of range" in failure({"Fn::Select": [-1, ["a"]]})


def test_select_index_must_be_an_integer() -> None:
    assert "Fn::Select's index must be an integer" in failure({"Fn::Select": ["x", ["a"]]})


# -- Fn::GetAZs, Fn::Base64, Fn::FindInMap, Fn::Length, Fn::ToJsonString ---------------------


def test_get_azs_of_the_stack_region() -> None:
    # CloudFormation: "" is the same as {"Ref": "AWS::Region"}.
    zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    mesh = Mesh(region="eu-west-1")
    assert resolved({"Fn::GetAZs": ""}, mesh=mesh) == zones
    assert resolved({"Fn::GetAZs": {"Ref": "AWS::Region"}}, mesh=Mesh(region="eu-west-1")) == zones


def test_get_azs_of_a_named_region() -> None:
    assert resolved({"Fn::GetAZs": "ap-south-1"}) == ["ap-south-1a", "ap-south-1b", "ap-south-1c"]


def test_base64() -> None:
    assert resolved({"Fn::Base64": "hello"}) == "aGVsbG8="
    assert resolved({"Fn::Base64": {"Fn::Sub": "${AWS::Region}"}}) == "dXMtZWFzdC0x"


MAPPINGS = {
    "Mappings": {
        "RegionMap": {
            "us-east-1": {"Size": "large", "Zones": ["a", "b"]},
            "eu-west-1": {"Size": "small"},
        }
    }
}


def test_find_in_map() -> None:
    assert resolved({"Fn::FindInMap": ["RegionMap", "us-east-1", "Size"]}, **MAPPINGS) == "large"
    value = {"Fn::FindInMap": ["RegionMap", {"Ref": "AWS::Region"}, "Zones"]}
    assert resolved(value, **MAPPINGS) == ["a", "b"]


def test_find_in_map_default_value() -> None:
    value = {"Fn::FindInMap": ["RegionMap", "sa-east-1", "Size", {"DefaultValue": "medium"}]}
    assert resolved(value, **MAPPINGS) == "medium"
    value = {"Fn::FindInMap": ["RegionMap", "eu-west-1", "Zones", {"DefaultValue": ["z"]}]}
    assert resolved(value, **MAPPINGS) == ["z"]


def test_find_in_map_keys_written_as_numbers_or_booleans_in_yaml() -> None:
    """An account id or a flag as an unquoted YAML key is a number or a boolean to PyYAML;
    CloudFormation's keys are text, so ``!Ref AWS::AccountId`` finds ``123456789012:``."""
    mappings = parse_document(
        "Mappings:\n  Accounts:\n    123456789012: {Stage: prod, true: enabled, 7: seven}\n"
    )
    account = {"Fn::FindInMap": ["Accounts", {"Ref": "AWS::AccountId"}, "Stage"]}
    assert resolved(account, **mappings) == "prod"
    assert (
        resolved({"Fn::FindInMap": ["Accounts", "123456789012", "true"]}, **mappings) == "enabled"
    )
    assert resolved({"Fn::FindInMap": ["Accounts", "123456789012", 7]}, **mappings) == "seven"


def test_find_in_map_of_missing_keys_is_an_error() -> None:
    message = failure({"Fn::FindInMap": ["RegionMap", "sa-east-1", "Size"]}, **MAPPINGS)
    assert message == (
        "Resources.Probe.Properties.Value: Mappings.RegionMap has no top-level key 'sa-east-1'"
    )
    message = failure({"Fn::FindInMap": ["RegionMap", "eu-west-1", "Zones"]}, **MAPPINGS)
    assert message.endswith("Mappings.RegionMap has no second-level key 'Zones'")
    message = failure({"Fn::FindInMap": ["Other", "a", "b"]}, **MAPPINGS)
    assert message.endswith("no mapping Other in Mappings (it has: RegionMap)")


def test_length() -> None:
    assert resolved({"Fn::Length": [1, 2, 3]}) == 3
    parameters = {"Parameters": {"Names": {"Type": "CommaDelimitedList", "Default": "x,y"}}}
    assert resolved({"Fn::Length": {"Ref": "Names"}}, **parameters) == 2


def test_to_json_string_as_documented() -> None:
    # CloudFormation's example: {"key1": "value1", "key2": !Ref ParameterName} with the
    # parameter resolving to resolvedValue gives {"key1":"value1","key2":"resolvedValue"}.
    parameters = {"Parameters": {"ParameterName": {"Type": "String", "Default": "resolvedValue"}}}
    value = {"Fn::ToJsonString": {"key1": "value1", "key2": {"Ref": "ParameterName"}}}
    assert resolved(value, **parameters) == '{"key1":"value1","key2":"resolvedValue"}'
    assert resolved({"Fn::ToJsonString": [1, "a"]}) == '[1,"a"]'


# -- Fn::If -----------------------------------------------------------------------------------

CONDITIONS: dict[str, Any] = {
    **ENV,
    "Conditions": {
        "IsDev": {"Fn::Equals": [{"Ref": "Env"}, "dev"]},
        "IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
    },
}


def test_if_takes_the_branch_of_its_condition() -> None:
    assert resolved({"Fn::If": ["IsDev", "small", "large"]}, **CONDITIONS) == "small"
    assert resolved({"Fn::If": ["IsProd", "small", "large"]}, **CONDITIONS) == "large"


def test_if_with_no_value_removes_the_key() -> None:
    value = {"A": {"Fn::If": ["IsProd", "x", NO_VALUE]}, "B": [{"Fn::If": ["IsDev", NO_VALUE, 1]}]}
    assert resolved(value, **CONDITIONS) == {"B": []}


def test_if_resolves_only_the_branch_taken() -> None:
    value = {"Fn::If": ["IsDev", "fine", {"Fn::ImportValue": "never-read"}]}
    assert resolved(value, **CONDITIONS) == "fine"


# -- what cannot be resolved locally ----------------------------------------------------------


def test_import_value_is_an_error_suggesting_a_parameter() -> None:
    message = failure({"Fn::ImportValue": "SharedVpcId"})
    assert message == (
        "Resources.Probe.Properties.Value: Fn::ImportValue SharedVpcId reads another stack's "
        "export, which cannot be resolved locally: declare a parameter for the value instead "
        "and pass it with --parameter-overrides"
    )


def test_other_functions_are_errors_naming_them() -> None:
    message = failure({"Fn::Cidr": ["10.0.0.0/16", 6, 5]})
    assert message == "Resources.Probe.Properties.Value: Fn::Cidr cannot be resolved locally"
    nested = failure({"Key": [{"Fn::Transform": {"Name": "Company::Macro"}}]})
    assert nested == (
        "Resources.Probe.Properties.Value.Key[0]: Fn::Transform (Company::Macro) runs a macro "
        "in AWS: not locally"
    )
    include = {"Name": "AWS::Include", "Parameters": {"Location": "s3://bucket/api.yaml"}}
    assert failure({"Fn::Transform": include}) == (
        "Resources.Probe.Properties.Value: AWS::Include of s3://bucket/api.yaml cannot be read "
        "locally: give the snippet's local file as its Location"
    )


def test_an_output_that_cannot_be_resolved_is_left_out_with_a_warning() -> None:
    template = {
        "Resources": {"Thing": {"Type": THING}},
        "Outputs": {
            "Shared": {"Value": {"Fn::ImportValue": "SharedVpcId"}},
            "Name": {"Value": {"Ref": "Thing"}},
        },
    }
    app = build(template)
    assert app.outputs == {"Name": "ref-Thing"}
    assert app.warnings == [
        "Outputs.Shared.Value: Fn::ImportValue SharedVpcId reads another stack's export, "
        "which cannot be resolved locally: declare a parameter for the value instead and pass "
        "it with --parameter-overrides (the output is left out)"
    ]


def test_resolved_properties_reach_the_kind() -> None:
    template = {
        **ENV,
        "Resources": {
            "Thing": {"Type": THING},
            "User": {
                "Type": THING,
                "Properties": {
                    "Name": {"Fn::Sub": "${Env}-${Thing.Name}"},
                    "Drop": NO_VALUE,
                    "Tags": [{"Key": "env", "Value": {"Ref": "Env"}}],
                },
            },
        },
    }
    build(template)
    assert RECORDER.properties("User") == {
        "Name": "dev-Thing",
        "Tags": [{"Key": "env", "Value": "dev"}],
    }


# -- references -------------------------------------------------------------------------------


def test_references_see_inside_every_function() -> None:
    value = {
        "A": {"Fn::Join": [",", [{"Ref": "R1"}, {"Fn::GetAtt": ["R2", "Arn"]}]]},
        "B": {"Fn::Select": [0, {"Fn::Split": [",", {"Fn::Sub": "${R3}-${R4.Arn}"}]}]},
        "C": {"Fn::If": ["Cond", {"Ref": "R5"}, {"Ref": "R6"}]},
        "D": {"Fn::FindInMap": ["Map", {"Ref": "R7"}, "key"]},
        "E": {"Fn::GetAtt": ["R8", {"Ref": "R9"}]},
        "F": {"Fn::Sub": ["${Var}${!Literal}${R10}", {"Var": {"Ref": "R11"}}]},
        "G": {"Fn::Base64": {"Fn::ToJsonString": {"k": {"Ref": "R12"}}}},
        "H": "!GetAtt R13.Arn is text, not a reference",
    }
    assert sorted(references(value), key=lambda name: int(name[1:])) == [
        "R1",
        "R2",
        "R3",
        "R4",
        "R5",
        "R6",
        "R7",
        "R8",
        "R9",
        "R10",
        "R11",
        "R12",
    ]


def test_references_of_a_short_form_get_att_and_pseudo_parameters() -> None:
    assert list(references({"Fn::GetAtt": "Queue.Arn"})) == ["Queue"]
    assert list(references({"Fn::Sub": "${AWS::Region}"})) == ["AWS::Region"]


def test_sub_of_a_variable_that_is_no_value_names_it() -> None:
    message = failure({"Fn::Sub": ["a-${v}", {"v": {"Ref": "AWS::NoValue"}}]})
    assert message == "Resources.Probe.Properties.Value: ${v} must be a string, got AWS::NoValue"
