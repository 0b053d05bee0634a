"""Redaction of secrets in endpoint URLs, for every log line, error and record.

An endpoint URL may carry credentials: user info (``https://user:password@host/``) and query
strings (``?token=...``, ``?sig=...``). Wherever eventmesh shows a URL (a log line, an
exception's message, a dead-letter attribute, a ``repr``) it shows :func:`redact_url` of it:
the password and user name become ``***``, each query value becomes ``***`` (the names stay,
they help to tell endpoints apart), and a fragment is dropped. The URL that is actually
called is never changed.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["MASK", "redact_text", "redact_url"]

MASK = "***"
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def redact_url(url: str) -> str:
    """``url`` with its user info and query values masked; unchanged when it has neither."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _crude(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        query = "&".join(
            f"{pair.split('=', 1)[0]}={MASK}" if "=" in pair else MASK for pair in query.split("&")
        )
    if netloc == parts.netloc and query == parts.query and not parts.fragment:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact_text(text: str) -> str:
    """Every URL found in free text (an exception's message, say) redacted."""
    if "://" not in text:
        return text
    return _URL.sub(_redact_match, text)


def _redact_match(match: re.Match[str]) -> str:
    """A URL found in text, redacted; punctuation that ends the sentence stays outside."""
    found = match.group(0)
    url = found.rstrip(".,;:!?)]}")
    return redact_url(url) + found[len(url) :]


def _crude(url: str) -> str:
    """A URL too malformed to parse: keep the scheme and host part only, to be safe."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1].split("?", 1)[0]
    return f"{scheme}://{host}/{MASK}"
