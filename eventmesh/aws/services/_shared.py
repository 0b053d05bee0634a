"""What the EventBridge, Kinesis and Scheduler handlers share: per-mesh state kept beside the
mesh (what AWS reports and the mesh's resources do not hold: target ids, descriptions,
creation times), opaque page tokens, and JSON text checks."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from weakref import WeakKeyDictionary

import orjson

from eventmesh.aws.operations import AwsError

if TYPE_CHECKING:
    from eventmesh._mesh import Mesh

__all__ = ["PerMesh", "decode_token", "encode_token", "page"]

S = TypeVar("S")
T = TypeVar("T")


class PerMesh(Generic[S]):
    """One ``S`` per mesh, made on first use and gone with the mesh."""

    def __init__(self, factory: Callable[[], S]) -> None:
        self._factory = factory
        self._states: WeakKeyDictionary[Mesh, S] = WeakKeyDictionary()

    def of(self, mesh: Mesh) -> S:
        state = self._states.get(mesh)
        if state is None:
            state = self._states[mesh] = self._factory()
        return state


def encode_token(value: Any) -> str:
    """An opaque token (URL-safe base64 of JSON) for ``value``."""
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


def decode_token(token: str, code: str, what: str) -> Any:
    """The value behind :func:`encode_token`'s token; AwsError ``code`` if it is not one."""
    try:
        padded = token + "=" * (-len(token) % 4)
        return orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeEncodeError, binascii.Error):
        raise AwsError(code, f"Invalid {what}.") from None


def page(
    items: list[T], limit: int | None, token: str | None, default: int, code: str
) -> tuple[list[T], str | None]:
    """``limit`` items from where ``token`` left off, and the token for the rest (None at the
    end). A token is the index it resumes at."""
    start = 0
    if token is not None:
        start = decode_token(token, code, "NextToken")
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise AwsError(code, "Invalid NextToken.")
    size = default if limit is None else limit
    chunk = items[start : start + size]
    following = start + size
    return chunk, encode_token(following) if following < len(items) else None
