"""An API's OpenAPI (swagger 2.0 or OpenAPI 3) ``Body`` turned into routes, as API Gateway
imports it: each operation's ``x-amazon-apigateway-integration`` (``aws_proxy`` to a Lambda
function; ``mock``; anything else warned and answered as an integration API Gateway cannot
call), its ``security`` (authorizers, REST API keys) and ``x-amazon-apigateway-auth`` (IAM
authorization), ``x-amazon-apigateway-any-method`` as
``ANY``, and ``$default`` (HTTP APIs)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from eventmesh._errors import ConfigurationError
from eventmesh.gateway.apis import Api, FixedResponse, HttpApi, RestApi
from eventmesh.gateway.authorization import Authorizer
from eventmesh.gateway.authorizers.fixed import RefusingAuthorizer, SigV4Authorizer
from eventmesh.sam._errors import TemplateError
from eventmesh.sam._model import BuildContext, CfnResource
from eventmesh.sam.kinds._apis import (
    boolean,
    check_function,
    function_of_uri,
    function_reachable,
    mock_answer,
    strings,
    timeout_of,
    unintegrated,
)

__all__ = ["API_KEY", "build_authorizer", "routes_from_body", "security_schemes"]

_METHODS = {"get", "put", "post", "delete", "options", "head", "patch"}
_ANY = "x-amazon-apigateway-any-method"
API_KEY = "api_key"
"""What a security scheme of REST's ``x-api-key`` header stands for (not an authorizer)."""


def security_schemes(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """swagger 2.0's ``securityDefinitions`` or OpenAPI 3's ``components.securitySchemes``."""
    schemes = body.get("securityDefinitions")
    if not isinstance(schemes, Mapping):
        components = body.get("components")
        schemes = components.get("securitySchemes") if isinstance(components, Mapping) else None
    return schemes if isinstance(schemes, Mapping) else {}


def _ttl(value: Any, where: str, resource: CfnResource) -> float:
    if value is None:
        return 300.0
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise resource.error(f"seconds from 0 to 3600, got {value!r}", where)
    try:
        return float(value)
    except ValueError:
        raise resource.error(f"seconds from 0 to 3600, got {value!r}", where) from None


def _sources(value: Any, resource: CfnResource, where: str) -> list[str]:
    """Identity sources: REST's comma-separated string, or HTTP APIs' list."""
    items = value.split(",") if isinstance(value, str) else strings(value, resource, where)
    return [item.strip() for item in items if item.strip()]


def build_authorizer(
    api: Api,
    settings: Mapping[str, Any],
    resource: CfnResource,
    where: str,
    context: BuildContext,
    properties: Mapping[str, str] | None = None,
) -> Authorizer:
    """The mesh's authorizer for one API Gateway authorizer, given in OpenAPI's spelling
    (``x-amazon-apigateway-authorizer``: ``type`` token/request/jwt/cognito_user_pools,
    ``authorizerUri``, ``identitySource``, ``authorizerResultTtlInSeconds``,
    ``identityValidationExpression``, ``jwtConfiguration``, ``enableSimpleResponses``,
    ``authorizerPayloadFormatVersion``). Errors name ``{where}.{key}``, or for the explicit
    Authorizer resources the CloudFormation property ``properties`` gives for the key."""

    def at(key: str) -> str:
        return (properties or {}).get(key, f"{where}.{key}")

    kind = str(settings.get("type", "")).lower()
    try:
        if kind in ("token", "request"):
            target = function_of_uri(
                settings.get("authorizerUri"), resource, at("authorizerUri"), context
            )
            context.after_build(
                lambda: check_function(target, resource, at("authorizerUri"), context)
            )
            options: dict[str, Any] = {
                "type": kind.upper(),
                "identity_sources": _sources(
                    settings.get("identitySource"), resource, at("identitySource")
                ),
                "ttl": _ttl(
                    settings.get("authorizerResultTtlInSeconds"),
                    at("authorizerResultTtlInSeconds"),
                    resource,
                ),
            }
            if settings.get("identityValidationExpression"):
                options["token_validation"] = str(settings["identityValidationExpression"])
            if isinstance(api, HttpApi):
                options["simple_responses"] = boolean(
                    settings.get("enableSimpleResponses"),
                    resource,
                    at("enableSimpleResponses"),
                )
                if (
                    not options["identity_sources"]
                    and "authorizerResultTtlInSeconds" not in settings
                ):
                    options["ttl"] = 0.0
            return api.lambda_authorizer(target, **options)
        if kind == "jwt" and isinstance(api, HttpApi):
            jwt = settings.get("jwtConfiguration") or {}
            issuer = jwt.get("issuer") if isinstance(jwt, Mapping) else None
            audiences = jwt.get("audience") if isinstance(jwt, Mapping) else None
            if not isinstance(issuer, str) or not issuer:
                raise resource.error("a JWT authorizer needs an issuer", at("jwtConfiguration"))
            sources = _sources(settings.get("identitySource"), resource, at("identitySource")) or [
                "$request.header.Authorization"
            ]
            return api.jwt_authorizer(
                issuer=issuer,
                audiences=audiences or [],
                jwks_url=issuer.rstrip("/") + "/.well-known/jwks.json",
                identity_source=sources[0],
            )
        if kind == "cognito_user_pools":
            context.warn(
                resource,
                f"{where}: a Cognito user pool authorizer cannot check tokens locally (the "
                'mesh has no user pool): its routes answer 401 {"message":"Unauthorized"}',
            )
            return RefusingAuthorizer("Cognito user pool authorizer")
    except TemplateError:
        raise
    except ConfigurationError as exc:
        raise resource.error(str(exc), where) from None
    raise resource.error(f"authorizer type {settings.get('type')!r} is not supported", where)


_AUTH = "x-amazon-apigateway-auth"
"""An operation's authorization type (``type``: ``AWS_IAM`` or ``NONE``), besides its
``security``."""
_NONE = "NONE"
"""The scheme name SAM writes for an HTTP API route's ``Auth: {Authorizer: NONE}`` (a route
opted out of the ``DefaultAuthorizer``): no authorization, unless the definition declares a
scheme of that name."""


def _check_security(security: Any, resource: CfnResource, where: str) -> None:
    """``security`` as OpenAPI has it: a list of mappings of scheme names to lists of scopes
    (any other shape is an error, never read as no security)."""
    if not isinstance(security, list):
        raise resource.error("a list of security requirements ({scheme: [scopes]})", where)
    for index, requirement in enumerate(security):
        if not isinstance(requirement, Mapping):
            raise resource.error("a mapping of security scheme names to scopes",
                                 f"{where}[{index}]")  # fmt: skip
        for name, scopes in requirement.items():
            if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
                raise resource.error("a list of scopes", f"{where}[{index}].{name}")


class _Schemes:
    """The API's security schemes, each built once (a Lambda authorizer's cache is shared by
    the routes using it, as on AWS)."""

    def __init__(
        self, api: Api, body: Mapping[str, Any], resource: CfnResource, context: BuildContext
    ) -> None:
        self.api = api
        self.schemes = security_schemes(body)
        self.resource = resource
        self.context = context
        self.built: dict[str, Authorizer | str] = {}
        self.versions: dict[int, str] = {}
        """An HTTP API Lambda authorizer's declared payload format, by the id of the
        authorizer (its routes' scoped views included)."""
        self.default = body.get("security")
        if self.default is not None:
            _check_security(self.default, resource, "Body.security")

    def get(self, name: str, where: str) -> Authorizer | str:
        if name in self.built:
            return self.built[name]
        scheme = self.schemes.get(name)
        if not isinstance(scheme, Mapping):
            raise self.resource.error(f"no security scheme {name!r}", where)
        place = f"Body.securityDefinitions.{name}"
        authorizer = scheme.get("x-amazon-apigateway-authorizer")
        auth_type = str(scheme.get("x-amazon-apigateway-authtype", "")).lower()
        found: Authorizer | str
        if isinstance(authorizer, Mapping):
            settings = dict(authorizer)
            header = scheme.get("name")
            if str(settings.get("type")).lower() == "token" and "identitySource" not in settings:
                # a TOKEN authorizer's token is the header the scheme names
                settings["identitySource"] = f"method.request.header.{header or 'Authorization'}"
            found = build_authorizer(self.api, settings, self.resource, place, self.context)
            if "authorizerPayloadFormatVersion" in settings:
                self.versions[id(found)] = str(settings["authorizerPayloadFormatVersion"])
        elif auth_type == "awssigv4":
            found = SigV4Authorizer()
        elif scheme.get("type") == "apiKey" and str(scheme.get("name", "")).lower() == "x-api-key":
            found = API_KEY
        else:
            raise self.resource.error(
                f"security scheme {name!r}: neither an API Gateway authorizer, AWS_IAM nor an "
                "x-api-key API key",
                place,
            )
        self.built[name] = found
        return found

    def of(self, operation: Mapping[str, Any], where: str) -> tuple[Authorizer | None, bool]:
        """The operation's authorizer (with its scopes) and whether it needs an API key."""
        if "security" in operation:
            security = operation["security"]
            _check_security(security, self.resource, f"{where}.security")
        else:
            security = self.default
        authorizer: Authorizer | None = None
        api_key = False
        for requirement in security or ():
            for name, scopes in requirement.items():
                if name == _NONE and name not in self.schemes:
                    continue  # SAM's Auth: {Authorizer: NONE} under a DefaultAuthorizer
                found = self.get(str(name), f"{where}.security")
                if found == API_KEY:
                    if isinstance(self.api, HttpApi):
                        raise self.resource.error("HTTP APIs have no API keys", f"{where}.security")
                    api_key = True
                    continue
                assert not isinstance(found, str)
                if authorizer is not None and authorizer is not found:
                    raise self.resource.error("one authorizer per operation", f"{where}.security")
                authorizer = found
                requiring = getattr(found, "requiring", None)
                if scopes and requiring is not None:
                    authorizer = requiring(*scopes)
        if _AUTH in operation and self._iam(operation[_AUTH], f"{where}.{_AUTH}"):
            if authorizer is not None:
                raise self.resource.error(
                    "one authorizer per operation (security names one)", f"{where}.{_AUTH}"
                )
            authorizer = SigV4Authorizer()
        return authorizer, api_key

    def _iam(self, auth: Any, where: str) -> bool:
        """Whether ``x-amazon-apigateway-auth`` asks for IAM authorization (type AWS_IAM,
        any case) rather than none (NONE)."""
        kind = auth.get("type") if isinstance(auth, Mapping) else None
        if not isinstance(kind, str) or kind.upper() not in ("AWS_IAM", "NONE"):
            raise self.resource.error(f"AWS_IAM or NONE, got {kind!r}", f"{where}.type")
        return kind.upper() == "AWS_IAM"


_NOT_HONOURED = {
    "x-amazon-apigateway-gateway-responses": "custom gateway responses are not used locally "
    "(API Gateway's default answers are sent)",
    "x-amazon-apigateway-request-validators": "requests are not validated locally",
    "x-amazon-apigateway-policy": "the resource policy is not enforced locally",
}
"""Extensions of an API definition the mesh does not honour (warned)."""


def routes_from_body(
    api: Api, body: Mapping[str, Any], resource: CfnResource, context: BuildContext
) -> Callable[[], None]:
    """A step adding the routes of ``body`` to ``api``, to run once every resource is built
    (the functions the integrations name exist then)."""
    if not isinstance(body.get("paths"), Mapping):
        raise resource.error("the API definition has no paths", "Body.paths")
    schemes = _Schemes(api, body, resource, context)
    rest = isinstance(api, RestApi)
    for extension, what in _NOT_HONOURED.items():
        if body.get(extension):
            context.warn(resource, f"Body.{extension}: {what}")

    def add_routes() -> None:
        for path, item in body["paths"].items():
            if not isinstance(item, Mapping):
                continue
            for method, operation in item.items():
                lowered = str(method).lower()
                if lowered not in _METHODS and method != _ANY:
                    continue  # parameters, summary, other extensions
                verb = "ANY" if method == _ANY else lowered.upper()
                default = path in ("$default", "/$default") or (
                    isinstance(operation, Mapping) and operation.get("isDefaultRoute") is True
                )
                key = "$default" if default and not rest else f"{verb} {_route_path(path, rest)}"
                where = f"Body.paths.{path}.{method}"
                if isinstance(operation, Mapping) and _INTEGRATION in operation:
                    integration = _referred(
                        body, operation[_INTEGRATION], resource, f"{where}.{_INTEGRATION}"
                    )
                    operation = {**operation, _INTEGRATION: integration}
                _add(api, key, operation, where, resource, context, schemes, rest)

    return add_routes


_INTEGRATION = "x-amazon-apigateway-integration"


def _route_path(path: Any, rest: bool) -> Any:
    """A REST API's path without a trailing slash: API Gateway imports ``/orders/`` as the
    resource ``/orders`` (SAM's ``Api`` events with ``Path: /orders/`` deploy so); an HTTP
    API's route keeps it, and is refused as API Gateway refuses it."""
    if rest and isinstance(path, str) and len(path) > 1 and path.endswith("/"):
        return path.rstrip("/") or "/"
    return path


def _referred(body: Mapping[str, Any], value: Any, resource: CfnResource, where: str) -> Any:
    """``value``, or what its ``$ref`` names in the definition (``#/components/
    x-amazon-apigateway-integrations/name``, as API Gateway exports an HTTP API's shared
    integrations)."""
    if not isinstance(value, Mapping) or "$ref" not in value:
        return value
    ref = value["$ref"]
    if not isinstance(ref, str) or not ref.startswith("#/"):
        raise resource.error(f"{ref!r}: only a reference within the definition (#/...)",
                             f"{where}.$ref")  # fmt: skip
    found: Any = body
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(found, Mapping) or part not in found:
            raise resource.error(f"{ref!r} names nothing in the definition", f"{where}.$ref")
        found = found[part]
    return found


def _add(
    api: Api, key: str, operation: Any, where: str, resource: CfnResource,
    context: BuildContext, schemes: _Schemes, rest: bool,
) -> None:  # fmt: skip
    if not isinstance(operation, Mapping):
        raise resource.error("an operation is a mapping", where)
    authorizer, api_key = schemes.of(operation, where)
    integration = operation.get("x-amazon-apigateway-integration")
    place = f"{where}.x-amazon-apigateway-integration"
    kind = str(integration.get("type", "")).lower() if isinstance(integration, Mapping) else ""
    if isinstance(integration, Mapping) and integration.get("integrationSubtype"):
        kind = f"{kind} {integration['integrationSubtype']}"  # an AWS service, not a function
    try:
        if isinstance(integration, Mapping) and kind == "aws_proxy":
            uri = integration.get("uri", integration.get("integrationUri"))
            target = function_of_uri(uri, resource, f"{place}.uri", context)
            if integration.get("responseTransferMode") == "STREAM" or (
                isinstance(uri, str) and uri.endswith("/response-streaming-invocations")
            ):
                context.warn(
                    resource,
                    f"{place}: response streaming (responseTransferMode STREAM): the response "
                    "is buffered and sent whole locally",
                )
            if not function_reachable(target, uri, resource, f"{place}.uri", context):
                unreachable = unintegrated(api.api_kind)
                api.fixed_route(key, unreachable, authorizer=authorizer, api_key_required=api_key)
                return
            options: dict[str, Any] = {"authorizer": authorizer}
            if rest:
                options["api_key_required"] = api_key
            else:
                version = str(integration.get("payloadFormatVersion", "1.0"))
                options["payload_format_version"] = version
                declared = schemes.versions.get(id(authorizer))
                if declared is not None and declared != version:
                    context.warn(
                        resource,
                        f"{where}: the authorizer's payload format {declared} differs from "
                        f"the route's {version}; the mesh sends a Lambda authorizer the "
                        "route's payload version",
                    )
            timeout = timeout_of(integration.get("timeoutInMillis"), resource,
                                 f"{place}.timeoutInMillis")  # fmt: skip
            if timeout is not None:
                options["timeout"] = timeout
            api.route(key, target, **options)
            return
        answer: FixedResponse
        if isinstance(integration, Mapping) and kind == "mock":
            answer = mock_answer(integration, resource, place)
        else:
            shown = kind or "none"
            context.warn(
                resource,
                f"{place}: integration type {shown!r} is not run locally (only aws_proxy to a "
                "Lambda function and mock): the route answers 500 as API Gateway does for an "
                "integration it cannot call",
            )
            answer = unintegrated(api.api_kind)
        api.fixed_route(key, answer, authorizer=authorizer, api_key_required=api_key)
    except TemplateError:
        raise
    except ConfigurationError as exc:
        raise resource.error(str(exc), where) from None
