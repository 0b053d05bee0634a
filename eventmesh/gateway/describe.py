"""Where the HTTP front serves each API and function URL, as lines for a person to read (what
``sam local start-api`` prints as "Mounting ... at http://127.0.0.1:3000/hello [GET]"):

    REST API ShopApi (y3j3xsqyxn), stage Prod: http://127.0.0.1:3000/ShopApi
      GET /orders/{id} -> Orders:live
      also http://y3j3xsqyxn.execute-api.localhost:3000/{Prod,Stage}/...
    function URL of Orders (invokes Orders:live): http://127.0.0.1:3000/_lambda-url/Orders/
"""

from __future__ import annotations

from urllib.parse import urlsplit

from eventmesh._function import Function
from eventmesh.gateway.apis import Api, RestApi
from eventmesh.gateway.function_url import URL_PATH_PREFIX, FunctionUrl
from eventmesh.resources.context import ResourceContext

__all__ = ["front_lines"]


def _host_url(base_url: str, host: str) -> str:
    """``base_url`` with its host replaced (the port kept): ``{host}.localhost:{port}``."""
    parts = urlsplit(base_url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}.localhost{port}"


def front_lines(context: ResourceContext, base_url: str) -> list[str]:
    """The APIs' and function URLs' addresses on the front at ``base_url``, with each API's
    routes (``$default`` last), one line each."""
    root = base_url.rstrip("/")
    lines: list[str] = []
    for api in context.resources_of(Api):
        kind = "REST API" if isinstance(api, RestApi) else "HTTP API"
        where = "by host only" if api.base_path is None else f"{root}/{api.base_path}".rstrip("/")
        lines.append(f"{kind} {api.name} ({api.id}), stage {api.stage}: {where}")
        for route in api.routes.values():
            target = route.function.name if isinstance(route.function, Function) else route.function
            lines.append(f"  {route.key.text} -> {target or '(answered by the gateway)'}")
        stages = [stage for stage in api.stages if stage != "$default"]
        host = _host_url(root, f"{api.id}.execute-api")
        if not stages:
            lines.append(f"  also {host}/...")
        elif len(stages) == 1:
            lines.append(f"  also {host}/{stages[0]}/...")
        else:
            lines.append(f"  also {host}/{{{','.join(stages)}}}/...")
    for url in context.resources_of(FunctionUrl):
        name = url.function.split(":", 1)[0]
        invokes = "" if url.function == name else f" (invokes {url.function})"
        lines.append(f"function URL of {name}{invokes}: {root}{URL_PATH_PREFIX}{name}/")
    return lines
