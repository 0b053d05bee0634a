"""A process function's LD_LIBRARY_PATH ends as Lambda's does:
``...:$LAMBDA_TASK_ROOT:$LAMBDA_TASK_ROOT/lib:/opt/lib`` (the code folder and its ``lib``
before the layers' ``lib``), so a shared library shipped in the function's own ``lib`` folder
loads as on Lambda."""

from __future__ import annotations

from pathlib import Path

from process_helpers import CodeDir

from eventmesh import Mesh

APP = """\
import os

def lambda_handler(event, context):
    return os.environ.get("LD_LIBRARY_PATH", "")
"""


async def test_the_code_folder_and_its_lib_come_before_the_layers_lib(
    mesh: Mesh, code_dir: CodeDir, code_root: Path
) -> None:
    code = code_dir(app=APP)
    (code / "lib").mkdir()
    first, second = code_root / "first", code_root / "second"
    for layer in (first, second):
        (layer / "lib").mkdir(parents=True)
    mesh.function(name="libs", handler="app.lambda_handler", code=code, layers=[first, second])
    async with mesh:
        result = await mesh.invoke("libs", {})
    assert result.function_error is None, result.payload
    # Lambda: LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:
    # /var/task:/var/task/lib:/opt/lib (the last layer's files win in /opt/lib)
    assert result.payload.split(":")[-4:] == [
        str(code.resolve()),
        str(code.resolve() / "lib"),
        str(second.resolve() / "lib"),
        str(first.resolve() / "lib"),
    ]
