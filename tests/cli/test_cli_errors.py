"""What cannot run is one line on stderr (``eventmesh: ...``), never a traceback: exit status 2
for a usage error (a bad option value or variable, a name that does not exist), 1 for an
application that cannot be loaded (an import that fails, not a Mesh, an invalid template)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from cli_support import Running, environment, eventmesh

from eventmesh.cli import main


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


# -- as real processes: the exit status and stderr a shell sees ------------------------------
def test_a_bad_log_level_is_one_line_and_status_2(tmp_path: Path) -> None:
    done = eventmesh("run", "app:mesh", "--log-level", "LOUD", cwd=tmp_path)
    assert done.returncode == 2
    assert _one_line(done.stderr) == (
        "eventmesh: --log-level 'LOUD': expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL "
        "(any case)"
    )


def test_a_bad_log_level_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    done = eventmesh("run", "app:mesh", cwd=tmp_path, env=environment(EVENTMESH_LOG_LEVEL="loud"))
    assert done.returncode == 2
    assert _one_line(done.stderr) == (
        "eventmesh: EVENTMESH_LOG_LEVEL='loud': expected one of DEBUG, INFO, WARNING, ERROR, "
        "CRITICAL (any case)"
    )


def test_a_missing_module_is_one_line_and_status_2(tmp_path: Path) -> None:
    done = eventmesh("run", "shop.orders:mesh", cwd=tmp_path)
    assert done.returncode == 2
    assert _one_line(done.stderr) == (
        "eventmesh: no module named 'shop' (from shop.orders:mesh): run from the folder that "
        "holds it, or add that folder to PYTHONPATH"
    )


def test_an_invalid_template_is_one_line_naming_it_and_status_1(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text("Resources: [unclosed\n")
    done = eventmesh("run", cwd=tmp_path)
    assert done.returncode == 1
    line = _one_line(done.stderr)
    assert line == (
        "eventmesh: template.yaml: not valid YAML or JSON: line 2, column 1: expected ',' or "
        "']', but got '<stream end>' (while parsing a flow sequence)"
    )


# -- in process: the same rules, faster ----------------------------------------------------
@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in [name for name in __import__("os").environ if name.startswith("EVENTMESH_")]:
        monkeypatch.delenv(name)
    return tmp_path


def _fails(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str]:
    status = main(list(arguments))
    return status, _one_line(capsys.readouterr().err)


def test_no_application_and_no_template_here(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _fails(capsys, "run") == (
        2,
        "eventmesh: no application given and no template.yaml here: name a template "
        "(eventmesh run template.yaml) or a mesh (eventmesh run app:mesh)",
    )


def test_a_template_that_does_not_exist(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _fails(capsys, "run", "stack.yaml") == (
        2,
        "eventmesh: no template stack.yaml (no such file)",
    )


def test_something_that_is_not_a_mesh(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "cli_not_a_mesh.py").write_text("mesh = 42\n")
    assert _fails(capsys, "run", "cli_not_a_mesh:mesh") == (
        1,
        "eventmesh: cli_not_a_mesh:mesh is not an eventmesh.Mesh (it is a int)",
    )
    assert _fails(capsys, "run", "cli_not_a_mesh:other") == (
        1,
        "eventmesh: cli_not_a_mesh:other is not an eventmesh.Mesh: cli_not_a_mesh has no other",
    )


def test_a_module_that_fails_to_import_names_the_line(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "cli_broken_app.py").write_text("x = 1\ny = x / 0\n")
    status, line = _fails(capsys, "run", "cli_broken_app:mesh")
    assert status == 1
    assert line == (
        "eventmesh: importing cli_broken_app failed: ZeroDivisionError: division by zero "
        f"({here / 'cli_broken_app.py'}, line 2)"
    )


def test_a_malformed_app_argument(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _fails(capsys, "run", "app") == (
        2,
        "eventmesh: expected a template file or MODULE:ATTRIBUTE (e.g. app:mesh), got 'app'",
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("EVENTMESH_WORKERS", "0", "EVENTMESH_WORKERS='0': must be at least 1, not 0"),
        (
            "EVENTMESH_WORKERS",
            "many",
            "EVENTMESH_WORKERS='many': expected a whole number, got 'many'",
        ),
        (
            "EVENTMESH_STRICT",
            "maybe",
            "EVENTMESH_STRICT='maybe': expected 1/true/yes or 0/false/no",
        ),
        ("EVENTMESH_LOG_FORMAT", "xml", "EVENTMESH_LOG_FORMAT='xml': expected text or json"),
    ],
)
def test_bad_environment_values_name_their_variable(
    here: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(variable, value)
    assert _fails(capsys, "run", "app:mesh") == (2, f"eventmesh: {message}")


def test_a_bad_environment_value_of_run_does_not_break_other_commands(
    here: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTMESH_WORKERS", "0")
    assert _fails(capsys, "invoke", "fn", "app") == (
        2,
        "eventmesh: expected a template file or MODULE:ATTRIBUTE (e.g. app:mesh), got 'app'",
    )


def test_reload_and_http_with_several_workers_are_refused(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, line = _fails(capsys, "run", "app:mesh", "--workers", "2", "--reload")
    assert (status, line) == (
        2,
        "eventmesh: --reload with --workers is not supported yet: run one worker with "
        "--reload (more workers can share its storage without it)",
    )


def test_template_options_on_a_module_are_refused(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "cli_plain_app.py").write_text("from eventmesh import Mesh\nmesh = Mesh()\n")
    assert _fails(capsys, "run", "cli_plain_app:mesh", "--parameter-overrides", "A=1") == (
        2,
        "eventmesh: --parameter-overrides applies to a template, not to MODULE:ATTRIBUTE",
    )
    assert _fails(capsys, "run", "cli_plain_app:mesh", "--strict") == (
        2,
        "eventmesh: --strict applies to a template, not to MODULE:ATTRIBUTE",
    )


def test_ctrl_c_while_the_application_loads_is_one_line_and_status_130(tmp_path: Path) -> None:
    """SIGINT before the mesh runs (a module or template still loading): no traceback."""
    (tmp_path / "slowapp.py").write_text(
        "import sys, time\n"
        "from eventmesh import Mesh\n"
        "print('loading', file=sys.stderr, flush=True)\n"
        "time.sleep(30)\n"
        "mesh = Mesh()\n"
    )
    worker = Running("run", "slowapp:mesh", cwd=tmp_path)
    worker.wait_for("loading")
    status = worker.stop(signal.SIGINT)
    assert status == 130
    assert not any("Traceback" in line for line in worker.seen), worker.seen
    assert worker.seen[-1] == "eventmesh: interrupted", worker.seen
