"""Attributes as a resource may hand them to a store: a ``Mapping`` that is not a dict."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

__all__ = ["ReadOnlyAttributes"]


class ReadOnlyAttributes(Mapping[str, str]):
    """A read-only string map with nothing beyond the ``Mapping`` interface: no ``copy``,
    not a dict, not JSON-encodable as it is. The protocols type attributes as
    ``Mapping[str, str]``; a store that assumes a dict (encodes it directly, calls a dict
    method, mutates it) fails with this one. ``dict(attributes)`` is the way to a dict."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items = dict(items or {})

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"ReadOnlyAttributes({self._items!r})"
