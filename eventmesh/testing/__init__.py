"""Helpers for testing code built on eventmesh: a clock you drive, and recording destinations."""

from __future__ import annotations

from typing import Any

from eventmesh._clock import TimerHandle, VirtualClock, settle
from eventmesh._destinations import MessageAttributes

__all__ = ["RecordingDestination", "TimerHandle", "VirtualClock", "settle"]


class RecordingDestination:
    """A destination that keeps what it is sent, for assertions.

    ``messages`` holds each message; ``attributes`` the attributes sent with it (or None).
    """

    def __init__(self, name: str = "recording") -> None:
        self.name = name
        self.messages: list[Any] = []
        self.attributes: list[MessageAttributes | None] = []

    async def send(self, message: Any, attributes: MessageAttributes | None = None) -> None:
        self.messages.append(message)
        self.attributes.append(attributes)

    def __repr__(self) -> str:
        return f"<RecordingDestination {self.name} ({len(self.messages)} messages)>"
