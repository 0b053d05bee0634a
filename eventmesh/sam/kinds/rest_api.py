"""API Gateway REST APIs (``AWS::ApiGateway::*``): what SAM's ``Api`` events and
``AWS::Serverless::Api`` become, and the explicit form, as the mesh's REST APIs.

* ``RestApi`` with a ``Body`` (swagger 2.0 or OpenAPI 3): its routes, authorizers, API keys,
  binary media types and SAM's CORS ``OPTIONS`` methods (see :mod:`._openapi`);
  ``BinaryMediaTypes`` (``~1`` for ``/``) and ``ApiKeySourceType`` as properties too.
  ``BodyS3Location`` (not local) is refused. ``Ref``: the API's id; ``RootResourceId``.
* ``Resource`` (``ParentId``, ``PathPart``) + ``Method`` (``HttpMethod``, ``Integration``
  ``AWS_PROXY``/``MOCK``, ``AuthorizationType``, ``AuthorizerId``, ``ApiKeyRequired``) +
  ``Authorizer`` (``TOKEN``/``REQUEST``/``COGNITO_USER_POOLS``).
* ``Deployment`` (``StageName``, ``StageDescription.Variables``) and ``Stage``
  (``StageName``, ``Variables``): the stages the API is served at.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from eventmesh._errors import ConfigurationError
from eventmesh.gateway.apis import FixedResponse, RestApi
from eventmesh.gateway.authorization import Authorizer
from eventmesh.gateway.authorizers.fixed import SigV4Authorizer
from eventmesh.gateway.ids import api_id
from eventmesh.sam._errors import TemplateError
from eventmesh.sam._model import BuildContext, Built, CfnResource
from eventmesh.sam.kinds import register
from eventmesh.sam.kinds._apis import (
    boolean,
    function_of_uri,
    function_reachable,
    mock_answer,
    status_code,
    strings,
    template_apis,
    timeout_of,
    unintegrated,
)
from eventmesh.sam.kinds._openapi import build_authorizer, routes_from_body

__all__ = [
    "RestApiAuthorizerKind",
    "RestApiKind",
    "RestApiMethodKind",
    "RestApiResourceKind",
    "RestApiStageKind",
]

_WARNED = ("Policy", "MinimumCompressionSize", "DisableExecuteApiEndpoint", "CloneFrom")
"""Properties that change what a caller sees on AWS, not honoured locally (warned);
``Description``, ``Tags``, ``EndpointConfiguration``, ``FailOnWarnings``, ``Mode`` and
``Parameters`` are ignored quietly."""


def _name(resource: CfnResource) -> str:
    name = resource.properties.get("Name")
    return name if isinstance(name, str) and name else resource.logical_id


def root_resource_id(api: RestApi) -> str:
    """The id of the API's root resource (``GetAtt RootResourceId``): stable, as the API's."""
    return api_id("root", api.id)


class RestApiKind:
    types: ClassVar[tuple[str, ...]] = ("AWS::ApiGateway::RestApi",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        props = resource.properties
        if "BodyS3Location" in props:
            raise resource.error(
                "an API definition in S3 cannot be read locally: give it as Body (SAM's "
                "DefinitionBody, or DefinitionUri to a local file)",
                "BodyS3Location",
            )
        body = props.get("Body")
        if body is not None and not isinstance(body, Mapping):
            raise resource.error("the API definition is a mapping (OpenAPI)", "Body")
        body = body or {}
        types = strings(props.get("BinaryMediaTypes"), resource, "BinaryMediaTypes")
        extension = "x-amazon-apigateway-binary-media-types"
        types += strings(body.get(extension), resource, f"Body.{extension}")
        source = props.get("ApiKeySourceType", body.get("x-amazon-apigateway-api-key-source"))
        settings: dict[str, Any] = {
            "base_path": None,
            "binary_media_types": sorted({str(t).replace("~1", "/") for t in types}),
        }
        if source is not None:
            settings["api_key_source"] = source
        for ignored in _WARNED:
            if ignored in props:
                context.warn(resource, f"{ignored} is not honoured locally")
        try:
            api = context.mesh.rest_api(_name(resource), **settings)
        except TemplateError:
            raise
        except ConfigurationError as exc:
            raise resource.error(str(exc)) from None
        state = template_apis(context).add(resource.logical_id, api)
        state.resources[root_resource_id(api)] = "/"
        if body:
            context.after_build(routes_from_body(api, body, resource, context))
        return Built(api, api.id, {"RootResourceId": root_resource_id(api)})


class RestApiResourceKind:
    """``AWS::ApiGateway::Resource``: a path part under its parent (the root or another)."""

    types: ClassVar[tuple[str, ...]] = ("AWS::ApiGateway::Resource",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        props = resource.properties
        state = template_apis(context).of(props.get("RestApiId"), resource, "RestApiId")
        parent = state.resources.get(props.get("ParentId"))  # type: ignore[arg-type]
        if parent is None:
            raise resource.error("not the root or a resource of this API", "ParentId")
        part = props.get("PathPart")
        if not isinstance(part, str) or not part or "/" in part:
            raise resource.error("one path segment (a literal, {name} or {name+})", "PathPart")
        path = f"{parent.rstrip('/')}/{part}"
        resource_id = api_id("resource", f"{state.api.id}{path}")
        state.resources[resource_id] = path
        return Built(None, resource_id, {"ResourceId": resource_id})


_AUTHORIZER_PROPERTIES = {
    "authorizerUri": "AuthorizerUri",
    "identitySource": "IdentitySource",
    "authorizerResultTtlInSeconds": "AuthorizerResultTtlInSeconds",
    "identityValidationExpression": "IdentityValidationExpression",
}
"""An Authorizer resource's properties by the OpenAPI keys they are read as."""


class RestApiAuthorizerKind:
    """``AWS::ApiGateway::Authorizer``: ``TOKEN``/``REQUEST`` Lambda authorizers,
    ``COGNITO_USER_POOLS`` (refusing, warned)."""

    types: ClassVar[tuple[str, ...]] = ("AWS::ApiGateway::Authorizer",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        props = resource.properties
        state = template_apis(context).of(props.get("RestApiId"), resource, "RestApiId")
        settings = {
            "type": props.get("Type"),
            "authorizerUri": props.get("AuthorizerUri"),
            "identitySource": props.get("IdentitySource"),
            "authorizerResultTtlInSeconds": props.get("AuthorizerResultTtlInSeconds"),
            "identityValidationExpression": props.get("IdentityValidationExpression"),
        }
        settings = {key: value for key, value in settings.items() if value is not None}
        authorizer = build_authorizer(
            state.api, settings, resource, "Type", context, _AUTHORIZER_PROPERTIES
        )
        return state.add_authorizer(resource, authorizer)


class RestApiMethodKind:
    """``AWS::ApiGateway::Method``: a route of the resource's path."""

    types: ClassVar[tuple[str, ...]] = ("AWS::ApiGateway::Method",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        props = resource.properties
        state = template_apis(context).of(props.get("RestApiId"), resource, "RestApiId")
        api = state.api
        assert isinstance(api, RestApi)
        path = state.resources.get(props.get("ResourceId"))  # type: ignore[arg-type]
        if path is None:
            raise resource.error("not the root or a resource of this API", "ResourceId")
        method = str(props.get("HttpMethod", "")).upper()
        key = f"{method} {path}"
        authorizer = self._authorizer(props, state.authorizers, resource, context)
        api_key = boolean(props.get("ApiKeyRequired"), resource, "ApiKeyRequired")
        integration = props.get("Integration")
        kind = str(integration.get("Type", "")).upper() if isinstance(integration, Mapping) else ""

        def add() -> None:
            try:
                if isinstance(integration, Mapping) and kind == "AWS_PROXY":
                    uri = integration.get("Uri")
                    target = function_of_uri(uri, resource, "Integration.Uri", context)
                    if not function_reachable(target, uri, resource, "Integration.Uri", context):
                        api.fixed_route(key, unintegrated("rest"), authorizer=authorizer,
                                        api_key_required=api_key)  # fmt: skip
                        return
                    timeout = timeout_of(integration.get("TimeoutInMillis"), resource,
                                         "Integration.TimeoutInMillis")  # fmt: skip
                    api.route(key, target, authorizer=authorizer, api_key_required=api_key,
                              timeout=timeout)  # fmt: skip
                    return
                answer: FixedResponse
                if isinstance(integration, Mapping) and kind == "MOCK":
                    mock = _openapi_integration(integration, resource)
                    answer = mock_answer(mock, resource, "Integration")
                else:
                    context.warn(
                        resource,
                        f"Integration.Type {kind or 'none'!r} is not run locally (only "
                        "AWS_PROXY to a Lambda function and MOCK): the route answers 500 as "
                        "API Gateway does for an integration it cannot call",
                    )
                    answer = unintegrated("rest")
                api.fixed_route(key, answer, authorizer=authorizer, api_key_required=api_key)
            except TemplateError:
                raise
            except ConfigurationError as exc:
                raise resource.error(str(exc), "HttpMethod") from None

        context.after_build(add)
        return Built(None, resource.logical_id)

    @staticmethod
    def _authorizer(
        props: Mapping[str, Any],
        authorizers: Mapping[str, Authorizer],
        resource: CfnResource,
        context: BuildContext,
    ) -> Authorizer | None:
        kind = str(props.get("AuthorizationType", "NONE")).upper()
        if props.get("AuthorizerId") is not None and kind not in ("CUSTOM", "COGNITO_USER_POOLS"):
            # API Gateway uses AuthorizerId only with these types: never serve it open
            raise resource.error(
                f"{kind!r} with an AuthorizerId: CUSTOM or COGNITO_USER_POOLS",
                "AuthorizationType",
            )
        if kind == "NONE":
            return None
        if kind == "AWS_IAM":
            return SigV4Authorizer()
        if kind in ("CUSTOM", "COGNITO_USER_POOLS"):
            found = authorizers.get(props.get("AuthorizerId"))  # type: ignore[arg-type]
            if found is None:
                raise resource.error("not an authorizer of this API", "AuthorizerId")
            return found
        raise resource.error(f"{kind!r}: NONE, AWS_IAM, CUSTOM or COGNITO_USER_POOLS",
                             "AuthorizationType")  # fmt: skip


def _openapi_integration(integration: Mapping[str, Any], resource: CfnResource) -> dict[str, Any]:
    """A CloudFormation ``Integration`` (``IntegrationResponses``) in OpenAPI's spelling."""
    given = integration.get("IntegrationResponses") or []
    where = "Integration.IntegrationResponses"
    if not isinstance(given, list) or not all(isinstance(r, Mapping) for r in given):
        raise resource.error("a list of integration responses", where)
    for index, response in enumerate(given):
        status_code(response.get("StatusCode"), resource, f"{where}[{index}].StatusCode")
    responses: list[Mapping[str, Any]] = given
    # the default response is the one without a SelectionPattern (a mock's status selects it)
    defaults = [r for r in responses if not r.get("SelectionPattern")]
    first = (defaults or responses or [{}])[0]
    return {
        "responses": {
            "default": {
                "statusCode": first.get("StatusCode", "200"),
                "responseParameters": first.get("ResponseParameters") or {},
                "responseTemplates": first.get("ResponseTemplates") or {},
            }
        }
    }


class RestApiStageKind:
    """``Deployment`` (``StageName``: a stage) and ``Stage`` (``StageName``, ``Variables``)."""

    types: ClassVar[tuple[str, ...]] = ("AWS::ApiGateway::Deployment", "AWS::ApiGateway::Stage")

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        props = resource.properties
        state = template_apis(context).of(props.get("RestApiId"), resource, "RestApiId")
        stage = props.get("StageName")
        is_stage = resource.type == "AWS::ApiGateway::Stage"
        if stage is None:
            if is_stage:
                raise resource.error("a stage needs a name", "StageName")
            return Built(None, api_id("deployment", f"{state.api.id}:{resource.logical_id}"))
        if is_stage:
            variables = props.get("Variables")
        else:
            description = props.get("StageDescription") or {}
            variables = description.get("Variables") if isinstance(description, Mapping) else None
        try:
            state.api.add_stage(str(stage), variables)
        except TemplateError:
            raise
        except ConfigurationError as exc:
            raise resource.error(str(exc), "Variables" if variables else "StageName") from None
        state.stages.append((str(stage), is_stage))
        if is_stage:
            return Built(None, str(stage))
        return Built(None, api_id("deployment", f"{state.api.id}:{resource.logical_id}"))


register(RestApiKind())
register(RestApiResourceKind())
register(RestApiAuthorizerKind())
register(RestApiMethodKind())
register(RestApiStageKind())
