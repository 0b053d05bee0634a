"""SNS topics and subscriptions as declared: ``CreateTopic``'s and ``Subscribe``'s attributes
(texts) or ``AWS::SNS::Topic``'s and ``AWS::SNS::Subscription``'s properties (typed: a
``FilterPolicy`` mapping, ``RawMessageDelivery: true``), checked with SNS's words and turned
into ``mesh.topic`` / ``Topic.subscribe`` settings.

Every message here is SNS's ``InvalidParameter`` text; the endpoint answers it under that
code, a template names the property.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

from eventmesh._errors import ConfigurationError, PatternError
from eventmesh.declare import DeclarationError
from eventmesh.declare._values import NOT_JSON, json_value, text_of
from eventmesh.delivery.retry import DeliveryPolicy
from eventmesh.patterns import FilterPolicy
from eventmesh.resources.queue import Queue
from eventmesh.resources.topic import Topic

__all__ = [
    "NOT_EMULATED_PROTOCOLS",
    "PROTOCOLS",
    "SUBSCRIPTION_ATTRIBUTES",
    "TOPIC_ATTRIBUTES",
    "check_endpoint",
    "check_protocol",
    "check_queue_endpoint",
    "fifo_topic_name",
    "subscription_settings",
    "topic_attributes",
    "topic_attributes_given",
]

TOPIC_ATTRIBUTES = frozenset(
    (
        "DisplayName",
        "Policy",
        "DeliveryPolicy",
        "SignatureVersion",
        "TracingConfig",
        "KmsMasterKeyId",
        "FifoTopic",
        "ContentBasedDeduplication",
        "ArchivePolicy",
        "FifoThroughputScope",
    )
)
SUBSCRIPTION_ATTRIBUTES = frozenset(
    ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "DeliveryPolicy", "RedrivePolicy")
)
PROTOCOLS = ("sqs", "lambda", "http", "https")
NOT_EMULATED_PROTOCOLS = ("email", "email-json", "sms", "application", "firehose")
"""SNS's other protocols: valid on AWS, delivered nowhere by the mesh (a template's
subscription with one is left out with a warning; the endpoint refuses it)."""
_RAW_PROTOCOLS = ("sqs", "http", "https")
"""The protocols (of :data:`PROTOCOLS`) SNS delivers raw to (Firehose too, not emulated)."""
_FIFO_REFUSED = (
    "FIFO topics are not supported by this endpoint (eventmesh topics are standard topics)"
)


def _invalid(message: str, member: str | None) -> DeclarationError:
    return DeclarationError(message, member)


def topic_attributes(attributes: Mapping[str, Any]) -> dict[str, str]:
    """A topic's attributes checked, as SNS answers them (texts)."""
    checked: dict[str, str] = {}
    for name, value in attributes.items():
        if name not in TOPIC_ATTRIBUTES:
            raise _invalid(f"Invalid parameter: Attributes Reason: Unknown attribute {name}", name)
        text = text_of(value)
        if name == "FifoTopic" and text.lower() == "true":  # a template's "True" too
            raise _invalid(f"Invalid parameter: Attributes Reason: {_FIFO_REFUSED}", name)
        if name == "SignatureVersion" and text not in ("1", "2"):
            raise _invalid("Invalid parameter: Attributes Reason: SignatureVersion", name)
        checked[name] = text
    return checked


def fifo_topic_name() -> DeclarationError:
    """What a ``.fifo`` topic name is answered."""
    return _invalid(f"Invalid parameter: Topic Name Reason: {_FIFO_REFUSED}", "TopicName")


_GIVEN: weakref.WeakKeyDictionary[Topic, dict[str, str]] = weakref.WeakKeyDictionary()


def topic_attributes_given(topic: Topic) -> dict[str, str]:
    """The attributes ``topic`` was declared with (the same dict every time: whoever declares
    the topic fills it, the endpoint reads it)."""
    given = _GIVEN.get(topic)
    if given is None:
        given = _GIVEN[topic] = {}
    return given


def check_protocol(protocol: str) -> str:
    """The protocol, lower-cased, if the mesh delivers to it."""
    lowered = protocol.lower()
    if lowered not in PROTOCOLS:
        raise _invalid(
            f"Invalid parameter: Amazon SNS does not support this protocol string: {lowered} "
            f"(this endpoint takes {', '.join(PROTOCOLS)})",
            "Protocol",
        )
    return lowered


def check_endpoint(protocol: str, endpoint: Any) -> str:
    """The endpoint's shape for its protocol (an SQS or Lambda ARN, an http(s) URL); the
    caller finds the queue or function it names."""
    if not isinstance(endpoint, str) or not endpoint:
        raise _invalid("Invalid parameter: Endpoint", "Endpoint")
    if protocol == "sqs":
        if not endpoint.startswith("arn:aws:sqs:") or len(endpoint.split(":")) != 6:
            raise _invalid("Invalid parameter: SQS endpoint ARN", "Endpoint")
    elif protocol == "lambda":
        if not endpoint.startswith("arn:aws:lambda:"):
            raise _invalid("Invalid parameter: Lambda endpoint ARN", "Endpoint")
    elif not endpoint.startswith(f"{protocol}://"):
        raise _invalid("Invalid parameter: Endpoint must match the specified protocol", "Endpoint")
    return endpoint


def _healthy_retry_policy(value: Any) -> DeliveryPolicy | None:
    """A subscription's ``DeliveryPolicy`` (an object, or its JSON text): its
    ``healthyRetryPolicy``, checked (None: SNS's default for the protocol)."""
    policy = json_value(value)
    healthy = policy.get("healthyRetryPolicy") if isinstance(policy, dict) else NOT_JSON
    if healthy is None:
        return None
    if not isinstance(healthy, dict):
        raise _invalid("Invalid parameter: Attributes Reason: DeliveryPolicy", "DeliveryPolicy")
    try:
        return DeliveryPolicy.from_sns(healthy)
    except ConfigurationError as exc:
        raise _invalid(
            f"Invalid parameter: Attributes Reason: DeliveryPolicy: {exc}", "DeliveryPolicy"
        ) from None


def check_queue_endpoint(queue: Queue) -> Queue:
    """SNS's refusal of a FIFO queue as a standard topic's subscriber (the mesh's topics are
    standard); the queue when it may subscribe."""
    if queue.fifo:
        raise _invalid(
            "Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to "
            "standard SNS topics",
            "Endpoint",
        )
    return queue


def subscription_settings(attributes: Mapping[str, Any], protocol: str) -> dict[str, Any]:
    """Subscription attributes as ``Topic.subscribe`` keywords. ``RedrivePolicy`` is taken
    and has no setting: the mesh's subscriptions have no dead-letter queue (each face says
    so its own way)."""
    settings: dict[str, Any] = {}
    for name, value in attributes.items():
        if name not in SUBSCRIPTION_ATTRIBUTES:
            raise _invalid(f"Invalid parameter: Attributes Reason: Unknown attribute {name}", name)
        if name == "RawMessageDelivery":
            text = text_of(value).lower()
            if text not in ("true", "false"):
                raise _invalid("Invalid parameter: Attributes Reason: RawMessageDelivery", name)
            if text == "true" and protocol not in _RAW_PROTOCOLS:
                raise _invalid(
                    "Invalid parameter: Attributes Reason: Delivery protocol "
                    f"[{protocol}] does not support raw message delivery.",
                    name,
                )
            settings["raw_message_delivery"] = text == "true"
        elif name == "FilterPolicyScope":
            if value not in ("MessageAttributes", "MessageBody"):
                raise _invalid("Invalid parameter: Attributes Reason: FilterPolicyScope", name)
            settings["filter_policy_scope"] = value
        elif name == "FilterPolicy":
            settings["filter_policy"] = value or None
        elif name == "DeliveryPolicy":
            if protocol not in ("http", "https"):
                raise _invalid(
                    "Invalid parameter: Attributes Reason: DeliveryPolicy: only HTTP(S) "
                    "subscriptions take one",
                    name,
                )
            settings["delivery_policy"] = _healthy_retry_policy(value)
    if settings.get("filter_policy") is not None:
        try:
            FilterPolicy(
                settings["filter_policy"], settings.get("filter_policy_scope", "MessageAttributes")
            )
        except PatternError as exc:
            raise _invalid(f"Invalid parameter: FilterPolicy: {exc}", "FilterPolicy") from None
    return settings
