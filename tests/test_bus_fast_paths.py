"""The bus's short cuts for the usual event agree with its general path.

``put_events`` makes an event as its JSON only (the envelope is parsed when something asks for
it), checks the usual entry inline (the helpers check the rest and word the errors), encodes
``detail-type``, ``source`` and ``account`` once per pair of values, writes the time once per
second, lets the rule index decide alone a rule that names only ``source`` and ``detail-type``
with exact strings, and hands the event to a plain function target's queue itself. Each test
puts the short cut beside the general path (a rule whose pattern must run, a target with an
input of its own, an entry the helpers check) and expects the same event, or the error the
helpers give.

Expected values are written by hand (reference §4.5); time is the VirtualClock
(2026-01-01T00:00:00Z = 1767225600).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from eventmesh import Context, Mesh
from eventmesh.patterns import Pattern
from eventmesh.resources import bus as bus_module
from eventmesh.resources.bus import Target
from eventmesh.testing import VirtualClock

ACCOUNT = "123456789012"
EPOCH = 1_767_225_600


def entry(detail: Any = None, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "Source": "app.orders",
        "DetailType": "order",
        "Detail": {"id": 1} if detail is None else detail,
    }
    base.update(fields)
    return base


def envelope(
    event_id: str,
    detail: Any,
    *,
    source: str = "app.orders",
    detail_type: str = "order",
    time: str = "2026-01-01T00:00:00Z",
    resources: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": time,
        "region": "us-east-1",
        "resources": resources or [],
        "detail": detail,
    }


def ids(answer: dict[str, Any]) -> list[str]:
    return [result["EventId"] for result in answer["Entries"]]


async def test_a_rule_the_index_decides_alone_gets_what_a_checked_rule_gets(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """One rule names only the source (the index decides it), another the source and a
    detail field (its pattern runs, on the envelope parsed from the event's JSON), a third
    a detail value the event lacks: the first two functions get the same event, and a
    transformed input of the first rule reads the same envelope."""
    got: dict[str, list[Any]] = {"index": [], "checked": [], "never": [], "input": []}

    def recorder(name: str) -> Any:
        async def handler(event: Any, context: Context) -> None:
            got[name].append(event)

        return handler

    functions = {name: mesh.function(name=name)(recorder(name)) for name in got}
    bus = mesh.bus()
    bus.rule(
        "by-index",
        pattern={"source": ["app.orders"]},
        targets=[functions["index"], Target(functions["input"], input_path="$.detail")],
    )
    bus.rule(
        "checked",
        pattern={"source": ["app.orders"], "detail": {"id": [1]}},
        targets=[functions["checked"]],
    )
    bus.rule("never", pattern={"detail": {"id": [2]}}, targets=[functions["never"]])
    async with mesh:
        answer = await bus.put_events([entry(), entry({"id": 3})])
        await clock.advance(0)

    first, second = ids(answer)
    assert got["index"] == [envelope(first, {"id": 1}), envelope(second, {"id": 3})]
    assert got["checked"] == [envelope(first, {"id": 1})]
    assert got["never"] == []
    assert got["input"] == [{"id": 1}, {"id": 3}]


async def test_a_rule_disabled_or_changed_after_its_events_were_routed(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """The index keeps the rules of a source and detail-type it has seen; disabling the rule
    stops its deliveries at once, enabling it brings them back, and a new pattern (or a new
    rule) is taken into account from the next event."""
    got: list[int] = []

    @mesh.function(name="fn")
    async def fn(event: Any, context: Context) -> None:
        got.append(event["detail"]["id"])

    bus = mesh.bus()
    rule = bus.rule("r", pattern={"source": ["app.orders"], "detail-type": ["order"]}, targets=[fn])
    async with mesh:
        await bus.put_events([entry({"id": 1})])
        rule.enabled = False
        await bus.put_events([entry({"id": 2})])
        rule.enabled = True
        await bus.put_events([entry({"id": 3})])
        rule.pattern = Pattern({"source": ["app.orders"], "detail": {"id": [5]}})
        await bus.put_events([entry({"id": 4}), entry({"id": 5})])
        bus.rule("other", pattern={"detail-type": ["order"]}, targets=[fn])
        await bus.put_events([entry({"id": 6})])
        await clock.advance(0)

    assert sorted(got) == [1, 3, 5, 6]
    assert rule.matched == 3


async def test_the_time_is_written_once_per_second_as_datetime_writes_it(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """Events of one second share its text; a ``Time`` given in another second, or so close
    to the next that it rounds up (0.4 µs before it), is written as its own; the clock's
    second afterwards is still right."""
    seen: list[str] = []

    async def callback(event: dict[str, Any]) -> None:
        seen.append(event["time"])

    bus = mesh.bus()
    bus.rule("all", pattern={}, targets=[callback])
    async with mesh:
        await clock.advance(0.25)
        await bus.put_events(
            [
                entry(),
                entry(Time=EPOCH + 0.9999996),  # rounds to the next second
                entry(Time=EPOCH + 0.999999),  # does not
                entry(Time=EPOCH - 3600.5),
                entry(),
            ]
        )
        await clock.advance(0.7499999)  # 0.1 µs before the next second: rounds up
        await bus.put_events([entry()])
        await clock.advance(0.5)
        await bus.put_events([entry()])
        await clock.advance(0)

    assert seen == [
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:01Z",
        "2026-01-01T00:00:00Z",
        "2025-12-31T22:59:59Z",
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:01Z",
        "2026-01-01T00:00:01Z",
    ]


async def test_text_that_needs_escaping_and_the_headings_kept(
    mesh: Mesh, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sources and detail-types with quotes, backslashes, control characters and non-ASCII
    text give the JSON orjson gives for the whole envelope, byte for byte, however many
    pairs of values the bus has seen (its cache of their text starts over past its size)."""
    monkeypatch.setattr(bus_module, "_MAX_HEADINGS", 2)
    inbox = mesh.queue("inbox")
    bus = mesh.bus()
    bus.rule("all", pattern={}, targets=[inbox])
    pairs = [
        ('app "quoted" \\ é', "ordre ✓"),
        ("app.orders", "line\nbreak\t"),
        ("app.orders", "order"),
        ("\u2028app", "order"),
    ]
    entries = [entry({"n": n}, Source=s, DetailType=t) for n, (s, t) in enumerate(pairs * 2)]
    async with mesh:
        answer = await bus.put_events(entries)
        await clock.advance(0)
        messages = await inbox.receive(10)

    assert answer["FailedEntryCount"] == 0
    bodies = {message.json()["id"]: message.body for message in messages}
    for event_id, (n, (source, detail_type)) in zip(ids(answer), enumerate(pairs * 2), strict=True):
        expected = envelope(event_id, {"n": n}, source=source, detail_type=detail_type)
        assert bodies[event_id] == orjson.dumps(expected).decode()


async def test_details_the_inline_check_leaves_to_the_helpers(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """A detail holding null is fine (checked once more for NaN, which orjson writes as
    null); NaN, a key that is not a string and a lone surrogate are MalformedDetail with
    the helpers' words; a mapping that is not a dict is taken as one."""
    from types import MappingProxyType

    seen: list[Any] = []

    async def callback(event: dict[str, Any]) -> None:
        seen.append(event["detail"])

    bus = mesh.bus()
    bus.rule("all", pattern={}, targets=[callback])
    async with mesh:
        answer = await bus.put_events(
            [
                entry({"a": None}),
                entry({"a": float("nan")}),
                entry({1: 2}),
                entry({"a": "\ud800"}),
                entry(MappingProxyType({"b": [1, None]})),
            ]
        )
        await clock.advance(0)

    results = answer["Entries"]
    assert [result.get("ErrorCode") for result in results] == [
        None,
        "MalformedDetail",
        "MalformedDetail",
        "MalformedDetail",
        None,
    ]
    assert "NaN" in results[1]["ErrorMessage"] or "nan" in results[1]["ErrorMessage"].lower()
    assert results[2]["ErrorMessage"].startswith("Detail is malformed: ")
    assert results[3]["ErrorMessage"].startswith("Detail is malformed: ")
    assert seen == [{"a": None}, {"b": [1, None]}]


async def test_the_size_limit_counts_utf8_bytes_of_dict_details_and_text(mesh: Mesh) -> None:
    """The limit (1 MB) counts ``Source``, ``DetailType`` and the detail's compact JSON in
    UTF-8 bytes, whether the text is ASCII (checked inline) or not (by the helpers)."""
    limit = 1_048_576
    bus = mesh.bus()

    def sized(n: int, source: str) -> dict[str, Any]:
        # '{"x":"' + n * "a" + '"}' is n + 8 bytes; DetailType "t" is 1.
        return {"Source": source, "DetailType": "t", "Detail": {"x": "a" * n}}

    async with mesh:
        answer = await bus.put_events(
            [
                sized(limit - 9 - 3, "app"),
                sized(limit - 9 - 2, "app"),
                sized(limit - 9 - 4, "apé"),  # é is two bytes
                sized(limit - 9 - 3, "apé"),
            ]
        )
    codes = [result.get("ErrorCode") for result in answer["Entries"]]
    assert codes == [None, "InvalidArgument", None, "InvalidArgument"]


async def test_a_plain_function_target_and_a_transformed_one_in_one_rule(
    mesh: Mesh, clock: VirtualClock
) -> None:
    """The bus invokes a plain function target itself; a target with an input of its own
    goes through its delivery target: both are Event invocations of their function, both
    counted, and a failure of one of them (here a full queue, waited for in the background)
    leaves the other alone."""
    got: list[Any] = []

    @mesh.function(name="fn")
    async def fn(event: Any, context: Context) -> None:
        got.append(event)

    bus = mesh.bus()
    rule = bus.rule(
        "r",
        pattern={"source": ["app.orders"]},
        targets=[fn, Target(fn, input={"constant": True})],
    )
    async with mesh:
        answer = await bus.put_events([entry()])
        await clock.advance(0)

    [event_id] = ids(answer)
    assert sorted(got, key=str) == sorted(
        [envelope(event_id, {"id": 1}), {"constant": True}], key=str
    )
    plain, constant = rule.targets
    assert plain._function is not None and constant._function is None
    assert [(t.attempts, t.delivered) for t in rule.targets] == [(1, 1), (1, 1)]
    assert bus.delivered == 2 and bus.limit.pending == 0
