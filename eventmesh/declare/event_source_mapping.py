"""A Lambda event source mapping as declared: ``CreateEventSourceMapping``'s parameters or
``AWS::Lambda::EventSourceMapping``'s properties (the same names and shapes), turned into
``Queue.subscribe`` / ``Stream.subscribe`` settings.

The mesh maps SQS queues and Kinesis streams. DynamoDB streams, Kafka (MSK, self-managed),
Amazon MQ and DocumentDB sources are not emulated (:func:`source_service` says which);
tumbling windows (``TumblingWindowInSeconds``) are not either: a handler written for them
reads and returns the window's ``state``, which the mesh's stream mappings do not keep.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from eventmesh._function import FunctionTarget
from eventmesh.declare import DeclarationError
from eventmesh.declare._values import flag, integer

__all__ = [
    "METADATA",
    "UNEMULATED_SOURCES",
    "UNSUPPORTED",
    "function_reference",
    "mapping_settings",
    "source_service",
]

UNSUPPORTED = (
    "TumblingWindowInSeconds",
    "Topics",
    "Queues",
    "SourceAccessConfigurations",
    "SelfManagedEventSource",
    "AmazonManagedKafkaEventSourceConfig",
    "SelfManagedKafkaEventSourceConfig",
    "DocumentDBEventSourceConfig",
)
"""Members that change what the mapping does and that the mesh has no equivalent for."""

METADATA = ("KMSKeyArn", "KmsKeyArn", "MetricsConfig", "ProvisionedPollerConfig", "Tags")
"""Members that mean nothing locally (the filter's encryption key, metrics, pollers)."""

UNEMULATED_SOURCES = {
    "dynamodb": "a DynamoDB stream",
    "kafka": "an Amazon MSK cluster",
    "mq": "an Amazon MQ broker",
    "rds": "a DocumentDB change stream",
}
"""ARN services of event sources AWS maps and the mesh does not emulate."""

_QUEUE_ONLY = ("ScalingConfig",)
_STREAM_ONLY = (
    "StartingPosition",
    "StartingPositionTimestamp",
    "ParallelizationFactor",
    "BisectBatchOnFunctionError",
    "MaximumRetryAttempts",
    "MaximumRecordAgeInSeconds",
    "DestinationConfig",
)


def source_service(arn: Any) -> str:
    """``sqs`` or ``kinesis``, the service of an event source ARN the mesh maps; anything
    else is refused (:data:`UNEMULATED_SOURCES` names the ones AWS maps)."""
    parts = arn.split(":", 5) if isinstance(arn, str) else []
    service = parts[2] if len(parts) == 6 and parts[0] == "arn" else ""
    if service not in ("sqs", "kinesis"):
        raise DeclarationError(
            f"Unrecognized event source, must be an SQS queue or a Kinesis stream: {arn}",
            "EventSourceArn",
        )
    return service


def function_reference(target: FunctionTarget) -> str:
    """What ``subscribe`` is given for a resolved ``FunctionName``: the function's name, with
    the version or alias it named."""
    name = target.function.name
    return name if target.qualifier is None else f"{name}:{target.qualifier}"


def _number(value: Any) -> Any:
    """An integer member (CloudFormation may write it as text); anything else as it is, for
    the mapping to refuse in its words."""
    number = integer(value)
    return value if number is None else number


def mapping_settings(
    source: Literal["queue", "stream"], params: Mapping[str, Any], *, metadata_ok: bool = False
) -> dict[str, Any]:
    """``subscribe``'s settings from the mapping's members. ``metadata_ok`` lets the members
    that mean nothing locally (:data:`METADATA`) pass; else they are refused too."""
    refused = UNSUPPORTED if metadata_ok else (*UNSUPPORTED, *METADATA)
    for member in refused:
        if params.get(member) is not None:
            raise DeclarationError(f"{member} is not supported by eventmesh", member)
    response_types = list(params.get("FunctionResponseTypes") or [])
    if any(kind != "ReportBatchItemFailures" for kind in response_types):
        raise DeclarationError(
            "FunctionResponseTypes takes only ReportBatchItemFailures", "FunctionResponseTypes"
        )
    criteria = params.get("FilterCriteria") or {}
    filters = [f.get("Pattern") for f in criteria.get("Filters") or [] if isinstance(f, dict)]
    enabled = flag(params.get("Enabled", True))
    common: dict[str, Any] = {
        "batching_window": _number(params.get("MaximumBatchingWindowInSeconds") or 0),
        "report_batch_item_failures": bool(response_types),
        "filters": filters or None,
        "enabled": enabled is not False,
    }
    if source == "queue":
        for member in _STREAM_ONLY:
            if params.get(member) is not None:
                raise DeclarationError(f"Unsupported {member} for an SQS event source", member)
        scaling = params.get("ScalingConfig") or {}
        concurrency = scaling.get("MaximumConcurrency")
        return {
            **common,
            "batch_size": _number(params.get("BatchSize") or 10),
            "max_concurrency": None if concurrency is None else _number(concurrency),
        }
    for member in _QUEUE_ONLY:
        if params.get(member) is not None:
            raise DeclarationError(f"{member} is for SQS event sources", member)
    position = params.get("StartingPosition")
    if position is None:
        raise DeclarationError(
            "StartingPosition is required for a Kinesis event source", "StartingPosition"
        )
    timestamp = params.get("StartingPositionTimestamp")
    if isinstance(timestamp, int | float) and not isinstance(timestamp, bool):
        timestamp = datetime.fromtimestamp(timestamp, tz=UTC)
    destination = ((params.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
        "Destination"
    )
    bisect = flag(params.get("BisectBatchOnFunctionError", False))
    return {
        **common,
        "batch_size": _number(params.get("BatchSize") or 100),
        "starting_position": position,
        "starting_position_timestamp": timestamp,
        "parallelization_factor": _number(params.get("ParallelizationFactor") or 1),
        "bisect_on_error": bool(bisect),
        "max_retries": _number(params.get("MaximumRetryAttempts", -1)),
        "max_record_age": _number(params.get("MaximumRecordAgeInSeconds", -1)),
        "on_failure": destination,
    }
