"""Attribution settings (the windows) with dated breakpoints.

Every change is stored as a new row of ``attribution.settings_history``
(a *breakpoint*): the complete settings in force from its ``effective_time``
on, for every campaign of the account. ``windows_at(t)`` answers the settings
of the latest breakpoint at or before ``t``, or the defaults when there is
none. Rows are never updated or deleted, so reports can show every breakpoint.

Defaults: click lookback 7 days, view lookback 24 hours, fingerprint window
24 hours, conversion window 30 days (a conversion is credited to touches at
most 30 days before it; the usual MMP default).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Mapping
from typing import Any

from services.attribution.goals import Fetcher

CACHE_TTL_S = 1.0


@dataclasses.dataclass(frozen=True)
class Windows:
    click_lookback: dt.timedelta = dt.timedelta(days=7)
    view_lookback: dt.timedelta = dt.timedelta(hours=24)
    fingerprint_window: dt.timedelta = dt.timedelta(hours=24)
    conversion_window: dt.timedelta = dt.timedelta(days=30)


DEFAULT_WINDOWS = Windows()
FIELDS = tuple(f.name for f in dataclasses.fields(Windows))
# Inclusive bounds per window. Touch look-ups (links FindTouches) span at most 90 days.
BOUNDS: dict[str, tuple[dt.timedelta, dt.timedelta]] = {
    "click_lookback": (dt.timedelta(hours=1), dt.timedelta(days=90)),
    "view_lookback": (dt.timedelta(hours=1), dt.timedelta(days=30)),
    "fingerprint_window": (dt.timedelta(minutes=1), dt.timedelta(days=7)),
    "conversion_window": (dt.timedelta(hours=1), dt.timedelta(days=90)),
}


@dataclasses.dataclass(frozen=True)
class Breakpoint:
    breakpoint_id: int
    effective_time: dt.datetime
    windows: Windows
    changed: tuple[str, ...]


def breakpoint_from_row(row: Mapping[str, Any]) -> Breakpoint:
    return Breakpoint(
        breakpoint_id=row["breakpoint_id"],
        effective_time=row["effective_time"],
        windows=Windows(**{f: dt.timedelta(seconds=row[f"{f}_s"]) for f in FIELDS}),
        changed=tuple(row["changed"]),
    )


_cache: dict[str, tuple[float, list[Breakpoint]]] = {}


def invalidate_settings(account_id: str | None = None) -> None:
    if account_id is None:
        _cache.clear()
    else:
        _cache.pop(account_id, None)


async def breakpoints(conn_or_pool: Fetcher, account_id: str, *, fresh: bool = False) -> list[Breakpoint]:
    """The account's breakpoints, oldest first (cached for CACHE_TTL_S)."""
    now = time.monotonic()
    hit = _cache.get(account_id)
    if hit and hit[0] > now and not fresh:
        return hit[1]
    rows = await conn_or_pool.fetch(
        "SELECT * FROM attribution.settings_history WHERE account_id = $1 ORDER BY effective_time, breakpoint_id",
        account_id,
    )
    result = [breakpoint_from_row(r) for r in rows]
    if len(_cache) > 100_000:
        _cache.clear()
    _cache[account_id] = (now + CACHE_TTL_S, result)
    return result


def windows_in(history: list[Breakpoint], at: dt.datetime) -> Windows:
    """The windows in force at ``at`` given the breakpoints (oldest first)."""
    current = DEFAULT_WINDOWS
    for bp in history:
        if bp.effective_time > at:
            break
        current = bp.windows
    return current


async def windows_at(conn_or_pool: Fetcher, account_id: str, at: dt.datetime) -> Windows:
    """The settings in force at ``at``: those of the latest breakpoint at or
    before it, else the defaults. ``at`` must be timezone-aware."""
    return windows_in(await breakpoints(conn_or_pool, account_id), at)
