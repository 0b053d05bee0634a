"""CloudFormation's intrinsic functions, resolved locally.

:func:`resolve` replaces every intrinsic in a value by what it stands for, given a
:class:`Scope` that knows the parameters, the conditions, the mappings and the resources built
so far; ``{"Ref": "AWS::NoValue"}`` removes the key or list item holding it. ``Fn::If``
resolves only the branch its condition takes, so the other branch may name a resource left out
by its ``Condition``. :func:`condition_value` evaluates a condition body (``Fn::Equals``,
``Fn::Not``, ``Fn::And``, ``Fn::Or``, ``{"Condition": "Other"}``). :func:`references` lists
the names a value refers to, inside every function, so resources are built after what they
name.

Functions resolved: ``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::Join``, ``Fn::Select``,
``Fn::Split``, ``Fn::If``, ``Fn::Equals``, ``Fn::Not``, ``Fn::And``, ``Fn::Or``,
``Fn::FindInMap`` (with the language extensions' ``DefaultValue``), ``Fn::Base64``,
``Fn::GetAZs`` (the region's ``a``, ``b`` and ``c`` zones), ``Fn::Length`` and
``Fn::ToJsonString``. ``Fn::ImportValue`` (another stack's export) cannot be resolved locally;
nor can ``Fn::Cidr``, ``Fn::GetStackOutput`` or an ``Fn::Transform`` (a macro, or an
``AWS::Include`` from S3: one of a local file is inlined before, see
:mod:`eventmesh.sam._translate`): each is a :class:`~eventmesh.sam.TemplateError` naming
where it is.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from eventmesh.sam._errors import TemplateError

__all__ = ["NO_VALUE", "Scope", "condition_value", "references", "resolve", "text_of"]


class _NoValue:
    """``AWS::NoValue``: the key or item holding it is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_INTEGER = re.compile(r"[+-]?\d+")
_CONDITION_LIMITS = (2, 10)
_MAP_KEYS = ("map name", "top-level key", "second-level key")


class Scope(Protocol):
    """What a template's names stand for while it is resolved."""

    def ref(self, name: str, where: str) -> Any:
        """A parameter's value, a pseudo parameter's, or a built resource's ``Ref``."""
        ...

    def get_att(self, logical_id: str, attribute: str, where: str) -> Any:
        """A built resource's attribute."""
        ...

    def condition(self, name: str, where: str) -> bool:
        """A condition's value (conditions may name other conditions)."""
        ...

    def mapping(self, name: str, where: str) -> Mapping[str, Any]:
        """The template's ``Mappings`` entry of that name."""
        ...


def resolve(value: Any, scope: Scope, where: str) -> Any:
    """``value`` with its intrinsics resolved; ``where`` names it in errors. The result may be
    :data:`NO_VALUE` (the whole value was ``AWS::NoValue``)."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, argument),) = value.items()
            if isinstance(key, str) and (key == "Ref" or key.startswith("Fn::")):
                function = _FUNCTIONS.get(key)
                if function is None:
                    raise TemplateError(f"{where}: {key} cannot be resolved locally")
                return function(argument, scope, where)
        resolved = {k: resolve(v, scope, f"{where}.{k}") for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}
    if isinstance(value, list):
        items = [resolve(item, scope, f"{where}[{i}]") for i, item in enumerate(value)]
        return [item for item in items if item is not NO_VALUE]
    return value


def condition_value(body: Any, scope: Scope, where: str) -> bool:
    """A condition body's truth: ``{"Condition": "Other"}``, or a condition function."""
    if isinstance(body, dict) and len(body) == 1 and "Condition" in body:
        name = body["Condition"]
        if not isinstance(name, str):
            raise TemplateError(f"{where}: Condition takes a condition's name, got {name!r}")
        return scope.condition(name, where)
    value = resolve(body, scope, where)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise TemplateError(
        f"{where}: a condition must be Fn::Equals, Fn::Not, Fn::And, Fn::Or or "
        "{Condition: name}, true or false"
    )


def text_of(value: Any, what: str, where: str) -> str:
    """A scalar as CloudFormation writes it in text (``true``, ``5``); anything else is an
    error naming ``what`` (a list or a mapping has no text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    kind = "a list" if isinstance(value, list) else type(value).__name__
    if isinstance(value, dict):
        kind = "a mapping"
    if value is None:
        kind = "null"
    if value is NO_VALUE:
        kind = "AWS::NoValue"
    raise TemplateError(f"{where}: {what} must be a string, got {kind}")


# -- the functions ---------------------------------------------------------------------------


def _ref(argument: Any, scope: Scope, where: str) -> Any:
    if not isinstance(argument, str):
        raise TemplateError(f"{where}: Ref takes a name, got {argument!r}")
    return NO_VALUE if argument == "AWS::NoValue" else scope.ref(argument, where)


def _get_att(argument: Any, scope: Scope, where: str) -> Any:
    if isinstance(argument, str):
        argument = argument.split(".", 1)
    if not isinstance(argument, list) or len(argument) != 2 or not isinstance(argument[0], str):
        raise TemplateError(f"{where}: Fn::GetAtt takes [resource, attribute]")
    attribute = resolve(argument[1], scope, where)
    if not isinstance(attribute, str):
        raise TemplateError(f"{where}: Fn::GetAtt's attribute must be a string")
    return scope.get_att(argument[0], attribute, where)


def _sub_arguments(argument: Any, where: str) -> tuple[str, dict[str, Any]]:
    if isinstance(argument, str):
        return argument, {}
    if (
        isinstance(argument, list)
        and len(argument) == 2
        and isinstance(argument[0], str)
        and isinstance(argument[1], dict)
    ):
        return argument[0], argument[1]
    raise TemplateError(f"{where}: Fn::Sub takes a string or [string, {{variables}}]")


def _sub(argument: Any, scope: Scope, where: str) -> str:
    text, variables = _sub_arguments(argument, where)
    values = {name: resolve(v, scope, f"{where}.{name}") for name, v in variables.items()}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if name in values:
            value = values[name]
        elif "." in name:
            logical_id, attribute = name.split(".", 1)
            value = scope.get_att(logical_id, attribute, where)
        else:
            value = scope.ref(name, where)
        return text_of(value, f"${{{name}}}", where)

    return _SUB_VARIABLE.sub(substitute, text)


def _join(argument: Any, scope: Scope, where: str) -> str:
    if not isinstance(argument, list) or len(argument) != 2:
        raise TemplateError(f"{where}: Fn::Join takes [delimiter, [values]]")
    delimiter = resolve(argument[0], scope, where)
    items = resolve(argument[1], scope, where)
    if not isinstance(delimiter, str):
        raise TemplateError(f"{where}: Fn::Join's delimiter must be a string")
    if not isinstance(items, list):
        raise TemplateError(f"{where}: Fn::Join's values must be a list")
    return delimiter.join(text_of(item, f"item {i}", where) for i, item in enumerate(items))


def _select(argument: Any, scope: Scope, where: str) -> Any:
    if not isinstance(argument, list) or len(argument) != 2:
        raise TemplateError(f"{where}: Fn::Select takes [index, [values]]")
    index = resolve(argument[0], scope, where)
    items = resolve(argument[1], scope, where)
    if isinstance(index, str) and _INTEGER.fullmatch(index):
        index = int(index)
    if isinstance(index, bool) or not isinstance(index, int):
        raise TemplateError(f"{where}: Fn::Select's index must be an integer")
    if not isinstance(items, list):
        raise TemplateError(f"{where}: Fn::Select's values must be a list")
    if not 0 <= index < len(items):
        raise TemplateError(
            f"{where}: Fn::Select index {index} is out of range: the list has "
            f"{len(items)} item(s), so the index must be 0 to {len(items) - 1}"
        )
    return items[index]


def _split(argument: Any, scope: Scope, where: str) -> list[str]:
    if not isinstance(argument, list) or len(argument) != 2:
        raise TemplateError(f"{where}: Fn::Split takes [delimiter, string]")
    delimiter = resolve(argument[0], scope, where)
    source = resolve(argument[1], scope, where)
    if not isinstance(delimiter, str) or not delimiter:
        raise TemplateError(f"{where}: Fn::Split's delimiter must be a non-empty string")
    return text_of(source, "Fn::Split's source", where).split(delimiter)


def _if(argument: Any, scope: Scope, where: str) -> Any:
    if not isinstance(argument, list) or len(argument) != 3 or not isinstance(argument[0], str):
        raise TemplateError(f"{where}: Fn::If takes [condition name, if true, if false]")
    taken = argument[1] if scope.condition(argument[0], where) else argument[2]
    return resolve(taken, scope, where)


def _equals(argument: Any, scope: Scope, where: str) -> bool:
    if not isinstance(argument, list) or len(argument) != 2:
        raise TemplateError(f"{where}: Fn::Equals takes [value, value]")
    left, right = (resolve(item, scope, where) for item in argument)
    return bool(_comparable(left) == _comparable(right))


def _comparable(value: Any) -> Any:
    """Values as CloudFormation compares them: scalars by their text (``5`` equals ``"5"``,
    ``true`` equals ``"true"``)."""
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    if isinstance(value, dict):
        return {key: _comparable(item) for key, item in value.items()}
    if isinstance(value, bool | int | float | str):
        return text_of(value, "value", "")
    return value


def _not(argument: Any, scope: Scope, where: str) -> bool:
    if not isinstance(argument, list) or len(argument) != 1:
        raise TemplateError(f"{where}: Fn::Not takes [condition]")
    return not condition_value(argument[0], scope, f"{where}[0]")


def _conditions(name: str, argument: Any, where: str) -> list[Any]:
    low, high = _CONDITION_LIMITS
    if not isinstance(argument, list) or not low <= len(argument) <= high:
        raise TemplateError(f"{where}: {name} takes {low} to {high} conditions")
    return argument


def _and(argument: Any, scope: Scope, where: str) -> bool:
    items = _conditions("Fn::And", argument, where)
    return all(condition_value(item, scope, f"{where}[{i}]") for i, item in enumerate(items))


def _or(argument: Any, scope: Scope, where: str) -> bool:
    items = _conditions("Fn::Or", argument, where)
    return any(condition_value(item, scope, f"{where}[{i}]") for i, item in enumerate(items))


def _find_in_map(argument: Any, scope: Scope, where: str) -> Any:
    if not isinstance(argument, list) or len(argument) not in (3, 4):
        raise TemplateError(
            f"{where}: Fn::FindInMap takes [map, top-level key, second-level key] "
            "(and {DefaultValue: value})"
        )
    default: dict[str, Any] | None = None
    if len(argument) == 4:
        if not isinstance(argument[3], dict) or set(argument[3]) != {"DefaultValue"}:
            raise TemplateError(f"{where}: Fn::FindInMap's fourth item is {{DefaultValue: v}}")
        default = argument[3]
    names = [
        text_of(resolve(item, scope, where), what, where)
        for item, what in zip(argument[:3], _MAP_KEYS, strict=True)
    ]
    map_name, top, second = names
    found: Any = scope.mapping(map_name, where)
    for key, what in ((top, "top-level key"), (second, "second-level key")):
        chosen = _key_as_text(found, key) if isinstance(found, dict) else None
        if chosen is not None:
            found = found[chosen]
            continue
        if default is not None:
            return resolve(default["DefaultValue"], scope, f"{where}.DefaultValue")
        raise TemplateError(f"{where}: Mappings.{map_name} has no {what} {key!r}")
    return found


def _key_as_text(mapping: Mapping[Any, Any], key: str) -> Any:
    """The key of ``mapping`` whose text is ``key`` (``None`` if none): a YAML key written
    ``123456789012`` or ``true`` is a number or a boolean to PyYAML, text to CloudFormation."""
    if key in mapping:
        return key
    for candidate in mapping:
        if isinstance(candidate, bool | int | float) and text_of(candidate, "key", "") == key:
            return candidate
    return None


def _base64(argument: Any, scope: Scope, where: str) -> str:
    text = text_of(resolve(argument, scope, where), "Fn::Base64's value", where)
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _get_azs(argument: Any, scope: Scope, where: str) -> list[str]:
    region = text_of(resolve(argument, scope, where), "Fn::GetAZs's region", where)
    if not region:
        region = text_of(scope.ref("AWS::Region", where), "AWS::Region", where)
    return [f"{region}{zone}" for zone in "abc"]


def _length(argument: Any, scope: Scope, where: str) -> int:
    items = resolve(argument, scope, where)
    if not isinstance(items, list):
        raise TemplateError(f"{where}: Fn::Length takes a list")
    return len(items)


def _to_json_string(argument: Any, scope: Scope, where: str) -> str:
    value = resolve(argument, scope, where)
    if not isinstance(value, dict | list):
        raise TemplateError(f"{where}: Fn::ToJsonString takes a mapping or a list")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _import_value(argument: Any, scope: Scope, where: str) -> Any:
    name = argument if isinstance(argument, str) else "(an export name)"
    raise TemplateError(
        f"{where}: Fn::ImportValue {name} reads another stack's export, which cannot be "
        "resolved locally: declare a parameter for the value instead and pass it with "
        "--parameter-overrides"
    )


def _transform(argument: Any, scope: Scope, where: str) -> Any:
    name = argument.get("Name") if isinstance(argument, dict) else None
    if name == "AWS::Include":
        parameters = argument.get("Parameters")
        location = parameters.get("Location") if isinstance(parameters, dict) else None
        raise TemplateError(
            f"{where}: AWS::Include of {location} cannot be read locally: give the snippet's "
            "local file as its Location"
        )
    raise TemplateError(f"{where}: Fn::Transform ({name}) runs a macro in AWS: not locally")


_Function = Callable[[Any, Scope, str], Any]

_FUNCTIONS: dict[str, _Function] = {
    "Ref": _ref,
    "Fn::GetAtt": _get_att,
    "Fn::Sub": _sub,
    "Fn::Join": _join,
    "Fn::Select": _select,
    "Fn::Split": _split,
    "Fn::If": _if,
    "Fn::Equals": _equals,
    "Fn::Not": _not,
    "Fn::And": _and,
    "Fn::Or": _or,
    "Fn::FindInMap": _find_in_map,
    "Fn::Base64": _base64,
    "Fn::GetAZs": _get_azs,
    "Fn::Length": _length,
    "Fn::ToJsonString": _to_json_string,
    "Fn::ImportValue": _import_value,
    "Fn::Transform": _transform,
}


# -- what a value refers to ------------------------------------------------------------------


def references(value: Any) -> Iterator[str]:
    """The names a value refers to through ``Ref``, ``Fn::GetAtt`` and ``Fn::Sub``, inside any
    function and both branches of ``Fn::If`` (parameters and pseudo parameters too: the
    caller keeps the resources)."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                if isinstance(argument, str):
                    yield argument
                return
            if key == "Fn::GetAtt":
                yield from _get_att_references(argument)
                return
            if key == "Fn::Sub":
                yield from _sub_references(argument)
                return
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def _get_att_references(argument: Any) -> Iterator[str]:
    if isinstance(argument, str):
        yield argument.split(".", 1)[0]
    elif isinstance(argument, list) and argument:
        if isinstance(argument[0], str):
            yield argument[0]
        yield from references(argument[1:])


def _sub_references(argument: Any) -> Iterator[str]:
    text: Any = argument
    variables: Any = {}
    if isinstance(argument, list) and argument:
        text = argument[0]
        variables = argument[1] if len(argument) > 1 else {}
        yield from references(variables)
    if not isinstance(text, str):
        return
    declared = variables if isinstance(variables, dict) else {}
    for name in _SUB_VARIABLE.findall(text):
        if not name.startswith("!") and name not in declared:
            yield name.split(".", 1)[0]
