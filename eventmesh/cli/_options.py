"""Options ``run`` and ``invoke`` share: the template's parameters, ``--strict``, the region,
the log's level and format."""

from __future__ import annotations

import argparse

from eventmesh._errors import EventMeshError
from eventmesh.cli._logging import FORMATS, LEVELS, format_value, level_value
from eventmesh.cli._settings import CliError, env_flag, env_option, from_environment

__all__ = ["add_app_arguments", "add_log_arguments", "parameters_of"]


def add_app_arguments(parser: argparse.ArgumentParser) -> None:
    """What ``run`` and ``invoke`` share: the application and how its template is read."""
    parser.add_argument(
        "--parameter-overrides",
        nargs="+",
        action="extend",
        metavar="KEY=VALUE",
        help="the template's parameters, as sam takes them: Key=Value or "
        "ParameterKey=Key,ParameterValue=Value, several per argument separated by spaces "
        "(the variable holds them the same way) [$EVENTMESH_PARAMETER_OVERRIDES]",
    )
    env_flag(
        parser,
        "--strict",
        env="EVENTMESH_STRICT",
        help="refuse to start when the template holds what the mesh cannot emulate (instead "
        "of one warning listing it)",
    )
    env_option(
        parser,
        "--region",
        env="EVENTMESH_REGION",
        metavar="REGION",
        help="the template's AWS::Region and the mesh's region (default us-east-1)",
    )


def add_log_arguments(parser: argparse.ArgumentParser, default_level: str = "INFO") -> None:
    env_option(
        parser,
        "--log-level",
        env="EVENTMESH_LOG_LEVEL",
        check=level_value,
        default=default_level,
        metavar="LEVEL",
        help=f"one of {', '.join(LEVELS)}, any case (default {default_level})",
    )
    env_option(
        parser,
        "--log-format",
        env="EVENTMESH_LOG_FORMAT",
        check=format_value,
        default="text",
        metavar="FORMAT",
        help=f"{' or '.join(FORMATS)}: lines with UTC time, level and logger, or one JSON "
        "object per line (time, level, logger, message, the record's fields such as "
        "function_name and request_id, exception) for log shippers (default text)",
    )


def parameters_of(arguments: argparse.Namespace) -> dict[str, str]:
    texts = from_environment(arguments.parameter_overrides, "EVENTMESH_PARAMETER_OVERRIDES")
    if not texts:
        return {}
    try:
        from eventmesh.sam._parameters import parse_overrides
    except ImportError as exc:
        raise CliError(
            f"--parameter-overrides needs the sam extra ({exc}): pip install 'eventmesh[sam]'", 2
        ) from None
    try:
        return parse_overrides(texts)
    except EventMeshError as exc:
        raise CliError(str(exc), 2) from None
