"""Templates a user did not write (a cloned repository's): what they can make the reader do.
Nested too deeply, YAML aliases expanding without end or referring to themselves, a byte-order
mark, included files out of the template's folder: each is a TemplateError, never a crash, a
hang, or a file's contents in a message."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventmesh import Mesh
from eventmesh.sam import TemplateError, load_template, parse_document
from eventmesh.sam._yaml import MAX_DEPTH, MAX_VALUES

QUEUE = "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n"


def write(folder: Path, text: str | bytes, name: str = "template.yaml") -> Path:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(TemplateError) as caught:
        load_template(path, mesh=Mesh())
    return str(caught.value)


def test_the_limits() -> None:
    assert (MAX_DEPTH, MAX_VALUES) == (100, 1_000_000)


def test_a_json_template_nested_too_deeply_is_an_error_not_a_crash(tmp_path: Path) -> None:
    # orjson gives up at 1024 levels; YAML, which reads JSON too, then recursed to a crash.
    deep = "[" * 1100 + "]" * 1100
    text = '{"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"Tags": ' + deep
    path = write(tmp_path, text + "}}}}", "template.json")
    assert error_of(path) == f"{path}: nested too deeply to be a template"


def test_a_yaml_template_nested_too_deeply_for_its_parser_is_an_error(tmp_path: Path) -> None:
    # PyYAML recurses while it parses: a RecursionError, which was a crash.
    deep = "[" * 500 + "]" * 500
    path = write(tmp_path, QUEUE + f"    Properties: {{Tags: {deep}}}\n")
    assert error_of(path) == f"{path}: nested too deeply to be a template"


def test_a_yaml_template_nested_deeper_than_the_limit_is_an_error(tmp_path: Path) -> None:
    deep = "[" * 97 + "]" * 97
    path = write(tmp_path, QUEUE + f"    Properties: {{Tags: {deep}}}\n")
    assert error_of(path) == (
        f"{path}: Resources.Q.Properties.Tags" + "[0]" * 96 + ": nested more than 100 levels deep"
    )
    # 100 levels are read.
    shallow = "[" * 96 + "]" * 96
    document = parse_document(f"Resources: {{Q: {{Properties: {{Tags: {shallow}}}}}}}")
    assert document["Resources"]["Q"]["Properties"]["Tags"] == eval(shallow)


def test_an_alias_inside_itself_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, QUEUE + "    Properties:\n      Tags: &loop [*loop]\n")
    assert error_of(path) == (
        f"{path}: Resources.Q.Properties.Tags[0]: a YAML alias refers to a value holding it"
    )


def test_aliases_expanding_past_the_limit_are_an_error_at_once(tmp_path: Path) -> None:
    """A billion laughs: 10 aliases of 10 aliases ... of 10 values, 10**9 values once
    expanded (the resolver and the translator walk every one)."""
    lines = ["Metadata:", "  x0: &x0 [a, a, a, a, a, a, a, a, a, a]"]
    for level in range(1, 9):
        lines.append(f"  x{level}: &x{level} [" + ", ".join([f"*x{level - 1}"] * 10) + "]")
    lines += ["Resources:", "  Q:", "    Type: AWS::SQS::Queue", "    Properties: {Tags: *x8}"]
    path = write(tmp_path, "\n".join(lines) + "\n")
    assert error_of(path) == (
        f"{path}: more than 1000000 values once its YAML aliases are expanded"
    )


def test_aliases_a_template_shares_are_read(tmp_path: Path) -> None:
    text = (
        "Metadata:\n  tags: &tags [{Key: team, Value: a}]\n"
        "Resources:\n"
        "  A: {Type: AWS::SQS::Queue, Properties: {Tags: *tags}}\n"
        "  B: {Type: AWS::SQS::Queue, Properties: {Tags: *tags}}\n"
    )
    app = load_template(write(tmp_path, text), mesh=Mesh())
    assert sorted(app.resources) == ["A", "B"]


def test_a_json_template_with_a_byte_order_mark(tmp_path: Path) -> None:
    # Saved by a Windows editor, indented with tabs (which YAML, tried second, refuses).
    text = '{\n\t"Resources": {\n\t\t"Q": {"Type": "AWS::SQS::Queue"}\n\t}\n}\n'
    path = write(tmp_path, b"\xef\xbb\xbf" + text.encode(), "template.json")
    assert sorted(load_template(path, mesh=Mesh()).resources) == ["Q"]


def test_a_yaml_template_indented_with_tabs_says_so(tmp_path: Path) -> None:
    path = write(tmp_path, "Resources:\n\tQ:\n\t\tType: AWS::SQS::Queue\n")
    assert error_of(path) == (
        f"{path}: not valid YAML or JSON: line 2, column 1: found character '\\t' that cannot "
        "start any token (while scanning for the next token); YAML is indented with spaces, "
        "never tabs"
    )


def test_a_template_holding_control_characters_is_an_error(tmp_path: Path) -> None:
    # PyYAML refuses them as it starts reading (a ReaderError, which was a crash).
    path = write(tmp_path, QUEUE.replace("Q:", "Q\x00:"))
    assert error_of(path) == (
        f"{path}: not valid YAML or JSON: unacceptable character #x0000: special characters "
        'are not allowed in "<unicode string>", position 14'
    )


PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


@pytest.mark.parametrize("content", [PRIVATE_KEY, "key = value\x00\x01binary", "[default]\na=1\n"])
def test_an_included_file_that_is_no_template_is_named_never_shown(
    tmp_path: Path, content: str
) -> None:
    """AWS::Include and DefinitionUri read a path anywhere, as sam does (the template names the
    code that runs: it is trusted as much); what is read never appears in an error."""
    (tmp_path / "id_ed25519").write_text(content)
    app = tmp_path / "app"
    app.mkdir()
    include = write(
        app,
        QUEUE + "    Properties:\n      Fn::Transform:\n        Name: AWS::Include\n"
        "        Parameters: {Location: ../id_ed25519}\n",
    )
    message = error_of(include)
    assert message.startswith(
        f"Resources.Q.Properties.Fn::Transform: AWS::Include ../id_ed25519: "
        f"{tmp_path / 'id_ed25519'}: "
    )
    definition = write(
        app,
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  A:\n    Type: AWS::Serverless::Api\n"
        "    Properties: {StageName: p, DefinitionUri: ../id_ed25519}\n",
        "api.yaml",
    )
    other = error_of(definition)
    assert other.startswith("Resources.A.Properties.DefinitionUri: ")
    for line in content.splitlines():
        for word in line.split():
            if len(word) > 3:
                assert word not in message
                assert word not in other


def test_a_template_given_as_a_dict_is_checked_too() -> None:
    from eventmesh.sam import build_application

    tags: list[object] = []
    tags.append(tags)
    template = {"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"Tags": tags}}}}
    with pytest.raises(TemplateError) as caught:
        build_application(template, mesh=Mesh())
    assert str(caught.value) == (
        "template: Resources.Q.Properties.Tags[0]: a YAML alias refers to a value holding it"
    )


def test_included_files_including_others_many_times_are_bounded(tmp_path: Path) -> None:
    """Each file small, each including the next ten times: 10**8 values once included, a
    template a cloned repository could hold (a file including itself is refused apart)."""
    include = "{'Fn::Transform': {Name: AWS::Include, Parameters: {Location: %s}}}"
    write(tmp_path, "{" + ", ".join(f"k{i}: a" for i in range(10)) + "}\n", "s0.yaml")
    for level in range(1, 9):
        items = ", ".join(f"k{i}: " + include % f"s{level - 1}.yaml" for i in range(10))
        write(tmp_path, "{" + items + "}\n", f"s{level}.yaml")
    path = write(tmp_path, QUEUE + "    Properties: {Tags: " + include % "s8.yaml" + "}\n")
    message = error_of(path)
    assert message.startswith("Resources.Q.Properties.Tags.k0.k0")
    assert message.endswith(
        ": the template includes more than 1000 files or 1000000 values in all (files "
        "including each other many times)"
    )


def test_a_definition_uri_that_is_no_regular_file_is_never_read(tmp_path: Path) -> None:
    # /dev/zero never ends: reading it filled the memory (a MemoryError, or the machine's).
    path = write(
        tmp_path,
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  A:\n    Type: AWS::Serverless::Api\n"
        "    Properties: {StageName: p, DefinitionUri: /dev/zero}\n",
    )
    assert error_of(path) == (
        "Resources.A.Properties.DefinitionUri: cannot read the template /dev/zero: not a "
        "regular file"
    )
