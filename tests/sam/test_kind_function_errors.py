"""What the Lambda kinds refuse or warn about, each error naming the template path; and the
values they read as CloudFormation does. Built only: no process starts."""

from __future__ import annotations

import copy
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from process_prefix import skip_if_hidden

from eventmesh import Mesh, Telemetry
from eventmesh.sam import Application, TemplateError, build_application, load_template
from eventmesh.sam.kinds.lambda_function import inline_code_folder
from tests.sam.lambda_support import template_folder

pytestmark = skip_if_hidden

FUNCTION: dict[str, Any] = {
    "Type": "AWS::Lambda::Function",
    "Properties": {"Runtime": "python3.12", "Handler": "app.handler", "Code": "src/"},
}


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with template_folder({"src/app.py": "def handler(e, c):\n    return e\n"}) as root:
        yield root


def mesh() -> Mesh:
    return Mesh(telemetry=Telemetry(enabled=False))


def build(
    folder: Path, *, strict: bool = False, into: Mesh | None = None, **resources: Any
) -> Application:
    return build_application(
        {"Resources": resources}, mesh=into or mesh(), template_dir=folder, strict=strict
    )


def function(**properties: Any) -> dict[str, Any]:
    made = copy.deepcopy(FUNCTION)
    made["Properties"].update(properties)
    for key in [k for k, v in made["Properties"].items() if v is None]:
        del made["Properties"][key]
    return made


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        (
            {"Runtime": None},
            "Resources.F.Properties.Runtime (AWS::Lambda::Function): a Zip function needs a "
            "Runtime",
        ),
        (
            {"Handler": None},
            "Resources.F.Properties.Handler (AWS::Lambda::Function): a Zip function needs a "
            "Handler",
        ),
        (
            {"Timeout": 901},
            "Resources.F.Properties.Timeout (AWS::Lambda::Function): must be from 1 to 900, "
            "got 901",
        ),
        (
            {"Timeout": "soon"},
            "Resources.F.Properties.Timeout (AWS::Lambda::Function): must be an integer, got "
            "'soon'",
        ),
        (
            {"MemorySize": 64},
            "Resources.F.Properties.MemorySize (AWS::Lambda::Function): must be from 128 to "
            "10240, got 64",
        ),
        (
            {"EphemeralStorage": {"Size": 20000}},
            "Resources.F.Properties.EphemeralStorage.Size (AWS::Lambda::Function): must be "
            "from 512 to 10240, got 20000",
        ),
        (
            {"Environment": {"Variables": {"TOKENS": ["s3cret"]}}},
            "Resources.F.Properties.Environment.Variables (AWS::Lambda::Function): TOKENS: a "
            "value must be a string, number or boolean, got a list",
        ),
        (
            {"Environment": {"Variables": {"API_KEY": None}}},
            "Resources.F.Properties.Environment.Variables.API_KEY (AWS::Lambda::Function): "
            "'null' values are not allowed in templates (CloudFormation refuses the template)",
        ),
        (
            {"Environment": {"Variables": {"AWS_REGION": "eu-west-1"}}},
            "Resources.F.Properties.Environment.Variables (AWS::Lambda::Function): Lambda was "
            "unable to configure your environment variables",
        ),
        (
            {"DeadLetterConfig": {"TargetArn": "elsewhere"}},
            "Resources.F.Properties.DeadLetterConfig.TargetArn (AWS::Lambda::Function): "
            "elsewhere is not a queue or topic of the template or the mesh",
        ),
        (
            {"Code": {"S3Bucket": "my-artifacts", "S3Key": "app.zip"}},
            "Resources.F.Properties.Code (AWS::Lambda::Function): the code is not a local folder",
        ),
        (
            {"Runtime": "provided.al2023", "Code": {"ZipFile": "echo hi"}},
            "Resources.F.Properties.Code.ZipFile (AWS::Lambda::Function): inline code is for "
            "Python (and Node.js) functions, not provided.al2023",
        ),
        (
            {"FunctionName": "has spaces"},
            "Resources.F.Properties.FunctionName (AWS::Lambda::Function): function name 'has "
            "spaces' must be 1-64 letters, digits, '-' or '_'",
        ),
        (
            {"ReservedConcurrentExecutions": 950},
            "Resources.F.Properties.ReservedConcurrentExecutions (AWS::Lambda::Function): "
            "reserving 950",
        ),
    ],
)
def test_a_function_property_the_mesh_cannot_take_is_an_error_naming_it(
    folder: Path, properties: dict[str, Any], expected: str
) -> None:
    with pytest.raises(TemplateError) as refused:
        build(folder, F=function(**properties))
    assert str(refused.value).startswith(expected), str(refused.value)
    assert "s3cret" not in str(refused.value)


@pytest.mark.parametrize(
    ("properties", "warning"),
    [
        (
            {"PackageType": "Image", "Runtime": None, "Handler": None, "Code": None},
            "Resources.F (AWS::Lambda::Function): PackageType: a container image function "
            "does not run locally (it needs its image; give the function a Runtime, a Handler "
            "and a local CodeUri to run it): the function is left out, a stand-in that fails "
            "every invocation takes its name",
        ),
        (
            {"Code": {"ImageUri": "123.dkr.ecr.us-east-1.amazonaws.com/app:1"}},
            "Resources.F (AWS::Lambda::Function): Code.ImageUri: a container image function "
            "does not run locally (it needs its image; give the function a Runtime, a Handler "
            "and a local CodeUri to run it): the function is left out, a stand-in that fails "
            "every invocation takes its name",
        ),
        (
            {"Runtime": "provided.al2023", "Handler": "bootstrap"},
            "Resources.F (AWS::Lambda::Function): Runtime: provided.al2023 runs an executable "
            "bootstrap, and neither the code folder src nor a layer has one: build the "
            "function first (sam build, or cargo lambda build for Rust) and run the built "
            "template (.aws-sam/build/template.yaml): the function is left out, a stand-in "
            "that fails every invocation takes its name",
        ),
    ],
)
def test_a_function_that_cannot_run_here_is_a_stand_in_with_a_warning_and_strict_refuses(
    folder: Path, properties: dict[str, Any], warning: str
) -> None:
    built = build(folder, F=function(**properties), Q={"Type": "AWS::SQS::Queue"})
    assert built.warnings == [warning]
    assert built.mesh.get_function("F").name == "F"  # what names it still builds
    assert built.mesh.context.find_resource("Q") is not None  # the rest of the template too
    with pytest.raises(TemplateError) as refused:
        build(folder, strict=True, F=function(**properties))
    assert str(refused.value) == f"--strict: {warning}"


def test_a_dead_letter_queue_or_destination_of_another_stack_is_warned_and_left_out(
    folder: Path,
) -> None:
    """An ARN of nothing in the template or the mesh (another stack's queue or topic) is out of
    the mesh's reach: a warning naming it, the function built without it; --strict refuses."""
    elsewhere = "arn:aws:sqs:us-east-1:123456789012:other-stack-dlq"
    failures = "arn:aws:sns:us-east-1:123456789012:other-stack-failures"
    resources = {
        "F": function(DeadLetterConfig={"TargetArn": elsewhere}),
        "C": invoke_config(DestinationConfig={"OnFailure": {"Destination": failures}}),
    }
    built = build(folder, **resources)
    assert built.warnings == [
        "Resources.F (AWS::Lambda::Function): DeadLetterConfig.TargetArn: "
        f"{elsewhere} is neither in the template nor in the mesh (not emulated, or another "
        "stack's): the function has no dead-letter queue (an event that fails every attempt "
        "is dropped)",
        "Resources.C (AWS::Lambda::EventInvokeConfig): DestinationConfig.OnFailure.Destination: "
        f"{failures} is neither in the template nor in the mesh (not emulated, or another "
        "stack's): the destination is left out (OnFailure records are dropped)",
    ]
    fn = built.mesh.get_function("F")
    assert fn.config.dead_letter is None
    with pytest.raises(TemplateError, match=r"^--strict: Resources\.F "):
        build(folder, strict=True, **resources)


def test_a_function_name_taken_in_the_mesh_is_an_error_naming_it(folder: Path) -> None:
    into = mesh()
    build(folder, into=into, F=function(FunctionName="shared"))
    with pytest.raises(TemplateError) as refused:
        build(folder, into=into, G=function(FunctionName="shared"))
    assert str(refused.value) == (
        "Resources.G.Properties.FunctionName (AWS::Lambda::Function): a function named "
        "'shared' is already registered"
    )


def test_parameter_strings_are_integers_and_values_become_strings(folder: Path) -> None:
    built = build(
        folder,
        F=function(
            Timeout="10",
            MemorySize=1024.0,
            ReservedConcurrentExecutions="0",
            Environment={"Variables": {"ON": False, "NUM": 0, "PI": 3.25, "STR": "x"}},
        ),
    )
    config = built.mesh.get_function("F").config
    assert (config.timeout, config.memory, config.reserved_concurrency) == (10, 1024, 0)
    assert config.environment == {"ON": "false", "NUM": "0", "PI": "3.25", "STR": "x"}


def test_a_dead_letter_target_is_a_queue_or_topic_named_by_arn(folder: Path) -> None:
    into = mesh()
    topic = into.topic("alarms")
    built = build(
        folder,
        into=into,
        F=function(DeadLetterConfig={"TargetArn": "arn:aws:sns:us-east-1:123456789012:alarms"}),
    )
    assert built.mesh.get_function("F").config.dead_letter is topic


def test_a_layer_not_in_the_template_is_a_warning_and_strict_refuses(folder: Path) -> None:
    layer = "arn:aws:lambda:us-east-1:210987654321:layer:shared-deps:3"
    built = build(folder, F=function(Layers=[layer]))
    assert built.warnings == [
        f"Resources.F (AWS::Lambda::Function): Layers[0]: {layer} is not a layer of the "
        "template, not available locally: what it provides must be installed beside eventmesh "
        "(Python packages in its interpreter)"
    ]
    with pytest.raises(TemplateError, match="--strict"):
        build(folder, strict=True, F=function(Layers=[layer]))


def test_powertools_public_layer_is_the_installed_package(folder: Path) -> None:
    layer = (
        "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:7"
    )
    built = build(folder, F=function(Layers=[layer]))
    assert built.warnings == []  # aws-lambda-powertools is installed in the test environment
    assert built.mesh.get_function("F").layers == ()  # type: ignore[attr-defined]


def test_recursive_loop_allow_and_file_systems_are_warnings(folder: Path) -> None:
    built = build(
        folder,
        F=function(
            RecursiveLoop="Allow",
            FileSystemConfigs=[{"Arn": "arn:aws:efs:x", "LocalMountPath": "/mnt/x"}],
        ),
    )
    assert len(built.warnings) == 2
    assert "RecursiveLoop: Allow is not honoured locally" in built.warnings[1]
    assert "FileSystemConfigs: ignored locally" in built.warnings[0]


def test_an_exec_wrapper_is_warned_about(folder: Path) -> None:
    variables = {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap"}
    built = build(folder, F=function(Environment={"Variables": variables}))
    assert built.warnings == [
        "Resources.F (AWS::Lambda::Function): Environment.Variables.AWS_LAMBDA_EXEC_WRAPPER: "
        "the wrapper script is not run locally (the runtime starts directly; layers are not "
        "mounted at /opt)"
    ]


def test_metadata_is_ignored_quietly(folder: Path) -> None:
    built = build(
        folder,
        F=function(
            Architectures=["arm64"],
            TracingConfig={"Mode": "Active"},
            LoggingConfig={"LogFormat": "JSON"},
            Tags=[{"Key": "team", "Value": "a"}],
            Role="arn:aws:iam::123456789012:role/r",
            VpcConfig={"SubnetIds": ["s"], "SecurityGroupIds": ["g"]},
            KmsKeyArn="arn:aws:kms:us-east-1:123456789012:key/k",
            Description="does things",
            RuntimeManagementConfig={"UpdateRuntimeOn": "Auto"},
            SnapStart={"ApplyOn": "None"},
            RecursiveLoop="Terminate",
        ),
    )
    assert built.warnings == []


def test_a_layer_with_content_in_s3_is_refused(folder: Path) -> None:
    with pytest.raises(TemplateError) as refused:
        build(
            folder,
            L={
                "Type": "AWS::Lambda::LayerVersion",
                "Properties": {"Content": {"S3Bucket": "b", "S3Key": "k.zip"}},
            },
        )
    assert str(refused.value).startswith(
        "Resources.L.Properties.Content (AWS::Lambda::LayerVersion): the layer's content is "
        "not a local folder"
    )


def test_layer_versions_of_one_name_are_numbered(folder: Path) -> None:
    layer = {
        "Type": "AWS::Lambda::LayerVersion",
        "Properties": {"LayerName": "deps", "Content": "src/"},
    }
    built = build(folder, A=layer, B=copy.deepcopy(layer))
    assert {built.resources["A"].ref, built.resources["B"].ref} == {
        "arn:aws:lambda:us-east-1:123456789012:layer:deps:1",
        "arn:aws:lambda:us-east-1:123456789012:layer:deps:2",
    }


def test_a_layer_of_python_source_is_laid_out_under_python(folder: Path) -> None:
    layer = {"Type": "AWS::Lambda::LayerVersion", "Properties": {"Content": "src/"}}
    built = build(folder, L=layer, F=function(Layers=[{"Ref": "L"}]))
    laid_out = folder / ".eventmesh" / "layers" / "L-1"
    assert built.resources["L"].value == laid_out
    assert (laid_out / "python").resolve() == (folder / "src").resolve()
    assert built.mesh.get_function("F").layers == (laid_out.resolve(),)  # type: ignore[attr-defined]


def test_a_zip_keeps_file_modes_and_is_extracted_again_only_when_changed(folder: Path) -> None:
    package = folder / "custom.zip"
    with zipfile.ZipFile(package, "w") as archive:
        script = zipfile.ZipInfo("bootstrap")
        script.external_attr = 0o755 << 16
        archive.writestr(script, "#!/bin/sh\nexit 0\n")
    properties = {"Runtime": "provided.al2023", "Code": "custom.zip", "FunctionName": "z1"}
    built = build(folder, F=function(**properties))
    code = built.mesh.get_function("z1").code  # type: ignore[attr-defined]
    assert code == (folder / ".eventmesh" / "zip" / "z1").resolve()
    assert os.access(code / "bootstrap", os.X_OK)
    (code / "bootstrap").write_text("#!/bin/sh\nexit 1\n")  # not extracted again: unchanged
    build(folder, F=function(**properties))
    assert (code / "bootstrap").read_text() == "#!/bin/sh\nexit 1\n"


def invoke_config(**properties: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::EventInvokeConfig",
        "Properties": {"FunctionName": {"Ref": "F"}, "Qualifier": "$LATEST", **properties},
    }


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        (
            {"MaximumRetryAttempts": 3},
            "Resources.C.Properties.MaximumRetryAttempts (AWS::Lambda::EventInvokeConfig): "
            "must be from 0 to 2, got 3",
        ),
        (
            {"MaximumEventAgeInSeconds": 59},
            "Resources.C.Properties.MaximumEventAgeInSeconds (AWS::Lambda::EventInvokeConfig):"
            " must be from 60 to 21600, got 59",
        ),
        (
            {"Qualifier": "live"},
            "Resources.C.Properties.Qualifier (AWS::Lambda::EventInvokeConfig): function 'F' "
            "has no version or alias 'live'",
        ),
        (
            {"DestinationConfig": {"OnSuccess": {"Destination": "gone"}}},
            "Resources.C.Properties.DestinationConfig.OnSuccess.Destination "
            "(AWS::Lambda::EventInvokeConfig): gone is not a queue, "
            "topic, function, bus or bucket of the template or the mesh",
        ),
        (
            {"DestinationConfig": {"OnSuccess": {"Destination": "arn:aws:s3:::failures"}}},
            "Resources.C.Properties.DestinationConfig.OnSuccess.Destination "
            "(AWS::Lambda::EventInvokeConfig): an S3 bucket is a destination for OnFailure only",
        ),
        (
            {"FunctionName": "nope"},
            "Resources.C.Properties.FunctionName (AWS::Lambda::EventInvokeConfig): no function "
            "'nope' in the template or the mesh",
        ),
    ],
)
def test_an_event_invoke_config_the_mesh_cannot_take_is_an_error_naming_it(
    folder: Path, properties: dict[str, Any], expected: str
) -> None:
    into = mesh()
    into.bucket("failures")
    with pytest.raises(TemplateError) as refused:
        build(folder, into=into, F=function(), C=invoke_config(**properties))
    assert str(refused.value).startswith(expected), str(refused.value)


def test_destinations_by_arn_bus_bucket_topic(folder: Path) -> None:
    into = mesh()
    bus = into.bus("orders")
    bucket = into.bucket("failures")
    built = build(
        folder,
        into=into,
        F=function(),
        C=invoke_config(
            DestinationConfig={
                "OnSuccess": {
                    "Destination": "arn:aws:events:us-east-1:123456789012:event-bus/orders"
                },
                "OnFailure": {"Destination": "arn:aws:s3:::failures"},
            }
        ),
    )
    config = built.mesh.get_function("F").config
    assert config.on_success is bus
    assert config.on_failure is bucket


def test_an_alias_to_a_version_not_published_is_an_error(folder: Path) -> None:
    with pytest.raises(TemplateError) as refused:
        build(
            folder,
            F=function(),
            A={
                "Type": "AWS::Lambda::Alias",
                "Properties": {"FunctionName": {"Ref": "F"}, "FunctionVersion": "5", "Name": "x"},
            },
        )
    assert str(refused.value).startswith(
        "Resources.A.Properties.FunctionVersion (AWS::Lambda::Alias): function 'F' has no "
        "version '5'"
    )


def test_an_alias_weight_out_of_range_is_an_error(folder: Path) -> None:
    with pytest.raises(TemplateError) as refused:
        build(
            folder,
            F=function(),
            V={"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Ref": "F"}}},
            A={
                "Type": "AWS::Lambda::Alias",
                "Properties": {
                    "FunctionName": {"Ref": "F"},
                    "FunctionVersion": {"Fn::GetAtt": ["V", "Version"]},
                    "Name": "x",
                    "RoutingConfig": {
                        "AdditionalVersionWeights": [{"FunctionVersion": "1", "FunctionWeight": 2}]
                    },
                },
            },
        )
    assert str(refused.value) == (
        "Resources.A.Properties.RoutingConfig.AdditionalVersionWeights[0].FunctionWeight "
        "(AWS::Lambda::Alias): a weight must be from 0.0 to 1.0, got 2"
    )


def test_inline_code_goes_to_the_user_cache_when_the_template_is_under_tmp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder / "cache"))
    written = inline_code_folder(Path("/tmp/some-project"), "Fn", "x = 1\n")
    assert written.parent.parent == folder / "cache" / "eventmesh" / "inline"
    assert written.name == "Fn"
    assert (written / "index.py").read_text() == "x = 1\n"
    before = (written / "index.py").stat().st_mtime_ns
    inline_code_folder(Path("/tmp/some-project"), "Fn", "x = 1\n")
    assert (written / "index.py").stat().st_mtime_ns == before  # unchanged: not rewritten


def test_a_sam_function_with_inline_code_and_a_layer(folder: Path) -> None:
    (folder / "sam.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  Deps:\n"
        "    Type: AWS::Serverless::LayerVersion\n"
        "    Properties: {ContentUri: src/}\n"
        "  Fn:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      Runtime: python3.12\n"
        "      Handler: index.handler\n"
        "      InlineCode: 'def handler(e, c): return 1'\n"
        "      Layers: [!Ref Deps]\n"
    )
    built = load_template(folder / "sam.yaml", mesh=mesh())
    fn = built.mesh.get_function("Fn")
    assert fn.layers == ((folder / ".eventmesh/layers/Deps-1").resolve(),)  # type: ignore[attr-defined]
    assert fn.code == (folder / ".eventmesh" / "inline" / "Fn").resolve()  # type: ignore[attr-defined]
    assert (fn.code / "index.py").read_text() == "def handler(e, c): return 1"  # type: ignore[attr-defined]
