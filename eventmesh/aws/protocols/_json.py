"""AWS's json protocol (1.0: SQS; 1.1: EventBridge, Kinesis): ``POST /`` with
``X-Amz-Target: {targetPrefix}.{Operation}`` and the input as a JSON object; answers a JSON
object, errors ``{"__type": ..., "message": ...}``.

SQS moved from the query protocol keeping its old error codes
(``AWS.SimpleQueueService.NonExistentQueue``): its errors name the modeled shape in
``__type`` and the query code in ``x-amzn-query-error: {code};{Sender|Receiver}``, which
botocore reports as the error's Code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from botocore.model import OperationModel

from eventmesh._http_messages import HttpRequest, HttpResponse
from eventmesh.aws import _model
from eventmesh.aws._standard_errors import invalid_input, malformed
from eventmesh.aws._values import TypeProblem
from eventmesh.aws.operations import AwsError
from eventmesh.aws.protocols._json_values import from_json, to_json

__all__ = ["JsonProtocol"]


def _target_operation(request: HttpRequest) -> str | None:
    target = request.header("x-amz-target")
    if not target or "." not in target:
        return None
    return target.rpartition(".")[2]


class JsonProtocol:
    """See the module docstring."""

    def operation_name(self, service: str, request: HttpRequest) -> str | None:
        return _target_operation(request)

    def parse(
        self, service: str, operation: OperationModel, request: HttpRequest
    ) -> dict[str, Any]:
        body = request.body.strip()
        try:
            document = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            raise malformed(service, "The request body is not valid JSON") from None
        if not isinstance(document, dict):
            raise malformed(service, "The request body must be a JSON object")
        shape = operation.input_shape
        if shape is None:
            return {}
        try:
            value = from_json(shape, document)
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
        shape = operation.output_shape
        document = to_json(shape, dict(output)) if shape is not None else {}
        return HttpResponse(
            200,
            [
                ("content-type", f"application/x-amz-json-{_model.json_version(service)}"),
                ("x-amzn-requestid", request_id),
            ],
            orjson.dumps(document),
        )

    def error(
        self, service: str, error: AwsError, request_id: str, operation: str | None
    ) -> HttpResponse:
        headers = [
            ("content-type", f"application/x-amz-json-{_model.json_version(service)}"),
            ("x-amzn-requestid", request_id),
        ]
        code = error.code
        shape = _model.error_shape(service, code)
        kind = "Sender" if error.sender_fault else "Receiver"
        body: dict[str, Any] = {}
        if _model.query_compatible(service):
            if shape is not None:
                query_code = _model.query_code(service, code)
                body["__type"] = f"com.amazonaws.{service}#{shape.name}"
                headers.append(("x-amzn-query-error", f"{query_code};{kind}"))
            else:
                body["__type"] = code
                headers.append(("x-amzn-query-error", f"{code};{kind}"))
        else:
            body["__type"] = code
        body["message"] = error.message
        for name, value in error.fields.items():
            body.setdefault(name, value)
        return HttpResponse(error.status, headers, orjson.dumps(body, default=str))
