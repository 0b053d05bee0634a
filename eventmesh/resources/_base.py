"""What every resource and event source mapping shares: a name, an ARN, a lifecycle.

A resource (queue, topic, stream, bucket, schedule) is both a producer API and an event
source; a mapping polls a resource and invokes a function. The mesh starts them when it
starts, asks them how much work is pending while it drains, and stops them when it stops.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from eventmesh._mesh import Mesh

__all__ = ["Resource", "Service"]


@runtime_checkable
class Service(Protocol):
    """Something with background work that lives as long as the running mesh."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def pending(self) -> int:
        """Work the mesh should wait for when it drains (0 when idle)."""
        ...


class Resource:
    """A named resource of a mesh. Subclasses set ``kind`` and ``service`` (for the ARN)."""

    kind: ClassVar[str] = "resource"
    service: ClassVar[str] = "eventmesh"

    def __init__(self, mesh: Mesh, name: str, settings: Mapping[str, Any]) -> None:
        self._mesh = mesh
        self.name = name
        self.settings = dict(settings)

    @property
    def arn(self) -> str:
        mesh = self._mesh
        return f"arn:aws:{self.service}:{mesh.region}:{mesh.account_id}:{self.name}"

    async def start(self) -> None:
        """Start background work (subscriptions start themselves as services)."""

    async def stop(self) -> None:
        """Stop background work."""

    async def pending(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
