"""The worker app of the schedule takeover test: ``eventmesh run schedule_takeover_app:mesh
--storage redis://...`` in each of three processes (ledger as in :mod:`process_ledger`).

One-time schedules ``slow-0`` ... (``at()``, every ``SCHEDULE_SPACING`` seconds from
``SCHEDULE_BASE``, epoch seconds) with one target, ``deliver``. The test chooses the first
tick after every process runs (a loaded machine starts them slowly) and names its time in the
ledger's ``chosen`` flag; that tick's delivery is slow: it records ``start``, works
``SCHEDULE_WORK`` seconds, records ``done``. The other ticks are delivered at once. The
claim's lease is shortened from 30 s to ``SCHEDULE_LEASE`` seconds (this module sets the
schedule module's ``CLAIM_LEASE``, read at each claim and renewal, in the worker process only)
so that a lease left by a killed process runs out within the test; the work outlasts the
lease, so only its renewals keep the tick.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from typing import Any

import process_ledger as ledger

import eventmesh.resources.schedule as schedule_module
from eventmesh import Mesh, Telemetry

BASE = float(os.environ["SCHEDULE_BASE"])
SPACING = float(os.environ["SCHEDULE_SPACING"])
TICKS = int(os.environ["SCHEDULE_TICKS"])
WORK = float(os.environ["SCHEDULE_WORK"])
schedule_module.CLAIM_LEASE = float(os.environ["SCHEDULE_LEASE"])

mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)


async def deliver(event: dict[str, Any]) -> None:
    if await ledger.flag_value("chosen") != event["time"]:
        return
    await ledger.record({"step": "start", "time": event["time"]})
    await asyncio.sleep(WORK)
    await ledger.record({"step": "done", "time": event["time"]})


for i in range(TICKS):
    moment = datetime.fromtimestamp(BASE + i * SPACING, UTC)
    mesh.schedule(f"at({moment:%Y-%m-%dT%H:%M:%S})", deliver, name=f"slow-{i}")
