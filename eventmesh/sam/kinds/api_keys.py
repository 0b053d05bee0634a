"""REST API keys from a template: ``AWS::ApiGateway::ApiKey`` (``Value``, ``Enabled``,
``Name``, ``StageKeys``), ``UsagePlan`` (``ApiStages``) and ``UsagePlanKey``, the path SAM's
``Auth.ApiKeyRequired`` with ``UsagePlan`` makes: a key works on the API stages of the usage
plans it belongs to (or of its ``StageKeys``; an API stage without ``Stage``: every stage of
that API), sent as ``x-api-key``.

A key without ``Value`` gets a random one (AWS generates it too); read it from the built
application (``app.resources["MyKey"].value.value``) or give ``Value``. A usage plan's
throttles and quotas are not enforced (warned).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from eventmesh._errors import ConfigurationError
from eventmesh.gateway.apis import RestApi
from eventmesh.gateway.ids import api_id
from eventmesh.sam._errors import TemplateError
from eventmesh.sam._model import BuildContext, Built, CfnResource
from eventmesh.sam.kinds import register
from eventmesh.sam.kinds._apis import TemplateApis, boolean, template_apis

__all__ = ["ApiKeyKind", "TemplateApiKey", "UsagePlanKeyKind", "UsagePlanKind"]


@dataclass(frozen=True, slots=True)
class TemplateApiKey:
    """A key of the template: its id (``Ref``), name, value and whether it is enabled."""

    id: str
    name: str
    value: str
    enabled: bool

    def __repr__(self) -> str:  # the value is a secret: never in logs
        return f"TemplateApiKey(id={self.id!r}, name={self.name!r}, enabled={self.enabled})"


def _give(apis: TemplateApis, api: Any, stage: Any, key: TemplateApiKey, resource: CfnResource,
          where: str) -> None:  # fmt: skip
    """Let ``key`` in on ``stage`` of ``api`` (every stage when None), as a usage plan's API
    stage (or the key's ``StageKeys``) does: a key works on the stages its plans cover."""
    state = apis.of(api, resource, where)
    if not isinstance(state.api, RestApi):
        raise resource.error("API keys are for REST APIs", where)
    if not key.enabled:
        return
    if stage is not None and not isinstance(stage, str):
        raise resource.error(f"a stage name, got {stage!r}", where)
    try:
        stages = None if stage is None else [stage]
        state.api.api_key(key.value, name=key.name, key_id=key.id, stages=stages)
    except TemplateError:
        raise
    except ConfigurationError as exc:
        raise resource.error(str(exc), where) from None


class ApiKeyKind:
    types: ClassVar[tuple[str, ...]] = ("AWS::ApiGateway::ApiKey",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        props = resource.properties
        value = props.get("Value")
        if value is None:
            value = secrets.token_urlsafe(30)
        if not isinstance(value, str) or not 20 <= len(value) <= 128:
            raise resource.error("an API key's value is 20 to 128 characters", "Value")
        key_id = api_id("apikey", f"{context.stack_name}:{resource.logical_id}")
        name = props.get("Name")
        key = TemplateApiKey(
            key_id,
            name if isinstance(name, str) and name else resource.logical_id,
            value,
            boolean(props.get("Enabled"), resource, "Enabled"),
        )
        apis = template_apis(context)
        apis.keys[key_id] = key
        for index, stage_key in enumerate(props.get("StageKeys") or []):
            if isinstance(stage_key, Mapping):
                where = f"StageKeys[{index}].RestApiId"
                stage = stage_key.get("StageName")
                _give(apis, stage_key.get("RestApiId"), stage, key, resource, where)
        return Built(key, key_id, {"APIKeyId": key_id})


class UsagePlanKind:
    types: ClassVar[tuple[str, ...]] = ("AWS::ApiGateway::UsagePlan",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        props = resource.properties
        apis = template_apis(context)
        covered: list[tuple[str, Any]] = []
        for index, stage in enumerate(props.get("ApiStages") or []):
            if isinstance(stage, Mapping):
                where = f"ApiStages[{index}].ApiId"
                api = apis.of(stage.get("ApiId"), resource, where).api.id
                covered.append((api, stage.get("Stage")))
                if stage.get("Throttle"):
                    context.warn(resource, f"ApiStages[{index}].Throttle is not enforced locally")
        for limit in ("Quota", "Throttle"):
            if props.get(limit):
                context.warn(resource, f"{limit} is not enforced locally")
        plan_id = api_id("usageplan", f"{context.stack_name}:{resource.logical_id}")[:6]
        apis.plans[plan_id] = covered
        return Built(None, plan_id, {"Id": plan_id})


class UsagePlanKeyKind:
    types: ClassVar[tuple[str, ...]] = ("AWS::ApiGateway::UsagePlanKey",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        props = resource.properties
        apis = template_apis(context)
        key = apis.keys.get(props.get("KeyId"))  # type: ignore[arg-type]
        if key is None:
            raise resource.error("not an API key of this template", "KeyId")
        plan = apis.plans.get(props.get("UsagePlanId"))  # type: ignore[arg-type]
        if plan is None:
            raise resource.error("not a usage plan of this template", "UsagePlanId")
        for api, stage in plan:
            _give(apis, api, stage, key, resource, "UsagePlanId")
        return Built(None, f"{key.id}:{props.get('UsagePlanId')}", {"Id": key.id})


register(ApiKeyKind())
register(UsagePlanKind())
register(UsagePlanKeyKind())
