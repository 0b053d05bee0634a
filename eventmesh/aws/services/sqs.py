"""SQS's operations on the mesh's queues (:class:`~eventmesh.resources.queue.Queue`).

Each handler maps one operation onto the queue's own semantics: visibility timeouts, receive
counts and redrive, FIFO groups and deduplication, long polling, retention. Queue URLs are
``{endpoint_url}/{account_id}/{queue_name}``; a URL with another host is taken by its last
path part (SDKs may rewrite hosts). Errors carry AWS's codes: the JSON protocol's
(``QueueDoesNotExist``), to which the protocol adds the query-compatible one
(``AWS.SimpleQueueService.NonExistentQueue``) that botocore shows as ``Error.Code``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from eventmesh._errors import BackpressureError, ConfigurationError, PayloadError
from eventmesh.aws import _model, catalog
from eventmesh.aws.operations import AwsCall, AwsError, operation
from eventmesh.aws.services.sqs_queues import (
    KIND,
    READABLE,
    SqsQueue,
    create_queue,
    delete_queue,
    find_queue,
    invalid_parameter,
    no_such_queue,
    queue_of,
    queue_url,
    set_attributes,
    sqs_error,
)
from eventmesh.resources.queue import (
    Message,
    Queue,
    encode_message_attributes,
    md5_of_message_attributes,
)

__all__: list[str] = []

SEND_TIMEOUT = 10.0
"""Seconds a send waits for room in a queue at its ``max_pending`` before it is throttled."""

_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
_RECEIPT = re.compile(r"[!-~]+:[!-~]+")  # every store's receipts: printable parts, ':'-joined
_SYSTEM = (
    "SenderId",
    "SentTimestamp",
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageDeduplicationId",
    "MessageGroupId",
)
_MAX_BATCH_BYTES = 1048576


def _out(**members: Any) -> dict[str, Any]:
    """An output without the members that are None (absent, as AWS leaves them)."""
    return {name: value for name, value in members.items() if value is not None}


def _range(name: str, value: Any, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise invalid_parameter(
            f"Value {value} for parameter {name} is invalid. Reason: Must be between {low} "
            f"and {high}, if provided."
        )
    return value


# -- queues ----------------------------------------------------------------------------------
@operation("sqs", "CreateQueue")
async def _create_queue(call: AwsCall, given: dict[str, Any]) -> Mapping[str, Any]:
    state = await create_queue(call, given["QueueName"], given.get("Attributes") or {})
    return {"QueueUrl": queue_url(call, state.name)}


@operation("sqs", "GetQueueUrl")
async def _get_queue_url(call: AwsCall, given: dict[str, Any]) -> Mapping[str, Any]:
    state = await find_queue(call.mesh, given["QueueName"])
    if state is None:
        raise no_such_queue()
    return {"QueueUrl": queue_url(call, state.name)}


@operation("sqs", "ListQueues")
async def _list_queues(call: AwsCall, given: dict[str, Any]) -> Mapping[str, Any]:
    mesh = call.mesh
    prefix = given.get("QueueNamePrefix") or ""
    limit = given.get("MaxResults")
    if limit is not None:
        _range("MaxResults", limit, 1, 1000)
    names = {queue.name for queue in mesh.context.resources_of(Queue)}
    names.update(await catalog.recorded(mesh, KIND))
    matching = sorted(name for name in names if name.startswith(prefix))
    token = given.get("NextToken")
    if token:
        try:
            after = base64.urlsafe_b64decode(token.encode()).decode()
        except (ValueError, UnicodeDecodeError):
            raise invalid_parameter("Invalid NextToken value.") from None
        matching = [name for name in matching if name > after]
    page = matching if limit is None else matching[:limit]
    if limit is None:
        page = page[:1000]
    more = len(page) < len(matching) and limit is not None
    return _out(
        QueueUrls=[queue_url(call, name) for name in page] or None,
        NextToken=base64.urlsafe_b64encode(page[-1].encode()).decode() if more else None,
    )


@operation("sqs", "DeleteQueue")
async def _delete_queue(call: AwsCall, given: dict[str, Any]) -> Mapping[str, Any]:
    await delete_queue(call, await queue_of(call, given["QueueUrl"]))
    return {}


@operation("sqs", "PurgeQueue")
async def _purge_queue(call: AwsCall, given: dict[str, Any]) -> Mapping[str, Any]:
    state = await queue_of(call, given["QueueUrl"])
    mesh = call.mesh
    values = mesh.context.backend.values
    key = f"eventmesh.aws.sqs.purge:{state.name}"
    if await values.put(key, b"", ttl=60.0, only_if_absent=True) is None:
        raise sqs_error(
            "PurgeQueueInProgress",
            f"Only one PurgeQueue operation on {state.name} is allowed every 60 seconds.",
            status=403,
        )
    purged = await mesh.context.backend.queues.purge(state.name, mesh.clock.time() + 1.0)
    state.queue.limit.release(purged)
    return {}


@operation("sqs", "GetQueueAttributes")
async def _get_queue_attributes(call: AwsCall, given: dict[str, Any]) -> Mapping[str, Any]:
    state = await queue_of(call, given["QueueUrl"])
    names: list[str] = list(given.get("AttributeNames") or [])
    for name in names:
        if name != "All" and name not in READABLE:
            raise sqs_error("InvalidAttributeName", f"Unknown Attribute {name}.")
    if not names:
        return {}
    everything = state.attributes()
    stats = await state.queue.stats()
    everything["ApproximateNumberOfMessages"] = str(stats.visible)
    everything["ApproximateNumberOfMessagesNotVisible"] = str(stats.in_flight)
    everything["ApproximateNumberOfMessagesDelayed"] = str(stats.delayed)
    if "All" in names:
        chosen = everything
    else:
        chosen = {name: everything[name] for name in names if name in everything}
    return _out(Attributes=chosen or None)


@operation("sqs", "SetQueueAttributes")
async def _set_queue_attributes(call: AwsCall, given: dict[str, Any]) -> Mapping[str, Any]:
    state = await queue_of(call, given["QueueUrl"])
    await set_attributes(call, state, given.get("Attributes") or {})
    return {}


# -- sending ---------------------------------------------------------------------------------
def _attributes_of(given: Mapping[str, Any] | None) -> dict[str, dict[str, str]]:
    """``MessageAttributes`` as given (binary values as bytes), checked and encoded as the
    queue stores them; SQS's ``InvalidParameterValue`` for a malformed one."""
    if not given:
        return {}
    plain: dict[str, dict[str, Any]] = {}
    for name, value in given.items():
        if "StringListValues" in value or "BinaryListValues" in value:
            raise invalid_parameter(
                f"Message attribute '{name}' uses list values, which SQS does not support yet."
            )
        plain[name] = {
            k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")
        }
    try:
        return encode_message_attributes(plain, "MessageAttributes")
    except PayloadError as exc:
        raise invalid_parameter(str(exc)) from None


async def _send(
    state: SqsQueue,
    body: str,
    attributes: Mapping[str, Any] | None,
    delay: int | None,
    group_id: str | None,
    deduplication_id: str | None,
) -> dict[str, Any]:
    """One message sent: SendMessage's output (without MessageId's neighbours it lacks)."""
    queue = state.queue
    if not body:
        raise sqs_error("MissingParameter", "The request must contain the parameter MessageBody.")
    encoded = _attributes_of(attributes)
    data = body.encode()
    size = len(data) + sum(
        len(name.encode()) + sum(len(part.encode()) for part in value.values())
        for name, value in encoded.items()
    )
    most = state.maximum_message_size
    if size > most:
        raise invalid_parameter(
            f"One or more parameters are invalid. Reason: Message must be shorter than {most} "
            "bytes."
        )
    if delay is not None:
        _range("DelaySeconds", delay, 0, 900)
    if queue.fifo:
        if delay is not None and delay != 0:
            raise invalid_parameter(
                f"Value {delay} for parameter DelaySeconds is invalid. Reason: The request "
                "include parameter that is not valid for this queue type."
            )
        delay = None
        if not group_id:
            raise sqs_error(
                "MissingParameter", "The request must contain the parameter MessageGroupId."
            )
        if deduplication_id is None and not queue.content_based_deduplication:
            raise invalid_parameter(
                "The queue should either have ContentBasedDeduplication enabled or "
                "MessageDeduplicationId provided explicitly"
            )
    else:
        if deduplication_id is not None:
            raise invalid_parameter(
                f"Value {deduplication_id} for parameter MessageDeduplicationId is invalid. "
                "Reason: The request includes a parameter that is not valid for this queue type."
            )
        group_id = None  # a standard queue takes it (fair queues) and keeps no order by it
    try:
        message_id = await queue.send(
            body,
            encoded or None,
            delay=delay,
            group_id=group_id,
            deduplication_id=deduplication_id,
            timeout=SEND_TIMEOUT,
        )
    except PayloadError as exc:
        if "invalid characters" in str(exc):
            raise sqs_error(
                "InvalidMessageContents",
                "Invalid binary character was found in the message body, the set of allowed "
                "characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | "
                "#x10000 to #x10FFFF",
            ) from None
        raise invalid_parameter(str(exc)) from None
    except ConfigurationError as exc:
        raise invalid_parameter(str(exc)) from None
    except BackpressureError as exc:
        raise sqs_error("RequestThrottled", str(exc), status=403) from None
    return _out(
        MessageId=message_id,
        MD5OfMessageBody=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        MD5OfMessageAttributes=md5_of_message_attributes(encoded) if encoded else None,
    )


@operation("sqs", "SendMessage")
async def _send_message(call: AwsCall, given: dict[str, Any]) -> Mapping[str, Any]:
    state = await queue_of(call, given["QueueUrl"])
    return await _send(
        state,
        given["MessageBody"],
        given.get("MessageAttributes"),
        given.get("DelaySeconds"),
        given.get("MessageGroupId"),
        given.get("MessageDeduplicationId"),
    )


def _check_batch(entries: Sequence[Mapping[str, Any]], kind: str) -> None:
    """What SQS refuses of a batch as a whole."""
    if not entries:
        raise sqs_error(
            "EmptyBatchRequest",
            f"There should be at least one {kind}BatchRequestEntry in the request.",
        )
    if len(entries) > 10:
        raise sqs_error(
            "TooManyEntriesInBatchRequest",
            f"Maximum number of entries per request are 10. You have sent {len(entries)}.",
        )
    seen: set[str] = set()
    for entry in entries:
        entry_id = entry["Id"]
        if not _BATCH_ID.fullmatch(entry_id):
            raise sqs_error(
                "InvalidBatchEntryId",
                "A batch entry id can only contain alphanumeric characters, hyphens and "
                "underscores. It can be at most 80 letters long.",
            )
        if entry_id in seen:
            raise sqs_error(
                "BatchEntryIdsNotDistinct",
                f"Id {entry_id} repeated.",
            )
        seen.add(entry_id)


def _failure(entry_id: str, error: AwsError) -> dict[str, Any]:
    code = _model.query_code("sqs", error.code)
    return {
        "Id": entry_id,
        "SenderFault": error.sender_fault,
        "Code": code,
        "Message": error.message,
    }


async def _each(
    entries: Sequence[Mapping[str, Any]],
    act: Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    successful: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for entry in entries:
        try:
            result = await act(entry)
        except AwsError as error:
            failed.append(_failure(entry["Id"], error))
        else:
            successful.append({"Id": entry["Id"], **result})
    return {"Successful": successful, "Failed": failed}


@operation("sqs", "SendMessageBatch")
async def _send_message_batch(call: AwsCall, given: dict[str, Any]) -> Mapping[str, Any]:
    state = await queue_of(call, given["QueueUrl"])
    entries: list[dict[str, Any]] = given.get("Entries") or []
    _check_batch(entries, "SendMessage")
    total = sum(len(entry.get("MessageBody", "").encode()) for entry in entries)
    if total > _MAX_BATCH_BYTES:
        raise sqs_error(
            "BatchRequestTooLong",
            f"Batch requests cannot be longer than {_MAX_BATCH_BYTES} bytes. You have sent "
            f"{total} bytes.",
        )

    async def send(entry: Mapping[str, Any]) -> dict[str, Any]:
        return await _send(
            state,
            entry["MessageBody"],
            entry.get("MessageAttributes"),
            entry.get("DelaySeconds"),
            entry.get("MessageGroupId"),
            entry.get("MessageDeduplicationId"),
        )

    return await _each(entries, send)


# -- receiving -------------------------------------------------------------------------------
def _wanted_attributes(
    names: Sequence[str], attributes: Mapping[str, Mapping[str, str]]
) -> dict[str, Mapping[str, str]]:
    """The message attributes ``MessageAttributeNames`` asks for: ``All`` or ``.*`` for
    every one, ``prefix.*`` for those starting with ``prefix.``, else by name."""
    if not names or not attributes:
        return {}
    if "All" in names or ".*" in names:
        return dict(attributes)
    prefixes = tuple(name[:-1] for name in names if name.endswith(".*"))
    exact = set(names)
    return {
        name: value
        for name, value in attributes.items()
        if name in exact or (prefixes and name.startswith(prefixes))
    }


def _wire_attributes(encoded: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, Any]]:
    wire: dict[str, dict[str, Any]] = {}
    for name, value in encoded.items():
        if "BinaryValue" in value:
            wire[name] = {
                "DataType": value["DataType"],
                "BinaryValue": base64.b64decode(value["BinaryValue"]),
            }
        else:
            wire[name] = {"DataType": value["DataType"], "StringValue": value["StringValue"]}
    return wire


def _message(
    message: Message, system: Sequence[str], attribute_names: Sequence[str]
) -> dict[str, Any]:
    chosen = _wanted_attributes(attribute_names, message.message_attributes)
    if "All" in system:
        system_attributes = dict(message.attributes)
    else:
        system_attributes = {k: message.attributes[k] for k in system if k in message.attributes}
    return _out(
        MessageId=message.message_id,
        ReceiptHandle=message.receipt_handle,
        MD5OfBody=message.md5_of_body,
        Body=message.body,
        Attributes=system_attributes or None,
        MD5OfMessageAttributes=md5_of_message_attributes(chosen) if chosen else None,
        MessageAttributes=_wire_attributes(chosen) or None,
    )


@operation("sqs", "ReceiveMessage")
async def _receive_message(call: AwsCall, given: dict[str, Any]) -> Mapping[str, Any]:
    state = await queue_of(call, given["QueueUrl"])
    most = given.get("MaxNumberOfMessages")
    most = 1 if most is None else _range("MaxNumberOfMessages", most, 1, 10)
    wait = given.get("WaitTimeSeconds")
    seconds = state.receive_wait if wait is None else _range("WaitTimeSeconds", wait, 0, 20)
    visibility = given.get("VisibilityTimeout")
    if visibility is not None:
        _range("VisibilityTimeout", visibility, 0, 43200)
    system = [
        *(given.get("AttributeNames") or ()),
        *(given.get("MessageSystemAttributeNames") or ()),
    ]
    system = [name for name in system if name == "All" or name in _SYSTEM]
    messages = await state.queue.receive(most, seconds, visibility)
    names = list(given.get("MessageAttributeNames") or ())
    return _out(Messages=[_message(m, system, names) for m in messages] or None)


def _check_receipt(receipt: str) -> None:
    if not _RECEIPT.fullmatch(receipt):
        raise sqs_error(
            "ReceiptHandleIsInvalid",
            f'The input receipt handle "{receipt}" is not a valid receipt handle.',
            status=404,
        )


@operation("sqs", "DeleteMessage")
async def _delete_message(call: AwsCall, given: dict[str, Any]) -> Mapping[str, Any]:
    state = await queue_of(call, given["QueueUrl"])
    _check_receipt(given["ReceiptHandle"])
    # A receipt that is no longer current deletes nothing and succeeds, as SQS documents.
    await state.queue.delete(given["ReceiptHandle"])
    return {}


@operation("sqs", "DeleteMessageBatch")
async def _delete_message_batch(call: AwsCall, given: dict[str, Any]) -> Mapping[str, Any]:
    state = await queue_of(call, given["QueueUrl"])
    entries: list[dict[str, Any]] = given.get("Entries") or []
    _check_batch(entries, "DeleteMessage")

    async def delete(entry: Mapping[str, Any]) -> dict[str, Any]:
        _check_receipt(entry["ReceiptHandle"])
        await state.queue.delete(entry["ReceiptHandle"])
        return {}

    return await _each(entries, delete)


async def _change(state: SqsQueue, receipt: str, timeout: Any) -> None:
    _check_receipt(receipt)
    _range("VisibilityTimeout", timeout, 0, 43200)
    if not await state.queue.change_visibility(receipt, timeout):
        raise invalid_parameter(
            f"Value {receipt} for parameter ReceiptHandle is invalid. Reason: Message does not "
            "exist or is not available for visibility timeout change."
        )


@operation("sqs", "ChangeMessageVisibility")
async def _change_message_visibility(call: AwsCall, given: dict[str, Any]) -> Mapping[str, Any]:
    state = await queue_of(call, given["QueueUrl"])
    await _change(state, given["ReceiptHandle"], given["VisibilityTimeout"])
    return {}


@operation("sqs", "ChangeMessageVisibilityBatch")
async def _change_message_visibility_batch(
    call: AwsCall, given: dict[str, Any]
) -> Mapping[str, Any]:
    state = await queue_of(call, given["QueueUrl"])
    entries: list[dict[str, Any]] = given.get("Entries") or []
    _check_batch(entries, "ChangeMessageVisibility")

    async def change(entry: Mapping[str, Any]) -> dict[str, Any]:
        await _change(state, entry["ReceiptHandle"], entry.get("VisibilityTimeout", 0))
        return {}

    return await _each(entries, change)
