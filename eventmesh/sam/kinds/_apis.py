"""What the API kinds of a template share: the template's APIs as they are being built,
integration URIs turned into functions, OpenAPI integrations, and where each API is served.

**Where a template's APIs are served.** Every API is reached by its execute-api host
(``{id}.execute-api.<anything>``, then ``/{stage}/...`` for each stage the template gives
it). Without that host: a template with one API (and no API of the mesh at the root) serves
it at the root of the HTTP front, as ``sam local start-api`` does; with several, each is
served under its logical id (``/MyApi/...``, ``/ServerlessHttpApi/...``). The base path is
that API's primary stage: the first ``Stage`` resource of the template for it, else its
``Deployment``'s ``StageName``.

**Ids.** An API's id is the gateway's, derived from its name (the logical id, or the API's
``Name``), so it is the same from one run to the next; ``Ref`` gives it.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eventmesh._errors import ConfigurationError
from eventmesh.declare._values import flag
from eventmesh.gateway.apis import Api, FixedResponse
from eventmesh.gateway.authorization import Authorizer
from eventmesh.gateway.ids import api_id
from eventmesh.sam._errors import TemplateError
from eventmesh.sam._model import BuildContext, Built, CfnResource

__all__ = [
    "ApiState",
    "TemplateApis",
    "boolean",
    "function_of_arn",
    "function_of_uri",
    "function_reachable",
    "max_age",
    "mock_answer",
    "status_code",
    "strings",
    "template_apis",
    "timeout_of",
    "unintegrated",
]

_INVOCATIONS = re.compile(
    r"^arn:[^:]+:apigateway:[^:]*:lambda:path/[^/]+/functions/(.+)/"
    r"(?:response-streaming-)?invocations$"
)
_LAMBDA_ARN = re.compile(
    r"^arn:[^:]+:lambda:[^:]*:[^:]*:function:([A-Za-z0-9_-]{1,64})(?::([A-Za-z0-9$_-]+))?$"
)


def function_of_arn(arn: Any, context: BuildContext) -> str | None:
    """``name`` or ``name:qualifier`` of a Lambda function (or alias, version) ARN, or of a
    bare name; None when it is not one."""
    if not isinstance(arn, str) or not arn:
        return None
    found = _LAMBDA_ARN.match(arn)
    if found is not None:
        name, qualifier = found.group(1), found.group(2)
        return name if qualifier is None else f"{name}:{qualifier}"
    if re.fullmatch(r"[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]+)?", arn):
        return arn
    return None


def function_of_uri(uri: Any, resource: CfnResource, where: str, context: BuildContext) -> str:
    """The function an integration's URI invokes (API Gateway's
    ``arn:...:apigateway:{region}:lambda:path/2015-03-31/functions/{function ARN}/invocations``,
    or ``.../2021-11-15/functions/{function ARN}/response-streaming-invocations`` for a REST
    API's response streaming, invoked alike: the response is not streamed locally),
    or the function's ARN as HTTP APIs also take), as ``name`` or ``name:qualifier``."""
    text = uri if isinstance(uri, str) else None
    if text is not None and "${stageVariables." in text:
        raise resource.error(
            f"{text!r}: a function chosen by a stage variable is not supported; name the "
            "function (or its alias) in the URI",
            where,
        )
    found = _INVOCATIONS.match(text or "")
    target = function_of_arn(found.group(1) if found else text, context)
    if target is None:
        raise resource.error(
            f"{uri!r} is not a Lambda integration URI "
            "(arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<ARN>/invocations)",
            where,
        )
    return target


def function_reachable(
    target: str, uri: Any, resource: CfnResource, where: str, context: BuildContext
) -> bool:
    """Whether a route's function is in the template or the mesh. One named by ARN that is in
    neither (another stack's) is out of the mesh's reach: warned about, False (the route then
    answers as API Gateway does for an integration it cannot call); one named otherwise is
    :func:`check_function`'s error."""
    name = target.split(":", 1)[0]
    if name in context.mesh.functions:
        return True
    if isinstance(uri, str) and uri.startswith("arn:"):
        context.warn(
            resource,
            f"{where}: the function {name} is neither in the template nor in the mesh "
            "(another stack's): the route answers 500 as API Gateway does for an integration "
            "it cannot call",
        )
        return False
    check_function(target, resource, where, context)
    return True


def check_function(target: str, resource: CfnResource, where: str, context: BuildContext) -> None:
    """A clear error when the function a route or authorizer names is neither in the template
    nor in the mesh (its alias is checked when the API starts)."""
    name = target.split(":", 1)[0]
    if name not in context.mesh.functions:
        raise resource.error(f"no function {name!r} in the template or the mesh", where)


def status_code(value: Any, resource: CfnResource, where: str) -> int:
    """An integration response's status code (``"200"`` or 200): 100 to 599."""
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not re.fullmatch(r"[1-5][0-9][0-9]", text):
        raise resource.error(f"an HTTP status code such as '200', got {value!r}", where)
    return int(text)


def timeout_of(value: Any, resource: CfnResource, where: str) -> float | None:
    """An integration's ``timeoutInMillis`` in seconds (None when not given)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise resource.error(f"milliseconds, got {value!r}", where)
    try:
        return float(value) / 1000
    except ValueError:
        raise resource.error(f"milliseconds, got {value!r}", where) from None


def boolean(value: Any, resource: CfnResource, where: str, default: bool = False) -> bool:
    """CloudFormation's Boolean: true/false or their texts (a parameter's value)."""
    if value is None:
        return default
    parsed = flag(value, any_case=True)
    if parsed is None:
        raise resource.error(f"true or false, got {value!r}", where)
    return parsed


_CORS = {
    "allowOrigins": "allow_origins",
    "allowMethods": "allow_methods",
    "allowHeaders": "allow_headers",
    "exposeHeaders": "expose_headers",
    "maxAge": "max_age",
    "allowCredentials": "allow_credentials",
}


def cors_settings(
    value: Any, resource: CfnResource, where: str, *, camel_case: bool
) -> dict[str, Any] | None:
    """A CORS configuration as ``cors=`` takes it: CloudFormation's ``AllowOrigins``,
    ``AllowMethods``, ``AllowHeaders``, ``ExposeHeaders``, ``MaxAge``, ``AllowCredentials``
    (an HTTP API's ``CorsConfiguration``, a function URL's ``Cors``), or with ``camel_case``
    also OpenAPI's ``allowOrigins``... (``x-amazon-apigateway-cors``). None when not given."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise resource.error("a mapping of AllowOrigins, AllowMethods, ...", where)
    settings: dict[str, Any] = {}
    for key, item in value.items():
        spelled = isinstance(key, str) and (camel_case or key[:1].isupper())
        name = key[:1].lower() + key[1:] if spelled else ""
        setting = _CORS.get(name)
        if setting is None:
            known = ", ".join(n[:1].upper() + n[1:] for n in _CORS)
            raise resource.error(f"unknown CORS setting {key!r}; known: {known}", where)
        settings[setting] = max_age(item, resource, f"{where}.{key}") if name == "maxAge" else item
    return settings


def max_age(value: Any, resource: CfnResource, where: str) -> int:
    """A CORS max age in seconds (``600`` or ``"600"``, as a parameter gives it)."""
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not re.fullmatch(r"-?[0-9]+", text.strip()):
        raise resource.error(f"max age: seconds, got {value!r}", where)
    return int(text)


def strings(value: Any, resource: CfnResource, where: str) -> list[str]:
    """A list of strings (None: empty); anything else is an error naming ``where``."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise resource.error(f"a list of strings, got {value!r}", where)
    return list(value)


def mock_answer(integration: Mapping[str, Any], resource: CfnResource, where: str) -> FixedResponse:
    """A mock integration's answer: the ``default`` response (else the first) with its
    status, its ``method.response.header.*`` values given as quoted literals, and its
    ``application/json`` response template as the body, as API Gateway renders a template
    without variables. ``where``: the integration's place, for errors."""
    responses = integration.get("responses") or {}
    if not isinstance(responses, Mapping):
        raise resource.error("a mapping of selection patterns to responses", f"{where}.responses")
    name: Any = "default" if "default" in responses else next(iter(responses), None)
    chosen: Any = responses.get(name) if name is not None else {}
    place = f"{where}.responses.{name}"
    if not isinstance(chosen, Mapping):
        raise resource.error("a response (statusCode, responseParameters, ...)", place)
    status = status_code(chosen.get("statusCode", "200"), resource, f"{place}.statusCode")
    headers: list[tuple[str, str]] = []
    parameters = chosen.get("responseParameters") or {}
    if not isinstance(parameters, Mapping):
        raise resource.error("a mapping of response parameters", f"{place}.responseParameters")
    templates = chosen.get("responseTemplates") or {}
    if not isinstance(templates, Mapping):
        raise resource.error("a mapping of content types to templates",
                             f"{place}.responseTemplates")  # fmt: skip
    body = ""
    if isinstance(templates, Mapping) and templates:
        content_type = (
            "application/json" if "application/json" in templates else next(iter(templates))
        )
        body = str(templates[content_type])
        headers.append(("content-type", str(content_type)))
    else:
        headers.append(("content-type", "application/json"))
    for key, value in parameters.items():
        prefix = "method.response.header."
        text = str(value)
        if str(key).startswith(prefix) and len(text) >= 2 and text[0] == text[-1] == "'":
            headers.append((str(key)[len(prefix) :].lower(), text[1:-1]))
    return FixedResponse(status, tuple(headers), body.encode())


def unintegrated(api_kind: str) -> FixedResponse:
    """What a route answers when its integration cannot run locally: API Gateway's answer to
    an integration it cannot call (a configuration error): REST 500
    ``{"message": "Internal server error"}``, HTTP APIs 500
    ``{"message":"Internal Server Error"}``."""
    if api_kind == "rest":
        body = b'{"message": "Internal server error"}'
        headers = (("content-type", "application/json"),
                   ("x-amzn-ErrorType", "InternalServerErrorException"))  # fmt: skip
        return FixedResponse(500, headers, body)
    return FixedResponse(
        500, (("content-type", "application/json"),), b'{"message":"Internal Server Error"}'
    )


@dataclass(slots=True)
class ApiState:
    """One API of the template while it is built."""

    logical_id: str
    api: Api
    stages: list[tuple[str, bool]] = field(default_factory=list)
    """Stage names in template order, and whether a ``Stage`` resource declared it (True)
    or a ``Deployment``'s ``StageName`` (False)."""
    resources: dict[str, str] = field(default_factory=dict)
    """REST resource ids (``Ref`` of ``AWS::ApiGateway::Resource``, the root's id) to paths."""
    authorizers: dict[str, Authorizer] = field(default_factory=dict)
    """Authorizer ids (``Ref`` of an ``Authorizer`` resource) to the mesh's authorizers."""
    routes_by_integration: dict[str, Callable[[str, Authorizer | None, CfnResource], None]] = field(
        default_factory=dict
    )
    """HTTP API integration ids to a function adding a route to it (the route key, its
    authorizer, the ``Route`` resource)."""

    def add_authorizer(self, resource: CfnResource, authorizer: Authorizer) -> Built:
        """Record an ``Authorizer`` resource's authorizer under its id (stable: made of the
        API's id and the logical id) and give what ``Ref`` and ``GetAtt`` return for it."""
        authorizer_id = api_id("authorizer", f"{self.api.id}:{resource.logical_id}")[:6]
        self.authorizers[authorizer_id] = authorizer
        return Built(authorizer, authorizer_id, {"AuthorizerId": authorizer_id})


class TemplateApis:
    """The APIs of one template being built, by id; it mounts them once all are built."""

    def __init__(self, context: BuildContext) -> None:
        self.context = context
        self.apis: dict[str, ApiState] = {}
        self.keys: dict[str, Any] = {}
        """API key ids to the template's keys (:mod:`.api_keys`)."""
        self.plans: dict[str, list[tuple[str, Any]]] = {}
        """Usage plan ids to the ids of the APIs they cover, each with its stage (None: every
        stage)."""
        self.left_out: set[str] = set()
        """The ``Ref`` of APIs left out (WebSocket APIs): their parts are left out too."""
        context.after_build(self._mount)

    def add(self, logical_id: str, api: Api) -> ApiState:
        state = ApiState(logical_id, api)
        self.apis[api.id] = state
        return state

    def of(self, api_id: Any, resource: CfnResource, where: str) -> ApiState:
        state = self.apis.get(api_id) if isinstance(api_id, str) else None
        if state is None:
            raise resource.error(f"{api_id!r} is not an API of this template", where)
        return state

    def _mount(self) -> None:
        root_taken = any(api.base_path == "" for api in self.context.mesh.context.resources_of(Api))
        alone = len(self.apis) == 1 and not root_taken
        for state in self.apis.values():
            api = state.api
            declared = [name for name, by_stage in state.stages if by_stage]
            named = [name for name, _ in state.stages]
            primary = (declared or named or [api.stage])[0]
            try:
                api.make_primary(primary)
                for stage in list(api.stages):
                    if named and stage not in named:
                        del api.stages[stage]  # the gateway's default, not the template's
                api.mount("" if alone else state.logical_id)
            except TemplateError:
                raise
            except ConfigurationError as exc:
                raise TemplateError(f"Resources.{state.logical_id}: {exc}") from None


_STATES: weakref.WeakKeyDictionary[Any, TemplateApis] = weakref.WeakKeyDictionary()


def template_apis(context: BuildContext) -> TemplateApis:
    """The :class:`TemplateApis` of the template ``context`` builds."""
    state = _STATES.get(context)
    if state is None:
        state = _STATES[context] = TemplateApis(context)
    return state
