"""examples/06_http_api.py runs as documented: an HTTP API behind a Lambda authorizer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_example_06_serves_an_api_behind_a_lambda_authorizer() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "06_http_api.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.splitlines() == [
        'GET /ping (no token) -> 200 {"pong":true}',
        'GET /orders/42 (no token) -> 401 {"message":"Unauthorized"}',
        'GET /orders/42 (Bearer mallory) -> 403 {"message":"Forbidden"}',
        "GET /orders/42 (Bearer alice-token) -> 200 "
        '{"id": "42", "item": "teapot", "owner": "alice"}',
        'GET /orders/42 (Bearer bob-token) -> 404 {"message": "no such order"}',
        'POST /orders (Bearer alice-token) -> 201 {"id": "43", "item": "cups", "owner": "alice"}',
        'GET /nowhere (Bearer alice-token) -> 404 {"message":"Not Found"}',
        'GET /health/ready (no token) -> 200 {"status":"ready","mesh":"running","backend":"ok"}',
        "authorizer calls: 3 (cached per token)",
    ]
    assert "Traceback" not in done.stderr
