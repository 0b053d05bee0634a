"""Lambda kinds' properties of an odd shape: each is an error naming its template path once
(never a property silently dropped, never a traceback). Built only: no process starts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from process_prefix import skip_if_hidden

from eventmesh import Mesh, Telemetry
from eventmesh.sam import Application, TemplateError, build_application
from tests.sam.lambda_support import template_folder

pytestmark = skip_if_hidden

FUNCTION = {
    "Type": "AWS::Lambda::Function",
    "Properties": {"Runtime": "python3.12", "Handler": "app.handler", "Code": "src/"},
}
VERSION = {"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Ref": "F"}}}


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with template_folder({"src/app.py": "def handler(e, c):\n    return e\n"}) as root:
        yield root


def build(folder: Path, **resources: Any) -> Application:
    return build_application(
        {"Resources": {"F": FUNCTION, **resources}},
        mesh=Mesh(telemetry=Telemetry(enabled=False)),
        template_dir=folder,
    )


def alias(**properties: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Alias",
        "Properties": {
            "FunctionName": {"Ref": "F"},
            "FunctionVersion": {"Fn::GetAtt": ["V", "Version"]},
            "Name": "live",
            **properties,
        },
    }


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        (
            {"V": {**VERSION, "Properties": {**VERSION["Properties"],
                                             "ProvisionedConcurrencyConfig": "3"}}},
            "Resources.V.Properties.ProvisionedConcurrencyConfig (AWS::Lambda::Version): must "
            "be an object with ProvisionedConcurrentExecutions, got '3'",
        ),
        (
            {"V": VERSION, "A": alias(ProvisionedConcurrencyConfig={
                "ProvisionedConcurrentExecutions": "many"})},
            "Resources.A.Properties.ProvisionedConcurrencyConfig.ProvisionedConcurrentExecutions"
            " (AWS::Lambda::Alias): must be an integer, got 'many'",
        ),
        (
            {"V": VERSION, "A": alias(RoutingConfig={"AdditionalVersionWeights": [
                {"FunctionVersion": ["1"], "FunctionWeight": 0.5}]})},
            "Resources.A.Properties.RoutingConfig.AdditionalVersionWeights[0].FunctionVersion "
            "(AWS::Lambda::Alias): must be a version, got ['1']",
        ),
        (
            {"G": {**FUNCTION, "Properties": {**FUNCTION["Properties"], "FunctionName": "g",
                   "DeadLetterConfig": "arn:aws:sqs:us-east-1:123456789012:dlq"}}},
            "Resources.G.Properties.DeadLetterConfig (AWS::Lambda::Function): must be an "
            "object with TargetArn, got 'arn:aws:sqs:us-east-1:123456789012:dlq'",
        ),
    ],
)  # fmt: skip
def test_an_odd_shape_is_an_error_naming_its_path_once(
    folder: Path, resources: dict[str, Any], expected: str
) -> None:
    with pytest.raises(TemplateError) as refused:
        build(folder, **resources)
    assert str(refused.value) == expected


def test_a_handler_that_is_not_pythons_is_named_as_the_handler(folder: Path) -> None:
    with pytest.raises(TemplateError) as refused:
        build(folder, G={**FUNCTION, "Properties": {**FUNCTION["Properties"], "Handler": "main"}})
    assert str(refused.value).startswith(
        "Resources.G.Properties.Handler (AWS::Lambda::Function): handler 'main' is not a "
        "Python handler 'module.function'"
    )


def layer_arns(count: int) -> list[str]:
    return [f"arn:aws:lambda:us-east-1:123456789012:layer:l{n}:1" for n in range(count)]


def test_more_than_five_layers_are_refused_as_lambda_does(folder: Path) -> None:
    properties = {**FUNCTION["Properties"], "FunctionName": "g", "Layers": layer_arns(6)}
    with pytest.raises(TemplateError) as refused:
        build(folder, G={**FUNCTION, "Properties": properties})
    assert str(refused.value) == (
        "Resources.G.Properties.Layers (AWS::Lambda::Function): Cannot reference more than 5 "
        "layers."
    )


def test_two_versions_of_one_layer_are_refused_as_lambda_does(folder: Path) -> None:
    layer = {
        "Type": "AWS::Lambda::LayerVersion",
        "Properties": {"LayerName": "deps", "Content": "src/"},
    }
    properties = {
        **FUNCTION["Properties"],
        "FunctionName": "g",
        "Layers": [{"Ref": "A"}, {"Ref": "B"}],
    }
    with pytest.raises(TemplateError) as refused:
        build(folder, A=layer, B=layer, G={**FUNCTION, "Properties": properties})
    assert str(refused.value) == (
        "Resources.G.Properties.Layers[1] (AWS::Lambda::Function): Two different versions of "
        "the same layer are not allowed to be referenced in the same function. "
        "arn:aws:lambda:us-east-1:123456789012:layer:deps:1 and "
        "arn:aws:lambda:us-east-1:123456789012:layer:deps:2 are versions of the same layer."
    )


@pytest.mark.parametrize(
    ("kind", "member"),
    [("AWS::Lambda::Function", "Code"), ("AWS::Lambda::LayerVersion", "Content")],
)
def test_a_code_path_holding_a_nul_character_is_an_error_naming_it(
    folder: Path, kind: str, member: str
) -> None:
    properties = {**FUNCTION["Properties"], "FunctionName": "g", member: "src\x00/"}
    properties.pop("Code") if member == "Content" else None
    with pytest.raises(TemplateError) as refused:
        build(folder, G={"Type": kind, "Properties": properties})
    assert str(refused.value) == (
        f"Resources.G.Properties.{member} ({kind}): a path cannot hold a NUL character"
    )
