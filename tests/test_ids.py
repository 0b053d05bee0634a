"""The mesh's cheap ids and timestamps: uuid-shaped, unique ids, and ISO 8601 times equal to
what ``datetime`` formats, rounding to the microsecond included.

Expected strings are written by hand; the property test compares with ``datetime`` itself.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from eventmesh._ids import IsoTimes, RequestIds

EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def test_request_ids_are_unique_version_4_uuids() -> None:
    ids = RequestIds()
    made = [ids.next() for _ in range(1000)]
    assert len(set(made)) == 1000
    for text in made[:3] + made[-3:]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)


def test_request_ids_count_in_their_last_12_hex_digits_across_each_4096() -> None:
    ids = RequestIds()
    made = [ids.next() for _ in range(3 * 4096 + 2)]
    prefix = made[0][:-12]
    assert all(text[:-12] == prefix for text in made)
    assert [int(text[-12:], 16) for text in made] == list(range(1, 3 * 4096 + 3))
    assert made[4095][-12:] == "000000001000" and made[4094][-12:] == "000000000fff"


def test_two_generators_do_not_make_the_same_ids() -> None:
    """Each generator (a process, a resource) has a random prefix of its own."""
    first, second = RequestIds(), RequestIds()
    assert first.next() != second.next()


def test_times_are_formatted_as_aws_writes_them() -> None:
    times = IsoTimes()
    assert times.millis(EPOCH + 1.5) == "2026-01-01T00:00:01.500Z"
    assert times.seconds(EPOCH + 1.5) == "2026-01-01T00:00:01Z"
    assert times.millis(EPOCH + 61.0429) == "2026-01-01T00:01:01.042Z"
    assert times.seconds(EPOCH + 3599.999) == "2026-01-01T00:59:59Z"


def test_a_time_just_before_a_second_rounds_as_datetime_does() -> None:
    """``datetime`` rounds to the microsecond (half to even): 0.4 µs before a whole second
    is that second, 0.6 µs before is not."""
    times = IsoTimes()
    assert times.millis(EPOCH + 1.9999996) == "2026-01-01T00:00:02.000Z"
    assert times.seconds(EPOCH + 1.9999996) == "2026-01-01T00:00:02Z"
    assert times.millis(EPOCH + 1.999999) == "2026-01-01T00:00:01.999Z"
    assert times.seconds(EPOCH + 1.999999) == "2026-01-01T00:00:01Z"


def test_times_before_1970_and_going_backwards() -> None:
    """The cached date and time of day follow the epoch wherever it goes (a virtual clock
    may be set back)."""
    times = IsoTimes()
    assert times.millis(EPOCH + 10.25) == "2026-01-01T00:00:10.250Z"
    assert times.millis(EPOCH + 5.75) == "2026-01-01T00:00:05.750Z"
    assert times.seconds(-0.5) == "1969-12-31T23:59:59Z"
    assert times.millis(-0.5) == "1969-12-31T23:59:59.500Z"
    assert times.millis(EPOCH + 10.25) == "2026-01-01T00:00:10.250Z"


@given(st.floats(min_value=-2_000_000_000.0, max_value=253_402_300_799.0))
def test_times_equal_datetimes_formatting(epoch: float) -> None:
    moment = datetime.fromtimestamp(epoch, UTC)
    times = IsoTimes()
    expected_millis = f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
    assert times.millis(epoch) == expected_millis
    assert times.seconds(epoch) == f"{moment:%Y-%m-%dT%H:%M:%S}Z"


def test_ids_made_in_blocks_count_on_across_each_block_boundary() -> None:
    """Ids are formatted 512 at a time: the 511th, 512th and 513th ids (counters 0x1ff,
    0x200, 0x201) and those around the 4,096th are the ones a single counter would give."""
    ids = RequestIds()
    made = [ids.next() for _ in range(4097)]
    prefix = made[0][:-12]
    assert [text[-12:] for text in made[509:513]] == [
        "0000000001fe",
        "0000000001ff",
        "000000000200",
        "000000000201",
    ]
    assert [text[-12:] for text in made[1022:1025]] == [
        "0000000003ff",
        "000000000400",
        "000000000401",
    ]
    assert made[4094] == prefix + "000000000fff"
    assert made[4095] == prefix + "000000001000"
    assert made[4096] == prefix + "000000001001"
    for text in made[510:513] + made[4094:4097]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)


def test_interleaved_generators_keep_their_own_prefix_and_count() -> None:
    """Two generators used in turn, past a block boundary: each counts 1, 2, 3... under its
    own random prefix, and no id is made twice."""
    first, second = RequestIds(), RequestIds()
    pairs = [(first.next(), second.next()) for _ in range(1030)]
    firsts = [a for a, _ in pairs]
    seconds = [b for _, b in pairs]
    assert firsts[0][:-12] != seconds[0][:-12]
    for made in (firsts, seconds):
        assert {text[:-12] for text in made} == {made[0][:-12]}
        assert [int(text[-12:], 16) for text in made] == list(range(1, 1031))
    assert len(set(firsts) | set(seconds)) == 2060
