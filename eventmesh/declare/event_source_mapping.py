"""A Lambda event source mapping as declared: ``CreateEventSourceMapping``'s parameters or
``AWS::Lambda::EventSourceMapping``'s properties (the same names and shapes), turned into
``Queue.subscribe`` / ``Stream.subscribe`` settings.

The mesh maps SQS queues and Kinesis streams. DynamoDB streams, Kafka (MSK, self-managed),
Amazon MQ and DocumentDB sources are not emulated (:func:`source_service` says which);
tumbling windows (``TumblingWindowInSeconds``) are not either: a handler written for them
reads and returns the window's ``state``, which the mesh's stream mappings do not keep.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from eventmesh._errors import ConfigurationError, PatternError
from eventmesh._function import FunctionTarget
from eventmesh.declare import DeclarationError
from eventmesh.declare._values import flag, integer
from eventmesh.mappings.queue_mapping import compile_filters

__all__ = [
    "INVALID_PATTERN",
    "METADATA",
    "QUIET",
    "UNEMULATED_SOURCES",
    "UNSUPPORTED",
    "check_visibility_timeout",
    "function_reference",
    "mapping_settings",
    "member_of",
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
"""Members that mean nothing locally (the filter's encryption key, metrics, pollers, tags)."""

QUIET = ("Tags",)
"""Of :data:`METADATA`, what is taken without a word on either face (as the endpoint took
``Tags`` before the translation moved here, and as templates take other resources' tags)."""

INVALID_PATTERN = "Invalid filter pattern definition."
"""Lambda's message for a filter whose pattern is missing or is no pattern."""
_FILTERS_SHAPE = "FilterCriteria must be an object with Filters, a list of {Pattern}"

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


def check_visibility_timeout(visibility_timeout: float, target: FunctionTarget) -> None:
    """Lambda's refusal of a queue mapping whose function may still run when the message
    it holds becomes visible again (the queue mapping checks it too, when it starts)."""
    timeout = target.longest_timeout()
    if timeout > visibility_timeout:
        raise DeclarationError(
            f"Queue visibility timeout: {visibility_timeout:g} seconds is less than Function "
            f"timeout: {timeout:g} seconds",
            "EventSourceArn",
        )


def function_reference(target: FunctionTarget) -> str:
    """What ``subscribe`` is given for a resolved ``FunctionName``: the function's name, with
    the version or alias it named."""
    name = target.function.name
    return name if target.qualifier is None else f"{name}:{target.qualifier}"


_SETTING_MEMBERS = {
    "batch_size": "BatchSize",
    "batching_window": "MaximumBatchingWindowInSeconds",
    "max_concurrency": "ScalingConfig.MaximumConcurrency",
    "starting_position": "StartingPosition",
    "starting_position_timestamp": "StartingPositionTimestamp",
    "parallelization_factor": "ParallelizationFactor",
    "max_retries": "MaximumRetryAttempts",
    "max_record_age": "MaximumRecordAgeInSeconds",
    "filters": "FilterCriteria",
}
_SETTING = re.compile(r"\b(" + "|".join(_SETTING_MEMBERS) + r")\b")


def member_of(message: str) -> str | None:
    """The member a mapping's refusal (``subscribe``'s ConfigurationError, in the mesh's
    words) is about: the first setting its message names; None when it names none."""
    match = _SETTING.search(message)
    return None if match is None else _SETTING_MEMBERS[match.group(1)]


def _timestamp(value: Any) -> Any:
    """``StartingPositionTimestamp``: Unix seconds (CloudFormation's Number, maybe as text)
    as a datetime; a datetime (the endpoint's) or anything else as it is, for the mapping to
    refuse in its words."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, ValueError, OSError):
        raise DeclarationError(
            f"StartingPositionTimestamp must be a time in Unix seconds, got {value!r}",
            "StartingPositionTimestamp",
        ) from None


def _number(value: Any) -> Any:
    """An integer member (CloudFormation may write it as text); anything else as it is, for
    the mapping to refuse in its words."""
    number = integer(value)
    return value if number is None else number


def _number_or(params: Mapping[str, Any], member: str, default: int) -> Any:
    """A number member, ``default`` when absent (a 0 given stays 0, for the mapping to
    refuse where Lambda does)."""
    value = params.get(member)
    return default if value is None else _number(value)


def _object(params: Mapping[str, Any], member: str, where: str | None = None) -> Mapping[str, Any]:
    value = params.get(member)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        where = where or member
        raise DeclarationError(f"{where} must be an object", where)
    return value


def _boolean(params: Mapping[str, Any], member: str, default: bool) -> bool:
    """A Boolean member: true/false, or their text in any case (CloudFormation's)."""
    value = params.get(member)
    if value is None:
        return default
    parsed = flag(value, any_case=True)
    if parsed is None:
        raise DeclarationError(f"{member} must be true or false", member)
    return parsed


def _filters(params: Mapping[str, Any]) -> list[Any] | None:
    """``FilterCriteria.Filters``' patterns, each checked as the mapping will compile it."""
    criteria = params.get("FilterCriteria")
    if criteria is None:
        return None
    if not isinstance(criteria, Mapping):
        raise DeclarationError(_FILTERS_SHAPE, "FilterCriteria")
    filters = criteria.get("Filters")
    if filters is None:
        return None
    if isinstance(filters, str | bytes) or not isinstance(filters, Sequence):
        raise DeclarationError(_FILTERS_SHAPE, "FilterCriteria.Filters")
    patterns = []
    for index, entry in enumerate(filters):
        where = f"FilterCriteria.Filters[{index}].Pattern"
        pattern = entry.get("Pattern") if isinstance(entry, Mapping) else None
        if pattern is None:
            raise DeclarationError(INVALID_PATTERN, where)
        try:
            compile_filters([pattern])
        except (ConfigurationError, PatternError) as exc:
            raise DeclarationError(f"{INVALID_PATTERN} ({exc})", where) from None
        patterns.append(pattern)
    return patterns or None


def mapping_settings(
    source: Literal["queue", "stream"], params: Mapping[str, Any], *, metadata_ok: bool = False
) -> dict[str, Any]:
    """``subscribe``'s settings from the mapping's members. ``metadata_ok`` lets the members
    that mean nothing locally (:data:`METADATA`) pass; else they are refused too."""
    kept = () if metadata_ok else tuple(m for m in METADATA if m not in QUIET)
    refused = (*UNSUPPORTED, *kept)
    for member in refused:
        if params.get(member) is not None:
            raise DeclarationError(f"{member} is not supported by eventmesh", member)
    response_types = list(params.get("FunctionResponseTypes") or [])
    if any(kind != "ReportBatchItemFailures" for kind in response_types):
        raise DeclarationError(
            "FunctionResponseTypes takes only ReportBatchItemFailures", "FunctionResponseTypes"
        )
    common: dict[str, Any] = {
        "batching_window": _number_or(params, "MaximumBatchingWindowInSeconds", 0),
        "report_batch_item_failures": bool(response_types),
        "filters": _filters(params),
        "enabled": _boolean(params, "Enabled", True),
    }
    if source == "queue":
        for member in _STREAM_ONLY:
            if params.get(member) is not None:
                raise DeclarationError(f"Unsupported {member} for an SQS event source", member)
        concurrency = _object(params, "ScalingConfig").get("MaximumConcurrency")
        return {
            **common,
            "batch_size": _number_or(params, "BatchSize", 10),
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
    timestamp = _timestamp(params.get("StartingPositionTimestamp"))
    on_failure = _object(
        _object(params, "DestinationConfig"), "OnFailure", "DestinationConfig.OnFailure"
    )
    destination = on_failure.get("Destination")
    return {
        **common,
        "batch_size": _number_or(params, "BatchSize", 100),
        "starting_position": position,
        "starting_position_timestamp": timestamp,
        "parallelization_factor": _number_or(params, "ParallelizationFactor", 1),
        "bisect_on_error": _boolean(params, "BisectBatchOnFunctionError", False),
        "max_retries": _number(params.get("MaximumRetryAttempts", -1)),
        "max_record_age": _number(params.get("MaximumRecordAgeInSeconds", -1)),
        "on_failure": destination,
    }
