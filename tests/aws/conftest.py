"""The AWS endpoint on a free loopback port, and real boto3 clients for it.

``aws_endpoint`` runs ``aws_mesh`` (override that fixture for a mesh of your own) served by
:class:`~eventmesh.aws.AwsServer` with every service module's handlers, SigV4 verified
against :data:`KEY`/:data:`SECRET`. ``aws_client(service)`` gives a boto3 client for it whose
calls are awaited (each runs in a thread, since boto3 blocks and the endpoint runs in the
test's event loop)::

    async def test_send(aws_client):
        sqs = aws_client("sqs")
        url = (await sqs.create_queue(QueueName="q"))["QueueUrl"]
        with pytest.raises(ClientError) as caught:
            await sqs.get_queue_url(QueueName="missing")

``aws_client(service).sync`` is the plain boto3 client (for ``generate_presigned_url``,
``exceptions``); ``aws_endpoint.start(...)`` serves another mesh, registry, credentials or
clock in the same test.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.config import Config

from eventmesh import Mesh, Telemetry
from eventmesh.aws import AwsServer, OperationRegistry, parse_credentials

KEY = "AKIDEVENTMESHTEST"
SECRET = "eventmesh-test-secret"
REGION = "us-east-1"

_SYNC_METHODS = frozenset(
    {"generate_presigned_url", "generate_presigned_post", "can_paginate", "get_waiter"}
)


class AsyncClient:
    """A boto3 client whose operation calls are awaited (run in a worker thread)."""

    def __init__(self, client: Any) -> None:
        self.sync = client

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.sync, name)
        if not callable(attribute) or name in _SYNC_METHODS or name.startswith("_"):
            return attribute

        @functools.wraps(attribute)
        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(attribute, *args, **kwargs)

        return call


def boto3_client(
    url: str,
    service: str,
    key: str = KEY,
    secret: str = SECRET,
    region: str = REGION,
    **options: Any,
) -> Any:
    """A plain boto3 client for the endpoint at ``url`` (no retries: a refusal is seen as
    it is)."""
    config = options.pop(
        "config",
        Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=60),
    )
    with _SESSION_LOCK:  # a boto3 session is not thread-safe; its clients are
        return _SESSION.client(
            service,
            endpoint_url=url,
            region_name=region,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=config,
            **options,
        )


# One session for every client: a fresh session reloads botocore's service models (about
# 0.2 s a client); the shared one keeps them loaded. Each client still gets its own
# credentials and region (given to ``client``, not kept in the session).
_SESSION = boto3.session.Session()
_SESSION_LOCK = threading.Lock()


@dataclass
class AwsEndpoint:
    """A running endpoint: its mesh, server and URL, and clients for it."""

    mesh: Mesh
    server: AwsServer
    key: str = KEY
    secret: str = SECRET
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, service: str, **options: Any) -> AsyncClient:
        """An awaited boto3 client (``key``, ``secret``, ``region`` and boto3's
        ``client`` options may be given)."""
        options.setdefault("key", self.key)
        options.setdefault("secret", self.secret)
        return AsyncClient(boto3_client(self.url, service, **options))

    async def start(
        self,
        mesh: Mesh | None = None,
        *,
        credentials: Any = f"{KEY}:{SECRET}",
        registry: OperationRegistry | None = None,
        now: Callable[[], float] | None = None,
    ) -> AwsEndpoint:
        """Serve another endpoint (stopped with this one's fixture)."""
        mesh = mesh or Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)
        server = AwsServer(
            mesh, "127.0.0.1", 0, credentials=credentials, registry=registry, now=now
        )
        await self._stack.enter_async_context(server)
        key, secret = (
            next(iter(parse_credentials(credentials).items()))
            if isinstance(credentials, str)
            else (KEY, SECRET)
        )
        return AwsEndpoint(mesh, server, key, secret)


@pytest.fixture
def aws_mesh() -> Mesh:
    """The mesh the endpoint serves (real clock: SigV4 dates are wall time)."""
    return Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)


@pytest.fixture
async def aws_endpoint(aws_mesh: Mesh) -> AsyncIterator[AwsEndpoint]:
    """``aws_mesh`` running and served on 127.0.0.1 (a free port), credentials KEY:SECRET."""
    async with AwsServer(aws_mesh, "127.0.0.1", 0, credentials=f"{KEY}:{SECRET}") as server:
        endpoint = AwsEndpoint(aws_mesh, server)
        async with endpoint._stack:
            yield endpoint
    assert not aws_mesh.running


@pytest.fixture
def aws_client(aws_endpoint: AwsEndpoint) -> Callable[..., AsyncClient]:
    """``aws_client("sqs")``: an awaited boto3 client for ``aws_endpoint``."""
    return aws_endpoint.client
