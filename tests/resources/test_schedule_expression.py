"""ScheduleExpression: AWS rate()/cron()/at() semantics (reference §6.1 and §6.2).

Every expected fire time below was worked out by hand from the AWS rules and a printed
calendar, never computed with the code under test. Handy 2026 facts: Jan 1 is a Thursday,
Aug 1 a Saturday, May 31 a Sunday; Europe/Paris springs forward on 2026-03-29 (02:00 CET ->
03:00 CEST) and falls back on 2026-10-25 (03:00 CEST -> 02:00 CET); America/New_York springs
forward on 2026-03-08 and falls back on 2026-11-01.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from eventmesh._errors import ConfigurationError
from eventmesh.resources.schedule_expression import ScheduleExpression


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def fires(expression: str, after: datetime, count: int, tz: str = "UTC") -> list[datetime]:
    return list(ScheduleExpression(expression, tz).iter_after(after, limit=count))


# --------------------------------------------------------------------------- §6.1 examples


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (utc(2026, 1, 10, 8), utc(2026, 1, 10, 12)),
        (utc(2026, 1, 10, 12), utc(2026, 1, 11, 12)),  # strictly after
        (datetime(2026, 1, 10, 11, 59, 59, 500000, tzinfo=UTC), utc(2026, 1, 10, 12)),
        (datetime(2026, 1, 10, 12, 0, 0, 1, tzinfo=UTC), utc(2026, 1, 11, 12)),
        (utc(2026, 12, 31, 13), utc(2027, 1, 1, 12)),
    ],
)
def test_daily_at_noon(after: datetime, expected: datetime) -> None:
    assert ScheduleExpression("cron(0 12 * * ? *)").next_after(after) == expected


def test_minute_list() -> None:
    assert fires("cron(5,35 14 * * ? *)", utc(2026, 1, 10), 3) == [
        utc(2026, 1, 10, 14, 5),
        utc(2026, 1, 10, 14, 35),
        utc(2026, 1, 11, 14, 5),
    ]


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (utc(2010, 6, 1), utc(2019, 1, 25, 10, 15)),  # Jan 2019 Fridays: 4, 11, 18, 25
        (utc(2019, 1, 25, 10, 15), utc(2019, 2, 22, 10, 15)),  # Feb 2019 ends Thu 28
        (utc(2022, 12, 1), utc(2022, 12, 30, 10, 15)),  # Dec 2022: Fri 30, Sat 31
        (utc(2022, 12, 30, 10, 15), None),  # the year range is over
        (utc(2024, 1, 1), None),
    ],
)
def test_last_friday_within_year_range(after: datetime, expected: datetime | None) -> None:
    schedule = ScheduleExpression("cron(15 10 ? * 6L 2019-2022)")
    assert schedule.next_after(after) == expected


def test_every_fifteen_minutes() -> None:
    after = datetime(2026, 1, 10, 10, 37, 30, tzinfo=UTC)
    assert fires("cron(0/15 * * * ? *)", after, 3) == [
        utc(2026, 1, 10, 10, 45),
        utc(2026, 1, 10, 11, 0),
        utc(2026, 1, 10, 11, 15),
    ]


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (utc(2026, 1, 9, 17, 55), utc(2026, 1, 12, 8, 0)),  # Fri 17:55 is the last of the week
        (utc(2026, 1, 10, 9, 0), utc(2026, 1, 12, 8, 0)),  # Saturday
        (utc(2026, 1, 12, 8, 2), utc(2026, 1, 12, 8, 5)),
        (utc(2026, 1, 12, 7, 59), utc(2026, 1, 12, 8, 0)),
    ],
)
def test_every_five_minutes_office_hours(after: datetime, expected: datetime) -> None:
    schedule = ScheduleExpression("cron(0/5 8-17 ? * MON-FRI *)")
    assert schedule.next_after(after) == expected


def test_hour_range_wraps_past_midnight() -> None:
    # Hours 20,21,22,23,0,1,2; the day-of-week applies to the day of each fire, so Saturday
    # 00:00-02:30 does not fire but Monday 00:00-02:30 does.
    assert fires("cron(0/30 20-2 ? * MON-FRI *)", utc(2026, 1, 9, 19), 15) == [
        utc(2026, 1, 9, 20, 0),
        utc(2026, 1, 9, 20, 30),
        utc(2026, 1, 9, 21, 0),
        utc(2026, 1, 9, 21, 30),
        utc(2026, 1, 9, 22, 0),
        utc(2026, 1, 9, 22, 30),
        utc(2026, 1, 9, 23, 0),
        utc(2026, 1, 9, 23, 30),
        utc(2026, 1, 12, 0, 0),
        utc(2026, 1, 12, 0, 30),
        utc(2026, 1, 12, 1, 0),
        utc(2026, 1, 12, 1, 30),
        utc(2026, 1, 12, 2, 0),
        utc(2026, 1, 12, 2, 30),
        utc(2026, 1, 12, 20, 0),
    ]


def test_wrapped_hours_continue_into_the_next_weekday() -> None:
    schedule = ScheduleExpression("cron(0/30 20-2 ? * MON-FRI *)")
    assert schedule.next_after(utc(2026, 1, 13, 23, 30)) == utc(2026, 1, 14, 0, 0)


# --------------------------------------------------------------------------- L, W, #


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (utc(2026, 2, 1), utc(2026, 2, 28)),
        (utc(2028, 2, 1), utc(2028, 2, 29)),  # leap year
        (utc(2026, 4, 30), utc(2026, 5, 31)),  # Apr 30 00:00 itself is not after
        (utc(2026, 4, 29), utc(2026, 4, 30)),
    ],
)
def test_last_day_of_month(after: datetime, expected: datetime) -> None:
    assert ScheduleExpression("cron(0 0 L * ? *)").next_after(after) == expected


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (utc(2026, 1, 1), utc(2026, 1, 30, 9)),  # Sat 31 -> Fri 30
        (utc(2026, 2, 1), utc(2026, 2, 27, 9)),  # Sat 28 -> Fri 27
        (utc(2026, 5, 1), utc(2026, 5, 29, 9)),  # Sun 31 -> Fri 29
        (utc(2026, 8, 1), utc(2026, 8, 31, 9)),  # Mon 31
    ],
)
def test_last_weekday_of_month(after: datetime, expected: datetime) -> None:
    assert ScheduleExpression("cron(0 9 LW * ? *)").next_after(after) == expected


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("cron(0 9 15W * ? *)", utc(2026, 1, 1), utc(2026, 1, 15, 9)),  # Thu 15
        ("cron(0 9 15W * ? *)", utc(2026, 8, 1), utc(2026, 8, 14, 9)),  # Sat 15 -> Fri 14
        ("cron(0 9 15W * ? *)", utc(2026, 11, 1), utc(2026, 11, 16, 9)),  # Sun 15 -> Mon 16
        ("cron(0 9 1W * ? *)", utc(2026, 7, 15), utc(2026, 8, 3, 9)),  # Sat 1 -> Mon 3
        ("cron(0 9 1W * ? *)", utc(2025, 10, 15), utc(2025, 11, 3, 9)),  # Sat 1 -> Mon 3
        ("cron(0 9 31W * ? *)", utc(2026, 5, 1), utc(2026, 5, 29, 9)),  # Sun 31 -> Fri 29
        ("cron(0 9 30W * ? *)", utc(2025, 11, 1), utc(2025, 11, 28, 9)),  # Sun 30 -> Fri 28
        ("cron(0 9 31W * ? *)", utc(2026, 4, 1), utc(2026, 5, 29, 9)),  # April has no 31st
    ],
)
def test_nearest_weekday_stays_in_month(
    expression: str, after: datetime, expected: datetime
) -> None:
    assert ScheduleExpression(expression).next_after(after) == expected


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("cron(0 10 ? * 3#2 *)", utc(2026, 1, 1), utc(2026, 1, 13, 10)),  # Tue 6, 13
        ("cron(0 10 ? * 3#2 *)", utc(2026, 1, 13, 10), utc(2026, 2, 10, 10)),  # Tue 3, 10
        ("cron(0 10 ? * TUE#2 *)", utc(2026, 1, 1), utc(2026, 1, 13, 10)),
        ("cron(0 0 ? * 1#5 *)", utc(2026, 1, 1), utc(2026, 3, 29)),  # first 5th Sunday
        ("cron(0 0 ? * 1#5 *)", utc(2026, 3, 29), utc(2026, 5, 31)),
        ("cron(0 0 ? * 2L *)", utc(2026, 8, 1), utc(2026, 8, 31)),  # last Monday
        ("cron(0 0 ? * L *)", utc(2026, 1, 1), utc(2026, 1, 3)),  # L alone = SAT
    ],
)
def test_nth_and_last_weekday(expression: str, after: datetime, expected: datetime) -> None:
    assert ScheduleExpression(expression).next_after(after) == expected


# --------------------------------------------------------------------------- numbering, names


@pytest.mark.parametrize(
    ("day_of_week", "expected"),
    [
        ("1", utc(2026, 1, 4)),  # 2026-01-01 is a Thursday; 1 = Sunday
        ("SUN", utc(2026, 1, 4)),
        ("sun", utc(2026, 1, 4)),
        ("2", utc(2026, 1, 5)),
        ("5", utc(2026, 1, 8)),  # Thursday: Jan 1 00:00 itself is not strictly after
        ("7", utc(2026, 1, 3)),
        ("Sat", utc(2026, 1, 3)),
    ],
)
def test_day_of_week_numbering(day_of_week: str, expected: datetime) -> None:
    schedule = ScheduleExpression(f"cron(0 0 ? * {day_of_week} *)")
    assert schedule.next_after(utc(2026, 1, 1)) == expected


def test_day_of_week_range_wraps() -> None:
    assert fires("cron(0 0 ? * FRI-MON *)", utc(2026, 1, 1), 5) == [
        utc(2026, 1, 2),
        utc(2026, 1, 3),
        utc(2026, 1, 4),
        utc(2026, 1, 5),
        utc(2026, 1, 9),
    ]


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("cron(0 0 1 NOV-FEB ? *)", utc(2026, 2, 15), [utc(2026, 11, 1), utc(2026, 12, 1)]),
        ("cron(0 0 1 jan,Jul ? *)", utc(2026, 2, 1), [utc(2026, 7, 1), utc(2027, 1, 1)]),
        ("cron(*/20 5 1 1 ? 2027)", utc(2026, 1, 1), [utc(2027, 1, 1, 5, m) for m in (0, 20, 40)]),
        (
            "cron(0 8-17/3 1 1 ? 2027)",
            utc(2026, 1, 1),
            [utc(2027, 1, 1, h) for h in (8, 11, 14, 17)],
        ),
        ("cron(0 0 1 1 ? 2020/3)", utc(2020, 1, 1), [utc(2023, 1, 1), utc(2026, 1, 1)]),
        ("cron(0 0 1/10 1 ? 2027)", utc(2026, 1, 1), [utc(2027, 1, d) for d in (1, 11, 21, 31)]),
        ("cron(0 0 28-2 1 ? 2027)", utc(2026, 1, 1), [utc(2027, 1, d) for d in (1, 2, 28)]),
    ],
)
def test_names_increments_and_wrapping(
    expression: str, after: datetime, expected: list[datetime]
) -> None:
    assert fires(expression, after, len(expected)) == expected


# --------------------------------------------------------------------------- leap years, range


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (utc(2026, 1, 1), utc(2028, 2, 29, 12)),
        (utc(2028, 2, 29, 12), utc(2032, 2, 29, 12)),
        (utc(2096, 3, 1), utc(2104, 2, 29, 12)),  # 2100 is not a leap year
        (utc(2196, 3, 1), None),  # 2200 is past the last cron year
    ],
)
def test_february_29_only_in_leap_years(after: datetime, expected: datetime | None) -> None:
    assert ScheduleExpression("cron(0 12 29 2 ? *)").next_after(after) == expected


def test_impossible_date_ends_after_one_look_at_each_candidate_month(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The search jumps from month to month, never day by day or minute by minute: for a date
    that never exists it looks at each February once, up to the last cron year (2199)."""
    months: list[tuple[int, int]] = []
    monthrange = calendar.monthrange

    def looked_at(year: int, month: int) -> tuple[int, int]:
        months.append((year, month))
        return monthrange(year, month)

    monkeypatch.setattr(calendar, "monthrange", looked_at)
    schedule = ScheduleExpression("cron(0 0 30 2 ? *)")
    assert schedule.next_after(utc(1970, 1, 1)) is None
    assert months == [(year, 2) for year in range(1970, 2200)]


def test_year_range_over() -> None:
    schedule = ScheduleExpression("cron(0 0 1 1 ? 2020)")
    assert schedule.next_after(utc(2019, 6, 1)) == utc(2020, 1, 1)
    assert schedule.next_after(utc(2020, 1, 1)) is None


# --------------------------------------------------------------------------- rate()


@pytest.mark.parametrize(
    ("expression", "period"),
    [
        ("rate(1 minute)", timedelta(minutes=1)),
        ("rate(5 minutes)", timedelta(minutes=5)),
        ("rate(1 hour)", timedelta(hours=1)),
        ("rate(12 hours)", timedelta(hours=12)),
        ("rate(1 day)", timedelta(days=1)),
        ("rate(7 days)", timedelta(days=7)),
    ],
)
def test_rate_units(expression: str, period: timedelta) -> None:
    start = utc(2026, 1, 1)
    schedule = ScheduleExpression(expression, start=start)
    assert schedule.kind == "rate"
    assert schedule.next_after(start) == start + period


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("rate(1 minutes)", "singular"),
        ("rate(1 hours)", "singular"),
        ("rate(5 minute)", "plural"),
        ("rate(5 hour)", "plural"),
        ("rate(2 day)", "plural"),
        ("rate(0 minutes)", "positive integer"),
        ("rate(-1 minutes)", "positive integer"),
        ("rate(1.5 hours)", "positive integer"),
        ("rate(5 seconds)", "unit 'seconds'"),
        ("rate(5 Minutes)", "unit 'Minutes'"),
        ("rate(5)", "rate(<value> <unit>)"),
        ("rate(minutes 5)", "positive integer"),
    ],
)
def test_rate_validation(expression: str, reason: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(reason)) as raised:
        ScheduleExpression(expression)
    assert expression in str(raised.value)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (utc(2025, 12, 31), utc(2026, 1, 1)),  # before start: the start itself
        (utc(2026, 1, 1), utc(2026, 1, 1, 0, 15)),
        (utc(2026, 1, 1, 0, 20), utc(2026, 1, 1, 0, 30)),
        (utc(2026, 1, 1, 0, 30), utc(2026, 1, 1, 0, 45)),
    ],
)
def test_rate_is_anchored_at_start(after: datetime, expected: datetime) -> None:
    schedule = ScheduleExpression("rate(15 minutes)", start=utc(2026, 1, 1))
    assert schedule.next_after(after) == expected


def test_rate_without_start_is_anchored_at_after() -> None:
    after = datetime(2026, 1, 1, 10, 7, 13, tzinfo=UTC)
    assert fires("rate(10 minutes)", after, 2) == [
        datetime(2026, 1, 1, 10, 17, 13, tzinfo=UTC),
        datetime(2026, 1, 1, 10, 27, 13, tzinfo=UTC),
    ]


def test_rate_days_are_24_hours_across_dst() -> None:
    # Paris noon on the day before spring-forward is 11:00 UTC; one day later is 11:00 UTC
    # again (13:00 local), not noon local.
    start = datetime(2026, 3, 28, 12, tzinfo=timezone(timedelta(hours=1)))
    schedule = ScheduleExpression("rate(1 day)", "Europe/Paris", start=start)
    assert schedule.next_after(start) == utc(2026, 3, 29, 11)


# --------------------------------------------------------------------------- at()


def test_at_fires_once() -> None:
    schedule = ScheduleExpression("at(2026-05-01T10:00:00)")
    assert schedule.kind == "at"
    assert list(schedule.iter_after(utc(2026, 1, 1))) == [utc(2026, 5, 1, 10)]
    assert schedule.next_after(utc(2026, 5, 1, 10)) is None


@pytest.mark.parametrize(
    ("expression", "tz", "expected"),
    [
        ("at(2026-07-04T09:00:00)", "America/New_York", utc(2026, 7, 4, 13)),  # EDT, -4
        ("at(2026-12-24T18:00:00)", "America/New_York", utc(2026, 12, 24, 23)),  # EST, -5
        ("at(2026-10-25T02:30:00)", "Europe/Paris", utc(2026, 10, 25, 0, 30)),  # first 02:30
    ],
)
def test_at_is_read_in_its_time_zone(expression: str, tz: str, expected: datetime) -> None:
    assert ScheduleExpression(expression, tz).next_after(utc(2026, 1, 1)) == expected


@pytest.mark.parametrize(
    ("expression", "tz", "message"),
    [
        (
            "at(2026-02-30T10:00:00)",
            "UTC",
            # then Python's own words for the date's fault
            "at(2026-02-30T10:00:00): '2026-02-30T10:00:00' is not a valid date and time: ",
        ),
        (
            "at(2026-05-01 10:00:00)",
            "UTC",
            "at(2026-05-01 10:00:00): expected at(yyyy-mm-ddThh:mm:ss)",
        ),
        ("at(2026-05-01T10:00)", "UTC", "at(2026-05-01T10:00): expected at(yyyy-mm-ddThh:mm:ss)"),
        (
            "at(2026-03-29T02:30:00)",
            "Europe/Paris",
            "at(2026-03-29T02:30:00): 2026-03-29T02:30:00 does not exist in Europe/Paris "
            "(daylight-saving gap)",
        ),
    ],
)
def test_at_validation_names_the_expression_and_the_reason(
    expression: str, tz: str, message: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        ScheduleExpression(expression, tz)
    if message.endswith(": "):
        assert str(raised.value).startswith(message)
    else:
        assert str(raised.value) == message


# --------------------------------------------------------------------------- time zones, DST


def test_cron_in_local_time() -> None:
    schedule = ScheduleExpression("cron(0 9 * * ? *)", "Europe/Paris")
    assert schedule.next_after(utc(2026, 1, 10)) == utc(2026, 1, 10, 8)  # CET, +1
    assert schedule.next_after(utc(2026, 7, 10)) == utc(2026, 7, 10, 7)  # CEST, +2


def test_spring_forward_skips_missing_time_paris() -> None:
    # 02:30 does not exist in Paris on 2026-03-29: from the 28th's fire straight to the 30th.
    assert fires("cron(30 2 * * ? *)", utc(2026, 3, 28), 3, "Europe/Paris") == [
        utc(2026, 3, 28, 1, 30),  # 02:30 CET
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST
        utc(2026, 3, 31, 0, 30),
    ]


def test_fall_back_fires_once_paris() -> None:
    # 02:30 happens twice in Paris on 2026-10-25 (00:30 and 01:30 UTC): it fires once.
    assert fires("cron(30 2 * * ? *)", utc(2026, 10, 24, 12), 3, "Europe/Paris") == [
        utc(2026, 10, 25, 0, 30),  # first 02:30, still CEST
        utc(2026, 10, 26, 1, 30),  # 02:30 CET
        utc(2026, 10, 27, 1, 30),
    ]


def test_fall_back_after_inside_repeated_hour() -> None:
    # 01:10 UTC is the second 02:10 in Paris; the 02:30 of that day has already fired.
    schedule = ScheduleExpression("cron(30 2 * * ? *)", "Europe/Paris")
    assert schedule.next_after(utc(2026, 10, 25, 1, 10)) == utc(2026, 10, 26, 1, 30)


def test_fall_back_repeated_hour_not_repeated_for_frequent_cron() -> None:
    # Wall times 02:00 and 02:30 already fired in CEST; their CET repeats don't fire.
    assert fires("cron(0/30 * * * ? *)", utc(2026, 10, 24, 23, 45), 4, "Europe/Paris") == [
        utc(2026, 10, 25, 0, 0),  # 02:00 CEST
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST
        utc(2026, 10, 25, 2, 0),  # 03:00 CET
        utc(2026, 10, 25, 2, 30),
    ]


def test_dst_new_york() -> None:
    spring = ScheduleExpression("cron(30 2 * * ? *)", "America/New_York")
    assert spring.next_after(utc(2026, 3, 7, 12)) == utc(2026, 3, 9, 6, 30)  # 03-08 skipped
    fall = ScheduleExpression("cron(30 1 * * ? *)", "America/New_York")
    assert fires(fall.expression, utc(2026, 10, 31, 12), 2, "America/New_York") == [
        utc(2026, 11, 1, 5, 30),  # 01:30 EDT; the 01:30 EST an hour later doesn't fire
        utc(2026, 11, 2, 6, 30),
    ]


def test_results_are_utc_for_any_aware_input() -> None:
    after = datetime(2026, 1, 10, 13, tzinfo=timezone(timedelta(hours=5)))  # 08:00 UTC
    result = ScheduleExpression("cron(0 12 * * ? *)").next_after(after)
    assert result == utc(2026, 1, 10, 12)
    assert result is not None and result.tzinfo is UTC


# --------------------------------------------------------------------------- start for cron/at


def test_start_is_the_earliest_cron_fire() -> None:
    schedule = ScheduleExpression("cron(0 12 * * ? *)", start=utc(2026, 2, 1, 12))
    assert schedule.next_after(utc(2026, 1, 1)) == utc(2026, 2, 1, 12)
    assert schedule.next_after(utc(2026, 2, 1, 12)) == utc(2026, 2, 2, 12)


def test_at_before_start_never_fires() -> None:
    schedule = ScheduleExpression("at(2026-05-01T10:00:00)", start=utc(2026, 6, 1))
    assert schedule.next_after(utc(2026, 1, 1)) is None


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("expression", "fragments"),
    [
        ("cron(0 12 * * ?)", ["expected 6 fields", "got 5"]),
        ("cron(0 12 * * ? * *)", ["expected 6 fields", "got 7"]),
        ("cron(60 12 * * ? *)", ["minutes field '60'", "out of range 0-59"]),
        ("cron(0 24 * * ? *)", ["hours field '24'", "out of range 0-23"]),
        ("cron(0 5- * * ? *)", ["hours field '5-'", "is not a number"]),
        ("cron(0 12 32 * ? *)", ["day-of-month field '32'", "out of range 1-31"]),
        ("cron(0 12 0W * ? *)", ["day-of-month field '0W'", "out of range 1-31"]),
        ("cron(0 12 L-3 * ? *)", ["day-of-month field 'L-3'", "'L', 'LW' or '<day>W'"]),
        ("cron(0 12 * 13 ? *)", ["month field '13'", "out of range 1-12"]),
        ("cron(0 12 * FOO ? *)", ["month field 'FOO'", "not a number or a name"]),
        ("cron(0 12 ? * 8 *)", ["day-of-week field '8'", "out of range 1-7 (1 = SUN)"]),
        ("cron(0 12 ? * 0 *)", ["day-of-week field '0'", "out of range 1-7 (1 = SUN)"]),
        ("cron(0 12 ? * MON-FOO *)", ["day-of-week field 'MON-FOO'", "'FOO'"]),
        ("cron(0 12 ? * 3#1,6#3 *)", ["day-of-week field '3#1,6#3'", "only one '#'"]),
        ("cron(0 12 ? * 3#6 *)", ["day-of-week field '3#6'", "after '#' must be 1-5"]),
        ("cron(0 12 ? * 9L *)", ["day-of-week field '9L'", "out of range 1-7"]),
        ("cron(0 12 * * ? 1969)", ["year field '1969'", "out of range 1970-2199"]),
        ("cron(0 12 * * ? 2200)", ["year field '2200'", "out of range 1970-2199"]),
        ("cron(0 12 * * ? 2022-2019)", ["year field '2022-2019'", "backwards"]),
        ("cron(0/0 12 * * ? *)", ["minutes field '0/0'", "increment 0"]),
        ("cron(*/x 12 * * ? *)", ["minutes field '*/x'", "increment 'x'"]),
        ("cron(1,,2 12 * * ? *)", ["minutes field '1,,2'", "empty item"]),
        ("cron(? 12 * * ? *)", ["minutes field '?'", "only allowed in the day-of-month"]),
        ("cron(0 12 * * ? ?)", ["year field '?'", "only allowed in the day-of-month"]),
        ("cron(0 12 1,? * ? *)", ["day-of-month field '1,?'", "whole field"]),
        ("cron(0 12 * * MON *)", ["one of them must be '?'"]),
        ("cron(0 12 * * * *)", ["one of them must be '?'"]),
        ("cron(0 12 ? * ? *)", ["can't both be '?'"]),
        ("every(5 minutes)", ["rate(...), cron(...) or at(...)"]),
        ("CRON(0 12 * * ? *)", ["rate(...), cron(...) or at(...)"]),
    ],
)
def test_malformed_expression_names_the_field(expression: str, fragments: list[str]) -> None:
    with pytest.raises(ConfigurationError) as raised:
        ScheduleExpression(expression)
    message = str(raised.value)
    # The expression comes first (quoted when it is not even one of the three kinds).
    assert message.startswith((f"{expression}: ", f"{expression!r}: "))
    for fragment in fragments:
        assert fragment in message
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize("tz", ["Mars/Olympus_Mons", "", "../etc/passwd", "utc-ish"])
def test_unknown_time_zone(tz: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        ScheduleExpression("cron(0 12 * * ? *)", tz)
    assert str(raised.value) == f"unknown time zone {tz!r} (expected an IANA name)"


def test_naive_datetimes_are_rejected() -> None:
    schedule = ScheduleExpression("cron(0 12 * * ? *)")
    with pytest.raises(TypeError) as naive_after:
        schedule.next_after(datetime(2026, 1, 1))
    assert str(naive_after.value) == (
        "after must be a timezone-aware datetime, got naive 2026-01-01T00:00:00"
    )
    with pytest.raises(ConfigurationError) as naive_start:
        ScheduleExpression("rate(5 minutes)", start=datetime(2026, 1, 1, 9, 30))
    assert str(naive_start.value) == (
        "start must be a timezone-aware datetime, got naive 2026-01-01T09:30:00"
    )


def test_iter_after_limit() -> None:
    schedule = ScheduleExpression("rate(1 hour)", start=utc(2026, 1, 1))
    assert list(schedule.iter_after(utc(2026, 1, 1), limit=0)) == []
    assert len(list(schedule.iter_after(utc(2026, 1, 1), limit=24))) == 24
    with pytest.raises(ValueError, match=re.escape("limit must be >= 0, got -1")):
        list(schedule.iter_after(utc(2026, 1, 1), limit=-1))


# --------------------------------------------------------------------------- value semantics


def test_properties_repr_equality_and_hash() -> None:
    schedule = ScheduleExpression("cron(0 12 * * ? *)", "Europe/Paris")
    assert schedule.expression == "cron(0 12 * * ? *)"
    assert schedule.timezone == "Europe/Paris"
    assert schedule.kind == "cron"
    assert repr(schedule) == "ScheduleExpression('cron(0 12 * * ? *)', timezone='Europe/Paris')"
    same = ScheduleExpression("cron(0 12 * * ? *)", "Europe/Paris", start=utc(2026, 1, 1))
    assert schedule == same
    assert hash(schedule) == hash(same)
    assert schedule != ScheduleExpression("cron(0 12 * * ? *)")
    assert schedule != "cron(0 12 * * ? *)"
    assert ScheduleExpression("rate(5 minutes)").timezone == "UTC"
