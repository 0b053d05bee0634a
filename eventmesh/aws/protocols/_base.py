"""What every protocol provides: which operation a request is, its input, and the answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from botocore.model import OperationModel

from eventmesh._http_messages import HttpRequest, HttpResponse
from eventmesh.aws.operations import AwsError

__all__ = ["WireProtocol"]


class WireProtocol(Protocol):
    """One of botocore's protocols, server side, generic over a service's operations."""

    def operation_name(self, service: str, request: HttpRequest) -> str | None:
        """The operation ``request`` calls (may not be one of the model's), None when the
        request does not say."""

    def parse(
        self, service: str, operation: OperationModel, request: HttpRequest
    ) -> dict[str, Any]:
        """The operation's input as handlers are given it (not yet validated); AwsError when
        the request cannot be read."""

    def serialise(
        self,
        service: str,
        operation: OperationModel,
        output: Mapping[str, Any],
        request_id: str,
    ) -> HttpResponse:
        """The answer for a handler's ``output``."""

    def error(
        self, service: str, error: AwsError, request_id: str, operation: str | None
    ) -> HttpResponse:
        """The answer for ``error``, as the service's protocol writes errors."""
