"""Calling operation handlers directly (no wire): ``Caller(mesh, "sqs").SendMessage(...)``.

The handlers' own rules on the mesh's virtual clock; the same operations through boto3 and
the endpoint are tested in the ``*_boto3`` modules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from eventmesh import Mesh
from eventmesh._http_messages import HttpRequest
from eventmesh.aws.operations import OPERATIONS, AwsCall
from eventmesh.aws.services import load_services

ENDPOINT = "http://127.0.0.1:4566"


class Caller:
    """Operations of one service as awaitable attributes:
    ``await sqs.CreateQueue(QueueName="q")``."""

    def __init__(self, mesh: Mesh, service: str) -> None:
        load_services()
        self.mesh = mesh
        self.service = service

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Mapping[str, Any]]]:
        handler = OPERATIONS.find(self.service, name)
        if handler is None:
            raise AttributeError(f"{self.service}.{name} has no handler")

        async def call(**given: Any) -> Mapping[str, Any]:
            mesh = self.mesh
            aws_call = AwsCall(
                mesh,
                self.service,
                name,
                mesh.region,
                mesh.account_id,
                HttpRequest("POST", "/"),
                ENDPOINT,
            )
            return await handler(aws_call, given)

        return call
