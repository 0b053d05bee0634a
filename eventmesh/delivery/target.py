"""A target: where one delivery goes, resolved once from what the user gave.

A source (a topic, a bus, a bucket, a schedule) builds an :class:`Outgoing` for each delivery
and hands it to its :class:`Target`; what the target does with it depends on its kind, one
kind per module of :mod:`eventmesh.delivery.targets`, registered once in
:data:`~eventmesh.delivery.targets.KINDS`. :func:`resolve_target` asks each kind in turn
whether it takes what the user gave (a function, a resource, a name or an ARN, a URL, a
callable), so a new kind (state machines are next) is one module and one registration.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol

import orjson

from eventmesh._destinations import MessageAttributes
from eventmesh._egress import EgressPolicy
from eventmesh._errors import ConfigurationError, EventMeshError
from eventmesh._function import Function, FunctionTarget
from eventmesh._invoker import EncodedEvent
from eventmesh._redact import redact_text
from eventmesh.delivery.http import HttpSender

__all__ = [
    "DeliveryContext",
    "EncodedEvent",
    "Outgoing",
    "Target",
    "TargetKind",
    "UnresolvedTarget",
    "accepts_encoded_events",
    "resolve_target",
]


class DeliveryContext(Protocol):
    """What a target needs from the mesh (a subset of what a resource is given).

    ``invoke_async``'s ``event`` is a JSON value (what the function's handler receives), or,
    only for a context that declares ``accepts_encoded_events = True`` (the mesh's own
    does), an :class:`EncodedEvent`: JSON that eventmesh encoded itself (valid, without NaN),
    as bytes in its ``data``, to be used as the invocation's payload as it is, with no parse
    and no second encoding. A context that does not declare it never gets one (see
    :func:`accepts_encoded_events`).
    """

    @property
    def egress(self) -> EgressPolicy: ...

    @property
    def http(self) -> HttpSender: ...

    def find_resource(self, name_or_arn: str) -> object | None: ...

    def resolve_function(self, target: Function | str) -> FunctionTarget: ...

    async def invoke_async(
        self,
        target: FunctionTarget,
        event: Any | EncodedEvent,
        *,
        trigger: str,
        timeout: float | None = None,
    ) -> str: ...


def accepts_encoded_events(context: DeliveryContext) -> bool:
    """Whether ``context`` declares that its ``invoke_async`` takes an :class:`EncodedEvent`
    (an attribute ``accepts_encoded_events`` that is True), so a target may hand it JSON
    bytes eventmesh encoded instead of the decoded value."""
    return getattr(context, "accepts_encoded_events", False) is True


class Outgoing:
    """One delivery as the source shaped it.

    Functions, callables and destinations get :meth:`value`; text targets (queues, topics,
    streams, HTTP) get :attr:`text`, the value as JSON, or the text itself for a str (each
    made only when a target asks). A source that already holds the JSON, encoded by
    eventmesh itself (a bus event, a topic's Lambda event), gives it as ``data``: a function
    target then hands those bytes on as they are (:attr:`encoded`), with no parse and no
    second encoding. ``attributes`` go with a queue message or a topic
    publication, ``subject`` with a publication, ``partition_key`` with a stream record,
    ``headers`` with an HTTP POST; ``trigger`` names the source of a function's asynchronous
    invocation; ``event`` and ``origin``, when set, are a bus event forwarded to another bus
    as itself.
    """

    __slots__ = (
        "_text",
        "_value",
        "attributes",
        "encoded",
        "event",
        "headers",
        "is_json",
        "origin",
        "partition_key",
        "subject",
        "trigger",
    )

    def __init__(
        self,
        value: Any = None,
        *,
        text: str | None = None,
        data: bytes | None = None,
        is_json: bool | None = None,
        attributes: MessageAttributes | None = None,
        subject: str | None = None,
        partition_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        trigger: str = "other",
        event: Any = None,
        origin: Any = None,
    ) -> None:
        """``value`` (a str is sent as that text, anything else as JSON); or ``text`` with
        ``is_json`` saying whether it is JSON (then functions get it parsed); or ``data``,
        JSON that eventmesh encoded (valid, no NaN: trusted as it is)."""
        self.encoded: bytes | None = data
        """JSON encoded by eventmesh, when the source gave it (a function target passes it
        on as it is)."""
        if data is not None:
            self._value, self._text = _UNPARSED, None
            self.is_json = True
        elif text is None:
            self._value, self._text = value, value if isinstance(value, str) else None
            self.is_json = not isinstance(value, str)
        else:
            self._value, self._text = _UNPARSED, text
            self.is_json = bool(is_json)
        self.attributes = attributes
        self.subject = subject
        self.partition_key = partition_key
        self.headers = headers
        self.trigger = trigger
        self.event = event
        self.origin = origin

    @property
    def text(self) -> str:
        text = self._text
        if text is None:
            data = self.encoded
            text = data.decode() if data is not None else orjson.dumps(self._value).decode()
            self._text = text
        return text

    def value(self) -> Any:
        value = self._value
        if value is _UNPARSED:
            data = self.encoded
            if data is not None:
                value = orjson.loads(data)
            else:
                text = self.text
                value = orjson.loads(text) if self.is_json else text
            self._value = value
        return value


_UNPARSED: Any = object()


class Target(Protocol):
    """A resolved target. ``kind`` is EventBridge's name for it (``lambda``, ``sqs``, ``sns``,
    ``kinesis``, ``events``, ``http``, ``callable``, or ``destination``); ``arn`` what logs
    and dead letters call it (a URL without its credentials, a callable's name)."""

    kind: str

    @property
    def arn(self) -> str: ...

    async def deliver(self, outgoing: Outgoing, timeout: float | None = None) -> Any:
        """Deliver once; raises on failure. ``timeout``: how long a function or resource at
        its pending limit may be waited for."""
        ...


class TargetKind(Protocol):
    """One kind of target: whether it takes a spec, and the target it makes of it."""

    name: str

    def claims(self, spec: Any, context: DeliveryContext) -> bool:
        """Whether ``spec`` (as the user gave it) is a target of this kind."""
        ...

    def bind(self, spec: Any, context: DeliveryContext) -> Target: ...


class UnresolvedTarget(ConfigurationError):
    """``spec`` stands for no target this owner takes: ``kind`` is the kind that claimed it
    but is not allowed here (None when no kind could use it), ``found`` what a name named,
    ``cause`` the lookup's own error. The owner words the message (its own name first)."""

    def __init__(
        self,
        spec: Any,
        *,
        kind: str | None = None,
        found: object | None = None,
        cause: Exception | None = None,
    ) -> None:
        detail = f"{spec!r} is a {kind} target" if kind else f"nothing named {spec!r}"
        super().__init__(redact_text(detail if cause is None else f"{detail} ({cause})"))
        self.spec = spec
        self.kind = kind
        self.found = found
        self.cause = cause


def resolve_target(
    spec: Any, context: DeliveryContext, kinds: Sequence[TargetKind], *, allowed: Collection[str]
) -> Target:
    """The target ``spec`` stands for: made by the first of ``kinds`` that claims it, which
    must be one of ``allowed``; otherwise :class:`UnresolvedTarget`."""
    for kind in kinds:
        if not kind.claims(spec, context):
            continue
        found = context.find_resource(spec) if isinstance(spec, str) else None
        if kind.name not in allowed:
            raise UnresolvedTarget(spec, kind=kind.name, found=found)
        try:
            return kind.bind(spec, context)
        except EventMeshError as exc:
            raise UnresolvedTarget(spec, found=found, cause=exc) from None
    found = context.find_resource(spec) if isinstance(spec, str) else None
    raise UnresolvedTarget(spec, found=found)
