"""The mesh's registry: functions and resources by name, and what a name or an ARN stands for.

Names are shared by every resource of a mesh (a queue and a topic cannot both be "orders"),
as the ARNs of one account and region would be. Function names resolve to a
:class:`~eventmesh._function.FunctionTarget` (a version or an alias), cached until a version
or an alias changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from eventmesh._errors import ConfigurationError, ResourceNotFoundError
from eventmesh._function import LATEST, Function, FunctionTarget
from eventmesh._validation import settings_conflict

__all__ = [
    "Registry",
    "check_api_name",
    "check_function_name",
    "check_resource_name",
    "resource_name_of",
]

R = TypeVar("R")

FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_RESOURCE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_FUNCTION_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:lambda:[^:]*:[^:]*:function:(.+)$")
_PARTIAL_FUNCTION_ARN = re.compile(r"^\d{12}:function:(.+)$")
_ARN_SERVICES = ("sqs", "sns", "kinesis", "events", "s3")
_ARN_RESOURCE_PREFIXES = ("event-bus/", "stream/")


def check_function_name(name: Any, what: str = "function") -> str:
    if not isinstance(name, str) or not FUNCTION_NAME.fullmatch(name):
        raise ConfigurationError(f"{what} name {name!r} must be 1-64 letters, digits, '-' or '_'")
    return name


def check_resource_name(name: Any, kind: str, limit: int) -> str:
    if not isinstance(name, str) or not _RESOURCE_NAME.fullmatch(name) or len(name) > limit:
        raise ConfigurationError(
            f"{kind} name {name!r} must be 1-{limit} letters, digits, '-', '_' or '.'"
        )
    return name


def check_api_name(name: Any) -> str:
    """An API Gateway API's name: 1-128 characters, spaces and punctuation included (API
    Gateway takes "Orders API From Stack prod"), no control characters."""
    if (
        not isinstance(name, str)
        or not 0 < len(name) <= 128
        or any(ord(char) < 32 or ord(char) == 127 for char in name)
    ):
        raise ConfigurationError(
            f"API name {name!r} must be 1-128 characters, without control characters"
        )
    return name


def resource_name_of(text: str) -> str:
    """The resource name an ARN names (``arn:aws:sqs:r:a:q`` -> ``q``; ``...:event-bus/b`` ->
    ``b``; ``...:stream/s`` -> ``s``; ``arn:aws:s3:::b`` -> ``b``); anything else unchanged."""
    if not text.startswith("arn:"):
        return text
    parts = text.split(":", 5)
    if len(parts) < 6 or parts[2] not in _ARN_SERVICES:
        return text
    resource = parts[5]
    for prefix in _ARN_RESOURCE_PREFIXES:
        if resource.startswith(prefix):
            return resource.removeprefix(prefix)
    return resource


class Registry:
    """Functions and resources of one mesh, by name; see the module docstring."""

    def __init__(self, function_arn_prefix: str) -> None:
        self._arn_prefix = function_arn_prefix
        self.functions: dict[str, Function] = {}
        self.resources: dict[str, object] = {}
        self._targets: dict[str, FunctionTarget] = {}
        self.resolved: Callable[[str], FunctionTarget | None] = self._targets.get
        """The target a name resolved to, while no version or alias has changed since; None
        if it has not been resolved (see :meth:`target`). The cache dict's own ``get``: one
        lookup, no Python frame, for ``mesh.invoke``'s hot path."""

    # -- functions ---------------------------------------------------------------------------
    def add_function(self, function: Function) -> None:
        if function.name in self.functions:
            raise ConfigurationError(f"a function named {function.name!r} is already registered")
        self.functions[function.name] = function
        self._targets.clear()

    def get_function(self, name: str) -> Function:
        try:
            return self.functions[name]
        except KeyError:
            raise ResourceNotFoundError(f"no function named {name!r}", function_name=name) from None

    def versions_changed(self) -> None:
        """A version was published or an alias moved: resolve names again."""
        self._targets.clear()

    def target(self, name: str) -> FunctionTarget:
        """``fn``, ``fn:3``, ``fn:live``, ``fn:$LATEST`` or an ARN, as an invocation target."""
        target = self._targets.get(name)
        if target is None:
            target = self._targets[name] = self._resolve(name)
        return target

    def _resolve(self, name: str) -> FunctionTarget:
        bare = name
        for pattern in (_FUNCTION_ARN, _PARTIAL_FUNCTION_ARN):
            match = pattern.match(name)
            if match:
                bare = match.group(1)
                break
        function_name, _, qualifier = bare.partition(":")
        function = self.get_function(function_name)
        arn = self._arn_prefix + function_name
        if not qualifier:
            return FunctionTarget(function, None, None, None, arn)
        arn = f"{arn}:{qualifier}"
        if qualifier == LATEST:
            return FunctionTarget(function, qualifier, None, None, arn)
        if qualifier in function.aliases:
            return FunctionTarget(function, qualifier, None, function.aliases[qualifier], arn)
        if qualifier in function.versions:
            return FunctionTarget(function, qualifier, function.versions[qualifier], None, arn)
        raise ResourceNotFoundError(
            f"function {function_name!r} has no version or alias {qualifier!r}",
            function_name=function_name,
        )

    # -- resources ---------------------------------------------------------------------------
    def add_resource(self, name: str, resource: object) -> None:
        """Make an object reachable by name (a destination of your own, say)."""
        existing = self.resources.get(name)
        if existing is not None and existing is not resource:
            raise ConfigurationError(f"a resource named {name!r} is already registered")
        self.resources[name] = resource

    def remove_resource(self, name: str) -> object | None:
        """Forget the resource named ``name``; returns it (None if there was none)."""
        return self.resources.pop(name, None)

    def find(self, name_or_arn: str) -> object | None:
        return self.resources.get(resource_name_of(name_or_arn))

    def resource(
        self,
        kind: type[R],
        name: str,
        settings: Mapping[str, Any],
        create: Callable[[], R],
    ) -> tuple[R, bool]:
        """The resource of that kind and name, and whether it was created now.

        Asking again with other settings is an error rather than a silent second queue.
        """
        existing = self.resources.get(name)
        if existing is not None:
            if not isinstance(existing, kind):
                raise ConfigurationError(
                    f"{name!r} is already a {type(existing).__name__}; names are shared by "
                    "every resource of a mesh"
                )
            current = getattr(existing, "settings", {})
            if settings and settings != current:
                label = str(getattr(kind, "kind", kind.__name__))
                raise ConfigurationError(settings_conflict(label, name, current, settings))
            return existing, False
        resource = create()
        self.resources[name] = resource
        return resource, True
