"""Every ``run`` option by flag or ``EVENTMESH_*`` variable (the flag wins, ``--help`` names the
variable), and the log's two formats."""

from __future__ import annotations

import argparse
import io
import logging
import sys

import orjson
import pytest

from eventmesh.cli import run
from eventmesh.cli._logging import JsonFormatter, TextFormatter, configure

VARIABLES = {
    "--storage": "EVENTMESH_STORAGE",
    "--http": "EVENTMESH_HTTP",
    "--aws": "EVENTMESH_AWS",
    "--aws-credentials": "EVENTMESH_AWS_CREDENTIALS",
    "--log-level": "EVENTMESH_LOG_LEVEL",
    "--log-format": "EVENTMESH_LOG_FORMAT",
    "--workers": "EVENTMESH_WORKERS",
    "--parameter-overrides": "EVENTMESH_PARAMETER_OVERRIDES",
    "--strict": "EVENTMESH_STRICT",
    "--reload": "EVENTMESH_RELOAD",
    "--region": "EVENTMESH_REGION",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in __import__("os").environ if name.startswith("EVENTMESH_")]:
        monkeypatch.delenv(name)


def parse(*arguments: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    run.COMMAND.add_arguments(parser)
    return parser.parse_args(list(arguments))


def test_help_names_each_options_variable() -> None:
    parser = argparse.ArgumentParser()
    run.COMMAND.add_arguments(parser)
    text = " ".join(parser.format_help().split())
    for flag, variable in VARIABLES.items():
        assert flag in text
        assert f"[${variable}]" in text, variable
    assert "$EVENTMESH_TEMPLATE" in text


def test_the_environment_sets_every_option(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "EVENTMESH_TEMPLATE": "stack.yaml",
        "EVENTMESH_STORAGE": "sqlite:///env.db",
        "EVENTMESH_HTTP": "127.0.0.1:8000",
        "EVENTMESH_AWS": "4566",
        "EVENTMESH_AWS_CREDENTIALS": "AKID:secret",
        "EVENTMESH_LOG_LEVEL": "debug",
        "EVENTMESH_LOG_FORMAT": "json",
        "EVENTMESH_WORKERS": "3",
        "EVENTMESH_STRICT": "yes",
        "EVENTMESH_RELOAD": "1",
        "EVENTMESH_REGION": "eu-west-1",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    arguments = parse()
    assert arguments.app == "stack.yaml"
    assert arguments.storage == "sqlite:///env.db"
    assert arguments.http == "127.0.0.1:8000"
    assert arguments.aws == "4566"
    assert arguments.aws_credentials == "AKID:secret"
    assert arguments.log_level == "debug"
    assert arguments.log_format == "json"
    assert arguments.workers == 3
    assert arguments.strict is True
    assert arguments.reload is True
    assert arguments.region == "eu-west-1"


def test_flags_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTMESH_TEMPLATE", "stack.yaml")
    monkeypatch.setenv("EVENTMESH_STORAGE", "sqlite:///env.db")
    monkeypatch.setenv("EVENTMESH_WORKERS", "3")
    monkeypatch.setenv("EVENTMESH_STRICT", "true")
    monkeypatch.setenv("EVENTMESH_LOG_LEVEL", "debug")
    monkeypatch.setenv("EVENTMESH_PARAMETER_OVERRIDES", "Stage=env")
    arguments = parse(
        "other.yaml",
        "--storage",
        "sqlite:///flag.db",
        "--workers",
        "1",
        "--no-strict",
        "--log-level",
        "error",
        "--parameter-overrides",
        "Stage=flag",
    )
    assert arguments.app == "other.yaml"
    assert arguments.storage == "sqlite:///flag.db"
    assert arguments.workers == 1
    assert arguments.strict is False
    assert arguments.log_level == "error"
    assert run.parameters_of(arguments) == {"Stage": "flag"}


def test_parameter_overrides_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "EVENTMESH_PARAMETER_OVERRIDES", "Stage=dev ParameterKey=Name,ParameterValue=orders"
    )
    assert run.parameters_of(parse()) == {"Stage": "dev", "Name": "orders"}


def test_defaults_without_flags_or_variables() -> None:
    arguments = parse()
    assert arguments.app is None
    assert (arguments.log_level, arguments.log_format, arguments.workers) == ("INFO", "text", 1)
    assert (arguments.strict, arguments.reload) == (False, False)
    assert arguments.storage is None and arguments.http is None and arguments.aws is None


# -- log formats ---------------------------------------------------------------------------
def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "eventmesh.invocations", logging.INFO, "x.py", 1, "END %s", ("r1",), None
    )
    record.created = 1796611543.125  # 2026-12-07T02:45:43.125Z
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_text_lines_have_utc_time_level_and_logger() -> None:
    line = TextFormatter().format(_record())
    assert line == "2026-12-07T02:45:43.125Z INFO    eventmesh.invocations: END r1"


def test_json_lines_have_the_records_fields() -> None:
    line = JsonFormatter().format(
        _record(request_id="r1", function_name="orders", phase="END", stream=None)
    )
    assert orjson.loads(line) == {
        "time": "2026-12-07T02:45:43.125Z",
        "level": "INFO",
        "logger": "eventmesh.invocations",
        "message": "END r1",
        "request_id": "r1",
        "function_name": "orders",
        "phase": "END",
        "stream": None,
    }


def test_json_lines_carry_the_exception_and_unserialisable_fields_as_text() -> None:
    try:
        raise ValueError("card declined")
    except ValueError:
        record = logging.LogRecord(
            "eventmesh", logging.ERROR, "x.py", 1, "failed", None, sys.exc_info()
        )
    record.when = object.__new__(type("Odd", (), {"__str__": lambda self: "odd"}))
    fields = orjson.loads(JsonFormatter().format(record))
    assert fields["level"] == "ERROR"
    assert fields["exception"].startswith("Traceback (most recent call last):")
    assert fields["exception"].endswith("ValueError: card declined")
    assert fields["when"] == "odd"


def test_configure_replaces_the_handlers_and_sets_the_level() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        stream = io.StringIO()
        configure("warning", "json", stream)
        configure("warning", "json", stream)  # twice: still one handler
        logging.getLogger("eventmesh.test").info("not shown")
        logging.getLogger("eventmesh.test").warning("shown %d", 1)
        lines = stream.getvalue().splitlines()
        assert len(lines) == 1
        assert orjson.loads(lines[0])["message"] == "shown 1"
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def test_uvicorns_own_start_and_stop_lines_are_left_to_the_fronts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each server (the HTTP front, the AWS endpoint) logs 'serving HTTP on ...' itself:
    uvicorn's 'Started server process [pid]' came once per server, twice in one process, with
    an ANSI-coloured copy of the message in JSON lines. Its warnings and errors still show."""
    root = logging.getLogger()
    uvicorn = logging.getLogger("uvicorn.error")
    monkeypatch.setattr(root, "handlers", root.handlers[:])
    monkeypatch.setattr(uvicorn, "level", uvicorn.level)
    stream = io.StringIO()
    configure("info", "json", stream)
    colored = {"color_message": "Started server process [\x1b[36m%d\x1b[0m]"}
    uvicorn.info("Started server process [%d]", 1480, extra=colored)
    uvicorn.warning("Invalid HTTP request received.", extra=colored)
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert lines == [
        {
            "time": lines[0]["time"],
            "level": "WARNING",
            "logger": "uvicorn.error",
            "message": "Invalid HTTP request received.",
        }
    ]
