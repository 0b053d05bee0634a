"""``eventmesh run app:mesh --aws HOST:PORT --aws-credentials KEY:SECRET`` in a real process:
it serves the AWS endpoint beside the HTTP front, boto3 reaches it, SIGTERM stops it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.aws.conftest import boto3_client

ROOT = Path(__file__).resolve().parent.parent.parent

APP = """
from eventmesh import Mesh

mesh = Mesh()
"""


def _start(tmp_path: Path, *arguments: str, **env: str) -> subprocess.Popen[str]:
    (tmp_path / "app.py").write_text(APP)
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    environment.pop("EVENTMESH_AWS_CREDENTIALS", None)
    environment.update(env)
    return subprocess.Popen(
        [sys.executable, "-m", "eventmesh.cli", "run", "app:mesh", *arguments],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
    )


def _wait_for(process: subprocess.Popen[str], pattern: str) -> tuple[re.Match[str], list[str]]:
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 30
    found = None
    while found is None or not any("running <Mesh" in line for line in seen):
        assert time.monotonic() < deadline, seen
        line = process.stdout.readline()
        assert line, seen
        seen.append(line)
        found = found or re.search(pattern, line)
    return found, seen


def _stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_run_with_aws_serves_an_authenticated_endpoint(tmp_path: Path) -> None:
    process = _start(
        tmp_path, "--http", "127.0.0.1:0", "--aws", "127.0.0.1:0", "--aws-credentials", "CLI:s3cret"
    )
    try:
        found, seen = _wait_for(process, r"serving the AWS endpoint on (http://127\.0\.0\.1:\d+)")
        url = found.group(1)
        assert "SigV4 verified" in found.string
        assert not any("s3cret" in line for line in seen)
        s3 = boto3_client(url, "s3", key="CLI", secret="s3cret")
        s3.create_bucket(Bucket="made-by-cli-test")
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["made-by-cli-test"]
        wrong = boto3_client(url, "s3", key="CLI", secret="wrong")
        with pytest.raises(ClientError) as caught:
            wrong.list_buckets()
        assert caught.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    finally:
        _stop(process)


def test_run_with_aws_without_credentials_says_so(tmp_path: Path) -> None:
    process = _start(tmp_path, "--aws", "127.0.0.1:0")
    try:
        found, _ = _wait_for(process, r"AWS endpoint on (http://127\.0\.0\.1:\d+) UNAUTHENTICATED")
        s3 = boto3_client(found.group(1), "s3", key="any", secret="thing")
        assert s3.list_buckets()["Buckets"] == []
    finally:
        _stop(process)


def test_credentials_from_the_environment(tmp_path: Path) -> None:
    process = _start(tmp_path, "--aws", "127.0.0.1:0", EVENTMESH_AWS_CREDENTIALS="ENV:secret2")
    try:
        found, _ = _wait_for(process, r"serving the AWS endpoint on (http://127\.0\.0\.1:\d+)")
        good = boto3_client(found.group(1), "s3", key="ENV", secret="secret2")
        assert good.list_buckets()["Buckets"] == []
        with pytest.raises(ClientError) as caught:
            boto3_client(found.group(1), "s3", key="OTHER", secret="x").list_buckets()
        assert caught.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    finally:
        _stop(process)


def test_a_public_address_without_credentials_is_refused(tmp_path: Path) -> None:
    process = _start(tmp_path, "--aws", "0.0.0.0:0")
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "loopback only" in output
