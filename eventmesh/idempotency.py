"""Idempotency: run a handler once per key; see :mod:`eventmesh.middleware.idempotency`.

The configuration (:class:`Idempotency`), the layer it binds to (:class:`IdempotencyLayer`)
and the :func:`idempotent` decorator stay importable from here.
"""

from eventmesh.middleware.idempotency import COMPLETED as COMPLETED
from eventmesh.middleware.idempotency import IN_PROGRESS as IN_PROGRESS
from eventmesh.middleware.idempotency import KEY_PREFIX as KEY_PREFIX
from eventmesh.middleware.idempotency import MAX_IN_PROGRESS as MAX_IN_PROGRESS
from eventmesh.middleware.idempotency import (
    MISSING,
    Idempotency,
    IdempotencyLayer,
    KeyPath,
    idempotent,
)
from eventmesh.middleware.idempotency import InProgressPolicy as InProgressPolicy
from eventmesh.middleware.idempotency import KeySpec as KeySpec

__all__ = ["MISSING", "Idempotency", "IdempotencyLayer", "KeyPath", "idempotent"]
