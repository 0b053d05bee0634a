"""The AWS credentials a mesh gives the handlers it runs in processes (boto3 reads them from
the environment, as on Lambda, where they are the function's execution role's)."""

from __future__ import annotations

from dataclasses import dataclass, field

from eventmesh._errors import ConfigurationError

__all__ = ["TEST_CREDENTIALS", "AwsCredentials"]


@dataclass(frozen=True, slots=True)
class AwsCredentials:
    """An access key, its secret and an optional session token. Only the key id shows in a
    repr: the secret and the token never reach a log."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("access_key_id", "secret_access_key"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ConfigurationError(f"AwsCredentials.{name} must be a non-empty string")
        if self.session_token is not None and not isinstance(self.session_token, str):
            raise ConfigurationError("AwsCredentials.session_token must be a string or None")


TEST_CREDENTIALS = AwsCredentials("testing", "testing", "testing")
"""The default: dummy credentials, so that an AWS SDK finds some and signs its requests (to an
endpoint the mesh or a test serves; real AWS refuses them)."""
