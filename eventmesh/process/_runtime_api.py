"""Lambda's Runtime API (version 2018-06-01) for one execution environment, on loopback.

Lambda gives each execution environment its own Runtime API endpoint; so does this module: one
listener on ``127.0.0.1`` with an ephemeral port per environment, its address handed to the
runtime in ``AWS_LAMBDA_RUNTIME_API``. The runtime pulls invocations from it:

- ``GET /2018-06-01/runtime/invocation/next`` blocks until an invocation is ready, then answers
  with the event and the ``Lambda-Runtime-*`` headers;
- ``POST /2018-06-01/runtime/invocation/{id}/response`` (202; 413 over the response limit,
  and the invocation fails as Lambda fails it);
- ``POST /2018-06-01/runtime/invocation/{id}/error`` (202; the body is the function error);
- ``POST /2018-06-01/runtime/init/error`` (202; initialisation failed).

Every response carries ``Content-Type: application/json``, errors included: AWS's own runtime
client crashes on a response without one. HTTP/1.1 with keep-alive over asyncio
streams: the simple requests runtimes send are parsed directly, anything else by h11. The
server knows nothing of processes: the environment tells it when its runtime exited
(:meth:`RuntimeApi.runtime_exited`).
"""

from __future__ import annotations

import asyncio

import h11
import orjson

from eventmesh.process._messages import JSON_HEADER, Invocation, Outcome
from eventmesh.process._simple_http import UNUSUAL, format_response, parse_request

__all__ = ["MAX_CONNECTIONS", "RuntimeApi"]

_PREFIX = "/2018-06-01/runtime/"
_NEXT = _PREFIX + "invocation/next"
_INIT_ERROR = _PREFIX + "init/error"
_INVOCATION = _PREFIX + "invocation/"
_ERROR_TYPE = b"lambda-runtime-function-error-type"
_JSON = JSON_HEADER
_READ_SIZE = 256 * 1024
MAX_CONNECTIONS = 32
"""Open connections per environment; more are closed at once. A runtime needs one or two
(AWS's client keeps one); each is a file descriptor of the mesh's own process, so a handler
opening thousands would otherwise leave the whole mesh unable to open a socket or a file."""


class RuntimeApi:
    """The Runtime API of one execution environment. One invocation at a time."""

    def __init__(self, max_response_bytes: int) -> None:
        self.max_response_bytes = max_response_bytes
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self.address = ""
        """``host:port``, the value of ``AWS_LAMBDA_RUNTIME_API``."""
        self._pending: Invocation | None = None  # ready, not yet taken by /next
        self._current: Invocation | None = None  # taken, no result yet
        self._next_waiter: asyncio.Future[Invocation] | None = None  # a parked /next
        self._phase: asyncio.Future[Outcome] | None = None
        self._exited = False
        self._initialising = False  # between begin_init and the first /next (or invoke)

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.address = f"{host}:{port}"
        return self.address

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._connections):
            writer.close()
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)
        self._fail_phase(Outcome("exited"))

    # -- the environment's side -------------------------------------------------------------
    def begin_init(self) -> asyncio.Future[Outcome]:
        """A new runtime starts: the future resolves when it first asks for an invocation,
        reports an init error, or exits."""
        self._exited = False
        self._initialising = True
        self._pending = self._current = None
        self._phase = asyncio.get_running_loop().create_future()
        if self._next_waiter is not None:  # (a /next left from a killed runtime: gone)
            self._next_waiter.cancel()
            self._next_waiter = None
        return self._phase

    def invoke(self, invocation: Invocation) -> asyncio.Future[Outcome]:
        """Hand ``invocation`` to the runtime (at once if it waits in ``/next``); the future
        resolves with its response, its error, or the runtime's exit."""
        self._initialising = False
        self._phase = asyncio.get_running_loop().create_future()
        if self._exited:
            self._phase.set_result(Outcome("not_taken"))
            return self._phase
        waiter = self._next_waiter
        if waiter is not None and not waiter.done():
            self._next_waiter = None
            self._current = invocation
            waiter.set_result(invocation)
        else:
            self._pending = invocation
        return self._phase

    def runtime_exited(self) -> None:
        """The runtime's process ended: what waits on it learns so."""
        self._exited = True
        taken = self._pending is None  # an invocation given to it, or none waiting
        self._pending = self._current = None
        self._fail_phase(Outcome("exited" if taken else "not_taken"))

    def abandon(self) -> None:
        """The invocation under way is over for the mesh (timed out, cancelled)."""
        self._pending = self._current = None
        self._phase = None

    @property
    def runtime_waiting(self) -> bool:
        """The runtime waits in ``/next`` for an invocation."""
        return self._next_waiter is not None and not self._next_waiter.done()

    def _resolve(self, outcome: Outcome) -> None:
        phase = self._phase
        if phase is not None and not phase.done():
            phase.set_result(outcome)

    def _fail_phase(self, outcome: Outcome) -> None:
        self._resolve(outcome)
        if self._next_waiter is not None:
            self._next_waiter.cancel()
            self._next_waiter = None

    # -- HTTP ----------------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._connections) >= MAX_CONNECTIONS:
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._connections.add(writer)
        try:
            await self._converse(reader, writer)
        except (ConnectionError, asyncio.CancelledError, h11.ProtocolError):
            pass
        finally:
            self._handlers.discard(task)
            self._connections.discard(writer)
            writer.close()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve the connection's requests: the simple ones parsed here, the first unusual one
        and everything after it by h11 (see :mod:`eventmesh.process._simple_http`)."""
        buffer = bytearray()
        while True:
            parsed = parse_request(buffer, self.max_response_bytes)
            if parsed is None:
                data = await reader.read(_READ_SIZE)
                if not data:
                    return
                buffer += data
                continue
            if parsed is UNUSUAL:
                await self._converse_h11(reader, writer, bytes(buffer))
                return
            assert isinstance(parsed, tuple)
            request, used = parsed
            del buffer[:used]
            status, payload, headers = await self._route(
                request.method, request.target, request.error_type, request.body, 0
            )
            writer.write(format_response(status, headers, payload))  # one send(2)
            await writer.drain()

    async def _converse_h11(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, initial: bytes
    ) -> None:
        connection = h11.Connection(h11.SERVER)
        connection.receive_data(initial)
        request: h11.Request | None = None
        body = bytearray()
        oversize = 0
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(_READ_SIZE)
                connection.receive_data(data)
                if not data and connection.their_state is not h11.DONE:
                    return
                continue
            if isinstance(event, h11.Request):
                request, body, oversize = event, bytearray(), 0
                if connection.they_are_waiting_for_100_continue:
                    # curl asks before a body over 1 MB, then waits a second for the answer.
                    interim = h11.InformationalResponse(status_code=100, headers=[])
                    writer.write(connection.send(interim) or b"")
            elif isinstance(event, h11.Data):
                if len(body) + len(event.data) > self.max_response_bytes:
                    oversize += len(event.data)  # counted, not kept
                else:
                    body += event.data
            elif isinstance(event, h11.EndOfMessage) and request is not None:
                status, payload, headers = await self._route(
                    request.method, request.target, _header(request), bytes(body), oversize
                )
                head = h11.Response(
                    status_code=status,
                    headers=[*headers, (b"content-length", b"%d" % len(payload))],
                )
                # One write, so one send(2): the runtime waits for the whole response.
                writer.write(
                    b"".join(
                        (
                            connection.send(head) or b"",
                            connection.send(h11.Data(data=payload)) or b"",
                            connection.send(h11.EndOfMessage()) or b"",
                        )
                    )
                )
                await writer.drain()
                if connection.our_state is h11.MUST_CLOSE:
                    return
                connection.start_next_cycle()
                request = None
            elif isinstance(event, h11.ConnectionClosed):
                return

    async def _route(
        self, method: bytes, target: bytes, error_type: str | None, body: bytes, oversize: int
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        path = target.decode("latin-1").split("?", 1)[0]
        if path == _NEXT:
            if method != b"GET":
                return _error(405, "MethodNotAllowed", f"{method.decode()} {path}")
            return await self._next()
        if path == _INIT_ERROR:
            if method != b"POST":
                return _error(405, "MethodNotAllowed", f"{method.decode()} {path}")
            if not self._initialising:  # Lambda refuses it once init is over
                return _error(
                    403,
                    "InvalidStateTransition",
                    "State transition from Ready to InitError failed for runtime",
                )
            self._initialising = False
            self._resolve(Outcome("init_error", error=body, error_type=error_type))
            return _accepted()
        if path.startswith(_INVOCATION):
            request_id, _, action = path[len(_INVOCATION) :].partition("/")
            if action not in ("response", "error"):
                return _error(404, "InvalidRequest", f"no such path: {path}")
            if method != b"POST":
                return _error(405, "MethodNotAllowed", f"{method.decode()} {path}")
            current = self._current
            if current is None or current.request_id != request_id:
                return _error(
                    400, "InvalidRequestID", f"Invalid request ID: {request_id!r} is not running"
                )
            self._current = None
            if action == "error":
                self._resolve(Outcome("error", error=body, error_type=error_type))
                return _accepted()
            if oversize:
                size = len(body) + oversize
                self._resolve(Outcome("too_large", size=size))
                return _error(
                    413,
                    "RequestEntityTooLarge",
                    f"Exceeded maximum allowed payload size ({self.max_response_bytes} bytes).",
                )
            self._resolve(Outcome("response", body=body))
            return _accepted()
        return _error(404, "InvalidRequest", f"no such path: {path}")

    async def _next(self) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        pending = self._pending
        if pending is not None:
            self._pending = None
            self._current = pending
            return 200, pending.body, pending.headers()
        if self._next_waiter is not None and not self._next_waiter.done():
            # A runtime asks again when its HTTP client gave up on the first /next (Node's
            # fetch does after 300 s without headers), on a new connection: the newer request
            # takes the place of the older, whose connection is then closed.
            self._next_waiter.cancel()
        waiter: asyncio.Future[Invocation] = asyncio.get_running_loop().create_future()
        self._next_waiter = waiter
        phase = self._phase
        if phase is not None and not phase.done() and self._current is None:
            self._initialising = False
            phase.set_result(Outcome("ready"))  # init done (or the runtime is back in /next)
        invocation = await waiter  # cancelled when the runtime is stopped
        return 200, invocation.body, invocation.headers()


def _header(request: h11.Request) -> str | None:
    for name, value in request.headers:
        if name == _ERROR_TYPE:
            return value.decode("utf-8", "replace")
    return None


def _accepted() -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    return 202, b'{"status":"OK"}', [_JSON]


def _error(
    status: int, error_type: str, message: str
) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    body = orjson.dumps({"errorMessage": message, "errorType": error_type})
    return status, body, [_JSON]
