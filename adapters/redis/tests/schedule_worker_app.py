"""The worker app of the multi-process schedule test: ``eventmesh run schedule_worker_app:mesh
--storage redis://...`` in each of three processes (this directory on ``PYTHONPATH``, the
ledger's location and the schedule's times in the environment).

EventBridge's shortest rate is one minute, too long for a test of many ticks in seconds, so
the ticks are one-time schedules ``at-00`` ... (``at()`` each, one per second from
``SCHEDULE_BASE``, epoch seconds), plus ``every-minute``, a ``rate(1 minute)`` starting at
``SCHEDULE_BASE + SCHEDULE_RATE_TICK``: every one of them claims its tick through the same
put-if-absent on ``schedule/<name>/<time>`` as any schedule does. Each targets the function
``tick``, which writes the tick it was given (the Scheduled Event's ``time``) to the ledger.

Which process fired a tick is in the tick's claim, as the schedule's owner id; this app
writes its schedules' owner ids to ``OWNERS_DIR/owners-<pid>.json`` so the test can tell.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import process_ledger as ledger

from eventmesh import Mesh, Telemetry

BASE = float(os.environ["SCHEDULE_BASE"])
TICKS = int(os.environ["SCHEDULE_TICKS"])
RATE_TICK = int(os.environ["SCHEDULE_RATE_TICK"])

mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)


@mesh.function
async def tick(event: dict[str, Any], context: object) -> None:
    rule = event["resources"][0].rsplit("/", 1)[1]
    await ledger.record({"rule": rule, "time": event["time"], "id": event["id"]})


schedules = [
    mesh.schedule(f"at({datetime.fromtimestamp(BASE + i, UTC):%Y-%m-%dT%H:%M:%S})", tick,
                  name=f"at-{i:02d}")
    for i in range(TICKS)
]  # fmt: skip
schedules.append(
    mesh.schedule(
        "rate(1 minute)",
        tick,
        name="every-minute",
        start=datetime.fromtimestamp(BASE + RATE_TICK, UTC),
    )
)
Path(os.environ["OWNERS_DIR"], f"owners-{os.getpid()}.json").write_bytes(
    orjson.dumps({schedule._owner: schedule.name for schedule in schedules})
)
