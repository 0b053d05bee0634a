"""Running ``eventmesh`` as a real process: one call to its end, or a worker read line by
line while it runs."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def environment(**extra: str) -> dict[str, str]:
    """This process's environment without any EVENTMESH_* setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTMESH_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def eventmesh(
    *arguments: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``eventmesh ARGUMENTS`` to its end: its status, stdout and stderr."""
    return subprocess.run(
        [sys.executable, "-m", "eventmesh.cli", *arguments],
        cwd=cwd,
        env=env if env is not None else environment(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


class Running:
    """``eventmesh ARGUMENTS`` running; its stderr lines as they come (the log)."""

    def __init__(self, *arguments: str, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "eventmesh.cli", *arguments],
            cwd=cwd,
            env=env if env is not None else environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:
            for line in self.process.stdout:
                self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        """The first line (from now) containing ``text``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.stop(signal.SIGKILL)
                raise AssertionError(f"no line with {text!r}; saw {self.seen}") from None
            self.seen.append(line)
            if text in line:
                return line

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Send ``signum``; the exit status (every line read into :attr:`seen`)."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.reader.join()
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return code
