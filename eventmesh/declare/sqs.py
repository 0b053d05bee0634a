"""An SQS queue's declaration: ``CreateQueue``'s attributes (texts: ``"30"``, a JSON
``RedrivePolicy``) or ``AWS::SQS::Queue``'s properties (typed: ``30``, a mapping), turned into
``mesh.queue``'s settings with SQS's ranges and SQS's words for what is wrong.

The attributes the mesh's :class:`~eventmesh.resources.queue.Queue` holds (visibility
timeout, delay, retention, redrive policy, FIFO, content-based deduplication) become its
settings; the others (``MaximumMessageSize``, ``ReceiveMessageWaitTimeSeconds``, the KMS
settings, ``RedriveAllowPolicy``, ...) are kept beside the queue as SQS answers them
(:func:`attributes_beside`), where the AWS endpoint reads them whoever made the queue.

A redrive policy names its dead-letter queue by ARN: :func:`queue_attributes` checks its
shape, the caller finds the queue its own way (the endpoint asks the catalog, a template its
resources) and :func:`redrive_settings` checks what was found.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eventmesh.declare import DeclarationError
from eventmesh.declare._values import NOT_JSON, flag, integer, json_value, text_of
from eventmesh.resources.queue import Queue

__all__ = [
    "CHOICES",
    "DEFAULTS",
    "FIFO_DEFAULTS",
    "FIFO_ONLY",
    "KEPT_BESIDE",
    "RANGES",
    "SETTABLE",
    "QueueDeclaration",
    "RedrivePolicy",
    "SqsDeclarationError",
    "attributes_beside",
    "check_queue_name",
    "is_fifo",
    "queue_attributes",
    "redrive_settings",
]

# name: (low, high) for the integer attributes SQS takes.
RANGES = {
    "VisibilityTimeout": (0, 43200),
    "DelaySeconds": (0, 900),
    "MessageRetentionPeriod": (60, 1209600),
    "MaximumMessageSize": (1024, 1048576),
    "ReceiveMessageWaitTimeSeconds": (0, 20),
    "KmsDataKeyReusePeriodSeconds": (60, 86400),
}
DEFAULTS = {
    "VisibilityTimeout": "30",
    "DelaySeconds": "0",
    "MessageRetentionPeriod": "345600",
    "MaximumMessageSize": "1048576",
    "ReceiveMessageWaitTimeSeconds": "0",
    "SqsManagedSseEnabled": "true",
}
FIFO_DEFAULTS = {
    "FifoQueue": "true",
    "ContentBasedDeduplication": "false",
    "DeduplicationScope": "queue",
    "FifoThroughputLimit": "perQueue",
}
KEPT_BESIDE = (  # attributes the Queue does not hold: kept as given
    "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds",
    "Policy",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "RedriveAllowPolicy",
    "DeduplicationScope",
    "FifoThroughputLimit",
)
SETTABLE = frozenset((*RANGES, *KEPT_BESIDE, "RedrivePolicy", "ContentBasedDeduplication"))
FIFO_ONLY = frozenset(("ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"))
CHOICES = {
    "SqsManagedSseEnabled": ("true", "false"),
    "DeduplicationScope": ("messageGroup", "queue"),
    "FifoThroughputLimit": ("perQueue", "perMessageGroupId"),
}
_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
_FIFO_NAME = re.compile(r"[A-Za-z0-9_-]{1,75}\.fifo")


class SqsDeclarationError(DeclarationError):
    """What SQS refuses, with the error code it answers (``InvalidAttributeValue``,
    ``InvalidAttributeName``, ``InvalidParameterValue``)."""

    def __init__(self, code: str, message: str, member: str | None = None) -> None:
        super().__init__(message, member)
        self.code = code


def _invalid_value(name: str) -> SqsDeclarationError:
    return SqsDeclarationError(
        "InvalidAttributeValue", f"Invalid value for the parameter {name}.", name
    )


def _unknown_attribute(name: str) -> SqsDeclarationError:
    return SqsDeclarationError("InvalidAttributeName", f"Unknown Attribute {name}.", name)


@dataclass(frozen=True, slots=True)
class RedrivePolicy:
    """A redrive policy whose shape is right: its dead-letter queue is still to be found.
    ``target`` is None for the empty policy (SetQueueAttributes' way to remove it)."""

    text: str
    """As given, in text (SQS's error messages quote it)."""
    target: str | None
    max_receive_count: int | None


@dataclass(slots=True)
class QueueDeclaration:
    """Attributes checked: ``mesh.queue`` settings, the attributes kept beside, and the
    redrive policy whose dead-letter queue the caller finds."""

    settings: dict[str, Any] = field(default_factory=dict)
    beside: dict[str, str] = field(default_factory=dict)
    redrive: RedrivePolicy | None = None


def is_fifo(value: Any) -> bool:
    """``FifoQueue`` (absent: a standard queue)."""
    if value is None:
        return False
    fifo = flag(value)
    if fifo is None:
        raise _invalid_value("FifoQueue")
    return fifo


def check_queue_name(name: str, fifo: bool) -> None:
    """SQS's rule for queue names (a FIFO queue's ends with ``.fifo``)."""
    if fifo and not _FIFO_NAME.fullmatch(name):
        raise SqsDeclarationError(
            "InvalidParameterValue",
            "The name of a FIFO queue can only include alphanumeric characters, hyphens, or "
            "underscores, must end with .fifo suffix and be 1 to 80 in length.",
            "QueueName",
        )
    if not fifo and not _NAME.fullmatch(name):
        raise SqsDeclarationError(
            "InvalidParameterValue",
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
            "QueueName",
        )


def queue_attributes(attributes: Mapping[str, Any], fifo: bool) -> QueueDeclaration:
    """Every attribute but ``FifoQueue`` checked (``fifo`` says what the queue is)."""
    declared = QueueDeclaration()
    settings = declared.settings
    for name, value in attributes.items():
        if name not in SETTABLE or (name in FIFO_ONLY and not fifo):
            raise _unknown_attribute(name)
        if name in RANGES:
            number = integer(value)
            low, high = RANGES[name]
            if number is None or not low <= number <= high:
                raise _invalid_value(name)
            if name == "VisibilityTimeout":
                settings["visibility_timeout"] = number
            elif name == "DelaySeconds":
                settings["delay"] = number
            elif name == "MessageRetentionPeriod":
                settings["retention"] = number
            else:
                declared.beside[name] = str(number)
        elif name == "RedrivePolicy":
            declared.redrive = _redrive_policy(value)
        elif name == "ContentBasedDeduplication":
            deduplication = flag(value)
            if deduplication is None:
                raise _invalid_value(name)
            settings["content_based_deduplication"] = deduplication
        else:
            text = text_of(value)
            if name in CHOICES and text not in CHOICES[name]:
                raise _invalid_value(name)
            declared.beside[name] = text
    return declared


def _redrive_invalid(text: str, reason: str) -> SqsDeclarationError:
    return SqsDeclarationError(
        "InvalidParameterValue",
        f"Value {text} for parameter RedrivePolicy is invalid. Reason: {reason}",
        "RedrivePolicy",
    )


def _redrive_policy(value: Any) -> RedrivePolicy:
    text = text_of(value)
    if value == "":
        return RedrivePolicy(text, None, None)
    policy = json_value(value)
    if policy is NOT_JSON:
        raise _redrive_invalid(text, "Invalid JSON.")
    if not isinstance(policy, dict):
        raise _redrive_invalid(text, "Redrive policy is not a dictionary.")
    target = policy.get("deadLetterTargetArn")
    count = integer(policy.get("maxReceiveCount"))
    if not isinstance(target, str) or not target:
        raise _redrive_invalid(text, "Dead letter target does not exist.")
    if count is None or not 1 <= count <= 1000:
        raise _redrive_invalid(
            text, "Invalid value for maxReceiveCount: must be an integer from 1 to 1000."
        )
    return RedrivePolicy(text, target, count)


def redrive_settings(
    policy: RedrivePolicy, dead_letter: Queue | None, fifo: bool
) -> dict[str, Any]:
    """``mesh.queue``'s ``dead_letter`` and ``max_receive_count`` for a redrive policy whose
    target was looked up (``dead_letter`` None: there is no such queue)."""
    if policy.target is None:
        return {"dead_letter": None, "max_receive_count": None}
    if dead_letter is None:
        raise _redrive_invalid(policy.text, "Dead letter target does not exist.")
    if dead_letter.fifo != fifo:
        kind = "FIFO" if fifo else "standard"
        raise _redrive_invalid(policy.text, f"Dead-letter target must be a {kind} queue.")
    return {"dead_letter": dead_letter.name, "max_receive_count": policy.max_receive_count}


_BESIDE: weakref.WeakKeyDictionary[Queue, dict[str, str]] = weakref.WeakKeyDictionary()


def attributes_beside(queue: Queue) -> dict[str, str]:
    """The SQS attributes of ``queue`` that the Queue does not hold, as SQS answers them
    (the same dict every time: whoever declares the queue fills it, the endpoint reads it)."""
    beside = _BESIDE.get(queue)
    if beside is None:
        beside = _BESIDE[queue] = {}
    return beside
