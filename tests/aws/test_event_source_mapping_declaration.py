"""eventmesh.declare.event_source_mapping directly: Lambda's defaults for a queue and a stream
mapping (BatchSize 10 and 100, no batching window, ParallelizationFactor 1, retries and record
age -1: unlimited), the members one kind of source takes and the other refuses, and the
messages. The expected values are Lambda's (CreateEventSourceMapping's reference), written out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from eventmesh.declare import DeclarationError
from eventmesh.declare.event_source_mapping import (
    mapping_settings,
    member_of,
    source_service,
)


def refused(source: Any, params: dict[str, Any], **options: Any) -> DeclarationError:
    with pytest.raises(DeclarationError) as caught:
        mapping_settings(source, params, **options)
    return caught.value


def test_a_queue_mapping_takes_lambdas_defaults() -> None:
    assert mapping_settings("queue", {}) == {
        "batching_window": 0,
        "report_batch_item_failures": False,
        "filters": None,
        "enabled": True,
        "batch_size": 10,
        "max_concurrency": None,
    }


def test_a_stream_mapping_takes_lambdas_defaults() -> None:
    assert mapping_settings("stream", {"StartingPosition": "LATEST"}) == {
        "batching_window": 0,
        "report_batch_item_failures": False,
        "filters": None,
        "enabled": True,
        "batch_size": 100,
        "starting_position": "LATEST",
        "starting_position_timestamp": None,
        "parallelization_factor": 1,
        "bisect_on_error": False,
        "max_retries": -1,
        "max_record_age": -1,
        "on_failure": None,
    }


def test_members_given_in_either_spelling() -> None:
    queue = mapping_settings(
        "queue",
        {
            "BatchSize": "5",
            "MaximumBatchingWindowInSeconds": 3,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "Enabled": "FALSE",
            "ScalingConfig": {"MaximumConcurrency": "7"},
            "FilterCriteria": {"Filters": [{"Pattern": '{"body": ["x"]}'}]},
        },
    )
    assert queue == {
        "batching_window": 3,
        "report_batch_item_failures": True,
        "filters": ['{"body": ["x"]}'],
        "enabled": False,
        "batch_size": 5,
        "max_concurrency": 7,
    }
    arn = "arn:aws:sqs:us-east-1:000000000000:failed"
    stream = mapping_settings(
        "stream",
        {
            "StartingPosition": "AT_TIMESTAMP",
            "StartingPositionTimestamp": "86400",
            "ParallelizationFactor": "2",
            "BisectBatchOnFunctionError": "True",
            "MaximumRetryAttempts": "3",
            "MaximumRecordAgeInSeconds": 60,
            "DestinationConfig": {"OnFailure": {"Destination": arn}},
            "Enabled": True,
        },
    )
    assert stream["starting_position_timestamp"] == datetime(1970, 1, 2, tzinfo=UTC)
    assert stream["parallelization_factor"] == 2
    assert stream["bisect_on_error"] is True
    assert stream["max_retries"] == 3
    assert stream["max_record_age"] == 60
    assert stream["on_failure"] == arn
    assert stream["enabled"] is True
    # A 0 given stays 0, for the mapping to refuse where Lambda does.
    assert mapping_settings("queue", {"BatchSize": 0})["batch_size"] == 0
    assert mapping_settings("queue", {"BatchSize": "ten"})["batch_size"] == "ten"


@pytest.mark.parametrize(
    ("source", "params", "message", "member"),
    [
        (
            "queue",
            {"TumblingWindowInSeconds": 60},
            "TumblingWindowInSeconds is not supported by eventmesh",
            "TumblingWindowInSeconds",
        ),
        (
            "queue",
            {"MetricsConfig": {}},
            "MetricsConfig is not supported by eventmesh",
            "MetricsConfig",
        ),
        (
            "queue",
            {"FunctionResponseTypes": ["ReportBatchItemFailures", "Other"]},
            "FunctionResponseTypes takes only ReportBatchItemFailures",
            "FunctionResponseTypes",
        ),
        (
            "queue",
            {"StartingPosition": "LATEST"},
            "Unsupported StartingPosition for an SQS event source",
            "StartingPosition",
        ),
        (
            "queue",
            {"MaximumRetryAttempts": 2},
            "Unsupported MaximumRetryAttempts for an SQS event source",
            "MaximumRetryAttempts",
        ),
        ("queue", {"ScalingConfig": 5}, "ScalingConfig must be an object", "ScalingConfig"),
        (
            "stream",
            {"StartingPosition": "LATEST", "ScalingConfig": {"MaximumConcurrency": 2}},
            "ScalingConfig is for SQS event sources",
            "ScalingConfig",
        ),
        (
            "stream",
            {},
            "StartingPosition is required for a Kinesis event source",
            "StartingPosition",
        ),
        (
            "stream",
            {"StartingPosition": "LATEST", "DestinationConfig": {"OnFailure": "x"}},
            "DestinationConfig.OnFailure must be an object",
            "DestinationConfig.OnFailure",
        ),
        (
            "stream",
            {"StartingPosition": "LATEST", "BisectBatchOnFunctionError": "yes"},
            "BisectBatchOnFunctionError must be true or false",
            "BisectBatchOnFunctionError",
        ),
        (
            "stream",
            {"StartingPosition": "AT_TIMESTAMP", "StartingPositionTimestamp": 1e300},
            "StartingPositionTimestamp must be a time in Unix seconds, got 1e+300",
            "StartingPositionTimestamp",
        ),
        (
            "queue",
            {"FilterCriteria": [1]},
            "FilterCriteria must be an object with Filters, a list of {Pattern}",
            "FilterCriteria",
        ),
        (
            "queue",
            {"FilterCriteria": {"Filters": "x"}},
            "FilterCriteria must be an object with Filters, a list of {Pattern}",
            "FilterCriteria.Filters",
        ),
        (
            "queue",
            {"FilterCriteria": {"Filters": [{"Pattern": '{"a": ["x"]}'}, {}]}},
            "Invalid filter pattern definition.",
            "FilterCriteria.Filters[1].Pattern",
        ),
    ],
)
def test_members_refused_with_their_member(
    source: str, params: dict[str, Any], message: str, member: str
) -> None:
    error = refused(source, params)
    assert error.args[0] == message
    assert error.member == member


def test_metadata_members_pass_only_when_allowed() -> None:
    params = {"KMSKeyArn": "arn:aws:kms:us-east-1:000000000000:key/k", "Tags": {"a": "b"}}
    assert refused("queue", params).args[0] == "KMSKeyArn is not supported by eventmesh"
    assert mapping_settings("queue", {"Tags": {"a": "b"}})["batch_size"] == 10
    assert mapping_settings("queue", params, metadata_ok=True)["batch_size"] == 10


def test_a_filter_that_is_no_pattern_says_why() -> None:
    error = refused("queue", {"FilterCriteria": {"Filters": [{"Pattern": "{not json"}]}})
    assert error.args[0].startswith("Invalid filter pattern definition. (")
    assert error.member == "FilterCriteria.Filters[0].Pattern"
    assert mapping_settings("queue", {"FilterCriteria": {}})["filters"] is None
    assert mapping_settings("queue", {"FilterCriteria": {"Filters": []}})["filters"] is None


def test_sources_the_mesh_maps() -> None:
    assert source_service("arn:aws:sqs:us-east-1:000000000000:q") == "sqs"
    assert source_service("arn:aws:kinesis:us-east-1:000000000000:stream/s") == "kinesis"
    for arn in (
        "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/x",
        "xrn:aws:sqs:us-east-1:000000000000:q",
        "arn:aws:sqs:us-east-1:q",
        None,
    ):
        with pytest.raises(DeclarationError) as caught:
            source_service(arn)
        assert caught.value.args[0] == (
            f"Unrecognized event source, must be an SQS queue or a Kinesis stream: {arn}"
        )
        assert caught.value.member == "EventSourceArn"


def test_member_of_names_the_member_a_message_is_about() -> None:
    assert member_of("batch_size must be 1 to 10") == "BatchSize"
    assert member_of("max_concurrency must be 2 to 1000") == "ScalingConfig.MaximumConcurrency"
    assert member_of("the max_record_age and max_retries") == "MaximumRecordAgeInSeconds"
    assert member_of("nothing named here (batch_sizes)") is None
