"""POST /orders: validate the order and queue it (an HTTP API, payload 2.0)."""

import json
import os
import uuid

import boto3

sqs = boto3.client("sqs")


def lambda_handler(event, context):
    try:
        order = json.loads(event.get("body") or "")
        item, quantity = str(order["item"]), int(order["quantity"])
    except (ValueError, KeyError, TypeError):
        return {"statusCode": 400, "body": json.dumps({"message": "need item and quantity"})}
    order_id = str(uuid.uuid4())
    sqs.send_message(
        QueueUrl=os.environ["ORDERS_QUEUE_URL"],
        MessageBody=json.dumps({"id": order_id, "item": item, "quantity": quantity}),
    )
    return {"statusCode": 202, "body": json.dumps({"id": order_id, "stage": os.environ["STAGE"]})}
