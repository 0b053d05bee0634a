"""One HTTP sender for every delivery to an ``http(s)://`` endpoint (topic subscriptions, bus
targets): one shared client per mesh, the mesh's host policy, one classification of failures.

httpx (the ``eventmesh[http]`` extra) does the HTTP; the client is made on the first POST and
closed when the mesh stops. Redirects are not followed (a redirect could lead past the host
policy), and every URL shown in a message has its credentials masked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eventmesh._egress import EgressPolicy
from eventmesh._errors import ConfigurationError
from eventmesh._redact import redact_text, redact_url
from eventmesh.delivery.errors import DeliveryError

__all__ = ["HTTP_TIMEOUT", "HttpSender", "require_httpx"]

HTTP_TIMEOUT = 15.0
"""Seconds (real time) one HTTP delivery attempt may take before it counts as failed."""


def require_httpx() -> None:
    """Refuse an HTTP target at configuration when httpx is not installed."""
    try:
        import httpx  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "HTTP(S) subscriptions and targets need httpx: pip install 'eventmesh[http]'"
        ) from None


class HttpSender:
    """POSTs deliveries; see the module docstring. Failures raise :class:`DeliveryError` with
    EventBridge's codes: ``NO_PERMISSIONS`` (the host policy refused the address),
    ``TIMEOUT`` and ``CONNECTION_FAILURE`` (retried), ``SDK_CLIENT_ERROR`` (a malformed URL,
    not retried), ``THROTTLING`` (429, retried) and ``ERROR_FROM_TARGET`` (another non-2xx
    answer, retried on 5xx only)."""

    def __init__(self, egress: EgressPolicy, timeout: float = HTTP_TIMEOUT) -> None:
        self._egress = egress
        self._timeout = timeout
        self._client: Any = None  # an httpx.AsyncClient, made on the first POST

    async def post(self, url: str, content: bytes, headers: Mapping[str, str]) -> None:
        import httpx

        refusal = await self._egress.refusal(url)
        if refusal is not None:
            raise DeliveryError("NO_PERMISSIONS", refusal, retryable=False)
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
        client: httpx.AsyncClient = self._client
        shown = redact_url(url)
        try:
            response = await client.post(url, content=content, headers=dict(headers))
        except httpx.TimeoutException as exc:
            raise DeliveryError(
                "TIMEOUT", f"POST {shown} timed out: {redact_text(repr(exc))}", retryable=True
            ) from None
        except httpx.TransportError as exc:
            raise DeliveryError(
                "CONNECTION_FAILURE",
                f"POST {shown} failed: {redact_text(repr(exc))}",
                retryable=True,
            ) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise DeliveryError(
                "SDK_CLIENT_ERROR",
                f"POST {shown} failed: {redact_text(repr(exc))}",
                retryable=False,
            ) from None
        status = response.status_code
        if status == 429:
            raise DeliveryError("THROTTLING", f"POST {shown} answered 429", retryable=True)
        if not 200 <= status < 300:
            raise DeliveryError(
                "ERROR_FROM_TARGET", f"POST {shown} answered {status}", retryable=status >= 500
            )

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
