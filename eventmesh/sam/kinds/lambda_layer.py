"""``AWS::Lambda::LayerVersion`` (what SAM's ``AWS::Serverless::LayerVersion`` becomes): a
layer whose content is a local folder (SAM's ``ContentUri``, or a plain template's ``Content:
./layer``) or a local ``.zip`` (extracted into ``.eventmesh/layer-zip/<name>-<n>``), known to
the functions that list its ARN in ``Layers``.

A folder laid out as Lambda extracts a layer (``python/``, ``bin/``, ``lib/``, ...) is used
as it is. A folder of Python source instead (``.py`` files or a ``requirements.txt`` at its
root, no ``python/`` folder: what ``sam build`` builds with ``Metadata: BuildMethod:
python3.x``, which puts those files under ``python/``) is laid out that way by the mesh: a
``python`` link to it in ``.eventmesh/layers/<name>-<n>/`` beside the template (or the user's
cache). Its requirements are not installed: they come from the mesh's interpreter.

``LayerName`` (else the logical id) names it; each layer version of one name in the mesh
takes the next number, as Lambda numbers them. ``Ref`` gives the layer version's ARN
(``arn:aws:lambda:<region>:<account>:layer:<name>:<n>``), ``Fn::GetAtt ... LayerVersionArn``
the same. ``CompatibleRuntimes``, ``CompatibleArchitectures``, ``Description`` and
``LicenseInfo`` are metadata. Content in S3 is refused: there is nothing local to read.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import ClassVar

from eventmesh.sam._model import BuildContext, Built, CfnResource
from eventmesh.sam.kinds import register
from eventmesh.sam.kinds._lambda import (
    CodeError,
    code_folder,
    local_layers,
    mesh_owned_folder,
)

__all__ = ["LambdaLayerVersion"]


class LambdaLayerVersion:
    types: ClassVar[tuple[str, ...]] = ("AWS::Lambda::LayerVersion",)

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        name = resource.properties.get("LayerName") or resource.logical_id
        if not isinstance(name, str):
            raise resource.error(f"must be a string, got {name!r}", "LayerName")
        given = name
        if name.startswith("arn:"):
            name = name.rsplit(":", 1)[-1]
        if not _LAYER_NAME.fullmatch(name):
            raise resource.error(
                f"layer name {given!r} must be 1-140 letters, digits, '-' or '_' (or a layer ARN)",
                "LayerName",
            )
        folder = context.code_path(resource)
        if folder is None:
            raise resource.error(
                "the layer's content is not a local folder: give a local ContentUri (SAM) "
                "or Content (CloudFormation) folder",
                "Content",
            )
        known = local_layers(context.mesh)
        prefix = f"arn:aws:lambda:{context.region}:{context.account_id}:layer:{name}:"
        number = 1 + sum(1 for arn in known if arn.startswith(prefix))
        arn = f"{prefix}{number}"
        try:
            folder = code_folder(context.template_dir, "layer-zip", f"{name}-{number}", folder)
        except (OSError, zipfile.BadZipFile) as exc:
            raise resource.error(f"cannot extract {folder}: {exc}", "Content") from None
        except CodeError as exc:
            raise resource.error(str(exc), "Content") from None
        if not folder.is_dir():
            raise resource.error(f"the layer's folder {folder} does not exist", "Content")
        if _is_python_source(folder):
            try:
                folder = _python_layout(context.template_dir, f"{name}-{number}", folder)
            except OSError as exc:
                raise resource.error(str(exc), "Content") from None
        known[arn] = folder
        return Built(folder, arn, {"LayerVersionArn": arn})


_LAYER_NAME = re.compile(r"[A-Za-z0-9_-]{1,140}")
"""Lambda's layer names (the part after ``layer:`` in a layer ARN)."""
_LAYOUT = ("python", "bin", "lib", "nodejs", "java", "ruby", "extensions", "bootstrap")
"""What a built layer holds at its root (Lambda's /opt layout)."""


def _is_python_source(folder: Path) -> bool:
    """Python source ``sam build`` would lay out (see the module docstring)."""
    if any((folder / entry).exists() for entry in _LAYOUT):
        return False
    return (folder / "requirements.txt").is_file() or any(folder.glob("*.py"))


def _python_layout(template_dir: Path, name: str, source: Path) -> Path:
    """A folder whose ``python`` is ``source``, as ``sam build`` would lay it out."""

    def fill(folder: Path) -> None:
        link = folder / "python"
        if link.is_symlink() and link.resolve() == source.resolve():
            return
        if link.is_symlink():
            link.unlink()
        link.symlink_to(source.resolve(), target_is_directory=True)

    return mesh_owned_folder(template_dir, "layers", name, fill)


register(LambdaLayerVersion())
