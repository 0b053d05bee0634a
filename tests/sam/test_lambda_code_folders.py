"""What the Lambda kinds write beside a template (inline code, extracted .zip packages, layer
layouts) stays in the folder the mesh owns for it: names from the template cannot lead
outside it, one archive's files are not mixed with another's, and an archive larger than
Lambda's unzipped limit is refused before anything is written. Built only: no process starts."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from process_prefix import skip_if_hidden

from eventmesh import Mesh, Telemetry
from eventmesh.sam import Application, TemplateError, build_application
from tests.sam.lambda_support import template_folder

pytestmark = skip_if_hidden


@pytest.fixture
def folder() -> Iterator[Path]:
    """A project folder inside a parent folder, so an escape is seen in the parent."""
    with template_folder({"project/src/app.py": "def handler(e, c):\n    return e\n"}) as root:
        yield root / "project"


def build(folder: Path, **resources: Any) -> Application:
    return build_application(
        {"Resources": resources},
        mesh=Mesh(telemetry=Telemetry(enabled=False)),
        template_dir=folder,
    )


def function(**properties: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {"Runtime": "python3.12", "Handler": "app.handler", **properties},
    }


def layer(**properties: Any) -> dict[str, Any]:
    return {"Type": "AWS::Lambda::LayerVersion", "Properties": properties}


def files_outside(folder: Path) -> list[str]:
    """Every file or link under the parent folder but outside the project folder."""
    return sorted(
        str(p.relative_to(folder.parent))
        for p in folder.parent.rglob("*")
        if folder not in p.parents and p != folder
    )


def package(path: Path, entries: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
    return path


def test_a_function_name_with_a_path_writes_no_inline_code_outside(folder: Path) -> None:
    with pytest.raises(TemplateError) as refused:
        build(folder, F=function(FunctionName="../../escaped", Code={"ZipFile": "x = 1\n"}))
    assert str(refused.value) == (
        "Resources.F.Properties.FunctionName (AWS::Lambda::Function): function name "
        "'../../escaped' must be 1-64 letters, digits, '-' or '_'"
    )
    assert files_outside(folder) == []
    assert not (folder / "escaped").exists()


def test_a_function_name_with_a_path_extracts_no_zip_outside(folder: Path) -> None:
    package(folder / "app.zip", {"app.py": "x = 1\n"})
    with pytest.raises(TemplateError) as refused:
        build(folder, F=function(FunctionName="../../../zipped", Code="app.zip"))
    assert str(refused.value).startswith("Resources.F.Properties.FunctionName ")
    assert files_outside(folder) == []
    assert not (folder / "zipped").exists()


@pytest.mark.parametrize("name", ["../../../escaped", "a/b", "..", "with space", "x" * 141])
def test_a_layer_name_lambda_refuses_is_an_error_and_writes_nothing(
    folder: Path, name: str
) -> None:
    with pytest.raises(TemplateError) as refused:
        build(folder, L=layer(LayerName=name, Content="src/"))
    assert str(refused.value) == (
        f"Resources.L.Properties.LayerName (AWS::Lambda::LayerVersion): layer name {name!r} "
        "must be 1-140 letters, digits, '-' or '_' (or a layer ARN)"
    )
    assert files_outside(folder) == []
    assert not (folder / ".eventmesh").exists()


def test_a_layer_name_given_as_a_layer_arn_is_its_last_part(folder: Path) -> None:
    built = build(
        folder,
        L=layer(LayerName="arn:aws:lambda:us-east-1:123456789012:layer:deps", Content="src/"),
    )
    assert built.resources["L"].ref == "arn:aws:lambda:us-east-1:123456789012:layer:deps:1"


def test_zip_entries_naming_parent_or_absolute_paths_stay_inside(folder: Path) -> None:
    archive = package(
        folder / "slip.zip",
        {"../../slip.txt": "a", "/abs.txt": "b", "dir/../../up.txt": "c", "app.py": "x = 1\n"},
    )
    built = build(folder, F=function(FunctionName="slip", Code=archive.name))
    code: Path = built.mesh.get_function("slip").code  # type: ignore[attr-defined]
    assert code == (folder / ".eventmesh" / "zip" / "slip").resolve()
    assert files_outside(folder) == []
    assert sorted(p.name for p in code.rglob("*.txt")) == ["abs.txt", "slip.txt", "up.txt"]


def test_a_symbolic_link_in_a_zip_is_not_made_a_link(folder: Path) -> None:
    with zipfile.ZipFile(folder / "link.zip", "w") as archive:
        link = zipfile.ZipInfo("secrets")
        link.external_attr = 0o120777 << 16  # a symbolic link, as zip -y stores it
        archive.writestr(link, "/etc")
        archive.writestr("app.py", "x = 1\n")
    built = build(folder, F=function(FunctionName="linked", Code="link.zip"))
    code: Path = built.mesh.get_function("linked").code  # type: ignore[attr-defined]
    assert not (code / "secrets").is_symlink()
    assert (code / "secrets").read_text() == "/etc"


def test_a_changed_zip_leaves_no_file_of_the_previous_one(folder: Path) -> None:
    archive = package(folder / "app.zip", {"app.py": "x = 1\n", "old.py": "gone = True\n"})
    built = build(folder, F=function(FunctionName="z", Code="app.zip"))
    code: Path = built.mesh.get_function("z").code  # type: ignore[attr-defined]
    assert (code / "old.py").is_file()
    package(archive, {"app.py": "x = 2\n"})
    build(folder, F=function(FunctionName="z", Code="app.zip"))
    assert (code / "app.py").read_text() == "x = 2\n"
    assert not (code / "old.py").exists()


def test_a_function_zip_and_a_layer_zip_never_share_a_folder(folder: Path) -> None:
    package(folder / "fn.zip", {"app.py": "x = 1\n", "function.txt": ""})
    package(folder / "layer.zip", {"python/dep.py": "y = 1\n", "layer.txt": ""})
    built = build(
        folder,
        L=layer(LayerName="deps", Content="layer.zip"),
        F=function(FunctionName="layer-deps", Code="fn.zip", Layers=[{"Ref": "L"}]),
    )
    fn = built.mesh.get_function("layer-deps")
    code: Path = fn.code  # type: ignore[attr-defined]
    (layer_folder,) = fn.layers  # type: ignore[attr-defined]
    assert code != layer_folder
    assert sorted(p.name for p in code.iterdir() if p.suffix == ".txt") == ["function.txt"]
    assert sorted(p.name for p in layer_folder.iterdir() if p.suffix == ".txt") == ["layer.txt"]


def test_a_zip_larger_than_lambdas_unzipped_limit_is_refused_unextracted(folder: Path) -> None:
    # 262,144,000 bytes (250 MB) is Lambda's limit on a function's unzipped code. The sizes
    # an archive declares are what extraction may write (zipfile stops at them), so their
    # sum is checked before anything is written.
    with zipfile.ZipFile(folder / "big.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", "x = 1\n")
        with archive.open(zipfile.ZipInfo("zeros.bin"), "w", force_zip64=True) as zeros:
            block = bytes(1 << 20)
            for _ in range(250):
                zeros.write(block)
            zeros.write(b"\0")  # 262,144,001 bytes in all with app.py's 6
    with pytest.raises(TemplateError) as refused:
        build(folder, F=function(FunctionName="big", Code="big.zip"))
    assert str(refused.value) == (
        "Resources.F.Properties.Code (AWS::Lambda::Function): big.zip unzipped is "
        "262144007 bytes: Lambda's limit is 262144000 (250 MB)"
    )
    assert not (folder / ".eventmesh" / "zip" / "big").exists()


def test_a_file_that_is_not_a_zip_is_named_as_such(folder: Path) -> None:
    (folder / "app.zip").write_bytes(b"not an archive")
    with pytest.raises(TemplateError) as refused:
        build(folder, F=function(FunctionName="nz", Code="app.zip"))
    assert str(refused.value) == (
        "Resources.F.Properties.Code (AWS::Lambda::Function): app.zip is a file, not a "
        "folder or a .zip archive"
    )


def test_two_versions_of_one_layer_from_two_zips_keep_their_own_files(folder: Path) -> None:
    package(folder / "one.zip", {"python/dep.py": "version = 1\n"})
    package(folder / "two.zip", {"python/dep.py": "version = 2\n"})
    built = build(
        folder,
        A=layer(LayerName="deps", Content="one.zip"),
        B=layer(LayerName="deps", Content="two.zip"),
    )
    one, two = built.resources["A"].value, built.resources["B"].value
    assert one != two
    assert {(one / "python/dep.py").read_text(), (two / "python/dep.py").read_text()} == {
        "version = 1\n",
        "version = 2\n",
    }


@pytest.mark.parametrize(
    "linked", [".eventmesh", ".eventmesh/zip", ".eventmesh/zip/fn", ".eventmesh/inline/fn"]
)
def test_a_link_planted_in_the_mesh_folder_is_refused_and_nothing_is_touched(
    folder: Path, linked: str
) -> None:
    # A repository could ship .eventmesh/... as a link to a folder of the user's: the mesh
    # would empty it to extract an archive there, or write index.py into it.
    precious = folder.parent / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("mine")
    (folder / linked).parent.mkdir(parents=True, exist_ok=True)
    (folder / linked).symlink_to(precious, target_is_directory=True)
    package(folder / "app.zip", {"app.py": "x = 1\n"})
    code: Any = {"ZipFile": "x = 1\n"} if "inline" in linked else "app.zip"
    with pytest.raises(TemplateError) as refused:
        build(folder, F=function(FunctionName="fn", Code=code))
    assert "is a symbolic link" in str(refused.value)
    assert sorted(p.name for p in precious.rglob("*")) == ["keep.txt"]
    assert (precious / "keep.txt").read_text() == "mine"


def _flagged(path: Path, local: int, central: int, value: bytes) -> Path:
    """``path`` with ``value`` written at an offset of its (one) local header and of its
    central directory entry."""
    data = bytearray(path.read_bytes())
    directory = data.rfind(b"PK\x01\x02")
    data[local : local + len(value)] = value
    data[directory + central : directory + central + len(value)] = value
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        # general purpose flag bit 0: encrypted (zipfile: RuntimeError, password required)
        ((6, 8, b"\x01\x00"), "is encrypted, password required for extraction"),
        # compression method 99 (AES): zipfile: NotImplementedError
        ((8, 10, b"\x63\x00"), "That compression method is not supported"),
    ],
)
def test_an_archive_zipfile_cannot_extract_is_an_error_naming_code(
    folder: Path, how: tuple[int, int, bytes], expected: str
) -> None:
    archive = _flagged(package(folder / "odd.zip", {"app.py": "x = 1\n"}), *how)
    with pytest.raises(TemplateError) as refused:
        build(folder, F=function(FunctionName="odd", Code=archive.name))
    message = str(refused.value)
    assert message.startswith(
        "Resources.F.Properties.Code (AWS::Lambda::Function): odd.zip cannot be extracted: "
    )
    assert expected in message


def test_an_archive_with_a_file_and_a_folder_of_one_name_is_an_error_naming_code(
    folder: Path,
) -> None:
    package(folder / "clash.zip", {"app": "x", "app/x.py": "y"})
    with pytest.raises(TemplateError) as refused:
        build(folder, F=function(FunctionName="clash", Code="clash.zip"))
    assert str(refused.value).startswith(
        "Resources.F.Properties.Code (AWS::Lambda::Function): clash.zip cannot be extracted: "
    )


def test_a_second_template_reusing_a_function_name_leaves_the_first_ones_code(
    folder: Path,
) -> None:
    # Two templates of one folder built into one mesh: the second's function of the same
    # name is refused, and before its inline code or archive could replace the first's.
    mesh = Mesh(telemetry=Telemetry(enabled=False))
    package(folder / "a.zip", {"app.py": "who = 'a'\n"})
    package(folder / "b.zip", {"app.py": "who = 'b'\n"})
    first = {
        "Inline": function(FunctionName="Inline", Handler="index.handler", Code={"ZipFile": "a"}),
        "Zipped": function(FunctionName="Zipped", Code="a.zip"),
    }
    build_application({"Resources": first}, mesh=mesh, template_dir=folder)
    for logical_id, properties in (
        ("Inline", {"Handler": "index.handler", "Code": {"ZipFile": "b"}}),
        ("Zipped", {"Code": "b.zip"}),
    ):
        with pytest.raises(TemplateError) as refused:
            build_application(
                {"Resources": {logical_id: function(FunctionName=logical_id, **properties)}},
                mesh=mesh,
                template_dir=folder,
            )
        assert str(refused.value) == (
            f"Resources.{logical_id}.Properties.FunctionName (AWS::Lambda::Function): a "
            f"function named {logical_id!r} is already registered"
        )
    assert (folder / ".eventmesh/inline/Inline/index.py").read_text() == "a"
    assert (folder / ".eventmesh/zip/Zipped/app.py").read_text() == "who = 'a'\n"


def test_a_link_planted_as_the_inline_index_is_replaced_not_written_through(
    folder: Path,
) -> None:
    precious = folder.parent / "precious.txt"
    precious.write_text("mine")
    inline = folder / ".eventmesh" / "inline" / "fn"
    inline.mkdir(parents=True)
    (inline / "index.py").symlink_to(precious)
    build(folder, F=function(FunctionName="fn", Handler="index.handler", Code={"ZipFile": "x"}))
    assert precious.read_text() == "mine"
    assert not (inline / "index.py").is_symlink()
    assert (inline / "index.py").read_text() == "x"
