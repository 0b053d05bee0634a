"""``eventmesh run``: a SAM template or a mesh as a worker until SIGINT or SIGTERM, optionally
served over HTTP and as an AWS-compatible endpoint.

Every option can be set by flag or by an ``EVENTMESH_*`` environment variable (the flag wins);
``--help`` names them. A bad value, a missing module, an unreadable or invalid template is one
line on stderr (``eventmesh: ...``) and exit status 2 (usage) or 1 (the application).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shlex
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

from eventmesh._errors import EventMeshError
from eventmesh._mesh import Mesh
from eventmesh._workers import check_workers, supervise
from eventmesh.cli._app import LoadedApp, find_app, is_template, load_app
from eventmesh.cli._command import Command
from eventmesh.cli._logging import check_format, check_level, configure
from eventmesh.cli._options import add_app_arguments, add_log_arguments, parameters_of
from eventmesh.cli._settings import (
    CliError,
    check_environment,
    env_flag,
    env_option,
    from_environment,
)

if TYPE_CHECKING:
    from eventmesh.aws import AwsServer
    from eventmesh.http import HttpServer

__all__ = ["COMMAND"]


def _http_server(mesh: Mesh, address: str) -> HttpServer:
    """The server for ``--http [HOST:]PORT`` (the http extra imported only when asked for)."""
    try:
        from eventmesh.http import HttpServer, parse_address
    except ImportError as exc:
        raise CliError(
            f"--http needs the http extra ({exc}): pip install 'eventmesh[http]'", 2
        ) from None
    try:
        host, port = parse_address(address)
        return HttpServer(mesh, host, port)
    except (EventMeshError, ValueError) as exc:
        raise CliError(f"--http {address}: {exc}") from None


def _aws_server(mesh: Mesh, address: str, credentials: str | None) -> AwsServer:
    """The endpoint for ``--aws [HOST:]PORT`` (the aws extra imported only when asked for)."""
    try:
        from eventmesh.aws import AwsServer
        from eventmesh.http import parse_address
    except ImportError as exc:
        raise CliError(
            f"--aws needs the aws extra ({exc}): pip install 'eventmesh[aws]'", 2
        ) from None
    try:
        host, port = parse_address(address)
        return AwsServer(mesh, host, port, credentials=credentials)
    except (EventMeshError, ValueError) as exc:
        raise CliError(f"--aws {address}: {exc}") from None


async def _run_until_signalled(
    mesh: Mesh,
    http: HttpServer | None = None,
    aws: AwsServer | None = None,
    on_started: Callable[[], Callable[[], None] | None] | None = None,
) -> int:
    """Run the mesh until SIGINT or SIGTERM, then drain and stop; returns the exit status.

    With ``http`` (and ``aws``, the AWS endpoint), the mesh is served once it runs; the
    first signal stops the servers first (no new connection, the requests in hand finish),
    then drains the mesh.

    The first signal drains (up to the mesh's ``drain_timeout``): exit status 0 when all the
    work finished, 1 when the deadline passed with work left or Event invocations were lost.
    A second signal stops at once, abandoning the drain: exit status 128 + the signal number
    (130 for SIGINT, 143 for SIGTERM), as a shell reports a process killed by it. A third
    one ends the process without waiting for anything (a handler that ignores cancellation).
    """
    log = logging.getLogger("eventmesh")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    main = asyncio.current_task()
    assert main is not None
    received: list[signal.Signals] = []

    def on_signal(signum: signal.Signals) -> None:
        received.append(signum)
        if len(received) == 1:
            log.info(
                "received %s: draining for up to %g s (send it again to stop at once)",
                signum.name,
                mesh.drain_timeout,
            )
            stop.set()
        elif len(received) == 2:
            log.warning("received %s again: stopping at once", signum.name)
            main.cancel()
        else:
            log.warning("received %s a third time: exiting now", signum.name)
            logging.shutdown()
            os._exit(128 + signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    servers = [server for server in (http, aws) if server is not None]
    try:
        await mesh.start()
        started: list[HttpServer | AwsServer] = []
        try:
            for server in servers:
                await server.start()
                started.append(server)
        except BaseException:
            for server in reversed(started):
                await server.stop(graceful=False)
            await mesh.stop(drain=False)  # the port is taken, say: do not run half
            raise
        log.info("running %r; Ctrl-C to stop", mesh)
        on_stop = on_started() if on_started is not None else None
        try:
            await stop.wait()
        finally:
            if on_stop is not None:
                on_stop()
        for server in reversed(servers):
            await server.stop()
        clean = await mesh.stop()
    except asyncio.CancelledError:
        if len(received) < 2:
            raise  # not ours: someone else cancelled the run
        main.uncancel()
        for server in reversed(servers):
            await server.stop(graceful=False)
        await mesh.stop(drain=False)  # if the signals came before the drain began
        log.warning("stopped at once; work in hand was abandoned")
        return 128 + received[1]
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    if not clean:
        log.warning("stopped with work abandoned (exit status 1)")
        return 1
    log.info("stopped")
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _add_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "app",
        nargs="?",
        default=os.environ.get("EVENTMESH_TEMPLATE") or None,
        metavar="TEMPLATE|MODULE:ATTRIBUTE",
        help="a SAM or CloudFormation template (.yaml, .yml, .json, .template, or any existing "
        "file), or MODULE:ATTRIBUTE naming a Mesh, e.g. app:mesh (default: "
        "$EVENTMESH_TEMPLATE, else ./template.yaml or ./template.yml)",
    )
    add_app_arguments(run)
    add_log_arguments(run)
    env_option(
        run,
        "--storage",
        env="EVENTMESH_STORAGE",
        metavar="URL",
        help="the mesh's storage instead of the one its code chose, e.g. sqlite:///app.db "
        "(default: memory for a template, else the code's choice)",
    )
    env_option(
        run,
        "--workers",
        env="EVENTMESH_WORKERS",
        convert=_positive,
        default=1,
        metavar="N",
        help="run N worker processes sharing the mesh's storage (restarted when one dies; "
        "needs sqlite:// or redis:// storage); default 1, this process",
    )
    env_option(
        run,
        "--http",
        env="EVENTMESH_HTTP",
        metavar="[HOST:]PORT",
        help="serve the mesh's APIs, function URLs and health checks over HTTP, e.g. "
        "127.0.0.1:8000 (the host defaults to 127.0.0.1; port 0 picks a free port; another "
        "address than loopback is served with a warning); needs eventmesh[http]",
    )
    env_option(
        run,
        "--aws",
        env="EVENTMESH_AWS",
        metavar="[HOST:]PORT",
        help="serve an AWS-compatible endpoint (SQS, SNS, EventBridge, Kinesis, S3, Lambda, "
        "Scheduler) for any AWS SDK, e.g. 127.0.0.1:4566; needs eventmesh[aws]",
    )
    env_option(
        run,
        "--aws-credentials",
        env="EVENTMESH_AWS_CREDENTIALS",
        metavar="KEY:SECRET[,KEY2:SECRET2]",
        help="the access keys the AWS endpoint accepts (without any it accepts any request "
        "on loopback only)",
    )
    env_flag(
        run,
        "--reload",
        env="EVENTMESH_RELOAD",
        help="watch the code folders and layers of the process functions (a template's "
        "functions) and "
        "run changed code in new environments, without losing queued or running work; a "
        "changed template or MODULE is logged as needing a restart; needs watchfiles "
        "(eventmesh[sam])",
    )


def _worker_arguments(arguments: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """What each worker of ``--workers N`` is started with besides the application: options
    that shape it, and the environment (inherited too; flags given here win over it). The
    parameter values go by the environment: a worker's command line is readable by every user
    of the machine, and a value may be a NoEcho password."""
    argv = ["--workers", "1", "--log-format", arguments.log_format, "--no-reload"]
    overrides = from_environment(arguments.parameter_overrides, "EVENTMESH_PARAMETER_OVERRIDES")
    environment = {"EVENTMESH_PARAMETER_OVERRIDES": shlex.join(overrides)}
    argv.append("--strict" if arguments.strict else "--no-strict")
    if arguments.region:
        argv += ["--region", arguments.region]
    return argv, environment


def _run(arguments: argparse.Namespace) -> int:
    check_environment(arguments)
    level = check_level(arguments.log_level)
    configure(level, check_format(arguments.log_format))
    log = logging.getLogger("eventmesh")
    spec = find_app(arguments.app)
    workers: int = arguments.workers
    if workers != 1:
        for option, given in (
            ("--http", arguments.http),
            ("--aws", arguments.aws),
            ("--reload", arguments.reload or None),
        ):
            if given is not None:
                raise CliError(
                    f"{option} with --workers is not supported yet: run one worker with {option} "
                    "(more workers can share its storage without it)",
                    2,
                )
    loaded = load_app(
        spec,
        parameters=parameters_of(arguments),
        strict=arguments.strict,
        region=arguments.region,
        storage=arguments.storage,
    )
    _log_warnings(loaded, log)
    if workers != 1:
        check_workers(workers, loaded.mesh.storage)  # its error: exit status 1, as before
        storage = arguments.storage if not is_template(spec) else loaded.mesh.storage
        options, environment = _worker_arguments(arguments)
        return asyncio.run(supervise(spec, workers, storage, level, options, environment))
    http = _http_server(loaded.mesh, arguments.http) if arguments.http is not None else None
    aws = None
    if arguments.aws is not None:
        aws = _aws_server(loaded.mesh, arguments.aws, arguments.aws_credentials)
    reloader = None
    if arguments.reload:
        from eventmesh.cli._reload import Reloader

        reloader = Reloader(loaded)

    def on_started() -> Callable[[], None] | None:
        from eventmesh.cli._summary import summary

        http_url = http.base_url if http is not None else None
        aws_url = aws.url if aws is not None else None
        for line in summary(loaded, http_url, aws_url):
            log.info("%s", line)
        if reloader is None:
            return None
        task = asyncio.ensure_future(reloader.run())
        task.add_done_callback(_report_reloader)

        def stop() -> None:
            reloader.stop()

        return stop

    return asyncio.run(_run_until_signalled(loaded.mesh, http, aws, on_started))


def _log_warnings(loaded: LoadedApp, log: logging.Logger) -> None:
    """What the template holds that the mesh ignores or cannot emulate, said once."""
    if loaded.application is None:
        return
    for warning in loaded.application.warnings:
        log.warning("%s: %s", loaded.spec, warning)


def _report_reloader(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logging.getLogger("eventmesh.reload").error(
            "--reload stopped watching: %s", task.exception()
        )


COMMAND = Command(
    "run",
    "run a SAM template or a mesh as a worker until SIGINT or SIGTERM",
    _add_arguments,
    _run,
    description="Run a SAM (or CloudFormation) template, or the Mesh named MODULE:ATTRIBUTE, "
    "until SIGINT or SIGTERM; every option may be set by the environment variable in "
    "brackets (the flag wins).",
)
