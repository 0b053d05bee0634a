"""EventBridge event patterns and SNS subscription filter policies: one matching engine.

Design
======

A pattern is validated and *compiled* once, at construction, into a small tree of matcher
objects. ``matches`` only walks that tree and calls precomputed predicates: routing an event
never re-reads the pattern.

* ``_Object`` matches one level of a JSON object. Every field it names must match (AND) and, if
  the level has an ``$or``, one of its branches must match too. Where the pattern expects an
  object but the event holds an array, each object in the array is tried on its own, so all the
  fields of one match come from the same element ("array-consistent" matching, as EventBridge
  does).
* ``_Leaf`` matches the value found under one key against the pattern's array of allowed values
  (OR). Exact values are looked up in a frozenset of canonical keys; operators (``prefix``,
  ``numeric``, ``cidr``, ...) are compiled into predicates; ``anything-but`` into predicates whose
  negation matches; ``exists: false`` into a flag read when the key holds no value. When the event
  value is an array, the leaf matches if one of its elements does.

Both filtering languages go through the same compiler. What differs between an EventBridge
pattern, an SNS filter policy on the message body and one on message attributes is data, kept in
a ``_Dialect``: which operators exist, the numeric limits (and whether exact numbers obey them),
whether nesting is allowed, whether a dotted key is a nested path, and two SNS quirks.
``FilterPolicy`` is a thin layer over the engine: it enforces the SNS limits (keys, value
combinations, size) and decodes SNS message attributes (``String``, ``String.Array``,
``Number``; ``Binary`` is ignored) into plain values before matching.

Lambda event-source-mapping filters use the EventBridge syntax: they are ``Pattern`` objects,
ORed by ``matches_any``.

Robustness: nothing an event or a pattern holds can make matching slow or raise.
``wildcard`` runs in linear time and refuses what EventBridge refuses (``_wildcard``); a pattern
deeper than ``_MAX_DEPTH`` levels of JSON nesting is a ``PatternError`` (AWS publishes no depth
limit; its 4096-character cap on a pattern allows at most 819 levels, and event-ruler's JSON
parser stops at 1000); nested event arrays are walked without recursion, and matching descends
an event only as deep as the pattern does.

EventBridge paths (``_dotted_paths``): ``{"state.status": ...}`` and ``{"state": {"status":
...}}`` are one path, in patterns and in events, as event-ruler flattens both.

Choices where AWS's documentation is silent or inconsistent:

* Exact numbers compare by value, as event-ruler does (it canonicalises every number a double
  holds exactly): ``[300]`` matches ``300``, ``300.0`` and ``3.0e2``; a string is never a number.
  Beyond what a double holds exactly, Python compares int and float exactly.
* Numeric operators only match JSON numbers inside the dialect's numeric range (±5.0e9 for
  EventBridge, ±1e9 for SNS); booleans are never numbers.
* ``anything-but`` matches a present value that the excluded values do not match, whatever its
  type; it never matches an absent field. On an array, EventBridge needs one element outside
  the excluded values, SNS needs every element outside them (current SNS documentation).
* ``$or`` is the OR operator when its value is an array of objects that use no operator name as
  a key; it needs at least two, each non-empty. An array of operator objects (``{"$or":
  [{"prefix": "a"}]}``) keeps event-ruler's reading, a field named ``$or``; any other value is a
  ``PatternError``.
* Empty value arrays and nested empty objects are rejected: they can only be mistakes.
"""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from eventmesh._dotted_paths import (
    SELF,
    has_dotted_key,
    nest_event_keys,
    nest_pattern_keys,
)
from eventmesh._errors import PatternError
from eventmesh._rule_machines import wildcard_machines
from eventmesh._wildcard import (
    WILDCARD_COMPLEXITY_LIMIT,
    WildcardSyntaxError,
    parse_wildcard,
    wildcard_complexity,
    wildcard_matcher,
)

__all__ = ["FilterPolicy", "Pattern", "matches_any"]

_Test = Callable[[Any], bool]
"""A compiled condition on one scalar value of the event."""

_Compare = Callable[[float, float], bool]


class _Missing:
    """Stands for the value of a key that the event does not have."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Final = _Missing()
_ARRAY: Final = (list, tuple)  # event arrays (tuples are accepted for Python-built events)
_SCALARS: Final = (str, int, float, type(None))  # bool is an int
_UNMATCHABLE: Final = object()  # the exact-match key of a value no pattern literal can equal

_EVENTBRIDGE_NUMERIC_LIMIT: Final = 5.0e9
_EVENTBRIDGE_MAX_OR_COMBINATIONS: Final = 1000
_EVENTBRIDGE_MAX_PATTERN_CHARS: Final = 4096  # the quota's maximum (its default is 2048)
_SNS_NUMERIC_LIMIT: Final = 1.0e9
_SNS_MAX_DECIMALS: Final = 5
_SNS_MAX_KEYS: Final = 5
_SNS_MAX_COMBINATIONS: Final = 150
_SNS_MAX_POLICY_BYTES: Final = 256 * 1024
_OR: Final = "$or"
_MAX_DEPTH: Final = 100  # levels of JSON nesting (objects and arrays) in a pattern
_MAX_IP_TEXT: Final = 256  # far above any IP address text, zone id included: skip the parse
_TOO_COMPLEX: Final = (
    "Rule is too complex - try using fewer wildcard characters or fewer repeating character "
    "sequences after a wildcard character"
)


# --------------------------------------------------------------------------- values


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _exact_key(value: Any) -> Hashable:
    """Exact-match equality: numbers by value (300 == 300.0 == 3.0e2), never equal to a string.

    Python compares int and float exactly, without converting (no overflow on huge ints).
    """
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return ("number", value)
    return _UNMATCHABLE


def _flatten(values: list[Any] | tuple[Any, ...]) -> Iterator[Any]:
    """The elements of a (possibly nested) event array, without recursion (any depth)."""
    stack: list[Iterator[Any]] = [iter(values)]
    while stack:
        for value in stack[-1]:
            if isinstance(value, _ARRAY):
                stack.append(iter(value))
                break
            yield value
        else:
            stack.pop()


def _scalars(values: list[Any] | tuple[Any, ...]) -> Iterator[Any]:
    """The leaf values of a (possibly nested) event array; objects are not leaves."""
    return (value for value in _flatten(values) if not isinstance(value, Mapping))


def _objects(values: list[Any] | tuple[Any, ...]) -> Iterator[Mapping[str, Any]]:
    """The objects of a (possibly nested) event array."""
    return (value for value in _flatten(values) if isinstance(value, Mapping))


def _has_value(value: Any) -> bool:
    return value is not None and value != ""


def _always(value: Any) -> bool:
    return True


# --------------------------------------------------------------------------- dialects


@dataclass(frozen=True, slots=True)
class _Dialect:
    """What one filtering language allows; the compiler reads nothing else."""

    label: str
    operators: frozenset[str]
    anything_but_operators: frozenset[str]
    ignore_case_affixes: bool  # {"prefix": {"equals-ignore-case": ...}}
    numeric_limit: float
    max_decimals: int | None
    limit_exact_numbers: bool  # exact numbers must obey the numeric limits too
    nested: bool
    dotted_paths: bool  # a key with dots is a nested path, in patterns and in events
    anything_but_all_elements: bool  # on an array, anything-but must hold for every element
    exists_needs_value: bool  # "exists": true needs a non-null, non-empty value


_EVENTBRIDGE_OPERATORS: Final = frozenset(
    {
        "anything-but",
        "cidr",
        "equals-ignore-case",
        "exists",
        "numeric",
        "prefix",
        "suffix",
        "wildcard",
    }
)
_SNS_OPERATORS: Final = _EVENTBRIDGE_OPERATORS - {"wildcard"}

_EVENTBRIDGE: Final = _Dialect(
    label="event pattern",
    operators=_EVENTBRIDGE_OPERATORS,
    anything_but_operators=frozenset({"prefix", "suffix", "equals-ignore-case", "wildcard"}),
    ignore_case_affixes=True,
    numeric_limit=_EVENTBRIDGE_NUMERIC_LIMIT,
    max_decimals=None,
    limit_exact_numbers=False,
    nested=True,
    dotted_paths=True,
    anything_but_all_elements=False,
    exists_needs_value=False,
)
_SNS_BODY: Final = _Dialect(
    label="filter policy",
    operators=_SNS_OPERATORS,
    anything_but_operators=frozenset({"prefix"}),
    ignore_case_affixes=False,
    numeric_limit=_SNS_NUMERIC_LIMIT,
    max_decimals=_SNS_MAX_DECIMALS,
    limit_exact_numbers=True,
    nested=True,
    dotted_paths=False,
    anything_but_all_elements=True,
    exists_needs_value=True,
)
_SNS_ATTRIBUTES: Final = _Dialect(
    label="filter policy with scope MessageAttributes",
    operators=_SNS_OPERATORS,
    anything_but_operators=frozenset({"prefix"}),
    ignore_case_affixes=False,
    numeric_limit=_SNS_NUMERIC_LIMIT,
    max_decimals=_SNS_MAX_DECIMALS,
    limit_exact_numbers=True,
    nested=False,
    dotted_paths=False,
    anything_but_all_elements=True,
    exists_needs_value=True,
)


# --------------------------------------------------------------------------- matchers


def _scalar_matcher(
    exact: frozenset[Hashable],
    key: Callable[[Any], Hashable],
    tests: tuple[_Test, ...],
    excluded: tuple[_Test, ...],
) -> _Test:
    """The check of one scalar event value, specialised for the common exact-only case."""
    if not tests and not excluded:
        return lambda value: (value if type(value) is str else key(value)) in exact

    def match(value: Any) -> bool:
        if (value if type(value) is str else key(value)) in exact:
            return True
        for test in tests:
            if test(value):
                return True
        return any(not is_excluded(value) for is_excluded in excluded)

    return match


class _Leaf:
    """Matches the value under one key against an array of allowed values (OR)."""

    __slots__ = (
        "_all_elements",
        "_allowed",
        "_excluded",
        "_if_absent",
        "_match_scalar",
    )

    def __init__(self, spec: _LeafSpec, dialect: _Dialect) -> None:
        exact, key = frozenset(spec.exact), _exact_key
        tests, excluded = tuple(spec.tests), tuple(spec.excluded)
        self._match_scalar = _scalar_matcher(exact, key, tests, excluded)
        self._allowed = _scalar_matcher(exact, key, tests, ())
        self._excluded = excluded
        self._if_absent = spec.if_absent
        self._all_elements = dialect.anything_but_all_elements

    def __call__(self, value: Any) -> bool:
        if isinstance(value, _SCALARS):  # the common case first
            return self._match_scalar(value)
        if isinstance(value, _ARRAY):
            leaves = list(_scalars(value))
            return self._match_array(leaves) if leaves else self._if_absent
        if value is _MISSING or isinstance(value, Mapping):
            return self._if_absent  # no leaf value here: only "exists": false can match
        return self._match_scalar(value)

    def _match_array(self, leaves: list[Any]) -> bool:
        if any(map(self._allowed, leaves)):
            return True
        if self._all_elements:  # SNS: no element may be an excluded one
            return any(not any(map(is_excluded, leaves)) for is_excluded in self._excluded)
        return any(not is_excluded(leaf) for is_excluded in self._excluded for leaf in leaves)


class _Object:
    """Matches one object level: every field (AND), and one ``$or`` branch if any.

    With ``dotted`` (EventBridge), an event object with dotted keys is nested one level
    (``_dotted_paths``), so ``{"a.b": 1}`` offers ``a`` an object holding ``b``. Nesting only
    adds objects, which value arrays ignore, so the value fields are checked first on the object
    as it is and decide alone when one fails, the usual miss. Only then, and only at a level
    with nested fields or ``$or`` branches, are the keys scanned for dots, and the rest is
    matched once, on the object as it is or nested. (Matching it as it is first and nested
    after a miss would match the level below twice, and so on down: 2**depth walks, seconds
    for a 20-level pattern and a 400-byte event with a dotted key at each level.)
    """

    __slots__ = ("_branches", "_dotted", "_if_empty", "_leaves", "_objects")

    def __init__(
        self,
        fields: tuple[tuple[str, Callable[[Any], bool]], ...],
        branches: tuple[_Object, ...],
        dotted: bool,
    ) -> None:
        self._leaves = tuple((key, test) for key, test in fields if not isinstance(test, _Object))
        self._objects = tuple((key, test) for key, test in fields if isinstance(test, _Object))
        self._branches = branches
        self._dotted = dotted
        self._if_empty = self.match_object({})

    def __call__(self, value: Any) -> bool:
        if type(value) is dict or isinstance(value, Mapping):
            return self.match_object(value)
        if isinstance(value, _ARRAY):
            objects = list(_objects(value))
            if objects:
                return any(self.match_object(element) for element in objects)
        return self._if_empty  # absent, scalar, or no objects: the fields have no values

    def match_object(self, obj: Mapping[str, Any]) -> bool:
        for key, matcher in self._leaves:
            if not matcher(obj.get(key, _MISSING)):
                return False
        if not self._objects and not self._branches:
            return True
        if self._dotted and has_dotted_key(obj):
            return self._match_rest(nest_event_keys(obj))
        return self._match_rest(obj)

    def _match_nested(self, obj: Mapping[str, Any]) -> bool:
        """``match_object`` on an object whose dotted keys the caller has already handled."""
        for key, matcher in self._leaves:
            if not matcher(obj.get(key, _MISSING)):
                return False
        return self._match_rest(obj)

    def _match_rest(self, obj: Mapping[str, Any]) -> bool:
        for key, matcher in self._objects:
            if not matcher(obj.get(key, _MISSING)):
                return False
        return not self._branches or any(branch._match_nested(obj) for branch in self._branches)


# --------------------------------------------------------------------------- compiler


@dataclass(slots=True)
class _LeafSpec:
    """A leaf's allowed values, gathered while compiling its array."""

    exact: set[Hashable] = field(default_factory=set)
    tests: list[_Test] = field(default_factory=list)
    excluded: list[_Test] = field(default_factory=list)
    if_absent: bool = False


def _error(path: str, message: str) -> PatternError:
    return PatternError(f"{path}: {message}" if path else message)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_or_group(value: Any) -> bool:
    """event-ruler's rule: ``$or`` is the operator if it holds objects without operator keys."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) and _OPERATOR_NAMES.isdisjoint(item) for item in value)
    )


def _is_operator_array(value: Any) -> bool:
    """A value array of operator objects: event-ruler reads ``$or`` holding one as a field name."""
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def _compile_object(spec: dict[str, Any], path: str, dialect: _Dialect) -> _Object:
    fields: list[tuple[str, Callable[[Any], bool]]] = []
    branches: tuple[_Object, ...] = ()
    for key, value in spec.items():
        where = _join(path, key)
        if key == _OR:
            if _is_or_group(value):
                branches = _compile_or(value, where, dialect)
                continue
            if not _is_operator_array(value):
                raise _error(
                    where, f"$or expects an array of at least 2 sub-patterns, got {_show(value)}"
                )
        if dialect.dotted_paths and isinstance(value, dict) and SELF in value:  # value and object
            fields.append((key, _compile_field(value[SELF], where, dialect)))
            value = {inner: item for inner, item in value.items() if inner != SELF}
            if not value:
                continue
        fields.append((key, _compile_field(value, where, dialect)))
    return _Object(tuple(fields), branches, dialect.dotted_paths)


def _compile_or(
    branches: list[dict[str, Any]], path: str, dialect: _Dialect
) -> tuple[_Object, ...]:
    if len(branches) < 2:
        raise _error(path, "$or needs at least 2 sub-patterns")
    compiled = []
    for index, branch in enumerate(branches):
        if not branch:
            raise _error(f"{path}[{index}]", "an empty sub-pattern is not allowed in $or")
        compiled.append(_compile_object(branch, f"{path}[{index}]", dialect))
    return tuple(compiled)


def _compile_field(value: Any, path: str, dialect: _Dialect) -> Callable[[Any], bool]:
    if isinstance(value, dict):
        if not dialect.nested:
            raise _error(path, f"nested keys are not allowed in a {dialect.label}")
        if not value:
            raise _error(path, "an empty object is not allowed; name at least one field")
        return _compile_object(value, path, dialect)
    if not isinstance(value, list):
        raise _error(path, f"the value must be an array of allowed values, got {_show(value)}")
    if not value:
        raise _error(path, "an empty array matches nothing; list at least one value")
    return _compile_leaf(value, path, dialect)


def _compile_leaf(values: list[Any], path: str, dialect: _Dialect) -> _Leaf:
    spec = _LeafSpec()
    for value in values:
        if isinstance(value, dict):
            _add_operator(spec, value, path, dialect)
        elif isinstance(value, list):
            raise _error(path, f"arrays cannot be nested in a value array, got {_show(value)}")
        else:
            _add_exact(spec, value, path, dialect)
    return _Leaf(spec, dialect)


def _add_exact(spec: _LeafSpec, value: Any, path: str, dialect: _Dialect) -> None:
    if dialect.limit_exact_numbers and _is_number(value):
        _check_number(value, path, dialect)
    spec.exact.add(_exact_key(value))


def _single_item(obj: dict[str, Any], path: str, what: str) -> tuple[str, Any]:
    if len(obj) != 1:
        raise _error(path, f"{what} must have exactly one key, got {_show(obj)}")
    return next(iter(obj.items()))


def _add_operator(spec: _LeafSpec, obj: dict[str, Any], path: str, dialect: _Dialect) -> None:
    name, operand = _single_item(obj, path, "an operator object")
    if name not in dialect.operators:
        kind = "unsupported" if name in _OPERATOR_NAMES else "unknown"
        supported = ", ".join(sorted(dialect.operators))
        raise _error(path, f'{kind} operator "{name}" in a {dialect.label} (use: {supported})')
    _OPERATORS[name](spec, operand, path, dialect)


def _check_number(number: float, path: str, dialect: _Dialect) -> None:
    limit = dialect.numeric_limit
    if not -limit <= number <= limit:
        raise _error(path, f"number {number} is outside the allowed range {-limit:g}..{limit:g}")
    if dialect.max_decimals is not None and _decimals(number) > dialect.max_decimals:
        raise _error(
            path, f"number {number} has more than {dialect.max_decimals} digits after the point"
        )


def _decimals(number: float) -> int:
    if isinstance(number, int):
        return 0
    exponent = Decimal(repr(number)).as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


# --------------------------------------------------------------------------- operators


def _string_operand(name: str, operand: Any, path: str) -> str:
    if not isinstance(operand, str):
        raise _error(path, f"{name} expects a string, got {_show(operand)}")
    return operand


def _affix_test(name: str, text: str, ignore_case: bool) -> _Test:
    method: Callable[[str, str], bool] = str.startswith if name == "prefix" else str.endswith
    if ignore_case:
        folded = text.lower()
        return lambda value: isinstance(value, str) and method(value.lower(), folded)
    return lambda value: isinstance(value, str) and method(value, text)


def _affix(name: str, operand: Any, path: str, dialect: _Dialect) -> _Test:
    if isinstance(operand, dict) and dialect.ignore_case_affixes:
        inner, text = _single_item(operand, path, name)
        if inner != "equals-ignore-case":
            raise _error(path, f'{name} accepts a string or {{"equals-ignore-case": string}}')
        return _affix_test(name, _string_operand(f"{name} equals-ignore-case", text, path), True)
    return _affix_test(name, _string_operand(name, operand, path), False)


def _ignore_case_test(text: str) -> _Test:
    folded = text.lower()
    return lambda value: isinstance(value, str) and value.lower() == folded


def _wildcard_segments(text: str, path: str) -> tuple[str, ...]:
    try:
        return parse_wildcard(text)
    except WildcardSyntaxError as exc:
        raise _error(path, f"wildcard {_show(text)}: {exc}") from None


def _wildcard_test(text: str, path: str) -> _Test:
    """``*`` is zero or more characters; ``\\*`` a literal star and ``\\\\`` a backslash."""
    match = wildcard_matcher(_wildcard_segments(text, path))
    return lambda value: isinstance(value, str) and match(value)


def _string_test(name: str, text: str, path: str) -> _Test:
    """The string operators anything-but can wrap, by name."""
    if name == "wildcard":
        return _wildcard_test(text, path)
    if name == "equals-ignore-case":
        return _ignore_case_test(text)
    return _affix_test(name, text, False)


_COMPARE: Final[dict[str, _Compare]] = {
    "=": lambda value, bound: value == bound,
    "<": lambda value, bound: value < bound,
    "<=": lambda value, bound: value <= bound,
    ">": lambda value, bound: value > bound,
    ">=": lambda value, bound: value >= bound,
}
_LOWER_BOUNDS: Final = frozenset({">", ">="})
_UPPER_BOUNDS: Final = frozenset({"<", "<="})
_NUMERIC_USAGE: Final = 'numeric expects [op, number] or [">", number, "<=", number]'


def _numeric_bounds(operand: Any, path: str, dialect: _Dialect) -> list[tuple[str, float]]:
    if not isinstance(operand, list) or len(operand) not in (2, 4):
        raise _error(path, f"{_NUMERIC_USAGE}, got {_show(operand)}")
    bounds = [(operand[index], operand[index + 1]) for index in range(0, len(operand), 2)]
    for op, number in bounds:
        if not isinstance(op, str) or op not in _COMPARE:
            raise _error(path, f"numeric: unknown comparison {_show(op)} (use =, <, <=, >, >=)")
        if not _is_number(number):
            raise _error(path, f"numeric: {_show(op)} needs a number, got {_show(number)}")
        _check_number(number, path, dialect)
    if len(bounds) == 2:
        _check_range(bounds, path)
    return bounds


def _check_range(bounds: list[tuple[str, float]], path: str) -> None:
    (low_op, low), (high_op, high) = sorted(bounds, key=lambda bound: bound[0] in _UPPER_BOUNDS)
    if low_op not in _LOWER_BOUNDS or high_op not in _UPPER_BOUNDS:
        raise _error(path, "a numeric range needs one of >, >= and one of <, <=")
    if not low < high:
        raise _error(path, f"numeric range is empty: {low} is not below {high}")


def _numeric_test(bounds: list[tuple[str, float]], limit: float) -> _Test:
    def in_range(value: Any) -> bool:
        return _is_number(value) and -limit <= value <= limit

    if len(bounds) == 1:
        compare, bound = _COMPARE[bounds[0][0]], bounds[0][1]
        return lambda value: in_range(value) and compare(value, bound)
    (op1, bound1), (op2, bound2) = bounds
    compare1, compare2 = _COMPARE[op1], _COMPARE[op2]
    return lambda value: in_range(value) and compare1(value, bound1) and compare2(value, bound2)


def _cidr_test(operand: Any, path: str) -> _Test:
    text = _string_operand("cidr", operand, path)
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise _error(path, f"cidr {text!r} is not an IP network: {exc}") from None
    version, base, mask = network.version, int(network.network_address), int(network.netmask)

    def test(value: Any) -> bool:
        if not isinstance(value, str) or len(value) > _MAX_IP_TEXT:
            return False
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return False
        return address.version == version and int(address) & mask == base

    return test


def _excluded_values(operand: Any, path: str, dialect: _Dialect) -> _Test:
    values = operand if isinstance(operand, list) else [operand]
    if values and all(isinstance(value, str) for value in values):
        strings = frozenset(values)
        return lambda value: isinstance(value, str) and value in strings
    if values and all(_is_number(value) for value in values):
        for number in values:
            _check_number(number, path, dialect)
        numbers = frozenset(values)  # by value: 300 == 300.0, compared exactly
        return lambda value: _is_number(value) and value in numbers
    raise _error(
        path,
        "anything-but expects a string, a number, a non-empty list of only strings or only "
        f"numbers, or an operator object, got {_show(operand)}",
    )


def _excluded_operator(obj: dict[str, Any], path: str, dialect: _Dialect) -> _Test:
    name, operand = _single_item(obj, path, "an anything-but operator object")
    if name not in dialect.anything_but_operators:
        supported = ", ".join(sorted(dialect.anything_but_operators))
        raise _error(path, f'anything-but cannot wrap "{name}" in a {dialect.label} ({supported})')
    texts = operand if isinstance(operand, list) and operand else [operand]
    tests = []
    for text in texts:
        text = _string_operand(name, text, path)
        if not text and name in ("prefix", "suffix"):  # it would exclude every string
            raise _error(path, f"anything-but {name} cannot be empty")
        tests.append(_string_test(name, text, path))
    if len(tests) == 1:
        return tests[0]
    return lambda value: any(test(value) for test in tests)


def _op_anything_but(spec: _LeafSpec, operand: Any, path: str, dialect: _Dialect) -> None:
    if isinstance(operand, dict):
        spec.excluded.append(_excluded_operator(operand, path, dialect))
    else:
        spec.excluded.append(_excluded_values(operand, path, dialect))


def _op_prefix(spec: _LeafSpec, operand: Any, path: str, dialect: _Dialect) -> None:
    spec.tests.append(_affix("prefix", operand, path, dialect))


def _op_suffix(spec: _LeafSpec, operand: Any, path: str, dialect: _Dialect) -> None:
    spec.tests.append(_affix("suffix", operand, path, dialect))


def _op_equals_ignore_case(spec: _LeafSpec, operand: Any, path: str, dialect: _Dialect) -> None:
    spec.tests.append(_ignore_case_test(_string_operand("equals-ignore-case", operand, path)))


def _op_wildcard(spec: _LeafSpec, operand: Any, path: str, dialect: _Dialect) -> None:
    spec.tests.append(_wildcard_test(_string_operand("wildcard", operand, path), path))


def _op_numeric(spec: _LeafSpec, operand: Any, path: str, dialect: _Dialect) -> None:
    bounds = _numeric_bounds(operand, path, dialect)
    spec.tests.append(_numeric_test(bounds, dialect.numeric_limit))


def _op_cidr(spec: _LeafSpec, operand: Any, path: str, dialect: _Dialect) -> None:
    spec.tests.append(_cidr_test(operand, path))


def _op_exists(spec: _LeafSpec, operand: Any, path: str, dialect: _Dialect) -> None:
    if not isinstance(operand, bool):
        raise _error(path, f"exists expects true or false, got {_show(operand)}")
    if operand:
        spec.tests.append(_has_value if dialect.exists_needs_value else _always)
    else:
        spec.if_absent = True


_OPERATORS: Final[dict[str, Callable[[_LeafSpec, Any, str, _Dialect], None]]] = {
    "anything-but": _op_anything_but,
    "cidr": _op_cidr,
    "equals-ignore-case": _op_equals_ignore_case,
    "exists": _op_exists,
    "numeric": _op_numeric,
    "prefix": _op_prefix,
    "suffix": _op_suffix,
    "wildcard": _op_wildcard,
}
_OPERATOR_NAMES: Final = frozenset(_OPERATORS)


# --------------------------------------------------------------------------- loading, limits


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _copy_value(value: Any, path: str, depth: int) -> Any:
    """A deep copy made only of JSON types (dict, list, str, int, float, bool, None).

    ``depth`` counts the objects and arrays around ``value``; past ``_MAX_DEPTH`` the pattern is
    refused, so neither this copy nor the compiler or the matcher can recurse without bound.
    """
    if isinstance(value, Mapping | list | tuple) and depth >= _MAX_DEPTH:
        raise _error(path, f"the pattern is nested more than {_MAX_DEPTH} levels deep")
    if isinstance(value, Mapping):
        return _copy_object(value, path, depth + 1)
    if isinstance(value, _ARRAY):
        return [_copy_value(item, path, depth + 1) for item in value]
    if value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise _error(path, f"{_describe(value)} is not a JSON value")


def _describe(value: Any) -> str:
    text = repr(value) if isinstance(value, float) else type(value).__name__
    return text if len(text) <= 80 else text[:77] + "..."


def _copy_object(obj: Mapping[Any, Any], path: str, depth: int) -> dict[str, Any]:
    copied: dict[str, Any] = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            raise _error(path, f"keys must be strings, got {_describe(key)}")
        copied[key] = _copy_value(value, _join(path, key), depth)
    return copied


def _load(source: Mapping[str, Any] | str | bytes, label: str) -> dict[str, Any]:
    parsed: Any = source
    if isinstance(source, str | bytes | bytearray):
        try:
            parsed = json.loads(source, parse_constant=_reject_constant)
        except ValueError as exc:
            raise PatternError(f"{label} is not valid JSON: {exc}") from None
        except RecursionError:
            raise PatternError(f"{label} is nested more than {_MAX_DEPTH} levels deep") from None
    if not isinstance(parsed, Mapping):
        raise PatternError(f"{label} must be a JSON object, got {type(parsed).__name__}")
    return _copy_object(parsed, "", 1)


def _check_pattern_size(source: dict[str, Any]) -> None:
    """EventBridge refuses an event pattern over 4096 characters (2048 unless its quota is
    raised; Lambda's event filters and Pipes allow 4096). Measured on the compact JSON text, the
    most lenient reading. It also bounds what validating a pattern can cost (``_wildcard``)."""
    size = len(json.dumps(source, separators=(",", ":"), ensure_ascii=False))
    if size > _EVENTBRIDGE_MAX_PATTERN_CHARS:
        raise PatternError(
            f"event pattern is {size} characters of JSON; the limit is "
            f"{_EVENTBRIDGE_MAX_PATTERN_CHARS} characters"
        )


def _check_dotted_depth(source: dict[str, Any]) -> None:
    """EventBridge: each dot of a key is one more level of nesting (``"a.b"`` is ``{"a": {"b":
    ...}}``) and counts in the depth limit, or nesting and compiling the pattern would recurse
    without bound (a 2,000-segment key raised RecursionError)."""
    pending: list[tuple[dict[str, Any], str, int]] = [(source, "", 1)]
    while pending:
        obj, path, depth = pending.pop()
        for key, value in obj.items():
            where, levels = _join(path, key), depth + key.count(".")
            if levels > _MAX_DEPTH:
                raise _error(where, f"the pattern is nested more than {_MAX_DEPTH} levels deep")
            if isinstance(value, dict):
                pending.append((value, where, levels + 1))
            elif isinstance(value, list):  # $or branches
                pending.extend(
                    (item, where, levels + 2) for item in value if isinstance(item, dict)
                )


def _check_wildcard_complexity(spec: dict[str, Any]) -> None:
    """EventBridge refuses a pattern event-ruler would judge too complex (``_rule_machines``).

    Machines holding the same wildcards are measured once: ``$or`` branches that differ on an
    earlier field give one field up to 1000 machines, often alike, and measuring each again
    took a minute for a 1.5 KB pattern."""
    measured: set[Hashable] = set()
    for path, patterns in wildcard_machines(spec, _is_or_group):
        holds = tuple((identity, tuple(texts)) for identity, texts in patterns)
        if holds in measured:
            continue
        measured.add(holds)
        if wildcard_complexity(patterns, WILDCARD_COMPLEXITY_LIMIT) > WILDCARD_COMPLEXITY_LIMIT:
            raise _error(path, _TOO_COMPLEX)


def _combinations(spec: dict[str, Any], leaf_weight: Callable[[list[Any]], int]) -> int:
    """How many plain rules the pattern expands to: product over keys, sum over $or branches."""
    total = 1
    for key, value in spec.items():
        if key == _OR and _is_or_group(value):
            total *= sum(_combinations(branch, leaf_weight) for branch in value)
        elif isinstance(value, dict):
            total *= _combinations(value, leaf_weight)
        elif isinstance(value, list):
            total *= leaf_weight(value)
    return total


def _top_level_keys(spec: dict[str, Any]) -> int:
    """Keys counted by SNS: the top-level ones, per $or alternative."""
    or_group: Any = spec.get(_OR)
    if not _is_or_group(or_group):
        return len(spec)
    return len(spec) - 1 + max(_top_level_keys(branch) for branch in or_group)


def _one_rule(values: list[Any]) -> int:
    return 1


def _check_sns_limits(policy: dict[str, Any]) -> None:
    size = len(json.dumps(policy).encode())
    if size > _SNS_MAX_POLICY_BYTES:
        raise PatternError(f"filter policy is {size} bytes; the limit is 256 KB")
    keys = _top_level_keys(policy)
    if keys > _SNS_MAX_KEYS:
        raise PatternError(f"filter policy has {keys} keys; the limit is {_SNS_MAX_KEYS} keys")
    combinations = _combinations(policy, len)
    if combinations > _SNS_MAX_COMBINATIONS:
        raise PatternError(
            f"filter policy has {combinations} value combinations; "
            f"the limit is {_SNS_MAX_COMBINATIONS} combinations"
        )


# --------------------------------------------------------------------------- SNS attributes

_TYPE_KEYS: Final = ("Type", "DataType", "dataType")
_VALUE_KEYS: Final = ("Value", "StringValue", "stringValue")


def _first(attribute: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in attribute:
            return attribute[key]
    return _MISSING


def _is_number_text(text: str) -> bool:
    """A decimal number as SNS reads one: ``[+-]digits[.digits][e[+-]digits]``.

    String methods only (no regular expression, no per-character loop in Python): linear, and
    fast on a 10 KB attribute value."""
    body = text[1:] if text[:1] in ("+", "-") else text
    mantissa, exponent = body, ""
    for marker in ("e", "E"):
        if marker in body:
            mantissa, _, exponent = body.partition(marker)
            exponent = exponent[1:] if exponent[:1] in ("+", "-") else exponent
            if not _is_digits(exponent):
                return False
            break
    whole, _, fraction = mantissa.partition(".")
    if not whole and not fraction:
        return False
    return (not whole or _is_digits(whole)) and (not fraction or _is_digits(fraction))


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _decode_number(raw: Any) -> Any:
    if _is_number(raw):
        return raw
    if isinstance(raw, str) and _is_number_text(raw.strip()):
        number = float(raw)
        return number if math.isfinite(number) else _MISSING
    return _MISSING


def _decode_array(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError):
            return _MISSING
    return raw if isinstance(raw, list) else _MISSING


def _decode_attribute(attribute: Any) -> Any:
    """An SNS/SQS message attribute as a plain value; ``_MISSING`` if SNS ignores it."""
    if not isinstance(attribute, Mapping):  # a bare value: str, number or array
        if isinstance(attribute, str | list) or _is_number(attribute):
            return attribute
        return _MISSING
    data_type, raw = _first(attribute, _TYPE_KEYS), _first(attribute, _VALUE_KEYS)
    if not isinstance(data_type, str):
        return _MISSING
    if data_type == "String.Array":
        return _decode_array(raw)
    base_type = data_type.split(".", 1)[0]  # custom labels: "Number.float", "String.id"
    if base_type == "String":
        return raw if isinstance(raw, str) else _MISSING
    if base_type == "Number":
        return _decode_number(raw)
    return _MISSING  # Binary (and unknown types) are ignored


def _decode_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    decoded = {name: _decode_attribute(value) for name, value in attributes.items()}
    return {name: value for name, value in decoded.items() if value is not _MISSING}


# --------------------------------------------------------------------------- public API


class Pattern:
    """An EventBridge event pattern, validated and compiled once.

    ``Pattern({"source": ["aws.ec2"], "detail": {"state": ["running"]}})`` or the same as a JSON
    string. Raises ``PatternError`` naming the offending key's dotted path. ``matches(event)``
    tells whether a parsed event (a mapping) matches.
    """

    __slots__ = ("_root", "source")

    def __init__(self, pattern: Mapping[str, Any] | str | bytes) -> None:
        self.source: dict[str, Any] = _load(pattern, _EVENTBRIDGE.label)
        _check_pattern_size(self.source)
        _check_dotted_depth(self.source)
        nested = nest_pattern_keys(self.source)  # dotted keys as nested objects
        self._root = _compile_object(nested, "", _EVENTBRIDGE)
        combinations = _combinations(nested, _one_rule)
        if combinations > _EVENTBRIDGE_MAX_OR_COMBINATIONS:
            raise PatternError(
                f"event pattern expands to {combinations} combinations through $or; "
                f"the limit is {_EVENTBRIDGE_MAX_OR_COMBINATIONS} combinations"
            )
        _check_wildcard_complexity(nested)  # after the limit: it expands the $or combinations

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Whether ``event`` has every field the pattern names, each with an allowed value.

        Never raises: matching walks an event only as deep as the pattern (at most
        ``_MAX_DEPTH`` levels) and nested arrays without recursion."""
        return self._root(event)

    def __repr__(self) -> str:
        return f"Pattern({json.dumps(self.source)})"


_SCOPES: Final = {"MessageAttributes": _SNS_ATTRIBUTES, "MessageBody": _SNS_BODY}


class FilterPolicy:
    """An SNS subscription filter policy, validated and compiled once.

    ``scope`` is SNS's ``FilterPolicyScope``: ``"MessageAttributes"`` (the default; ``matches``
    takes the message attributes as SNS or SQS shapes them, e.g. ``{"color": {"Type": "String",
    "Value": "red"}}``) or ``"MessageBody"`` (``matches`` takes the body: a mapping, or JSON text
    that must decode to an object). An empty policy accepts every message.
    """

    __slots__ = ("_root", "scope", "source")

    def __init__(
        self, policy: Mapping[str, Any] | str | bytes, scope: str = "MessageAttributes"
    ) -> None:
        dialect = _SCOPES.get(scope)
        if dialect is None:
            raise PatternError(
                f'filter policy scope must be "MessageAttributes" or "MessageBody", got {scope!r}'
            )
        self.scope = scope
        self.source: dict[str, Any] = _load(policy, "filter policy")
        self._root = _compile_object(self.source, "", dialect)
        _check_sns_limits(self.source)

    def matches(self, message: Mapping[str, Any] | str | bytes) -> bool:
        """Whether SNS would deliver ``message`` (attributes or body, per ``scope``)."""
        if not self.source:
            return True
        if self.scope == "MessageBody":
            return self._matches_body(message)
        return self._matches_attributes(message)

    def _matches_body(self, body: Mapping[str, Any] | str | bytes) -> bool:
        if isinstance(body, str | bytes | bytearray):
            try:
                body = json.loads(body)
            except (ValueError, RecursionError):  # not JSON, or nested past what json reads
                return False
        return isinstance(body, Mapping) and self._root.match_object(body)

    def _matches_attributes(self, attributes: Mapping[str, Any] | str | bytes) -> bool:
        if not isinstance(attributes, Mapping):
            return False
        decoded = _decode_attributes(attributes)
        # SNS: with no attributes at all, not even "exists": false matches.
        return bool(decoded) and self._root.match_object(decoded)

    def __repr__(self) -> str:
        return f"FilterPolicy({json.dumps(self.source)}, scope={self.scope!r})"


def matches_any(patterns: Sequence[Pattern], record: Mapping[str, Any]) -> bool:
    """Lambda event-source-mapping filters: the record passes if any pattern matches (ORed).

    With no filters at all, every record passes.
    """
    return not patterns or any(pattern.matches(record) for pattern in patterns)
