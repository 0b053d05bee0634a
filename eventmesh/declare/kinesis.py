"""A Kinesis stream as declared: ``CreateStream``'s ``ShardCount`` and ``StreamModeDetails``,
or ``AWS::Kinesis::Stream``'s properties (with ``RetentionPeriodHours``), checked with
Kinesis's words and turned into ``mesh.stream``'s settings.

An on-demand stream has :data:`ON_DEMAND_SHARDS` shards, as a new on-demand Kinesis stream
has, and keeps them (the mesh does not reshard).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from eventmesh.declare import DeclarationError
from eventmesh.declare._values import integer
from eventmesh.resources.stream import MAX_SHARDS, Stream

__all__ = [
    "ON_DEMAND_SHARDS",
    "KinesisDeclarationError",
    "StreamDeclaration",
    "declared_mode",
    "stream_settings",
]

ON_DEMAND_SHARDS = 4
MIN_RETENTION_HOURS = 24
MAX_RETENTION_HOURS = 8760


class KinesisDeclarationError(DeclarationError):
    """What Kinesis refuses, with its error code (``ValidationException``,
    ``InvalidArgumentException``)."""

    def __init__(self, code: str, message: str, member: str | None = None) -> None:
        super().__init__(message, member)
        self.code = code


@dataclass(frozen=True, slots=True)
class StreamDeclaration:
    mode: str
    """``PROVISIONED`` or ``ON_DEMAND``."""
    shards: int
    retention: float | None = None
    """Seconds, or None for Kinesis's default (24 hours)."""


def stream_settings(
    mode_details: Any = None, shard_count: Any = None, retention_hours: Any = None
) -> StreamDeclaration:
    """The stream's mode, shard count and retention (``RetentionPeriodHours``, 24 to 8760).
    Without ``StreamModeDetails`` a stream is provisioned and needs ``ShardCount``; an
    on-demand one refuses it and has :data:`ON_DEMAND_SHARDS`."""
    details = mode_details if mode_details is not None else {}
    mode = details.get("StreamMode", "PROVISIONED") if isinstance(details, dict) else None
    if mode not in ("PROVISIONED", "ON_DEMAND"):
        raise KinesisDeclarationError(
            "ValidationException",
            "StreamModeDetails.StreamMode must be PROVISIONED or ON_DEMAND.",
            "StreamModeDetails",
        )
    if mode == "ON_DEMAND":
        if shard_count is not None:
            raise KinesisDeclarationError(
                "ValidationException",
                "ShardCount is not allowed for ON_DEMAND streams.",
                "ShardCount",
            )
        count: int | None = ON_DEMAND_SHARDS
    elif shard_count is None:
        raise KinesisDeclarationError(
            "ValidationException", "ShardCount is required for PROVISIONED streams.", "ShardCount"
        )
    else:
        count = integer(shard_count)
    if count is None or not 1 <= count <= MAX_SHARDS:
        raise KinesisDeclarationError(
            "InvalidArgumentException",
            f"ShardCount must be from 1 to {MAX_SHARDS}, got {shard_count}.",
            "ShardCount",
        )
    retention = None
    if retention_hours is not None:
        hours = integer(retention_hours)
        if hours is None or not MIN_RETENTION_HOURS <= hours <= MAX_RETENTION_HOURS:
            raise KinesisDeclarationError(
                "InvalidArgumentException",
                f"Minimum allowed retention period is {MIN_RETENTION_HOURS} hours. Maximum "
                f"allowed retention period is {MAX_RETENTION_HOURS} hours.",
                "RetentionPeriodHours",
            )
        retention = hours * 3600.0
    return StreamDeclaration(mode, count, retention)


_MODES: weakref.WeakKeyDictionary[Stream, str] = weakref.WeakKeyDictionary()


def declared_mode(stream: Stream, mode: str | None = None) -> str | None:
    """The capacity mode ``stream`` was declared with (``mode`` given: remember it), for
    whoever describes it (a stream declared in code has none: None)."""
    if mode is not None:
        _MODES[stream] = mode
    return _MODES.get(stream)
