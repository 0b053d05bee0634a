"""API Gateway's authorizers: JWT authorizers (HTTP APIs) and Lambda authorizers (``TOKEN``
and ``REQUEST``, REST and HTTP APIs, payload 1.0 and 2.0, IAM-policy and simple responses,
result caching). Each implements :class:`~eventmesh.gateway.authorization.Authorizer`; each
is built with the mesh's resource context (its clock, its functions, its host policy), which
the APIs' ``jwt_authorizer`` / ``lambda_authorizer`` methods pass for the user.
"""

from __future__ import annotations

from eventmesh.gateway.authorizers.jwks import JwksUnavailable
from eventmesh.gateway.authorizers.jwt_authorizer import RSA_ALGORITHMS, JwtAuthorizer
from eventmesh.gateway.authorizers.lambda_authorizer import DEFAULT_TTL, LambdaAuthorizer

__all__ = ["DEFAULT_TTL", "RSA_ALGORITHMS", "JwksUnavailable", "JwtAuthorizer", "LambdaAuthorizer"]
