"""botocore's service models, loaded once per service, and what the endpoint looks up in them.

The models are botocore's own JSON files (installed with botocore, the ``aws`` extra); they
say each service's protocol, each operation's HTTP binding and input and output shapes, and
each modeled error's code and status, so the parsers and serialisers need nothing written per
operation.
"""

from __future__ import annotations

import functools
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

__all__ = [
    "SERVICES",
    "error_shape",
    "json_version",
    "operation_model",
    "query_compatible",
    "service_model",
]

SERVICES: tuple[str, ...] = ("sqs", "sns", "events", "kinesis", "s3", "lambda", "scheduler")
"""The services the endpoint serves (botocore's names)."""


@functools.cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@functools.cache
def service_model(service: str) -> ServiceModel:
    """botocore's model of ``service`` (cached: loading one takes tens of milliseconds)."""
    return _session().get_service_model(service)


@functools.cache
def operation_model(service: str, name: str) -> OperationModel | None:
    """The model of ``service.name``, None when the service has no such operation."""
    model = service_model(service)
    if name not in model.operation_names:
        return None
    return model.operation_model(name)


def json_version(service: str) -> str:
    """``1.0`` or ``1.1``: the json protocol's version (the content type's suffix)."""
    return str(service_model(service).metadata.get("jsonVersion", "1.0"))


def query_compatible(service: str) -> bool:
    """Whether the service moved from the query protocol to json keeping its query error
    codes (SQS): its errors carry the old code in ``x-amzn-query-error``."""
    return "awsQueryCompatible" in service_model(service).metadata


_SQS = "AWS.SimpleQueueService."
QUERY_CODES: dict[str, dict[str, str]] = {
    "sqs": {
        "QueueDoesNotExist": _SQS + "NonExistentQueue",
        "QueueNameExists": "QueueAlreadyExists",
        "QueueDeletedRecently": _SQS + "QueueDeletedRecently",
        "PurgeQueueInProgress": _SQS + "PurgeQueueInProgress",
        "MessageNotInflight": _SQS + "MessageNotInflight",
        "BatchEntryIdsNotDistinct": _SQS + "BatchEntryIdsNotDistinct",
        "EmptyBatchRequest": _SQS + "EmptyBatchRequest",
        "InvalidBatchEntryId": _SQS + "InvalidBatchEntryId",
        "TooManyEntriesInBatchRequest": _SQS + "TooManyEntriesInBatchRequest",
        "BatchRequestTooLong": _SQS + "BatchRequestTooLong",
        "UnsupportedOperation": _SQS + "UnsupportedOperation",
        "KmsAccessDenied": "KMS.AccessDeniedException",
        "KmsDisabled": "KMS.DisabledException",
        "KmsInvalidKeyUsage": "KMS.InvalidKeyUsageException",
        "KmsInvalidState": "KMS.InvalidStateException",
        "KmsNotFound": "KMS.NotFoundException",
        "KmsOptInRequired": "KMS.OptInRequired",
        "KmsThrottled": "KMS.ThrottlingException",
    }
}
"""The query codes of SQS's modeled errors by shape name (the Smithy model's
``awsQueryError`` traits, which botocore's JSON model of SQS leaves out); a shape not listed
answers its own name."""


@functools.cache
def _errors_by_code(service: str) -> dict[str, tuple[Shape, str]]:
    found: dict[str, tuple[Shape, str]] = {}
    renamed = QUERY_CODES.get(service, {})
    for shape in service_model(service).error_shapes:
        code = str(shape.metadata.get("error", {}).get("code") or renamed.get(shape.name, ""))
        code = code or shape.name
        found.setdefault(shape.name, (shape, code))
        found.setdefault(code, (shape, code))
    return found


def error_shape(service: str, code: str) -> Shape | None:
    """The modeled error whose shape name or (query-compatible) code is ``code``."""
    found = _errors_by_code(service).get(code)
    return found[0] if found is not None else None


def query_code(service: str, code: str) -> str:
    """The query protocol's code for ``code`` (a shape name or already a query code)."""
    found = _errors_by_code(service).get(code)
    return found[1] if found is not None else code


def error_metadata(shape: Shape) -> dict[str, Any]:
    """The ``error`` trait of an error shape (``code``, ``httpStatusCode``, ``senderFault``)."""
    return dict(shape.metadata.get("error", {}))
