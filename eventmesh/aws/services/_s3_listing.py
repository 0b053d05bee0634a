"""ListObjectsV2 over a BlobStore: keys in order, grouped by a delimiter into common prefixes.

The store lists keys after a position in key order; a common prefix counts as one entry (as
S3 counts it against ``MaxKeys``) and the scan jumps past every key under it. The
continuation token is the position after the page's last entry (a key, or a common prefix
followed by the highest code point), base64url-encoded: opaque to the caller, as S3's is.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from eventmesh.backends.protocols import BlobInfo, BlobStore

__all__ = ["Listing", "decode_token", "encode_token", "list_keys"]

_PAST = "\U0010ffff"
"""Sorts after every other character: ``prefix + _PAST`` is past every key under prefix."""
_PAGE = 1000


@dataclass(slots=True)
class Listing:
    contents: list[BlobInfo] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    next_position: str | None = None


def encode_token(position: str) -> str:
    return base64.urlsafe_b64encode(position.encode()).decode()


def decode_token(token: str) -> str | None:
    """The position a token stands for, or None when it is not one of ours."""
    try:
        return base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


async def list_keys(
    store: BlobStore, bucket: str, prefix: str, delimiter: str, after: str, max_keys: int
) -> Listing:
    """Up to ``max_keys`` entries (objects and common prefixes) after ``after``."""
    listing = Listing()
    if max_keys <= 0:
        return listing
    entries: list[tuple[str, BlobInfo | str]] = []  # (position after it, object or prefix)
    cursor = after
    while len(entries) <= max_keys:
        batch = await store.list(bucket, prefix, cursor, _PAGE)
        if not batch:
            break
        jumped = False
        for info in batch:
            cursor = info.key
            if delimiter:
                found = info.key.find(delimiter, len(prefix))
                if found >= 0:
                    common = info.key[: found + len(delimiter)]
                    cursor = common + _PAST
                    entries.append((cursor, common))
                    jumped = True
                    break
            entries.append((info.key, info))
            if len(entries) > max_keys:
                break
        if not jumped and len(batch) < _PAGE:
            break
    listing.truncated = len(entries) > max_keys
    for position, entry in entries[:max_keys]:
        if isinstance(entry, str):
            listing.common_prefixes.append(entry)
        else:
            listing.contents.append(entry)
        listing.next_position = position
    if not listing.truncated:
        listing.next_position = None
    return listing
