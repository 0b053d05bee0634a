"""eventmesh.declare.sqs directly: SQS's ranges, names, error codes and messages, in both the
attribute texts of CreateQueue and the typed properties of AWS::SQS::Queue. The expected values
are SQS's (its API reference and its answers), written out here."""

from __future__ import annotations

from typing import Any

import pytest

from eventmesh import Mesh
from eventmesh.declare.sqs import (
    RedrivePolicy,
    SqsDeclarationError,
    check_queue_name,
    is_fifo,
    queue_attributes,
    redrive_settings,
)


def refused(attributes: dict[str, Any], fifo: bool = False) -> SqsDeclarationError:
    with pytest.raises(SqsDeclarationError) as caught:
        queue_attributes(attributes, fifo)
    return caught.value


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("VisibilityTimeout", 0, 43200),
        ("DelaySeconds", 0, 900),
        ("MessageRetentionPeriod", 60, 1209600),
        ("MaximumMessageSize", 1024, 1048576),
        ("ReceiveMessageWaitTimeSeconds", 0, 20),
        ("KmsDataKeyReusePeriodSeconds", 60, 86400),
    ],
)
def test_integer_attributes_take_sqs_range_and_no_more(name: str, low: int, high: int) -> None:
    queue_attributes({name: str(low)}, False)
    queue_attributes({name: high}, False)
    for outside in (low - 1, high + 1, "ten"):
        error = refused({name: outside})
        assert error.code == "InvalidAttributeValue"
        assert error.args[0] == f"Invalid value for the parameter {name}."
        assert error.member == name


def test_the_queue_settings_and_the_attributes_kept_beside() -> None:
    declared = queue_attributes(
        {
            "VisibilityTimeout": "45",
            "DelaySeconds": 7,
            "MessageRetentionPeriod": "600",
            "MaximumMessageSize": "2048",
            "ReceiveMessageWaitTimeSeconds": 5,
            "SqsManagedSseEnabled": False,
            "Policy": {"Version": "2012-10-17"},
        },
        False,
    )
    assert declared.settings == {"visibility_timeout": 45, "delay": 7, "retention": 600}
    assert declared.beside == {
        "MaximumMessageSize": "2048",
        "ReceiveMessageWaitTimeSeconds": "5",
        "SqsManagedSseEnabled": "false",
        "Policy": '{"Version":"2012-10-17"}',
    }
    assert declared.redrive is None


def test_fifo_attributes_are_unknown_on_a_standard_queue() -> None:
    for name, value in (
        ("ContentBasedDeduplication", "true"),
        ("DeduplicationScope", "queue"),
        ("FifoThroughputLimit", "perQueue"),
        ("NoSuchAttribute", "1"),
    ):
        error = refused({name: value})
        assert error.code == "InvalidAttributeName"
        assert error.args[0] == f"Unknown Attribute {name}."
        assert error.member == name


def test_fifo_attributes_and_their_choices() -> None:
    declared = queue_attributes(
        {
            "ContentBasedDeduplication": True,
            "DeduplicationScope": "messageGroup",
            "FifoThroughputLimit": "perMessageGroupId",
        },
        True,
    )
    assert declared.settings == {"content_based_deduplication": True}
    assert declared.beside == {
        "DeduplicationScope": "messageGroup",
        "FifoThroughputLimit": "perMessageGroupId",
    }
    assert queue_attributes({"ContentBasedDeduplication": "false"}, True).settings == {
        "content_based_deduplication": False
    }
    for name, value in (
        ("ContentBasedDeduplication", "yes"),
        ("DeduplicationScope", "group"),
        ("FifoThroughputLimit", "perGroup"),
        ("SqsManagedSseEnabled", "TRUE"),
    ):
        error = refused({name: value}, fifo=True)
        assert error.code == "InvalidAttributeValue"
        assert error.args[0] == f"Invalid value for the parameter {name}."


def test_fifo_queue_flag() -> None:
    assert is_fifo(None) is False
    assert is_fifo("true") is True
    assert is_fifo(True) is True
    assert is_fifo("false") is False
    with pytest.raises(SqsDeclarationError) as caught:
        is_fifo("1")
    assert caught.value.code == "InvalidAttributeValue"
    assert caught.value.args[0] == "Invalid value for the parameter FifoQueue."
    assert caught.value.member == "FifoQueue"


def test_queue_names_one_to_eighty_characters() -> None:
    check_queue_name("a", False)
    check_queue_name("A_b-9" + "x" * 75, False)
    check_queue_name("a.fifo", True)
    check_queue_name("q" * 75 + ".fifo", True)
    for name in ("", "x" * 81, "a.b", "a b"):
        with pytest.raises(SqsDeclarationError) as caught:
            check_queue_name(name, False)
        assert caught.value.code == "InvalidParameterValue"
        assert caught.value.args[0] == (
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
        )
        assert caught.value.member == "QueueName"
    for name in (".fifo", "q" * 76 + ".fifo", "a", "a.fifox"):
        with pytest.raises(SqsDeclarationError) as caught:
            check_queue_name(name, True)
        assert caught.value.code == "InvalidParameterValue"
        assert caught.value.args[0] == (
            "The name of a FIFO queue can only include alphanumeric characters, hyphens, or "
            "underscores, must end with .fifo suffix and be 1 to 80 in length."
        )
        assert caught.value.member == "QueueName"


ARN = "arn:aws:sqs:us-east-1:000000000000:dead"


@pytest.mark.parametrize("count", [1, "1000"])
def test_a_redrive_policy_in_either_spelling(count: Any) -> None:
    text = '{"deadLetterTargetArn":"' + ARN + '","maxReceiveCount":' + f'"{count}"' + "}"
    for value in (text, {"deadLetterTargetArn": ARN, "maxReceiveCount": count}):
        policy = queue_attributes({"RedrivePolicy": value}, False).redrive
        assert policy is not None
        assert policy.target == ARN
        assert policy.max_receive_count == int(count)
    assert queue_attributes({"RedrivePolicy": text}, False).redrive == RedrivePolicy(
        text, ARN, int(count)
    )


def test_the_empty_redrive_policy_removes_it() -> None:
    assert queue_attributes({"RedrivePolicy": ""}, False).redrive == RedrivePolicy("", None, None)
    assert redrive_settings(RedrivePolicy("", None, None), None, False) == {
        "dead_letter": None,
        "max_receive_count": None,
    }


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("{", "Invalid JSON."),
        ("[1]", "Redrive policy is not a dictionary."),
        ('{"maxReceiveCount": 3}', "Dead letter target does not exist."),
        ('{"deadLetterTargetArn": "", "maxReceiveCount": 3}', "Dead letter target does not exist."),
        ('{"deadLetterTargetArn": 5, "maxReceiveCount": 3}', "Dead letter target does not exist."),
        (
            '{"deadLetterTargetArn": "' + ARN + '", "maxReceiveCount": 0}',
            "Invalid value for maxReceiveCount: must be an integer from 1 to 1000.",
        ),
        (
            '{"deadLetterTargetArn": "' + ARN + '", "maxReceiveCount": 1001}',
            "Invalid value for maxReceiveCount: must be an integer from 1 to 1000.",
        ),
        (
            '{"deadLetterTargetArn": "' + ARN + '"}',
            "Invalid value for maxReceiveCount: must be an integer from 1 to 1000.",
        ),
    ],
)
def test_redrive_policies_sqs_refuses(value: str, reason: str) -> None:
    error = refused({"RedrivePolicy": value})
    assert error.code == "InvalidParameterValue"
    assert (
        error.args[0] == f"Value {value} for parameter RedrivePolicy is invalid. Reason: {reason}"
    )
    assert error.member == "RedrivePolicy"


def test_the_dead_letter_queue_found_must_exist_and_be_of_the_same_kind(mesh: Mesh) -> None:
    text = '{"deadLetterTargetArn":"' + ARN + '","maxReceiveCount":"4"}'
    policy = RedrivePolicy(text, ARN, 4)
    standard = mesh.queue("dead")
    fifo = mesh.queue("dead.fifo", fifo=True)
    assert redrive_settings(policy, standard, False) == {
        "dead_letter": "dead",
        "max_receive_count": 4,
    }
    assert redrive_settings(policy, fifo, True) == {
        "dead_letter": "dead.fifo",
        "max_receive_count": 4,
    }
    prefix = f"Value {text} for parameter RedrivePolicy is invalid. Reason: "
    for found, is_fifo_queue, reason in (
        (None, False, "Dead letter target does not exist."),
        (fifo, False, "Dead-letter target must be a standard queue."),
        (standard, True, "Dead-letter target must be a FIFO queue."),
    ):
        with pytest.raises(SqsDeclarationError) as caught:
            redrive_settings(policy, found, is_fifo_queue)
        assert caught.value.code == "InvalidParameterValue"
        assert caught.value.args[0] == prefix + reason
        assert caught.value.member == "RedrivePolicy"
