"""EventBridge Scheduler's schedule declaration rules (eventmesh.declare.scheduler), called
directly: each range at both bounds and one past (MaximumRetryAttempts 0-185,
MaximumEventAgeInSeconds 60-86400, MaximumWindowInMinutes 1-1440, names 1-64), each required
member, each refusal's message and member, and the defaults. No mesh, no server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from eventmesh import Mesh
from eventmesh.declare import DeclarationError
from eventmesh.declare.scheduler import (
    check_name,
    check_schedule,
    check_target,
    dead_letter_arn,
    flexible_window,
    make_schedule,
    moment,
    retry_policy,
    service_of,
)

QUEUE = "arn:aws:sqs:us-east-1:123456789012:q"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:f"
BUS = "arn:aws:events:us-east-1:123456789012:event-bus/b"
STREAM = "arn:aws:kinesis:us-east-1:123456789012:stream/s"
TOPIC = "arn:aws:sns:us-east-1:123456789012:t"


def refused(call: Any, *args: Any) -> DeclarationError:
    with pytest.raises(DeclarationError) as info:
        call(*args)
    return info.value


def schedule(**changes: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "ScheduleExpression": "rate(5 minutes)",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {"Arn": QUEUE},
    }
    params.update(changes)
    return {key: value for key, value in params.items() if value is not None}


# -- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "A" * 64, "my-schedule_1.v2", "0"])
def test_names_of_1_to_64_schedulers_characters_are_taken(name: str) -> None:
    assert check_name(name, "Name") == name


@pytest.mark.parametrize("name", ["", "A" * 65, "a b", "a/b", "a:b", 7, None])
def test_other_names_are_refused_naming_the_member(name: Any) -> None:
    error = refused(check_name, name, "GroupName")
    assert str(error) == f"GroupName must be 1-64 letters, digits, '-', '_' or '.', got {name!r}."
    assert error.member == "GroupName"


# -- target ARN --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arn", "service"),
    [(QUEUE, "sqs"), (FUNCTION, "lambda"), (BUS, "events"), (STREAM, "kinesis"), (TOPIC, "sns")],
)
def test_the_service_of_a_target_arn(arn: str, service: str) -> None:
    assert service_of(arn) == service


def test_an_arn_with_colons_in_its_resource_part_keeps_its_service() -> None:
    assert service_of("arn:aws:lambda:us-east-1:123456789012:function:f:live") == "lambda"


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:s3:us-east-1:123456789012:bucket",
        "arn:aws:sqs:us-east-1:123456789012",  # five parts
        "urn:aws:sqs:us-east-1:123456789012:q",
        "sqs",
        None,
        7,
    ],
)
def test_other_target_arns_are_refused(arn: Any) -> None:
    error = refused(service_of, arn)
    assert str(error) == (
        f"Invalid target ARN {arn}: eventmesh's Scheduler targets functions, queues, "
        "topics, streams and event buses."
    )
    assert error.member == "Target.Arn"


# -- dates -------------------------------------------------------------------------------------


def test_a_date_without_an_offset_is_utc_and_one_with_an_offset_keeps_it() -> None:
    assert moment(None, "StartDate") is None
    assert moment("2026-01-01T12:00:00", "StartDate") == datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert moment("2026-01-01T12:00:00Z", "StartDate") == datetime(2026, 1, 1, 12, tzinfo=UTC)
    plus_two = moment("2026-01-01T12:00:00+02:00", "StartDate")
    assert plus_two is not None
    assert plus_two.utcoffset() == timedelta(hours=2)
    given = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=-5)))
    assert moment(given, "EndDate") is given
    naive = moment(datetime(2026, 1, 1, 12), "EndDate")
    assert naive is not None
    assert naive.tzinfo is UTC


def test_a_date_in_other_text_is_refused() -> None:
    error = refused(moment, "tomorrow", "EndDate")
    assert str(error) == (
        "EndDate must be a date and time in ISO 8601 (2026-01-01T12:00:00Z), got 'tomorrow'."
    )
    assert error.member == "EndDate"


def test_a_date_of_another_type_is_refused() -> None:
    error = refused(moment, 1767225600, "StartDate")
    assert str(error) == "StartDate must be a date and time, got 1767225600."
    assert error.member == "StartDate"


# -- flexible window ---------------------------------------------------------------------------


def test_mode_off_has_no_window() -> None:
    assert flexible_window({"FlexibleTimeWindow": {"Mode": "OFF"}}) is None


@pytest.mark.parametrize(("given", "minutes"), [(1, 1), (1440, 1440), ("15", 15), (720, 720)])
def test_flexible_windows_of_1_to_1440_minutes(given: Any, minutes: int) -> None:
    window = {"FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": given}}
    assert flexible_window(window) == minutes


@pytest.mark.parametrize("given", [0, 1441, -1, None, "x", True])
def test_flexible_windows_out_of_range_or_missing_are_refused(given: Any) -> None:
    window: dict[str, Any] = {"Mode": "FLEXIBLE"}
    if given is not None:
        window["MaximumWindowInMinutes"] = given
    error = refused(flexible_window, {"FlexibleTimeWindow": window})
    assert str(error) == "MaximumWindowInMinutes from 1 to 1440 is required for FLEXIBLE."
    assert error.member == "FlexibleTimeWindow.MaximumWindowInMinutes"


def test_a_window_with_mode_off_is_refused() -> None:
    error = refused(
        flexible_window, {"FlexibleTimeWindow": {"Mode": "OFF", "MaximumWindowInMinutes": 5}}
    )
    assert str(error) == "MaximumWindowInMinutes is only for the FLEXIBLE mode."
    assert error.member == "FlexibleTimeWindow.MaximumWindowInMinutes"


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"FlexibleTimeWindow": "OFF"},
        {"FlexibleTimeWindow": {}},
        {"FlexibleTimeWindow": {"Mode": "off"}},
    ],
)
def test_the_flexible_time_window_and_its_mode_are_required(params: dict[str, Any]) -> None:
    error = refused(flexible_window, params)
    assert str(error) == "FlexibleTimeWindow with a Mode of OFF or FLEXIBLE is required."
    assert error.member == "FlexibleTimeWindow"


# -- retry policy and dead letters -------------------------------------------------------------


def test_retry_policy_defaults_to_none_and_takes_text() -> None:
    assert retry_policy({}) == (None, None)
    assert retry_policy({"RetryPolicy": None}) == (None, None)
    assert retry_policy({"RetryPolicy": {"MaximumRetryAttempts": "3"}}) == (3, None)
    policy = {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": "60"}
    assert retry_policy({"RetryPolicy": policy}) == (0, 60)


def test_a_retry_policy_that_is_not_an_object_is_refused() -> None:
    error = refused(retry_policy, {"RetryPolicy": [1]})
    assert str(error) == (
        "RetryPolicy is an object (MaximumRetryAttempts, MaximumEventAgeInSeconds)."
    )
    assert error.member == "Target.RetryPolicy"


@pytest.mark.parametrize(
    ("member", "text"),
    [
        ("MaximumRetryAttempts", "MaximumRetryAttempts must be from 0 to 185."),
        ("MaximumEventAgeInSeconds", "MaximumEventAgeInSeconds must be from 60 to 86400."),
    ],
)
def test_retry_numbers_that_are_not_integers_are_refused(member: str, text: str) -> None:
    error = refused(retry_policy, {"RetryPolicy": {member: "many"}})
    assert str(error) == text
    assert error.member == f"Target.RetryPolicy.{member}"


@pytest.mark.parametrize("attempts", [0, 185, "185"])
def test_retry_attempts_from_0_to_185(attempts: Any) -> None:
    target = {"Arn": QUEUE, "RetryPolicy": {"MaximumRetryAttempts": attempts}}
    assert check_target(target) == "sqs"


@pytest.mark.parametrize("attempts", [-1, 186])
def test_retry_attempts_out_of_range_are_refused(attempts: int) -> None:
    target = {"Arn": QUEUE, "RetryPolicy": {"MaximumRetryAttempts": attempts}}
    error = refused(check_target, target)
    assert str(error) == "MaximumRetryAttempts must be from 0 to 185."
    assert error.member == "Target.RetryPolicy.MaximumRetryAttempts"


@pytest.mark.parametrize("age", [60, 86400, "86400"])
def test_event_ages_from_60_to_86400_seconds(age: Any) -> None:
    target = {"Arn": QUEUE, "RetryPolicy": {"MaximumEventAgeInSeconds": age}}
    assert check_target(target) == "sqs"


@pytest.mark.parametrize("age", [59, 86401])
def test_event_ages_out_of_range_are_refused(age: int) -> None:
    target = {"Arn": QUEUE, "RetryPolicy": {"MaximumEventAgeInSeconds": age}}
    error = refused(check_target, target)
    assert str(error) == "MaximumEventAgeInSeconds must be from 60 to 86400."
    assert error.member == "Target.RetryPolicy.MaximumEventAgeInSeconds"


def test_dead_letter_arn() -> None:
    assert dead_letter_arn({}) is None
    assert dead_letter_arn({"DeadLetterConfig": None}) is None
    assert dead_letter_arn({"DeadLetterConfig": {"Arn": QUEUE}}) == QUEUE
    assert check_target({"Arn": FUNCTION, "DeadLetterConfig": {"Arn": QUEUE}}) == "lambda"
    error = refused(dead_letter_arn, {"DeadLetterConfig": QUEUE})
    assert str(error) == "DeadLetterConfig is an object with an Arn."
    assert error.member == "Target.DeadLetterConfig"


@pytest.mark.parametrize("arn", [TOPIC, 7, "sqs"])
def test_a_dead_letter_arn_must_be_a_queues(arn: Any) -> None:
    error = refused(check_target, {"Arn": FUNCTION, "DeadLetterConfig": {"Arn": arn}})
    assert str(error) == "DeadLetterConfig Arn must be an SQS queue's ARN."
    assert error.member == "Target.DeadLetterConfig.Arn"


# -- targets -----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [None, "arn", [QUEUE]])
def test_a_target_is_required(target: Any) -> None:
    error = refused(check_target, target)
    assert str(error) == "Target is required."
    assert error.member == "Target"


@pytest.mark.parametrize("key", ["EcsParameters", "SageMakerPipelineParameters"])
def test_unsupported_target_parameters_are_refused(key: str) -> None:
    error = refused(check_target, {"Arn": QUEUE, key: {}})
    assert str(error) == f"{key} is not supported by eventmesh's Scheduler."
    assert error.member == f"Target.{key}"


def test_input_must_be_text() -> None:
    error = refused(check_target, {"Arn": QUEUE, "Input": {"a": 1}})
    assert str(error) == "Target Input must be text."
    assert error.member == "Target.Input"


@pytest.mark.parametrize(
    "target",
    [
        {"Arn": FUNCTION, "Input": "{not json"},
        {"Arn": BUS, "Input": "nope", "EventBridgeParameters": {"Source": "s", "DetailType": "d"}},
    ],
)
def test_input_must_be_json_for_a_function_or_a_bus(target: dict[str, Any]) -> None:
    error = refused(check_target, target)
    assert str(error) == "Target Input must be well-formed JSON for this target."
    assert error.member == "Target.Input"


def test_input_of_a_queue_topic_or_stream_may_be_any_text() -> None:
    assert check_target({"Arn": QUEUE, "Input": "{not json"}) == "sqs"
    assert check_target({"Arn": TOPIC, "Input": "plain"}) == "sns"
    stream = {"Arn": STREAM, "Input": "x", "KinesisParameters": {"PartitionKey": "k"}}
    assert check_target(stream) == "kinesis"
    assert check_target({"Arn": FUNCTION, "Input": '{"a": 1}'}) == "lambda"
    assert check_target({"Arn": FUNCTION}) == "lambda"


@pytest.mark.parametrize("kinesis", [None, {}, {"PartitionKey": ""}, "k", {"partitionKey": "k"}])
def test_a_stream_target_needs_a_partition_key(kinesis: Any) -> None:
    target: dict[str, Any] = {"Arn": STREAM}
    if kinesis is not None:
        target["KinesisParameters"] = kinesis
    error = refused(check_target, target)
    assert str(error) == "KinesisParameters with a PartitionKey are required for a stream."
    assert error.member == "Target.KinesisParameters"


def test_sqs_parameters_must_be_an_object() -> None:
    error = refused(check_target, {"Arn": QUEUE, "SqsParameters": "g"})
    assert str(error) == "SqsParameters is an object with a MessageGroupId."
    assert error.member == "Target.SqsParameters"
    assert check_target({"Arn": QUEUE, "SqsParameters": {"MessageGroupId": "g"}}) == "sqs"


@pytest.mark.parametrize(
    "parameters",
    [None, "p", {}, {"Source": "s"}, {"DetailType": "d"}, {"Source": "", "DetailType": "d"}],
)
def test_a_bus_target_needs_source_and_detail_type(parameters: Any) -> None:
    target: dict[str, Any] = {"Arn": BUS}
    if parameters is not None:
        target["EventBridgeParameters"] = parameters
    error = refused(check_target, target)
    assert str(error) == "EventBridgeParameters are required for an event bus target."
    assert error.member == "Target.EventBridgeParameters"
    target["EventBridgeParameters"] = {"Source": "s", "DetailType": "d"}
    assert check_target(target) == "events"


# -- whole schedules ---------------------------------------------------------------------------


def test_a_minimal_schedule_passes() -> None:
    check_schedule(schedule())
    check_schedule(schedule(State="DISABLED", ScheduleExpressionTimezone="Europe/Paris"))
    check_schedule(schedule(StartDate="2026-01-01T00:00:00Z", EndDate="2026-01-02T00:00:00Z"))


def test_an_invalid_expression_is_refused_naming_it() -> None:
    error = refused(check_schedule, schedule(ScheduleExpression="every day"))
    assert str(error).startswith("Invalid Schedule Expression every day. ")
    assert error.member == "ScheduleExpression"


def test_a_missing_expression_is_refused() -> None:
    error = refused(check_schedule, schedule(ScheduleExpression=None))
    assert str(error).startswith("Invalid Schedule Expression None. ")
    assert error.member == "ScheduleExpression"


def test_an_unknown_time_zone_is_refused_naming_the_time_zone() -> None:
    error = refused(check_schedule, schedule(ScheduleExpressionTimezone="Mars/Olympus"))
    assert str(error).startswith("Invalid Schedule Expression rate(5 minutes). ")
    assert error.member == "ScheduleExpressionTimezone"


def test_the_window_and_the_target_are_checked() -> None:
    assert refused(check_schedule, schedule(FlexibleTimeWindow=None)).member == (
        "FlexibleTimeWindow"
    )
    assert refused(check_schedule, schedule(Target=None)).member == "Target"
    bad_target = schedule(Target={"Arn": QUEUE, "RetryPolicy": {"MaximumRetryAttempts": 186}})
    assert refused(check_schedule, bad_target).member == ("Target.RetryPolicy.MaximumRetryAttempts")


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z"),
        ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
    ],
)
def test_the_end_must_come_after_the_start(start: str, end: str) -> None:
    error = refused(check_schedule, schedule(StartDate=start, EndDate=end))
    assert str(error) == "The StartDate must come before the EndDate."
    assert error.member == "EndDate"


def test_dates_are_checked_with_their_member() -> None:
    assert refused(check_schedule, schedule(StartDate="soon")).member == "StartDate"
    assert refused(check_schedule, schedule(EndDate="later")).member == "EndDate"


def test_a_start_alone_or_an_end_alone_is_fine() -> None:
    check_schedule(schedule(StartDate="2026-01-01T00:00:00Z"))
    check_schedule(schedule(EndDate="2026-01-01T00:00:00Z"))


@pytest.mark.parametrize("state", ["enabled", "PAUSED", ""])
def test_state_is_enabled_or_disabled(state: str) -> None:
    error = refused(check_schedule, schedule(State=state))
    assert str(error) == f"State must be ENABLED or DISABLED, got {state!r}."
    assert error.member == "State"


# -- making the mesh's schedule ----------------------------------------------------------------

SCHEDULE_ARN = "arn:aws:scheduler:us-east-1:123456789012:schedule/default/s"


def test_make_schedule_keeps_the_time_zone_and_defaults_to_utc(mesh: Mesh) -> None:
    queue = mesh.queue("q")
    paris = make_schedule(
        mesh,
        schedule(Target={"Arn": queue.arn}, ScheduleExpressionTimezone="Europe/Paris"),
        name="paris",
        arn=SCHEDULE_ARN,
    )
    assert paris.timezone == "Europe/Paris"
    utc = make_schedule(
        mesh, schedule(Target={"Arn": queue.arn}), name="utc", arn=SCHEDULE_ARN + "-utc"
    )
    assert utc.timezone == "UTC"


def test_make_schedule_passes_the_meshs_refusal_on_with_its_message(mesh: Mesh) -> None:
    queue = mesh.queue("q")
    with pytest.raises(DeclarationError) as info:
        make_schedule(mesh, schedule(Target={"Arn": queue.arn}), name="s", arn="x")
    assert str(info.value) == "a schedule's arn is an ARN (arn:...), not 'x'"
    assert info.value.member is None


def test_the_same_declaration_again_is_the_same_schedule_another_target_a_clash(
    mesh: Mesh,
) -> None:
    first, second = mesh.queue("first"), mesh.queue("second")
    params = schedule(Target={"Arn": first.arn, "Input": "tick"})
    made = make_schedule(mesh, params, name="s", arn=SCHEDULE_ARN)
    again = make_schedule(
        mesh, schedule(Target={"Arn": first.arn, "Input": "tick"}), name="s", arn=SCHEDULE_ARN
    )
    assert again is made
    for target in ({"Arn": second.arn, "Input": "tick"}, {"Arn": first.arn, "Input": "tock"}):
        with pytest.raises(DeclarationError):
            make_schedule(mesh, schedule(Target=target), name="s", arn=SCHEDULE_ARN)
