"""Outbound HTTP (topic subscriptions, bus targets) refuses link-local and cloud metadata
addresses, in every form they can be written, unless the mesh allows them explicitly:
at configuration when the address is literal, at delivery when a name resolves there."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

import pytest
from http_endpoint import eventually

from eventmesh import ConfigurationError, Mesh, Telemetry
from eventmesh.resources.bus import Target
from eventmesh.testing import VirtualClock

REFUSED = [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://169.254.10.20:8080/hook",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[fe80::1]/hook",
    "http://[fe80::1%25eth0]/hook",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[::169.254.169.254]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:a9fe:a9fe::1]/",
    "http://2852039166/",
    "http://0xa9fea9fe/",
    "http://0251.0376.0251.0376/",
    "http://169.254.43518/",
    "https://100.100.100.200/latest/meta-data/",
]
ALLOWED = [
    "http://127.0.0.1:9/hook",
    "http://[::1]:9/hook",
    "http://localhost:9/hook",
    "http://10.0.0.5/hook",
    "http://192.168.1.20/hook",
    "https://hooks.example.com/x",
]


@pytest.mark.parametrize("url", REFUSED)
def test_a_literal_metadata_address_is_refused_at_configuration(mesh: Mesh, url: str) -> None:
    topic = mesh.topic("alerts")
    with pytest.raises(ConfigurationError) as by_topic:
        topic.subscribe(url)
    bus = mesh.bus("default")
    with pytest.raises(ConfigurationError) as by_bus:
        bus.rule("hook", pattern={"source": ["a"]}, targets=[Target(url)])
    for caught in (by_topic, by_bus):
        message = str(caught.value)
        assert "is a link-local or cloud metadata address, refused for outbound HTTP" in message
        assert "Mesh(allow_http_hosts=[...])" in message
    assert topic.subscriptions == []
    assert bus.rules == {}


@pytest.mark.parametrize("url", ALLOWED)
def test_loopback_private_and_public_addresses_are_allowed(mesh: Mesh, url: str) -> None:
    mesh.topic("alerts").subscribe(url)
    mesh.bus("default").rule("hook", pattern={"source": ["a"]}, targets=[Target(url)])


@pytest.mark.parametrize(
    "allowed", [["169.254.169.254"], ["169.254.0.0/16"], ["fd00:ec2::254"], ["[fd00:ec2::254]"]]
)
def test_the_allow_list_lets_a_chosen_address_through(clock: VirtualClock, allowed: Any) -> None:
    mesh = Mesh(clock=clock, telemetry=Telemetry(enabled=False), allow_http_hosts=allowed)
    url = "http://[fd00:ec2::254]/" if ":" in allowed[0] else "http://169.254.169.254/"
    mesh.topic("alerts").subscribe(url)
    mesh.bus("default").rule("hook", pattern={"source": ["a"]}, targets=[Target(url)])


@pytest.mark.parametrize("allowed", ["169.254.169.254", [42], [""]])
def test_a_malformed_allow_list_is_refused(allowed: Any) -> None:
    with pytest.raises(ConfigurationError, match="allow_http_hosts"):
        Mesh(allow_http_hosts=allowed)


def resolve_to(address: str) -> Callable[..., Any]:
    """A stand-in for the system resolver: every name resolves to ``address``."""

    async def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, 80))]

    return getaddrinfo


async def test_a_name_resolving_to_metadata_fails_the_topic_delivery_without_retry(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture, monkeypatch: Any
) -> None:
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", resolve_to("169.254.169.254"))
    topic = mesh.topic("alerts")
    async with mesh:
        subscription = topic.subscribe("http://metadata.internal.test/hook?token=abc")
        await topic.publish("hello")
        await eventually(lambda: subscription.failed == 1)
    assert subscription.attempts == 1
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert line.endswith(
        "failed after 1 attempt(s): http://metadata.internal.test/hook?token=***: "
        "metadata.internal.test (169.254.169.254) is a link-local or cloud metadata address, "
        "refused for outbound HTTP; list the host in Mesh(allow_http_hosts=[...]) to allow it"
    )


async def test_a_name_resolving_to_ipv6_metadata_sends_the_bus_event_to_its_dead_letters(
    mesh: Mesh, clock: VirtualClock, monkeypatch: Any
) -> None:
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", resolve_to("fd00:ec2::254"))
    dead = mesh.queue("dlq")
    bus = mesh.bus("default")
    rule = bus.rule(
        "hook",
        pattern={"source": ["shop"]},
        targets=[Target("https://metadata.internal.test/", dead_letter="dlq")],
    )
    async with mesh:
        await bus.put_events([{"Source": "shop", "DetailType": "order", "Detail": {}}])
        await eventually(lambda: rule.targets[0].failed == 1)
        await clock.advance(0)
        [message] = await dead.receive(10)
    attributes = {name: value["StringValue"] for name, value in message.message_attributes.items()}
    assert attributes["ERROR_CODE"] == "NO_PERMISSIONS"
    assert attributes["ERROR_MESSAGE"] == (
        "https://metadata.internal.test/: metadata.internal.test (fd00:ec2::254) is a "
        "link-local or cloud metadata address, refused for outbound HTTP; list the host in "
        "Mesh(allow_http_hosts=[...]) to allow it"
    )
    assert rule.targets[0].attempts == 1


async def test_an_allowed_name_is_not_checked_at_delivery(
    clock: VirtualClock, monkeypatch: Any
) -> None:
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", resolve_to("169.254.169.254"))
    mesh = Mesh(
        clock=clock,
        telemetry=Telemetry(enabled=False),
        allow_http_hosts=["Metadata.Internal.Test"],
    )
    refusal = await mesh.egress.refusal("http://metadata.internal.test/hook")
    assert refusal is None
    assert await Mesh().egress.refusal("http://metadata.internal.test/hook") is not None
