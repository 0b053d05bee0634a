"""An environment's memory limit enforced by the kernel: a memory cgroup per process.

Each process of an environment gets a fresh group (``<pid>.<start>.<n>.<environment>``) under an
``eventmesh`` group inside the mesh's own cgroup (so the mesh's own accounting, and whoever
manages the mesh's cgroup, still see the environments' memory). The wrapper writes the process
into the group before it execs the runtime, so it never runs unconfined. A fresh group per
process gives a reset fresh counters (peak, OOM kills) and leaves the charges of the previous
process's /tmp pages to the parent. When a process of the group passes the limit the kernel's
OOM killer sends it SIGKILL, as Lambda's does; the group's counters say so afterwards.

cgroup v1 (``memory.limit_in_bytes``, ``memory.memsw.limit_in_bytes`` so that swap is no way
around it, ``memory.max_usage_in_bytes``, the ``oom_kill`` line of ``memory.oom_control``) and
v2 (``memory.max``, ``memory.swap.max``, ``memory.peak``, the ``oom_kill`` line of
``memory.events``). Groups of a mesh that crashed are removed when found empty.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import time
from pathlib import Path

from . import _procfs

#: The group, inside the mesh's own cgroup, holding every environment's group.
PARENT = "eventmesh"

# The wrapper's step: $1 is the group's cgroup.procs; $$ is the pid that will exec the runtime.
JOIN_STEP = (
    'echo $$ > "$1" || { echo "eventmesh sandbox: cannot join the memory cgroup" >&2;'
    " exit 125; }; shift; "
)

#: Groups a reset or close could not remove yet (a straggler still exiting): retried later.
_PENDING: set[Path] = set()


def find_v1_base() -> Path | None:
    """The mesh's own group in the cgroup v1 memory hierarchy, when mounted and writable."""
    own = _procfs.own_cgroups().get("memory")
    for mount in _procfs.mounts():
        if mount.fstype == "cgroup" and "memory" in mount.super_options.split(","):
            return _own_dir(Path(mount.mount_point), mount.root, own)
    return None


def find_v2_base() -> Path | None:
    """The mesh's own group in the unified (v2) hierarchy, when it offers the memory
    controller and is writable (a group can delegate it only if it holds no process itself,
    which the group creation finds out)."""
    own = _procfs.own_cgroups().get("")
    for mount in _procfs.mounts():
        if mount.fstype == "cgroup2":
            root = Path(mount.mount_point)
            try:
                controllers = (root / "cgroup.controllers").read_text().split()
            except OSError:
                return None
            return _own_dir(root, mount.root, own) if "memory" in controllers else None
    return None


def _own_dir(mount_point: Path, mount_root: str, own: str | None) -> Path | None:
    base = mount_point
    if own is not None and own.startswith(mount_root):
        candidate = mount_point / own[len(mount_root) :].lstrip("/")
        if candidate.is_dir():
            base = candidate
    return base if os.access(base, os.W_OK) else None


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "environment"


def _owner_alive(name: str) -> bool:
    parts = name.split(".")
    if len(parts) < 2 or not parts[0].isdigit():
        return True  # not ours: never touch it
    return str(_procfs.start_time(int(parts[0]))) == parts[1]


def _procs(group: Path) -> list[int]:
    try:
        return [int(pid) for pid in (group / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _try_rmdir(group: Path) -> int:
    """0 when the group is gone, else the errno (EBUSY: a process is still in it)."""
    try:
        group.rmdir()
    except FileNotFoundError:
        return 0
    except OSError as error:
        return error.errno or errno.EIO
    return 0


def kill_and_remove(group: Path, *, wait: float = 1.0) -> bool:
    """SIGKILL whatever is left in the group (a runtime's own children), then remove it.
    Waits up to ``wait`` seconds for the processes to exit; a group that cannot be removed
    yet is remembered and retried by the next sweep. True when removed."""
    deadline = time.monotonic() + wait
    while True:
        pids = _procs(group)
        failure = errno.EBUSY if pids else _try_rmdir(group)
        if not failure:
            _PENDING.discard(group)
            return True
        if failure != errno.EBUSY or time.monotonic() >= deadline:
            _PENDING.add(group)
            return False
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)


def sweep_stale_groups(base: Path) -> int:
    """Remove the empty environment groups of meshes that are gone, and the groups a reset
    left behind; groups that still hold a process are left alone. Returns how many."""
    removed = 0
    for group in list(_PENDING):
        if not _procs(group) and not _try_rmdir(group):
            _PENDING.discard(group)
            removed += 1
    parent = base / PARENT
    try:
        groups = [entry for entry in parent.iterdir() if entry.is_dir()]
    except OSError:
        return removed
    for group in groups:
        if not _owner_alive(group.name) and not _procs(group) and not _try_rmdir(group):
            removed += 1
    return removed


def _read_counter(path: Path, key: str) -> int | None:
    """The value of ``key N`` in a flat-keyed cgroup file (``memory.events``, ...)."""
    try:
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == key:
                return int(parts[1])
    except (OSError, ValueError):
        return None
    return None


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class _CgroupMemory:
    """A fresh group per process of an environment; subclasses know the files."""

    kind = ""

    def __init__(self, base: Path, environment_id: str, limit_bytes: int) -> None:
        self._parent = base / PARENT
        self._label = _safe(environment_id)
        self._limit = limit_bytes
        self._sequence = 0
        self._peak = 0  # what the last removed group had reached
        self._killed = 0
        self._group: Path | None = self._create()

    def _create(self) -> Path:
        self._sequence += 1
        me = os.getpid()
        name = f"{me}.{_procfs.start_time(me)}.{self._sequence}.{self._label}"
        for attempt in (1, 2):
            self._prepare_parent()
            try:
                (self._parent / name).mkdir()
                break
            except FileNotFoundError:  # another mesh's close removed the empty parent
                if attempt == 2:
                    raise
        group = self._parent / name
        try:
            self._configure(group)
        except OSError:
            _try_rmdir(group)
            raise
        return group

    def _prepare_parent(self) -> None:
        self._parent.mkdir(exist_ok=True)

    def _configure(self, group: Path) -> None:
        raise NotImplementedError

    def _peak_bytes(self, group: Path) -> int | None:
        raise NotImplementedError

    def _oom_kills(self, group: Path) -> int | None:
        raise NotImplementedError

    def _limit_failures(self, group: Path) -> int:
        return 0

    def wrapper_step(self) -> tuple[str, list[str]]:
        if self._group is None:
            self._group = self._create()
        return JOIN_STEP, [str(self._group / "cgroup.procs")]

    def attach(self, pid: int) -> None:
        """Nothing to do: the wrapper has joined the group before exec."""

    def peak_bytes(self) -> int:
        if self._group is not None:
            self._peak = max(self._peak, self._peak_bytes(self._group) or 0)
        return self._peak

    def memory_killed(self, returncode: int | None) -> bool:
        """Whether the kernel killed the process for passing the limit. A process that exited
        on its own (a child of it was OOM-killed) was not."""
        if returncode is not None and returncode != -signal.SIGKILL:
            return False
        if self._group is not None:
            kills = self._oom_kills(self._group)
            if kills is None:  # a kernel without the counter: a SIGKILL after hitting the limit
                kills = int(returncode == -signal.SIGKILL and self._limit_failures(self._group) > 0)
            self._killed = max(self._killed, kills)
        return self._killed > 0

    def reset(self) -> None:
        """Kill what is left of the process's group, remove it, create the next one."""
        old, self._group = self._group, None
        self._peak = 0
        self._killed = 0
        if old is not None:
            kill_and_remove(old)
        self._group = self._create()

    def close(self) -> None:
        old, self._group = self._group, None
        if old is not None:
            kill_and_remove(old)
        # The shared parent goes with the last group (harmless EBUSY while others remain).
        with contextlib.suppress(OSError):
            self._parent.rmdir()

    @property
    def group(self) -> Path | None:
        """The current process's group (tests and logs)."""
        return self._group


class CgroupV1Memory(_CgroupMemory):
    kind = "cgroup-v1"

    def _configure(self, group: Path) -> None:
        (group / "memory.limit_in_bytes").write_text(str(self._limit))
        memsw = group / "memory.memsw.limit_in_bytes"
        if memsw.exists():  # swap accounting on: memory + swap limited to the same figure
            memsw.write_text(str(self._limit))

    def _peak_bytes(self, group: Path) -> int | None:
        return _read_int(group / "memory.max_usage_in_bytes")

    def _oom_kills(self, group: Path) -> int | None:
        return _read_counter(group / "memory.oom_control", "oom_kill")

    def _limit_failures(self, group: Path) -> int:
        return (_read_int(group / "memory.failcnt") or 0) + (
            _read_int(group / "memory.memsw.failcnt") or 0
        )


class CgroupV2Memory(_CgroupMemory):
    kind = "cgroup-v2"

    def _prepare_parent(self) -> None:
        # The memory controller must be delegated down to the environment's group: enabled in
        # the mesh's group for its children and in the eventmesh group for its own. The first
        # fails (EBUSY) when the mesh's group holds processes and is not the root: no v2 then.
        for group in (self._parent.parent, self._parent):
            if group is self._parent:
                group.mkdir(exist_ok=True)
            control = group / "cgroup.subtree_control"
            if "memory" not in control.read_text().split():
                control.write_text("+memory")

    def _configure(self, group: Path) -> None:
        (group / "memory.max").write_text(str(self._limit))
        swap = group / "memory.swap.max"
        if swap.exists():
            swap.write_text("0")
        oom_group = group / "memory.oom.group"
        if oom_group.exists():  # the environment dies whole, as Lambda's does
            oom_group.write_text("1")

    def _peak_bytes(self, group: Path) -> int | None:
        peak = _read_int(group / "memory.peak")  # Linux 5.19+
        return peak if peak is not None else _read_int(group / "memory.current")

    def _oom_kills(self, group: Path) -> int | None:
        return _read_counter(group / "memory.events", "oom_kill")
