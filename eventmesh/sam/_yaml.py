"""Reading a CloudFormation or SAM template: JSON, or YAML with CloudFormation's short tags.

``!Ref X`` is ``{"Ref": "X"}``, ``!Condition X`` is ``{"Condition": "X"}``, any other ``!Name v``
is ``{"Fn::Name": v}``; ``!GetAtt A.B.C`` splits on the first dot only (``["A", "B.C"]``), as
CloudFormation reads it. A key given twice in one mapping counts once, the last time, as
CloudFormation takes it (and is noted for a warning). YAML timestamps stay strings (an unquoted
``AWSTemplateFormatVersion: 2010-09-09`` is text, not a date). The loader is a subclass of
PyYAML's safe loader: nothing is added to PyYAML's own loaders.

A template may come from someone else (a cloned repository), and everything after reading walks
it recursively: a document nested more than :data:`MAX_DEPTH` levels, holding more than
:data:`MAX_VALUES` values once its YAML aliases are expanded (a "billion laughs" of aliases of
aliases), or an alias inside itself is refused here, before anything walks it.
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

__all__ = ["MAX_DEPTH", "MAX_VALUES", "check_size", "load_document", "parse_document"]

MAX_DEPTH = 100
"""Levels of mappings and lists a template may nest (the top-level mapping is the first)."""
MAX_VALUES = 1_000_000
"""Values (scalars, mappings, lists, keys) a template may hold with its aliases expanded:
CloudFormation takes templates of up to 1 MB, far fewer values than this."""


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
    text = f"{where}: {problem}" + (f" ({context})" if context else "")
    if "'\\t'" in problem:
        text += "; YAML is indented with spaces, never tabs"
    return text


def parse_document(
    text: str, source: str = "<template>", notes: list[str] | None = None
) -> dict[str, Any]:
    """A template's text (JSON first, as CloudFormation tries it, then YAML) as a mapping.
    What is read but worth a warning (a key given twice) is added to ``notes``."""
    text = text.removeprefix("\ufeff")  # a byte-order mark, as Windows editors save files
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if str(exc).startswith("depth limit exceeded"):  # as deep for YAML, slower to find
            raise TemplateError(f"{source}: nested too deeply to be a template") from None
        loader_class = _loader()  # first: says what to install when PyYAML is missing
        import yaml

        try:
            loader: Any = loader_class(text)  # refuses control characters at once
        except yaml.YAMLError as exc:
            raise TemplateError(f"{source}: not valid YAML or JSON: {_yaml_problem(exc)}") from None
        try:
            document = loader.get_single_data()
        except yaml.YAMLError as exc:
            raise TemplateError(f"{source}: not valid YAML or JSON: {_yaml_problem(exc)}") from None
        except RecursionError:
            raise TemplateError(f"{source}: nested too deeply to be a template") from None
        finally:
            loader.dispose()
        if notes is not None:
            notes.extend(f"{source} {note}" for note in loader.duplicates)
    if not isinstance(document, dict):
        raise TemplateError(f"{source}: a template is a mapping at the top level")
    check_size(document, source)
    return document


def check_size(document: Any, source: str) -> int:
    """The number of values ``document`` holds, shared values counted each time (YAML
    aliases); refused if it nests more than :data:`MAX_DEPTH` levels, holds more than
    :data:`MAX_VALUES` values, or holds itself: everything after walks it recursively."""
    return _measure(document, 1, "", source, {})[0]


def _measure(
    value: Any, depth: int, where: str, source: str, measured: dict[int, tuple[int, int]]
) -> tuple[int, int]:
    """The number of values ``value`` holds with its aliases expanded, and how many levels
    deep it nests; each shared mapping or list is measured once (``measured``, by identity:
    a value being measured is in it as ``(-1, -1)``), so aliases of aliases cost nothing.
    Past a limit, or for an alias inside itself, a :class:`TemplateError` naming where."""
    if not isinstance(value, dict | list):
        return 1, 0
    key = id(value)
    found = measured.get(key)
    if found == (-1, -1):
        raise TemplateError(f"{source}: {where}: a YAML alias refers to a value holding it")
    if found is None:
        if depth > MAX_DEPTH:
            raise TemplateError(f"{source}: {where}: nested more than {MAX_DEPTH} levels deep")
        measured[key] = (-1, -1)
        size, height = 1, 0
        items = (
            ((f"{where}.{k}" if where else str(k), v, 1) for k, v in value.items())
            if isinstance(value, dict)
            else ((f"{where}[{i}]", v, 0) for i, v in enumerate(value))
        )
        for place, item, keys in items:
            item_size, item_height = _measure(item, depth + 1, place, source, measured)
            size += item_size + keys
            height = max(height, item_height)
            if size > MAX_VALUES:
                raise TemplateError(
                    f"{source}: more than {MAX_VALUES} values once its YAML aliases are expanded"
                )
        found = measured[key] = (size, height + 1)
    if depth + found[1] - 1 > MAX_DEPTH:  # a shared value, deeper here than where measured
        raise TemplateError(f"{source}: {where}: nested more than {MAX_DEPTH} levels deep")
    return found


def load_document(path: Path, notes: list[str] | None = None) -> dict[str, Any]:
    """The template at ``path``, read as :func:`parse_document` does. Only a regular file is
    read (a device such as ``/dev/zero`` or a pipe, named by a template, would never end)."""
    try:
        if path.exists() and not path.is_file():
            raise TemplateError(f"cannot read the template {path}: not a regular file")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"cannot read the template {path}: {exc}") from None
    return parse_document(text, str(path), notes)
