"""Pacing a consumer while its store fails: bounded exponential pauses, one line per outage.

A consumer loop (a queue mapping's pollers, a stream mapping's shard readers, a function's
asynchronous invocation workers, a topic's or a bus's delivery workers) whose call to the store
fails waits, then tries again, for as long as it takes: it never gives up, and it needs nothing
to resume once the store answers again.

The pause after a failure is as long as the outage has lasted so far, at least
:data:`FIRST_PAUSE` and at most :data:`MAX_PAUSE`: about 1, 1, 2, 4, 8, 10, 10 ... seconds.
That doubles the time between tries, as an exponential backoff does, but is counted from the
outage's start rather than per task, so a consumer whose several tasks all fail backs off as
one. A store that comes back is used again at most :data:`MAX_PAUSE` seconds later (plus the
time the failing call itself took: a Redis command is tried for up to the URL's ``timeout``).

The log says it once per outage, not once per try: a WARNING at the first failure (the
error's message; with its traceback when it is not a :class:`~eventmesh.BackendError`, which
may be a bug rather than an outage), DEBUG lines for the tries after it, and a WARNING when a
call works again, saying how long the store was failing (until the try that worked began: a
long poll that works may return much later) and after how many failed tries.
"""

from __future__ import annotations

import logging

from eventmesh._clock import Clock
from eventmesh._errors import BackendError

__all__ = ["FIRST_PAUSE", "MAX_PAUSE", "Outage"]

FIRST_PAUSE = 1.0
"""Seconds a consumer waits after the first failure of an outage."""
MAX_PAUSE = 10.0
"""The longest a consumer waits between two tries while its store fails."""


class Outage:
    """The failures of one consumer's calls to its store, shared by the consumer's tasks.

    ``what`` names the call in the log ("polling queue orders"); ``clock`` paces the pauses
    (the mesh's, so a virtual clock runs them in tests).
    """

    __slots__ = ("_clock", "_failures", "_logger", "_retried_at", "_since", "what")

    def __init__(self, what: str, logger: logging.Logger, clock: Clock) -> None:
        self.what = what
        self._logger = logger
        self._clock = clock
        self._since: float | None = None
        self._retried_at = 0.0  # when the last pause ended: the try that works began then
        self._failures = 0

    @property
    def ongoing(self) -> bool:
        """Whether the last call failed and none has worked since."""
        return self._since is not None

    def pause(self) -> float:
        """Seconds to wait before the next try: the outage's length so far, bounded."""
        if self._since is None:
            return FIRST_PAUSE
        return min(MAX_PAUSE, max(FIRST_PAUSE, self._clock.now() - self._since))

    def note(self, error: BackendError, doing: str) -> None:
        """A store failure met while ``doing`` something beside the paced call (finishing a
        batch, say): counted in the outage, logged only if it starts one (then as ``doing``
        failed, without a traceback); the caller decides what to do next."""
        if self._since is None:
            self._since = self._clock.now()
            self._retried_at = self._since
            self._failures = 0
            self._logger.warning("%s failed: %s", doing, error)
        else:
            self._logger.debug("%s failed: %s", doing, error)
        self._failures += 1

    async def failed(self, error: BaseException) -> None:
        """Note a failed call, log it if it starts an outage, and wait :meth:`pause`."""
        first = self._since is None
        if self._since is None:
            self._since = self._clock.now()
            self._failures = 0
        self._failures += 1
        pause = self.pause()
        if first:
            if isinstance(error, BackendError):
                self._logger.warning("%s failed; retrying in %g s: %s", self.what, pause, error)
            else:
                self._logger.error("%s failed; retrying in %g s", self.what, pause, exc_info=error)
        else:
            self._logger.debug(
                "%s failed again (%d tries); retrying in %g s: %s",
                self.what,
                self._failures,
                pause,
                error,
            )
        await self._clock.sleep(pause)
        self._retried_at = self._clock.now()

    def recovered(self) -> None:
        """Note a call that worked: the end of an outage, if one was under way, is logged."""
        if self._since is None:
            return
        lasted = max(self._retried_at - self._since, 0.0)
        self._since = None
        self._logger.warning(
            "%s works again after %.1f s (%d failed tries)", self.what, lasted, self._failures
        )
