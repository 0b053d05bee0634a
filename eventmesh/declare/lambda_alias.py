"""A Lambda alias's routing: ``RoutingConfig.AdditionalVersionWeights`` to the mesh's
``routing={"2": 0.1}`` (:meth:`~eventmesh.Mesh.alias`).

The API (``CreateAlias``, ``UpdateAlias``) gives the weights as a map, version to weight;
CloudFormation (``AWS::Lambda::Alias``) as a list of ``{FunctionVersion, FunctionWeight}``.
Weights are from 0 to 1; the mesh checks the rest (one additional version, published, not the
primary).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from eventmesh.declare import DeclarationError

__all__ = ["alias_routing"]

_MEMBER = "RoutingConfig.AdditionalVersionWeights"


def _weight(value: Any, member: str) -> float:
    try:
        weight = float(value)
    except (TypeError, ValueError, OverflowError):
        raise DeclarationError(f"a weight must be a number, got {value!r}", member) from None
    if isinstance(value, bool) or math.isnan(weight) or not 0.0 <= weight <= 1.0:
        raise DeclarationError(f"a weight must be from 0.0 to 1.0, got {value!r}", member)
    return weight


def alias_routing(routing_config: Any) -> dict[str, float] | None:
    """The mesh's routing of an alias's ``RoutingConfig`` (None: none given)."""
    if routing_config is None:
        return None
    if not isinstance(routing_config, Mapping):
        raise DeclarationError("must be an object", "RoutingConfig")
    weights = routing_config.get("AdditionalVersionWeights") or {}
    if isinstance(weights, Mapping):
        return {str(k): _weight(v, f"{_MEMBER}.{k}") for k, v in weights.items()}
    if not isinstance(weights, list):
        raise DeclarationError("must be a map or a list of versions and weights", _MEMBER)
    routing: dict[str, float] = {}
    for index, entry in enumerate(weights):
        member = f"{_MEMBER}[{index}]"
        if not isinstance(entry, Mapping) or "FunctionVersion" not in entry:
            raise DeclarationError("needs FunctionVersion and FunctionWeight", member)
        version = entry["FunctionVersion"]
        if not isinstance(version, str | int) or isinstance(version, bool):
            raise DeclarationError(
                f"must be a version, got {version!r}", f"{member}.FunctionVersion"
            )
        routing[str(version)] = _weight(entry.get("FunctionWeight"), f"{member}.FunctionWeight")
    return routing
