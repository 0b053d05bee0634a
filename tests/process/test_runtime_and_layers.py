"""A process function's runtime=, layers= and ephemeral_storage=: the runtime named decides
what runs, layers are on the paths as Lambda's /opt is, /tmp has the size asked for."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from process_helpers import CodeDir

from eventmesh import ConfigurationError, Mesh
from eventmesh.process.sandbox import detect_mechanisms

PYTHON = f"python{sys.version_info.major}.{sys.version_info.minor}"

APP = """\
import os, sys
import shared, only_first, deps

def lambda_handler(event, context):
    stat = os.statvfs("/tmp")
    return {
        "shared": shared.WHO,
        "only_first": only_first.WHO,
        "deps": deps.WHO,
        "pythonpath": os.environ.get("PYTHONPATH"),
        "path_end": os.environ["PATH"].split(os.pathsep)[-1],
        "tmp_mb": stat.f_blocks * stat.f_frsize // (1024 * 1024),
    }
"""


def layer(root: Path, name: str, files: dict[str, str]) -> Path:
    folder = root / name
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if path.parent.name == "bin" or path.name == "bootstrap":
            path.chmod(0o755)
    return folder


async def test_layers_are_imported_after_the_code_the_last_layer_first(
    mesh: Mesh, code_dir: CodeDir, code_root: Path
) -> None:
    first = layer(
        code_root,
        "first",
        {
            f"python/lib/{PYTHON}/site-packages/deps.py": 'WHO = "site-packages"\n',
            "python/deps.py": 'WHO = "python folder"\n',
            "python/shared.py": 'WHO = "first"\n',
            "python/only_first.py": 'WHO = "first only"\n',
            "bin/tool": "#!/bin/sh\n",
        },
    )
    second = layer(code_root, "second", {"python/shared.py": 'WHO = "second"\n'})
    # A bootstrap beside the code: runtime= says Python, so Python runs.
    code = code_dir(app=APP, bootstrap="#!/bin/sh\nexit 3\n")
    mesh.function(
        name="layered",
        handler="app.lambda_handler",
        code=code,
        runtime="python3.12",
        layers=[first, second],
        ephemeral_storage=2048,
    )
    async with mesh:
        result = await mesh.invoke("layered", {})
    assert result.function_error is None, result.payload
    payload = result.payload
    # Lambda extracts layers in order into /opt, a later one's file over an earlier one's;
    # /opt/python/lib/pythonX.Y/site-packages comes before /opt/python on the import path.
    assert payload["shared"] == "second"
    assert payload["only_first"] == "first only"
    assert payload["deps"] == "site-packages"
    assert payload["pythonpath"] == ":".join(
        [
            str(first / f"python/lib/{PYTHON}/site-packages"),
            str(second / "python"),
            str(first / "python"),
        ]
    )
    assert payload["path_end"] == str(first / "bin")  # /opt/bin ends Lambda's PATH
    if detect_mechanisms().tmp != "tmpdir":
        assert 1800 <= payload["tmp_mb"] <= 2048


async def test_a_provided_runtime_runs_a_layers_bootstrap_when_the_code_has_none(
    mesh: Mesh, code_dir: CodeDir, code_root: Path
) -> None:
    bootstrap = (
        "#!/bin/sh\n"
        'API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"\n'
        'H="$(mktemp)"\n'
        "while true; do\n"
        '  curl -sS -D "$H" -o /dev/null "$API/invocation/next"\n'
        "  ID=$(grep -i '^lambda-runtime-aws-request-id:' \"$H\""
        " | tr -d '[:space:]' | cut -d: -f2)\n"
        '  curl -sS -o /dev/null -X POST -d \'"from the layer"\' "$API/invocation/$ID/response"\n'
        "done\n"
    )
    runtime_layer = layer(code_root, "runtime", {"bootstrap": bootstrap})
    code = code_dir(app="# no bootstrap here\n")
    mesh.function(
        name="custom", handler="x.y", code=code, runtime="provided.al2", layers=[runtime_layer]
    )
    async with mesh:
        result = await mesh.invoke("custom", {})
    assert result.payload == "from the layer"


def test_a_provided_runtime_without_a_bootstrap_is_refused(mesh: Mesh, code_dir: CodeDir) -> None:
    with pytest.raises(ConfigurationError, match=r"provided\.al2023 runs an executable bootstrap"):
        mesh.function(
            name="f", handler="app.h", code=code_dir(app="x = 1\n"), runtime="provided.al2023"
        )


@pytest.mark.parametrize("runtime", ["nodejs20.x", "java21", "python2.7", "python3"])
def test_a_runtime_that_does_not_run_here_is_refused_naming_those_that_do(
    mesh: Mesh, code_dir: CodeDir, runtime: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        mesh.function(name="f", handler="app.h", code=code_dir(app="x = 1\n"), runtime=runtime)
    assert str(refused.value) == (
        f"runtime {runtime!r} does not run here: python3.x runs on this interpreter, "
        "provided, provided.al2, provided.al2023 run the function's bootstrap"
    )


def test_a_missing_layer_folder_is_refused(mesh: Mesh, code_dir: CodeDir) -> None:
    with pytest.raises(ConfigurationError, match="layer directory '/nonexistent' does not"):
        mesh.function(
            name="f", handler="app.h", code=code_dir(app="x = 1\n"), layers=["/nonexistent"]
        )


def test_a_layer_under_tmp_is_refused_where_tmp_is_private(
    mesh: Mesh, code_dir: CodeDir, tmp_path: Path
) -> None:
    if not detect_mechanisms().private_tmp:
        pytest.skip("no private /tmp here")
    with pytest.raises(ConfigurationError, match=r"layer directory .* is under /tmp"):
        mesh.function(name="f", handler="app.h", code=code_dir(app="x = 1\n"), layers=[tmp_path])


def test_runtime_and_layers_belong_to_handler_strings(mesh: Mesh) -> None:
    def handler(event: object, context: object) -> None:
        return None

    with pytest.raises(ConfigurationError, match="runtime= and layers= are settings"):
        mesh.function(name="f", runtime="python3.12")(handler)
    with pytest.raises(ConfigurationError, match="layers must be a list"):
        mesh.function(name="g", handler="app.h", code="/", layers="/opt")  # type: ignore[arg-type]
