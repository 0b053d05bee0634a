"""The access keys the endpoint accepts: ``KEY:SECRET`` pairs (``--aws-credentials``,
``EVENTMESH_AWS_CREDENTIALS=KEY:SECRET[,KEY2:SECRET2]``) or
:class:`~eventmesh._aws_credentials.AwsCredentials`."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from eventmesh._aws_credentials import AwsCredentials
from eventmesh._errors import ConfigurationError

__all__ = ["ENVIRONMENT_VARIABLE", "Credentials", "credentials_from", "parse_credentials"]

ENVIRONMENT_VARIABLE = "EVENTMESH_AWS_CREDENTIALS"

Credentials = str | AwsCredentials | Mapping[str, str] | Iterable[AwsCredentials | str]
"""What ``credentials=`` accepts: ``"KEY:SECRET[,KEY2:SECRET2]"``, AwsCredentials, a mapping
of key ids to secrets, or several of the first two."""


def parse_credentials(text: str) -> dict[str, str]:
    """``KEY:SECRET[,KEY2:SECRET2]`` to secrets by key id (the secret may contain ``:``)."""
    found: dict[str, str] = {}
    for number, pair in enumerate(text.split(","), 1):
        pair = pair.strip()
        if not pair:
            continue
        key, sep, secret = pair.partition(":")
        if not sep or not key or not secret:
            # named by position only: a pair without its colon may be all secret
            raise ConfigurationError(
                f"AWS credentials are KEY:SECRET pairs separated by commas; pair {number} is not"
            )
        found[key] = secret
    if not found:
        raise ConfigurationError("AWS credentials are KEY:SECRET pairs; none given")
    return found


def credentials_from(value: Credentials | None) -> dict[str, str] | None:
    """Secrets by key id for ``value``; None (any request accepted) when ``value`` is None
    and ``EVENTMESH_AWS_CREDENTIALS`` is not set."""
    if value is None:
        text = os.environ.get(ENVIRONMENT_VARIABLE)
        return parse_credentials(text) if text else None
    if isinstance(value, str):
        return parse_credentials(value)
    if isinstance(value, AwsCredentials):
        return {value.access_key_id: value.secret_access_key}
    if isinstance(value, Mapping):
        pairs = {str(key): str(secret) for key, secret in value.items()}
        if not pairs or not all(pairs) or not all(pairs.values()):
            raise ConfigurationError("AWS credentials: key ids and secrets must be non-empty")
        return pairs
    found: dict[str, str] = {}
    for item in value:
        if isinstance(item, AwsCredentials):
            found[item.access_key_id] = item.secret_access_key
        elif isinstance(item, str):
            found.update(parse_credentials(item))
        else:
            raise ConfigurationError(
                f"AWS credentials: expected KEY:SECRET or AwsCredentials, got {type(item).__name__}"
            )
    if not found:
        raise ConfigurationError("AWS credentials: none given")
    return found
