"""SAM to CloudFormation with AWS's own translator (``aws-sam-translator``), offline.

The translator expects what ``sam package`` leaves: code in S3. Local ``CodeUri`` and
``ContentUri`` folders are therefore rewritten as ``s3://eventmesh-local/<logical id>`` before
translation, and the folder is kept beside it (:attr:`Translated.code_paths`, by that key), so
the function built from the translated ``AWS::Lambda::Function`` finds its code again. A local
``DefinitionUri`` of an API is read and inlined as its ``DefinitionBody``, as ``sam local``
does. The translator needs a region (given, not read from the environment) and a managed-policy
loader (IAM is never called: policies mean nothing locally).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventmesh.sam._errors import TemplateError
from eventmesh.sam._yaml import load_document

__all__ = ["LOCAL_CODE_BUCKET", "SAM_TRANSFORM", "Translated", "translate"]

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
LOCAL_CODE_BUCKET = "eventmesh-local"
"""The S3 bucket name standing for "the local folder recorded beside it"."""

_CODE_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
}
_DEFINITION_TYPES = ("AWS::Serverless::Api", "AWS::Serverless::HttpApi")


@dataclass(slots=True)
class Translated:
    """A template as plain CloudFormation, with the local folders its code came from."""

    template: dict[str, Any]
    code_paths: dict[str, Path] = field(default_factory=dict)
    """Local code folders by the S3 key standing for them in ``template``."""


def _is_sam(template: Mapping[str, Any]) -> bool:
    transform = template.get("Transform")
    names = transform if isinstance(transform, list) else [transform]
    return SAM_TRANSFORM in names


def _is_local(uri: Any) -> bool:
    return isinstance(uri, str) and not uri.startswith("s3://")


class _NoManagedPolicies:
    """The translator's policy loader: no IAM call (its bundled map resolves names)."""

    def load(self) -> dict[str, str]:
        return {}


def _rewrite_code(template: dict[str, Any], base: Path, code_paths: dict[str, Path]) -> None:
    resources = template.get("Resources")
    if not isinstance(resources, dict):
        return
    globals_function = (template.get("Globals") or {}).get("Function") or {}
    global_code = globals_function.get("CodeUri") if isinstance(globals_function, dict) else None
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict):
            continue
        member = _CODE_PROPERTIES.get(str(resource.get("Type")))
        properties = resource.setdefault("Properties", {})
        if member is None or not isinstance(properties, dict):
            continue
        uri = properties.get(member)
        if uri is None and member == "CodeUri" and not _has_other_code(properties):
            uri = global_code
        if _is_local(uri):
            code_paths[logical_id] = (base / str(uri)).resolve()
            properties[member] = f"s3://{LOCAL_CODE_BUCKET}/{logical_id}"
    if _is_local(global_code):
        globals_function.pop("CodeUri")


def _has_other_code(properties: Mapping[str, Any]) -> bool:
    return any(properties.get(key) is not None for key in ("InlineCode", "ImageUri"))


def _inline_definitions(template: dict[str, Any], base: Path) -> None:
    for logical_id, resource in (template.get("Resources") or {}).items():
        if not isinstance(resource, dict) or resource.get("Type") not in _DEFINITION_TYPES:
            continue
        properties = resource.get("Properties") or {}
        uri = properties.get("DefinitionUri")
        if _is_local(uri) and properties.get("DefinitionBody") is None:
            path = base / str(uri)
            try:
                properties["DefinitionBody"] = load_document(path)
            except TemplateError as exc:
                raise TemplateError(
                    f"Resources.{logical_id}.Properties.DefinitionUri: {exc}"
                ) from None
            del properties["DefinitionUri"]


def translate(
    template: Mapping[str, Any],
    base: Path,
    *,
    region: str,
    parameters: Mapping[str, Any],
) -> Translated:
    """``template`` as CloudFormation: translated if it declares the SAM transform, else as
    given. ``base`` is the template's folder; ``parameters`` the parameter values (with the
    pseudo parameters) the translator may use."""
    document = copy.deepcopy(dict(template))
    code_paths: dict[str, Path] = {}
    if not _is_sam(document):
        return Translated(document, _plain_code_paths(document, base))
    try:
        from samtranslator.model.exceptions import InvalidDocumentException
        from samtranslator.translator.arn_generator import ArnGenerator
    except ImportError as exc:
        raise TemplateError(
            f"a SAM template needs the sam extra ({exc}): pip install 'eventmesh[sam]'"
        ) from None
    _rewrite_code(document, base, code_paths)
    _inline_definitions(document, base)
    previous = ArnGenerator.BOTO_SESSION_REGION_NAME
    ArnGenerator.BOTO_SESSION_REGION_NAME = region
    try:
        translated = _transform(document, dict(parameters), region)
    except InvalidDocumentException as exc:
        causes = "; ".join(cause.message for cause in exc.causes) or exc.message
        raise TemplateError(f"the SAM template is not valid: {causes}") from None
    finally:
        ArnGenerator.BOTO_SESSION_REGION_NAME = previous
    return Translated(translated, code_paths)


def _transform(document: dict[str, Any], parameters: dict[str, Any], region: str) -> Any:
    """``samtranslator.translator.transform.transform``, but with a boto3 session that has
    the region: without one the translator asks boto3 for the environment's region
    (``NoRegionFound`` where ``AWS_REGION`` is unset) to fill ``AWS::Region``."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator
    from samtranslator.utils.py27hash_fix import (
        to_py27_compatible_template,
        undo_mark_unicode_str_in_template,
    )

    to_py27_compatible_template(document, parameters)
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=region))
    policies = _NoManagedPolicies()
    translated = translator.translate(
        document, parameter_values=parameters, get_managed_policy_map=policies.load
    )
    return undo_mark_unicode_str_in_template(translated)


def _plain_code_paths(template: Mapping[str, Any], base: Path) -> dict[str, Path]:
    """A plain CloudFormation template may give a function's ``Code`` or a layer's
    ``Content`` as a local folder (``Code: ./src``, as ``aws cloudformation package`` reads
    it): kept by logical id."""
    members = {"AWS::Lambda::Function": "Code", "AWS::Lambda::LayerVersion": "Content"}
    paths: dict[str, Path] = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        if not isinstance(resource, dict) or resource.get("Type") not in members:
            continue
        code = (resource.get("Properties") or {}).get(members[resource["Type"]])
        if _is_local(code):
            paths[logical_id] = (base / str(code)).resolve()
    return paths
