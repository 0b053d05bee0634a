"""AWS's rest-xml protocol (S3): the operation by method and URI template (path-style
addressing; virtual-host-style requests are rewritten to it before, see
:mod:`eventmesh.aws._s3_addressing`), members bound to the URI, query string and headers
(``x-amz-meta-*`` as a map), the payload member as the body (an object's bytes, or an XML
document in the model's namespace); errors ``<Error><Code>..</Code><Message>..</Message>
<RequestId>..</RequestId><HostId>..</HostId></Error>``. Answers to HEAD go without a body.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree as ET

from botocore.model import OperationModel, Shape, StructureShape

from eventmesh._http_messages import HttpRequest, HttpResponse
from eventmesh.aws._standard_errors import invalid_input, malformed
from eventmesh.aws._values import TypeProblem
from eventmesh.aws.operations import AwsError
from eventmesh.aws.protocols._rest import (
    bound_input,
    bound_output,
    find,
    is_raw,
    payload_member,
)
from eventmesh.aws.protocols._xml_values import from_xml, write_members, xml_bytes

__all__ = ["RestXmlProtocol", "S3_NAMESPACE"]

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
CONTENT_TYPE = "application/xml"
_ROOTS = {
    "ListObjects": "ListBucketResult",
    "ListObjectsV2": "ListBucketResult",
    "ListBuckets": "ListAllMyBucketsResult",
    "DeleteObjects": "DeleteResult",
    "GetBucketNotificationConfiguration": "NotificationConfiguration",
    "CreateMultipartUpload": "InitiateMultipartUploadResult",
    "CompleteMultipartUpload": "CompleteMultipartUploadResult",
    "ListMultipartUploads": "ListMultipartUploadsResult",
    "ListParts": "ListPartsResult",
    "ListObjectVersions": "ListVersionsResult",
    "GetBucketTagging": "Tagging",
    "GetObjectTagging": "Tagging",
}
"""S3's root element names where the model does not give them (botocore does not read
them; other SDKs and tools may)."""


def _namespace(shape: Shape) -> str:
    namespace = shape.serialization.get("xmlNamespace")
    if isinstance(namespace, Mapping):
        return str(namespace.get("uri", S3_NAMESPACE))
    return S3_NAMESPACE


def host_id() -> str:
    """An ``x-amz-id-2`` value (S3's extended request id: opaque base64)."""
    return base64.b64encode(os.urandom(48)).decode("ascii")


class _DocumentType(Exception):
    """A document type declaration in a request body."""


class _NoDocumentType(ET.TreeBuilder):
    """A tree builder refusing documents with a document type (and so any entity)."""

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise _DocumentType(name)


class RestXmlProtocol:
    """See the module docstring."""

    def operation_name(self, service: str, request: HttpRequest) -> str | None:
        found = find(service, request)
        return found[0] if found is not None else None

    def parse(
        self, service: str, operation: OperationModel, request: HttpRequest
    ) -> dict[str, Any]:
        found = find(service, request)
        labels = found[1] if found is not None else {}
        shape = operation.input_shape
        if not isinstance(shape, StructureShape):
            return {}
        try:
            result = bound_input(operation, request, labels)
            payload = payload_member(shape)
            if payload is not None:
                name, member = payload
                if is_raw(member):
                    result[name] = (
                        request.body if member.type_name == "blob" else request.body.decode()
                    )
                elif request.body.strip():
                    result[name] = from_xml(member, self._document(service, request.body))
            elif request.body.strip():
                bodied = from_xml(shape, self._document(service, request.body))
                result.update(bodied)
        except TypeProblem as problem:
            raise invalid_input(service, str(problem)) from None
        except UnicodeDecodeError:
            raise malformed(service, "The request body is not UTF-8") from None
        return result

    @staticmethod
    def _document(service: str, body: bytes) -> ET.Element:
        if b"<!DOCTYPE" in body or b"<!ENTITY" in body:  # no entity expansion, ever
            raise malformed(service, "The XML you provided was not well-formed")
        # ... also not in encodings where those bytes do not show (UTF-16): the parser stops
        # at a document type's start, before any entity is declared or a DTD fetched
        parser = ET.XMLParser(target=_NoDocumentType())
        try:
            parser.feed(body)
            return parser.close()
        except (ET.ParseError, _DocumentType):
            raise malformed(service, "The XML you provided was not well-formed") from None

    def serialise(
        self,
        service: str,
        operation: OperationModel,
        output: Mapping[str, Any],
        request_id: str,
    ) -> HttpResponse:
        values = dict(output)
        status, headers = bound_output(operation, values)
        headers += [("x-amz-request-id", request_id), ("x-amz-id-2", host_id())]
        shape = operation.output_shape
        body = b""
        payload = payload_member(shape)
        if payload is not None:
            name, member = payload
            value = values.get(name)
            if is_raw(member):
                body = value.encode() if isinstance(value, str) else bytes(value or b"")
                if not any(key.lower() == "content-type" for key, _ in headers):
                    headers.append(("content-type", "binary/octet-stream"))
            elif value is not None:
                root = ET.Element(
                    str(member.serialization.get("name", member.name)),
                    xmlns=_namespace(member),
                )
                write_members(root, member, value)
                body = xml_bytes(root)
                headers.append(("content-type", CONTENT_TYPE))
        elif isinstance(shape, StructureShape) and any(
            not member.serialization.get("location") for member in shape.members.values()
        ):
            root_name = _ROOTS.get(
                operation.name, str(shape.serialization.get("name", f"{operation.name}Result"))
            )
            root = ET.Element(root_name, xmlns=_namespace(shape))
            write_members(root, shape, values)
            body = xml_bytes(root)
            headers.append(("content-type", CONTENT_TYPE))
        code = status or int(operation.http.get("responseCode", 200))
        if "ContentRange" in values and values["ContentRange"] and code == 200:
            code = 206  # a range of an object (GetObject with Range)
        if code == 204:
            body = b""
        return HttpResponse(code, headers, body)

    def error(
        self, service: str, error: AwsError, request_id: str, operation: str | None
    ) -> HttpResponse:
        root = ET.Element("Error")
        ET.SubElement(root, "Code").text = error.code
        ET.SubElement(root, "Message").text = error.message
        for name, value in error.fields.items():
            ET.SubElement(root, name).text = str(value)
        ET.SubElement(root, "RequestId").text = request_id
        identity = host_id()
        ET.SubElement(root, "HostId").text = identity
        return HttpResponse(
            error.status,
            [
                ("content-type", CONTENT_TYPE),
                ("x-amz-request-id", request_id),
                ("x-amz-id-2", identity),
            ],
            xml_bytes(root),
        )
