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
enforced. The wrapper step and the labels here are shared with ``_loop_tmp`` (the disk-backed
/tmp preferred where loop devices work), whose mounts are told apart by their root directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import functools
import os
import shutil
from pathlib import Path

from . import _procfs

#: The tmpfs mounts' source field: with the owner's pid namespace, pid and start time, a mesh
#: that crashed can be told from one still running when stale mounts are swept. A disk-backed
#: /tmp (``_loop_tmp``) carries the same label as the name of the directory it mounts (the
#: root field of its mountinfo line), and as its loop device's file name.
MOUNT_LABEL = "eventmesh-sandbox"

MS_NOSUID = 2
MS_NODEV = 4
MS_BIND = 4096
_MNT_DETACH = 2

# The wrapper's step (``sh -c``, every value a positional argument, so nothing is quoted):
# $1 is mount(8), $2 umount(8), $3 the environment's /tmp and $4 that path as mountinfo
# writes it. The new namespace starts with a copy of every mount, other environments' /tmp
# included (a tmpfs labelled in its source field, an ext4 image whose root is the labelled
# directory, or for a moment its whole file system at a staging point ``.<label>``): detach
# those copies first (while their paths still resolve), or this process could reach another
# environment's files by path and would keep a reclaimed environment's memory (tmpfs) or loop
# device (ext4) alive until it exits. Then bind its own onto /tmp (exit 125 rather than run
# without) and detach the copy at its host path, which /tmp now shows (under the host's /tmp
# that path is hidden already: one exec saved).
BIND_STEP = (
    "set -f; others=; "
    'while read -r _ _ _ o m r; do case "$o|$m|$r" in '
    f'"/{MOUNT_LABEL}."*|*"/.{MOUNT_LABEL}."*|*" - tmpfs {MOUNT_LABEL}."*) '
    '[ "$m" = "$4" ] || others="$others $m";; esac; done < /proc/self/mountinfo; '
    '[ -z "$others" ] || "$2" -l $others 2>/dev/null; set +f; '
    '"$1" --bind "$3" /tmp || { echo "eventmesh sandbox: cannot mount the private /tmp" >&2;'
    ' exit 125; }; case "$3" in /tmp/*) ;; *) "$2" -l "$3" 2>/dev/null;; esac; shift 4; '
)


@functools.cache  # find_library runs ldconfig: 2 ms a call
def libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def owner_label() -> str:
    """This mesh's label: ``eventmesh-sandbox.<pid namespace>.<pid>.<start time>``."""
    me = os.getpid()
    return f"{MOUNT_LABEL}.{_procfs.pid_namespace()}.{me}.{_procfs.start_time(me)}"


def is_label(text: str) -> bool:
    """Whether ``text`` is a label of :func:`owner_label`'s form (any mesh's)."""
    parts = text.split(".")
    return len(parts) == 4 and parts[0] == MOUNT_LABEL


def owner_gone(label: str) -> bool:
    """Whether the label is a mesh of this pid namespace that no longer runs (a pid of
    another namespace means nothing here: never judged gone)."""
    parts = label.split(".")
    if len(parts) != 4 or parts[0] != MOUNT_LABEL or parts[1] != _procfs.pid_namespace():
        return False
    pid = int(parts[2]) if parts[2].isdigit() else 0
    return bool(pid) and str(_procfs.start_time(pid)) != parts[3]


def _labelled(mount: _procfs.Mount) -> str | None:
    """The owner label of a sandbox /tmp mount (tmpfs: its source; ext4: its root)."""
    if mount.fstype == "tmpfs" and is_label(mount.source):
        return mount.source
    root = mount.root.lstrip("/")
    return root if is_label(root) else None


def mount(
    source: bytes | None, target: Path, fstype: bytes | None, flags: int, data: bytes | None
) -> None:
    """mount(2); OSError on failure."""
    if libc().mount(source, os.fsencode(target), fstype, ctypes.c_ulong(flags), data) != 0:
        code = ctypes.get_errno()
        kind = (fstype or b"bind").decode()
        raise OSError(code, f"mount {kind} on {target}: {os.strerror(code)}")


def mount_tmpfs(path: Path, size_mb: int) -> None:
    """Mount a tmpfs of ``size_mb`` on ``path`` (mode 1777 like /tmp); OSError on failure."""
    options = f"size={size_mb}m,mode=1777"
    mount(owner_label().encode(), path, b"tmpfs", MS_NOSUID | MS_NODEV, options.encode())


def unmount(path: Path) -> None:
    """Detach the mount on ``path`` (lazily: a process still inside keeps it until it ends)."""
    if libc().umount2(os.fsencode(path), _MNT_DETACH) != 0:
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOENT):  # not a mount point (any more)
            raise OSError(code, f"unmount {path}: {os.strerror(code)}")


def escaped(path: str) -> str:
    """A path as /proc/self/mountinfo writes it (octal escapes for space, tab, newline, \\)."""
    return "".join(f"\\{ord(c):03o}" if c in " \t\n\\" else c for c in path)


def ours_on(path: Path) -> bool:
    """Whether a sandbox /tmp (tmpfs or ext4 image, any mesh's) is mounted on ``path``."""
    target = str(path)
    return any(m.mount_point == target and _labelled(m) for m in _procfs.mounts())


def sweep_stale_mounts() -> int:
    """Unmount the sandbox /tmp mounts (tmpfs, ext4 images) left by meshes of this pid
    namespace that are gone (a crashed mesh cannot unmount); the directories stay. An ext4
    image's loop device detaches itself once unmounted (autoclear), and the image, which has
    no name, is freed with it. Returns how many."""
    swept = 0
    for mount in _procfs.mounts():
        label = _labelled(mount)
        if label is not None and owner_gone(label):
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
        if ours_on(path):  # left by a mesh that crashed with the same directory
            unmount(path)
        mount_tmpfs(path, size_mb)
        self._mounted = True

    def wrapper_step(self) -> tuple[str, list[str]]:
        return BIND_STEP, [*self._programs, str(self.path), escaped(str(self.path))]

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
