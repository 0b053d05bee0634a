"""What a stopping mesh waits for and what it abandons, per function and resource.

The mesh logs these lines to the ``eventmesh`` logger while it stops::

    draining (up to 30 s): function charge 3 running, 12 queued; QueueMapping o -> charge 9 pending
    drained
    abandoned: function charge 1 running (the drain deadline of 30 s passed)
    abandoned: function charge 5 Event invocations not run (2 queued, 3 waiting to retry); \
memory storage keeps nothing after the process ends

so an operator sees the work a restart, a deploy or a Ctrl-C cost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from eventmesh.resources._base import Resource, Service

__all__ = ["NOTHING", "FunctionWork", "describe_service", "describe_work"]

NOTHING = "nothing"


@dataclass(slots=True, frozen=True)
class FunctionWork:
    """One function's work at one moment: invocations running, Event invocations stored."""

    name: str
    running: int
    queued: int
    retrying: int

    @property
    def total(self) -> int:
        return self.running + self.queued + self.retrying

    def describe(self) -> str:
        parts = [
            f"{count} {label}"
            for count, label in (
                (self.running, "running"),
                (self.queued, "queued"),
                (self.retrying, "waiting to retry"),
            )
            if count
        ]
        return f"function {self.name} {', '.join(parts)}"


def describe_service(service: Service) -> str:
    """``queue orders``, ``topic alerts``; a mapping by its repr (``QueueMapping q -> f``)."""
    if isinstance(service, Resource):
        return f"{service.kind} {service.name}"
    return repr(service).strip("<>")


def describe_work(functions: Iterable[FunctionWork], services: Iterable[tuple[str, int]]) -> str:
    """One line: every function and service with work, ``;``-separated (``nothing`` if none)."""
    items = [work.describe() for work in functions if work.total]
    items += [f"{label} {count} pending" for label, count in services if count]
    return "; ".join(items) or NOTHING
