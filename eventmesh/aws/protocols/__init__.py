"""The server side of botocore's protocols, one parser and serialiser each, by the name the
service models give (``metadata.protocol``)."""

from __future__ import annotations

from eventmesh.aws.protocols._base import WireProtocol
from eventmesh.aws.protocols._json import JsonProtocol

__all__ = ["PROTOCOLS", "WireProtocol"]

PROTOCOLS: dict[str, WireProtocol] = {
    "json": JsonProtocol(),
}
