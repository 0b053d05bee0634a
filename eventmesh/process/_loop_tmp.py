"""An environment's /tmp on disk: an ext4 file system in an unnamed sparse image on a loop device.

Why not a tmpfs: under a memory cgroup the kernel charges tmpfs pages to the process that
writes them, and without swap they cannot be reclaimed, so a 128 MB function writing 300 MB to
its 512 MB /tmp would be killed for memory. Lambda's /tmp is a disk, counted apart from memory.
The page cache of a disk file system is charged too but is reclaimable: the kernel writes it
back and drops it under the limit instead of killing the process.

Per environment, with no program run (every step a system call):

1. The image: an unnamed file (``O_TMPFILE``: it never has a name, so nothing can find it and
   nothing is left behind when its last user goes) of the ephemeral-storage size in the
   environment's directory, or in /var/tmp when that directory is in memory (a tmpfs image
   would be charged like the tmpfs itself). All holes but the few hundred kB of metadata,
   copied (``copy_file_range``: a reflink where the file system has them) from a template
   that ``mkfs.ext4`` formats once per size for the mesh's process: no journal (the contents
   do not outlive a crash anyway), no reserved blocks, lazy inode tables.
2. A free loop device bound to it (``LOOP_CONFIGURE``): direct I/O, so the image's blocks
   are not cached a second time below the file system's own cache; autoclear, so the device
   detaches itself when its last user goes; the mesh's label as its file name, for the sweep.
3. The file system mounted at a staging point ``<root>/.<label>``, where the directory named
   by the label is created (mode 1777, like /tmp) and bound onto ``<root>/tmp``; the staging
   mount is detached at once. ``<root>/tmp``'s mount thus has the label as its root: how the
   wrapper recognises other environments' copies (see ``_private_tmp.BIND_STEP``, shared with
   the tmpfs, as the rest of the wrapper is) and the sweep finds a dead mesh's. The label
   directory also hides ``lost+found``: the process finds an empty /tmp, as on Lambda.

Close: the mount is detached, ``LOOP_CLR_FD`` through the descriptor held since the device was
bound (never another mesh's device that took its number), and closing that descriptor detaches
the device (in a short-lived thread: the kernel takes 5-25 ms to quiesce it); the image goes
with it. A mesh that crashed leaves only its mounts
(``_private_tmp.sweep_stale_mounts`` unmounts them, and the devices detach themselves) or, if
it died while binding, an unmounted device: :func:`sweep_stale_devices`.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import stat
import subprocess
import sys
import threading
import uuid
from pathlib import Path

from . import _private_tmp, _procfs

#: The environment's /tmp mechanism, as :attr:`SandboxMechanisms.tmp` reports it.
KIND = "ext4-loop"

_LOOP_MAJOR = 7
_LOOP_SET_FD = 0x4C00
_LOOP_CLR_FD = 0x4C01
_LOOP_SET_STATUS64 = 0x4C04
_LOOP_GET_STATUS64 = 0x4C05
_LOOP_CONFIGURE = 0x4C0A
_LOOP_CTL_GET_FREE = 0x4C82
_LO_FLAGS_AUTOCLEAR = 4
_LO_FLAGS_DIRECT_IO = 16
_LO_NAME_SIZE = 64
_ATTEMPTS = 20  # free devices taken by another process between asking and binding

#: mkfs.ext4's options: 4 kB blocks and an inode per 16 kB whatever the size (mke2fs would
#: choose 1 kB blocks for a small file system), no journal, no reserved blocks, no room for
#: growing (resize_inode), inode tables left unwritten (holes read as zeros).
MKFS_OPTIONS = (
    *("-q", "-F", "-t", "ext4", "-b", "4096", "-I", "256", "-i", "16384", "-m", "0"),
    *("-O", "^has_journal,^resize_inode", "-E", "lazy_itable_init=1,nodiscard"),
)
# ext4's mount option: no kernel thread zeroing the inode tables (the holes are zeros already).
_MOUNT_DATA = b"noinit_itable,nobarrier"
_MEMORY_FILE_SYSTEMS = frozenset({"tmpfs", "ramfs"})
# More data than this in a template means the file system reports no holes: format each
# image instead of copying hundreds of MB of zeros.
_TEMPLATE_LIMIT = 64 * 1024 * 1024


class _LoopInfo64(ctypes.Structure):
    _fields_ = [
        ("lo_device", ctypes.c_uint64),
        ("lo_inode", ctypes.c_uint64),
        ("lo_rdevice", ctypes.c_uint64),
        ("lo_offset", ctypes.c_uint64),
        ("lo_sizelimit", ctypes.c_uint64),
        ("lo_number", ctypes.c_uint32),
        ("lo_encrypt_type", ctypes.c_uint32),
        ("lo_encrypt_key_size", ctypes.c_uint32),
        ("lo_flags", ctypes.c_uint32),
        ("lo_file_name", ctypes.c_char * _LO_NAME_SIZE),
        ("lo_crypt_name", ctypes.c_char * _LO_NAME_SIZE),
        ("lo_encrypt_key", ctypes.c_ubyte * 32),
        ("lo_init", ctypes.c_uint64 * 2),
    ]


class _LoopConfig(ctypes.Structure):
    _fields_ = [
        ("fd", ctypes.c_uint32),
        ("block_size", ctypes.c_uint32),
        ("info", _LoopInfo64),
        ("reserved", ctypes.c_uint64 * 8),
    ]


def find_mkfs() -> str | None:
    """``mkfs.ext4`` (or ``mke2fs``) when this machine can give an environment an ext4 /tmp on
    a loop device: Linux, root, ``/dev/loop-control``, ext4 in the kernel."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return None
    if not os.path.exists("/dev/loop-control"):
        return None
    try:
        with open("/proc/filesystems") as lines:
            if not any(line.split()[-1:] == ["ext4"] for line in lines):
                return None
    except OSError:
        return None
    return shutil.which("mkfs.ext4") or shutil.which("mke2fs")


def image_directory(root: Path) -> Path | None:
    """Where an environment's image goes: its own directory, unless that is in memory; then
    /var/tmp, unless that is too. None: nowhere on disk."""
    for candidate in (root, Path("/var/tmp")):
        kind = _procfs.filesystem_type(candidate) if candidate.is_dir() else None
        if kind is not None and kind not in _MEMORY_FILE_SYSTEMS:
            return candidate
    return None


def _unnamed_file(directory: Path, size: int) -> int:
    """A new file of ``size`` bytes (all holes) with no name, open for reading and writing."""
    try:
        fd = os.open(directory, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except OSError as error:  # a file system without O_TMPFILE: a name for a moment
        if error.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            raise
        name = directory / f".{_private_tmp.MOUNT_LABEL}-image-{uuid.uuid4().hex}"
        fd = os.open(name, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_CLOEXEC, 0o600)
        os.unlink(name)
    try:
        os.ftruncate(fd, size)
    except OSError:
        os.close(fd)
        raise
    return fd


def _format(fd: int, mkfs: str) -> None:
    try:
        done = subprocess.run(
            [mkfs, *MKFS_OPTIONS, f"/proc/self/fd/{fd}"],
            pass_fds=(fd,),
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise OSError(errno.EIO, f"{mkfs}: {error}") from error
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip() or f"exit {done.returncode}"
        raise OSError(errno.EIO, f"{mkfs}: {message}")


def _data_extents(fd: int, size: int) -> list[tuple[int, int]]:
    """The (offset, length) of the parts of a sparse file that are not holes."""
    extents: list[tuple[int, int]] = []
    offset = 0
    while offset < size:
        try:
            start = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError as error:
            if error.errno == errno.ENXIO:  # only a hole from here to the end
                break
            raise
        end = os.lseek(fd, start, os.SEEK_HOLE)
        extents.append((start, end - start))
        offset = end
    return extents


def _copy(source: int, target: int, extents: list[tuple[int, int]]) -> None:
    for start, length in extents:
        offset, end = start, start + length
        while offset < end:
            try:
                copied = os.copy_file_range(source, target, end - offset, offset, offset)
            except OSError as error:
                if error.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                    raise
                copied = os.pwrite(
                    target, os.pread(source, min(end - offset, 1 << 20), offset), offset
                )
            if copied <= 0:
                raise OSError(errno.EIO, "copying the image template ended early")
            offset += copied


class _Templates:
    """One formatted image per (file system, size) for this process: every environment's
    image is a copy of it (~1 ms) rather than a run of mkfs (~10-40 ms). Unnamed files held
    open for the life of the process: gone with it, however it ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._images: dict[tuple[int, int], tuple[int, list[tuple[int, int]]]] = {}

    def image(self, directory: Path, size: int, mkfs: str) -> int:
        """A new unnamed image of ``size`` bytes in ``directory``, formatted; its descriptor."""
        key = (os.stat(directory).st_dev, size)
        with self._lock:
            template = self._images.get(key)
            if template is None:
                fd = _unnamed_file(directory, size)
                try:
                    _format(fd, mkfs)
                    extents = _data_extents(fd, size)
                except OSError:
                    os.close(fd)
                    raise
                template = (fd, extents)
                self._images[key] = template
            source, extents = template
            image = _unnamed_file(directory, size)
            try:
                if sum(length for _, length in extents) > _TEMPLATE_LIMIT:
                    _format(image, mkfs)
                else:
                    _copy(source, image, extents)
            except OSError:
                os.close(image)
                raise
            return image


_TEMPLATES = _Templates()


def _open_device(number: int) -> tuple[int, str]:
    path = f"/dev/loop{number}"
    try:
        return os.open(path, os.O_RDWR | os.O_CLOEXEC), path
    except FileNotFoundError:  # no devtmpfs to create the node (some containers)
        with contextlib.suppress(FileExistsError):
            os.mknod(path, stat.S_IFBLK | 0o600, os.makedev(_LOOP_MAJOR, number))
        return os.open(path, os.O_RDWR | os.O_CLOEXEC), path


def _configure(device: int, image: int, label: str) -> None:
    """Bind ``image`` to the loop device, autoclear, direct I/O where the kernel allows it."""
    config = _LoopConfig()
    config.fd = image
    config.info.lo_file_name = label.encode()[: _LO_NAME_SIZE - 1]
    for flags in (_LO_FLAGS_AUTOCLEAR | _LO_FLAGS_DIRECT_IO, _LO_FLAGS_AUTOCLEAR):
        config.info.lo_flags = flags
        try:
            fcntl.ioctl(device, _LOOP_CONFIGURE, config)
            return
        except OSError as error:
            if error.errno == errno.ENOTTY:  # a kernel before 5.8: bind, then set the flags
                break
            if error.errno != errno.EINVAL:  # EINVAL: no direct I/O on this file system
                raise
    fcntl.ioctl(device, _LOOP_SET_FD, image)
    try:
        fcntl.ioctl(device, _LOOP_SET_STATUS64, config.info)
    except OSError:
        with contextlib.suppress(OSError):
            fcntl.ioctl(device, _LOOP_CLR_FD, 0)
        raise


def attach(image: int, label: str) -> tuple[int, str]:
    """Bind the image to a free loop device. Returns a read-only descriptor of the device
    (held while the environment lives: the device stays bound and stays ours) and its path."""
    control = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
    try:
        for _ in range(_ATTEMPTS):
            number = fcntl.ioctl(control, _LOOP_CTL_GET_FREE)
            device, path = _open_device(number)
            try:
                _configure(device, image, label)
            except OSError as error:
                if error.errno == errno.EBUSY:
                    continue  # another process bound it first
                raise
            else:
                # Hold it read-only: a writer open on a mounted device may be refused.
                held = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                return held, path
            finally:
                os.close(device)  # once the held one is open: autoclear waits for the last
        raise OSError(errno.EBUSY, f"no free loop device after {_ATTEMPTS} attempts")
    finally:
        os.close(control)


_detaching: list[threading.Thread] = []


def detach(device: int, *, background: bool = False) -> None:
    """Detach the loop device once no one uses it any more, and close ``device``.

    The detach itself happens at the last close and waits for the kernel to quiesce the
    device's queue (5-25 ms here, most of it waiting, more under load): ``background`` does
    that close in a short-lived thread so the event loop does not wait (if the process exits
    first, the kernel closes it all the same). :func:`wait_detached` waits for those."""
    try:
        fcntl.ioctl(device, _LOOP_CLR_FD, 0)
    except OSError as error:
        if error.errno not in (errno.ENXIO, errno.EBUSY):  # already free; busy: autoclear
            os.close(device)
            raise
    if not background:
        os.close(device)
        return
    closing = threading.Thread(
        target=os.close, args=(device,), name="eventmesh-loop-detach", daemon=True
    )
    closing.start()
    _detaching[:] = [thread for thread in _detaching if thread.is_alive()]
    _detaching.append(closing)


def wait_detached(timeout: float = 10.0) -> bool:
    """Wait until the loop devices closed in the background are detached; False if some
    are not within ``timeout`` seconds."""
    for thread in list(_detaching):
        thread.join(timeout)
    _detaching[:] = [thread for thread in _detaching if thread.is_alive()]
    return not _detaching


def label_of(device: int) -> str | None:
    """The file name a loop device was given when bound (ours: the mesh's label)."""
    info = _LoopInfo64()
    try:
        fcntl.ioctl(device, _LOOP_GET_STATUS64, info)
    except OSError:  # not bound (ENXIO)
        return None
    name: bytes = info.lo_file_name
    return name.decode(errors="replace")


def mount_labelled(device: str, target: Path, label: str) -> None:
    """Mount the device's ext4 and bind its directory ``label`` (created, mode 1777) on
    ``target``, through a staging point detached at once."""
    staging = target.parent / f".{label}"
    staging.mkdir(mode=0o700, exist_ok=True)
    try:
        _private_tmp.mount(
            device.encode(),
            staging,
            b"ext4",
            _private_tmp.MS_NOSUID | _private_tmp.MS_NODEV,
            _MOUNT_DATA,
        )
        try:
            inner = staging / label
            inner.mkdir(exist_ok=True)
            inner.chmod(0o1777)
            _private_tmp.mount(os.fsencode(inner), target, None, _private_tmp.MS_BIND, None)
        finally:
            _private_tmp.unmount(staging)
    finally:
        with contextlib.suppress(OSError):
            staging.rmdir()


class LoopTmp:
    """An ext4 image of the ephemeral-storage size on a loop device, bound onto each
    process's /tmp (see the module doc). Raises OSError when any step fails, having undone
    the steps before it: the sandbox falls back to the tmpfs."""

    kind = KIND
    needs_namespace = True
    enforces_size = True

    def __init__(
        self, path: Path, size_mb: int, mkfs: str, mount_program: str, umount_program: str
    ) -> None:
        self.path = path
        self._programs = [mount_program, umount_program]
        self._device: int | None = None
        self._mounted = False
        directory = image_directory(path.parent)
        if directory is None:
            raise OSError(errno.ENOTSUP, "no disk file system for the image (tmpfs only)")
        path.mkdir(parents=True, exist_ok=True)
        if _private_tmp.ours_on(path):  # left by a mesh that crashed with the same directory
            _private_tmp.unmount(path)
        label = _private_tmp.owner_label()
        image = _TEMPLATES.image(directory, size_mb * 1024 * 1024, mkfs)
        try:
            self._device, self.device = attach(image, label)
        finally:
            os.close(image)  # the loop device holds it now
        try:
            mount_labelled(self.device, path, label)
        except OSError:
            self._detach()
            raise
        self._mounted = True

    def wrapper_step(self) -> tuple[str, list[str]]:
        return _private_tmp.BIND_STEP, [
            *self._programs,
            str(self.path),
            _private_tmp.escaped(str(self.path)),
        ]

    def environment(self) -> dict[str, str]:
        return {}

    def _detach(self, *, background: bool = False) -> None:
        if self._device is not None:
            device, self._device = self._device, None
            detach(device, background=background)

    def close(self) -> None:
        try:
            if self._mounted:
                self._mounted = False
                _private_tmp.unmount(self.path)
        finally:
            self._detach(background=True)
            shutil.rmtree(self.path, ignore_errors=True)


def sweep_stale_devices() -> int:
    """Detach the loop devices bound by meshes of this pid namespace that are gone (the
    label in their file name), unmounting what of them is still mounted here. A device
    another mount namespace still uses detaches itself when that goes (autoclear)."""
    swept = 0
    try:
        names = [entry.name for entry in Path("/sys/block").iterdir()]
    except OSError:
        return 0
    for name in names:
        if not name.startswith("loop") or not Path(f"/sys/block/{name}/loop").is_dir():
            continue  # not a loop device, or not bound
        path = f"/dev/{name}"
        try:
            device = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        label = label_of(device)
        if label is None or not _private_tmp.owner_gone(label):
            os.close(device)
            continue
        for mount in _procfs.mounts():
            if mount.source == path:
                with contextlib.suppress(OSError):
                    _private_tmp.unmount(Path(mount.mount_point))
        with contextlib.suppress(OSError):
            detach(device)
            swept += 1
    return swept
