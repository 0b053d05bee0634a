"""The orders queue's worker: one receipt per order in the bucket; an order it cannot fulfil
is reported as a batch item failure (retried, then moved to the dead-letter queue)."""

import json
import os

import boto3

s3 = boto3.client("s3")


def lambda_handler(event, context):
    failures = []
    for record in event["Records"]:
        order = json.loads(record["body"])
        if order["quantity"] <= 0:
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        s3.put_object(
            Bucket=os.environ["RECEIPTS_BUCKET"],
            Key=f"receipts/{order['id']}.json",
            Body=json.dumps({"order": order, "fulfilled_by": context.aws_request_id}),
            ContentType="application/json",
        )
    return {"batchItemFailures": failures}
