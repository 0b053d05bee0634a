"""What every resource and event source mapping shares: a name, an ARN, a lifecycle.

A resource (queue, topic, stream, bucket, schedule) is both a producer API and an event
source; a mapping polls a resource and invokes a function. The mesh starts them when it
starts, asks them how much work is pending while it drains, and stops them when it stops.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from eventmesh.resources.context import ResourceContext, Service

__all__ = ["Resource", "Service"]


class Resource:
    """A named resource of a mesh. Subclasses set ``kind`` and ``service`` (for the ARN).

    Built as ``Kind(context, name, settings)`` by the mesh's generic registration
    (``mesh.resource(Kind, name, **settings)``); ``context`` is the narrow
    :class:`~eventmesh.resources.context.ResourceContext`, never the Mesh. A resource reads
    ``context.backend`` when it uses its store, not in ``__init__``: storage is bound when the
    mesh starts, so a command line flag can choose it for a mesh defined in code.
    """

    kind: ClassVar[str] = "resource"
    service: ClassVar[str] = "eventmesh"

    def __init__(self, context: ResourceContext, name: str, settings: Mapping[str, Any]) -> None:
        self.context = context
        self.name = name
        self.settings = dict(settings)

    @property
    def arn(self) -> str:
        context = self.context
        return f"arn:aws:{self.service}:{context.region}:{context.account_id}:{self.name}"

    async def start(self) -> None:
        """Start background work (subscriptions start themselves as services)."""

    async def stop(self) -> None:
        """Stop background work."""

    async def pending(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
