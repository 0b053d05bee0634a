"""Custom runtimes (Lambda's ``provided`` family): an executable ``bootstrap`` in the code
directory is the environment's process, in any language that speaks HTTP to the Runtime API."""

from __future__ import annotations

import shutil

import pytest
from process_helpers import CodeDir

from eventmesh import Mesh

NODE_BOOTSTRAP = """\
#!/usr/bin/env node
// A custom runtime in JavaScript (Node.js 20's fetch), as in Lambda's provided runtimes.
const api = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime`;
(async () => {
  for (;;) {
    const next = await fetch(`${api}/invocation/next`);
    const id = next.headers.get("lambda-runtime-aws-request-id");
    const deadline = Number(next.headers.get("lambda-runtime-deadline-ms"));
    const arn = next.headers.get("lambda-runtime-invoked-function-arn");
    const event = await next.json();
    if (event.fail) {
      await fetch(`${api}/invocation/${id}/error`, {
        method: "POST",
        headers: {"Lambda-Runtime-Function-Error-Type": "Unhandled"},
        body: JSON.stringify({errorMessage: "no such order", errorType: "OrderError"}),
      });
      continue;
    }
    const body = {
      echo: event, handler: process.env._HANDLER, requestId: id, arn: arn,
      deadlineInFuture: deadline > Date.now(), pid: process.pid,
      root: process.env.LAMBDA_TASK_ROOT, execEnv: process.env.AWS_EXECUTION_ENV ?? null,
    };
    await fetch(`${api}/invocation/${id}/response`, {method: "POST", body: JSON.stringify(body)});
  }
})();
"""

SHELL_BOOTSTRAP = """\
#!/bin/sh
# A custom runtime as a shell script with curl: the loop of Lambda's tutorial.
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
HEADERS="$(mktemp)"
while true; do
  EVENT=$(curl -sS -D "$HEADERS" "$API/invocation/next")
  ID=$(grep -i '^lambda-runtime-aws-request-id:' "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  case "$EVENT" in
    *fail*)
      curl -sS -o /dev/null -X POST -H "Lambda-Runtime-Function-Error-Type: Unhandled" \\
        -d '{"errorMessage":"shell says no","errorType":"ShellError"}' \\
        "$API/invocation/$ID/error" ;;
    *)
      curl -sS -o /dev/null -X POST \\
        -d "{\\"handler\\":\\"$_HANDLER\\",\\"event\\":$EVENT,\\"pid\\":$$}" \\
        "$API/invocation/$ID/response" ;;
  esac
done
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
async def test_a_bootstrap_written_in_javascript_serves_invocations_and_errors(
    mesh: Mesh, code_dir: CodeDir
) -> None:
    code = code_dir(bootstrap=NODE_BOOTSTRAP)
    mesh.function(name="js", handler="index.handler", code=code, timeout=30)
    async with mesh:
        first = await mesh.invoke("js", {"order": 1})
        second = await mesh.invoke("js", {"order": 2})
        failed = await mesh.invoke("js", {"fail": True})
    assert first.function_error is None, first.payload
    assert first.payload["echo"] == {"order": 1}
    assert first.payload["handler"] == "index.handler"
    assert first.payload["requestId"] == first.request_id
    assert first.payload["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:js"
    assert first.payload["deadlineInFuture"] is True
    assert first.payload["root"] == str(code.resolve())
    assert first.payload["execEnv"] is None  # Lambda sets none for custom runtimes
    assert second.payload["echo"] == {"order": 2}
    assert second.payload["pid"] == first.payload["pid"]
    assert first.cold_start and not second.cold_start
    assert failed.function_error == "Unhandled"
    assert failed.payload == {"errorMessage": "no such order", "errorType": "OrderError"}


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_a_bootstrap_written_as_a_shell_script_with_curl(
    mesh: Mesh, code_dir: CodeDir
) -> None:
    code = code_dir(bootstrap=SHELL_BOOTSTRAP)
    mesh.function(name="sh", handler="function.handler", code=code, timeout=30)
    async with mesh:
        first = await mesh.invoke("sh", {"n": 1})
        second = await mesh.invoke("sh", {"n": 2})
        failed = await mesh.invoke("sh", {"fail": 1})
    assert first.function_error is None, first.payload
    assert first.payload["event"] == {"n": 1}
    assert first.payload["handler"] == "function.handler"
    assert second.payload["event"] == {"n": 2}
    assert second.payload["pid"] == first.payload["pid"]
    assert failed.function_error == "Unhandled"
    assert failed.payload == {"errorMessage": "shell says no", "errorType": "ShellError"}


ONE_EVENT_BOOTSTRAP = """\
#!/bin/sh
# Answers one event, then exits (a little later) instead of asking for the next one.
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
HEADERS="$(mktemp)"
curl -sS -D "$HEADERS" -o /dev/null "$API/invocation/next"
ID=$(grep -i '^lambda-runtime-aws-request-id:' "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
curl -sS -o /dev/null -X POST -d "$$" "$API/invocation/$ID/response"
sleep 1
exit 0
"""


async def test_a_runtime_that_exits_after_its_response_does_not_fail_the_next_invocation(
    mesh: Mesh, code_dir: CodeDir
) -> None:
    # The invocation after it reached an environment whose runtime had not asked for it and
    # then exited: Lambda hands an invocation only to a runtime waiting in /next, so it runs
    # in a new runtime process; here it failed as "Runtime exited without providing a reason".
    mesh.function(name="once", handler="x.y", code=code_dir(bootstrap=ONE_EVENT_BOOTSTRAP))
    async with mesh:
        results = [await mesh.invoke("once", {}) for _ in range(3)]
    assert [result.function_error for result in results] == [None, None, None], results
    assert len({result.payload for result in results}) == 3  # each in a process of its own
