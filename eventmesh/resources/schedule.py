"""Schedule: an EventBridge-style scheduled rule, driven by the mesh's clock.

A schedule fires a target on a ``rate()``, ``cron()`` or one-time ``at()`` expression
(:class:`~eventmesh.resources.schedule_expression.ScheduleExpression` computes the fire times,
time zones and daylight-saving rules included). Each fire delivers the ``input`` given, or
else EventBridge's Scheduled Event (reference §4.6) whose ``time`` is the scheduled time.

Targets: a function (a :class:`~eventmesh.Function` or ``"name[:qualifier]"``) is invoked
asynchronously (``Event``), so a failing function follows Lambda's async retries; anything
with ``async send`` (a queue, a topic, a name of one) is sent the payload; any other callable
is called with the payload (and awaited when it returns an awaitable). A target that raises
is logged and counted in :attr:`Schedule.failures`; the schedule goes on.

Several processes, one fire (DESIGN.md): every fire first claims its tick with a
put-if-absent on ``schedule/<name>/<fire time>`` in the mesh's key-value store, as a lease of
``CLAIM_LEASE`` seconds. Only the winner delivers, and once the target took the tick the
lease becomes a lasting "done" record, so meshes sharing a store fire each tick once in
total and a restarted mesh never fires a delivered tick again. A process that dies between
its claim and the delivery leaves a lease that runs out; a restart or another process then
fires the tick: at least once, as EventBridge Scheduler delivers. The store also keeps, per
schedule:

* ``schedule/<name>/created``: when the schedule first started anywhere. It anchors
  ``rate()`` (fires are ``created + k * period``, ``k >= 1``, unless a ``start`` is given) so
  every process and every restart computes the same ticks, and it is the point from which
  missed ticks are counted before anything has fired.
* ``schedule/<name>/last``: the latest tick delivered. When a mesh starts and ticks fell due
  after it while no mesh ran, the schedule fires once, for the most recent of them, then
  goes on as usual (it does not replay every missed tick). A mesh that falls behind while
  running (a suspended machine) does the same.

Timing: EventBridge fires "within the minute" of the scheduled time; eventmesh fires at the
scheduled second itself (to the clock's precision). The wait is on the clock's monotonic
time, re-checked against its wall time at least every minute, so a wall-clock step or a
suspend shifts a fire by at most that much. With a flexible window of ``n`` minutes a tick
fires at a uniformly random moment in ``[scheduled, scheduled + n min]`` (drawn from the
mesh's seeded random generator); it is still claimed under its scheduled time, at the moment
it fires, so another process can fire it if this one stops within the window. A catch-up
fire is immediate, whatever the window.

Retries and dead letters (EventBridge Scheduler's ``RetryPolicy`` and ``DeadLetterConfig``):
an attempt that fails with an error another attempt may cure (a throttle, a backend failure,
any exception of a callable target; :func:`~eventmesh.delivery.errors.classify`) is retried
with exponential backoff and jitter on the mesh's clock (retry ``n`` waits ``min(600, 2**n)``
seconds times a factor in ``(0.5, 1]``), up to ``retries`` retries (0-185, default 185) and
while the next retry comes within ``max_event_age`` seconds (60-86400, default 86400) of the
first attempt. A failure no retry can cure (a resource that is gone, a payload refused) is
given up at once. A tick given up goes to the ``dead_letter`` queue, if any, with Scheduler's
attributes, all Strings (``ERROR_CODE``, ``ERROR_MESSAGE``, ``EXECUTION_ID`` of the last
attempt, ``IS_PAYLOAD_TRUNCATED``, ``RETRY_ATTEMPTS``, ``SCHEDULED_TIME``, ``SCHEDULE_ARN``,
``TARGET_ARN``, and, when retries ran out, ``EXHAUSTED_RETRY_CONDITION``); without one it is
logged and dropped. The first attempt is made under the tick's claim; a retry waits in the
mesh's queue store (a :class:`~eventmesh.delivery.durable.DeliveryQueue` named
``eventmesh.schedule.<name>``) with its count and the time of the first attempt, and only
once it is stored does the tick count as done. So on durable storage a retry survives the
process: a restart (or another process running the schedule on the same store) makes it when
it falls due, with its count and event age carried on. A process that dies during the first
attempt leaves the claim's lease to run out, and the tick is fired again from its first
attempt. On memory storage waiting retries end with the process (logged at stop).

``input`` may hold Scheduler's context attributes, replaced at each attempt:
``<aws.scheduler.schedule-arn>`` (the schedule's ``arn``), ``<aws.scheduler.scheduled-time>``
(the tick, ``2026-01-01T12:00:00Z``), ``<aws.scheduler.execution-id>`` (a new id for each
attempt) and ``<aws.scheduler.attempt-number>`` (1 for the first attempt). ``end`` stops the
schedule: ticks at or after it do not fire (Scheduler's ``EndDate``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import orjson

from eventmesh._backpressure import OVERFLOW, delivery_mode
from eventmesh._errors import BackendError, ConfigurationError
from eventmesh._function import Function
from eventmesh._outage import Outage
from eventmesh._redact import RedactingFilter, redact_text
from eventmesh._validation import json_bytes, text_bytes
from eventmesh.delivery.durable import DeliveryQueue, StoredDelivery
from eventmesh.delivery.errors import classify
from eventmesh.delivery.retry import BackoffPolicy, GiveUp
from eventmesh.delivery.target import Outgoing, UnresolvedTarget, resolve_target
from eventmesh.delivery.target import Target as DeliveryTarget
from eventmesh.delivery.targets.callable import CALLABLE
from eventmesh.delivery.targets.destination import DESTINATION
from eventmesh.delivery.targets.function import FUNCTION
from eventmesh.resources._base import Resource
from eventmesh.resources.queue import Queue
from eventmesh.resources.schedule_expression import ScheduleExpression

if TYPE_CHECKING:
    from eventmesh.backends.protocols import KeyValueStore
    from eventmesh.resources.context import ResourceContext

__all__ = [
    "MAX_EVENT_AGE",
    "MAX_RETRIES",
    "MIN_EVENT_AGE",
    "Schedule",
    "create_schedule",
    "latest_tick",
]

logger = logging.getLogger("eventmesh.schedules")
logger.addFilter(RedactingFilter())  # a callable target's errors may name a URL

ScheduleTarget: TypeAlias = Any
"""A :class:`Function`, a function or resource name, an object with ``async send``, or a
callable taking the payload."""

_T = TypeVar("_T")
_SCHEDULE_KINDS = (FUNCTION, DESTINATION, CALLABLE)
"""A function by object or name, then anything with ``send`` (queues, topics, buses as
destinations take the payload as it is), then any callable (sync or async)."""
_ALLOWED = frozenset(kind.name for kind in _SCHEDULE_KINDS)

MAX_FLEXIBLE_WINDOW = 1440  # minutes (Scheduler's MaximumWindowInMinutes)
MAX_RETRIES = 185
"""Scheduler's ``MaximumRetryAttempts``: 0-185, 185 by default."""
MIN_EVENT_AGE, MAX_EVENT_AGE = 60, 86_400
"""Scheduler's ``MaximumEventAgeInSeconds``: 60-86400, 86400 (24 hours) by default."""
_RETRY_ROUTE = "retry"
_CONTEXT_ATTRIBUTE = re.compile(
    r"<aws\.scheduler\.(schedule-arn|scheduled-time|execution-id|attempt-number)>"
)
RECHECK_SECONDS = 60.0
"""Longest wait on the monotonic clock before the wall clock is read again."""
MIN_CLAIM_TTL = 86400.0
"""A claim outlives its tick by at least a day (and by twice the gap to the next tick)."""
CLAIM_LEASE = 30.0
"""Seconds a claim holds without renewal: a delivering process renews it every 10 s; one that
died lets it run out, and another process (or a restart) then fires the tick."""

_TOLERANCE = 1e-3  # seconds: a wall time within this of a tick counts as the tick
_CAS_ATTEMPTS = 10
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def iso_z(moment: datetime) -> str:
    """``2026-01-01T12:00:00Z``: EventBridge's time format (whole seconds, UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def latest_tick(
    expression: ScheduleExpression, after: datetime, until: datetime
) -> datetime | None:
    """The latest fire time in ``(after, until]``, or None when there is none.

    Searches backwards from ``until`` in doubling spans, so a long downtime costs a few
    steps instead of one per missed tick.
    """
    first = expression.next_after(after)
    if first is None or first > until:
        return None
    span = timedelta(minutes=1)
    while True:
        lower = max(after, until - span)
        candidate = expression.next_after(lower)
        if candidate is not None and candidate <= until:
            break
        span *= 2
    while (following := expression.next_after(candidate)) is not None and following <= until:
        candidate = following
    return candidate


def _target_label(target: ScheduleTarget) -> str:
    """A name for the target that is the same in every process (for derived names)."""
    if isinstance(target, Function):
        return target.name
    if isinstance(target, str):
        return target
    name = getattr(target, "name", None)
    if isinstance(name, str) and name:
        return name
    qualname = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{getattr(target, '__module__', '')}.{qualname}"


def _derived_name(settings: Mapping[str, Any]) -> str:
    """A stable name from what identifies a schedule: ``<target>-<12 hex digits>``.

    Stable across processes and restarts (it keys the schedule's state in the store), and
    different for schedules that differ in any setting.
    """
    start = settings.get("start")
    identity = [
        settings["expression"],
        settings.get("timezone", "UTC"),
        _target_label(settings["target"]),
        settings.get("input"),
        settings.get("flexible_window"),
        None if start is None else start.isoformat(),
    ]
    extra = {key: _identity(settings[key]) for key in _EXTRA_SETTINGS if key in settings}
    if extra:  # only when given: names derived before these settings existed stay the same
        identity.append(extra)
    digest = hashlib.sha256(orjson.dumps(identity, option=orjson.OPT_SORT_KEYS)).hexdigest()
    label = _UNSAFE.sub("-", _target_label(settings["target"])).strip("-.")[:40]
    return f"{label or 'schedule'}-{digest[:12]}"


_EXTRA_SETTINGS = ("end", "retries", "max_event_age", "dead_letter", "arn")
"""Settings added with Scheduler's retry policy: in a derived name only when given."""


def _identity(value: Any) -> Any:
    """A setting as it goes into a derived name (a queue by its name, a time as ISO text)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Queue):
        return value.name
    return value


def create_schedule(
    context: ResourceContext,
    expression: str,
    target: ScheduleTarget,
    *,
    timezone: str = "UTC",
    input: Any = None,
    flexible_window: int | None = None,
    name: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    retries: int = MAX_RETRIES,
    max_event_age: float = MAX_EVENT_AGE,
    dead_letter: Queue | str | None = None,
    arn: str | None = None,
) -> Schedule:
    """A schedule of the mesh (what ``Mesh.schedule`` does); the same settings give the same
    schedule object, other settings under the same name are a ConfigurationError."""
    settings: dict[str, Any] = {"expression": expression, "target": target, "timezone": timezone}
    for key, value in (
        ("input", input),
        ("flexible_window", flexible_window),
        ("start", start),
        ("end", end),
        ("dead_letter", dead_letter),
        ("arn", arn),
    ):
        if value is not None:
            settings[key] = value
    if retries != MAX_RETRIES or isinstance(retries, bool):
        settings["retries"] = retries
    if max_event_age != MAX_EVENT_AGE or isinstance(max_event_age, bool):
        settings["max_event_age"] = max_event_age
    for key, moment in (("start", start), ("end", end)):
        if moment is not None and not isinstance(moment, datetime):
            raise ConfigurationError(f"{key} must be a timezone-aware datetime, not {moment!r}")
    _check_retry_settings(settings)
    if input is not None:
        _encode_input(input)  # before it goes into a derived name
    for setting, text in (("expression", expression), ("timezone", timezone), ("target", target)):
        if isinstance(text, str):
            text_bytes(text, setting, ConfigurationError)
    if name is None:
        # What goes into a derived name is checked first (JSON would refuse it raw).
        ScheduleExpression(expression, timezone, start)
        _check_end(start, end)
        _check_target(target)
        _check_flexible_window(flexible_window)
        name = _derived_name(settings)
    elif not isinstance(name, str) or not _NAME.match(name):
        raise ConfigurationError(
            f"schedule name {name!r} must be 1-64 letters, digits, '-', '_' or '.'"
        )
    return context.resource(Schedule, name, settings)


def _encode_input(value: Any) -> bytes:
    return json_bytes(value, "input", ConfigurationError)


def _check_target(target: ScheduleTarget) -> None:
    if isinstance(target, Function | str) or callable(target):
        return
    if callable(getattr(target, "send", None)):
        return
    raise ConfigurationError(
        f"a schedule's target is a function, a function or resource name, an object with "
        f"async send, or a callable; not {target!r}"
    )


def _number(name: str, value: Any, low: int, high: int, *, integer: bool) -> None:
    number = isinstance(value, int) or (not integer and isinstance(value, float))
    if isinstance(value, bool) or not number or not low <= value <= high:
        what = "an integer" if integer else "a number"
        raise ConfigurationError(f"{name} must be {what} from {low} to {high}, got {value!r}")


def _check_retry_settings(settings: Mapping[str, Any]) -> None:
    """``retries``, ``max_event_age``, ``dead_letter`` and ``arn`` as Scheduler takes them."""
    _number("retries", settings.get("retries", MAX_RETRIES), 0, MAX_RETRIES, integer=True)
    _number(
        "max_event_age",
        settings.get("max_event_age", MAX_EVENT_AGE),
        MIN_EVENT_AGE,
        MAX_EVENT_AGE,
        integer=False,
    )
    dead_letter = settings.get("dead_letter")
    if dead_letter is not None and not (
        isinstance(dead_letter, Queue) or (isinstance(dead_letter, str) and dead_letter)
    ):
        raise ConfigurationError(
            f"a schedule's dead_letter is a standard queue, its name or its ARN, not "
            f"{dead_letter!r}"
        )
    arn = settings.get("arn")
    if arn is not None and not (isinstance(arn, str) and arn.startswith("arn:")):
        raise ConfigurationError(f"a schedule's arn is an ARN (arn:...), not {arn!r}")


def _check_end(start: datetime | None, end: datetime | None) -> None:
    if end is None:
        return
    if end.tzinfo is None or end.utcoffset() is None:
        raise ConfigurationError(
            f"end must be a timezone-aware datetime, got naive {end.isoformat()}"
        )
    if start is not None and end <= start:
        raise ConfigurationError(
            f"end ({end.isoformat()}) must come after start ({start.isoformat()})"
        )


def _check_flexible_window(window: Any) -> None:
    if window is None:
        return
    if (
        isinstance(window, bool)
        or not isinstance(window, int)
        or not 1 <= window <= MAX_FLEXIBLE_WINDOW
    ):
        raise ConfigurationError(
            f"flexible_window must be a whole number of minutes from 1 to "
            f"{MAX_FLEXIBLE_WINDOW} (or None), got {window!r}"
        )


class Schedule(Resource):
    """A scheduled rule: fires ``target`` on ``expression``; see the module docstring.

    ``fired`` counts fires (ticks this mesh claimed and delivered, whatever came of them),
    ``failures`` the attempts whose target raised (first attempts and retries), ``retried``
    the retries made, ``dead_lettered`` the ticks given up into the dead-letter queue and
    ``dropped`` those given up without one (or whose dead-letter queue refused them);
    ``next_fire`` is the next scheduled time while the mesh runs (None before it starts and
    once the schedule has no more fires).
    """

    kind = "schedule"
    service = "events"
    event_source = True
    """It makes events on its own: ``mesh.start(event_sources=False)`` leaves it out."""

    def __init__(self, context: ResourceContext, name: str, settings: Mapping[str, Any]) -> None:
        super().__init__(context, name, settings)
        self.target: ScheduleTarget = settings["target"]
        self.timezone: str = settings.get("timezone", "UTC")
        self.flexible_window: int | None = settings.get("flexible_window")
        self.input: Any = settings.get("input")
        self.expression = ScheduleExpression(
            settings["expression"], self.timezone, settings.get("start")
        )
        self.end: datetime | None = settings.get("end")
        _check_end(settings.get("start"), self.end)
        _check_target(self.target)
        _check_flexible_window(self.flexible_window)
        _check_retry_settings(settings)
        self.retries: int = settings.get("retries", MAX_RETRIES)
        self.max_event_age = float(settings.get("max_event_age", MAX_EVENT_AGE))
        self.dead_letter: Queue | str | None = settings.get("dead_letter")
        self._arn: str | None = settings.get("arn")
        self._policy = BackoffPolicy(self.retries, self.max_event_age)
        self._input = None if self.input is None else _encode_input(self.input)
        self.fired = 0
        self.failures = 0
        self.retried = 0
        self.dead_lettered = 0
        self.dropped = 0
        self.next_fire: datetime | None = None
        self._owner = uuid.uuid4().hex  # who claimed a tick, for whoever reads the store
        self._target: DeliveryTarget | None = None
        self._dead_letter_queue: Queue | None = None
        self._waiting_retries: DeliveryQueue | None = None
        if self.retries:
            self._waiting_retries = DeliveryQueue(
                f"eventmesh.schedule.{name}",
                lambda: context.backend.queues,
                context.clock,
                self._attempt_stored,
                workers=1,
            )
        self._values: KeyValueStore | None = None
        self._ticks = self.expression  # re-anchored at start for rate()
        self._loop: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()
        self._busy = 0
        self._outage: Outage | None = None

    @property
    def arn(self) -> str:
        """The ``arn`` given (the AWS endpoint and templates give Scheduler's
        ``arn:aws:scheduler:...:schedule/<group>/<name>``), else a rule's ARN of this name.
        The Scheduled Event names it in ``resources``, a dead letter in ``SCHEDULE_ARN``."""
        if self._arn is not None:
            return self._arn
        mesh = self.context
        return f"arn:aws:events:{mesh.region}:{mesh.account_id}:rule/{self.name}"

    @property
    def target_arn(self) -> str:
        """What dead letters call the target (``TARGET_ARN``): its ARN, a callable's own
        ``arn`` attribute, or its name."""
        own = getattr(self.target, "arn", None)
        if not isinstance(self.target, str) and isinstance(own, str):
            return own
        if self._target is not None:
            return self._target.arn
        return _target_label(self.target)

    def _key(self, suffix: str) -> str:
        return f"schedule/{self.name}/{suffix}"

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Resolve the target, load the schedule's state, fire a missed tick, start the loop."""
        self._target = self._resolve_target()
        self._dead_letter_queue = self._find_dead_letter()
        self._values = self.context.backend.values
        now = self._wall_now()
        created = await self._created(now)
        self._ticks = self._anchored(created)
        last = await self._last()
        missed = latest_tick(self._ticks, max(created, last or created), now)
        if missed is not None and not self._before_end(missed):
            missed = latest_tick(
                self._ticks,
                max(created, last or created),
                self._last_moment_before_end(),
            )
        if self._waiting_retries is not None:
            self._waiting_retries.start()  # with what an earlier process left waiting
        if missed is not None:
            logger.info("schedule %s: catching up on missed tick %s", self.name, iso_z(missed))
            self._dispatch(missed, flexible=False)
        # A cron or at() tick falling exactly on this instant is due now (its claim keeps it
        # from firing twice); a rate() counts its first period from here.
        after = now if self._ticks.kind == "rate" else now - timedelta(seconds=_TOLERANCE)
        self.next_fire = self._ticks.next_after(after)
        self._loop = asyncio.create_task(self._run(after), name=f"schedule.{self.name}")

    async def stop(self) -> None:
        """Cancel the loop and any delivery waiting in its flexible window; retries waiting
        stay in the store (kept for the next start on durable storage)."""
        tasks = [task for task in (self._loop, *self._deliveries) if task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loop = None
        self.next_fire = None
        if self._waiting_retries is not None and self._values is not None:
            await self._waiting_retries.stop()
            self.dropped += await self._waiting_retries.report_at_stop(
                f"schedule {self.name}", not self.context.backend.in_memory, logger
            )

    async def pending(self) -> int:
        """Deliveries being made now (not those waiting in a flexible window, nor retries
        waiting for their time)."""
        busy = self._busy
        if self._waiting_retries is not None and self._values is not None:
            busy += await self._waiting_retries.pending()
        return busy

    # -- target ------------------------------------------------------------------------------
    def _resolve_target(self) -> DeliveryTarget:
        target = self.target
        try:
            return resolve_target(target, self.context, _SCHEDULE_KINDS, allowed=_ALLOWED)
        except UnresolvedTarget as exc:
            if isinstance(target, Function):
                raise ConfigurationError(f"schedule {self.name!r}: {exc.cause}") from None
            if exc.found is not None:
                raise ConfigurationError(
                    f"schedule {self.name!r}: {target!r} is a {type(exc.found).__name__}, "
                    "which takes no messages"
                ) from None
            raise ConfigurationError(
                f"schedule {self.name!r}: target {target!r} is neither a function nor a "
                f"resource: {exc.cause or exc}"
            ) from None

    def _find_dead_letter(self) -> Queue | None:
        """The dead-letter queue, if it exists now (looked up again when a tick is given up:
        a queue made after the schedule still gets its dead letters)."""
        spec = self.dead_letter
        if spec is None or isinstance(spec, Queue):
            return spec
        found = self.context.find_resource(spec)
        if not isinstance(found, Queue):
            logger.warning("schedule %s: no dead-letter queue %s (yet)", self.name, spec)
            return None
        return found

    # -- state in the key-value store --------------------------------------------------------
    def _store(self) -> KeyValueStore:
        assert self._values is not None, "the schedule has not started"
        return self._values

    async def _created(self, now: datetime) -> datetime:
        """When the schedule first started (in any process): written once, then read."""
        key = self._key("created")
        stamp = now.replace(microsecond=0)
        if await self._store().put(key, stamp.isoformat().encode(), only_if_absent=True):
            return stamp
        stored = await self._store().get(key)
        return stamp if stored is None else datetime.fromisoformat(stored.value.decode())

    async def _last(self) -> datetime | None:
        stored = await self._store().get(self._key("last"))
        return None if stored is None else datetime.fromisoformat(stored.value.decode())

    async def _stored(self, step: Callable[[], Awaitable[_T]]) -> _T:
        """``step()``, tried again while the store fails (a :class:`~eventmesh.BackendError`),
        paced and logged once per outage by :class:`~eventmesh._outage.Outage`: a tick whose
        claim or record could not be written is not dropped, it waits for the store."""
        if self._outage is None:
            self._outage = Outage(f"schedule {self.name}: the store", logger, self.context.clock)
        while True:
            try:
                result = await step()
            except BackendError as exc:
                await self._outage.failed(exc)
                continue
            self._outage.recovered()
            return result

    def _anchored(self, created: datetime) -> ScheduleExpression:
        """``rate()`` counts periods from ``start`` if given, else from ``created``."""
        expression = self.expression
        if expression.kind != "rate" or expression.start is not None:
            return expression
        return ScheduleExpression(expression.expression, self.timezone, created)

    async def _claim(self, tick: datetime) -> int | None:
        """Put-if-absent on the tick, with a short lease: the version for the one caller (in
        any process) that won, else None. :meth:`_mark_done` turns the lease into a lasting
        record once the target took the tick."""
        claim = orjson.dumps({"owner": self._owner, "claimed_at": self.context.clock.time()})
        return await self._store().put(
            self._key(iso_z(tick)), claim, ttl=CLAIM_LEASE, only_if_absent=True
        )

    async def _renew(self, tick: datetime, lease: list[int], renewing: asyncio.Lock) -> None:
        """Keep the claim's lease while a slow target takes the tick, so no other process
        takes it over; ``lease[0]`` follows the claim's version, under ``renewing``."""
        claim = orjson.dumps({"owner": self._owner, "renewed_at": self.context.clock.time()})
        while True:
            await self.context.clock.sleep(CLAIM_LEASE / 3)
            async with renewing:
                try:
                    renewed = await self._store().put(
                        self._key(iso_z(tick)), claim, ttl=CLAIM_LEASE, only_if_version=lease[0]
                    )
                except BackendError as exc:
                    # The store is down: try again at the next renewal; the lease is lost
                    # only if the store stays down past it (the renewal then finds so).
                    logger.warning("schedule %s: renewing tick %s failed: %s", self.name, tick, exc)
                    continue
                except Exception:
                    logger.exception("schedule %s: renewing tick %s failed", self.name, tick)
                    return
                if renewed is None:
                    return  # lost (the store was down longer than the lease): nothing to keep
                lease[0] = renewed

    async def _mark_done(self, tick: datetime, version: int) -> None:
        following = self._ticks.next_after(tick)
        ttl = None
        if following is not None:
            ttl = max(MIN_CLAIM_TTL, 2 * (following - tick).total_seconds())
        done = orjson.dumps({"owner": self._owner, "done": True})
        written = await self._store().put(
            self._key(iso_z(tick)), done, ttl=ttl, only_if_version=version
        )
        if written is None:  # the lease ran out first: another process may fire it too
            logger.warning("schedule %s: tick %s took longer than its lease", self.name, tick)

    async def _wait_for_claim(self, tick: datetime) -> int | None:
        """Claim the tick, waiting out another claim that is not done yet (its owner may have
        died before delivering). None when the tick was delivered elsewhere."""
        store = self._store()
        while True:
            version = await self._claim(tick)
            if version is not None:
                return version
            stored = await store.get(self._key(iso_z(tick)))
            if stored is None:
                continue  # the lease ran out just now
            if orjson.loads(stored.value).get("done") or stored.expires_at is None:
                return None
            wait = stored.expires_at - self.context.clock.time()
            await self.context.clock.sleep(max(wait, _TOLERANCE))

    async def _record_last(self, tick: datetime) -> None:
        """Move ``last`` forward to ``tick`` (compare-and-set: it never moves back)."""
        key = self._key("last")
        value = tick.isoformat().encode()
        store = self._store()
        for _ in range(_CAS_ATTEMPTS):
            stored = await store.get(key)
            if stored is None:
                written = await store.put(key, value, only_if_absent=True)
            elif datetime.fromisoformat(stored.value.decode()) >= tick:
                return
            else:
                written = await store.put(key, value, only_if_version=stored.version)
            if written is not None:
                return
        logger.warning("schedule %s: could not record %s as its last tick", self.name, tick)

    # -- firing ------------------------------------------------------------------------------
    def _wall_now(self) -> datetime:
        return datetime.fromtimestamp(self.context.clock.time(), UTC)

    async def _sleep_until(self, moment: datetime) -> None:
        """Wait until the clock's wall time reaches ``moment``.

        ``sleep_until`` takes monotonic time, so the wall-time distance is converted on each
        wait, and re-read at least every RECHECK_SECONDS in case the wall clock moved.
        """
        clock = self.context.clock
        target = moment.timestamp()
        while (remaining := target - clock.time()) > _TOLERANCE:
            await clock.sleep_until(clock.now() + min(remaining, RECHECK_SECONDS))

    async def _run(self, after: datetime) -> None:
        """Sleep to each tick and fire it; a backlog (the mesh fell behind) fires once."""
        ticks = self._ticks
        while (tick := ticks.next_after(after)) is not None and self._before_end(tick):
            self.next_fire = tick
            await self._sleep_until(tick)
            now = self._wall_now()
            if not self._before_end(now):
                now = self._last_moment_before_end()
            due = latest_tick(ticks, after, now) or tick
            self._dispatch(due, flexible=True)
            after = due
        self.next_fire = None

    def _before_end(self, moment: datetime) -> bool:
        """Whether a tick at ``moment`` may fire: Scheduler invokes only before ``EndDate``."""
        return self.end is None or moment < self.end

    def _last_moment_before_end(self) -> datetime:
        assert self.end is not None
        return self.end - timedelta(microseconds=1)

    def _dispatch(self, tick: datetime, *, flexible: bool) -> None:
        delay = 0.0
        if flexible and self.flexible_window is not None:
            delay = self.context.random.uniform(0.0, self.flexible_window * 60.0)
        task = asyncio.create_task(self._deliver(tick, delay), name=f"schedule.{self.name}.fire")
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, tick: datetime, delay: float) -> None:
        if delay:
            await self._sleep_until(tick + timedelta(seconds=delay))
        version = await self._stored(lambda: self._wait_for_claim(tick))
        if version is None:
            logger.debug("schedule %s: tick %s fired elsewhere", self.name, iso_z(tick))
            return
        self.fired += 1
        # Busy until the tick is recorded done: the drain at stop waits for pending() to reach
        # 0 and then cancels what runs, so a tick delivered (or its retry stored) but not yet
        # marked done would fire again after a restart.
        self._busy += 1
        try:
            await self._deliver_claimed(tick, version)
        finally:
            self._busy -= 1

    async def _deliver_claimed(self, tick: datetime, version: int) -> None:
        lease = [version]
        renewing = asyncio.Lock()
        heartbeat = asyncio.create_task(self._renew(tick, lease, renewing))
        event = None if self._input is not None else self._scheduled_event(tick)
        first_attempt_at = self.context.clock.time()
        try:
            retry_in = await self._attempt(tick, event, 0, first_attempt_at)
            if retry_in is not None:
                # Stored before the tick counts as done: a crash in between fires it again.
                await self._stored(
                    lambda: self._store_retry(tick, event, retry_in, first_attempt_at)
                )
        finally:
            async with renewing:  # a renewal under way lands first: lease[0] is then current
                heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        version = lease[0]
        # Only now is the tick done: a process that dies before this line leaves a lease that
        # runs out, and a restart (or another process) fires the tick again: at least once.
        await self._stored(lambda: self._mark_done(tick, version))
        await self._stored(lambda: self._record_last(tick))

    async def _store_retry(
        self, tick: datetime, event: Any, delay: float, first_attempt_at: float
    ) -> None:
        assert self._waiting_retries is not None  # a retry comes only with retries > 0
        body = orjson.dumps({"tick": iso_z(tick), "event": event})
        await self._waiting_retries.put(
            _RETRY_ROUTE, body, delay=delay, retries=1, first_attempt_at=first_attempt_at
        )

    async def _attempt_stored(self, stored: StoredDelivery) -> float | None:
        """A retry from the store: its tick, and the Scheduled Event of the first attempt
        (None when the schedule has an input)."""
        data = orjson.loads(stored.body)
        tick = datetime.strptime(data["tick"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        self._busy += 1
        try:
            self.retried += 1
            return await self._attempt(
                tick, data.get("event"), stored.retries, stored.first_attempt_at
            )
        finally:
            self._busy -= 1

    async def _attempt(
        self, tick: datetime, event: Any, retries: int, first_attempt_at: float
    ) -> float | None:
        """One attempt (after ``retries`` retries): None when the tick is finished (delivered,
        dead-lettered or dropped), else the wait before the next retry."""
        assert self._target is not None, "the schedule has not started"
        execution_id = uuid.uuid4().hex[:16]  # Scheduler's id of this attempt
        payload = (
            event if event is not None else self._input_payload(tick, retries + 1, execution_id)
        )
        try:
            await self._target.deliver(Outgoing(payload, trigger="timer"))
        except Exception as exc:
            self.failures += 1
            code, retryable = classify(exc, callable_target=self._target.kind == "callable")
            condition = None
            if retryable:
                age = self.context.clock.time() - first_attempt_at
                decision = self._policy.next_retry(retries, age, self.context.random)
                if not isinstance(decision, GiveUp):
                    logger.info(
                        "schedule %s: attempt %d of tick %s failed (%s [%s]); retrying in %.3g s",
                        self.name,
                        retries + 1,
                        iso_z(tick),
                        exc,
                        code,
                        decision,
                    )
                    return decision
                condition = decision.condition
            await self._give_up(tick, payload, exc, code, condition, retries, execution_id)
        return None

    async def _give_up(
        self,
        tick: datetime,
        payload: Any,
        exc: Exception,
        code: str,
        condition: str | None,
        retries: int,
        execution_id: str,
    ) -> None:
        logger.error(
            "schedule %s: delivery of tick %s to %s failed after %d attempt(s): %s [%s]",
            self.name,
            iso_z(tick),
            self.target_arn,
            retries + 1,
            exc,
            code,
            exc_info=exc,
        )
        queue = self._dead_letter_queue or self._find_dead_letter()
        if queue is None:
            self.dropped += 1
            return
        message = redact_text(str(exc)).encode()[:1024].decode(errors="ignore") or code
        text = payload if isinstance(payload, str) else orjson.dumps(payload).decode()
        # Scheduler's dead-letter event (its user guide, "Retrieve the dead-letter event"):
        # every attribute a String; EXHAUSTED_RETRY_CONDITION only when retries ran out.
        values = {
            "ERROR_CODE": code,
            "ERROR_MESSAGE": message,
            "EXECUTION_ID": execution_id,
            "IS_PAYLOAD_TRUNCATED": "false",
            "RETRY_ATTEMPTS": str(retries),
            "SCHEDULED_TIME": iso_z(tick),
            "SCHEDULE_ARN": self.arn,
            "TARGET_ARN": self.target_arn,
        }
        if condition is not None:
            values["EXHAUSTED_RETRY_CONDITION"] = condition
        attributes = {
            name: {"DataType": "String", "StringValue": value} for name, value in values.items()
        }
        try:
            with delivery_mode(OVERFLOW):  # refusing a dead letter would lose the tick
                await queue.send(text, attributes)
        except Exception:
            self.dropped += 1
            logger.exception("schedule %s: dead-letter queue %s failed", self.name, queue.name)
        else:
            self.dead_lettered += 1

    def _input_payload(self, tick: datetime, attempt: int, execution_id: str) -> Any:
        """The configured input (a fresh copy), Scheduler's context attributes replaced."""
        assert self._input is not None
        text = self._input.decode()
        if "<aws.scheduler." not in text:
            return orjson.loads(self._input)
        values = {
            "schedule-arn": self.arn,
            "scheduled-time": iso_z(tick),
            "execution-id": execution_id,
            "attempt-number": str(attempt),
        }
        # The values hold no quote nor backslash: replacing in the JSON text keeps it JSON.
        return orjson.loads(_CONTEXT_ATTRIBUTE.sub(lambda found: values[found[1]], text))

    def _scheduled_event(self, tick: datetime) -> dict[str, Any]:
        """EventBridge's Scheduled Event (reference §4.6), the same for every attempt."""
        mesh = self.context
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": mesh.account_id,
            "time": iso_z(tick),
            "region": mesh.region,
            "resources": [self.arn],
            "detail": {},
        }

    def __repr__(self) -> str:
        return f"<Schedule {self.name} {self.expression.expression} ({self.timezone})>"
