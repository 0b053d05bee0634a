"""Orders routed by a bus: one put_events, three consumers, and a payment that runs once.

An `OrderPlaced` event goes on the default bus. Rules route it by amount and region:
big orders to a fraud-review queue, EU orders to a VAT function (through an input
transformer), every order to the payment function. The payment function is idempotent on
the order id, so the duplicate that at-least-once delivery brings charges nobody twice.

Run: uv run python examples/05_order_routing.py
"""

from __future__ import annotations

import asyncio
from typing import Any

from eventmesh import Context, Idempotency, InputTransformer, Mesh, Target

mesh = Mesh(seed=5)
charges: list[str] = []


@mesh.function(timeout=10, idempotency=Idempotency("detail.order_id", expires=3600))
async def payment(event: dict[str, Any], context: Context) -> dict[str, Any]:
    order = event["detail"]
    charges.append(order["order_id"])
    print(f"payment: charging {order['total']} EUR for {order['order_id']}")
    return {"charged": order["total"], "order_id": order["order_id"]}


@mesh.function
async def vat(event: dict[str, Any], context: Context) -> None:
    print(f"vat: {event['order']} in {event['country']}, VAT on {event['total']} EUR")


@mesh.function
async def review(event: dict[str, Any], context: Context) -> None:
    for record in event["Records"]:
        print(f"review: fraud check queued for a big order: {record['body'][:60]}...")


bus = mesh.bus("default")
bus.rule("all-orders", pattern={"detail-type": ["OrderPlaced"]}, targets=[payment])
bus.rule(
    "big-orders",
    pattern={"detail-type": ["OrderPlaced"], "detail": {"total": [{"numeric": [">", 1000]}]}},
    targets=[mesh.queue("fraud-review")],
)
bus.rule(
    "eu-orders",
    pattern={"detail": {"region": [{"prefix": "eu-"}]}},
    targets=[
        Target(
            vat,
            input_transformer=InputTransformer(
                input_paths_map={
                    "order": "$.detail.order_id",
                    "country": "$.detail.country",
                    "total": "$.detail.total",
                },
                input_template='{"order": <order>, "country": <country>, "total": <total>}',
            ),
        )
    ],
)
mesh.queue("fraud-review").subscribe(review)


def order(order_id: str, total: float, region: str, country: str) -> dict[str, Any]:
    return {
        "Source": "shop.checkout",
        "DetailType": "OrderPlaced",
        "Detail": {"order_id": order_id, "total": total, "region": region, "country": country},
    }


async def main() -> None:
    async with mesh:
        answer = await bus.put_events(
            [
                order("A-1", 1500.0, "eu-west-1", "FR"),
                order("A-2", 40.0, "us-east-1", "US"),
                {"Source": "shop.checkout", "DetailType": "OrderPlaced"},  # no Detail
            ]
        )
        print(
            f"put_events: {answer['FailedEntryCount']} failed entry: "
            f"{answer['Entries'][2]['ErrorCode']}"
        )
        await mesh.drain()
        print("the same order arrives again (at-least-once delivery):")
        await bus.put_events([order("A-1", 1500.0, "eu-west-1", "FR")])
    print(f"orders charged: {sorted(charges)} (A-1 once, despite the duplicate)")


if __name__ == "__main__":
    asyncio.run(main())
