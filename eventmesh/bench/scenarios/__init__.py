"""The scenarios, by name and isolation. Each names its baseline and runs it in the same
process; those with process environments take the in-process path as their baseline."""

from __future__ import annotations

from eventmesh.bench.options import OptionsError
from eventmesh.bench.scenarios._base import Scenario, ScenarioUnavailable
from eventmesh.bench.scenarios.app import AppScenario
from eventmesh.bench.scenarios.bus import Bus, bus_available
from eventmesh.bench.scenarios.cold_start import ColdStart
from eventmesh.bench.scenarios.cpu_scaling import CpuScaling
from eventmesh.bench.scenarios.fanout import Fanout
from eventmesh.bench.scenarios.http_front import HttpFront
from eventmesh.bench.scenarios.invoke import Invoke, InvokeEvent
from eventmesh.bench.scenarios.process_cold_start import ProcessColdStart
from eventmesh.bench.scenarios.process_invoke import ProcessInvoke
from eventmesh.bench.scenarios.queue import QueueScenario
from eventmesh.bench.scenarios.schedule import ScheduleJitter
from eventmesh.bench.scenarios.stream import StreamScenario

__all__ = [
    "PROCESS_SCENARIOS",
    "SCENARIOS",
    "Scenario",
    "ScenarioUnavailable",
    "bus_available",
    "get_scenario",
]

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
        HttpFront(),
    )
}

"""The scenarios whose handler runs in the mesh's process (``--isolation in_process``)."""

PROCESS_SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario for scenario in (ProcessInvoke(), ProcessColdStart(), CpuScaling())
}
"""The scenarios with process execution environments (``--isolation process``)."""


def get_scenario(name: str, isolation: str | None = None) -> Scenario:
    """The scenario ``name`` with ``isolation`` (None: the one it has, in-process first), or
    an OptionsError saying which scenarios take that isolation."""
    if isolation is None:
        return SCENARIOS.get(name) or PROCESS_SCENARIOS[name]
    registry = PROCESS_SCENARIOS if isolation == "process" else SCENARIOS
    scenario = registry.get(name)
    if scenario is None:
        where = "in process environments" if isolation == "process" else "in the mesh's process"
        raise OptionsError(
            f"--isolation {isolation}: {name} does not run {where}; the scenarios that do: "
            + ", ".join(sorted(key for key in registry if key != "app"))
        )
    return scenario
