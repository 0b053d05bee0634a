"""CloudFormation's intrinsic functions, resolved locally.

:func:`resolve` replaces every intrinsic in a value by what it stands for, given a
:class:`Scope` that knows the parameters, the conditions and the resources built so far;
``{"Ref": "AWS::NoValue"}`` removes the key or list item holding it. :func:`references` lists
the logical ids a value refers to, so resources are built after what they name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Protocol

from eventmesh.sam._errors import TemplateError

__all__ = ["NO_VALUE", "Scope", "references", "resolve"]


class _NoValue:
    """``AWS::NoValue``: the key or item holding it is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


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


def resolve(value: Any, scope: Scope, where: str) -> Any:
    """``value`` with its intrinsics resolved; ``where`` names it in errors."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref" or key.startswith("Fn::"):
                return _function(key, argument, scope, where)
        resolved = {k: resolve(v, scope, f"{where}.{k}") for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}
    if isinstance(value, list):
        items = [resolve(item, scope, f"{where}[{i}]") for i, item in enumerate(value)]
        return [item for item in items if item is not NO_VALUE]
    return value


def _function(key: str, argument: Any, scope: Scope, where: str) -> Any:
    if key == "Ref":
        if not isinstance(argument, str):
            raise TemplateError(f"{where}: Ref takes a name, got {argument!r}")
        return NO_VALUE if argument == "AWS::NoValue" else scope.ref(argument, where)
    if key == "Fn::GetAtt":
        logical_id, attribute = _get_att_argument(argument, scope, where)
        return scope.get_att(logical_id, attribute, where)
    if key == "Fn::Sub":
        return _sub(argument, scope, where)
    if key == "Fn::If":
        if not isinstance(argument, list) or len(argument) != 3:
            raise TemplateError(f"{where}: Fn::If takes [condition, if true, if false]")
        chosen = argument[1] if scope.condition(str(argument[0]), where) else argument[2]
        return resolve(chosen, scope, where)
    raise TemplateError(f"{where}: {key} is not supported locally")


def _get_att_argument(argument: Any, scope: Scope, where: str) -> tuple[str, str]:
    if isinstance(argument, str):
        argument = argument.split(".", 1)
    if not isinstance(argument, list) or len(argument) != 2 or not isinstance(argument[0], str):
        raise TemplateError(f"{where}: Fn::GetAtt takes [resource, attribute]")
    attribute = resolve(argument[1], scope, where)
    if not isinstance(attribute, str):
        raise TemplateError(f"{where}: Fn::GetAtt's attribute must be a string")
    return argument[0], attribute


def _sub(argument: Any, scope: Scope, where: str) -> str:
    if isinstance(argument, str):
        text, variables = argument, {}
    elif isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], dict):
        text, variables = argument[0], argument[1]
    else:
        raise TemplateError(f"{where}: Fn::Sub takes a string or [string, {{variables}}]")
    if not isinstance(text, str):
        raise TemplateError(f"{where}: Fn::Sub's template must be a string")
    values = {name: resolve(v, scope, f"{where}.{name}") for name, v in variables.items()}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if name in values:
            value = values[name]
        elif "." in name and not name.startswith("AWS::"):
            logical_id, attribute = name.split(".", 1)
            value = scope.get_att(logical_id, attribute, where)
        else:
            value = scope.ref(name, where)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise TemplateError(f"{where}: Fn::Sub cannot put {name}'s value ({value!r}) in text")
        return str(value)

    return _SUB_VARIABLE.sub(substitute, text)


def references(value: Any) -> Iterator[str]:
    """The names a value refers to through ``Ref``, ``Fn::GetAtt`` and ``Fn::Sub`` (parameters
    and pseudo parameters too: the caller keeps the resources)."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref" and isinstance(argument, str):
                yield argument
                return
            if key == "Fn::GetAtt":
                if isinstance(argument, str):
                    yield argument.split(".", 1)[0]
                elif isinstance(argument, list) and argument and isinstance(argument[0], str):
                    yield argument[0]
                return
            if key == "Fn::Sub":
                text = argument if isinstance(argument, str) else None
                variables: Any = {}
                if isinstance(argument, list) and argument:
                    text = argument[0] if isinstance(argument[0], str) else None
                    variables = argument[1] if len(argument) > 1 else {}
                    yield from references(variables)
                for name in _SUB_VARIABLE.findall(text or ""):
                    if not name.startswith("!") and name not in (variables or {}):
                        yield name.split(".", 1)[0]
                return
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)
