"""What a kind of resource is given and gives back while a template is built.

The builder (:mod:`eventmesh.sam._build`) walks the CloudFormation resources in dependency
order. For each one it resolves the properties (every ``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ...
already replaced by values, ``AWS::NoValue`` removed), finds the :class:`Kind` registered for
its type (:mod:`eventmesh.sam.kinds`), and calls ``kind.build(resource, context)``. What the
kind returns, a :class:`Built`, says what the resource *is* in the mesh and what ``Ref`` and
``Fn::GetAtt`` give for it to the resources built after it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from eventmesh.sam._errors import TemplateError

if TYPE_CHECKING:
    from eventmesh._mesh import Mesh

__all__ = ["Built", "BuildContext", "CfnResource", "Kind"]


@dataclass(frozen=True, slots=True)
class CfnResource:
    """One resource of the CloudFormation template, its properties resolved."""

    logical_id: str
    type: str
    properties: Mapping[str, Any]
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        """``Resources.<logical id>``: how errors and warnings name the resource."""
        return f"Resources.{self.logical_id}"

    def error(self, message: str, property: str | None = None) -> TemplateError:
        """A :class:`TemplateError` naming this resource (and ``property``, a dotted path
        under ``Properties``)."""
        place = self.where if property is None else f"{self.where}.Properties.{property}"
        return TemplateError(f"{place} ({self.type}): {message}")


@dataclass(slots=True)
class Built:
    """A resource as the mesh has it.

    ``value`` is the mesh object (a :class:`~eventmesh.Queue`, a :class:`~eventmesh.Function`,
    ...) or ``None`` for a resource that means nothing locally; ``ref`` is what ``Ref`` returns
    (CloudFormation's return value for the type: a queue's URL, a topic's ARN, a function's
    name); ``attributes`` is what ``Fn::GetAtt`` returns, by attribute name.
    """

    value: Any
    ref: Any
    attributes: dict[str, Any] = field(default_factory=dict)


class BuildContext(Protocol):
    """What a kind may use while it builds one resource."""

    @property
    def mesh(self) -> Mesh: ...

    @property
    def region(self) -> str: ...

    @property
    def account_id(self) -> str: ...

    @property
    def stack_name(self) -> str: ...

    @property
    def template_dir(self) -> Path:
        """The folder of the template file: relative code paths are relative to it."""
        ...

    def code_path(self, resource: CfnResource) -> Path | None:
        """The local folder of a function's (or layer's) code: the ``CodeUri``/``ContentUri``
        the SAM template gave, before translation rewrote it as an ``s3://`` location, or a
        ``Code.S3Key``-free local ``Code``; ``None`` when the code is not local (a real S3
        location, an image)."""
        ...

    def built(self, logical_id: str) -> Built:
        """A resource built earlier (one this resource refers to is always built before it)."""
        ...

    def find(self, name_or_arn: str) -> Any:
        """The mesh's resource or function of that name or ARN, else ``None``."""
        ...

    def warn(self, resource: CfnResource, message: str) -> None:
        """Something in the resource is ignored locally (said once, at start, with the rest);
        under ``--strict`` the template is refused instead."""
        ...

    def after_build(self, step: Callable[[], None]) -> None:
        """Run ``step`` once every resource is built (for what needs the whole template:
        an API's routes that name functions, say)."""
        ...


class Kind(Protocol):
    """How one or more CloudFormation types become mesh resources.

    Register an instance with :func:`eventmesh.sam.kinds.register`; one module per kind
    (or per family of types), listed in ``eventmesh.sam.kinds.KIND_MODULES``.
    """

    types: ClassVar[tuple[str, ...]]
    """The CloudFormation types it builds, e.g. ``("AWS::SQS::Queue",)``."""

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        """Make the resource in ``context.mesh`` and say what ``Ref``/``GetAtt`` return for it;
        raise ``resource.error(...)`` for a property the mesh cannot honour."""
        ...
