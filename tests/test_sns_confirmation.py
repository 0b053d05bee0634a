"""SNS's subscription confirmation for HTTP(S) subscribers, end to end over real HTTP.

A receiver on 127.0.0.1 gets what the topic POSTs; the test plays the receiver's owner,
visiting ``SubscribeURL`` and ``UnsubscribeURL`` over real HTTP on a front (127.0.0.1)
serving the mesh's endpoints. Expected values are SNS's documented ones: the confirmation
message's fields and their order and its ``Message`` text (SNS's "HTTP/HTTPS subscription
confirmation JSON format"), the XML answers (``ConfirmSubscriptionResponse``,
``UnsubscribeResponse``, and the ``ErrorResponse`` SNS gives a wrong token:
``InvalidParameter`` / ``Invalid parameter: Token``, HTTP 400). Time is a VirtualClock.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from typing import Any

import httpx
import orjson
import pytest
from http_endpoint import Endpoint, eventually
from test_sns_signing import fetch_certificate, verifies

from eventmesh import Mesh, Telemetry
from eventmesh.http import HttpServer
from eventmesh.resources.sns_confirmation import TOKEN_LIFETIME
from eventmesh.resources.sns_signing import mesh_signer
from eventmesh.testing import VirtualClock

TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:alerts"
NS = {"sns": "http://sns.amazonaws.com/doc/2010-03-31/"}
CONFIRMATION_KEYS = [
    "Type",
    "MessageId",
    "Token",
    "TopicArn",
    "Message",
    "SubscribeURL",
    "Timestamp",
    "SignatureVersion",
    "Signature",
    "SigningCertURL",
]


async def visit(url: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(url)


def error_of(response: httpx.Response) -> tuple[int, str, str, str]:
    root = ET.fromstring(response.text)
    assert root.tag == "{http://sns.amazonaws.com/doc/2010-03-31/}ErrorResponse"
    return (
        response.status_code,
        root.findtext("sns:Error/sns:Type", namespaces=NS) or "",
        root.findtext("sns:Error/sns:Code", namespaces=NS) or "",
        root.findtext("sns:Error/sns:Message", namespaces=NS) or "",
    )


async def settle_http() -> None:
    """Room for a delivery that should not happen to arrive (real sockets, real time)."""
    await asyncio.sleep(0.2)


async def test_confirmation_end_to_end(mesh: Mesh, clock: VirtualClock) -> None:
    topic = mesh.topic("alerts")
    async with Endpoint(clock) as receiver, mesh, HttpServer(mesh, "127.0.0.1", 0) as front:
        subscription = topic.subscribe(receiver.url, confirm=True)
        assert subscription.pending_confirmation
        assert subscription.attributes["PendingConfirmation"] == "true"
        await eventually(lambda: len(receiver.requests) == 1)

        request = receiver.requests[0]
        assert request.headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
        assert request.headers["x-amz-sns-topic-arn"] == TOPIC_ARN
        assert request.headers["user-agent"] == "Amazon Simple Notification Service Agent"
        assert request.headers["content-type"] == "text/plain; charset=UTF-8"
        message = orjson.loads(request.body)
        assert list(message) == CONFIRMATION_KEYS
        assert request.headers["x-amz-sns-message-id"] == message["MessageId"]
        assert message["Type"] == "SubscriptionConfirmation"
        assert message["TopicArn"] == TOPIC_ARN
        assert message["Message"] == (
            "You have chosen to subscribe to the topic "
            "arn:aws:sns:us-east-1:123456789012:alerts.\n"
            "To confirm the subscription, visit the SubscribeURL included in this message."
        )
        assert message["Timestamp"] == "2026-01-01T00:00:00.000Z"
        assert len(message["Token"]) >= 64
        assert message["SubscribeURL"] == (
            f"{front.base_url}/_eventmesh/sns/confirm?Action=ConfirmSubscription"
            f"&TopicArn={TOPIC_ARN}&Token={message['Token']}"
        )
        assert message["SignatureVersion"] == "1"
        certificate = await fetch_certificate(message["SigningCertURL"])
        assert verifies(message, certificate)
        assert not verifies({**message, "Token": "0" * 128}, certificate)
        assert not verifies({**message, "SubscribeURL": message["SubscribeURL"] + "x"}, certificate)

        # Nothing reaches a subscription pending confirmation, nor is kept for later.
        await topic.publish("before")
        await settle_http()
        assert len(receiver.requests) == 1
        assert subscription.delivered == 0

        # A wrong token: SNS's error, and the subscription stays pending.
        wrong = message["SubscribeURL"].replace(message["Token"], "ab" * 64)
        assert error_of(await visit(wrong)) == (
            400,
            "Sender",
            "InvalidParameter",
            "Invalid parameter: Token",
        )
        other_topic = message["SubscribeURL"].replace(TOPIC_ARN, TOPIC_ARN + "2")
        assert error_of(await visit(other_topic))[2:] == (
            "InvalidParameter",
            "Invalid parameter: Token",
        )
        assert subscription.pending_confirmation

        response = await visit(message["SubscribeURL"])
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/xml"
        root = ET.fromstring(response.text)
        assert root.tag == "{http://sns.amazonaws.com/doc/2010-03-31/}ConfirmSubscriptionResponse"
        arn = root.findtext("sns:ConfirmSubscriptionResult/sns:SubscriptionArn", namespaces=NS)
        assert arn == subscription.arn
        assert root.findtext("sns:ResponseMetadata/sns:RequestId", namespaces=NS)
        assert not subscription.pending_confirmation
        assert subscription.attributes["PendingConfirmation"] == "false"
        assert subscription.attributes["ConfirmationWasAuthenticated"] == "false"
        again = await visit(message["SubscribeURL"])  # a second visit answers the same
        assert again.status_code == 200 and subscription.arn in again.text

        await topic.publish("after")
        await eventually(lambda: subscription.delivered == 1)
        notification = orjson.loads(receiver.requests[1].body)
        assert notification["Message"] == "after"
        assert verifies(notification, certificate)

        # The UnsubscribeURL ends the subscription, with SNS's answer.
        response = await visit(notification["UnsubscribeURL"])
        assert response.status_code == 200
        root = ET.fromstring(response.text)
        assert root.tag == "{http://sns.amazonaws.com/doc/2010-03-31/}UnsubscribeResponse"
        assert root.findtext("sns:ResponseMetadata/sns:RequestId", namespaces=NS)
        assert subscription not in topic.subscriptions
        assert error_of(await visit(notification["UnsubscribeURL"]))[0::2] == (404, "NotFound")

        # SNS then sends an UnsubscribeConfirmation, signed, whose SubscribeURL restores it.
        await eventually(lambda: len(receiver.requests) == 3)
        request = receiver.requests[2]
        assert request.headers["x-amz-sns-message-type"] == "UnsubscribeConfirmation"
        goodbye = orjson.loads(request.body)
        assert list(goodbye) == CONFIRMATION_KEYS
        assert goodbye["Type"] == "UnsubscribeConfirmation"
        assert goodbye["Message"] == (
            f"You have chosen to deactivate subscription {subscription.arn}.\n"
            "To cancel this operation and restore the subscription, visit the SubscribeURL "
            "included in this message."
        )
        assert verifies(goodbye, certificate)
        assert not verifies({**goodbye, "Token": message["Token"]}, certificate)
        await topic.publish("gone")
        await settle_http()
        assert len(receiver.requests) == 3

        response = await visit(goodbye["SubscribeURL"])
        assert response.status_code == 200
        root = ET.fromstring(response.text)
        arn = root.findtext("sns:ConfirmSubscriptionResult/sns:SubscriptionArn", namespaces=NS)
        assert arn == subscription.arn
        assert subscription in topic.subscriptions
        await topic.publish("back")
        await eventually(lambda: len(receiver.requests) == 4)
        assert orjson.loads(receiver.requests[3].body)["Message"] == "back"


async def test_a_token_expires_after_two_days_on_the_mesh_clock(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """SNS: "Confirmation tokens are valid for two days"; a new confirmation brings a new one."""
    assert TOKEN_LIFETIME == 2 * 86400
    topic = mesh.topic("alerts")
    async with Endpoint(clock) as receiver, mesh, HttpServer(mesh, "127.0.0.1", 0):
        subscription = topic.subscribe(receiver.url, confirm=True)
        await eventually(lambda: len(receiver.requests) == 1)
        first = orjson.loads(receiver.requests[0].body)
        await clock.advance(TOKEN_LIFETIME)
        assert error_of(await visit(first["SubscribeURL"]))[2:] == (
            "InvalidParameter",
            "Invalid parameter: Token",
        )
        assert subscription.pending_confirmation

        await subscription.request_confirmation()
        second = orjson.loads(receiver.requests[1].body)
        assert second["Token"] != first["Token"]
        await clock.advance(TOKEN_LIFETIME - 1)
        assert (await visit(second["SubscribeURL"])).status_code == 200
        assert not subscription.pending_confirmation


async def test_a_confirmation_message_is_retried_under_the_http_policy(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Retried as any HTTP/S delivery, and signed with the topic's SignatureVersion."""
    topic = mesh.topic("alerts", signature_version=2)
    async with Endpoint(clock, [500, 503]) as receiver, mesh, HttpServer(mesh, "127.0.0.1", 0):
        subscription = topic.subscribe(receiver.url, confirm=True)
        await eventually(lambda: len(receiver.requests) == 1)
        await clock.advance(19.9)
        await settle_http()
        assert len(receiver.requests) == 1  # SNS's HTTP/S default: 20 s apart
        await clock.advance(0.1)
        await eventually(lambda: len(receiver.requests) == 2)
        await clock.advance(20)
        await eventually(lambda: len(receiver.requests) == 3)
        message = orjson.loads(receiver.requests[2].body)
        certificate = await fetch_certificate(message["SigningCertURL"])
    assert message["SignatureVersion"] == "2"
    assert verifies(message, certificate)
    assert [r.at for r in receiver.requests] == [0, 20, 40]
    bodies = {r.body for r in receiver.requests}
    assert len(bodies) == 1  # the same message (MessageId, Token) each time
    assert subscription.pending_confirmation


async def test_subscriptions_in_code_are_confirmed_at_once(mesh: Mesh, clock: VirtualClock) -> None:
    """Without ``confirm``, an HTTP subscription made in code is confirmed at once (as
    before); with it, a function or callable is too (the topic owner's own, which SNS
    confirms at once)."""
    got: list[dict[str, Any]] = []

    async def subscriber(envelope: dict[str, Any]) -> None:
        got.append(envelope)

    topic = mesh.topic("alerts")
    async with Endpoint(clock) as receiver, mesh:
        direct = topic.subscribe(receiver.url)
        own = topic.subscribe(subscriber, confirm=True)
        assert not direct.pending_confirmation and not own.pending_confirmation
        assert direct.attributes["PendingConfirmation"] == "false"
        assert direct.attributes["ConfirmationWasAuthenticated"] == "true"
        await topic.publish("m")
        await eventually(lambda: direct.delivered == 1 and own.delivered == 1)
    assert orjson.loads(receiver.requests[0].body)["Type"] == "Notification"


async def test_bad_requests_to_the_paths_get_snss_errors(mesh: Mesh) -> None:
    mesh.topic("alerts")
    async with mesh, HttpServer(mesh, "127.0.0.1", 0) as front:
        base = f"{front.base_url}/_eventmesh/sns"
        no_token = await visit(f"{base}/confirm?Action=ConfirmSubscription&TopicArn={TOPIC_ARN}")
        assert error_of(no_token)[2:] == ("InvalidParameter", "Invalid parameter: Token")
        no_topic = await visit(f"{base}/confirm?Action=ConfirmSubscription&Token=ab")
        assert error_of(no_topic)[2:] == ("InvalidParameter", "Invalid parameter: TopicArn")
        action = await visit(f"{base}/confirm?Action=Publish&TopicArn={TOPIC_ARN}&Token=ab")
        assert error_of(action)[0::2] == (400, "InvalidAction")
        no_arn = await visit(f"{base}/unsubscribe?Action=Unsubscribe")
        assert error_of(no_arn)[0::2] == (400, "InvalidParameter")
        # Without the ARN's token, the answer says nothing of whether it exists.
        unknown = f"{base}/unsubscribe?SubscriptionArn={TOPIC_ARN}:nope"
        assert error_of(await visit(unknown))[0::2] == (403, "AuthorizationError")
        token = await mesh_signer(mesh.context).unsubscribe_token(f"{TOPIC_ARN}:nope")
        assert error_of(await visit(f"{unknown}&Token={token}"))[0::2] == (404, "NotFound")


async def test_a_confirmation_through_another_worker_counts_everywhere(tmp_path: Any) -> None:
    """On one SQLite file, the worker that answers the visit need not be the one that sent
    the message: the other finds its subscription confirmed when it next publishes, and a
    restarted worker does not ask again."""
    url = f"sqlite:///{tmp_path / 'mesh.db'}"
    meshes = [Mesh(storage=url, telemetry=Telemetry(enabled=False)) for _ in range(2)]
    topics = [mesh.topic("alerts") for mesh in meshes]
    async with Endpoint() as receiver:
        subscriptions = [topic.subscribe(receiver.url, confirm=True) for topic in topics]
        async with HttpServer(meshes[0], "127.0.0.1", 0) as front_a:
            await eventually(lambda: len(receiver.requests) == 1)
            async with HttpServer(meshes[1], "127.0.0.1", 0) as front_b:
                await settle_http()
                assert len(receiver.requests) == 1  # one confirmation message, not two
                message = orjson.loads(receiver.requests[0].body)
                # Sent as worker A started, it waited for A's front to serve.
                assert message["SubscribeURL"].startswith(front_a.base_url + "/_eventmesh/")
                # Worker A sent it; the visit reaches worker B's front.
                subscribe_url = message["SubscribeURL"].replace(front_a.base_url, front_b.base_url)
                assert (await visit(subscribe_url)).status_code == 200
                assert not subscriptions[1].pending_confirmation
                assert subscriptions[0].pending_confirmation  # A has not looked yet
                await topics[0].publish("via a")
                await eventually(lambda: subscriptions[0].delivered == 1)
                assert not subscriptions[0].pending_confirmation

        restarted = Mesh(storage=url, telemetry=Telemetry(enabled=False))
        subscription = restarted.topic("alerts").subscribe(receiver.url, confirm=True)
        async with restarted:
            await eventually(lambda: not subscription.pending_confirmation)
        assert [orjson.loads(r.body)["Type"] for r in receiver.requests] == [
            "SubscriptionConfirmation",
            "Notification",
        ]


async def test_subscribing_while_running_sends_the_confirmation(
    mesh: Mesh, clock: VirtualClock
) -> None:
    topic = mesh.topic("alerts")
    async with Endpoint(clock) as receiver, mesh, HttpServer(mesh, "127.0.0.1", 0):
        await topic.publish("nobody yet")
        subscription = topic.subscribe(receiver.url, confirm=True)
        await eventually(lambda: len(receiver.requests) == 1)
        assert orjson.loads(receiver.requests[0].body)["Type"] == "SubscriptionConfirmation"
        assert subscription.pending_confirmation


async def test_the_endpoints_say_when_a_front_serves() -> None:
    """What a confirmation sent as the mesh starts waits on: the front setting its URL."""
    from eventmesh._endpoints import MeshEndpoints

    endpoints = MeshEndpoints()
    assert not await endpoints.serving(0.01)
    waiting = asyncio.ensure_future(endpoints.serving(5))
    await asyncio.sleep(0)
    endpoints.base_url = "http://127.0.0.1:8000"
    assert await waiting
    assert await endpoints.serving(0)


async def test_an_unsubscribe_through_one_worker_stops_every_worker(tmp_path: Any) -> None:
    """On one SQLite file, an UnsubscribeURL visited on worker A stops worker B's deliveries
    too; the UnsubscribeConfirmation's SubscribeURL brings them back everywhere; a worker
    starting again subscribes anew."""
    url = f"sqlite:///{tmp_path / 'mesh.db'}"
    meshes = [Mesh(storage=url, telemetry=Telemetry(enabled=False)) for _ in range(2)]
    topics = [mesh.topic("alerts") for mesh in meshes]

    def types() -> list[str]:
        return [orjson.loads(r.body)["Type"] for r in receiver.requests]

    async with Endpoint() as receiver:
        subscriptions = [topic.subscribe(receiver.url) for topic in topics]
        async with (
            HttpServer(meshes[0], "127.0.0.1", 0) as front_a,
            HttpServer(meshes[1], "127.0.0.1", 0) as front_b,
        ):
            await topics[1].publish("one")
            await eventually(lambda: len(receiver.requests) == 1)
            unsubscribe_url = orjson.loads(receiver.requests[0].body)["UnsubscribeURL"]
            assert unsubscribe_url.startswith(front_b.base_url)
            on_a = unsubscribe_url.replace(front_b.base_url, front_a.base_url)
            assert (await visit(on_a)).status_code == 200
            await eventually(lambda: len(receiver.requests) == 2)
            assert types() == ["Notification", "UnsubscribeConfirmation"]

            await topics[1].publish("not for it")  # B still has it, and skips it
            await settle_http()
            assert len(receiver.requests) == 2
            assert subscriptions[1] in topics[1].subscriptions

            goodbye = orjson.loads(receiver.requests[1].body)
            assert (await visit(goodbye["SubscribeURL"])).status_code == 200
            await topics[1].publish("back via b")
            await topics[0].publish("back via a")
            await eventually(lambda: len(receiver.requests) == 4)

            # Unsubscribed again, then a worker starts: its subscribe renews it.
            assert (await visit(on_a)).status_code == 200
            await eventually(lambda: len(receiver.requests) == 5)
            restarted = Mesh(storage=url, telemetry=Telemetry(enabled=False))
            restarted.topic("alerts").subscribe(receiver.url)
            async with restarted:
                pass  # its start renewed the subscription in the store
            await topics[1].publish("renewed")
            await eventually(lambda: len(receiver.requests) == 6)
    messages = [orjson.loads(r.body)["Message"] for r in receiver.requests]
    assert sorted(messages[2:4]) == ["back via a", "back via b"]
    assert messages[5] == "renewed"
    assert types()[4] == "UnsubscribeConfirmation"


async def test_confirm_and_unsubscribe_are_callable_as_snss_api_actions(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """What the paths do, for an SNS API front to call: ConfirmSubscription with the token
    gives the ARN, a wrong one SNS's error; Unsubscribe ends the subscription."""
    from eventmesh.resources.sns_confirmation import SnsApiError, sns_endpoints

    topic = mesh.topic("alerts")
    actions = sns_endpoints(mesh.context)
    async with Endpoint(clock) as receiver, mesh, HttpServer(mesh, "127.0.0.1", 0):
        subscription = topic.subscribe(receiver.url, confirm=True)
        await eventually(lambda: len(receiver.requests) == 1)
        token = orjson.loads(receiver.requests[0].body)["Token"]
        with pytest.raises(SnsApiError) as error:
            await actions.confirm_subscription(TOPIC_ARN, token[::-1])
        assert (error.value.status, error.value.code, error.value.message) == (
            400,
            "InvalidParameter",
            "Invalid parameter: Token",
        )
        assert await actions.confirm_subscription(TOPIC_ARN, token) == subscription.arn
        assert not subscription.pending_confirmation
        await actions.unsubscribe_subscription(subscription.arn)
        assert subscription not in topic.subscriptions
        with pytest.raises(SnsApiError, match="NotFound: Subscription does not exist"):
            await actions.unsubscribe_subscription(subscription.arn)


async def test_an_unsubscribe_url_without_its_token_is_refused(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """The mesh's subscription ARNs are derived from the topic and the endpoint, so the
    URL's Token is what makes it unguessable: without it, with a wrong one, or with another
    subscription's, a visit gets SNS's AuthorizationError (403) and the subscription keeps
    receiving; the URL as a notification carries it unsubscribes."""
    topic = mesh.topic("alerts")
    async with (
        Endpoint(clock) as receiver,
        Endpoint(clock) as other_receiver,
        mesh,
        HttpServer(mesh, "127.0.0.1", 0),
    ):
        subscription = topic.subscribe(receiver.url)
        other = topic.subscribe(other_receiver.url)
        await topic.publish("one")
        await eventually(lambda: subscription.delivered == 1 and other.delivered == 1)
        url = orjson.loads(receiver.requests[0].body)["UnsubscribeURL"]
        other_url = orjson.loads(other_receiver.requests[0].body)["UnsubscribeURL"]
        base, _, token = url.partition("&Token=")
        assert base.endswith(f"?Action=Unsubscribe&SubscriptionArn={subscription.arn}")
        assert len(token) == 64 and int(token, 16) >= 0  # hex SHA-256
        other_token = other_url.partition("&Token=")[2]
        assert other_token != token

        refused = [
            base,
            f"{base}&Token=",
            f"{base}&Token={other_token}",  # another subscription's token
            f"{base}&Token={token[:-1]}",
            f"{base}&Token={token.upper()}",
            f"{base}&Token={'0' * 64}",
            f"{base}&Token=%C3%A9{token[2:]}",  # not ASCII
        ]
        for attempt in refused:
            response = await visit(attempt)
            assert response.headers["content-type"] == "text/xml"
            status, kind, code, _ = error_of(response)
            assert (status, kind, code) == (403, "Sender", "AuthorizationError"), attempt
        # A form POST is refused alike.
        async with httpx.AsyncClient() as client:
            posted = await client.post(
                base.partition("?")[0],
                data={"Action": "Unsubscribe", "SubscriptionArn": subscription.arn},
            )
        assert error_of(posted)[0::2] == (403, "AuthorizationError")

        assert subscription in topic.subscriptions
        await topic.publish("two")
        await eventually(lambda: subscription.delivered == 2)
        assert orjson.loads(receiver.requests[-1].body)["Type"] == "Notification"

        assert (await visit(url)).status_code == 200
        assert subscription not in topic.subscriptions
        assert other in topic.subscriptions  # its token was not the other's to use
        await eventually(lambda: len(receiver.requests) == 3)  # the UnsubscribeConfirmation
        await topic.publish("three")
        await eventually(lambda: other.delivered == 3)
        await settle_http()
        assert [orjson.loads(r.body)["Type"] for r in receiver.requests] == [
            "Notification",
            "Notification",
            "UnsubscribeConfirmation",
        ]


async def test_workers_on_one_store_make_the_same_unsubscribe_token(tmp_path: Any) -> None:
    """Two meshes on one SQLite file share the secret (put-if-absent in the store), so each
    makes the token the other's notifications carry; a mesh on another store does not."""
    url = f"sqlite:///{tmp_path / 'mesh.db'}"
    meshes = [Mesh(storage=url, telemetry=Telemetry(enabled=False)) for _ in range(2)]
    elsewhere = Mesh(
        storage=f"sqlite:///{tmp_path / 'other.db'}", telemetry=Telemetry(enabled=False)
    )
    topic = meshes[1].topic("alerts")
    arn = f"{TOPIC_ARN}:5f0c6a5e-0000-4000-8000-000000000000"
    async with Endpoint() as receiver:
        subscription = topic.subscribe(receiver.url)
        async with meshes[0], elsewhere:
            # Both ask at once, before either has a secret: one is made, both read it back.
            tokens = await asyncio.gather(
                *(mesh_signer(mesh.context).unsubscribe_token(arn) for mesh in meshes)
            )
            assert tokens[0] == tokens[1]
            assert len(tokens[0]) == 64
            assert await mesh_signer(meshes[0].context).unsubscribe_token(arn + "x") != tokens[0]
            assert await mesh_signer(elsewhere.context).unsubscribe_token(arn) != tokens[0]
            # The URL a notification from worker B carries is the one worker A makes.
            async with meshes[1], HttpServer(meshes[1], "127.0.0.1", 0):
                await topic.publish("one")
                await eventually(lambda: len(receiver.requests) == 1)
            body = orjson.loads(receiver.requests[0].body)
            token = body["UnsubscribeURL"].partition("&Token=")[2]
            signer_a = mesh_signer(meshes[0].context)
            assert token == await signer_a.unsubscribe_token(subscription.arn)
        restarted = Mesh(storage=url, telemetry=Telemetry(enabled=False))
        async with restarted:
            assert await mesh_signer(restarted.context).unsubscribe_token(arn) == tokens[0]
