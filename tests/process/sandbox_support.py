"""Helpers for the sandbox tests: children that allocate or touch /tmp, and the CI rule.

A mechanism the machine lacks skips its tests, saying which; under CI=true they fail instead,
as the CI machine (root, cgroup v1 memory controller, ``unshare``, loop devices and
``mkfs.ext4``) must run every one of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace

import pytest

from eventmesh.process.sandbox import Capabilities, Sandbox, detect_capabilities

PYTHON = sys.executable
MIB = 1024 * 1024

# Allocates (and touches) 10 MB at a time up to `limit` MB, then exits 0: killed on the way
# when the sandbox enforces a smaller limit; bounded so that a failing test harms nobody.
ALLOCATE = """
import sys, time
chunks = []
for _ in range(int(sys.argv[1]) // 10):
    chunks.append(bytearray(10 * 1024 * 1024))
    time.sleep(0.005)
print("survived", flush=True)
"""

# Allocates `n` MB, says so, and holds it until its stdin closes.
HOLD = """
import sys
block = bytearray(int(sys.argv[1]) * 1024 * 1024)
print("ready", flush=True)
sys.stdin.read()
"""


def require(available: bool, what: str) -> None:
    if available:
        return
    reason = f"this machine lacks {what}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}; CI (root, cgroup v1, unshare, loop) must run the sandbox tests")
    pytest.skip(reason)


def require_cgroup_v1() -> Capabilities:
    caps = detect_capabilities()
    require(caps.cgroup_v1 is not None, "a writable cgroup v1 memory controller (needs root)")
    return caps


def require_namespace() -> Capabilities:
    caps = detect_capabilities()
    require(caps.namespace_programs is not None, "private mount namespaces (root and unshare)")
    return caps


def require_loop() -> Capabilities:
    """This machine's capabilities, which must offer the disk-backed /tmp (ext4 on a loop
    device in a private mount namespace)."""
    caps = require_namespace()
    require(caps.loop_mkfs is not None, "loop devices, ext4 and mkfs.ext4 (needs root)")
    return caps


def tmpfs_only() -> Capabilities:
    """This machine's capabilities with the loop devices hidden: /tmp is a tmpfs."""
    return replace(require_namespace(), loop_mkfs=None)


#: The private /tmp mechanisms a test runs under, and the capabilities forcing each.
PRIVATE_TMP = {"ext4-loop": require_loop, "tmpfs-namespace": tmpfs_only}


def watchdog_only() -> Capabilities:
    """This machine's capabilities with the memory cgroups hidden: the watchdog is used."""
    caps = detect_capabilities()
    require(caps.proc, "/proc/<pid>/status (Linux)")
    return replace(caps, cgroup_v1=None, cgroup_v2=None)


def run(
    sandbox: Sandbox, code: str, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `python -c code args` in the sandbox as its next process and wait for it."""
    argv = sandbox.wrap([PYTHON, "-c", code, *args])
    process = subprocess.Popen(
        argv,
        env={**os.environ, **sandbox.environment()},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sandbox.attach(process.pid)
    stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


def spawn(sandbox: Sandbox, argv: Sequence[str]) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        sandbox.wrap(argv),
        env={**os.environ, **sandbox.environment()},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sandbox.attach(process.pid)
    return process


def mount_points() -> list[str]:
    with open("/proc/self/mountinfo") as lines:
        return [line.split()[4] for line in lines]
