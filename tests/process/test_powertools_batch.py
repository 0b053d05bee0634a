"""Powertools' BatchProcessor, kept at module level as its documentation shows, under an SQS
mapping with ``max_concurrency=10``.

In process, concurrent invocations share that module-level processor, and a batch can report
another batch's message ids as failures (spurious redeliveries). In process environments each
environment runs one invocation at a time, as Lambda's do: every batch must report exactly its
own bad records, the bad records (and only they) reach the dead-letter queue, and nothing else
is redelivered.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from process_helpers import CodeDir

from eventmesh import Mesh, Telemetry

pytest.importorskip("aws_lambda_powertools", reason="aws-lambda-powertools is a dev dependency")

# Powertools' documented SQS pattern (its batch processing guide, "getting started"), without
# the X-Ray tracer, which needs aws-xray-sdk; the record handler takes a millisecond per record
# and refuses records marked bad. (Run in process, with threads sharing the processor, this
# handler reported the wrong failures in 294 of 294 batches on this machine.)
POWERTOOLS_APP = """
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    import time

    processor = BatchProcessor(event_type=EventType.SQS)
    logger = Logger()


    def record_handler(record: SQSRecord):
        payload = record.json_body
        time.sleep(0.001)  # a moment of work, as a real record handler takes
        if payload["bad"]:
            raise ValueError(f"bad record {payload['n']}")


    @logger.inject_lambda_context
    def lambda_handler(event, context: LambdaContext):
        return process_partial_response(
            event=event,
            record_handler=record_handler,
            processor=processor,
            context=context,
        )
"""

# The function's entry point: calls the Powertools module unchanged and writes down, per batch,
# what it was given and what it reported, for the test to check every batch.
CHECK_APP = """
    import json, os

    import app


    def lambda_handler(event, context):
        response = app.lambda_handler(event, context)
        line = json.dumps({
            "pid": os.getpid(),
            "batch": [r["messageId"] for r in event["Records"]],
            "bad": [r["messageId"] for r in event["Records"] if json.loads(r["body"])["bad"]],
            "reported": [f["itemIdentifier"] for f in response["batchItemFailures"]],
        })
        with open(os.environ["BATCH_LOG"], "a") as log:
            log.write(line + "\\n")
        return response
"""

MESSAGES = 3000
"""300 full batches of 10, one record in ten bad: the issue's figures."""


async def test_module_level_batch_processor_reports_exactly_each_batchs_own_failures(
    code_dir: CodeDir, code_root: Path
) -> None:
    batch_log = code_root / "batches.jsonl"
    mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=5.0)
    code = code_dir(app=POWERTOOLS_APP, check=CHECK_APP)
    mesh.function(
        name="orders",
        handler="check.lambda_handler",
        code=code,
        timeout=3,
        environment={"BATCH_LOG": str(batch_log), "POWERTOOLS_SERVICE_NAME": "orders"},
    )
    dead_letters = mesh.queue("orders-dlq")
    queue = mesh.queue(
        "orders", visibility_timeout=3, max_receive_count=1, dead_letter=dead_letters
    )
    queue.subscribe("orders", batch_size=10, report_batch_item_failures=True, max_concurrency=10)
    bad_bodies = set()
    async with mesh:
        for start in range(0, MESSAGES, 10):
            entries = []
            for n in range(start, start + 10):
                bad = n % 10 == 7
                body = orjson.dumps({"n": n, "bad": bad}).decode()
                if bad:
                    bad_bodies.add(body)
                entries.append({"id": str(n), "body": body})
            await queue.send_batch(entries)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120
        while True:
            stats, dead = await queue.stats(), await dead_letters.stats()
            if stats.total == 0 and dead.visible == len(bad_bodies):
                break
            assert loop.time() < deadline, f"not settled: {stats}, dead letters {dead}"
            await asyncio.sleep(0.1)
        dead_bodies = {m.body for m in await dead_letters.receive(10, wait=0)}
        while len(dead_bodies) < len(bad_bodies):
            more = await dead_letters.receive(10, wait=0)
            assert more, "dead letters missing"
            dead_bodies |= {m.body for m in more}

    batches = [orjson.loads(line) for line in batch_log.read_text().splitlines()]
    assert sum(len(b["batch"]) for b in batches) == MESSAGES  # each message once: none redelivered
    wrong = [b for b in batches if sorted(b["reported"]) != sorted(b["bad"])]
    assert wrong == []
    assert len({b["pid"] for b in batches}) > 1, "the batches never ran concurrently"
    assert dead_bodies == bad_bodies
