"""``bound_once``: ``functools.cached_property`` that keeps an object's attributes fast to read.

``cached_property`` stores its value through ``instance.__dict__``. In CPython 3.11 that
turns the instance's compact attribute storage into a real dict for good, and from then on
every ``self.x`` of the object is a dict lookup the interpreter cannot specialise: about ten
times the cost of a plain attribute read (measured on the queue's send and receive paths:
about 300 instructions a read instead of 27). ``bound_once`` stores the value with
``setattr``, as ``__init__``'s attributes are stored, and the instance's own attribute then
hides the descriptor. Use it for values computed on first use on objects of a hot path
(stores, senders, outage trackers bound when the mesh starts).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

__all__ = ["bound_once"]

_T = TypeVar("_T")


class bound_once(Generic[_T]):
    """Compute the attribute on first read, then keep it as the instance's own."""

    def __init__(self, compute: Callable[[Any], _T]) -> None:
        self._compute = compute
        self._name = compute.__name__
        self.__doc__ = compute.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> bound_once[_T]: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> _T: ...
    def __get__(self, instance: object, owner: type | None = None) -> _T | bound_once[_T]:
        if instance is None:
            return self
        value = self._compute(instance)
        setattr(instance, self._name, value)  # the instance's own attribute from now on
        return value
