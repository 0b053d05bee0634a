"""An environment's own /tmp: a tmpfs seen as /tmp in a private mount namespace, or TMPDIR.

Lambda gives each execution environment its own /tmp of the ephemeral-storage size that
persists across invocations and across a reset after a crash or timeout, and is gone with the
environment. Where the mesh runs as root and ``unshare`` works, the environment's directory
holds a tmpfs of that size mounted in the mesh's (host) mount namespace, so it outlives each
process; each process of the environment is started in a private mount namespace where that
tmpfs is bind-mounted onto /tmp (the wrapper does it before exec). The host's /tmp and every
other process never see it, and it never sees theirs. Elsewhere, ``TMPDIR`` points at a plain
per-environment directory: programs that honour TMPDIR (Python's ``tempfile``, Node's
``os.tmpdir()``) use it, a literal ``/tmp/...`` path is still the host's, and its size is not
enforced.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import shutil
from pathlib import Path

from . import _procfs

#: The tmpfs mounts' source field: with the owner's pid namespace, pid and start time, a mesh
#: that crashed can be told from one still running when stale mounts are swept.
MOUNT_LABEL = "eventmesh-sandbox"

_MS_NOSUID = 2
_MS_NODEV = 4
_MNT_DETACH = 2

# The wrapper's step (``sh -c``, every value a positional argument, so nothing is quoted):
# $1 is mount(8), $2 umount(8), $3 the environment's tmpfs and $4 that path as mountinfo
# writes it. The new namespace starts with a copy of every mount, other environments' tmpfs
# included: detach those copies first (while their paths still resolve), or this process could
# reach another environment's files by path and would keep a reclaimed environment's memory
# alive until it exits. Then bind its own tmpfs onto /tmp (exit 125 rather than run without)
# and detach the copy at its host path, which /tmp now shows (under the host's /tmp that path
# is hidden already: one exec saved).
BIND_STEP = (
    "set -f; others=; "
    'while read -r _ _ _ _ m r; do case "$r" in '
    f'*" - tmpfs {MOUNT_LABEL}."*) [ "$m" = "$4" ] || others="$others $m";; esac; '
    "done < /proc/self/mountinfo; "
    '[ -z "$others" ] || "$2" -l $others 2>/dev/null; set +f; '
    '"$1" --bind "$3" /tmp || { echo "eventmesh sandbox: cannot mount the private /tmp" >&2;'
    ' exit 125; }; case "$3" in /tmp/*) ;; *) "$2" -l "$3" 2>/dev/null;; esac; shift 4; '
)


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def mount_tmpfs(path: Path, size_mb: int) -> None:
    """Mount a tmpfs of ``size_mb`` on ``path`` (mode 1777 like /tmp); OSError on failure."""
    label = (
        f"{MOUNT_LABEL}.{_procfs.pid_namespace()}.{os.getpid()}.{_procfs.start_time(os.getpid())}"
    )
    options = f"size={size_mb}m,mode=1777"
    result = _libc().mount(
        label.encode(),
        os.fsencode(path),
        b"tmpfs",
        ctypes.c_ulong(_MS_NOSUID | _MS_NODEV),
        options.encode(),
    )
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"mount tmpfs on {path}: {os.strerror(code)}")


def unmount(path: Path) -> None:
    """Detach the mount on ``path`` (lazily: a process still inside keeps it until it ends)."""
    if _libc().umount2(os.fsencode(path), _MNT_DETACH) != 0:
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOENT):  # not a mount point (any more)
            raise OSError(code, f"unmount {path}: {os.strerror(code)}")


def _escaped(path: str) -> str:
    """A path as /proc/self/mountinfo writes it (octal escapes for space, tab, newline, \\)."""
    return "".join(f"\\{ord(c):03o}" if c in " \t\n\\" else c for c in path)


def _ours_on(path: Path) -> bool:
    target = str(path)
    return any(
        m.mount_point == target and m.source.startswith(MOUNT_LABEL + ".") for m in _procfs.mounts()
    )


def sweep_stale_mounts() -> int:
    """Unmount the sandbox tmpfs mounts left by meshes of this pid namespace that are gone
    (a crashed mesh cannot unmount); the directories stay. Returns how many."""
    namespace = _procfs.pid_namespace()
    swept = 0
    for mount in _procfs.mounts():
        parts = mount.source.split(".")
        if len(parts) != 4 or parts[0] != MOUNT_LABEL or parts[1] != namespace:
            continue
        pid, started = int(parts[2]) if parts[2].isdigit() else 0, parts[3]
        if pid and str(_procfs.start_time(pid)) != started:
            with contextlib.suppress(OSError):
                unmount(Path(mount.mount_point))
                swept += 1
    return swept


class TmpfsInNamespace:
    """A tmpfs of the ephemeral-storage size, bind-mounted onto each process's /tmp."""

    kind = "tmpfs-namespace"
    needs_namespace = True
    enforces_size = True

    def __init__(self, path: Path, size_mb: int, mount_program: str, umount_program: str) -> None:
        self.path = path
        self._programs = [mount_program, umount_program]
        path.mkdir(parents=True, exist_ok=True)
        if _ours_on(path):  # left by a mesh that crashed with the same directory
            unmount(path)
        mount_tmpfs(path, size_mb)
        self._mounted = True

    def wrapper_step(self) -> tuple[str, list[str]]:
        return BIND_STEP, [*self._programs, str(self.path), _escaped(str(self.path))]

    def environment(self) -> dict[str, str]:
        return {}

    def close(self) -> None:
        if self._mounted:
            self._mounted = False
            unmount(self.path)
        shutil.rmtree(self.path, ignore_errors=True)


class TmpdirArea:
    """A plain per-environment directory given as ``TMPDIR``: no size limit, and a literal
    ``/tmp`` path still reaches the host's /tmp."""

    kind = "tmpdir"
    needs_namespace = False
    enforces_size = False

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    def wrapper_step(self) -> None:
        return None

    def environment(self) -> dict[str, str]:
        return {"TMPDIR": str(self.path)}

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class SharedTmp:
    """No private /tmp at all (the null sandbox): the child uses the host's."""

    kind = "none"
    needs_namespace = False
    enforces_size = False
    path = None

    def wrapper_step(self) -> None:
        return None

    def environment(self) -> dict[str, str]:
        return {}

    def close(self) -> None:
        return None
