"""Invocation records, destinations and dead-letter targets of asynchronous invocations.

A destination is anything with ``async send(message, attributes=None)``: a queue, a topic, a
bus, or an object of your own. A function is a destination too: it is invoked with the record
as its event (``Event`` invocation). A name given as a string is resolved when the mesh starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

if TYPE_CHECKING:
    from eventmesh._function import Function

__all__ = [
    "Destination",
    "DestinationSpec",
    "MessageAttributes",
    "dead_letter_attributes",
    "invocation_record",
    "iso_timestamp",
]

MessageAttributes: TypeAlias = Mapping[str, Mapping[str, str]]
"""SQS-style message attributes: ``{"Name": {"DataType": "String", "StringValue": "..."}}``."""


@runtime_checkable
class Destination(Protocol):
    """Where invocation records and dead letters go."""

    async def send(self, message: Any, attributes: MessageAttributes | None = None) -> Any: ...


DestinationSpec: TypeAlias = "str | Function | Destination"


def iso_timestamp(epoch_seconds: float) -> str:
    """``2019-11-14T18:16:05.568Z``: the timestamp format of Lambda's records."""
    moment = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def invocation_record(
    *,
    timestamp: float,
    request_id: str,
    function_arn: str,
    condition: str,
    invoke_count: int,
    request_payload: Any,
    status_code: int | None,
    executed_version: str | None,
    function_error: str | None,
    response_payload: Any,
) -> dict[str, Any]:
    """Lambda's asynchronous invocation record, field for field.

    ``responseContext.functionError`` is present only when the function failed, and
    ``responseContext`` only when the function was reached at all.
    """
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": iso_timestamp(timestamp),
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "requestPayload": request_payload,
    }
    if status_code is not None:
        response: dict[str, Any] = {"statusCode": status_code, "executedVersion": executed_version}
        if function_error is not None:
            response["functionError"] = function_error
        record["responseContext"] = response
        record["responsePayload"] = response_payload
    return record


def dead_letter_attributes(
    request_id: str, error_code: int, error_message: str
) -> dict[str, dict[str, str]]:
    """The attributes Lambda puts on a dead letter: RequestID, ErrorCode, ErrorMessage (1 KB)."""
    message = error_message.encode()[:1024].decode(errors="ignore")
    return {
        "RequestID": {"DataType": "String", "StringValue": request_id},
        "ErrorCode": {"DataType": "Number", "StringValue": str(error_code)},
        "ErrorMessage": {"DataType": "String", "StringValue": message},
    }
