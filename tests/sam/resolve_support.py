"""Templates for the resolution tests: a kind of the tests' own (``Test::Resolve::Thing``)
that records what it is given, so the tests depend on no other kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from eventmesh import Mesh
from eventmesh._errors import ConfigurationError
from eventmesh.sam import Application, TemplateError, build_application
from eventmesh.sam._model import BuildContext, Built, CfnResource
from eventmesh.sam.kinds import register

THING = "Test::Resolve::Thing"
TABLE = "AWS::DynamoDB::Table"
"""A type no kind builds: a placeholder (its Ref is its logical id)."""


class Recorder:
    """Builds ``Test::Resolve::Thing``: records each resource (properties resolved) in build
    order. ``Ref`` is ``ref-<id>``; attributes ``Arn``, ``Name`` and ``Endpoint.Address``.
    A ``Warn`` property is warned about, ``Fail`` raises a ``ConfigurationError`` (``Crash`` a
    ``ValueError``), ``NoRef``
    gives no ``Ref`` value."""

    types: ClassVar[tuple[str, ...]] = (THING,)

    def __init__(self) -> None:
        self.built: list[CfnResource] = []
        self.code_paths: dict[str, Path | None] = {}
        self.after: list[list[str]] = []

    def build(self, resource: CfnResource, context: BuildContext) -> Built:
        self.built.append(resource)
        self.code_paths[resource.logical_id] = context.code_path(resource)
        if "Warn" in resource.properties:
            context.warn(resource, str(resource.properties["Warn"]))
        if "Fail" in resource.properties:
            raise ConfigurationError(str(resource.properties["Fail"]))
        if "Crash" in resource.properties:  # a kind's bug: not a ConfigurationError
            raise ValueError(f"cannot use {resource.properties['Crash']}")
        context.after_build(lambda: self.after.append([r.logical_id for r in self.built]))
        lid = resource.logical_id
        return Built(
            value=None,
            ref=None if "NoRef" in resource.properties else f"ref-{lid}",
            attributes={
                "Arn": f"arn:aws:test:{context.region}:{context.account_id}:thing/{lid}",
                "Name": lid,
                "Endpoint.Address": f"{lid}.local",
            },
        )

    def order(self) -> list[str]:
        return [resource.logical_id for resource in self.built]

    def properties(self, logical_id: str) -> dict[str, Any]:
        for resource in reversed(self.built):
            if resource.logical_id == logical_id:
                return dict(resource.properties)
        raise AssertionError(f"{logical_id} was not built")


RECORDER = Recorder()
register(RECORDER)


def build(template: dict[str, Any], **options: Any) -> Application:
    """``template`` built into a new mesh (the recorder reset first)."""
    RECORDER.built.clear()
    RECORDER.after.clear()
    RECORDER.code_paths.clear()
    options.setdefault("mesh", Mesh())
    return build_application(template, **options)


def resolved(value: Any, **sections: Any) -> Any:
    """What ``value`` resolves to, as an output of a template holding ``sections`` (a Thing,
    a table and whatever resources ``sections`` adds)."""
    resources = {"Thing": {"Type": THING}, "Table": {"Type": TABLE}}
    resources.update(sections.pop("Resources", {}))
    parameters = sections.pop("parameters", None)
    mesh = sections.pop("mesh", None) or Mesh()
    app = build(
        {"Resources": resources, "Outputs": {"Out": {"Value": value}}, **sections},
        parameters=parameters,
        mesh=mesh,
    )
    assert not app.warnings or not any(w.startswith("Outputs") for w in app.warnings), app.warnings
    return app.outputs["Out"]


def failure(value: Any, **sections: Any) -> str:
    """The error ``value`` makes as a property (``Resources.Probe.Properties.Value``)."""
    resources = {"Thing": {"Type": THING}, "Table": {"Type": TABLE}}
    resources.update(sections.pop("Resources", {}))
    resources["Probe"] = {"Type": THING, "Properties": {"Value": value}}
    parameters = sections.pop("parameters", None)
    with pytest.raises(TemplateError) as caught:
        build({"Resources": resources, **sections}, parameters=parameters)
    return str(caught.value)
