"""``AWS::SQS::Queue``: a queue of the mesh (``mesh.queue``), its properties read as SQS
reads ``CreateQueue``'s attributes (:mod:`eventmesh.declare.sqs`).

The name is ``QueueName``, else the logical id (``<logical id>.fifo`` for a FIFO queue, as
CloudFormation's generated names end in ``.fifo``). ``Ref`` gives the queue's URL,
``https://sqs.<region>.amazonaws.com/<account>/<name>``: a handler's boto3 client pointed at
the mesh's AWS endpoint finds the queue by the URL's last path part, so the URL works there
as it does on AWS. ``Fn::GetAtt``: ``Arn``, ``QueueName``, ``QueueUrl``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from eventmesh._errors import ConfigurationError
from eventmesh.declare.sqs import (
    SqsDeclarationError,
    attributes_beside,
    check_queue_name,
    is_fifo,
    queue_attributes,
    redrive_settings,
)
from eventmesh.resources.queue import Queue
from eventmesh.sam._model import BuildContext, Built, CfnResource
from eventmesh.sam.kinds import register

__all__ = ["SqsQueueKind"]

_NOT_ATTRIBUTES = ("QueueName", "FifoQueue", "Tags")
"""Properties that are not SQS attributes (Tags mean nothing locally: dropped quietly)."""


class SqsQueueKind:
    types: ClassVar[tuple[str, ...]] = ("AWS::SQS::Queue",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        properties = resource.properties
        try:
            fifo = is_fifo(properties.get("FifoQueue"))
            name = properties.get("QueueName")
            if name is None:
                name = f"{resource.logical_id}.fifo" if fifo else resource.logical_id
            if not isinstance(name, str):
                raise resource.error("must be a string", "QueueName")
            check_queue_name(name, fifo)
            attributes = {k: v for k, v in properties.items() if k not in _NOT_ATTRIBUTES}
            declared = queue_attributes(attributes, fifo)
            settings: dict[str, Any] = dict(declared.settings)
            if declared.redrive is not None and declared.redrive.target is not None:
                found = context.find(declared.redrive.target)
                dead_letter = found if isinstance(found, Queue) else None
                settings.update(redrive_settings(declared.redrive, dead_letter, fifo))
        except SqsDeclarationError as exc:
            raise resource.error(str(exc), exc.member) from None
        if declared.beside.get("DeduplicationScope") == "messageGroup":
            context.warn(
                resource,
                "DeduplicationScope messageGroup: the mesh deduplicates a FIFO queue's "
                "messages across the whole queue (a deduplication id repeated in another "
                "group within five minutes is dropped)",
            )
        try:
            queue = context.mesh.queue(name, fifo=fifo, **settings)
        except ConfigurationError as exc:
            raise resource.error(str(exc)) from None
        attributes_beside(queue).update(declared.beside)
        return Built(
            queue,
            queue.url,
            {"Arn": queue.arn, "QueueName": queue.name, "QueueUrl": queue.url},
        )


register(SqsQueueKind())
