"""A name ending in a newline is refused like any name outside Lambda's (or the resource's)
pattern: a regular expression's ``$`` also matches before a final newline."""

from __future__ import annotations

import pytest

from eventmesh import ConfigurationError, Mesh, Telemetry


def test_a_function_name_ending_in_a_newline_is_refused() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    with pytest.raises(ConfigurationError, match="must be 1-64 letters"):

        @mesh.function(name="orders\n")
        def handler(event: object, context: object) -> object:
            return event


def test_a_queue_name_ending_in_a_newline_is_refused() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    with pytest.raises(ConfigurationError, match="queue name"):
        mesh.queue("orders\n")
