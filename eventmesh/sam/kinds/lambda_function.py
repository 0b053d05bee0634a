"""``AWS::Lambda::Function`` (what SAM's ``AWS::Serverless::Function`` becomes): a process
function of the mesh.

- ``Runtime``: ``python3.x`` runs ``Handler`` with AWS's Python runtime client on the mesh's
  interpreter; ``provided``, ``provided.al2``, ``provided.al2023`` run the code folder's (or a
  layer's) executable ``bootstrap``. Any other runtime (Node.js, Java, .NET, Ruby) cannot run
  here: the function is left out with a warning and a stand-in takes its name, so what the
  template wires to it (mappings, rules, destinations, routes) still builds; each invocation
  of the stand-in fails (error type ``RuntimeUnavailable``), saying so. A container image
  (``PackageType: Image``, ``Code.ImageUri``) and a ``provided`` function whose code folder
  (and layers) have no ``bootstrap`` yet (a Rust or Go function before ``sam build``) get the
  same stand-in, the warning saying what is missing; ``--strict`` refuses all three.
- ``Code``: the local folder the template names (``CodeUri``, or a plain template's ``Code:
  ./src``), or a local ``.zip`` deployment package, extracted into ``.eventmesh/zip/<name>``;
  ``ZipFile`` inline code is Lambda's ``index.py``, written (when changed) into
  ``.eventmesh/inline/<function>/`` beside the template, or under the user's cache folder when
  the template's folder is under ``/tmp`` or not writable; code in S3 is refused.
- ``FunctionName`` (else the logical id), ``Environment.Variables`` (numbers and booleans
  become strings, as CloudFormation passes them; a null value, ``KEY:`` with nothing after it,
  is an error, as CloudFormation refuses it), ``Timeout`` (3), ``MemorySize`` (128),
  ``EphemeralStorage.Size`` (512), ``ReservedConcurrentExecutions``,
  ``DeadLetterConfig.TargetArn`` (a queue or topic of the mesh; one out of its reach, another
  stack's, is warned about and left out), ``Layers`` (local layer
  versions; Powertools' public layer is quietly the installed ``aws-lambda-powertools``, or a
  warning when it is not installed; other layer ARNs are warned about).
- Metadata, ignored: ``Architectures``, ``TracingConfig``, ``LoggingConfig``, ``Tags``,
  ``Role``, ``VpcConfig``, ``KmsKeyArn``, ``Description``, ``RuntimeManagementConfig``,
  ``SnapStart``, ``CodeSigningConfigArn``; ``RecursiveLoop: Allow`` is warned about (the mesh
  always stops a loop, as ``Terminate``); ``FileSystemConfigs``, ``ImageConfig`` and an
  ``AWS_LAMBDA_EXEC_WRAPPER`` variable (its script is not run) are warned about.

``Ref`` gives the function's name, ``Fn::GetAtt ... Arn`` its ARN.
"""

from __future__ import annotations

import importlib.util
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from eventmesh._errors import ConfigurationError
from eventmesh._function import Function
from eventmesh._registry import check_function_name
from eventmesh.process._launch import CUSTOM_RUNTIMES, find_bootstrap, runtime_kind
from eventmesh.resources.queue import Queue
from eventmesh.resources.topic import Topic
from eventmesh.sam._model import BuildContext, Built, CfnResource
from eventmesh.sam.kinds import register
from eventmesh.sam.kinds._lambda import (
    MESH_FOLDER,
    CodeError,
    code_folder,
    integer,
    local_layers,
    mesh_owned_folder,
)
from eventmesh.sam.kinds._targets import outside_reach

__all__ = ["INLINE_FOLDER", "LambdaFunction", "RuntimeUnavailable", "inline_code_folder"]

INLINE_FOLDER = MESH_FOLDER / "inline"
"""Where inline code is written, under the template's folder."""

_POWERTOOLS_LAYER = re.compile(
    r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:017000801446:layer:AWSLambdaPowertoolsPython"
)
"""Powertools for AWS Lambda (Python)'s public layers: what they hold is the
``aws-lambda-powertools`` package, used from the mesh's interpreter when it is installed."""

_MAX_LAYERS = 5
"""Lambda's limit of layers per function."""

_WARNED = {
    "FileSystemConfigs": "file systems (EFS) are not mounted locally",
    "ImageConfig": "container image settings mean nothing for a Zip function",
}
_PROPERTY_OF = (
    ("function name", "FunctionName"),
    ("function named", "FunctionName"),
    ("environment", "Environment.Variables"),
    ("reserv", "ReservedConcurrentExecutions"),
    ("handler", "Handler"),  # before "bootstrap": a handler's message names what else runs
    ("bootstrap", "Runtime"),
    ("runtime", "Runtime"),
    ("layer", "Layers"),
    ("code", "Code"),
    ("dead", "DeadLetterConfig.TargetArn"),
)


class RuntimeUnavailable(Exception):
    """The function's runtime does not run locally (the stand-in's error)."""


def _environment(resource: CfnResource) -> dict[str, str]:
    environment = resource.properties.get("Environment") or {}
    if not isinstance(environment, Mapping):
        raise resource.error("must be an object with Variables", "Environment")
    variables = environment.get("Variables") or {}
    if not isinstance(variables, Mapping):
        raise resource.error("must be an object of names to values", "Environment.Variables")
    converted = {}
    for key, value in variables.items():
        if isinstance(value, bool):
            converted[str(key)] = "true" if value else "false"
        elif isinstance(value, int | float | str):
            converted[str(key)] = str(value)
        elif value is None:  # `KEY:` with nothing after it
            raise resource.error(
                "'null' values are not allowed in templates (CloudFormation refuses the "
                "template): give the variable a value, or '' for an empty one",
                f"Environment.Variables.{key}",
            )
        else:  # the type only: values may be secrets
            raise resource.error(
                f"{key}: a value must be a string, number or boolean, got a {type(value).__name__}",
                "Environment.Variables",
            )
    return converted


def inline_code_folder(template_dir: Path, name: str, source: str) -> Path:
    """The folder holding ``index.py`` with ``source``: ``.eventmesh/inline/<name>`` under
    the template's folder, or the user's cache when that folder is under ``/tmp`` (hidden
    from process environments) or cannot be written. The file is written only when its text
    changed, so a watcher of the template's folder sees no change on a rebuild."""

    def fill(folder: Path) -> None:
        index = folder / "index.py"
        if index.is_symlink():  # never written through (a link planted in a repository)
            index.unlink()
        if not index.is_file() or index.read_text() != source:
            index.write_text(source)

    return mesh_owned_folder(template_dir, "inline", name, fill)


class LambdaFunction:
    types: ClassVar[tuple[str, ...]] = ("AWS::Lambda::Function",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        properties = resource.properties
        name = properties.get("FunctionName") or resource.logical_id
        if not isinstance(name, str):
            raise resource.error(f"must be a string, got {name!r}", "FunctionName")
        try:  # before any file is written for it (inline code, an extracted .zip)
            check_function_name(name)
        except ConfigurationError as exc:
            raise resource.error(str(exc), "FunctionName") from None
        if name in context.mesh.functions:  # (its folders are the other function's)
            raise resource.error(f"a function named {name!r} is already registered", "FunctionName")
        code = properties.get("Code")
        if properties.get("PackageType") == "Image" or (
            isinstance(code, Mapping) and code.get("ImageUri") is not None
        ):
            member = "PackageType" if properties.get("PackageType") == "Image" else "Code.ImageUri"
            function = self._stand_in(
                resource,
                context,
                name,
                f"{member}: a container image function does not run locally (it needs its "
                "image; give the function a Runtime, a Handler and a local CodeUri to run it)",
                self._settings(resource, context),
            )
            return self._built(context, function, name)
        runtime = properties.get("Runtime")
        if not isinstance(runtime, str):
            raise resource.error("a Zip function needs a Runtime", "Runtime")
        handler = properties.get("Handler")
        if not isinstance(handler, str):
            raise resource.error("a Zip function needs a Handler", "Handler")
        settings = self._settings(resource, context)
        for member, why in _WARNED.items():
            if properties.get(member):
                context.warn(resource, f"{member}: ignored locally ({why})")
        if "AWS_LAMBDA_EXEC_WRAPPER" in settings["environment"]:
            context.warn(
                resource,
                "Environment.Variables.AWS_LAMBDA_EXEC_WRAPPER: the wrapper script is not run "
                "locally (the runtime starts directly; layers are not mounted at /opt)",
            )
        if properties.get("RecursiveLoop") == "Allow":
            context.warn(
                resource,
                "RecursiveLoop: Allow is not honoured locally: a loop of more than 16 "
                "invocations is stopped, as with Terminate",
            )
        kind = runtime_kind(runtime)
        if kind is None:
            runs = "python3.x, " + ", ".join(CUSTOM_RUNTIMES)
            why = f"Runtime: {runtime} does not run locally (only {runs} do)"
            function = self._stand_in(resource, context, name, why, settings)
            return self._built(context, function, name)
        folder = self._code(resource, context, name, runtime, code)
        layers = self._layers(resource, context)
        if kind == "provided" and find_bootstrap(folder, tuple(layers)) is None:
            why = (
                f"Runtime: {runtime} runs an executable bootstrap, and neither the code folder "
                f"{self._shown(context, folder)} nor a layer has one: build the function first "
                "(sam build, or cargo lambda build for Rust) and run the built template "
                "(.aws-sam/build/template.yaml)"
            )
            function = self._stand_in(resource, context, name, why, settings)
        else:
            try:
                function = context.mesh.function(
                    name=name,
                    handler=handler,
                    code=folder,
                    runtime=runtime,
                    layers=layers,
                    **settings,
                )
            except ConfigurationError as exc:
                raise self._error(resource, exc) from None
        return self._built(context, function, name)

    @staticmethod
    def _built(context: BuildContext, function: Function, name: str) -> Built:
        arn = context.mesh.resolve_function(function).arn
        return Built(function, name, {"Arn": arn})

    @staticmethod
    def _shown(context: BuildContext, folder: Path) -> str:
        """The code folder as the template names it: relative to the template's folder."""
        try:
            return str(folder.relative_to(context.template_dir.resolve())) or "."
        except ValueError:
            return str(folder)

    def _settings(self, resource: CfnResource, context: BuildContext) -> dict[str, Any]:
        properties = resource.properties
        settings: dict[str, Any] = {
            "timeout": integer(resource, "Timeout", properties.get("Timeout", 3), 1, 900),
            "memory": integer(
                resource, "MemorySize", properties.get("MemorySize", 128), 128, 10240
            ),
            "environment": _environment(resource),
        }
        storage = properties.get("EphemeralStorage")
        if storage is not None:
            size = storage.get("Size") if isinstance(storage, Mapping) else storage
            settings["ephemeral_storage"] = integer(
                resource, "EphemeralStorage.Size", size, 512, 10240
            )
        reserved = properties.get("ReservedConcurrentExecutions")
        if reserved is not None:
            settings["reserved_concurrency"] = integer(
                resource, "ReservedConcurrentExecutions", reserved, 0, 10**9
            )
        dead_letter = properties.get("DeadLetterConfig")
        if dead_letter is not None and not isinstance(dead_letter, Mapping):
            raise resource.error(
                f"must be an object with TargetArn, got {dead_letter!r}", "DeadLetterConfig"
            )
        if dead_letter and dead_letter.get("TargetArn"):
            found = self._dead_letter(resource, context, dead_letter["TargetArn"])
            if found is not None:
                settings["dead_letter"] = found
        return settings

    def _dead_letter(self, resource: CfnResource, context: BuildContext, arn: Any) -> Any:
        path = "DeadLetterConfig.TargetArn"
        if not isinstance(arn, str):
            raise resource.error(f"must be a queue's or a topic's ARN, got {arn!r}", path)
        found = context.find(arn)
        why = outside_reach(context, arn) if found is None else None
        if why is not None:
            context.warn(
                resource,
                f"{path}: {why}: the function has no dead-letter queue (an event that fails "
                "every attempt is dropped)",
            )
            return None
        if found is None:
            raise resource.error(
                f"{arn} is not a queue or topic of the template or the mesh: the function's "
                "failed events would have nowhere to go",
                path,
            )
        if not isinstance(found, Queue | Topic):
            raise resource.error(f"{arn}: a dead-letter target is an SQS queue or SNS topic", path)
        return found

    def _code(
        self,
        resource: CfnResource,
        context: BuildContext,
        name: str,
        runtime: str,
        code: Any,
    ) -> Path:
        if isinstance(code, Mapping) and code.get("ZipFile") is not None:
            source = code["ZipFile"]
            if not isinstance(source, str):
                raise resource.error("must be the function's source text", "Code.ZipFile")
            if runtime_kind(runtime) != "python":
                raise resource.error(
                    f"inline code is for Python (and Node.js) functions, not {runtime}",
                    "Code.ZipFile",
                )
            try:
                return inline_code_folder(context.template_dir, name, source)
            except OSError as exc:
                raise resource.error(str(exc), "Code.ZipFile") from None
        folder = context.code_path(resource)
        if folder is None:
            raise resource.error(
                "the code is not a local folder (an S3 location?): give the function a local "
                "CodeUri (SAM) or Code (CloudFormation) folder",
                "Code",
            )
        try:
            return code_folder(context.template_dir, "zip", name, folder)
        except (OSError, zipfile.BadZipFile) as exc:
            raise resource.error(f"cannot extract {folder}: {exc}", "Code") from None
        except CodeError as exc:
            raise resource.error(str(exc), "Code") from None

    def _layers(self, resource: CfnResource, context: BuildContext) -> list[Path]:
        arns = resource.properties.get("Layers") or []
        if not isinstance(arns, list):
            raise resource.error("must be a list of layer version ARNs", "Layers")
        if len(arns) > _MAX_LAYERS:
            raise resource.error(f"Cannot reference more than {_MAX_LAYERS} layers.", "Layers")
        known = local_layers(context.mesh)
        folders = []
        seen: dict[str, str] = {}  # layer ARN (no version) -> the version ARN given
        for index, arn in enumerate(arns):
            if not isinstance(arn, str):
                raise resource.error(
                    f"must be a layer version ARN, got {arn!r}", f"Layers[{index}]"
                )
            layer = arn.rsplit(":", 1)[0]
            if layer in seen:  # (the same version twice too, as Lambda says)
                raise resource.error(
                    "Two different versions of the same layer are not allowed to be referenced "
                    f"in the same function. {seen[layer]} and {arn} are versions of the same "
                    "layer.",
                    f"Layers[{index}]",
                )
            seen[layer] = arn
            if arn in known:
                folders.append(known[arn])
            elif _POWERTOOLS_LAYER.match(arn):
                if importlib.util.find_spec("aws_lambda_powertools") is None:
                    context.warn(
                        resource,
                        f"Layers[{index}]: {arn} is Powertools for AWS Lambda's public layer, "
                        "not available locally: pip install aws-lambda-powertools beside "
                        "eventmesh (handlers import the mesh's interpreter's packages)",
                    )
            else:
                context.warn(
                    resource,
                    f"Layers[{index}]: {arn} is not a layer of the template, not available "
                    "locally: what it provides must be installed beside eventmesh (Python "
                    "packages in its interpreter)",
                )
        return folders

    def _stand_in(
        self,
        resource: CfnResource,
        context: BuildContext,
        name: str,
        why: str,
        settings: dict[str, Any],
    ) -> Function:
        """A function that fails every invocation saying ``why``, in place of one that
        cannot run here: what the template wires to it (mappings, rules, destinations,
        routes) still builds, and the warning says what is missing."""
        message = f"function {name}: {why}; this stand-in fails every invocation"
        context.warn(
            resource,
            f"{why}: the function is left out, a stand-in that fails every invocation takes "
            "its name",
        )

        async def unavailable(event: Any, _context: Any) -> Any:
            raise RuntimeUnavailable(message)

        unavailable.__name__ = name
        unavailable.__qualname__ = name
        try:
            register_function = context.mesh.function(name=name, **settings)
            stand_in: Function = register_function(unavailable)
        except ConfigurationError as exc:
            raise self._error(resource, exc) from None
        return stand_in

    def _error(self, resource: CfnResource, exc: ConfigurationError) -> Exception:
        text = str(exc)
        lowered = text.lower()
        for word, path in _PROPERTY_OF:
            if word in lowered:
                return resource.error(text, path)
        return resource.error(text)


register(LambdaFunction())
