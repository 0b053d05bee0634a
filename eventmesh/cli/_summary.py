"""What ``eventmesh run`` says it runs, once the servers are up: functions, the template's other
resources, APIs and function URLs with their URLs on the HTTP front, the AWS endpoint's URL,
and the template's outputs."""

from __future__ import annotations

import re
from typing import Any

from eventmesh.cli._app import LoadedApp
from eventmesh.gateway.apis import Api
from eventmesh.gateway.function_url import URL_PATH_PREFIX, FunctionUrl
from eventmesh.process._function import ProcessFunction

__all__ = ["summary"]

MAX_ROUTES = 8
"""Routes named per API at start (the rest counted)."""


def _kind(value: Any) -> str:
    """``QueueMapping`` -> ``queue mapping``."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", type(value).__name__).lower()


def _function(function: Any) -> str:
    if isinstance(function, ProcessFunction):
        return f"function {function.name}: {function.handler_string} in {function.code}"
    return f"function {function.name} (in process)"


def _target(mapping: Any) -> str:
    function = mapping.function
    return function if isinstance(function, str) else str(function.name)


def summary(app: LoadedApp, http_url: str | None, aws_url: str | None) -> list[str]:
    """One line per thing that runs."""
    mesh = app.mesh
    lines = [_function(function) for function in mesh.functions.values()]
    shown = set(map(id, mesh.functions.values()))
    if app.application is not None:
        for logical_id, built in app.application.resources.items():
            value = built.value
            if value is None or id(value) in shown or isinstance(value, Api | FunctionUrl):
                continue
            shown.add(id(value))
            name = getattr(value, "name", None)
            label = f"{_kind(value)} {name}" if isinstance(name, str) else _kind(value)
            label = label if name == logical_id else f"{label} ({logical_id})"
            mappings = getattr(value, "mappings", None)  # a queue's or a stream's
            if isinstance(mappings, list) and mappings:
                label += " -> " + ", ".join(_target(mapping) for mapping in mappings)
            lines.append(label)
    for api in mesh.context.resources_of(Api):
        where = f"{http_url}/{api.base_path}" if api.base_path else http_url
        answer = f"at {where}" if http_url else "(served with --http)"
        routes = [route.key.text for route in api.routes.values() if route.fixed is None]
        shown_routes = ", ".join(routes[:MAX_ROUTES])
        if len(routes) > MAX_ROUTES:
            shown_routes += f", and {len(routes) - MAX_ROUTES} more"
        lines.append(
            f"{api.api_kind.upper()} API {api.name} {answer}"
            + (f": {shown_routes}" if routes else "")
        )
    for url in mesh.context.resources_of(FunctionUrl):
        answer = (
            f"at {http_url}{URL_PATH_PREFIX}{url.function}/" if http_url else "(served with --http)"
        )
        lines.append(f"function URL of {url.function} {answer}")
    if http_url:
        lines.append(f"HTTP front at {http_url} (health checks at {http_url}/health)")
    if aws_url:
        lines.append(f"AWS endpoint at {aws_url} (AWS_ENDPOINT_URL={aws_url})")
    if app.application is not None:
        for name, value in app.application.outputs.items():
            lines.append(app.application.redact(f"output {name}: {value}"))
    return lines
