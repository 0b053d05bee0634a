"""AWS's query protocol (SNS): the input as form parameters (``Action``, ``Version``, and
members flattened to ``Name``, ``List.member.1``, ``Map.entry.1.key``), the answer as XML
``<{Op}Response><{Op}Result>...</{Op}Result><ResponseMetadata><RequestId>`` and errors as
``<ErrorResponse><Error><Type>Sender</Type><Code>..</Code><Message>..</Message></Error>
<RequestId>..``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree as ET

from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

from eventmesh._http_messages import HttpRequest, HttpResponse
from eventmesh.aws import _model
from eventmesh.aws._detect import form_parameters
from eventmesh.aws._standard_errors import invalid_input
from eventmesh.aws._values import TypeProblem, parse_text_scalar
from eventmesh.aws.operations import AwsError
from eventmesh.aws.protocols._xml_values import write_members, xml_bytes

__all__ = ["QueryProtocol", "namespace"]

CONTENT_TYPE = "text/xml"


def namespace(service: str) -> str:
    """The query protocol's XML namespace: ``http://sns.amazonaws.com/doc/2010-03-31/``."""
    model = _model.service_model(service)
    prefix = model.metadata.get("endpointPrefix", service)
    return f"http://{prefix}.amazonaws.com/doc/{model.api_version}/"


def _name(shape: Shape, default: str) -> str:
    return str(shape.serialization.get("name", default))


class _Reader:
    """The form parameters of one request, read by shape."""

    def __init__(self, parameters: Mapping[str, str]) -> None:
        self.parameters = parameters
        self.prefixes = {key.rsplit(".", i)[0] for key in parameters for i in range(1, 8)}

    def present(self, prefix: str) -> bool:
        return prefix in self.parameters or prefix in self.prefixes

    def read(self, shape: Shape, prefix: str) -> Any:
        if isinstance(shape, StructureShape):
            result: dict[str, Any] = {}
            for name, member in shape.members.items():
                key = _name(member, name)
                key = f"{prefix}.{key}" if prefix else key
                if (
                    isinstance(member, ListShape)
                    and member.serialization.get("flattened")
                    and member.member.serialization.get("name")
                ):
                    key = ".".join([*key.split(".")[:-1], _name(member.member, "")])
                if self.present(key):
                    result[name] = self.read(member, key)
            return result
        if isinstance(shape, ListShape):
            if self.parameters.get(prefix) == "":
                return []
            if shape.serialization.get("flattened"):
                base = prefix
            else:
                base = f"{prefix}.{_name(shape.member, 'member')}"
            items = []
            index = 1
            while self.present(f"{base}.{index}"):
                items.append(self.read(shape.member, f"{base}.{index}"))
                index += 1
            return items
        if isinstance(shape, MapShape):
            base = prefix if shape.serialization.get("flattened") else f"{prefix}.entry"
            key_name = _name(shape.key, "key")
            value_name = _name(shape.value, "value")
            entries: dict[str, Any] = {}
            index = 1
            while self.present(f"{base}.{index}"):
                entry_key = self.parameters.get(f"{base}.{index}.{key_name}")
                if entry_key is not None:
                    entries[entry_key] = self.read(shape.value, f"{base}.{index}.{value_name}")
                index += 1
            return entries
        text = self.parameters.get(prefix)
        if text is None:
            return None
        return parse_text_scalar(shape, text, prefix, "iso8601")


class QueryProtocol:
    """See the module docstring."""

    def operation_name(self, service: str, request: HttpRequest) -> str | None:
        return form_parameters(request).get("Action")

    def parse(
        self, service: str, operation: OperationModel, request: HttpRequest
    ) -> dict[str, Any]:
        shape = operation.input_shape
        if shape is None:
            return {}
        try:
            value = _Reader(form_parameters(request)).read(shape, "")
        except TypeProblem as problem:
            raise invalid_input(service, str(problem)) from None
        return value if isinstance(value, dict) else {}

    def serialise(
        self,
        service: str,
        operation: OperationModel,
        output: Mapping[str, Any],
        request_id: str,
    ) -> HttpResponse:
        root = ET.Element(f"{operation.name}Response", xmlns=namespace(service))
        shape = operation.output_shape
        if shape is not None:
            wrapper = shape.serialization.get("resultWrapper", f"{operation.name}Result")
            write_members(ET.SubElement(root, wrapper), shape, dict(output))
        metadata = ET.SubElement(root, "ResponseMetadata")
        ET.SubElement(metadata, "RequestId").text = request_id
        return HttpResponse(
            200,
            [("content-type", CONTENT_TYPE), ("x-amzn-requestid", request_id)],
            xml_bytes(root),
        )

    def error(
        self, service: str, error: AwsError, request_id: str, operation: str | None
    ) -> HttpResponse:
        status = error.status
        code = error.code
        shape = _model.error_shape(service, code)
        if shape is not None:
            trait = _model.error_metadata(shape)
            code = str(trait.get("code") or shape.name)
            if status == 400 and trait.get("httpStatusCode"):
                status = int(trait["httpStatusCode"])
        root = ET.Element("ErrorResponse", xmlns=namespace(service))
        element = ET.SubElement(root, "Error")
        ET.SubElement(element, "Type").text = "Sender" if error.sender_fault else "Receiver"
        ET.SubElement(element, "Code").text = code
        ET.SubElement(element, "Message").text = error.message
        for name, value in error.fields.items():
            ET.SubElement(element, name).text = str(value)
        ET.SubElement(root, "RequestId").text = request_id
        return HttpResponse(
            status,
            [("content-type", CONTENT_TYPE), ("x-amzn-requestid", request_id)],
            xml_bytes(root),
        )
