"""S3's two ways to name a bucket: path style (``http://host/bucket/key``) and virtual-host
style (``http://bucket.host/key``). Virtual-host requests are rewritten to path style before
routing, so the rest-xml routes (``/{Bucket}/{Key+}``) serve both.

A Host is a bucket's virtual host when it is ``{bucket}.{suffix}`` for a suffix S3 clients
use: the endpoint's own host name, ``localhost``, ``localhost.localstack.cloud``,
``s3.amazonaws.com`` or ``s3.{region}.amazonaws.com``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from urllib.parse import quote

from eventmesh._http_messages import HttpRequest

__all__ = ["path_style", "virtual_bucket"]

_SUFFIXES = ("localhost", "localhost.localstack.cloud", "s3.amazonaws.com")
_REGIONAL = re.compile(r"s3[.-][a-z0-9-]+\.amazonaws\.com")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def virtual_bucket(host_header: str, own_host: str | None) -> str | None:
    """The bucket a Host header names, None for a path-style request."""
    host = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
    host = host.lower().rstrip(".")
    if not host or _is_ip(host):
        return None
    suffixes = list(_SUFFIXES)
    if own_host and not _is_ip(own_host):
        suffixes.insert(0, own_host.lower())
    for suffix in suffixes:
        if host.endswith("." + suffix):
            return host[: -len(suffix) - 1] or None
    bucket, _, rest = host.partition(".")
    if _REGIONAL.fullmatch(rest):
        return bucket
    return None


def path_style(request: HttpRequest, own_host: str | None) -> HttpRequest:
    """``request`` addressed path-style (itself when it already is)."""
    bucket = virtual_bucket(request.host, own_host)
    if bucket is None:
        return request
    raw = request.raw_path or request.path or "/"
    return dataclasses.replace(
        request,
        path=f"/{bucket}" if request.path in ("", "/") else f"/{bucket}{request.path}",
        raw_path=f"/{quote(bucket)}{raw}" if raw != "/" else f"/{quote(bucket)}",
    )
