"""Schedules with EventBridge Scheduler's RetryPolicy, DeadLetterConfig, EndDate and context
attributes (``<aws.scheduler.*>`` in the input), on the mesh's virtual clock.

The VirtualClock starts at 2026-01-01T00:00:00Z. Retry ``n`` (from 0) waits ``min(600, 2**n)``
seconds times a factor in ``(0.5, 1]``, so the bounds below are worked out by hand from that.
Dead letters carry Scheduler's attributes (ERROR_CODE, ERROR_MESSAGE, TARGET_ARN,
SCHEDULE_ARN, EXHAUSTED_RETRY_CONDITION, RETRY_ATTEMPTS), written literally here.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from eventmesh import ConfigurationError, Mesh, PayloadError, Telemetry
from eventmesh.testing import VirtualClock

EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z
MINUTE = 60.0
SCHEDULE_ARN = "arn:aws:scheduler:us-east-1:123456789012:schedule/default/nightly"
DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:dlq"


class Flaky:
    """An async callable target failing its first ``failures`` calls; keeps payloads and times."""

    def __init__(self, clock: VirtualClock, failures: int) -> None:
        self.clock = clock
        self.failures = failures
        self.payloads: list[Any] = []
        self.times: list[float] = []

    async def __call__(self, payload: Any) -> None:
        self.payloads.append(payload)
        self.times.append(self.clock.time() - EPOCH)
        if len(self.payloads) <= self.failures:
            raise RuntimeError(f"target down (call {len(self.payloads)})")


def attributes_of(message: Any) -> dict[str, str]:
    return {name: value["StringValue"] for name, value in message.message_attributes.items()}


async def test_a_failed_attempt_is_retried_with_backoff(clock: VirtualClock, mesh: Mesh) -> None:
    target = Flaky(clock, failures=2)
    rule = mesh.schedule("rate(5 minutes)", target, name="flaky")
    async with mesh:
        await clock.advance(5 * MINUTE + 10)
        assert len(target.times) == 3
        first, second, third = target.times
        assert first == 300.0  # the tick
        assert 0.5 < second - first <= 1.0  # retry 0: 1 s, jittered
        assert 1.0 < third - second <= 2.0  # retry 1: 2 s, jittered
        assert (rule.fired, rule.failures, rule.retried) == (1, 2, 2)
        assert (rule.dead_lettered, rule.dropped) == (0, 0)
    # Every attempt got the same Scheduled Event: one tick, one event id.
    assert len({payload["id"] for payload in target.payloads}) == 1
    assert {payload["time"] for payload in target.payloads} == {"2026-01-01T00:05:00Z"}


async def test_retries_run_out_into_the_dead_letter_queue(clock: VirtualClock, mesh: Mesh) -> None:
    target = Flaky(clock, failures=100)
    dlq = mesh.queue("dlq")
    rule = mesh.schedule(
        "rate(5 minutes)",
        target,
        input={"job": "nightly", "run": "<aws.scheduler.execution-id>"},
        retries=2,
        dead_letter=dlq,
        arn=SCHEDULE_ARN,
        name="nightly",
    )
    async with mesh:
        await clock.advance(5 * MINUTE + 10)
        (message,) = await dlq.receive()
    assert len(target.payloads) == 3  # the first attempt and two retries
    last = target.payloads[-1]
    assert orjson.loads(message.body) == last  # the payload of the last attempt
    attributes = attributes_of(message)
    # Scheduler's dead-letter event (its user guide, "Retrieve the dead-letter event"): every
    # attribute a String, the execution id the last attempt's.
    assert attributes == {
        "ERROR_CODE": "ERROR_FROM_TARGET",
        "ERROR_MESSAGE": "target down (call 3)",
        "EXECUTION_ID": last["run"],
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
        "IS_PAYLOAD_TRUNCATED": "false",
        "RETRY_ATTEMPTS": "2",
        "SCHEDULED_TIME": "2026-01-01T00:05:00Z",
        "SCHEDULE_ARN": SCHEDULE_ARN,
        "TARGET_ARN": attributes["TARGET_ARN"],
    }
    assert re.fullmatch(r"[0-9a-f]{16}", attributes["EXECUTION_ID"])
    assert attributes["TARGET_ARN"].endswith("Flaky")  # a callable is named by its class
    assert {value["DataType"] for value in message.message_attributes.values()} == {"String"}
    assert (rule.dead_lettered, rule.dropped, rule.failures) == (1, 0, 3)


async def test_the_event_age_ends_retries(clock: VirtualClock, mesh: Mesh) -> None:
    """With 60 s: retries 0..5 wait at most 1+2+4+8+16+32 = 63 s and at least half that, so
    the retry that would pass 60 s is the 6th or the 7th: 5 or 6 retries made."""
    target = Flaky(clock, failures=1000)
    dlq = mesh.queue("dlq")
    mesh.schedule("rate(5 minutes)", target, max_event_age=60, dead_letter="dlq", name="aged")
    async with mesh:
        await clock.advance(5 * MINUTE + 120)
        (message,) = await dlq.receive()
    attributes = attributes_of(message)
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumEventAgeInSeconds"
    assert attributes["RETRY_ATTEMPTS"] in ("5", "6")
    assert len(target.payloads) == int(attributes["RETRY_ATTEMPTS"]) + 1
    assert target.times[-1] - target.times[0] <= 60.0


class Refusing:
    """A destination refusing every message as too large: no retry can cure that."""

    name = "refusing"
    arn = "arn:aws:sqs:us-east-1:123456789012:refusing"

    def __init__(self) -> None:
        self.calls = 0

    async def send(self, message: Any, attributes: Any = None) -> None:
        self.calls += 1
        raise PayloadError("message too large")


async def test_a_failure_no_retry_can_cure_is_dead_lettered_at_once(
    clock: VirtualClock, mesh: Mesh
) -> None:
    refusing = Refusing()
    mesh.queue("dlq")
    mesh.schedule("rate(5 minutes)", refusing, dead_letter=DLQ_ARN, name="refused")
    async with mesh:
        await clock.advance(5 * MINUTE + 60)
        (message,) = await mesh.queue("dlq").receive()
    assert refusing.calls == 1
    attributes = attributes_of(message)
    assert attributes == {
        "ERROR_CODE": "INVALID_PARAMETER",
        "ERROR_MESSAGE": "message too large",
        "EXECUTION_ID": attributes["EXECUTION_ID"],
        "IS_PAYLOAD_TRUNCATED": "false",
        "RETRY_ATTEMPTS": "0",
        "SCHEDULED_TIME": "2026-01-01T00:05:00Z",
        "SCHEDULE_ARN": "arn:aws:events:us-east-1:123456789012:rule/refused",
        "TARGET_ARN": "arn:aws:sqs:us-east-1:123456789012:refusing",
    }  # no EXHAUSTED_RETRY_CONDITION: a permanent error, no retry was due


async def test_without_a_dead_letter_queue_a_tick_given_up_is_dropped(
    clock: VirtualClock, mesh: Mesh
) -> None:
    target = Flaky(clock, failures=100)
    rule = mesh.schedule("rate(5 minutes)", target, retries=0, name="dropping")
    async with mesh:
        await clock.advance(10 * MINUTE)
    assert (rule.fired, rule.failures, rule.dropped) == (2, 2, 2)


async def test_context_attributes_are_replaced_at_each_attempt(
    clock: VirtualClock, mesh: Mesh
) -> None:
    target = Flaky(clock, failures=1)
    template = (
        '{"arn": "<aws.scheduler.schedule-arn>", "at": "<aws.scheduler.scheduled-time>", '
        '"id": "<aws.scheduler.execution-id>", "n": "<aws.scheduler.attempt-number>"}'
    )
    mesh.schedule(
        "cron(30 6 * * ? *)", target, input=orjson.loads(template), arn=SCHEDULE_ARN, name="ctx"
    )
    async with mesh:
        await clock.advance(6.5 * 3600 + 5)
    first, second = target.payloads
    assert {key: first[key] for key in ("arn", "at", "n")} == {
        "arn": SCHEDULE_ARN,
        "at": "2026-01-01T06:30:00Z",
        "n": "1",
    }
    assert {key: second[key] for key in ("arn", "at", "n")} == {
        "arn": SCHEDULE_ARN,
        "at": "2026-01-01T06:30:00Z",
        "n": "2",
    }
    assert re.fullmatch(r"[0-9a-z]{16}", first["id"])
    assert re.fullmatch(r"[0-9a-z]{16}", second["id"])
    assert first["id"] != second["id"]  # one id per attempted invocation


async def test_a_text_input_keeps_its_text(clock: VirtualClock, mesh: Mesh) -> None:
    queue = mesh.queue("ticks")
    mesh.schedule(
        "rate(1 minute)", queue, input="tick <aws.scheduler.attempt-number> of <x>", name="text"
    )
    async with mesh:
        await clock.advance(MINUTE)
        (message,) = await queue.receive()
    assert message.body == "tick 1 of <x>"


async def test_no_tick_fires_at_or_after_the_end(clock: VirtualClock, mesh: Mesh) -> None:
    ticks: list[str] = []

    async def record(payload: Any) -> None:
        ticks.append(payload["time"])

    end = datetime(2026, 1, 1, 0, 15, tzinfo=UTC)
    rule = mesh.schedule("rate(5 minutes)", record, end=end, name="ending")
    async with mesh:
        await clock.advance(30 * MINUTE)
        assert rule.next_fire is None
    assert ticks == ["2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z"]  # not 00:15, the end


async def test_a_restart_after_the_end_catches_up_only_before_it(clock: VirtualClock) -> None:
    storage_mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False))
    ticks: list[str] = []

    async def record(payload: Any) -> None:
        ticks.append(payload["time"])

    end = datetime(2026, 1, 1, 0, 22, tzinfo=UTC)
    storage_mesh.schedule("rate(5 minutes)", record, end=end, name="ending")
    async with storage_mesh:
        await clock.advance(6 * MINUTE)
    await clock.advance(60 * MINUTE)  # down past 00:10, 00:15, 00:20 and the end
    after = Mesh(clock=clock, telemetry=Telemetry(enabled=False))
    after.use_storage(storage_mesh.backend)
    after.schedule("rate(5 minutes)", record, end=end, name="ending")
    async with after:
        await clock.advance(30 * MINUTE)
    assert ticks == ["2026-01-01T00:05:00Z", "2026-01-01T00:20:00Z"]


async def test_a_waiting_retry_survives_a_restart_on_durable_storage(tmp_path: Path) -> None:
    """The tick fails once; the process stops before the retry is due; the next process on
    the same SQLite file makes the retry, as attempt 2 of the same tick."""
    clock = VirtualClock()
    storage = f"sqlite:///{tmp_path / 'mesh.db'}"
    template = {"n": "<aws.scheduler.attempt-number>", "at": "<aws.scheduler.scheduled-time>"}
    failing = Flaky(clock, failures=1000)
    first = Mesh(storage=storage, clock=clock, telemetry=Telemetry(enabled=False))
    first.schedule("rate(5 minutes)", failing, input=template, name="durable")
    async with first:
        await clock.advance(5 * MINUTE)  # the tick's first attempt fails; a retry waits
    assert failing.payloads == [{"n": "1", "at": "2026-01-01T00:05:00Z"}]

    working = Flaky(clock, failures=0)
    second = Mesh(storage=storage, clock=clock, telemetry=Telemetry(enabled=False))
    rule = second.schedule("rate(5 minutes)", working, input=template, name="durable")
    async with second:
        await clock.advance(2)
        assert working.payloads == [{"n": "2", "at": "2026-01-01T00:05:00Z"}]
        assert rule.retried == 1
        await clock.advance(5 * MINUTE)
    assert working.payloads[1:] == [{"n": "1", "at": "2026-01-01T00:10:00Z"}]


def test_defaults_keep_derived_names(mesh: Mesh) -> None:
    """Names derived before retries existed stay the same (they key the schedule's state)."""
    plain = mesh.schedule("rate(1 hour)", "reports")
    assert mesh.schedule("rate(1 hour)", "reports", retries=185, max_event_age=86400) is plain
    other = mesh.schedule("rate(1 hour)", "reports", retries=3)
    assert other.name != plain.name
    assert (plain.retries, plain.max_event_age, other.retries) == (185, 86400.0, 3)


def test_derived_names_are_those_of_schedules_made_before_retries(mesh: Mesh) -> None:
    """The names the mesh derived before Scheduler's settings existed (computed with that
    release's code, written here literally): a durable store keeps each schedule's ticks
    under its name, so a changed name would fire a stored schedule afresh."""
    hourly = mesh.schedule("rate(1 hour)", "reports")
    assert hourly.name == "reports-dbd1d19a6dc5"
    noon = mesh.schedule(
        "cron(0 12 * * ? *)",
        "reports",
        timezone="Europe/Paris",
        input={"a": 1},
        flexible_window=5,
        start=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert noon.name == "reports-468fefe11131"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"retries": 186}, "retries must be an integer from 0 to 185, got 186"),
        ({"retries": -1}, "retries must be an integer from 0 to 185, got -1"),
        ({"retries": True}, "retries must be an integer from 0 to 185, got True"),
        ({"max_event_age": 59}, "max_event_age must be a number from 60 to 86400, got 59"),
        ({"max_event_age": 86401}, "max_event_age must be a number from 60 to 86400, got 86401"),
        (
            {"dead_letter": 42},
            "a schedule's dead_letter is a standard queue, its name or its ARN, not 42",
        ),
        ({"arn": "nightly"}, "a schedule's arn is an ARN (arn:...), not 'nightly'"),
        ({"end": "2026-02-01"}, "end must be a timezone-aware datetime, not '2026-02-01'"),
        (
            {"end": datetime(2026, 2, 1)},
            "end must be a timezone-aware datetime, got naive 2026-02-01T00:00:00",
        ),
        (
            {
                "start": datetime(2026, 2, 1, tzinfo=UTC),
                "end": datetime(2026, 2, 1, tzinfo=UTC),
            },
            "end (2026-02-01T00:00:00+00:00) must come after start (2026-02-01T00:00:00+00:00)",
        ),
    ],
)
@pytest.mark.parametrize("named", [False, True])
def test_invalid_retry_settings(
    mesh: Mesh, settings: dict[str, Any], message: str, named: bool
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        mesh.schedule("rate(1 minute)", print, name="named" if named else None, **settings)
    assert str(raised.value) == message


@pytest.mark.parametrize("failures", [0, 1])
async def test_a_tick_is_pending_until_it_is_recorded_done(
    clock: VirtualClock, mesh: Mesh, failures: int
) -> None:
    """The drain at stop waits for ``pending()`` to reach 0, then cancels what runs: had a
    schedule reported 0 before its tick's done record (and, for a failed attempt, after the
    retry was stored) was written, a stop would cut there and a restart fire the tick again
    (a delivered tick twice, or a failed one as a first attempt AND its stored retry)."""
    rule = mesh.schedule("rate(5 minutes)", Flaky(clock, failures), name="bookkeeping")
    seen: list[tuple[int, bool]] = []
    watching: list[asyncio.Task[None]] = []

    async def watch() -> None:
        """From inside the target's call: each round, what pending() says and whether the
        tick is recorded done, until it is."""
        key = "schedule/bookkeeping/2026-01-01T00:05:00Z"
        while True:
            pending = await rule.pending()
            stored = await mesh.backend.values.get(key)
            done = stored is not None and bool(orjson.loads(stored.value).get("done"))
            seen.append((pending, done))
            if done:
                return
            await asyncio.sleep(0)

    original = rule.target

    async def target(payload: Any) -> None:
        if not watching:
            watching.append(asyncio.create_task(watch()))
        await original(payload)

    rule.target = target
    async with mesh:
        await clock.advance(5 * MINUTE)
        await watching[0]
    assert all(pending > 0 for pending, done in seen if not done), seen
