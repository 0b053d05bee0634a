"""Which bodies travel base64-encoded.

REST APIs encode a request body whose ``Content-Type`` matches one of the API's
``binary_media_types`` (``image/png``, ``image/*``, ``*/*``), and decode a response with
``isBase64Encoded`` to bytes when the client's first ``Accept`` type, or the response's
``Content-Type``, matches one. HTTP APIs and function URLs encode every request body whose
content type is not textual; textual types are those AWS lists for both: ``text/*``,
``application/json``, ``application/javascript``, ``application/xml`` and their ``+json`` /
``+xml`` variants, and ``application/x-www-form-urlencoded``, ``application/ecmascript``,
``application/yaml``. A body without a content type is sent as text when it is UTF-8.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["is_textual", "matches_media_types", "media_type"]

_TEXTUAL = frozenset(
    {
        "application/json",
        "application/javascript",
        "application/ecmascript",
        "application/xml",
        "application/x-www-form-urlencoded",
        "application/yaml",
        "application/x-yaml",
        "application/graphql",
    }
)


def media_type(content_type: str | None) -> str:
    """``"Text/HTML; charset=utf-8"`` -> ``"text/html"``; empty when absent."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def is_textual(content_type: str | None) -> bool:
    kind = media_type(content_type)
    return (
        kind.startswith("text/")
        or kind in _TEXTUAL
        or kind.endswith("+json")
        or kind.endswith("+xml")
    )


def matches_media_types(content_type: str | None, patterns: Iterable[str]) -> bool:
    """Whether a content type matches one of ``binary_media_types`` (``type/sub``,
    ``type/*`` or ``*/*``, compared without parameters and case)."""
    kind = media_type(content_type)
    if not kind:
        return False
    major = kind.split("/", 1)[0]
    for pattern in patterns:
        pattern = pattern.strip().lower()
        if pattern in ("*/*", kind) or pattern == f"{major}/*":
            return True
    return False
