"""A stream as a target: the text is one record, under the outgoing partition key."""

from __future__ import annotations

from typing import Any

from eventmesh._errors import ConfigurationError
from eventmesh.delivery.target import DeliveryContext, Outgoing
from eventmesh.delivery.targets._resource import claims_resource, find_resource

__all__ = ["STREAM", "StreamTarget"]


class StreamTarget:
    kind = "kinesis"

    def __init__(self, stream: Any) -> None:
        self.resource = stream

    @property
    def arn(self) -> str:
        return str(self.resource.arn)

    async def deliver(self, outgoing: Outgoing, timeout: float | None = None) -> Any:
        if outgoing.partition_key is None:
            raise ConfigurationError("a stream target needs a partition key")
        return await self.resource.put_record(
            outgoing.text, outgoing.partition_key, timeout=timeout
        )


class _StreamKind:
    name = "kinesis"

    def claims(self, spec: Any, context: DeliveryContext) -> bool:
        return claims_resource(spec, context, "stream", "arn:aws:kinesis:")

    def bind(self, spec: Any, context: DeliveryContext) -> StreamTarget:
        return StreamTarget(find_resource(spec, context, "stream"))


STREAM = _StreamKind()
