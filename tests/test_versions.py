"""Versions and aliases: immutable snapshots, qualifiers, weighted routing."""

from __future__ import annotations

import math
from typing import Any

import pytest

from eventmesh import ConfigurationError, Context, Mesh, ResourceNotFoundError, Telemetry


def make_function(mesh: Mesh) -> Any:
    @mesh.function(name="pricing")
    async def v1(event: Any, context: Context) -> dict[str, Any]:
        return {
            "code": "v1",
            "version": context.function_version,
            "arn": context.invoked_function_arn,
        }

    return v1


async def v2(event: Any, context: Context) -> dict[str, Any]:
    return {"code": "v2", "version": context.function_version, "arn": context.invoked_function_arn}


async def test_published_versions_keep_their_code_and_configuration(mesh: Mesh) -> None:
    function = make_function(mesh)
    one = function.publish_version()
    function.update_code(v2)
    function.update_configuration(timeout=30)
    two = function.publish_version()

    async with mesh:
        r1 = await mesh.invoke("pricing:1")
        r2 = await mesh.invoke("pricing:2")
        latest = await mesh.invoke("pricing")
        latest_explicit = await mesh.invoke("pricing:$LATEST")
    assert (one.version, two.version) == ("1", "2")
    assert one.config.timeout == 3 and two.config.timeout == 30
    assert r1.payload["code"] == "v1" and r1.executed_version == "1"
    assert r1.payload["version"] == "1"
    assert r2.payload["code"] == "v2" and r2.executed_version == "2"
    assert latest.payload["code"] == "v2" and latest.executed_version == "$LATEST"
    assert latest_explicit.payload["version"] == "$LATEST"


def test_publishing_without_a_change_returns_the_same_version(mesh: Mesh) -> None:
    function = make_function(mesh)
    first = function.publish_version()
    assert function.publish_version() is first
    function.update_configuration(memory=256)
    assert function.publish_version().version == "2"


async def test_updating_code_starts_latest_cold_again(mesh: Mesh) -> None:
    function = make_function(mesh)
    async with mesh:
        assert (await mesh.invoke("pricing")).cold_start
        assert not (await mesh.invoke("pricing")).cold_start
        function.update_code(v2)
        assert (await mesh.invoke("pricing")).cold_start


async def test_an_alias_points_at_a_version(mesh: Mesh) -> None:
    function = make_function(mesh)
    function.publish_version()
    function.update_code(v2)
    function.publish_version()
    mesh.alias(function, "live", version="1")

    async with mesh:
        before = await mesh.invoke("pricing:live")
        mesh.alias("pricing", "live", version="2")
        after = await mesh.invoke("pricing:live")
    assert before.payload["code"] == "v1" and before.executed_version == "1"
    assert before.payload["arn"].endswith(":function:pricing:live")
    assert after.payload["code"] == "v2"


async def test_weighted_routing_splits_traffic_within_statistical_bounds() -> None:
    mesh = Mesh(seed=7, telemetry=Telemetry(enabled=False))
    function = make_function(mesh)
    function.publish_version()
    function.update_code(v2)
    function.publish_version()
    mesh.alias(function, "live", version="1", routing={"2": 0.1})

    trials = 4000
    async with mesh:
        versions = [(await mesh.invoke("pricing:live")).executed_version for _ in range(trials)]
    to_two = versions.count("2")
    mean = trials * 0.1
    sd = math.sqrt(trials * 0.1 * 0.9)
    assert abs(to_two - mean) < 5 * sd, f"{to_two} of {trials} went to version 2"
    assert versions.count("1") == trials - to_two


async def test_every_arn_form_resolves(mesh: Mesh) -> None:
    function = make_function(mesh)
    function.publish_version()
    async with mesh:
        names = [
            "arn:aws:lambda:us-east-1:123456789012:function:pricing",
            "arn:aws:lambda:us-east-1:123456789012:function:pricing:1",
            "123456789012:function:pricing",
            "123456789012:function:pricing:1",
        ]
        versions = [(await mesh.invoke(name)).executed_version for name in names]
    assert versions == ["$LATEST", "1", "$LATEST", "1"]


@pytest.mark.parametrize(
    ("routing", "message"),
    [
        ({"$LATEST": 0.5}, "not \\$LATEST"),
        ({"2": 1.5}, "from 0 to 1"),
        ({"2": 0.1, "3": 0.1}, "at most one additional version"),
        ({"1": 0.5}, "must differ"),
    ],
)
def test_invalid_routing_is_refused(mesh: Mesh, routing: dict[str, float], message: str) -> None:
    function = make_function(mesh)
    for _ in range(3):
        function.publish_version()
        function.update_configuration(memory=function.config.memory + 1)
    with pytest.raises(ConfigurationError, match=message):
        mesh.alias(function, "live", version="1", routing=routing)


def test_aliases_need_existing_versions_and_valid_names(mesh: Mesh) -> None:
    function = make_function(mesh)
    with pytest.raises(ResourceNotFoundError, match="no version '4'"):
        mesh.alias(function, "live", version="4")
    with pytest.raises(ConfigurationError, match="alias name"):
        mesh.alias(function, "123", version="$LATEST")
    assert mesh.alias(function, "dev", version="$LATEST").version == "$LATEST"
