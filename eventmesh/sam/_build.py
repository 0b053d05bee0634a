"""A CloudFormation template built into a mesh, resource by resource, in dependency order.

Parameters are checked and conditions evaluated first (each once; a condition may name others;
a cycle or an unknown name is an error). Each resource is then built after everything it
names (``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, inside any function, and ``DependsOn``); a cycle
is an error naming it. A resource whose ``Condition`` is false is left out: a ``Ref`` or
``Fn::GetAtt`` to it is an error, unless it sits in the branch of an ``Fn::If`` not taken.
Types registered in :mod:`eventmesh.sam.kinds` are built; types that mean nothing locally
(IAM, permissions, log groups) are skipped quietly, their properties not even resolved; the
rest are listed in one warning (or
refused up front with ``strict``, as is any property a kind warns it ignores). ``Outputs``
are resolved last; one that cannot be is left out with a warning.

Nothing is logged here: the warnings are on the :class:`Application`, for whoever runs it to
log once at start (:meth:`Application.log_warnings`). A ``NoEcho`` parameter's value is
replaced by ``****`` in every error and warning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventmesh._errors import ConfigurationError
from eventmesh._mesh import Mesh
from eventmesh.resources._base import Resource
from eventmesh.sam._errors import TemplateError
from eventmesh.sam._intrinsics import NO_VALUE, condition_value, references, resolve
from eventmesh.sam._model import Built, CfnResource
from eventmesh.sam._parameters import (
    ParameterValues,
    pseudo_parameters,
    redact,
    resolve_parameters,
)
from eventmesh.sam._translate import LOCAL_CODE_BUCKET
from eventmesh.sam._yaml import check_size
from eventmesh.sam.kinds import IGNORED_TYPES, kind_for, load_kinds

__all__ = ["Application", "build_application"]

logger = logging.getLogger("eventmesh.sam")


@dataclass(slots=True)
class Application:
    """A template built into a mesh."""

    mesh: Mesh
    resources: dict[str, Built]
    """Every resource built (or skipped) by logical id; not those left out by a false
    ``Condition``."""
    outputs: dict[str, Any]
    """The template's ``Outputs``, resolved (an output that cannot be is left out, warned)."""
    warnings: list[str] = field(default_factory=list)
    """What the template holds that the mesh ignores or cannot emulate, one line each."""
    unsupported: dict[str, str] = field(default_factory=dict)
    """Resources the mesh cannot emulate, logical id to type."""
    left_out: list[str] = field(default_factory=list)
    """Resources whose ``Condition`` is false, in template order."""
    secrets: list[str] = field(default_factory=list, repr=False)
    """The ``NoEcho`` parameters' values, for :meth:`redact`."""

    def redact(self, text: str) -> str:
        """``text`` with every ``NoEcho`` parameter value replaced by ``****``: for what is
        logged of the application, such as its outputs (which keep the values)."""
        return redact(text, self.secrets)

    def log_warnings(self, log: logging.Logger | None = None) -> None:
        """Log each warning once (``WARNING``, on ``log``, else the ``eventmesh.sam``
        logger): what runs the application calls this once at start."""
        for warning in self.warnings:
            (log or logger).warning("%s", warning)


def _mapping_section(template: Mapping[str, Any], name: str) -> dict[str, Any]:
    section = template.get(name)
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise TemplateError(f"{name}: must be a mapping")
    return section


class _Builder:
    """Builds one template; also the :class:`~eventmesh.sam._model.BuildContext` of its kinds
    and the :class:`~eventmesh.sam._intrinsics.Scope` of its values."""

    def __init__(
        self,
        template: Mapping[str, Any],
        mesh: Mesh,
        template_dir: Path,
        code_paths: Mapping[str, Path],
        parameters: ParameterValues,
        stack_name: str,
    ) -> None:
        self.template = template
        self._mesh = mesh
        self._template_dir = template_dir
        self._code_paths = dict(code_paths)
        self._stack_name = stack_name
        self._pseudo = pseudo_parameters(mesh.region, mesh.account_id, stack_name)
        self._parameters = parameters.values
        self._conditions: dict[str, bool] = {}
        self._deciding: list[str] = []
        self._built: dict[str, Built] = {}
        self._owners: dict[int, str] = {}  # a mesh resource's id() -> the logical id that made it
        self._left_out: dict[str, str] = {}
        self._after: list[Callable[[], None]] = []
        self.warnings: list[str] = []
        resources = template.get("Resources")
        if not isinstance(resources, dict) or not resources:
            raise TemplateError("Resources: a template needs at least one resource")
        self.resources: dict[str, Any] = resources
        self._condition_bodies = _mapping_section(template, "Conditions")
        self._mappings = _mapping_section(template, "Mappings")
        self._outputs = _mapping_section(template, "Outputs")

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
        found = self._code_path(resource)
        if found is not None and "\x00" in str(found):  # (the OS refuses such a path)
            given = ("Code", "Content", "DefinitionS3Location")
            member = next((m for m in given if m in resource.properties), "Code")
            raise resource.error("a path cannot hold a NUL character", member)
        return found

    def _code_path(self, resource: CfnResource) -> Path | None:
        properties = resource.properties
        code = properties.get("Code", properties.get("Content"))
        if code is None:
            code = properties.get("DefinitionS3Location")
        if isinstance(code, dict) and LOCAL_CODE_BUCKET in (
            code.get("S3Bucket"),
            code.get("Bucket"),
        ):
            return self._code_paths.get(str(code.get("S3Key", code.get("Key"))))
        if isinstance(code, str):
            found = self._code_paths.get(resource.logical_id)
            if found is None and not code.startswith("s3://"):  # plain CloudFormation, built
                if "\x00" in code:
                    return Path(code)  # refused by code_path, which names the property
                found = (self._template_dir / code).resolve()  # without translate()
            return found
        return None

    def built(self, logical_id: str) -> Built:
        if logical_id in self._built:
            return self._built[logical_id]
        if logical_id in self._left_out:
            raise TemplateError(
                f"Resources.{logical_id}: left out (its Condition "
                f"{self._left_out[logical_id]} is false)"
            )
        raise TemplateError(f"Resources.{logical_id}: not built (yet)")

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

    @property
    def left_out(self) -> list[str]:
        return list(self._left_out)

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
        built = self._resource(name, "Ref", where)
        if built.ref is None:
            raise TemplateError(f"{where}: Ref {name}: the resource has no value for Ref locally")
        return built.ref

    def get_att(self, logical_id: str, attribute: str, where: str) -> Any:
        if logical_id in self._parameters or logical_id in self._pseudo:
            raise TemplateError(
                f"{where}: Fn::GetAtt {logical_id}.{attribute}: {logical_id} is a parameter, "
                "not a resource (use Ref)"
            )
        built = self._resource(logical_id, f"Fn::GetAtt {logical_id}.{attribute}", where)
        if attribute not in built.attributes:
            kind = self.resources[logical_id].get("Type")
            known = ", ".join(sorted(built.attributes)) or "none"
            raise TemplateError(
                f"{where}: Fn::GetAtt {logical_id}.{attribute}: {logical_id} ({kind}) has no "
                f"attribute {attribute} locally (it has: {known}); declare a parameter for "
                "the value instead"
            )
        return built.attributes[attribute]

    def condition(self, name: str, where: str) -> bool:
        if name in self._conditions:
            return self._conditions[name]
        if name not in self._condition_bodies:
            known = ", ".join(sorted(self._condition_bodies)) or "none"
            raise TemplateError(f"{where}: no condition {name} in Conditions (it has: {known})")
        if name in self._deciding:
            cycle = [*self._deciding[self._deciding.index(name) :], name]
            raise TemplateError(f"Conditions: circular reference: {' -> '.join(cycle)}")
        self._deciding.append(name)
        try:
            value = condition_value(
                self._condition_bodies[name], _ConditionScope(self), f"Conditions.{name}"
            )
        finally:
            self._deciding.pop()
        self._conditions[name] = value
        return value

    def mapping(self, name: str, where: str) -> Mapping[str, Any]:
        found = self._mappings.get(name)
        if not isinstance(found, dict):
            known = ", ".join(sorted(self._mappings)) or "none"
            raise TemplateError(f"{where}: no mapping {name} in Mappings (it has: {known})")
        return found

    def parameter_or_pseudo(self, name: str, where: str) -> Any:
        if name in self._parameters:
            return self._parameters[name]
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self.resources:
            raise TemplateError(
                f"{where}: Ref {name}: a condition can refer to parameters only, not to the "
                f"resource {name}"
            )
        raise TemplateError(f"{where}: Ref {name}: no parameter named {name}")

    def _resource(self, logical_id: str, what: str, where: str) -> Built:
        if logical_id in self._built:
            return self._built[logical_id]
        if logical_id in self._left_out:
            raise TemplateError(
                f"{where}: {what}: {logical_id} is left out (its Condition "
                f"{self._left_out[logical_id]} is false); refer to it inside "
                f"Fn::If [{self._left_out[logical_id]}, ...]"
            )
        if logical_id in self.resources:
            raise TemplateError(f"{where}: {what}: {logical_id} is not built yet")
        raise TemplateError(f"{where}: {what}: no parameter or resource named {logical_id}")

    # -- building ---------------------------------------------------------------------------
    def decide_conditions(self) -> None:
        """Evaluate every condition once (CloudFormation checks them all)."""
        for name in self._condition_bodies:
            self.condition(name, f"Conditions.{name}")

    def order(self) -> list[str]:
        """Logical ids, each after everything it refers to (CloudFormation's order)."""
        needs: dict[str, set[str]] = {}
        for logical_id, resource in self.resources.items():
            where = f"Resources.{logical_id}"
            if not isinstance(resource, dict):
                raise TemplateError(f"{where}: a resource is a mapping with a Type")
            if "Type" not in resource:
                raise TemplateError(f"{where}: a resource needs a Type")
            if not isinstance(resource["Type"], str):
                raise TemplateError(f"{where}.Type: must be a string, like AWS::SQS::Queue")
            properties = resource.get("Properties")
            if properties is not None and not isinstance(properties, dict):
                raise TemplateError(f"{where}.Properties: must be a mapping")
            condition = resource.get("Condition")
            if condition is not None and not isinstance(condition, str):
                raise TemplateError(f"{where}.Condition: must be a condition's name")
            named = set(references(properties or {}))
            named.update(self._depends_on(logical_id, resource.get("DependsOn")))
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

    def _depends_on(self, logical_id: str, depends: Any) -> list[str]:
        where = f"Resources.{logical_id}.DependsOn"
        if depends is None:
            return []
        names = [depends] if isinstance(depends, str) else depends
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise TemplateError(f"{where}: must be a resource's name or a list of them")
        for name in names:
            if name not in self.resources:
                raise TemplateError(f"{where}: no resource named {name}")
        return names

    def _kept(self, logical_id: str) -> bool:
        """Whether the resource's ``Condition`` (if any) is true; left out if not."""
        condition = self.resources[logical_id].get("Condition")
        if condition is None:
            return True
        if self.condition(condition, f"Resources.{logical_id}.Condition"):
            return True
        self._left_out[logical_id] = condition
        return False

    def unsupported(self) -> dict[str, str]:
        """The resources kept whose type the mesh cannot emulate."""
        return {
            logical_id: resource["Type"]
            for logical_id, resource in self.resources.items()
            if self._kept(logical_id)
            and kind_for(resource["Type"]) is None
            and resource["Type"] not in IGNORED_TYPES
        }

    def build(self, order: list[str], unsupported: Mapping[str, str]) -> None:
        for logical_id in order:
            if logical_id in self._left_out:
                continue
            raw = self.resources[logical_id]
            self._warn_depends_on_left_out(logical_id, raw.get("DependsOn"))
            kind = kind_for(raw["Type"])
            if kind is None:
                # Nothing local reads its properties: they are not resolved (an IAM policy's
                # Fn::Select over an ARN the mesh only stands in for must not fail the build).
                placeholder = CfnResource(logical_id, raw["Type"], {}, raw.get("Metadata") or {})
                self._built[logical_id] = self._placeholder(placeholder)
                continue
            where = f"Resources.{logical_id}.Properties"
            properties = resolve(raw.get("Properties") or {}, self, where)
            if properties is NO_VALUE or not isinstance(properties, dict):
                properties = {}
            resource = CfnResource(logical_id, raw["Type"], properties, raw.get("Metadata") or {})
            try:
                self._built[logical_id] = built = kind.build(resource, self)
            except TemplateError:
                raise
            except ConfigurationError as exc:
                raise TemplateError(f"{resource.where} ({resource.type}): {exc}") from exc
            self._check_unique(resource, built)
        for step in self._after:
            step()
        if unsupported:
            listed = ", ".join(f"{name} ({kind})" for name, kind in unsupported.items())
            self.warnings.insert(0, f"not emulated, left out: {listed}")

    def _check_unique(self, resource: CfnResource, built: Built) -> None:
        """Two resources of the template may not be one resource of the mesh: CloudFormation
        refuses a second queue, topic, stream, bucket or bus of a name already taken (``...
        already exists``), where the mesh would hand the first one back."""
        if resource.type not in _NAMED_TYPES or not isinstance(built.value, Resource):
            return
        other = self._owners.setdefault(id(built.value), resource.logical_id)
        if other != resource.logical_id:
            raise resource.error(
                f"{built.value.name} already exists: Resources.{other} has that name "
                "(names are unique per account and region)"
            )

    def _warn_depends_on_left_out(self, logical_id: str, depends: Any) -> None:
        """``DependsOn`` a left-out resource: CloudFormation refuses the template; here the
        dependency is ignored, and said."""
        for name in [depends] if isinstance(depends, str) else depends or []:
            if name in self._left_out:
                self.warnings.append(
                    f"Resources.{logical_id}.DependsOn: {name} is left out (its Condition "
                    f"{self._left_out[name]} is false): CloudFormation refuses the template "
                    f"(Unresolved resource dependencies [{name}]); ignored here"
                )

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
        for name, output in self._outputs.items():
            where = f"Outputs.{name}"
            if not isinstance(output, dict) or "Value" not in output:
                self.warnings.append(f"{where}: an output is a mapping with a Value; left out")
                continue
            condition = output.get("Condition")
            if condition is not None and not self.condition(str(condition), where):
                continue
            try:
                value = resolve(output["Value"], self, f"{where}.Value")
            except TemplateError as exc:
                self.warnings.append(f"{exc} (the output is left out)")
                continue
            if value is not NO_VALUE:
                answers[name] = value
        return answers


class _ConditionScope:
    """The names a condition may use: parameters, pseudo parameters, other conditions,
    mappings; never a resource."""

    def __init__(self, builder: _Builder) -> None:
        self._builder = builder

    def ref(self, name: str, where: str) -> Any:
        return self._builder.parameter_or_pseudo(name, where)

    def get_att(self, logical_id: str, attribute: str, where: str) -> Any:
        raise TemplateError(
            f"{where}: Fn::GetAtt {logical_id}.{attribute}: a condition can refer to "
            "parameters only"
        )

    def condition(self, name: str, where: str) -> bool:
        return self._builder.condition(name, where)

    def mapping(self, name: str, where: str) -> Mapping[str, Any]:
        return self._builder.mapping(name, where)


_NAMED_TYPES = frozenset(
    (
        "AWS::SQS::Queue",
        "AWS::SNS::Topic",
        "AWS::Kinesis::Stream",
        "AWS::S3::Bucket",
        "AWS::Events::EventBus",
        "AWS::Scheduler::Schedule",
    )
)
"""Types whose resource is named by the template, one per name (other kinds may hand back a
resource they use, as an event source mapping its queue)."""


class _Placeholder(dict[str, Any]):
    """Attributes of a skipped resource: ``Arn`` is an ARN of its logical id, anything else
    the logical id (kinds recognise it as a resource not emulated)."""

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
    parameters: Mapping[str, Any] | None = None,
    stack_name: str = "local",
    strict: bool = False,
) -> Application:
    """Build a plain CloudFormation ``template`` (already translated from SAM) into ``mesh``
    (a new in-memory :class:`~eventmesh.Mesh` if not given). ``parameters`` override the
    template's defaults (text, as ``--parameter-overrides`` gives them). ``strict`` refuses a
    template holding a resource the mesh cannot emulate, before building anything, and one
    whose kinds ignore a property, after. The application's :attr:`~Application.warnings` are
    not logged here: call :meth:`Application.log_warnings` once at start."""
    check_size(template, "template")
    values = resolve_parameters(template, parameters or {})
    try:
        return _build(template, mesh, template_dir, code_paths, values, stack_name, strict)
    except TemplateError as exc:
        if not values.secrets:
            raise
        raise TemplateError(values.redact(str(exc))) from None
    except Exception as exc:
        # A kind's bug stays itself, unless its message would show a NoEcho value.
        masked = values.redact(str(exc))
        if masked == str(exc):
            raise
        raise TemplateError(f"{type(exc).__name__}: {masked}") from None


def _build(
    template: Mapping[str, Any],
    mesh: Mesh | None,
    template_dir: Path | str,
    code_paths: Mapping[str, Path] | None,
    values: ParameterValues,
    stack_name: str,
    strict: bool,
) -> Application:
    load_kinds()
    builder = _Builder(
        template,
        mesh if mesh is not None else Mesh(),
        Path(template_dir),
        code_paths or {},
        values,
        stack_name,
    )
    builder.decide_conditions()
    order = builder.order()
    unsupported = builder.unsupported()
    if strict and unsupported:
        listed = ", ".join(f"{name} ({kind})" for name, kind in unsupported.items())
        raise TemplateError(f"--strict: the mesh cannot emulate {listed}")
    builder.build(order, unsupported)
    if strict and builder.warnings:
        raise TemplateError("--strict: " + "; ".join(builder.warnings))
    outputs = builder.outputs()
    return Application(
        builder.mesh,
        builder.built_resources,
        outputs,
        [values.redact(warning) for warning in builder.warnings],
        unsupported,
        builder.left_out,
        values.secrets,
    )
