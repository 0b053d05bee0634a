"""An SNS subscription declared in a template (``AWS::SNS::Subscription``, or an entry of
``AWS::SNS::Topic``'s ``Subscription``): its protocol, endpoint and attributes checked as SNS
checks ``Subscribe`` (:mod:`eventmesh.declare.sns`), the queue or function it names found in
the mesh, and the topic subscribed to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eventmesh._errors import EventMeshError
from eventmesh.declare import DeclarationError
from eventmesh.declare.sns import (
    check_endpoint,
    check_protocol,
    check_queue_endpoint,
    subscription_settings,
)
from eventmesh.resources.queue import Queue
from eventmesh.resources.topic import Subscription, Topic
from eventmesh.sam._model import BuildContext, CfnResource

__all__ = ["subscribe"]


def subscribe(
    resource: CfnResource,
    context: BuildContext,
    topic: Topic,
    protocol: Any,
    endpoint: Any,
    attributes: Mapping[str, Any],
    where: str = "",
) -> Subscription:
    """Subscribe ``endpoint`` to ``topic``; ``where`` is the property path of the
    subscription's members (``Subscription[0].`` for a topic's inline one)."""
    try:
        if not isinstance(protocol, str):
            raise DeclarationError("Invalid parameter: Protocol", "Protocol")
        protocol = check_protocol(protocol)
        endpoint = check_endpoint(protocol, endpoint)
        settings = subscription_settings(attributes, protocol)
    except DeclarationError as exc:
        raise resource.error(str(exc), f"{where}{exc.member or ''}" or None) from None
    if "RedrivePolicy" in attributes:
        context.warn(
            resource,
            f"{where}RedrivePolicy: the mesh's SNS subscriptions have no dead-letter queue: a "
            "message the subscriber never takes (an HTTP(S) endpoint failing past SNS's "
            "retries) is logged and dropped, not sent to "
            f"{_target_arn(attributes['RedrivePolicy'])}",
        )
    target: Any = endpoint
    if protocol == "sqs":
        found = context.find(endpoint)
        if not isinstance(found, Queue):
            raise resource.error(f"no queue {endpoint} in this mesh", f"{where}Endpoint")
        try:
            target = check_queue_endpoint(found)
        except DeclarationError as exc:
            raise resource.error(str(exc), f"{where}Endpoint") from None
    elif protocol == "lambda":
        try:
            context.mesh.resolve_function(endpoint)
        except EventMeshError:
            raise resource.error(
                f"no function {endpoint} in this mesh", f"{where}Endpoint"
            ) from None
    try:
        return topic.subscribe(target, confirm=protocol in ("http", "https"), **settings)
    except (EventMeshError, ValueError) as exc:
        raise resource.error(str(exc), f"{where}Endpoint") from None


def _target_arn(policy: Any) -> str:
    if isinstance(policy, Mapping) and isinstance(policy.get("deadLetterTargetArn"), str):
        return str(policy["deadLetterTargetArn"])
    return "its deadLetterTargetArn"
