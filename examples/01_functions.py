"""Functions and Lambda's three invocation types, on the in-memory default.

Run: uv run python examples/01_functions.py
"""

from __future__ import annotations

import asyncio
from typing import Any

from eventmesh import Context, Mesh

mesh = Mesh()


@mesh.function
def audit(event: dict[str, Any], context: Context) -> None:
    """A plain `def`, as written for AWS Lambda: it runs in a worker thread."""
    print(f"audit: {event['requestContext']['condition']} for {event['requestPayload']}")


@mesh.function(timeout=10, memory=256, retries=0, on_failure="audit")
async def charge(event: dict[str, Any], context: Context) -> dict[str, Any]:
    if event.get("card") == "declined":
        raise RuntimeError(f"card declined for order {event['order_id']}")
    return {"charged": event["order_id"], "db": context.state["db"]}


@charge.init
async def connect(context: Context) -> dict[str, str]:
    print(f"init: a new execution environment ({context.log_stream_name})")
    return {"db": "pool"}


async def main() -> None:
    async with mesh:
        for order in (1, 2):
            result = await mesh.invoke("charge", {"order_id": order})
            start = "cold" if result.cold_start else "warm"
            print(f"RequestResponse -> {result.status_code} {result.payload} ({start} start)")
        queued = await mesh.invoke("charge", {"order_id": 3, "card": "declined"}, "Event")
        print(f"Event -> {queued.status_code}, request id {queued.request_id}")
        dry = await mesh.invoke("charge", {"order_id": 4}, "DryRun")
        print(f"DryRun -> {dry.status_code}")
    # Leaving the block drained the queued event: with retries=0 it failed once and its
    # record went to the `audit` function.


if __name__ == "__main__":
    asyncio.run(main())
