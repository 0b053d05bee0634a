"""API Gateway's authorizers: JWT authorizers (HTTP APIs) and Lambda authorizers (``TOKEN``
and ``REQUEST``, REST and HTTP APIs, payload 1.0 and 2.0, IAM-policy and simple responses,
result caching). Each implements :class:`~eventmesh.gateway.authorization.Authorizer`; each
is built with the mesh's resource context (its clock, its functions, its host policy), which
the APIs' ``jwt_authorizer`` / ``lambda_authorizer`` methods pass for the user.


JWT authorizers need PyJWT (the ``eventmesh[http]`` extra): their names are imported from
here on first use, so that ``import eventmesh`` works without the extra.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from eventmesh.gateway.authorizers.lambda_authorizer import DEFAULT_TTL, LambdaAuthorizer

if TYPE_CHECKING:
    from eventmesh.gateway.authorizers.jwks import JwksUnavailable
    from eventmesh.gateway.authorizers.jwt_authorizer import RSA_ALGORITHMS, JwtAuthorizer

__all__ = ["DEFAULT_TTL", "RSA_ALGORITHMS", "JwksUnavailable", "JwtAuthorizer", "LambdaAuthorizer"]

_NEEDING_PYJWT = {
    "JwksUnavailable": "eventmesh.gateway.authorizers.jwks",
    "RSA_ALGORITHMS": "eventmesh.gateway.authorizers.jwt_authorizer",
    "JwtAuthorizer": "eventmesh.gateway.authorizers.jwt_authorizer",
}


def __getattr__(name: str) -> Any:
    """The JWT names, imported when first asked for (PEP 562)."""
    module = _NEEDING_PYJWT.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
