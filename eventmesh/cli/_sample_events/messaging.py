"""Queues, topics and streams: a message sent, published or put, as the function receives it."""

from __future__ import annotations

from eventmesh.cli._sample_events import SampleError
from eventmesh.cli._sample_events._sampling import Act, Given, Sampling

__all__ = ["kinesis_get_records", "sns_notification", "sqs_receive_message"]

_FIFO_GROUP = "group-1"


def sqs_receive_message(sampling: Sampling, given: Given) -> Act:
    """A queue with an event source mapping (batch size 1); the act sends one message. A
    name ending in ``.fifo`` is a FIFO queue with content-based deduplication."""
    name = given.text("queue-name")
    fifo = name.endswith(".fifo")
    group_id = given.optional("group-id")
    if group_id is not None and not fifo:
        raise SampleError("--group-id: only a FIFO queue has groups (a --queue-name ending .fifo)")
    queue = sampling.mesh.queue(name, content_based_deduplication=True if fifo else None)
    queue.subscribe(sampling.receiver(), batch_size=1)
    body = given.text("body")
    attributes = given.json_object("attributes")
    group = (group_id or _FIFO_GROUP) if fifo else None
    return lambda: queue.send(body, attributes, group_id=group)


def sns_notification(sampling: Sampling, given: Given) -> Act:
    """A topic with a function subscribed; the act publishes one message (an empty
    ``--subject`` publishes none)."""
    topic = sampling.mesh.topic(given.text("topic"))
    topic.subscribe(sampling.receiver())
    message = given.text("message")
    subject = given.optional("subject") or None
    attributes = given.json_object("attributes")
    return lambda: topic.publish(message, subject, attributes)


def kinesis_get_records(sampling: Sampling, given: Given) -> Act:
    """A stream with an event source mapping from its first record (batch size 1); the act
    puts one record, ``--data`` as UTF-8."""
    stream = sampling.mesh.stream(given.text("stream"))
    stream.subscribe(sampling.receiver(), batch_size=1, starting_position="TRIM_HORIZON")
    data = given.text("data").encode()
    partition_key = given.text("partition-key")
    return lambda: stream.put_record(data, partition_key)
