"""What a kind checks of an ARN a template names as a target: that the mesh has it, or that
it stands for a resource of the template the mesh left out."""

from __future__ import annotations

from eventmesh._errors import EventMeshError
from eventmesh.sam._errors import TemplateError
from eventmesh.sam._model import BuildContext

__all__ = ["has_target", "left_out_resource"]


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


def left_out_resource(context: BuildContext, reference: str) -> str | None:
    """The logical id of a resource of the template the mesh left out (one it does not
    emulate: a state machine, a table) that ``reference`` stands for: its placeholder ARN, or
    its logical id (what ``Ref`` and the attributes other than ``Arn`` of such a resource
    give); None otherwise."""
    logical_id = reference.rpartition(":")[2] if reference.startswith("arn:") else reference
    try:
        built = context.built(logical_id)
    except TemplateError:
        return None
    if built.value is not None or built.ref != logical_id:
        return None
    return logical_id
