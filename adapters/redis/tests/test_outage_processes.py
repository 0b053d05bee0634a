"""Worker processes cut off their Redis for a while: they keep running, back off, say so once,
and take everything when it is back.

Two ``eventmesh run outage_worker_app:mesh`` processes consume a queue and a two-shard stream
on a server of the test's own, through a proxy the test cuts for 2.5 s in the middle of the
work; a producer in the test sends before, during (its sends fail with BackendError and are
sent again) and after. The ledger of what the handlers saw is on the shared server, under the
test's prefix.
"""

from __future__ import annotations

import asyncio
import re
from functools import partial
from pathlib import Path

from outage_tools import PASSWORD, PrivateServer, Proxy
from worker_processes import ledger_key, read_ledger, wait_for, worker_processes

from eventmesh import BackendError, Mesh, Telemetry

COUNT = 200
OPTIONS = "?timeout=0.5&poll_interval=0.2"


async def _produce(mesh: Mesh, numbers: range) -> int:
    """Send each number to the queue and the stream; a call refused by the outage is made
    again until it works. Returns how many calls were refused."""
    work, clicks = mesh.queue("work"), mesh.stream("clicks")
    refused = 0
    for n in numbers:
        for call in (partial(work.send, str(n)), partial(clicks.put_record, n, f"k{n % 5}")):
            while True:
                try:
                    await call()
                    break
                except BackendError as exc:
                    assert PASSWORD not in str(exc)
                    refused += 1
                    await asyncio.sleep(0.1)
    return refused


async def test_workers_cut_off_their_storage_resume_and_lose_nothing(
    private_server: PrivateServer, redis_server: str, redis_url: str, tmp_path: Path
) -> None:
    key = ledger_key(redis_url, "outage")

    async def done() -> bool:
        entries = await read_ledger(redis_server, key)
        kinds = {(e["kind"], e["n"]) for e in entries}
        return len(kinds) == 2 * COUNT

    async with (
        Proxy(private_server.port) as proxy,
        worker_processes(tmp_path, redis_server, key) as workers,
    ):
        storage = proxy.url(OPTIONS)
        producer = Mesh(storage=storage, telemetry=Telemetry(enabled=False), drain_timeout=2.0)
        producer.queue("work", visibility_timeout=3)
        producer.stream("clicks", shards=2)
        async with producer:
            started = await workers.start("outage_worker_app:mesh", storage, 2)
            await _produce(producer, range(0, COUNT // 2))
            proxy.cut()
            cut = asyncio.create_task(_produce(producer, range(COUNT // 2, COUNT * 3 // 4)))
            await asyncio.sleep(2.5)
            proxy.restore()
            refused = await cut
            await _produce(producer, range(COUNT * 3 // 4, COUNT))
            await wait_for("every message and record processed", done, within=40)
            for worker in started:
                assert worker.process.returncode is None, worker.output()

    assert refused > 0  # the producer saw the outage: BackendError, sent again
    entries = await read_ledger(redis_server, key)
    assert {e["n"] for e in entries if e["kind"] == "queue"} == set(range(COUNT))
    assert {e["n"] for e in entries if e["kind"] == "stream"} == set(range(COUNT))
    by_key: dict[str, list[int]] = {}
    for entry in entries:
        if entry["kind"] == "stream":
            by_key.setdefault(entry["key"], []).append(entry["n"])
    for partition, numbers in by_key.items():
        first_seen = list(dict.fromkeys(numbers))
        assert first_seen == sorted(first_seen), partition
    for worker in started:
        output = worker.output()
        assert PASSWORD not in output
        assert "Traceback" not in output  # an outage is logged in a line, not a traceback
        for consumer in ("polling queue work", "reading stream clicks"):
            failed = re.findall(rf"^{consumer} failed; retrying", output, re.MULTILINE)
            assert len(failed) <= 1, output  # once per outage, not per try
    outputs = workers.outputs()
    assert "failed; retrying in 1 s: storage 'redis://***@127.0.0.1:" in outputs
    assert "works again after" in outputs
    duplicates = len(entries) - 2 * COUNT
    print(f"{refused} producer calls refused and sent again; {duplicates} duplicates")
