"""Redaction of secrets in endpoint URLs, for every log line, error and record.

An endpoint URL may carry credentials: user info (``https://user:password@host/``) and query
strings (``?token=...``, ``?sig=...``). Wherever eventmesh shows a URL (a log line, an
exception's message, a dead-letter attribute, a ``repr``) it shows :func:`redact_url` of it:
the password and user name become ``***``, each query value becomes ``***`` (the names stay,
they help to tell endpoints apart), and a fragment is dropped. The URL that is actually
called is never changed.
"""

from __future__ import annotations

import logging
import re
import traceback
from urllib.parse import urlsplit, urlunsplit

__all__ = ["MASK", "RedactingFilter", "redact_text", "redact_url"]

MASK = "***"
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
_URL_END = re.compile(r"[\s'\"<>]")


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
    if parts.scheme and url.startswith(f"{parts.scheme}://"):
        # Written out, not urlunsplit: with an empty host it drops the ``//`` of an absolute
        # path (``sqlite:////var/app.db`` would become ``sqlite://var/app.db``).
        rebuilt = f"{parts.scheme}://{netloc}{parts.path}"
        return f"{rebuilt}?{query}" if query else rebuilt
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact_text(text: str) -> str:
    """Every URL found in free text (an exception's message, say) redacted."""
    if "://" not in text:
        return text
    # Linear in the text's length, whatever it holds: each ``://`` is found once, the scheme
    # is read back from it no further than the end of the previous URL, and the URL runs to
    # the next delimiter. (A regex anchored on the scheme retried every start position: a
    # 40 KB message took seconds.)
    pieces: list[str] = []
    done = 0
    marker = text.find("://")
    while marker != -1:
        start = marker
        while start > done and text[start - 1] in _SCHEME_CHARS:
            start -= 1
        while start < marker and not text[start].isalpha():
            start += 1  # a scheme begins with a letter
        if start == marker:  # no scheme before it
            marker = text.find("://", marker + 3)
            continue
        found_end = _URL_END.search(text, marker + 3)
        end = len(text) if found_end is None else found_end.start()
        if end == marker + 3:  # nothing after it
            marker = text.find("://", end)
            continue
        pieces.append(text[done:start])
        pieces.append(_redact_found(text[start:end]))
        done = end
        marker = text.find("://", end)
    pieces.append(text[done:])
    return "".join(pieces)


def _redact_found(found: str) -> str:
    """A URL found in text, redacted; punctuation that ends the sentence stays outside."""
    url = found.rstrip(".,;:!?)]}")
    return redact_url(url) + found[len(url) :]


def _crude(url: str) -> str:
    """A URL too malformed to parse: keep the scheme and host part only, to be safe."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1].split("?", 1)[0]
    return f"{scheme}://{host}/{MASK}"


class RedactingFilter(logging.Filter):
    """A logger's records with the URLs of their message and traceback redacted.

    For the loggers of code that runs what users give it (a callable subscriber or target):
    its exceptions are logged as they come, and their text may hold a URL with credentials (an
    HTTP client's error names the URL it called). The traceback is formatted and redacted here,
    so a handler's formatter shows that text instead of formatting the exception again."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            shown = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = redact_text(shown)
        return True
