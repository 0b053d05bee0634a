"""SNS's operations on the mesh's topics (:class:`~eventmesh.resources.topic.Topic`).

Topics and subscriptions made through the endpoint are recorded in the catalog
(:mod:`eventmesh.aws.catalog`; kinds ``sns.topic`` and ``sns.subscription``), so every worker
on the same storage has them: a worker that publishes reads the topic's recorded
subscriptions first, so a subscription made through another worker gets the message.

Subscribers: ``sqs`` (the endpoint is a queue's ARN), ``lambda`` (a function's ARN, with or
without a qualifier), ``http``/``https`` (sent SNS's signed ``SubscriptionConfirmation``
first, as SNS does; :mod:`eventmesh.resources.sns_confirmation`). Subscription attributes:
``FilterPolicy``, ``FilterPolicyScope``, ``RawMessageDelivery``, ``DeliveryPolicy``
(HTTP/S). Errors use SNS's query codes (``NotFound``, ``InvalidParameter``, ...).
"""

from __future__ import annotations

import base64
import logging
import re
import weakref
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from eventmesh._errors import BackpressureError, EventMeshError, PayloadError
from eventmesh.aws import catalog
from eventmesh.aws.operations import AwsCall, AwsError, operation
from eventmesh.aws.services.sqs_queues import KIND as QUEUE_KIND
from eventmesh.aws.services.sqs_queues import find_queue, started
from eventmesh.declare import DeclarationError
from eventmesh.declare.sns import (
    check_endpoint,
    check_protocol,
    check_queue_endpoint,
    fifo_topic_name,
    subscription_settings,
    topic_attributes,
    topic_attributes_given,
)
from eventmesh.resources.sns_confirmation import SnsApiError, sns_endpoints
from eventmesh.resources.topic import Subscription, Topic

if TYPE_CHECKING:
    from eventmesh._mesh import Mesh

__all__ = ["SUBSCRIPTION_KIND", "TOPIC_KIND"]

logger = logging.getLogger("eventmesh.aws")

TOPIC_KIND = "sns.topic"
SUBSCRIPTION_KIND = "sns.subscription"
PAGE = 100
"""Topics (ListTopics) and subscriptions (ListSubscriptionsByTopic) per page, as SNS."""

_TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,256}")
_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
_MAX_BATCH_BYTES = 256 * 1024


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidParameter", message)


def _not_found(what: str = "Topic") -> AwsError:
    return AwsError("NotFound", f"{what} does not exist", 404)


def _out(**members: Any) -> dict[str, Any]:
    return {name: value for name, value in members.items() if value is not None}


def _topic_arn(call: AwsCall, name: str) -> str:
    return f"arn:aws:sns:{call.mesh.region}:{call.mesh.account_id}:{name}"


def _name_of_arn(arn: str, what: str = "TopicArn") -> str:
    parts = arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sns" or not parts[5]:
        raise _invalid(f"Invalid parameter: {what}")
    return parts[5]


# -- topics ----------------------------------------------------------------------------------
_RECORDED: weakref.WeakKeyDictionary[Topic, bool] = weakref.WeakKeyDictionary()


async def _find_topic(mesh: Mesh, name: str) -> Topic | None:
    resource = mesh.context.find_resource(name)
    if isinstance(resource, Topic):
        return resource
    if resource is None and await catalog.load(mesh, TOPIC_KIND, name):
        found = mesh.context.find_resource(name)
        return found if isinstance(found, Topic) else None
    return None


async def _topic(call: AwsCall, arn: str) -> Topic:
    topic = await _find_topic(call.mesh, _name_of_arn(arn))
    if topic is None:
        raise _not_found()
    return topic


def _check_topic_attributes(attributes: Mapping[str, str]) -> None:
    try:
        topic_attributes(attributes)
    except DeclarationError as exc:
        raise _invalid(str(exc)) from None


def _make_topic(mesh: Mesh, name: str, attributes: Mapping[str, str]) -> Topic:
    try:
        topic = mesh.topic(name)
    except EventMeshError as exc:
        raise _invalid(f"Invalid parameter: Topic Name ({exc})") from None
    if "SignatureVersion" in attributes:
        topic.signature_version = attributes["SignatureVersion"]
    given = topic_attributes_given(topic)
    given.clear()
    given.update(attributes)
    _RECORDED[topic] = True
    return topic


@operation("sns", "CreateTopic")
async def _create_topic(call: AwsCall, given: dict[str, Any]) -> Mapping[str, Any]:
    name: str = given["Name"]
    attributes: dict[str, str] = given.get("Attributes") or {}
    if not _TOPIC_NAME.fullmatch(name):
        if name.endswith(".fifo"):
            raise _invalid(str(fifo_topic_name()))
        raise _invalid("Invalid parameter: Topic Name")
    _check_topic_attributes(attributes)
    mesh = call.mesh
    existing = await _find_topic(mesh, name)
    if existing is not None:
        current = topic_attributes_given(existing)
        for key, value in attributes.items():
            if current.get(key, "1" if key == "SignatureVersion" else None) != value:
                raise _invalid(
                    "Invalid parameter: Attributes Reason: Topic already exists with different "
                    "attributes"
                )
        return {"TopicArn": existing.arn}
    if mesh.context.find_resource(name) is not None:
        raise _invalid(f"Invalid parameter: Topic Name (a resource named {name} exists)")
    topic = _make_topic(mesh, name, attributes)
    await started()
    await catalog.record(mesh, TOPIC_KIND, name, {"attributes": attributes})
    return {"TopicArn": topic.arn}


@operation("sns", "ListTopics")
async def _list_topics(call: AwsCall, given: dict[str, Any]) -> Mapping[str, Any]:
    mesh = call.mesh
    names = {topic.name for topic in mesh.context.resources_of(Topic)}
    names.update(await catalog.recorded(mesh, TOPIC_KIND))
    ordered = sorted(names)
    start = _page_start(given.get("NextToken"))
    page = ordered[start : start + PAGE]
    more = start + PAGE < len(ordered)
    return _out(
        Topics=[{"TopicArn": _topic_arn(call, name)} for name in page],
        NextToken=_token(start + PAGE) if more else None,
    )


def _token(index: int) -> str:
    return base64.urlsafe_b64encode(str(index).encode()).decode()


def _page_start(token: str | None) -> int:
    if not token:
        return 0
    try:
        start = int(base64.urlsafe_b64decode(token.encode()).decode())
    except ValueError:
        start = -1
    if start < 0:  # a token we never gave: a negative start would slice from the end
        raise _invalid("Invalid parameter: NextToken")
    return start


@operation("sns", "DeleteTopic")
async def _delete_topic(call: AwsCall, given: dict[str, Any]) -> Mapping[str, Any]:
    mesh = call.mesh
    name = _name_of_arn(given["TopicArn"])
    topic = await _find_topic(mesh, name)
    if topic is not None:  # deleting a topic that does not exist succeeds, as in SNS
        for subscription in list(topic.subscriptions):
            await catalog.forget(mesh, SUBSCRIPTION_KIND, subscription.arn)
            await topic.unsubscribe(subscription)
        await catalog.forget(mesh, TOPIC_KIND, name)
        await mesh.remove_resource(name)
    return {}


# -- subscriptions ---------------------------------------------------------------------------
def _subscription_settings(attributes: Mapping[str, str], protocol: str) -> dict[str, Any]:
    """Subscription attributes as ``Topic.subscribe`` keywords (``RedrivePolicy`` is taken
    and ignored: the mesh's subscriptions have no dead-letter queue)."""
    try:
        return subscription_settings(attributes, protocol)
    except DeclarationError as exc:
        raise _invalid(str(exc)) from None


async def _target(mesh: Mesh, protocol: str, endpoint: str) -> Any:
    """What ``Topic.subscribe`` is given for an endpoint."""
    try:
        check_endpoint(protocol, endpoint)
    except DeclarationError as exc:
        raise _invalid(str(exc)) from None
    if protocol == "sqs":
        state = await find_queue(mesh, endpoint)
        if state is None:
            raise _invalid(f"Invalid parameter: Endpoint Reason: no queue {endpoint} in this mesh")
        try:
            return check_queue_endpoint(state.queue)
        except DeclarationError as exc:
            raise _invalid(str(exc)) from None
    if protocol == "lambda":
        try:
            mesh.context.resolve_function(endpoint)
        except EventMeshError:
            raise _invalid(
                f"Invalid parameter: Endpoint Reason: no function {endpoint} in this mesh"
            ) from None
    return endpoint


async def _subscribe(
    mesh: Mesh, topic: Topic, protocol: str, endpoint: str, attributes: Mapping[str, str]
) -> Subscription:
    settings = _subscription_settings(attributes, protocol)
    target = await _target(mesh, protocol, endpoint)
    try:
        return topic.subscribe(target, confirm=protocol in ("http", "https"), **settings)
    except (EventMeshError, ValueError) as exc:
        raise _invalid(f"Invalid parameter: {exc}") from None


@operation("sns", "Subscribe")
async def _subscribe_operation(call: AwsCall, given: dict[str, Any]) -> Mapping[str, Any]:
    topic = await _topic(call, given["TopicArn"])
    try:
        protocol = check_protocol(given["Protocol"])
    except DeclarationError as exc:
        raise _invalid(str(exc)) from None
    endpoint = given.get("Endpoint")
    if not endpoint:
        raise _invalid("Invalid parameter: Endpoint")
    attributes: dict[str, str] = given.get("Attributes") or {}
    subscription = await _subscribe(call.mesh, topic, protocol, endpoint, attributes)
    _ENDPOINTS[subscription] = endpoint
    await catalog.record(
        call.mesh,
        SUBSCRIPTION_KIND,
        subscription.arn,
        {"topic": topic.name, "protocol": protocol, "endpoint": endpoint, "attributes": attributes},
    )
    if subscription.pending_confirmation and not given.get("ReturnSubscriptionArn"):
        return {"SubscriptionArn": "pending confirmation"}
    return {"SubscriptionArn": subscription.arn}


_ENDPOINTS: weakref.WeakKeyDictionary[Subscription, str] = weakref.WeakKeyDictionary()
"""The endpoint each subscription made through the endpoint was given (as SNS lists it)."""


async def _sync(mesh: Mesh, topic: Topic) -> None:
    """Make the topic's subscriptions those recorded (made or ended by another worker);
    subscriptions made in code stay as they are."""
    records = {
        arn: settings
        for arn, settings in (await catalog.recorded(mesh, SUBSCRIPTION_KIND)).items()
        if settings.get("topic") == topic.name
    }
    for subscription in list(topic.subscriptions):
        if subscription in _ENDPOINTS and subscription.arn not in records:
            await topic.unsubscribe(subscription)
    have = {subscription.arn for subscription in topic.subscriptions}
    for arn, settings in records.items():
        if arn not in have:
            try:
                await _restore_subscription(mesh, arn, settings)
            except EventMeshError as exc:  # the others still deliver
                logger.error("subscription %s cannot be made here: %s", arn, exc)


@operation("sns", "Unsubscribe")
async def _unsubscribe(call: AwsCall, given: dict[str, Any]) -> Mapping[str, Any]:
    """Unsubscribe, as a visit of the ``UnsubscribeURL`` does (an HTTP(S) endpoint is sent
    SNS's ``UnsubscribeConfirmation``); every worker stops delivering to it."""
    arn: str = given["SubscriptionArn"]
    topic_arn, _, tail = arn.rpartition(":")
    if not tail:
        raise _invalid("Invalid parameter: SubscriptionArn")
    topic = await _find_topic(call.mesh, _name_of_arn(topic_arn, "SubscriptionArn"))
    if topic is None:
        raise _not_found("Subscription")
    await _sync(call.mesh, topic)
    await catalog.forget(call.mesh, SUBSCRIPTION_KIND, arn)
    try:
        await sns_endpoints(call.mesh.context).unsubscribe_subscription(arn)
    except SnsApiError as exc:
        raise AwsError(exc.code, exc.message, exc.status) from None
    return {}


async def _listing(call: AwsCall, topic: Topic) -> list[dict[str, str]]:
    """The topic's subscriptions as SNS lists them (pending ones as ``PendingConfirmation``)."""
    await _sync(call.mesh, topic)
    listed: list[dict[str, str]] = []
    for subscription in topic.subscriptions:
        if subscription.confirmation is not None:
            await subscription.confirmation.deliverable()  # confirmed elsewhere?
        listed.append(
            {
                "SubscriptionArn": (
                    "PendingConfirmation" if subscription.pending_confirmation else subscription.arn
                ),
                "Owner": call.mesh.account_id,
                "Protocol": subscription.protocol,
                "Endpoint": _ENDPOINTS.get(subscription, subscription.endpoint),
                "TopicArn": topic.arn,
            }
        )
    return listed


@operation("sns", "ListSubscriptionsByTopic")
async def _list_subscriptions(call: AwsCall, given: dict[str, Any]) -> Mapping[str, Any]:
    listed = await _listing(call, await _topic(call, given["TopicArn"]))
    start = _page_start(given.get("NextToken"))
    more = start + PAGE < len(listed)
    return _out(
        Subscriptions=listed[start : start + PAGE],
        NextToken=_token(start + PAGE) if more else None,
    )


@operation("sns", "ConfirmSubscription")
async def _confirm_subscription(call: AwsCall, given: dict[str, Any]) -> Mapping[str, Any]:
    """What a visit of the ``SubscribeURL`` does (:mod:`eventmesh.resources.sns_confirmation`)."""
    try:
        arn = await sns_endpoints(call.mesh.context).confirm_subscription(
            given["TopicArn"], given["Token"]
        )
    except SnsApiError as exc:
        raise AwsError(exc.code, exc.message, exc.status) from None
    return {"SubscriptionArn": arn}


@operation("sns", "ListSubscriptions")
async def _list_all_subscriptions(call: AwsCall, given: dict[str, Any]) -> Mapping[str, Any]:
    mesh = call.mesh
    names = {topic.name for topic in mesh.context.resources_of(Topic)}
    names.update(await catalog.recorded(mesh, TOPIC_KIND))
    listed: list[dict[str, str]] = []
    for name in sorted(names):
        topic = await _find_topic(mesh, name)
        if topic is not None:
            listed += await _listing(call, topic)
    start = _page_start(given.get("NextToken"))
    more = start + PAGE < len(listed)
    return _out(
        Subscriptions=listed[start : start + PAGE],
        NextToken=_token(start + PAGE) if more else None,
    )


@operation("sns", "GetTopicAttributes")
async def _get_topic_attributes(call: AwsCall, given: dict[str, Any]) -> Mapping[str, Any]:
    topic = await _topic(call, given["TopicArn"])
    await _sync(call.mesh, topic)
    pending = 0
    for subscription in topic.subscriptions:
        if subscription.confirmation is not None:
            await subscription.confirmation.deliverable()
        pending += subscription.pending_confirmation
    attributes = {
        **topic_attributes_given(topic),
        "TopicArn": topic.arn,
        "Owner": call.mesh.account_id,
        "SignatureVersion": topic.signature_version,
        "SubscriptionsConfirmed": str(len(topic.subscriptions) - pending),
        "SubscriptionsPending": str(pending),
        "SubscriptionsDeleted": "0",
    }
    attributes.setdefault("DisplayName", "")
    return {"Attributes": attributes}


@operation("sns", "GetSubscriptionAttributes")
async def _get_subscription_attributes(call: AwsCall, given: dict[str, Any]) -> Mapping[str, Any]:
    arn: str = given["SubscriptionArn"]
    topic_arn, _, tail = arn.rpartition(":")
    if not tail:
        raise _invalid("Invalid parameter: SubscriptionArn")
    topic = await _find_topic(call.mesh, _name_of_arn(topic_arn, "SubscriptionArn"))
    if topic is not None:
        await _sync(call.mesh, topic)
        for subscription in topic.subscriptions:
            if subscription.arn == arn:
                if subscription.confirmation is not None:
                    await subscription.confirmation.deliverable()
                attributes = {**subscription.attributes, "Owner": call.mesh.account_id}
                attributes["Endpoint"] = _ENDPOINTS.get(subscription, attributes["Endpoint"])
                policy = subscription.filter_policy
                if policy is not None:
                    attributes["FilterPolicy"] = orjson.dumps(policy.source).decode()
                    attributes["FilterPolicyScope"] = policy.scope
                return {"Attributes": attributes}
    raise _not_found("Subscription")


# -- publishing ------------------------------------------------------------------------------
def _structured(message: str, topic: Topic) -> str:
    """The text of a ``MessageStructure=json`` message for the topic's subscribers: its
    ``default``, or the protocol's own entry; one text for all of them (refused otherwise)."""
    try:
        parts = orjson.loads(message)
    except orjson.JSONDecodeError:
        raise _invalid(
            "Invalid parameter: Message Structure - JSON message body failed to parse"
        ) from None
    if not isinstance(parts, dict) or "default" not in parts:
        raise _invalid(
            "Invalid parameter: Message Structure - No default entry in JSON message body"
        )
    if not all(isinstance(value, str) for value in parts.values()):
        raise _invalid("Invalid parameter: Message Structure - JSON message body failed to parse")
    default: str = parts["default"]
    texts = {str(parts.get(s.protocol, default)) for s in topic.subscriptions}
    if len(texts) > 1:
        raise _invalid(
            "Invalid parameter: Message Structure - different messages per protocol are not "
            "supported by this endpoint when the topic's subscribers differ in protocol"
        )
    return texts.pop() if texts else default


async def _publish(topic: Topic, entry: Mapping[str, Any]) -> str:
    message = entry.get("Message")
    if not message:
        raise _invalid("Invalid parameter: Empty message")
    for name in ("MessageGroupId", "MessageDeduplicationId"):
        if entry.get(name) is not None:
            raise _invalid(
                f"Invalid parameter: {name} Reason: The request includes {name} parameter "
                "that is not valid for this topic type"
            )
    structure = entry.get("MessageStructure")
    if structure is not None and structure != "json":
        raise _invalid("Invalid parameter: MessageStructure")
    text = _structured(message, topic) if structure == "json" else message
    attributes = entry.get("MessageAttributes")
    try:
        return await topic.publish(text, entry.get("Subject"), attributes or None)
    except PayloadError as exc:
        text = str(exc)
        if "256 KB" in text:
            raise _invalid("Invalid parameter: Message too long") from None
        if "attribute" in text:
            raise AwsError("ParameterValueInvalid", text) from None
        if "subject" in text:
            raise _invalid("Invalid parameter: Subject") from None
        raise _invalid(f"Invalid parameter: Message ({text})") from None
    except BackpressureError as exc:
        raise AwsError("Throttled", str(exc), sender_fault=False) from None


@operation("sns", "Publish")
async def _publish_operation(call: AwsCall, given: dict[str, Any]) -> Mapping[str, Any]:
    topic_arn, target_arn = given.get("TopicArn"), given.get("TargetArn")
    if given.get("PhoneNumber"):
        raise _invalid(
            "Invalid parameter: PhoneNumber Reason: SMS is not supported by this endpoint"
        )
    if topic_arn and target_arn:
        raise _invalid(
            "Invalid parameter: TopicArn or TargetArn Reason: Only one of TopicArn or TargetArn "
            "may be specified"
        )
    arn = topic_arn or target_arn
    if not arn:
        raise _invalid(
            "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter"
        )
    topic = await _topic(call, arn)
    await _sync(call.mesh, topic)
    return {"MessageId": await _publish(topic, given)}


@operation("sns", "PublishBatch")
async def _publish_batch(call: AwsCall, given: dict[str, Any]) -> Mapping[str, Any]:
    topic = await _topic(call, given["TopicArn"])
    entries: Sequence[Mapping[str, Any]] = given.get("PublishBatchRequestEntries") or []
    if not entries:
        raise AwsError("EmptyBatchRequest", "The batch request doesn't contain any entries.")
    if len(entries) > 10:
        raise AwsError(
            "TooManyEntriesInBatchRequest",
            "The batch request contains more entries than permissible.",
        )
    ids = [entry["Id"] for entry in entries]
    if any(not _BATCH_ID.fullmatch(entry_id) for entry_id in ids):
        raise AwsError(
            "InvalidBatchEntryId",
            "The Id of a batch entry in a batch request doesn't abide by the specification.",
        )
    if len(set(ids)) != len(ids):
        raise AwsError(
            "BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id."
        )
    total = sum(len(str(entry.get("Message") or "").encode()) for entry in entries)
    if total > _MAX_BATCH_BYTES:
        raise AwsError(
            "BatchRequestTooLong",
            "The length of all the messages put together is more than the limit.",
        )
    await _sync(call.mesh, topic)
    successful: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for entry in entries:
        try:
            message_id = await _publish(topic, entry)
        except AwsError as error:
            failed.append(
                {"Id": entry["Id"], "Code": error.code, "Message": error.message,
                 "SenderFault": error.sender_fault}
            )  # fmt: skip
        else:
            successful.append({"Id": entry["Id"], "MessageId": message_id})
    return {"Successful": successful, "Failed": failed}


# -- restoring -------------------------------------------------------------------------------
async def _restore_topic(mesh: Mesh, name: str, settings: Mapping[str, Any]) -> None:
    if isinstance(mesh.context.find_resource(name), Topic):
        return
    _make_topic(mesh, name, settings.get("attributes", {}))
    await started()


async def _restore_subscription(mesh: Mesh, arn: str, settings: Mapping[str, Any]) -> None:
    topic = await _find_topic(mesh, settings["topic"])
    if topic is None:
        raise EventMeshError(f"its topic {settings['topic']!r} is gone")
    if any(subscription.arn == arn for subscription in topic.subscriptions):
        return
    try:
        subscription = await _subscribe(
            mesh, topic, settings["protocol"], settings["endpoint"], settings["attributes"]
        )
    except AwsError as exc:
        raise EventMeshError(exc.message) from None
    _ENDPOINTS[subscription] = settings["endpoint"]


catalog.register_kind(TOPIC_KIND, _restore_topic)
catalog.register_kind(SUBSCRIPTION_KIND, _restore_subscription, after=[TOPIC_KIND, QUEUE_KIND])
