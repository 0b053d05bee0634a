"""Wake long polls when something changes, in any process: pub/sub on one channel per kind.

A script that makes messages visible (a send, a delete that frees a FIFO group, a visibility
set to 0, a purge) publishes the resource's name on the kind's channel; each process keeps one
subscribed connection and wakes its receivers waiting on that name. A notification can be lost
(pub/sub delivers at most once, and nothing while reconnecting), so a waiting receiver also
checks again every ``poll_interval`` seconds: a lost notification costs latency, never a
message.

Receivers of a queue compete for its messages, so a send's notification (``<count>:<name>``,
the messages it made visible) wakes that many of them, the longest waiting first, not all:
waking every poller of a process for each message sent made all but one of them run a
receive that found nothing. A receiver that fills a batch of several passes a wake on
(:meth:`Doorbell.ring` again), since more may be waiting. Any other notification (a bare
name: a FIFO group freed, a visibility set to 0, a purge), a connection lost or a store
closing wakes every receiver concerned.

A lost subscription is made again after 0.05 s, then after pauses doubling up to 2 s, for as
long as the server cannot be reached; one warning says it was lost, one line says when it is
back (not one line per try).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.exceptions import RedisError

from eventmesh import BackendError
from eventmesh_redis.connection import RedisConnection

__all__ = ["Doorbell"]

logger = logging.getLogger("eventmesh_redis")

FIRST_PAUSE = 0.05
"""Seconds before a lost subscription is made again (doubling each try)."""
MAX_PAUSE = 2.0
"""The longest pause between two tries to subscribe again."""


class Doorbell:
    """The receivers of one process waiting on resources of one kind."""

    def __init__(self, connection: RedisConnection, channel: str) -> None:
        self._connection = connection
        self._channel = channel
        self._waiters: dict[str, dict[asyncio.Future[None], None]] = {}
        """Per name, the waiting receivers' futures in the order they registered."""
        self._listener: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        """Set while a receiver need not wait to start checking: subscribed, or closed (no
        notification will come, and a receive ends at once on a closed store)."""
        self._stopped = False

    async def listening(self, within: float) -> None:
        """Start listening if not yet, and wait up to ``within`` s for the subscription (a
        receiver that checks before it would miss a notification sent meanwhile)."""
        if self._listener is None and not self._stopped:
            self._listener = asyncio.create_task(self._listen(), name=f"doorbell {self._channel}")
        if not self._ready.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), within)

    def register(self, name: str) -> asyncio.Future[None]:
        """A future done at the next notification for ``name`` (register before checking)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(name, {})[future] = None
        return future

    def unregister(self, name: str, future: asyncio.Future[None]) -> None:
        waiting = self._waiters.get(name)
        if waiting is not None:
            waiting.pop(future, None)
            if not waiting:
                del self._waiters[name]

    def ring(self, name: str | None = None, count: int | None = None) -> None:
        """Wake ``count`` receivers waiting on ``name``, the longest waiting first (all of them
        when ``count`` is None; every receiver of every name when ``name`` is None)."""
        if name is None:
            for waiting in list(self._waiters.values()):
                for future in waiting:
                    if not future.done():
                        future.set_result(None)
            return
        left = count
        for future in self._waiters.get(name, ()):
            if left is not None and left <= 0:
                return
            if not future.done():
                future.set_result(None)
                if left is not None:
                    left -= 1

    def notified(self, data: str) -> None:
        """A notification's text: ``<count>:<name>`` wakes ``count`` receivers of ``name``,
        a bare name all of them."""
        count, colon, name = data.partition(":")
        if colon and count.isdigit():
            self.ring(name, int(count))
        else:
            self.ring(data)

    async def _listen(self) -> None:
        backoff = FIRST_PAUSE
        lost_at: float | None = None  # when the subscription was lost, while it is
        loop = asyncio.get_running_loop()
        while not self._stopped:
            try:
                client = await self._connection.client()
                pubsub = client.pubsub()
                try:
                    await pubsub.subscribe(self._channel)
                    while True:
                        message = await pubsub.get_message(timeout=None)
                        if message is None:
                            continue
                        if message["type"] == "subscribe":
                            self._ready.set()
                            backoff = FIRST_PAUSE
                            if lost_at is not None:
                                logger.warning(
                                    "%s: subscribed to %s again after %.1f s",
                                    self._connection.shown,
                                    self._channel,
                                    loop.time() - lost_at,
                                )
                                lost_at = None
                        elif message["type"] == "message":
                            data = message["data"]
                            self.notified(data.decode() if isinstance(data, bytes) else str(data))
                finally:
                    if not self._stopped:
                        self._ready.clear()
                    with contextlib.suppress(RedisError, OSError):
                        await pubsub.aclose()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Lost connection or a closed store: the receivers' fallback polls carry on.
                # (A cancellation may reach here as a connection error raised by the client.)
                if self._stopped or self._connection.closed:
                    return
                if lost_at is None:
                    lost_at = loop.time()
                    if not isinstance(exc, BackendError):
                        exc = self._connection.error("subscribing", exc)
                    logger.warning(
                        "the subscription to %s is lost (%s); subscribing again with backoff "
                        "(up to %g s), waiting receives check every %g s meanwhile",
                        self._channel,
                        exc.message,
                        MAX_PAUSE,
                        self._connection.options.poll_interval,
                    )
                self.ring()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_PAUSE)

    async def close(self) -> None:
        """Stop listening and wake every waiting receiver, also one still waiting for the
        subscription (it would otherwise go on for up to ``within`` after the store closed)."""
        self._stopped = True
        self._ready.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(listener, 5.0)
        self.ring()
