"""Where a JWT authorizer finds its public keys: a JWKS URL, a JWKS file, or a JWKS given as
a mapping.

A URL is fetched with httpx when a key is first needed, kept for two hours (as API Gateway
keeps an issuer's keys), and fetched again at once when a token names a key (``kid``) the
set does not hold, so a key rotation needs no restart; refetches for unknown keys are spaced
by :data:`REFETCH_INTERVAL` so a flood of made-up ``kid``\\s cannot turn into a flood of
requests to the issuer, and so are attempts after a failed fetch (meanwhile tokens are refused
as the failed attempt was). A fetch is bounded: :data:`FETCH_TIMEOUT` seconds in all, however
slowly the bytes come, and :data:`MAX_JWKS_BYTES`, abandoned as soon as the body passes it.
Ages are read on the mesh's clock. The URL passes the mesh's host policy
(:mod:`eventmesh._egress`) like every outbound request. A file is read when it is
declared (a missing or malformed file is an error at the call) and read again when a token
names an unknown key and the file changed since.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import orjson
from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWKSetError

from eventmesh._clock import Clock
from eventmesh._egress import EgressPolicy
from eventmesh._errors import ConfigurationError
from eventmesh._redact import redact_text, redact_url

__all__ = [
    "JWKS_MAX_AGE",
    "REFETCH_INTERVAL",
    "JwksDocument",
    "JwksFile",
    "JwksUnavailable",
    "JwksUrl",
    "KeySource",
]

JWKS_MAX_AGE = 7200.0
"""Seconds a fetched key set is used before it is fetched again (API Gateway: two hours)."""

REFETCH_INTERVAL = 10.0
"""Seconds at least between two fetches made because a token named an unknown key."""

FETCH_TIMEOUT = 10.0
"""Seconds (real time) a JWKS fetch may take, from connecting to the body's last byte."""

MAX_JWKS_BYTES = 1 << 20
"""The largest key set read; a longer answer is abandoned as it arrives."""


class JwksUnavailable(Exception):
    """The key set could not be had (unreachable, not JSON, no usable key)."""


class KeySource(Protocol):
    """Gives the public key a token names."""

    async def key(self, kid: str) -> PyJWK | None:
        """The key with that ``kid``, or None when the set holds none; raises
        :class:`JwksUnavailable` when the set cannot be had."""
        ...


def _key_set(data: Any, origin: str) -> dict[str, PyJWK]:
    if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
        raise JwksUnavailable(f"{origin}: not a JWKS (an object with a 'keys' list)")
    try:
        keys = PyJWKSet.from_dict(dict(data)).keys
    except PyJWKSetError as exc:
        raise JwksUnavailable(f"{origin}: {exc}") from None
    return {key.key_id: key for key in keys if key.key_id is not None}


class JwksDocument:
    """A key set given in code (``{"keys": [...]}``)."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        try:
            self._keys = _key_set(document, "jwks")
        except JwksUnavailable as exc:
            raise ConfigurationError(str(exc)) from None

    async def key(self, kid: str) -> PyJWK | None:
        return self._keys.get(kid)


class JwksFile:
    """A key set in a JSON file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._keys, self._stamp = self._read()
        except (OSError, JwksUnavailable) as exc:
            raise ConfigurationError(f"jwks_file {str(self.path)!r}: {exc}") from None

    def _read(self) -> tuple[dict[str, PyJWK], float]:
        stamp = self.path.stat().st_mtime
        try:
            data = orjson.loads(self.path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise JwksUnavailable(f"not JSON: {exc}") from None
        return _key_set(data, str(self.path)), stamp

    async def key(self, kid: str) -> PyJWK | None:
        found = self._keys.get(kid)
        if found is None:
            try:
                if self.path.stat().st_mtime != self._stamp:
                    self._keys, self._stamp = self._read()
            except OSError as exc:
                raise JwksUnavailable(f"jwks_file {str(self.path)!r}: {exc}") from None
            found = self._keys.get(kid)
        return found


class JwksUrl:
    """A key set served at an ``http(s)://`` URL (an issuer's ``jwks_uri``)."""

    def __init__(self, url: str, clock: Clock, egress: EgressPolicy) -> None:
        if not url.startswith(("https://", "http://")):
            raise ConfigurationError(f"jwks_url {redact_url(url)!r}: expected an http(s) URL")
        egress.check_literal(url)
        self.url = url
        self._clock = clock
        self._egress = egress
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._failed_at: float | None = None
        """When the last fetch failed (None after a success): no other is tried for
        :data:`REFETCH_INTERVAL`, so an unreachable issuer is not asked again per request."""
        self._failure = ""
        self._lock = asyncio.Lock()
        self.fetches = 0
        """How many times the set was fetched (for tests and diagnostics)."""

    async def _fetch(self) -> None:
        shown = redact_url(self.url)
        try:
            async with asyncio.timeout(FETCH_TIMEOUT):
                content = await self._get(shown)
        except TimeoutError:
            raise JwksUnavailable(
                f"GET {shown}: no complete answer within {FETCH_TIMEOUT:g} s"
            ) from None
        try:
            data = orjson.loads(content)
        except orjson.JSONDecodeError:
            raise JwksUnavailable(f"GET {shown}: the answer is not JSON") from None
        self._keys = _key_set(data, shown)
        self._fetched_at = self._clock.now()

    async def _get(self, shown: str) -> bytes:
        """The answer's body, read as it comes and abandoned past :data:`MAX_JWKS_BYTES` (a
        server that sends without end must not fill the worker's memory)."""
        import httpx

        refusal = await self._egress.refusal(self.url)
        if refusal is not None:
            raise JwksUnavailable(refusal)
        self.fetches += 1
        too_big = JwksUnavailable(f"GET {shown}: the key set is over {MAX_JWKS_BYTES} bytes")
        headers = {"accept": "application/json", "accept-encoding": "identity"}
        try:
            async with (
                httpx.AsyncClient(timeout=FETCH_TIMEOUT, follow_redirects=False) as client,
                client.stream("GET", self.url, headers=headers) as response,
            ):
                if response.status_code != 200:
                    raise JwksUnavailable(f"GET {shown} answered {response.status_code}")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > MAX_JWKS_BYTES:
                    raise too_big
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise too_big
        except httpx.HTTPError as exc:
            raise JwksUnavailable(f"GET {shown} failed: {redact_text(repr(exc))}") from None
        return bytes(body)

    async def key(self, kid: str) -> PyJWK | None:
        now = self._clock.now()
        fetched = self._fetched_at
        if fetched is not None and now - fetched < JWKS_MAX_AGE and kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            now = self._clock.now()
            fetched = self._fetched_at  # another request may have fetched while we waited
            age = float("inf") if fetched is None else now - fetched
            if age >= JWKS_MAX_AGE or (kid not in self._keys and age >= REFETCH_INTERVAL):
                failed = self._failed_at
                if failed is not None and now - failed < REFETCH_INTERVAL:
                    # The last attempt failed a moment ago: answer as it did, fetch no more.
                    if age >= JWKS_MAX_AGE:
                        raise JwksUnavailable(self._failure)
                    return self._keys.get(kid)
                try:
                    await self._fetch()
                except JwksUnavailable as exc:
                    self._failed_at, self._failure = self._clock.now(), str(exc)
                    raise
                self._failed_at = None
            return self._keys.get(kid)
