"""``eventmesh invoke NAME --endpoint URL``: Lambda's Invoke API call to a running worker's AWS
endpoint, printed as an invocation in process is.

``POST /2015-03-31/functions/NAME/invocations`` with ``X-Amz-Invocation-Type`` and
``X-Amz-Log-Type: Tail``; the log comes back base64 in ``X-Amz-Log-Result`` (Lambda's last
4 KB) and goes to stderr, the response body to stdout. With credentials the request is signed
with SigV4 (botocore's signer); without, the endpoint must accept unsigned requests (it does
when it was started without credentials).
"""

from __future__ import annotations

import base64
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import orjson

from eventmesh.cli._settings import CliError

__all__ = ["invoke_remote"]

TIMEOUT = 905.0
"""Lambda's longest timeout (900 s), and a little: the endpoint answers when the function does."""


def _signed(
    url: str, body: bytes, headers: dict[str, str], credentials: str, region: str
) -> dict[str, str]:
    key, colon, secret = credentials.split(",")[0].partition(":")
    if not colon or not key or not secret:
        raise CliError("--aws-credentials: expected KEY:SECRET", 2)
    try:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
    except ImportError as exc:
        raise CliError(f"signing needs botocore ({exc}): pip install 'eventmesh[aws]'", 2) from None
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(Credentials(key, secret), "lambda", region).add_auth(request)
    return {name: str(value) for name, value in request.headers.items()}


def invoke_remote(
    endpoint: str,
    name: str,
    event: Any,
    invocation_type: str,
    credentials: str | None,
    region: str,
) -> int:
    """Invoke ``name`` (``fn``, ``fn:qualifier`` or an ARN) at ``endpoint``; the exit status."""
    parsed = urllib.parse.urlsplit(endpoint)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise CliError(f"--endpoint {endpoint!r}: expected http://HOST:PORT", 2)
    if name.startswith("arn:"):
        function, qualifier = name, ""  # an ARN may carry its qualifier: the path takes it
    else:
        function, _, qualifier = name.partition(":")
    path = f"/2015-03-31/functions/{urllib.parse.quote(function, safe='')}/invocations"
    if qualifier:
        path += "?" + urllib.parse.urlencode({"Qualifier": qualifier})
    url = endpoint.rstrip("/") + path
    body = orjson.dumps(event)
    headers = {
        "Content-Type": "application/json",
        "X-Amz-Invocation-Type": invocation_type,
        "X-Amz-Log-Type": "Tail",
    }
    if credentials:
        headers = _signed(url, body, headers, credentials, region)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            status = response.status
            answer = response.read()
            function_error = response.headers.get("X-Amz-Function-Error")
            log = response.headers.get("X-Amz-Log-Result")
            request_id = response.headers.get("x-amzn-RequestId", "")
    except urllib.error.HTTPError as error:
        detail = error.read()
        try:
            problem = orjson.loads(detail)
            kind = (
                problem.get("Type")
                or problem.get("__type")
                or error.headers.get("x-amzn-ErrorType", "")
            )
            message = problem.get("message") or problem.get("Message") or detail.decode()
        except (orjson.JSONDecodeError, AttributeError):
            kind, message = (
                error.headers.get("x-amzn-ErrorType", ""),
                detail.decode(errors="replace"),
            )
        raise CliError(f"{endpoint}: {error.code} {kind}: {message}".replace(" : ", ": ")) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise CliError(f"{endpoint}: cannot reach the endpoint ({reason})") from None
    if log:
        sys.stderr.write(base64.b64decode(log).decode("utf-8", "replace"))
        sys.stderr.flush()
    if invocation_type == "RequestResponse":
        sys.stdout.buffer.write(answer + b"\n")
    else:
        sys.stdout.write(orjson.dumps({"StatusCode": status, "RequestId": request_id}).decode())
        sys.stdout.write("\n")
    sys.stdout.flush()
    return 1 if function_error else 0
