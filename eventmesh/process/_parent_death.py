"""An environment's process ends with the mesh's, even when the mesh is killed outright.

A stop kills every environment's process group; a mesh killed by SIGKILL (or the OOM killer)
cannot, and its runtimes, each in a session of its own, would run on as orphans (a custom
runtime's loop polling a Runtime API that is gone). On Linux the kernel can send a process a
signal when its parent dies (``PR_SET_PDEATHSIG``), kept across ``exec``: ``setpriv
--pdeathsig KILL`` (util-linux) sets it and execs the command in place, so the pid stays the
runtime's. ``preexec_fn`` could set it too, but it runs Python between fork and exec in a
process with threads, which Python's documentation warns against.
"""

from __future__ import annotations

import functools
import shutil
import sys
from collections.abc import Sequence

__all__ = ["ended_with_parent"]


@functools.cache
def _setpriv() -> str | None:
    if not sys.platform.startswith("linux"):
        return None
    return shutil.which("setpriv")


def ended_with_parent(argv: Sequence[str]) -> list[str]:
    """``argv`` run so that the kernel kills it when its parent (this process) dies, where the
    machine can; ``argv`` as it is otherwise."""
    setpriv = _setpriv()
    if setpriv is None:
        return list(argv)
    return [setpriv, "--pdeathsig", "KILL", "--", *argv]
