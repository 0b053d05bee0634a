"""The wiring the lead pastes: mesh.function(idempotency=...) and mesh.idempotent(...)."""

from __future__ import annotations

from typing import Any

from eventmesh import Context, Idempotency, Mesh


async def test_mesh_function_with_idempotency(mesh: Mesh) -> None:
    runs = 0

    @mesh.function(timeout=10, idempotency=Idempotency("body.order_id"))
    async def charge(event: Any, context: Context) -> int:
        nonlocal runs
        runs += 1
        return runs

    async with mesh:
        assert (await mesh.invoke("charge", {"body": '{"order_id": 1}'})).payload == 1
        assert (await mesh.invoke("charge", {"body": '{"order_id": 1}'})).payload == 1
        charge.publish_version()
        assert (await mesh.invoke("charge:1", {"body": '{"order_id": 1}'})).payload == 1

        async def new_code(event: Any, context: Context) -> str:
            return "new"

        charge.update_code(new_code)  # keeps its idempotency
        assert (await mesh.invoke("charge", {"body": '{"order_id": 1}'})).payload == 1
        assert (await mesh.invoke("charge", {"body": '{"order_id": 2}'})).payload == "new"
    assert charge.name == "charge"
    assert runs == 1


async def test_mesh_idempotent(mesh: Mesh) -> None:
    seen: list[int] = []

    @mesh.idempotent("id", expires=60)
    async def once(item: dict[str, int]) -> int:
        seen.append(item["id"])
        return item["id"] * 2

    assert [await once({"id": i}) for i in (1, 1, 2)] == [2, 2, 4]
    assert seen == [1, 2]
