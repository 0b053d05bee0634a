"""JWT authorizers (HTTP APIs): API Gateway's own validation of OAuth 2.0 / OpenID Connect
tokens, no function involved.

As API Gateway does: take the token from the identity source (the token alone, or after
``Bearer ``), decode it, check its signature with the issuer's key named by its ``kid``
(RSA algorithms only, unless told otherwise), then its claims: ``iss`` equal to the
authorizer's issuer, ``aud`` (or ``client_id`` when the token has no ``aud``) one of its
audiences, ``exp`` after now, ``nbf`` and ``iat`` not after now, on the mesh's clock. Any
failure is 401 ``{"message":"Unauthorized"}`` with a ``www-authenticate`` header naming the
reason, as API Gateway's. A route may require scopes (:meth:`JwtAuthorizer.requiring`): the
token's ``scope`` (or ``scp``) must hold at least one of them, else 403
``{"message":"Forbidden"}``.

Allowed, the function finds the claims (every value a string, see :mod:`._claims`) and the
scopes in ``requestContext.authorizer.jwt`` (payload 2.0) or ``requestContext.authorizer``
(payload 1.0): ``{"claims": {...}, "scopes": [...]}``, where ``scopes`` is the token's
scopes on a route that requires some, and null on one that does not.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

import jwt as pyjwt

from eventmesh._errors import ConfigurationError
from eventmesh.gateway.authorization import Authorization, AuthorizationRequest
from eventmesh.gateway.authorizers._claims import render_claims, token_scopes
from eventmesh.gateway.authorizers._identity import IdentitySource, identity_sources
from eventmesh.gateway.authorizers._refusals import forbidden, unauthorized
from eventmesh.gateway.authorizers.jwks import (
    JwksDocument,
    JwksFile,
    JwksUnavailable,
    JwksUrl,
    KeySource,
)
from eventmesh.resources.context import ResourceContext

__all__ = ["RSA_ALGORITHMS", "JwtAuthorizer"]

logger = logging.getLogger("eventmesh.gateway.authorizers")

RSA_ALGORITHMS = ("RS256", "RS384", "RS512")
"""What API Gateway accepts ("currently, only RSA-based algorithms are supported")."""

_ASYMMETRIC = frozenset(
    {
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "ES256",
        "ES256K",
        "ES384",
        "ES512",
        "EdDSA",
    }
)


_NAME = re.compile(r"[A-Za-z0-9]{1,16}")


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


def _strings(value: Any, setting: str) -> list[Any]:
    """One string or an iterable of them, as a list (items are checked by the caller)."""
    if isinstance(value, str):
        return [value]
    try:
        return list(value)
    except TypeError:
        raise ConfigurationError(
            f"JWT authorizer: {setting} must be a string or a list of strings"
        ) from None


class _Invalid(Exception):
    """The token is not accepted; the message goes to ``www-authenticate``."""


def _www_authenticate(error: str, description: str, scopes: Iterable[str] = ()) -> str:
    return f'Bearer scope="{" ".join(scopes)}" error="{error}" error_description="{description}"'


class JwtAuthorizer:
    """Validates JWTs as an HTTP API's JWT authorizer (see the module docstring).

    ``issuer`` and ``audiences`` as API Gateway's ``JwtConfiguration``; the keys from exactly
    one of ``jwks_url`` (an issuer's ``jwks_uri``), ``jwks_file`` (a JSON file) or ``jwks``
    (a mapping ``{"keys": [...]}``); ``identity_source`` one selection expression (default
    ``$request.header.Authorization``); ``algorithms`` the signature algorithms accepted
    (default RSA only, as API Gateway; add ``"ES256"`` and the like to accept others);
    ``leeway`` seconds of tolerance on ``exp``/``nbf``/``iat`` (none by default).
    """

    def __init__(
        self,
        context: ResourceContext,
        *,
        issuer: str,
        audiences: str | Iterable[str],
        jwks_url: str | None = None,
        jwks_file: str | os.PathLike[str] | None = None,
        jwks: Mapping[str, Any] | None = None,
        identity_source: str = "$request.header.Authorization",
        algorithms: Iterable[str] = RSA_ALGORITHMS,
        leeway: float = 0.0,
        name: str = "jwt",
    ) -> None:
        if not isinstance(issuer, str) or not issuer:
            raise ConfigurationError("JWT authorizer: issuer must be a non-empty string")
        audience_list = _strings(audiences, "audiences")
        if not audience_list or not all(isinstance(a, str) and a for a in audience_list):
            raise ConfigurationError("JWT authorizer: audiences must name at least one audience")
        given = [source for source in (jwks_url, jwks_file, jwks) if source is not None]
        if len(given) != 1:
            raise ConfigurationError(
                "JWT authorizer: give exactly one of jwks_url, jwks_file or jwks"
            )
        algorithm_list = _strings(algorithms, "algorithms")
        unknown = [a for a in algorithm_list if a not in _ASYMMETRIC]
        if not algorithm_list or unknown:
            raise ConfigurationError(
                f"JWT authorizer: algorithms must be public-key algorithms, not {unknown or '[]'}"
            )
        sources = identity_sources(identity_source)
        if len(sources) != 1:
            raise ConfigurationError("JWT authorizer: exactly one identity source")
        if (
            isinstance(leeway, bool)
            or not isinstance(leeway, (int, float))
            or not 0 <= leeway < math.inf
        ):  # NaN fails every comparison: a NaN leeway would let no token expire
            raise ConfigurationError("JWT authorizer: leeway must be a finite number >= 0")
        keys: KeySource
        if jwks_url is not None:
            keys = JwksUrl(jwks_url, context.clock, context.egress)
        elif jwks_file is not None:
            keys = JwksFile(jwks_file)
        else:
            assert jwks is not None
            keys = JwksDocument(jwks)
        self.name = name
        self.issuer = issuer
        self.audiences: tuple[str, ...] = tuple(audience_list)
        self.algorithms: tuple[str, ...] = tuple(algorithm_list)
        self.identity_source: IdentitySource = sources[0]
        self.leeway = float(leeway)
        self.keys = keys
        self.scopes: tuple[str, ...] = ()
        self._clock = context.clock

    def requiring(self, *scopes: str) -> JwtAuthorizer:
        """This authorizer for a route that requires at least one of ``scopes`` (a route's
        ``authorizationScopes``); the keys and their cache are shared."""
        if not scopes or not all(isinstance(s, str) and s for s in scopes):
            raise ConfigurationError("requiring(): give at least one non-empty scope")
        route = object.__new__(JwtAuthorizer)
        route.__dict__.update(self.__dict__)
        route.scopes = tuple(scopes)
        return route

    def __repr__(self) -> str:
        required = f" requiring {list(self.scopes)}" if self.scopes else ""
        return f"<JwtAuthorizer {self.name} issuer={self.issuer!r}{required}>"

    async def authorize(self, request: AuthorizationRequest) -> Authorization:
        kind = request.api_kind
        token = self.identity_source.value(request)
        if token is not None and token[:7].lower() == "bearer ":
            token = token[7:].strip() or None
        if token is None:
            return Authorization(refusal=unauthorized(kind, www_authenticate="Bearer"))
        try:
            claims = await self._validate(token)
        except _Invalid as exc:
            challenge = _www_authenticate("invalid_token", str(exc), self.scopes)
            return Authorization(refusal=unauthorized(kind, www_authenticate=challenge))
        scopes: list[str] | None = None
        if self.scopes:
            scopes = token_scopes(claims)
            if not set(scopes) & set(self.scopes):
                challenge = _www_authenticate(
                    "insufficient_scope",
                    "the token does not have the required scopes",
                    self.scopes,
                )
                return Authorization(refusal=forbidden(kind, www_authenticate=challenge))
        found = {"claims": render_claims(claims), "scopes": scopes}
        if kind != "rest" and request.event.get("version") == "2.0":
            return Authorization(context={"jwt": found})
        return Authorization(context=found)

    async def _validate(self, token: str) -> dict[str, Any]:
        try:
            header = pyjwt.get_unverified_header(token)
        except pyjwt.InvalidTokenError:
            raise _Invalid("the token is not a valid JWT") from None
        algorithm = header.get("alg")
        if algorithm not in self.algorithms:
            # Named only when it is a plain algorithm name: the header is the caller's, and
            # its text goes into a response header.
            named = f" {algorithm}" if _is_name(algorithm) else ""
            raise _Invalid(f"the token's algorithm{named} is not supported")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise _Invalid("the token has no kid")
        try:
            key = await self.keys.key(kid)
        except JwksUnavailable as exc:
            logger.warning(
                "JWT authorizer %s: the signing keys are unavailable: %s", self.name, exc
            )
            raise _Invalid("the signing keys could not be retrieved") from None
        if key is None:
            raise _Invalid("no signing key matches the token's kid")
        try:
            claims: dict[str, Any] = pyjwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                options={
                    "verify_signature": True,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except pyjwt.InvalidSignatureError:
            raise _Invalid("the token's signature is invalid") from None
        except (pyjwt.InvalidTokenError, pyjwt.PyJWKError, ValueError, TypeError):
            raise _Invalid("the token could not be verified") from None
        self._check_claims(claims)
        return claims

    def _check_claims(self, claims: Mapping[str, Any]) -> None:
        if claims.get("iss") != self.issuer:
            raise _Invalid("the token does not have a valid issuer")
        audience = claims.get("aud")
        if audience is None:
            audience = claims.get("client_id")
        offered = audience if isinstance(audience, list) else [audience]
        if not any(isinstance(a, str) and a in self.audiences for a in offered):
            raise _Invalid("the token does not have a valid audience")
        now = self._clock.time()
        exp, nbf, iat = claims.get("exp"), claims.get("nbf"), claims.get("iat")
        for claim_name, value in (("exp", exp), ("nbf", nbf), ("iat", iat)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float))
            ):
                raise _Invalid(f"the token's {claim_name} is not a number")
        if exp is None:
            raise _Invalid("the token has no expiration")
        if now >= exp + self.leeway:
            raise _Invalid("the token has expired")
        if nbf is not None and nbf > now + self.leeway:
            raise _Invalid("the token is not valid yet")
        if iat is not None and iat > now + self.leeway:
            raise _Invalid("the token was issued in the future")
