"""A CloudFormation template built into a mesh, resource by resource, in dependency order.

Each resource is built after everything it names (``Ref``, ``Fn::GetAtt``, ``Fn::Sub``,
``DependsOn``); a cycle is an error naming it. A resource whose ``Condition`` is false is left
out. Types registered in :mod:`eventmesh.sam.kinds` are built; types that mean nothing locally
(IAM, permissions, log groups) are skipped quietly; the rest are listed in one warning (or
refused up front with ``strict``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventmesh._mesh import Mesh
from eventmesh.sam._errors import TemplateError
from eventmesh.sam._intrinsics import NO_VALUE, references, resolve
from eventmesh.sam._model import Built, CfnResource
from eventmesh.sam._parameters import parameter_values, pseudo_parameters
from eventmesh.sam._translate import LOCAL_CODE_BUCKET
from eventmesh.sam.kinds import IGNORED_TYPES, kind_for, load_kinds

__all__ = ["Application", "build_application"]

logger = logging.getLogger("eventmesh.sam")


@dataclass(slots=True)
class Application:
    """A template built into a mesh."""

    mesh: Mesh
    resources: dict[str, Built]
    """Every resource built (or skipped) by logical id."""
    outputs: dict[str, Any]
    """The template's ``Outputs``, resolved (an output that cannot be is left out, warned)."""
    warnings: list[str] = field(default_factory=list)
    """What the template holds that the mesh ignores or cannot emulate, one line each."""
    unsupported: dict[str, str] = field(default_factory=dict)
    """Resources the mesh cannot emulate, logical id to type."""


class _Builder:
    """Builds one template; also the :class:`~eventmesh.sam._model.BuildContext` of its kinds
    and the :class:`~eventmesh.sam._intrinsics.Scope` of its values."""

    def __init__(
        self,
        template: Mapping[str, Any],
        mesh: Mesh,
        template_dir: Path,
        code_paths: Mapping[str, Path],
        parameters: Mapping[str, str],
        stack_name: str,
    ) -> None:
        self.template = template
        self._mesh = mesh
        self._template_dir = template_dir
        self._code_paths = dict(code_paths)
        self._stack_name = stack_name
        self._pseudo = pseudo_parameters(mesh.region, mesh.account_id, stack_name)
        self._parameters = parameter_values(template, parameters)
        self._conditions: dict[str, bool] = {}
        self._deciding: set[str] = set()
        self._built: dict[str, Built] = {}
        self._left_out: set[str] = set()
        self._after: list[Callable[[], None]] = []
        self.warnings: list[str] = []
        resources = template.get("Resources")
        if not isinstance(resources, dict) or not resources:
            raise TemplateError("Resources: a template needs at least one resource")
        self.resources: dict[str, dict[str, Any]] = resources

    # -- BuildContext -----------------------------------------------------------------------
    @property
    def mesh(self) -> Mesh:
        return self._mesh

    @property
    def region(self) -> str:
        return self._mesh.region

    @property
    def account_id(self) -> str:
        return self._mesh.account_id

    @property
    def stack_name(self) -> str:
        return self._stack_name

    @property
    def template_dir(self) -> Path:
        return self._template_dir

    def code_path(self, resource: CfnResource) -> Path | None:
        code = resource.properties.get("Code", resource.properties.get("Content"))
        if isinstance(code, dict) and code.get("S3Bucket") == LOCAL_CODE_BUCKET:
            return self._code_paths.get(str(code.get("S3Key")))
        if isinstance(code, str):
            return self._code_paths.get(resource.logical_id)
        return None

    def built(self, logical_id: str) -> Built:
        try:
            return self._built[logical_id]
        except KeyError:
            raise TemplateError(f"Resources.{logical_id}: not built (yet)") from None

    def find(self, name_or_arn: str) -> Any:
        found = self._mesh.context.find_resource(name_or_arn)
        if found is None:
            try:
                found = self._mesh.get_function(name_or_arn)
            except LookupError:
                return None
        return found

    @property
    def built_resources(self) -> dict[str, Built]:
        return dict(self._built)

    def warn(self, resource: CfnResource, message: str) -> None:
        self.warnings.append(f"{resource.where} ({resource.type}): {message}")

    def after_build(self, step: Callable[[], None]) -> None:
        self._after.append(step)

    # -- Scope ------------------------------------------------------------------------------
    def ref(self, name: str, where: str) -> Any:
        if name in self._parameters:
            return self._parameters[name]
        if name in self._pseudo:
            return self._pseudo[name]
        return self._resource(name, where).ref

    def get_att(self, logical_id: str, attribute: str, where: str) -> Any:
        built = self._resource(logical_id, where)
        if attribute not in built.attributes:
            raise TemplateError(
                f"{where}: Fn::GetAtt {logical_id}.{attribute}: the resource has no attribute "
                f"{attribute} locally"
            )
        return built.attributes[attribute]

    def condition(self, name: str, where: str) -> bool:
        if name in self._conditions:
            return self._conditions[name]
        conditions = self.template.get("Conditions") or {}
        if name not in conditions:
            raise TemplateError(f"{where}: no condition {name} in Conditions")
        if name in self._deciding:
            raise TemplateError(f"Conditions.{name}: refers to itself")
        self._deciding.add(name)
        try:
            value = resolve(conditions[name], self, f"Conditions.{name}")
        finally:
            self._deciding.discard(name)
        if not isinstance(value, bool):
            raise TemplateError(f"Conditions.{name}: must be true or false, got {value!r}")
        self._conditions[name] = value
        return value

    def _resource(self, logical_id: str, where: str) -> Built:
        if logical_id in self._built:
            return self._built[logical_id]
        if logical_id in self._left_out:
            raise TemplateError(f"{where}: {logical_id} is left out (its Condition is false)")
        raise TemplateError(f"{where}: no parameter or resource named {logical_id}")

    # -- building ---------------------------------------------------------------------------
    def order(self) -> list[str]:
        """Logical ids, each after everything it refers to (CloudFormation's order)."""
        needs: dict[str, set[str]] = {}
        for logical_id, resource in self.resources.items():
            if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
                raise TemplateError(f"Resources.{logical_id}: a resource needs a Type")
            named = set(references(resource.get("Properties") or {}))
            depends = resource.get("DependsOn") or []
            named.update([depends] if isinstance(depends, str) else depends)
            for missing in sorted(set(depends if isinstance(depends, list) else [depends])):
                if missing not in self.resources:
                    raise TemplateError(
                        f"Resources.{logical_id}.DependsOn: no resource named {missing}"
                    )
            needs[logical_id] = {name for name in named if name in self.resources}
        ordered: list[str] = []
        state: dict[str, int] = {}  # 1: on the path, 2: done

        def visit(logical_id: str, path: list[str]) -> None:
            if state.get(logical_id) == 2:
                return
            if state.get(logical_id) == 1:
                cycle = [*path[path.index(logical_id) :], logical_id]
                raise TemplateError(f"Resources: circular dependency: {' -> '.join(cycle)}")
            state[logical_id] = 1
            for other in sorted(needs[logical_id]):
                visit(other, [*path, logical_id])
            state[logical_id] = 2
            ordered.append(logical_id)

        for logical_id in self.resources:
            visit(logical_id, [])
        return ordered

    def unsupported(self) -> dict[str, str]:
        return {
            logical_id: resource["Type"]
            for logical_id, resource in self.resources.items()
            if kind_for(resource["Type"]) is None and resource["Type"] not in IGNORED_TYPES
        }

    def build(self, order: list[str], unsupported: Mapping[str, str]) -> None:
        for logical_id in order:
            raw = self.resources[logical_id]
            condition = raw.get("Condition")
            if condition is not None and not self.condition(
                str(condition), f"Resources.{logical_id}.Condition"
            ):
                self._left_out.add(logical_id)
                continue
            where = f"Resources.{logical_id}.Properties"
            properties = resolve(raw.get("Properties") or {}, self, where)
            if properties is NO_VALUE or not isinstance(properties, dict):
                properties = {}
            resource = CfnResource(logical_id, raw["Type"], properties, raw.get("Metadata") or {})
            kind = kind_for(resource.type)
            if kind is None:
                self._built[logical_id] = self._placeholder(resource)
                continue
            self._built[logical_id] = kind.build(resource, self)
        for step in self._after:
            step()
        if unsupported:
            listed = ", ".join(f"{name} ({kind})" for name, kind in unsupported.items())
            self.warnings.insert(0, f"not emulated, left out: {listed}")

    def _placeholder(self, resource: CfnResource) -> Built:
        """``Ref`` and ``Fn::GetAtt`` of a resource the mesh skips: the logical id, and ARNs
        made of it, so what refers to it (a role's ARN on a function) still resolves."""
        service = resource.type.split("::")[1].lower() if "::" in resource.type else "unknown"
        partition = self._pseudo["AWS::Partition"]
        arn = f"arn:{partition}:{service}:{self.region}:{self.account_id}:{resource.logical_id}"
        attributes: dict[str, Any] = _Placeholder(resource.logical_id, arn)
        return Built(None, resource.logical_id, attributes)

    def outputs(self) -> dict[str, Any]:
        answers: dict[str, Any] = {}
        for name, output in (self.template.get("Outputs") or {}).items():
            if not isinstance(output, dict):
                continue
            condition = output.get("Condition")
            if condition is not None and not self.condition(str(condition), f"Outputs.{name}"):
                continue
            try:
                answers[name] = resolve(output.get("Value"), self, f"Outputs.{name}.Value")
            except TemplateError as exc:
                self.warnings.append(f"Outputs.{name}: not resolved locally: {exc}")
        return answers


class _Placeholder(dict[str, Any]):
    """Attributes of a skipped resource: ``Arn`` is an ARN of its logical id, anything else
    the logical id."""

    def __init__(self, logical_id: str, arn: str) -> None:
        super().__init__(Arn=arn)
        self._logical_id = logical_id

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str)

    def __missing__(self, key: str) -> Any:
        return self._logical_id


def build_application(
    template: Mapping[str, Any],
    *,
    mesh: Mesh | None = None,
    template_dir: Path | str = ".",
    code_paths: Mapping[str, Path] | None = None,
    parameters: Mapping[str, str] | None = None,
    stack_name: str = "local",
    strict: bool = False,
) -> Application:
    """Build a plain CloudFormation ``template`` (already translated from SAM) into ``mesh``
    (a new in-memory :class:`~eventmesh.Mesh` if not given). ``strict`` refuses a template
    holding a resource the mesh cannot emulate, before building anything."""
    load_kinds()
    builder = _Builder(
        template,
        mesh if mesh is not None else Mesh(),
        Path(template_dir),
        code_paths or {},
        parameters or {},
        stack_name,
    )
    unsupported = builder.unsupported()
    if strict and unsupported:
        listed = ", ".join(f"{name} ({kind})" for name, kind in unsupported.items())
        raise TemplateError(f"--strict: the mesh cannot emulate {listed}")
    builder.build(builder.order(), unsupported)
    if strict and builder.warnings:
        raise TemplateError("--strict: " + "; ".join(builder.warnings))
    outputs = builder.outputs()
    return Application(
        builder.mesh, builder.built_resources, outputs, builder.warnings, unsupported
    )
