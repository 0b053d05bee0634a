"""``eventmesh run``: a mesh as a worker until SIGINT or SIGTERM, optionally served over HTTP and
as an AWS-compatible endpoint."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING

from eventmesh._mesh import Mesh
from eventmesh._workers import check_workers, supervise
from eventmesh.cli._command import Command

if TYPE_CHECKING:
    from eventmesh.aws import AwsServer
    from eventmesh.http import HttpServer

__all__ = ["COMMAND"]


def _load_mesh(spec: str) -> Mesh:
    """``module.path:attribute`` to the Mesh it names."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"eventmesh run: expected MODULE:ATTRIBUTE (e.g. app:mesh), got {spec!r}")
    sys.path.insert(0, ".")
    module = importlib.import_module(module_name)
    mesh = getattr(module, attribute, None)
    if not isinstance(mesh, Mesh):
        raise SystemExit(f"eventmesh run: {spec} is not an eventmesh.Mesh")
    return mesh


def _http_server(mesh: Mesh, address: str) -> HttpServer:
    """The server for ``--http [HOST:]PORT`` (the http extra imported only when asked for)."""
    try:
        from eventmesh.http import HttpServer, parse_address
    except ImportError as exc:
        raise SystemExit(
            f"eventmesh run: --http needs the http extra ({exc}): pip install 'eventmesh[http]'"
        ) from None
    host, port = parse_address(address)
    return HttpServer(mesh, host, port)


def _aws_server(mesh: Mesh, address: str, credentials: str | None) -> AwsServer:
    """The endpoint for ``--aws [HOST:]PORT`` (the aws extra imported only when asked for)."""
    try:
        from eventmesh.aws import AwsServer
        from eventmesh.http import parse_address
    except ImportError as exc:
        raise SystemExit(
            f"eventmesh run: --aws needs the aws extra ({exc}): pip install 'eventmesh[aws]'"
        ) from None
    host, port = parse_address(address)
    return AwsServer(mesh, host, port, credentials=credentials)


async def _run_until_signalled(
    mesh: Mesh, http: HttpServer | None = None, aws: AwsServer | None = None
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
        await stop.wait()
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


def _add_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument("app", help="MODULE:ATTRIBUTE naming the Mesh, e.g. app:mesh")
    run.add_argument("--log-level", default="INFO")
    run.add_argument(
        "--storage",
        default=os.environ.get("EVENTMESH_STORAGE") or None,
        metavar="URL",
        help="the mesh's storage instead of the one its code chose, e.g. "
        "sqlite:///app.db (default: $EVENTMESH_STORAGE, else the code's choice)",
    )
    run.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="run N worker processes sharing the mesh's storage (restarted when one dies; "
        "needs sqlite:// or redis:// storage); default 1, this process",
    )
    run.add_argument(
        "--http",
        metavar="[HOST:]PORT",
        help="serve the mesh's APIs, function URLs and health checks over HTTP, e.g. "
        "127.0.0.1:8000 (the host defaults to 127.0.0.1; port 0 picks a free port; another "
        "address than loopback is served with a warning); needs eventmesh[http]",
    )
    run.add_argument(
        "--aws",
        metavar="[HOST:]PORT",
        help="serve an AWS-compatible endpoint (SQS, SNS, EventBridge, Kinesis, S3, Lambda, "
        "Scheduler) for any AWS SDK, e.g. 127.0.0.1:4566; needs eventmesh[aws]",
    )
    run.add_argument(
        "--aws-credentials",
        metavar="KEY:SECRET[,KEY2:SECRET2]",
        default=None,
        help="the access keys the AWS endpoint accepts (default: "
        "$EVENTMESH_AWS_CREDENTIALS; without either it accepts any request on loopback only)",
    )


def _run(arguments: argparse.Namespace) -> int:
    logging.basicConfig(level=arguments.log_level.upper(), format="%(message)s")
    mesh = _load_mesh(arguments.app)
    if arguments.storage is not None:
        mesh.use_storage(arguments.storage)
    http = aws = None
    for option, given in (("--http", arguments.http), ("--aws", arguments.aws)):
        if given is not None and arguments.workers != 1:
            print(
                f"eventmesh run: {option} with --workers is not supported yet: run one "
                f"worker with {option} (more workers can share its storage without it)",
                file=sys.stderr,
            )
            return 2
    if arguments.http is not None:
        http = _http_server(mesh, arguments.http)
    if arguments.aws is not None:
        aws = _aws_server(mesh, arguments.aws, arguments.aws_credentials)
    if arguments.workers != 1:
        check_workers(arguments.workers, mesh.storage)
        return asyncio.run(
            supervise(arguments.app, arguments.workers, arguments.storage, arguments.log_level)
        )
    return asyncio.run(_run_until_signalled(mesh, http, aws))


COMMAND = Command("run", "run a mesh as a worker until SIGINT or SIGTERM", _add_arguments, _run)
