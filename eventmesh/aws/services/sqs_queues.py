"""SQS queues as the endpoint sees them: the mesh's :class:`~eventmesh.resources.queue.Queue`
with SQS's queue attributes, found by URL or name, created and changed from attributes.

The attributes a Queue holds (visibility timeout, delay, retention, redrive policy, FIFO,
content-based deduplication) are read from and written to the Queue itself; the others
(``MaximumMessageSize``, ``ReceiveMessageWaitTimeSeconds``, ``Policy``, the KMS settings, ...)
are kept beside it. A queue created through the endpoint is recorded in the catalog
(:mod:`eventmesh.aws.catalog`, kind ``sqs.queue``) with the attributes it was given, so other
workers on the same storage and a restarted mesh have it too; a queue declared in code
(``mesh.queue("orders")``) is reachable as it is, with SQS's defaults for the rest.
"""

from __future__ import annotations

import asyncio
import logging
import math
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from eventmesh._errors import EventMeshError
from eventmesh.aws import catalog
from eventmesh.aws.operations import AwsCall, AwsError
from eventmesh.declare.sqs import (
    DEFAULTS,
    FIFO_DEFAULTS,
    FIFO_ONLY,
    KEPT_BESIDE,
    SETTABLE,
    SqsDeclarationError,
    attributes_beside,
    check_queue_name,
    is_fifo,
    queue_attributes,
    redrive_settings,
)
from eventmesh.resources.queue import Queue

if TYPE_CHECKING:
    from eventmesh._mesh import Mesh

__all__ = [
    "KIND",
    "SqsQueue",
    "create_queue",
    "find_queue",
    "invalid_parameter",
    "no_such_queue",
    "queue_url",
    "sqs_error",
    "started",
]

logger = logging.getLogger("eventmesh.aws")

KIND = "sqs.queue"

RECHECK_SECONDS = 1.0
"""How long a worker trusts that a queue created through the endpoint still exists before it
reads the catalog again (a DeleteQueue on another worker is seen within this time)."""

_COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)
READABLE = frozenset(
    (*SETTABLE, "FifoQueue", *_COUNTS, "CreatedTimestamp", "LastModifiedTimestamp", "QueueArn")
)


async def started() -> None:
    """Let a resource just created in a running mesh start: the mesh starts it in a task of
    its own (registering a topic's endpoints, a queue's retention sweeper), which runs at the
    next switch of the event loop, before the resource is used."""
    await asyncio.sleep(0)


def sqs_error(code: str, message: str, *, status: int = 400) -> AwsError:
    """An SQS error by the JSON protocol's code (the model's shape name); the protocol adds
    the query-compatible code (``QueueDoesNotExist`` answers
    ``AWS.SimpleQueueService.NonExistentQueue`` in ``x-amzn-query-error``)."""
    return AwsError(code, message, status)


def invalid_parameter(message: str) -> AwsError:
    return sqs_error("InvalidParameterValue", message)


def no_such_queue() -> AwsError:
    return sqs_error("QueueDoesNotExist", "The specified queue does not exist.")


def _declaration_error(exc: SqsDeclarationError) -> AwsError:
    return sqs_error(exc.code, str(exc))


def queue_url(call: AwsCall, name: str) -> str:
    """``{endpoint_url}/{account_id}/{name}``."""
    return f"{call.endpoint_url.rstrip('/')}/{call.account_id}/{name}"


def name_of_url(url: str) -> str:
    """The queue name a URL names: its last path part (SDKs may rewrite the host)."""
    return url.split("?", 1)[0].rstrip("/").rpartition("/")[2]


@dataclass(slots=True)
class SqsQueue:
    """A queue and what SQS says of it beyond what the Queue holds."""

    queue: Queue
    beside: dict[str, str] = field(default_factory=dict)
    created: int = 0
    modified: int = 0
    recorded: bool = False
    """Created through the endpoint (in the catalog), rather than declared in code."""
    checked_at: float = -math.inf

    @property
    def name(self) -> str:
        return self.queue.name

    def setting(self, name: str) -> str:
        return self.beside.get(name, DEFAULTS.get(name, ""))

    @property
    def maximum_message_size(self) -> int:
        return int(self.setting("MaximumMessageSize"))

    @property
    def receive_wait(self) -> float:
        return float(self.setting("ReceiveMessageWaitTimeSeconds"))

    def attributes(self) -> dict[str, str]:
        """Every attribute but the message counts, as SQS answers them (strings)."""
        queue = self.queue
        answer = {
            "QueueArn": queue.arn,
            "CreatedTimestamp": str(self.created),
            "LastModifiedTimestamp": str(self.modified),
            "VisibilityTimeout": _number(queue.visibility_timeout),
            "DelaySeconds": _number(queue.delay),
            "MessageRetentionPeriod": _number(queue.retention),
        }
        for name in KEPT_BESIDE:
            value = self.setting(name)
            if value and (queue.fifo or name not in FIFO_ONLY):
                answer[name] = value
        if queue.max_receive_count is not None and queue.dead_letter is not None:
            target = queue.dead_letter
            dead_letter = (
                target if isinstance(target, Queue) else queue.context.find_resource(target)
            )
            arn = dead_letter.arn if isinstance(dead_letter, Queue) else str(target)
            answer["RedrivePolicy"] = orjson.dumps(
                {"deadLetterTargetArn": arn, "maxReceiveCount": queue.max_receive_count}
            ).decode()
        if queue.fifo:
            for name, default in FIFO_DEFAULTS.items():
                answer[name] = self.beside.get(name, default)
            answer["ContentBasedDeduplication"] = _flag(queue.content_based_deduplication)
        return answer


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _flag(value: bool) -> str:
    return "true" if value else "false"


_STATES: weakref.WeakKeyDictionary[Queue, SqsQueue] = weakref.WeakKeyDictionary()


def _state(queue: Queue) -> SqsQueue:
    state = _STATES.get(queue)
    if state is None:
        now = int(queue.context.clock.time())
        state = _STATES[queue] = SqsQueue(
            queue, beside=attributes_beside(queue), created=now, modified=now
        )
    return state


# -- finding ---------------------------------------------------------------------------------
async def find_queue(mesh: Mesh, name: str) -> SqsQueue | None:
    """The queue named ``name`` (or by its ARN's last part): this mesh's, or recorded in the
    catalog by another worker (then made here too); None when there is none, or when it was
    created through the endpoint and deleted since (on any worker)."""
    name = name.rpartition(":")[2] if name.startswith("arn:") else name
    resource = mesh.context.find_resource(name)
    if isinstance(resource, Queue):
        state = _state(resource)
        if state.recorded:
            now = mesh.clock.now()
            if now - state.checked_at >= RECHECK_SECONDS:
                if await catalog.lookup(mesh, KIND, name) is None:
                    await mesh.remove_resource(name)  # deleted by another worker
                    return None
                state.checked_at = now
        return state
    if resource is None:
        try:
            loaded = await catalog.load(mesh, KIND, name)
        except EventMeshError as exc:  # a record this mesh cannot rebuild: as if none
            logger.error("queue %r recorded by another worker cannot be made here: %s", name, exc)
            return None
        found = mesh.context.find_resource(name) if loaded else None
        return _state(found) if isinstance(found, Queue) else None
    return None


async def queue_of(call: AwsCall, url: str) -> SqsQueue:
    """The queue a ``QueueUrl`` names, or SQS's ``QueueDoesNotExist``."""
    found = await find_queue(call.mesh, name_of_url(url))
    if found is None:
        raise no_such_queue()
    return found


# -- attributes ------------------------------------------------------------------------------
@dataclass(slots=True)
class _Parsed:
    """Attributes checked, as Queue settings and the rest."""

    settings: dict[str, Any] = field(default_factory=dict)
    beside: dict[str, str] = field(default_factory=dict)


async def _parse(mesh: Mesh, attributes: Mapping[str, str], fifo: bool) -> _Parsed:
    """The attributes checked (:mod:`eventmesh.declare.sqs`), the dead-letter queue of a
    redrive policy found here or in the catalog."""
    try:
        declared = queue_attributes(attributes, fifo)
        parsed = _Parsed(declared.settings, declared.beside)
        if declared.redrive is not None:
            target = declared.redrive.target
            dead_letter = await find_queue(mesh, target) if target is not None else None
            parsed.settings.update(
                redrive_settings(declared.redrive, dead_letter.queue if dead_letter else None, fifo)
            )
    except SqsDeclarationError as exc:
        raise _declaration_error(exc) from None
    return parsed


def _check_name(name: str, fifo: bool) -> None:
    try:
        check_queue_name(name, fifo)
    except SqsDeclarationError as exc:
        raise _declaration_error(exc) from None


def _fifo(attributes: Mapping[str, str]) -> bool:
    try:
        return is_fifo(attributes.get("FifoQueue"))
    except SqsDeclarationError as exc:
        raise _declaration_error(exc) from None


def _same(name: str, given: str, current: str | None) -> bool:
    if current is None:
        return False
    if name == "RedrivePolicy":
        try:
            mine, theirs = orjson.loads(given or "{}"), orjson.loads(current or "{}")
        except orjson.JSONDecodeError:
            return False
        if isinstance(mine, dict) and isinstance(theirs, dict):
            for policy in (mine, theirs):
                if "maxReceiveCount" in policy:
                    policy["maxReceiveCount"] = str(policy["maxReceiveCount"])
        return bool(mine == theirs)
    return given == current


async def create_queue(
    call: AwsCall, name: str, attributes: Mapping[str, str], *, record: bool = True
) -> SqsQueue:
    """CreateQueue: a new queue, or the existing one when every attribute given has the
    value it has (SQS's ``QueueAlreadyExists`` otherwise)."""
    mesh = call.mesh
    fifo = _fifo(attributes)
    _check_name(name, fifo)
    existing = await find_queue(mesh, name)
    if existing is None and mesh.context.find_resource(name) is not None:
        raise sqs_error(
            "QueueNameExists",
            f"A resource named {name} exists already in this mesh and is not a queue",
        )
    if existing is not None:
        current = existing.attributes()
        for key, value in attributes.items():
            if not _same(key, value, current.get(key, DEFAULTS.get(key))):
                raise sqs_error(
                    "QueueNameExists",
                    "A queue already exists with the same name and a different value for "
                    f"attribute {key}",
                )
        return existing
    others = {k: v for k, v in attributes.items() if k != "FifoQueue"}
    parsed = await _parse(mesh, others, fifo)
    return await _make(mesh, name, parsed, fifo, dict(attributes), record=record)


async def _make(
    mesh: Mesh,
    name: str,
    parsed: _Parsed,
    fifo: bool,
    given: dict[str, str],
    *,
    record: bool,
    created: int | None = None,
) -> SqsQueue:
    settings = {k: v for k, v in parsed.settings.items() if v is not None}
    try:
        queue = mesh.queue(name, fifo=fifo, **settings)
    except EventMeshError as exc:
        raise invalid_parameter(str(exc)) from None
    await started()
    now = int(mesh.clock.time())
    state = _state(queue)
    state.beside.update(parsed.beside)
    state.created = state.modified = now if created is None else created
    state.recorded = True
    state.checked_at = mesh.clock.now()
    if record:
        await catalog.record(mesh, KIND, name, {"attributes": given, "created": state.created})
    return state


async def set_attributes(call: AwsCall, state: SqsQueue, attributes: Mapping[str, str]) -> None:
    """SetQueueAttributes: change the queue in place (and its record)."""
    queue = state.queue
    if "FifoQueue" in attributes:
        if attributes["FifoQueue"] != _flag(queue.fifo):
            raise sqs_error("InvalidAttributeValue", "Invalid value for the parameter FifoQueue.")
        attributes = {k: v for k, v in attributes.items() if k != "FifoQueue"}
    parsed = await _parse(call.mesh, attributes, queue.fifo)
    settings = parsed.settings
    if "visibility_timeout" in settings:
        queue.visibility_timeout = float(settings["visibility_timeout"])
    if "delay" in settings:
        queue.delay = float(settings["delay"])
    if "retention" in settings:
        queue.retention = float(settings["retention"])
    if "max_receive_count" in settings:
        queue.max_receive_count = settings["max_receive_count"]
        queue.dead_letter = settings["dead_letter"]
    if "content_based_deduplication" in settings:
        queue.content_based_deduplication = settings["content_based_deduplication"]
    state.beside.update(parsed.beside)
    state.modified = int(call.mesh.clock.time())
    if state.recorded:
        record = await catalog.lookup(call.mesh, KIND, queue.name) or {}
        given = {**record.get("attributes", {}), **attributes}
        if given.get("RedrivePolicy") == "":
            del given["RedrivePolicy"]
        await catalog.record(
            call.mesh, KIND, queue.name, {"attributes": given, "created": state.created}
        )


async def delete_queue(call: AwsCall, state: SqsQueue) -> None:
    """DeleteQueue: the queue, its messages and its record go."""
    mesh = call.mesh
    queue = state.queue
    await catalog.forget(mesh, KIND, queue.name)
    await mesh.remove_resource(queue.name)
    purged = await mesh.context.backend.queues.purge(queue.name, mesh.clock.time() + 1.0)
    queue.limit.release(purged)
    _STATES.pop(queue, None)


async def _restore(mesh: Mesh, name: str, settings: Mapping[str, Any]) -> None:
    if isinstance(mesh.context.find_resource(name), Queue):
        return  # declared in code, or restored already
    given: dict[str, str] = dict(settings.get("attributes", {}))
    fifo = given.get("FifoQueue") == "true"
    try:
        parsed = await _parse(mesh, {k: v for k, v in given.items() if k != "FifoQueue"}, fifo)
        await _make(mesh, name, parsed, fifo, given, record=False, created=settings.get("created"))
    except AwsError as exc:
        raise EventMeshError(exc.message) from None


catalog.register_kind(KIND, _restore)
