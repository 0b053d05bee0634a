"""An in-memory mesh on a virtual clock with a function that keeps what it is sent.

A builder declares its resources on :attr:`Sampling.mesh`, wires them to
:meth:`Sampling.receiver` and returns the act (send a message, put an object, handle a
request...); :meth:`Sampling.run` starts the mesh, acts, moves the virtual clock until the
receiver got its event, and returns that event, decoded from JSON as a handler gets it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import orjson

from eventmesh._context import Context
from eventmesh._errors import EventMeshError
from eventmesh._function import Function
from eventmesh._mesh import Mesh
from eventmesh.cli._sample_events import SampleError
from eventmesh.telemetry import Telemetry
from eventmesh.testing import VirtualClock

__all__ = ["Act", "Given", "Sampling"]

Act = Callable[[], Awaitable[object]]
"""What makes the mesh deliver the event, called once the mesh runs."""

_STEP = 1.0  # virtual seconds per move of the clock while waiting for the event
_PATIENCE = 600.0  # virtual seconds before giving up on an event that does not come


class Sampling:
    """One mesh for one event (``region``, ``account_id`` for its ARNs; ``start`` the epoch
    second its virtual clock starts at)."""

    def __init__(self, *, region: str, account_id: str, start: float) -> None:
        self.clock = VirtualClock(start=start)
        self.mesh = Mesh(
            clock=self.clock,
            region=region,
            account_id=account_id,
            telemetry=Telemetry(enabled=False),
            drain_timeout=1.0,
        )
        self.region = region
        self.events: list[Any] = []

    def receiver(self, name: str = "sample-function", **settings: Any) -> Function:
        """The function that keeps the events it gets (answering as an HTTP integration
        wants); ``settings`` as ``mesh.function`` takes them (``url=True``...)."""
        events = self.events

        async def keep(event: Any, context: Context) -> dict[str, Any]:
            events.append(event)
            return {"statusCode": 200, "body": ""}

        function: Function = self.mesh.function(name=name, **settings)(keep)
        return function

    async def run(self, act: Act) -> Any:
        """Start the mesh, act, and wait (on the virtual clock) for the first event."""
        async with self.mesh:
            await act()
            waited = 0.0
            while not self.events:
                if waited >= _PATIENCE:
                    raise EventMeshError(
                        f"the mesh delivered no event in {_PATIENCE:g} virtual seconds"
                    )
                await self.clock.advance(_STEP)
                waited += _STEP
            return self.events[0]


class Given:
    """The options of one sample: those given, else the sample's defaults."""

    def __init__(self, given: Mapping[str, Any], defaults: Mapping[str, str]) -> None:
        self._given = given
        self._defaults = defaults

    def optional(self, name: str) -> str | None:
        """The option's text, its default, or None."""
        value = self._given.get(name)
        if value is None:
            return self._defaults.get(name)
        return str(value)

    def text(self, name: str) -> str:
        """The option's text or its default (a builder asks only for options that have one)."""
        value = self.optional(name)
        if value is None:
            raise SampleError(f"--{name} is required")
        return value

    def was_given(self, name: str) -> bool:
        return self._given.get(name) is not None

    def many(self, name: str) -> Sequence[str]:
        """A repeatable option's values, in order (none when not given)."""
        values = self._given.get(name)
        return list(values) if values else []

    def json(self, name: str) -> Any:
        """The option's text decoded as JSON, or None when neither given nor defaulted."""
        text = self.optional(name)
        if text is None:
            return None
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise SampleError(f"--{name}: not JSON ({exc})") from None

    def json_object(self, name: str) -> dict[str, Any] | None:
        """The option decoded as a JSON object (None when absent)."""
        value = self.json(name)
        if value is not None and not isinstance(value, dict):
            raise SampleError(f'--{name}: a JSON object, e.g. \'{{"name": "value"}}\'')
        return value
