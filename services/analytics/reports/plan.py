"""Which rollups answer a report: the cubes (rollup table pairs, their grain
and dimensions) and the choice among them for a request. Pure functions."""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo
from collections.abc import Mapping, Sequence

from services.analytics.reports.request import (
    APPLE_DIMS,
    FLOW_DIMS,
    SUB_DIMS,
    day_ceil,
    day_floor,
    offsets_multiple,
)


@dataclasses.dataclass(frozen=True)
class Cube:
    """One rollup table pair (analytics.report_traffic<suffix> and
    analytics.report_outcomes<suffix>): a time grain and the dimensions kept."""

    suffix: str
    grain: str  # "hour" (column hour, timestamptz) or "day" (column day, date; UTC days)
    dims: tuple[str, ...]
    subs: bool = False  # one row per (sub_no, sub_value) besides dims
    # An outcomes-only cube: its reports read traffic from this cube instead
    # (its dimensions the traffic cube lacks are "" there).
    traffic_from: Cube | None = None


ALL_DIMS = ("campaign_id", "link_id", "partner_id", "app_id", "country", "device_type", "os")
# The affiliate flow's dimensions, kept by the flow cubes only.
FLOW_COLS = ("stream_id", "lander_id", "offer_id")
# Apple Ads (AdServices) ids, kept by the Apple Ads outcomes cube only.
APPLE_COLS = ("apple_org_id", "apple_campaign_id", "apple_ad_group_id", "apple_keyword_id")
# Every cube column a union row carries (a cube without one gives "" or 0).
UNION_COLS = (*ALL_DIMS, *FLOW_COLS, *APPLE_COLS)
# The rollups, smallest first (see migrations/0002_reports.sql for the why).
LINKS = Cube("_links", "hour", ("campaign_id", "link_id", "partner_id", "app_id"))
FULL = Cube("", "hour", ALL_DIMS)
DAILY = Cube("_daily", "day", ("campaign_id", "partner_id", "app_id", "country", "device_type", "os"))
SUBS = Cube("_subs", "day", ("campaign_id", "partner_id", "app_id"), subs=True)
# Stream, lander, offer (migrations/0007_flow.sql: a cube of their own, so the
# others do not grow with a flow's rotations).
FLOW = Cube("_flow", "hour", ("campaign_id", "link_id", "partner_id", "app_id", *FLOW_COLS))
# Apple Ads' org, campaign, ad group, keyword (migrations/0008_app_campaigns.sql):
# outcomes only (Apple's ad clicks are not ours); traffic from the per-link cube.
APPLE = Cube("_apple", "hour", ("campaign_id", "link_id", "partner_id", "app_id", *APPLE_COLS), traffic_from=LINKS)
CUBES = (LINKS, FULL, DAILY, SUBS, FLOW, APPLE)


def plan(
    group_by: Sequence[str],
    filters: Mapping[str, Sequence[str]],
    start: dt.datetime,
    end: dt.datetime,
    tz: zoneinfo.ZoneInfo,
) -> tuple[dt.datetime, dt.datetime, list[Cube]]:
    """Which cubes answer a report: the smallest that hold its dimensions. The
    daily cubes serve the whole UTC days [days_from, days_to) unless rows are by
    hour, by link, or by days of a zone that is not UTC; hourly cubes the rest.
    A report by stream, lander or offer reads the flow cube alone (hourly); one
    by an Apple Ads dimension the Apple Ads cube (its traffic: the per-link one)."""
    used = {*group_by, *filters}
    if used & set(SUB_DIMS):
        return start, end, [SUBS]
    if used & set(FLOW_DIMS):
        return start, start, [FLOW]
    if used & set(APPLE_DIMS):
        return start, start, [APPLE]
    if not used & {"country", "device_type", "os"}:
        return start, start, [LINKS]
    days_from, days_to = day_ceil(start), day_floor(end)
    by_hour = "hour" in used or "link" in used or ("day" in used and not offsets_multiple(tz, start, end, 86400))
    if by_hour or days_to <= days_from:
        return start, start, [FULL]
    return days_from, days_to, [FULL, DAILY]


def reason_days(
    group_by: Sequence[str], start: dt.datetime, end: dt.datetime, tz: zoneinfo.ZoneInfo
) -> tuple[dt.datetime, dt.datetime]:
    """The whole UTC days [from, to) a report reads from report_reasons_daily:
    none when it is by hour or by the days of a zone that is not UTC."""
    days_from, days_to = day_ceil(start), day_floor(end)
    if "hour" in group_by or ("day" in group_by and not offsets_multiple(tz, start, end, 86400)):
        return start, start
    return (days_from, days_to) if days_to > days_from else (start, start)
