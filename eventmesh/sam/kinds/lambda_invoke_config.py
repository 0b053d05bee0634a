"""``AWS::Lambda::EventInvokeConfig`` (what SAM's ``EventInvokeConfig`` becomes): how a
function's Event invocations through one qualifier are retried and where their outcomes go
(:meth:`~eventmesh.Function.configure_event_invoke`).

``Qualifier`` ``$LATEST`` sets the function's own configuration (its unqualified and
``$LATEST`` invocations); a version or alias sets what invocations naming it get, as on Lambda.
A setting not given is Lambda's default (2 retries, 6 hours, no destination).
``MaximumRetryAttempts`` (0-2), ``MaximumEventAgeInSeconds`` (60-21600),
``DestinationConfig.OnSuccess/OnFailure.Destination``: an SQS queue, SNS topic, Lambda function
or EventBridge bus of the template or the mesh, by ARN; an S3 bucket for ``OnFailure`` only (as
Lambda allows). A destination out of the mesh's reach (a resource of the template left out,
an ARN of nothing in the template or the mesh: another stack's) is warned about and left out
(``--strict`` refuses it); one that is no ARN and names nothing is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from eventmesh._errors import ConfigurationError, ResourceNotFoundError
from eventmesh._function import LATEST
from eventmesh.resources.bucket import Bucket
from eventmesh.resources.bus import Bus
from eventmesh.resources.queue import Queue
from eventmesh.resources.topic import Topic
from eventmesh.sam._model import BuildContext, Built, CfnResource
from eventmesh.sam.kinds import register
from eventmesh.sam.kinds._lambda import function_target, integer
from eventmesh.sam.kinds._targets import find_target, outside_reach

__all__ = ["LambdaEventInvokeConfig"]

_FUNCTION_ARN = ":lambda:"


def _destination(resource: CfnResource, context: BuildContext, outcome: str) -> Any:
    config = resource.properties.get("DestinationConfig") or {}
    if not isinstance(config, Mapping):
        raise resource.error("must be an object with OnSuccess and OnFailure", "DestinationConfig")
    entry = config.get(outcome)
    if entry is None:
        return None
    path = f"DestinationConfig.{outcome}.Destination"
    arn = entry.get("Destination") if isinstance(entry, Mapping) else None
    if not isinstance(arn, str) or not arn:
        raise resource.error(f"must be a destination's ARN, got {arn!r}", path)
    why = outside_reach(context, arn) if find_target(context, arn) is None else None
    if why is not None:
        context.warn(
            resource,
            f"{path}: {why}: the destination is left out ({outcome} records are dropped)",
        )
        return None
    if _FUNCTION_ARN in arn:
        target = function_target(resource, context, arn, path)
        if target.qualifier is not None:
            raise resource.error(
                f"{arn}: a version or alias as destination is not supported locally: name the "
                "function unqualified",
                path,
            )
        return target.function
    found = context.find(arn)
    if found is None:
        raise resource.error(
            f"{arn} is not a queue, topic, function, bus or bucket of the template or the mesh",
            path,
        )
    if isinstance(found, Bucket) and outcome == "OnSuccess":
        raise resource.error("an S3 bucket is a destination for OnFailure only", path)
    if not isinstance(found, Queue | Topic | Bus | Bucket):
        raise resource.error(f"{arn} cannot be a destination", path)
    return found


class LambdaEventInvokeConfig:
    types: ClassVar[tuple[str, ...]] = ("AWS::Lambda::EventInvokeConfig",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        properties = resource.properties
        target = function_target(resource, context, properties.get("FunctionName"), "FunctionName")
        if target.qualifier is not None:
            raise resource.error(
                "give the qualifier in Qualifier, the function unqualified", "FunctionName"
            )
        function = target.function
        qualifier = properties.get("Qualifier", LATEST)
        if not isinstance(qualifier, str | int) or isinstance(qualifier, bool):
            raise resource.error(f"must be $LATEST, a version or an alias, got {qualifier!r}",
                                 "Qualifier")  # fmt: skip
        qualifier = str(qualifier)
        settings: dict[str, Any] = {}
        if properties.get("MaximumRetryAttempts") is not None:
            settings["retries"] = integer(
                resource, "MaximumRetryAttempts", properties["MaximumRetryAttempts"], 0, 2
            )
        if properties.get("MaximumEventAgeInSeconds") is not None:
            settings["max_event_age"] = integer(
                resource, "MaximumEventAgeInSeconds", properties["MaximumEventAgeInSeconds"],
                60, 21600,
            )  # fmt: skip
        for outcome, setting in (("OnSuccess", "on_success"), ("OnFailure", "on_failure")):
            destination = _destination(resource, context, outcome)
            if destination is not None:
                settings[setting] = destination
        try:
            function.configure_event_invoke(qualifier, **settings)
        except ResourceNotFoundError as exc:
            raise resource.error(str(exc), "Qualifier") from None
        except ConfigurationError as exc:
            raise resource.error(str(exc)) from None
        return Built(None, f"{function.name}:{qualifier}")


register(LambdaEventInvokeConfig())
