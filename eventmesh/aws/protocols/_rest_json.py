"""AWS's rest-json protocol (Lambda, Scheduler): the operation by method and URI template,
members bound to the URI, query string and headers, the rest a JSON body (or the payload
member's bytes: Lambda's ``Invoke``); errors carry the code in ``x-amzn-errortype`` and a
JSON body ``{"Type": "User", "message": ...}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from botocore.model import OperationModel, StructureShape

from eventmesh._http_messages import HttpRequest, HttpResponse
from eventmesh.aws import _model
from eventmesh.aws._standard_errors import invalid_input, malformed
from eventmesh.aws._values import TypeProblem
from eventmesh.aws.operations import AwsError
from eventmesh.aws.protocols._json_values import from_json, to_json
from eventmesh.aws.protocols._rest import (
    bound_input,
    bound_output,
    find,
    is_raw,
    payload_member,
)

__all__ = ["RestJsonProtocol"]

CONTENT_TYPE = "application/json"


class RestJsonProtocol:
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
                    if request.body:
                        result[name] = (
                            request.body
                            if member.type_name == "blob"
                            else request.body.decode("utf-8")
                        )
                elif request.body.strip():
                    result[name] = from_json(member, self._document(service, request.body))
                return result
            if request.body.strip():
                document = self._document(service, request.body)
                bodied = from_json(shape, document)
                for key, value in bodied.items():
                    if not shape.members[key].serialization.get("location"):
                        result[key] = value
        except TypeProblem as problem:
            raise invalid_input(service, str(problem)) from None
        except UnicodeDecodeError:
            raise malformed(service, "The request body is not UTF-8") from None
        return result

    @staticmethod
    def _document(service: str, body: bytes) -> Any:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise malformed(service, "The request body is not valid JSON") from None
        if not isinstance(document, dict):
            raise malformed(service, "The request body must be a JSON object")
        return document

    def serialise(
        self,
        service: str,
        operation: OperationModel,
        output: Mapping[str, Any],
        request_id: str,
    ) -> HttpResponse:
        values = dict(output)
        status, headers = bound_output(operation, values)
        headers.append(("x-amzn-requestid", request_id))
        shape = operation.output_shape
        body = b""
        payload = payload_member(shape)
        if payload is not None:
            name, member = payload
            value = values.get(name)
            if is_raw(member):
                body = value.encode() if isinstance(value, str) else bytes(value or b"")
                headers.append(("content-type", "application/octet-stream"))
            else:
                body = orjson.dumps(to_json(member, value) if value is not None else {})
                headers.append(("content-type", CONTENT_TYPE))
        elif isinstance(shape, StructureShape):
            document = to_json(shape, values) or {}
            for key, member in shape.members.items():
                if member.serialization.get("location"):
                    document.pop(str(member.serialization.get("name", key)), None)
            body = orjson.dumps(document)
            headers.append(("content-type", CONTENT_TYPE))
        code = status or int(operation.http.get("responseCode", 200))
        if code == 204:
            body = b""
        return HttpResponse(code, headers, body)

    def error(
        self, service: str, error: AwsError, request_id: str, operation: str | None
    ) -> HttpResponse:
        status = error.status
        shape = _model.error_shape(service, error.code)
        code = error.code
        if shape is not None:
            code = shape.name
            trait = _model.error_metadata(shape)
            if status == 400 and trait.get("httpStatusCode"):
                status = int(trait["httpStatusCode"])
        body: dict[str, Any] = {
            "Type": "User" if error.sender_fault else "Service",
            "message": error.message,
        }
        for name, value in error.fields.items():
            body.setdefault(name, value)
        return HttpResponse(
            status,
            [
                ("content-type", CONTENT_TYPE),
                ("x-amzn-errortype", code),
                ("x-amzn-requestid", request_id),
            ],
            orjson.dumps(body, default=str),
        )
