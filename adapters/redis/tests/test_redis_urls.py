"""The storage URL: found by scheme, its options checked when the mesh is built."""

from __future__ import annotations

import pytest

from eventmesh import BackendError, ConfigurationError, Mesh
from eventmesh.backends import installed_schemes, open_backend
from eventmesh.backends.registry import check_backend_url
from eventmesh.testing import VirtualClock
from eventmesh_redis import RedisBackend, parse_redis_url


def test_redis_and_rediss_are_registered_schemes() -> None:
    assert {"redis", "rediss"} <= set(installed_schemes())


def test_the_options_are_read_from_the_url() -> None:
    options = parse_redis_url(
        "redis://u:secret@db.example:6380/2?prefix=app&pool_size=20&timeout=5"
    )
    assert options.server_url == "redis://u:secret@db.example:6380/2"
    assert (options.prefix, options.pool_size, options.timeout) == ("app", 20, 5.0)
    assert parse_redis_url("rediss://localhost").server_url == "rediss://localhost"


def test_the_defaults() -> None:
    options = parse_redis_url("redis://localhost:6379/0")
    assert (options.prefix, options.pool_size, options.timeout, options.poll_interval) == (
        "eventmesh",
        50,
        5.0,
        1.0,
    )


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis://localhost/0?pool=3", "unknown option 'pool'"),
        ("redis://localhost/0?pool_size=0", "pool_size"),
        ("redis://localhost/0?pool_size=many", "pool_size"),
        ("redis://localhost/0?timeout=-1", "timeout"),
        ("redis://localhost/0?prefix={x}", "prefix"),
        ("redis://localhost/zero", "database 'zero' is not a number"),
        ("redis://localhost:port/0", "port 'port' is not a number"),
        ("redis:///0", "host"),
        ("redis:localhost", "not a Redis storage URL"),
    ],
)
def test_a_bad_url_is_refused_when_the_mesh_is_built(url: str, says: str) -> None:
    with pytest.raises(ConfigurationError, match=says):
        check_backend_url(url)
    with pytest.raises(ConfigurationError, match=says):
        Mesh(storage=url)


def test_a_password_is_masked_in_errors() -> None:
    with pytest.raises(ConfigurationError) as refused:
        check_backend_url("redis://user:hunter2@localhost/0?nope=1")
    assert "hunter2" not in str(refused.value)


async def test_opening_connects_nothing_until_used() -> None:
    """The backend is built synchronously when a mesh starts; an unreachable server fails the
    first command, with a BackendError naming the URL, not the build."""
    backend = open_backend("redis://127.0.0.1:1/0?timeout=0.5", VirtualClock())
    assert isinstance(backend, RedisBackend)
    assert backend.in_memory is False
    assert backend.connection is not None
    with pytest.raises(BackendError, match=r"127\.0\.0\.1:1"):
        await backend.connection.client()
    await backend.close()
