"""Access logs: one JSON line per request on the ``eventmesh.http.access`` logger, with API
Gateway's access-log fields.

The fields are those of API Gateway's JSON access-log format (``$context.requestId``,
``$context.identity.sourceIp`` as ``ip``, ``$context.requestTime``, ``$context.httpMethod``,
``$context.routeKey``, ``$context.status``, ``$context.protocol``,
``$context.responseLength``, ``$context.integrationLatency``) plus ``path``, ``apiId``,
``stage``, ``responseLatency`` and ``errorMessage``. As in API Gateway's logs every value is
a string and a value that does not apply is ``"-"``. Nothing of the request's headers, query
or body is logged (an ``Authorization`` header, an API key or a cookie never reaches a log).

The line is built only when the logger is enabled for INFO; the fields also go in the
record's ``extra`` as ``http_access`` for structured handlers.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import orjson

__all__ = ["AccessRecord", "access_logger", "log_access", "request_time"]

access_logger = logging.getLogger("eventmesh.http.access")

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def request_time(epoch: float) -> str:
    """``$context.requestTime``: CLF-formatted UTC, ``04/Mar/2020:19:15:17 +0000``."""
    t = time.gmtime(epoch)
    return (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


@dataclass(slots=True)
class AccessRecord:
    """One request's access-log fields, as the front learns them."""

    request_id: str
    ip: str
    received_at: float
    method: str
    path: str
    protocol: str
    route_key: str | None = None
    api_id: str | None = None
    stage: str | None = None
    status: int | None = None
    response_length: int | None = None
    integration_latency_ms: float | None = None
    response_latency_ms: float | None = None
    error: str | None = None

    def fields(self) -> dict[str, str]:
        def text(value: object) -> str:
            return "-" if value is None or value == "" else str(value)

        def millis(value: float | None) -> str:
            return "-" if value is None else str(round(value))

        return {
            "requestId": self.request_id,
            "ip": text(self.ip),
            "requestTime": request_time(self.received_at),
            "httpMethod": self.method,
            "routeKey": text(self.route_key),
            "status": text(self.status),
            "protocol": self.protocol,
            "responseLength": text(self.response_length),
            "integrationLatency": millis(self.integration_latency_ms),
            "responseLatency": millis(self.response_latency_ms),
            "path": self.path,
            "apiId": text(self.api_id),
            "stage": text(self.stage),
            "errorMessage": text(self.error),
        }


def log_access(record: AccessRecord) -> None:
    """Write ``record`` as one JSON line at INFO (nothing is built when INFO is off)."""
    if access_logger.isEnabledFor(logging.INFO):
        fields = record.fields()
        access_logger.info(orjson.dumps(fields).decode(), extra={"http_access": fields})
