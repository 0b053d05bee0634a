"""What a kind checks of an ARN a template names as a target: that the mesh has it."""

from __future__ import annotations

from eventmesh._errors import EventMeshError
from eventmesh.sam._model import BuildContext

__all__ = ["has_target"]


def has_target(context: BuildContext, arn: str) -> bool:
    """Whether ``arn`` names a function (any qualifier) or a resource of the mesh (built from
    the template, or declared in code before it)."""
    if arn.startswith("arn:") and arn.split(":", 3)[2:3] == ["lambda"]:
        try:
            context.mesh.resolve_function(arn)
        except (EventMeshError, LookupError):
            return False
        return True
    return context.find(arn) is not None
