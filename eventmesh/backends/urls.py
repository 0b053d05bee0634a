"""Storage URLs: the scheme that picks a backend, and the options a backend accepts.

A storage URL is ``scheme://location[?option=value&...]`` (``memory`` alone is the in-memory
backend). The scheme chooses the backend (see :mod:`eventmesh.backends.registry`); the backend
reads its own options with :func:`url_options`, which refuses an option it does not know and a
value it cannot convert, naming both, so a typo in a URL fails when the mesh is built rather
than silently falling back to a default.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from eventmesh._errors import ConfigurationError
from eventmesh._redact import MASK

__all__ = ["shown_url", "url_options", "url_scheme"]

# A scheme as RFC 3986 spells it, ended by ":", by the options or by the end of the URL.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)(?=[:?]|$)")


def url_scheme(url: str) -> str:
    """The scheme of ``url``, lower-cased: ``"sqlite"`` for ``sqlite:///mesh.db``; a URL with
    no ``:`` is a scheme alone (``"memory"``); ``""`` when ``url`` starts with no scheme."""
    found = _SCHEME.match(url)
    return found.group(1).lower() if found else ""


def shown_url(url: str) -> str:
    """``url`` as it may appear in an error or a log line: user info and option values masked
    (a broker URL may carry a password), the rest as written.

    Unlike a round trip through :func:`urllib.parse.urlunsplit`, this keeps an empty
    authority: ``sqlite:////var/lib/mesh.db`` stays absolute."""
    head, question, query = url.partition("?")
    scheme, slashes, rest = head.partition("://")
    if slashes:
        authority, slash, path = rest.partition("/")
        if "@" in authority:
            authority = f"{MASK}@{authority.rsplit('@', 1)[1]}"
        head = f"{scheme}{slashes}{authority}{slash}{path}"
    if question:
        query = "&".join(
            f"{pair.split('=', 1)[0]}={MASK}" if "=" in pair else MASK for pair in query.split("&")
        )
    return f"{head}{question}{query}"


def url_options(
    url: str, query: str, known: Mapping[str, Callable[[str], Any]], *, shown: str | None = None
) -> dict[str, Any]:
    """The options of ``query`` (the part after ``?``), each converted by ``known[name]``.

    An option not in ``known``, a malformed query or a value the converter refuses raises
    :class:`~eventmesh.ConfigurationError` naming the URL (``shown``, or ``url`` redacted).
    A converter that is ``float`` or ``int`` is reported as "is not a number".
    """
    label = shown if shown is not None else shown_url(url)
    options: dict[str, Any] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise ConfigurationError(f"{label!r}: malformed options ({exc})") from exc
    for name, value in pairs:
        convert = known.get(name)
        if convert is None:
            listed = ", ".join(sorted(known)) or "none"
            raise ConfigurationError(f"{label!r}: unknown option {name!r} (known: {listed})")
        try:
            options[name] = convert(value)
        except ValueError as exc:
            if convert in (float, int):
                raise ConfigurationError(f"{label!r}: {name}={value!r} is not a number") from exc
            raise ConfigurationError(f"{label!r}: {name}={value!r} is refused: {exc}") from exc
    return options
