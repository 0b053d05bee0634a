"""What the Lambda kinds share: reading integer properties as CloudFormation does, naming a
function by name or ARN, the layers of a template known to its functions."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import weakref
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eventmesh._errors import ConfigurationError, ResourceNotFoundError
from eventmesh._function import FunctionTarget
from eventmesh.process.sandbox import under_host_tmp
from eventmesh.sam._model import BuildContext, CfnResource

if TYPE_CHECKING:
    from eventmesh._mesh import Mesh

__all__ = [
    "MESH_FOLDER",
    "UNZIPPED_LIMIT",
    "CodeError",
    "code_folder",
    "function_target",
    "integer",
    "local_layers",
    "mesh_owned_folder",
]

MESH_FOLDER = Path(".eventmesh")
"""What the mesh writes for a template (inline code, layer layouts), under its folder."""

_DIGITS = re.compile(r"-?[0-9]{1,18}")
_FOLDER_NAME = re.compile(r"[A-Za-z0-9_.-]{1,255}")
_LAYERS: weakref.WeakKeyDictionary[Mesh, dict[str, Path]] = weakref.WeakKeyDictionary()


def local_layers(mesh: Mesh) -> dict[str, Path]:
    """The layer versions built from local folders into ``mesh``, by layer version ARN (a
    function of another template built into the same mesh finds them too)."""
    found = _LAYERS.get(mesh)
    if found is None:
        found = _LAYERS[mesh] = {}
    return found


def integer(
    resource: CfnResource,
    path: str,
    value: Any,
    low: int,
    high: int,
) -> int:
    """An Integer property: an int, or the digits a parameter resolved to (parameters are
    strings), from ``low`` to ``high``; otherwise an error naming ``path``."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        number = int(value.strip())
    if number is None:
        raise resource.error(f"must be an integer, got {value!r}", path)
    if not low <= number <= high:
        raise resource.error(f"must be from {low} to {high}, got {number}", path)
    return number


def function_target(
    resource: CfnResource, context: BuildContext, name: Any, path: str
) -> FunctionTarget:
    """The function a ``FunctionName`` names: its name, its ARN, or a partial ARN, with an
    optional qualifier (``fn:live``)."""
    if not isinstance(name, str) or not name:
        raise resource.error(f"must be a function's name or ARN, got {name!r}", path)
    try:
        return context.mesh.resolve_function(name)
    except (ResourceNotFoundError, ConfigurationError):
        raise resource.error(f"no function {name!r} in the template or the mesh", path) from None


def mesh_owned_folder(
    template_dir: Path, kind: str, name: str, fill: Callable[[Path], None]
) -> Path:
    """A folder the mesh owns for a template: ``.eventmesh/<kind>/<name>`` under the template's
    folder, or under the user's cache (``$XDG_CACHE_HOME`` or ``~/.cache``, then
    ``eventmesh/<kind>/<hash of the template's folder>/<name>``) when the template's folder is
    under ``/tmp`` (hidden from process environments) or cannot be written. ``fill(folder)``
    writes its content (and should leave unchanged files untouched, so a watcher of the
    template's folder sees no change on a rebuild). ``name`` comes from the template: it must
    be one plain file name (the kinds check names as Lambda does before coming here), never a
    path that would lead out of the folder."""
    if not _FOLDER_NAME.fullmatch(name) or name in (".", ".."):
        raise OSError(f"{name!r} cannot name a folder of the mesh's ({kind})")
    base = template_dir.resolve()
    candidates: list[tuple[Path, tuple[str, ...]]] = []
    if not under_host_tmp(base):
        candidates.append((base, (str(MESH_FOLDER), kind, name)))
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256(str(base).encode()).hexdigest()[:16]
    candidates.append((cache, ("eventmesh", kind, digest, name)))
    failure: OSError | None = None
    for root, parts in candidates:
        try:
            root.mkdir(parents=True, exist_ok=True)
            folder = _own_folder(root, parts)
            fill(folder)
            return folder
        except _LinkedFolder:
            raise
        except OSError as exc:
            failure = exc
    raise OSError(f"cannot write {kind} for {name}: {failure}")


class _LinkedFolder(OSError):
    """A folder the mesh would write into is a symbolic link (see :func:`_own_folder`)."""


def _own_folder(root: Path, parts: tuple[str, ...]) -> Path:
    """``root/parts...``, made one level at a time, none of them a symbolic link: a link
    there (a repository could ship ``.eventmesh/zip/fn`` as a link to a folder of the user's)
    would have the mesh empty or write into a folder that is not its own."""
    folder = root
    for part in parts:
        folder = folder / part
        if folder.is_symlink():
            raise _LinkedFolder(
                f"{folder} is a symbolic link: the mesh writes only into folders of its own "
                "(remove the link)"
            )
        folder.mkdir(exist_ok=True)
    return folder


class CodeError(Exception):
    """A local ``Code``/``Content`` that cannot be used as it is (its message says why)."""


UNZIPPED_LIMIT = 262_144_000
"""Lambda's limit on a function's code unzipped (250 MB): a larger archive is refused before
anything of it is written."""


_ARCHIVE_FAULTS = (
    zipfile.BadZipFile,  # a bad CRC, a truncated entry
    RuntimeError,  # an encrypted entry (zipfile asks for a password)
    NotImplementedError,  # a compression method zipfile lacks
    EOFError,
    NotADirectoryError,  # a file and a folder of one name
    IsADirectoryError,
    FileExistsError,
)


def code_folder(template_dir: Path, kind: str, name: str, path: Path) -> Path:
    """``path`` as a folder of code: itself, or, for a ``.zip`` file (a ``CodeUri`` or
    ``ContentUri`` may name the deployment package), its content extracted into
    ``.eventmesh/<kind>/<name>`` (again only when the archive changed, then into an emptied
    folder, so no file of the previous archive stays), file modes kept (an executable
    ``bootstrap`` stays executable). Entry names are made relative as :mod:`zipfile` does
    (``..`` and leading ``/`` dropped); symbolic links are not made (an entry is a file).
    A file that is not an archive, or an archive over :data:`UNZIPPED_LIMIT`, is a
    :class:`CodeError`."""
    if not path.is_file():
        return path
    shown = os.path.relpath(path, template_dir) if path.is_relative_to(template_dir) else path
    if not zipfile.is_zipfile(path):
        raise CodeError(f"{shown} is a file, not a folder or a .zip archive")
    with zipfile.ZipFile(path) as archive:
        # zipfile writes no more of an entry than its declared size: their sum bounds it
        size = sum(info.file_size for info in archive.infolist())
    if size > UNZIPPED_LIMIT:
        raise CodeError(
            f"{shown} unzipped is {size} bytes: Lambda's limit is {UNZIPPED_LIMIT} (250 MB)"
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    def fill(folder: Path) -> None:
        marker = folder / ".eventmesh-zip"
        if marker.is_file() and marker.read_text() == digest:
            return
        for entry in folder.iterdir():  # the previous archive's files
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        try:
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    target = Path(archive.extract(info, folder))
                    mode = (info.external_attr >> 16) & 0o777
                    if mode and not info.is_dir():
                        target.chmod(mode | stat.S_IRUSR)
        except _ARCHIVE_FAULTS as exc:  # the archive's fault, not the folder's
            raise CodeError(f"{shown} cannot be extracted: {exc}") from None
        marker.write_text(digest)

    return mesh_owned_folder(template_dir, kind, name, fill)
