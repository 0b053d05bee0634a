"""Drive the order pipeline of template.yaml as a client would: curl-like HTTP and boto3.

It starts `eventmesh run template.yaml --http 127.0.0.1:0 --aws 127.0.0.1:0` in a subprocess
(the whole application: an HTTP API, four process functions, three queues, a bucket, a topic,
a schedule and a function URL), then:

1. POSTs two orders to the HTTP API (and one malformed order, answered 400 by the function);
2. waits, with a boto3 SQS client on the mesh's AWS endpoint, for the notifications the
   pipeline ends with: API -> CreateOrder -> OrdersQueue -> Fulfil -> ReceiptsBucket ->
   Notify -> OrderEvents (SNS) -> Notifications (SQS);
3. lists the receipts in the bucket with boto3's S3 client;
4. GETs the Report function's URL.

By hand, from this folder:

    uv run eventmesh run template.yaml --http 127.0.0.1:3000 --aws 127.0.0.1:4566
    curl -X POST http://127.0.0.1:3000/orders -d '{"item": "teapot", "quantity": 2}'
    AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x aws --endpoint-url http://127.0.0.1:4566 \\
        sqs receive-message --region us-east-1 --wait-time-seconds 10 \\
        --queue-url http://127.0.0.1:4566/123456789012/Notifications
    curl http://127.0.0.1:3000/_lambda-url/Report/

(`aws --endpoint-url`, not `AWS_ENDPOINT_URL`: the AWS CLI v1 sends SQS calls in us-east-1 to
https://queue.amazonaws.com unless --endpoint-url is given.)

Run: uv run python examples/08_sam_app/drive.py (needs eventmesh[sam,http,aws,process] and
boto3, which the handlers import as they would on Lambda).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
KEY, SECRET = "AKIDEXAMPLESAMAPP", "example-secret"


def start() -> tuple[subprocess.Popen[str], str, str]:
    """The application in a worker process; its HTTP and AWS endpoint URLs."""
    command = [sys.executable, "-m", "eventmesh.cli", "run", "template.yaml"]
    command += ["--http", "127.0.0.1:0", "--aws", "127.0.0.1:0"]
    command += ["--aws-credentials", f"{KEY}:{SECRET}"]
    worker = subprocess.Popen(command, cwd=HERE, stderr=subprocess.PIPE, text=True)
    assert worker.stderr is not None
    http = aws = None
    for line in worker.stderr:  # the log says where each server listens
        if found := re.search(r"HTTP front at (http://\S+)", line):
            http = found.group(1)
        if found := re.search(r"AWS endpoint at (http://\S+)", line):
            aws = found.group(1)
        if http and aws:
            threading.Thread(target=worker.stderr.read, daemon=True).start()  # keep draining
            return worker, http, aws
    raise SystemExit(f"the application stopped before serving (exit status {worker.wait()})")


def drive(http: str, aws: str) -> None:
    import boto3
    import httpx

    session = boto3.Session(
        aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name="us-east-1"
    )
    sqs = session.client("sqs", endpoint_url=aws)
    s3 = session.client("s3", endpoint_url=aws)
    with httpx.Client(base_url=http, timeout=30) as client:
        for order in ({"item": "teapot", "quantity": 2}, {"item": "cups", "quantity": 6}):
            answer = client.post("/orders", json=order)
            print(f"POST /orders {json.dumps(order)} -> {answer.status_code} {answer.text}")
        bad = client.post("/orders", content="not json")
        print(f"POST /orders 'not json' -> {bad.status_code} {bad.text}")
        notifications = sqs.get_queue_url(QueueName="Notifications")["QueueUrl"]
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while len(seen) < 2 and time.monotonic() < deadline:
            for message in sqs.receive_message(
                QueueUrl=notifications, MaxNumberOfMessages=10, WaitTimeSeconds=5
            ).get("Messages", []):
                envelope = json.loads(message["Body"])  # SNS's notification, as SQS holds it
                seen.append(json.loads(envelope["Message"]))
                sqs.delete_message(QueueUrl=notifications, ReceiptHandle=message["ReceiptHandle"])
        for notification in seen:
            print(f"notification from the topic: {notification}")
        buckets = [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]
        receipts = s3.list_objects_v2(Bucket=buckets[0], Prefix="receipts/").get("Contents", [])
        print(f"receipts in bucket {buckets[0]}: {len(receipts)}")
        report = client.get("/_lambda-url/Report/")
        print(f"GET the Report function's URL -> {report.status_code} {report.text}")


def main() -> None:
    worker, http, aws = start()
    try:
        print(f"running template.yaml: HTTP on {http}, the AWS endpoint on {aws}")
        drive(http, aws)
    finally:
        worker.terminate()  # SIGTERM: drain, then stop
        status = worker.wait(timeout=60)
    print(f"application stopped (exit status {status})")


if __name__ == "__main__":
    main()
