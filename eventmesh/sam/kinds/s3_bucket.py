"""``AWS::S3::Bucket``: a bucket of the mesh, with its notification configuration.

The bucket's name is ``BucketName``, else the logical id lower-cased (a logical id is letters
and digits, so that is a valid bucket name; one under three characters gets the stack name in
front, one over 63 is cut), the same on every start. ``NotificationConfiguration`` is
CloudFormation's spelling of S3's (``LambdaConfigurations``, ``QueueConfigurations``,
``TopicConfigurations`` with ``Event`` and ``Filter.S3Key.Rules``; ``EventBridgeConfiguration``
sends every object event to the default bus), translated by
:mod:`eventmesh.declare.bucket_notifications` as the AWS endpoint's
PutBucketNotificationConfiguration is. A target is named by ARN, as SAM's ``S3`` event writes
it (the function's ``Arn``, or its alias's ARN with ``AutoPublishAlias``): the function,
queue or topic must be in the template or in the mesh already; the configuration is applied
(and its targets looked up) once the whole template is built.

``Ref`` gives the bucket's name; ``Fn::GetAtt`` gives ``Arn``, ``DomainName``,
``DualStackDomainName``, ``RegionalDomainName`` and ``WebsiteURL`` as CloudFormation makes
them. Settings the mesh has no use for (encryption, public access, ownership, tags, logging,
metrics, ...) are skipped quietly; those whose absence changes what the bucket does are
warned about: a lifecycle configuration (objects never expire or move locally), versioning
``Enabled`` (the mesh keeps one version: an overwrite replaces, a delete removes),
replication, object lock, website hosting and CORS rules.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from eventmesh._errors import ConfigurationError
from eventmesh.declare import DeclarationError
from eventmesh.declare.bucket_notifications import (
    TargetDeclaration,
    apply_notifications,
    from_cloudformation,
)
from eventmesh.resources.queue import Queue
from eventmesh.resources.topic import Topic
from eventmesh.sam._model import BuildContext, Built, CfnResource
from eventmesh.sam.kinds import register
from eventmesh.sam.kinds._targets import find_target, is_function, outside_reach

__all__ = ["S3Bucket", "bucket_name"]

MAX_NAME = 63
_LEGACY_WEBSITE_REGIONS = frozenset(
    {
        "us-east-1",
        "us-west-1",
        "us-west-2",
        "eu-west-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-northeast-1",
        "sa-east-1",
        "us-gov-west-1",
    }
)
"""Regions whose website endpoint is ``s3-website-<region>`` (the others use a dot)."""

_WARNED: Mapping[str, str] = {
    "LifecycleConfiguration": "objects never expire nor change storage class locally",
    "ReplicationConfiguration": "objects are not replicated locally",
    "ObjectLockConfiguration": "objects are not locked locally",
    "ObjectLockEnabled": "objects are not locked locally",
    "WebsiteConfiguration": "the bucket is not served as a website locally",
    "CorsConfiguration": "the AWS endpoint does not answer browsers' CORS requests",
}
_QUIET = frozenset(
    {
        "AccelerateConfiguration",
        "AccessControl",
        "AnalyticsConfigurations",
        "BucketEncryption",
        "IntelligentTieringConfigurations",
        "InventoryConfigurations",
        "LoggingConfiguration",
        "MetadataTableConfiguration",
        "MetadataConfiguration",
        "MetricsConfigurations",
        "OwnershipControls",
        "PublicAccessBlockConfiguration",
        "Tags",
        "AbacStatus",
    }
)
"""Access, encryption, billing and reporting settings: nothing to do locally."""
_HANDLED = frozenset({"BucketName", "NotificationConfiguration", "VersioningConfiguration"})


def bucket_name(resource: CfnResource, stack_name: str) -> str:
    """``BucketName``, else the logical id lower-cased (see the module docstring)."""
    given = resource.properties.get("BucketName")
    if given is not None:
        if not isinstance(given, str):
            raise resource.error(f"must be a string, got {given!r}", "BucketName")
        return given
    name = resource.logical_id.lower()
    if len(name) < 3:
        name = f"{stack_name.lower()}-{name}"
    return name[:MAX_NAME].rstrip("-.")


def _suffix(region: str) -> str:
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


def attributes(name: str, region: str) -> dict[str, Any]:
    """What ``Fn::GetAtt`` gives for a bucket, as CloudFormation makes it."""
    suffix = _suffix(region)
    partition = "aws-cn" if region.startswith("cn-") else "aws"
    website = "s3-website-" if region in _LEGACY_WEBSITE_REGIONS else "s3-website."
    return {
        "Arn": f"arn:{partition}:s3:::{name}",
        "DomainName": f"{name}.s3.{suffix}",
        "DualStackDomainName": f"{name}.s3.dualstack.{region}.{suffix}",
        "RegionalDomainName": f"{name}.s3.{region}.{suffix}",
        "WebsiteURL": f"http://{name}.{website}{region}.{suffix}",
    }


class S3Bucket:
    types: ClassVar[tuple[str, ...]] = ("AWS::S3::Bucket",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        name = bucket_name(resource, context.stack_name)
        try:
            bucket = context.mesh.bucket(name)
        except ConfigurationError as exc:
            raise resource.error(str(exc), "BucketName") from None
        self._warn(resource, context)
        notifications = resource.properties.get("NotificationConfiguration")
        if notifications is not None:
            where = "NotificationConfiguration"
            if not isinstance(notifications, Mapping):
                raise resource.error("must be an object", where)
            try:
                declaration = from_cloudformation(notifications)
            except DeclarationError as exc:
                raise _error(resource, exc) from None

            def apply() -> None:
                kept = [d for d in declaration.targets if _reachable(resource, context, d)]
                try:
                    apply_notifications(
                        bucket,
                        dataclasses.replace(declaration, targets=tuple(kept)),
                        lambda declared: _check_target(resource, context, declared),
                    )
                except DeclarationError as exc:
                    raise _error(resource, exc) from None

            # Once every resource is built: a target named by a literal ARN may come later.
            context.after_build(apply)
        return Built(bucket, name, attributes(name, context.region))

    def _warn(self, resource: CfnResource, context: BuildContext) -> None:
        for prop in resource.properties:
            if prop in _HANDLED or prop in _QUIET:
                continue
            if prop in _WARNED:
                context.warn(resource, f"{prop} is ignored: {_WARNED[prop]}")
            else:
                context.warn(resource, f"{prop} is not emulated, ignored")
        versioning = resource.properties.get("VersioningConfiguration")
        if isinstance(versioning, Mapping) and versioning.get("Status") == "Enabled":
            context.warn(
                resource,
                "VersioningConfiguration is ignored: the mesh keeps one version of each object "
                "(an overwrite replaces it, a delete removes it; no version ids)",
            )


def _error(resource: CfnResource, exc: DeclarationError) -> Exception:
    where = "NotificationConfiguration"
    return resource.error(str(exc), where if exc.member is None else f"{where}.{exc.member}")


def _reachable(resource: CfnResource, context: BuildContext, declared: TargetDeclaration) -> bool:
    """False (warned about) for a target out of the mesh's reach: a resource of the template
    left out, an ARN of nothing in the template or the mesh (another stack's)."""
    target = declared.target
    if not isinstance(target, str) or find_target(context, target) is not None:
        return True
    why = outside_reach(context, target)
    if why is None:
        return True  # _check_target says what is wrong
    path = f"NotificationConfiguration.{declared.where}.{declared.target_member}"
    context.warn(resource, f"{path}: {why}: the notification is left out")
    return False


def _check_target(
    resource: CfnResource, context: BuildContext, declared: TargetDeclaration
) -> None:
    """The target must be a function, queue or topic of the mesh (named by ARN or name)."""
    target = declared.target
    path = f"NotificationConfiguration.{declared.where}.{declared.target_member}"
    if not isinstance(target, str):
        raise resource.error(f"an ARN, got {target!r}", path)
    wanted = {"lambda": "function", "sqs": "queue", "sns": "topic"}[declared.kind]
    found = find_target(context, target)  # a name or an ARN; a function's version or alias too
    if declared.kind == "lambda":
        ok = is_function(found)
    else:
        ok = isinstance(found, Queue if declared.kind == "sqs" else Topic)
        if declared.kind == "sqs" and isinstance(found, Queue) and found.fifo:
            raise resource.error(
                f"{target} is a FIFO queue; S3 notifies only standard queues", path
            )
    if not ok:
        raise resource.error(f"{target} names no {wanted} of the template or the mesh", path)


register(S3Bucket())
