"""The LogStore protocol: sequences per shard, reads by position, long polls, bounds, trims."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

import pytest

from eventmesh._errors import ConfigurationError
from eventmesh.backends.protocols import LogRecord, LogStore
from eventmesh.testing.conformance.capabilities import Capabilities, Trim
from eventmesh.testing.conformance.suites.attributes import ReadOnlyAttributes
from eventmesh.testing.conformance.suites.durations import sub_second
from eventmesh.testing.conformance.timing import TimeDriver


def records(*datas: str, key: str = "pk") -> list[tuple[bytes, str, Mapping[str, str]]]:
    return [(data.encode(), key, {}) for data in datas]


def sequences(got: list[LogRecord]) -> list[int]:
    return [record.sequence for record in got]


async def append_at_three_times(log_store: LogStore, timing: TimeDriver) -> None:
    """Record 1 arrives at the start, records 2 and 3 ten seconds later, record 4 twenty."""
    await log_store.append("s", "0", records("a"))
    await timing.advance(10)
    await log_store.append("s", "0", records("b", "c"))
    await timing.advance(10)
    await log_store.append("s", "0", records("d"))


async def trims_as_declared(
    log_store: LogStore, timing: TimeDriver, capabilities: Capabilities
) -> None:
    """``trim`` does what the record says: removes exactly the records that arrived before its
    time (EXACT), some of them but never a later one (APPROXIMATE), or is refused (NONE)."""
    await append_at_three_times(log_store, timing)
    before = timing.start + timing.seconds(15)  # records 1-3 arrived before, record 4 after
    if capabilities.trim is Trim.NONE:
        with pytest.raises(ConfigurationError):
            await log_store.trim("s", "0", before=before)
        assert sequences(await log_store.read("s", "0", 0, 10)) == [1, 2, 3, 4]
        assert await log_store.bounds("s", "0") == (0, 4)
        return
    removed = await log_store.trim("s", "0", before=before)
    kept = sequences(await log_store.read("s", "0", 0, 10))
    if capabilities.trim is Trim.EXACT:
        assert (removed, kept) == (3, [4])
    else:
        assert 0 <= removed <= 3
        assert kept == list(range(removed + 1, 5))  # the oldest go first; record 4 stays
    assert await log_store.bounds("s", "0") == (removed, 4)


class LogStoreSuite:
    """The LogStore protocol; subclass as ``class TestLogStore(LogStoreSuite)``."""

    async def test_is_a_log_store(self, log_store: LogStore) -> None:
        assert isinstance(log_store, LogStore)

    async def test_attributes_may_be_any_read_only_mapping_and_records_share_none(
        self, log_store: LogStore
    ) -> None:
        """Attributes are a ``Mapping[str, str]``, not necessarily a dict (a resource may
        give one read-only map to many records). The records handed back reach user code
        (a stream's records): each one's attributes are read-only or its own, so changing
        one record's changes no other record's, nor what a later read returns."""
        some = ReadOnlyAttributes({"traceparent": "00-1-2-01"})
        given = [(b"a", "pk", some), (b"b", "pk", some), (b"c", "pk", ReadOnlyAttributes())]
        appended = await log_store.append("s", "0", given)
        read = await log_store.read("s", "0", 0, 10)
        expected = [{"traceparent": "00-1-2-01"}, {"traceparent": "00-1-2-01"}, {}]
        assert [dict(record.attributes) for record in appended] == expected
        assert [dict(record.attributes) for record in read] == expected
        for record in (appended[0], read[0]):
            with contextlib.suppress(TypeError):  # read-only
                record.attributes["traceparent"] = "changed"  # type: ignore[index]
        assert dict(appended[1].attributes) == dict(read[1].attributes) == expected[1]
        again = await log_store.read("s", "0", 0, 10)
        assert [dict(record.attributes) for record in again] == expected

    async def test_append_returns_the_records_as_stored(
        self, timing: TimeDriver, log_store: LogStore
    ) -> None:
        stored = await log_store.append(
            "s", "0", [(b"one", "k1", {"a": "1"}), (b"two", "k2", {}), (b"three", "k1", {})]
        )
        assert stored == [
            LogRecord(1, b"one", "k1", timing.at(0), {"a": "1"}),
            LogRecord(2, b"two", "k2", timing.at(0), {}),
            LogRecord(3, b"three", "k1", timing.at(0), {}),
        ]

    async def test_append_of_nothing_stores_nothing(self, log_store: LogStore) -> None:
        assert await log_store.append("s", "0", []) == []
        assert await log_store.bounds("s", "0") == (0, 0)

    async def test_sequences_continue_across_appends(self, log_store: LogStore) -> None:
        await log_store.append("s", "0", records("a", "b"))
        later = await log_store.append("s", "0", records("c"))
        assert sequences(later) == [3]
        got = await log_store.read("s", "0", after=0, limit=10)
        assert [record.data for record in got] == [b"a", b"b", b"c"]
        assert sequences(got) == [1, 2, 3]

    async def test_shards_and_streams_count_on_their_own(self, log_store: LogStore) -> None:
        await log_store.append("s", "0", records("a", "b", "c"))
        assert sequences(await log_store.append("s", "1", records("x"))) == [1]
        assert sequences(await log_store.append("t", "0", records("y", "z"))) == [1, 2]
        assert [r.data for r in await log_store.read("s", "1", 0, 10)] == [b"x"]
        assert [r.data for r in await log_store.read("t", "0", 0, 10)] == [b"y", b"z"]
        assert await log_store.read("u", "0", 0, 10) == []

    async def test_read_takes_records_after_a_position_up_to_a_limit(
        self, log_store: LogStore
    ) -> None:
        await log_store.append("s", "0", records("1", "2", "3", "4", "5"))
        assert sequences(await log_store.read("s", "0", after=0, limit=2)) == [1, 2]
        assert sequences(await log_store.read("s", "0", after=2, limit=10)) == [3, 4, 5]
        assert sequences(await log_store.read("s", "0", after=3, limit=1)) == [4]
        assert await log_store.read("s", "0", after=5, limit=10) == []

    async def test_reading_removes_nothing(self, log_store: LogStore) -> None:
        await log_store.append("s", "0", records("a", "b"))
        first = await log_store.read("s", "0", 0, 10)
        assert await log_store.read("s", "0", 0, 10) == first
        assert await log_store.bounds("s", "0") == (0, 2)

    async def test_arrival_is_the_wall_time_of_the_append(
        self, log_store: LogStore, timing: TimeDriver
    ) -> None:
        await append_at_three_times(log_store, timing)
        got = await log_store.read("s", "0", 0, 10)
        assert [record.arrival for record in got] == [
            timing.at(0),
            timing.at(10),
            timing.at(10),
            timing.at(20),
        ]

    async def test_a_long_poll_returns_as_soon_as_a_record_is_appended(
        self, log_store: LogStore, timing: TimeDriver
    ) -> None:
        await log_store.append("s", "0", records("old"))
        waiting = asyncio.create_task(
            log_store.read("s", "0", after=1, limit=10, wait=timing.seconds(20))
        )
        await timing.advance(5)
        assert not waiting.done()
        await log_store.append("s", "0", records("new"))
        await timing.advance_past(0)
        assert waiting.done()
        got = await waiting
        assert [(r.sequence, r.data) for r in got] == [(2, b"new")]
        assert timing.leaves_no_timers()  # the finished poll left no timer behind

    async def test_a_long_poll_wakes_every_reader_of_the_shard(
        self, log_store: LogStore, timing: TimeDriver
    ) -> None:
        readers = [
            asyncio.create_task(
                log_store.read("s", "0", after=0, limit=10, wait=timing.seconds(20))
            )
            for _ in range(3)
        ]
        await timing.advance(1)
        await log_store.append("s", "0", records("a"))
        await timing.advance_past(0)
        assert all(reader.done() for reader in readers)
        assert [sequences(await reader) for reader in readers] == [[1], [1], [1]]

    async def test_a_long_poll_ignores_other_shards(
        self, log_store: LogStore, timing: TimeDriver
    ) -> None:
        waiting = asyncio.create_task(
            log_store.read("s", "0", after=0, limit=10, wait=timing.seconds(20))
        )
        await timing.advance(1)
        await log_store.append("s", "1", records("elsewhere"))
        await log_store.append("t", "0", records("elsewhere"))
        await timing.advance(1)
        assert not waiting.done()
        await timing.advance_past(18)
        assert waiting.done()
        assert await waiting == []

    async def test_a_long_poll_gives_up_after_its_wait(
        self, log_store: LogStore, timing: TimeDriver
    ) -> None:
        waiting = asyncio.create_task(
            log_store.read("s", "0", after=0, limit=10, wait=timing.seconds(20))
        )
        await timing.advance_before(19.9)
        assert not waiting.done()
        await timing.advance_past(0.1)
        assert waiting.done()
        assert await waiting == []
        assert timing.leaves_no_timers()

    async def test_a_cancelled_long_poll_leaves_nothing_behind(
        self, log_store: LogStore, timing: TimeDriver
    ) -> None:
        waiting = asyncio.create_task(
            log_store.read("s", "0", after=0, limit=10, wait=timing.seconds(20))
        )
        await timing.advance(1)
        waiting.cancel()
        await timing.advance(0)
        assert waiting.cancelled()
        assert timing.leaves_no_timers()
        await log_store.append("s", "0", records("a"))  # wakes no one, and does not fail
        assert sequences(await log_store.read("s", "0", 0, 10)) == [1]

    async def test_close_ends_a_long_poll(self, log_store: LogStore, timing: TimeDriver) -> None:
        waiting = asyncio.create_task(
            log_store.read("s", "0", after=0, limit=10, wait=timing.seconds(1000))
        )
        await timing.advance(1)
        await log_store.close()
        await timing.advance_past(0)
        assert waiting.done()
        assert await waiting == []

    async def test_bounds_of_a_shard_never_written(self, log_store: LogStore) -> None:
        assert await log_store.bounds("s", "0") == (0, 0)

    async def test_bounds_before_and_after_trims(
        self, log_store: LogStore, timing: TimeDriver, capabilities: Capabilities
    ) -> None:
        if capabilities.trim is not Trim.EXACT:
            await trims_as_declared(log_store, timing, capabilities)
            return
        await append_at_three_times(log_store, timing)
        assert await log_store.bounds("s", "0") == (0, 4)
        assert await log_store.trim("s", "0", before=timing.start + timing.seconds(10)) == 1
        assert await log_store.bounds("s", "0") == (1, 4)
        assert await log_store.trim("s", "0", before=timing.start + timing.seconds(100)) == 3
        assert await log_store.bounds("s", "0") == (4, 4)

    async def test_sequences_never_restart_after_everything_is_trimmed(
        self, log_store: LogStore, timing: TimeDriver, capabilities: Capabilities
    ) -> None:
        if capabilities.trim is not Trim.EXACT:
            await trims_as_declared(log_store, timing, capabilities)
            return
        await log_store.append("s", "0", records("a", "b", "c"))
        await timing.advance(1)
        assert await log_store.trim("s", "0", before=timing.start + timing.seconds(1)) == 3
        assert await log_store.read("s", "0", 0, 10) == []
        assert sequences(await log_store.append("s", "0", records("d"))) == [4]
        assert await log_store.bounds("s", "0") == (3, 4)

    async def test_trim_keeps_records_that_arrived_at_or_after_its_time(
        self, log_store: LogStore, timing: TimeDriver, capabilities: Capabilities
    ) -> None:
        if capabilities.trim is not Trim.EXACT:
            await trims_as_declared(log_store, timing, capabilities)
            return
        await append_at_three_times(log_store, timing)
        assert await log_store.trim("s", "0", before=timing.start) == 0
        assert await log_store.trim("s", "0", before=timing.start + timing.seconds(9.5)) == 1
        assert (
            await log_store.trim("s", "0", before=timing.start + timing.seconds(10)) == 0
        )  # 2 and 3 arrived ten seconds in
        assert sequences(await log_store.read("s", "0", 0, 10)) == [2, 3, 4]

    async def test_trim_never_renumbers(
        self, log_store: LogStore, timing: TimeDriver, capabilities: Capabilities
    ) -> None:
        if capabilities.trim is not Trim.EXACT:
            await trims_as_declared(log_store, timing, capabilities)
            return
        await append_at_three_times(log_store, timing)
        await log_store.trim("s", "0", before=timing.start + timing.seconds(15))
        got = await log_store.read("s", "0", after=0, limit=10)
        assert [(r.sequence, r.data) for r in got] == [(4, b"d")]
        assert sequences(await log_store.append("s", "0", records("e"))) == [5]

    async def test_a_read_from_a_trimmed_position_starts_at_the_oldest_kept(
        self, log_store: LogStore, timing: TimeDriver, capabilities: Capabilities
    ) -> None:
        if capabilities.trim is not Trim.EXACT:
            await trims_as_declared(log_store, timing, capabilities)
            return
        await append_at_three_times(log_store, timing)
        await log_store.trim("s", "0", before=timing.start + timing.seconds(10))
        assert sequences(await log_store.read("s", "0", after=0, limit=2)) == [2, 3]
        assert sequences(await log_store.read("s", "0", after=1, limit=10)) == [2, 3, 4]

    async def test_trim_touches_only_its_shard(
        self, log_store: LogStore, timing: TimeDriver, capabilities: Capabilities
    ) -> None:
        if capabilities.trim is not Trim.EXACT:
            await trims_as_declared(log_store, timing, capabilities)
            return
        await log_store.append("s", "0", records("a"))
        await log_store.append("s", "1", records("b"))
        await timing.advance(1)
        assert await log_store.trim("s", "0", before=timing.start + timing.seconds(1)) == 1
        assert await log_store.bounds("s", "1") == (0, 1)

    async def test_sequence_at_finds_the_position_before_a_time(
        self, log_store: LogStore, timing: TimeDriver
    ) -> None:
        await append_at_three_times(log_store, timing)
        assert await log_store.sequence_at("s", "0", timing.start - timing.seconds(1)) == 0
        assert await log_store.sequence_at("s", "0", timing.start) == 0
        assert await log_store.sequence_at("s", "0", timing.start + timing.seconds(5)) == 1
        assert await log_store.sequence_at("s", "0", timing.start + timing.seconds(10)) == 1
        assert await log_store.sequence_at("s", "0", timing.start + timing.seconds(15)) == 3
        assert await log_store.sequence_at("s", "0", timing.start + timing.seconds(20)) == 3
        assert (
            await log_store.sequence_at("s", "0", timing.start + timing.seconds(25)) == 4
        )  # after every record: newest

    async def test_sequence_at_after_a_trim_starts_at_the_oldest_kept(
        self, log_store: LogStore, timing: TimeDriver, capabilities: Capabilities
    ) -> None:
        if capabilities.trim is not Trim.EXACT:
            await trims_as_declared(log_store, timing, capabilities)
            return
        await append_at_three_times(log_store, timing)
        await log_store.trim("s", "0", before=timing.start + timing.seconds(10))
        assert await log_store.sequence_at("s", "0", timing.start) == 1
        assert await log_store.sequence_at("s", "0", timing.start + timing.seconds(15)) == 3

    async def test_sequence_at_of_an_empty_shard(
        self, timing: TimeDriver, log_store: LogStore
    ) -> None:
        assert await log_store.sequence_at("s", "0", timing.start) == 0

    async def test_a_long_poll_for_one_record_waits_for_it(
        self, log_store: LogStore, timing: TimeDriver
    ) -> None:
        waiting = asyncio.create_task(
            log_store.read("s", "0", after=0, limit=1, wait=timing.seconds(20))
        )
        await timing.advance(5)
        assert not waiting.done()
        await log_store.append("s", "0", records("a", "b"))
        await timing.advance_past(0)
        assert sequences(await waiting) == [1]

    async def test_a_sub_second_long_poll_waits_for_its_record(
        self, log_store: LogStore, timing: TimeDriver
    ) -> None:
        """A wait under a second is kept, not rounded to none. The record comes half-way:
        that half must cover the backend's clock tolerance, or on a loaded machine the read
        could end before the append reaches it (see
        :func:`~eventmesh.testing.conformance.suites.durations.sub_second`)."""
        wait = sub_second(timing)
        waiting = asyncio.create_task(
            log_store.read("s", "0", after=0, limit=10, wait=timing.seconds(wait))
        )
        await timing.advance(wait / 2)
        assert not waiting.done()
        await log_store.append("s", "0", records("a"))
        await timing.advance_past(0)
        assert sequences(await waiting) == [1]

    async def test_a_read_of_no_records_does_not_wait(
        self, log_store: LogStore, timing: TimeDriver
    ) -> None:
        """With ``limit`` 0 there is no first record to wait for: the read returns at once."""
        await log_store.append("s", "0", records("a"))
        reading = asyncio.create_task(
            log_store.read("s", "0", after=1, limit=0, wait=timing.seconds(20))
        )
        await timing.advance_past(0)
        assert reading.done()
        assert await reading == []

    async def test_trim_is_as_declared(
        self, log_store: LogStore, timing: TimeDriver, capabilities: Capabilities
    ) -> None:
        await trims_as_declared(log_store, timing, capabilities)
