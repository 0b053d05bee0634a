"""SNS's subscription confirmation for HTTP(S) subscribers, and the paths it is done through.

A subscription asked to be confirmed (``topic.subscribe(url, confirm=True)``, as SNS's
``Subscribe`` API and templates subscribe an HTTP(S) endpoint) starts *pending
confirmation*: the endpoint is sent a signed ``SubscriptionConfirmation`` message with a
``Token`` and a ``SubscribeURL``, and gets no notification until someone visits that URL
(or calls ``ConfirmSubscription`` with the token); messages published meanwhile are not
kept for it, as SNS does not keep them. The confirmation message is retried under the
subscription's HTTP/S delivery policy. A token is valid for :data:`TOKEN_LIFETIME` on the
mesh's clock; a visit with a wrong or expired token gets SNS's ``InvalidParameter`` error.

The state lives in the mesh's key-value store, so that on a shared backend the process that
answers the visit need not be the one that sent the message: a pending subscription's state
(with the token's lifetime as its expiry) and, under a hash of each token, what it confirms.
A process whose subscription is pending re-reads the state when it publishes, until it
finds it confirmed.

The mesh's HTTP front serves, under ``/_eventmesh/sns/``: ``confirm``
(``?Action=ConfirmSubscription&TopicArn=...&Token=...``, answering SNS's
``ConfirmSubscriptionResponse`` XML) and ``unsubscribe``
(``?Action=Unsubscribe&SubscriptionArn=...&Token=...``, SNS's ``UnsubscribeURL``, answering
its ``UnsubscribeResponse``): every process sharing the store stops delivering to it, and the
one that answers sends the endpoint SNS's ``UnsubscribeConfirmation``, whose
``SubscribeURL`` puts the subscription back (while its token is valid). A process that
starts again subscribes anew (its ``subscribe`` is a new ``Subscribe``), which renews it.

Like SNS's, the ``UnsubscribeURL`` needs no credentials: what makes it unguessable is its
``Token``, an HMAC of the subscription's ARN under a secret of the mesh's store
(:meth:`MeshSigner.unsubscribe_token`), since the mesh's ARNs are derived from the topic and
the endpoint. A visit without the subscription's token gets SNS's ``AuthorizationError``
(403) before anything else is looked at, so it learns nothing of which subscriptions exist.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import uuid
import weakref
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import orjson

from eventmesh._http_messages import HttpRequest, HttpResponse
from eventmesh._ids import IsoTimes
from eventmesh._redact import RedactingFilter, redact_url
from eventmesh.delivery.errors import classify
from eventmesh.delivery.retry import GiveUp, RetryPolicy
from eventmesh.resources.sns_signing import MeshSigner, SignatureVersion, mesh_signer

if TYPE_CHECKING:
    from collections.abc import Callable

    from eventmesh._endpoints import MeshEndpoints
    from eventmesh.resources.context import ResourceContext

__all__ = [
    "CONFIRM_PATH",
    "TOKEN_LIFETIME",
    "UNSUBSCRIBE_PATH",
    "Confirmation",
    "ConfirmationMessages",
    "SnsApiError",
    "SnsEndpoints",
    "sns_endpoints",
]

logger = logging.getLogger("eventmesh.topics")
logger.addFilter(RedactingFilter())

TOKEN_LIFETIME = 2 * 86400.0
"""Seconds a confirmation token is valid: SNS's ``Subscribe`` reference says "Confirmation
tokens are valid for two days", and SNS deletes subscriptions left pending for 48 hours
(since May 2023; three days before)."""

FRONT_WAIT = 10.0
"""Seconds (real time) a confirmation message waits for the mesh's HTTP front to serve: its
``SubscribeURL`` must point at the front, which starts just after the mesh."""

CONFIRM_PATH = "/_eventmesh/sns/confirm"
UNSUBSCRIBE_PATH = "/_eventmesh/sns/unsubscribe"
_XMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"
_STATE = "eventmesh.sns.subscription:"
_TOKEN = "eventmesh.sns.token:"
_PENDING = orjson.dumps({"state": "pending"})
_CONFIRMED = orjson.dumps({"state": "confirmed"})
_UNSUBSCRIBED = orjson.dumps({"state": "unsubscribed"})


def _token_key(token: str) -> str:
    return _TOKEN + hashlib.sha256(token.encode()).hexdigest()


class SnsApiError(Exception):
    """An SNS API error: its HTTP status, code (``InvalidParameter``...) and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class ConfirmableTopic(Protocol):
    """What the paths need of a topic of this mesh."""

    @property
    def arn(self) -> str: ...

    def subscription_confirmed(self, subscription_arn: str) -> None:
        """The subscription (if this process has it) is confirmed."""
        ...

    async def unsubscribe_arn(self, subscription_arn: str) -> bool:
        """End the subscription; False when this process has none of that ARN."""
        ...

    def restore_subscription(self, subscription_arn: str) -> bool:
        """Put back a subscription ended by :meth:`unsubscribe_arn`; False when this
        process has none to put back."""
        ...


class Confirmation:
    """An HTTP(S) subscription's confirmation messages: :attr:`pending` until confirmed
    when it was asked for (see the module docstring), and the ``UnsubscribeConfirmation``
    sent once it is unsubscribed. ``url`` is the endpoint; ``signature_version`` reads the
    topic's setting."""

    def __init__(
        self,
        context: ResourceContext,
        *,
        topic_arn: str,
        subscription_arn: str,
        url: str,
        policy: RetryPolicy,
        signature_version: Callable[[], SignatureVersion],
        pending: bool,
    ) -> None:
        self._context = context
        self.topic_arn = topic_arn
        self.subscription_arn = subscription_arn
        self._url = url
        self._policy = policy
        self._signature_version = signature_version
        self._state_key = _STATE + subscription_arn
        self.pending = pending
        self.sent = 0
        """Confirmation messages this process sent (each counted once, retries aside)."""

    async def deliverable(self) -> bool:
        """Whether a publication goes to it now: not while it is pending confirmation, nor
        once unsubscribed through its URL, by this process or another sharing the store."""
        stored = await self._context.backend.values.get(self._state_key)
        state = None if stored is None else orjson.loads(stored.value).get("state")
        if state == "confirmed":
            self.pending = False
            return True
        return state != "unsubscribed" and not self.pending

    async def start(self) -> None:
        """As the subscription starts (a ``Subscribe``): renew it if it was unsubscribed
        through its URL; if it is to be confirmed, ask for confirmation unless it is
        confirmed already or a token sent earlier (by any process on this mesh's storage)
        is still valid."""
        values = self._context.backend.values
        stored = await values.get(self._state_key)
        if stored is not None and orjson.loads(stored.value).get("state") == "unsubscribed":
            await values.delete(self._state_key, only_if_version=stored.version)
            stored = None
        if not self.pending:
            return
        if stored is None:
            if await values.put(self._state_key, _PENDING, ttl=TOKEN_LIFETIME, only_if_absent=True):
                await self.request()
                return
            stored = await values.get(self._state_key)  # another process got there first
        if stored is not None and orjson.loads(stored.value).get("state") == "confirmed":
            self.pending = False

    async def request(self) -> None:
        """Send a ``SubscriptionConfirmation`` with a new token (earlier ones stay valid
        until they expire), retried under the delivery policy; returns when it is
        delivered or given up on."""
        values = self._context.backend.values
        token = await self._token(restore=False)
        state = await values.get(self._state_key)
        if state is None or orjson.loads(state.value).get("state") != "confirmed":
            await values.put(self._state_key, _PENDING, ttl=TOKEN_LIFETIME)
        self.sent += 1
        await self._send(
            "SubscriptionConfirmation",
            token,
            f"You have chosen to subscribe to the topic {self.topic_arn}.\n"
            "To confirm the subscription, visit the SubscribeURL included in this message.",
        )

    async def unsubscribed(self) -> None:
        """Send the ``UnsubscribeConfirmation`` SNS sends an endpoint once it is
        unsubscribed; its ``SubscribeURL`` restores the subscription (until the token
        expires)."""
        token = await self._token(restore=True)
        await self._send(
            "UnsubscribeConfirmation",
            token,
            f"You have chosen to deactivate subscription {self.subscription_arn}.\n"
            "To cancel this operation and restore the subscription, visit the SubscribeURL "
            "included in this message.",
        )

    async def _token(self, *, restore: bool) -> str:
        """A new token, stored (by its hash) with what a visit does."""
        token = secrets.token_hex(64)
        record: dict[str, Any] = {"topic": self.topic_arn, "subscription": self.subscription_arn}
        if restore:
            record["restore"] = True
        values = self._context.backend.values
        await values.put(_token_key(token), orjson.dumps(record), ttl=TOKEN_LIFETIME)
        return token

    async def _send(self, kind: str, token: str, message: str) -> None:
        """Sign and POST a confirmation message of ``kind`` (SNS's fields, in its order)."""
        # The front starts just after the mesh: wait for it (an embedding app told its URL
        # has set it already); without one, the message says http://127.0.0.1.
        await self._context.endpoints.serving(FRONT_WAIT)
        fields = {
            "Type": kind,
            "MessageId": str(uuid.uuid4()),
            "Token": token,
            "TopicArn": self.topic_arn,
            "Message": message,
            "SubscribeURL": sns_endpoints(self._context).subscribe_url(self.topic_arn, token),
            "Timestamp": IsoTimes().millis(self._context.clock.time()),
        }
        signer = mesh_signer(self._context)
        key = await signer.key()
        version = self._signature_version()
        fields["SignatureVersion"] = version
        fields["Signature"] = key.sign(fields, version)
        fields["SigningCertURL"] = signer.certificate_url(key)
        headers = {
            "x-amz-sns-message-type": kind,
            "x-amz-sns-message-id": fields["MessageId"],
            "x-amz-sns-topic-arn": self.topic_arn,
            "x-amz-sns-subscription-arn": self.subscription_arn,
            "Content-Type": "text/plain; charset=UTF-8",
            "User-Agent": "Amazon Simple Notification Service Agent",
        }
        await self._post(orjson.dumps(fields), headers)

    async def _post(self, body: bytes, headers: dict[str, str]) -> None:
        clock = self._context.clock
        first_attempt = clock.now()
        retries = 0
        while True:
            try:
                await self._context.http.post(self._url, body, headers)
                return
            except Exception as exc:
                retryable = classify(exc)[1]
                age = clock.now() - first_attempt
                decision = (
                    self._policy.next_retry(retries, age, self._context.random)
                    if retryable
                    else GiveUp("NotRetryable")
                )
                if isinstance(decision, GiveUp):
                    logger.warning(
                        "subscription confirmation to %s failed after %d attempt(s): %s",
                        redact_url(self._url),
                        retries + 1,
                        exc,
                    )
                    return
            await clock.sleep(decision)
            retries += 1


class ConfirmationMessages:
    """The confirmation work a topic has under way in the background (a message may be
    retried for a minute or more): :meth:`send` starts it, :meth:`stop` ends it all."""

    def __init__(self, topic_name: str) -> None:
        self._name = topic_name
        self._tasks: dict[asyncio.Task[None], Confirmation] = {}

    def send(self, confirmation: Confirmation, *, unsubscribed: bool = False) -> None:
        """:meth:`Confirmation.start` (renew, ask for confirmation when asked to), or with
        ``unsubscribed`` :meth:`Confirmation.unsubscribed`."""
        work = confirmation.unsubscribed() if unsubscribed else confirmation.start()
        task = asyncio.create_task(work, name=f"sns.{self._name}.confirmation")
        self._tasks[task] = confirmation
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "topic %s: subscription confirmation failed", self._name, exc_info=task.exception()
            )

    def of(self, confirmation: Confirmation) -> list[asyncio.Task[None]]:
        """The work under way for one subscription (to cancel when it ends)."""
        return [task for task, owner in self._tasks.items() if owner is confirmation]

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _params(request: HttpRequest) -> dict[str, str]:
    """The query's parameters (and a form body's, as AWS's query API takes both)."""
    text = request.query_string
    content_type = request.header("content-type") or ""
    if request.method == "POST" and content_type.startswith("application/x-www-form-urlencoded"):
        text = f"{text}&{request.body.decode('utf-8', 'replace')}"
    return {name: values[0] for name, values in parse_qs(text, keep_blank_values=True).items()}


def _xml(status: int, text: str) -> HttpResponse:
    return HttpResponse(status, [("content-type", "text/xml")], text.encode())


def _error(status: int, code: str, message: str) -> HttpResponse:
    """SNS's error document (the query API's ``ErrorResponse``)."""
    return _xml(
        status,
        f'<ErrorResponse xmlns="{_XMLNS}">\n  <Error>\n    <Type>Sender</Type>\n'
        f"    <Code>{escape(code)}</Code>\n    <Message>{escape(message)}</Message>\n"
        f"  </Error>\n  <RequestId>{uuid.uuid4()}</RequestId>\n</ErrorResponse>\n",
    )


def _metadata() -> str:
    return (
        f"  <ResponseMetadata>\n    <RequestId>{uuid.uuid4()}</RequestId>\n  </ResponseMetadata>\n"
    )


class SnsEndpoints:
    """The confirm and unsubscribe paths of one mesh, and its topics by ARN."""

    def __init__(self, context: ResourceContext) -> None:
        self._context = context
        self.topics: dict[str, ConfirmableTopic] = {}
        self._signer: MeshSigner = mesh_signer(context)
        context.endpoints.add(CONFIRM_PATH, self.confirm)
        context.endpoints.add(UNSUBSCRIBE_PATH, self.unsubscribe)

    def subscribe_url(self, topic_arn: str, token: str) -> str:
        url = self._context.endpoints.url(CONFIRM_PATH)
        return f"{url}?Action=ConfirmSubscription&TopicArn={topic_arn}&Token={token}"

    def unsubscribe_url(self, subscription_arn: str, token: str) -> str:
        """The ``UnsubscribeURL``; ``token`` is :meth:`MeshSigner.unsubscribe_token`'s."""
        url = self._context.endpoints.url(UNSUBSCRIBE_PATH)
        return f"{url}?Action=Unsubscribe&SubscriptionArn={subscription_arn}&Token={token}"

    async def confirm_subscription(self, topic_arn: str, token: str) -> str:
        """SNS's ``ConfirmSubscription``: the subscription's ARN, or :class:`SnsApiError`
        (for SNS's API as much as for a visit of a ``SubscribeURL``)."""
        if not topic_arn:
            raise SnsApiError(400, "InvalidParameter", "Invalid parameter: TopicArn")
        values = self._context.backend.values
        stored = await values.get(_token_key(token)) if token else None
        record = orjson.loads(stored.value) if stored is not None else None
        if record is None or record["topic"] != topic_arn:
            raise SnsApiError(400, "InvalidParameter", "Invalid parameter: Token")
        subscription_arn: str = record["subscription"]
        topic = self.topics.get(topic_arn)
        # An UnsubscribeConfirmation's token puts the subscription back.
        restored = topic is not None and topic.restore_subscription(subscription_arn)
        if record.get("restore") and not restored:
            raise SnsApiError(404, "NotFound", "Subscription does not exist")
        await values.put(_STATE + subscription_arn, _CONFIRMED)
        if topic is not None:
            topic.subscription_confirmed(subscription_arn)
        return subscription_arn

    async def unsubscribe_subscription(self, subscription_arn: str) -> None:
        """SNS's ``Unsubscribe`` of an HTTP(S) or other subscription of this mesh's topics;
        :class:`SnsApiError` when there is none of that ARN."""
        if not subscription_arn:
            raise SnsApiError(400, "InvalidParameter", "Invalid parameter: SubscriptionArn")
        topic = self.topics.get(subscription_arn.rpartition(":")[0])
        if topic is None or not await topic.unsubscribe_arn(subscription_arn):
            raise SnsApiError(404, "NotFound", "Subscription does not exist")
        # Every process sharing the store stops delivering to it (see deliverable()).
        await self._context.backend.values.put(_STATE + subscription_arn, _UNSUBSCRIBED)

    async def confirm(self, request: HttpRequest) -> HttpResponse:
        """The ``SubscribeURL`` path: :meth:`confirm_subscription`, answered in XML."""
        if request.method not in ("GET", "POST"):
            return HttpResponse(405, [("allow", "GET, POST")])
        params = _params(request)
        if params.get("Action", "ConfirmSubscription") != "ConfirmSubscription":
            return _error(400, "InvalidAction", f"Could not find operation {params['Action']}")
        try:
            arn = await self.confirm_subscription(
                params.get("TopicArn", ""), params.get("Token", "")
            )
        except SnsApiError as exc:
            return _error(exc.status, exc.code, exc.message)
        return _xml(
            200,
            f'<ConfirmSubscriptionResponse xmlns="{_XMLNS}">\n  <ConfirmSubscriptionResult>\n'
            f"    <SubscriptionArn>{escape(arn)}</SubscriptionArn>\n"
            f"  </ConfirmSubscriptionResult>\n{_metadata()}</ConfirmSubscriptionResponse>\n",
        )

    async def unsubscribe(self, request: HttpRequest) -> HttpResponse:
        """The ``UnsubscribeURL`` path: :meth:`unsubscribe_subscription`, answered in XML."""
        if request.method not in ("GET", "POST"):
            return HttpResponse(405, [("allow", "GET, POST")])
        params = _params(request)
        if params.get("Action", "Unsubscribe") != "Unsubscribe":
            return _error(400, "InvalidAction", f"Could not find operation {params['Action']}")
        arn = params.get("SubscriptionArn", "")
        try:
            if not arn:
                raise SnsApiError(400, "InvalidParameter", "Invalid parameter: SubscriptionArn")
            if not await self._signer.unsubscribe_token_matches(arn, params.get("Token", "")):
                raise SnsApiError(
                    403,
                    "AuthorizationError",
                    "Not authorized to unsubscribe: the UnsubscribeURL's Token is missing or "
                    "is not this subscription's",
                )
            await self.unsubscribe_subscription(arn)
        except SnsApiError as exc:
            return _error(exc.status, exc.code, exc.message)
        return _xml(
            200, f'<UnsubscribeResponse xmlns="{_XMLNS}">\n{_metadata()}</UnsubscribeResponse>\n'
        )


_ENDPOINTS: weakref.WeakKeyDictionary[MeshEndpoints, SnsEndpoints] = weakref.WeakKeyDictionary()


def sns_endpoints(context: ResourceContext) -> SnsEndpoints:
    """The one :class:`SnsEndpoints` of the mesh ``context`` belongs to."""
    endpoints = context.endpoints
    found = _ENDPOINTS.get(endpoints)
    if found is None:
        found = _ENDPOINTS[endpoints] = SnsEndpoints(context)
    return found
