"""``AWS::SNS::Topic``: a standard topic of the mesh (``mesh.topic``), its attributes checked
as SNS checks ``CreateTopic``'s (:mod:`eventmesh.declare.sns`), and its inline
``Subscription`` entries (``sqs``, ``lambda``, ``http``/``https``; others are left out with a
warning) subscribed.

The name is ``TopicName``, else the logical id. FIFO topics are refused (the mesh's topics
are standard topics). ``Ref`` gives the topic's ARN; ``Fn::GetAtt``: ``TopicArn``,
``TopicName``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from eventmesh._errors import ConfigurationError
from eventmesh.declare import DeclarationError
from eventmesh.declare.sns import fifo_topic_name, topic_attributes, topic_attributes_given
from eventmesh.sam._model import BuildContext, Built, CfnResource
from eventmesh.sam.kinds import register
from eventmesh.sam.kinds._subscribing import subscribe

__all__ = ["SnsTopicKind"]

_QUIET = ("Tags", "TopicName", "Subscription")
_NOT_EMULATED = ("DataProtectionPolicy", "DeliveryStatusLogging")


class SnsTopicKind:
    types: ClassVar[tuple[str, ...]] = ("AWS::SNS::Topic",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        properties = resource.properties
        name = properties.get("TopicName", resource.logical_id)
        if not isinstance(name, str):
            raise resource.error("must be a string", "TopicName")
        if name.endswith(".fifo"):
            raise resource.error(str(fifo_topic_name()), "TopicName")
        for member in _NOT_EMULATED:
            if member in properties:
                context.warn(resource, f"{member}: not emulated, ignored")
        if "DeliveryPolicy" in properties:
            context.warn(
                resource,
                "DeliveryPolicy: a topic's default delivery policy is not applied locally: "
                "HTTP(S) subscriptions retry with SNS's default policy unless they have a "
                "DeliveryPolicy of their own",
            )
        given = {k: v for k, v in properties.items() if k not in (*_QUIET, *_NOT_EMULATED)}
        try:
            attributes = topic_attributes(given)
        except DeclarationError as exc:
            raise resource.error(str(exc), exc.member) from None
        try:
            topic = context.mesh.topic(
                name, signature_version=attributes.get("SignatureVersion", "1")
            )
        except ConfigurationError as exc:
            raise resource.error(str(exc), "TopicName") from None
        topic_attributes_given(topic).update(attributes)
        subscriptions: Any = properties.get("Subscription") or []
        if not isinstance(subscriptions, list):
            raise resource.error("a list of {Endpoint, Protocol}", "Subscription")
        for index, entry in enumerate(subscriptions):
            if not isinstance(entry, dict):
                raise resource.error("an {Endpoint, Protocol} mapping", f"Subscription[{index}]")
            subscribe(
                resource,
                context,
                topic,
                entry.get("Protocol"),
                entry.get("Endpoint"),
                {},
                f"Subscription[{index}].",
            )
        return Built(topic, topic.arn, {"TopicArn": topic.arn, "TopicName": topic.name})


register(SnsTopicKind())
