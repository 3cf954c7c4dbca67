"""URL-template macros: ``{name}`` placeholders filled with URL-encoded values."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, urlsplit

MACRO_RE = re.compile(r"\{([A-Za-z0-9_]+)\}")


def macros_in(template: str) -> list[str]:
    return MACRO_RE.findall(template)


def unknown_macros(template: str, allowed: Iterable[str]) -> list[str]:
    allowed_set = set(allowed)
    return sorted({m for m in macros_in(template) if m not in allowed_set})


def expand(template: str, values: Mapping[str, str | None]) -> str:
    """Fill every macro; values are percent-encoded, unknown or empty ones become ''."""

    def repl(m: re.Match[str]) -> str:
        v = values.get(m.group(1))
        return quote(str(v), safe="") if v else ""

    return MACRO_RE.sub(repl, template)


def append_query_param(url: str, key: str, value: str) -> str:
    """Add ``key=value`` to the URL's query, before any fragment."""
    base, hash_, fragment = url.partition("#")
    sep = "&" if "?" in base else "?"
    if base.endswith(("?", "&")):
        sep = ""
    return f"{base}{sep}{quote(key, safe='')}={quote(value, safe='')}{hash_}{fragment}"


def check_url_template(template: str, allowed: Iterable[str]) -> str | None:
    """Why a destination template is unusable, or None when it is fine."""
    if not template:
        return "is required"
    if len(template) > 4096:
        return "is longer than 4096 characters"
    unknown = unknown_macros(template, allowed)
    if unknown:
        return "has unknown macros: " + ", ".join("{" + u + "}" for u in unknown)
    # A macro in the scheme or host would let a request choose where we redirect.
    raw = urlsplit(template)
    if "{" in raw.scheme or "{" in raw.netloc:
        return "may not use macros in the scheme or host"
    # Macros may stand anywhere else, so validate with them replaced by a plain token.
    probe = MACRO_RE.sub("x", template)
    parts = urlsplit(probe)
    if parts.scheme not in {"http", "https"}:
        return "must be an http:// or https:// URL"
    if not parts.netloc or any(c in probe for c in " \r\n\t\\"):
        return "is not a valid URL"
    return None
