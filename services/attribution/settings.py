"""Attribution settings (the windows) with dated breakpoints.

Every change is stored as a new row of ``attribution.settings_history``
(a *breakpoint*): the complete settings in force from its ``effective_time``
on, for every campaign of the account. ``windows_at(t)`` answers the settings
of the latest breakpoint at or before ``t``, or the defaults when there is
none. Rows are never updated or deleted, so reports can show every breakpoint.

Defaults: click lookback 7 days, view lookback 24 hours, fingerprint window
24 hours, conversion window 30 days (a conversion is credited to touches at
most 30 days before it; the usual MMP default). Retargeting
(services/attribution/reengagement.py): re-engagement window 30 days (how long
a re-engagement or re-attribution credits the user's conversions to its
campaign), reinstall window 90 days (AppsFlyer's re-attribution window: from
the install, a reinstall inside it is only a reinstall).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from libs.cache import TTLCache
from libs.vocab.windows import ATTRIBUTION_WINDOW_BOUNDS, ATTRIBUTION_WINDOW_DEFAULTS
from services.attribution.goals import Fetcher

CACHE_TTL_S = 1.0


@dataclasses.dataclass(frozen=True)
class Windows:
    click_lookback: dt.timedelta = ATTRIBUTION_WINDOW_DEFAULTS["click_lookback"]
    view_lookback: dt.timedelta = ATTRIBUTION_WINDOW_DEFAULTS["view_lookback"]
    fingerprint_window: dt.timedelta = ATTRIBUTION_WINDOW_DEFAULTS["fingerprint_window"]
    conversion_window: dt.timedelta = ATTRIBUTION_WINDOW_DEFAULTS["conversion_window"]
    re_engagement_window: dt.timedelta = ATTRIBUTION_WINDOW_DEFAULTS["re_engagement_window"]
    reinstall_window: dt.timedelta = ATTRIBUTION_WINDOW_DEFAULTS["reinstall_window"]


DEFAULT_WINDOWS = Windows()
FIELDS = tuple(f.name for f in dataclasses.fields(Windows))
# Inclusive bounds per window. Touch look-ups (links FindTouches) span at most 90 days.
BOUNDS: dict[str, tuple[dt.timedelta, dt.timedelta]] = ATTRIBUTION_WINDOW_BOUNDS


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


_cache: TTLCache[str, list[Breakpoint]] = TTLCache(CACHE_TTL_S)


def invalidate_settings(account_id: str | None = None) -> None:
    _cache.invalidate(account_id)


async def breakpoints(conn_or_pool: Fetcher, account_id: str, *, fresh: bool = False) -> list[Breakpoint]:
    """The account's breakpoints, oldest first (cached for CACHE_TTL_S)."""

    async def load() -> list[Breakpoint]:
        rows = await conn_or_pool.fetch(
            "SELECT * FROM attribution.settings_history WHERE account_id = $1 ORDER BY effective_time, breakpoint_id",
            account_id,
        )
        return [breakpoint_from_row(r) for r in rows]

    return await _cache.get_or_load(account_id, load, fresh=fresh)


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
