"""On SQLite, a topic delivery and a bus delivery waiting to retry survive a crash: a process
killed with SIGKILL while they wait loses neither; the next process on the same file delivers
both when their retry is due."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import fanout_crash_worker as crash
import pytest
from http_endpoint import Endpoint, eventually

from eventmesh import Mesh, Telemetry
from eventmesh.testing import VirtualClock

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "fanout_crash_worker.py"


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), str(ROOT / "tests"), env.get("PYTHONPATH")) if p
    )
    return env


async def test_topic_and_bus_deliveries_waiting_to_retry_survive_a_sigkill(
    tmp_path: Path,
) -> None:
    path, ready, stderr = tmp_path / "mesh.db", tmp_path / "ready", tmp_path / "child.err"
    async with Endpoint(statuses=[503] * 1000, path="/hook") as endpoint:
        with stderr.open("wb") as err:
            child = await asyncio.create_subprocess_exec(
                sys.executable, str(WORKER), str(path), endpoint.url, str(ready),
                stderr=err, env=child_env(), cwd=ROOT,
            )  # fmt: skip
        try:
            deadline = time.monotonic() + 30.0
            while not ready.exists():
                if child.returncode is not None or time.monotonic() > deadline:
                    pytest.fail(f"the child did not get ready:\n{stderr.read_text()}")
                await asyncio.sleep(0.02)
        finally:
            if child.returncode is None:
                child.send_signal(signal.SIGKILL)
            await child.wait()
        assert child.returncode == -signal.SIGKILL
        failed_before = len(endpoint.requests)
        assert failed_before >= 2  # both first attempts were made, and failed
        endpoint.statuses.clear()  # from now on the endpoint answers 200

        clock = VirtualClock(start=time.time())
        mesh = Mesh(storage=f"sqlite:///{path}", clock=clock, telemetry=Telemetry(enabled=False))
        crash.build(mesh, endpoint.url)
        topic, bus = mesh.topic("alerts"), mesh.bus()
        async with mesh:
            for _ in range(70):  # SNS's HTTP policy retries after 20 s; the bus's backoff sooner
                await clock.advance(1)
                if topic.delivered and bus.delivered:
                    break
            await eventually(lambda: topic.delivered == 1 and bus.delivered == 1)

    delivered = [r for r in endpoint.requests[failed_before:] if r.status == 200]
    notifications = [r for r in delivered if "x-amz-sns-message-type" in r.headers]
    events = [r for r in delivered if "x-amz-sns-message-type" not in r.headers]
    assert len(notifications) == 1 and len(events) == 1
    envelope = json.loads(notifications[0].body)
    assert envelope["Message"] == "hello" and envelope["Subject"] == "Greeting"
    event = json.loads(events[0].body)
    assert event["source"] == "shop" and event["detail"] == {"id": 7}
    assert topic.delivery_failures == 0 and bus.dropped == 0
