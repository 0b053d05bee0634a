"""SAM templates read from files and translated offline with AWS's translator: Globals, code
locations, layers, nested applications, API definitions, state machines, errors, regions,
transforms."""

from __future__ import annotations

import copy
import threading
from pathlib import Path
from typing import Any

import pytest

from eventmesh import Mesh
from eventmesh.sam import TemplateError, load_template, parse_document
from eventmesh.sam._translate import LOCAL_CODE_BUCKET, translate
from eventmesh.sam._yaml import load_document

from .resolve_support import RECORDER, THING, build

SAM = "AWS::Serverless-2016-10-31"


@pytest.fixture(autouse=True)
def _no_aws_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No region or credentials from the environment: translation must not need them."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


def write(folder: Path, text: str, name: str = "template.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def translated(
    folder: Path, text: str, region: str = "us-east-1"
) -> tuple[dict[str, Any], dict[str, Path]]:
    document = load_document(write(folder, text))
    result = translate(document, folder, region=region, parameters={})
    return result.template, result.code_paths


GLOBALS = f"""
Transform: {SAM}
Globals:
  Function:
    CodeUri: src/
    Runtime: python3.12
    Timeout: 20
    Layers: [arn:aws:lambda:us-east-1:123456789012:layer:global:1]
    Environment:
      Variables: {{STAGE: dev, TABLE_NAME: global}}
Resources:
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Timeout: 5
      Layers: [arn:aws:lambda:us-east-1:123456789012:layer:own:1]
      Environment:
        Variables: {{TABLE_NAME: resource, NEW_VAR: x}}
  Archive:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      CodeUri: {{Bucket: my-bucket, Key: code.zip}}
  Inline:
    Type: AWS::Serverless::Function
    Properties:
      Handler: index.handler
      InlineCode: "def handler(event, context): return 1"
"""


def test_globals_merge_into_functions(tmp_path: Path) -> None:
    template, code_paths = translated(tmp_path, GLOBALS)
    orders = template["Resources"]["Orders"]["Properties"]
    # SAM's rules: primitives replaced, maps merged (the resource wins), lists Globals first.
    assert orders["Runtime"] == "python3.12"
    assert orders["Timeout"] == 5
    assert orders["Environment"] == {
        "Variables": {"STAGE": "dev", "TABLE_NAME": "resource", "NEW_VAR": "x"}
    }
    assert orders["Layers"] == [
        "arn:aws:lambda:us-east-1:123456789012:layer:global:1",
        "arn:aws:lambda:us-east-1:123456789012:layer:own:1",
    ]
    assert orders["Code"] == {"S3Bucket": LOCAL_CODE_BUCKET, "S3Key": "Orders"}
    assert code_paths == {"Orders": (tmp_path / "src").resolve()}


def test_code_given_as_an_s3_object_or_inline_is_not_local(tmp_path: Path) -> None:
    template, code_paths = translated(tmp_path, GLOBALS)
    assert template["Resources"]["Archive"]["Properties"]["Code"] == {
        "S3Bucket": "my-bucket",
        "S3Key": "code.zip",
    }
    assert template["Resources"]["Inline"]["Properties"]["Code"] == {
        "ZipFile": "def handler(event, context): return 1"
    }
    assert "Archive" not in code_paths
    assert "Inline" not in code_paths


def test_the_build_context_finds_local_code_only(tmp_path: Path) -> None:
    template = {
        "Resources": {
            "Local": {
                "Type": THING,
                "Properties": {"Code": {"S3Bucket": LOCAL_CODE_BUCKET, "S3Key": "Local"}},
            },
            "Remote": {"Type": THING, "Properties": {"Code": {"S3Bucket": "b", "S3Key": "Local"}}},
            "Inline": {"Type": THING, "Properties": {"Code": {"ZipFile": "x"}}},
            "Layer": {
                "Type": THING,
                "Properties": {"Content": {"S3Bucket": LOCAL_CODE_BUCKET, "S3Key": "L"}},
            },
        }
    }
    build(template, code_paths={"Local": tmp_path / "src", "L": tmp_path / "layer"})
    assert RECORDER.code_paths == {
        "Local": tmp_path / "src",
        "Remote": None,
        "Inline": None,
        "Layer": tmp_path / "layer",
    }


def test_plain_cloudformation_keeps_a_local_code_folder(tmp_path: Path) -> None:
    text = (
        "Resources:\n  F:\n    Type: AWS::Lambda::Function\n"
        "    Properties: {Code: ./src, Handler: a.b}\n"
    )
    template, code_paths = translated(tmp_path, text)
    assert template["Resources"]["F"]["Properties"]["Code"] == "./src"
    assert code_paths == {"F": (tmp_path / "src").resolve()}


def test_layer_content_uri(tmp_path: Path) -> None:
    text = f"""
Transform: {SAM}
Resources:
  Deps:
    Type: AWS::Serverless::LayerVersion
    Properties: {{ContentUri: layers/deps, CompatibleRuntimes: [python3.12]}}
"""
    template, code_paths = translated(tmp_path, text)
    (layer,) = (
        r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::LayerVersion"
    )
    assert layer["Properties"]["Content"] == {"S3Bucket": LOCAL_CODE_BUCKET, "S3Key": "Deps"}
    assert code_paths == {"Deps": (tmp_path / "layers" / "deps").resolve()}


def test_a_function_without_code_uri_runs_from_the_template_folder(tmp_path: Path) -> None:
    text = f"""
Transform: {SAM}
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties: {{Handler: app.handler, Runtime: python3.12}}
  Image:
    Type: AWS::Serverless::Function
    Properties: {{PackageType: Image, ImageUri: repo/image:1}}
"""
    template, code_paths = translated(tmp_path, text)
    assert template["Resources"]["F"]["Properties"]["Code"] == {
        "S3Bucket": LOCAL_CODE_BUCKET,
        "S3Key": "F",
    }
    assert template["Resources"]["Image"]["Properties"]["Code"] == {"ImageUri": "repo/image:1"}
    assert code_paths == {"F": tmp_path.resolve()}


def test_aws_include_of_a_local_file_is_inlined(tmp_path: Path) -> None:
    write(
        tmp_path, 'openapi: "3.0.1"\ninfo: {title: orders, version: "1"}\npaths: {}\n', "api.yaml"
    )
    write(tmp_path, "Extra:\n  Type: AWS::IAM::Role\n", "more.yaml")
    text = f"""
Transform: {SAM}
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: prod
      DefinitionBody:
        Fn::Transform: {{Name: AWS::Include, Parameters: {{Location: ./api.yaml}}}}
  Fn::Transform: {{Name: AWS::Include, Parameters: {{Location: more.yaml}}}}
"""
    template, _ = translated(tmp_path, text)
    assert template["Resources"]["Api"]["Properties"]["Body"]["info"] == {
        "title": "orders",
        "version": "1",
    }
    assert template["Resources"]["Extra"] == {"Type": "AWS::IAM::Role"}


def test_aws_include_of_a_missing_file_is_an_error(tmp_path: Path) -> None:
    text = (
        "Resources:\n  R:\n    Type: AWS::IAM::Role\n    Properties:\n"
        "      Policies: {'Fn::Transform': {Name: AWS::Include, Parameters: {Location: no.yaml}}}\n"
    )
    with pytest.raises(TemplateError) as caught:
        translated(tmp_path, text)
    assert str(caught.value).startswith(
        "Resources.R.Properties.Policies.Fn::Transform: AWS::Include no.yaml: cannot read the "
        "template "
    )


NESTED = f"""
Transform: {SAM}
Resources:
  Shared:
    Type: AWS::Serverless::Application
    Properties:
      Location:
        ApplicationId: arn:aws:serverlessrepo:us-east-1:123456789012:applications/shared
        SemanticVersion: 1.0.0
  Role:
    Type: AWS::IAM::Role
    Properties: {{Path: !Sub "/${{Shared}}/"}}
"""


def test_nested_applications_are_listed_as_not_emulated(tmp_path: Path) -> None:
    app = load_template(write(tmp_path, NESTED), mesh=Mesh())
    assert app.unsupported == {"Shared": "AWS::Serverless::Application"}
    assert app.warnings == ["not emulated, left out: Shared (AWS::Serverless::Application)"]


def test_an_api_definition_uri_is_inlined(tmp_path: Path) -> None:
    write(
        tmp_path, 'openapi: "3.0.1"\ninfo: {title: orders, version: "1"}\npaths: {}\n', "api.yaml"
    )
    text = f"""
Transform: {SAM}
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties: {{StageName: prod, DefinitionUri: api.yaml}}
  Http:
    Type: AWS::Serverless::HttpApi
    Properties: {{DefinitionUri: api.yaml}}
"""
    template, _ = translated(tmp_path, text)
    body = {"openapi": "3.0.1", "info": {"title": "orders", "version": "1"}, "paths": {}}
    assert template["Resources"]["Api"]["Properties"]["Body"] == body
    assert template["Resources"]["Http"]["Properties"]["Body"]["info"] == body["info"]


def test_a_missing_api_definition_is_an_error_naming_the_property(tmp_path: Path) -> None:
    text = f"""
Transform: {SAM}
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties: {{StageName: prod, DefinitionUri: missing.yaml}}
"""
    with pytest.raises(TemplateError) as caught:
        translated(tmp_path, text)
    assert str(caught.value).startswith(
        "Resources.Api.Properties.DefinitionUri: cannot read the template "
    )


def test_a_state_machine_definition_uri_is_kept_and_the_machine_not_emulated(
    tmp_path: Path,
) -> None:
    write(tmp_path, '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}', "flow.json")
    text = f"""
Transform: {SAM}
Resources:
  Flow:
    Type: AWS::Serverless::StateMachine
    Properties: {{DefinitionUri: flow.json}}
"""
    template, code_paths = translated(tmp_path, text)
    assert template["Resources"]["Flow"]["Properties"]["DefinitionS3Location"] == {
        "Bucket": LOCAL_CODE_BUCKET,
        "Key": "Flow",
    }
    assert code_paths == {"Flow": (tmp_path / "flow.json").resolve()}
    app = load_template(tmp_path / "template.yaml", mesh=Mesh())
    assert app.unsupported == {"Flow": "AWS::StepFunctions::StateMachine"}


def test_translation_errors_are_one_error_with_every_cause(tmp_path: Path) -> None:
    text = f"""
Transform: {SAM}
Resources:
  A:
    Type: AWS::Serverless::Function
    Properties:
      Handler: a.b
      Runtime: python3.12
      CodeUri: s3://b/k
      Events: {{E: {{Type: Nope}}}}
  B:
    Type: AWS::Serverless::Function
    Properties: {{Handler: a.b, Runtime: python3.12, CodeUri: s3://b/k, AutoPublishAlias: "a b"}}
"""
    with pytest.raises(TemplateError) as caught:
        translated(tmp_path, text)
    message = str(caught.value)
    assert message.startswith("the SAM template is not valid: ")
    assert "Resource with id [A] is invalid. Event with id [E] is invalid." in message
    assert "Resource with id [B] is invalid. AutoPublishAlias name ('a b') must" in message
    assert message.count("; ") >= 1


def partition_of(template: dict[str, Any]) -> str:
    role = template["Resources"]["FRole"]["Properties"]["ManagedPolicyArns"][0]
    return str(role).split(":")[1]


FUNCTION = f"""
Transform: {SAM}
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties: {{Handler: a.b, Runtime: python3.12, CodeUri: s3://b/k}}
"""


def test_the_region_given_is_the_translators_and_restored_after(tmp_path: Path) -> None:
    from samtranslator.translator.arn_generator import ArnGenerator

    before = ArnGenerator.BOTO_SESSION_REGION_NAME
    china, _ = translated(tmp_path, FUNCTION, region="cn-north-1")
    assert partition_of(china) == "aws-cn"
    assert before == ArnGenerator.BOTO_SESSION_REGION_NAME
    default, _ = translated(tmp_path, FUNCTION, region="us-east-1")
    assert partition_of(default) == "aws"


def test_translations_in_threads_keep_their_regions(tmp_path: Path) -> None:
    document = load_document(write(tmp_path, FUNCTION))
    seen: dict[str, set[str]] = {"cn-north-1": set(), "us-west-2": set()}

    def run(region: str) -> None:
        for _ in range(3):
            result = translate(document, tmp_path, region=region, parameters={})
            seen[region].add(partition_of(result.template))

    threads = [threading.Thread(target=run, args=(region,)) for region in seen]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"cn-north-1": {"aws-cn"}, "us-west-2": {"aws"}}


def test_the_template_given_is_not_changed(tmp_path: Path) -> None:
    document = load_document(write(tmp_path, GLOBALS))
    before = copy.deepcopy(document)
    translate(document, tmp_path, region="us-east-1", parameters={})
    assert document == before


def test_language_extensions_with_sam(tmp_path: Path) -> None:
    text = f"""
Transform: [AWS::LanguageExtensions, {SAM}]
Parameters:
  Names: {{Type: CommaDelimitedList, Default: "a,b,c"}}
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties: {{Path: /x/}}
Outputs:
  Count: {{Value: !Length {{Ref: Names}}}}
  Json: {{Value: {{"Fn::ToJsonString": {{names: !Ref Names}}}}}}
"""
    app = load_template(write(tmp_path, text), mesh=Mesh())
    assert app.outputs == {"Count": 3, "Json": '{"names":["a","b","c"]}'}


def test_for_each_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    text = f"""
Transform: [AWS::LanguageExtensions, {SAM}]
Resources:
  Fn::ForEach::Queues:
    - Name
    - [A, B]
    - Queue${{Name}}: {{Type: AWS::SQS::Queue}}
"""
    with pytest.raises(TemplateError) as caught:
        load_template(write(tmp_path, text), mesh=Mesh())
    assert str(caught.value) == (
        "Resources.Fn::ForEach::Queues: Fn::ForEach (AWS::LanguageExtensions) is not supported "
        "locally: write the resources it would make out by hand"
    )


def test_a_macro_transform_is_refused(tmp_path: Path) -> None:
    text = f"Transform: [{SAM}, MyCompanyMacro]\nResources:\n  R: {{Type: AWS::IAM::Role}}\n"
    with pytest.raises(TemplateError) as caught:
        load_template(write(tmp_path, text), mesh=Mesh())
    assert str(caught.value) == (
        "Transform: 'MyCompanyMacro' runs in AWS (a macro) and cannot run locally; only "
        "AWS::Serverless-2016-10-31 and AWS::LanguageExtensions are understood"
    )


def test_parameters_are_checked_before_translation(tmp_path: Path) -> None:
    text = f"""
Transform: {SAM}
Parameters:
  Stage: {{Type: String, AllowedValues: [dev, prod], Default: dev}}
Resources:
  R: {{Type: AWS::IAM::Role}}
"""
    with pytest.raises(TemplateError) as caught:
        load_template(write(tmp_path, text), parameters={"Stage": "qa"}, mesh=Mesh())
    assert str(caught.value).startswith("Parameters.Stage: 'qa' (from --parameter-overrides)")


def test_a_sam_template_with_parameters_conditions_and_outputs(tmp_path: Path) -> None:
    text = f"""
AWSTemplateFormatVersion: 2010-09-09
Transform: {SAM}
Parameters:
  Stage: {{Type: String, Default: dev, AllowedValues: [dev, prod]}}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Resources:
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "orders-${{Stage}}"
  Audit:
    Type: AWS::DynamoDB::Table
    Condition: IsProd
  Role:
    Type: AWS::IAM::Role
    Properties:
      Path: !If [IsProd, /prod/, /dev/]
Outputs:
  Table: {{Value: !Ref Orders}}
  Region: {{Value: !Sub "${{AWS::Region}}"}}
  Audit: {{Condition: IsProd, Value: !GetAtt Audit.Arn}}
"""
    path = write(tmp_path, text)
    app = load_template(path, mesh=Mesh(region="eu-central-1"))
    assert app.outputs == {"Table": "Orders", "Region": "eu-central-1"}
    assert app.unsupported == {"Orders": "AWS::DynamoDB::Table"}
    assert app.left_out == ["Audit"]
    prod = load_template(path, parameters={"Stage": "prod"}, mesh=Mesh(region="eu-central-1"))
    assert prod.outputs["Audit"] == "arn:aws:dynamodb:eu-central-1:123456789012:Audit"
    assert prod.unsupported == {"Orders": "AWS::DynamoDB::Table", "Audit": "AWS::DynamoDB::Table"}


# -- reading ----------------------------------------------------------------------------------


def test_yaml_dates_stay_text_and_json_is_read_first() -> None:
    assert parse_document("AWSTemplateFormatVersion: 2010-09-09\n") == {
        "AWSTemplateFormatVersion": "2010-09-09"
    }
    assert parse_document('{"Resources": {"A": {"Type": "T"}}}') == {
        "Resources": {"A": {"Type": "T"}}
    }


def test_short_form_tags() -> None:
    document = parse_document(
        "A: !Ref X\nB: !Sub ['a-${v}', {v: !GetAtt R.Arn}]\nC: !If [Cond, !Condition D, 1]\n"
        "E: !Equals [!Select [0, !GetAZs ''], x]\n"
    )
    assert document == {
        "A": {"Ref": "X"},
        "B": {"Fn::Sub": ["a-${v}", {"v": {"Fn::GetAtt": ["R", "Arn"]}}]},
        "C": {"Fn::If": ["Cond", {"Condition": "D"}, 1]},
        "E": {"Fn::Equals": [{"Fn::Select": [0, {"Fn::GetAZs": ""}]}, "x"]},
    }


def test_a_key_given_twice_counts_once_the_last_time_and_is_noted(tmp_path: Path) -> None:
    # CloudFormation deploys such a template, the last occurrence winning.
    notes: list[str] = []
    document = parse_document(
        "Resources:\n  Queue: {Type: A}\n  Queue: {Type: B}\n", "template.yaml", notes
    )
    assert document == {"Resources": {"Queue": {"Type": "B"}}}
    assert notes == [
        "template.yaml line 3: Queue is given twice in one mapping; the last one counts, as in "
        "CloudFormation"
    ]
    text = "Resources:\n  R: {Type: AWS::IAM::Role, Properties: {Path: /a/, Path: /b/}}\n"
    app = load_template(write(tmp_path, text), mesh=Mesh())
    assert app.warnings == [
        f"{tmp_path / 'template.yaml'} line 2: Path is given twice in one mapping; the last "
        "one counts, as in CloudFormation"
    ]


def test_merged_keys_may_be_overridden() -> None:
    document = parse_document("base: &b {a: 1, b: 2}\nmine: {<<: *b, b: 3}\n")
    assert document["mine"] == {"a": 1, "b": 3}


def test_unreadable_and_non_mapping_templates(tmp_path: Path) -> None:
    with pytest.raises(TemplateError) as caught:
        load_template(tmp_path / "absent.yaml", mesh=Mesh())
    assert str(caught.value).startswith(f"cannot read the template {tmp_path / 'absent.yaml'}")
    with pytest.raises(TemplateError) as caught:
        load_template(write(tmp_path, "- a\n- b\n"), mesh=Mesh())
    assert (
        str(caught.value)
        == f"{tmp_path / 'template.yaml'}: a template is a mapping at the top level"
    )


def test_a_sam_resource_without_the_sam_transform_is_an_error_saying_so(tmp_path: Path) -> None:
    """CloudFormation refuses it (Unrecognized resource types); it is not a type the mesh
    merely does not emulate. Found in aws-samples/serverless-patterns (two API templates that
    lost their Transform line)."""
    text = (
        "Resources:\n"
        "  Worker:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties: {Handler: app.handler, Runtime: python3.12}\n"
        "  Table:\n"
        "    Type: AWS::Serverless::SimpleTable\n"
    )
    with pytest.raises(TemplateError) as refused:
        load_template(write(tmp_path, text), mesh=Mesh())
    assert str(refused.value) == (
        "Resources.Worker.Type: Unrecognized resource types: [AWS::Serverless::Function, "
        "AWS::Serverless::SimpleTable] (CloudFormation refuses the template): SAM resources "
        "need 'Transform: AWS::Serverless-2016-10-31' at the top of the template"
    )
