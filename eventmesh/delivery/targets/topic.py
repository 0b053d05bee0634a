"""A topic as a target: the text is published, with its subject and attributes."""

from __future__ import annotations

from typing import Any

from eventmesh.delivery.target import DeliveryContext, Outgoing
from eventmesh.delivery.targets._resource import claims_resource, find_resource

__all__ = ["TOPIC", "TopicTarget"]


class TopicTarget:
    kind = "sns"

    def __init__(self, topic: Any) -> None:
        self.resource = topic

    @property
    def arn(self) -> str:
        return str(self.resource.arn)

    async def deliver(self, outgoing: Outgoing, timeout: float | None = None) -> Any:
        return await self.resource.publish(
            outgoing.text, subject=outgoing.subject, attributes=outgoing.attributes, timeout=timeout
        )


class _TopicKind:
    name = "sns"

    def claims(self, spec: Any, context: DeliveryContext) -> bool:
        return claims_resource(spec, context, "topic", "arn:aws:sns:")

    def bind(self, spec: Any, context: DeliveryContext) -> TopicTarget:
        return TopicTarget(find_resource(spec, context, "topic"))


TOPIC = _TopicKind()
