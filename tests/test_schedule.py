"""Schedules: EventBridge-style rate()/cron()/at() rules fired on the mesh's clock.

Every expected time below is worked out by hand (reference §4.6 and §6), never computed with
the code under test. The VirtualClock starts at 2026-01-01T00:00:00Z, a Thursday (epoch
1767225600); Europe/Paris is UTC+1 in winter, springs forward on 2026-03-29 (02:00 CET ->
03:00 CEST) and falls back on 2026-10-25 (03:00 CEST -> 02:00 CET). Nothing sleeps in real
time: ``await clock.advance(seconds)`` runs everything due.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from eventmesh import ConfigurationError, Context, Mesh, Telemetry
from eventmesh.resources.schedule import Schedule, create_schedule, latest_tick
from eventmesh.resources.schedule_expression import ScheduleExpression
from eventmesh.testing import RecordingDestination, VirtualClock

EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z, where the VirtualClock starts
MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/"


def make_mesh(clock: VirtualClock, **settings: Any) -> Mesh:
    return Mesh(clock=clock, telemetry=Telemetry(enabled=False), drain_timeout=2.0, **settings)


def schedule(mesh: Mesh, expression: str, target: Any, **settings: Any) -> Schedule:
    """Until ``Mesh.schedule`` exists: what it will do."""
    return create_schedule(mesh.context, expression, target, **settings)


def wall(seconds_after_start: float) -> float:
    return EPOCH + seconds_after_start


class Recorder:
    """An async callable target: keeps each payload and the wall time it arrived."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.payloads: list[Any] = []
        self.times: list[float] = []

    async def __call__(self, payload: Any) -> None:
        self.payloads.append(payload)
        self.times.append(self.clock.time())

    @property
    def event_times(self) -> list[str]:
        return [payload["time"] for payload in self.payloads]


# -- firing times ----------------------------------------------------------------------------


async def test_rate_fires_every_period_after_start(clock: VirtualClock, mesh: Mesh) -> None:
    recorder = Recorder(clock)
    rule = schedule(mesh, "rate(5 minutes)", recorder)
    assert rule.next_fire is None  # not running yet
    async with mesh:
        assert rule.next_fire == datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
        await clock.advance(5 * MINUTE - 1)
        assert recorder.times == []
        await clock.advance(10 * MINUTE + 1)
        assert recorder.times == [wall(300), wall(600), wall(900)]
        assert recorder.event_times == [
            "2026-01-01T00:05:00Z",
            "2026-01-01T00:10:00Z",
            "2026-01-01T00:15:00Z",
        ]
        assert rule.fired == 3
        assert rule.failures == 0
        assert rule.next_fire == datetime(2026, 1, 1, 0, 20, tzinfo=UTC)


async def test_rate_with_a_start_is_anchored_there(clock: VirtualClock, mesh: Mesh) -> None:
    recorder = Recorder(clock)
    start = datetime(2026, 1, 1, 0, 2, tzinfo=UTC)
    schedule(mesh, "rate(5 minutes)", recorder, start=start)
    async with mesh:
        await clock.advance(13 * MINUTE)
    assert recorder.event_times == [
        "2026-01-01T00:02:00Z",
        "2026-01-01T00:07:00Z",
        "2026-01-01T00:12:00Z",
    ]


async def test_cron_fires_at_noon_utc_daily(clock: VirtualClock, mesh: Mesh) -> None:
    recorder = Recorder(clock)
    rule = schedule(mesh, "cron(0 12 * * ? *)", recorder)
    async with mesh:
        assert rule.next_fire == datetime(2026, 1, 1, 12, tzinfo=UTC)
        await clock.advance(12 * HOUR)
        assert recorder.times == [wall(12 * HOUR)]
        await clock.advance(DAY)
        assert recorder.times == [wall(12 * HOUR), wall(36 * HOUR)]
    assert recorder.event_times == ["2026-01-01T12:00:00Z", "2026-01-02T12:00:00Z"]


async def test_cron_in_a_time_zone(clock: VirtualClock, mesh: Mesh) -> None:
    recorder = Recorder(clock)
    schedule(mesh, "cron(0 9 * * ? *)", recorder, timezone="Europe/Paris")
    async with mesh:
        await clock.advance(8 * HOUR - 1)
        assert recorder.times == []
        await clock.advance(1)
    assert recorder.times == [wall(8 * HOUR)]  # 09:00 CET is 08:00 UTC
    assert recorder.event_times == ["2026-01-01T08:00:00Z"]


async def test_spring_forward_skips_a_time_that_does_not_exist() -> None:
    # 02:30 Paris: 2026-03-28 01:30Z (CET); none on 2026-03-29; 2026-03-30 00:30Z (CEST).
    clock = VirtualClock(start=datetime(2026, 3, 28, tzinfo=UTC).timestamp())
    mesh = make_mesh(clock)
    recorder = Recorder(clock)
    schedule(mesh, "cron(30 2 * * ? *)", recorder, timezone="Europe/Paris")
    async with mesh:
        await clock.advance(3 * DAY)
    assert recorder.event_times == ["2026-03-28T01:30:00Z", "2026-03-30T00:30:00Z"]


async def test_fall_back_fires_a_repeated_time_once() -> None:
    # 02:30 Paris happens twice on 2026-10-25 (00:30Z CEST, 01:30Z CET): fired once, first.
    clock = VirtualClock(start=datetime(2026, 10, 24, 12, tzinfo=UTC).timestamp())
    mesh = make_mesh(clock)
    recorder = Recorder(clock)
    schedule(mesh, "cron(30 2 * * ? *)", recorder, timezone="Europe/Paris")
    async with mesh:
        await clock.advance(2 * DAY)
    assert recorder.event_times == ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]


async def test_at_fires_once_then_is_done(clock: VirtualClock, mesh: Mesh) -> None:
    recorder = Recorder(clock)
    rule = schedule(mesh, "at(2026-01-01T00:10:00)", recorder)
    async with mesh:
        assert rule.next_fire == datetime(2026, 1, 1, 0, 10, tzinfo=UTC)
        await clock.advance(2 * DAY)
        assert recorder.times == [wall(10 * MINUTE)]
        assert rule.next_fire is None
        assert rule.fired == 1


async def test_at_in_the_past_never_fires(clock: VirtualClock, mesh: Mesh) -> None:
    recorder = Recorder(clock)
    rule = schedule(mesh, "at(2025-12-31T23:00:00)", recorder)
    async with mesh:
        await clock.advance(HOUR)
        assert rule.next_fire is None
    assert recorder.payloads == []


# -- payloads and targets --------------------------------------------------------------------


async def test_scheduled_event_payload(clock: VirtualClock, mesh: Mesh) -> None:
    recorder = Recorder(clock)
    rule = schedule(mesh, "cron(0 12 * * ? *)", recorder, name="daily-report")
    assert rule.arn == RULE_ARN + "daily-report"
    async with mesh:
        await clock.advance(36 * HOUR)
    first, second = recorder.payloads
    ids = [first.pop("id"), second.pop("id")]
    assert all(uuid.UUID(value).version == 4 for value in ids)
    assert ids[0] != ids[1]
    assert first == {
        "version": "0",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-01-01T12:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/daily-report"],
        "detail": {},
    }
    assert second["time"] == "2026-01-02T12:00:00Z"


async def test_payload_names_the_mesh_region_and_account(clock: VirtualClock) -> None:
    mesh = make_mesh(clock, region="eu-west-3", account_id="111122223333")
    recorder = Recorder(clock)
    schedule(mesh, "rate(1 minute)", recorder, name="tick")
    async with mesh:
        await clock.advance(MINUTE)
    (event,) = recorder.payloads
    assert (event["account"], event["region"]) == ("111122223333", "eu-west-3")
    assert event["resources"] == ["arn:aws:events:eu-west-3:111122223333:rule/tick"]


async def test_input_replaces_the_scheduled_event(clock: VirtualClock, mesh: Mesh) -> None:
    received: list[Any] = []

    async def target(payload: Any) -> None:
        received.append(payload)
        payload["seen"] = True  # a target's changes don't leak into the next fire

    schedule(mesh, "rate(1 minute)", target, input={"job": "cleanup", "ids": [1, 2]})
    async with mesh:
        await clock.advance(2 * MINUTE)
    assert received == [
        {"job": "cleanup", "ids": [1, 2], "seen": True},
        {"job": "cleanup", "ids": [1, 2], "seen": True},
    ]
    assert received[0] is not received[1]


async def test_input_may_be_any_json_value(clock: VirtualClock, mesh: Mesh) -> None:
    recorder = Recorder(clock)
    schedule(mesh, "rate(1 minute)", recorder, input="ping")
    async with mesh:
        await clock.advance(MINUTE)
    assert recorder.payloads == ["ping"]


async def test_schedule_to_a_queue(clock: VirtualClock, mesh: Mesh) -> None:
    queue = mesh.queue("ticks")
    by_name = schedule(mesh, "rate(5 minutes)", "ticks", name="by-name")
    schedule(mesh, "rate(5 minutes)", queue, name="by-object", input={"n": 1})
    async with mesh:
        await clock.advance(5 * MINUTE)
        messages = await queue.receive(max_messages=10)
    bodies = sorted((m.json() for m in messages), key=lambda body: "n" in body)
    assert len(bodies) == 2
    assert bodies[0]["detail-type"] == "Scheduled Event"
    assert bodies[0]["resources"] == [by_name.arn]
    assert bodies[1] == {"n": 1}


async def test_schedule_to_a_recording_destination(clock: VirtualClock, mesh: Mesh) -> None:
    destination = RecordingDestination("audit")
    schedule(mesh, "rate(1 hour)", destination)
    async with mesh:
        await clock.advance(2 * HOUR)
    assert [m["time"] for m in destination.messages] == [
        "2026-01-01T01:00:00Z",
        "2026-01-01T02:00:00Z",
    ]
    assert destination.attributes == [None, None]


async def test_schedule_invokes_a_function_asynchronously(clock: VirtualClock, mesh: Mesh) -> None:
    events: list[tuple[Any, float]] = []

    @mesh.function
    async def report(event: Any, context: Context) -> None:
        events.append((event, clock.time()))

    schedule(mesh, "rate(5 minutes)", report)
    schedule(mesh, "rate(5 minutes)", "report:$LATEST", input={"by": "name"})
    async with mesh:
        await clock.advance(5 * MINUTE)
        await clock.advance(0)
    assert len(events) == 2
    payloads = sorted((event for event, _ in events), key=lambda event: "by" in event)
    assert payloads[0]["detail-type"] == "Scheduled Event"
    assert payloads[0]["time"] == "2026-01-01T00:05:00Z"
    assert payloads[1] == {"by": "name"}
    assert {when for _, when in events} == {wall(300)}


async def test_a_plain_callable_target(clock: VirtualClock, mesh: Mesh) -> None:
    received: list[Any] = []
    schedule(mesh, "rate(1 minute)", received.append, input=7)
    async with mesh:
        await clock.advance(3 * MINUTE)
    assert received == [7, 7, 7]


async def test_unknown_target_fails_at_start(clock: VirtualClock, mesh: Mesh) -> None:
    schedule(mesh, "rate(1 minute)", "nowhere")
    with pytest.raises(ConfigurationError) as raised:
        await mesh.start()
    await mesh.stop()
    message = str(raised.value)
    assert message.startswith("schedule 'nowhere-")  # the schedule, by its derived name
    assert message.endswith(
        ": target 'nowhere' is neither a function nor a resource: no function named 'nowhere'"
    )


async def test_unknown_qualifier_fails_at_start(clock: VirtualClock, mesh: Mesh) -> None:
    @mesh.function
    async def job(event: Any, context: Context) -> None: ...

    schedule(mesh, "rate(1 minute)", "job:live")
    with pytest.raises(ConfigurationError) as raised:
        await mesh.start()
    await mesh.stop()
    assert str(raised.value).endswith(
        ": target 'job:live' is neither a function nor a resource: "
        "function 'job' has no version or alias 'live'"
    )


# -- flexible windows and failures -----------------------------------------------------------


async def test_flexible_window_fires_once_within_the_window(clock: VirtualClock) -> None:
    mesh = make_mesh(clock, seed=42)
    recorder = Recorder(clock)
    schedule(mesh, "rate(10 minutes)", recorder, flexible_window=15)
    async with mesh:
        await clock.advance(75 * MINUTE)
    # Ticks at 10, 20, ..., 60 min have closed windows (the last ends at 75 min).
    scheduled = {f"2026-01-01T00:{m}:00Z" for m in ("10", "20", "30", "40", "50")} | {
        "2026-01-01T01:00:00Z"
    }
    by_tick = dict(zip(recorder.event_times, recorder.times, strict=True))
    assert len(by_tick) == len(recorder.times)  # no tick twice
    assert scheduled <= set(by_tick)
    for tick, fired_at in by_tick.items():
        tick_time = datetime.fromisoformat(tick).timestamp()
        assert tick_time <= fired_at <= tick_time + 15 * MINUTE
    assert any(by_tick[tick] > datetime.fromisoformat(tick).timestamp() for tick in scheduled)


async def test_flexible_window_is_reproducible_with_a_seed(clock: VirtualClock) -> None:
    times = []
    for _ in range(2):
        run_clock = VirtualClock()
        mesh = make_mesh(run_clock, seed=7)
        recorder = Recorder(run_clock)
        schedule(mesh, "rate(1 hour)", recorder, flexible_window=30)
        async with mesh:
            await run_clock.advance(90 * MINUTE)
        times.append(recorder.times)
    assert len(times[0]) == 1
    assert times[0] == times[1]


async def test_failing_target_does_not_stop_the_schedule(
    clock: VirtualClock, mesh: Mesh, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[float] = []

    async def flaky(payload: Any) -> None:
        calls.append(clock.time())
        if len(calls) == 1:
            raise RuntimeError("target unavailable")

    rule = schedule(mesh, "rate(5 minutes)", flaky, retries=0)  # no retry: given up at once
    with caplog.at_level(logging.ERROR, logger="eventmesh.schedules"):
        async with mesh:
            await clock.advance(15 * MINUTE)
    assert calls == [wall(300), wall(600), wall(900)]
    assert (rule.fired, rule.failures, rule.dropped) == (3, 1, 1)
    assert "target unavailable" in caplog.text


async def test_pending_counts_a_delivery_in_progress(clock: VirtualClock, mesh: Mesh) -> None:
    release = asyncio.Event()

    async def slow(payload: Any) -> None:
        await release.wait()

    rule = schedule(mesh, "rate(1 minute)", slow)
    async with mesh:
        assert await rule.pending() == 0
        await clock.advance(MINUTE)
        assert await rule.pending() == 1
        release.set()
        await clock.advance(0)
        assert await rule.pending() == 0


async def test_stop_cancels_the_loop(clock: VirtualClock, mesh: Mesh) -> None:
    recorder = Recorder(clock)
    rule = schedule(mesh, "rate(1 minute)", recorder, flexible_window=10)
    async with mesh:
        await clock.advance(MINUTE)  # the first tick now waits in its window
    assert rule.next_fire is None
    await clock.advance(HOUR)
    assert recorder.payloads == []  # neither the loop nor the waiting delivery fired


# -- several processes and restarts ----------------------------------------------------------


async def test_two_meshes_sharing_a_store_fire_each_tick_once(clock: VirtualClock) -> None:
    first, second = make_mesh(clock), make_mesh(clock)
    second.use_storage(first.backend)
    destinations = [RecordingDestination("ticks"), RecordingDestination("ticks")]
    rules = [
        schedule(mesh, "rate(5 minutes)", destination)
        for mesh, destination in zip((first, second), destinations, strict=True)
    ]
    assert rules[0].name == rules[1].name  # derived the same way in every process
    async with first, second:
        await clock.advance(15 * MINUTE)
    times = sorted(m["time"] for d in destinations for m in d.messages)
    assert times == ["2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z", "2026-01-01T00:15:00Z"]
    assert rules[0].fired + rules[1].fired == 3


async def test_two_meshes_with_flexible_windows_fire_each_tick_once(clock: VirtualClock) -> None:
    first, second = make_mesh(clock, seed=1), make_mesh(clock, seed=2)
    second.use_storage(first.backend)
    recorders = [Recorder(clock), Recorder(clock)]
    for mesh, recorder in zip((first, second), recorders, strict=True):
        schedule(mesh, "rate(10 minutes)", recorder, flexible_window=20, name="flex")
    async with first, second:
        await clock.advance(60 * MINUTE)
    times = sorted(t for r in recorders for t in r.event_times)
    assert times[:4] == [f"2026-01-01T00:{m}:00Z" for m in ("10", "20", "30", "40")]
    assert len(times) == len(set(times))


async def test_restart_after_downtime_fires_once_for_missed_ticks(clock: VirtualClock) -> None:
    before = make_mesh(clock)
    recorder = Recorder(clock)
    schedule(before, "rate(5 minutes)", recorder, name="reports")
    async with before:
        await clock.advance(5 * MINUTE)
    assert recorder.event_times == ["2026-01-01T00:05:00Z"]

    await clock.advance(16 * MINUTE)  # down at 00:10, 00:15 and 00:20; back at 00:21

    after = make_mesh(clock)
    after.use_storage(before.backend)
    rule = schedule(after, "rate(5 minutes)", recorder, name="reports")
    async with after:
        await clock.advance(0)
        assert recorder.times[1:] == [wall(21 * MINUTE)]  # one catch-up fire, at once
        assert recorder.event_times[1:] == ["2026-01-01T00:20:00Z"]  # for the latest tick
        assert rule.next_fire == datetime(2026, 1, 1, 0, 25, tzinfo=UTC)  # same anchor
        await clock.advance(4 * MINUTE)
    assert recorder.event_times == [
        "2026-01-01T00:05:00Z",
        "2026-01-01T00:20:00Z",
        "2026-01-01T00:25:00Z",
    ]


async def test_restart_without_downtime_fires_nothing_twice(clock: VirtualClock) -> None:
    recorder = Recorder(clock)
    before = make_mesh(clock)
    schedule(before, "rate(5 minutes)", recorder, name="reports")
    async with before:
        await clock.advance(5 * MINUTE)
    after = make_mesh(clock)
    after.use_storage(before.backend)
    schedule(after, "rate(5 minutes)", recorder, name="reports")
    async with after:
        await clock.advance(5 * MINUTE)
    assert recorder.event_times == ["2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z"]


async def test_restart_never_fires_a_claimed_tick_again(clock: VirtualClock) -> None:
    """A process claimed 00:20 and stopped before recording it as its last tick."""
    recorder = Recorder(clock)
    before = make_mesh(clock)
    schedule(before, "rate(5 minutes)", recorder, name="reports")
    async with before:
        await clock.advance(5 * MINUTE)
    await clock.advance(16 * MINUTE)
    await before.backend.values.put(
        "schedule/reports/2026-01-01T00:20:00Z", b"another process", only_if_absent=True
    )
    after = make_mesh(clock)
    after.use_storage(before.backend)
    schedule(after, "rate(5 minutes)", recorder, name="reports")
    async with after:
        await clock.advance(4 * MINUTE)
    assert recorder.event_times == ["2026-01-01T00:05:00Z", "2026-01-01T00:25:00Z"]


async def test_restart_before_any_fire_catches_up_from_creation(clock: VirtualClock) -> None:
    recorder = Recorder(clock)
    before = make_mesh(clock)
    schedule(before, "cron(0 12 * * ? *)", recorder, name="noon")
    async with before:
        await clock.advance(HOUR)
    await clock.advance(3 * DAY)  # missed noon on Jan 1, 2 and 3; back on Jan 4 at 01:00
    after = make_mesh(clock)
    after.use_storage(before.backend)
    schedule(after, "cron(0 12 * * ? *)", recorder, name="noon")
    async with after:
        await clock.advance(0)
    assert recorder.event_times == ["2026-01-03T12:00:00Z"]


async def test_state_lives_in_the_key_value_store(clock: VirtualClock, mesh: Mesh) -> None:
    schedule(mesh, "rate(5 minutes)", Recorder(clock), name="reports")
    async with mesh:
        await clock.advance(10 * MINUTE)
    values = mesh.backend.values
    created = await values.get("schedule/reports/created")
    last = await values.get("schedule/reports/last")
    assert created is not None and last is not None
    assert datetime.fromisoformat(created.value.decode()) == datetime(2026, 1, 1, tzinfo=UTC)
    assert datetime.fromisoformat(last.value.decode()) == datetime(2026, 1, 1, 0, 10, tzinfo=UTC)
    claim = await values.get("schedule/reports/2026-01-01T00:10:00Z")
    assert claim is not None and claim.expires_at is not None
    assert claim.expires_at >= wall(10 * MINUTE) + DAY
    assert orjson.loads(claim.value)["done"] is True  # the lease became a lasting record


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize("window", [0, 1441, 1.5, True, "5"])
def test_flexible_window_is_whole_minutes_from_1_to_1440(mesh: Mesh, window: Any) -> None:
    with pytest.raises(ConfigurationError) as raised:
        schedule(mesh, "rate(1 minute)", print, flexible_window=window)
    assert str(raised.value) == (
        "flexible_window must be a whole number of minutes from 1 to 1440 (or None), "
        f"got {window!r}"
    )


@pytest.mark.parametrize("window", [1, 1440])
def test_flexible_window_bounds_are_accepted(mesh: Mesh, window: int) -> None:
    assert schedule(mesh, "rate(1 minute)", print, flexible_window=window).flexible_window == window


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"expression": "rate(5 minute)"},
            "rate(5 minute): a value of 5 needs the plural unit 'minutes'",
        ),
        (
            {"expression": "cron(0 12 * * * *)"},
            "cron(0 12 * * * *): day-of-month field '*' and day-of-week field '*' can't both be "
            "specified: one of them must be '?'",
        ),
        (
            {"expression": "every day"},
            "'every day': a schedule expression must be rate(...), cron(...) or at(...)",
        ),
        ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus' (expected an IANA name)"),
        (
            {"input": {"when": datetime.now}},
            "input.when: not JSON-serialisable: a builtin_function_or_method has no JSON form",
        ),
        (
            {"target": 42},
            "a schedule's target is a function, a function or resource name, an object with "
            "async send, or a callable; not 42",
        ),
        (
            {"name": "no spaces"},
            "schedule name 'no spaces' must be 1-64 letters, digits, '-', '_' or '.'",
        ),
        (
            {"name": "x" * 65},
            f"schedule name '{'x' * 65}' must be 1-64 letters, digits, '-', '_' or '.'",
        ),
        ({"start": "2026-01-01"}, "start must be a timezone-aware datetime, not '2026-01-01'"),
        (
            {"start": datetime(2026, 1, 1)},
            "start must be a timezone-aware datetime, got naive 2026-01-01T00:00:00",
        ),
    ],
)
def test_invalid_settings_say_what_and_where(
    mesh: Mesh, settings: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {"expression": "rate(1 minute)", "target": print, **settings}
    expression, target = arguments.pop("expression"), arguments.pop("target")
    with pytest.raises(ConfigurationError) as raised:
        schedule(mesh, expression, target, **arguments)
    assert str(raised.value) == message


def test_derived_names_are_stable_and_distinct(mesh: Mesh) -> None:
    destination = RecordingDestination("audit")
    first = schedule(mesh, "rate(1 hour)", destination)
    assert schedule(mesh, "rate(1 hour)", destination) is first
    assert first.name.startswith("audit-")
    assert len(first.name) <= 64
    others: list[Callable[[], Schedule]] = [
        lambda: schedule(mesh, "rate(2 hours)", destination),
        lambda: schedule(mesh, "rate(1 hour)", destination, input={"a": 1}),
        lambda: schedule(mesh, "rate(1 hour)", destination, timezone="Europe/Paris"),
        lambda: schedule(mesh, "rate(1 hour)", RecordingDestination("other")),
    ]
    names = {first.name} | {make().name for make in others}
    assert len(names) == 5
    assert first.kind == "schedule"
    assert first.arn == RULE_ARN + first.name


def test_same_name_with_other_settings_is_an_error(mesh: Mesh) -> None:
    schedule(mesh, "rate(1 hour)", print, name="hourly")
    with pytest.raises(ConfigurationError) as raised:
        schedule(mesh, "rate(2 hours)", print, name="hourly")
    assert str(raised.value) == (
        "schedule 'hourly' already exists with other settings: expression (exists: "
        "'rate(1 hour)', asked: 'rate(2 hours)'); ask with the same settings (or none) to get "
        "it, or use another name"
    )


# -- catch-up search -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "after", "until", "expected"),
    [
        ("cron(0 12 * * ? *)", (1, 1, 0), (1, 4, 1), (1, 3, 12)),
        ("cron(0 12 * * ? *)", (1, 1, 0), (1, 1, 12), (1, 1, 12)),
        ("cron(0 12 * * ? *)", (1, 1, 12), (1, 2, 11), None),
        ("cron(0/15 9-17 ? * MON-FRI *)", (1, 1, 0), (1, 5, 8), (1, 2, 17, 45)),
        ("cron(0 0 1 1 ? *)", (1, 1, 0), (12, 31, 23), None),
    ],
)
def test_latest_tick(
    expression: str,
    after: tuple[int, ...],
    until: tuple[int, ...],
    expected: tuple[int, ...] | None,
) -> None:
    def moment(parts: tuple[int, ...]) -> datetime:
        month, day, hour, *minute = parts
        return datetime(2026, month, day, hour, minute[0] if minute else 0, tzinfo=UTC)

    found = latest_tick(ScheduleExpression(expression), moment(after), moment(until))
    assert found == (None if expected is None else moment(expected))


async def test_a_slow_target_keeps_its_tick_from_a_second_process(clock: VirtualClock) -> None:
    """The claim's lease is renewed while the target works: no other process fires it too."""
    first = Mesh(clock=clock, telemetry=Telemetry(enabled=False))
    second = Mesh(clock=clock, storage=first.backend, telemetry=Telemetry(enabled=False))
    fires: list[str] = []

    def slow(label: str) -> Any:
        async def target(payload: Any) -> None:
            fires.append(label)
            await clock.sleep(45)  # longer than CLAIM_LEASE

        return target

    schedule(
        first, "rate(1 hour)", slow("a"), name="slow", start=datetime(2026, 1, 1, 1, tzinfo=UTC)
    )
    schedule(
        second, "rate(1 hour)", slow("b"), name="slow", start=datetime(2026, 1, 1, 1, tzinfo=UTC)
    )
    async with first, second:
        await clock.advance(3600 + 120)
    assert len(fires) == 1


async def test_a_cron_tick_on_the_starting_instant_fires(clock: VirtualClock, mesh: Mesh) -> None:
    """The virtual clock starts at 2026-01-01T00:00:00Z: a daily midnight cron fires then."""
    recorder = Recorder(clock)
    schedule(mesh, "cron(0 0 * * ? *)", recorder, name="midnight")
    async with mesh:
        await clock.advance(0)
        await clock.advance(86400)
    assert [p["time"] for p in recorder.payloads] == [
        "2026-01-01T00:00:00Z",
        "2026-01-02T00:00:00Z",
    ]
