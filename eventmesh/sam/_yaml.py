"""Reading a CloudFormation or SAM template: JSON, or YAML with CloudFormation's short tags.

``!Ref X`` is ``{"Ref": "X"}``, ``!Condition X`` is ``{"Condition": "X"}``, any other ``!Name v``
is ``{"Fn::Name": v}``; ``!GetAtt A.B.C`` splits on the first dot only (``["A", "B.C"]``), as
CloudFormation reads it. YAML timestamps stay strings (an unquoted
``AWSTemplateFormatVersion: 2010-09-09`` is text, not a date). The loader is a subclass of
PyYAML's safe loader: nothing is added to PyYAML's own loaders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import yaml

from eventmesh.sam._errors import TemplateError

__all__ = ["load_document", "parse_document"]


class _CloudFormationLoader(yaml.SafeLoader):
    """A safe loader that knows CloudFormation's short-form tags."""


def _short_form(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    return {key: value}


def _timestamp_as_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    assert isinstance(node, yaml.ScalarNode)
    return str(loader.construct_scalar(node))


_CloudFormationLoader.add_multi_constructor("!", _short_form)
_CloudFormationLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def parse_document(text: str, source: str = "<template>") -> dict[str, Any]:
    """A template's text (JSON first, as CloudFormation tries it, then YAML) as a mapping."""
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            document = yaml.load(text, Loader=_CloudFormationLoader)
        except yaml.YAMLError as exc:
            raise TemplateError(f"{source}: not valid YAML or JSON: {exc}") from None
    if not isinstance(document, dict):
        raise TemplateError(f"{source}: a template is a mapping at the top level")
    return document


def load_document(path: Path) -> dict[str, Any]:
    """The template at ``path``, read as :func:`parse_document` does."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"cannot read the template {path}: {exc}") from None
    return parse_document(text, str(path))
