"""Process functions in their sandboxes: the memory size enforced and reported as Lambda
reports an out-of-memory death, a private /tmp kept across warm calls and resets, not shared
between environments, gone when the environment is reclaimed; code under /tmp refused."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest
from process_helpers import CodeDir
from sandbox_support import require

from eventmesh import ConfigurationError, Mesh, Telemetry
from eventmesh.process.sandbox import SandboxMechanisms, detect_capabilities, detect_mechanisms
from eventmesh.testing import VirtualClock

MEMORY_APP = """
    import os

    def lambda_handler(event, context):
        if event.get("allocate_mb"):
            hog = bytearray(event["allocate_mb"] * 1024 * 1024)
            hog[::4096] = b"x" * len(hog[::4096])  # touch every page
        return os.getpid()
"""

TMP_APP = """
    import os, sys

    def lambda_handler(event, context):
        path = "/tmp/eventmesh-test-note.txt"
        if event.get("write"):
            with open(path, "w") as out:
                out.write(event["write"])
        if event.get("crash"):
            sys.exit(1)
        if event.get("sleep"):
            import time
            time.sleep(event["sleep"])
        seen = open(path).read() if os.path.exists(path) else None
        return {"pid": os.getpid(), "seen": seen}
"""


def host_has(path: str) -> bool:
    return os.path.exists(path)


async def test_a_process_over_its_memory_size_is_killed_as_lambda_reports_it(
    mesh: Mesh, code_dir: CodeDir, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="eventmesh.invocations")
    caps = detect_capabilities()
    require(caps.cgroup_v1 is not None or caps.cgroup_v2 is not None or caps.proc, "a memory limit")
    mesh.function(
        name="hog",
        handler="app.lambda_handler",
        code=code_dir(app=MEMORY_APP),
        memory=128,
        timeout=60,
    )
    async with mesh:
        fine = await mesh.invoke("hog", {"allocate_mb": 16})
        killed = await mesh.invoke("hog", {"allocate_mb": 400})
        after = await mesh.invoke("hog", {})
    assert fine.function_error is None
    assert killed.function_error == "Unhandled"
    assert killed.payload == {
        "errorMessage": (
            f"RequestId: {killed.request_id} Error: Runtime exited with error: signal: killed"
        ),
        "errorType": "Runtime.ExitError",
    }
    assert after.cold_start and after.payload != fine.payload
    reports = {
        record.request_id: record.getMessage()  # type: ignore[attr-defined]
        for record in caplog.records
        if getattr(record, "phase", None) == "REPORT"
    }
    used = int(reports[fine.request_id].split("Max Memory Used: ")[1].split(" MB")[0])
    assert 16 <= used < 128  # the 16 MB it allocated, and the runtime's own
    # Lambda reports an out-of-memory death with Max Memory Used at the memory size.
    assert " Memory Size: 128 MB Max Memory Used: 128 MB" in reports[killed.request_id]


async def test_tmp_is_private_kept_across_warm_calls_and_a_reset_and_not_shared(
    mesh: Mesh, code_dir: CodeDir
) -> None:
    require(detect_mechanisms().private_tmp, "private mount namespaces")
    mesh.function(name="t", handler="app.lambda_handler", code=code_dir(app=TMP_APP), timeout=30)
    async with mesh:
        first = await mesh.invoke("t", {"write": "kept"})
        warm = await mesh.invoke("t", {})
        crashed = await mesh.invoke("t", {"crash": True})
        after_reset = await mesh.invoke("t", {})
        # Two at once: the second runs in a new environment, with a /tmp of its own.
        both = await asyncio.gather(
            mesh.invoke("t", {"sleep": 0.5}), mesh.invoke("t", {"sleep": 0.5})
        )
    assert not host_has("/tmp/eventmesh-test-note.txt")  # the host's /tmp never saw it
    assert first.payload["seen"] == "kept"
    assert warm.payload == first.payload
    assert crashed.payload["errorType"] == "Runtime.ExitError"
    assert after_reset.cold_start and after_reset.payload["pid"] != first.payload["pid"]
    assert after_reset.payload["seen"] == "kept"  # Lambda keeps /tmp across a reset
    assert sorted(str(result.payload["seen"]) for result in both) == ["None", "kept"]


async def test_a_reclaimed_environments_tmp_is_gone(code_dir: CodeDir) -> None:
    require(detect_mechanisms().private_tmp, "private mount namespaces")
    clock = VirtualClock()
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), environment_idle_timeout=60)
    mesh.function(name="t", handler="app.lambda_handler", code=code_dir(app=TMP_APP))
    async with mesh:
        written = await mesh.invoke("t", {"write": "old"})
        await clock.advance(61)
        fresh = await mesh.invoke("t", {})
    assert written.payload["seen"] == "old"
    assert fresh.cold_start
    assert fresh.payload["seen"] is None


def test_code_under_the_hosts_tmp_is_refused_when_tmp_is_private(
    mesh: Mesh, tmp_path: Path
) -> None:
    require(detect_mechanisms().private_tmp, "private mount namespaces")
    with pytest.raises(ConfigurationError, match="under /tmp, which each execution environment"):
        mesh.function(name="f", handler="app.lambda_handler", code=tmp_path)


@pytest.mark.parametrize(
    ("tmp", "private"),
    [("ext4-loop", True), ("tmpfs-namespace", True), ("tmpdir", False), ("none", False)],
)
def test_which_tmp_mechanisms_hide_the_hosts_tmp(tmp: str, private: bool) -> None:
    assert SandboxMechanisms("cgroup-v1", tmp).private_tmp is private


def test_a_python_environment_under_the_hosts_tmp_is_refused_when_tmp_is_private(
    mesh: Mesh, code_dir: CodeDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    require(detect_mechanisms().private_tmp, "private mount namespaces")
    code = code_dir(app="def lambda_handler(event, context):\n    return 1\n")
    monkeypatch.setattr("sys.prefix", "/tmp/somewhere/.venv")  # where awslambdaric would be
    with pytest.raises(ConfigurationError, match=r"Python environment /tmp/somewhere/\.venv"):
        mesh.function(name="f", handler="app.lambda_handler", code=code)
