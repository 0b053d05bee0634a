"""Helpers for the process environment tests: is a process alive, this process's children,
waiting for a condition."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

CodeDir = Callable[..., Path]
"""The code_dir fixture: ``code_dir(app=\"...\", bootstrap=\"...\")`` -> a directory."""


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def children() -> set[int]:
    """This process's child processes (any state)."""
    me = str(os.getpid())
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields[1] == me:
            found.add(int(entry))
    return found


async def eventually(check: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait (polling) until ``check()`` holds; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"not true after {timeout} s: {check}")
        await asyncio.sleep(0.02)
