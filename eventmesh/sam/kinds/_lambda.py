"""What the Lambda kinds share: reading integer properties as CloudFormation does, naming a
function by name or ARN, the layers of a template known to its functions."""

from __future__ import annotations

import re
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eventmesh._errors import ConfigurationError, ResourceNotFoundError
from eventmesh._function import FunctionTarget
from eventmesh.sam._model import BuildContext, CfnResource

if TYPE_CHECKING:
    from eventmesh._mesh import Mesh

__all__ = ["function_target", "integer", "local_layers"]

_DIGITS = re.compile(r"-?[0-9]{1,18}")
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
