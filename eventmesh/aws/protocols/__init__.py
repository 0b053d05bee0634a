"""The server side of botocore's protocols, one parser and serialiser each, by the name the
service models give (``metadata.protocol``)."""

from __future__ import annotations

from eventmesh.aws.protocols._base import WireProtocol
from eventmesh.aws.protocols._json import JsonProtocol
from eventmesh.aws.protocols._query import QueryProtocol
from eventmesh.aws.protocols._rest_json import RestJsonProtocol
from eventmesh.aws.protocols._rest_xml import RestXmlProtocol

__all__ = ["PROTOCOLS", "WireProtocol"]

PROTOCOLS: dict[str, WireProtocol] = {
    "json": JsonProtocol(),
    "query": QueryProtocol(),
    "rest-json": RestJsonProtocol(),
    "rest-xml": RestXmlProtocol(),
}
