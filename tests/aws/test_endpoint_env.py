"""Handlers in process environments reach the mesh's AWS endpoint with boto3 unchanged: the
environment gets ``AWS_ENDPOINT_URL`` and credentials the endpoint accepts."""

from __future__ import annotations

import shutil
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from process_prefix import skip_if_hidden

from eventmesh import Mesh, Telemetry
from eventmesh.aws import AwsServer

APP = """
import os
import boto3

def lambda_handler(event, context):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=event["bucket"])
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    return {
        "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
        "key": os.environ.get("AWS_ACCESS_KEY_ID"),
        "buckets": names,
    }
"""


@pytest.fixture
def code() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="eventmesh-code-", dir="/var/tmp"))
    (root / "app.py").write_text(textwrap.dedent(APP).lstrip())
    yield root
    shutil.rmtree(root, ignore_errors=True)


@skip_if_hidden
async def test_a_process_handler_reaches_the_endpoint_with_plain_boto3(code: Path) -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False), drain_timeout=2.0)
    mesh.function(name="f", handler="app.lambda_handler", code=code, timeout=60)
    async with AwsServer(mesh, "127.0.0.1", 0, credentials="ENVKEY:env-secret") as server:
        result = await mesh.invoke("f", {"bucket": "from-a-handler"})
        assert result.payload == {
            "endpoint": server.url,
            "key": "ENVKEY",
            "buckets": ["from-a-handler"],
        }
    assert mesh.aws_endpoint_url is None
