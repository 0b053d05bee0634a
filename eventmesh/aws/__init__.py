"""An AWS-compatible endpoint: AWS's own wire protocols served from the mesh, so any AWS SDK
(boto3, the JavaScript and Java SDKs, the CLI) reaches its queues, topics, buses, streams,
buckets, functions and schedules with nothing changed but the endpoint URL.

Requests are parsed and answers serialised from botocore's service models (one parser and
one serialiser per protocol: json, query, rest-json, rest-xml), so shapes, required members
and error codes follow AWS's definitions; each operation is a small handler registered in
:mod:`eventmesh.aws.operations` by its service's module in :mod:`eventmesh.aws.services`.
"""
