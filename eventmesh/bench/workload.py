"""The handlers both sides of a scenario run: the work asked for, then one latency sample.

Every event carries ``"t"``, its intended send time on ``time.perf_counter``; a handler reads
it from wherever the event shape puts it (``times``), does its work (``--handler``), and
appends ``finish - t`` and ``finish`` to the recorder. eventmesh and the baseline get the
very same handler object, so the only difference between the sides is what delivers the
event.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Coroutine, Iterable
from time import perf_counter
from typing import Any, Protocol

import orjson

from eventmesh.bench.options import Work
from eventmesh.bench.recorder import Recorder

__all__ = [
    "BenchHandler",
    "EventFactory",
    "event_factory",
    "eventbridge_times",
    "kinesis_times",
    "make_handler",
    "sns_envelope_times",
    "sns_times",
    "sqs_times",
]

Times = Callable[[Any], Iterable[float]]
"""The intended send times of the events an invocation carries (several for a batch)."""

EventFactory = Callable[[float], dict[str, Any]]
"""An event for an intended send time."""

_loads = orjson.loads
_b64decode = base64.b64decode


class BenchHandler(Protocol):
    """``handler(event, context)``; the context is optional (callables get none)."""

    def __call__(self, event: Any, context: Any = None, /) -> Coroutine[Any, Any, None]: ...


def sqs_times(event: Any) -> Iterable[float]:
    return [_loads(record["body"])["t"] for record in event["Records"]]


def kinesis_times(event: Any) -> Iterable[float]:
    return [_loads(_b64decode(record["kinesis"]["data"]))["t"] for record in event["Records"]]


def sns_times(event: Any) -> Iterable[float]:
    return [_loads(record["Sns"]["Message"])["t"] for record in event["Records"]]


def sns_envelope_times(event: Any) -> Iterable[float]:
    return (_loads(event["Message"])["t"],)


def eventbridge_times(event: Any) -> Iterable[float]:
    return (event["detail"]["t"],)


def event_factory(payload_size: int) -> EventFactory:
    """``{"t": t}``, plus ``"pad"``: ``payload_size`` bytes of padding when asked for."""
    if payload_size <= 0:
        return lambda t: {"t": t}
    pad = "x" * payload_size
    return lambda t: {"t": t, "pad": pad}


def make_handler(recorder: Recorder, work: Work, times: Times | None = None) -> BenchHandler:
    """A handler doing ``work`` then recording one sample per event it carries.

    ``times=None`` means the event itself is ``{"t": ...}``. The no-op single-event handler
    is spelt out separately: it is the floor the ``invoke`` scenario is measured against, so
    it does nothing but the two appends.
    """
    latency = recorder.latencies.append
    finished = recorder.finishes.append
    clock = perf_counter
    if work.kind == "noop" and times is None:

        async def noop(event: Any, context: Any = None, /) -> None:
            now = clock()
            latency(now - event["t"])
            finished(now)

        return noop

    seconds = work.seconds
    sleep = work.kind == "sleep"
    spin = work.kind == "cpu"

    async def handler(event: Any, context: Any = None, /) -> None:
        if sleep:
            await asyncio.sleep(seconds)
        elif spin:
            until = clock() + seconds
            while clock() < until:
                pass
        now = clock()
        if times is None:
            latency(now - event["t"])
            finished(now)
        else:
            for t in times(event):
                latency(now - t)
                finished(now)

    return handler


async def empty_init(context: Any = None) -> None:
    """The init hook of the cold-start scenario: no user code, so what remains is ours."""
    return None
