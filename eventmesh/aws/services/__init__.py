"""One module per AWS service; importing one registers its operation handlers.

The endpoint imports every module listed here (a new service is a new module and one line).
"""

from __future__ import annotations

import importlib

__all__ = ["SERVICE_MODULES", "load_services"]

SERVICE_MODULES: tuple[str, ...] = (
    "events",
    "kinesis",
    "scheduler",
    "s3",
    "lambda_",
    "sqs",
    "sns",
)
"""Modules of this package, by name, that register operations."""


def load_services() -> None:
    """Import every service module (idempotent)."""
    for name in SERVICE_MODULES:
        importlib.import_module(f"{__name__}.{name}")
