"""``eventmesh invoke NAME``: one invocation of a function, as ``sam local invoke`` runs it.

The response (JSON) goes to stdout; the function's log (START, every line it printed, END,
REPORT) to stderr as it comes. Exit status 0, or 1 when the function failed (its error object
is the response).

In process (the default), the application (``./template.yaml``, ``--template``, or
``MODULE:ATTRIBUTE``) is built and started with ``event_sources=False``: its mappings poll
nothing and its schedules fire nothing, so the one invocation asked for is all that runs
(with what it causes itself: messages it sends, destinations). ``--endpoint URL`` sends the
invocation to a running ``eventmesh run --aws`` instead, as Lambda's Invoke API call with
``X-Amz-Log-Type: Tail`` (signed with SigV4 when credentials are given).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from pathlib import Path
from typing import Any

import orjson

from eventmesh._errors import EventMeshError
from eventmesh._function import Function
from eventmesh.cli._app import DEFAULT_TEMPLATES, LoadedApp, find_app, load_app
from eventmesh.cli._command import Command
from eventmesh.cli._logging import JsonFormatter, check_format, check_level, configure
from eventmesh.cli._options import add_app_arguments, add_log_arguments, parameters_of
from eventmesh.cli._settings import CliError, check_environment, env_option
from eventmesh.telemetry import invocation_logger

__all__ = ["COMMAND"]

INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "function",
        metavar="NAME",
        help="the function: its logical id in the template or its name (NAME:QUALIFIER too)",
    )
    parser.add_argument(
        "app",
        nargs="?",
        metavar="TEMPLATE|MODULE:ATTRIBUTE",
        help="the application, as for eventmesh run (or --template)",
    )
    env_option(
        parser,
        "--template",
        "-t",
        env="EVENTMESH_TEMPLATE",
        metavar="TEMPLATE",
        help="the template (default ./template.yaml or ./template.yml)",
    )
    parser.add_argument(
        "--event",
        "-e",
        metavar="FILE|-",
        help="the event: a JSON file, or - for stdin (default {})",
    )
    parser.add_argument(
        "--invocation-type",
        choices=INVOCATION_TYPES,
        default="RequestResponse",
        help="RequestResponse (run it, print its response), Event (queue it, print 202, run "
        "it and its first attempt's log) or DryRun (check the name and the event: 204)",
    )
    parser.add_argument("--qualifier", metavar="Q", help="a version or an alias")
    add_app_arguments(parser)
    parser.add_argument(
        "--endpoint",
        metavar="URL",
        help="invoke through a running worker's AWS endpoint (eventmesh run --aws), e.g. "
        "http://127.0.0.1:4566, instead of in process",
    )
    env_option(
        parser,
        "--aws-credentials",
        env="EVENTMESH_AWS_CREDENTIALS",
        metavar="KEY:SECRET",
        help="with --endpoint: sign the request with these keys (SigV4; needs botocore)",
    )
    add_log_arguments(parser, default_level="WARNING")


def read_event(source: str | None) -> Any:
    """The event: ``{}``, a JSON file's, or stdin's (``-``)."""
    if source is None:
        return {}
    try:
        text = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as exc:
        raise CliError(f"--event {source}: {exc.strerror or exc}", 2) from None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise CliError(f"--event {source}: not JSON: {exc}", 2) from None


def function_name(loaded: LoadedApp, name: str) -> str:
    """A logical id (of a template's function) or a function's name, to its name."""
    base, _, qualifier = name.partition(":")
    if name.startswith("arn:"):  # arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
        parts = name.split(":")
        if len(parts) >= 7 and parts[5] == "function":
            _known(loaded, parts[6])
        return name
    application = loaded.application
    if application is not None and base in application.resources:
        value = application.resources[base].value
        if isinstance(value, Function):
            base = value.name
    _known(loaded, base)
    return f"{base}:{qualifier}" if qualifier else base


def _known(loaded: LoadedApp, name: str) -> None:
    if name not in loaded.mesh.functions:
        known = ", ".join(sorted(loaded.mesh.functions)) or "none"
        raise CliError(f"no function {name!r} in {loaded.spec} (its functions: {known})", 2)


def _qualified(name: str, qualifier: str | None) -> str:
    if qualifier is None:
        return name
    qualified = name.count(":") > 6 if name.startswith("arn:") else ":" in name
    if qualified:  # arn:aws:lambda:REGION:ACCOUNT:function:NAME has 6 colons, unqualified
        raise CliError(f"--qualifier {qualifier} with {name}: give the qualifier once", 2)
    return f"{name}:{qualifier}"


def _show_invocation_lines(log_format: str) -> None:
    """The function's log on stderr, each line as it comes: START, output, END, REPORT."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter("%(message)s")
    )
    invocation_logger.handlers[:] = [handler]
    invocation_logger.propagate = False
    invocation_logger.setLevel(logging.INFO)


def _print_response(payload: Any) -> None:
    if isinstance(payload, bytes | bytearray):
        sys.stdout.buffer.write(bytes(payload))
        sys.stdout.buffer.write(b"\n")
    else:
        sys.stdout.write(orjson.dumps(payload).decode() + "\n")
    sys.stdout.flush()


def _aws_endpoint(mesh: Any) -> Any:
    """An AWS endpoint on a free loopback port for a mesh with process functions, or None.

    A process function's handler reaches AWS through its SDK: the endpoint (its URL in the
    process's ``AWS_ENDPOINT_URL``) makes what it sends (a message, an object, a publication)
    reach the mesh, as under ``eventmesh run --aws``, instead of AWS itself. It accepts the
    credentials the processes are given. Without the aws extra there is none.
    """
    try:
        from eventmesh.process._function import ProcessFunction
    except ImportError:  # without the process extra, no function runs in a process
        return None
    if not any(isinstance(f, ProcessFunction) for f in mesh.functions.values()):
        return None
    try:
        from eventmesh.aws import AwsServer
    except ImportError:
        return None
    return AwsServer(mesh, "127.0.0.1", 0, credentials=mesh.aws_credentials)


async def _invoke(mesh: Any, name: str, event: Any, invocation_type: str) -> tuple[Any, bool]:
    """Start the mesh without its event sources, run the invocation, stop: the response and
    whether the function failed."""
    await mesh.start(event_sources=False)
    endpoint = _aws_endpoint(mesh)
    failed = False
    try:
        if endpoint is not None:
            await endpoint.start()
        with contextlib.redirect_stdout(sys.stderr):  # an in-process handler's print()
            if invocation_type == "Event":
                function = mesh.resolve_function(name).function  # a name or an ARN
                before = function.stats.invocations
                result = await mesh.invoke(name, event, "Event")
                response: Any = {"StatusCode": 202, "RequestId": result.request_id}
                # Wait for the first attempt (not for retries, which come minutes later), for
                # as long as it may run and a little more.
                loop = asyncio.get_running_loop()
                give_up = loop.time() + function.config.timeout + 30.0
                while function.stats.invocations == before and loop.time() < give_up:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
                mesh.drain_timeout = min(mesh.drain_timeout, 5.0)
            else:
                result = await mesh.invoke(name, event, invocation_type)
                if invocation_type == "DryRun":
                    response = {"StatusCode": 204}
                else:
                    response = result.payload
                    failed = result.function_error is not None
    finally:
        if endpoint is not None and endpoint.serving:
            await endpoint.stop(graceful=False)
        await mesh.stop()
    return response, failed


def _run(arguments: argparse.Namespace) -> int:
    check_environment(arguments)
    log_format = check_format(arguments.log_format)
    configure(check_level(arguments.log_level), log_format)
    if arguments.app and arguments.template and arguments.app != arguments.template:
        raise CliError("give the application once: TEMPLATE|MODULE:ATTRIBUTE or --template", 2)
    event = read_event(arguments.event)
    if arguments.endpoint is not None:
        from eventmesh.cli._remote_invoke import invoke_remote

        name = arguments.function
        # A logical id needs the template: the one given, else ./template.yaml when there is
        # one (as for an invocation in process); without either, NAME is the function's name.
        if arguments.app or arguments.template or _default_template() is not None:
            loaded = _load(arguments)
            name = function_name(loaded, name)
        return invoke_remote(
            arguments.endpoint,
            _qualified(name, arguments.qualifier),
            event,
            arguments.invocation_type,
            arguments.aws_credentials,
            arguments.region or "us-east-1",
        )
    _show_invocation_lines(log_format)
    loaded = _load(arguments)
    name = _qualified(function_name(loaded, arguments.function), arguments.qualifier)
    try:
        response, failed = asyncio.run(_invoke(loaded.mesh, name, event, arguments.invocation_type))
    except EventMeshError as exc:  # a throttle, an event too large, an unknown qualifier
        raise CliError(f"invoking {name}: {exc}") from None
    _print_response(response)
    return 1 if failed else 0


def _default_template() -> str | None:
    return next((name for name in DEFAULT_TEMPLATES if Path(name).is_file()), None)


def _load(arguments: argparse.Namespace) -> LoadedApp:
    spec = find_app(arguments.app or arguments.template)
    return load_app(
        spec,
        parameters=parameters_of(arguments),
        strict=arguments.strict,
        region=arguments.region,
    )


COMMAND = Command(
    "invoke",
    "run one invocation of a function and print its response and log, as sam local invoke",
    _add_arguments,
    _run,
    description="Invoke one function of a template (or of MODULE:ATTRIBUTE) in process, with "
    "nothing else of the application running (no pollers, no schedules), or through a "
    "running worker's AWS endpoint (--endpoint). The response goes to stdout, the function's "
    "log (START, its output, END, REPORT) to stderr; exit status 1 when the function failed.",
)
