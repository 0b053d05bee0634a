"""The connection: the server's version checked at connect, scripts run by SHA1 and reloaded."""

from __future__ import annotations

import pytest
from redis_test_server import require_redis

from eventmesh import BackendError, ConfigurationError
from eventmesh_redis import MIN_SERVER_VERSION, RedisConnection, parse_redis_url
from eventmesh_redis.connection import Script, check_server_version


def test_a_server_older_than_needed_is_refused_naming_the_version_needed() -> None:
    with pytest.raises(ConfigurationError, match=r"version 6\.0\.16.*needs Redis 6\.2\.0"):
        check_server_version("6.0.16", "redis://old")
    assert check_server_version("7.0.15", "redis://new") == (7, 0, 15)
    assert check_server_version("6.2.0", "redis://edge") == MIN_SERVER_VERSION


async def test_connecting_reads_the_server_version(redis_url: str) -> None:
    connection = RedisConnection(redis_url, parse_redis_url(redis_url))
    await connection.client()
    assert connection.server_version is not None
    assert connection.server_version >= MIN_SERVER_VERSION
    await connection.close()
    with pytest.raises(BackendError, match="closed"):
        await connection.client()


async def test_a_script_the_server_forgot_is_loaded_again(redis_url: str) -> None:
    """After a restart or SCRIPT FLUSH the server answers NOSCRIPT to EVALSHA: the script is
    loaded again and run, once."""
    script = Script("add", "return redis.call('INCRBY', KEYS[1], ARGV[1])")
    connection = RedisConnection(redis_url, parse_redis_url(redis_url), [script])
    key = connection.key("test", "counter")
    assert await connection.call(script, [key], [2]) == 2
    client = await connection.client()
    await client.script_flush()
    assert await client.script_exists(script.sha) == [False]
    assert await connection.call(script, [key], [3]) == 5
    assert await client.script_exists(script.sha) == [True]
    await connection.close()


async def test_keys_carry_a_hash_tag_per_resource(redis_url: str) -> None:
    """Every key of one resource hashes to one Redis Cluster slot: the tag is the braces."""
    connection = RedisConnection(redis_url, parse_redis_url(redis_url))
    prefix = parse_redis_url(redis_url).prefix
    assert connection.key("queue", "orders") == f"{{{prefix}:queue:orders}}"
    await connection.close()


async def test_a_script_error_is_a_backend_error(redis_url: str) -> None:
    script = Script("bad", "return redis.call('NO-SUCH-COMMAND')")
    connection = RedisConnection(redis_url, parse_redis_url(redis_url))
    with pytest.raises(BackendError, match="script bad"):
        await connection.call(script, [], [])
    await connection.close()


async def test_no_server_skips_a_test_outside_ci_and_fails_it_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nowhere = "redis://127.0.0.1:1/0"
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no Redis server answers"):
        await require_redis(nowhere)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the Redis tests"):
        await require_redis(nowhere)
