"""Outages for the tests, without touching the shared server other tests use.

:class:`PrivateServer` is a ``redis-server`` of the test's own on a free port (nothing on
disk): it may be paused (SIGSTOP: connections open, no answer), have its clients killed
(``CLIENT KILL TYPE normal``) or its scripts flushed. :class:`Proxy` forwards a port of its
own to a server and can be cut (every connection closed, new ones closed at once: the server
looks down) and restored.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

__all__ = ["PASSWORD", "PrivateServer", "Proxy", "start_private_server"]

PASSWORD = "pw-5ecr3t-in-the-url"
"""The private server's password: it must appear in no error and no log line."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class PrivateServer:
    """A ``redis-server`` process of one test (``--save "" --appendonly no``)."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port

    def url(self, password: bool = True) -> str:
        """The server's URL, database 0, with its password in the user info."""
        auth = f":{PASSWORD}@" if password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def admin(self) -> aioredis.Redis:
        return aioredis.Redis.from_url(self.url(), socket_timeout=5)

    def pause(self) -> None:
        """SIGSTOP: connections stay open, nothing answers."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    async def kill_clients(self) -> int:
        """``CLIENT KILL TYPE normal`` but for the connection that sends it (``SKIPME``):
        every connection the code under test holds is closed by the server."""
        admin = self.admin()
        try:
            killed: int = await admin.execute_command("CLIENT", "KILL", "TYPE", "normal")
            return killed
        finally:
            await admin.aclose()

    async def kill_subscribers(self) -> int:
        admin = self.admin()
        try:
            killed: int = await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
            return killed
        finally:
            await admin.aclose()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
        self.process.wait(10)


def _launch(binary: str, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--requirepass", PASSWORD, "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def start_private_server() -> PrivateServer:
    """A fresh server on a free port; skips (fails under ``CI=true``) without redis-server."""
    binary = shutil.which("redis-server")
    if binary is None:
        reason = "redis-server is not installed: the outage tests start servers of their own"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason)
        pytest.skip(reason)
    for _ in range(5):
        port = _free_port()
        process = _launch(binary, port)
        server = PrivateServer(process, port)
        for _ in range(100):
            if process.poll() is not None:
                break  # the port was taken meanwhile: another one
            admin = server.admin()
            try:
                await admin.ping()
                return server
            except (RedisError, OSError):
                await asyncio.sleep(0.02)
            finally:
                await admin.aclose()
        server.stop()
    pytest.fail("could not start a private redis-server")


class Proxy:
    """A TCP forwarder to ``127.0.0.1:target`` on a port of its own, which can be cut."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._cut = False

    async def __aenter__(self) -> Proxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self._drop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    def url(self, options: str = "") -> str:
        """The URL through the proxy of a :class:`PrivateServer` (its password included)."""
        return f"redis://:{PASSWORD}@127.0.0.1:{self.port}/0{options}"

    def cut(self) -> None:
        """Close every connection, and each new one as soon as it is made."""
        self._cut = True
        self._drop()

    def restore(self) -> None:
        self._cut = False

    def _drop(self) -> None:
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.transport.abort()
            return
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.transport.abort()
            return
        if self._cut:  # cut while this connection was being made upstream
            writer.transport.abort()
            up_writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._open.update(pair)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            for each in pair:
                self._open.discard(each)
                each.transport.abort()

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while (data := await source.read(65536)) and not self._cut:
                sink.write(data)
                await sink.drain()
        sink.transport.abort()
