"""JWT authorizers: API Gateway's validation of a bearer token, on the mesh's virtual clock.

Tokens are signed with real keys (RSA 2048, EC P-256) by PyJWT. The refusals' statuses,
bodies and the ``www-authenticate`` header of a bad audience are AWS's literals (API
Gateway's "Troubleshooting issues with HTTP API JWT authorizers"); the claims' string forms
are those captured from real HTTP APIs.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from authorizer_support import SigningKey, body, header, http_request, jwks, rest_request

from eventmesh import ConfigurationError, Mesh
from eventmesh.gateway.authorizers import JwtAuthorizer
from eventmesh.gateway.authorizers.jwks import JWKS_MAX_AGE, REFETCH_INTERVAL, JwksUrl
from eventmesh.testing import VirtualClock

EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z, where the VirtualClock starts
ISSUER = "https://issuer.example.com/pool"
AUDIENCE = "client-app"

RSA = SigningKey("rsa-1")
RSA_ROTATED = SigningKey("rsa-2")
EC = SigningKey("ec-1", kind="EC")


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "iat": EPOCH,
        "exp": EPOCH + 3600,
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not ...}


def bearer(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


def authorizer(mesh: Mesh, **settings: Any) -> JwtAuthorizer:
    settings.setdefault("jwks", jwks(RSA, EC))
    return JwtAuthorizer(mesh.context, issuer=ISSUER, audiences=[AUDIENCE], **settings)


# -- allowed ---------------------------------------------------------------------------------


async def test_a_valid_token_is_allowed_and_its_claims_reach_the_function_as_strings(
    mesh: Mesh,
) -> None:
    token = RSA.sign(
        claims(
            email_verified=True,
            **{"cognito:groups": ["admin", "poweruser"]},
            address={"country": "FR"},
            middle_name=None,
            auth_time=EPOCH - 5,
        )
    )
    answer = await authorizer(mesh).authorize(http_request(headers=bearer(token)))
    assert answer.allowed
    assert answer.context == {
        "jwt": {
            "claims": {
                "iss": ISSUER,
                "aud": AUDIENCE,
                "sub": "user-1",
                "iat": "1767225600",
                "exp": "1767229200",
                "email_verified": "true",
                "cognito:groups": "[admin poweruser]",
                "address": '{"country":"FR"}',
                "auth_time": "1767225595",
            },
            "scopes": None,
        }
    }


async def test_claims_beyond_64_bit_integers_are_rendered_not_a_crash(mesh: Mesh) -> None:
    """JSON allows any integer; an issuer's token holding one past 64 bits (a big account
    number) is still a token: its claims reach the function as text, not a 500 traceback."""
    token = RSA.sign(claims(account=2**70, nested={"id": -(2**64)}, ids=[2**65, "a"]))
    answer = await authorizer(mesh).authorize(http_request(headers=bearer(token)))
    assert answer.allowed and answer.context is not None
    rendered = answer.context["jwt"]["claims"]
    assert rendered["account"] == "1180591620717411303424"
    assert rendered["nested"] == '{"id":-18446744073709551616}'
    assert rendered["ids"] == "[36893488147419103232 a]"


async def test_the_token_may_come_without_the_bearer_prefix(mesh: Mesh) -> None:
    token = RSA.sign(claims())
    answer = await authorizer(mesh).authorize(http_request(headers=[("Authorization", token)]))
    assert answer.allowed


async def test_payload_1_0_gets_claims_and_scopes_directly_under_authorizer(mesh: Mesh) -> None:
    token = RSA.sign(claims())
    answer = await authorizer(mesh).authorize(http_request(headers=bearer(token), version="1.0"))
    assert answer.context is not None
    assert set(answer.context) == {"claims", "scopes"}
    assert answer.context["claims"]["sub"] == "user-1"
    assert answer.context["scopes"] is None


async def test_the_identity_source_can_be_a_query_parameter(mesh: Mesh) -> None:
    auth = authorizer(mesh, identity_source="$request.querystring.access_token")
    token = RSA.sign(claims())
    assert (await auth.authorize(http_request(query=f"access_token={token}"))).allowed
    refused = await auth.authorize(http_request(headers=bearer(token)))
    assert refused.refusal is not None and refused.refusal.status == 401


# -- refused: 401 ----------------------------------------------------------------------------


async def test_a_missing_token_is_401_unauthorized(mesh: Mesh) -> None:
    answer = await authorizer(mesh).authorize(http_request())
    assert answer.refusal is not None
    assert answer.refusal.status == 401
    assert body(answer.refusal) == {"message": "Unauthorized"}
    assert answer.context is None


async def test_an_empty_bearer_is_401(mesh: Mesh) -> None:
    answer = await authorizer(mesh).authorize(http_request(headers=[("Authorization", "Bearer ")]))
    assert answer.refusal is not None and answer.refusal.status == 401


async def test_a_wrong_audience_is_401_with_aws_www_authenticate_header(mesh: Mesh) -> None:
    token = RSA.sign(claims(aud="someone-else"))
    answer = await authorizer(mesh).authorize(http_request(headers=bearer(token)))
    assert answer.refusal is not None
    assert answer.refusal.status == 401
    assert body(answer.refusal) == {"message": "Unauthorized"}
    assert header(answer.refusal, "www-authenticate") == (
        'Bearer scope="" error="invalid_token" '
        'error_description="the token does not have a valid audience"'
    )


async def test_client_id_counts_only_when_the_token_has_no_aud(mesh: Mesh) -> None:
    auth = authorizer(mesh)
    with_client_id = RSA.sign(claims(aud=..., client_id=AUDIENCE))
    assert (await auth.authorize(http_request(headers=bearer(with_client_id)))).allowed
    aud_wins = RSA.sign(claims(aud="other", client_id=AUDIENCE))
    refused = await auth.authorize(http_request(headers=bearer(aud_wins)))
    assert refused.refusal is not None and refused.refusal.status == 401
    neither = RSA.sign(claims(aud=...))
    refused = await auth.authorize(http_request(headers=bearer(neither)))
    assert refused.refusal is not None and refused.refusal.status == 401


async def test_aud_may_be_a_list_holding_one_of_the_audiences(mesh: Mesh) -> None:
    token = RSA.sign(claims(aud=["other", AUDIENCE]))
    assert (await authorizer(mesh).authorize(http_request(headers=bearer(token)))).allowed


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iss": "https://evil.example.com"}, "the token does not have a valid issuer"),
        ({"iss": ...}, "the token does not have a valid issuer"),
        ({"exp": ...}, "the token has no expiration"),
        ({"exp": "tomorrow"}, "the token's exp is not a number"),
    ],
)
async def test_bad_claims_are_401(mesh: Mesh, overrides: dict[str, Any], reason: str) -> None:
    token = RSA.sign(claims(**overrides))
    answer = await authorizer(mesh).authorize(http_request(headers=bearer(token)))
    assert answer.refusal is not None and answer.refusal.status == 401
    assert f'error_description="{reason}"' in (header(answer.refusal, "www-authenticate") or "")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iss": ISSUER + "/"}, "issuer"),
        ({"iss": ISSUER.upper()}, "issuer"),
        ({"iss": ISSUER[:-1]}, "issuer"),
        ({"iss": [ISSUER]}, "issuer"),
        ({"aud": AUDIENCE + "-evil"}, "audience"),
        ({"aud": AUDIENCE[:-1]}, "audience"),
        ({"aud": AUDIENCE.upper()}, "audience"),
        ({"aud": [[AUDIENCE]]}, "audience"),
        ({"aud": {"name": AUDIENCE}}, "audience"),
        ({"aud": [], "client_id": AUDIENCE}, "audience"),  # aud is present: client_id is not read
        ({"exp": True}, "exp"),
        ({"nbf": "0"}, "nbf"),
        ({"iat": [EPOCH]}, "iat"),
    ],
)
async def test_issuer_and_audience_match_exactly_and_times_are_numbers(
    mesh: Mesh, overrides: dict[str, Any], reason: str
) -> None:
    import jwt

    # Signed over the raw JSON: PyJWT itself refuses to encode some of these claims.
    token = jwt.api_jws.encode(
        orjson.dumps(claims(**overrides)), RSA.private, algorithm="RS256", headers={"kid": RSA.kid}
    )
    answer = await authorizer(mesh).authorize(http_request(headers=bearer(token)))
    assert answer.refusal is not None and answer.refusal.status == 401
    assert reason in str(header(answer.refusal, "www-authenticate"))


async def test_a_token_expires_on_the_mesh_clock(mesh: Mesh, clock: VirtualClock) -> None:
    auth = authorizer(mesh)
    request = http_request(headers=bearer(RSA.sign(claims(exp=EPOCH + 60))))
    assert (await auth.authorize(request)).allowed
    await clock.advance(59)
    assert (await auth.authorize(request)).allowed
    await clock.advance(1)
    answer = await auth.authorize(request)
    assert answer.refusal is not None and answer.refusal.status == 401
    assert 'error_description="the token has expired"' in str(
        header(answer.refusal, "www-authenticate")
    )


async def test_leeway_tolerates_a_little_clock_skew(mesh: Mesh, clock: VirtualClock) -> None:
    auth = authorizer(mesh, leeway=30)
    request = http_request(headers=bearer(RSA.sign(claims(exp=EPOCH + 60))))
    await clock.advance(89)
    assert (await auth.authorize(request)).allowed
    await clock.advance(1)
    assert not (await auth.authorize(request)).allowed


async def test_nbf_and_iat_in_the_future_are_refused_until_their_time(
    mesh: Mesh, clock: VirtualClock
) -> None:
    auth = authorizer(mesh)
    not_yet = http_request(headers=bearer(RSA.sign(claims(nbf=EPOCH + 30))))
    issued_later = http_request(headers=bearer(RSA.sign(claims(iat=EPOCH + 30))))
    assert not (await auth.authorize(not_yet)).allowed
    assert not (await auth.authorize(issued_later)).allowed
    await clock.advance(30)
    assert (await auth.authorize(not_yet)).allowed
    assert (await auth.authorize(issued_later)).allowed


async def test_a_signature_by_another_key_is_401(mesh: Mesh) -> None:
    forged = SigningKey("rsa-1")  # same kid, different key
    answer = await authorizer(mesh).authorize(http_request(headers=bearer(forged.sign(claims()))))
    assert answer.refusal is not None and answer.refusal.status == 401
    assert "signature is invalid" in str(header(answer.refusal, "www-authenticate"))


async def test_a_tampered_payload_is_401(mesh: Mesh) -> None:
    head, _, signature = RSA.sign(claims()).split(".")
    other = RSA.sign(claims(sub="admin")).split(".")[1]
    answer = await authorizer(mesh).authorize(
        http_request(headers=bearer(f"{head}.{other}.x{signature}"))
    )
    assert answer.refusal is not None and answer.refusal.status == 401


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", ""])
async def test_garbage_is_401(mesh: Mesh, token: str) -> None:
    answer = await authorizer(mesh).authorize(http_request(headers=bearer(token) if token else []))
    assert answer.refusal is not None and answer.refusal.status == 401


async def test_a_token_without_kid_or_with_an_unknown_kid_is_401(mesh: Mesh) -> None:
    import jwt

    auth = authorizer(mesh)
    no_kid = jwt.encode(claims(), RSA.private, algorithm="RS256")
    unknown = RSA.sign(claims(), kid="nobody")
    for token in (no_kid, unknown):
        answer = await auth.authorize(http_request(headers=bearer(token)))
        assert answer.refusal is not None and answer.refusal.status == 401


async def test_only_rsa_algorithms_by_default_as_api_gateway(mesh: Mesh) -> None:
    token = EC.sign(claims())
    refused = await authorizer(mesh).authorize(http_request(headers=bearer(token)))
    assert refused.refusal is not None and refused.refusal.status == 401
    widened = authorizer(mesh, algorithms=["RS256", "ES256"])
    assert (await widened.authorize(http_request(headers=bearer(token)))).allowed


async def test_a_symmetric_or_unsigned_token_is_refused(mesh: Mesh) -> None:
    import jwt

    auth = authorizer(mesh)
    for token in (
        jwt.encode(
            claims(),
            "shared-secret-of-at-least-32-bytes!!",
            algorithm="HS256",
            headers={"kid": "rsa-1"},
        ),
        jwt.encode(claims(), None, algorithm="none", headers={"kid": "rsa-1"}),
    ):
        answer = await auth.authorize(http_request(headers=bearer(token)))
        assert answer.refusal is not None and answer.refusal.status == 401


def _hand_signed(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    """A token signed with HMAC-SHA256 by hand (PyJWT refuses to use a public key as a secret,
    which is the point of the attack)."""
    import base64
    import hashlib
    import hmac

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{part(orjson.dumps(header))}.{part(orjson.dumps(payload))}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{part(mac)}"


async def test_hs256_signed_with_the_rsa_public_key_is_refused_for_its_algorithm(
    mesh: Mesh,
) -> None:
    """The classic confusion: the issuer's public key (public to anyone) used as an HMAC
    secret. The algorithm is refused before any key is used."""
    from cryptography.hazmat.primitives import serialization

    public = RSA.private.public_key()
    secrets = [
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
        orjson.dumps(RSA.jwk),
        RSA.jwk["n"].encode(),
    ]
    auth = authorizer(mesh)
    for secret in secrets:
        token = _hand_signed({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, claims(), secret)
        answer = await auth.authorize(http_request(headers=bearer(token)))
        assert answer.refusal is not None and answer.refusal.status == 401
        assert header(answer.refusal, "www-authenticate") == (
            'Bearer scope="" error="invalid_token" '
            'error_description="the token\'s algorithm HS256 is not supported"'
        )


async def test_a_token_naming_another_kind_of_key_is_refused(mesh: Mesh) -> None:
    auth = authorizer(mesh, algorithms=["RS256", "ES256"])
    for token in (RSA.sign(claims(), kid="ec-1"), EC.sign(claims(), kid="rsa-1")):
        answer = await auth.authorize(http_request(headers=bearer(token)))
        assert answer.refusal is not None and answer.refusal.status == 401


@pytest.mark.parametrize(
    "alg", ['RS256" error="x', "RS256\r\nset-cookie: session=stolen", "x" * 5000, ["RS256"]]
)
async def test_the_tokens_own_header_is_not_echoed_into_www_authenticate(
    mesh: Mesh, alg: Any
) -> None:
    """A made-up ``alg`` must not break out of the quoted description, inject a header line,
    or swell the answer: the challenge stays a well-formed 401."""
    token = _hand_signed({"alg": alg, "kid": "rsa-1"}, claims(), b"k" * 32)
    answer = await authorizer(mesh).authorize(http_request(headers=bearer(token)))
    assert answer.refusal is not None and answer.refusal.status == 401
    assert header(answer.refusal, "www-authenticate") == (
        'Bearer scope="" error="invalid_token" '
        'error_description="the token\'s algorithm is not supported"'
    )


async def test_the_refusal_on_a_rest_api_names_its_error_type(mesh: Mesh) -> None:
    answer = await authorizer(mesh).authorize(rest_request())
    assert answer.refusal is not None
    assert answer.refusal.status == 401
    assert body(answer.refusal) == {"message": "Unauthorized"}
    assert header(answer.refusal, "x-amzn-ErrorType") == "UnauthorizedException"


# -- scopes ----------------------------------------------------------------------------------


async def test_a_route_requiring_scopes_needs_one_of_them(mesh: Mesh) -> None:
    auth = authorizer(mesh).requiring("orders:read", "orders:admin")
    token = RSA.sign(claims(scope="profile orders:read"))
    answer = await auth.authorize(http_request(headers=bearer(token)))
    assert answer.allowed
    assert answer.context is not None
    assert answer.context["jwt"]["scopes"] == ["profile", "orders:read"]


async def test_insufficient_scopes_are_403_forbidden(mesh: Mesh) -> None:
    auth = authorizer(mesh).requiring("orders:write")
    for token_claims in (
        claims(scope="orders:read"),
        claims(),
        claims(scope="orders:write-all orders:writ"),  # a scope matches whole, not a prefix
        claims(scope="ORDERS:WRITE"),
        claims(scp=[["orders:write"]]),
    ):
        answer = await auth.authorize(http_request(headers=bearer(RSA.sign(token_claims))))
        assert answer.refusal is not None
        assert answer.refusal.status == 403
        assert body(answer.refusal) == {"message": "Forbidden"}
        assert 'error="insufficient_scope"' in str(header(answer.refusal, "www-authenticate"))


async def test_an_invalid_token_on_a_scoped_route_is_still_401(mesh: Mesh) -> None:
    auth = authorizer(mesh).requiring("orders:read")
    token = RSA.sign(claims(scope="orders:read", exp=EPOCH - 1))
    answer = await auth.authorize(http_request(headers=bearer(token)))
    assert answer.refusal is not None and answer.refusal.status == 401


async def test_scp_as_a_list_or_a_string_counts_as_scopes(mesh: Mesh) -> None:
    auth = authorizer(mesh).requiring("orders:read")
    for scp in (["orders:read", "x"], "orders:read x"):
        answer = await auth.authorize(http_request(headers=bearer(RSA.sign(claims(scp=scp)))))
        assert answer.allowed
        assert answer.context is not None
        assert answer.context["jwt"]["scopes"] == ["orders:read", "x"]


async def test_requiring_leaves_the_original_authorizer_unscoped(mesh: Mesh) -> None:
    auth = authorizer(mesh)
    scoped = auth.requiring("orders:read")
    assert scoped.keys is auth.keys
    token = RSA.sign(claims())
    assert (await auth.authorize(http_request(headers=bearer(token)))).allowed
    assert not (await scoped.authorize(http_request(headers=bearer(token)))).allowed


# -- declaration errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [
        {"audiences": []},
        {"audiences": [""]},
        {"issuer": ""},
        {"jwks": None},
        {"jwks_url": "https://issuer.example.com/jwks.json"},
        {"algorithms": ["HS256"]},
        {"algorithms": []},
        {"identity_source": "Authorization"},
        {"identity_source": "$request.header.A,$request.header.B"},
        {"leeway": -1},
        {"leeway": float("nan")},  # would make every comparison false: no token ever expires
        {"leeway": float("inf")},
        {"leeway": "30"},
        {"leeway": True},
        {"audiences": 5},
        {"algorithms": None},
        {"jwks": {"keys": "none"}},
    ],
)
def test_bad_declarations_fail_at_the_call(mesh: Mesh, settings: dict[str, Any]) -> None:
    base: dict[str, Any] = {"issuer": ISSUER, "audiences": [AUDIENCE], "jwks": jwks(RSA)}
    base.update(settings)
    if base["jwks"] is None:
        del base["jwks"]
    with pytest.raises(ConfigurationError):
        JwtAuthorizer(mesh.context, **base)
    with pytest.raises(ConfigurationError):
        JwtAuthorizer(mesh.context, issuer=ISSUER, audiences=AUDIENCE, jwks=jwks(RSA)).requiring()


def test_a_metadata_address_is_refused_as_jwks_url(mesh: Mesh) -> None:
    with pytest.raises(ConfigurationError):
        authorizer(mesh, jwks=None, jwks_url="http://169.254.169.254/jwks.json")


# -- JWKS file -------------------------------------------------------------------------------


async def test_keys_from_a_jwks_file_reread_when_a_new_kid_appears(
    mesh: Mesh, tmp_path: Path
) -> None:
    path = tmp_path / "jwks.json"
    path.write_bytes(orjson.dumps(jwks(RSA)))
    auth = authorizer(mesh, jwks=None, jwks_file=path)
    assert (await auth.authorize(http_request(headers=bearer(RSA.sign(claims()))))).allowed
    rotated = http_request(headers=bearer(RSA_ROTATED.sign(claims())))
    assert not (await auth.authorize(rotated)).allowed
    path.write_bytes(orjson.dumps(jwks(RSA, RSA_ROTATED)))
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 5))
    assert (await auth.authorize(rotated)).allowed


@pytest.mark.parametrize("content", [None, b"{not json", b'{"keys": []}', b"[]"])
def test_a_missing_or_malformed_jwks_file_fails_at_the_call(
    mesh: Mesh, tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "jwks.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigurationError, match="jwks_file"):
        authorizer(mesh, jwks=None, jwks_file=path)


# -- JWKS URL, served over real HTTP ---------------------------------------------------------


class JwksServer:
    """A tiny HTTP/1.1 server on a free loopback port serving one JWKS document."""

    def __init__(self) -> None:
        self.document: Any = jwks(RSA)
        self.status = 200
        self.hits = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/.well-known/jwks.json"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.hits += 1
        payload = self.document if isinstance(self.document, bytes) else orjson.dumps(self.document)
        writer.write(
            f"HTTP/1.1 {self.status} X\r\ncontent-type: application/json\r\n"
            f"content-length: {len(payload)}\r\nconnection: close\r\n\r\n".encode()
            + payload
        )
        await writer.drain()
        writer.close()

    async def __aenter__(self) -> JwksServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def server() -> AsyncIterator[JwksServer]:
    async with JwksServer() as running:
        yield running


async def test_keys_are_fetched_once_from_the_jwks_url_and_cached(
    mesh: Mesh, server: JwksServer
) -> None:
    auth = authorizer(mesh, jwks=None, jwks_url=server.url)
    scoped = auth.requiring("orders:read")
    for _ in range(3):
        assert (await auth.authorize(http_request(headers=bearer(RSA.sign(claims()))))).allowed
    token = RSA.sign(claims(scope="orders:read"))
    assert (await scoped.authorize(http_request(headers=bearer(token)))).allowed
    assert server.hits == 1


async def test_concurrent_first_requests_fetch_the_keys_once(
    mesh: Mesh, server: JwksServer
) -> None:
    auth = authorizer(mesh, jwks=None, jwks_url=server.url)
    request = http_request(headers=bearer(RSA.sign(claims())))
    answers = await asyncio.gather(*(auth.authorize(request) for _ in range(5)))
    assert all(answer.allowed for answer in answers)
    assert server.hits == 1


async def test_an_unknown_kid_refetches_the_keys_so_rotation_needs_no_restart(
    mesh: Mesh, clock: VirtualClock, server: JwksServer
) -> None:
    auth = authorizer(mesh, jwks=None, jwks_url=server.url)
    assert (await auth.authorize(http_request(headers=bearer(RSA.sign(claims()))))).allowed
    await clock.advance(REFETCH_INTERVAL)
    server.document = jwks(RSA, RSA_ROTATED)
    rotated = http_request(headers=bearer(RSA_ROTATED.sign(claims())))
    assert (await auth.authorize(rotated)).allowed
    assert server.hits == 2


async def test_unknown_kids_do_not_refetch_more_often_than_the_interval(
    mesh: Mesh, clock: VirtualClock, server: JwksServer
) -> None:
    auth = authorizer(mesh, jwks=None, jwks_url=server.url)
    made_up = [http_request(headers=bearer(RSA.sign(claims(), kid=f"k{n}"))) for n in range(5)]
    for request in made_up:
        assert not (await auth.authorize(request)).allowed
    assert server.hits == 1
    await clock.advance(REFETCH_INTERVAL)
    assert not (await auth.authorize(made_up[0])).allowed
    assert server.hits == 2


async def test_keys_are_fetched_again_after_two_hours(
    mesh: Mesh, clock: VirtualClock, server: JwksServer
) -> None:
    auth = authorizer(mesh, jwks=None, jwks_url=server.url)
    token = RSA.sign(claims(exp=EPOCH + 3 * 3600))
    assert (await auth.authorize(http_request(headers=bearer(token)))).allowed
    await clock.advance(JWKS_MAX_AGE - 1)
    assert (await auth.authorize(http_request(headers=bearer(token)))).allowed
    assert server.hits == 1
    server.document = jwks(RSA_ROTATED)  # the old key was withdrawn
    await clock.advance(1)
    assert not (await auth.authorize(http_request(headers=bearer(token)))).allowed
    assert server.hits == 2


@pytest.mark.parametrize("problem", ["status", "not json", "no keys"])
async def test_a_broken_jwks_url_refuses_with_401_and_logs_why(
    mesh: Mesh, server: JwksServer, caplog: pytest.LogCaptureFixture, problem: str
) -> None:
    if problem == "status":
        server.status = 503
    elif problem == "not json":
        server.document = b"<html>"
    else:
        server.document = {"keys": []}
    auth = authorizer(mesh, jwks=None, jwks_url=server.url)
    token = RSA.sign(claims())
    with caplog.at_level(logging.WARNING, logger="eventmesh.gateway.authorizers"):
        answer = await auth.authorize(http_request(headers=bearer(token)))
    assert answer.refusal is not None and answer.refusal.status == 401
    assert "signing keys could not be retrieved" in str(header(answer.refusal, "www-authenticate"))
    assert "signing keys are unavailable" in caplog.text
    assert token not in caplog.text


async def test_an_unreachable_jwks_url_refuses_with_401_and_logs_the_url(
    mesh: Mesh, caplog: pytest.LogCaptureFixture
) -> None:
    async with JwksServer() as gone:
        url = gone.url
    auth = authorizer(mesh, jwks=None, jwks_url=url)
    with caplog.at_level(logging.WARNING, logger="eventmesh.gateway.authorizers"):
        answer = await auth.authorize(http_request(headers=bearer(RSA.sign(claims()))))
    assert answer.refusal is not None and answer.refusal.status == 401
    assert url in caplog.text
    assert isinstance(auth.keys, JwksUrl)
    assert auth.keys.fetches == 1


class EndlessServer:
    """An HTTP server on a free loopback port whose answer never ends: ``drip`` sends one byte
    at a time, slowly; otherwise it pours 64 KiB chunks until the client goes away."""

    def __init__(self, *, drip: bool) -> None:
        self.drip = drip
        self.sent = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/.well-known/jwks.json"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n"
        )
        writer.write(b'{"keys": [')
        chunk = b" " * (1 if self.drip else 65536)
        try:
            while True:
                writer.write(chunk)
                await writer.drain()
                self.sent += len(chunk)
                await asyncio.sleep(0.05 if self.drip else 0)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> EndlessServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()


async def test_a_jwks_answer_over_the_size_limit_is_not_read_to_its_end(
    mesh: Mesh, caplog: pytest.LogCaptureFixture
) -> None:
    from eventmesh.gateway.authorizers.jwks import MAX_JWKS_BYTES

    async with EndlessServer(drip=False) as endless:
        auth = authorizer(mesh, jwks=None, jwks_url=endless.url)
        with caplog.at_level(logging.WARNING, logger="eventmesh.gateway.authorizers"):
            answer = await asyncio.wait_for(
                auth.authorize(http_request(headers=bearer(RSA.sign(claims())))), 20
            )
        assert answer.refusal is not None and answer.refusal.status == 401
        assert f"over {MAX_JWKS_BYTES} bytes" in caplog.text
        assert endless.sent < 8 * MAX_JWKS_BYTES


async def test_a_jwks_fetch_has_a_deadline_however_slowly_bytes_arrive(
    mesh: Mesh, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventmesh.gateway.authorizers import jwks as jwks_module

    monkeypatch.setattr(jwks_module, "FETCH_TIMEOUT", 1.0)  # each byte comes well within it
    async with EndlessServer(drip=True) as slow:
        auth = authorizer(mesh, jwks=None, jwks_url=slow.url)
        with caplog.at_level(logging.WARNING, logger="eventmesh.gateway.authorizers"):
            answer = await asyncio.wait_for(
                auth.authorize(http_request(headers=bearer(RSA.sign(claims())))), 10
            )
    assert answer.refusal is not None and answer.refusal.status == 401
    assert "within 1 s" in caplog.text


async def test_a_failed_jwks_fetch_is_not_retried_before_the_interval(
    mesh: Mesh, clock: VirtualClock, server: JwksServer
) -> None:
    """While the issuer is down, a flood of tokens must not become a flood of fetches (nor a
    queue of requests each waiting for its own fetch)."""
    server.status = 503
    auth = authorizer(mesh, jwks=None, jwks_url=server.url)
    request = http_request(headers=bearer(RSA.sign(claims())))
    for _ in range(3):
        assert not (await auth.authorize(request)).allowed
    answers = await asyncio.gather(*(auth.authorize(request) for _ in range(5)))
    assert not any(answer.allowed for answer in answers)
    assert server.hits == 1
    server.status = 200
    await clock.advance(REFETCH_INTERVAL - 1)
    assert not (await auth.authorize(request)).allowed
    assert server.hits == 1
    await clock.advance(1)
    assert (await auth.authorize(request)).allowed
    assert server.hits == 2
