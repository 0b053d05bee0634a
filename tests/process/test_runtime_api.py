"""The Runtime API server on its own, spoken to over HTTP as a runtime would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from eventmesh.process._messages import Invocation
from eventmesh.process._runtime_api import MAX_CONNECTIONS, RuntimeApi

BASE = "/2018-06-01/runtime"


@pytest.fixture
async def api() -> AsyncIterator[RuntimeApi]:
    server = RuntimeApi(max_response_bytes=100)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def client(api: RuntimeApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{api.address}", timeout=10) as http:
        yield http


def invocation(request_id: str = "req-1", **headers: str | None) -> Invocation:
    return Invocation(
        request_id,
        b'{"order": 1}',
        1_900_000_000_000,
        "arn:aws:lambda:us-east-1:123456789012:function:f:live",
        **headers,
    )


async def test_it_listens_on_loopback_only(api: RuntimeApi) -> None:
    host, port = api.address.split(":")
    assert host == "127.0.0.1" and int(port) > 0


async def test_next_waits_for_an_invocation_then_gives_the_event_and_lambdas_headers(
    api: RuntimeApi, client: httpx.AsyncClient
) -> None:
    ready = api.begin_init()
    next_call = asyncio.create_task(client.get(f"{BASE}/invocation/next"))
    assert (await asyncio.wait_for(ready, 10)).kind == "ready"  # init ends at the first /next
    assert not next_call.done()
    api.invoke(invocation(client_context='{"custom": {"a": 1}}'))
    response = await asyncio.wait_for(next_call, 10)
    assert response.status_code == 200
    assert response.content == b'{"order": 1}'
    assert response.headers["content-type"] == "application/json"
    assert response.headers["lambda-runtime-aws-request-id"] == "req-1"
    assert response.headers["lambda-runtime-deadline-ms"] == "1900000000000"
    assert (
        response.headers["lambda-runtime-invoked-function-arn"]
        == "arn:aws:lambda:us-east-1:123456789012:function:f:live"
    )
    assert response.headers["lambda-runtime-client-context"] == '{"custom": {"a": 1}}'
    assert "lambda-runtime-cognito-identity" not in response.headers
    assert "lambda-runtime-trace-id" not in response.headers


async def test_an_invocation_ready_before_next_is_given_at_once(
    api: RuntimeApi, client: httpx.AsyncClient
) -> None:
    api.begin_init()
    outcome = api.invoke(invocation())
    response = await client.get(f"{BASE}/invocation/next")
    assert response.headers["lambda-runtime-aws-request-id"] == "req-1"
    posted = await client.post(f"{BASE}/invocation/req-1/response", content=b'"done"')
    assert posted.status_code == 202
    assert posted.headers["content-type"] == "application/json"
    result = await asyncio.wait_for(outcome, 10)
    assert (result.kind, result.body) == ("response", b'"done"')


async def test_an_error_post_carries_the_error_object_and_its_type(
    api: RuntimeApi, client: httpx.AsyncClient
) -> None:
    api.begin_init()
    outcome = api.invoke(invocation())
    await client.get(f"{BASE}/invocation/next")
    posted = await client.post(
        f"{BASE}/invocation/req-1/error",
        content=b'{"errorMessage": "no", "errorType": "E"}',
        headers={"Lambda-Runtime-Function-Error-Type": "Unhandled"},
    )
    assert posted.status_code == 202
    result = await asyncio.wait_for(outcome, 10)
    assert result.kind == "error"
    assert result.error == b'{"errorMessage": "no", "errorType": "E"}'
    assert result.error_type == "Unhandled"


async def test_a_response_over_the_limit_gets_413_and_fails_the_invocation(
    api: RuntimeApi, client: httpx.AsyncClient
) -> None:
    api.begin_init()
    outcome = api.invoke(invocation())
    await client.get(f"{BASE}/invocation/next")
    posted = await client.post(f"{BASE}/invocation/req-1/response", content=b"x" * 150)
    assert posted.status_code == 413
    assert posted.headers["content-type"] == "application/json"
    assert posted.json()["errorType"] == "RequestEntityTooLarge"
    result = await asyncio.wait_for(outcome, 10)
    assert (result.kind, result.size) == ("too_large", 150)


async def test_an_init_error_ends_the_init_phase_with_the_body(
    api: RuntimeApi, client: httpx.AsyncClient
) -> None:
    ready = api.begin_init()
    posted = await client.post(
        f"{BASE}/init/error",
        content=b'{"errorMessage": "x", "errorType": "Runtime.ImportModuleError"}',
        headers={"Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError"},
    )
    assert posted.status_code == 202
    result = await asyncio.wait_for(ready, 10)
    assert result.kind == "init_error"
    assert result.error_type == "Runtime.ImportModuleError"


@pytest.mark.parametrize(
    ("method", "path", "status", "error_type"),
    [
        ("GET", "/2018-06-01/runtime/unknown", 404, "InvalidRequest"),
        ("GET", "/", 404, "InvalidRequest"),
        ("POST", f"{BASE}/invocation/next", 405, "MethodNotAllowed"),
        ("POST", f"{BASE}/invocation/nobody/response", 400, "InvalidRequestID"),
        ("POST", f"{BASE}/invocation/nobody/error", 400, "InvalidRequestID"),
        ("POST", f"{BASE}/invocation/req-1/other", 404, "InvalidRequest"),
        ("GET", f"{BASE}/init/error", 405, "MethodNotAllowed"),
    ],
)
async def test_unknown_paths_and_request_ids_get_json_errors(
    client: httpx.AsyncClient, method: str, path: str, status: int, error_type: str
) -> None:
    response = await client.request(method, path, content=b"{}")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["errorType"] == error_type
    assert response.json()["errorMessage"]


async def test_a_result_for_an_invocation_already_answered_is_refused(
    api: RuntimeApi, client: httpx.AsyncClient
) -> None:
    api.begin_init()
    outcome = api.invoke(invocation())
    await client.get(f"{BASE}/invocation/next")
    await client.post(f"{BASE}/invocation/req-1/response", content=b"1")
    await asyncio.wait_for(outcome, 10)
    again = await client.post(f"{BASE}/invocation/req-1/response", content=b"2")
    assert again.status_code == 400
    assert again.json()["errorType"] == "InvalidRequestID"


async def test_the_runtimes_exit_ends_what_waits_on_it(
    api: RuntimeApi, client: httpx.AsyncClient
) -> None:
    api.begin_init()
    outcome = api.invoke(invocation())
    assert (await client.get(f"{BASE}/invocation/next")).status_code == 200
    api.runtime_exited()
    assert (await asyncio.wait_for(outcome, 10)).kind == "exited"


async def test_an_exit_before_the_runtime_took_the_invocation_says_so(api: RuntimeApi) -> None:
    # (the environment then hands it to a new runtime process: Lambda gives an invocation
    # only to a runtime that asked for it)
    api.begin_init()
    outcome = api.invoke(invocation())
    api.runtime_exited()
    assert (await asyncio.wait_for(outcome, 10)).kind == "not_taken"
    assert api.invoke(invocation("req-2")).result().kind == "not_taken"


async def raw_exchange(api: RuntimeApi, pieces: list[bytes], responses: int = 1) -> bytes:
    """Send ``pieces`` (with a pause between them) on one connection; read until ``responses``
    complete responses (or the server closes)."""
    host, port = api.address.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    for piece in pieces:
        writer.write(piece)
        await writer.drain()
        await asyncio.sleep(0.01)
    received = b""
    while received.count(b"HTTP/1.1 ") < responses or not received.endswith(b"}"):
        data = await asyncio.wait_for(reader.read(65536), 10)
        if not data:
            break
        received += data
    writer.close()
    return received


async def test_a_chunked_response_is_read_too(api: RuntimeApi) -> None:
    api.begin_init()
    outcome = api.invoke(invocation())
    await raw_exchange(api, [f"GET {BASE}/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n".encode()])
    chunked = (
        f"POST {BASE}/invocation/req-1/response HTTP/1.1\r\nHost: x\r\n"
        'Transfer-Encoding: chunked\r\n\r\n4\r\n"ok"\r\n0\r\n\r\n'
    ).encode()
    received = await raw_exchange(api, [chunked])
    assert received.startswith(b"HTTP/1.1 202 ")
    assert b"content-type: application/json" in received.lower()
    result = await asyncio.wait_for(outcome, 10)
    assert (result.kind, result.body) == ("response", b'"ok"')


async def test_requests_in_pieces_and_several_on_one_connection(api: RuntimeApi) -> None:
    api.begin_init()
    outcome = api.invoke(invocation())
    head = f"GET {BASE}/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    post = (
        f"POST {BASE}/invocation/req-1/error HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
        "Lambda-Runtime-Function-Error-Type: Unhandled\r\n\r\n{}"
    ).encode()
    unknown = b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
    stream = head + post + unknown
    received = await raw_exchange(api, [stream[:10], stream[10:70], stream[70:]], responses=3)
    assert received.count(b"HTTP/1.1 200 OK") == 1
    assert received.count(b"HTTP/1.1 202 Accepted") == 1
    assert received.count(b"HTTP/1.1 404 Not Found") == 1
    result = await asyncio.wait_for(outcome, 10)
    assert (result.kind, result.error, result.error_type) == ("error", b"{}", "Unhandled")


async def test_connection_close_is_honoured(api: RuntimeApi) -> None:
    received = await raw_exchange(
        api, [b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"]
    )
    assert received.startswith(b"HTTP/1.1 404 ")
    assert b"connection: close" in received.lower()


async def test_an_init_error_once_init_is_over_is_refused_and_the_invocation_goes_on(
    api: RuntimeApi, client: httpx.AsyncClient
) -> None:
    # Lambda's Runtime API refuses /init/error outside the init phase (403, an invalid state
    # transition): it must not end the invocation under way as if init had failed.
    ready = api.begin_init()
    next_call = asyncio.create_task(client.get(f"{BASE}/invocation/next"))
    assert (await asyncio.wait_for(ready, 10)).kind == "ready"
    outcome = api.invoke(invocation())
    assert (await asyncio.wait_for(next_call, 10)).status_code == 200
    refused = await client.post(
        f"{BASE}/init/error",
        headers={"Lambda-Runtime-Function-Error-Type": "Runtime.Late"},
        content=b'{"errorMessage": "late", "errorType": "Runtime.Late"}',
    )
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/json"
    assert refused.json()["errorType"] == "InvalidStateTransition"
    assert not outcome.done()
    posted = await client.post(f"{BASE}/invocation/req-1/response", content=b'"done"')
    assert posted.status_code == 202
    result = await asyncio.wait_for(outcome, 10)
    assert (result.kind, result.body) == ("response", b'"done"')


async def test_a_next_asked_again_on_a_new_connection_takes_the_place_of_a_dropped_one(
    api: RuntimeApi,
) -> None:
    # A runtime whose HTTP client gave up on a long /next (Node's fetch does after 300 s
    # without headers) asks again on a new connection: that one gets the next invocation,
    # not an error while the invocation goes to the dropped connection.
    ready = api.begin_init()
    host, port = api.address.split(":")
    next_request = f"GET {BASE}/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    _, dropped = await asyncio.open_connection(host, int(port))
    dropped.write(next_request)
    await dropped.drain()
    assert (await asyncio.wait_for(ready, 10)).kind == "ready"
    first = api._next_waiter
    dropped.close()
    await dropped.wait_closed()
    retry = asyncio.create_task(raw_exchange(api, [next_request]))
    for _ in range(1000):  # until the new /next is parked (or refused, before the fix)
        if retry.done() or api._next_waiter is not first:
            break
        await asyncio.sleep(0.01)
    outcome = api.invoke(invocation())
    received = await asyncio.wait_for(retry, 10)
    assert received.startswith(b"HTTP/1.1 200 OK"), received
    assert b"lambda-runtime-aws-request-id: req-1" in received.lower()
    assert not outcome.done()


async def test_connections_past_the_limit_are_closed_so_a_runtime_cannot_exhaust_the_meshs_fds(
    api: RuntimeApi,
) -> None:
    # Each connection is a file descriptor of the mesh's own process: a handler opening
    # thousands would leave the whole mesh unable to open a socket or a file.
    host, port = api.address.split(":")
    opened = [await asyncio.open_connection(host, int(port)) for _ in range(MAX_CONNECTIONS + 40)]
    try:
        refused = 0
        for reader, _ in opened[MAX_CONNECTIONS:]:
            if await asyncio.wait_for(reader.read(1), 10) == b"":
                refused += 1
        assert refused == 40
        assert len(api._connections) == MAX_CONNECTIONS
    finally:
        for _, writer in opened:
            writer.close()
    for _ in range(500):  # the server sees the clients go
        if not api._connections:
            break
        await asyncio.sleep(0.01)
    api.begin_init()
    outcome = api.invoke(invocation())
    received = await raw_exchange(
        api, [f"GET {BASE}/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n".encode()]
    )
    assert received.startswith(b"HTTP/1.1 200 OK")
    assert not outcome.done()


async def test_a_client_expecting_100_continue_is_told_to_send_its_body(api: RuntimeApi) -> None:
    # curl sends "Expect: 100-continue" before a body over 1 MB and waits a second for the
    # go-ahead: a shell runtime's large response was a second late without it.
    api.begin_init()
    outcome = api.invoke(invocation())
    await raw_exchange(api, [f"GET {BASE}/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n".encode()])
    host, port = api.address.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            f"POST {BASE}/invocation/req-1/response HTTP/1.1\r\nHost: x\r\n"
            "Content-Length: 4\r\nExpect: 100-continue\r\n\r\n".encode()
        )
        await writer.drain()
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert interim.startswith(b"HTTP/1.1 100 ")
        assert not outcome.done()
        writer.write(b'"ok"')
        await writer.drain()
        final = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert final.startswith(b"HTTP/1.1 202 ")
    finally:
        writer.close()
    result = await asyncio.wait_for(outcome, 10)
    assert (result.kind, result.body) == ("response", b'"ok"')
