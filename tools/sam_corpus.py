"""Load every SAM template of a folder of public templates and count how they fare.

Usage (from the repository root)::

    uv run python tools/sam_corpus.py FOLDER                 # counts per outcome
    uv run python tools/sam_corpus.py FOLDER --list          # and each template's outcome
    uv run python tools/sam_corpus.py FOLDER --json out.json # every outcome, for a diff

FOLDER holds the templates (``template.yaml``/``template.yml`` found recursively), for
example a checkout of aws-samples/serverless-patterns kept OUTSIDE this repository (public
templates are read, never copied in). Each template is built with
:func:`eventmesh.sam.load_template` into a fresh in-memory mesh (nothing runs), parameters
without a default given a dummy value (the first allowed value, a number's minimum, else
``dummy<parameter name>`` in lower case letters and digits: one per parameter, as bucket names
must differ). What a build writes (``.eventmesh`` beside a template: extracted ``.zip``
packages) stays in FOLDER.

Outcomes: ``built`` (with or without warnings), ``error`` (a :class:`TemplateError`, grouped
by its message with names and numbers blurred into a shape) and ``crash`` (any other
exception: a bug). The warnings are grouped the same way: the start-up list of what is not
emulated is counted by resource type.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

from eventmesh import Mesh
from eventmesh.sam import TemplateError, load_template
from eventmesh.sam._yaml import load_document


def dummy_parameters(document: Any) -> dict[str, str]:
    """A value for each parameter that has no default."""
    values: dict[str, str] = {}
    parameters = document.get("Parameters") if isinstance(document, dict) else None
    if not isinstance(parameters, dict):
        return values
    for name, spec in parameters.items():
        if not isinstance(spec, dict) or "Default" in spec:
            continue
        allowed = spec.get("AllowedValues")
        kind = str(spec.get("Type", "String"))
        if isinstance(allowed, list) and allowed:
            values[name] = str(allowed[0])
        elif kind == "Number" or kind == "List<Number>":
            values[name] = str(spec.get("MinValue", 1))
        elif "List" in kind:
            values[name] = "dummy1,dummy2"
        else:
            values[name] = re.sub(r"[^a-z0-9]", "", f"dummy{name.lower()}")[:63]
    return values


_SHAPES = [
    (re.compile(r"Resources\.[A-Za-z0-9]+"), "Resources.X"),
    (re.compile(r"'[^']*'"), "'…'"),
    (re.compile(r'"[^"]*"'), '"…"'),
    (re.compile(r"arn:[^\s,;)]+"), "ARN"),
    (re.compile(r"/[^\s,;:)]+"), "PATH"),
    (re.compile(r"\b\d+\b"), "N"),
]


def shape(message: str) -> str:
    """The message with the names that differ per template blurred."""
    first = message.strip().splitlines()[0] if message.strip() else message
    for pattern, replacement in _SHAPES:
        first = pattern.sub(replacement, first)
    return first[:240]


def load_one(path: Path) -> tuple[str, str, list[str]]:
    """(outcome, detail, warnings) of one template."""
    try:
        document = load_document(path, [])
        parameters = dummy_parameters(document)
        application = load_template(path, parameters=parameters, mesh=Mesh())
    except TemplateError as exc:
        return "error", str(exc), []
    except Exception:  # a crash is what this script is looking for
        return "crash", traceback.format_exc(limit=-3), []
    return "built", "", list(application.warnings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--list", action="store_true", help="print each template's outcome")
    parser.add_argument("--json", type=Path, help="write every outcome to this file")
    options = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    root = options.folder.resolve()
    paths = sorted(p for p in root.rglob("template.y*ml") if ".aws-sam" not in p.parts)
    outcomes: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    warnings: Counter[str] = Counter()
    not_emulated: Counter[str] = Counter()
    results: dict[str, dict[str, Any]] = {}
    for path in paths:
        outcome, detail, warned = load_one(path)
        name = str(path.relative_to(root))
        results[name] = {"outcome": outcome, "detail": detail, "warnings": warned}
        outcomes[outcome] += 1
        if outcome != "built":
            errors[f"{outcome}: {shape(detail)}"] += 1
        for warning in warned:
            if warning.startswith("not emulated, left out: "):
                for kind in re.findall(r"\(([A-Za-z0-9:]+)\)", warning):
                    not_emulated[kind] += 1
            else:
                warnings[shape(warning)] += 1
        if options.list:
            print(f"{outcome:6} {name}: {shape(detail)}" if detail else f"{outcome:6} {name}")
    print(f"{len(paths)} templates: " + ", ".join(f"{n} {o}" for o, n in outcomes.most_common()))
    print("\nFailures by shape:")
    for text, count in errors.most_common():
        print(f"{count:4}  {text}")
    print("\nWarnings by shape (top 40):")
    for text, count in warnings.most_common(40):
        print(f"{count:4}  {text}")
    print("\nNot emulated, by type (top 30):")
    for text, count in not_emulated.most_common(30):
        print(f"{count:4}  {text}")
    if options.json:
        options.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
