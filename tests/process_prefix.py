"""Process environments need this interpreter's environment visible inside their private /tmp:
a virtual environment under the host's /tmp is hidden there, and a process function is then
refused at declaration. Their tests skip saying so (`.ci/run` keeps its environment out of /tmp).
"""

from __future__ import annotations

import sys

import pytest

from eventmesh.process.sandbox import detect_mechanisms, under_host_tmp


def hidden_python_environment() -> str | None:
    """Why process environments cannot run this interpreter here, or None."""
    if detect_mechanisms().private_tmp and under_host_tmp(sys.prefix):
        return (
            f"this Python environment ({sys.prefix}) is under /tmp, which a process "
            "environment's private /tmp hides: put it elsewhere (UV_PROJECT_ENVIRONMENT)"
        )
    return None


skip_if_hidden = pytest.mark.skipif(
    hidden_python_environment() is not None, reason=str(hidden_python_environment())
)
