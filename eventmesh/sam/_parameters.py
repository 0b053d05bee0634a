"""A template's parameters: defaults, overrides from the command line, pseudo parameters.

Each declared parameter takes its override, else its ``Default``, and is checked against its
``Type`` and constraints as CloudFormation checks it at deploy time:

* ``String``: ``AllowedValues``, ``AllowedPattern`` (the whole value must match),
  ``MinLength``/``MaxLength``.
* ``Number``: the value must be a number; ``MinValue``/``MaxValue``, ``AllowedValues``.
  CloudFormation passes a Number parameter on as text. Here a value written as a plain integer
  (``30``) resolves to that integer, so ``Timeout: !Ref TimeoutParameter`` reaches a kind as
  ``Timeout: 30`` would; any other number (``1.5``, ``007``) stays the text given. In text
  (``Fn::Sub``, ``Fn::Join``) and in ``Fn::Equals`` both read the same.
* ``List<Number>`` and ``CommaDelimitedList``: the text is split on commas (each item of a
  ``CommaDelimitedList`` trimmed of spaces, as CloudFormation documents it) and ``Ref`` gives
  the list; each item is checked (numbers for ``List<Number>``, ``AllowedValues`` and
  ``AllowedPattern`` for each item).
* AWS-specific types (``AWS::EC2::VPC::Id``, ``List<AWS::EC2::Subnet::Id>``, ...) take the
  value as given: their existence in an AWS account cannot be checked offline, and a local
  run does not need it.
* ``AWS::SSM::Parameter::Value<...>`` types stand for the value of an SSM parameter in AWS,
  which cannot be read offline: they need an override.

``ConstraintDescription`` replaces the explanation when a constraint fails; a ``NoEcho``
parameter's value never appears in an error (:attr:`ParameterValues.secrets` lets the caller
keep it out of its own messages too).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eventmesh.sam._errors import TemplateError

__all__ = [
    "ParameterValues",
    "parameter_values",
    "parse_overrides",
    "pseudo_parameters",
    "redact",
    "resolve_parameters",
]

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_INTEGER = re.compile(r"-?(0|[1-9]\d*)")
_SSM_VALUE = re.compile(r"AWS::SSM::Parameter::Value<(.+)>")
_AWS_SPECIFIC = re.compile(r"AWS::[A-Za-z0-9]+::[A-Za-z0-9:]+")
_OVERRIDE_TOKEN = re.compile(r"\s*(\"(?:\\.|[^\"\\])*\"|'[^']*'|[^\s\"']+)+")
_KEY = re.compile(r"[A-Za-z0-9]+")
MASK = "****"


def pseudo_parameters(region: str, account_id: str, stack_name: str) -> dict[str, Any]:
    """``AWS::Region`` and the others, as the mesh has them (``sam local``'s defaults for the
    rest)."""
    partition = "aws-cn" if region.startswith("cn-") else "aws"
    if region.startswith("us-gov-"):
        partition = "aws-us-gov"
    suffix = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return {
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::Partition": partition,
        "AWS::StackName": stack_name,
        "AWS::StackId": (
            f"arn:{partition}:cloudformation:{region}:{account_id}:stack/{stack_name}/"
            "51af3dc0-da77-11e4-872e-1234567db123"
        ),
        "AWS::URLSuffix": suffix,
        "AWS::NotificationARNs": [],
    }


@dataclass(slots=True)
class ParameterValues:
    """The template's parameters as ``Ref`` gives them, and the ``NoEcho`` ones' texts."""

    values: dict[str, Any] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    """The texts of ``NoEcho`` values (and of their items), longest first."""

    def redact(self, message: str) -> str:
        """``message`` with every ``NoEcho`` value replaced by ``****``."""
        return redact(message, self.secrets)


def redact(message: str, secrets: Iterable[str]) -> str:
    """``message`` with each of ``secrets`` replaced by ``****``, as written and as an error
    quoting it writes it (``repr()`` or JSON: a backslash doubled, a line break as ``\\n``)."""
    forms: set[str] = set()
    for secret in secrets:
        forms.update((secret, repr(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]))
        forms.add(json.dumps(secret)[1:-1])
    for form in sorted(forms, key=len, reverse=True):
        if form:
            message = message.replace(form, MASK)
    return message


def parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, Any]:
    """Each declared parameter's value (see :func:`resolve_parameters`)."""
    return resolve_parameters(template, overrides).values


def resolve_parameters(
    template: Mapping[str, Any], overrides: Mapping[str, Any]
) -> ParameterValues:
    """Each declared parameter's value: its override, else its ``Default``, checked against
    its type and constraints. An override for a parameter the template does not declare, a
    parameter with neither, and a value breaking a constraint are errors."""
    declared = template.get("Parameters")
    if declared is None:
        declared = {}
    if not isinstance(declared, dict):
        raise TemplateError("Parameters: must be a mapping of parameter names to declarations")
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TemplateError(
            f"--parameter-overrides: the template has no parameter {unknown[0]} "
            f"(it declares: {', '.join(sorted(declared)) or 'none'})"
        )
    result = ParameterValues()
    for name, spec in declared.items():
        where = f"Parameters.{name}"
        if not isinstance(spec, dict):
            raise TemplateError(f"{where}: must be a mapping with a Type")
        secret = str(spec.get("NoEcho", "false")).lower() == "true"
        text, source = _raw_value(name, spec, overrides, where)
        value = _Parameter(name, spec, where, secret, source).value(text)
        result.values[name] = value
        if secret:
            result.secrets.append(text)
            items = value if isinstance(value, list) else [value]
            result.secrets.extend(str(item) for item in items)
    result.secrets = sorted({s for s in result.secrets if s}, key=len, reverse=True)
    return result


def _raw_value(
    name: str, spec: Mapping[str, Any], overrides: Mapping[str, Any], where: str
) -> tuple[str, str]:
    """The parameter's text and where it came from."""
    type_name = spec.get("Type")
    if not isinstance(type_name, str):
        raise TemplateError(f"{where}.Type: a parameter needs a Type (String, Number, ...)")
    if name in overrides:
        return _text(overrides[name]), "--parameter-overrides"
    ssm = _SSM_VALUE.fullmatch(type_name)
    if ssm is not None:
        default = spec.get("Default")
        named = f" {default!r}" if isinstance(default, str) else ""
        raise TemplateError(
            f"{where}: type {type_name} is the value of the SSM parameter{named} in AWS, "
            f"which cannot be resolved offline: pass --parameter-overrides {name}=<value>"
        )
    if "Default" not in spec:
        raise TemplateError(
            f"{where}: no Default and no value given (--parameter-overrides {name}=<value>)"
        )
    return _text(spec["Default"]), "Default"


def _text(value: Any) -> str:
    """A parameter value as CloudFormation takes it: text (``true``, ``5``; a list default
    joined with commas)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_text(item) for item in value)
    return str(value)


@dataclass(slots=True)
class _Parameter:
    """One parameter's checks."""

    name: str
    spec: Mapping[str, Any]
    where: str
    secret: bool
    source: str

    def value(self, text: str) -> Any:
        type_name = str(self.spec["Type"])
        ssm = _SSM_VALUE.fullmatch(type_name)
        if ssm is not None:
            type_name = ssm.group(1)
        if type_name == "String":
            return self._string(text)
        if type_name == "Number":
            return self._number(text, self.where)
        if type_name == "List<Number>":
            return [self._number(item, self.where) for item in text.split(",")]
        if type_name in ("CommaDelimitedList", "List<String>"):
            # "each member string is space trimmed" (CloudFormation's Parameters reference)
            return [self._item(item.strip(" ")) for item in text.split(",")]
        if type_name == "AWS::SSM::Parameter::Name":
            return self._string(text)
        if type_name.startswith("List<") and _AWS_SPECIFIC.fullmatch(type_name[5:-1]):
            return [self._item(item) for item in text.split(",")]
        if _AWS_SPECIFIC.fullmatch(type_name):
            return self._string(text)
        raise TemplateError(
            f"{self.where}.Type: {self.spec['Type']!r} is not a parameter type "
            "(String, Number, List<Number>, CommaDelimitedList, AWS-specific types, "
            "AWS::SSM::Parameter::Value<...>)"
        )

    def _shown(self, text: str) -> str:
        return "the value" if self.secret else repr(text)

    def _fail(self, text: str, explanation: str) -> TemplateError:
        description = self.spec.get("ConstraintDescription")
        reason = str(description) if description else explanation
        return TemplateError(
            f"{self.where}: {self._shown(text)} (from {self.source}) does not satisfy the "
            f"parameter's constraints: {reason}"
        )

    def _string(self, text: str) -> str:
        self._item(text)
        low, high = self.spec.get("MinLength"), self.spec.get("MaxLength")
        if low is not None and len(text) < _bound(low, "MinLength", self.where):
            raise self._fail(text, f"at least {low} character(s) (MinLength)")
        if high is not None and len(text) > _bound(high, "MaxLength", self.where):
            raise self._fail(text, f"at most {high} character(s) (MaxLength)")
        return text

    def _item(self, text: str) -> str:
        allowed = self.spec.get("AllowedValues")
        if allowed is not None:
            if not isinstance(allowed, list):
                raise TemplateError(f"{self.where}.AllowedValues: must be a list")
            if text not in [_text(value) for value in allowed]:
                listed = ", ".join(_text(value) for value in allowed)
                raise self._fail(text, f"one of the AllowedValues ({listed})")
        pattern = self.spec.get("AllowedPattern")
        if pattern is not None:
            try:
                matched = re.fullmatch(python_pattern(str(pattern)), text)
            except re.error as exc:
                raise TemplateError(
                    f"{self.where}.AllowedPattern: not a regular expression ({exc})"
                ) from None
            if matched is None:
                raise self._fail(text, f"the whole value must match AllowedPattern {pattern}")
        return text

    def _number(self, text: str, where: str) -> int | str:
        if not _NUMBER.fullmatch(text):
            raise self._fail(text, "a number (the parameter's Type is Number)")
        number = float(text)
        low, high = self.spec.get("MinValue"), self.spec.get("MaxValue")
        if low is not None and number < _bound(low, "MinValue", where):
            raise self._fail(text, f"at least {low} (MinValue)")
        if high is not None and number > _bound(high, "MaxValue", where):
            raise self._fail(text, f"at most {high} (MaxValue)")
        allowed = self.spec.get("AllowedValues")
        if allowed is not None:
            if not isinstance(allowed, list):
                raise TemplateError(f"{self.where}.AllowedValues: must be a list")
            numbers = [float(_text(v)) for v in allowed if _NUMBER.fullmatch(_text(v))]
            if number not in numbers and text not in [_text(v) for v in allowed]:
                listed = ", ".join(_text(value) for value in allowed)
                raise self._fail(text, f"one of the AllowedValues ({listed})")
        return int(text) if _INTEGER.fullmatch(text) else text


_POSIX_CLASSES = {
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": "\\x00-\\x7f",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": "!-/:-@\\[-`{-~",
    "Graph": "!-~",
    "Print": " -~",
    "Blank": " \\t",
    "Cntrl": "\\x00-\\x1f\\x7f",
    "XDigit": "0-9a-fA-F",
    "Space": " \\t\\n\\x0b\\f\\r",
}
"""Java's POSIX character classes (``\\p{Alnum}``), which CloudFormation's patterns may use
(they are Java regular expressions) and Python's ``re`` lacks."""


def python_pattern(pattern: str) -> str:
    """A Java regular expression as Python's ``re`` reads it: the POSIX classes
    (``\\p{Print}``, ``\\P{Digit}``) written out; the rest is the same language."""
    out: list[str] = []
    in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            match = re.match(r"\\([pP])\{(\w+)\}", pattern[index:])
            if match is not None and match.group(2) in _POSIX_CLASSES:
                members = _POSIX_CLASSES[match.group(2)]
                negated = match.group(1) == "P"
                if in_class and not negated:
                    out.append(members)
                elif not in_class:
                    out.append(f"[{'^' if negated else ''}{members}]")
                else:
                    out.append(match.group(0))  # \P inside a class: left for re to refuse
                index += match.end()
                continue
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        out.append(char)
        index += 1
    return "".join(out)


def _bound(value: Any, name: str, where: str) -> float:
    text = _text(value)
    if not _NUMBER.fullmatch(text):
        raise TemplateError(f"{where}.{name}: must be a number")
    return float(text)


def parse_overrides(arguments: Iterable[str]) -> dict[str, str]:
    """``--parameter-overrides`` as ``sam deploy`` takes them: each argument holds one or more
    ``Key=Value`` pairs separated by spaces (a value may be quoted: ``Key="a b"``), or
    ``ParameterKey=Key,ParameterValue=Value`` pairs. A word without ``=`` after a pair
    continues its value (the shell removed the quotes of ``Key="a b"``). A later pair for the
    same key wins."""
    overrides: dict[str, str] = {}
    for argument in arguments:
        last: str | None = None
        for token in _tokens(argument):
            if token.startswith("ParameterKey="):
                key, value = _long_form(token, argument)
            elif "=" in token:
                key, value = token.split("=", 1)
            elif last is not None:
                overrides[last] += " " + _unquote(token)
                continue
            else:
                raise TemplateError(
                    f"--parameter-overrides: {argument!r} is not Key=Value "
                    "(or ParameterKey=Key,ParameterValue=Value)"
                )
            if not _KEY.fullmatch(key):
                raise TemplateError(
                    f"--parameter-overrides: {key!r} is not a parameter name (letters and digits)"
                )
            overrides[key] = _unquote(value)
            last = key
    return overrides


def _tokens(argument: str) -> list[str]:
    """The space-separated words of an argument; quoted runs keep their spaces."""
    tokens: list[str] = []
    position = 0
    text = argument.strip()
    while position < len(text):
        match = _OVERRIDE_TOKEN.match(text, position)
        if match is None or match.end() == position:
            # Its keys only: the template is not read yet, and any value may be a secret.
            keys = ", ".join(re.findall(r"([A-Za-z0-9]+)=", argument))
            giving = f" giving {keys}" if keys else ""
            raise TemplateError(
                f"--parameter-overrides: cannot read the argument{giving} (a quote left open?)"
            )
        tokens.append(match.group(0).strip())
        position = match.end()
    return tokens


def _long_form(token: str, argument: str) -> tuple[str, str]:
    body = token.removeprefix("ParameterKey=")
    key, separator, rest = body.partition(",")
    if not separator or not rest.startswith("ParameterValue="):
        raise TemplateError(  # (not the value: it may be a secret)
            f"--parameter-overrides: ParameterKey={key}: expected "
            "ParameterKey=Key,ParameterValue=Value"
        )
    return key, rest.removeprefix("ParameterValue=")


def _unquote(value: str) -> str:
    """A value without its enclosing quotes (``"a b"`` is ``a b``; ``\\"`` inside double
    quotes is a quote)."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    return value
