"""Topic: SNS's fan-out over the mesh's functions, queues, HTTP endpoints and callables.

``publish`` stamps a message (id, timestamp, attributes) and hands a copy to every subscription
whose filter policy accepts it; a slow or failing subscriber never holds up the others nor the
publisher. A function or a queue takes its copy at once (an ``Event`` invocation queued, a
message stored), so ``publish`` makes that first attempt itself; a retry, a subscriber at its
limit, an HTTP endpoint or a callable runs in the background. The JSON every subscriber shares
is encoded once per publication and each subscription joins its own fields to it (its
subscription ARN, its unsubscribe URL): a function is invoked with those bytes as they are.
What each kind of subscriber receives:

* a function: SNS's Lambda event (``{"Records": [{"EventSource": "aws:sns", "Sns": {...}}]}``),
  as an ``Event`` invocation, so Lambda's asynchronous retries and destinations apply;
* a queue: the JSON notification envelope as the SQS body, or with ``raw_message_delivery``
  the message itself with the message attributes as SQS message attributes;
* an ``http://`` or ``https://`` URL: a POST of the envelope (or the raw message) with SNS's
  ``x-amz-sns-*`` headers, through httpx (the ``eventmesh[http]`` extra); the envelope is
  signed as SNS signs it, with the mesh's key (:mod:`eventmesh.resources.sns_signing`), its
  ``SigningCertURL`` and ``UnsubscribeURL`` on the mesh's HTTP front (the latter with a
  ``Token``, an HMAC of the subscription ARN); with ``confirm=True``
  the subscription waits for confirmation first (:mod:`eventmesh.resources.sns_confirmation`);
* an async callable: awaited with the envelope as a dict (``Type``, ``MessageId``,
  ``TopicArn``, ``Subject`` when given, ``Message``, ``Timestamp``, ``SignatureVersion``,
  ``Signature``, ``SigningCertURL``, ``UnsubscribeURL``, ``MessageAttributes`` when any).

Retries follow SNS's delivery policies on the mesh's clock, without SNS's jitter so that tests
are exact. Functions and queues get the policy of AWS-managed endpoints (3 immediate retries,
2 one second apart, 10 with exponential backoff from 1 to 20 s, then every 20 s up to 100,015
attempts), applied only to server-side errors (a backend failing); a client-side error (a
payload too large, a queue that is gone, a recursion stopped) is not retried. HTTP endpoints
get SNS's default HTTP/S policy: 3 retries 20 s apart, on a 5xx or 429 answer or a connection
error; another non-2xx answer fails at once. Callables get the HTTP/S policy too, for any
exception. HTTP and callable subscriptions take a ``delivery_policy`` of their own.

Deliveries run in a copy of the publisher's context (``asyncio`` tasks copy it), so the
publisher's trace context reaches the subscriber (a callable runs in it; when the mesh traces,
the W3C ``traceparent`` goes in HTTP headers, queue messages and async invocations) and
recursion detection follows the chain of invocations.

Only HTTP(S) deliveries carry a verifiable signature (an RSA signature costs about a
millisecond): the copies a function, a queue or a callable gets, which never leave the
process, carry a digest of SNS's string to sign in its place, and SNS's URLs.

Backpressure: a topic's pending work is its deliveries not yet completed, those waiting to
retry included (``max_pending``, on every backend: they live in memory). ``publish`` waits for
room at the limit, up to its ``timeout``. A function or queue subscriber at its own limit does
not hold the publisher: the delivery moves to the background (where it counts as the topic's),
waits up to ``INTERNAL_WAIT`` seconds for room, and if none came, counts as a throttled attempt
and retries under the AWS-managed policy; it is never dropped for being full, and a cycle of
full resources cannot deadlock.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import inspect
import itertools
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import orjson
from opentelemetry import propagate

from eventmesh._backpressure import INTERNAL_WAIT, check_timeout, task_context
from eventmesh._callbacks import contained
from eventmesh._errors import (
    BackpressureError,
    ConfigurationError,
    EventMeshError,
    PayloadError,
)
from eventmesh._function import Function, FunctionTarget, is_async_callable
from eventmesh._ids import IsoTimes, RequestIds
from eventmesh._invoker import EncodedEvent, invocation_chain
from eventmesh._redact import RedactingFilter, redact_text, redact_url
from eventmesh._tasks import abandon_deliveries
from eventmesh.delivery.durable import DeliveryQueue, StoredDelivery
from eventmesh.delivery.errors import DeliveryError, classify
from eventmesh.delivery.http import require_httpx
from eventmesh.delivery.retry import AWS_MANAGED_POLICY, HTTP_DEFAULT_POLICY, DeliveryPolicy, GiveUp
from eventmesh.delivery.target import (
    Outgoing,
    Target,
    UnresolvedTarget,
    accepts_encoded_events,
    resolve_target,
)
from eventmesh.delivery.targets import KINDS
from eventmesh.delivery.targets.callable import CallableTarget
from eventmesh.delivery.targets.function import FunctionDelivery
from eventmesh.delivery.targets.queue import QueueTarget
from eventmesh.patterns import FilterPolicy
from eventmesh.resources._base import Resource
from eventmesh.resources.queue import Queue
from eventmesh.resources.sns_confirmation import (
    Confirmation,
    ConfirmationMessages,
    sns_endpoints,
)
from eventmesh.resources.sns_message import (
    MAX_MESSAGE_BYTES,
    Notification,
    attribute_size,
    check_subject,
    encode_sns_attributes,
    message_text,
)
from eventmesh.resources.sns_signing import (
    SignatureVersion,
    check_signature_version,
    mesh_signer,
    require_cryptography,
)

if TYPE_CHECKING:
    from eventmesh._destinations import MessageAttributes
    from eventmesh.resources.context import ResourceContext

_LOCAL_HAND_OFF = frozenset({"lambda", "sqs"})
_SUBSCRIBERS = frozenset({"lambda", "sqs", "http", "callable"})

__all__ = [
    "AWS_MANAGED_POLICY",
    "HTTP_DEFAULT_POLICY",
    "DeliveryPolicy",
    "Notification",
    "Subscription",
    "Topic",
    "encode_sns_attributes",
]

logger = logging.getLogger("eventmesh.topics")
logger.addFilter(RedactingFilter())  # a callable's errors may name a URL

MAX_HTTP_RETRY_TIME = 3600.0
"""SNS's hard limit on the total retry time of an HTTP/S delivery policy."""

_TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")

SubscriptionProtocol: TypeAlias = Literal["lambda", "sqs", "http", "https", "callable"]
Subscriber: TypeAlias = "Function | Queue | str | Callable[[dict[str, Any]], Awaitable[Any]]"
"""A function (or its name), a queue (or its name), an http(s):// URL, or an async callable."""


# -- delivery policies -----------------------------------------------------------------------
def _makes_coroutine(call: Any) -> bool:
    """Whether calling ``call`` does nothing but make a coroutine: an ``async def`` function or
    method, or an object whose ``__call__`` is one (not a partial, nor a function only marked
    as a coroutine function, which may run code, and raise, when called)."""
    if not (inspect.isfunction(call) or inspect.ismethod(call)):
        call = getattr(call, "__call__", None)  # noqa: B004 - a callable object's method
        if not (inspect.isfunction(call) or inspect.ismethod(call)):
            return False
    return bool(call.__code__.co_flags & inspect.CO_COROUTINE)


# -- subscriptions ---------------------------------------------------------------------------
class Subscription:
    """One subscriber of a topic; made by :meth:`Topic.subscribe`.

    ``protocol`` is ``lambda``, ``sqs``, ``http``, ``https`` or ``callable``; ``arn`` is the
    topic's ARN and a UUID. Counters: ``delivered`` and ``failed`` count messages,
    ``attempts`` counts every attempt (retries included), ``filtered_out`` the messages its
    filter policy rejected.
    """

    def __init__(
        self,
        topic: Topic,
        target: Subscriber,
        *,
        filter_policy: FilterPolicy | None,
        raw_message_delivery: bool,
        delivery_policy: DeliveryPolicy | None,
        confirm: bool = False,
    ) -> None:
        self.topic = topic
        self.target = target
        self.route = topic._route_for(target)
        """Where the topic's stored deliveries say they go: the same in every process that
        subscribes the same endpoint, so a delivery stored before a crash finds it again."""
        self.arn = f"{topic.arn}:{uuid.UUID(self.route)}"
        region = topic.context.region
        self.unsubscribe_url = (
            f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={self.arn}"
        )
        # This subscription's own pieces of what it sends, joined to a publication's shared
        # ones (see Notification): its ARN and unsubscribe URL.
        self._lambda_open = b"".join(
            (
                b'{"Records":[{"EventVersion":"1.0","EventSubscriptionArn":',
                orjson.dumps(self.arn),
                b',"EventSource":"aws:sns","Sns":{"Type":"Notification",',
            )
        )
        self._lambda_unsubscribe = b',"UnsubscribeUrl":' + orjson.dumps(self.unsubscribe_url) + b","
        self._envelope_unsubscribe = b',"UnsubscribeURL":' + orjson.dumps(self.unsubscribe_url)
        self.filter_policy = filter_policy
        self.policy_key = _policy_key(filter_policy)
        """Equal for subscriptions whose policies are equal: a publication evaluates each
        distinct policy once (None: no policy)."""
        self.raw_message_delivery = bool(raw_message_delivery)
        self._target: Target | None = None
        self.function: FunctionTarget | None = None
        """The function a Lambda subscription invokes with its event's JSON as it is, when the
        mesh takes encoded events (the publisher's fast path, see :meth:`Topic._fan_out`);
        None for any other subscriber, which gets :meth:`attempt`."""
        self.call: Callable[[dict[str, Any]], Awaitable[Any]] | None = None
        """A callable subscriber whose call only makes a coroutine (an ``async def`` function
        or method, or an object whose ``__call__`` is one), which a background delivery calls
        itself (see :meth:`Topic._deliver`); None for any other, which gets :meth:`attempt`."""
        self.protocol: SubscriptionProtocol = self._protocol(target)
        self._given_policy = delivery_policy
        self._check_settings()
        self.confirmation: Confirmation | None = None
        if self.protocol in ("http", "https"):
            require_httpx()
            require_cryptography()
            topic.context.egress.check_literal(str(target))
            policy = delivery_policy or HTTP_DEFAULT_POLICY
            if policy.total_delay() > MAX_HTTP_RETRY_TIME:
                raise ConfigurationError(
                    f"an HTTP(S) delivery policy retries for at most {MAX_HTTP_RETRY_TIME:g} s, "
                    f"this one for {policy.total_delay():g} s"
                )
        elif self.protocol == "callable":
            policy = delivery_policy or HTTP_DEFAULT_POLICY
        else:
            policy = AWS_MANAGED_POLICY
        self.delivery_policy = policy
        # SNS confirms an HTTP(S) endpoint when asked; the mesh's own functions and queues
        # are the topic owner's, which SNS confirms at once.
        self._confirmed_at_once = not (confirm and self.protocol in ("http", "https"))
        if self.protocol in ("http", "https"):
            self.confirmation = Confirmation(
                topic.context,
                topic_arn=topic.arn,
                subscription_arn=self.arn,
                url=str(target),
                policy=policy,
                signature_version=lambda: topic.signature_version,
                pending=not self._confirmed_at_once,
            )
        self.delivered = 0
        self.failed = 0
        self.attempts = 0
        self.filtered_out = 0

    @property
    def pending_confirmation(self) -> bool:
        """True until a subscription made with ``confirm=True`` is confirmed."""
        confirmation = self.confirmation
        return confirmation is not None and confirmation.pending

    @property
    def attributes(self) -> dict[str, str]:
        """Some of SNS's ``GetSubscriptionAttributes`` (strings, as SNS gives them)."""
        return {
            "SubscriptionArn": self.arn,
            "TopicArn": self.topic.arn,
            "Protocol": self.protocol,
            "Endpoint": self.endpoint,
            "RawMessageDelivery": "true" if self.raw_message_delivery else "false",
            "PendingConfirmation": "true" if self.pending_confirmation else "false",
            # Confirmed by the subscription's owner (at once), not by a visit of the URL.
            "ConfirmationWasAuthenticated": "true" if self._confirmed_at_once else "false",
        }

    async def request_confirmation(self) -> None:
        """Send a new ``SubscriptionConfirmation`` (a pending subscription whose message was
        lost, or whose token expired); nothing when it is not pending."""
        if self.pending_confirmation:
            assert self.confirmation is not None
            await self.confirmation.request()

    def _protocol(self, target: Subscriber) -> SubscriptionProtocol:
        if isinstance(target, Function):
            return "lambda"
        if isinstance(target, Queue):
            return "sqs"
        if isinstance(target, str):
            if target.startswith("https://"):
                return "https"
            if target.startswith("http://"):
                return "http"
            if target.startswith("arn:aws:sqs:") or isinstance(
                self.topic.context.find_resource(target), Queue
            ):
                return "sqs"
            # A function, or a queue made later: resolve() decides. Only a queue takes raw.
            return "sqs" if self.raw_message_delivery else "lambda"
        if callable(target):
            if not is_async_callable(target):
                raise ConfigurationError(
                    f"a callable subscriber must be async (async def), got {target!r}"
                )
            return "callable"
        raise ConfigurationError(
            f"{target!r} cannot subscribe: give a function, a queue, an http(s):// URL or an "
            "async callable"
        )

    @property
    def endpoint(self) -> str:
        """What SNS would call the endpoint: a function or queue ARN, a URL (its credentials
        and query values masked, see :mod:`eventmesh._redact`), a callable's name."""
        if self._target is not None and self._target.kind in _LOCAL_HAND_OFF:
            return self._target.arn
        target = self.target
        if isinstance(target, str):
            return redact_url(target)  # shown in logs and errors: no credentials
        if isinstance(target, Function | Queue):
            return target.name
        return str(getattr(target, "__qualname__", repr(target)))

    def _check_settings(self) -> None:
        """Settings SNS accepts only for some protocols (checked again once names resolve)."""
        if self.raw_message_delivery and self.protocol not in ("sqs", "http", "https"):
            raise ConfigurationError(
                "raw_message_delivery is for queue and HTTP(S) subscriptions, not for "
                f"{self.endpoint!r} ({self.protocol})"
            )
        if self._given_policy is not None and self.protocol in ("lambda", "sqs"):
            raise ConfigurationError(
                "the delivery policy of function and queue subscriptions is SNS's fixed one for "
                "AWS-managed endpoints; only HTTP(S) and callable subscriptions take one"
            )

    def _same_endpoint(self, target: Subscriber) -> bool:
        mine = self.target
        if isinstance(mine, Function | Queue) and isinstance(target, Function | Queue):
            return type(mine) is type(target) and mine.name == target.name
        if isinstance(mine, str) and isinstance(target, str):
            return mine == target
        return mine is target

    # -- resolution --------------------------------------------------------------------------
    def resolve(self) -> None:
        """Find the function or queue a name stands for (when the mesh runs)."""
        target = self.target
        where = f"subscription of topic {self.topic.name!r}"
        try:
            resolved = resolve_target(target, self.topic.context, KINDS, allowed=_SUBSCRIBERS)
        except UnresolvedTarget as exc:
            if self.protocol == "sqs":
                raise ConfigurationError(
                    redact_text(f"{where}: no queue named {target!r}")
                ) from None
            cause = exc.cause or exc
            message = f"{where}: no function or queue {target!r} ({cause})"
            raise ConfigurationError(redact_text(message)) from None  # a mistyped URL
        if self.protocol == "sqs" and resolved.kind != "sqs":
            raise ConfigurationError(redact_text(f"{where}: no queue named {target!r}"))
        if self.protocol == "lambda" and resolved.kind == "sqs":
            self.protocol = "sqs"  # a queue created after subscribing
            self._check_settings()
        if isinstance(resolved, QueueTarget) and resolved.resource.fifo:
            raise ConfigurationError(
                f"queue {resolved.resource.name!r} is FIFO; a standard topic delivers only to "
                "standard queues"
            )
        self._target = resolved
        context = self.topic.context
        if isinstance(resolved, FunctionDelivery) and accepts_encoded_events(context):
            self.function = resolved.function
        elif isinstance(resolved, CallableTarget) and _makes_coroutine(resolved.call):
            self.call = resolved.call

    def accepts(self, notification: Notification) -> bool:
        policy = self.filter_policy
        if policy is None:
            return True
        if policy.scope == "MessageBody":
            return policy.matches(notification.policy_body())
        return policy.matches(notification.attributes)

    # -- what subscribers get ----------------------------------------------------------------
    def envelope(self, notification: Notification) -> dict[str, Any]:
        """The JSON notification that queues, HTTP endpoints and callables receive (a new
        dict each time: a callable may change its own)."""
        body: dict[str, Any] = dict(notification.envelope_fields())
        body["UnsubscribeURL"] = self.unsubscribe_url
        if notification.attributes:
            body["MessageAttributes"] = notification.sns_attributes()
        return body

    def envelope_data(self, notification: Notification) -> bytes:
        """:meth:`envelope` as JSON, joined from the publication's shared text."""
        head, tail = notification.envelope_parts()
        return b"".join((head, self._envelope_unsubscribe, tail))

    def lambda_event(self, notification: Notification) -> dict[str, Any]:
        """The event a function receives (§4.2), one record per notification."""
        sns = {
            "Type": "Notification",
            "MessageId": notification.message_id,
            "TopicArn": notification.topic_arn,
            "Subject": notification.subject,
            "Message": notification.message,
            "Timestamp": notification.timestamp,
            "SignatureVersion": "1",
            "Signature": notification.signature,
            "SigningCertUrl": notification.signing_cert_url,
            "UnsubscribeUrl": self.unsubscribe_url,
            "MessageAttributes": notification.sns_attributes(),
        }
        record = {
            "EventVersion": "1.0",
            "EventSubscriptionArn": self.arn,
            "EventSource": "aws:sns",
            "Sns": sns,
        }
        return {"Records": [record]}

    def lambda_event_data(self, notification: Notification) -> bytes:
        """:meth:`lambda_event` as JSON, joined from the publication's shared text: what a
        function subscriber is invoked with."""
        shared, attributes = notification.lambda_parts()
        return b"".join((self._lambda_open, shared, self._lambda_unsubscribe, attributes, b"}}]}"))

    # -- one attempt -------------------------------------------------------------------------
    def attempt(self, notification: Notification, timeout: float = INTERNAL_WAIT) -> Awaitable[Any]:
        """Deliver once (awaited by the caller); raises on failure (:meth:`retryable` says
        whether to retry).

        ``timeout``: how long a function or queue at its limit may be waited for."""
        target = self._target
        assert target is not None, "resolve() runs before any delivery"
        if target.kind == "http" and not self.raw_message_delivery:
            return self._deliver_signed(target, notification)
        return target.deliver(self._outgoing(notification), timeout)

    async def _deliver_signed(self, target: Target, notification: Notification) -> Any:
        """An HTTP(S) delivery of the envelope, signed (the key is loaded on first use)."""
        signer = self.topic._signer
        key = signer.loaded or await signer.key()
        version = self.topic.signature_version
        # The shared fields, in their order, with this delivery's signature in its place.
        fields: dict[str, Any] = {
            **notification.envelope_fields(),
            "SignatureVersion": version,
            "Signature": notification.signed(key, version),
            "SigningCertURL": signer.certificate_url(key),
            "UnsubscribeURL": self.topic._sns_endpoints.unsubscribe_url(
                self.arn, await signer.unsubscribe_token(self.arn)
            ),
        }
        if notification.attributes:
            fields["MessageAttributes"] = notification.sns_attributes()
        text = orjson.dumps(fields).decode()
        return await target.deliver(
            Outgoing(text=text, is_json=False, headers=self._headers(notification))
        )

    def _outgoing(self, notification: Notification) -> Outgoing:
        protocol = self.protocol
        if protocol == "lambda":
            return Outgoing(data=self.lambda_event_data(notification), trigger="pubsub")
        if protocol == "callable":
            return Outgoing(self.envelope(notification))
        if self.raw_message_delivery:
            text, attributes = notification.message, notification.attributes
        else:
            text, attributes = self.envelope_data(notification).decode(), None
        if protocol == "sqs":
            return Outgoing(text=text, is_json=not self.raw_message_delivery, attributes=attributes)
        return Outgoing(text=text, is_json=False, headers=self._headers(notification))

    def _headers(self, notification: Notification) -> dict[str, str]:
        """The headers of an HTTP(S) delivery (SNS's, and the trace context when traced)."""
        headers = {
            "x-amz-sns-message-type": "Notification",
            "x-amz-sns-message-id": notification.message_id,
            "x-amz-sns-topic-arn": notification.topic_arn,
            "x-amz-sns-subscription-arn": self.arn,
            "Content-Type": "text/plain; charset=UTF-8",
            "User-Agent": "Amazon Simple Notification Service Agent",
        }
        if self.raw_message_delivery:
            headers["x-amz-sns-rawdelivery"] = "true"
        if self.topic.context.telemetry.tracing:
            propagate.inject(headers)
        return headers

    def retryable(self, exc: Exception) -> bool:
        """SNS retries server-side errors (a backend, the network, a 5xx or 429) and, for a
        callable, any failure; see :mod:`eventmesh.delivery.errors`."""
        return classify(exc, callable_target=self.protocol == "callable")[1]

    async def close(self) -> None:
        """Nothing to release: HTTP goes through the mesh's one sender."""

    def __repr__(self) -> str:
        return f"<Subscription {self.protocol} {self.endpoint} of {self.topic.name}>"


# -- the topic -------------------------------------------------------------------------------
class Topic(Resource):
    """An SNS-style standard topic; see the module docstring for what subscribers get.

    Counters over all subscriptions: ``published`` messages, ``delivered`` and
    ``delivery_failures`` (deliveries that gave up), ``filtered_out``.
    """

    kind = "topic"
    service = "sns"

    def __init__(self, context: ResourceContext, name: str, settings: Mapping[str, Any]) -> None:
        super().__init__(context, name, settings)
        if name.endswith(".fifo"):
            raise ConfigurationError("FIFO topics are not supported; use a standard topic")
        if not _TOPIC_NAME.match(name):
            raise ConfigurationError(
                f"topic name {name!r} must be 1-256 letters, digits, '-' or '_'"
            )
        unknown = set(settings) - {"max_pending", "signature_version"}
        if unknown:
            raise ConfigurationError(f"unknown topic settings: {', '.join(sorted(unknown))}")
        self.signature_version = settings.get("signature_version", "1")
        self.limit = context.pending_limit("topic", name, settings.get("max_pending"), stored=False)
        self.subscriptions: list[Subscription] = []
        self._routes: dict[str, Subscription] = {}
        # First attempts under way in the background, with their subscription: each one
        # leaves as it ends, or at unsubscribe and stop if it was cancelled before it started.
        # (A publication makes at most one per subscription: the pair is the key.)
        self._deliveries: dict[tuple[Subscription, Notification], asyncio.Task[None]] = {}
        self._retries = DeliveryQueue(
            f"eventmesh.topic.{name}",
            lambda: context.backend.queues,
            context.clock,
            self._attempt_stored,
        )
        self._owner = uuid.uuid4().hex  # marks the deliveries this process counts as pending
        self._message_ids = RequestIds()
        self._times = IsoTimes()
        self._durable = False  # decided at start: first attempts go through the store too
        self._live = False
        self._signer = mesh_signer(context)
        self._sns_endpoints = sns_endpoints(context)
        self._confirmations = ConfirmationMessages(name)
        # Subscriptions ended through their UnsubscribeURL, which a visit of the
        # UnsubscribeConfirmation's SubscribeURL puts back.
        self._unsubscribed: dict[str, Subscription] = {}
        self.published = 0
        self.delivered = 0
        self.delivery_failures = 0
        self.filtered_out = 0

    @property
    def signature_version(self) -> SignatureVersion:
        """SNS's ``SignatureVersion`` topic attribute: how HTTP(S) deliveries are signed,
        ``"1"`` (SHA1withRSA, SNS's default) or ``"2"`` (SHA256withRSA); may be changed."""
        return self._signature_version

    @signature_version.setter
    def signature_version(self, value: str | int) -> None:
        self._signature_version = check_signature_version(value)

    @property
    def signing_cert_url(self) -> str:
        return f"https://sns.{self.context.region}.amazonaws.com/SimpleNotificationService-eventmesh.pem"

    # -- subscribing -------------------------------------------------------------------------
    def subscribe(
        self,
        target: Subscriber,
        *,
        filter_policy: FilterPolicy | Mapping[str, Any] | str | None = None,
        filter_policy_scope: Literal["MessageAttributes", "MessageBody"] = "MessageAttributes",
        raw_message_delivery: bool = False,
        delivery_policy: DeliveryPolicy | Mapping[str, Any] | None = None,
        confirm: bool = False,
    ) -> Subscription:
        """Subscribe a function, a queue, an http(s):// URL or an async callable.

        ``filter_policy`` is an SNS filter policy on the message attributes, or on the JSON
        body with ``filter_policy_scope="MessageBody"``. Subscribing the same endpoint again
        with the same settings returns the existing subscription, as SNS does.

        ``confirm=True`` subscribes an HTTP(S) endpoint as SNS's ``Subscribe`` does: pending
        confirmation, sent a ``SubscriptionConfirmation`` and delivered nothing until its
        ``SubscribeURL`` is visited (see :mod:`eventmesh.resources.sns_confirmation`). A
        subscription made in code is otherwise confirmed at once, as are functions, queues
        and callables (the topic's own account's, which SNS confirms at once).
        """
        policy: FilterPolicy | None
        if filter_policy is None:
            policy = None
        elif isinstance(filter_policy, FilterPolicy):
            policy = filter_policy
        else:
            policy = FilterPolicy(filter_policy, filter_policy_scope)
        delivery = (
            DeliveryPolicy.from_sns(delivery_policy)
            if isinstance(delivery_policy, Mapping)
            else delivery_policy
        )
        subscription = Subscription(
            self,
            target,
            filter_policy=policy,
            raw_message_delivery=raw_message_delivery,
            delivery_policy=delivery,
            confirm=confirm,
        )
        for existing in self.subscriptions:
            if existing._same_endpoint(target):
                if (
                    existing.raw_message_delivery == subscription.raw_message_delivery
                    and existing.delivery_policy == subscription.delivery_policy
                    and _policy_source(existing.filter_policy) == _policy_source(policy)
                ):
                    return existing
                raise ConfigurationError(
                    f"{existing.endpoint} is already subscribed to topic {self.name!r} with "
                    "other settings"
                )
        if self._live:
            subscription.resolve()
        self.subscriptions.append(subscription)
        self._routes[subscription.route] = subscription
        if self._live and subscription.confirmation is not None:
            self._confirmations.send(subscription.confirmation)
        return subscription

    def subscription_confirmed(self, subscription_arn: str) -> None:
        """A visit of a ``SubscribeURL`` confirmed the subscription (called by the path)."""
        for subscription in self.subscriptions:
            if subscription.arn == subscription_arn and subscription.confirmation is not None:
                subscription.confirmation.pending = False

    async def unsubscribe_arn(self, subscription_arn: str) -> bool:
        """A visit of an ``UnsubscribeURL``: False when no subscription has that ARN."""
        for subscription in self.subscriptions:
            if subscription.arn == subscription_arn:
                await self.unsubscribe(subscription)
                if subscription.confirmation is not None:  # HTTP(S): SNS confirms it
                    self._unsubscribed[subscription_arn] = subscription
                    self._confirmations.send(subscription.confirmation, unsubscribed=True)
                return True
        return False

    def restore_subscription(self, subscription_arn: str) -> bool:
        """A visit of an ``UnsubscribeConfirmation``'s ``SubscribeURL``: the subscription
        ended through its ``UnsubscribeURL`` comes back (False when there is none)."""
        subscription = self._unsubscribed.pop(subscription_arn, None)
        if subscription is None:  # none ended here, or already back
            return any(s.arn == subscription_arn for s in self.subscriptions)
        if not any(s._same_endpoint(subscription.target) for s in self.subscriptions):
            self.subscriptions.append(subscription)
            self._routes[subscription.route] = subscription
        return True

    def _route_for(self, target: Subscriber) -> str:
        """A stable id of an endpoint of this topic (a hash: a URL's credentials stay out of
        the store); a second callable with the same name gets the next free id."""
        if isinstance(target, Function | Queue):
            key = f"{type(target).__name__}:{target.name}"
        elif isinstance(target, str):
            key = target
        else:
            name = getattr(target, "__qualname__", type(target).__qualname__)
            key = f"callable:{getattr(target, '__module__', '')}.{name}"
        for index in itertools.count():
            seed = f"{self.arn}\n{key}\n{index}".encode()
            route = hashlib.sha256(seed).hexdigest()[:32]
            if route not in self._routes:
                return route
        raise AssertionError("unreachable")

    async def unsubscribe(self, subscription: Subscription) -> None:
        """Stop delivering to ``subscription``; its deliveries under way (retries) stop too."""
        if subscription not in self.subscriptions:
            return
        self.subscriptions.remove(subscription)
        self._routes.pop(subscription.route, None)
        tasks = [task for (owner, _), task in self._deliveries.items() if owner is subscription]
        if subscription.confirmation is not None:
            tasks += self._confirmations.of(subscription.confirmation)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
            self._forget(tasks)
        await subscription.close()

    # -- publishing --------------------------------------------------------------------------
    async def publish(
        self,
        message: Any,
        subject: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> str:
        """Publish to every subscription whose filter policy accepts it; returns the MessageId.

        A message that is not a str is sent as JSON. Returns once the deliveries are queued,
        not delivered; the mesh's drain waits for them. At the topic's ``max_pending``, waits
        up to ``timeout`` seconds for room (None: as long as needed; 0: not at all), then
        raises :class:`~eventmesh.BackpressureError` having delivered nothing.
        """
        if timeout is not None:
            timeout = check_timeout(timeout)
        if not self._live:
            if not self.context.running:
                raise EventMeshError(
                    f"topic {self.name!r} cannot publish before the mesh runs: use "
                    "`async with mesh:` first"
                )
            self._activate()
        text = message_text(message)
        if not text:
            raise PayloadError("message: an SNS message must not be empty")
        check_subject(subject)
        encoded = encode_sns_attributes(attributes)
        size = len(text.encode()) + attribute_size(encoded)
        if size > MAX_MESSAGE_BYTES:
            raise PayloadError(
                f"message of {size} bytes (with its attributes) is over SNS's 256 KB limit"
            )
        limit = self.limit
        if not limit.try_acquire():
            await limit.acquire(timeout)  # held while the deliveries are handed out
        try:
            return await self._fan_out(text, subject, encoded)
        finally:
            limit.release()

    async def _fan_out(
        self, text: str, subject: str | None, encoded: Mapping[str, Mapping[str, str]]
    ) -> str:
        message_id = self._message_ids.next()
        notification = Notification(
            message_id=message_id,
            topic_arn=self.arn,
            message=text,
            subject=subject,
            timestamp=self._times.millis(self.context.clock.time()),
            attributes=encoded,
            signing_cert_url=self.signing_cert_url,
        )
        self.published += 1
        stored: list[tuple[str, bytes]] = []
        body: bytes | None = None
        cancelled: asyncio.CancelledError | None = None
        invoke = self.context.invoke_async
        verdicts: dict[str, bool] = {}
        spawn: Callable[..., asyncio.Task[None]] | None = None
        name = ""
        context: contextvars.Context | None = None
        shared = attributes = b""  # a Lambda event's shared members, once a function needs them
        for subscription in list(self.subscriptions):
            confirmation = subscription.confirmation
            if confirmation is not None and not await confirmation.deliverable():
                continue  # pending confirmation, or unsubscribed through its URL
            key = subscription.policy_key
            if key is not None:
                # Each distinct policy is evaluated once per publication.
                accepted = verdicts.get(key)
                if accepted is None:
                    accepted = verdicts[key] = subscription.accepts(notification)
                if not accepted:
                    subscription.filtered_out += 1
                    self.filtered_out += 1
                    continue
            if self._durable:
                # On durable storage every delivery is stored first: a crash loses none.
                body = body or self._body(notification)
                stored.append((subscription.route, body))
                continue
            if subscription.protocol in _LOCAL_HAND_OFF and cancelled is None:
                # A function's async queue or a queue's store takes it at once: try inline
                # (no task per delivery), and retry in the background only if that failed;
                # a full one is waited for in the background, not by the publisher.
                try:
                    function = subscription.function
                    if function is not None:
                        # The hot path: what subscription.attempt does for a function, with
                        # no Outgoing and no target's frame between (tests hold them equal).
                        if not shared:
                            shared, attributes = notification.lambda_parts()
                        event = EncodedEvent(
                            b"".join(
                                (
                                    subscription._lambda_open,
                                    shared,
                                    subscription._lambda_unsubscribe,
                                    attributes,
                                    b"}}]}",
                                )
                            )
                        )
                        await invoke(function, event, trigger="pubsub", timeout=0.0)
                    else:
                        await subscription.attempt(notification, timeout=0.0)
                except BackpressureError:
                    pass
                except asyncio.CancelledError as exc:
                    # The publisher is cancelled while its deliveries are handed out: this
                    # one and those after it go on in the background, as any delivery.
                    cancelled = exc
                except Exception as exc:
                    subscription.attempts += 1
                    if not subscription.retryable(exc):  # a client error: no retry helps
                        self._gave_up(subscription, notification.message_id, exc, 1)
                        continue
                else:
                    subscription.attempts += 1
                    subscription.delivered += 1
                    self.delivered += 1
                    continue
            if spawn is None:  # the first delivery of this publication in the background
                spawn = asyncio.get_running_loop().create_task
                name = f"sns.{self.name}.{message_id}"
                context = task_context()  # None (a copy of the current one) stays None
            # A task copies the context: the delivery keeps the publisher's trace.
            task = spawn(
                self._deliver(subscription, notification),
                name=name,
                context=context if context is None else task_context(),
            )
            self._deliveries[subscription, notification] = task  # until _deliver ends
            self.limit.add()
        if stored:
            for _ in stored:
                self.limit.add()
            try:
                await self._retries.put_many(stored, trace=self._trace())
            except BaseException:
                for _ in stored:  # nothing was stored: give the places back
                    self.limit.release()
                raise
        if cancelled is not None:
            raise cancelled
        return message_id

    async def send(self, message: Any, attributes: MessageAttributes | None = None) -> str:
        """As a destination (on_success, on_failure, dead letters): publish ``message``."""
        return await self.publish(message, attributes=attributes)

    # -- delivering --------------------------------------------------------------------------
    async def _deliver(self, subscription: Subscription, notification: Notification) -> None:
        """A first attempt in memory; a retry waits in the store (see :meth:`_retry`).
        Run as a task of its own, which it takes out of ``_deliveries`` as it ends."""
        handed_off = False
        try:
            call = subscription.call
            if call is None:
                await subscription.attempt(notification)
            else:
                # What the callable's target does (tests hold them equal), without its frames:
                # a new envelope, the coroutine awaited contained (see eventmesh._callbacks).
                await contained(call(subscription.envelope(notification)))
        except Exception as exc:
            subscription.attempts += 1
            handed_off = await self._retry(subscription, notification, exc, 0, None)
        else:
            subscription.attempts += 1
            subscription.delivered += 1
            self.delivered += 1
        finally:
            # In the task's own frame, not in a done callback (a second callback per delivery).
            self._deliveries.pop((subscription, notification), None)
            if not handed_off:
                self.limit.release()

    def _forget(self, tasks: list[asyncio.Task[Any]]) -> None:
        """Deliveries that ended (cancelled) without running, so never left ``_deliveries``
        nor gave their place back: they do now."""
        ended = set(tasks)
        for key, task in list(self._deliveries.items()):
            if task in ended:
                del self._deliveries[key]
                self.limit.release()

    async def _retry(
        self,
        subscription: Subscription,
        notification: Notification,
        exc: Exception,
        retries: int,
        first_attempt_at: float | None,
    ) -> bool:
        """After a failed first attempt made in memory: store the delivery to be retried
        when the policy says (True), or give up (False)."""
        decision = self._next_retry(subscription, exc, retries, 0.0)
        if isinstance(decision, GiveUp):
            self._gave_up(subscription, notification.message_id, exc, retries + 1)
            return False
        self._log_retry(subscription, exc, decision)
        await self._retries.put(
            subscription.route,
            self._body(notification),
            delay=decision,
            trace=self._trace(),
            retries=retries + 1,
            first_attempt_at=first_attempt_at,
        )
        return True

    async def _attempt_stored(self, stored: StoredDelivery) -> float | None:
        """A delivery from the store (a retry, or on durable storage any attempt): None when
        it is finished, else the delay before the next retry."""
        data = orjson.loads(stored.body)
        counted = data.get("owner") == self._owner
        subscription = self._routes.get(stored.route)
        notification = self._notification(data)
        if subscription is None:
            logger.warning(
                "topic %s: delivery of %s dropped: its subscription no longer exists",
                self.name,
                notification.message_id,
            )
            self._finished(counted)
            return None
        chain = data.get("chain")
        token = None if chain is None else invocation_chain.set(chain)
        try:
            await subscription.attempt(notification)
        except Exception as exc:
            subscription.attempts += 1
            age = self.context.clock.time() - stored.first_attempt_at
            decision = self._next_retry(subscription, exc, stored.retries, age)
            if isinstance(decision, GiveUp):
                self._gave_up(subscription, notification.message_id, exc, stored.retries + 1)
                self._finished(counted)
                return None
            self._log_retry(subscription, exc, decision)
            return decision
        else:
            subscription.attempts += 1
            self._delivered(subscription)
            self._finished(counted)
            return None
        finally:
            if token is not None:
                invocation_chain.reset(token)

    def _finished(self, counted: bool) -> None:
        if counted:
            self.limit.release()

    def _next_retry(
        self, subscription: Subscription, exc: Exception, retries: int, age: float
    ) -> float | GiveUp:
        if not subscription.retryable(exc):
            return GiveUp("NotRetryable")
        return subscription.delivery_policy.next_retry(retries, age, self.context.random)

    def _delivered(self, subscription: Subscription) -> None:
        subscription.delivered += 1
        self.delivered += 1

    def _gave_up(
        self, subscription: Subscription, message_id: str, exc: Exception, attempts: int
    ) -> None:
        subscription.failed += 1
        self.delivery_failures += 1
        logger.warning(
            "topic %s: delivery of %s to %s failed after %d attempt(s): %s",
            self.name,
            message_id,
            subscription.endpoint,
            attempts,
            exc,
            # Our own errors (a loop stopped, a payload refused) need no traceback.
            exc_info=not isinstance(exc, DeliveryError | EventMeshError),
        )

    def _log_retry(self, subscription: Subscription, exc: Exception, delay: float) -> None:
        logger.debug(
            "topic %s: delivery to %s failed (%s); retrying in %g s",
            self.name,
            subscription.endpoint,
            exc,
            delay,
        )

    def _body(self, notification: Notification) -> bytes:
        """A notification as the store keeps it, with what travels beside it (the chain of
        invocations, for recursion detection) and who counts it as pending."""
        data: dict[str, Any] = {
            "id": notification.message_id,
            "message": notification.message,
            "subject": notification.subject,
            "timestamp": notification.timestamp,
            "attributes": notification.attributes,
            "owner": self._owner,
        }
        chain = invocation_chain.get()
        if chain:
            data["chain"] = chain
        return orjson.dumps(data)

    def _notification(self, data: Mapping[str, Any]) -> Notification:
        return Notification(
            message_id=data["id"],
            topic_arn=self.arn,
            message=data["message"],
            subject=data["subject"],
            timestamp=data["timestamp"],
            attributes=data["attributes"],
            signing_cert_url=self.signing_cert_url,
        )

    def _trace(self) -> dict[str, str]:
        trace: dict[str, str] = {}
        if self.context.telemetry.tracing:
            propagate.inject(trace)
        return trace

    # -- lifecycle ---------------------------------------------------------------------------
    def _activate(self) -> None:
        for subscription in self.subscriptions:
            subscription.resolve()
        self._live = True

    async def start(self) -> None:
        self._activate()
        self._durable = not self.context.backend.in_memory
        self._sns_endpoints.topics[self.arn] = self
        if any(s.protocol in ("http", "https") for s in self.subscriptions):
            # Load (or make) the signing key now: the front serves its certificate from
            # the start, whichever worker signed the message a receiver verifies.
            await self._signer.key()
        self._retries.start()
        for subscription in self.subscriptions:
            if subscription.pending_confirmation:
                assert subscription.confirmation is not None
                self._confirmations.send(subscription.confirmation)  # the message may wait
            elif subscription.confirmation is not None:
                await subscription.confirmation.start()  # renews one unsubscribed by URL

    async def stop(self) -> None:
        self._live = False
        if self._sns_endpoints.topics.get(self.arn) is self:
            del self._sns_endpoints.topics[self.arn]
        await self._confirmations.stop()
        self.delivery_failures += await abandon_deliveries(
            set(self._deliveries.values()), 0, f"topic {self.name}", logger
        )
        self._forget([task for task in self._deliveries.values() if task.done()])
        await self._retries.stop()
        self.delivery_failures += await self._retries.report_at_stop(
            f"topic {self.name}", self._durable, logger
        )
        for subscription in self.subscriptions:
            await subscription.close()

    async def pending(self) -> int:
        """Deliveries under way; those waiting to retry are not waited for by a drain."""
        return len(self._deliveries) + await self._retries.pending()


def _policy_key(policy: FilterPolicy | None) -> str | None:
    """The same text for equal policies (their JSON with sorted keys, and their scope)."""
    if policy is None:
        return None
    return json.dumps([policy.scope, policy.source], sort_keys=True)


def _policy_source(policy: FilterPolicy | None) -> Any:
    return None if policy is None else (policy.source, policy.scope)
