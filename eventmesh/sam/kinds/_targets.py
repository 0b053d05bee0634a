"""What a kind checks of an ARN a template names as a target: that the mesh has it, of the
service the ARN says (an SQS ARN names a queue, not a topic of that name), or that it stands
for a resource of the template the mesh left out.

One check for every kind that names targets (rules, Scheduler schedules, a bucket's
notifications)."""

from __future__ import annotations

from eventmesh._errors import EventMeshError
from eventmesh._function import Function, FunctionTarget
from eventmesh.resources.bus import Bus
from eventmesh.resources.queue import Queue
from eventmesh.resources.stream import Stream
from eventmesh.resources.topic import Topic
from eventmesh.sam._errors import TemplateError
from eventmesh.sam._model import BuildContext

__all__ = [
    "find_target",
    "has_target",
    "is_function",
    "is_standard_queue",
    "left_out_resource",
    "outside_reach",
]

_SERVICE_KINDS: dict[str, type] = {"sqs": Queue, "sns": Topic, "kinesis": Stream, "events": Bus}
"""The mesh's resource an ARN of each service names (the mesh finds resources by name alone,
whatever service an ARN says)."""


def _service(arn: str) -> str | None:
    parts = arn.split(":", 3)
    return parts[2] if len(parts) > 3 and parts[0] == "arn" else None


def find_target(context: BuildContext, arn: str) -> object | None:
    """The function (with its qualifier) or the resource of the mesh ``arn`` names (built
    from the template, or declared in code before it), if it is of the ARN's service; a plain
    name finds a function or resource of that name. None when there is none."""
    service = _service(arn)
    if service == "lambda":
        return _function(context, arn)
    found: object | None = context.find(arn)
    if found is None and service is None:
        return _function(context, arn)  # a qualified name: "name:alias"
    kind = _SERVICE_KINDS.get(service or "")
    if kind is not None and not isinstance(found, kind):
        return None
    return found


def _function(context: BuildContext, name: str) -> FunctionTarget | None:
    """A function by name or ARN, its version or alias too."""
    try:
        return context.mesh.resolve_function(name)
    except (EventMeshError, LookupError):
        return None


def has_target(context: BuildContext, arn: str) -> bool:
    """Whether ``arn`` names a function (any qualifier) or a resource of its service."""
    return find_target(context, arn) is not None


def is_function(found: object | None) -> bool:
    """Whether what :func:`find_target` found is a function (or a qualified one)."""
    return isinstance(found, Function | FunctionTarget)


def is_standard_queue(context: BuildContext, arn: str) -> bool:
    """Whether ``arn`` names a standard (not FIFO) queue: what EventBridge and Scheduler take
    as a dead-letter queue."""
    found = find_target(context, arn)
    return isinstance(found, Queue) and not found.fifo


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


def outside_reach(context: BuildContext, arn: str) -> str | None:
    """Why the mesh cannot reach what ``arn`` names, when it names nothing the mesh has: a
    resource of the template the mesh leaves out (a state machine), or an ARN of nothing in
    the template or the mesh (a service not emulated: Step Functions, SSM, an API destination;
    or another stack's, account's or region's resource). A kind warns with it and leaves the
    target out, as the issue's rule asks (``--strict`` refuses). None when ``arn`` is wrong
    instead (an error): not an ARN, naming a resource of another service by its name, or a
    version or alias a function of the mesh does not have."""
    left_out = left_out_resource(context, arn)
    if left_out is not None:
        return f"{left_out} is a resource left out (not emulated)"
    if not arn.startswith("arn:") or context.find(arn) is not None:
        return None
    parts = arn.split(":")
    if len(parts) == 8 and parts[2] == "lambda" and _function(context, ":".join(parts[:7])):
        return None  # a function of the mesh with a version or alias it lacks: an error
    return f"{arn} is neither in the template nor in the mesh (not emulated, or another stack's)"
