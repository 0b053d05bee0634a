"""An SNS subscription declared in a template (``AWS::SNS::Subscription``, or an entry of
``AWS::SNS::Topic``'s ``Subscription``): its protocol, endpoint and attributes checked as SNS
checks ``Subscribe`` (:mod:`eventmesh.declare.sns`), the queue or function it names found in
the mesh, and the topic subscribed to it.

A subscription the mesh cannot deliver to is left out with a warning (``--strict`` refuses
it): one of SNS's protocols the mesh does not emulate (``email``, ``sms``, ``firehose``, ...),
or a queue or function that is neither in the template nor in the mesh (another stack's,
another account's, or a resource of the template the mesh leaves out). A protocol SNS itself
does not know, or an endpoint of the wrong shape, is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eventmesh._errors import EventMeshError
from eventmesh.declare import DeclarationError
from eventmesh.declare.sns import (
    NOT_EMULATED_PROTOCOLS,
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
) -> Subscription | None:
    """Subscribe ``endpoint`` to ``topic``; ``where`` is the property path of the
    subscription's members (``Subscription[0].`` for a topic's inline one). None when the
    subscription is left out (warned about)."""
    try:
        if not isinstance(protocol, str):
            raise DeclarationError("Invalid parameter: Protocol", "Protocol")
        if protocol.lower() in NOT_EMULATED_PROTOCOLS:
            context.warn(
                resource,
                f"{where}Protocol: {protocol.lower()} subscriptions are not emulated: the "
                f"subscription of {endpoint!r} is left out (the topic delivers to its other "
                "subscribers)",
            )
            return None
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
            _outside(resource, context, f"queue {endpoint}", where)
            return None
        try:
            target = check_queue_endpoint(found)
        except DeclarationError as exc:
            raise resource.error(str(exc), f"{where}Endpoint") from None
    elif protocol == "lambda":
        try:
            context.mesh.resolve_function(endpoint)
        except (EventMeshError, LookupError):
            _outside(resource, context, f"function {endpoint}", where)
            return None
    try:
        return topic.subscribe(target, confirm=protocol in ("http", "https"), **settings)
    except (EventMeshError, ValueError) as exc:
        raise resource.error(str(exc), f"{where}Endpoint") from None


def _outside(resource: CfnResource, context: BuildContext, what: str, where: str) -> None:
    context.warn(
        resource,
        f"{where}Endpoint: the {what} is neither in the template nor in the mesh (not "
        "emulated, or another stack's): the subscription is left out",
    )


def _target_arn(policy: Any) -> str:
    if isinstance(policy, Mapping) and isinstance(policy.get("deadLetterTargetArn"), str):
        return str(policy["deadLetterTargetArn"])
    return "its deadLetterTargetArn"
