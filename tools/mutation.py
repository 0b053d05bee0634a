"""Mutation testing of one eventmesh module against its own tests.

Usage (from the repository root)::

    uv run python tools/mutation.py MODULE           # mutate MODULE, run its tests, the score
    uv run python tools/mutation.py MODULE run --max-children 2   # mutmut's own options
    uv run python tools/mutation.py MODULE results   # any other mutmut command, same module
    uv run python tools/mutation.py MODULE show NAME # one surviving mutant's diff
    uv run python tools/mutation.py --list           # the modules and the tests each one runs

mutmut reads a single ``[tool.mutmut]`` table from ``pyproject.toml`` and always works in
``./mutants``, so one configuration cannot say "this module, those tests". This script gives
each module its own working directory, ``.mutation/<MODULE>/``, holding a fresh copy of
``eventmesh/``, ``tests/`` and ``pyproject.toml`` (the shared ``[tool.mutmut]`` settings), and
restricts mutmut there to the module's file (``only_mutate``) and the module's tests
(``pytest_add_cli_args_test_selection``). Each module keeps its own cache, so a rerun after a
change re-tests only the functions that changed, and two modules can run side by side.

The score printed is killed / (killed + survived + no tests + suspicious), timeouts counted as
killed (an infinite loop is caught). Mutants that change nothing observable are listed, with the
reason, in ``tests/mutation-equivalents.md``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Module name -> (files mutated, test files run against each mutant). Add a test file here when a
# new test file exercises the module; keep the selection to the tests that target the module so a
# run takes minutes, not hours.
MODULES: dict[str, tuple[list[str], list[str]]] = {
    "patterns": (
        ["eventmesh/patterns.py"],
        [
            "tests/test_patterns.py",
            "tests/test_pattern_robustness.py",
            "tests/test_event_shapes.py",
            # mutmut's trampoline adds frames to every call of the recursive compiler, so the
            # 100-level patterns exceed Python's recursion limit under mutation only.
            "--deselect=tests/test_patterns.py::test_patterns_nested_up_to_100_levels_work",
            "--deselect=tests/test_patterns.py::test_each_dot_of_a_key_counts_as_a_level",
            "--deselect=tests/test_patterns.py::test_deeply_nested_events_match_without_recursion_errors",
        ],
    ),
    "queue": (
        ["eventmesh/resources/queue.py"],
        [
            "tests/test_queue.py",
            "tests/test_queue_redrive.py",
            "tests/test_input_validation.py",
            "tests/test_queue_records.py",
        ],
    ),
    "memory": (
        ["eventmesh/backends/memory.py"],
        # The suites live in the shipped kit (eventmesh/testing/conformance/suites) and run
        # through tests/conformance, which declares memory and SQLite with their records.
        ["tests/conformance", "tests/test_idempotency.py", "tests/test_memory_queue_store.py"],
    ),
    "async_queue": (
        ["eventmesh/_async_queue.py", "eventmesh/_hand_off.py"],
        [
            "tests/test_async_invocations.py",
            "tests/test_event_hand_off.py",
            "tests/test_hand_off_workers.py",
            "tests/test_robustness.py",
            "tests/test_shutdown_report.py",
            "tests/test_backpressure.py",
            "tests/test_failure_log.py",
            "tests/test_runaway_handlers.py",
            "tests/test_telemetry.py",
            "tests/test_async_queue_rules.py",
            # These start `python -m eventmesh.cli` in a temporary directory, where mutmut's
            # trampoline finds no configuration and the child fails before it runs anything.
            "--deselect=tests/test_shutdown_report.py::test_run_logs_the_signal_and_exits_0_when_the_drain_finishes",
            "--deselect=tests/test_shutdown_report.py::test_run_exits_1_when_the_drain_deadline_passes_with_work_left",
            "--deselect=tests/test_shutdown_report.py::test_a_second_signal_stops_at_once",
        ],
    ),
    "schedule_expression": (
        ["eventmesh/resources/schedule_expression.py"],
        ["tests/resources/test_schedule_expression.py", "tests/test_schedule.py"],
    ),
    "mappings": (
        ["eventmesh/mappings/*.py"],
        [
            "tests/test_queue_mapping.py",
            "tests/test_stream_mapping.py",
            "tests/test_shard_leases.py",
        ],
    ),
    "topic": (
        ["eventmesh/resources/topic.py"],
        [
            "tests/test_topic.py",
            "tests/test_topic_rules.py",
            "tests/test_topic_encoding.py",
            "tests/test_egress.py",
        ],
    ),
    "bus": (
        ["eventmesh/resources/bus.py"],
        ["tests/test_bus.py", "tests/test_bus_rules.py", "tests/test_bus_inline.py"],
    ),
    "declare_sqs": (
        ["eventmesh/declare/sqs.py"],
        [
            "tests/sam/test_sqs_queue.py",
            "tests/aws/test_sqs_handlers.py",
            "tests/aws/test_sqs_declaration.py",
        ],
    ),
    "declare_event_source_mapping": (
        ["eventmesh/declare/event_source_mapping.py"],
        [
            "tests/sam/test_event_source_mapping.py",
            "tests/aws/test_lambda_handlers.py",
            "tests/aws/test_event_source_mapping_declaration.py",
        ],
    ),
    "declare_scheduler": (
        ["eventmesh/declare/scheduler.py"],
        [
            "tests/aws/test_scheduler_operations.py",
            "tests/sam/test_events_kinds.py",
            "tests/sam/test_events_template.py",
            "tests/aws/test_scheduler_declaration.py",
        ],
    ),
    "sam_intrinsics": (
        ["eventmesh/sam/_intrinsics.py"],
        [
            "tests/sam/test_intrinsics.py",
            "tests/sam/test_intrinsic_errors.py",
            # Fn::Equals, Fn::Not, Fn::And, Fn::Or and {Condition: name} are tested there.
            "tests/sam/test_conditions.py",
        ],
    ),
    "sam_parameters": (
        ["eventmesh/sam/_parameters.py"],
        ["tests/sam/test_parameters.py", "tests/sam/test_parameter_bounds.py"],
    ),
    "pattern_index": (["eventmesh/_pattern_index.py"], ["tests/test_pattern_index.py"]),
    "shard_leases": (["eventmesh/mappings/shard_leases.py"], ["tests/test_shard_leases.py"]),
}

COPIED = ("eventmesh", "tests", "pyproject.toml", "uv.lock")


def _prepare(workdir: Path) -> None:
    """Refresh the module's copy of the sources and tests; keep mutmut's cache (mutants/)."""
    workdir.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in COPIED:
        source, target = ROOT / name, workdir / name
        if target.is_dir():
            shutil.rmtree(target)
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore)
        else:
            shutil.copy2(source, target)


def _print_score(workdir: Path) -> None:
    stats_file = workdir / "mutants" / "mutmut-cicd-stats.json"
    if not stats_file.exists():
        return
    stats = json.loads(stats_file.read_text())
    killed = stats["killed"] + stats["timeout"]
    judged = killed + stats["survived"] + stats["no_tests"] + stats["suspicious"]
    score = 100.0 * killed / judged if judged else 0.0
    print(
        f"mutation score: {score:.1f} % ({killed} killed of {judged};"
        f" {stats['survived']} survived, {stats['no_tests']} without tests,"
        f" {stats['timeout']} timeouts counted as killed, {stats['total']} mutants)"
    )


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0
    if argv[0] == "--list":
        for name, (files, tests) in MODULES.items():
            print(f"{name:20} {' '.join(files)}  <-  {' '.join(tests)}")
        return 0
    module, command = argv[0], argv[1:] or ["run"]
    if module not in MODULES:
        print(f"unknown module {module!r}; one of: {', '.join(MODULES)}", file=sys.stderr)
        return 2
    files, tests = MODULES[module]
    workdir = ROOT / ".mutation" / module
    if command[0] == "run":
        _prepare(workdir)
    os.chdir(workdir)
    # mutmut reads its configuration on import, from the current directory's pyproject.toml.
    from mutmut.__main__ import cli
    from mutmut.configuration import config

    settings = config()
    settings.only_mutate = files
    settings.pytest_add_cli_args_test_selection = tests
    try:
        cli.main(command, prog_name="mutmut", standalone_mode=False)
    except SystemExit as stop:
        if stop.code not in (0, None):
            return int(stop.code) if isinstance(stop.code, int) else 1
    if command[0] == "run":
        cli.main(["export-cicd-stats"], prog_name="mutmut", standalone_mode=False)
        _print_score(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
