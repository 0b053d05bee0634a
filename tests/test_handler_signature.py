"""A handler that cannot be called as ``handler(event, context)``, or an init hook that cannot
be called as ``hook(context)``, is refused at registration with the expected signature in the
message; every shape Python can call that way is accepted."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from eventmesh import ConfigurationError, Context, Mesh


async def one_parameter(event: Any) -> None: ...


def three_parameters(event: Any, context: Any, extra: Any) -> None: ...


def keyword_only(event: Any, *, context: Any) -> None: ...


def no_parameters() -> None: ...


@pytest.mark.parametrize(
    ("handler", "signature"),
    [
        (one_parameter, "(event: 'Any') -> 'None'"),
        (three_parameters, "(event: 'Any', context: 'Any', extra: 'Any') -> 'None'"),
        (keyword_only, "(event: 'Any', *, context: 'Any') -> 'None'"),
        (no_parameters, "() -> 'None'"),
    ],
)
def test_a_handler_with_the_wrong_signature_is_refused(
    mesh: Mesh, handler: Any, signature: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        mesh.function(name="charge")(handler)
    message = str(caught.value)
    assert f"handler 'charge' has the signature {signature}" in message
    assert "cannot be called as handler(event, context)" in message
    assert message.endswith(
        "expected `def charge(event, context)` or `async def charge(event, context)`"
    )
    assert "charge" not in mesh.functions


def test_update_code_refuses_the_wrong_signature_and_keeps_the_old_code(mesh: Mesh) -> None:
    @mesh.function
    def charge(event: Any, context: Context) -> str:
        return "old"

    with pytest.raises(ConfigurationError, match=r"cannot be called as handler\(event, context\)"):
        charge.update_code(one_parameter)
    assert charge.handler(None, None) == "old"  # type: ignore[arg-type]


def test_an_init_hook_with_the_wrong_signature_is_refused(mesh: Mesh) -> None:
    @mesh.function
    async def charge(event: Any, context: Context) -> None: ...

    def setup(context: Any, pool: Any) -> None: ...

    with pytest.raises(ConfigurationError) as caught:
        charge.init(setup)
    message = str(caught.value)
    assert "init hook 'setup' has the signature (context: 'Any', pool: 'Any')" in message
    assert message.endswith("expected `def setup(context)` or `async def setup(context)`")
    assert charge.latest.init_hook is None


class Handlers:
    def method(self, event: Any, context: Any) -> None: ...

    async def __call__(self, event: Any, context: Any) -> None: ...


def flexible(*args: Any, **kwargs: Any) -> None: ...


def with_defaults(
    event: Any, context: Any = None, extra: int = 1, *, flag: bool = False
) -> None: ...


def three_with_one_bound(settings: Any, event: Any, context: Any) -> None: ...


async def async_handler(event: Any, context: Any) -> None: ...


def without_context(handler: Any) -> Any:
    """A decorator that calls ``handler(event)``: the wrapper is what Lambda calls."""

    @functools.wraps(handler)
    def wrapper(event: Any, context: Any) -> Any:
        return handler(event)

    return wrapper


@without_context
def decorated(event: Any) -> None: ...


@pytest.mark.parametrize(
    "handler",
    [
        flexible,
        with_defaults,
        Handlers().method,
        Handlers(),
        functools.partial(three_with_one_bound, {"retries": 2}),
        async_handler,
        lambda event, context: None,
        decorated,
    ],
    ids=[
        "*args",
        "defaults",
        "bound method",
        "callable object",
        "partial",
        "async",
        "lambda",
        "functools.wraps",
    ],
)
def test_every_callable_shape_that_takes_event_and_context_is_accepted(
    mesh: Mesh, handler: Any
) -> None:
    function = mesh.function(name="ok")(handler)
    function.init(lambda context: None)
    function.init(functools.partial(lambda settings, context: None, {}))
    assert "ok" in mesh.functions
