"""SQS round trips through boto3: the mesh's AWS endpoint against moto's server, in one run.

Both servers run in this process, each in a thread of its own (the mesh's endpoint in its own
event loop, as ``eventmesh run --aws`` serves it; moto's ``ThreadedMotoServer``, werkzeug's
threaded server), on free loopback ports, and one boto3 SQS client per server calls them from
the main thread, one call at a time: ``SendMessage`` ``--messages`` times, then
``ReceiveMessage`` (one message each, no wait) as many times. Each side runs ``--runs``
times, alternating, so a noisy moment touches both; the table reports round trips per
second, min / median / max over the runs. The endpoint verifies SigV4 signatures (moto does
not); boto3's own cost per call (signing, serialising, parsing) is in both figures alike.

Run: ``uv run python benchmarks/aws_endpoint.py [--messages N] [--runs R] [--json]``
(needs the aws extra and moto's server: ``uv sync --all-extras``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config

from eventmesh import Mesh, Telemetry
from eventmesh.aws import AwsServer
from eventmesh.aws.operations import OPERATIONS
from eventmesh.aws.services import load_services

KEY, SECRET = "AKIDBENCH", "bench-secret"
OPERATIONS_MEASURED = ("SendMessage", "ReceiveMessage")


@contextmanager
def mesh_endpoint() -> Iterator[str]:
    """The mesh's AWS endpoint served from a thread with its own event loop; its URL."""
    ready = threading.Event()
    url: list[str] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)
        async with AwsServer(mesh, "127.0.0.1", 0, credentials=f"{KEY}:{SECRET}") as server:
            url.append(server.url)
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("the mesh's endpoint did not start")
    try:
        yield url[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()


@contextmanager
def moto_endpoint() -> Iterator[str]:
    """moto's server on a free loopback port; its URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _client(url: str) -> Any:
    session = boto3.session.Session(
        aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name="us-east-1"
    )
    return session.client(
        "sqs", endpoint_url=url, config=Config(retries={"max_attempts": 1, "mode": "standard"})
    )


def measure(url: str, messages: int, run: int) -> dict[str, float]:
    """Round trips per second of SendMessage and ReceiveMessage against ``url``."""
    sqs = _client(url)
    queue = sqs.create_queue(QueueName=f"bench-{run}-{time.monotonic_ns()}")["QueueUrl"]
    send, receive = sqs.send_message, sqs.receive_message
    send(QueueUrl=queue, MessageBody="warm-up")
    receive(QueueUrl=queue, MaxNumberOfMessages=1, WaitTimeSeconds=0)
    started = time.perf_counter()
    for i in range(messages):
        send(QueueUrl=queue, MessageBody=f"message {i}")
    sent = messages / (time.perf_counter() - started)
    received = 0
    started = time.perf_counter()
    for _ in range(messages):
        answer = receive(QueueUrl=queue, MaxNumberOfMessages=1, WaitTimeSeconds=0)
        received += len(answer.get("Messages", []))
    receives = messages / (time.perf_counter() - started)
    if received != messages:
        raise RuntimeError(f"{url}: received {received} of {messages} messages")
    return {"SendMessage": sent, "ReceiveMessage": receives}


def run(messages: int, runs: int) -> dict[str, dict[str, list[float]]]:
    """Every run's rates, by side and operation."""
    load_services()
    missing = [name for name in OPERATIONS_MEASURED if OPERATIONS.find("sqs", name) is None]
    if missing:
        raise SystemExit(f"the endpoint has no handler for sqs {', '.join(missing)} yet")
    rates: dict[str, dict[str, list[float]]] = {
        side: {name: [] for name in OPERATIONS_MEASURED} for side in ("eventmesh", "moto")
    }
    with mesh_endpoint() as ours, moto_endpoint() as theirs:
        urls = {"eventmesh": ours, "moto": theirs}
        for number in range(runs):
            for side, url in urls.items():
                for name, rate in measure(url, messages, number).items():
                    rates[side][name].append(rate)
    return rates


def table(rates: dict[str, dict[str, list[float]]], messages: int, runs: int) -> str:
    lines = [
        f"SQS through boto3, {messages} calls per operation, {runs} runs "
        "(round trips/s, min / median / max)",
        "",
        "| operation | eventmesh endpoint | moto server | ratio (median) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name in OPERATIONS_MEASURED:
        ours, theirs = rates["eventmesh"][name], rates["moto"][name]

        def cell(values: list[float]) -> str:
            return " / ".join(
                f"{v:,.0f}" for v in (min(values), statistics.median(values), max(values))
            )

        ratio = statistics.median(ours) / statistics.median(theirs)
        lines.append(f"| {name} | {cell(ours)} | {cell(theirs)} | {ratio:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the rates as JSON")
    arguments = parser.parse_args(argv)
    if arguments.messages < 1 or arguments.runs < 1:
        parser.error("--messages and --runs must be at least 1")
    rates = run(arguments.messages, arguments.runs)
    if arguments.json:
        print(json.dumps(rates, indent=2))
    else:
        print(table(rates, arguments.messages, arguments.runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
