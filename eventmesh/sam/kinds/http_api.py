"""API Gateway HTTP APIs (``AWS::ApiGatewayV2::*``): what SAM's ``HttpApi`` events and
``AWS::Serverless::HttpApi`` become, and the explicit form, as the mesh's HTTP APIs.

* ``Api`` with ``ProtocolType: HTTP``: a ``Body`` (OpenAPI 3, see :mod:`._openapi`) with
  ``x-amazon-apigateway-cors``; or quick create (``Target``, a function ARN, and
  ``RouteKey``, ``$default`` unless given; a ``$default`` stage); ``CorsConfiguration``.
  ``ProtocolType: WEBSOCKET`` is left out (warned). ``Ref``: the API's id; ``ApiEndpoint``:
  ``https://{id}.execute-api.{region}.amazonaws.com``, AWS's URL, which the mesh serves by
  that host (the local address is known only when the HTTP front starts).
* ``Integration`` (``AWS_PROXY``, ``IntegrationUri``, ``PayloadFormatVersion``,
  ``TimeoutInMillis``), ``Route`` (``RouteKey``, ``Target: integrations/{id}``,
  ``AuthorizationType`` NONE/JWT/CUSTOM/AWS_IAM, ``AuthorizerId``, ``AuthorizationScopes``),
  ``Authorizer`` (``JWT``, ``REQUEST``), ``Stage`` (``StageName``, ``StageVariables``);
  ``Deployment`` means nothing locally (every stage serves the routes at once, as
  ``AutoDeploy``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from eventmesh._errors import ConfigurationError
from eventmesh.gateway.apis import HttpApi
from eventmesh.gateway.authorization import Authorizer
from eventmesh.gateway.authorizers.fixed import SigV4Authorizer
from eventmesh.gateway.ids import api_id
from eventmesh.sam._errors import TemplateError
from eventmesh.sam._model import BuildContext, Built, CfnResource
from eventmesh.sam.kinds import register
from eventmesh.sam.kinds._apis import (
    ApiState,
    cors_settings,
    function_of_uri,
    function_reachable,
    template_apis,
    timeout_of,
    unintegrated,
)
from eventmesh.sam.kinds._openapi import build_authorizer, routes_from_body

__all__ = [
    "HttpApiAuthorizerKind",
    "HttpApiIntegrationKind",
    "HttpApiKind",
    "HttpApiRouteKind",
    "HttpApiStageKind",
]


def _endpoint(api: HttpApi) -> str:
    return f"https://{api.domain_name}"


class HttpApiKind:
    types: ClassVar[tuple[str, ...]] = ("AWS::ApiGatewayV2::Api",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        props = resource.properties
        protocol = str(props.get("ProtocolType", "HTTP" if "Body" in props else "")).upper()
        if not protocol:
            raise resource.error("HTTP or WEBSOCKET", "ProtocolType")
        if protocol != "HTTP":
            context.warn(
                resource, f"{protocol} API is not supported locally: left out, with its parts"
            )
            template_apis(context).left_out.add(resource.logical_id)
            return Built(None, resource.logical_id, {"ApiId": resource.logical_id})
        if "BodyS3Location" in props:
            raise resource.error(
                "an API definition in S3 cannot be read locally: give it as Body",
                "BodyS3Location",
            )
        body = props.get("Body") or {}
        if not isinstance(body, Mapping):
            raise resource.error("the API definition is a mapping (OpenAPI 3)", "Body")
        cors = cors_settings(
            props.get("CorsConfiguration"), resource, "CorsConfiguration", camel_case=True
        )
        if cors is None:
            extension = "x-amazon-apigateway-cors"
            cors = cors_settings(
                body.get(extension), resource, f"Body.{extension}", camel_case=True
            )
        for warned in ("DisableExecuteApiEndpoint", "CredentialsArn"):
            if props.get(warned):
                context.warn(resource, f"{warned} is not honoured locally")
        name = props.get("Name")
        settings: dict[str, Any] = {"base_path": None}
        if cors is not None:
            settings["cors"] = cors
        try:
            api = context.mesh.http_api(
                name if isinstance(name, str) and name else resource.logical_id, **settings
            )
        except TemplateError:
            raise
        except ConfigurationError as exc:
            raise resource.error(str(exc), "CorsConfiguration" if cors else None) from None
        state = template_apis(context).add(resource.logical_id, api)
        if body:
            context.after_build(routes_from_body(api, body, resource, context))
        if props.get("Target") is not None:
            self._quick_create(api, state, resource, context)
        attributes = {"ApiEndpoint": _endpoint(api), "ApiId": api.id}
        return Built(api, api.id, attributes)

    @staticmethod
    def _quick_create(
        api: HttpApi, state: ApiState, resource: CfnResource, context: BuildContext
    ) -> None:
        """``Target``: a route (``RouteKey``, ``$default`` unless given) to the function, with
        payload 2.0, on a ``$default`` stage."""
        props = resource.properties
        target = function_of_uri(props["Target"], resource, "Target", context)
        key = str(props.get("RouteKey", "$default"))

        def add() -> None:
            try:
                if not function_reachable(target, props["Target"], resource, "Target", context):
                    api.fixed_route(key, unintegrated("http"))
                    return
                api.route(key, target, payload_format_version="2.0")
            except TemplateError:
                raise
            except ConfigurationError as exc:
                raise resource.error(str(exc), "RouteKey") from None

        context.after_build(add)
        state.stages.append(("$default", True))


class HttpApiIntegrationKind:
    """``AWS::ApiGatewayV2::Integration``: what a ``Route``'s ``integrations/{id}`` runs."""

    types: ClassVar[tuple[str, ...]] = ("AWS::ApiGatewayV2::Integration",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        props = resource.properties
        if props.get("ApiId") in template_apis(context).left_out:
            return Built(None, resource.logical_id)  # a part of a WebSocket API
        state = template_apis(context).of(props.get("ApiId"), resource, "ApiId")
        api = state.api
        assert isinstance(api, HttpApi)
        kind = str(props.get("IntegrationType", "")).upper()
        if props.get("IntegrationSubtype"):
            kind = f"{kind} {props['IntegrationSubtype']}"  # an AWS service, not a function
        integration_id = api_id("integration", f"{api.id}:{resource.logical_id}")[:7]
        if kind == "AWS_PROXY":
            target = function_of_uri(
                props.get("IntegrationUri"), resource, "IntegrationUri", context
            )
            version = str(props.get("PayloadFormatVersion", "1.0"))
            timeout = timeout_of(props.get("TimeoutInMillis"), resource, "TimeoutInMillis")

            def route(key: str, authorizer: Authorizer | None, where: CfnResource) -> None:
                uri = props.get("IntegrationUri")
                try:
                    if not function_reachable(target, uri, resource, "IntegrationUri", context):
                        api.fixed_route(key, unintegrated("http"), authorizer=authorizer)
                        return
                    api.route(
                        key, target, authorizer=authorizer, payload_format_version=version,
                        timeout=timeout,
                    )  # fmt: skip
                except TemplateError:
                    raise
                except ConfigurationError as exc:
                    raise where.error(str(exc), "RouteKey") from None
        else:
            context.warn(
                resource,
                f"IntegrationType {kind or 'none'!r} is not run locally (only AWS_PROXY to a "
                "Lambda function): its routes answer 500 as API Gateway does for an "
                "integration it cannot call",
            )

            def route(key: str, authorizer: Authorizer | None, where: CfnResource) -> None:
                try:
                    api.fixed_route(key, unintegrated("http"), authorizer=authorizer)
                except TemplateError:
                    raise
                except ConfigurationError as exc:
                    raise where.error(str(exc), "RouteKey") from None

        state.routes_by_integration[integration_id] = route
        return Built(None, integration_id, {"IntegrationId": integration_id})


_AUTHORIZER_PROPERTIES = {
    "authorizerUri": "AuthorizerUri",
    "identitySource": "IdentitySource",
    "authorizerResultTtlInSeconds": "AuthorizerResultTtlInSeconds",
    "enableSimpleResponses": "EnableSimpleResponses",
    "jwtConfiguration": "JwtConfiguration",
}
"""An Authorizer resource's properties by the OpenAPI keys they are read as."""


class HttpApiAuthorizerKind:
    """``AWS::ApiGatewayV2::Authorizer``: ``JWT`` (``JwtConfiguration``: ``Issuer``,
    ``Audience``; keys from ``{Issuer}/.well-known/jwks.json``) and ``REQUEST`` Lambda
    authorizers."""

    types: ClassVar[tuple[str, ...]] = ("AWS::ApiGatewayV2::Authorizer",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        props = resource.properties
        if props.get("ApiId") in template_apis(context).left_out:
            return Built(None, resource.logical_id)  # a part of a WebSocket API
        state = template_apis(context).of(props.get("ApiId"), resource, "ApiId")
        jwt = props.get("JwtConfiguration") or {}
        settings: dict[str, Any] = {
            "type": props.get("AuthorizerType"),
            "authorizerUri": props.get("AuthorizerUri"),
            "identitySource": props.get("IdentitySource"),
            "authorizerResultTtlInSeconds": props.get("AuthorizerResultTtlInSeconds"),
            "enableSimpleResponses": props.get("EnableSimpleResponses"),
            "authorizerPayloadFormatVersion": props.get("AuthorizerPayloadFormatVersion"),
        }
        if isinstance(jwt, Mapping):
            settings["jwtConfiguration"] = {
                "issuer": jwt.get("Issuer"),
                "audience": jwt.get("Audience"),
            }
        settings = {key: value for key, value in settings.items() if value is not None}
        authorizer = build_authorizer(
            state.api, settings, resource, "AuthorizerType", context, _AUTHORIZER_PROPERTIES
        )
        return state.add_authorizer(resource, authorizer)


class HttpApiRouteKind:
    """``AWS::ApiGatewayV2::Route``."""

    types: ClassVar[tuple[str, ...]] = ("AWS::ApiGatewayV2::Route",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        props = resource.properties
        if props.get("ApiId") in template_apis(context).left_out:
            return Built(None, resource.logical_id)  # a part of a WebSocket API
        state = template_apis(context).of(props.get("ApiId"), resource, "ApiId")
        key = props.get("RouteKey")
        if not isinstance(key, str):
            raise resource.error("a route key such as 'GET /orders/{id}' or '$default'", "RouteKey")
        target = props.get("Target")
        integration = target.removeprefix("integrations/") if isinstance(target, str) else None
        route = state.routes_by_integration.get(integration or "")
        if route is None:
            raise resource.error("integrations/{id} of an Integration of this API", "Target")
        authorizer = self._authorizer(props, state, resource)
        context.after_build(lambda: route(key, authorizer, resource))
        route_id = api_id("route", f"{state.api.id}:{resource.logical_id}")[:7]
        return Built(None, route_id, {"RouteId": route_id})

    @staticmethod
    def _authorizer(
        props: Mapping[str, Any], state: ApiState, resource: CfnResource
    ) -> Authorizer | None:
        kind = str(props.get("AuthorizationType", "NONE")).upper()
        if props.get("AuthorizerId") is not None and kind not in ("JWT", "CUSTOM"):
            # the authorizer is used only with these types: never serve the route open
            raise resource.error(f"{kind!r} with an AuthorizerId: JWT or CUSTOM",
                                 "AuthorizationType")  # fmt: skip
        if kind == "NONE":
            return None
        if kind == "AWS_IAM":
            return SigV4Authorizer()
        if kind not in ("JWT", "CUSTOM"):
            raise resource.error(f"{kind!r}: NONE, JWT, CUSTOM or AWS_IAM", "AuthorizationType")
        found = state.authorizers.get(props.get("AuthorizerId"))  # type: ignore[arg-type]
        if found is None:
            raise resource.error("not an authorizer of this API", "AuthorizerId")
        scopes = props.get("AuthorizationScopes") or []
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise resource.error("a list of scopes", "AuthorizationScopes")
        requiring = getattr(found, "requiring", None)
        if scopes and requiring is not None:
            found = requiring(*scopes)
        return found


class HttpApiStageKind:
    """``Stage`` (``StageName``, ``StageVariables``); ``Deployment`` means nothing locally."""

    types: ClassVar[tuple[str, ...]] = ("AWS::ApiGatewayV2::Stage", "AWS::ApiGatewayV2::Deployment")

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        props = resource.properties
        if props.get("ApiId") in template_apis(context).left_out:
            return Built(None, resource.logical_id)  # a part of a WebSocket API
        state = template_apis(context).of(props.get("ApiId"), resource, "ApiId")
        if resource.type == "AWS::ApiGatewayV2::Deployment":
            return Built(None, api_id("deployment", f"{state.api.id}:{resource.logical_id}"))
        stage = props.get("StageName")
        if not isinstance(stage, str):
            raise resource.error("a stage needs a name", "StageName")
        variables = props.get("StageVariables")
        for settings in ("DefaultRouteSettings", "RouteSettings"):
            if "Throttling" in json.dumps(props.get(settings) or {}):
                context.warn(resource, f"{settings}: throttling is not enforced locally")
        try:
            state.api.add_stage(stage, variables)
        except TemplateError:
            raise
        except ConfigurationError as exc:
            raise resource.error(str(exc), "StageVariables" if variables else "StageName") from None
        state.stages.append((stage, True))
        return Built(None, stage)


register(HttpApiKind())
register(HttpApiIntegrationKind())
register(HttpApiAuthorizerKind())
register(HttpApiRouteKind())
register(HttpApiStageKind())
