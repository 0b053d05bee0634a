"""One connection to a Redis server: the storage URL, the pool, the server version, the scripts.

``redis://[user:password@]host[:port][/db][?option=value&...]`` (``rediss://`` for TLS). The
options are eventmesh's own, checked when the mesh is built (a typo fails there):

``prefix``      the first part of every key (default ``eventmesh``): meshes sharing a server
                keep apart by prefix, processes sharing a mesh use the same one;
``pool_size``   the most connections this process opens (default 50); a command waits up to
                ``timeout`` for a free one;
``timeout``     seconds to connect, to wait for a pooled connection and for a reply (default 5),
                and the longest a command is retried while the server cannot be reached;
``poll_interval`` seconds a long poll waits at most between checks when no notification comes
                (default 1): notifications travel by pub/sub, which may drop one on a reconnect.

Nothing connects until the first command: the backend is built synchronously when the mesh
starts, and the connection belongs to the event loop that uses it. At the first connection the
server's version is read (``INFO server``) and a server older than :data:`MIN_SERVER_VERSION`
is refused, naming the version needed; the scripts are loaded then (``SCRIPT LOAD``) and run by
their SHA1 (``EVALSHA``), reloaded when the server answers ``NOSCRIPT`` (after a restart or a
``SCRIPT FLUSH``).

A command that finds the server unreachable (connection refused, reset or killed, no reply) is
tried again after 0.05 s, 0.1 s, 0.2 s ... (at most 0.5 s apart) on a fresh connection, until
``timeout`` seconds have passed since it was first sent; then it raises
:class:`~eventmesh.BackendError` naming the URL with its password masked. So a connection the
server dropped (``CLIENT KILL``, an idle timeout, a restart) costs a reconnect, not an error,
and a producer facing a server that is down gets its error within ``timeout`` seconds. A
write whose reply was lost may have been done: tried again, it may be done twice (at least
once, as with the producers of SQS and Kinesis). An error the server answers (a script error,
a refused command) is raised at once.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote

import redis.asyncio as aioredis
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    NoScriptError,
    RedisError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from eventmesh import BackendError, ConfigurationError
from eventmesh.backends import url_options
from eventmesh.backends.urls import shown_url

__all__ = [
    "MIN_SERVER_VERSION",
    "RETRY_FIRST_PAUSE",
    "RETRY_MAX_PAUSE",
    "RedisConnection",
    "RedisOptions",
    "Script",
    "check_server_version",
    "parse_redis_url",
]

_T = TypeVar("_T")

RETRY_FIRST_PAUSE = 0.05
"""Seconds before a command that found the server unreachable is tried again (doubling)."""
RETRY_MAX_PAUSE = 0.5
"""The longest pause between two tries of one command."""

UNREACHABLE: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    TimeoutError,
    OSError,
)
"""What a server that cannot be reached raises (redis-py's connection and timeout errors,
a socket's own): tried again within ``timeout``. Any other error is the server's answer."""

REFUSED: tuple[type[BaseException], ...] = (AuthenticationError, AuthorizationError)
"""Connection errors that trying again cannot mend (wrong password, no permission)."""

_MASK = "***"
_LAST_TRY = 0.01
"""Seconds before the deadline at which the last try starts (it needs a moment to connect)."""

MIN_SERVER_VERSION = (6, 2, 0)
"""The oldest Redis accepted: exclusive stream ranges (``XRANGE (id``) and ``XAUTOCLAIM``
arrived in 6.2, and every script writes after reading ``TIME`` (effects replication, 5.0+)."""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise ValueError("must be a positive number of seconds")
    return value


def _prefix(text: str) -> str:
    if not text or any(c in text for c in "{}") or any(c.isspace() for c in text):
        raise ValueError("a prefix is a non-empty word without braces or spaces")
    return text


_URL_OPTIONS = {
    "prefix": _prefix,
    "pool_size": _positive_int,
    "timeout": _positive_float,
    "poll_interval": _positive_float,
}


@dataclass(frozen=True, slots=True)
class RedisOptions:
    """A parsed storage URL: where the server is (``server_url``, without eventmesh's options)
    and eventmesh's options."""

    server_url: str
    prefix: str = "eventmesh"
    pool_size: int = 50
    timeout: float = 5.0
    poll_interval: float = 1.0


def parse_redis_url(url: str) -> RedisOptions:
    """Check a ``redis://`` or ``rediss://`` storage URL without connecting; a
    :class:`~eventmesh.ConfigurationError` says what is wrong."""
    shown = shown_url(url)
    scheme, slashes, rest = url.partition("://")
    if scheme.lower() not in ("redis", "rediss") or not slashes:
        raise ConfigurationError(
            f"{shown!r} is not a Redis storage URL: use 'redis://localhost:6379/0' "
            "('rediss://' for TLS)"
        )
    location, _, query = rest.partition("?")
    authority, _, database = location.partition("/")
    host = authority.rsplit("@", 1)[-1]
    if not host:
        raise ConfigurationError(
            f"{shown!r}: give the server's host, e.g. redis://localhost:6379/0"
        )
    _, colon, port = host.rpartition(":") if not host.endswith("]") else ("", "", "")
    if colon and not port.isdigit():
        raise ConfigurationError(f"{shown!r}: the port {port!r} is not a number")
    if database and not database.isdigit():
        raise ConfigurationError(f"{shown!r}: the database {database!r} is not a number")
    options = url_options(url, query, _URL_OPTIONS, shown=shown)
    return RedisOptions(server_url=f"{scheme.lower()}://{location}", **options)


def check_server_version(found: str, shown: str) -> tuple[int, ...]:
    """The server's version (``INFO server``'s ``redis_version``) as numbers; a
    :class:`~eventmesh.ConfigurationError` naming the version needed if it is too old."""
    version = tuple(int("".join(c for c in part if c.isdigit()) or 0) for part in found.split("."))
    if version < MIN_SERVER_VERSION:
        needed = ".".join(map(str, MIN_SERVER_VERSION))
        raise ConfigurationError(
            f"storage {shown!r}: the Redis server is version {found}; eventmesh-redis needs "
            f"Redis {needed} or newer"
        )
    return version


class Script:
    """A Lua script run by SHA1, loaded at connect and again when the server forgot it."""

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


class RedisConnection:
    """The client of one storage URL, shared by the stores of one backend.

    Commands go through :meth:`run` and :meth:`call`, which try again while the server cannot
    be reached (up to ``timeout`` seconds, see the module text) and turn a lost or refused
    server into a :class:`~eventmesh.BackendError` naming the URL (its password masked).
    """

    def __init__(self, url: str, options: RedisOptions, scripts: Sequence[Script] = ()) -> None:
        self.url = url
        self.shown = shown_url(url)
        self.options = options
        self.server_version: tuple[int, ...] | None = None
        self._scripts = list(scripts)
        self._client: aioredis.Redis | None = None
        self._ready: asyncio.Lock | None = None
        self._closed = False
        self._secrets = _secrets(url)

    @property
    def closed(self) -> bool:
        return self._closed

    def key(self, kind: str, name: str) -> str:
        """The hash-tagged base of one resource's keys: ``{prefix:kind:name}``. Every key of a
        resource starts with it, so one script's keys hash to one Redis Cluster slot."""
        return f"{{{self.options.prefix}:{kind}:{name}}}"

    def channel(self, kind: str) -> str:
        """The pub/sub channel on which a change to any resource of ``kind`` is announced."""
        return f"{self.options.prefix}:{kind}:changed"

    def add_scripts(self, scripts: Sequence[Script]) -> None:
        """Scripts loaded with the others at connect (a store registers its own)."""
        self._scripts.extend(scripts)

    def error(self, doing: str, exc: BaseException, *, after: str = "") -> BackendError:
        """A :class:`~eventmesh.BackendError` for ``exc`` met while ``doing``: the URL shown
        with its password masked, and the password kept out of the server's or client's own
        words too."""
        text = f"{type(exc).__name__}: {str(exc) or 'no answer'}"
        for secret in self._secrets:
            text = text.replace(secret, _MASK)
        return BackendError(f"storage {self.shown!r}: {doing}{after}: {text}")

    async def client(self) -> aioredis.Redis:
        """The connected client: the first call connects, checks the server, loads scripts
        (one try: a server that cannot be reached is a :class:`~eventmesh.BackendError`)."""
        try:
            return await self._connected()
        except RedisError as exc:
            raise self.error("connecting", exc) from exc

    async def _connected(self) -> aioredis.Redis:
        if self._client is not None:
            return self._client
        if self._closed:
            raise BackendError(f"storage {self.shown!r} is closed")
        if self._ready is None:
            self._ready = asyncio.Lock()
        async with self._ready:
            if self._client is None:
                self._client = await self._connect()
        return self._client

    async def _connect(self) -> aioredis.Redis:
        options = self.options
        pool = aioredis.BlockingConnectionPool.from_url(
            options.server_url,
            max_connections=options.pool_size,
            timeout=options.timeout,
            socket_timeout=options.timeout,
            socket_connect_timeout=options.timeout,
        )
        client = aioredis.Redis.from_pool(pool)  # closing the client closes the pool
        try:
            info = await client.info("server")
            version = check_server_version(str(info.get("redis_version", "0")), self.shown)
            for script in self._scripts:
                await client.script_load(script.source)
        except BaseException:
            await client.aclose()
            raise
        self.server_version = version
        return client

    async def run(self, doing: str, command: Callable[[aioredis.Redis], Awaitable[_T]]) -> _T:
        """``command(client)``, tried again on a fresh connection while the server cannot be
        reached, for about ``timeout`` seconds in all: the first try is bounded by the
        socket's timeouts (``timeout`` each), each later one by what is left.

        Raises :class:`~eventmesh.BackendError` saying what was being done (``doing``), for
        how long and how many times it was tried, and the last error.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.options.timeout
        pause = RETRY_FIRST_PAUSE
        tries = 0
        last: BaseException | None = None
        while True:
            tries += 1
            try:
                if tries == 1:  # bounded by the socket's timeouts: no timer on the hot path
                    return await command(await self._connected())
                async with asyncio.timeout_at(deadline):
                    return await command(await self._connected())
            except REFUSED as exc:
                raise self.error(doing, exc) from exc
            except UNREACHABLE as exc:
                if self._closed:
                    raise BackendError(f"storage {self.shown!r} is closed") from exc
                if last is None or type(exc) is not TimeoutError:
                    last = exc  # not the deadline's own timeout, when there is a better one
                left = deadline - loop.time()
                if left <= _LAST_TRY:
                    waited = loop.time() - started
                    raise self.error(
                        doing, last, after=f" (unreachable: {_tries(tries)} in {waited:.1f} s)"
                    ) from last
            except RedisError as exc:
                raise self.error(doing, exc) from exc
            await asyncio.sleep(min(pause, left - _LAST_TRY))
            pause = min(pause * 2, RETRY_MAX_PAUSE)

    async def call(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run ``script`` by SHA1, loading it again if the server answers NOSCRIPT; tried again
        while the server cannot be reached, as :meth:`run` says."""

        async def evaluate(client: aioredis.Redis) -> Any:
            try:
                return await client.evalsha(script.sha, len(keys), *keys, *args)
            except NoScriptError:
                await client.script_load(script.source)
                return await client.evalsha(script.sha, len(keys), *keys, *args)

        return await self.run(f"script {script.name}", evaluate)

    async def close(self) -> None:
        """Close the pool; later commands raise :class:`~eventmesh.BackendError`."""
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def _tries(count: int) -> str:
    return "1 try" if count == 1 else f"{count} tries"


def _secrets(url: str) -> list[str]:
    """The user info of ``url`` that must not appear in an error (password, and both spelled
    as written and decoded)."""
    authority = url.partition("://")[2].partition("/")[0].partition("?")[0]
    if "@" not in authority:
        return []
    userinfo = authority.rsplit("@", 1)[0]
    password = userinfo.partition(":")[2]
    found = {password, unquote(password)} - {""}
    return sorted(found, key=len, reverse=True)
