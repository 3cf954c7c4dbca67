"""Durations and dates as people type them: ``7d``, ``24h``, ``90m``, ``1d12h``,
``3600`` (seconds) and ``2026-01-31``.

Problems raise ValueError (without the text itself): the caller says where the
text came from (a flag, a form field, a request field).

    parse_duration("1d12h")          # timedelta(days=1, hours=12)
    format_duration(129600)          # '1d12h'  (every unit)
    format_duration_unit(86400)      # '1d'     (the largest whole unit)
    parse_date("2026-01-31")         # date(2026, 1, 31); '2026-1-31' is refused
    days_between("2026-01-30", "2026-02-01")  # ['2026-01-30', '2026-01-31', '2026-02-01']
"""

from __future__ import annotations

import datetime as dt
import re

UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)([dhms])")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# The earliest date any API takes (tariffs, reports, corrections).
MIN_DATE = dt.date(2000, 1, 1)
DURATION_HINT = "a duration like 7d, 24h, 90m or 1d12h"


def duration_seconds(text: str) -> int:
    """``7d``, ``24h``, ``90m``, ``1d12h``, ``24 h``, ``3600s`` or bare seconds -> seconds."""
    raw = text.strip().lower().replace(" ", "")
    if raw.isdigit():
        return int(raw)
    parts = _PART.findall(raw)
    if not parts or "".join(n + u for n, u in parts) != raw:
        raise ValueError(f"expected {DURATION_HINT}")
    return sum(int(n) * UNIT_SECONDS[u] for n, u in parts)


def parse_duration(text: str) -> dt.timedelta:
    """As duration_seconds, as a timedelta."""
    return dt.timedelta(seconds=duration_seconds(text))


def _seconds(value: int | float | dt.timedelta) -> int:
    return int(value.total_seconds()) if isinstance(value, dt.timedelta) else int(value)


def format_duration(value: int | float | dt.timedelta) -> str:
    """Every unit: 129600 -> ``1d12h``; 0 -> ``0s``."""
    secs = _seconds(value)
    out = []
    for unit, size in UNIT_SECONDS.items():
        if secs >= size:
            out.append(f"{secs // size}{unit}")
            secs %= size
    return "".join(out) or "0s"


def format_duration_unit(value: int | float | dt.timedelta) -> str:
    """The largest whole unit: 86400 -> ``1d``, 5400 -> ``90m``, 90 -> ``90s``; 0 -> ``0s``."""
    secs = _seconds(value)
    for unit in ("d", "h", "m"):
        size = UNIT_SECONDS[unit]
        if secs and secs % size == 0:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def parse_date(text: str) -> dt.date:
    """Exactly ``YYYY-MM-DD`` -> a date (no bounds: the caller checks its own)."""
    value = text.strip()
    if not _DATE.match(value):
        raise ValueError(f"{value!r} is not a date like 2026-01-31")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date like 2026-01-31") from None


def days_between(start: str, end: str, max_days: int = 400) -> list[str]:
    """Every day from start to end as ISO strings (at most ``max_days``), or [] when
    the dates do not parse or the range is empty or longer."""
    try:
        first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    except ValueError:
        return []
    n = (last - first).days + 1
    return [(first + dt.timedelta(days=i)).isoformat() for i in range(n)] if 0 < n <= max_days else []
