"""``eventmesh demo``: a tour of the runtime on the in-memory default and a virtual clock."""

from __future__ import annotations

from typing import Any

import orjson

from eventmesh._context import Context
from eventmesh._mesh import Mesh
from eventmesh.telemetry import Telemetry
from eventmesh.testing import RecordingDestination, VirtualClock

__all__ = ["run_demo"]


def _say(text: str = "") -> None:
    print(text, flush=True)


async def run_demo() -> None:
    clock = VirtualClock()
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False))
    failed_orders = RecordingDestination("failed-orders")
    mesh.register_resource("failed-orders", failed_orders)
    attempts: dict[int, int] = {}

    def stamp() -> str:
        return f"t={clock.now():>5.0f}s"

    @mesh.function(timeout=10, retries=2, on_failure="failed-orders")
    async def charge(event: dict[str, Any], context: Context) -> dict[str, Any]:
        order = event["order_id"]
        attempts[order] = attempts.get(order, 0) + 1
        start = "cold" if context.cold_start else "warm"
        _say(f"  {stamp()}  charge order {order}: attempt {attempts[order]} ({start} start)")
        if event.get("card") == "declined" or (event.get("flaky") and attempts[order] == 1):
            raise RuntimeError(f"payment provider refused order {order}")
        return {"order_id": order, "charged": True, "db": context.state["db"]}

    @charge.init
    async def connect(context: Context) -> dict[str, Any]:
        _say(f"  {stamp()}  init: connecting the database pool (once per environment)")
        return {"db": "pool-1"}

    async with mesh:
        _say("1. Cold, then warm: the init hook runs once per execution environment")
        for order in (1, 2, 3):
            result = await mesh.invoke("charge", {"order_id": order})
            kind = "cold start" if result.cold_start else "warm start"
            _say(f"     -> {result.status_code} {orjson.dumps(result.payload).decode()} [{kind}]")
        _say()
        _say("2. An asynchronous invocation that fails once: Lambda retries it after 1 minute")
        response = await mesh.invoke("charge", {"order_id": 4, "flaky": True}, "Event")
        _say(f"     invoke(..., 'Event') -> {response.status_code} at once")
        await clock.advance(0)
        await clock.advance(60)
        _say()
        _say("3. One that always fails: retried after 1 and 2 more minutes, then the on-failure")
        _say("   destination receives Lambda's invocation record")
        await mesh.invoke("charge", {"order_id": 5, "card": "declined"}, "Event")
        await clock.advance(0)
        await clock.advance(60)
        await clock.advance(120)
        for record in failed_orders.messages:
            _say()
            _say("   record sent to 'failed-orders':")
            text = orjson.dumps(record, option=orjson.OPT_INDENT_2).decode()
            for line in text.splitlines():
                _say(f"     {line}")
        _say()
        stats = charge.stats
        _say(
            f"Totals: {stats.invocations} invocations, {stats.errors} errors, "
            f"{stats.cold_starts} cold start, {stats.dropped_events} event sent to on-failure."
        )
        _say("Virtual time: three minutes of retries ran in milliseconds.")
