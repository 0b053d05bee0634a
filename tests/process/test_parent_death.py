"""A mesh killed outright (SIGKILL: no stop, no cleanup) takes its environments' processes with
it: the kernel's parent-death signal, not the mesh, ends them."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import textwrap
from pathlib import Path

import pytest
from process_helpers import CodeDir, alive, eventually

from eventmesh.process._parent_death import ended_with_parent

MESH_SCRIPT = """
    import asyncio, sys
    from eventmesh import Mesh, Telemetry

    async def main():
        mesh = Mesh(telemetry=Telemetry(enabled=False))
        mesh.function(name="f", handler="function.handler", code=sys.argv[1])
        async with mesh:
            result = await mesh.invoke("f", {})
            with open(sys.argv[2], "w") as out:
                out.write(str(result.payload["pid"]))
            await asyncio.sleep(3600)

    asyncio.run(main())
"""

BOOTSTRAP = """\
#!/bin/sh
# A custom runtime that retries when the Runtime API does not answer, as a robust one does:
# left alone after its mesh died, it would poll forever.
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
HEADERS="$(mktemp)"
while true; do
  EVENT=$(curl -sS -D "$HEADERS" "$API/invocation/next") || { sleep 0.2; continue; }
  ID=$(grep -i '^lambda-runtime-aws-request-id:' "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  curl -sS -o /dev/null -X POST -d "{\\"pid\\":$$}" "$API/invocation/$ID/response"
done
"""


@pytest.mark.skipif(ended_with_parent(["x"]) == ["x"], reason="no setpriv (not Linux)")
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_a_mesh_killed_by_sigkill_takes_its_environments_processes_with_it(
    code_dir: CodeDir, code_root: Path
) -> None:
    code = code_dir(bootstrap=BOOTSTRAP)
    script = code_root / "mesh_main.py"
    script.write_text(textwrap.dedent(MESH_SCRIPT))
    pid_file = code_root / "runtime.pid"
    mesh = await asyncio.create_subprocess_exec(sys.executable, script, code, pid_file)
    runtime = 0
    try:
        await eventually(lambda: pid_file.exists() and pid_file.read_text() != "", 60)
        runtime = int(pid_file.read_text())
        assert alive(runtime)
        os.kill(mesh.pid, signal.SIGKILL)
        await asyncio.wait_for(mesh.wait(), 10)
        await eventually(lambda: not alive(runtime), 10)
    finally:
        if mesh.returncode is None:
            os.kill(mesh.pid, signal.SIGKILL)
            await asyncio.wait_for(mesh.wait(), 10)
        if runtime and alive(runtime):  # the test failed: leave no orphan behind
            os.kill(runtime, signal.SIGKILL)


def test_the_command_keeps_its_arguments_after_the_parent_death_setting() -> None:
    argv = ["/bin/sh", "-c", "echo '$x' \"*\"", "--"]
    wrapped = ended_with_parent(argv)
    assert wrapped[-len(argv) :] == argv
    if wrapped != argv:
        assert wrapped[1:4] == ["--pdeathsig", "KILL", "--"]
