"""A minimal JSONPath: the simple paths EventBridge takes, parsed once, resolved by a loop.

Accepted syntax (what EventBridge's ``InputPath``, ``InputPathsMap`` and
``PartitionKeyPath`` use in practice):

* ``$``: the whole document;
* ``.name``: a member of an object; ``name`` is any run of characters other than ``.``,
  ``[``, ``]``, quotes and white space, so ``$.detail.instance-id`` and
  ``$.detail.a/b`` work;
* ``['name']`` or ``["name"]``: a member whose name holds any of those characters
  (``\\'``, ``\\"`` and ``\\\\`` escape a quote or a backslash);
* ``[n]``: the element at index ``n`` (``n >= 0``) of an array.

Why not a JSONPath library: EventBridge accepts only these simple paths, so a full
implementation (filters, slices, unions, recursive descent, scripts) would accept paths
EventBridge rejects, and it would add a dependency to a core that depends only on anyio,
orjson and opentelemetry-api. What is not supported (``*``, ``..``, ``[-1]``, ``[0:2]``,
``[?(...)]``) is rejected when the path is parsed, with the position of the problem, never
silently matched against nothing.

A path that leads nowhere (a missing member, an index past the end, a member of something
that is not an object) is not an error: :meth:`JsonPath.get` returns the default and
:meth:`JsonPath.find` raises :class:`PathNotFoundError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Final

from eventmesh._errors import ConfigurationError

__all__ = ["JsonPath", "PathNotFoundError", "json_path"]

Step = str | int
"""A member name (str) or an array index (int)."""

_NAME_STOP: Final = frozenset(".[]'\"") | frozenset(" \t\r\n")
_QUOTES: Final = frozenset("'\"")


class PathNotFoundError(LookupError):
    """The document has nothing at the path."""


class _Parser:
    """A one-pass reader of a path's text into steps."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def error(self, reason: str) -> ConfigurationError:
        return ConfigurationError(
            f"JSONPath {self.text!r}: {reason} at position {self.at} (supported: $, .name, "
            "['name'] and [index])"
        )

    def parse(self) -> tuple[Step, ...]:
        if not self.text.startswith("$"):
            raise self.error("a path starts with '$'")
        self.at = 1
        steps: list[Step] = []
        while self.at < len(self.text):
            char = self.text[self.at]
            if char == ".":
                self.at += 1
                steps.append(self.name())
            elif char == "[":
                self.at += 1
                steps.append(self.bracket())
            else:
                raise self.error(f"unexpected {char!r}")
        return tuple(steps)

    def name(self) -> str:
        start = self.at
        while self.at < len(self.text) and self.text[self.at] not in _NAME_STOP:
            self.at += 1
        name = self.text[start : self.at]
        if not name:
            raise self.error("a member name is expected ('..' is not supported)")
        if name == "*":
            raise self.error("wildcards are not supported")
        return name

    def bracket(self) -> Step:
        if self.at < len(self.text) and self.text[self.at] in _QUOTES:
            step: Step = self.quoted(self.text[self.at])
        else:
            step = self.index()
        if self.at >= len(self.text) or self.text[self.at] != "]":
            raise self.error("']' is expected")
        self.at += 1
        return step

    def quoted(self, quote: str) -> str:
        self.at += 1
        chars: list[str] = []
        while self.at < len(self.text):
            char = self.text[self.at]
            if char == "\\" and self.at + 1 < len(self.text):
                chars.append(self.text[self.at + 1])
                self.at += 2
                continue
            self.at += 1
            if char == quote:
                return "".join(chars)
            chars.append(char)
        raise self.error("the quoted name is not closed")

    def index(self) -> int:
        start = self.at
        while self.at < len(self.text) and self.text[self.at].isdigit():
            self.at += 1
        digits = self.text[start : self.at]
        if not digits or not digits.isascii():
            self.at = start
            raise self.error("an index (digits) or a quoted name is expected")
        return int(digits)


class JsonPath:
    """A parsed path; ``JsonPath("$.detail.items[0]['order id']").get(event)``."""

    __slots__ = ("path", "steps")

    def __init__(self, path: str) -> None:
        if not isinstance(path, str):
            raise ConfigurationError(f"a JSONPath is a string, not {path!r}")
        self.path = path
        self.steps: tuple[Step, ...] = _Parser(path).parse()

    def find(self, document: Any) -> Any:
        """The value at the path; raises :class:`PathNotFoundError` when there is none."""
        value = document
        for step in self.steps:
            if isinstance(step, str):
                if not isinstance(value, Mapping) or step not in value:
                    raise PathNotFoundError(self.path)
                value = value[step]
            else:
                if (
                    not isinstance(value, Sequence)
                    or isinstance(value, str | bytes)
                    or step >= len(value)
                ):
                    raise PathNotFoundError(self.path)
                value = value[step]
        return value

    def get(self, document: Any, default: Any = None) -> Any:
        """The value at the path, or ``default`` when there is none."""
        try:
            return self.find(document)
        except PathNotFoundError:
            return default

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsonPath) and other.steps == self.steps

    def __hash__(self) -> int:
        return hash(self.steps)

    def __str__(self) -> str:
        return self.path

    def __repr__(self) -> str:
        return f"JsonPath({self.path!r})"


@lru_cache(maxsize=1024)
def json_path(path: str) -> JsonPath:
    """A parsed path, cached: the same text parses once per process."""
    return JsonPath(path)
