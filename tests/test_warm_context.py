"""The warm hot path's context (a per-version class holding the version's constant fields)
reads as the general path's :class:`Context` does: the cold call and the warm calls of each
version, alias and invocation type carry the same fields, and a handler may still write them.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

from eventmesh import Context, Mesh, Telemetry
from eventmesh.testing import VirtualClock

FIELDS = (
    "function_name",
    "function_version",
    "invoked_function_arn",
    "memory_limit_in_mb",
    "log_group_name",
    "environment",
    "invocation_type",
    "client_context",
)


def seen(context: Context) -> dict[str, Any]:
    fields = {name: getattr(context, name) for name in FIELDS}
    fields["identity"] = (
        context.identity.cognito_identity_id,
        context.identity.cognito_identity_pool_id,
    )
    fields["is_context"] = isinstance(context, Context) and type(context).__name__ == "Context"
    return fields


async def test_warm_contexts_of_versions_and_aliases_read_as_the_cold_one(
    mesh: Mesh, clock: VirtualClock
) -> None:
    contexts: list[Context] = []

    @mesh.function(memory=256, environment={"STAGE": "one"}, timeout=5)
    async def shows(event: Any, context: Context) -> int:
        contexts.append(context)
        return context.get_remaining_time_in_millis()

    shows.publish_version()
    shows.update_configuration(memory=512, environment={"STAGE": "two"})
    mesh.alias(shows, "live", "1")
    arn = "arn:aws:lambda:us-east-1:123456789012:function:shows"
    async with mesh:
        remaining = [
            (await mesh.invoke(name)).payload
            for name in ("shows", "shows", "shows:1", "shows:1", "shows:live", "shows:live")
        ]
    assert remaining == [5000] * 6
    expected = [
        ("$LATEST", arn, 512, {"STAGE": "two"}),
        ("$LATEST", arn, 512, {"STAGE": "two"}),
        ("1", arn + ":1", 256, {"STAGE": "one"}),
        ("1", arn + ":1", 256, {"STAGE": "one"}),
        ("1", arn + ":live", 256, {"STAGE": "one"}),
        ("1", arn + ":live", 256, {"STAGE": "one"}),
    ]
    for context, (version, invoked, memory, variables) in zip(contexts, expected, strict=True):
        assert seen(context) == {
            "function_name": "shows",
            "function_version": version,
            "invoked_function_arn": invoked,
            "memory_limit_in_mb": memory,
            "log_group_name": "/aws/lambda/shows",
            "environment": variables,
            "invocation_type": "RequestResponse",
            "client_context": None,
            "identity": (None, None),
            "is_context": True,
        }
    # The alias runs version 1, in the environment version 1's calls warmed.
    assert [context.cold_start for context in contexts] == [True, False, True, False, False, False]
    ids = [context.aws_request_id for context in contexts]
    assert len(set(ids)) == 6
    # One environment per version, its log stream on every context it served.
    assert contexts[0].log_stream_name == contexts[1].log_stream_name
    assert contexts[2].log_stream_name == contexts[5].log_stream_name
    assert contexts[0].log_stream_name != contexts[2].log_stream_name


async def test_a_warm_context_carries_the_state_client_context_and_deadline(
    mesh: Mesh, clock: VirtualClock
) -> None:
    contexts: list[Context] = []

    @mesh.function(timeout=3)
    async def traced(event: Any, context: Context) -> None:
        contexts.append(context)

    @traced.init
    async def setup(context: Context) -> dict[str, int]:
        return {"connections": 1}

    async with mesh:
        await mesh.invoke("traced")
        await clock.advance(1.0)
        await mesh.invoke("traced", client_context={"custom": {"who": "me"}})
        await mesh.invoke("traced")
        await clock.advance(0.5)
    cold, warm, plain = contexts
    assert cold.state == warm.state == plain.state == {"connections": 1}
    assert warm.client_context is not None and warm.client_context.custom == {"who": "me"}
    assert cold.client_context is None and plain.client_context is None
    # Each deadline counts from its own call: 0.5 s after the third began, 2.5 s are left.
    assert plain.get_remaining_time_in_millis() == 2500
    assert warm.get_remaining_time_in_millis() == 2500


async def test_a_handler_may_write_a_warm_contexts_fields_without_touching_the_next(
    mesh: Mesh,
) -> None:
    contexts: list[Context] = []

    @mesh.function
    async def writes(event: Any, context: Context) -> str:
        contexts.append(context)
        before = context.function_name
        context.function_name = "renamed"
        context.state = "mine"
        return before + " " + context.function_name

    async with mesh:
        results = [(await mesh.invoke("writes")).payload for _ in range(3)]
    assert results == ["writes renamed"] * 3
    assert [context.function_name for context in contexts] == ["renamed"] * 3
    assert repr(contexts[2]) == (
        f"Context(function_name='renamed', function_version='$LATEST', "
        f"aws_request_id={contexts[2].aws_request_id!r})"
    )


async def test_event_invocations_get_warm_contexts_of_their_type(
    mesh: Mesh, clock: VirtualClock
) -> None:
    contexts: list[Context] = []

    @mesh.function
    async def queued(event: Any, context: Context) -> None:
        contexts.append(context)

    async with mesh:
        for _ in range(3):
            await mesh.invoke("queued", {}, "Event")
        await mesh.drain()
    assert [context.invocation_type for context in contexts] == ["Event"] * 3
    assert [context.cold_start for context in contexts] == [True, False, False]
    assert {context.function_name for context in contexts} == {"queued"}


async def test_a_warm_context_pickles_and_copies_as_a_plain_context() -> None:
    mesh = Mesh(telemetry=Telemetry(enabled=False))  # the real clock: its reading pickles
    contexts: list[Context] = []

    @mesh.function(memory=256, environment={"STAGE": "x"})
    async def keeps(event: Any, context: Context) -> None:
        context.state = {"n": 1}
        contexts.append(context)

    async with mesh:
        await mesh.invoke("keeps")
        await mesh.invoke("keeps")
    warm = contexts[1]
    for clone in (pickle.loads(pickle.dumps(warm)), copy.copy(warm)):
        assert type(clone) is Context
        assert seen(clone) == seen(warm)
        assert (clone.aws_request_id, clone.log_stream_name, clone.state, clone.cold_start) == (
            warm.aws_request_id,
            warm.log_stream_name,
            {"n": 1},
            False,
        )
