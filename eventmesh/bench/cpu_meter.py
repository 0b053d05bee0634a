"""CPU time per call, on the caller's side and in its child processes.

On a shared machine a warm invocation's latency grows with everyone else's load; the CPU it
costs does not, much. The meter reads this process's CPU time (``time.process_time``) and
that of its direct children (the process environments: ``utime + stime`` of
``/proc/PID/stat``) when it starts and when it stops, and divides by the calls counted
meanwhile. A child that ended in between is left out (its time is not readable any more).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["CpuMeter", "child_cpu_seconds"]

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name, in parentheses, may hold spaces: the fields follow the last ")".
    return text[text.rfind(")") + 2 :].split()


def child_cpu_seconds() -> dict[int, float]:
    """CPU seconds (user + system) of each live direct child of this process, by pid."""
    own = os.getpid()
    seconds: dict[int, float] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return seconds
    for entry in entries:
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        # After the name: state, ppid (index 1), ..., utime (11), stime (12).
        if fields is not None and len(fields) > 12 and int(fields[1]) == own:
            seconds[int(entry)] = (int(fields[11]) + int(fields[12])) / _TICK
    return seconds


class CpuMeter:
    """``start()``, count ``calls``, ``stop()``: then ``own_us`` and ``children_us`` per call."""

    def __init__(self) -> None:
        self.calls = 0
        self._own = 0.0
        self._children: dict[int, float] = {}
        self.own_us = 0.0
        self.children_us = 0.0

    def start(self) -> None:
        self.calls = 0
        self._children = child_cpu_seconds()
        self._own = time.process_time()

    def stop(self) -> None:
        own = time.process_time() - self._own
        now = child_cpu_seconds()
        children = sum(now[pid] - then for pid, then in self._children.items() if pid in now)
        calls = max(self.calls, 1)
        self.own_us = round(own / calls * 1e6, 1)
        self.children_us = round(children / calls * 1e6, 1)
