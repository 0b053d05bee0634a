"""An ``http(s)://`` endpoint as a target: the text is POSTed through the mesh's one HTTP
sender, with the headers the source chose (SNS's ``x-amz-sns-*``, EventBridge's)."""

from __future__ import annotations

from typing import Any

from eventmesh._redact import redact_url
from eventmesh.delivery.http import require_httpx
from eventmesh.delivery.target import DeliveryContext, Outgoing

__all__ = ["HTTP", "HttpTarget"]


class HttpTarget:
    kind = "http"

    def __init__(self, url: str, context: DeliveryContext) -> None:
        self.url = url
        self._context = context

    @property
    def arn(self) -> str:
        return redact_url(self.url)  # shown in logs and dead letters: no credentials

    async def deliver(self, outgoing: Outgoing, timeout: float | None = None) -> Any:
        await self._context.http.post(self.url, outgoing.text.encode(), outgoing.headers or {})


class _HttpKind:
    name = "http"

    def claims(self, spec: Any, context: DeliveryContext) -> bool:
        return isinstance(spec, str) and spec.startswith(("http://", "https://"))

    def bind(self, spec: Any, context: DeliveryContext) -> HttpTarget:
        require_httpx()
        context.egress.check_literal(spec)
        return HttpTarget(spec, context)


HTTP = _HttpKind()
