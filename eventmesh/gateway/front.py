"""The gateway of one mesh: picks the API (or function URL) a request is for and answers it.

The face calls :meth:`Gateway.handle` for every request that is not one of the mesh's own
paths; the answer carries what API Gateway's access logs record besides the response.

Which API a request is for, in this order:

1. the Host ``{api-id}.execute-api.<anything>``: that API. A REST API's path starts with its
   stage (``/prod/orders/1``), as on AWS's execute-api URLs; so does an HTTP API's unless its
   stage is ``$default``;
2. the Host ``{url-id}.lambda-url.<anything>``: that function URL;
3. a path ``/_lambda-url/{function-name}/...``: that function's URL (for clients without
   wildcard DNS); the rest of the path is the event's ``rawPath``. The prefix is reserved:
   a function without a URL there is 403, never an API's route;
4. otherwise the API whose base path (``base_path=``, default the root) is the longest prefix
   of the path, as a custom domain's API mappings: the base path is stripped before routing,
   so payload 2.0's ``rawPath`` leaves it out while payload 1.0's ``path`` keeps it, as AWS.

Base paths and the ``/_lambda-url/`` prefix are compared after decoding percent-encoded
unreserved characters (``/%61dmin`` is ``/admin``), so no spelling of a path slips past them.

A request no API claims gets 403 ``{"message":"Forbidden"}`` (a custom domain's answer for a
path no mapping covers).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import unquote

from eventmesh._http_messages import HttpRequest, HttpResponse
from eventmesh.gateway.apis import Api, RestApi
from eventmesh.gateway.errors import gateway_response
from eventmesh.gateway.events import Origin
from eventmesh.gateway.function_url import URL_PATH_PREFIX, FunctionUrl
from eventmesh.gateway.handling import Outcome, answer_api, answer_url, too_large
from eventmesh.gateway.ids import short_request_id, uuid_request_id
from eventmesh.gateway.integration import MAX_REQUEST_BODY, Integration
from eventmesh.resources.context import ResourceContext

__all__ = ["Gateway", "GatewayAnswer"]

logger = logging.getLogger("eventmesh.gateway")

_EXECUTE_API = re.compile(r"^([a-z0-9]{10})\.execute-api\.")
_LAMBDA_URL = re.compile(r"^([a-z0-9]{32})\.lambda-url\.")


@dataclass(slots=True)
class GatewayAnswer:
    """The response, and the access-log fields only the gateway knows: API Gateway's request
    id (``$context.requestId``), the API's id and stage, the route key matched (None when no
    route matched), the integration's latency in ms (None when no function was called), and
    the error message API Gateway would log (``$context.error.message``), if any."""

    response: HttpResponse
    request_id: str
    api_id: str | None = None
    stage: str | None = None
    route_key: str | None = None
    integration_latency_ms: float | None = None
    error: str | None = None


_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _unescape_unreserved(found: re.Match[str]) -> str:
    char = chr(int(found.group(1), 16))
    return char if char in _UNRESERVED else found.group(0)


def normalized(raw_path: str) -> str:
    """The raw path with percent-encoded unreserved characters decoded (RFC 3986
    §6.2.2.2: ``/%61dmin`` is ``/admin``), so that no spelling of a base path or of the
    function URLs' prefix slips past it; ``%2F`` stays encoded, so segments are the same."""
    return _ESCAPE.sub(_unescape_unreserved, raw_path) if "%" in raw_path else raw_path


def _after_base(raw_path: str, base_segments: int) -> str:
    """The raw path without its first ``base_segments`` segments: ``/v1/x`` -> ``/x``."""
    return "/" + "/".join(raw_path.split("/")[1 + base_segments :])


def _first_segment(raw_path: str) -> tuple[str, str]:
    """``/prod/orders/1`` -> (``prod``, ``/orders/1``)."""
    head, _, rest = raw_path.lstrip("/").partition("/")
    return unquote(head), "/" + rest


def _unexpected(api_kind: str, request: HttpRequest, exc: Exception) -> Outcome:
    logger.exception("the gateway failed on %s %s", request.method, request.path)
    return Outcome(gateway_response(api_kind, "internal"), error=repr(exc))


class Gateway:
    """Routes requests to the mesh's REST APIs, HTTP APIs and function URLs."""

    def __init__(self, context: ResourceContext) -> None:
        self._context = context
        self._integration = Integration(context)

    async def handle(self, request: HttpRequest) -> GatewayAnswer:
        """Answer one request; never raises (an unexpected failure is API Gateway's 500)."""
        try:
            return await self._handle(request)
        except Exception as exc:  # a bug must not become a traceback to the client
            logger.exception("the gateway failed on %s %s", request.method, request.path)
            return GatewayAnswer(
                gateway_response("http", "internal"), uuid_request_id(), error=repr(exc)
            )

    async def _handle(self, request: HttpRequest) -> GatewayAnswer:
        raw_path = request.raw_path or request.path or "/"
        host = request.host.split(":", 1)[0].lower()
        apis = self._context.resources_of(Api)
        if found := _EXECUTE_API.match(host):
            api = next((a for a in apis if a.id == found.group(1)), None)
            if api is None:
                return self._unclaimed()
            return await self._api(api, request, raw_path, by_host=True)
        if found := _LAMBDA_URL.match(host):
            urls = self._context.resources_of(FunctionUrl)
            url = next((u for u in urls if u.id == found.group(1)), None)
            if url is None:
                return GatewayAnswer(gateway_response("url", "forbidden"), uuid_request_id())
            return await self._url(url, request, "", raw_path)
        path = normalized(raw_path)  # to choose by; the raw path still goes to the event
        if path.startswith(URL_PATH_PREFIX):
            prefix_end = raw_path.find("/", 1)
            name, rest = _first_segment(raw_path[prefix_end:])
            named = self._context.find_resource(FunctionUrl.resource_name(name))
            if isinstance(named, FunctionUrl):
                return await self._url(named, request, URL_PATH_PREFIX + name, rest)
            # the prefix is the function URLs' own: never an API's path
            return GatewayAnswer(gateway_response("url", "forbidden"), uuid_request_id())
        mapped = [a for a in apis if a.base_path is not None]
        for api in sorted(mapped, key=lambda a: -len(a.base_path or "")):
            base = f"/{api.base_path}" if api.base_path else ""
            if not base or path == base or path.startswith(base + "/"):
                return await self._api(api, request, raw_path, by_host=False, base=base)
        return self._unclaimed()

    def _unclaimed(self) -> GatewayAnswer:
        response = HttpResponse(
            403, [("content-type", "application/json")], b'{"message":"Forbidden"}'
        )
        return GatewayAnswer(response, uuid_request_id(), error="no API for this host or path")

    def _origin(self, api_id: str, stage: str, domain: str, request_id: str,
                extended: str, request: HttpRequest) -> Origin:  # fmt: skip
        context = self._context
        return Origin(
            account_id=context.account_id,
            region=context.region,
            api_id=api_id,
            stage=stage,
            domain_name=domain,
            domain_prefix=domain.split(".", 1)[0],
            request_id=request_id,
            extended_request_id=extended,
            epoch=request.received_at or context.clock.time(),
        )

    async def _api(
        self, api: Api, request: HttpRequest, raw_path: str, *, by_host: bool, base: str = ""
    ) -> GatewayAnswer:
        rest = isinstance(api, RestApi)
        extended = short_request_id()
        request_id = uuid_request_id() if rest else extended
        host = request.host.split(":", 1)[0]
        domain = host if by_host else api.domain_name
        stage = api.stage
        named, route = _first_segment(raw_path)
        if by_host and named in api.stages and named != "$default":
            stage = named
        elif by_host and "$default" in api.stages:
            stage = "$default"
        origin = self._origin(api.id, stage, domain, request_id, extended, request)
        origin.stage_variables = api.stages.get(stage, api.stage_variables)
        answer = GatewayAnswer(HttpResponse(200), request_id, api.id, stage)
        if by_host and stage != "$default":
            if named != stage:
                kind = "rest" if rest else "http"
                answer.response = gateway_response(kind, "forbidden" if rest else "not_found")
                answer.error = f"no stage {named!r}"
                return self._stamp(answer, rest)
            origin.prefix, origin.route = f"/{stage}", route
        elif base:
            origin.prefix, origin.mapped = base, True
            origin.route = _after_base(raw_path, base.count("/"))
        else:
            origin.route = raw_path
        if len(request.body) > MAX_REQUEST_BODY:
            outcome = too_large(api.api_kind)
        else:
            try:
                outcome = await answer_api(api, request, origin, self._integration)
            except Exception as exc:  # the API's own 500 (REST: 502), not a traceback
                outcome = _unexpected(api.api_kind, request, exc)
        return self._stamp(self._fill(answer, outcome), rest)

    async def _url(
        self, url: FunctionUrl, request: HttpRequest, prefix: str, route: str
    ) -> GatewayAnswer:
        request_id = uuid_request_id()
        host = request.host.split(":", 1)[0]
        domain = host if not prefix and host else url.domain_name
        origin = self._origin(url.id, "$default", domain, request_id, request_id, request)
        origin.prefix, origin.route, origin.mapped = prefix, route, True
        answer = GatewayAnswer(HttpResponse(200), request_id, url.id, "$default")
        if len(request.body) > MAX_REQUEST_BODY:
            outcome = too_large("url")
        else:
            try:
                outcome = await answer_url(url, request, origin, self._integration)
            except Exception as exc:
                outcome = _unexpected("url", request, exc)
        answer = self._fill(answer, outcome)
        answer.response.headers.append(("x-amzn-requestid", request_id))
        return answer

    @staticmethod
    def _fill(answer: GatewayAnswer, outcome: Outcome) -> GatewayAnswer:
        answer.response = outcome.response
        answer.route_key = outcome.route_key
        answer.integration_latency_ms = outcome.latency_ms
        answer.error = outcome.error
        return answer

    @staticmethod
    def _stamp(answer: GatewayAnswer, rest: bool) -> GatewayAnswer:
        """API Gateway's request id headers: ``x-amzn-requestid`` (REST), ``apigw-requestid``
        (HTTP APIs)."""
        name = "x-amzn-requestid" if rest else "apigw-requestid"
        answer.response.headers.append((name, answer.request_id))
        return answer
