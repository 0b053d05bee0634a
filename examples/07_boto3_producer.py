"""A boto3 producer in one process feeding a mesh worker in another, through SQS's API.

This file is both halves. As a module (`07_boto3_producer:mesh`) it is the worker: a queue
`orders` whose messages invoke the function `fulfil` (an SQS event source mapping, batches of
up to 10), which puts a receipt on the queue `receipts`. Run as a script, it starts that mesh
with `eventmesh run ... --aws 127.0.0.1:0` in a subprocess, then acts as any other service
would: a plain boto3 SQS client, pointed at the endpoint with `endpoint_url` (or
`AWS_ENDPOINT_URL`) and signing with the credentials the endpoint was given, sends orders
with message attributes, long-polls the receipts and deletes them. Nothing in the producer
knows it is not talking to AWS.

To serve the worker yourself and produce from a shell:

    cd examples && uv run eventmesh run 07_boto3_producer:mesh --aws 127.0.0.1:4566
    AWS_ENDPOINT_URL=http://127.0.0.1:4566 aws sqs send-message \\
        --queue-url http://127.0.0.1:4566/123456789012/orders --message-body '{"item": "cups"}'

Run: uv run python examples/07_boto3_producer.py
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from eventmesh import Context, Mesh

mesh = Mesh()
receipts = mesh.queue("receipts")


@mesh.function
async def fulfil(event: dict[str, Any], context: Context) -> None:
    """Invoked with SQS's event: one receipt per order, in the mesh's own process."""
    for record in event["Records"]:
        order = json.loads(record["body"])
        priority = record["messageAttributes"]["priority"]["stringValue"]
        await receipts.send(
            {
                "order": order["id"],
                "summary": f"{order['quantity']} x {order['item']}",
                "priority": priority,
                "worker_pid": os.getpid(),
            }
        )


mesh.queue("orders").subscribe(fulfil)

KEY, SECRET = "AKIDEXAMPLEPRODUCER", "example-secret"  # what the endpoint verifies SigV4 with


def start_worker() -> tuple[subprocess.Popen[str], str]:
    """`eventmesh run` this module with the AWS endpoint on a free port; its URL."""
    command = [sys.executable, "-m", "eventmesh.cli", "run", f"{Path(__file__).stem}:mesh"]
    command += ["--aws", "127.0.0.1:0", "--aws-credentials", f"{KEY}:{SECRET}"]
    worker = subprocess.Popen(
        command,
        cwd=Path(__file__).parent,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert worker.stderr is not None
    for line in worker.stderr:  # the log says where the endpoint serves
        found = re.search(r"serving the AWS endpoint on (http://\S+)", line)
        if found:
            # Keep reading the log, so a chatty worker never blocks on a full pipe.
            threading.Thread(target=worker.stderr.read, daemon=True).start()
            return worker, found.group(1)
    raise SystemExit(f"the worker stopped before serving (exit status {worker.wait()})")


def produce(endpoint: str) -> None:
    import boto3  # the eventmesh[aws] extra's test tools; any AWS SDK works the same

    sqs = boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
    )
    orders_url = sqs.get_queue_url(QueueName="orders")["QueueUrl"]
    receipts_url = sqs.get_queue_url(QueueName="receipts")["QueueUrl"]
    orders = [(1, "teapot", 2, "high"), (2, "cups", 6, "low"), (3, "saucers", 6, "low")]
    sent = sqs.send_message_batch(
        QueueUrl=orders_url,
        Entries=[
            {
                "Id": f"order-{number}",
                "MessageBody": json.dumps({"id": number, "item": item, "quantity": quantity}),
                "MessageAttributes": {"priority": {"DataType": "String", "StringValue": level}},
            }
            for number, item, quantity, level in orders
        ],
    )
    print(f"producer: sent {len(sent['Successful'])} orders with boto3")
    seen: dict[int, dict[str, Any]] = {}
    deadline = time.monotonic() + 30
    while len(seen) < len(orders) and time.monotonic() < deadline:
        answer = sqs.receive_message(
            QueueUrl=receipts_url, MaxNumberOfMessages=10, WaitTimeSeconds=5
        )  # long polling: the call returns as soon as a receipt is there
        messages = answer.get("Messages", [])
        for message in messages:
            receipt = json.loads(message["Body"])
            seen[receipt["order"]] = receipt
        if messages:
            sqs.delete_message_batch(
                QueueUrl=receipts_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(messages)
                ],
            )
    for number in sorted(seen):
        receipt = seen[number]
        elsewhere = receipt["worker_pid"] != os.getpid()
        print(
            f"receipt: order {number} ({receipt['summary']}, {receipt['priority']} priority) "
            f"fulfilled by the mesh worker in another process: {elsewhere}"
        )
    left = sqs.get_queue_attributes(
        QueueUrl=orders_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    print(f"orders left in the queue: {left}")


def main() -> None:
    worker, endpoint = start_worker()
    try:
        print("worker: eventmesh run 07_boto3_producer:mesh --aws 127.0.0.1:0 (SigV4 verified)")
        produce(endpoint)
    finally:
        worker.terminate()  # SIGTERM: the worker drains and stops
        status = worker.wait(timeout=30)
    print(f"worker stopped (exit status {status})")


if __name__ == "__main__":
    main()
