"""Signed SNS deliveries to HTTP(S) subscribers, checked by an independent verifier.

The verifier below follows AWS's "Verifying the signatures of Amazon SNS messages" with the
``cryptography`` library, not eventmesh's code: it fetches the certificate at
``SigningCertURL`` over real HTTP (from a front on 127.0.0.1 serving the mesh's endpoints),
builds the string to sign from the JSON the receiver got (Notification: Message, MessageId,
Subject if present, Timestamp, TopicArn, Type; confirmations: Message, MessageId,
SubscribeURL, Timestamp, Token, TopicArn, Type; each as name and value on lines of their
own) and verifies the base64 signature with SHA1 (version 1) or SHA256 (version 2).
Deliveries go over real HTTP to a receiver on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import sys
from typing import Any

import httpx
import orjson
import pytest
from aws_lambda_powertools.utilities.parser.models import SnsNotificationModel
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from http_endpoint import Endpoint, eventually

from eventmesh import ConfigurationError, Mesh, Telemetry
from eventmesh.http import HttpServer
from eventmesh.testing import VirtualClock

TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:alerts"
NOTIFICATION = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
CONFIRMATION = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]


# -- the independent verifier ----------------------------------------------------------------
def aws_string_to_sign(message: dict[str, Any]) -> bytes:
    names = NOTIFICATION if message["Type"] == "Notification" else CONFIRMATION
    return "".join(f"{name}\n{message[name]}\n" for name in names if name in message).encode()


async def fetch_certificate(url: str) -> x509.Certificate:
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200
    return x509.load_pem_x509_certificate(response.content)


def verifies(message: dict[str, Any], certificate: x509.Certificate) -> bool:
    algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}[message["SignatureVersion"]]
    public_key = certificate.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    try:
        public_key.verify(
            base64.b64decode(message["Signature"]),
            aws_string_to_sign(message),
            padding.PKCS1v15(),
            algorithm,
        )
    except InvalidSignature:
        return False
    return True


def tampered_signature(message: dict[str, Any]) -> dict[str, Any]:
    raw = bytearray(base64.b64decode(message["Signature"]))
    raw[10] ^= 0x01
    return {**message, "Signature": base64.b64encode(bytes(raw)).decode()}


# -- deliveries ------------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["1", "2"])
async def test_a_receiver_verifying_as_aws_documents_accepts_ours_and_rejects_tampering(
    mesh: Mesh, clock: VirtualClock, version: str
) -> None:
    topic = mesh.topic("alerts", signature_version=version)
    async with Endpoint(clock) as receiver, mesh, HttpServer(mesh, "127.0.0.1", 0) as front:
        subscription = topic.subscribe(receiver.url)
        await topic.publish("hello\nworld", subject="Greeting", attributes={"a": "b"})
        await topic.publish({"no": "subject"})
        await eventually(lambda: subscription.delivered == 2)
        messages = [orjson.loads(request.body) for request in receiver.requests]
        certificate = await fetch_certificate(messages[0]["SigningCertURL"])
        base_url = front.base_url
        secret = await mesh.context.backend.values.get("eventmesh.sns.unsubscribe-secret")
        assert secret is not None and len(secret.value) == 32

    with_subject, without_subject = sorted(messages, key=lambda m: "Subject" not in m)
    assert with_subject["Subject"] == "Greeting"
    assert "Subject" not in without_subject
    for message in messages:
        assert message["SignatureVersion"] == version
        assert message["SigningCertURL"].startswith(
            f"{base_url}/_eventmesh/sns/SimpleNotificationService-"
        )
        assert message["SigningCertURL"].endswith(".pem")
        # The token: HMAC-SHA256 of the subscription ARN under the store's secret.
        token = hmac.new(secret.value, subscription.arn.encode(), hashlib.sha256).hexdigest()
        assert message["UnsubscribeURL"] == (
            f"{base_url}/_eventmesh/sns/unsubscribe?Action=Unsubscribe"
            f"&SubscriptionArn={subscription.arn}&Token={token}"
        )
        SnsNotificationModel.model_validate(message)  # Powertools parses it as SNS's
        assert verifies(message, certificate)
        assert not verifies({**message, "Message": message["Message"] + "!"}, certificate)
        assert not verifies({**message, "Timestamp": "2020-01-01T00:00:00.000Z"}, certificate)
        assert not verifies(tampered_signature(message), certificate)
        other = "2" if version == "1" else "1"
        assert not verifies({**message, "SignatureVersion": other}, certificate)
    assert not verifies({**with_subject, "Subject": "Other"}, certificate)
    key = certificate.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048


async def test_the_string_to_sign_is_snss_as_written_by_hand(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """The signature covers exactly AWS's example layout (fields in order, names on lines of
    their own, a trailing newline), checked against text written out here."""
    topic = mesh.topic("alerts")
    await clock.advance(1.5)
    async with Endpoint(clock) as receiver, mesh, HttpServer(mesh, "127.0.0.1", 0):
        subscription = topic.subscribe(receiver.url)
        message_id = await topic.publish("hi", subject="S")
        await eventually(lambda: subscription.delivered == 1)
        message = orjson.loads(receiver.requests[0].body)
        certificate = await fetch_certificate(message["SigningCertURL"])
    text = (
        "Message\nhi\n"
        f"MessageId\n{message_id}\n"
        "Subject\nS\n"
        "Timestamp\n2026-01-01T00:00:01.500Z\n"
        f"TopicArn\n{TOPIC_ARN}\n"
        "Type\nNotification\n"
    )
    public_key = certificate.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(
        base64.b64decode(message["Signature"]), text.encode(), padding.PKCS1v15(), hashes.SHA1()
    )


async def test_a_retry_carries_the_same_signed_message(mesh: Mesh, clock: VirtualClock) -> None:
    topic = mesh.topic("alerts", signature_version=2)
    async with Endpoint(clock, [500]) as receiver, mesh, HttpServer(mesh, "127.0.0.1", 0):
        subscription = topic.subscribe(receiver.url)
        await topic.publish("m")
        await eventually(lambda: subscription.attempts == 1)
        await clock.advance(20)
        await eventually(lambda: subscription.delivered == 1)
        first, retry = (orjson.loads(request.body) for request in receiver.requests)
        certificate = await fetch_certificate(retry["SigningCertURL"])
    assert first == retry
    assert verifies(retry, certificate)


async def test_the_signature_version_is_a_topic_attribute(mesh: Mesh) -> None:
    """SNS's ``SignatureVersion``: 1 by default, 1 or 2 only, changeable."""
    topic = mesh.topic("alerts")
    assert topic.signature_version == "1"
    topic.signature_version = 2
    assert topic.signature_version == "2"
    with pytest.raises(ConfigurationError, match=r"SignatureVersion is 1 \(SHA1\) or 2 \(SHA256\)"):
        topic.signature_version = "3"
    with pytest.raises(ConfigurationError, match="SignatureVersion is 1"):
        mesh.topic("other", signature_version=0)


async def test_function_and_queue_subscribers_keep_snss_fields_unsigned(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Copies that never leave the process carry a digest in place of the RSA signature
    (SNS's field, 28 base64 characters), so publishing to them costs no RSA operation."""
    got: list[dict[str, Any]] = []

    async def subscriber(envelope: dict[str, Any]) -> None:
        got.append(envelope)

    topic = mesh.topic("alerts")
    topic.subscribe(subscriber)
    async with mesh:
        await topic.publish("m")
        await clock.advance(0)
    assert len(got[0]["Signature"]) == 28
    assert got[0]["SignatureVersion"] == "1"


async def test_signing_needs_cryptography_and_says_so(
    mesh: Mesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "cryptography", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'eventmesh\[http\]'"):
        mesh.topic("alerts").subscribe("http://127.0.0.1:9/sns")


async def test_the_key_never_reaches_the_logs(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    from eventmesh.resources.sns_signing import mesh_signer

    topic = mesh.topic("alerts")
    with caplog.at_level(logging.DEBUG):
        async with Endpoint(clock, [500]) as receiver, mesh, HttpServer(mesh, "127.0.0.1", 0):
            subscription = topic.subscribe(receiver.url)
            await topic.publish("m")
            await eventually(lambda: subscription.attempts == 1)
            key = mesh_signer(mesh.context).loaded
    assert "PRIVATE KEY" not in caplog.text
    assert "PRIVATE" not in repr(key)


# -- one key per mesh storage ----------------------------------------------------------------
async def test_two_meshes_on_one_sqlite_file_sign_with_the_same_key(tmp_path: Any) -> None:
    """Workers sharing a durable backend agree on one key: both sign with it and serve the
    same certificate, so a message signed by one verifies with the other's certificate."""
    url = f"sqlite:///{tmp_path / 'mesh.db'}"
    meshes = [Mesh(storage=url, telemetry=Telemetry(enabled=False)) for _ in range(2)]
    topics = [mesh.topic("alerts") for mesh in meshes]
    async with Endpoint() as receiver:
        subscriptions = [topic.subscribe(receiver.url) for topic in topics]
        # Both start at once: each finds no key, makes one, and only one is kept.
        await asyncio.gather(*(mesh.start() for mesh in meshes))
        try:
            async with (
                HttpServer(meshes[0], "127.0.0.1", 0) as front_a,
                HttpServer(meshes[1], "127.0.0.1", 0) as front_b,
            ):
                await topics[1].publish("from b")
                await eventually(lambda: subscriptions[1].delivered == 1)
                message = orjson.loads(receiver.requests[0].body)
                path = message["SigningCertURL"].removeprefix(front_b.base_url)
                from_a = await fetch_certificate(front_a.base_url + path)
                from_b = await fetch_certificate(message["SigningCertURL"])
        finally:
            for mesh in meshes:
                await mesh.stop()
    assert from_a == from_b
    assert verifies(message, from_a)
