"""A queue as a target: the text is the message body, with the attributes."""

from __future__ import annotations

from typing import Any

from eventmesh.delivery.target import DeliveryContext, Outgoing
from eventmesh.delivery.targets._resource import claims_resource, find_resource

__all__ = ["QUEUE", "QueueTarget"]


class QueueTarget:
    kind = "sqs"

    def __init__(self, queue: Any) -> None:
        self.resource = queue

    @property
    def arn(self) -> str:
        return str(self.resource.arn)

    async def deliver(self, outgoing: Outgoing, timeout: float | None = None) -> Any:
        return await self.resource.send(outgoing.text, outgoing.attributes, timeout=timeout)


class _QueueKind:
    name = "sqs"

    def claims(self, spec: Any, context: DeliveryContext) -> bool:
        return claims_resource(spec, context, "queue", "arn:aws:sqs:")

    def bind(self, spec: Any, context: DeliveryContext) -> QueueTarget:
        return QueueTarget(find_resource(spec, context, "queue"))


QUEUE = _QueueKind()
