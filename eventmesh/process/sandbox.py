"""The sandbox of a process execution environment: its memory limit and its private /tmp.

One :class:`Sandbox` per execution environment, for its whole life::

    sandbox = Sandbox(environment_id, memory_mb, ephemeral_storage_mb, root)
    argv = sandbox.wrap(command)               # for each process: a fresh cgroup each time
    env = {**lambda_variables, **sandbox.environment()}
    process = await asyncio.create_subprocess_exec(*argv, env=env, ...)
    sandbox.attach(process.pid)
    sandbox.max_memory_used_mb()               # any time: each REPORT line
    ...                                        # the process ends and is reaped
    outcome = sandbox.outcome(process.returncode)   # memory_killed, max_memory_used_mb
    sandbox.reset()                            # before the next process: /tmp stays
    sandbox.close()                            # reclaim: /tmp, cgroup, mount gone

Each mechanism is detected at run time and the strongest available is used, falling back
cleanly (a warning in the log, never an exception): the memory limit by a memory cgroup (v1,
then v2) and otherwise a watchdog on the process's RSS; the private /tmp by an ext4 file system
of the ephemeral-storage size in a sparse image on a loop device (root, loop devices,
``mkfs.ext4``: disk-backed, so its page cache is reclaimable rather than charged to the memory
limit for good), then a tmpfs of that size, either bound onto /tmp in a private mount
namespace (root and ``unshare``), and otherwise ``TMPDIR``. :attr:`Sandbox.mechanisms` says
which are in force. Only the standard library is used: the cgroup and /proc files are read
and written directly (a few lines each, see ``_procfs``), the loop device and mounts set up
by system calls, so the core takes no compiled dependency such as psutil.

A process of the sandbox is started through :meth:`Sandbox.wrap`'s argv: ``unshare`` (for the
mount namespace) then ``sh -c`` joins the cgroup, mounts /tmp and ``exec``s the command, so
the pid spawned is the command's own and it never runs unconfined (if a step fails it exits
with status 125 and says why on stderr). With the private /tmp, the host's /tmp is not visible
to the process: what it needs by absolute path (code, interpreter) must live elsewhere.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Protocol

from .._errors import ConfigurationError
from . import _cgroup_memory, _loop_tmp, _private_tmp
from ._sandbox_seam import ProcessOutcome, SandboxFactory
from ._watchdog import ReportOnly, RssWatchdog

__all__ = [
    "Capabilities",
    "NullSandbox",
    "ProcessOutcome",
    "Sandbox",
    "SandboxMechanisms",
    "detect_capabilities",
    "under_host_tmp",
    "detect_mechanisms",
    "open_sandbox",
    "sweep_stale",
]

logger = logging.getLogger("eventmesh.process")

_MIB = 1024 * 1024
# Lambda's limits (MemorySize, EphemeralStorage.Size), in MB.
MEMORY_MB = (128, 10240)
EPHEMERAL_STORAGE_MB = (512, 10240)


class _MemoryGuard(Protocol):
    kind: str

    def wrapper_step(self) -> tuple[str, list[str]] | None: ...
    def attach(self, pid: int) -> None: ...
    def peak_bytes(self) -> int: ...
    def memory_killed(self, returncode: int | None) -> bool: ...
    def reset(self) -> None: ...
    def close(self) -> None: ...


class _TmpArea(Protocol):
    kind: str

    @property
    def path(self) -> Path | None: ...

    needs_namespace: bool
    enforces_size: bool

    def wrapper_step(self) -> tuple[str, list[str]] | None: ...
    def environment(self) -> dict[str, str]: ...
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What this machine offers a sandbox (see :func:`detect_capabilities`); pass a modified
    copy to :class:`Sandbox` to force a fallback (``replace(caps, cgroup_v1=None, ...)``)."""

    #: The mesh's own group in the cgroup v1 memory hierarchy, when writable.
    cgroup_v1: Path | None = None
    #: The mesh's own group in the unified hierarchy, when it has the memory controller.
    cgroup_v2: Path | None = None
    #: /proc gives a process's memory: the watchdog can run.
    proc: bool = False
    #: ``(unshare, mount, umount)`` when root can create a private mount namespace.
    namespace_programs: tuple[str, str, str] | None = None
    #: A POSIX shell for the wrapper.
    shell: str | None = None
    #: ``mkfs.ext4`` when loop devices can hold the environments' /tmp (root, /dev/loop-control,
    #: ext4); with ``namespace_programs``, /tmp is then on disk rather than in memory.
    loop_mkfs: str | None = None


def _namespace_programs(shell: str | None) -> tuple[str, str, str] | None:
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or shell is None:
        return None
    programs = tuple(shutil.which(name) for name in ("unshare", "mount", "umount"))
    unshare, mount, umount = programs
    if unshare is None or mount is None or umount is None:
        return None
    try:  # seccomp or a user namespace may forbid it even to root
        probe = subprocess.run(
            [unshare, "--mount", "--propagation", "private", "--", shell, "-c", ":"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (unshare, mount, umount) if probe.returncode == 0 else None


@functools.cache
def detect_capabilities() -> Capabilities:
    """Probe this machine once per process (one ``unshare`` run, a few file reads)."""
    if not sys.platform.startswith("linux"):
        return Capabilities()
    shell = shutil.which("sh")
    return Capabilities(
        cgroup_v1=_cgroup_memory.find_v1_base() if shell else None,
        cgroup_v2=_cgroup_memory.find_v2_base() if shell else None,
        proc=os.path.exists(f"/proc/{os.getpid()}/status"),
        namespace_programs=_namespace_programs(shell),
        shell=shell,
        loop_mkfs=_loop_tmp.find_mkfs(),
    )


_DESCRIPTIONS = {
    "cgroup-v1": "memory limit enforced by a cgroup v1 memory controller (kernel OOM kill)",
    "cgroup-v2": "memory limit enforced by a cgroup v2 memory controller (kernel OOM kill)",
    "watchdog": "memory limit enforced by a watchdog polling RSS (SIGKILL past it; may "
    "overshoot between polls)",
    "none": "memory limit not enforced",
    "ext4-loop": "/tmp is an ext4 image of the ephemeral-storage size on a loop device in a "
    "private mount namespace (size enforced; on disk, not counted as memory)",
    "tmpfs-namespace": "/tmp is a tmpfs of the ephemeral-storage size in a private mount "
    "namespace (size enforced; its pages count toward the memory size)",
    "tmpdir": "/tmp is TMPDIR pointing at a per-environment directory (size not enforced; a "
    "literal /tmp path reaches the host's /tmp)",
}


@dataclass(frozen=True, slots=True)
class SandboxMechanisms:
    """Which mechanisms are in force; ``str()`` is one line for the log or the README."""

    memory: str
    tmp: str
    notes: tuple[str, ...] = field(default=())

    @property
    def private_tmp(self) -> bool:
        """Whether each environment's /tmp replaces the host's (a private mount namespace):
        then nothing under the host's /tmp is visible inside."""
        return self.tmp in (_loop_tmp.KIND, "tmpfs-namespace")

    def __str__(self) -> str:
        tmp = _DESCRIPTIONS.get(self.tmp, "/tmp is the host's (not private)")
        text = f"{_DESCRIPTIONS[self.memory]}; {tmp}"
        return text + "".join(f"; {note}" for note in self.notes)


def under_host_tmp(path: Path | str) -> bool:
    """Whether ``path`` (symbolic links resolved) lies under the host's /tmp, which a private
    /tmp hides from an environment's process."""
    resolved = Path(path).resolve()
    return resolved == Path("/tmp") or Path("/tmp") in resolved.parents


def detect_mechanisms(capabilities: Capabilities | None = None) -> SandboxMechanisms:
    """The mechanisms a sandbox gets on this machine (before any fails at creation)."""
    caps = capabilities or detect_capabilities()
    if caps.cgroup_v1 is not None:
        memory = "cgroup-v1"
    elif caps.cgroup_v2 is not None:
        memory = "cgroup-v2"
    else:
        memory = "watchdog" if caps.proc else "none"
    if caps.namespace_programs is None:
        tmp = "tmpdir"
    else:
        tmp = _loop_tmp.KIND if caps.loop_mkfs is not None else "tmpfs-namespace"
    return SandboxMechanisms(memory, tmp)


def _check_size(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigurationError(
            f"{name} must be an integer from {low} to {high} (MB, Lambda's limits), got {value!r}"
        )
    return value


_swept: set[Capabilities] = set()  # sweep once per process (and per capabilities given)


def sweep_stale(capabilities: Capabilities | None = None) -> int:
    """Remove what meshes that crashed left behind: their empty environment cgroups, their
    /tmp mounts and their loop devices (never a group that still holds a process, never a
    live mesh's; the images have no name and go with their devices).
    Run once by the first sandbox of a process; returns how many were removed."""
    caps = capabilities or detect_capabilities()
    removed = 0
    for base in (caps.cgroup_v1, caps.cgroup_v2):
        if base is not None:
            removed += _cgroup_memory.sweep_stale_groups(base)
    if caps.namespace_programs is not None:
        removed += _private_tmp.sweep_stale_mounts()
    if caps.loop_mkfs is not None:
        removed += _loop_tmp.sweep_stale_devices()
    return removed


class Sandbox:
    """The memory limit and private /tmp of one execution environment (see the module doc).

    Raises :class:`ConfigurationError` for a memory size outside 128-10,240 MB or an
    ephemeral storage outside 512-10,240 MB; a mechanism the machine lacks is not an error.
    ``root`` is the environment's directory (created if missing); its ``tmp`` subdirectory is
    the environment's /tmp, removed by :meth:`close`.
    """

    def __init__(
        self,
        environment_id: str,
        memory_mb: int,
        ephemeral_storage_mb: int,
        root: Path | str,
        *,
        capabilities: Capabilities | None = None,
        _check_limits: bool = True,
    ) -> None:
        if _check_limits:
            _check_size("memory", memory_mb, *MEMORY_MB)
            _check_size("ephemeral_storage", ephemeral_storage_mb, *EPHEMERAL_STORAGE_MB)
        self.environment_id = environment_id
        self.memory_mb = memory_mb
        self.ephemeral_storage_mb = ephemeral_storage_mb
        self.root = Path(root)
        self._caps = capabilities or detect_capabilities()
        self._notes: list[str] = []
        self._closed = False
        self._used = False
        if self._caps not in _swept:
            _swept.add(self._caps)
            with contextlib.suppress(OSError):
                sweep_stale(self._caps)
        self.root.mkdir(parents=True, exist_ok=True)
        self._memory: _MemoryGuard = self._choose_memory()
        self._tmp: _TmpArea = self._choose_tmp()
        self.mechanisms = SandboxMechanisms(self._memory.kind, self._tmp.kind, tuple(self._notes))

    @property
    def tmp_path(self) -> Path | None:
        """Where the environment's /tmp lives on the host (None: the host's /tmp itself)."""
        return self._tmp.path

    def _fallback(self, failed: str, error: OSError) -> None:
        note = f"{failed} unavailable ({error.strerror or error})"
        self._notes.append(note)
        logger.warning("sandbox of %s: %s, falling back", self.environment_id, note)

    def _choose_memory(self) -> _MemoryGuard:
        limit = self.memory_mb * _MIB
        for kind, base, guard in (
            ("cgroup v1", self._caps.cgroup_v1, _cgroup_memory.CgroupV1Memory),
            ("cgroup v2", self._caps.cgroup_v2, _cgroup_memory.CgroupV2Memory),
        ):
            if base is not None and self._caps.shell is not None:
                try:
                    return guard(base, self.environment_id, limit)
                except OSError as error:
                    self._fallback(kind, error)
        return RssWatchdog(limit) if self._caps.proc else ReportOnly()

    def _choose_tmp(self) -> _TmpArea:
        path = self.root / "tmp"
        programs = self._caps.namespace_programs
        if programs is not None and self._caps.shell is not None:
            if self._caps.loop_mkfs is not None:
                try:
                    return _loop_tmp.LoopTmp(
                        path,
                        self.ephemeral_storage_mb,
                        self._caps.loop_mkfs,
                        programs[1],
                        programs[2],
                    )
                except OSError as error:
                    self._fallback("ext4 /tmp on a loop device", error)
            try:
                return _private_tmp.TmpfsInNamespace(
                    path, self.ephemeral_storage_mb, programs[1], programs[2]
                )
            except OSError as error:
                self._fallback("tmpfs /tmp", error)
        return _private_tmp.TmpdirArea(path)

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """The argv that runs ``argv`` inside the sandbox; call it for each process (the
        previous process's cgroup is replaced by a fresh one if :meth:`reset` was not called)."""
        if self._closed:
            raise RuntimeError(f"the sandbox of {self.environment_id} is closed")
        if not argv:
            raise ValueError("an empty command cannot be run")
        if self._used:
            self.reset()
        self._used = True
        script: list[str] = []
        arguments: list[str] = []
        for step in (self._memory.wrapper_step(), self._tmp.wrapper_step()):
            if step is not None:
                script.append(step[0])
                arguments.extend(step[1])
        if not script:
            return list(argv)
        assert self._caps.shell is not None  # a mechanism with a step had a shell
        wrapped = [self._caps.shell, "-c", "".join(script) + 'exec "$@"', "eventmesh-sandbox"]
        if self._tmp.needs_namespace:
            assert self._caps.namespace_programs is not None
            unshare = self._caps.namespace_programs[0]
            wrapped = [unshare, "--mount", "--propagation", "private", "--", *wrapped]
        return [*wrapped, *arguments, *argv]

    def hides(self, path: Path | str) -> bool:
        """Whether a process of this sandbox cannot reach ``path`` (anything under the host's
        /tmp, with the private /tmp in force): a code directory there would be invisible."""
        return self._tmp.needs_namespace and under_host_tmp(path)

    def environment(self) -> dict[str, str]:
        """Variables to add to the child's environment (``TMPDIR`` in the fallback)."""
        return self._tmp.environment()

    def attach(self, pid: int) -> None:
        """Call right after spawning the wrapped command (starts the watchdog, if that is the
        mechanism; the cgroup was joined before exec)."""
        self._memory.attach(pid)

    def max_memory_used_mb(self) -> int:
        """The current (or last) process's peak memory in MB, rounded up; at most the limit."""
        return min(self.memory_mb, math.ceil(self._memory.peak_bytes() / _MIB))

    def outcome(self, returncode: int | None) -> ProcessOutcome:
        """After the process ended (pass its ``returncode``, negative for a signal), before
        :meth:`reset`: was it killed for memory, and its Max Memory Used."""
        if self._memory.memory_killed(returncode):
            return ProcessOutcome(True, self.memory_mb)
        return ProcessOutcome(False, self.max_memory_used_mb())

    def reset(self) -> None:
        """Between two processes of the environment: kill what the last one left running,
        start fresh counters; /tmp is kept, as Lambda keeps it after a crash or a timeout."""
        self._used = False
        try:
            self._memory.reset()
        except OSError as error:  # the cgroup could not be recreated: keep a limit anyway
            self._fallback(self._memory.kind, error)
            self._memory = RssWatchdog(self.memory_mb * _MIB) if self._caps.proc else ReportOnly()
            self.mechanisms = replace(
                self.mechanisms, memory=self._memory.kind, notes=tuple(self._notes)
            )

    def close(self) -> None:
        """Reclaim: kill what is left, remove the cgroup, unmount and delete /tmp. Idempotent;
        logs rather than raises, so that reclaiming never fails the mesh."""
        if self._closed:
            return
        self._closed = True
        for part in (self._memory, self._tmp):
            try:
                part.close()
            except OSError as error:
                logger.warning(
                    "sandbox of %s: closing %s: %s", self.environment_id, part.kind, error
                )

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class NullSandbox(Sandbox):
    """The same API confining nothing: the command runs as given, with the host's /tmp and no
    memory limit (for platforms without any of the mechanisms, or to opt out)."""

    def __init__(
        self,
        environment_id: str,
        memory_mb: int,
        ephemeral_storage_mb: int,
        root: Path | str,
        *,
        _check_limits: bool = True,
    ) -> None:
        super().__init__(
            environment_id,
            memory_mb,
            ephemeral_storage_mb,
            root,
            capabilities=Capabilities(),  # nothing to probe, nothing to sweep
            _check_limits=_check_limits,
        )

    def _choose_memory(self) -> _MemoryGuard:
        return ReportOnly()

    def _choose_tmp(self) -> _TmpArea:
        return _private_tmp.SharedTmp()


def open_sandbox(
    environment_id: str, memory_mb: int, ephemeral_storage_mb: int, root: Path
) -> Sandbox:
    """The strongest sandbox this machine allows (a :data:`SandboxFactory`)."""
    return Sandbox(environment_id, memory_mb, ephemeral_storage_mb, root)


_FACTORY: SandboxFactory = open_sandbox  # mypy holds the sandbox to the environment's seam
