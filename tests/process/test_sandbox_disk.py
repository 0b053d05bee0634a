"""The disk-backed /tmp: an ext4 image of the ephemeral-storage size on a loop device.

Lambda's /tmp is a disk counted apart from the function's memory: a 128 MB function may write
300 MB to its 512 MB /tmp. A tmpfs /tmp is charged to the writer's memory cgroup and cannot be
reclaimed without swap; the page cache of a disk file system is reclaimed under the limit.
What holds for every private /tmp (persistence, isolation, ENOSPC) is in test_sandbox_tmp.py.
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
from sandbox_support import mount_points, require_cgroup_v1, require_loop, run, tmpfs_only

from eventmesh.process import _loop_tmp, _private_tmp, _procfs
from eventmesh.process.sandbox import Sandbox, SandboxMechanisms, detect_mechanisms, sweep_stale

MIB = 1024 * 1024

# Writes `n` MB to /tmp/big, each MB numbered, then reads them all back and checks them.
WRITE_AND_READ_BACK = """
import sys
size = int(sys.argv[1])
block = bytearray(1024 * 1024)
with open('/tmp/big', 'wb') as out:
    for number in range(size):
        block[:8] = number.to_bytes(8, 'big')
        out.write(block)
wrong = 0
with open('/tmp/big', 'rb') as back:
    for number in range(size):
        chunk = back.read(1024 * 1024)
        wrong += len(chunk) != len(block) or int.from_bytes(chunk[:8], 'big') != number
print('read back', size, 'wrong', wrong, flush=True)
"""


def _losetup() -> str:
    """Every bound loop device and its backing file (``losetup -a``)."""
    done = subprocess.run(["losetup", "-a"], capture_output=True, text=True, check=True)
    return done.stdout


def _losetup_once_gone(backing: str, within: float = 10.0) -> str:
    """``losetup -a`` once no device is backed by ``backing``, or at ``within`` seconds.

    A mounted device is unmounted lazily (``MNT_DETACH``) and frees itself when the kernel
    lets its filesystem go, a moment after the unmount returns on a loaded machine."""
    deadline = time.monotonic() + within
    bound = _losetup()
    while backing in bound and time.monotonic() < deadline:
        time.sleep(0.05)
        bound = _losetup()
    return bound


def _source_of(mount_point: Path) -> str:
    (source,) = [m.source for m in _procfs.mounts() if m.mount_point == str(mount_point)]
    return source


def test_a_128_mb_function_writes_300_mb_to_tmp_and_reads_it_back(tmp_path: Path) -> None:
    caps = require_loop()
    require_cgroup_v1()
    with Sandbox("disk", 128, 512, tmp_path / "env", capabilities=caps) as sandbox:
        assert (sandbox.mechanisms.memory, sandbox.mechanisms.tmp) == ("cgroup-v1", "ext4-loop")
        done = run(sandbox, WRITE_AND_READ_BACK, "300", timeout=120)
        assert done.stdout == "read back 300 wrong 0\n", done.stderr
        assert done.returncode == 0
        assert sandbox.outcome(done.returncode).memory_killed is False


def test_with_the_tmpfs_fallback_tmp_counts_toward_the_memory_size(tmp_path: Path) -> None:
    """What the disk-backed /tmp is for (and what the README says of the fallback)."""
    caps = tmpfs_only()
    require_cgroup_v1()
    with Sandbox("memory", 128, 512, tmp_path / "env", capabilities=caps) as sandbox:
        assert sandbox.mechanisms.tmp == "tmpfs-namespace"
        done = run(sandbox, WRITE_AND_READ_BACK, "300", timeout=120)
        assert done.stdout == ""
        assert done.returncode == -signal.SIGKILL
        assert sandbox.outcome(done.returncode).memory_killed is True


def test_tmp_has_the_ephemeral_storage_size_less_the_file_systems_own_share(
    tmp_path: Path,
) -> None:
    caps = require_loop()
    size = "import os; s = os.statvfs('/tmp'); print(s.f_blocks * s.f_frsize // (1024 * 1024))"
    for storage in (512, 1024):
        with Sandbox("a", 128, storage, tmp_path / "a", capabilities=caps) as sandbox:
            total = int(run(sandbox, size).stdout)
            assert storage * 0.98 <= total <= storage  # ext4 keeps under 2 % for itself


def test_tmp_starts_empty_writable_by_anyone_and_sticky_like_lambdas(tmp_path: Path) -> None:
    caps = require_loop()
    with Sandbox("a", 128, 512, tmp_path / "a", capabilities=caps) as sandbox:
        done = run(sandbox, "import os; print(os.listdir('/tmp'), oct(os.stat('/tmp').st_mode))")
        assert done.stdout == "[] 0o41777\n"  # no lost+found: the image's root stays hidden


def test_close_leaves_no_mount_loop_device_or_image(tmp_path: Path) -> None:
    caps = require_loop()
    root = tmp_path / "a"
    sandbox = Sandbox("a", 128, 512, root, capabilities=caps)
    assert run(sandbox, "open('/tmp/x', 'wb').write(bytes(1 << 20))").returncode == 0
    assert os.listdir(root) == ["tmp"]  # the image has no name; no staging point is left
    assert _source_of(root / "tmp").startswith("/dev/loop")
    assert f"({root}/" in _losetup()  # its backing file: unnamed, in the environment's root
    sandbox.close()
    assert _loop_tmp.wait_detached()
    assert str(root / "tmp") not in mount_points()
    assert f"({root}/" not in _losetup()  # detached: the image, which had no name, is freed
    assert os.listdir(root) == []


def test_the_image_goes_to_var_tmp_when_the_environments_root_is_in_memory(
    tmp_path: Path,
) -> None:
    caps = require_loop()
    memory = tmp_path / "memory"
    memory.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "test", str(memory)], check=True)
    try:
        with Sandbox("a", 128, 512, memory / "a", capabilities=caps) as sandbox:
            assert sandbox.mechanisms.tmp == "ext4-loop"
            device = _source_of(memory / "a" / "tmp")
            (line,) = [line for line in _losetup().splitlines() if line.startswith(device + ":")]
            assert "(/var/tmp/" in line  # a tmpfs image would count as memory again
    finally:
        _private_tmp.unmount(memory)


def test_without_loop_devices_the_tmpfs_is_used() -> None:
    caps = require_loop()
    assert detect_mechanisms(caps).tmp == "ext4-loop"
    assert detect_mechanisms(replace(caps, loop_mkfs=None)).tmp == "tmpfs-namespace"
    assert detect_mechanisms(replace(caps, namespace_programs=None)).tmp == "tmpdir"
    assert "on disk, not counted as memory" in str(SandboxMechanisms("none", "ext4-loop"))


def test_a_loop_device_failing_at_creation_falls_back_to_the_tmpfs_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caps = replace(require_loop(), loop_mkfs="/nonexistent/mkfs.ext4")
    monkeypatch.setattr(_loop_tmp, "_TEMPLATES", _loop_tmp._Templates())  # mkfs must run
    with (
        caplog.at_level(logging.WARNING, "eventmesh.process"),
        Sandbox("a", 128, 512, tmp_path / "a", capabilities=caps) as sandbox,
    ):
        assert sandbox.mechanisms.tmp == "tmpfs-namespace"
        (note,) = sandbox.mechanisms.notes
        assert note.startswith("ext4 /tmp on a loop device unavailable (/nonexistent/mkfs.ext4: ")
        assert note in caplog.text
        assert run(sandbox, "import os; print(os.listdir('/tmp'))").stdout == "[]\n"


def test_a_mount_failing_after_the_device_is_bound_leaves_no_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    caps = require_loop()

    def refuse(device: str, target: Path, label: str) -> None:
        raise OSError(1, "refused by the test")

    monkeypatch.setattr(_loop_tmp, "mount_labelled", refuse)
    with Sandbox("a", 128, 512, tmp_path / "a", capabilities=caps) as sandbox:
        assert sandbox.mechanisms.tmp == "tmpfs-namespace"
        assert sandbox.mechanisms.notes == (
            "ext4 /tmp on a loop device unavailable (refused by the test)",
        )
        assert f"({tmp_path}/a/" not in _losetup()


def _bind_without_autoclear(image: int, label: str) -> int:
    """A loop device bound the way a mesh that died halfway through binding leaves it:
    labelled, not mounted, not detaching itself. Returns its number."""
    control = os.open("/dev/loop-control", os.O_RDWR)
    try:
        for _ in range(20):
            number = fcntl.ioctl(control, 0x4C82)  # LOOP_CTL_GET_FREE
            device = os.open(f"/dev/loop{number}", os.O_RDWR)
            try:
                fcntl.ioctl(device, 0x4C00, image)  # LOOP_SET_FD
            except OSError:
                os.close(device)
                continue  # taken meanwhile
            info = _loop_tmp._LoopInfo64()
            info.lo_file_name = label.encode()
            try:
                fcntl.ioctl(device, 0x4C04, info)  # LOOP_SET_STATUS64
            finally:
                os.close(device)
            return int(number)
    finally:
        os.close(control)
    raise AssertionError("no free loop device")


def test_stale_loop_devices_and_mounts_of_dead_meshes_are_removed(tmp_path: Path) -> None:
    caps = require_loop()
    assert caps.loop_mkfs is not None
    dead = f"{_private_tmp.MOUNT_LABEL}.{_procfs.pid_namespace()}.999999999.1"
    live = _private_tmp.owner_label()
    held: dict[str, int] = {}
    for name, label in (("dead-mounted", dead), ("live", live)):
        (tmp_path / name / "tmp").mkdir(parents=True)
        image = _loop_tmp._TEMPLATES.image(tmp_path / name, 16 * MIB, caps.loop_mkfs)
        held[name], device = _loop_tmp.attach(image, label)
        os.close(image)
        _loop_tmp.mount_labelled(device, tmp_path / name / "tmp", label)
    (tmp_path / "dead-unmounted").mkdir()
    image = _loop_tmp._TEMPLATES.image(tmp_path / "dead-unmounted", 16 * MIB, caps.loop_mkfs)
    _bind_without_autoclear(image, dead)
    os.close(image)
    os.close(held.pop("dead-mounted"))  # the dead mesh's descriptors went with it
    bound = _losetup()
    assert f"({tmp_path}/dead-mounted/" in bound
    assert f"({tmp_path}/dead-unmounted/" in bound
    try:
        assert sweep_stale(caps) >= 2
        bound = _losetup_once_gone(f"({tmp_path}/dead-mounted/")
        assert f"({tmp_path}/dead-mounted/" not in bound
        assert f"({tmp_path}/dead-unmounted/" not in bound
        assert str(tmp_path / "dead-mounted" / "tmp") not in mount_points()
        assert f"({tmp_path}/live/" in bound  # a live mesh's is never touched
        assert str(tmp_path / "live" / "tmp") in mount_points()
    finally:
        _private_tmp.unmount(tmp_path / "live" / "tmp")
        _loop_tmp.detach(held.pop("live"))
        for line in _losetup().splitlines():  # what a failed sweep left
            if f"({tmp_path}/" in line:
                subprocess.run(["losetup", "-d", line.split(":")[0]], check=False)
    assert f"({tmp_path}/" not in _losetup()


def test_the_mounts_are_nosuid_and_nodev(tmp_path: Path) -> None:
    caps = require_loop()
    with Sandbox("a", 128, 512, tmp_path / "a", capabilities=caps) as sandbox:
        process = run(sandbox, "print(open('/proc/self/mountinfo').read())")
        lines = [line.split() for line in process.stdout.splitlines() if line]
        (fields,) = [fields for fields in lines if fields[4] == "/tmp"]
        assert {"nosuid", "nodev"} <= set(fields[5].split(","))


def test_the_loop_structures_have_the_kernels_layout() -> None:
    # linux/loop.h: loop_info64 is 5 u64, 4 u32, two 64-byte names, a 32-byte key, 2 u64;
    # loop_config is 2 u32, a loop_info64 and 8 reserved u64.
    assert ctypes.sizeof(_loop_tmp._LoopInfo64) == 232
    assert ctypes.sizeof(_loop_tmp._LoopConfig) == 304
