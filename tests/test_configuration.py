"""Invalid settings fail at registration, with the allowed range in the message."""

from __future__ import annotations

from typing import Any

import pytest

from eventmesh import ConfigurationError, Context, Mesh


async def handler(event: Any, context: Context) -> None:
    return None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"timeout": 0}, "timeout must be a number from 1 to 900"),
        ({"timeout": 901}, "timeout must be a number from 1 to 900"),
        ({"timeout": "3"}, "timeout must be a number"),
        ({"memory": 64}, "memory must be an integer from 128 to 10240"),
        ({"memory": 10241}, "memory must be an integer from 128 to 10240"),
        ({"memory": 256.0}, "memory must be an integer"),
        ({"retries": 3}, "retries must be an integer from 0 to 2"),
        ({"retries": -1}, "retries must be an integer from 0 to 2"),
        ({"max_event_age": 59}, "max_event_age must be an integer from 60 to 21600"),
        ({"max_event_age": 21601}, "max_event_age must be an integer from 60 to 21600"),
        ({"reserved_concurrency": -1}, "reserved_concurrency must be an integer"),
        ({"provisioned_concurrency": -2}, "provisioned_concurrency must be an integer"),
        (
            {"reserved_concurrency": 2, "provisioned_concurrency": 3},
            "provisioned_concurrency \\(3\\) cannot exceed reserved_concurrency \\(2\\)",
        ),
        ({"environment": {"KEY": 1}}, "must map str to str"),
        ({"environment": {"BIG": "x" * 4096}}, "the limit is 4 KB"),
        ({"timeout": True}, "timeout must be a number"),
    ],
)
def test_invalid_settings_are_refused_with_the_range(
    settings: dict[str, Any], message: str
) -> None:
    mesh = Mesh()
    with pytest.raises(ConfigurationError, match=message):
        mesh.function(**settings)(handler)
    assert mesh.functions == {}


@pytest.mark.parametrize("name", ["has space", "x" * 65, "dots.are.not.allowed"])
def test_function_names_follow_lambdas_rules(name: str) -> None:
    with pytest.raises(ConfigurationError, match="function name"):
        Mesh().function(name=name)(handler)


def test_a_name_is_registered_once() -> None:
    mesh = Mesh()
    mesh.function(handler)
    with pytest.raises(ConfigurationError, match="already registered"):
        mesh.function(handler)


def test_a_configuration_error_is_also_a_value_error() -> None:
    with pytest.raises(ValueError, match="memory"):
        Mesh().function(memory=1)(handler)


@pytest.mark.parametrize(
    "settings",
    [
        {"concurrency_limit": 0},
        {"max_sync_payload": 0},
        {"max_event_payload": -1},
        {"max_threads": 0},
        {"environment_idle_timeout": 0},
        {"storage": "postgres://nowhere"},
        {"storage": "sqlite://relative-without-third-slash.db"},
    ],
)
def test_invalid_mesh_settings_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        Mesh(**settings)


def test_unknown_settings_in_an_update_are_refused() -> None:
    mesh = Mesh()
    function = mesh.function(handler)
    with pytest.raises(ConfigurationError, match="unknown function settings: colour"):
        function.update_configuration(colour="blue")
