"""Durations the suites share."""

from __future__ import annotations

import pytest

from eventmesh.testing.conformance.timing import TimeDriver

__all__ = ["sub_second"]


def sub_second(timing: TimeDriver) -> float:
    """A duration, in the suite's time, for a test that a store keeps a wait or a delay of
    under a second: half a second, or longer where the scale makes that too short on a
    server's clock.

    Such a test acts while the duration runs (half-way through a long poll it sends what the
    poll must return; right after a delayed send it checks the message is still hidden) and
    expects the store not to have ended it yet. On a server's clock the half must cover the
    backend's tolerance (a round trip and a loaded machine's scheduling), or the store may
    end it first: the half is at least the tolerance in real seconds. Skips when that makes
    the duration a second.
    """
    duration = max(0.5, 2 * timing.tolerance / timing.scale)
    if timing.seconds(duration) >= 1.0:
        pytest.skip("the backend's clock tolerance leaves no sub-second duration to test")
    return duration
