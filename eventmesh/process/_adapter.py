"""A process-isolated function, seen by the invoker as an ordinary one.

The invoker runs a function's init hook on a cold start and its handler on every invocation,
under the deadline, one invocation at a time per environment. For a process function both are
this module's: the init hook (:meth:`ProcessRuntime.initialise`) starts the environment's
process and waits until its runtime asks for its first invocation (so the REPORT line's Init
Duration covers process start and import), and returns the :class:`ProcessEnvironment`, which
becomes the environment's state; the handler (:meth:`ProcessRuntime.handle`) hands the event to
that process over the Runtime API and returns what it posts back. So cold and warm starts,
timeouts, retries, destinations and middleware are the invoker's, unchanged:

- a timeout cancels the handler, which kills the process; the invoker reports Lambda's timeout
  and resets the environment, whose next invocation starts a new process;
- a runtime that exits mid-invocation (a crash, a kill) is ``Runtime.ExitError`` and resets the
  environment; an error the runtime posts is the function error, verbatim;
- an init that fails (``/init/error``, or an exit before the first ``/next``) fails the
  invocation that was waiting for it, with the runtime's own error object, and the environment
  initialises again next time, as Lambda does.

Environments are found by their log stream name, unique per environment; the mesh tells this
module when the invoker's pool reclaims one (:meth:`reclaim`) and when it stops (:meth:`close`).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from eventmesh._aws_credentials import AwsCredentials
from eventmesh._errors import ConfigurationError, ReportedFunctionError
from eventmesh._invoker import PROVISIONED_INIT
from eventmesh.process._environment import ProcessEnvironment, exit_description
from eventmesh.process._launch import Launch
from eventmesh.process._messages import Invocation, Outcome, trace_header
from eventmesh.process._sandbox_seam import Sandbox, SandboxFactory
from eventmesh.process._variables import process_variables
from eventmesh.process.sandbox import detect_mechanisms, open_sandbox, under_host_tmp

if TYPE_CHECKING:
    from eventmesh._context import Context

__all__ = ["ProcessRuntime", "ProcessSettings"]

logger = logging.getLogger("eventmesh")

EPHEMERAL_STORAGE_MB = 512
"""Lambda's default ``/tmp`` size (a function's ``ephemeral_storage`` sets its own)."""


@dataclass(frozen=True, slots=True)
class ProcessSettings:
    """What the mesh gives every process function: the region and credentials handlers see,
    the AWS-compatible endpoint it serves (None: none), the response limit, the sandbox."""

    region: str
    credentials: AwsCredentials
    max_response_bytes: int
    endpoint_url: str | None = None
    sandbox: SandboxFactory = open_sandbox
    endpoint_source: Callable[[], str | None] | None = None
    """Where the AWS endpoint serving now is asked for when an environment starts (the
    endpoint starts after the functions are registered); ``endpoint_url`` when None."""
    credentials_source: Callable[[], AwsCredentials] | None = None
    """Likewise for the credentials (the endpoint may give the mesh the ones it accepts)."""

    def current_credentials(self) -> AwsCredentials:
        """The credentials for an environment starting now."""
        if self.credentials_source is not None:
            return self.credentials_source()
        return self.credentials

    def current_endpoint_url(self) -> str | None:
        """The AWS endpoint's URL for an environment starting now."""
        if self.endpoint_source is not None:
            return self.endpoint_source()
        return self.endpoint_url

    def check_visible(self, launch: Launch) -> None:
        """Refuse code the environment's process could not see: its private ``/tmp`` hides
        the host's, so a code directory (or an interpreter) under ``/tmp`` is out of reach."""
        if self.sandbox is not open_sandbox or not detect_mechanisms().private_tmp:
            return
        needs = [("code directory", launch.code), ("runtime", Path(launch.argv[0]))]
        needs += [("layer directory", layer) for layer in launch.layers]
        if launch.argv[0] == sys.executable:  # its packages (awslambdaric) come from sys.prefix
            needs.append(("Python environment", Path(sys.prefix)))
        for what, path in needs:
            if under_host_tmp(path):
                raise ConfigurationError(
                    f"the {what} {path} is under /tmp, which each execution environment "
                    "replaces with its own private /tmp (as Lambda does): move it elsewhere"
                )


class ProcessRuntime:
    """The init hook and handler of one process function (all its versions)."""

    def __init__(
        self,
        name: str,
        launch: Launch,
        settings: ProcessSettings,
        storage_of: Callable[[str], int] | None = None,
    ) -> None:
        self.name = name
        self.launch = launch
        self.settings = settings
        self._storage_of = storage_of
        """A version's ephemeral storage (MB); None: Lambda's default."""
        self.environments: dict[str, ProcessEnvironment] = {}
        self._closing: set[asyncio.Task[None]] = set()

    # -- the init hook --------------------------------------------------------------------------
    async def initialise(self, context: Context) -> ProcessEnvironment:
        """Start the environment's process; its state is the :class:`ProcessEnvironment`."""
        key = context.log_stream_name
        environment = self.environments.get(key)
        if environment is None:
            environment = self._new_environment(context)
            self.environments[key] = environment
        environment.init_failure = None
        outcome = await environment.start()
        if outcome.kind != "ready":
            environment.init_failure = outcome
            logger.warning(
                "function %s: environment %s failed to initialise (%s)",
                self.name,
                key,
                outcome.kind,
            )
        return environment

    def _new_environment(self, context: Context) -> ProcessEnvironment:
        settings = self.settings
        key = context.log_stream_name
        provisioned = context.invocation_type == PROVISIONED_INIT
        variables = dict(context.environment)
        version = context.function_version
        memory = context.memory_limit_in_mb
        storage = EPHEMERAL_STORAGE_MB if self._storage_of is None else self._storage_of(version)

        def make_variables(runtime_api: str) -> dict[str, str]:
            return process_variables(
                self.launch,
                function_name=self.name,
                function_version=version,
                memory_mb=memory,
                initialization_type="provisioned-concurrency" if provisioned else "on-demand",
                log_stream_name=key,
                runtime_api=runtime_api,
                region=settings.region,
                credentials=settings.current_credentials(),
                endpoint_url=settings.current_endpoint_url(),
                function_environment=variables,
            )

        def make_sandbox(root: Path) -> Sandbox:
            return settings.sandbox(key, memory, storage, root)

        return ProcessEnvironment(
            self.launch, key, self.name, make_sandbox, make_variables, settings.max_response_bytes
        )

    # -- the handler ----------------------------------------------------------------------------
    async def handle(self, event: Any, context: Context) -> Any:
        """Run one invocation in the environment's process (see the module docstring)."""
        environment: ProcessEnvironment = context.state
        request_id = context.aws_request_id
        failure = environment.init_failure
        if failure is not None:
            environment.init_failure = None
            raise ReportedFunctionError(
                self._init_error(failure, environment, request_id), reset=True
            )
        if not environment.alive:
            # Its process ended while idle (killed from outside, the mesh restarted): Lambda
            # would have reset the environment; start a new process for this invocation.
            outcome = await environment.start()
            if outcome.kind != "ready":
                raise ReportedFunctionError(
                    self._init_error(outcome, environment, request_id), reset=True
                )
        remaining = context.get_remaining_time_in_millis()
        client_context = context.client_context
        invocation = Invocation(
            request_id,
            orjson.dumps(event),
            int(time.time() * 1000) + remaining,
            context.invoked_function_arn,
            trace_id=trace_header(request_id),
            client_context=None if client_context is None else _client_context(client_context),
        )
        outcome = await environment.invoke(invocation)
        if outcome.kind == "not_taken":
            # Its runtime exited without asking for it (it answered the last one and ended):
            # Lambda gives an invocation only to a runtime waiting in /next, so a new runtime
            # process of the environment takes it.
            started = await environment.start()
            if started.kind != "ready":
                raise ReportedFunctionError(
                    self._init_error(started, environment, request_id), reset=True
                )
            outcome = await environment.invoke(invocation)
        kind = outcome.kind
        if kind == "response":
            return _decode(outcome.body)
        if kind == "error":
            raise ReportedFunctionError(_error_object(outcome))
        if kind == "too_large":
            environment.kill()  # AWS's runtime client exits on the 413: start afresh
            limit = self.settings.max_response_bytes
            raise ReportedFunctionError(
                {
                    "errorMessage": (
                        f"Response payload size ({outcome.size} bytes) exceeded maximum "
                        f"allowed payload size ({limit} bytes)."
                    ),
                    "errorType": "Function.ResponseSizeTooLarge",
                    "stackTrace": [],
                },
                reset=True,
            )
        await environment.wait_exit()
        raise ReportedFunctionError(_exit_error(environment, request_id), reset=True)

    def _init_error(
        self, outcome: Outcome, environment: ProcessEnvironment, request_id: str
    ) -> dict[str, Any]:
        if outcome.kind == "init_error":
            return _error_object(outcome)
        if outcome.kind == "spawn_error":
            return {
                "errorMessage": f"RequestId: {request_id} Error: {outcome.error.decode()}",
                "errorType": "Runtime.InvalidEntrypoint",
            }
        return _exit_error(environment, request_id)

    # -- reclaim, stop --------------------------------------------------------------------------
    def reclaim(self, log_stream_name: str) -> None:
        """The pool reclaimed (or discarded) this environment: end its process, now."""
        environment = self.environments.pop(log_stream_name, None)
        if environment is None:
            return
        environment.kill()
        task = asyncio.get_running_loop().create_task(environment.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """The mesh stops: end every process and wait for their exits. The environments stay
        known; their next invocation (after a restart) starts a new process."""
        for environment in self.environments.values():
            environment.kill()
        await asyncio.gather(
            *(environment.close() for environment in self.environments.values()),
            *self._closing,
            return_exceptions=True,
        )


def _decode(body: bytes) -> Any:
    if not body:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace")  # a custom runtime may answer plain text


def _error_object(outcome: Outcome) -> dict[str, Any]:
    """The error the runtime posted, verbatim when it is a JSON object."""
    try:
        error = orjson.loads(outcome.error) if outcome.error else None
    except orjson.JSONDecodeError:
        error = None
    if isinstance(error, dict):
        return error
    return {
        "errorMessage": outcome.error.decode("utf-8", "replace"),
        "errorType": outcome.error_type or "Unhandled",
    }


def _exit_error(environment: ProcessEnvironment, request_id: str) -> dict[str, Any]:
    returncode = environment.returncode if environment.returncode is not None else -9
    memory_killed = environment.last_exit is not None and environment.last_exit.memory_killed
    return {
        "errorMessage": (
            f"RequestId: {request_id} Error: Runtime exited "
            f"{exit_description(returncode, memory_killed)}"
        ),
        "errorType": "Runtime.ExitError",
    }


def _client_context(client_context: Any) -> str:
    return orjson.dumps(
        {
            "client": client_context.client,
            "custom": client_context.custom,
            "env": client_context.env,
        }
    ).decode()
