"""What the resource kinds share: a resource is recognised by its ``kind`` (``"queue"``...),
given as the object, its name, or its ARN (an ARN of that service that names nothing is still
claimed, so the error says the resource is missing)."""

from __future__ import annotations

from typing import Any

from eventmesh._errors import ResourceNotFoundError
from eventmesh.delivery.target import DeliveryContext

__all__ = ["claims_resource", "find_resource"]


def claims_resource(spec: Any, context: DeliveryContext, kind: str, arn_prefix: str) -> bool:
    if getattr(spec, "kind", None) == kind and not isinstance(spec, str | type):
        return True
    if not isinstance(spec, str):
        return False
    found = context.find_resource(spec)
    if found is not None:
        return getattr(found, "kind", None) == kind
    return spec.startswith(arn_prefix)


def find_resource(spec: Any, context: DeliveryContext, kind: str) -> Any:
    if not isinstance(spec, str):
        return spec
    found = context.find_resource(spec)
    if getattr(found, "kind", None) != kind:
        raise ResourceNotFoundError(f"no {kind} named {spec!r}")
    return found
