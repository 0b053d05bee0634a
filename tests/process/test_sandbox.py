"""The sandbox's contract on any machine: Lambda's limits checked, the null sandbox, TMPDIR.

The mechanisms that need root (cgroup, mount namespace) are in test_sandbox_memory.py and
test_sandbox_tmp.py.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from sandbox_support import PYTHON, run

from eventmesh import ConfigurationError
from eventmesh.process.sandbox import (
    Capabilities,
    NullSandbox,
    Sandbox,
    detect_capabilities,
    detect_mechanisms,
    open_sandbox,
)

# Nothing available: the portable fallbacks only (TMPDIR, no memory limit).
NOTHING = Capabilities()


@pytest.mark.parametrize(
    ("memory", "storage", "message"),
    [
        (127, 512, "memory must be an integer from 128 to 10240 (MB, Lambda's limits), got 127"),
        (
            10241,
            512,
            "memory must be an integer from 128 to 10240 (MB, Lambda's limits), got 10241",
        ),
        (
            "256",
            512,
            "memory must be an integer from 128 to 10240 (MB, Lambda's limits), got '256'",
        ),
        (True, 512, "memory must be an integer from 128 to 10240 (MB, Lambda's limits), got True"),
        (
            128,
            511,
            "ephemeral_storage must be an integer from 512 to 10240 (MB, Lambda's limits), got 511",
        ),
        (
            128,
            10241,
            "ephemeral_storage must be an integer from 512 to 10240 (MB, Lambda's limits), "
            "got 10241",
        ),
        (
            128,
            512.0,
            "ephemeral_storage must be an integer from 512 to 10240 (MB, Lambda's limits), "
            "got 512.0",
        ),
    ],
)
@pytest.mark.parametrize("kind", [Sandbox, NullSandbox])
def test_sizes_outside_lambdas_limits_are_refused(
    kind: type[Sandbox], memory: object, storage: object, message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        kind("env", memory, storage, tmp_path / "env")  # type: ignore[arg-type]
    assert str(raised.value) == message
    assert not (tmp_path / "env").exists()  # refused before anything was created


@pytest.mark.parametrize(("memory", "storage"), [(128, 512), (10240, 10240)])
def test_lambdas_bounds_are_accepted(memory: int, storage: int, tmp_path: Path) -> None:
    with Sandbox("env", memory, storage, tmp_path / "env", capabilities=NOTHING) as sandbox:
        assert (sandbox.memory_mb, sandbox.ephemeral_storage_mb) == (memory, storage)


def test_the_null_sandbox_runs_the_command_as_given(tmp_path: Path) -> None:
    marker = f"/tmp/eventmesh-null-{uuid.uuid4().hex}"
    sandbox = NullSandbox("env", 128, 512, tmp_path / "env")
    try:
        assert sandbox.mechanisms.memory == "none"
        assert sandbox.mechanisms.tmp == "none"
        assert sandbox.wrap(["prog", "a b"]) == ["prog", "a b"]
        assert sandbox.environment() == {}
        assert sandbox.tmp_path is None
        done = run(sandbox, f"open({marker!r}, 'w').write('x')")
        assert done.returncode == 0
        assert os.path.exists(marker)  # the host's /tmp: nothing private
        assert sandbox.outcome(done.returncode).memory_killed is False
        sandbox.close()
        sandbox.close()  # idempotent
        assert os.path.exists(marker)  # closing a null sandbox touches nothing of the host
    finally:
        os.unlink(marker)


def test_tmpdir_fallback_persists_across_resets_and_is_gone_at_close(tmp_path: Path) -> None:
    caps = replace(detect_capabilities(), namespace_programs=None)
    sandbox = Sandbox("env", 128, 512, tmp_path / "env", capabilities=caps)
    assert sandbox.mechanisms.tmp == "tmpdir"
    assert "size not enforced" in str(sandbox.mechanisms)
    area = tmp_path / "env" / "tmp"
    assert sandbox.environment() == {"TMPDIR": str(area)}

    write = "import os, tempfile; open(os.path.join(tempfile.gettempdir(), 'kept'), 'w').write('1')"
    assert run(sandbox, write).returncode == 0
    assert (area / "kept").read_text() == "1"
    sandbox.reset()
    read = "import os, tempfile; print(open(os.path.join(tempfile.gettempdir(), 'kept')).read())"
    assert run(sandbox, read).stdout == "1\n"

    other = Sandbox("other", 128, 512, tmp_path / "other", capabilities=caps)
    seen = "import os, tempfile; print(os.listdir(tempfile.gettempdir()))"
    assert run(other, seen).stdout == "[]\n"
    other.close()

    sandbox.close()
    assert not area.exists()
    assert (tmp_path / "env").exists()  # the root is the caller's


def test_without_any_mechanism_the_command_is_not_wrapped(tmp_path: Path) -> None:
    with Sandbox("env", 128, 512, tmp_path / "env", capabilities=NOTHING) as sandbox:
        assert sandbox.mechanisms.memory == "none"
        assert sandbox.wrap([PYTHON, "-V"]) == [PYTHON, "-V"]
        assert str(sandbox.mechanisms) == (
            "memory limit not enforced; /tmp is TMPDIR pointing at a per-environment directory "
            "(size not enforced; a literal /tmp path reaches the host's /tmp)"
        )


def test_a_closed_sandbox_refuses_to_wrap_and_an_empty_command_is_refused(tmp_path: Path) -> None:
    sandbox = Sandbox("env", 128, 512, tmp_path / "env", capabilities=NOTHING)
    with pytest.raises(ValueError, match="empty command"):
        sandbox.wrap([])
    sandbox.close()
    with pytest.raises(RuntimeError, match="the sandbox of env is closed"):
        sandbox.wrap([PYTHON])


def test_detected_mechanisms_follow_the_capabilities() -> None:
    assert detect_mechanisms(NOTHING).memory == "none"
    assert detect_mechanisms(Capabilities(proc=True)).memory == "watchdog"
    both = Capabilities(cgroup_v1=Path("/v1"), cgroup_v2=Path("/v2"), proc=True)
    assert detect_mechanisms(both).memory == "cgroup-v1"  # the strongest first
    assert detect_mechanisms(Capabilities(cgroup_v2=Path("/v2"))).memory == "cgroup-v2"
    namespace = Capabilities(namespace_programs=("unshare", "mount", "umount"), shell="sh")
    assert detect_mechanisms(namespace).tmp == "tmpfs-namespace"


def test_open_sandbox_checks_the_sizes_and_uses_the_detected_mechanisms(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="got 100"):
        open_sandbox("env", 100, 512, tmp_path / "env")
    with open_sandbox("env", 128, 512, tmp_path / "env") as sandbox:
        detected = detect_mechanisms()
        assert (sandbox.mechanisms.memory, sandbox.mechanisms.tmp) == (
            detected.memory,
            detected.tmp,
        )


def test_nothing_is_hidden_from_a_process_without_a_private_tmp(tmp_path: Path) -> None:
    caps = replace(detect_capabilities(), namespace_programs=None)
    with Sandbox("env", 128, 512, tmp_path / "env", capabilities=caps) as sandbox:
        assert sandbox.hides("/tmp/code") is False
