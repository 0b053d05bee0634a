"""Backends found by URL scheme, through the ``eventmesh.backends`` entry-point group.

A backend is a factory ``(url, clock) -> Backend`` registered under its URL scheme by the
distribution that ships it, in that distribution's ``pyproject.toml``::

    [project.entry-points."eventmesh.backends"]
    redis = "eventmesh_redis:redis_backend_from_url"
    rediss = "eventmesh_redis:redis_backend_from_url"

eventmesh registers its own two the same way (``memory`` and ``sqlite``), so the core holds no
list of backends: :func:`open_backend` reads the group, imports the factory of the URL's scheme
and calls it. The factory checks the rest of the URL (its location and options, see
:func:`eventmesh.backends.urls.url_options`) and raises
:class:`~eventmesh.ConfigurationError` for what it cannot use.

A scheme nobody registered is refused with the schemes that are installed and, for the
engines eventmesh has adapters for, the distribution to install (as anyio does for a missing
event-loop backend). A factory that cannot be imported is reported with its distribution and
the import error, since that is an installation problem, not a wrong URL.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points

from eventmesh._clock import Clock
from eventmesh._errors import ConfigurationError
from eventmesh.backends.protocols import Backend
from eventmesh.backends.urls import shown_url, url_scheme

__all__ = [
    "ADAPTER_DISTRIBUTIONS",
    "ENTRY_POINT_GROUP",
    "BackendFactory",
    "CheckedFactory",
    "check_backend_url",
    "installed_schemes",
    "load_factory",
    "open_backend",
]

BackendFactory = Callable[[str, Clock], Backend]
"""What an entry point of the group names: build the backend a storage URL describes."""

ENTRY_POINT_GROUP = "eventmesh.backends"


class CheckedFactory:
    """A backend factory that can also check a URL without opening anything.

    A mesh records its storage when it is built and opens it when it starts; it checks the URL
    at once, so that a wrong option fails where it was written. An entry point that names a
    plain factory function gets its URL checked only when it is opened.
    """

    def __init__(self, open: BackendFactory, check: Callable[[str], object]) -> None:
        self._open = open
        self._check = check

    def __call__(self, url: str, clock: Clock) -> Backend:
        return self._open(url, clock)

    def check(self, url: str) -> None:
        """Raise :class:`~eventmesh.ConfigurationError` if ``url`` cannot be opened as given."""
        self._check(url)

    def __repr__(self) -> str:
        return f"<CheckedFactory {getattr(self._open, '__qualname__', self._open)!r}>"


# Schemes of the adapters eventmesh has (or plans), and the distribution that provides each:
# the error for a missing one says what to install.
ADAPTER_DISTRIBUTIONS: dict[str, str] = {
    "redis": "eventmesh-redis",
    "rediss": "eventmesh-redis",
    "nats": "eventmesh-nats",
    "amqp": "eventmesh-rabbitmq",
    "amqps": "eventmesh-rabbitmq",
    "aws": "eventmesh-aws",
    "sqs": "eventmesh-aws",
}

# The entry points pyproject.toml declares for eventmesh itself, used only for a scheme the
# installed metadata does not list. A source tree imported without being installed (a checkout
# on PYTHONPATH, a vendored copy, a zipapp) has no eventmesh dist-info, so importlib.metadata
# finds none of eventmesh's own entry points there; without this the default storage, memory,
# would not open. Installed metadata always wins, so this never hides a registration.
_BUILT_IN = (
    EntryPoint("memory", "eventmesh.backends.memory:memory_factory", ENTRY_POINT_GROUP),
    EntryPoint("sqlite", "eventmesh.backends.sqlite:sqlite_factory", ENTRY_POINT_GROUP),
)


def _registered() -> dict[str, list[EntryPoint]]:
    """Every registration of the group by scheme, each target once (a distribution on the
    path twice lists its entry points twice); the built-ins fill in missing schemes."""
    found: dict[str, list[EntryPoint]] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        same = found.setdefault(point.name.lower(), [])
        if all(point.value != other.value for other in same):
            same.append(point)
    for point in _BUILT_IN:
        found.setdefault(point.name, [point])
    return found


def installed_schemes() -> list[str]:
    """The URL schemes a backend is registered for, sorted."""
    return sorted(_registered())


def _distribution(point: EntryPoint) -> str:
    dist = getattr(point, "dist", None)
    return dist.name if dist is not None else "eventmesh"


def _missing(url: str, scheme: str, installed: list[str]) -> ConfigurationError:
    listed = ", ".join(installed)
    if not scheme:
        return ConfigurationError(
            f"unknown storage {shown_url(url)!r}: it names no backend; give a URL such as "
            "'memory' or "
            f"'sqlite:///mesh.db' (installed schemes: {listed})"
        )
    distribution = ADAPTER_DISTRIBUTIONS.get(scheme)
    if distribution is not None:
        return ConfigurationError(
            f"storage {shown_url(url)!r}: the backend for {scheme!r} is not installed. "
            f"Install it with: pip install {distribution} (installed schemes: {listed})"
        )
    return ConfigurationError(
        f"unknown storage {shown_url(url)!r}: no backend is registered for the scheme "
        f"{scheme!r} "
        f"(installed schemes: {listed}); a backend registers its scheme in the "
        f"{ENTRY_POINT_GROUP!r} entry-point group"
    )


def load_factory(url: str) -> BackendFactory:
    """The factory registered for ``url``'s scheme, imported (without opening anything)."""
    scheme = url_scheme(url)
    registered = _registered()
    points = registered.get(scheme)
    if not points:
        raise _missing(url, scheme, sorted(registered))
    if len(points) > 1:
        claims = "; ".join(f"{_distribution(p)} ({p.value})" for p in points)
        raise ConfigurationError(
            f"storage {shown_url(url)!r}: the scheme {scheme!r} is registered by more than one "
            f"backend: {claims}; uninstall all but one"
        )
    (point,) = points
    try:
        factory = point.load()
    except Exception as exc:  # an ImportError, or whatever the module raised while importing
        raise ConfigurationError(
            f"storage {shown_url(url)!r}: the backend for {scheme!r} from the distribution "
            f"{_distribution(point)} ({point.value}) could not be imported: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not callable(factory):
        raise ConfigurationError(
            f"the {ENTRY_POINT_GROUP!r} entry point {scheme!r} of {_distribution(point)} names "
            f"{point.value}, which is not callable"
        )
    return factory  # type: ignore[no-any-return]


def check_backend_url(url: str) -> None:
    """Check ``url`` without opening it: its scheme is registered, its factory imports, and
    the factory (a :class:`CheckedFactory`) accepts the rest."""
    if not isinstance(url, str):
        raise ConfigurationError(f"a storage URL must be a string, got {url!r}")
    factory = load_factory(url)
    if isinstance(factory, CheckedFactory):
        factory.check(url)


def open_backend(url: str, clock: Clock) -> Backend:
    """Open the backend ``url`` names, on ``clock``: ``memory``, ``sqlite:///mesh.db``, or the
    scheme of any installed adapter (``redis://...`` with ``eventmesh-redis``)."""
    if not isinstance(url, str):
        raise ConfigurationError(f"a storage URL must be a string, got {url!r}")
    backend = load_factory(url)(url, clock)
    if not isinstance(backend, Backend):
        raise ConfigurationError(
            f"storage {shown_url(url)!r}: the backend factory returned "
            f"{type(backend).__name__}, not a Backend"
        )
    return backend
