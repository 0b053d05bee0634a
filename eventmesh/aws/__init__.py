"""An AWS-compatible endpoint: AWS's own wire protocols served from the mesh, so any AWS SDK
(boto3, the JavaScript and Java SDKs, the CLI) reaches its queues, topics, buses, streams,
buckets, functions and schedules with nothing changed but the endpoint URL.

Requests are parsed and answers serialised from botocore's service models (one parser and
one serialiser per protocol: json, query, rest-json, rest-xml), so shapes, required members
and error codes follow AWS's definitions; each operation is a small handler registered in
:mod:`eventmesh.aws.operations` by its service's module in :mod:`eventmesh.aws.services`.
"""

from eventmesh.aws._app import MAX_BODY, AwsApp, asgi_app
from eventmesh.aws._credentials import ENVIRONMENT_VARIABLE, parse_credentials
from eventmesh.aws._server import DEFAULT_PORT, AwsServer, serve
from eventmesh.aws.operations import AwsCall, AwsError, OperationRegistry, operation

__all__ = [
    "DEFAULT_PORT",
    "ENVIRONMENT_VARIABLE",
    "MAX_BODY",
    "AwsApp",
    "AwsCall",
    "AwsError",
    "AwsServer",
    "OperationRegistry",
    "asgi_app",
    "operation",
    "parse_credentials",
    "serve",
]
