"""A small HTTP API behind a Lambda authorizer, served over real HTTP.

An HTTP API (payload 2.0) has a public `GET /ping` and two order routes guarded by a Lambda
authorizer: a function that reads the `Authorization` header and answers API Gateway's
simple response (`isAuthorized`, and a `context` the route's function finds in
`requestContext.authorizer.lambda`). Requests without the header are refused with 401 before
any function runs, a wrong token with 403; the authorizer's answer is cached for five
minutes per token, as API Gateway caches it.

The example serves the mesh on a free loopback port, makes a few requests with httpx and
prints the answers. To serve it yourself instead:

    cd examples && uv run eventmesh run 06_http_api:mesh --http 127.0.0.1:8000
    curl -H 'Authorization: Bearer alice-token' http://127.0.0.1:8000/orders/42

Run: uv run python examples/06_http_api.py
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from eventmesh import Context, Mesh
from eventmesh.http import HttpServer

mesh = Mesh()
USERS = {"Bearer alice-token": "alice", "Bearer bob-token": "bob"}
ORDERS: dict[str, dict[str, Any]] = {"42": {"id": "42", "item": "teapot", "owner": "alice"}}


@mesh.function
def authorize(event: dict[str, Any], context: Context) -> dict[str, Any]:
    """A Lambda authorizer (REQUEST, simple responses): who is calling?"""
    user = USERS.get(event["headers"].get("authorization", ""))
    return {"isAuthorized": user is not None, "context": {"user": user or ""}}


def caller(event: dict[str, Any]) -> str:
    return str(event["requestContext"]["authorizer"]["lambda"]["user"])


@mesh.function
def ping(event: dict[str, Any], context: Context) -> dict[str, Any]:
    return {"pong": True}  # no statusCode: a 200 JSON answer (payload 2.0's rule)


@mesh.function
def get_order(event: dict[str, Any], context: Context) -> dict[str, Any]:
    order = ORDERS.get(event["pathParameters"]["id"])
    if order is None or order["owner"] != caller(event):
        return {"statusCode": 404, "body": json.dumps({"message": "no such order"})}
    return {"statusCode": 200, "body": json.dumps(order)}


@mesh.function
def create_order(event: dict[str, Any], context: Context) -> dict[str, Any]:
    item = json.loads(event["body"])["item"]
    order = {"id": str(max(map(int, ORDERS)) + 1), "item": item, "owner": caller(event)}
    ORDERS[order["id"]] = order
    return {
        "statusCode": 201,
        "headers": {"location": f"/orders/{order['id']}"},
        "body": json.dumps(order),
    }


shop = mesh.http_api("shop")
users = shop.lambda_authorizer(authorize, simple_responses=True, ttl=300)
shop.route("GET /ping", ping)
shop.route("GET /orders/{id}", get_order, authorizer=users)
shop.route("POST /orders", create_order, authorizer=users)


async def main() -> None:
    async with (
        HttpServer(mesh, port=0) as server,  # 127.0.0.1, a free port
        httpx.AsyncClient(base_url=server.base_url) as client,
    ):
        alice = {"authorization": "Bearer alice-token"}
        calls = [
            ("GET", "/ping", {}, None),
            ("GET", "/orders/42", {}, None),
            ("GET", "/orders/42", {"authorization": "Bearer mallory"}, None),
            ("GET", "/orders/42", alice, None),
            ("GET", "/orders/42", {"authorization": "Bearer bob-token"}, None),
            ("POST", "/orders", alice, {"item": "cups"}),
            ("GET", "/nowhere", alice, None),
            ("GET", "/health/ready", {}, None),
        ]
        for method, path, headers, body in calls:
            who = headers.get("authorization", "no token")
            response = await client.request(method, path, headers=headers, json=body)
            print(f"{method} {path} ({who}) -> {response.status_code} {response.text}")
    print(f"authorizer calls: {authorize.stats.invocations} (cached per token)")


if __name__ == "__main__":
    asyncio.run(main())
