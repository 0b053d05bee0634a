"""``eventmesh run --reload``: a process function's file changes on disk, the watcher sees it,
new invocations run the new code in new environments while the invocation in flight
finishes on the old one; a changed template asks for a restart."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from process_prefix import skip_if_hidden

from eventmesh import Mesh, Telemetry
from eventmesh.cli._app import LoadedApp
from eventmesh.cli._reload import Reloader

pytestmark = skip_if_hidden

VERSION = """\
import time

def handler(event, context):
    if event == "slow":
        time.sleep(1.5)
    return "{version}"
"""


@pytest.fixture
def code() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="eventmesh-reload-", dir="/var/tmp"))
    (root / "src").mkdir()
    (root / "src" / "app.py").write_text(VERSION.format(version="v1"))
    (root / "template.yaml").write_text("Resources: {}\n")
    yield root
    shutil.rmtree(root, ignore_errors=True)


async def _until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not seen in {timeout} s: {what}")


async def test_changed_code_runs_in_new_environments_and_the_running_one_finishes(
    code: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="eventmesh.reload")
    mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=10)
    function = mesh.function(name="greet", handler="app.handler", code=code / "src", timeout=10)
    reloader = Reloader(LoadedApp("template.yaml", mesh, template=code / "template.yaml"))
    assert reloader.paths == [(code / "src").resolve(), (code / "template.yaml").resolve()]
    async with mesh:
        watching = asyncio.create_task(reloader.run())
        try:
            assert (await mesh.invoke("greet", "warm")).payload == "v1"
            slow = asyncio.create_task(mesh.invoke("greet", "slow"))
            pool = function.latest.pool
            assert pool is not None
            await _until(lambda: pool.busy == 1 and pool.idle == 0, "the slow one running")
            await asyncio.sleep(0.3)  # the watcher is watching by now
            (code / "src" / "app.py").write_text(VERSION.format(version="v2"))
            await _until(lambda: "reloaded greet" in caplog.text, "the reload")
            fresh = await mesh.invoke("greet", "fresh")
            old = await slow
            again = await mesh.invoke("greet", "again")
        finally:
            reloader.stop()
            await watching
    assert old.payload == "v1"  # in flight when the code changed: finished on the old code
    assert fresh.payload == "v2" and fresh.cold_start is True
    assert again.payload == "v2" and again.cold_start is False
    assert pool.size == 1  # the old environment went once its invocation ended
    assert (
        "reloaded greet: app.py changed; new invocations start with the new code "
        "(0 idle environments ended, 1 running finish on the old code)"
    ) in caplog.messages


async def test_a_changed_template_is_said_to_need_a_restart(
    code: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    reloader = Reloader(LoadedApp("template.yaml", mesh, template=code / "template.yaml"))
    assert reloader.apply([(code / "template.yaml").resolve()]) == []
    assert caplog.messages == [
        f"{(code / 'template.yaml').resolve()} changed: restart eventmesh run to apply it "
        "(functions' code reloads by itself; the template does not)"
    ]


TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Greet:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: greet
      Runtime: python3.12
      CodeUri: src/
      Handler: app.handler
"""


def test_run_reload_end_to_end(code: Path) -> None:
    """``eventmesh run template.yaml --reload`` as a process: the edit is picked up, the
    template's change asks for a restart."""
    from cli_support import Running, eventmesh

    (code / "template.yaml").write_text(TEMPLATE)
    worker = Running("run", "--reload", "--aws", "0", cwd=code)
    try:
        endpoint = worker.wait_for("AWS endpoint at ").split("AWS endpoint at ")[1].split()[0]
        worker.wait_for("--reload: watching")
        first = eventmesh("invoke", "greet", "--endpoint", endpoint, cwd=code)
        assert first.stdout == '"v1"\n'
        time.sleep(0.5)  # the watcher's thread is up by now
        (code / "src" / "app.py").write_text(VERSION.format(version="v2"))
        worker.wait_for("reloaded greet: app.py changed")
        second = eventmesh("invoke", "greet", "--endpoint", endpoint, cwd=code)
        assert second.stdout == '"v2"\n'
        assert "Init Duration" in second.stderr  # a new environment
        (code / "template.yaml").write_text(TEMPLATE + "# edited\n")
        line = worker.wait_for("changed: restart eventmesh run to apply it")
        assert str((code / "template.yaml").resolve()) in line
    finally:
        assert worker.stop() == 0


async def test_a_changed_layer_reloads_the_functions_using_it(code: Path) -> None:
    """A layer is code the environment loads when it starts, as the code folder is: an edit
    to it ran the old layer code until a restart."""
    layer = code / "layer" / "python"
    layer.mkdir(parents=True)
    (layer / "shared.py").write_text("WORD = 'v1'\n")
    (code / "src" / "app.py").write_text(
        "import shared\n\ndef handler(event, context):\n    return shared.WORD\n"
    )
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    function = mesh.function(
        name="greet", handler="app.handler", code=code / "src", layers=[code / "layer"]
    )
    reloader = Reloader(LoadedApp("template.yaml", mesh, template=code / "template.yaml"))
    assert (code / "layer").resolve() in reloader.paths
    async with mesh:
        assert (await mesh.invoke("greet", {})).payload == "v1"
        (layer / "shared.py").write_text("WORD = 'v2'\n")
        assert reloader.apply([(layer / "shared.py").resolve()]) == [function]
        answer = await mesh.invoke("greet", {})
    assert answer.payload == "v2" and answer.cold_start is True


async def test_a_code_folder_deleted_and_made_again_is_still_watched(
    code: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A build or a checkout replaces a whole folder: the watch on a deleted folder ends, so
    edits in the new one went unseen and the old code ran until a restart."""
    caplog.set_level(logging.INFO, logger="eventmesh.reload")
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    mesh.function(name="greet", handler="app.handler", code=code / "src")
    reloader = Reloader(LoadedApp("template.yaml", mesh, template=code / "template.yaml"))
    async with mesh:
        watching = asyncio.create_task(reloader.run())
        try:
            assert (await mesh.invoke("greet", "warm")).payload == "v1"
            await asyncio.sleep(0.3)  # the watcher is watching by now
            shutil.rmtree(code / "src")
            await asyncio.sleep(0.5)
            (code / "src").mkdir()
            (code / "src" / "app.py").write_text(VERSION.format(version="v2"))
            await _until(
                lambda: (code / "src").exists() and "reloaded greet" in caplog.text,
                "the reload after the folder came back",
            )
            assert (await mesh.invoke("greet", "new folder")).payload == "v2"
            caplog.clear()
            await asyncio.sleep(1.0)  # watching the new folder by now
            (code / "src" / "app.py").write_text(VERSION.format(version="v3"))
            await _until(lambda: "reloaded greet" in caplog.text, "the reload of an edit in it")
            assert (await mesh.invoke("greet", "edited")).payload == "v3"
        finally:
            reloader.stop()
            await watching


async def test_a_template_saved_by_renaming_is_still_watched(
    code: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Editors save by writing a new file and renaming it over the old one: each save is
    seen, not only the first."""
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    template = code / "template.yaml"
    reloader = Reloader(LoadedApp("template.yaml", mesh, template=template))
    watching = asyncio.create_task(reloader.run())
    try:
        for number in (1, 2):
            await asyncio.sleep(1.0)  # watching by now
            (code / "template.yaml.new").write_text(f"Resources: {{}}  # save {number}\n")
            (code / "template.yaml.new").replace(template)
            await _until(
                lambda n=number: caplog.text.count("restart eventmesh run") >= n, f"save {number}"
            )
    finally:
        reloader.stop()
        await watching
