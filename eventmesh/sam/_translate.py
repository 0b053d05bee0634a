"""SAM to CloudFormation with AWS's own translator (``aws-sam-translator``), offline.

The translator expects what ``sam package`` leaves: code in S3. Local ``CodeUri`` and
``ContentUri`` folders (given on the resource or in ``Globals.Function``) are therefore
rewritten as ``s3://eventmesh-local/<logical id>`` before translation, and the folder is kept
beside it (:attr:`Translated.code_paths`, by that key), so the function built from the
translated ``AWS::Lambda::Function`` finds its code again. Code given as an S3 object
(``CodeUri: {Bucket, Key}``), an ``s3://`` URI, ``InlineCode`` or ``ImageUri`` is left as it is
(not local: no code path). A local ``DefinitionUri`` of an ``Api``/``HttpApi`` is read and
inlined as its ``DefinitionBody``, as ``sam local`` does; a state machine's local
``DefinitionUri`` is a file kept the way code folders are (the translator accepts only S3).
Nested applications (``AWS::Serverless::Application``) are set aside before translation (the
translator would call the Serverless Application Repository) and put back untranslated: the
builder lists them as not emulated.

The translator merges ``Globals`` into the resources (maps merged, the resource winning; lists
Globals first) and expands the SAM types; it needs a region, given here through a stand-in
boto session (never read from the environment or AWS's config files), and a managed-policy
loader (IAM is never called: policies mean nothing locally). It also sets the region as a class
attribute (``ArnGenerator.BOTO_SESSION_REGION_NAME``): :func:`translate` holds a lock while it
translates and restores the attribute after, so loads in several threads (or several meshes in
different regions, one after the other) do not see each other's region. A translation never
awaits, so loads in one event loop never interleave.

``AWS::LanguageExtensions`` is not run by the translator: the parts the resolver knows
(``Fn::Length``, ``Fn::ToJsonString``, ``Fn::FindInMap`` with ``DefaultValue``) are resolved
after translation; ``Fn::ForEach`` is refused with a clear error, as is any other transform
(a macro runs in AWS only).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventmesh.sam._errors import TemplateError
from eventmesh.sam._yaml import MAX_VALUES, check_size, load_document

__all__ = [
    "LANGUAGE_EXTENSIONS",
    "LOCAL_CODE_BUCKET",
    "SAM_TRANSFORM",
    "Translated",
    "translate",
]

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
LANGUAGE_EXTENSIONS = "AWS::LanguageExtensions"
LOCAL_CODE_BUCKET = "eventmesh-local"
"""The S3 bucket name standing for "the local folder recorded beside it"."""

_CODE_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}
_DEFINITION_TYPES = ("AWS::Serverless::Api", "AWS::Serverless::HttpApi")
_NESTED_APPLICATION = "AWS::Serverless::Application"
_FOR_EACH = "Fn::ForEach::"

_TRANSLATOR_LOCK = threading.Lock()
MAX_INCLUDES = 1000
"""``AWS::Include`` inclusions a template may make in all (a file included twice counts
twice)."""


@dataclass(slots=True)
class Translated:
    """A template as plain CloudFormation, with the local folders its code came from."""

    template: dict[str, Any]
    code_paths: dict[str, Path] = field(default_factory=dict)
    """Local code folders by the S3 key standing for them in ``template`` (a SAM template),
    or by logical id (a plain CloudFormation template's local ``Code``)."""


def _transforms(template: Mapping[str, Any]) -> list[Any]:
    transform = template.get("Transform")
    if transform is None:
        return []
    return list(transform) if isinstance(transform, list) else [transform]


def _check_transforms(template: Mapping[str, Any]) -> bool:
    """Whether the template is SAM; a transform other than SAM's and the language extensions
    (a macro, ``AWS::Include`` given at the top) cannot run locally."""
    names = _transforms(template)
    others = [name for name in names if name not in (SAM_TRANSFORM, LANGUAGE_EXTENSIONS)]
    if others:
        listed = ", ".join(repr(name) for name in others)
        raise TemplateError(
            f"Transform: {listed} runs in AWS (a macro) and cannot run locally; only "
            f"{SAM_TRANSFORM} and {LANGUAGE_EXTENSIONS} are understood"
        )
    if LANGUAGE_EXTENSIONS in names:
        where = next(_for_each_places(template), None)
        if where is not None:
            raise TemplateError(
                f"{where}: Fn::ForEach ({LANGUAGE_EXTENSIONS}) is not supported locally: "
                "write the resources it would make out by hand"
            )
    return SAM_TRANSFORM in names


def _for_each_places(value: Any, where: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            place = f"{where}.{key}" if where else str(key)
            if isinstance(key, str) and key.startswith(_FOR_EACH):
                yield place
            else:
                yield from _for_each_places(item, place)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _for_each_places(item, f"{where}[{index}]")


def _is_local(uri: Any) -> bool:
    return isinstance(uri, str) and not uri.startswith("s3://")


class _NoManagedPolicies:
    """The translator's policy loader: no IAM call (its bundled map resolves names)."""

    def load(self) -> dict[str, str]:
        return {}


class _Session:
    """What the translator reads of a boto session: the region, given, never looked up."""

    def __init__(self, region_name: str) -> None:
        self.region_name = region_name


def _no_features(feature_toggle: type[Any], provider: Any) -> Any:
    """The translator's feature toggles, all off, quietly (its default warns of each feature
    it asks about: noise for a local run)."""

    class NoFeatures(feature_toggle):  # type: ignore[misc]
        def is_enabled(self, feature_name: str) -> bool:
            return False

    return NoFeatures(provider, stage=None, account_id=None, region=None)


def _rewrite_code(template: dict[str, Any], base: Path, code_paths: dict[str, Path]) -> None:
    resources = template.get("Resources")
    if not isinstance(resources, dict):
        return
    globals_section = template.get("Globals")
    globals_function = (
        globals_section.get("Function") if isinstance(globals_section, dict) else None
    )
    if not isinstance(globals_function, dict):
        globals_function = {}
    global_code = globals_function.get("CodeUri")
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict):
            continue
        member = _CODE_PROPERTIES.get(str(resource.get("Type")))
        properties = resource.get("Properties")
        if member is None:
            continue
        if properties is None:
            properties = resource["Properties"] = {}
        if not isinstance(properties, dict):
            continue
        uri = properties.get(member)
        if uri is None and member == "CodeUri" and not _has_other_code(properties):
            # Neither here nor in Globals: the template's folder, as sam build takes it.
            uri = global_code if global_code is not None else "."
        if _is_local(uri):
            code_paths[logical_id] = (base / str(uri)).resolve()
            properties[member] = f"s3://{LOCAL_CODE_BUCKET}/{logical_id}"
    if _is_local(global_code):
        globals_function.pop("CodeUri")


def _has_other_code(properties: Mapping[str, Any]) -> bool:
    if properties.get("PackageType") == "Image":
        return True
    return any(properties.get(key) is not None for key in ("InlineCode", "ImageUri"))


def _inline_definitions(template: dict[str, Any], base: Path) -> None:
    resources = template.get("Resources")
    if not isinstance(resources, dict):
        return
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict) or resource.get("Type") not in _DEFINITION_TYPES:
            continue
        properties = resource.get("Properties")
        if not isinstance(properties, dict):
            continue
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


def _check_no_sam_types(template: Mapping[str, Any]) -> None:
    """A SAM resource in a template without SAM's transform: CloudFormation refuses it
    ("Unrecognized resource types"); said so, with the line that is missing (not left out
    as a type the mesh does not emulate)."""
    resources = template.get("Resources")
    if not isinstance(resources, Mapping):
        return
    found = [
        (str(logical_id), resource["Type"])
        for logical_id, resource in resources.items()
        if isinstance(resource, Mapping)
        and isinstance(resource.get("Type"), str)
        and resource["Type"].startswith("AWS::Serverless::")
    ]
    if found:
        types = sorted({kind for _, kind in found})
        raise TemplateError(
            f"Resources.{found[0][0]}.Type: Unrecognized resource types: [{', '.join(types)}] "
            f"(CloudFormation refuses the template): SAM resources need 'Transform: "
            f"{SAM_TRANSFORM}' at the top of the template"
        )


def translate(
    template: Mapping[str, Any],
    base: Path,
    *,
    region: str,
    parameters: Mapping[str, Any],
) -> Translated:
    """``template`` as CloudFormation: translated if it declares the SAM transform, else as
    given. ``base`` is the template's folder; ``parameters`` the parameter values (with the
    pseudo parameters) the translator may use. ``template`` is not changed (the translator
    changes its input: it is given a copy)."""
    document = _include_local(copy.deepcopy(dict(template)), base, "")
    if not _check_transforms(document):
        _check_no_sam_types(document)
        document.pop("Transform", None)
        return Translated(document, _plain_code_paths(document, base))
    try:
        from samtranslator.feature_toggle.feature_toggle import (
            FeatureToggle,
            FeatureToggleDefaultConfigProvider,
        )
        from samtranslator.model.exceptions import (
            ExceptionWithMessage,
            InvalidDocumentException,
        )
        from samtranslator.parser.parser import Parser
        from samtranslator.translator.arn_generator import ArnGenerator
        from samtranslator.translator.translator import Translator
        from samtranslator.utils.py27hash_fix import (
            to_py27_compatible_template,
            undo_mark_unicode_str_in_template,
        )
    except ImportError as exc:
        raise TemplateError(
            f"a SAM template needs the sam extra ({exc}): pip install 'eventmesh[sam]'"
        ) from None
    code_paths: dict[str, Path] = {}
    _rewrite_code(document, base, code_paths)
    _inline_definitions(document, base)
    nested = _set_aside_nested_applications(document)
    values = dict(parameters)
    values.setdefault("AWS::Region", region)
    policies = _NoManagedPolicies()
    with _TRANSLATOR_LOCK:
        previous = ArnGenerator.BOTO_SESSION_REGION_NAME
        try:
            to_py27_compatible_template(document, values)
            translator = Translator(None, Parser(), boto_session=_Session(region))
            features = _no_features(FeatureToggle, FeatureToggleDefaultConfigProvider())
            try:
                translated = translator.translate(
                    document,
                    parameter_values=values,
                    feature_toggle=features,
                    get_managed_policy_map=policies.load,
                )
            finally:
                # Its metrics go nowhere; published, they are not warned about when dropped.
                translator.metrics.publish()
            translated = undo_mark_unicode_str_in_template(translated)
        except InvalidDocumentException as exc:
            causes = "; ".join(cause.message for cause in exc.causes) or exc.message
            raise TemplateError(f"the SAM template is not valid: {causes}") from None
        except ExceptionWithMessage as exc:
            raise TemplateError(f"the SAM template is not valid: {exc.message}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # The translator validates most input, not all: a value of the wrong shape can
            # surface as a Python error from inside it.
            raise TemplateError(
                f"the SAM translator cannot read this template ({type(exc).__name__}: {exc})"
            ) from exc
        finally:
            ArnGenerator.BOTO_SESSION_REGION_NAME = previous
    translated.setdefault("Resources", {}).update(nested)
    return Translated(translated, code_paths)


def _set_aside_nested_applications(template: dict[str, Any]) -> dict[str, Any]:
    """Take the nested applications out of the template: the translator would fetch each from
    the Serverless Application Repository (a network call). They go back, untranslated, into
    the result, where the builder lists them as not emulated."""
    resources = template.get("Resources")
    if not isinstance(resources, dict):
        return {}
    nested = {
        logical_id: resource
        for logical_id, resource in resources.items()
        if isinstance(resource, dict) and resource.get("Type") == _NESTED_APPLICATION
    }
    for logical_id in nested:
        del resources[logical_id]
    return nested


def _include_local(
    value: Any,
    base: Path,
    where: str,
    within: tuple[Path, ...] = (),
    counted: list[int] | None = None,
) -> Any:
    """``value`` with each ``Fn::Transform`` of ``AWS::Include`` whose ``Location`` is a local
    file (an API's ``DefinitionBody`` kept in ``api.yaml``, as ``sam package`` uploads it)
    replaced by the file's document, as ``sam local`` reads it; a snippet given beside other
    keys (a section's ``Fn::Transform``) is merged into them. An include from S3 is left: the
    resolver names it as not readable locally.

    A local ``Location`` is a path from the template's folder (in an included file too), as
    ``aws cloudformation package`` reads it; it may lead out of that folder (``../shared/
    api.yaml``), as ``CodeUri`` may: the template names the code that runs, so it is trusted
    as much. Only regular files are read (a device or a pipe would never end), and a file
    that includes itself, directly or not, is an error (``within``: the files being
    included). The files included and the values they hold, counted at each inclusion
    (``counted``), are bounded (:data:`MAX_INCLUDES`, :data:`~eventmesh.sam._yaml.MAX_VALUES`):
    files including each other many times would otherwise expand without end."""
    counted = [0, 0] if counted is None else counted
    if isinstance(value, list):
        return [
            _include_local(item, base, f"{where}[{i}]", within, counted)
            for i, item in enumerate(value)
        ]
    if not isinstance(value, dict):
        return value
    result: dict[str, Any] = {}
    for key, item in value.items():
        place = f"{where}.{key}" if where else str(key)
        found = _included(item, base, place, within, counted) if key == "Fn::Transform" else None
        if found is None:
            result[key] = _include_local(item, base, place, within, counted)
            continue
        included, path = found
        if len(value) == 1:
            return _include_local(included, base, where, (*within, path), counted)
        if not isinstance(included, dict):
            raise TemplateError(f"{place}: a snippet included beside other keys is a mapping")
        result.update(_include_local(included, base, where, (*within, path), counted))
    return result


def _included(
    transform: Any, base: Path, where: str, within: tuple[Path, ...], counted: list[int]
) -> tuple[Any, Path] | None:
    """The document an ``AWS::Include`` names and its file, if it is a local file; else
    ``None``."""
    if not isinstance(transform, dict) or transform.get("Name") != "AWS::Include":
        return None
    parameters = transform.get("Parameters")
    location = parameters.get("Location") if isinstance(parameters, dict) else None
    if not isinstance(location, str) or "://" in location:
        return None
    path = (base / location).resolve()
    if path in within:
        raise TemplateError(f"{where}: AWS::Include {location}: the file includes itself")
    if path.exists() and not path.is_file():
        raise TemplateError(f"{where}: AWS::Include {location}: not a file ({path})")
    try:
        document = load_document(path)
    except TemplateError as exc:
        raise TemplateError(f"{where}: AWS::Include {location}: {exc}") from None
    counted[0] += 1
    counted[1] += check_size(document, str(path))
    if counted[0] > MAX_INCLUDES or counted[1] > MAX_VALUES:
        raise TemplateError(
            f"{where}: AWS::Include {location}: the template includes more than "
            f"{MAX_INCLUDES} files or {MAX_VALUES} values in all (files including each "
            "other many times)"
        )
    return document, path


def _plain_code_paths(template: Mapping[str, Any], base: Path) -> dict[str, Path]:
    """A plain CloudFormation template may give a function's ``Code`` or a layer's
    ``Content`` as a local folder (``Code: ./src``, as ``aws cloudformation package`` reads
    it): kept by logical id."""
    members = {"AWS::Lambda::Function": "Code", "AWS::Lambda::LayerVersion": "Content"}
    paths: dict[str, Path] = {}
    resources = template.get("Resources")
    if not isinstance(resources, dict):
        return paths
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict) or resource.get("Type") not in members:
            continue
        properties = resource.get("Properties")
        code = properties.get(members[resource["Type"]]) if isinstance(properties, dict) else None
        if _is_local(code):
            paths[logical_id] = (base / str(code)).resolve()
    return paths
