"""uvicorn's h11 protocol with a deadline on reading each request (slow-loris defence).

uvicorn times out only an idle kept-alive connection, and any byte received cancels that:
a client that opens a connection and sends nothing, or trickles its headers or its body a
byte at a time, holds the connection (and a file descriptor, and at shutdown the drain)
for as long as it likes. Here every request, headers and body, must have arrived within
``read_timeout`` seconds of the connection's opening or of the previous response's end;
otherwise the connection is closed (the application, if it was reading the body, sees the
client leave). A handler's own run time is not counted: the clock stops once the request
is in.

uvicorn's own access log is never written (it prints query strings, where tokens travel),
whatever handlers the ``uvicorn.access`` logger is given; the front logs each request itself.

The h11 protocol is always used (never httptools, even when installed): h11 bounds a
header block that arrives in pieces (``h11_max_incomplete_event_size``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["ReadTimedH11Protocol"]

logger = logging.getLogger("eventmesh.http")


class ReadTimedH11Protocol(H11Protocol):
    """See the module docstring; ``read_timeout`` comes from the config (``HttpServer``)."""

    read_timeout: float = 60.0
    _read_timer: asyncio.TimerHandle | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn's access line prints the query string (tokens travel there) and is on
        # whenever "uvicorn.access" has a handler, which any logging set-up may give it:
        # the front writes its own access log, without the query.
        self.access_log = False

    def connection_made(  # type: ignore[override]
        self, transport: asyncio.Transport
    ) -> None:
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        cycle = self.cycle
        if cycle is not None and not cycle.more_body and not cycle.response_complete:
            self._disarm()  # the request is in: its handler's time is not the client's

    def on_response_complete(self) -> None:
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection has its own deadline
        super().on_response_complete()  # (a pipelined request already in disarms it again)

    def _arm(self) -> None:
        self._disarm()
        self._read_timer = self.loop.call_later(self.read_timeout, self._timed_out)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _timed_out(self) -> None:
        self._read_timer = None
        if not self.transport.is_closing():
            logger.debug("closed a connection: no whole request within %g s", self.read_timeout)
            self.transport.close()


def protocol_class(read_timeout: float) -> type[ReadTimedH11Protocol]:
    """The protocol class for a server whose requests must arrive within ``read_timeout``."""
    return type("ReadTimedH11Protocol", (ReadTimedH11Protocol,), {"read_timeout": read_timeout})
