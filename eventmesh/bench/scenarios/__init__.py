"""The scenarios, by name. Each names its baseline and runs it in the same process."""

from __future__ import annotations

from eventmesh.bench.scenarios._base import Scenario, ScenarioUnavailable
from eventmesh.bench.scenarios.app import AppScenario
from eventmesh.bench.scenarios.bus import Bus, bus_available
from eventmesh.bench.scenarios.cold_start import ColdStart
from eventmesh.bench.scenarios.fanout import Fanout
from eventmesh.bench.scenarios.invoke import Invoke, InvokeEvent
from eventmesh.bench.scenarios.queue import QueueScenario
from eventmesh.bench.scenarios.schedule import ScheduleJitter
from eventmesh.bench.scenarios.stream import StreamScenario

__all__ = ["SCENARIOS", "Scenario", "ScenarioUnavailable", "bus_available", "get_scenario"]

SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Invoke(),
        InvokeEvent(),
        QueueScenario(),
        StreamScenario(),
        Fanout(),
        Bus(),
        ScheduleJitter(),
        ColdStart(),
        AppScenario(),
    )
}


def get_scenario(name: str) -> Scenario:
    return SCENARIOS[name]
