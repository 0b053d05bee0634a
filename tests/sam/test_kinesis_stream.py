"""AWS::Kinesis::Stream in a template: shards by mode, retention in hours, Ref and GetAtt."""

from __future__ import annotations

from typing import Any

import pytest

from eventmesh import Mesh
from eventmesh.resources.stream import Stream
from eventmesh.sam import TemplateError, build_application


def build(mesh: Mesh, properties: dict[str, Any], **outputs: Any) -> dict[str, Any]:
    app = build_application(
        {
            "Resources": {"Clicks": {"Type": "AWS::Kinesis::Stream", "Properties": properties}},
            "Outputs": {name: {"Value": value} for name, value in outputs.items()},
        },
        mesh=mesh,
        strict=True,
    )
    return app.outputs


def stream_of(mesh: Mesh, name: str) -> Stream:
    found = mesh.context.find_resource(name)
    assert isinstance(found, Stream)
    return found


def test_ref_is_the_name_and_getatt_arn_the_arn(mesh: Mesh) -> None:
    outputs = build(
        mesh, {"ShardCount": 2}, Ref={"Ref": "Clicks"}, Arn={"Fn::GetAtt": ["Clicks", "Arn"]}
    )
    assert outputs == {
        "Ref": "Clicks",
        "Arn": "arn:aws:kinesis:us-east-1:123456789012:stream/Clicks",
    }
    stream = stream_of(mesh, "Clicks")
    assert len(stream.shards) == 2
    assert stream.retention == 86400  # 24 hours, Kinesis's default


def test_name_sets_the_streams_name(mesh: Mesh) -> None:
    assert build(mesh, {"Name": "clicks-v2", "ShardCount": 1}, Ref={"Ref": "Clicks"}) == {
        "Ref": "clicks-v2"
    }
    assert stream_of(mesh, "clicks-v2").name == "clicks-v2"


def test_without_mode_or_shard_count_the_stream_has_one_shard(mesh: Mesh) -> None:
    build(mesh, {})
    assert len(stream_of(mesh, "Clicks").shards) == 1


def test_an_on_demand_stream_has_four_shards(mesh: Mesh) -> None:
    build(mesh, {"StreamModeDetails": {"StreamMode": "ON_DEMAND"}})
    assert len(stream_of(mesh, "Clicks").shards) == 4


def test_retention_is_in_hours(mesh: Mesh) -> None:
    build(mesh, {"ShardCount": "1", "RetentionPeriodHours": 168})
    assert stream_of(mesh, "Clicks").retention == 604800


def test_encryption_and_tags_are_ignored_quietly(mesh: Mesh) -> None:
    build(
        mesh,
        {"ShardCount": 1, "Tags": [{"Key": "team", "Value": "web"}],
         "StreamEncryption": {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}},
    )  # fmt: skip
    assert len(stream_of(mesh, "Clicks").shards) == 1


@pytest.mark.parametrize(
    ("properties", "member", "message"),
    [
        ({"StreamModeDetails": {"StreamMode": "ON_DEMAND"}, "ShardCount": 2}, "ShardCount",
         "ShardCount is not allowed for ON_DEMAND streams."),
        ({"StreamModeDetails": {"StreamMode": "PROVISIONED"}}, "ShardCount",
         "ShardCount is required for PROVISIONED streams."),
        ({"ShardCount": 0}, "ShardCount", "ShardCount must be from 1 to 500, got 0."),
        ({"StreamModeDetails": {"StreamMode": "BURST"}}, "StreamModeDetails",
         "StreamModeDetails.StreamMode must be PROVISIONED or ON_DEMAND."),
        ({"ShardCount": 1, "RetentionPeriodHours": 23}, "RetentionPeriodHours",
         "Minimum allowed retention period is 24 hours. Maximum allowed retention period is "
         "8760 hours."),
    ],
)  # fmt: skip
def test_what_kinesis_refuses_is_refused_naming_the_property(
    mesh: Mesh, properties: dict[str, Any], member: str, message: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        build(mesh, properties)
    assert str(caught.value) == (
        f"Resources.Clicks.Properties.{member} (AWS::Kinesis::Stream): {message}"
    )
