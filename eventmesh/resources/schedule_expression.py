"""Schedule expressions: EventBridge ``rate()`` / ``cron()`` and Scheduler ``at()``.

:class:`ScheduleExpression` parses and validates an expression once, then answers "when is
the next fire strictly after this instant?" (:meth:`ScheduleExpression.next_after`).

Syntax (reference §6.1 / §6.2):

* ``rate(value unit)``: ``value`` a positive integer, ``unit`` one of ``minute``, ``minutes``,
  ``hour``, ``hours``, ``day``, ``days``; singular if and only if ``value == 1``.
* ``cron(minutes hours day-of-month month day-of-week year)``: six fields with the wildcards
  ``, - * / ? L W #``; day-of-week 1-7 with 1 = SUN; names ``JAN``-``DEC`` / ``SUN``-``SAT``
  (any case); year 1970-2199. Exactly one of day-of-month / day-of-week is ``?``.
* ``at(yyyy-mm-ddThh:mm:ss)``: a single fire, read as wall time in the schedule's time zone.

How the cron search works
-------------------------
Each field is compiled into a sorted tuple of allowed values; the two day fields are compiled
into a rule that, given a (year, month), returns that month's matching days (this is where
``L``, ``LW``, ``nW``, ``nL`` and ``n#k`` are resolved, so they never cross a month boundary).

The next matching *local wall-clock* minute at or after a candidate is found field by field,
from the most significant down: pick the first allowed year >= the candidate's; then the first
allowed month in it (none left: jump to January of the next year and start again); then the
first matching day of that month (none: jump to the 1st of the next month); then the hour
(none: next day, 00:00); then the minute (none: next hour). Whenever a field moves forward,
every less significant field is reset to its minimum. Each step either returns or strictly
advances the candidate, skipping whole years / months / days at a time, so even
``cron(0 12 29 2 ? *)`` or an expression that can never fire costs a few thousand steps at
most: the search ends after 2199, the last year a cron expression can name.

The wall time is then converted to UTC in the schedule's time zone, following EventBridge
Scheduler's daylight-saving rules: a wall time that does not exist (spring-forward gap) is
skipped; an ambiguous wall time (fall-back) fires once, at its first occurrence (``fold=0``).
Wall times map monotonically onto instants, so starting from the wall time of ``after`` and
discarding the (at most one) candidate that is not strictly later than ``after`` is exact.

``rate()`` is elapsed time, independent of the time zone: fires are ``start + k * period``
(``rate(1 day)`` is exactly 24 h, even across a DST change).
"""

from __future__ import annotations

import calendar
import re
from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from eventmesh._errors import ConfigurationError

__all__ = ["ScheduleExpression"]

ScheduleKind = Literal["rate", "cron", "at"]

_MIN_YEAR = 1970
_MAX_YEAR = 2199
_SUNDAY = 1
_SATURDAY = 7
_MAX_NTH_WEEKDAY = 5

_MONTH_NAMES: Mapping[str, int] = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
        start=1,
    )
}
_DAY_NAMES: Mapping[str, int] = {
    name: number
    for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)
}

_RATE_UNITS: Mapping[str, timedelta] = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}

_RATE_RE = re.compile(r"rate\((?P<body>.*)\)", re.DOTALL)
_CRON_RE = re.compile(r"cron\((?P<body>.*)\)", re.DOTALL)
_AT_RE = re.compile(r"at\((?P<body>.*)\)", re.DOTALL)
_AT_BODY_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})")
_NUMBER_RE = re.compile(r"[0-9]{1,18}")  # bounded: int() refuses over 4300 digits
_NEAREST_WEEKDAY_RE = re.compile(r"([0-9]+)W")


# --------------------------------------------------------------------------- field parsing


class _FieldError(Exception):
    """Why one cron field is invalid; turned into a ConfigurationError naming the field."""


@dataclass(frozen=True, slots=True)
class _FieldSpec:
    """Name, bounds and accepted names of one cron field."""

    name: str
    low: int
    high: int
    names: Mapping[str, int]
    cyclic: bool
    note: str = ""

    @property
    def span(self) -> int:
        return self.high - self.low + 1

    def describe_range(self) -> str:
        return f"{self.low}-{self.high}{self.note}"


_MINUTES = _FieldSpec("minutes", 0, 59, {}, cyclic=True)
_HOURS = _FieldSpec("hours", 0, 23, {}, cyclic=True)
_DAY_OF_MONTH = _FieldSpec("day-of-month", 1, 31, {}, cyclic=True)
_MONTH = _FieldSpec("month", 1, 12, _MONTH_NAMES, cyclic=True, note=" or JAN-DEC")
_DAY_OF_WEEK = _FieldSpec("day-of-week", 1, 7, _DAY_NAMES, cyclic=True, note=" (1 = SUN)")
_YEAR = _FieldSpec("year", _MIN_YEAR, _MAX_YEAR, {}, cyclic=False)


def _split_terms(text: str) -> list[str]:
    terms = text.split(",")
    if any(term == "" for term in terms):
        raise _FieldError("empty item in list")
    return terms


def _parse_value(text: str, spec: _FieldSpec) -> int:
    named = spec.names.get(text.upper())
    if named is not None:
        return named
    if not _NUMBER_RE.fullmatch(text):
        expected = "a number" + (" or a name" if spec.names else "")
        raise _FieldError(f"'{text}' is not {expected}")
    value = int(text)
    if not spec.low <= value <= spec.high:
        raise _FieldError(f"value {value} out of range {spec.describe_range()}")
    return value


def _parse_step(text: str, spec: _FieldSpec) -> int:
    if not _NUMBER_RE.fullmatch(text):
        raise _FieldError(f"increment '{text}' is not a positive integer")
    step = int(text)
    if not 1 <= step <= spec.span:
        raise _FieldError(f"increment {step} out of range 1-{spec.span}")
    return step


def _sequence(first: int, last: int, spec: _FieldSpec) -> list[int]:
    """``first``..``last`` inclusive; wraps past ``high`` for cyclic fields (``20-2``)."""
    if first <= last:
        return list(range(first, last + 1))
    if not spec.cyclic:
        raise _FieldError(f"range {first}-{last} goes backwards")
    return [*range(first, spec.high + 1), *range(spec.low, last + 1)]


def _parse_numeric_term(term: str, spec: _FieldSpec) -> list[int]:
    """One list item: ``*``, ``v``, ``a-b``, with an optional ``/step`` (``*/5``, ``0/15``)."""
    base, slash, step_text = term.partition("/")
    step = _parse_step(step_text, spec) if slash else 1
    if base == "*":
        first, last = spec.low, spec.high
    elif "-" in base:
        first_text, _, last_text = base.partition("-")
        first, last = _parse_value(first_text, spec), _parse_value(last_text, spec)
    else:
        first = _parse_value(base, spec)
        last = spec.high if slash else first
    return _sequence(first, last, spec)[::step]


def _parse_numeric_field(text: str, spec: _FieldSpec) -> tuple[int, ...]:
    if "?" in text:
        raise _FieldError("'?' is only allowed in the day-of-month and day-of-week fields")
    values: set[int] = set()
    for term in _split_terms(text):
        values.update(_parse_numeric_term(term, spec))
    return tuple(sorted(values))


# --------------------------------------------------------------------------- calendar helpers


def _aws_weekday(year: int, month: int, day: int) -> int:
    """Day of week in AWS numbering: 1 = SUN ... 7 = SAT."""
    return (calendar.weekday(year, month, day) + 1) % 7 + 1


def _days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _nearest_weekday(year: int, month: int, day: int) -> int | None:
    """``dayW``: the weekday nearest ``day`` without leaving the month (None if no such day)."""
    last = _days_in_month(year, month)
    if day > last:
        return None
    weekday = _aws_weekday(year, month, day)
    if weekday == _SATURDAY:
        return day - 1 if day > 1 else day + 2
    if weekday == _SUNDAY:
        return day + 1 if day < last else day - 2
    return day


def _last_weekday_of_month(year: int, month: int) -> int:
    """``LW``: the last Monday-to-Friday day of the month."""
    last = _days_in_month(year, month)
    weekday = _aws_weekday(year, month, last)
    if weekday == _SATURDAY:
        return last - 1
    if weekday == _SUNDAY:
        return last - 2
    return last


def _last_given_weekday(year: int, month: int, weekday: int) -> int:
    """``nL``: the day of the last ``weekday`` (AWS numbering) of the month."""
    last = _days_in_month(year, month)
    return last - (_aws_weekday(year, month, last) - weekday) % 7


def _nth_given_weekday(year: int, month: int, weekday: int, nth: int) -> int | None:
    """``n#k``: the day of the ``nth`` ``weekday`` of the month, None if the month has fewer."""
    first = 1 + (weekday - _aws_weekday(year, month, 1)) % 7
    day = first + 7 * (nth - 1)
    return day if day <= _days_in_month(year, month) else None


# --------------------------------------------------------------------------- day rules


@dataclass(frozen=True, slots=True)
class _DayOfMonthRule:
    """A day-of-month field: plain days, ``L``, ``LW`` and ``nW`` items (their union)."""

    days: frozenset[int]
    last_day: bool
    last_weekday: bool
    nearest_weekday_to: frozenset[int]

    def days_in(self, year: int, month: int) -> set[int]:
        last = _days_in_month(year, month)
        days = {day for day in self.days if day <= last}
        if self.last_day:
            days.add(last)
        if self.last_weekday:
            days.add(_last_weekday_of_month(year, month))
        for target in self.nearest_weekday_to:
            nearest = _nearest_weekday(year, month, target)
            if nearest is not None:
                days.add(nearest)
        return days


@dataclass(frozen=True, slots=True)
class _DayOfWeekRule:
    """A day-of-week field: plain weekdays, ``nL`` and at most one ``n#k`` (their union)."""

    weekdays: frozenset[int]
    last_of: frozenset[int]
    nth: tuple[int, int] | None

    def days_in(self, year: int, month: int) -> set[int]:
        last = _days_in_month(year, month)
        days = {
            day for day in range(1, last + 1) if _aws_weekday(year, month, day) in self.weekdays
        }
        days.update(_last_given_weekday(year, month, weekday) for weekday in self.last_of)
        if self.nth is not None:
            nth_day = _nth_given_weekday(year, month, *self.nth)
            if nth_day is not None:
                days.add(nth_day)
        return days


_DayRule: TypeAlias = _DayOfMonthRule | _DayOfWeekRule


def _parse_day_of_month(text: str) -> _DayOfMonthRule:
    days: set[int] = set()
    last_day = last_weekday = False
    nearest: set[int] = set()
    for term in _split_terms(text):
        upper = term.upper()
        if upper == "L":
            last_day = True
        elif upper == "LW":
            last_weekday = True
        elif match := _NEAREST_WEEKDAY_RE.fullmatch(upper):
            nearest.add(_parse_value(match.group(1), _DAY_OF_MONTH))
        elif "L" in upper or "W" in upper:
            raise _FieldError(f"'{term}': use 'L', 'LW' or '<day>W' (e.g. '15W')")
        else:
            days.update(_parse_numeric_term(term, _DAY_OF_MONTH))
    return _DayOfMonthRule(frozenset(days), last_day, last_weekday, frozenset(nearest))


def _parse_nth(term: str) -> tuple[int, int]:
    weekday_text, _, nth_text = term.partition("#")
    weekday = _parse_value(weekday_text, _DAY_OF_WEEK)
    if not _NUMBER_RE.fullmatch(nth_text) or not 1 <= int(nth_text) <= _MAX_NTH_WEEKDAY:
        raise _FieldError(f"'{term}': the number after '#' must be 1-{_MAX_NTH_WEEKDAY}")
    return weekday, int(nth_text)


def _parse_day_of_week(text: str) -> _DayOfWeekRule:
    weekdays: set[int] = set()
    last_of: set[int] = set()
    nth: tuple[int, int] | None = None
    for term in _split_terms(text):
        upper = term.upper()
        if "#" in upper:
            if nth is not None:
                raise _FieldError("only one '#' expression is allowed")
            nth = _parse_nth(upper)
        elif upper == "L":
            weekdays.add(_SATURDAY)  # the last day of the week
        elif upper.endswith("L"):
            last_of.add(_parse_value(upper[:-1], _DAY_OF_WEEK))
        else:
            weekdays.update(_parse_numeric_term(upper, _DAY_OF_WEEK))
    return _DayOfWeekRule(frozenset(weekdays), frozenset(last_of), nth)


# --------------------------------------------------------------------------- cron search


def _first_at_least(values: Sequence[int], minimum: int) -> int | None:
    index = bisect_left(values, minimum)
    return values[index] if index < len(values) else None


def _first_of_next_month(moment: datetime) -> datetime:
    if moment.month == 12:
        return datetime(moment.year + 1, 1, 1)
    return datetime(moment.year, moment.month + 1, 1)


@dataclass(frozen=True, slots=True)
class _CronSpec:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    years: tuple[int, ...]
    day_rule: _DayRule

    def next_wall_time(self, moment: datetime) -> datetime | None:
        """The first matching naive wall-clock minute ``>= moment`` (minute-aligned)."""
        while True:
            year = _first_at_least(self.years, moment.year)
            if year is None:
                return None
            if year != moment.year:
                moment = datetime(year, 1, 1)
            month = _first_at_least(self.months, moment.month)
            if month is None:
                moment = datetime(moment.year + 1, 1, 1)
                continue
            if month != moment.month:
                moment = datetime(moment.year, month, 1)
            days = sorted(self.day_rule.days_in(moment.year, moment.month))
            day = _first_at_least(days, moment.day)
            if day is None:
                moment = _first_of_next_month(moment)
                continue
            if day != moment.day:
                moment = datetime(moment.year, moment.month, day)
            hour = _first_at_least(self.hours, moment.hour)
            if hour is None:
                moment = datetime(moment.year, moment.month, moment.day) + timedelta(days=1)
                continue
            if hour != moment.hour:
                moment = moment.replace(hour=hour, minute=0)
            minute = _first_at_least(self.minutes, moment.minute)
            if minute is None:
                moment = moment.replace(minute=0) + timedelta(hours=1)
                continue
            return moment.replace(minute=minute)


def _wall_time_to_utc(wall: datetime, zone: ZoneInfo) -> datetime | None:
    """UTC instant of a naive wall time (first occurrence if ambiguous); None in a DST gap."""
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        return None
    return instant


# --------------------------------------------------------------------------- expression parsing


def _config_error(expression: str, message: str) -> ConfigurationError:
    return ConfigurationError(f"{expression}: {message}")


def _parse_rate(expression: str, body: str) -> timedelta:
    parts = body.split()
    if len(parts) != 2:
        raise _config_error(expression, "expected rate(<value> <unit>), e.g. rate(5 minutes)")
    value_text, unit = parts
    if not _NUMBER_RE.fullmatch(value_text) or int(value_text) == 0:
        raise _config_error(expression, f"value '{value_text}' is not a positive integer")
    value = int(value_text)
    singular = unit.removesuffix("s")
    if singular not in _RATE_UNITS:
        raise _config_error(
            expression, f"unit '{unit}' must be minute(s), hour(s) or day(s) (lower case)"
        )
    if value == 1 and unit != singular:
        raise _config_error(expression, f"a value of 1 needs the singular unit '{singular}'")
    if value > 1 and unit == singular:
        raise _config_error(expression, f"a value of {value} needs the plural unit '{unit}s'")
    try:
        return value * _RATE_UNITS[singular]
    except OverflowError:
        raise _config_error(
            expression,
            f"value '{value_text}' is too large: a period is at most {timedelta.max.days} days",
        ) from None


def _cron_field_error(expression: str, field: str, text: str, reason: str) -> ConfigurationError:
    return _config_error(expression, f"{field} field '{text}': {reason}")


def _parse_cron(expression: str, body: str) -> _CronSpec:
    fields = body.split()
    if len(fields) != 6:
        raise _config_error(
            expression,
            f"expected 6 fields (minutes hours day-of-month month day-of-week year), "
            f"got {len(fields)}",
        )
    minutes, hours, day_of_month, month, day_of_week, year = fields
    parsed: dict[str, tuple[int, ...]] = {}
    for spec, text in ((_MINUTES, minutes), (_HOURS, hours), (_MONTH, month), (_YEAR, year)):
        try:
            parsed[spec.name] = _parse_numeric_field(text, spec)
        except _FieldError as error:
            raise _cron_field_error(expression, spec.name, text, str(error)) from None
    day_rule = _parse_cron_days(expression, day_of_month, day_of_week)
    return _CronSpec(
        minutes=parsed[_MINUTES.name],
        hours=parsed[_HOURS.name],
        months=parsed[_MONTH.name],
        years=parsed[_YEAR.name],
        day_rule=day_rule,
    )


def _parse_cron_days(expression: str, day_of_month: str, day_of_week: str) -> _DayRule:
    """Parse whichever day field is in use; the other one must be exactly ``?``."""
    for spec, text in ((_DAY_OF_MONTH, day_of_month), (_DAY_OF_WEEK, day_of_week)):
        if "?" in text and text != "?":
            raise _cron_field_error(expression, spec.name, text, "'?' must be the whole field")
    if day_of_month == "?" and day_of_week == "?":
        raise _config_error(
            expression, "day-of-month and day-of-week can't both be '?': set one of them"
        )
    if day_of_month != "?" and day_of_week != "?":
        raise _config_error(
            expression,
            f"day-of-month field '{day_of_month}' and day-of-week field '{day_of_week}' "
            "can't both be specified: one of them must be '?'",
        )
    try:
        if day_of_week == "?":
            return _parse_day_of_month(day_of_month)
        return _parse_day_of_week(day_of_week)
    except _FieldError as error:
        spec, text = (
            (_DAY_OF_MONTH, day_of_month) if day_of_week == "?" else (_DAY_OF_WEEK, day_of_week)
        )
        raise _cron_field_error(expression, spec.name, text, str(error)) from None


def _parse_at(expression: str, body: str, zone: ZoneInfo) -> datetime:
    match = _AT_BODY_RE.fullmatch(body)
    if match is None:
        raise _config_error(expression, "expected at(yyyy-mm-ddThh:mm:ss)")
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        wall = datetime(year, month, day, hour, minute, second)
    except ValueError as error:
        raise _config_error(expression, f"'{body}' is not a valid date and time: {error}") from None
    instant = _wall_time_to_utc(wall, zone)
    if instant is None:
        raise _config_error(
            expression, f"{body} does not exist in {zone.key} (daylight-saving gap)"
        )
    return instant


def _load_zone(name: str) -> ZoneInfo:
    if not isinstance(name, str):
        raise ConfigurationError(
            f"timezone: must be an IANA time zone name (a str, e.g. 'Europe/Paris'), got {name!r}"
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigurationError(f"unknown time zone {name!r} (expected an IANA name)") from None


def _require_aware(moment: datetime, name: str, error: type[Exception]) -> datetime:
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise error(f"{name} must be a timezone-aware datetime, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


# --------------------------------------------------------------------------- public class


class ScheduleExpression:
    """A validated ``rate()``, ``cron()`` or ``at()`` expression in an IANA time zone.

    ``start`` is the schedule's start date (EventBridge Scheduler's ``StartDate``): nothing
    fires before it. For ``rate()`` it is also the anchor: fires are ``start + k * period``,
    ``k >= 0``. Without ``start``, a ``rate()`` is anchored at the ``after`` passed to
    :meth:`next_after`, so the first fire is ``after + period`` (chaining calls with the
    previous fire then yields one fire per period).

    Raises :class:`~eventmesh._errors.ConfigurationError` for a malformed expression (the
    message names the field and the reason), an unknown time zone or a naive ``start``.
    """

    __slots__ = ("_at", "_cron", "_expression", "_kind", "_period", "_start", "_zone")

    def __init__(
        self, expression: str, timezone: str = "UTC", start: datetime | None = None
    ) -> None:
        if not isinstance(expression, str):
            raise ConfigurationError(f"schedule expression must be a str, not {expression!r}")
        self._expression = expression
        self._zone = _load_zone(timezone)
        self._start = None if start is None else _require_aware(start, "start", ConfigurationError)
        self._period: timedelta | None = None
        self._cron: _CronSpec | None = None
        self._at: datetime | None = None
        self._kind = self._parse(expression)

    def _parse(self, expression: str) -> ScheduleKind:
        if match := _RATE_RE.fullmatch(expression):
            self._period = _parse_rate(expression, match["body"])
            return "rate"
        if match := _CRON_RE.fullmatch(expression):
            self._cron = _parse_cron(expression, match["body"])
            return "cron"
        if match := _AT_RE.fullmatch(expression):
            self._at = _parse_at(expression, match["body"], self._zone)
            return "at"
        raise ConfigurationError(
            f"{expression!r}: a schedule expression must be rate(...), cron(...) or at(...)"
        )

    # ----------------------------------------------------------------------- properties

    @property
    def expression(self) -> str:
        return self._expression

    @property
    def timezone(self) -> str:
        return self._zone.key

    @property
    def kind(self) -> ScheduleKind:
        return self._kind

    @property
    def start(self) -> datetime | None:
        """The start date in UTC, or None."""
        return self._start

    # ----------------------------------------------------------------------- evaluation

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire time strictly after ``after``, in UTC; None if there are no more.

        ``after`` must be timezone-aware (a naive datetime raises TypeError).
        """
        after = _require_aware(after, "after", TypeError)
        if self._period is not None:
            return self._next_rate(after, self._period)
        if self._cron is not None:
            return self._next_cron(after, self._cron)
        assert self._at is not None
        return self._next_at(after, self._at)

    def iter_after(self, after: datetime, limit: int | None = None) -> Iterator[datetime]:
        """Successive fire times after ``after`` (at most ``limit`` of them), in UTC."""
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        count = 0
        fire = self.next_after(after)
        while fire is not None and (limit is None or count < limit):
            yield fire
            count += 1
            fire = self.next_after(fire)

    def _next_rate(self, after: datetime, period: timedelta) -> datetime | None:
        """None when the next fire falls after the last date a datetime holds (year 9999)."""
        try:
            if self._start is None:
                return after + period
            if after < self._start:
                return self._start
            return self._start + ((after - self._start) // period + 1) * period
        except OverflowError:
            return None

    def _next_at(self, after: datetime, fire: datetime) -> datetime | None:
        if fire <= after or (self._start is not None and fire < self._start):
            return None
        return fire

    def _next_cron(self, after: datetime, spec: _CronSpec) -> datetime | None:
        threshold = after
        if self._start is not None and self._start > after:
            threshold = self._start - timedelta(microseconds=1)
        local = threshold.astimezone(self._zone)
        candidate = local.replace(tzinfo=None, second=0, microsecond=0, fold=0)
        while (wall := spec.next_wall_time(candidate)) is not None:
            fire = _wall_time_to_utc(wall, self._zone)
            if fire is not None and fire > threshold:
                return fire
            candidate = wall + timedelta(minutes=1)
        return None

    # ----------------------------------------------------------------------- dunder

    def __repr__(self) -> str:
        start = "" if self._start is None else f", start={self._start.isoformat()!r}"
        return f"ScheduleExpression({self._expression!r}, timezone={self.timezone!r}{start})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ScheduleExpression):
            return NotImplemented
        return (self._expression, self.timezone) == (other._expression, other.timezone)

    def __hash__(self) -> int:
        return hash((self._expression, self.timezone))
