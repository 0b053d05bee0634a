"""Bucket: S3's objects over a BlobStore, and S3's event notifications.

Objects are bytes with a content type and user metadata; the ETag is the hex MD5 of the
bytes, quoted in API answers (``'"d41d8..."'``) and bare in event records, as S3 does. The
answers use boto3's names (``ETag``, ``ContentLength``, ``Contents``, ``IsTruncated``, ...).

``notify(target, events, prefix, suffix)`` adds a notification configuration: after an object
is stored (or removed), every configuration whose event types and key filter match sends one
S3 event record (§4.1) to its target: a function (an ``Event`` invocation, so Lambda's retries
and destinations apply), a queue (the event JSON as the body) or a topic (published with the
subject ``Amazon S3 Notification``). Two configurations whose event types overlap must not
have overlapping key filters, as S3 requires.

Choices where S3 leaves room:

* Deleting a key that does not exist succeeds (S3's 204) and sends no notification: nothing
  was removed. Without versioning there are no delete markers.
* Notifications go out while the mesh runs; objects written before it starts are like objects
  that existed before the configuration. A target that fails is logged and counted
  (``notification_failures``), never raised to the writer.
* The ``sequencer`` is 18 hex digits: two zeros, the epoch second (8 digits), then a counter,
  increasing across the bucket (so per key, as S3 promises) and across restarts with the clock.
* Keys in records are encoded with ``quote_plus`` keeping ``/``: ``red flower.jpg`` becomes
  ``red+flower.jpg``; ``unquote_plus`` gives the key back.

``send_to_eventbridge()`` turns on S3's EventBridge notifications: every object event, whatever
the configurations, also goes to the mesh's ``default`` bus as S3 sends it to EventBridge
(``source`` ``aws.s3``, ``detail-type`` ``Object Created`` or ``Object Deleted``, the bucket's
ARN in ``resources``, and a ``detail`` with the bucket, the object (its key *not* URL-encoded),
the request id, the requester, the source IP address, the ``reason`` (``PutObject``,
``CopyObject``, ``DeleteObject``) and, for deletes, the ``deletion-type`` ``Permanently
Deleted``). Rules on the bus route them; the bus takes the event before the write returns (on
durable storage its deliveries are stored first) and a busy bus is waited for, never skipped.
A bucket without versioning sends no ``version-id``.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypedDict
from urllib.parse import quote_plus

import orjson

from eventmesh._bound_once import bound_once
from eventmesh._destinations import iso_timestamp
from eventmesh._errors import (
    ConfigurationError,
    PayloadError,
    ResourceNotFoundError,
)
from eventmesh._function import Function
from eventmesh._validation import check_mapping, check_text, text_bytes
from eventmesh.backends.protocols import BlobInfo, BlobStore
from eventmesh.delivery.target import Outgoing, Target, UnresolvedTarget, resolve_target
from eventmesh.delivery.targets import KINDS
from eventmesh.delivery.targets.queue import QueueTarget
from eventmesh.resources._base import Resource
from eventmesh.resources.bus import Bus
from eventmesh.resources.queue import Queue
from eventmesh.resources.topic import Topic

if TYPE_CHECKING:
    from eventmesh.resources.context import ResourceContext

__all__ = [
    "Bucket",
    "GetObjectOutput",
    "HeadObjectOutput",
    "ListObjectsOutput",
    "NotificationConfiguration",
    "ObjectSummary",
    "PutObjectOutput",
]

logger = logging.getLogger("eventmesh.buckets")

DEFAULT_CONTENT_TYPE = "binary/octet-stream"
"""What S3 reports for an object stored without a content type."""
MAX_KEY_BYTES = 1024
MAX_METADATA_BYTES = 2048
OWNER_ID = "EVENTMESHOWNER"
PRINCIPAL_ID = "AWS:AIDAEVENTMESHLOCAL0001"
SOURCE_IP = "127.0.0.1"
SNS_SUBJECT = "Amazon S3 Notification"
EVENTBRIDGE_SOURCE = "aws.s3"
EVENTBRIDGE_BUS = "default"
"""S3 sends its EventBridge notifications to the account's default bus."""
_EVENTBRIDGE_EVENTS: Mapping[str, tuple[str, str]] = {
    "ObjectCreated:Put": ("Object Created", "PutObject"),
    "ObjectCreated:Copy": ("Object Created", "CopyObject"),
    "ObjectRemoved:Delete": ("Object Deleted", "DeleteObject"),
}
"""The S3 event names this bucket emits, as EventBridge's detail-type and reason."""
_NOTIFICATION_KINDS = frozenset({"lambda", "sqs", "sns"})

_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
EVENT_TYPES = frozenset(
    {
        "s3:ObjectCreated:*",
        "s3:ObjectCreated:Put",
        "s3:ObjectCreated:Post",
        "s3:ObjectCreated:Copy",
        "s3:ObjectCreated:CompleteMultipartUpload",
        "s3:ObjectRemoved:*",
        "s3:ObjectRemoved:Delete",
        "s3:ObjectRemoved:DeleteMarkerCreated",
        "s3:ObjectRestore:*",
        "s3:ObjectRestore:Post",
        "s3:ObjectRestore:Completed",
        "s3:ObjectRestore:Delete",
        "s3:ReducedRedundancyLostObject",
        "s3:Replication:*",
        "s3:Replication:OperationFailedReplication",
        "s3:Replication:OperationMissedThreshold",
        "s3:Replication:OperationReplicatedAfterThreshold",
        "s3:Replication:OperationNotTracked",
        "s3:LifecycleExpiration:*",
        "s3:LifecycleExpiration:Delete",
        "s3:LifecycleExpiration:DeleteMarkerCreated",
        "s3:LifecycleTransition",
        "s3:IntelligentTiering",
        "s3:ObjectTagging:*",
        "s3:ObjectTagging:Put",
        "s3:ObjectTagging:Delete",
        "s3:ObjectAcl:Put",
    }
)
"""The event types a configuration may name (this bucket emits ObjectCreated:Put and Copy,
and ObjectRemoved:Delete)."""


class PutObjectOutput(TypedDict):
    ETag: str


class HeadObjectOutput(TypedDict):
    ContentLength: int
    ContentType: str
    ETag: str
    LastModified: datetime
    Metadata: dict[str, str]


class GetObjectOutput(HeadObjectOutput):
    Body: bytes


class ObjectSummary(TypedDict):
    Key: str
    Size: int
    ETag: str
    LastModified: datetime
    StorageClass: str


class _ListObjectsRequired(TypedDict):
    Name: str
    Prefix: str
    MaxKeys: int
    KeyCount: int
    IsTruncated: bool
    Contents: list[ObjectSummary]


class ListObjectsOutput(_ListObjectsRequired, total=False):
    """ListObjectsV2's answer; ``Contents`` is always present (an empty list when empty)."""

    StartAfter: str
    ContinuationToken: str
    NextContinuationToken: str


def _quoted(etag: str) -> str:
    return f'"{etag}"'


def _when(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC)


def _head(info: BlobInfo) -> HeadObjectOutput:
    return {
        "ContentLength": info.size,
        "ContentType": info.content_type,
        "ETag": _quoted(info.etag),
        "LastModified": _when(info.last_modified),
        "Metadata": dict(info.metadata),
    }


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key or len(text_bytes(key, "key")) > MAX_KEY_BYTES:
        raise PayloadError(f"key: an object key is 1-{MAX_KEY_BYTES} bytes of UTF-8, got {key!r}")


def _body_bytes(body: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(body, str):
        return text_bytes(body, "body")
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    raise PayloadError(f"body: an object body is bytes or str, not {type(body).__name__}")


def _metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """User metadata as S3 keeps it: names lower-cased, at most 2 KB in all."""
    if metadata is None:
        return {}
    cleaned: dict[str, str] = {}
    for name, value in check_mapping(metadata, "metadata", what="str values").items():
        if not name:
            raise PayloadError("metadata: a metadata name must not be empty")
        check_text(value, f"metadata[{name!r}]")
        cleaned[name.lower()] = value
    size = sum(len(k.encode()) + len(v.encode()) for k, v in cleaned.items())
    if size > MAX_METADATA_BYTES:
        raise PayloadError(f"user metadata of {size} bytes is over S3's 2 KB limit")
    return cleaned


def _event_types_overlap(first: str, second: str) -> bool:
    if first == second:
        return True
    for wide, narrow in ((first, second), (second, first)):
        if wide.endswith(":*") and narrow.startswith(wide[:-1]):
            return True
    return False


# -- notification configurations -------------------------------------------------------------
NotificationTarget = Function | Queue | Topic | str


class NotificationConfiguration:
    """One of a bucket's notification configurations (S3's Lambda/Queue/Topic configuration).

    ``id`` is the record's ``configurationId``; ``events`` the S3 event types (``*`` wildcards
    allowed after the category); ``prefix`` and ``suffix`` filter keys (before URL encoding).
    ``sent`` and ``failures`` count the records it sent and failed to send.
    """

    def __init__(
        self,
        bucket: Bucket,
        target: NotificationTarget,
        events: Sequence[str],
        prefix: str,
        suffix: str,
        id: str,
    ) -> None:
        self.bucket = bucket
        self.target = target
        self.events = tuple(events)
        self.prefix = prefix
        self.suffix = suffix
        self.id = id
        self._target: Target | None = None
        self.sent = 0
        self.failures = 0

    def wants(self, event_type: str, key: str) -> bool:
        """Whether an event of ``event_type`` (``s3:ObjectCreated:Put``) on ``key`` matches."""
        return (
            key.startswith(self.prefix)
            and key.endswith(self.suffix)
            and any(_event_types_overlap(mine, event_type) for mine in self.events)
        )

    def overlaps(self, other: NotificationConfiguration) -> bool:
        """S3's rule: overlapping event types with overlapping prefixes and suffixes."""
        return (
            any(_event_types_overlap(a, b) for a in self.events for b in other.events)
            and (self.prefix.startswith(other.prefix) or other.prefix.startswith(self.prefix))
            and (self.suffix.endswith(other.suffix) or other.suffix.endswith(self.suffix))
        )

    def resolve(self) -> None:
        """Find the function, queue or topic a name stands for (when the mesh runs)."""
        try:
            self._target = resolve_target(
                self.target, self.bucket.context, KINDS, allowed=_NOTIFICATION_KINDS
            )
        except UnresolvedTarget as exc:
            where = f"notification {self.id!r} of bucket {self.bucket.name!r}"
            if exc.found is not None or exc.kind is not None:
                shown = type(exc.found).__name__ if exc.found is not None else exc.kind
                raise ConfigurationError(
                    f"{where}: {self.target!r} is a {shown}; a target is a function, a queue "
                    "or a topic"
                ) from None
            raise ConfigurationError(
                f"{where}: no function, queue or topic {self.target!r} ({exc.cause})"
            ) from None

    def _check_target(self) -> None:
        target = self._target
        if isinstance(target, QueueTarget) and target.resource.fifo:
            raise ConfigurationError(
                f"queue {target.resource.name!r} is FIFO; S3 notifies only standard queues"
            )

    async def send(self, event: dict[str, Any]) -> None:
        """Send one event (``{"Records": [record]}``) to the target."""
        if self._target is None:  # pragma: no cover - resolve() runs before any send
            raise ConfigurationError(f"notification {self.id!r} is not resolved")
        await self._target.deliver(Outgoing(event, subject=SNS_SUBJECT, trigger="datasource"))

    def __repr__(self) -> str:
        return f"<NotificationConfiguration {self.id} {list(self.events)} of {self.bucket.name}>"


# -- the bucket ------------------------------------------------------------------------------
class Bucket(Resource):
    """An S3-style bucket (without versioning); see the module docstring."""

    kind = "bucket"
    service = "s3"

    def __init__(self, context: ResourceContext, name: str, settings: Mapping[str, Any]) -> None:
        super().__init__(context, name, settings)
        if not _BUCKET_NAME.match(name) or ".." in name:
            raise ConfigurationError(
                f"bucket name {name!r} must be 3-63 lowercase letters, digits, '.' or '-', "
                "starting and ending with a letter or digit"
            )
        if settings:
            raise ConfigurationError(f"unknown bucket settings: {', '.join(sorted(settings))}")
        self.notifications: list[NotificationConfiguration] = []
        self._eventbridge = False
        self._bus: Bus | None = None
        self.eventbridge_sent = 0
        self._live = False
        self._last_sequencer = 0
        self.notification_failures = 0

    @bound_once
    def _store(self) -> BlobStore:
        return self.context.backend.blobs  # bound on first use: see Resource

    @property
    def arn(self) -> str:
        return f"arn:aws:s3:::{self.name}"

    # -- objects -----------------------------------------------------------------------------
    async def put_object(
        self,
        key: str,
        body: bytes | bytearray | memoryview | str,
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> PutObjectOutput:
        """PutObject: store ``body`` (a str is stored as UTF-8) and notify
        ``s3:ObjectCreated:Put``."""
        _check_key(key)
        data = _body_bytes(body)
        if content_type is not None:
            check_text(content_type, "content_type")
        info = await self._store.put(
            self.name, key, data, _metadata(metadata), content_type or DEFAULT_CONTENT_TYPE
        )
        await self._notify("ObjectCreated:Put", key, info)
        return {"ETag": _quoted(info.etag)}

    async def copy_object(
        self,
        source_key: str,
        key: str,
        *,
        source_bucket: Bucket | str | None = None,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> PutObjectOutput:
        """CopyObject: copy an object (of this bucket unless ``source_bucket`` is given) to
        ``key``, keeping its metadata and content type unless new ones are given; notifies
        ``s3:ObjectCreated:Copy``."""
        _check_key(key)
        source = self if source_bucket is None else self._other_bucket(source_bucket)
        data, source_info = await source._get(source_key)
        info = await self._store.put(
            self.name,
            key,
            data,
            dict(source_info.metadata) if metadata is None else _metadata(metadata),
            content_type or source_info.content_type,
        )
        await self._notify("ObjectCreated:Copy", key, info)
        return {"ETag": _quoted(info.etag)}

    def _other_bucket(self, bucket: Bucket | str) -> Bucket:
        if isinstance(bucket, Bucket):
            return bucket
        resource = self.context.find_resource(bucket)
        if not isinstance(resource, Bucket):
            raise ResourceNotFoundError(f"NoSuchBucket: no bucket named {bucket!r}")
        return resource

    async def _get(self, key: str) -> tuple[bytes, BlobInfo]:
        _check_key(key)
        found = await self._store.get(self.name, key)
        if found is None:
            raise ResourceNotFoundError(f"NoSuchKey: bucket {self.name!r} has no key {key!r}")
        return found

    async def get_object(self, key: str) -> GetObjectOutput:
        """GetObject: the bytes as ``Body`` with the object's description; raises
        :class:`ResourceNotFoundError` (S3's NoSuchKey) for a missing key."""
        data, info = await self._get(key)
        head = _head(info)
        return {**head, "Body": data}

    async def head_object(self, key: str) -> HeadObjectOutput:
        """HeadObject: the description without the bytes (NoSuchKey as for get_object)."""
        _check_key(key)
        info = await self._store.head(self.name, key)
        if info is None:
            raise ResourceNotFoundError(f"NoSuchKey: bucket {self.name!r} has no key {key!r}")
        return _head(info)

    async def send(self, message: Any, attributes: Mapping[str, Any] | None = None) -> None:
        """A bucket as an on-failure destination: each record is written as a JSON object.

        An invocation record goes under ``aws/lambda/async/<function>/YYYY/MM/DD/`` named by
        its timestamp and request id; anything else under ``eventmesh/<uuid>.json``.
        """
        context = message.get("requestContext") if isinstance(message, Mapping) else None
        if isinstance(context, Mapping) and "functionArn" in context:
            function = str(context["functionArn"]).split(":function:")[-1].split(":")[0]
            stamp = str(message.get("timestamp", ""))
            day = stamp[:10].replace("-", "/")
            key = f"aws/lambda/async/{function}/{day}/{stamp}-{context.get('requestId', '')}"
        else:
            key = f"eventmesh/{uuid.uuid4()}.json"
        await self.put_object(key, orjson.dumps(message), content_type="application/json")

    async def delete_object(self, key: str) -> None:
        """DeleteObject: remove the key and notify ``s3:ObjectRemoved:Delete``; a missing key
        is not an error and sends nothing."""
        _check_key(key)
        if await self._store.delete(self.name, key):
            await self._notify("ObjectRemoved:Delete", key, None)

    async def list_objects(
        self,
        prefix: str = "",
        *,
        start_after: str = "",
        max_keys: int = 1000,
        continuation_token: str | None = None,
    ) -> ListObjectsOutput:
        """ListObjectsV2: up to ``max_keys`` (0-1000) objects in key order.

        When ``IsTruncated``, pass ``NextContinuationToken`` back as ``continuation_token``
        (or the last key as ``start_after``) for the next page.
        """
        if isinstance(max_keys, bool) or not isinstance(max_keys, int) or not 0 <= max_keys <= 1000:
            raise ConfigurationError(
                f"max_keys must be an integer from 0 to 1000, got {max_keys!r}"
            )
        after = start_after
        if continuation_token is not None:
            after = _decode_token(continuation_token)
        infos = await self._store.list(self.name, prefix, after, max_keys + 1)
        truncated = max_keys > 0 and len(infos) > max_keys  # MaxKeys=0: nothing, not truncated
        infos = infos[:max_keys]
        answer: ListObjectsOutput = {
            "Name": self.name,
            "Prefix": prefix,
            "MaxKeys": max_keys,
            "KeyCount": len(infos),
            "IsTruncated": truncated,
            "Contents": [
                {
                    "Key": info.key,
                    "Size": info.size,
                    "ETag": _quoted(info.etag),
                    "LastModified": _when(info.last_modified),
                    "StorageClass": "STANDARD",
                }
                for info in infos
            ],
        }
        if start_after:
            answer["StartAfter"] = start_after
        if continuation_token is not None:
            answer["ContinuationToken"] = continuation_token
        if truncated and infos:
            answer["NextContinuationToken"] = _encode_token(infos[-1].key)
        return answer

    # -- notifications -----------------------------------------------------------------------
    def notify(
        self,
        target: NotificationTarget,
        events: Sequence[str] = ("s3:ObjectCreated:*",),
        *,
        prefix: str | None = None,
        suffix: str | None = None,
        id: str | None = None,
    ) -> NotificationConfiguration:
        """Send S3 event records to a function, a queue or a topic (or their names).

        Raises :class:`ConfigurationError` for an unknown event type, a duplicate ``id``, or a
        configuration that overlaps another (S3: "Configurations overlap").
        """
        if isinstance(events, str):
            events = (events,)
        if not isinstance(events, Sequence) or not all(isinstance(e, str) for e in events):
            raise ConfigurationError(f"events: a list of S3 event types, got {events!r}")
        if not events:
            raise ConfigurationError("a notification configuration needs at least one event type")
        for setting, text in (("prefix", prefix), ("suffix", suffix), ("id", id)):
            if text is not None:
                check_text(text, setting, ConfigurationError)
        unknown = [event for event in events if event not in EVENT_TYPES]
        if unknown:
            raise ConfigurationError(f"unknown S3 event types: {', '.join(unknown)}")
        if not isinstance(target, Function | Queue | Topic | str):
            raise ConfigurationError(
                f"{target!r} cannot be notified: give a function, a queue or a topic"
            )
        configuration = NotificationConfiguration(
            self, target, events, prefix or "", suffix or "", id or str(uuid.uuid4())
        )
        for existing in self.notifications:
            if existing.id == configuration.id:
                raise ConfigurationError(
                    f"bucket {self.name!r} already has a notification configuration "
                    f"{configuration.id!r}"
                )
            if existing.overlaps(configuration):
                raise ConfigurationError(
                    f"configurations overlap: {configuration.id!r} and {existing.id!r} of bucket "
                    f"{self.name!r} share an event type and their prefixes and suffixes overlap"
                )
        if self._live:
            configuration.resolve()
            configuration._check_target()
        self.notifications.append(configuration)
        return configuration

    @property
    def eventbridge(self) -> bool:
        """Whether object events also go to the default bus (:meth:`send_to_eventbridge`)."""
        return self._eventbridge

    def send_to_eventbridge(self, enabled: bool = True) -> None:
        """Send every object event to the mesh's ``default`` bus as S3 sends them to
        EventBridge (S3's ``EventBridgeConfiguration``); ``False`` stops it.

        The bus is ``mesh.bus("default")``, made now if the mesh has none (so it starts with
        the mesh and, on durable storage, stores its first deliveries as any other): give it
        settings of your own (``max_pending``) by declaring it first."""
        if not isinstance(enabled, bool):
            raise ConfigurationError(f"enabled: True or False, got {enabled!r}")
        bus = self._default_bus() if enabled else None
        self._eventbridge = enabled
        self._bus = bus

    def _default_bus(self) -> Bus:
        found = self.context.find_resource(EVENTBRIDGE_BUS)
        if found is None:
            # As mesh.bus() makes it: a later mesh.bus("default") is the same bus.
            return self.context.resource(Bus, EVENTBRIDGE_BUS, {"max_pending": None})
        if not isinstance(found, Bus):
            raise ConfigurationError(
                f"bucket {self.name!r} sends its events to EventBridge's default bus, but "
                f"{EVENTBRIDGE_BUS!r} is a {type(found).__name__}"
            )
        return found

    def _next_sequencer(self) -> str:
        floor = int(self.context.clock.time()) << 32
        self._last_sequencer = max(self._last_sequencer + 1, floor)
        return f"{self._last_sequencer:018X}"

    async def _notify(self, event_name: str, key: str, info: BlobInfo | None) -> None:
        """Send ``event_name`` (``ObjectCreated:Put``) on ``key`` to the matching targets."""
        if not self._live:
            if not self.context.running:
                return
            self._activate()
        event_type = f"s3:{event_name}"
        matching = [c for c in self.notifications if c.wants(event_type, key)]
        sequencer = self._next_sequencer()  # every change while running, notified or not
        bus = self._bus
        if not matching and bus is None:
            return
        request_id = uuid.uuid4().hex[:16].upper()
        shared = _RequestFacts(
            event_time=iso_timestamp(self.context.clock.time()),
            sequencer=sequencer,
            response_elements={
                "x-amz-request-id": request_id,
                "x-amz-id-2": base64.b64encode(uuid.uuid4().bytes * 3).decode(),
            },
        )
        for configuration in matching:
            event = {"Records": [shared.record(self, event_name, key, info, configuration.id)]}
            try:
                await configuration.send(event)
            except Exception:
                configuration.failures += 1
                self.notification_failures += 1
                logger.exception(
                    "bucket %s: notification %s of %s %s failed",
                    self.name,
                    configuration.id,
                    event_name,
                    key,
                )
            else:
                configuration.sent += 1
        if bus is not None:
            await self._send_to_bus(bus, event_name, key, info, sequencer, request_id)

    async def _send_to_bus(
        self,
        bus: Bus,
        event_name: str,
        key: str,
        info: BlobInfo | None,
        sequencer: str,
        request_id: str,
    ) -> None:
        """The EventBridge event of one object event (S3 user guide, "EventBridge event
        message structure"); a failure is logged and counted like a target's."""
        detail_type, reason = _EVENTBRIDGE_EVENTS[event_name]
        obj: dict[str, Any] = {"key": key}
        if info is not None:
            obj["size"] = info.size
            obj["etag"] = info.etag
        obj["sequencer"] = sequencer
        detail: dict[str, Any] = {
            "version": "0",
            "bucket": {"name": self.name},
            "object": obj,
            "request-id": request_id,
            "requester": self.context.account_id,
            "source-ip-address": SOURCE_IP,
            "reason": reason,
        }
        if event_name.startswith("ObjectRemoved:"):
            detail["deletion-type"] = "Permanently Deleted"  # no versioning: no delete markers
        try:
            await bus.put_service_event(EVENTBRIDGE_SOURCE, detail_type, detail, [self.arn])
        except Exception:
            self.notification_failures += 1
            logger.exception(
                "bucket %s: EventBridge notification of %s %s failed", self.name, event_name, key
            )
        else:
            self.eventbridge_sent += 1

    # -- lifecycle ---------------------------------------------------------------------------
    def _activate(self) -> None:
        for configuration in self.notifications:
            configuration.resolve()
            configuration._check_target()
        if self._eventbridge:
            self._bus = self._default_bus()  # the same bus, unless it was removed since
        self._live = True

    async def start(self) -> None:
        self._activate()

    async def stop(self) -> None:
        self._live = False


class _RequestFacts:
    """What every record of one request shares: its time, sequencer and request ids."""

    __slots__ = ("event_time", "response_elements", "sequencer")

    def __init__(self, event_time: str, sequencer: str, response_elements: dict[str, str]):
        self.event_time = event_time
        self.sequencer = sequencer
        self.response_elements = response_elements

    def record(
        self, bucket: Bucket, event_name: str, key: str, info: BlobInfo | None, config_id: str
    ) -> dict[str, Any]:
        """One S3 event record (§4.1)."""
        obj: dict[str, Any] = {"key": quote_plus(key, safe="/")}
        if info is not None:
            obj["size"] = info.size
            obj["eTag"] = info.etag
        obj["sequencer"] = self.sequencer
        return {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": bucket.context.region,
            "eventTime": self.event_time,
            "eventName": event_name,
            "userIdentity": {"principalId": PRINCIPAL_ID},
            "requestParameters": {"sourceIPAddress": SOURCE_IP},
            "responseElements": dict(self.response_elements),
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": config_id,
                "bucket": {
                    "name": bucket.name,
                    "ownerIdentity": {"principalId": OWNER_ID},
                    "arn": bucket.arn,
                },
                "object": obj,
            },
        }


def _encode_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def _decode_token(token: str) -> str:
    try:
        return base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ConfigurationError(f"invalid continuation token {token!r}") from None
