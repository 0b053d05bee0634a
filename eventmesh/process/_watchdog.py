"""An environment's memory limit where no memory cgroup can be had: a watchdog on its RSS.

A thread per running process reads the resident memory of the process and its descendants
(``VmRSS`` in /proc/<pid>/status) every ``interval`` seconds, and the process's own high-water
mark (``VmHWM``, which the kernel keeps, so a peak between two reads is not missed). Past the
limit it sends SIGKILL to the process and its descendants, as Lambda's limit does, and
remembers that it did. Weaker than a cgroup: memory allocated faster than the interval can
overshoot the limit briefly, and memory held by a process that left the tree (double-forked)
is not counted. A thread rather than an asyncio task, so that a busy event loop cannot delay
a kill; it sleeps on an Event, so stopping it is immediate.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

from . import _procfs

#: Seconds between two reads: about 30 us of CPU per read, so 20 reads a second per
#: environment cost nothing measurable, and an overshoot lasts at most this long.
DEFAULT_INTERVAL = 0.05


class RssWatchdog:
    kind = "watchdog"

    def __init__(self, limit_bytes: int, *, interval: float = DEFAULT_INTERVAL) -> None:
        self._limit = limit_bytes
        self._interval = interval
        self._pid: int | None = None
        self._pidfd: int | None = None
        self._peak = 0
        self._killed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wrapper_step(self) -> None:
        return None

    def attach(self, pid: int) -> None:
        """Watch this process (the one just spawned) from now until it ends."""
        self._halt()
        self._pid, self._peak, self._killed = pid, 0, False
        try:  # a pidfd makes the kill safe against pid reuse (Linux 5.3+)
            self._pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self._pidfd = None
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._watch, args=(pid, self._stop), name=f"eventmesh-rss-{pid}", daemon=True
        )
        self._thread.start()

    def _sample(self, pid: int) -> int | None:
        """Resident bytes of the process and its descendants, None once it has ended."""
        rss = _procfs.status_kb(pid, "VmRSS")
        if rss is None:
            return None
        hwm = _procfs.status_kb(pid, "VmHWM") or 0
        total = rss + sum(
            _procfs.status_kb(child, "VmRSS") or 0 for child in _procfs.descendants(pid)
        )
        return max(total, hwm) * 1024

    def _watch(self, pid: int, stop: threading.Event) -> None:
        while True:
            used = self._sample(pid)
            if used is None:
                return
            self._peak = max(self._peak, used)
            if used > self._limit:
                self._killed = True
                self._kill(pid)
                return
            if stop.wait(self._interval):
                return

    def _kill(self, pid: int) -> None:
        tree = _procfs.descendants(pid)
        with contextlib.suppress(OSError):
            if self._pidfd is not None:
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
        for child in tree:
            with contextlib.suppress(OSError):
                os.kill(child, signal.SIGKILL)

    def peak_bytes(self) -> int:
        if self._pid is not None and self._thread is not None and self._thread.is_alive():
            self._peak = max(self._peak, self._sample(self._pid) or 0)
        return self._peak

    def memory_killed(self, returncode: int | None) -> bool:
        return self._killed

    def _halt(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(self._pidfd)
            self._pidfd = None

    def reset(self) -> None:
        self._halt()
        self._pid, self._peak, self._killed = None, 0, False

    def close(self) -> None:
        self.reset()


class ReportOnly:
    """No limit (not Linux, or the null sandbox): the peak is read while the process runs,
    where /proc has it, and 0 is reported otherwise."""

    kind = "none"

    def __init__(self) -> None:
        self._pid: int | None = None
        self._peak = 0

    def wrapper_step(self) -> None:
        return None

    def attach(self, pid: int) -> None:
        self._pid, self._peak = pid, 0

    def peak_bytes(self) -> int:
        if self._pid is not None:
            self._peak = max(self._peak, (_procfs.status_kb(self._pid, "VmHWM") or 0) * 1024)
        return self._peak

    def memory_killed(self, returncode: int | None) -> bool:
        return False

    def reset(self) -> None:
        self._pid, self._peak = None, 0

    def close(self) -> None:
        self.reset()
