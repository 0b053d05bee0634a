"""Calling the EventBridge, Kinesis and Scheduler handlers directly (no HTTP), as the
endpoint does once the request is parsed: on a mesh with a virtual clock."""

from __future__ import annotations

from typing import Any

import pytest

import eventmesh.aws.services.events
import eventmesh.aws.services.kinesis
import eventmesh.aws.services.scheduler  # noqa: F401  (registers the handlers)
from eventmesh import Mesh
from eventmesh._http_messages import HttpRequest
from eventmesh.aws.operations import OPERATIONS, AwsCall, AwsError

ACCOUNT = "123456789012"
REGION = "us-east-1"


async def aws(mesh: Mesh, service: str, name: str, **params: Any) -> Any:
    """The handler's answer to ``service.name`` called with ``params``."""
    handler = OPERATIONS.find(service, name)
    assert handler is not None, f"{service}.{name} has no handler"
    call = AwsCall(
        mesh, service, name, REGION, ACCOUNT, HttpRequest("POST", "/"), "http://127.0.0.1:4566"
    )
    return await handler(call, params)


async def refused(mesh: Mesh, service: str, name: str, **params: Any) -> AwsError:
    """The AwsError the call raises."""
    with pytest.raises(AwsError) as caught:
        await aws(mesh, service, name, **params)
    return caught.value
