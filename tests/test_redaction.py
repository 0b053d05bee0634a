"""Secrets in endpoint URLs (user info, query values) stay out of every log line, error,
repr and dead-letter record, while the endpoint is still called with them; a function's
environment values stay out of its configuration's repr."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
from http_endpoint import Endpoint, eventually
from hypothesis import given, settings
from hypothesis import strategies as st

from eventmesh import ConfigurationError, Context, Mesh
from eventmesh._redact import redact_text, redact_url
from eventmesh.resources.bus import Target
from eventmesh.testing import VirtualClock

SECRET = "s3cr3t-value"


def with_secrets(url: str) -> str:
    """``http://127.0.0.1:port/path`` -> ``http://alice:SECRET@127.0.0.1:port/path?token=SECRET``"""
    return url.replace("http://", f"http://alice:{SECRET}@") + f"?token={SECRET}&v=2"


def redacted(url: str) -> str:
    """The same URL as it must be shown (written out, not computed by the code under test)."""
    return url.replace("http://", "http://***@") + "?token=***&v=***"


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(record.getMessage() for record in caplog.records)


async def test_a_topic_http_subscription_logs_no_secret(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="eventmesh")
    topic = mesh.topic("alerts")
    async with Endpoint(clock, [500, 500, 500, 500], path="/hook") as server, mesh:
        subscription = topic.subscribe(
            with_secrets(server.url),
            delivery_policy={"numRetries": 1, "minDelayTarget": 20, "maxDelayTarget": 20},
        )
        await topic.publish("hello")
        await eventually(lambda: subscription.attempts == 1)
        await clock.advance(20)
        await eventually(lambda: subscription.failed == 1)
        shown = [repr(subscription), subscription.endpoint]

    # The endpoint is called with its credentials and query string, unchanged.
    assert server.requests[0].line == f"POST /hook?token={SECRET}&v=2 HTTP/1.1"
    assert server.requests[0].headers["authorization"].startswith("Basic ")
    logged = everything_logged(caplog)
    assert "retrying in" in logged  # the DEBUG line of the first failure
    assert "failed after 2 attempt(s)" in logged
    assert f"POST {redacted(server.url)} answered 500" in logged
    assert shown == [f"<Subscription http {redacted(server.url)} of alerts>", redacted(server.url)]
    assert SECRET not in logged + "".join(shown)


async def test_a_connection_error_names_the_endpoint_without_its_secrets(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="eventmesh")
    async with Endpoint(path="/hook") as closed:
        url = closed.url  # nothing listens there once the server is closed
    topic = mesh.topic("alerts")
    async with mesh:
        subscription = topic.subscribe(with_secrets(url))
        await topic.publish("hello")
        await eventually(lambda: subscription.attempts == 1)

    logged = everything_logged(caplog)
    assert f"POST {redacted(url)} failed: ConnectError(" in logged
    assert SECRET not in logged


async def test_a_bus_http_target_keeps_secrets_out_of_logs_and_dead_letters(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="eventmesh")
    dead = mesh.queue("dlq")
    bus = mesh.bus("default")
    async with Endpoint(statuses=[503, 404], path="/events") as server, mesh:
        target = Target(with_secrets(server.url), dead_letter="dlq")
        rule = bus.rule("hook", pattern={"source": ["app.orders"]}, targets=[target])
        [bound] = rule.targets
        await bus.put_events([{"Source": "app.orders", "DetailType": "order", "Detail": {}}])
        await eventually(lambda: bound.attempts == 1)
        await clock.advance(60)  # past the first back-off (at most 1 minute with jitter)
        await eventually(lambda: bound.failed == 1)
        await clock.advance(0)
        [message] = await dead.receive(10)
        shown = [repr(target), repr(bound), bound.arn]

    attributes = {name: value["StringValue"] for name, value in message.message_attributes.items()}
    assert attributes["TARGET_ARN"] == redacted(server.url)
    assert attributes["ERROR_MESSAGE"] == f"POST {redacted(server.url)} answered 404"
    assert shown == [
        f"<Target {redacted(server.url)!r}>",
        f"<RuleTarget http {redacted(server.url)} of rule hook>",
        redacted(server.url),
    ]
    logged = everything_logged(caplog)
    assert "retrying in" in logged
    assert SECRET not in logged + "".join(shown) + str(attributes)


def test_function_config_repr_hides_environment_values(mesh: Mesh) -> None:
    @mesh.function(environment={"DB_PASSWORD": SECRET, "STAGE": "prod"})
    async def charge(event: Any, context: Context) -> None: ...

    shown = repr(charge.config)
    assert "environment={'DB_PASSWORD': '***', 'STAGE': '***'}" in shown
    assert SECRET not in shown
    assert charge.config.environment["DB_PASSWORD"] == SECRET  # the function still gets it


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.example.com/x", "https://hooks.example.com/x"),
        ("https://u:p@hooks.example.com:8443/x", "https://***@hooks.example.com:8443/x"),
        ("https://token@hooks.example.com/x", "https://***@hooks.example.com/x"),
        ("https://hooks.example.com/x?sig=abc&flag", "https://hooks.example.com/x?sig=***&***"),
        ("https://hooks.example.com/x#frag", "https://hooks.example.com/x"),
        ("http://[::1]:8080/x?k=v", "http://[::1]:8080/x?k=***"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_text_finds_urls_in_messages() -> None:
    text = "ConnectError('cannot reach http://u:pw@h:1/p?t=x'), then https://h2/?a=b."
    assert redact_text(text) == (
        "ConnectError('cannot reach http://***@h:1/p?t=***'), then https://h2/?a=***."
    )


def test_configuration_errors_name_the_endpoint_without_its_secrets(mesh: Mesh) -> None:
    topic = mesh.topic("alerts")
    url = "http://alice:s3cr3t-value@127.0.0.1:9/hook?token=s3cr3t-value"
    topic.subscribe(url)
    with pytest.raises(ConfigurationError) as caught:
        topic.subscribe(url, raw_message_delivery=True)
    assert str(caught.value) == (
        "http://***@127.0.0.1:9/hook?token=*** is already subscribed to topic 'alerts' with "
        "other settings"
    )


def test_redacting_text_finds_every_url_as_the_pattern_would() -> None:
    text = (
        "x1http://a:b@h/p?t=1, then (ftp://h2/?k=v). not a url: ://h3 or 9://h4 "
        "and 'svn+ssh://u:p@h5/r' <s3://bucket/k?sig=z>"
    )
    assert redact_text(text) == (
        "x1http://***@h/p?t=***, then (ftp://h2/?k=***). not a url: ://h3 or 9://h4 "
        "and 'svn+ssh://***@h5/r' <s3://bucket/k?sig=***>"
    )


_REFERENCE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def _reference_redact_text(text: str) -> str:
    """What redact_text must do, written as a regex (quadratic on long text, fine here)."""

    def one(match: re.Match[str]) -> str:
        found = match.group(0)
        url = found.rstrip(".,;:!?)]}")
        return redact_url(url) + found[len(url) :]

    return _REFERENCE_URL.sub(one, text)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(alphabet="ab9+-.:/ ?=&@'<>x)", max_size=40))
def test_redacting_text_agrees_with_the_reference_scan(text: str) -> None:
    assert redact_text(text) == _reference_redact_text(text)


async def failing_post(payload: Any) -> None:
    """A callable subscriber or target failing as an HTTP client does: naming the URL."""
    raise ConnectionError(f"POST {with_secrets('http://hooks.internal/x')} failed")


async def test_a_callable_subscribers_error_is_logged_without_the_url_it_names(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    # An HTTP client's error names the URL it called: the topic logs it, traceback included.
    caplog.set_level(logging.DEBUG, logger="eventmesh")
    topic = mesh.topic("alerts")
    topic.subscribe(failing_post)
    async with mesh:
        await topic.publish("hi")
        await clock.advance(3600)  # every retry of the delivery policy
        await eventually(lambda: topic.delivery_failures == 1)
    assert "POST http://***@hooks.internal/x?token=***&v=*** failed" in caplog.text
    assert "Traceback" in caplog.text
    assert SECRET not in caplog.text


async def test_a_schedules_callable_target_error_is_logged_without_the_url_it_names(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    # No retry: the one failure is given up at once, logged with its traceback.
    schedule = mesh.schedule("rate(1 minute)", failing_post, name="tick", retries=0)
    async with mesh:
        await clock.advance(61)
        await eventually(lambda: schedule.failures == 1)
    assert "POST http://***@hooks.internal/x?token=***&v=*** failed" in caplog.text
    assert "Traceback" in caplog.text
    assert SECRET not in caplog.text


async def test_a_callable_targets_error_reaches_the_dead_letter_without_the_url_it_names(
    mesh: Mesh, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    dead = mesh.queue("dlq")
    bus = mesh.bus("default")
    bus.rule(
        "hook",
        pattern={"source": ["app"]},
        targets=[Target(failing_post, dead_letter="dlq", max_retries=0)],
    )
    async with mesh:
        await bus.put_events([{"Source": "app", "DetailType": "d", "Detail": {}}])
        await clock.advance(1)
        [message] = await dead.receive(10)
    error = message.message_attributes["ERROR_MESSAGE"]["StringValue"]
    assert error == "POST http://***@hooks.internal/x?token=***&v=*** failed"
    assert SECRET not in caplog.text


MISTYPED = f"HTTPS://alice:{SECRET}@hooks.example.com/x"


@pytest.mark.parametrize(
    "configure",
    [
        lambda m: m.topic("alerts").subscribe(MISTYPED),
        lambda m: m.topic("alerts").subscribe(MISTYPED, raw_message_delivery=True),
        lambda m: m.bus().rule("r", pattern={"source": ["a"]}, targets=[MISTYPED]),
    ],
    ids=["topic-function", "topic-queue", "bus-target"],
)
async def test_a_mistyped_url_is_refused_at_start_without_its_secrets(
    mesh: Mesh, configure: Callable[[Mesh], Any]
) -> None:
    # "HTTPS://" is not the https protocol (SNS's protocols are lower case): the name resolves
    # to nothing, and the error names it without its credentials.
    configure(mesh)
    with pytest.raises(ConfigurationError) as caught:
        await mesh.start()
    await mesh.stop()
    assert SECRET not in str(caught.value)
    assert "://***@hooks.example.com/x" in str(caught.value)


def test_a_wrong_environment_value_is_refused_without_showing_it(mesh: Mesh) -> None:
    with pytest.raises(ConfigurationError) as caught:

        @mesh.function(environment={"DB_PASSWORD": SECRET.encode()})
        async def charge(event: Any, context: Context) -> None: ...

    assert str(caught.value) == (
        "environment variables must map str to str, got 'DB_PASSWORD': a bytes value"
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "sqlite:////var/lib/app/mesh.db?synchronous=NORMAL",
            "sqlite:////var/lib/app/mesh.db?synchronous=***",
        ),
        ("sqlite:///mesh.db?busy_timeout=5", "sqlite:///mesh.db?busy_timeout=***"),
        ("redis://:secret@cache:6379/0?prefix=app", "redis://***@cache:6379/0?prefix=***"),
        ("https://user:pw@example.com/hook#part", "https://***@example.com/hook"),
    ],
)
def test_a_redacted_url_keeps_its_path_whole(url: str, shown: str) -> None:
    """Only the user info and the query values are masked: an absolute SQLite path keeps its
    four slashes, so the message still says which file."""
    assert redact_url(url) == shown
