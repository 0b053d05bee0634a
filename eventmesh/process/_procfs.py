"""The few facts the sandbox reads from Linux's /proc, each a file read and a parse.

Read directly rather than through psutil: the sandbox needs five fields of three files, psutil
is a compiled dependency the core does not otherwise need (the core stays lean), and reading
the files here keeps the exact semantics visible (VmRSS and VmHWM in kB, the start time in
clock ticks). Every reader returns ``None`` or an empty result when the process is gone: a
process may exit between any two reads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


def status_kb(pid: int, field: str) -> int | None:
    """A ``kB`` field of /proc/<pid>/status (``VmRSS``, ``VmHWM``); ``None`` when the process
    is gone or is a zombie (a zombie has no memory lines)."""
    try:
        text = (PROC / str(pid) / "status").read_text()
    except OSError:
        return None
    prefix = field + ":"
    for line in text.splitlines():
        if line.startswith(prefix):
            parts = line.split()
            return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None
    return None


def children(pid: int) -> list[int]:
    """The direct children of a process (from every thread's ``children`` file)."""
    found: list[int] = []
    try:
        tasks = os.listdir(PROC / str(pid) / "task")
    except OSError:
        return found
    for tid in tasks:
        try:
            text = (PROC / str(pid) / "task" / tid / "children").read_text()
        except OSError:
            continue
        found.extend(int(child) for child in text.split())
    return found


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` in the process tree, breadth first."""
    found: list[int] = []
    queue = [pid]
    while queue:
        below = children(queue.pop(0))
        found.extend(below)
        queue.extend(below)
    return found


def start_time(pid: int) -> int | None:
    """When the process started, in clock ticks since boot: with the pid, an identity that
    survives pid reuse (another process with the same pid started at another time)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name, in parentheses, may itself hold spaces and parentheses.
    fields = text[text.rfind(")") + 2 :].split()
    return int(fields[19]) if len(fields) > 19 else None


def pid_namespace() -> str:
    """An identity of this process's pid namespace: pids mean nothing outside it."""
    try:
        return str(os.stat(PROC / "self" / "ns" / "pid").st_ino)
    except OSError:
        return "0"


@dataclass(frozen=True, slots=True)
class Mount:
    """One line of /proc/self/mountinfo, the fields the sandbox uses."""

    root: str
    mount_point: str
    fstype: str
    source: str
    super_options: str


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes (\040, ...).
    if "\\" not in field:
        return field
    out: list[str] = []
    index = 0
    while index < len(field):
        char = field[index]
        if char == "\\" and field[index + 1 : index + 4].isdigit():
            out.append(chr(int(field[index + 1 : index + 4], 8)))
            index += 4
        else:
            out.append(char)
            index += 1
    return "".join(out)


def mounts() -> list[Mount]:
    """This mount namespace's mounts."""
    try:
        text = (PROC / "self" / "mountinfo").read_text()
    except OSError:
        return []
    found: list[Mount] = []
    for line in text.splitlines():
        before, sep, after = line.partition(" - ")
        head, tail = before.split(), after.split()
        if not sep or len(head) < 5 or len(tail) < 3:
            continue
        found.append(
            Mount(
                root=_unescape(head[3]),
                mount_point=_unescape(head[4]),
                fstype=tail[0],
                source=_unescape(tail[1]),
                super_options=tail[2],
            )
        )
    return found


def filesystem_type(path: Path) -> str | None:
    """The type of the file system holding ``path`` (``ext4``, ``tmpfs``...): that of the
    mount with the longest mount point above it."""
    resolved = str(path.resolve())
    best: Mount | None = None
    for mount in mounts():
        point = mount.mount_point
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best.mount_point)):
            best = mount
    return None if best is None else best.fstype


def own_cgroups() -> dict[str, str]:
    """This process's cgroup per v1 controller (``"memory"``) and ``""`` for the unified
    (v2) hierarchy, from /proc/self/cgroup."""
    try:
        text = (PROC / "self" / "cgroup").read_text()
    except OSError:
        return {}
    found: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(","):
            found[controller] = parts[2]
    return found
