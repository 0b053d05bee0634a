"""A receipt landed in the bucket: publish "order fulfilled" on the topic."""

import json
import os
from urllib.parse import unquote_plus

import boto3

sns = boto3.client("sns")


def lambda_handler(event, context):
    for record in event["Records"]:
        key = unquote_plus(record["s3"]["object"]["key"])
        sns.publish(
            TopicArn=os.environ["TOPIC_ARN"],
            Subject="order fulfilled",
            Message=json.dumps({"receipt": key}),
        )
