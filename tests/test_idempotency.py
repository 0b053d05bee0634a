"""Idempotency: one run per key, stored results for duplicates, on the virtual clock.

Until ``mesh.function(idempotency=...)`` is wired in, :func:`register` does what it will do:
bind the configuration to the mesh's store and clock and wrap the handler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from eventmesh import ConfigurationError, Context, Function, Mesh, PayloadError
from eventmesh._errors import (
    IdempotencyError,
    IdempotencyInProgressError,
    IdempotencyKeyError,
    IdempotencyPayloadMismatchError,
)
from eventmesh.backends.memory import MemoryKeyValueStore
from eventmesh.idempotency import MISSING, Idempotency, KeyPath, idempotent
from eventmesh.testing import VirtualClock

Handler = Callable[[Any, Context], Any]
NO_CONTEXT: Any = None  # a call outside an invocation: the in-progress expiry is the timeout


def register(
    mesh: Mesh, idempotency: Idempotency, *, timeout: float = 10
) -> Callable[[Handler], Function]:
    """What ``@mesh.function(timeout=..., idempotency=...)`` will do once wired."""

    def decorate(handler: Handler) -> Function:
        layer = idempotency.bind(
            mesh.backend.values, mesh.clock, namespace=handler.__name__, timeout=timeout
        )
        return mesh.function(timeout=timeout)(layer(handler))

    return decorate


def sqs_record(message_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"messageId": message_id, "eventSource": "aws:sqs", "body": orjson.dumps(body).decode()}


# -- the basic promise -----------------------------------------------------------------------
async def test_fifty_concurrent_duplicates_run_the_handler_once(
    mesh: Mesh, clock: VirtualClock
) -> None:
    runs: list[Any] = []

    @register(mesh, Idempotency("order_id"))
    async def charge(event: dict[str, Any], context: Context) -> dict[str, Any]:
        runs.append(event)
        await clock.sleep(1)
        return {"charged": event["order_id"], "lines": [1, 2, 3]}

    async with mesh:
        calls = asyncio.gather(*(mesh.invoke("charge", {"order_id": 42}) for _ in range(50)))
        await clock.advance(1)
        results = await calls

    assert len(runs) == 1
    assert {r.function_error for r in results} == {None}
    assert all(r.payload == {"charged": 42, "lines": [1, 2, 3]} for r in results)


async def test_a_later_duplicate_gets_the_stored_result_without_running(
    mesh: Mesh, clock: VirtualClock
) -> None:
    runs = 0

    @register(mesh, Idempotency("order_id"))
    async def charge(event: dict[str, Any], context: Context) -> dict[str, Any]:
        nonlocal runs
        runs += 1
        return {"receipt": f"r-{runs}"}

    async with mesh:
        first = await mesh.invoke("charge", {"order_id": 1})
        await clock.advance(120)
        second = await mesh.invoke("charge", {"order_id": 1})
        other = await mesh.invoke("charge", {"order_id": 2})

    assert runs == 2  # order 1 once, order 2 once
    assert first.payload == second.payload == {"receipt": "r-1"}
    assert other.payload == {"receipt": "r-2"}


async def test_each_duplicate_gets_a_fresh_copy_of_the_stored_result(clock: VirtualClock) -> None:
    store = MemoryKeyValueStore(clock)

    @idempotent("id", store=store, clock=clock)
    async def build(item: dict[str, Any]) -> dict[str, Any]:
        return {"tags": ["a"]}

    first = await build({"id": 1})
    second = await build({"id": 1})
    second["tags"].append("mutated by the caller")
    third = await build({"id": 1})
    assert first == {"tags": ["a"]}
    assert third == {"tags": ["a"]}
    assert second is not third


async def test_after_expires_the_handler_runs_again(mesh: Mesh, clock: VirtualClock) -> None:
    runs = 0

    @register(mesh, Idempotency("order_id", expires=60))
    async def charge(event: dict[str, Any], context: Context) -> int:
        nonlocal runs
        runs += 1
        return runs

    async with mesh:
        assert (await mesh.invoke("charge", {"order_id": 1})).payload == 1
        await clock.advance(59.9)
        assert (await mesh.invoke("charge", {"order_id": 1})).payload == 1  # remembered
        await clock.advance(0.1)  # 60 s after the result was stored
        assert (await mesh.invoke("charge", {"order_id": 1})).payload == 2
    assert runs == 2


async def test_records_are_stored_under_a_namespaced_hash_of_the_key(
    mesh: Mesh, clock: VirtualClock
) -> None:
    @register(mesh, Idempotency("order"))
    async def charge(event: dict[str, Any], context: Context) -> str:
        return "ok"

    async with mesh:
        await mesh.invoke("charge", {"order": {"b": 2, "a": 1}})
    layer = Idempotency("order").bind(mesh.backend.values, clock)
    key = layer.stored_key("charge", {"a": 1, "b": 2})  # key order does not matter
    assert key.startswith("idempotency:charge:") and len(key) == len("idempotency:charge:") + 64
    stored = await mesh.backend.values.get(key)
    assert stored is not None
    assert orjson.loads(stored.value) == {
        "status": "COMPLETED",
        "payload_hash": None,
        "result": "ok",
    }
    assert stored.expires_at == clock.time() + 3600


async def test_two_functions_with_the_same_key_do_not_share_results(mesh: Mesh) -> None:
    @register(mesh, Idempotency("id"))
    async def first(event: Any, context: Context) -> str:
        return "first"

    @register(mesh, Idempotency("id"))
    async def second(event: Any, context: Context) -> str:
        return "second"

    async with mesh:
        assert (await mesh.invoke("first", {"id": 1})).payload == "first"
        assert (await mesh.invoke("second", {"id": 1})).payload == "second"


# -- failures --------------------------------------------------------------------------------
async def test_a_handler_that_raises_clears_the_record_and_the_retry_runs(
    mesh: Mesh, clock: VirtualClock
) -> None:
    attempts = 0

    @register(mesh, Idempotency("id"))
    async def flaky(event: Any, context: Context) -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("the payment service is down")
        return "paid"

    async with mesh:
        failed = await mesh.invoke("flaky", {"id": 7})
        key = Idempotency("id").bind(mesh.backend.values).stored_key("flaky", 7)
        assert await mesh.backend.values.get(key) is None
        retried = await mesh.invoke("flaky", {"id": 7})
        again = await mesh.invoke("flaky", {"id": 7})

    assert failed.function_error == "Unhandled"
    assert failed.payload["errorType"] == "RuntimeError"
    assert retried.payload == again.payload == "paid"
    assert attempts == 2


async def test_a_waiting_duplicate_runs_when_the_first_call_fails(clock: VirtualClock) -> None:
    store = MemoryKeyValueStore(clock)
    attempts = 0

    @idempotent("id", store=store, clock=clock)
    async def work(item: dict[str, Any]) -> int:
        nonlocal attempts
        attempts += 1
        await clock.sleep(1)
        if attempts == 1:
            raise RuntimeError("boom")
        return attempts

    first = asyncio.create_task(work({"id": 1}))
    duplicate = asyncio.create_task(work({"id": 1}))
    await clock.advance(1)
    with pytest.raises(RuntimeError, match="boom"):
        await first
    assert not duplicate.done()  # it claimed the key and is running now
    await clock.advance(1)
    assert await duplicate == 2
    assert attempts == 2


async def test_a_timed_out_invocation_releases_its_key(mesh: Mesh, clock: VirtualClock) -> None:
    attempts = 0

    @register(mesh, Idempotency("id"), timeout=3)
    async def slow(event: Any, context: Context) -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            await clock.sleep(60)
        return "done"

    async with mesh:
        task = asyncio.create_task(mesh.invoke("slow", {"id": 1}))
        await clock.advance(3)
        assert (await task).payload["errorType"] == "Sandbox.Timedout"
        assert (await mesh.invoke("slow", {"id": 1})).payload == "done"
    assert attempts == 2


async def test_a_result_that_is_not_json_is_returned_but_not_stored(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    store = MemoryKeyValueStore(clock)
    runs = 0

    @idempotent("id", store=store, clock=clock)
    async def make(item: dict[str, Any]) -> object:
        nonlocal runs
        runs += 1
        return {1, 2}  # a set is not JSON

    with caplog.at_level(logging.WARNING, logger="eventmesh.idempotency"):
        assert await make({"id": 1}) == {1, 2}
    assert "not JSON-serialisable" in caplog.text
    assert await make({"id": 1}) == {1, 2}
    assert runs == 2


# -- a crashed worker ------------------------------------------------------------------------
async def test_the_in_progress_expiry_is_the_time_the_invocation_has_left(
    mesh: Mesh, clock: VirtualClock
) -> None:
    seen: list[float | None] = []

    @register(mesh, Idempotency("id", expires=3600), timeout=10)
    async def look(event: Any, context: Context) -> None:
        key = Idempotency("id").bind(mesh.backend.values).stored_key("look", 1)
        stored = await mesh.backend.values.get(key)
        assert stored is not None
        assert orjson.loads(stored.value)["status"] == "IN_PROGRESS"
        seen.append(stored.expires_at)

    async with mesh:
        await clock.advance(5)
        await mesh.invoke("look", {"id": 1})
    assert seen == [clock.time() + 10]  # claimed at t=5 (no time passes in the handler)


async def test_a_crashed_workers_key_is_released_after_the_in_progress_expiry_not_before(
    clock: VirtualClock,
) -> None:
    store = MemoryKeyValueStore(clock)
    hang = asyncio.Event()  # never set: the worker of process A is stuck (or dead)

    async def stuck(event: Any, context: Any) -> str:
        await hang.wait()
        return "never"

    async def healthy(event: Any, context: Any) -> str:
        return "from B"

    worker_a = Idempotency("id").bind(store, clock, namespace="charge", timeout=10)(stuck)
    process_b = Idempotency("id").bind(store, clock, namespace="charge", timeout=10)
    impatient_b = Idempotency("id", in_progress="raise").bind(store, clock, namespace="charge")

    crashed = asyncio.create_task(worker_a({"id": 1}, NO_CONTEXT))
    await clock.advance(1)
    waiting = asyncio.create_task(process_b(healthy)({"id": 1}, NO_CONTEXT))
    await clock.advance(8.999)  # t = 9.999: A's claim still holds
    with pytest.raises(IdempotencyInProgressError):
        await impatient_b(healthy)({"id": 1}, NO_CONTEXT)
    assert not waiting.done()
    await clock.advance(0.011)  # t = 10.01: A's invocation would have ended; B claimed and ran
    assert await waiting == "from B"
    assert await impatient_b(healthy)({"id": 1}, NO_CONTEXT) == "from B"  # stored by B

    crashed.cancel()  # A's late cleanup must not clear B's record
    with pytest.raises(asyncio.CancelledError):
        await crashed
    assert await impatient_b(healthy)({"id": 1}, NO_CONTEXT) == "from B"


async def test_a_cancelled_call_releases_its_key_at_once(clock: VirtualClock) -> None:
    store = MemoryKeyValueStore(clock)
    runs = 0

    @idempotent("id", store=store, clock=clock)
    async def work(item: dict[str, Any]) -> int:
        nonlocal runs
        runs += 1
        await clock.sleep(5)
        return runs

    first = asyncio.create_task(work({"id": 1}))
    await clock.advance(1)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    second = asyncio.create_task(work({"id": 1}))
    await clock.advance(5)
    assert await second == 2


# -- duplicates while the first call runs ----------------------------------------------------
async def test_in_progress_raise_fails_a_concurrent_duplicate_at_once(
    mesh: Mesh, clock: VirtualClock
) -> None:
    @register(mesh, Idempotency("id", in_progress="raise"))
    async def slow(event: Any, context: Context) -> str:
        await clock.sleep(2)
        return "done"

    async with mesh:
        first = asyncio.create_task(mesh.invoke("slow", {"id": 1}))
        await clock.advance(1)
        duplicate = await mesh.invoke("slow", {"id": 1})
        await clock.advance(1)
        assert (await first).payload == "done"
        later = await mesh.invoke("slow", {"id": 1})

    assert duplicate.function_error == "Unhandled"
    assert duplicate.payload["errorType"] == "IdempotencyInProgressError"
    assert "already in progress" in duplicate.payload["errorMessage"]
    assert later.payload == "done"


async def test_a_wait_timeout_ends_the_wait_with_an_in_progress_error(
    clock: VirtualClock,
) -> None:
    store = MemoryKeyValueStore(clock)

    async def slow(item: dict[str, Any]) -> str:
        await clock.sleep(10)
        return "done"

    config = Idempotency("id", wait_timeout=2)
    here = idempotent(config, store=store, clock=clock)(slow)
    elsewhere = idempotent(config, store=store, clock=clock)(slow)  # another process

    first = asyncio.create_task(here({"id": 1}))
    await clock.advance(1)
    same_process = asyncio.create_task(here({"id": 1}))
    other_process = asyncio.create_task(elsewhere({"id": 1}))
    await clock.advance(1.999)
    assert not same_process.done() and not other_process.done()
    await clock.advance(0.001)  # 2 s after they started waiting
    for waiter in (same_process, other_process):
        with pytest.raises(IdempotencyInProgressError, match="after waiting 2 s"):
            await waiter
    await clock.advance(7)
    assert await first == "done"


async def test_a_second_process_polls_the_store_and_gets_the_first_ones_result(
    clock: VirtualClock,
) -> None:
    store = MemoryKeyValueStore(clock)  # shared, like Redis between two workers
    runs: list[str] = []

    def worker(name: str) -> Callable[[Any, Any], Any]:
        async def handler(event: Any, context: Any) -> dict[str, str]:
            runs.append(name)
            await clock.sleep(5)
            return {"by": name}

        # Separate Idempotency instances: no in-process futures are shared.
        return Idempotency("id").bind(store, clock, namespace="charge", timeout=30)(handler)

    process_a, process_b = worker("A"), worker("B")
    first = asyncio.create_task(process_a({"id": 9}, NO_CONTEXT))
    await clock.advance(1)
    second = asyncio.create_task(process_b({"id": 9}, NO_CONTEXT))
    await clock.advance(3.9)  # t = 4.9
    assert not second.done()
    await clock.advance(0.1)  # t = 5: A stores its result
    assert await first == {"by": "A"}
    await clock.advance(1)  # B's next poll is at most 1 s away
    assert await second == {"by": "A"}
    assert runs == ["A"]


# -- payload validation ----------------------------------------------------------------------
async def test_a_reused_key_with_another_payload_raises_when_validating(
    mesh: Mesh,
) -> None:
    @register(mesh, Idempotency("id", validate_payload=True))
    async def charge(event: Any, context: Context) -> int:
        return int(event["amount"])

    async with mesh:
        first = await mesh.invoke("charge", {"id": 1, "amount": 10})
        same = await mesh.invoke("charge", {"amount": 10, "id": 1})
        other = await mesh.invoke("charge", {"id": 1, "amount": 99})

    assert first.payload == same.payload == 10
    assert other.function_error == "Unhandled"
    assert other.payload["errorType"] == "IdempotencyPayloadMismatchError"


async def test_without_validation_a_reused_key_returns_the_first_result(mesh: Mesh) -> None:
    @register(mesh, Idempotency("id"))
    async def charge(event: Any, context: Context) -> int:
        return int(event["amount"])

    async with mesh:
        await mesh.invoke("charge", {"id": 1, "amount": 10})
        assert (await mesh.invoke("charge", {"id": 1, "amount": 99})).payload == 10


async def test_payload_path_validates_only_that_part(clock: VirtualClock) -> None:
    store = MemoryKeyValueStore(clock)

    @idempotent("id", store=store, clock=clock, payload_path="detail")
    async def handle(event: dict[str, Any]) -> str:
        return "ok"

    assert await handle({"id": 1, "detail": {"x": 1}, "time": "a"}) == "ok"
    assert await handle({"id": 1, "detail": {"x": 1}, "time": "b"}) == "ok"
    with pytest.raises(IdempotencyPayloadMismatchError):
        await handle({"id": 1, "detail": {"x": 2}, "time": "a"})


async def test_a_concurrent_duplicate_with_another_payload_raises_too(clock: VirtualClock) -> None:
    store = MemoryKeyValueStore(clock)

    @idempotent("id", store=store, clock=clock, validate_payload=True)
    async def slow(event: dict[str, Any]) -> str:
        await clock.sleep(1)
        return "ok"

    first = asyncio.create_task(slow({"id": 1, "v": 1}))
    await clock.advance(0)
    with pytest.raises(IdempotencyPayloadMismatchError):
        await slow({"id": 1, "v": 2})
    await clock.advance(1)
    assert await first == "ok"


# -- keys ------------------------------------------------------------------------------------
async def test_a_missing_key_raises(mesh: Mesh) -> None:
    runs = 0

    @register(mesh, Idempotency("body.order_id"))
    async def charge(event: Any, context: Context) -> None:
        nonlocal runs
        runs += 1

    async with mesh:
        missing = await mesh.invoke("charge", {"body": {"other": 1}})
        null = await mesh.invoke("charge", {"body": {"order_id": None}})
    assert missing.payload["errorType"] == "IdempotencyKeyError"
    assert null.payload["errorType"] == "IdempotencyKeyError"
    assert runs == 0


async def test_a_missing_key_can_run_without_idempotency(
    mesh: Mesh, caplog: pytest.LogCaptureFixture
) -> None:
    runs = 0

    @register(mesh, Idempotency("order_id", raise_on_missing_key=False))
    async def charge(event: Any, context: Context) -> int:
        nonlocal runs
        runs += 1
        return runs

    async with mesh:
        with caplog.at_level(logging.WARNING, logger="eventmesh.idempotency"):
            assert (await mesh.invoke("charge", {"id": 1})).payload == 1
        assert (await mesh.invoke("charge", {"id": 1})).payload == 2
        assert (await mesh.invoke("charge", {"order_id": 1})).payload == 3
        assert (await mesh.invoke("charge", {"order_id": 1})).payload == 3
    assert "no idempotency key" in caplog.text


async def test_a_dotted_path_reads_into_an_sqs_records_json_body(mesh: Mesh) -> None:
    runs: list[str] = []

    @register(mesh, Idempotency("body.order_id"))
    async def charge(record: dict[str, Any], context: Context) -> str:
        runs.append(record["messageId"])
        return f"charged {orjson.loads(record['body'])['order_id']}"

    async with mesh:
        # The same order delivered twice as two SQS messages (different message ids).
        first = await mesh.invoke("charge", sqs_record("m-1", {"order_id": "A-1", "n": 1}))
        second = await mesh.invoke("charge", sqs_record("m-2", {"order_id": "A-1", "n": 2}))
    assert first.payload == second.payload == "charged A-1"
    assert runs == ["m-1"]


def test_key_paths_dotted_and_jsonpath() -> None:
    batch = {"Records": [sqs_record("m-1", {"order": {"id": 5, "lines": [10, 20]}})]}
    event = {"detail": {"order_id": 3, "order-id": 4, "a.b": 6}, "items": [[1, 2], [3]]}

    assert KeyPath("Records.0.body.order.id").resolve(batch) == 5
    assert KeyPath("Records.0.body.order.lines.1").resolve(batch) == 20
    assert KeyPath("$.Records[0].body.order.lines[1]").resolve(batch) == 20
    assert KeyPath("$.Records[0].messageId").resolve(batch) == "m-1"
    assert KeyPath("$.detail.order_id").resolve(event) == 3
    assert KeyPath("$['detail']['order-id']").resolve(event) == 4
    assert KeyPath('$.detail["a.b"]').resolve(event) == 6
    assert KeyPath("$.items[0][1]").resolve(event) == 2
    assert KeyPath("$").resolve(event) is event
    absent_paths = (
        "detail.missing",
        "items.5",
        "items.x",
        "items.-1",
        "detail.order_id.x",
        "$.x[0]",
    )
    for absent in absent_paths:
        assert KeyPath(absent).resolve(event) is MISSING
    assert KeyPath("body.id").resolve({"body": "not json"}) is MISSING
    assert KeyPath("body.id").resolve({"body": "{broken"}) is MISSING


@pytest.mark.parametrize(
    "path", ["", "a..b", "$.items[*]", "$..id", "$.a.*", "$[?(@.a)]", ".a", "$.a[-1]", 5]
)
def test_unsupported_paths_are_refused_at_configuration(path: Any) -> None:
    with pytest.raises(ConfigurationError):
        KeyPath(path)


async def test_a_jsonpath_key(mesh: Mesh) -> None:
    runs = 0

    @register(mesh, Idempotency("$.detail.order_id"))
    async def on_event(event: Any, context: Context) -> int:
        nonlocal runs
        runs += 1
        return runs

    async with mesh:
        a = await mesh.invoke("on_event", {"id": "e1", "detail": {"order_id": 8}})
        b = await mesh.invoke("on_event", {"id": "e2", "detail": {"order_id": 8}})
    assert a.payload == b.payload == 1


async def test_a_callable_key(mesh: Mesh) -> None:
    runs = 0

    def order_and_customer(event: dict[str, Any]) -> list[Any]:
        return [event["customer"], event["order"]]

    @register(mesh, Idempotency(order_and_customer))
    async def charge(event: Any, context: Context) -> int:
        nonlocal runs
        runs += 1
        return runs

    async with mesh:
        await mesh.invoke("charge", {"customer": "c", "order": 1, "at": 1})
        await mesh.invoke("charge", {"customer": "c", "order": 1, "at": 2})
        await mesh.invoke("charge", {"customer": "c", "order": 2, "at": 3})
    assert runs == 2


async def test_a_key_that_is_not_json_raises(clock: VirtualClock) -> None:
    store = MemoryKeyValueStore(clock)

    @idempotent(lambda item: object(), store=store, clock=clock)
    async def work(item: Any) -> None:
        return None

    with pytest.raises(IdempotencyKeyError, match="not JSON-serialisable") as caught:
        await work(1)
    assert isinstance(caught.value, PayloadError)
    assert isinstance(caught.value, IdempotencyError)


# -- idempotent functions --------------------------------------------------------------------
async def test_per_record_idempotency_inside_a_batch_handler(
    mesh: Mesh, clock: VirtualClock
) -> None:
    charged: list[str] = []

    @idempotent("body.order_id", store=mesh.backend.values, clock=mesh.clock, expires=600)
    async def charge_one(record: dict[str, Any]) -> str:
        order = orjson.loads(record["body"])["order_id"]
        charged.append(order)
        await clock.sleep(0.5)
        return f"receipt-{order}"

    @mesh.function(timeout=30)
    async def batch(event: dict[str, Any], context: Context) -> list[str]:
        return list(await asyncio.gather(*(charge_one(r) for r in event["Records"])))

    first_batch = [
        sqs_record("m1", {"order_id": "A"}),
        sqs_record("m2", {"order_id": "B"}),
        sqs_record("m3", {"order_id": "A"}),  # a duplicate in the same batch
    ]
    redelivered = [sqs_record("m2", {"order_id": "B"}), sqs_record("m4", {"order_id": "C"})]
    async with mesh:
        task = asyncio.create_task(mesh.invoke("batch", {"Records": first_batch}))
        await clock.advance(0.5)
        one = await task
        task = asyncio.create_task(mesh.invoke("batch", {"Records": redelivered}))
        await clock.advance(0.5)
        two = await task

    assert one.payload == ["receipt-A", "receipt-B", "receipt-A"]
    assert two.payload == ["receipt-B", "receipt-C"]
    assert charged == ["A", "B", "C"]


async def test_idempotent_with_a_key_callable_on_all_arguments(clock: VirtualClock) -> None:
    store = MemoryKeyValueStore(clock)
    calls: list[tuple[str, int]] = []

    @idempotent(lambda user, amount, note="": [user, amount], store=store, clock=clock)
    async def refund(user: str, amount: int, note: str = "") -> str:
        calls.append((user, amount))
        return f"{user}:{amount}"

    assert await refund("ann", 5) == "ann:5"
    assert await refund("ann", 5, note="again") == "ann:5"
    assert await refund("ann", 6) == "ann:6"
    assert calls == [("ann", 5), ("ann", 6)]


async def test_a_plain_def_handler_can_be_idempotent(mesh: Mesh) -> None:
    runs = 0

    @register(mesh, Idempotency("id"))
    def plain(event: Any, context: Context) -> int:
        nonlocal runs
        runs += 1
        return runs

    async with mesh:
        assert (await mesh.invoke("plain", {"id": 1})).payload == 1
        assert (await mesh.invoke("plain", {"id": 1})).payload == 1
    assert runs == 1


# -- configuration ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "settings",
    [
        {"key": 5},
        {"key": "id", "expires": 0},
        {"key": "id", "expires": float("inf")},
        {"key": "id", "in_progress": "queue"},
        {"key": "id", "wait_timeout": -1},
        {"key": "id", "namespace": ""},
        {"key": "id", "store": object()},
        {"key": "id", "payload_path": "a..b"},
    ],
)
def test_invalid_settings_are_configuration_errors(settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        Idempotency(**settings)


def test_binding_needs_a_store_and_async_functions(clock: VirtualClock) -> None:
    with pytest.raises(ConfigurationError, match="KeyValueStore"):
        Idempotency("id").bind()
    with pytest.raises(ConfigurationError, match="not both"):
        idempotent(Idempotency("id"), store=MemoryKeyValueStore(clock), expires=5)
    layer = Idempotency("id").bind(MemoryKeyValueStore(clock), clock)

    def sync(item: Any) -> None:
        return None

    with pytest.raises(ConfigurationError, match="async"):
        layer.function(sync)  # type: ignore[arg-type]


async def test_the_configurations_own_store_and_namespace_win(mesh: Mesh) -> None:
    own = MemoryKeyValueStore(mesh.clock)

    @register(mesh, Idempotency("id", store=own, namespace="orders"))
    async def charge(event: Any, context: Context) -> str:
        return "ok"

    async with mesh:
        await mesh.invoke("charge", {"id": 1})
    layer = Idempotency("id").bind(own)
    assert await own.get(layer.stored_key("orders", 1)) is not None
    assert await mesh.backend.values.get(layer.stored_key("charge", 1)) is None
