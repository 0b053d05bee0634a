"""A cron job: a weekday report at 9:00 Paris time, and a health check every 15 minutes.

`mesh.schedule("cron(0 9 ? * MON-FRI *)", report, timezone="Europe/Paris")` invokes the
`report` function at 09:00 Paris wall time, Monday to Friday, with EventBridge's Scheduled
Event (its "time" is the scheduled time, in UTC). `rate(15 minutes)` calls `health` every 15
minutes of elapsed time, from midnight (its `start`); a schedule's target may be a plain
coroutine function instead of a mesh function: it is simply awaited, without Lambda's
invocation semantics.

The mesh runs on a VirtualClock, set to Wednesday 25 March 2026, 23:59 Paris time, and the
example advances it day by day through a week in under a second. The week shows two
things: Saturday and Sunday have no report, and Paris moves to summer time on Sunday 29
March, so Sunday has 23 hours (92 health checks) and from Monday on 09:00 in Paris is 07:00
UTC instead of 08:00 UTC: the cron follows the wall clock of its time zone, the rate counts
elapsed time.

`ScheduleExpression(...).next_after(...)` answers "when next?" without running anything: the
example uses it to print the next three reports up front.

Run: uv run python examples/04_cron_job.py
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from eventmesh import Context, Mesh, ScheduleExpression
from eventmesh.testing import VirtualClock

PARIS = ZoneInfo("Europe/Paris")
WEEK_STARTS = datetime(2026, 3, 26, tzinfo=PARIS)  # Thursday 00:00 in Paris
WEEKDAY_REPORT = "cron(0 9 ? * MON-FRI *)"

clock = VirtualClock(start=(WEEK_STARTS - timedelta(minutes=1)).timestamp())
mesh = Mesh(clock=clock)
reports: dict[date, datetime] = {}  # Paris day -> the report's scheduled time
health_checks: Counter[date] = Counter()  # Paris day -> health checks that day


def both_zones(moment: datetime) -> str:
    """``Thu 2026-03-26 08:00 UTC = Thu 09:00 CET`` for an aware datetime."""
    paris = moment.astimezone(PARIS)
    return f"{moment:%a %Y-%m-%d %H:%M} UTC = {paris:%a %H:%M %Z}"


@mesh.function
async def report(event: dict[str, Any], context: Context) -> None:
    when = datetime.fromisoformat(event["time"])  # "2026-03-26T08:00:00Z"
    reports[when.astimezone(PARIS).date()] = when
    print(f"  report  {both_zones(when)}  ({event['detail-type']}, {event['source']})")


async def health(event: dict[str, Any]) -> None:
    when = datetime.fromisoformat(event["time"])
    health_checks[when.astimezone(PARIS).date()] += 1
    if sum(health_checks.values()) <= 2:
        print(f"  health  {both_zones(when)}")


mesh.schedule(WEEKDAY_REPORT, report, timezone="Europe/Paris")
mesh.schedule("rate(15 minutes)", health, start=WEEK_STARTS)


async def main() -> None:
    expression = ScheduleExpression(WEEKDAY_REPORT, "Europe/Paris")
    print(f"{WEEKDAY_REPORT} in Europe/Paris; the next three reports:")
    moment = WEEK_STARTS
    for _ in range(3):
        following = expression.next_after(moment)
        assert following is not None  # a weekly cron always has a next fire
        print(f"  {both_zones(following)}")
        moment = following

    print("a week on the virtual clock, day by day (Paris days):")
    async with mesh:
        for day in range(7):
            today = (WEEK_STARTS + timedelta(days=day)).date()
            midnight = datetime.combine(today + timedelta(days=1), datetime.min.time(), PARIS)
            await clock.advance(midnight.timestamp() - clock.time())  # to the next midnight
            change = day_length_change(today)
            length = f"{24 + change} h" + (" (summer time starts)" if change < 0 else "")
            said = "1 report" if today in reports else "no report (weekend)"
            print(f"{today:%a %d %b}: {length}, {health_checks[today]} health checks, {said}")
    total = sum(health_checks[WEEK_STARTS.date() + timedelta(days=d)] for d in range(7))
    print(f"{len(reports)} reports and {total} health checks from Thursday to Wednesday")


def day_length_change(day: date) -> int:
    """Hours a Paris day gains (+1) or loses (-1) to a daylight-saving change."""
    start = datetime.combine(day, datetime.min.time(), PARIS)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), PARIS)
    return round((end.timestamp() - start.timestamp()) / 3600) - 24


if __name__ == "__main__":
    asyncio.run(main())
