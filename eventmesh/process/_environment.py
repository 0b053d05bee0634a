"""One execution environment as an OS process: spawn it, hand it invocations, end it.

The environment owns its Runtime API endpoint and its sandbox for its whole life; its process
may be replaced (after a timeout or a crash Lambda resets the environment: a new runtime
process, the same ``/tmp``). The process runs in a session of its own, so that ending it ends
whatever it started too (a shell bootstrap's ``curl``, say): every kill is a SIGKILL of the
process group, as Lambda kills a runtime without extensions. Its exit is always awaited, so
no zombie is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from eventmesh.process._launch import Launch
from eventmesh.process._messages import Invocation, Outcome
from eventmesh.process._output import MAX_LINE, relay_output
from eventmesh.process._parent_death import ended_with_parent
from eventmesh.process._sandbox_seam import ProcessOutcome, Sandbox

if TYPE_CHECKING:
    from eventmesh.process._runtime_api import RuntimeApi

__all__ = ["ProcessEnvironment", "exit_description"]

_SIGNALS = {
    signal.SIGABRT: "aborted",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating point exception",
    signal.SIGHUP: "hangup",
    signal.SIGILL: "illegal instruction",
    signal.SIGINT: "interrupt",
    signal.SIGKILL: "killed",
    signal.SIGPIPE: "broken pipe",
    signal.SIGQUIT: "quit",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGTERM: "terminated",
    signal.SIGTRAP: "trace/breakpoint trap",
    signal.SIGUSR1: "user defined signal 1",
    signal.SIGUSR2: "user defined signal 2",
}
"""The names Lambda's runtime exit message gives signals ("signal: killed")."""


def exit_description(returncode: int, memory_killed: bool = False) -> str:
    """Lambda's words for how a runtime exited, after "Runtime exited ..."."""
    if memory_killed:
        return "with error: signal: killed"
    if returncode == 0:
        return "without providing a reason"
    if returncode < 0:
        number = -returncode
        try:
            name = _SIGNALS.get(signal.Signals(number), f"signal {number}")
        except ValueError:
            name = f"signal {number}"
        return f"with error: signal: {name}"
    return f"with error: exit status {returncode}"


class ProcessEnvironment:
    """An execution environment whose runtime is a process (see the module docstring).

    ``variables`` builds the process's environment from the Runtime API's address (known
    once the endpoint listens); ``last_request_id`` labels the process's output.
    """

    def __init__(
        self,
        launch: Launch,
        environment_id: str,
        function_name: str,
        sandbox: Callable[[Path], Sandbox],
        variables: Callable[[str], dict[str, str]],
        max_response_bytes: int,
    ) -> None:
        self.launch = launch
        self.environment_id = environment_id
        self.function_name = function_name
        self._make_sandbox = sandbox
        self._variables = variables
        self._max_response_bytes = max_response_bytes
        self.api: RuntimeApi | None = None
        self.sandbox: Sandbox | None = None
        self._root: Path | None = None
        self.process: asyncio.subprocess.Process | None = None
        self._exited: asyncio.Task[None] | None = None
        self._relays: list[asyncio.Task[None]] = []
        self.last_request_id: str | None = None
        self.last_exit: ProcessOutcome | None = None
        self.returncode: int | None = None
        self.init_failure: Outcome | None = None
        """How the latest init failed, for the invocation that waited for it."""
        self._closes = 0  # how many times close() ran: a start it overtook gives up

    @property
    def alive(self) -> bool:
        """A process runs (it may be dying: its exit not yet seen)."""
        return self.process is not None and self.returncode is None

    def max_memory_used_mb(self) -> int | None:
        """The most memory the environment's current (or last) process used, in MB."""
        if self.last_exit is not None:
            return self.last_exit.max_memory_used_mb
        return None if self.sandbox is None else self.sandbox.max_memory_used_mb()

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    async def _open(self) -> RuntimeApi:
        if self.api is None:
            # Imported here, not at the top: h11 is the optional "process" extra's, and the
            # mesh imports this package whether or not a process function is declared.
            from eventmesh.process._runtime_api import RuntimeApi

            api = RuntimeApi(self._max_response_bytes)
            await api.start()
            self.api = api
        if self.sandbox is None:
            self._root = Path(tempfile.mkdtemp(prefix="eventmesh-env-"))
            self.sandbox = self._make_sandbox(self._root)
        return self.api

    async def start(self) -> Outcome:
        """Spawn the runtime and wait until it asks for its first invocation (``ready``),
        reports an init error (the process is then ended) or exits. Closed meanwhile (the
        mesh stops during a cold start): what it started is ended, and it returns "exited"."""
        closes = self._closes
        api = await self._open()
        previous = self.process is not None
        if previous:  # a previous process of this environment
            self.kill()
            await self._reap()
        if closes != self._closes:
            await self.close()
            return Outcome("exited")
        assert self.sandbox is not None
        if previous:
            self.sandbox.reset()
        phase = api.begin_init()
        self.last_request_id = None
        self.returncode = None
        self.last_exit = None
        env = {**self._variables(api.address), **self.sandbox.environment()}
        try:
            self.process = await asyncio.create_subprocess_exec(
                *ended_with_parent(self.sandbox.wrap(list(self.launch.argv))),
                cwd=self.launch.code,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                limit=MAX_LINE,
            )
        except OSError as exc:
            self.process = None
            reason = f"fork/exec {exc.filename or self.launch.argv[0]}: {exc.strerror}"
            return Outcome("spawn_error", error=reason.encode())
        self._watch(self.process)
        if closes != self._closes:
            await self.close()
            return Outcome("exited")
        self.sandbox.attach(self.process.pid)
        try:
            outcome = await phase
        except BaseException:
            self.kill()  # cancelled (the init deadline, the mesh's stop): end it
            raise
        if outcome.kind == "init_error":
            self.kill()
        return outcome

    def _watch(self, process: asyncio.subprocess.Process) -> None:
        label = self._label
        assert process.stdout is not None and process.stderr is not None
        self._relays = [
            asyncio.create_task(relay_output(process.stdout, "stdout", self.function_name, label)),
            asyncio.create_task(relay_output(process.stderr, "stderr", self.function_name, label)),
        ]
        self._exited = asyncio.create_task(self._wait_exit(process))

    def _label(self) -> str | None:
        return self.last_request_id

    async def _wait_exit(self, process: asyncio.subprocess.Process) -> None:
        returncode = await process.wait()
        if process is not self.process:
            return
        self.returncode = returncode
        if self.sandbox is not None:
            self.last_exit = self.sandbox.outcome(returncode)
        if self.api is not None:
            self.api.runtime_exited()

    async def invoke(self, invocation: Invocation) -> Outcome:
        """Hand ``invocation`` to the runtime and wait for how it ends. Cancelled (the
        deadline, the caller): the process is killed, as Lambda ends a timed-out runtime."""
        assert self.api is not None
        self.last_request_id = invocation.request_id
        phase = self.api.invoke(invocation)
        try:
            return await phase
        except BaseException:
            self.api.abandon()
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL the process and everything in its session (not waited for here).

        Signalled by pid, never through ``process.kill()``: asyncio's kill goes through
        ``Popen.send_signal``, which polls first (``waitpid(pid, WNOHANG)``); a process that
        has just exited is reaped by that poll, and asyncio's child watcher, its ``waitpid``
        failing, reports exit status 255 in place of the real one. Only the watcher reaps.
        """
        process = self.process
        if process is None or self.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # it leads its group (its own session)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(process.pid, signal.SIGKILL)

    async def wait_exit(self) -> None:
        """Until the process's exit has been seen (the watcher ran)."""
        if self._exited is not None:
            await asyncio.shield(self._exited)

    async def _reap(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self.wait_exit()
        for relay in self._relays:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(relay, 1.0)
        self._relays = []

    async def close(self) -> None:
        """The environment is reclaimed: end its process, its endpoint, its sandbox."""
        self._closes += 1
        self.kill()
        if self.process is not None:
            await self._reap()
        if self.api is not None:
            await self.api.close()
            self.api = None
        if self.sandbox is not None:
            self.sandbox.close()
            self.sandbox = None
        if self._root is not None:
            with contextlib.suppress(OSError):
                os.rmdir(self._root)
            self._root = None

    def __repr__(self) -> str:
        state = "running" if self.alive else f"exited {self.returncode}"
        return f"<ProcessEnvironment {self.environment_id} pid={self.pid} {state}>"
