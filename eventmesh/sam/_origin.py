"""Which part of the SAM template an error about a translated resource comes from.

SAM's translator makes resources the template does not name (``FQ``, the event source mapping
of function ``F``'s ``SQS`` event ``Q``); an error found while building one names it, a
logical id its author never wrote. The error then also says where in the template it comes
from (``Resources.F.Properties.Events.Q``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["name_origin"]

_WHERE = re.compile(r"Resources\.([A-Za-z0-9]+)")


def name_origin(message: str, document: Mapping[str, Any]) -> str:
    """``message``, with the SAM resource (and event) a translated resource comes from."""
    found = _WHERE.match(message)
    resources = document.get("Resources")
    if found is None or not isinstance(resources, Mapping):
        return message
    logical_id = found.group(1)
    if logical_id in resources:
        return message
    origin = _origin(logical_id, resources)
    if origin is None:
        return message
    return f"{message} (Resources.{logical_id} is what SAM made of {origin})"


def _origin(logical_id: str, resources: Mapping[str, Any]) -> str | None:
    sources = sorted(
        (name for name in resources if isinstance(name, str) and logical_id.startswith(name)),
        key=len,
        reverse=True,
    )
    for source in sources:
        resource = resources[source]
        if not isinstance(resource, Mapping):
            continue
        kind = resource.get("Type")
        if not isinstance(kind, str) or not kind.startswith("AWS::Serverless::"):
            continue
        rest = logical_id[len(source) :]
        properties = resource.get("Properties")
        events = properties.get("Events") if isinstance(properties, Mapping) else None
        if isinstance(events, Mapping):
            names = [n for n in events if isinstance(n, str) and rest.startswith(n)]
            if names:
                names.sort(key=len)
                return f"Resources.{source}.Properties.Events.{names[-1]}"
        return f"Resources.{source}"
    return None
