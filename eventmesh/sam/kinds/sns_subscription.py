"""``AWS::SNS::Subscription``: a topic of the mesh subscribes a queue (``sqs``), a function
(``lambda``: a name's ARN, qualified or not) or an ``http``/``https`` URL (sent SNS's
``SubscriptionConfirmation`` first, as on AWS), with ``FilterPolicy`` (a mapping or its JSON
text), ``FilterPolicyScope``, ``RawMessageDelivery`` and ``DeliveryPolicy`` (HTTP/S).

``RedrivePolicy`` is warned about: the mesh's subscriptions have no dead-letter queue. A
subscription the mesh cannot deliver (``email``, ``sms``, ``firehose``, ... or a topic, queue or
function outside the template and the mesh) is left out with a warning.
``Ref`` gives the subscription's ARN (``Fn::GetAtt ... Arn`` too).
"""

from __future__ import annotations

from typing import ClassVar

from eventmesh.resources.topic import Topic
from eventmesh.sam._model import BuildContext, Built, CfnResource
from eventmesh.sam.kinds import register
from eventmesh.sam.kinds._subscribing import subscribe

__all__ = ["SnsSubscriptionKind"]

_ATTRIBUTES = (
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "DeliveryPolicy",
    "RedrivePolicy",
)
_IGNORED = ("Region",)
"""``Region``: the topic's region; the mesh has one."""


class SnsSubscriptionKind:
    types: ClassVar[tuple[str, ...]] = ("AWS::SNS::Subscription",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        properties = resource.properties
        topic_arn = properties.get("TopicArn")
        if not isinstance(topic_arn, str):
            raise resource.error("required: the topic's ARN", "TopicArn")
        topic = context.find(topic_arn)
        if not isinstance(topic, Topic):
            context.warn(
                resource,
                f"TopicArn: the topic {topic_arn} is neither in the template nor in the mesh "
                "(not emulated, or another stack's): the subscription is left out",
            )
            return self._left_out(resource, topic_arn)
        for member in properties:
            if member not in (*_ATTRIBUTES, *_IGNORED, "TopicArn", "Protocol", "Endpoint"):
                context.warn(resource, f"{member}: not emulated, ignored")
        attributes = {k: v for k, v in properties.items() if k in _ATTRIBUTES}
        subscription = subscribe(
            resource,
            context,
            topic,
            properties.get("Protocol"),
            properties.get("Endpoint"),
            attributes,
        )
        if subscription is None:
            return self._left_out(resource, topic_arn)
        return Built(subscription, subscription.arn, {"Arn": subscription.arn})

    @staticmethod
    def _left_out(resource: CfnResource, topic_arn: str) -> Built:
        """A subscription left out: its ARN as SNS would make it (the topic's ARN and an id,
        here the logical id), for what refers to it."""
        arn = f"{topic_arn}:{resource.logical_id}"
        return Built(None, arn, {"Arn": arn})


register(SnsSubscriptionKind())
