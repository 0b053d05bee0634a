"""Helpers for the Lambda kinds' tests: a template folder outside /tmp (process environments
get a private /tmp that hides the host's), written from texts."""

from __future__ import annotations

import shutil
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CODE_PARENT = "/var/tmp"


@contextmanager
def template_folder(files: dict[str, str]) -> Iterator[Path]:
    """A folder under /var/tmp holding ``files`` (relative path -> dedented text); a file
    named ``bootstrap`` or under a ``bin`` folder is made executable. Removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="eventmesh-sam-", dir=CODE_PARENT))
    try:
        write(root, files)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
        if path.name == "bootstrap" or path.parent.name == "bin":
            path.chmod(0o755)
