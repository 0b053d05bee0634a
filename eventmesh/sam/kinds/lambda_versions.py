"""``AWS::Lambda::Version`` and ``AWS::Lambda::Alias`` (what SAM's ``AutoPublishAlias`` makes):
published versions and aliases of the template's functions.

A version publishes the function as it is then (:meth:`~eventmesh.Function.publish_version`:
nothing changed since the last version gives that version again, as Lambda does); ``Ref``
gives the version's ARN, ``Fn::GetAtt ... Version`` its number and ``FunctionArn`` the
function's ARN. An alias (``Name``, ``FunctionVersion``, ``RoutingConfig``'s
``AdditionalVersionWeights``) is :meth:`~eventmesh.Mesh.alias`, weighted routing included;
``Ref`` and ``Fn::GetAtt ... AliasArn`` give its ARN. ``ProvisionedConcurrencyConfig`` on
either provisions the version (an alias's versions, by its weights) when the mesh starts.
``Description``, ``CodeSha256`` and ``RuntimePolicy`` are metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from eventmesh._errors import ConfigurationError, ResourceNotFoundError
from eventmesh._function import Function
from eventmesh.declare import DeclarationError
from eventmesh.declare.lambda_alias import alias_routing
from eventmesh.sam._model import BuildContext, Built, CfnResource
from eventmesh.sam.kinds import register
from eventmesh.sam.kinds._lambda import function_target, integer

__all__ = ["LambdaAlias", "LambdaVersion"]


def _unqualified(resource: CfnResource, context: BuildContext) -> Function:
    target = function_target(
        resource, context, resource.properties.get("FunctionName"), "FunctionName"
    )
    if target.qualifier is not None:
        raise resource.error(
            f"names a version or alias ({target.qualifier}): give the function's name or "
            "unqualified ARN",
            "FunctionName",
        )
    return target.function


def _provision(resource: CfnResource, function: Function, qualifier: str) -> None:
    config = resource.properties.get("ProvisionedConcurrencyConfig")
    if config is None:
        return
    if not isinstance(config, Mapping):
        raise resource.error(
            f"must be an object with ProvisionedConcurrentExecutions, got {config!r}",
            "ProvisionedConcurrencyConfig",
        )
    path = "ProvisionedConcurrencyConfig.ProvisionedConcurrentExecutions"
    count = integer(resource, path, config.get("ProvisionedConcurrentExecutions"), 0, 10**9)
    try:  # (integer's TemplateError is a ConfigurationError: read outside, named once)
        function.provision(qualifier, count)
    except ConfigurationError as exc:
        raise resource.error(str(exc), path) from None


class LambdaVersion:
    types: ClassVar[tuple[str, ...]] = ("AWS::Lambda::Version",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        function = _unqualified(resource, context)
        version = function.publish_version()
        _provision(resource, function, version.version)
        function_arn = context.mesh.resolve_function(function).arn
        arn = f"{function_arn}:{version.version}"
        return Built(version, arn, {"Version": version.version, "FunctionArn": function_arn})


class LambdaAlias:
    types: ClassVar[tuple[str, ...]] = ("AWS::Lambda::Alias",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        properties = resource.properties
        function = _unqualified(resource, context)
        name = properties.get("Name")
        if not isinstance(name, str):
            raise resource.error(f"must be the alias's name, got {name!r}", "Name")
        version = properties.get("FunctionVersion")
        if not isinstance(version, str | int) or isinstance(version, bool):
            raise resource.error(f"must be a version, got {version!r}", "FunctionVersion")
        try:
            routing = alias_routing(properties.get("RoutingConfig"))
        except DeclarationError as exc:
            raise resource.error(str(exc), exc.member) from None
        try:
            alias = context.mesh.alias(function, name, str(version), routing)
        except ResourceNotFoundError as exc:
            raise resource.error(f"{exc} (not published)", "FunctionVersion") from None
        except ConfigurationError as exc:
            member = "RoutingConfig" if routing else "Name"
            raise resource.error(str(exc), member) from None
        _provision(resource, function, alias.name)
        arn = f"{context.mesh.resolve_function(function).arn}:{alias.name}"
        return Built(alias, arn, {"AliasArn": arn})


register(LambdaVersion())
register(LambdaAlias())
