"""Bus: EventBridge's event bus: events in, rules that match them, targets that get them.

``put_events`` takes PutEvents' entries (``Source``, ``DetailType``, ``Detail``, and
optionally ``Resources``, ``Time``, ``TraceHeader``, ``EventBusName``), turns each into an
event with EventBridge's envelope (reference §4.5) and answers as PutEvents does: a
``FailedEntryCount`` and one result per entry, an ``EventId`` or an ``ErrorCode`` with an
``ErrorMessage``. A malformed entry fails alone:

* ``InvalidArgument``: ``Source``, ``DetailType`` or ``Detail`` missing or empty, an unknown
  key, ``Resources`` not a list of strings, a ``Time`` that is not a time, another bus's
  ``EventBusName``, or an entry over 1 MB (EventBridge's size arithmetic: ``Time`` counts 14
  bytes when given, then the UTF-8 bytes of ``Source``, ``DetailType``, ``Detail`` and each
  resource);
* ``MalformedDetail``: ``Detail`` is neither a JSON object nor the text of one;
* ``NotAuthorizedForSourceException``: a ``Source`` starting with ``aws.`` (custom events
  only).

A call with no entry or more than 10 fails as a whole (:class:`PayloadError`).

Every enabled rule whose pattern (:class:`~eventmesh.patterns.Pattern`) matches the event
gets it: that is the fan-out. A rule has up to five targets; a delivery never holds up the
others nor the caller. A function, queue, topic, stream or bus takes its delivery at once (an
``Event`` invocation is queued, a message stored): ``put_events`` makes that first attempt
itself, with no task per delivery, and only a target at its limit is waited for in the
background. A delivery to an HTTP endpoint or a callable runs on its own, in the background,
in a copy of the publisher's context (asyncio tasks copy it). Either way the W3C trace context
and Lambda's recursion detection follow the event. What a target receives is
the event, or what the target's ``input``, ``input_path`` or ``input_transformer`` makes of
it (:class:`Target`); how it receives it:

* a function: an ``Event`` invocation (Lambda's async retries and destinations apply);
* a queue: an SQS message whose body is the JSON text (standard queues only);
* a topic: an SNS message, the same text;
* a stream: a record keyed by the value at ``partition_key_path`` (the event id without one);
* another bus: the event itself (same id), which that bus archives and routes in turn; an
  event never enters a bus it has already passed through;
* an ``http://`` or ``https://`` URL: a POST of the text through httpx (the
  ``eventmesh[http]`` extra), ``application/json`` when it is JSON;
* an async callable: awaited with the payload (a fresh copy for each attempt).

Retries: a failed attempt is retried when another may succeed: any exception of a callable;
a 5xx or 429 answer, a timeout or a connection error of an HTTP endpoint; a throttle or a
backend failure elsewhere. A client-side failure (a payload too large, a resource that is
gone, a recursion stopped, a 4xx answer) goes to the dead-letter queue at once, as
EventBridge does. Retry ``n`` (from 0) waits ``min(600, 2**n)`` seconds times a jitter factor
drawn uniformly from ``(0.5, 1]`` with the mesh's seeded random generator
(:func:`backoff_delay`), on the mesh's clock, so the defaults (185 retries, 24 hours) run out
at about the same time. A delivery stops after ``max_retries`` retries, or when the next retry
would come later than ``max_event_age`` seconds after the bus took the event in; the event
then goes to the target's ``dead_letter`` queue with EventBridge's attributes (``RULE_ARN``,
``TARGET_ARN``, ``ERROR_CODE``, ``ERROR_MESSAGE``, and ``EXHAUSTED_RETRY_CONDITION`` with
``RETRY_ATTEMPTS`` when retries ran out), or, without one, is dropped and counted.

A rule with ``schedule=`` (``rate()`` or ``cron()``; only on the bus named ``default``, as in
EventBridge) fires on the mesh's clock through a :class:`~eventmesh.resources.schedule.Schedule`
(one firer per tick across processes) and sends its targets the Scheduled Event of §4.6.

Archives keep the events that match their pattern in the mesh's log store (so a durable
backend keeps them), for ``retention`` seconds or for ever. A replay puts an archive's events
that arrived in ``[start, end)`` back on the bus in their original order, each with
``"replay-name"`` in its envelope, to the rules given (or all) and never into an archive.
Its deliveries run in the trace context the original publisher had, when the mesh traced.

As a destination (``on_success=mesh.bus("default")``) the bus puts Lambda's invocation record
in ``detail`` with ``source`` ``lambda``, ``detail-type`` ``Lambda Function Invocation
Result - Success`` or ``... - Failure`` (the dash is an en dash, U+2013, as reference §1.4
spells it; see :data:`SUCCESS_DETAIL_TYPE`) after ``requestContext.condition``, and
``resources`` ``[function ARN, bus ARN]``.

Backpressure: a bus's pending work is its deliveries not yet completed, those waiting to
retry included (``max_pending``, on every backend: they live in memory). ``put_events``
waits for room up to its ``timeout``, then raises :class:`~eventmesh.BackpressureError`
having taken no entry; a call is admitted whole once the bus is under its limit (so it may
pass the limit by its own deliveries). A delivery to a function, queue, topic, stream or bus
at its limit waits up to ``INTERNAL_WAIT`` seconds for room, then counts as a ``THROTTLING``
failure and is retried with backoff, and in the end goes to the dead-letter queue: never
dropped for being full, and a cycle of full resources cannot deadlock. Dead letters and
replays go in over the limit and at the limit's pace respectively.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import uuid
from collections.abc import (
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

import orjson
from opentelemetry import context as otel_context
from opentelemetry import propagate

from eventmesh._backpressure import (
    INTERNAL_WAIT,
    OVERFLOW,
    check_timeout,
    delivery_mode,
    task_context,
)
from eventmesh._errors import (
    BackendError,
    BackpressureError,
    ConfigurationError,
    EventMeshError,
    PayloadError,
)
from eventmesh._function import Function, FunctionTarget, is_async_callable
from eventmesh._ids import IsoTimes, RequestIds
from eventmesh._jsonpath import JsonPath, json_path
from eventmesh._pattern_index import MISSING, PatternIndex
from eventmesh._redact import RedactingFilter, redact_text, redact_url
from eventmesh._tasks import abandon_deliveries
from eventmesh._validation import json_bytes, text_bytes
from eventmesh.delivery.durable import DeliveryQueue, StoredDelivery
from eventmesh.delivery.errors import DeliveryError, classify
from eventmesh.delivery.http import require_httpx
from eventmesh.delivery.retry import BackoffPolicy, GiveUp, backoff_delay
from eventmesh.delivery.target import (
    EncodedEvent,
    Outgoing,
    UnresolvedTarget,
    accepts_encoded_events,
    resolve_target,
)
from eventmesh.delivery.target import Target as DeliveryTarget
from eventmesh.delivery.targets import KINDS
from eventmesh.delivery.targets.function import FunctionDelivery
from eventmesh.delivery.targets.queue import QueueTarget
from eventmesh.patterns import Pattern
from eventmesh.resources._base import Resource
from eventmesh.resources.queue import Queue
from eventmesh.resources.schedule import Schedule, create_schedule
from eventmesh.resources.stream import Stream
from eventmesh.resources.topic import Topic

if TYPE_CHECKING:
    from eventmesh._destinations import MessageAttributes
    from eventmesh.backends.protocols import LogRecord
    from eventmesh.resources.context import ResourceContext

__all__ = [
    "Archive",
    "Bus",
    "InputTransformer",
    "Replay",
    "Rule",
    "RuleTarget",
    "Target",
    "backoff_delay",
]

logger = logging.getLogger("eventmesh.buses")
logger.addFilter(RedactingFilter())  # a callable's errors may name a URL

MAX_ENTRIES = 10
"""PutEvents' limit on entries per call."""
MAX_EVENT_BYTES = 1024 * 1024
"""An entry's size limit (1 MB; it was 256 KB before), counted as EventBridge counts it."""
TIME_BYTES = 14
MAX_TARGETS = 5
MAX_INPUT_PATHS = 100
MIN_EVENT_AGE, MAX_EVENT_AGE = 60, 86_400
MAX_RETRIES = 185
"""A retry waits its exponential ceiling times a factor drawn from ``(1 - JITTER, 1]``."""
REPLAY_CHUNK = 100
SUCCESS_DETAIL_TYPE: Final = "Lambda Function Invocation Result \u2013 Success"
FAILURE_DETAIL_TYPE: Final = "Lambda Function Invocation Result \u2013 Failure"
PREDEFINED_VARIABLES: Final = frozenset(
    {
        "aws.events.rule-arn",
        "aws.events.rule-name",
        "aws.events.event",
        "aws.events.event.json",
        "aws.events.event.ingestion-time",
    }
)

_BUS_NAME = re.compile(r"^[A-Za-z0-9_.\-/]{1,256}$")
_RULE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_ARCHIVE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,48}$")
_REPLAY_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_VARIABLE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,256}$")
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_ENTRY_KEYS = frozenset(
    {"Source", "DetailType", "Detail", "Resources", "Time", "TraceHeader", "EventBusName"}
)
_ARCHIVE_SHARD = "archive"
_LOCAL_HAND_OFF = frozenset(("lambda", "sqs", "sns", "kinesis", "events"))
"""Targets that take a delivery at once unless full: a first attempt is made inline."""
_MISSING: Any = object()
_dumps = orjson.dumps
_SURE_FRACTION = 0.999999
"""Below this fraction of a second, a time is written as its whole second (see IsoTimes)."""
_MAX_HEADINGS = 4096
"""Pairs of source and detail-type whose encoded text a bus keeps (then it starts over)."""

TargetKind: TypeAlias = Literal["lambda", "sqs", "sns", "kinesis", "events", "http", "callable"]
_TARGET_KINDS = frozenset(("lambda", "sqs", "sns", "kinesis", "events", "http", "callable"))
TargetSpec: TypeAlias = Any
"""A :class:`Target`, or what a Target wraps: a function, a queue, a topic, a stream, a bus,
an http(s):// URL, an async callable, or the name (or ARN) of one."""
ReplayState: TypeAlias = Literal["STARTING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"]
Moment: TypeAlias = "datetime | float"
"""An aware datetime, or epoch seconds."""


# -- payloads --------------------------------------------------------------------------------
class _Payload:
    """What a target receives, as UTF-8 ``data``: JSON eventmesh encoded when ``is_json``
    (the event's own bytes, or a transformed input), else plain text. Functions get the
    JSON as it is, callables ``value()`` (parsed again: a fresh copy), text targets
    (queues, topics, streams, HTTP) ``text``."""

    __slots__ = ("data", "is_json")

    def __init__(self, data: bytes, is_json: bool) -> None:
        self.data = data
        self.is_json = is_json

    @classmethod
    def of(cls, value: Any) -> _Payload:
        if isinstance(value, str):
            return cls(value.encode(), False)
        return cls(orjson.dumps(value), True)

    @property
    def text(self) -> str:
        return self.data.decode()

    def value(self) -> Any:
        return orjson.loads(self.data) if self.is_json else self.text

    def outgoing(self) -> Outgoing:
        if self.is_json:
            return Outgoing(data=self.data, trigger="pubsub")
        return Outgoing(text=self.text, is_json=False, trigger="pubsub")


def _json_text(value: Any, what: str) -> str:
    return json_bytes(value, what, ConfigurationError).decode()


@dataclass(frozen=True, slots=True)
class _Slot:
    """A ``<name>`` placeholder of a template; ``quoted`` when it sits inside a JSON string."""

    name: str
    quoted: bool


def _scan_template(template: str) -> list[str | _Slot]:
    """Split a template into literal text and placeholders, noting which are in a string."""
    segments: list[str | _Slot] = []
    quoted = False
    start = index = 0
    while index < len(template):
        char = template[index]
        if char == "<" and (match := _PLACEHOLDER.match(template, index)):
            segments.append(template[start:index])
            segments.append(_Slot(match.group(1), quoted))
            index = start = match.end()
            continue
        if quoted and char == "\\":
            index += 2
            continue
        if char == '"':
            quoted = not quoted
        index += 1
    segments.append(template[start:])
    return segments


class InputTransformer:
    """EventBridge's input transformer: variables from JSONPaths, then a template.

    ``input_paths_map`` names up to 100 variables, each a path into the event;
    ``input_template`` uses them as ``<name>``, with EventBridge's predefined variables
    ``<aws.events.rule-name>``, ``<aws.events.rule-arn>``, ``<aws.events.event>`` (the event
    as JSON), ``<aws.events.event.json>`` (the event's JSON text as a string) and
    ``<aws.events.event.ingestion-time>`` (ISO 8601).

    Insertion rules. When the template is JSON (it parses once its placeholders are filled),
    a placeholder inside a JSON string takes a string value as the raw string (escaped for
    JSON) and any other value as its escaped JSON text; a placeholder outside strings takes
    the value's JSON text (a string gets its quotes). So with ``state = "RUNNING"``,
    ``{"s": <state>}`` and ``{"s": "<state>"}`` both give ``{"s": "RUNNING"}``. When the
    template is plain text, a string goes in as is and other values as JSON text. A path with
    nothing at it gives ``null`` outside strings and nothing inside a string or in text.
    An undefined ``<name>`` is a ConfigurationError (EventBridge cannot escape ``<``).
    """

    __slots__ = ("_json_mode", "_paths", "_segments", "input_paths_map", "input_template")

    def __init__(self, input_paths_map: Mapping[str, str], input_template: str) -> None:
        if not isinstance(input_paths_map, Mapping):
            raise ConfigurationError("input_paths_map maps variable names to JSONPaths")
        if len(input_paths_map) > MAX_INPUT_PATHS:
            raise ConfigurationError(
                f"an input transformer defines at most {MAX_INPUT_PATHS} variables, "
                f"got {len(input_paths_map)}"
            )
        if not isinstance(input_template, str) or not input_template:
            raise ConfigurationError("input_template must be a non-empty string")
        paths: dict[str, JsonPath] = {}
        for name, path in input_paths_map.items():
            if not isinstance(name, str) or not _VARIABLE_NAME.match(name):
                raise ConfigurationError(f"input transformer variable name {name!r} is invalid")
            if name in PREDEFINED_VARIABLES or name.startswith("aws.events."):
                raise ConfigurationError(f"{name!r} is reserved for EventBridge's variables")
            paths[name] = json_path(path)
        self.input_paths_map: dict[str, str] = dict(input_paths_map)
        self.input_template = input_template
        self._paths = paths
        self._segments = _scan_template(input_template)
        for segment in self._segments:
            if isinstance(segment, _Slot) and not (
                segment.name in paths or segment.name in PREDEFINED_VARIABLES
            ):
                raise ConfigurationError(
                    f"input_template uses <{segment.name}>, which is neither in "
                    "input_paths_map nor one of EventBridge's predefined variables"
                )
        self._json_mode = self._is_json_template()

    @classmethod
    def of(cls, spec: InputTransformer | Mapping[str, Any]) -> InputTransformer:
        """From an InputTransformer or a mapping, in Python's or EventBridge's key names."""
        if isinstance(spec, InputTransformer):
            return spec
        if not isinstance(spec, Mapping):
            raise ConfigurationError(
                "input_transformer is an InputTransformer or a mapping with input_paths_map "
                "and input_template"
            )
        paths = spec.get("input_paths_map", spec.get("InputPathsMap", {}))
        template = spec.get("input_template", spec.get("InputTemplate"))
        known = {"input_paths_map", "InputPathsMap", "input_template", "InputTemplate"}
        unknown = set(spec) - known
        if unknown:
            raise ConfigurationError(
                f"unknown input transformer keys: {', '.join(sorted(map(str, unknown)))}"
            )
        return cls(paths, template)

    def _is_json_template(self) -> bool:
        trial = "".join(
            segment if isinstance(segment, str) else ("" if segment.quoted else "null")
            for segment in self._segments
        )
        try:
            orjson.loads(trial)
        except orjson.JSONDecodeError:
            return False
        return True

    @property
    def json_mode(self) -> bool:
        """Whether the template is JSON (else plain text)."""
        return self._json_mode

    def render(self, event: Mapping[str, Any], predefined: Mapping[str, Any]) -> _Payload:
        """The template filled from ``event`` and the predefined variables' values."""
        parts: list[str] = []
        for segment in self._segments:
            if isinstance(segment, str):
                parts.append(segment)
                continue
            path = self._paths.get(segment.name)
            if path is not None:
                value = path.get(event, _MISSING)
            else:
                value = predefined.get(segment.name, _MISSING)
            parts.append(self._insert(value, segment.quoted))
        data = "".join(parts).encode()
        if self._json_mode:
            try:
                orjson.loads(data)
            except orjson.JSONDecodeError:
                return _Payload(data, False)
            return _Payload(data, True)
        return _Payload(data, False)

    def _insert(self, value: Any, quoted: bool) -> str:
        if not self._json_mode:
            if value is _MISSING:
                return ""
            return value if isinstance(value, str) else orjson.dumps(value).decode()
        if quoted:
            if value is _MISSING:
                return ""
            text = value if isinstance(value, str) else orjson.dumps(value).decode()
            return orjson.dumps(text).decode()[1:-1]
        return "null" if value is _MISSING else orjson.dumps(value).decode()

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, InputTransformer)
            and other.input_paths_map == self.input_paths_map
            and other.input_template == self.input_template
        )

    def __hash__(self) -> int:
        return hash(self.input_template)

    def __repr__(self) -> str:
        return f"InputTransformer({self.input_paths_map!r}, {self.input_template!r})"


# -- targets ---------------------------------------------------------------------------------
def _number(name: str, value: Any, low: int, high: int, *, integer: bool) -> None:
    number = isinstance(value, int) or (not integer and isinstance(value, float))
    if isinstance(value, bool) or not number or not low <= value <= high:
        what = "an integer" if integer else "a number"
        raise ConfigurationError(f"{name} must be {what} from {low} to {high}, got {value!r}")


def _kind_of(target: Any) -> TargetKind | None:
    """The kind of a target object; None for a name, resolved when the mesh runs."""
    if isinstance(target, Function):
        return "lambda"
    if isinstance(target, Queue):
        return "sqs"
    if isinstance(target, Topic):
        return "sns"
    if isinstance(target, Stream):
        return "kinesis"
    if isinstance(target, Bus):
        return "events"
    if isinstance(target, str):
        if target.startswith(("http://", "https://")):
            return "http"
        if not target:
            raise ConfigurationError("a target name must not be empty")
        return None
    if callable(target):
        if not is_async_callable(target):
            raise ConfigurationError(f"a callable target must be async (async def), got {target!r}")
        return "callable"
    raise ConfigurationError(
        f"{target!r} cannot be a target: give a function, a queue, a topic, a stream, a bus, "
        "an http(s):// URL, an async callable, or the name of one"
    )


def _check_kind(spec: Target, kind: TargetKind | None) -> None:
    """Settings that only some kinds of target take (checked again once a name resolves)."""
    if kind is None:
        return
    if spec.partition_key_path is not None and kind != "kinesis":
        raise ConfigurationError("partition_key_path is for stream targets only")
    transformed = (spec.input, spec.input_path, spec.input_transformer)
    if kind == "events" and any(option is not None for option in transformed):
        raise ConfigurationError(
            "a bus target receives the event itself: input, input_path and "
            "input_transformer are not available for it"
        )


class Target:
    """A rule's target and how it gets the event (EventBridge's ``Target``).

    ``target``: a function (or its name), a queue, a topic, a stream, a bus (or the name or
    ARN of one), an ``http(s)://`` URL or an async callable. At most one of ``input`` (a
    constant sent instead of the event; a str is sent as that text), ``input_path`` (a
    JSONPath into the event, :mod:`eventmesh._jsonpath`) and ``input_transformer``
    (:class:`InputTransformer`, or a mapping of its two settings). ``partition_key_path``
    (streams only) picks the record's partition key from the event. ``max_event_age``
    (60-86400 s) and ``max_retries`` (0-185) are the retry policy; ``dead_letter`` is a
    standard queue (or its name) for what could not be delivered.
    """

    __slots__ = (
        "dead_letter",
        "input",
        "input_path",
        "input_transformer",
        "kind",
        "max_event_age",
        "max_retries",
        "partition_key_path",
        "target",
    )

    def __init__(
        self,
        target: TargetSpec,
        *,
        input: Any = None,
        input_path: str | None = None,
        input_transformer: InputTransformer | Mapping[str, Any] | None = None,
        partition_key_path: str | None = None,
        max_event_age: float = MAX_EVENT_AGE,
        max_retries: int = MAX_RETRIES,
        dead_letter: Queue | str | None = None,
    ) -> None:
        if isinstance(target, Target):
            raise ConfigurationError("Target(...) wraps a target, not another Target")
        self.target = target
        self.kind: TargetKind | None = _kind_of(target)
        if self.kind == "http":
            require_httpx()
        given = [input is not None, input_path is not None, input_transformer is not None]
        if sum(given) > 1:
            raise ConfigurationError(
                "input, input_path and input_transformer are exclusive: give at most one"
            )
        if input is not None:
            _json_text(input, "input")
        self.input = input
        self.input_path = None if input_path is None else json_path(input_path)
        self.input_transformer = (
            None if input_transformer is None else InputTransformer.of(input_transformer)
        )
        self.partition_key_path = (
            None if partition_key_path is None else json_path(partition_key_path)
        )
        _number("max_event_age", max_event_age, MIN_EVENT_AGE, MAX_EVENT_AGE, integer=False)
        _number("max_retries", max_retries, 0, MAX_RETRIES, integer=True)
        self.max_event_age = float(max_event_age)
        self.max_retries = max_retries
        if dead_letter is not None and not isinstance(dead_letter, Queue | str):
            raise ConfigurationError(
                f"a target's dead_letter is a standard queue or its name, not {dead_letter!r}"
            )
        self.dead_letter = dead_letter
        _check_kind(self, self.kind)

    @classmethod
    def of(cls, spec: TargetSpec) -> Target:
        return spec if isinstance(spec, Target) else cls(spec)

    def _payload(self, event: _Event, rule: Rule) -> _Payload:
        """What this target of ``rule`` receives for ``event``."""
        if self.input is not None:
            return _Payload.of(self.input)
        if self.input_path is not None:
            return _Payload.of(self.input_path.get(event.envelope))
        if self.input_transformer is not None:
            return self.input_transformer.render(event.envelope, rule.variables(event))
        return _Payload(event.data, True)

    def __repr__(self) -> str:
        target = self.target
        shown = redact_url(target) if isinstance(target, str) else target
        return f"<Target {shown!r}>"


class RuleTarget:
    """A target bound to a rule: what it resolved to, and its counters.

    ``attempts`` counts every attempt (retries included); ``delivered`` and ``failed`` count
    events; of the failed, ``dead_lettered`` went to the dead-letter queue and ``dropped``
    had none to go to (or it failed too).
    """

    def __init__(self, rule: Rule, spec: Target) -> None:
        self.rule = rule
        self.spec = spec
        self.kind: TargetKind | None = spec.kind
        self._target: DeliveryTarget | None = None
        self._dead_letter: Queue | None = None
        self._function: FunctionTarget | None = None
        """A function that takes the event's JSON as it is (no input of the target's own):
        the bus invokes it itself, as the function's target would (see :meth:`attempt`)."""
        if self.kind == "http":
            rule.bus.context.egress.check_literal(str(spec.target))
        self.attempts = 0
        self.delivered = 0
        self.failed = 0
        self.dead_lettered = 0
        self.dropped = 0

    @property
    def context(self) -> ResourceContext:
        return self.rule.bus.context

    # -- resolution --------------------------------------------------------------------------
    def resolve(self) -> None:
        """Find what a name stands for (when the mesh runs) and check the settings again."""
        target = self.spec.target
        try:
            resolved = resolve_target(target, self.context, KINDS, allowed=_TARGET_KINDS)
        except UnresolvedTarget as exc:
            cause = exc.cause or exc
            message = f"rule {self.rule.name!r}: no function or resource {target!r} ({cause})"
            raise ConfigurationError(redact_text(message)) from None  # a mistyped URL
        if self.kind is None:
            self.kind = resolved.kind  # type: ignore[assignment]
            _check_kind(self.spec, self.kind)
        if isinstance(resolved, QueueTarget) and resolved.resource.fifo:
            raise ConfigurationError(
                f"rule {self.rule.name!r}: queue {resolved.resource.name!r} is FIFO; bus "
                "targets are standard queues"
            )
        self._target = resolved
        self._dead_letter = self._find_dead_letter()
        spec = self.spec
        plain = spec.input is None and spec.input_path is None and spec.input_transformer is None
        if plain and type(resolved) is FunctionDelivery and accepts_encoded_events(self.context):
            self._function = resolved.function
        else:
            self._function = None

    def _find_dead_letter(self) -> Queue | None:
        spec = self.spec.dead_letter
        if spec is None:
            return None
        queue = spec if isinstance(spec, Queue) else self.context.find_resource(spec)
        if not isinstance(queue, Queue):
            raise ConfigurationError(
                f"rule {self.rule.name!r}: no dead-letter queue named {spec!r}"
            )
        if queue.fifo:
            raise ConfigurationError(
                f"rule {self.rule.name!r}: a dead-letter queue is a standard queue, "
                f"{queue.name!r} is FIFO"
            )
        return queue

    @property
    def route(self) -> str:
        """Where the bus's stored deliveries say they go: the same in every process with the
        same rule and targets (a hash: a URL's credentials stay out of the store)."""
        target = self.spec.target
        if isinstance(target, str):
            key = target
        elif isinstance(target, Function | Queue | Topic | Stream | Bus):
            key = f"{type(target).__name__}:{target.name}"
        else:
            name = getattr(target, "__qualname__", type(target).__qualname__)
            key = f"callable:{getattr(target, '__module__', '')}.{name}"
        index = self.rule.targets.index(self)
        seed = f"{self.rule.bus.arn}\n{self.rule.name}\n{index}\n{key}".encode()
        return hashlib.sha256(seed).hexdigest()[:32]

    @property
    def arn(self) -> str:
        """The target's ARN (a URL for HTTP, without its credentials; the callable's name for
        a callable)."""
        if self._target is not None:
            return self._target.arn
        target = self.spec.target
        if isinstance(target, str):
            return redact_url(target)
        if isinstance(target, Function):
            return target.name
        return str(getattr(target, "__qualname__", None) or type(target).__qualname__)

    # -- one attempt -------------------------------------------------------------------------
    def attempt(self, event: _Event, timeout: float = INTERNAL_WAIT) -> Awaitable[Any]:
        """Deliver once (awaited by the caller); raises on failure. A target at its limit is
        waited for up to ``timeout`` (then the attempt counts as throttled and is retried)."""
        function = self._function
        if function is not None:
            return self.invoke(function, event, timeout)
        target = self._target
        assert target is not None, "resolve() runs before any delivery"
        return target.deliver(self._outgoing(event, self.spec._payload(event, self.rule)), timeout)

    def invoke(self, function: FunctionTarget, event: _Event, timeout: float) -> Awaitable[str]:
        """An Event invocation of this target's function with the event's JSON as it is:
        what :class:`~eventmesh.delivery.targets.function.FunctionDelivery` does with the
        event's :class:`Outgoing` (JSON eventmesh encoded, trigger ``pubsub``), without
        making one."""
        return self.rule.bus.context.invoke_async(
            function, EncodedEvent(event.data), trigger="pubsub", timeout=timeout
        )

    def _outgoing(self, event: _Event, payload: _Payload) -> Outgoing:
        kind = self.kind
        outgoing = payload.outgoing()
        if kind == "kinesis":
            outgoing.partition_key = self._partition_key(event)
        elif kind == "events":
            outgoing.event, outgoing.origin = event, self.rule.bus
        elif kind == "http":
            content_type = "application/json" if payload.is_json else "text/plain"
            headers = {
                "Content-Type": f"{content_type}; charset=utf-8",
                "User-Agent": "Amazon/EventBridge/ApiDestinations",
            }
            if event.trace_header:
                headers["X-Amzn-Trace-Id"] = event.trace_header
            if self.context.telemetry.tracing:
                propagate.inject(headers)
            outgoing.headers = headers
        return outgoing

    def _partition_key(self, event: _Event) -> str:
        path = self.spec.partition_key_path
        value = None if path is None else path.get(event.envelope)
        if value is None:
            return str(event.envelope["id"])
        return value if isinstance(value, str) else orjson.dumps(value).decode()

    async def close(self) -> None:
        """Nothing to release: HTTP goes through the mesh's one sender."""

    def __repr__(self) -> str:
        return f"<RuleTarget {self.kind or '?'} {self.arn} of rule {self.rule.name}>"


# -- events ----------------------------------------------------------------------------------
class _Event:
    """An event as the bus carries it: its JSON, the envelope, and what travels beside it.

    ``ingestion_time``: the mesh clock's wall time when the bus took the event in (for
    ``max_event_age`` and ``<aws.events.event.ingestion-time>``); ``hops``: the buses the
    event went through before this one (a bus never takes it twice). ``source`` and
    ``detail_type`` are the envelope's values there (:data:`MISSING` where it has none), what
    the rule index looks up.

    An event put on the bus is made as its JSON only: ``envelope`` (the same value, a fresh
    object) is parsed from ``data`` the first time something asks for it (a pattern the index
    cannot decide alone, an input transformer, a retry's stored body). An event whose rules
    match on ``source`` and ``detail-type`` and whose targets take the JSON as it is (functions,
    queues, topics) never needs it.
    """

    __slots__ = (
        "_envelope",
        "data",
        "detail_type",
        "hops",
        "id",
        "ingestion_time",
        "source",
        "trace",
        "trace_header",
    )

    def __init__(
        self,
        envelope: dict[str, Any] | None,
        data: bytes,
        ingestion_time: float,
        trace: dict[str, str],
        trace_header: str | None = None,
        hops: tuple[str, ...] = (),
        fields: tuple[str, str, str] | None = None,
    ) -> None:
        """``fields``, when ``envelope`` is None: its id, source and detail-type."""
        self._envelope = envelope
        self.data = data
        self.ingestion_time = ingestion_time
        self.trace = trace
        self.trace_header = trace_header
        self.hops = hops
        if fields is None:
            assert envelope is not None, "an event without its envelope names its fields"
            self.id = str(envelope["id"])
            self.source: object = envelope.get("source", MISSING)
            self.detail_type: object = envelope.get("detail-type", MISSING)
        else:
            self.id, self.source, self.detail_type = fields

    @property
    def envelope(self) -> dict[str, Any]:
        envelope = self._envelope
        if envelope is None:
            envelope = self._envelope = orjson.loads(self.data)
        return envelope

    @property
    def replay_name(self) -> str | None:
        if self._envelope is None:
            return None  # made by put_events (or a destination): never a replay
        name = self._envelope.get("replay-name")
        return None if name is None else str(name)


class _EntryError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_LATEST_TIME = 253402300799.0  # 9999-12-31T23:59:59Z


def _entry_time(value: Any) -> tuple[float | None, int]:
    """``Time`` as epoch seconds (None: now) and the bytes it counts for."""
    if value is None:
        return None, 0
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not 0 <= value <= _LATEST_TIME:  # inf, nan, and years no datetime can print
            raise _EntryError("InvalidArgument", f"Time {value!r} is out of range")
        return float(value), TIME_BYTES
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise _EntryError(
                "InvalidArgument", f"Time {value!r} is not an ISO 8601 time"
            ) from None
    else:
        raise _EntryError("InvalidArgument", f"Time {value!r} is not a time")
    if moment.tzinfo is None:
        raise _EntryError("InvalidArgument", "Time must carry a time zone (e.g. UTC)")
    return moment.timestamp(), TIME_BYTES


def _entry_detail(value: Any) -> tuple[bytes, int]:
    """``Detail`` as compact JSON, and its size in bytes (the text's, when given as text)."""
    if isinstance(value, str):
        try:
            detail = orjson.loads(value)
        except orjson.JSONDecodeError:
            detail = None
        if not isinstance(detail, dict):
            raise _EntryError("MalformedDetail", "Detail is malformed: not a JSON object.")
        return orjson.dumps(detail), len(value.encode())
    if type(value) is dict or isinstance(value, Mapping):
        try:
            data = json_bytes(value if type(value) is dict else dict(value), "Detail")
        except PayloadError as exc:
            raise _EntryError("MalformedDetail", f"Detail is malformed: {exc}") from None
        return data, len(data)
    raise _EntryError("MalformedDetail", "Detail is malformed: not a JSON object.")


def _entry_text(entry: Mapping[str, Any], key: str) -> tuple[str, int]:
    """A required text field of an entry, and its size in bytes."""
    value = entry.get(key)
    if value is None or value == "":
        raise _EntryError("InvalidArgument", f"Parameter {key} is not valid: it is required.")
    if not isinstance(value, str):
        raise _EntryError("InvalidArgument", f"Parameter {key} is not valid: not a string.")
    try:
        return value, len(value.encode())
    except UnicodeEncodeError:
        return value, _check_text(value, key)  # raises, naming the lone surrogate


def _check_text(value: str, field: str) -> int:
    """The size in bytes of a text field (a lone surrogate is InvalidArgument)."""
    try:
        return len(text_bytes(value, field))
    except PayloadError as exc:
        raise _EntryError("InvalidArgument", f"Parameter {exc}") from None


def _entry_resources(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise _EntryError("InvalidArgument", "Resources must be a list of strings.")
    if not all(isinstance(item, str) for item in value):
        raise _EntryError("InvalidArgument", "Resources must be a list of strings.")
    for index, item in enumerate(value):
        _check_text(item, f"Resources[{index}]")
    return list(value)


def _is_invocation_record(message: Any) -> bool:
    if not isinstance(message, Mapping):
        return False
    context = message.get("requestContext")
    return isinstance(context, Mapping) and "condition" in context and "functionArn" in context


@contextlib.contextmanager
def _trace_context(carrier: Mapping[str, str]) -> Iterator[None]:
    """Make ``carrier``'s W3C context current (tasks created inside copy it)."""
    if not carrier:
        yield
        return
    token = otel_context.attach(propagate.extract(dict(carrier)))
    try:
        yield
    finally:
        otel_context.detach(token)


# -- rules -----------------------------------------------------------------------------------
class Rule:
    """A rule of a bus: an event pattern, a schedule, or both, and up to five targets.

    ``enabled`` may be changed at any time. ``matched`` counts the events (and schedule
    fires) the rule sent to its targets; ``schedule`` is the Schedule behind a scheduled rule.
    """

    def __init__(
        self,
        bus: Bus,
        name: str,
        pattern: Pattern | None,
        targets: Sequence[TargetSpec],
        enabled: bool,
    ) -> None:
        self.bus = bus
        self.name = name
        self._pattern = pattern
        self.enabled = bool(enabled)
        self.schedule: Schedule | None = None
        self.targets = [RuleTarget(self, Target.of(spec)) for spec in targets]
        self.matched = 0

    @property
    def arn(self) -> str:
        bus = self.bus
        path = self.name if bus.name == "default" else f"{bus.name}/{self.name}"
        return f"arn:aws:events:{bus.context.region}:{bus.context.account_id}:rule/{path}"

    @property
    def pattern(self) -> Pattern | None:
        return self._pattern

    @pattern.setter
    def pattern(self, pattern: Pattern | None) -> None:
        self._pattern = pattern
        self.bus._rules_changed()

    def matches(self, event: _Event) -> bool:
        """Whether an event put on the bus goes to this rule (a schedule-only rule: never)."""
        pattern = self._pattern
        return self.enabled and pattern is not None and pattern.matches(event.envelope)

    def variables(self, event: _Event) -> dict[str, Any]:
        """EventBridge's predefined input transformer variables for ``event``."""
        return {
            "aws.events.rule-name": self.name,
            "aws.events.rule-arn": self.arn,
            "aws.events.event": event.envelope,
            "aws.events.event.json": event.data.decode(),
            "aws.events.event.ingestion-time": self.bus._times.millis(event.ingestion_time),
        }

    async def _on_schedule(self, payload: Any) -> None:
        """The Schedule's target: the Scheduled Event, named after this rule, to the targets."""
        if not (self.enabled and self.bus._live) or not isinstance(payload, dict):
            return
        payload["resources"] = [self.arn]
        await self.bus._dispatch(self.bus._event(payload), [self])

    def __repr__(self) -> str:
        return f"<Rule {self.name} of {self.bus.name} ({len(self.targets)} targets)>"


class _RuleTable(dict[str, "Rule"]):
    """A bus's rules by name: a dict that tells the bus when it changes, so the bus's index
    of rules by pattern (built on the next event) never misses a rule added or removed."""

    def __init__(self, changed: Callable[[], None]) -> None:
        super().__init__()
        self._changed = changed

    def __setitem__(self, key: str, value: Rule) -> None:
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._changed()

    def pop(self, *args: Any) -> Any:
        result = super().pop(*args)
        self._changed()
        return result

    def popitem(self) -> tuple[str, Rule]:
        result = super().popitem()
        self._changed()
        return result

    def clear(self) -> None:
        super().clear()
        self._changed()

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._changed()

    def setdefault(self, key: str, default: Any = None) -> Any:
        result = super().setdefault(key, default)
        self._changed()
        return result

    def __ior__(self, other: Any) -> Any:  # type: ignore[misc]
        result = super().__ior__(other)
        self._changed()
        return result


def _schedule_name(rule_name: str) -> str:
    """The name of a scheduled rule's Schedule: stable, at most 64 characters."""
    name = f"events.rule.{rule_name}"
    if len(name) <= 64:
        return name
    digest = hashlib.sha256(rule_name.encode()).hexdigest()[:12]
    return f"events.rule.{rule_name[:38]}.{digest}"


# -- archives and replays --------------------------------------------------------------------
class Archive:
    """Events of a bus kept in the mesh's log store (``events_archived`` counts this
    process's appends; :meth:`event_count` asks the store)."""

    def __init__(
        self, bus: Bus, name: str, pattern: Pattern | None, retention: float | None
    ) -> None:
        self.bus = bus
        self.name = name
        self.pattern = pattern
        self.retention = retention
        self.stream = f"events-archive/{bus.name}/{name}"
        """The log's name in the store."""
        self.events_archived = 0

    @property
    def arn(self) -> str:
        mesh = self.bus.context
        return f"arn:aws:events:{mesh.region}:{mesh.account_id}:archive/{self.name}"

    def accepts(self, event: _Event) -> bool:
        return self.pattern is None or self.pattern.matches(event.envelope)

    async def _append(self, event: _Event) -> None:
        await self._trim()
        logs = self.bus.context.backend.logs
        await logs.append(self.stream, _ARCHIVE_SHARD, [(event.data, event.id, event.trace)])
        self.events_archived += 1

    async def _trim(self) -> None:
        if self.retention is not None:
            before = self.bus.context.clock.time() - self.retention
            await self.bus.context.backend.logs.trim(self.stream, _ARCHIVE_SHARD, before)

    async def event_count(self) -> int:
        """How many events the archive holds now (after retention)."""
        await self._trim()
        oldest, newest = await self.bus.context.backend.logs.bounds(self.stream, _ARCHIVE_SHARD)
        return newest - oldest

    def __repr__(self) -> str:
        return f"<Archive {self.name} of {self.bus.name}>"


def _pattern_source(pattern: Pattern | None) -> Any:
    return None if pattern is None else pattern.source


def _epoch(moment: Moment, what: str) -> float:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ConfigurationError(f"{what} must be a timezone-aware datetime")
        return moment.timestamp()
    if isinstance(moment, int | float) and not isinstance(moment, bool):
        return float(moment)
    raise ConfigurationError(f"{what} must be an aware datetime or epoch seconds, not {moment!r}")


class Replay:
    """A replay under way: ``state`` is ``STARTING``, ``RUNNING``, then ``COMPLETED``,
    ``FAILED`` (``error`` says why) or ``CANCELLED``; ``events_replayed`` of
    ``events_total`` were put back. ``await replay.wait()`` returns once it has ended."""

    def __init__(
        self,
        bus: Bus,
        name: str,
        archive: Archive,
        start: float,
        end: float,
        rules: Collection[Rule] | None,
    ) -> None:
        self.bus = bus
        self.name = name
        self.archive = archive
        self.start = start
        self.end = end
        self.rules = None if rules is None else tuple(rules)
        self.state: ReplayState = "STARTING"
        self.error: str | None = None
        self.events_total = 0
        self.events_replayed = 0
        self.started_at = bus.context.clock.time()
        self.ended_at: float | None = None
        self._done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def arn(self) -> str:
        mesh = self.bus.context
        return f"arn:aws:events:{mesh.region}:{mesh.account_id}:replay/{self.name}"

    @property
    def done(self) -> bool:
        return self._done.is_set()

    async def wait(self) -> Replay:
        await self._done.wait()
        return self

    def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def __repr__(self) -> str:
        return (
            f"<Replay {self.name} of {self.archive.name}: {self.state} "
            f"{self.events_replayed}/{self.events_total}>"
        )


# -- the bus ---------------------------------------------------------------------------------
class Bus(Resource):
    """An EventBridge-style event bus; see the module docstring.

    Counters: ``events_put`` and ``failed_entries`` (PutEvents entries), ``delivered`` and
    ``delivery_failures`` (events per target), of the failures ``dead_lettered`` and
    ``dropped``, and ``dead_letter_failures`` (a dead-letter queue refused the event).
    """

    kind = "bus"
    service = "events"

    def __init__(self, context: ResourceContext, name: str, settings: Mapping[str, Any]) -> None:
        super().__init__(context, name, settings)
        if not isinstance(name, str) or not _BUS_NAME.match(name):
            raise ConfigurationError(
                f"bus name {name!r} must be 1-256 letters, digits, '.', '-', '_' or '/'"
            )
        unknown = set(settings) - {"max_pending"}
        if unknown:
            raise ConfigurationError(f"unknown bus settings: {', '.join(sorted(unknown))}")
        self.limit = context.pending_limit("bus", name, settings.get("max_pending"), stored=False)
        self.rules: dict[str, Rule] = _RuleTable(self._rules_changed)
        self._index: PatternIndex[Rule] | None = None
        self.archives: dict[str, Archive] = {}
        self.replays: dict[str, Replay] = {}
        self._deliveries: set[asyncio.Task[None]] = set()  # first attempts in memory
        self._retries = DeliveryQueue(
            f"eventmesh.bus.{name}",
            lambda: context.backend.queues,
            context.clock,
            self._attempt_stored,
        )
        self._owner = uuid.uuid4().hex  # marks the deliveries this process counts as pending
        self._event_ids = RequestIds()
        self._times = IsoTimes()
        self._time_from, self._time_until = 0.0, 0.0  # the moments written as _time_text
        self._time_text = ""
        self._headings: dict[tuple[str, str], str] = {}  # see _heading
        self._region = ""
        self._durable = False  # decided at start: first attempts go through the store too
        self._replay_tasks: set[asyncio.Task[None]] = set()
        self._live = False
        self.events_put = 0
        self.failed_entries = 0
        self.delivered = 0
        self.delivery_failures = 0
        self.dead_lettered = 0
        self.dropped = 0
        self.dead_letter_failures = 0

    @property
    def arn(self) -> str:
        mesh = self.context
        return f"arn:aws:events:{mesh.region}:{mesh.account_id}:event-bus/{self.name}"

    # -- rules -------------------------------------------------------------------------------
    def rule(
        self,
        name: str,
        pattern: Pattern | Mapping[str, Any] | str | None = None,
        schedule: str | None = None,
        targets: Sequence[TargetSpec] = (),
        enabled: bool = True,
    ) -> Rule:
        """Add a rule: an event pattern, a ``rate()``/``cron()`` schedule, or both; up to
        five targets (:class:`Target`, or what a Target wraps)."""
        if not isinstance(name, str) or not _RULE_NAME.match(name):
            raise ConfigurationError(
                f"rule name {name!r} must be 1-64 letters, digits, '.', '-' or '_'"
            )
        if name in self.rules:
            raise ConfigurationError(f"bus {self.name!r} already has a rule named {name!r}")
        if pattern is None and schedule is None:
            raise ConfigurationError(f"rule {name!r} needs a pattern, a schedule, or both")
        if isinstance(targets, str | bytes) or not isinstance(targets, Sequence):
            raise ConfigurationError("targets is a list of targets")
        if len(targets) > MAX_TARGETS:
            raise ConfigurationError(
                f"a rule has at most {MAX_TARGETS} targets, rule {name!r} has {len(targets)}"
            )
        compiled = None
        if pattern is not None:
            compiled = pattern if isinstance(pattern, Pattern) else Pattern(pattern)
        if schedule is not None:
            self._check_schedule(name, schedule)
        rule = Rule(self, name, compiled, targets, enabled)
        if self._live:
            for target in rule.targets:
                target.resolve()
        if schedule is not None:
            # The rule's targets retry on their own: the schedule only hands the tick over.
            rule.schedule = create_schedule(
                self.context, schedule, rule._on_schedule, name=_schedule_name(name), retries=0
            )
        self.rules[name] = rule
        return rule

    def _check_schedule(self, name: str, schedule: str) -> None:
        if self.name != "default":
            raise ConfigurationError(
                f"rule {name!r}: scheduled rules are only on the default bus, not {self.name!r}"
            )
        if not isinstance(schedule, str) or not schedule.strip().startswith(("rate(", "cron(")):
            raise ConfigurationError(
                f"rule {name!r}: a rule's schedule is rate(...) or cron(...), got {schedule!r}"
            )

    def _rules(self, rules: Iterable[Rule | str] | None) -> list[Rule] | None:
        if rules is None:
            return None
        found: list[Rule] = []
        for rule in rules:
            key = rule.name if isinstance(rule, Rule) else str(rule).rsplit("/", 1)[-1]
            if self.rules.get(key) is None or (isinstance(rule, Rule) and rule.bus is not self):
                raise ConfigurationError(f"bus {self.name!r} has no rule {rule!r}")
            found.append(self.rules[key])
        return found

    # -- archives and replays ----------------------------------------------------------------
    def archive(
        self,
        name: str,
        pattern: Pattern | Mapping[str, Any] | str | None = None,
        retention: float | None = None,
    ) -> Archive:
        """Keep the events matching ``pattern`` (all without one) for ``retention`` seconds
        (for ever without one). Asking again with the same settings returns the archive."""
        if not isinstance(name, str) or not _ARCHIVE_NAME.match(name):
            raise ConfigurationError(
                f"archive name {name!r} must be 1-48 letters, digits, '.', '-' or '_'"
            )
        if retention is not None:
            _number("retention", retention, 1, 2**53, integer=False)
        compiled = None
        if pattern is not None:
            compiled = pattern if isinstance(pattern, Pattern) else Pattern(pattern)
        existing = self.archives.get(name)
        if existing is not None:
            same_pattern = _pattern_source(existing.pattern) == _pattern_source(compiled)
            if same_pattern and existing.retention == retention:
                return existing
            raise ConfigurationError(f"archive {name!r} exists with other settings")
        archive = Archive(self, name, compiled, None if retention is None else float(retention))
        self.archives[name] = archive
        return archive

    def replay(
        self,
        archive: Archive | str,
        start: Moment,
        end: Moment,
        rules: Iterable[Rule | str] | None = None,
        *,
        name: str | None = None,
    ) -> Replay:
        """Put the archive's events that arrived in ``[start, end)`` back on the bus, in
        order, to ``rules`` (rules, names or ARNs; all rules without it)."""
        self._ensure_live()
        found = archive if isinstance(archive, Archive) else self.archives.get(archive)
        if found is None or found.bus is not self:
            raise ConfigurationError(f"bus {self.name!r} has no archive {archive!r}")
        first, last = _epoch(start, "start"), _epoch(end, "end")
        if not first < last:
            raise ConfigurationError("a replay's start must be before its end")
        if name is None:
            name = f"{found.name}-{uuid.uuid4().hex[:12]}"
        if not isinstance(name, str) or not _REPLAY_NAME.match(name):
            raise ConfigurationError(f"replay name {name!r} must be 1-64 letters, digits, .-_")
        if name in self.replays:
            raise ConfigurationError(f"a replay named {name!r} already exists")
        replay = Replay(self, name, found, first, last, self._rules(rules))
        self.replays[name] = replay
        task = asyncio.create_task(self._run_replay(replay), name=f"events.replay.{name}")
        replay._task = task
        self._replay_tasks.add(task)
        task.add_done_callback(self._replay_tasks.discard)
        task.add_done_callback(lambda _: self._replay_ended(replay))
        return replay

    def _replay_ended(self, replay: Replay) -> None:
        """A replay cancelled before its task first ran never reached the code that ends it:
        end it here, so its state says so and ``wait`` returns."""
        if replay.done:
            return
        replay.state = "CANCELLED"
        replay.ended_at = self.context.clock.time()
        replay._done.set()

    async def _run_replay(self, replay: Replay) -> None:
        logs = self.context.backend.logs
        stream = replay.archive.stream
        try:
            await replay.archive._trim()
            oldest, _ = await logs.bounds(stream, _ARCHIVE_SHARD)
            after = max(oldest, await logs.sequence_at(stream, _ARCHIVE_SHARD, replay.start))
            last = await logs.sequence_at(stream, _ARCHIVE_SHARD, replay.end)
            replay.events_total = max(0, last - after)
            replay.state = "RUNNING"
            while after < last:
                limit = min(REPLAY_CHUNK, last - after)
                records = await logs.read(stream, _ARCHIVE_SHARD, after, limit)
                if not records:
                    break
                await self.limit.room()  # a replay goes at the pace of deliveries
                for record in records:
                    await self._replay_one(replay, record)
                    after = record.sequence
                await asyncio.sleep(0)  # let the deliveries of this chunk start
            replay.state = "COMPLETED"
        except asyncio.CancelledError:
            replay.state = "CANCELLED"
            raise
        except Exception as exc:
            replay.state = "FAILED"
            replay.error = f"{type(exc).__name__}: {exc}"
            logger.exception("bus %s: replay %s failed", self.name, replay.name)
        finally:
            replay.ended_at = self.context.clock.time()
            replay._done.set()

    async def _replay_one(self, replay: Replay, record: LogRecord) -> None:
        envelope = orjson.loads(record.data)
        envelope["replay-name"] = replay.name
        event = self._event(envelope, trace=dict(record.attributes))
        candidates = self.rules.values() if replay.rules is None else replay.rules
        with _trace_context(event.trace):
            await self._dispatch(event, [rule for rule in candidates if rule.matches(event)])
        replay.events_replayed += 1

    # -- putting events ----------------------------------------------------------------------
    def _ensure_live(self) -> None:
        if self._live:
            return
        if not self.context.running:
            raise EventMeshError(
                f"bus {self.name!r} cannot take events before the mesh runs: use "
                "`async with mesh:` first"
            )
        self._activate()

    async def put_events(
        self, entries: Sequence[Mapping[str, Any]], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """PutEvents: 1 to 10 entries; returns ``{"FailedEntryCount", "Entries"}`` with an
        ``EventId`` or an ``ErrorCode`` and ``ErrorMessage`` per entry, in order.

        Returns once the events are archived and their deliveries queued, not delivered.
        At the bus's ``max_pending``, waits up to ``timeout`` seconds for room (None: as long
        as needed; 0: not at all), then raises :class:`~eventmesh.BackpressureError` having
        taken no entry.
        """
        self._ensure_live()
        if timeout is not None:
            timeout = check_timeout(timeout)
        if type(entries) is not list and (
            isinstance(entries, str | bytes | Mapping) or not isinstance(entries, Sequence)
        ):
            raise PayloadError(
                f"entries: put_events takes a list of entries, not {type(entries).__name__}"
            )
        if not 1 <= len(entries) <= MAX_ENTRIES:
            raise PayloadError(
                f"entries: PutEvents takes 1 to {MAX_ENTRIES} entries, got {len(entries)}"
            )
        limit = self.limit
        if not limit.try_acquire():  # held while the entries are taken in
            await limit.acquire(timeout)
        try:
            trace: dict[str, str] = {}
            if self.context.telemetry.tracing:
                propagate.inject(trace)
            results: list[dict[str, str]] = []
            failed = 0
            down: BackendError | None = None
            for entry in entries:
                if down is not None:
                    # The store failed for an earlier entry (after its own bounded retry):
                    # the rest fail with it at once, so one call waits for one timeout.
                    results.append({"ErrorCode": "InternalFailure", "ErrorMessage": str(down)})
                    failed += 1
                    continue
                try:
                    try:
                        event = self._entry_event(entry, trace)
                    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
                        # Anything else wrong with an entry (a Detail nested too deep for
                        # JSON, a time no calendar holds) fails that entry alone, before
                        # anything ran.
                        raise _EntryError(
                            "MalformedDetail", f"The entry is malformed: {exc}"
                        ) from exc
                    if self.archives:
                        await self._ingest(event)
                    else:  # no archive: straight to the rules (no coroutine when none match)
                        rules = self._matching(event)
                        if rules:
                            await self._dispatch(event, rules)
                except _EntryError as exc:
                    results.append({"ErrorCode": exc.code, "ErrorMessage": exc.message})
                    failed += 1
                except BackendError as exc:
                    down = exc
                    results.append({"ErrorCode": "InternalFailure", "ErrorMessage": str(exc)})
                    failed += 1
                else:
                    results.append({"EventId": event.id})
            self.events_put += len(results) - failed
            self.failed_entries += failed
            return {"FailedEntryCount": failed, "Entries": results}
        finally:
            limit.release()

    def _entry_event(self, entry: Any, trace: Mapping[str, str]) -> _Event:
        """A PutEvents entry checked and made an event, in one pass: the usual values (ASCII
        text, a dict detail without null, nothing optional) are checked inline, anything else
        by the helpers, which word its error."""
        if type(entry) is not dict and not isinstance(entry, Mapping):
            raise _EntryError("InvalidArgument", "An entry is a mapping of PutEvents fields.")
        if not _ENTRY_KEYS.issuperset(entry):
            unknown = set(entry) - _ENTRY_KEYS
            raise _EntryError(
                "InvalidArgument", f"Unknown entry fields: {', '.join(sorted(map(str, unknown)))}."
            )
        get = entry.get
        source = get("Source")
        if type(source) is str and source and source.isascii():
            size = len(source)
        else:
            source, size = _entry_text(entry, "Source")
        detail_type = get("DetailType")
        if type(detail_type) is str and detail_type and detail_type.isascii():
            size += len(detail_type)
        else:
            detail_type, detail_type_bytes = _entry_text(entry, "DetailType")
            size += detail_type_bytes
        value = get("Detail")
        if value is None:
            raise _EntryError("InvalidArgument", "Parameter Detail is not valid: it is required.")
        bus_name = get("EventBusName")
        if bus_name is not None and bus_name not in (self.name, self.arn):
            raise _EntryError(
                "InvalidArgument", f"EventBusName {bus_name!r} is not this bus ({self.name})."
            )
        if source.startswith("aws."):
            raise _EntryError("NotAuthorizedForSourceException", "Not authorized for the source.")
        data: bytes | None = None
        if type(value) is dict:
            try:
                data = _dumps(value)
            except TypeError:
                data = None  # the helper says what is wrong
            else:
                if b"null" in data:
                    data = None  # a NaN or an infinity is written as null: the helper looks
                else:
                    size += len(data)
        if data is None:
            data, detail_bytes = _entry_detail(value)
            size += detail_bytes
        resources = get("Resources")
        if resources is None:
            resources = []
        else:
            resources = _entry_resources(resources)
            size += sum(len(resource.encode()) for resource in resources)
        when = get("Time")
        if when is not None:
            when, time_bytes = _entry_time(when)
            size += time_bytes
        trace_header = get("TraceHeader")
        if trace_header is not None and not isinstance(trace_header, str):
            raise _EntryError("InvalidArgument", "TraceHeader must be a string.")
        if size > MAX_EVENT_BYTES:
            raise _EntryError(
                "InvalidArgument", f"Event of {size} bytes is over the {MAX_EVENT_BYTES} B limit."
            )
        return self._new_event(
            source,
            detail_type,
            data,
            resources,
            when,
            dict(trace) if trace else {},
            trace_header,
        )

    def _new_event(
        self,
        source: str,
        detail_type: str,
        detail: bytes,
        resources: list[str],
        when: float | None,
        trace: dict[str, str],
        trace_header: str | None = None,
    ) -> _Event:
        """An event put on this bus, made as its JSON only: EventBridge's envelope (§4.5) in
        its field order, ``detail`` (its compact JSON, already encoded) last. The text of
        ``detail-type``, ``source`` and ``account`` is encoded once per pair of values
        (:meth:`_heading`); the id is a counter's, the time formatted once per second."""
        now = self.context.clock.time()
        moment = now if when is None else when
        if self._time_from <= moment < self._time_until:
            time = self._time_text  # the same second as the last event's
        else:
            time = self._times.seconds(moment)
            second = int(moment)
            if 0.0 <= moment - second < _SURE_FRACTION:  # all of [second, until) is written so
                self._time_from, self._time_until = second, second + _SURE_FRACTION
                self._time_text = time
        event_id = self._event_ids.next()
        heading = self._headings.get((source, detail_type))
        if heading is None:
            heading = self._heading(source, detail_type)
        listed = "[]" if not resources else orjson.dumps(resources).decode()
        head = f'{{"version":"0","id":"{event_id}",{heading}{time}{self._region}{listed},"detail":'
        data = b"".join((head.encode(), detail, b"}"))
        return _Event(None, data, now, trace, trace_header, (), (event_id, source, detail_type))

    def _heading(self, source: str, detail_type: str) -> str:
        """``"detail-type":…,"source":…,"account":…,"time":"`` as JSON text, kept for the
        next event of the pair (a bounded cache); and the text after the time, up to the
        resources, the region's (the account and the region are the mesh's, fixed)."""
        mesh = self.context
        dumps = orjson.dumps
        heading = (
            f'"detail-type":{dumps(detail_type).decode()},"source":{dumps(source).decode()},'
            f'"account":{dumps(mesh.account_id).decode()},"time":"'
        )
        self._region = f'","region":{dumps(mesh.region).decode()},"resources":'
        if len(self._headings) >= _MAX_HEADINGS:
            self._headings.clear()
        self._headings[(source, detail_type)] = heading
        return heading

    def _event(
        self,
        envelope: dict[str, Any],
        *,
        data: bytes | None = None,
        trace: dict[str, str] | None = None,
        trace_header: str | None = None,
        hops: tuple[str, ...] = (),
    ) -> _Event:
        """An event carrying ``envelope``; ``data`` is its JSON when the caller has it."""
        clock = self.context.clock
        return _Event(
            envelope=envelope,
            data=orjson.dumps(envelope) if data is None else data,
            ingestion_time=clock.time(),
            trace=trace or {},
            trace_header=trace_header,
            hops=hops,
        )

    async def _ingest(self, event: _Event) -> None:
        """Archive (unless replayed), then send to every matching rule."""
        if self.archives and event.replay_name is None:
            for archive in list(self.archives.values()):
                if archive.accepts(event):
                    await archive._append(event)
        await self._dispatch(event, self._matching(event))

    def _rules_changed(self) -> None:
        self._index = None

    def _matching(self, event: _Event) -> list[Rule]:
        """The enabled rules whose pattern matches, in the order they were added (what
        :meth:`Rule.matches` says of each rule); only the rules the index says could match
        are tried, and of those only the ones it cannot decide alone (see
        :meth:`PatternIndex.routes`): the usual event is never parsed back into an object."""
        index = self._index
        if index is None:
            index = self._index = PatternIndex((rule, rule.pattern) for rule in self.rules.values())
        matching = []
        for rule, pattern in index.routes(event.source, event.detail_type):
            if rule.enabled and (pattern is None or pattern.matches(event.envelope)):
                matching.append(rule)
        return matching

    async def forward(self, event: _Event, origin: Bus, timeout: float | None = None) -> None:
        """Take an event from another bus's rule (the event itself, same id)."""
        hops = (*event.hops, origin.name)
        if self.name in hops:
            raise DeliveryError(
                "INVALID_PARAMETER",
                f"event {event.id} already went through bus {self.name!r}",
                retryable=False,
            )
        self._ensure_live()
        forwarded = self._event(
            event.envelope,
            data=event.data,
            trace=event.trace,
            trace_header=event.trace_header,
            hops=hops,
        )
        await self.limit.acquire(timeout)
        try:
            await self._ingest(forwarded)
        finally:
            self.limit.release()

    async def send(self, message: Any, attributes: MessageAttributes | None = None) -> str:
        """As a destination: put ``message`` on the bus; returns the event id.

        A Lambda invocation record becomes ``detail`` of a ``lambda`` event whose detail-type
        says success or failure (after ``requestContext.condition``); anything else becomes
        ``detail`` (an object, or ``{"message": ...}``) of an ``eventmesh`` ``Message``.
        """
        self._ensure_live()
        if _is_invocation_record(message):
            context = message["requestContext"]
            success = context["condition"] == "Success"
            detail_type = SUCCESS_DETAIL_TYPE if success else FAILURE_DETAIL_TYPE
            source, resources = "lambda", [str(context["functionArn"]), self.arn]
            detail = message
        else:
            source, detail_type, resources = "eventmesh", "Message", []
            detail = message if isinstance(message, Mapping) else {"message": message}
        return await self._put_own(source, detail_type, detail, resources, "message")

    async def put_service_event(
        self,
        source: str,
        detail_type: str,
        detail: Mapping[str, Any],
        resources: Sequence[str] = (),
    ) -> str:
        """An event one of the mesh's AWS services sends to this bus (S3's EventBridge
        notifications: ``source`` ``aws.s3``, which PutEvents refuses to callers); returns
        the event id.

        Taken in as PutEvents' entries are (archived, routed, and on durable storage its
        deliveries stored before this returns); at the bus's ``max_pending`` it waits for
        room, so a busy bus slows the service down and loses nothing.
        """
        self._ensure_live()
        return await self._put_own(source, detail_type, detail, list(resources), "detail")

    async def _put_own(
        self,
        source: str,
        detail_type: str,
        detail: Any,
        resources: list[str],
        what: str,
    ) -> str:
        """An event the mesh itself makes (:meth:`send`, :meth:`put_service_event`) taken
        in, at ``max_pending`` as the caller's delivery mode says (see
        :func:`eventmesh._backpressure.delivery_mode`)."""
        try:
            data = orjson.dumps(detail)
        except TypeError as exc:
            raise PayloadError(f"{what} is not JSON-serialisable: {exc}") from None
        trace: dict[str, str] = {}
        if self.context.telemetry.tracing:
            propagate.inject(trace)
        event = self._new_event(source, detail_type, data, resources, None, trace)
        await self.limit.acquire()  # a destination (OVERFLOW) in over the limit; S3 waits
        try:
            await self._ingest(event)
        finally:
            self.limit.release()
        self.events_put += 1
        return event.id

    # -- delivering --------------------------------------------------------------------------
    async def _dispatch(self, event: _Event, rules: Iterable[Rule]) -> None:
        stored: list[tuple[str, bytes]] = []
        body: bytes | None = None
        limit = self.limit
        cancelled: asyncio.CancelledError | None = None
        for rule in rules:
            rule.matched += 1
            for target in rule.targets:
                limit.add()  # the delivery's place, until it ends (a retry keeps it)
                if self._durable:
                    # On durable storage every delivery is stored first: a crash loses none.
                    body = body or self._body(event)
                    stored.append((target.route, body))
                    continue
                if cancelled is not None:
                    pass
                elif (function := target._function) is not None:
                    # The usual target: a function's async queue takes the event's JSON as it
                    # is. The attempt _attempt would make, with no frame of its own.
                    try:
                        await target.invoke(function, event, 0.0)
                    except BackpressureError:
                        pass  # full: the delivery (and its place) goes to the background
                    except asyncio.CancelledError as exc:
                        cancelled = exc  # as below
                    except Exception as exc:
                        try:
                            retry = await self._failed(target, event, exc, 0)
                        except BaseException:
                            limit.release()
                            raise
                        if retry is None:
                            limit.release()
                        continue
                    else:
                        target.attempts += 1
                        target.delivered += 1
                        self.delivered += 1
                        limit.release()
                        continue
                elif target.kind in _LOCAL_HAND_OFF:
                    # A function's async queue or a resource of the mesh takes the event at
                    # once: a first attempt inline (no task per delivery); only a target at
                    # its limit is waited for, in the background, not by the caller.
                    try:
                        retry = await self._attempt(target, event, 0, inline=True)
                    except BackpressureError:
                        pass  # full: the delivery (and its place) goes to the background
                    except asyncio.CancelledError as exc:
                        # The caller is cancelled while the event is handed out: this
                        # delivery and those after it go on in the background, as any.
                        cancelled = exc
                    except BaseException:
                        limit.release()  # its retry could not be stored: the caller hears
                        raise
                    else:
                        if retry is None:
                            limit.release()
                        continue
                # create_task copies the current context: the delivery keeps the caller's trace.
                task = asyncio.create_task(
                    self._deliver(target, event),
                    name=f"events.{self.name}.{event.id}",
                    context=task_context(),
                )
                self._deliveries.add(task)
                task.add_done_callback(self._deliveries.discard)
        if stored:
            # Stored before the caller hears of success: on durable storage an event a
            # PutEvents accepted survives a crash.
            try:
                await self._retries.put_many(stored, trace=event.trace)
            except BaseException:
                for _ in stored:  # nothing was stored: give the places back
                    limit.release()
                raise
        if cancelled is not None:
            raise cancelled

    async def _deliver(self, target: RuleTarget, event: _Event) -> None:
        """A first attempt in the background; a retry waits in the store (see
        _attempt_stored). The delivery's unit of pending work is counted by the caller."""
        handed_off = False
        try:
            handed_off = await self._attempt(target, event, 0) is not None
        finally:
            if not handed_off:
                self.limit.release()

    async def _attempt(
        self, target: RuleTarget, event: _Event, retries: int, *, inline: bool = False
    ) -> float | None:
        """One attempt: None when the delivery is finished (delivered, dead-lettered or
        dropped), else the delay before the next retry. A first attempt made in memory stores
        its retry itself. ``inline``: the caller's own first attempt, which does not wait for
        room: a target at its limit raises :class:`BackpressureError` instead."""
        try:
            await target.attempt(event, 0.0 if inline else INTERNAL_WAIT)
        except Exception as exc:
            if inline and isinstance(exc, BackpressureError):
                raise
            return await self._failed(target, event, exc, retries)
        target.attempts += 1
        target.delivered += 1
        self.delivered += 1
        return None

    async def _failed(
        self, target: RuleTarget, event: _Event, exc: Exception, retries: int
    ) -> float | None:
        """After a failed attempt: the delay before the next retry (a first attempt made in
        memory stores it), or None once the event went to the dead-letter queue or was
        dropped."""
        target.attempts += 1
        code, retryable = classify(exc, callable_target=target.kind == "callable")
        condition = None
        if retryable:
            age = self.context.clock.time() - event.ingestion_time
            policy = BackoffPolicy(target.spec.max_retries, target.spec.max_event_age)
            decision = policy.next_retry(retries, age, self.context.random)
            if not isinstance(decision, GiveUp):
                logger.debug(
                    "bus %s: delivery to %s failed (%s); retrying in %g s",
                    self.name,
                    target.arn,
                    exc,
                    decision,
                )
                if retries == 0 and not self._durable:
                    await self._retries.put(
                        target.route,
                        self._body(event),
                        delay=decision,
                        trace=event.trace,
                        retries=1,
                        first_attempt_at=event.ingestion_time,
                    )
                return decision
            condition = decision.condition
        await self._give_up(target, event, exc, code, condition, retries)
        return None

    async def _attempt_stored(self, stored: StoredDelivery) -> float | None:
        """A delivery from the store (a retry, or on durable storage any attempt)."""
        data = orjson.loads(stored.body)
        counted = data.get("owner") == self._owner
        event = _Event(
            envelope=data["envelope"],
            data=orjson.dumps(data["envelope"]),
            ingestion_time=float(data["ingestion_time"]),
            trace=dict(stored.trace),
            trace_header=data.get("trace_header"),
            hops=tuple(data.get("hops", ())),
        )
        target = self._target_of(stored.route)
        if target is None:
            logger.warning(
                "bus %s: delivery of %s dropped: its rule or target no longer exists",
                self.name,
                event.id,
            )
            decision = None
        else:
            decision = await self._attempt(target, event, stored.retries)
        if decision is None and counted:
            self.limit.release()
        return decision

    def _target_of(self, route: str) -> RuleTarget | None:
        for rule in self.rules.values():
            for target in rule.targets:
                if target.route == route:
                    return target
        return None

    def _body(self, event: _Event) -> bytes:
        """An event as the store keeps it, with what travels beside it."""
        data: dict[str, Any] = {
            "envelope": event.envelope,
            "ingestion_time": event.ingestion_time,
            "owner": self._owner,
        }
        if event.trace_header is not None:
            data["trace_header"] = event.trace_header
        if event.hops:
            data["hops"] = list(event.hops)
        return orjson.dumps(data)

    async def _give_up(
        self,
        target: RuleTarget,
        event: _Event,
        exc: Exception,
        code: str,
        condition: str | None,
        retries: int,
    ) -> None:
        target.failed += 1
        self.delivery_failures += 1
        logger.warning(
            "bus %s: delivery of %s to %s (rule %s) failed after %d attempt(s): %s [%s]",
            self.name,
            event.id,
            target.arn,
            target.rule.name,
            retries + 1,
            exc,
            code,
            exc_info=not isinstance(exc, DeliveryError),
        )
        queue = target._dead_letter
        if queue is not None:
            attributes = _dead_letter_attributes(
                target, code, redact_text(str(exc)), condition, retries
            )
            try:
                with delivery_mode(OVERFLOW):  # refusing a dead letter would lose the event
                    await queue.send(event.data.decode(), attributes)
            except Exception:
                self.dead_letter_failures += 1
                logger.exception("bus %s: dead-letter queue %s failed", self.name, queue.name)
            else:
                target.dead_lettered += 1
                self.dead_lettered += 1
                return
        target.dropped += 1
        self.dropped += 1

    # -- lifecycle ---------------------------------------------------------------------------
    def _activate(self) -> None:
        for rule in self.rules.values():
            for target in rule.targets:
                target.resolve()
        self._live = True

    async def start(self) -> None:
        self._activate()
        self._durable = not self.context.backend.in_memory
        self._retries.start()

    async def stop(self) -> None:
        self._live = False
        self.dropped += await abandon_deliveries(
            self._deliveries, 0, f"bus {self.name}", logger, *self._replay_tasks
        )
        await self._retries.stop()
        self.dropped += await self._retries.report_at_stop(
            f"bus {self.name}", self._durable, logger
        )
        for rule in self.rules.values():
            for target in rule.targets:
                await target.close()

    async def pending(self) -> int:
        """Deliveries under way and replays running; retries waiting are not waited for."""
        return len(self._deliveries) + await self._retries.pending() + len(self._replay_tasks)


def _dead_letter_attributes(
    target: RuleTarget, code: str, message: str, condition: str | None, retries: int
) -> dict[str, dict[str, str]]:
    """EventBridge's dead-letter message attributes (the message is cut to 1 KB)."""
    attributes = {
        "RULE_ARN": {"DataType": "String", "StringValue": target.rule.arn},
        "TARGET_ARN": {"DataType": "String", "StringValue": target.arn},
        "ERROR_CODE": {"DataType": "String", "StringValue": code},
        "ERROR_MESSAGE": {
            "DataType": "String",
            "StringValue": message.encode()[:1024].decode(errors="ignore") or code,
        },
    }
    if condition is not None:
        attributes["EXHAUSTED_RETRY_CONDITION"] = {"DataType": "String", "StringValue": condition}
        attributes["RETRY_ATTEMPTS"] = {"DataType": "Number", "StringValue": str(retries)}
    return attributes
