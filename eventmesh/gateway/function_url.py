"""Lambda function URLs: one HTTP endpoint per function that asks (``mesh.function(...,
url=True)``).

A URL's id is 32 lowercase letters and digits derived from the function's name; its host is
``{url-id}.lambda-url.{region}.on.aws``. Clients without wildcard DNS reach it at
``/_lambda-url/{function-name}/...`` on the front instead (the rest of the path is the
event's ``rawPath``). ``auth_type`` is ``"NONE"`` or ``"AWS_IAM"``: with AWS_IAM a request
needs a SigV4 ``Authorization`` header (its access key is reported in
``requestContext.authorizer.iam``; the signature itself is not verified by the mesh).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from eventmesh._errors import ConfigurationError, EventMeshError
from eventmesh.gateway.cors import Cors, cors_of
from eventmesh.gateway.ids import url_id
from eventmesh.resources._base import Resource
from eventmesh.resources.context import ResourceContext

__all__ = ["URL_PATH_PREFIX", "FunctionUrl", "FunctionUrlConfig", "url_settings"]

URL_PATH_PREFIX = "/_lambda-url/"
AUTH_TYPES = ("NONE", "AWS_IAM")


@dataclass(frozen=True, slots=True)
class FunctionUrlConfig:
    """A function URL's settings: ``auth_type`` ``"NONE"`` or ``"AWS_IAM"``, ``cors``
    (True, a :class:`~eventmesh.gateway.cors.Cors` or a mapping of its settings)."""

    auth_type: str = "NONE"
    cors: Any = None


def url_settings(value: Any) -> dict[str, Any] | None:
    """The ``url=`` of ``mesh.function``: None/False (no URL), True, a
    :class:`FunctionUrlConfig` or a mapping with ``auth_type`` and ``cors``."""
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if isinstance(value, FunctionUrlConfig):
        value = {"auth_type": value.auth_type, "cors": value.cors}
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"url: True, a FunctionUrlConfig or a mapping (auth_type, cors), got {value!r}"
        )
    unknown = set(value) - {"auth_type", "cors"}
    if unknown:
        raise ConfigurationError(f"url: unknown settings {sorted(unknown)} (auth_type, cors)")
    return {key: item for key, item in value.items() if item is not None}


class FunctionUrl(Resource):
    """The URL of one function (named ``lambda-url:{function}`` among the mesh's resources)."""

    kind: ClassVar[str] = "function_url"
    service: ClassVar[str] = "lambda"

    def __init__(self, context: ResourceContext, name: str, settings: Mapping[str, Any]) -> None:
        super().__init__(context, name, settings)
        unknown = set(settings) - {"function", "auth_type", "cors"}
        if unknown:
            raise ConfigurationError(f"function URL: unknown settings {sorted(unknown)}")
        function = settings.get("function")
        if not isinstance(function, str) or not function:
            raise ConfigurationError("a function URL needs function= (a function's name)")
        self.function: str = function
        auth_type = settings.get("auth_type", "NONE")
        if auth_type not in AUTH_TYPES:
            raise ConfigurationError(f"auth_type: 'NONE' or 'AWS_IAM', got {auth_type!r}")
        self.auth_type: str = auth_type
        self.cors: Cors | None = cors_of(settings.get("cors"))
        self.id = url_id(function)

    @staticmethod
    def resource_name(function: str) -> str:
        return f"lambda-url:{function}"

    @property
    def arn(self) -> str:
        context = self.context
        return f"arn:aws:lambda:{context.region}:{context.account_id}:function:{self.function}"

    @property
    def domain_name(self) -> str:
        return f"{self.id}.lambda-url.{self.context.region}.on.aws"

    @property
    def url(self) -> str:
        return f"https://{self.domain_name}/"

    async def start(self) -> None:
        try:
            self.context.resolve_function(self.function)
        except EventMeshError as exc:
            raise ConfigurationError(f"function URL of {self.function!r}: {exc}") from None
