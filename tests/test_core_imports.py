"""The core imports, and declares HTTP APIs, without any optional extra installed: the
extras' packages are imported only by what needs them, which says what to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

OPTIONAL = (
    "jwt",
    "cryptography",
    "httpx",
    "uvicorn",
    "botocore",
    "h11",
    "awslambdaric",
    "yaml",
    "samtranslator",
    "watchfiles",
)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    blocker = textwrap.dedent(
        f"""
        import sys
        class _Blocked:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {OPTIONAL!r}:
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
                return None
        sys.meta_path.insert(0, _Blocked())
        """
    )
    return subprocess.run(
        [sys.executable, "-c", blocker + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_eventmesh_loads_no_optional_package() -> None:
    result = _run(
        """
        import eventmesh, eventmesh.gateway.apis, eventmesh.gateway.authorizers
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in {optional!r})
        print(loaded)
        """.replace("{optional!r}", repr(OPTIONAL))
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_http_apis_are_declared_without_the_extra_and_jwt_says_what_to_install() -> None:
    result = _run(
        """
        from eventmesh import ConfigurationError, Mesh
        mesh = Mesh()
        api = mesh.http_api("shop")
        api.route("GET /orders/{id}", mesh.function(name="f")(lambda event, context: None))
        try:
            api.jwt_authorizer(issuer="https://issuer", audiences=["a"], jwks={"keys": []})
        except ConfigurationError as exc:
            print(exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'eventmesh[http]'" in result.stdout
    assert "jwt" in result.stdout


def test_templates_in_json_need_no_extra_and_yaml_says_what_to_install(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text('{"Resources": {"Role": {"Type": "AWS::IAM::Role"}}}')
    (tmp_path / "t.yaml").write_text("Resources:\n  Role: {Type: AWS::IAM::Role}\n")
    result = _run(
        f"""
        from eventmesh import Mesh
        from eventmesh.sam import TemplateError, load_template
        print(sorted(load_template({str(tmp_path / "t.json")!r}, mesh=Mesh()).resources))
        try:
            load_template({str(tmp_path / "t.yaml")!r}, mesh=Mesh())
        except TemplateError as exc:
            print(exc)
        """
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "['Role']"
    assert "a YAML template needs the sam extra" in lines[1]
    assert "pip install 'eventmesh[sam]'" in lines[1]
