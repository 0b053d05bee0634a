"""The doorbell wakes as many queue receivers as a send made messages visible, the longest
waiting first, and every receiver for any other notification."""

from __future__ import annotations

import asyncio

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


async def test_closing_ends_a_wait_for_the_subscription() -> None:
    """A long poll's first step waits for the subscription; a store closed meanwhile ends it
    then, not when the wait's ``within`` runs out (the server here never answers)."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client goes away, answering nothing
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    async with server:
        url = f"redis://127.0.0.1:{server.sockets[0].getsockname()[1]}/0"
        bell = Doorbell(RedisConnection(url, parse_redis_url(url)), "test:queue:changed")
        waiting = asyncio.create_task(bell.listening(within=600))
        for _ in range(3):
            await asyncio.sleep(0)  # the listener starts; the subscription cannot complete
        assert not waiting.done()
        await bell.close()
        await asyncio.wait_for(waiting, 10)  # a bound to fail on, far below the 600 s
