"""What the Redis backend declares to the conformance kit (its capabilities record)."""

from __future__ import annotations

from eventmesh.testing.conformance import (
    Capabilities,
    CrashRedelivery,
    Fifo,
    Store,
    TimeSource,
    Trim,
    Ttl,
)

__all__ = ["REDIS_CAPABILITIES"]

REDIS_CAPABILITIES = Capabilities(
    # Every script reads TIME on the server: one clock for all processes. The tolerance, in
    # real seconds, covers a round trip, the end of a blocked stream read (on the server's
    # event-loop tick, hz 10: up to 0.1 s late) and the scheduling of a loaded machine.
    time_source=TimeSource.SERVER_CLOCK,
    clock_tolerance=0.25,
    # Nothing is tied to a connection: a dead consumer's messages come back when their
    # visible-at time passes.
    crash_redelivery=CrashRedelivery.VISIBILITY_TIMEOUT,
    fifo=Fifo.EXACT,
    max_delay=None,  # a delay is a visible-at time, of any length
    dedup_window=None,  # the protocol carries no deduplication id yet
    multi_process=True,
    stale_receipts_rejected=True,
    receipts_cross_processes=True,
    exact_stats=True,
    redrive_in_receive=True,  # the receive script moves it
    trim=Trim.EXACT,  # XTRIM MINID, exact
    ttl=Ttl.PER_KEY,
    ttl_resolution=0.0,  # a read compares the stored expiry with TIME to the microsecond
    protocols=frozenset(Store),
)
