"""What an operation handler is given and returns, and the registry that finds it.

A handler serves one operation of one service (botocore's names: ``("sqs", "SendMessage")``).
It is called with the :class:`AwsCall` and the operation's input as botocore itself would
hand it to a client's caller: a dict keyed by the input shape's member names, blobs as
bytes, timestamps as aware datetimes, already checked against the model (required members,
types, enums). It returns the output as a dict keyed by the output shape's member names (the
protocol's serialiser writes the wire format), or raises :class:`AwsError` with AWS's code.

Service modules register their handlers with :func:`operation` when imported; the list of
service modules is :data:`eventmesh.aws.services.SERVICE_MODULES`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eventmesh._http_messages import HttpRequest

if TYPE_CHECKING:
    from eventmesh._mesh import Mesh

__all__ = [
    "AwsCall",
    "AwsError",
    "OperationHandler",
    "OperationRegistry",
    "OPERATIONS",
    "operation",
]


class AwsError(Exception):
    """An error answered in AWS's shape for the service's protocol.

    ``code`` is AWS's error code (``AWS.SimpleQueueService.NonExistentQueue``,
    ``ResourceNotFoundException``, ``NoSuchKey``), ``status`` the HTTP status AWS answers
    with, ``sender_fault`` whether the caller is at fault (query protocol's ``Type``:
    ``Sender`` or ``Receiver``), ``fields`` extra members some errors carry (S3's
    ``BucketName``/``Key``, SQS's query-compatible code header).
    """

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 400,
        *,
        sender_fault: bool = True,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.sender_fault = sender_fault
        self.fields = dict(fields or {})


@dataclass(frozen=True, slots=True)
class AwsCall:
    """One call: the mesh it acts on, which operation, who asked, and the raw request (for
    what the model does not carry: S3's streaming body, the Host used). ``endpoint_url`` is
    the endpoint's own base URL (``http://127.0.0.1:4566``), for URLs the answers contain
    (``QueueUrl``). ``access_key`` is the SigV4 access key id the request was signed with
    (None when unsigned and the endpoint accepts that)."""

    mesh: Mesh
    service: str
    operation: str
    region: str
    account_id: str
    request: HttpRequest
    endpoint_url: str
    access_key: str | None = None


OperationHandler = Callable[[AwsCall, dict[str, Any]], Awaitable[Mapping[str, Any]]]


class OperationRegistry:
    """Handlers by (service, operation)."""

    def __init__(self) -> None:
        self._handlers: dict[tuple[str, str], OperationHandler] = {}

    def add(self, service: str, name: str, handler: OperationHandler) -> None:
        key = (service, name)
        if key in self._handlers and self._handlers[key] is not handler:
            raise ValueError(f"{service}.{name} already has a handler")
        self._handlers[key] = handler

    def find(self, service: str, name: str) -> OperationHandler | None:
        return self._handlers.get((service, name))

    def operations(self, service: str) -> list[str]:
        """The operations of ``service`` that have handlers, sorted."""
        return sorted(name for (owner, name) in self._handlers if owner == service)


OPERATIONS = OperationRegistry()
"""The registry the endpoint uses; service modules add to it when imported."""


def operation(
    service: str, name: str, registry: OperationRegistry = OPERATIONS
) -> Callable[[OperationHandler], OperationHandler]:
    """Register the decorated coroutine function as the handler of ``service.name``."""

    def register(handler: OperationHandler) -> OperationHandler:
        registry.add(service, name, handler)
        return handler

    return register
