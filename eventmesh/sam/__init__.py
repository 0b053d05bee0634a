"""A serverless application from its SAM (or CloudFormation) template, in one mesh.

``load_template("template.yaml")`` reads the template (JSON or YAML with CloudFormation's
short tags), translates SAM to CloudFormation with AWS's own translator (``pip install
"eventmesh[sam]"``), resolves parameters, conditions and intrinsics, and builds every resource
the mesh emulates (functions, queues, topics, streams, buckets, buses, rules, schedules, APIs)
into a :class:`~eventmesh.Mesh`. ``eventmesh run template.yaml`` runs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from eventmesh._mesh import Mesh
from eventmesh.sam._build import Application, build_application
from eventmesh.sam._errors import TemplateError
from eventmesh.sam._origin import name_origin
from eventmesh.sam._parameters import parse_overrides, pseudo_parameters, resolve_parameters
from eventmesh.sam._translate import translate
from eventmesh.sam._yaml import load_document, parse_document

__all__ = [
    "Application",
    "TemplateError",
    "build_application",
    "load_template",
    "parse_document",
    "parse_overrides",
]


def load_template(
    path: str | Path,
    *,
    parameters: Mapping[str, str] | None = None,
    mesh: Mesh | None = None,
    strict: bool = False,
    stack_name: str = "local",
) -> Application:
    """The application of the template at ``path``, built into ``mesh`` (a new in-memory
    mesh if not given; its region and account are the template's ``AWS::Region`` and
    ``AWS::AccountId``). ``parameters`` override the template's parameter defaults (text, as
    :func:`parse_overrides` reads ``--parameter-overrides``); ``strict`` refuses a template
    holding what the mesh cannot emulate.

    Every problem is one :class:`TemplateError` naming its place in the template
    (``Resources.Orders.Properties.VisibilityTimeout: ...``). What the mesh ignores or cannot
    emulate is not an error but :attr:`Application.warnings`: nothing is logged here, so the
    caller (``eventmesh run``) logs them once at start with
    :meth:`Application.log_warnings`.
    """
    path = Path(path)
    notes: list[str] = []
    document = load_document(path, notes)
    mesh = mesh if mesh is not None else Mesh()
    overrides = dict(parameters or {})
    values = resolve_parameters(document, overrides)
    try:
        translated = translate(
            document,
            path.parent,
            region=mesh.region,
            parameters={
                **values.values,
                **pseudo_parameters(mesh.region, mesh.account_id, stack_name),
            },
        )
    except TemplateError as exc:
        if not values.secrets:
            raise
        raise TemplateError(values.redact(str(exc))) from None
    except Exception as exc:  # from inside the translator: itself, unless showing a NoEcho value
        masked = values.redact(str(exc))
        if masked == str(exc):
            raise
        raise TemplateError(f"{type(exc).__name__}: {masked}") from None
    try:
        application = build_application(
            translated.template,
            mesh=mesh,
            template_dir=path.parent,
            code_paths=translated.code_paths,
            parameters=overrides,
            stack_name=stack_name,
            strict=strict,
        )
    except TemplateError as exc:
        named = name_origin(str(exc), document)
        if named == str(exc):
            raise
        raise TemplateError(named) from None
    application.warnings.extend(notes)
    return application
