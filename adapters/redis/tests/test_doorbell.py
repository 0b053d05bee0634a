"""The doorbell wakes as many queue receivers as a send made messages visible, the longest
waiting first, and every receiver for any other notification."""

from __future__ import annotations

from eventmesh_redis.connection import RedisConnection, parse_redis_url
from eventmesh_redis.doorbell import Doorbell

URL = "redis://127.0.0.1:6379/15"


def doorbell() -> Doorbell:
    return Doorbell(RedisConnection(URL, parse_redis_url(URL)), "test:queue:changed")


async def test_a_send_wakes_one_receiver_per_visible_message_longest_waiting_first() -> None:
    bell = doorbell()
    waiting = [bell.register("q") for _ in range(4)]
    other = bell.register("other")
    bell.notified("2:q")
    assert [future.done() for future in waiting] == [True, True, False, False]
    bell.notified("1:q")  # the woken ones are skipped: the next in line wakes
    assert [future.done() for future in waiting] == [True, True, True, False]
    assert not other.done()


async def test_a_bare_name_or_a_lost_connection_wakes_every_receiver() -> None:
    bell = doorbell()
    waiting = [bell.register("q") for _ in range(3)]
    other = bell.register("other")
    bell.notified("q")
    assert all(future.done() for future in waiting) and not other.done()
    bell.ring()
    assert other.done()


async def test_a_receiver_that_stopped_waiting_is_not_woken_in_anothers_place() -> None:
    bell = doorbell()
    first, second = bell.register("q"), bell.register("q")
    bell.unregister("q", first)
    bell.notified("1:q")
    assert second.done() and not first.done()
