"""Reading a CloudFormation or SAM template: JSON, or YAML with CloudFormation's short tags.

``!Ref X`` is ``{"Ref": "X"}``, ``!Condition X`` is ``{"Condition": "X"}``, any other ``!Name v``
is ``{"Fn::Name": v}``; ``!GetAtt A.B.C`` splits on the first dot only (``["A", "B.C"]``), as
CloudFormation reads it. A key given twice in one mapping counts once, the last time, as
CloudFormation takes it (and is noted for a warning). YAML timestamps stay strings (an unquoted
``AWSTemplateFormatVersion: 2010-09-09`` is text, not a date). The loader is a subclass of
PyYAML's safe loader: nothing is added to PyYAML's own loaders.
"""

from __future__ import annotations

from collections.abc import Hashable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from eventmesh.sam._errors import TemplateError

if TYPE_CHECKING:
    import yaml

__all__ = ["load_document", "parse_document"]


@cache
def _loader() -> type[yaml.SafeLoader]:
    """A safe loader that knows CloudFormation's short-form tags (made on first use: PyYAML
    comes with the sam extra, and a JSON template does not need it)."""
    try:
        import yaml
    except ImportError as exc:
        raise TemplateError(
            f"a YAML template needs the sam extra ({exc}): pip install 'eventmesh[sam]'"
        ) from None

    class CloudFormationLoader(yaml.SafeLoader):
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.duplicates: list[str] = []

        def construct_mapping(
            self, node: yaml.MappingNode, deep: bool = False
        ) -> dict[Hashable, Any]:
            # CloudFormation takes a key given twice, the last one counting (two resources of
            # one logical id make one): so does this loader, noting it. Keys merged in with
            # << are meant to be overridden.
            seen: set[str] = set()
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith("merge"):
                    continue
                if key_node.value in seen:
                    note = (
                        f"line {key_node.start_mark.line + 1}: {key_node.value} is given twice "
                        "in one mapping; the last one counts, as in CloudFormation"
                    )
                    if note not in self.duplicates:
                        self.duplicates.append(note)
                seen.add(key_node.value)
            return super().construct_mapping(node, deep=deep)

    def short_form(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
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

    def timestamp_as_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
        assert isinstance(node, yaml.ScalarNode)
        return str(loader.construct_scalar(node))

    CloudFormationLoader.add_multi_constructor("!", short_form)
    CloudFormationLoader.add_constructor("tag:yaml.org,2002:timestamp", timestamp_as_text)
    return CloudFormationLoader


def _yaml_problem(exc: Exception) -> str:
    """A YAML error on one line: where, and what (PyYAML's own text spans several lines,
    with a copy of the offending line)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or not problem:
        return " ".join(str(exc).split())
    context = getattr(exc, "context", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}"
    return f"{where}: {problem}" + (f" ({context})" if context else "")


def parse_document(
    text: str, source: str = "<template>", notes: list[str] | None = None
) -> dict[str, Any]:
    """A template's text (JSON first, as CloudFormation tries it, then YAML) as a mapping.
    What is read but worth a warning (a key given twice) is added to ``notes``."""
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError:
        loader: Any = _loader()(text)  # first: says what to install when PyYAML is missing
        import yaml

        try:
            document = loader.get_single_data()
        except yaml.YAMLError as exc:
            raise TemplateError(f"{source}: not valid YAML or JSON: {_yaml_problem(exc)}") from None
        finally:
            loader.dispose()
        if notes is not None:
            notes.extend(f"{source} {note}" for note in loader.duplicates)
    if not isinstance(document, dict):
        raise TemplateError(f"{source}: a template is a mapping at the top level")
    return document


def load_document(path: Path, notes: list[str] | None = None) -> dict[str, Any]:
    """The template at ``path``, read as :func:`parse_document` does."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"cannot read the template {path}: {exc}") from None
    return parse_document(text, str(path), notes)
