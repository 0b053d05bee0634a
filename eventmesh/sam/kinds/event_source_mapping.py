"""``AWS::Lambda::EventSourceMapping``: an SQS queue or a Kinesis stream of the mesh mapped
onto a function (``queue.subscribe`` / ``stream.subscribe``), its properties read as Lambda
reads ``CreateEventSourceMapping``'s (:mod:`eventmesh.declare.event_source_mapping`).

``FunctionName`` is a name, an ARN, or an ARN with a version or alias (SAM's
``AutoPublishAlias`` gives the alias's). A source the mesh does not emulate (a DynamoDB
stream, Kafka, Amazon MQ, DocumentDB, or a resource of the template that is left out), a
queue or stream ARN of nothing in the template or the mesh (another stack's), or a function
by ARN out of reach, is warned about and the mapping left out (``--strict`` refuses the
template); an on-failure destination out of reach is warned about and dropped.
``TumblingWindowInSeconds`` is refused: the mesh's stream mappings keep no window state.
``KmsKeyArn``, ``MetricsConfig`` and ``ProvisionedPollerConfig`` are warned about and
ignored, ``Tags`` ignored quietly; another property is warned about as not emulated.
``Ref`` gives the mapping's UUID, derived from the stack name and the logical id (the same
at every start).
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from eventmesh._errors import ConfigurationError, EventMeshError, PayloadError
from eventmesh._function import FunctionTarget
from eventmesh.declare import DeclarationError
from eventmesh.declare.event_source_mapping import (
    METADATA,
    QUIET,
    UNEMULATED_SOURCES,
    UNSUPPORTED,
    check_visibility_timeout,
    function_reference,
    mapping_settings,
    member_of,
    source_service,
)
from eventmesh.resources.queue import Queue
from eventmesh.resources.stream import Stream
from eventmesh.sam._model import BuildContext, Built, CfnResource
from eventmesh.sam.kinds import register
from eventmesh.sam.kinds._targets import left_out_resource, outside_reach

__all__ = ["EventSourceMappingKind"]

_KNOWN = frozenset(
    (
        *UNSUPPORTED,
        "BatchSize",
        "BisectBatchOnFunctionError",
        "DestinationConfig",
        "Enabled",
        "EventSourceArn",
        "FilterCriteria",
        "FunctionName",
        "FunctionResponseTypes",
        "MaximumBatchingWindowInSeconds",
        "MaximumRecordAgeInSeconds",
        "MaximumRetryAttempts",
        "ParallelizationFactor",
        "ScalingConfig",
        "StartingPosition",
        "StartingPositionTimestamp",
    )
)
"""The properties the mapping reads or refuses (:mod:`eventmesh.declare.event_source_mapping`);
any other is warned about as ignored."""

_UNEMULATED_BY_MEMBER = (
    ("Topics", "a Kafka topic's cluster"),
    ("Queues", "an Amazon MQ broker"),
    ("AmazonManagedKafkaEventSourceConfig", "an Amazon MSK cluster"),
    ("SelfManagedKafkaEventSourceConfig", "a Kafka cluster"),
    ("DocumentDBEventSourceConfig", "a DocumentDB change stream"),
)
"""Members only a source the mesh does not emulate takes: they say what the source is when
its ARN is no ARN (a parameter's placeholder default, such as SAM's MSK examples have)."""

_MAPPING_UUIDS = uuid.UUID("6f0e3a52-4d1b-5c57-9a44-2c8f0b7e51d3")
"""Namespace of the mappings' UUIDs (uuid5 of stack name and logical id)."""


class EventSourceMappingKind:
    types: ClassVar[tuple[str, ...]] = ("AWS::Lambda::EventSourceMapping",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        properties = resource.properties
        mapping_id = str(uuid.uuid5(_MAPPING_UUIDS, f"{context.stack_name}/{resource.logical_id}"))
        region, account = context.region, context.account_id
        arn = f"arn:aws:lambda:{region}:{account}:event-source-mapping:{mapping_id}"
        left_out = Built(None, mapping_id, {"EventSourceMappingArn": arn, "Id": mapping_id})
        source_arn = properties.get("EventSourceArn")
        unemulated = self._unemulated(source_arn, properties, context)
        if unemulated is not None:
            context.warn(resource, f"not emulated, left out: its event source is {unemulated}")
            return left_out
        try:
            service = source_service(source_arn)
        except DeclarationError as exc:
            raise resource.error(str(exc), exc.member) from None
        source = context.find(str(source_arn))
        wanted = Queue if service == "sqs" else Stream
        if not isinstance(source, wanted):
            what = "queue" if service == "sqs" else "stream"
            if source is None:  # another stack's: out of reach, as the rule says
                context.warn(
                    resource,
                    f"not emulated, left out: its event source is the {what} {source_arn}, "
                    "neither in the template nor in the mesh (another stack's)",
                )
                return left_out
            raise resource.error(f"no {what} {source_arn} in this mesh", "EventSourceArn")
        for member in properties:
            if member in QUIET:
                continue
            if member in METADATA:
                context.warn(resource, f"{member}: means nothing locally, ignored")
            elif member not in _KNOWN:
                context.warn(resource, f"{member}: not emulated, ignored")
        try:
            settings = mapping_settings(
                "queue" if service == "sqs" else "stream", properties, metadata_ok=True
            )
        except DeclarationError as exc:
            if exc.member == "TumblingWindowInSeconds":
                raise resource.error(
                    "tumbling windows are not emulated: the mesh's stream mappings keep no "
                    "window state (the handler's returned 'state' would be dropped and no "
                    "'isFinalInvokeForWindow' sent); remove it to map without windows",
                    exc.member,
                ) from None
            raise resource.error(str(exc), exc.member) from None
        target = self._function(resource, context)
        if target is None:
            return left_out
        destination = settings.get("on_failure")
        if destination is not None:
            try:  # as the mapping resolves it when it starts
                context.mesh.context.destination(destination)
            except EventMeshError:
                why = outside_reach(context, destination) if isinstance(destination, str) else None
                if why is None:
                    raise resource.error(
                        f"no queue, topic or function {destination} in this mesh",
                        "DestinationConfig.OnFailure.Destination",
                    ) from None
                context.warn(
                    resource,
                    f"DestinationConfig.OnFailure.Destination: {why}: the mapping has no "
                    "on-failure destination (a failed batch's record is dropped)",
                )
                del settings["on_failure"]
        if isinstance(source, Queue):
            try:
                check_visibility_timeout(source.visibility_timeout, target)
            except DeclarationError as exc:
                raise resource.error(str(exc), exc.member) from None
        try:
            source.subscribe(function_reference(target), **settings)
        except (ConfigurationError, PayloadError) as exc:
            raise resource.error(str(exc), member_of(str(exc))) from None
        return Built(source, mapping_id, {"EventSourceMappingArn": arn, "Id": mapping_id})

    @staticmethod
    def _unemulated(source_arn: Any, properties: Any, context: BuildContext) -> str | None:
        """What the source is, when the mesh does not emulate it; None when it may."""
        if source_arn is None and properties.get("SelfManagedEventSource") is not None:
            return "a self-managed Kafka cluster"
        if not isinstance(source_arn, str):
            return None
        left_out = left_out_resource(context, source_arn)
        if left_out is not None:
            return f"{left_out}, a resource left out"
        parts = source_arn.split(":", 5)
        service = parts[2] if len(parts) == 6 else ""
        if service in UNEMULATED_SOURCES:
            return f"{UNEMULATED_SOURCES[service]} ({source_arn})"
        for member, what in _UNEMULATED_BY_MEMBER:  # an ARN given as a placeholder parameter
            if properties.get(member) is not None and not source_arn.startswith("arn:"):
                return f"{what} ({source_arn})"
        return None

    @staticmethod
    def _function(resource: CfnResource, context: BuildContext) -> FunctionTarget | None:
        """The function mapped to; None (warned about) for a function by ARN out of the
        mesh's reach (a resource left out, another stack's)."""
        name = resource.properties.get("FunctionName")
        if not isinstance(name, str) or not name:
            raise resource.error("required: a function's name or ARN", "FunctionName")
        try:
            return context.mesh.resolve_function(name)
        except EventMeshError:
            why = outside_reach(context, name)
            if why is None:
                raise resource.error(f"no function {name} in this mesh", "FunctionName") from None
        context.warn(resource, f"not emulated, left out: its function, {why}")
        return None


register(EventSourceMappingKind())
