"""``AWS::Kinesis::Stream``: a stream of the mesh (``mesh.stream``) with ``ShardCount``,
``StreamModeDetails`` and ``RetentionPeriodHours`` read as Kinesis reads them
(:mod:`eventmesh.declare.kinesis`).

Without ``StreamModeDetails`` and ``ShardCount`` the stream has one shard (a provisioned
stream, as CloudFormation makes it); ``ON_DEMAND`` gives the mesh's on-demand streams' four
shards. The name is ``Name``, else the logical id. ``StreamEncryption`` and ``Tags`` are
ignored quietly. ``Ref`` gives the stream's name; ``Fn::GetAtt``: ``Arn``.
"""

from __future__ import annotations

from typing import ClassVar

from eventmesh._errors import ConfigurationError
from eventmesh.declare.kinesis import KinesisDeclarationError, declared_mode, stream_settings
from eventmesh.sam._model import BuildContext, Built, CfnResource
from eventmesh.sam.kinds import register

__all__ = ["KinesisStreamKind"]

_KNOWN = ("Name", "ShardCount", "StreamModeDetails", "RetentionPeriodHours")
_QUIET = ("StreamEncryption", "Tags", "DesiredShardLevelMetrics")


class KinesisStreamKind:
    types: ClassVar[tuple[str, ...]] = ("AWS::Kinesis::Stream",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        properties = resource.properties
        name = properties.get("Name", resource.logical_id)
        if not isinstance(name, str):
            raise resource.error("must be a string", "Name")
        for member in properties:
            if member not in (*_KNOWN, *_QUIET):
                context.warn(resource, f"{member}: not emulated, ignored")
        mode_details = properties.get("StreamModeDetails")
        shard_count = properties.get("ShardCount")
        if mode_details is None and shard_count is None:
            shard_count = 1
        try:
            declared = stream_settings(
                mode_details, shard_count, properties.get("RetentionPeriodHours")
            )
        except KinesisDeclarationError as exc:
            raise resource.error(str(exc), exc.member) from None
        try:
            stream = context.mesh.stream(name, shards=declared.shards, retention=declared.retention)
        except ConfigurationError as exc:
            raise resource.error(str(exc), "Name") from None
        declared_mode(stream, declared.mode)
        return Built(stream, stream.name, {"Arn": stream.arn})


register(KinesisStreamKind())
