"""The kinds of target, one module each, and the order :func:`resolve_target` asks them in.

A new kind is a module with a :class:`~eventmesh.delivery.target.TargetKind` and one line in
:data:`KINDS` (before any kind that would claim the same specs more loosely).
"""

from __future__ import annotations

from eventmesh.delivery.target import TargetKind
from eventmesh.delivery.targets.bus import BUS
from eventmesh.delivery.targets.callable import CALLABLE
from eventmesh.delivery.targets.destination import DESTINATION
from eventmesh.delivery.targets.function import FUNCTION
from eventmesh.delivery.targets.http import HTTP
from eventmesh.delivery.targets.queue import QUEUE
from eventmesh.delivery.targets.stream import STREAM
from eventmesh.delivery.targets.topic import TOPIC

__all__ = ["KINDS"]

KINDS: tuple[TargetKind, ...] = (HTTP, QUEUE, TOPIC, STREAM, BUS, FUNCTION, DESTINATION, CALLABLE)
"""URLs first (a URL is never a name), then the resources by object, name or ARN, then
functions (any other name), then objects with ``send``, then callables."""
