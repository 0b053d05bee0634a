"""The delivery layer: one target resolution for every source, one error classification, one
retry policy type, one HTTP sender."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventmesh import (
    BackendError,
    BackpressureError,
    ConfigurationError,
    Context,
    Mesh,
    PayloadError,
    RecursiveInvocationError,
    RequestTooLargeError,
    ResourceNotFoundError,
    TooManyRequestsError,
)
from eventmesh._invoker import EncodedEvent, encode_payload
from eventmesh.delivery.errors import DeliveryError, classify
from eventmesh.delivery.retry import (
    AWS_MANAGED_POLICY,
    HTTP_DEFAULT_POLICY,
    BackoffPolicy,
    DeliveryPolicy,
    GiveUp,
)
from eventmesh.delivery.target import DeliveryContext, Outgoing, UnresolvedTarget, resolve_target
from eventmesh.delivery.targets import KINDS
from eventmesh.testing import RecordingDestination, VirtualClock, settle


# -- classification (EventBridge's ERROR_CODEs; SNS retries the same server-side errors) ------
@pytest.mark.parametrize(
    ("error", "code", "retried"),
    [
        (
            TooManyRequestsError(
                "throttled", reason="ReservedFunctionConcurrentInvocationLimitExceeded"
            ),
            "THROTTLING",
            True,
        ),
        (BackpressureError("full", resource="q", kind="queue", limit=1), "THROTTLING", True),
        (BackendError("disk"), "INTERNAL_ERROR", True),
        (TimeoutError(), "TIMEOUT", True),
        (ConnectionRefusedError(), "CONNECTION_FAILURE", True),
        (ResourceNotFoundError("gone"), "NO_RESOURCE", False),
        (PayloadError("too big"), "INVALID_PARAMETER", False),
        (RecursiveInvocationError("loop"), "SDK_CLIENT_ERROR", False),
        (DeliveryError("ERROR_FROM_TARGET", "404", retryable=False), "ERROR_FROM_TARGET", False),
    ],
)
def test_a_failed_attempt_is_classified_once_for_every_source(
    error: Exception, code: str, retried: bool
) -> None:
    assert classify(error) == (code, retried)


def test_a_callable_targets_own_failure_is_retried() -> None:
    assert classify(ValueError("bug"), callable_target=True) == ("ERROR_FROM_TARGET", True)


# -- retry policies ---------------------------------------------------------------------------
@given(retry=st.integers(min_value=0, max_value=40))
def test_a_delivery_policy_resumes_from_a_count_with_the_delays_it_yields(retry: int) -> None:
    """A stored delivery resumes after a restart from its retry count: delay_of(n) is the n-th
    value of delays(), for SNS's policies of every shape."""
    policy = DeliveryPolicy(
        num_retries=30,
        num_no_delay_retries=2,
        num_min_delay_retries=3,
        num_max_delay_retries=5,
        min_delay_target=2,
        max_delay_target=40,
        backoff_function="exponential",
    )
    delays = list(policy.delays())
    assert policy.delay_of(retry) == (delays[retry] if retry < len(delays) else None)


def test_sns_policies_give_up_when_their_retries_are_spent() -> None:
    rng = random.Random(0)
    assert [HTTP_DEFAULT_POLICY.next_retry(n, 0.0, rng) for n in range(4)] == [
        20.0,
        20.0,
        20.0,
        GiveUp("RetriesExhausted"),
    ]
    assert AWS_MANAGED_POLICY.next_retry(0, 0.0, rng) == 0.0
    assert AWS_MANAGED_POLICY.next_retry(100_013, 0.0, rng) == 20.0
    assert AWS_MANAGED_POLICY.next_retry(100_014, 0.0, rng) == GiveUp("RetriesExhausted")


def test_eventbridge_gives_up_at_the_retry_count_or_the_event_age() -> None:
    policy = BackoffPolicy(max_retries=2, max_event_age=60)
    rng = random.Random(1)
    first = policy.next_retry(0, 0.0, rng)
    assert isinstance(first, float) and 0.5 < first <= 1.0  # 1 s with up to 50 % jitter
    assert policy.next_retry(2, 0.0, rng) == GiveUp("MaximumRetryAttempts")
    assert policy.next_retry(1, 59.5, rng) == GiveUp("MaximumEventAgeInSeconds")


# -- targets -----------------------------------------------------------------------------------
async def test_every_kind_resolves_by_object_name_or_arn(mesh: Mesh) -> None:
    @mesh.function
    async def handler(event: Any, context: Any) -> None:
        pass

    queue, topic, stream, bus = mesh.queue("q"), mesh.topic("t"), mesh.stream("s"), mesh.bus("b")
    recording = RecordingDestination()
    mesh.register_resource("recording", recording)

    async def call(value: Any) -> None:
        pass

    def kind(spec: Any) -> str:
        return resolve_target(spec, mesh.context, KINDS, allowed={k.name for k in KINDS}).kind

    for spec in (queue, "q", queue.arn):
        assert kind(spec) == "sqs"
    for spec in (topic, "t", topic.arn):
        assert kind(spec) == "sns"
    for spec in (stream, "s", stream.arn):
        assert kind(spec) == "kinesis"
    for spec in (bus, "b", bus.arn):
        assert kind(spec) == "events"
    arn = "arn:aws:lambda:us-east-1:123456789012:function:handler"
    for spec in (handler, "handler", "handler:$LATEST", arn):
        assert kind(spec) == "lambda"
    assert kind("https://example.com/hook") == "http"
    assert kind("recording") == kind(recording) == "destination"
    assert kind(call) == "callable"


async def test_a_kind_the_owner_does_not_take_or_a_missing_name_is_unresolved(
    mesh: Mesh,
) -> None:
    mesh.stream("s")
    with pytest.raises(UnresolvedTarget) as refused:
        resolve_target("s", mesh.context, KINDS, allowed={"lambda", "sqs"})
    assert refused.value.kind == "kinesis"
    with pytest.raises(UnresolvedTarget) as missing:
        resolve_target("nobody", mesh.context, KINDS, allowed={"lambda", "sqs"})
    assert isinstance(missing.value.cause, ResourceNotFoundError)
    with pytest.raises(UnresolvedTarget):
        resolve_target(
            "arn:aws:sqs:us-east-1:123456789012:absent", mesh.context, KINDS, allowed={"sqs"}
        )


class Recorded:
    kind = "recorder"
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:recorder"

    def __init__(self) -> None:
        self.values: list[Any] = []

    async def deliver(self, outgoing: Outgoing, timeout: float | None = None) -> None:
        self.values.append(outgoing.value())


class _RecorderKind:
    """A new kind of target is one module like this and a place in the kinds."""

    name = "recorder"

    def __init__(self) -> None:
        self.target = Recorded()

    def claims(self, spec: Any, context: DeliveryContext) -> bool:
        return isinstance(spec, str) and spec.startswith("arn:aws:states:")

    def bind(self, spec: Any, context: DeliveryContext) -> Recorded:
        return self.target


async def test_a_new_kind_of_target_is_one_registration(mesh: Mesh) -> None:
    kind = _RecorderKind()
    target = resolve_target(Recorded.arn, mesh.context, (kind, *KINDS), allowed={"recorder"})
    await target.deliver(Outgoing({"state": "go"}))
    assert kind.target.values == [{"state": "go"}]


def test_outgoing_makes_text_or_value_only_when_a_target_asks() -> None:
    value = {"a": [1, 2]}
    outgoing = Outgoing(value)
    assert outgoing.value() is value and outgoing.text == '{"a":[1,2]}'
    assert Outgoing("plain").text == "plain" and Outgoing("plain").value() == "plain"
    parsed = Outgoing(text='{"b":true}', is_json=True)
    assert parsed.value() == {"b": True}
    assert Outgoing(text="{not json", is_json=False).value() == "{not json"


def test_outgoing_json_a_source_encoded_is_passed_on_as_it_is() -> None:
    """JSON a source already holds (a bus event, a topic's Lambda event) is ``encoded``:
    text and value are made from it on demand, each value a fresh parse."""
    data = b'{"b":[1,"\\u00e9"]}'
    outgoing = Outgoing(data=data, trigger="pubsub")
    assert outgoing.encoded is data and outgoing.is_json
    assert outgoing.text == '{"b":[1,"\\u00e9"]}'  # the text as encoded
    assert outgoing.value() == {"b": [1, "é"]}
    assert Outgoing({"a": 1}).encoded is None


async def test_a_function_target_invokes_with_the_encoded_bytes_as_they_are(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """The function gets the event the bytes hold; the bytes are taken as they are (the
    invocation's size limit still applies to them)."""
    got: list[Any] = []

    @mesh.function(name="fn")
    async def fn(event: Any, context: Context) -> None:
        got.append(event)

    data = b'{"k":"v","n":[1,2]}'
    assert encode_payload(EncodedEvent(data), 100, "fn") is data
    with pytest.raises(RequestTooLargeError):
        encode_payload(EncodedEvent(data), len(data) - 1, "fn")
    async with mesh:
        target = resolve_target("fn", mesh.context, KINDS, allowed={"lambda"})
        await target.deliver(Outgoing(data=data, trigger="pubsub"))
        await clock.advance(0)
    assert got == [{"k": "v", "n": [1, 2]}]


class ThirdPartyContext:
    """A DeliveryContext written outside eventmesh: it records the events it is asked to
    invoke with, and delegates the rest to the mesh's."""

    def __init__(self, mesh_context: DeliveryContext) -> None:
        self._mesh_context = mesh_context
        self.events: list[Any] = []

    @property
    def egress(self) -> Any:
        return self._mesh_context.egress

    @property
    def http(self) -> Any:
        return self._mesh_context.http

    def find_resource(self, name_or_arn: str) -> object | None:
        return self._mesh_context.find_resource(name_or_arn)

    def resolve_function(self, target: Any) -> Any:
        return self._mesh_context.resolve_function(target)

    async def invoke_async(
        self, target: Any, event: Any, *, trigger: str, timeout: float | None = None
    ) -> str:
        self.events.append(event)
        return "request-id"


class EncodedAwareContext(ThirdPartyContext):
    """One that declares it takes an :class:`EncodedEvent` (the mesh's own context does)."""

    accepts_encoded_events = True


async def test_a_context_that_does_not_declare_encoded_events_gets_the_decoded_event(
    mesh: Mesh,
) -> None:
    """The contract of ``DeliveryContext.invoke_async``: its event is a JSON value, unless the
    context declares ``accepts_encoded_events``; then JSON eventmesh encoded itself comes as
    an :class:`EncodedEvent` holding the very bytes (importable from the public module)."""
    from eventmesh.delivery.target import EncodedEvent as PublicEncodedEvent
    from eventmesh.delivery.target import accepts_encoded_events

    @mesh.function(name="fn")
    async def fn(event: Any, context: Context) -> None:
        pass

    data = b'{"k":"v","n":[1,2]}'
    plain, aware = ThirdPartyContext(mesh.context), EncodedAwareContext(mesh.context)
    for context in (plain, aware):
        target = resolve_target("fn", context, KINDS, allowed={"lambda"})
        await target.deliver(Outgoing(data=data, trigger="pubsub"))
        await target.deliver(Outgoing({"a": 1}))
    assert plain.events == [{"k": "v", "n": [1, 2]}, {"a": 1}]
    encoded, value = aware.events
    assert type(encoded) is PublicEncodedEvent and encoded.data is data
    assert value == {"a": 1}
    assert PublicEncodedEvent is EncodedEvent
    assert (accepts_encoded_events(plain), accepts_encoded_events(aware)) == (False, True)
    assert accepts_encoded_events(mesh.context)


async def test_a_bucket_refuses_a_missing_target_naming_itself(
    mesh: Mesh, clock: VirtualClock
) -> None:
    mesh.bucket("photos").notify("nobody")
    with pytest.raises(ConfigurationError, match=r"notification .* of bucket 'photos': no func"):
        await mesh.start()
    await settle()
