"""A template's parameters: defaults, overrides from the command line, pseudo parameters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eventmesh.sam._errors import TemplateError

__all__ = ["parameter_values", "pseudo_parameters"]


def pseudo_parameters(region: str, account_id: str, stack_name: str) -> dict[str, Any]:
    """``AWS::Region`` and the others, as the mesh has them (``sam local``'s defaults for the
    rest)."""
    partition = "aws-cn" if region.startswith("cn-") else "aws"
    if region.startswith("us-gov-"):
        partition = "aws-us-gov"
    suffix = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return {
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::Partition": partition,
        "AWS::StackName": stack_name,
        "AWS::StackId": (
            f"arn:{partition}:cloudformation:{region}:{account_id}:stack/{stack_name}/"
            "51af3dc0-da77-11e4-872e-1234567db123"
        ),
        "AWS::URLSuffix": suffix,
        "AWS::NotificationARNs": [],
    }


def parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, Any]:
    """Each declared parameter's value: its override, else its ``Default``."""
    declared = template.get("Parameters") or {}
    if not isinstance(declared, dict):
        raise TemplateError("Parameters: must be a mapping")
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TemplateError(f"--parameter-overrides: the template has no parameter {unknown[0]}")
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        spec = spec if isinstance(spec, dict) else {}
        if name in overrides:
            values[name] = overrides[name]
        elif "Default" in spec:
            values[name] = spec["Default"]
        else:
            raise TemplateError(
                f"Parameters.{name}: no Default and no value given "
                f"(--parameter-overrides {name}=...)"
            )
    return values
