"""How many receipts the bucket holds: on a schedule, and on its function URL."""

import json
import os

import boto3

s3 = boto3.client("s3")


def lambda_handler(event, context):
    listing = s3.list_objects_v2(Bucket=os.environ["RECEIPTS_BUCKET"], Prefix="receipts/")
    report = {"receipts": listing.get("KeyCount", 0)}
    print(json.dumps(report))
    return report
