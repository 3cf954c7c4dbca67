"""The report rollups the runner (services/analytics/rollup.py) keeps current:
traffic (links.clicks, links.impressions, touch overrules) and outcomes
(attribution.installs, attribution.conversions), folded with fold_sql's
statements. See the package docstring for what they count."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import asyncpg

from services.analytics.reports.app_sql import APP_CODES, app_fold_sql
from services.analytics.reports.fold_sql import (
    OUTCOME_CODES,
    OUTCOMES_FLOW_SQL,
    OUTCOMES_NO_APPLE_SQL,
    OUTCOMES_SQL,
    REASONS_CLEAR_DAYS,
    REASONS_CLEAR_HOURS,
    TOUCH_KINDS,
    TRAFFIC_ADD_SQL,
    TRAFFIC_CLEAR_DAYS,
    TRAFFIC_CLEAR_HOURS,
    TRAFFIC_CODES,
    TRAFFIC_RECOUNT_SQL,
)
from services.analytics.reports.queries import (
    APP_FIRST_SQL,
    APP_UPDATE_TIMES_SQL,
    BUMP_DAY_VERSIONS_SQL,
    CONVERSION_FLOW_SQL,
    EARLIEST_PARTITIONS_SQL,
    FOLDED_TO_SQL,
    INSTALLS_APPLE_SQL,
    OUTCOMES_FIRST_SQL,
    OVERRULED_SQL,
    SET_FOLDED_SQL,
    TABLES_EXIST_SQL,
)
from services.analytics.reports.request import HOUR, day_ceil, day_floor

# A recount statement (one UTC day) may run longer than the pool's command timeout.
RECOUNT_TIMEOUT_S = 900.0
# Where a traffic add notes in its transaction how far it folded (FOLDED_TO_SQL).
FOLDED_SETTING = "analytics.reports_traffic_folded"


async def _earliest_traffic(conn: asyncpg.Connection) -> dt.datetime | None:
    """The earliest click or impression: each table's first non-empty daily
    partition's minimum (partition names sort by day)."""
    found: list[dt.datetime] = []
    for table in ("clicks", "impressions"):
        for row in await conn.fetch(EARLIEST_PARTITIONS_SQL, table):
            first = await conn.fetchval(f'SELECT min(create_time) FROM links."{row["relname"]}"')
            if first is not None:
                found.append(first)
                break
    return min(found) if found else None


async def _sources_exist(conn: asyncpg.Connection, *tables: str) -> bool:
    """Whether the raw tables exist (a deployment may run analytics before the
    service owning them ever migrated): a missing source folds nothing."""
    return bool(await conn.fetchval(TABLES_EXIST_SQL, *tables))


def overruled_ranges(
    touches: Sequence[tuple[str, dt.datetime]], end: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime]]:
    """The ranges a traffic fold up to ``end`` recounts for overruled touches
    (kind 'c' click or 'i' impression, the touch's UTC hour), merged: an
    impression's hour; a click's hour to the end of its UTC day (its verdict
    moves its class, and so the uniqueness of the later clicks of its IP +
    User-Agent that day). Nothing past ``end``: the hours above are folded by
    later passes, from the rows as they are then."""
    ranges = sorted(
        (hour, min(end, day_ceil(hour + HOUR) if kind == "c" else hour + HOUR)) for kind, hour in touches if hour < end
    )
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for lo, hi in ranges:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


class TrafficRollup:
    """Clicks, unique clicks and impressions (by verdict) into every cube, their
    reasons into the reasons cubes; an operator's overrule of a touch verdict
    (links.touch_overrules, by its create_time) recounts the touch's hours."""

    name = "reports_traffic"
    sources = ("links.clicks", "links.impressions")
    # links.lander_clicks folds with them: links' migration 0004 makes it with the
    # clicks' flow columns (before it, a fold fails and keeps its watermark).

    async def first_time(self, conn: asyncpg.Connection) -> dt.datetime | None:
        return await _earliest_traffic(conn)

    async def add(self, conn: asyncpg.Connection, start: dt.datetime, end: dt.datetime) -> None:
        if not await _sources_exist(conn, *self.sources):
            return
        await conn.execute(TRAFFIC_ADD_SQL, start, end, start, end, *TRAFFIC_CODES)
        await conn.execute(SET_FOLDED_SQL, FOLDED_SETTING, end)
        # Overrules committed in [start, end) (the watermark's rules hold for them as
        # for clicks): recount what they changed, in this transaction, under the
        # rollup's lock (a recount beside a concurrent add could lose the add's rows).
        if await _sources_exist(conn, "links.touch_overrules", "links.touch_overrules"):
            touches = [(r["kind"], r["hour"]) for r in await conn.fetch(OVERRULED_SQL, start, end)]
            for lo, hi in overruled_ranges(touches, end):
                await self.recount(conn, lo, hi)

    async def recount(self, conn: asyncpg.Connection, start: dt.datetime, end: dt.datetime) -> None:
        """Replaces the hours [start, end) of the hourly cubes, and rebuilds the
        UTC days they touch in the daily cubes from the raw rows up to what is
        folded so far. Unique clicks of a later hour of the same UTC day can
        change with a late click: recount whole UTC days (the runner's passes
        recount hours in order). ``end`` may fall inside an hour only where the
        fold stands (an add's end in the same transaction): that hour is then
        rebuilt from the rows before ``end``."""
        if not await _sources_exist(conn, *self.sources):
            return
        folded = await conn.fetchval(FOLDED_TO_SQL, self.name, FOLDED_SETTING)
        hi = max(min(day_ceil(end), folded) if folded is not None else end, end)
        await conn.execute("SET LOCAL work_mem = '256MB'")
        # A UTC day per statement: bounded memory and time on a long range.
        day = day_floor(start)
        while day < end:
            next_day = day + dt.timedelta(days=1)
            hours = (max(start, day), min(end, next_day))
            for sql in TRAFFIC_CLEAR_HOURS:
                await conn.execute(sql, *hours, timeout=RECOUNT_TIMEOUT_S)
            await conn.execute(REASONS_CLEAR_HOURS, *hours, TOUCH_KINDS, timeout=RECOUNT_TIMEOUT_S)
            for sql in TRAFFIC_CLEAR_DAYS:
                await conn.execute(sql, day, next_day, timeout=RECOUNT_TIMEOUT_S)
            await conn.execute(REASONS_CLEAR_DAYS, day, next_day, TOUCH_KINDS, timeout=RECOUNT_TIMEOUT_S)
            await conn.execute(BUMP_DAY_VERSIONS_SQL, day)
            await conn.execute(
                TRAFFIC_RECOUNT_SQL, day, min(next_day, hi), *hours, *TRAFFIC_CODES, timeout=RECOUNT_TIMEOUT_S
            )
            day = next_day


class OutcomesRollup:
    """Attributed installs and conversions (count, approved, revenue per goal
    and currency) into every cube, with the touch's country, device, OS and
    sub-ids. Folding is by delta against report_facts, so it is idempotent: a
    recount of [start, end) is the same statement as an add."""

    name = "reports_outcomes"
    sources = ("attribution.installs", "attribution.conversions")

    async def first_time(self, conn: asyncpg.Connection) -> dt.datetime | None:
        if not await _sources_exist(conn, *self.sources):
            return None
        return await conn.fetchval(OUTCOMES_FIRST_SQL)  # type: ignore[no-any-return]

    async def add(self, conn: asyncpg.Connection, start: dt.datetime, end: dt.datetime) -> None:
        if await _sources_exist(conn, *self.sources):
            await conn.execute(await _outcomes_sql(conn), start, end, *OUTCOME_CODES)

    async def recount(self, conn: asyncpg.Connection, start: dt.datetime, end: dt.datetime) -> None:
        if not await _sources_exist(conn, *self.sources):
            return
        sql = await _outcomes_sql(conn)
        t = start
        while t < end:  # a UTC day per statement
            step = min(end, day_floor(t) + dt.timedelta(days=1))
            await conn.execute(sql, t, step, *OUTCOME_CODES, timeout=RECOUNT_TIMEOUT_S)
            t = step


async def _outcomes_sql(conn: asyncpg.Connection) -> str:
    """The outcomes fold for the conversions table as it is: with the flow
    columns attribution's migration 0004 adds (a conversion's own stream,
    lander and offer), or without them (its click's); with the installs' Apple
    Ads columns (attribution's migration 0006), or without them (none)."""
    has_flow = bool(await conn.fetchval(CONVERSION_FLOW_SQL))
    if not await conn.fetchval(INSTALLS_APPLE_SQL):
        return OUTCOMES_NO_APPLE_SQL[has_flow]
    return OUTCOMES_FLOW_SQL if has_flow else OUTCOMES_SQL


class AppRollup:
    """SKAN / AdAttributionKit postbacks (installs, conversions, estimated
    revenue, by receive time) and re-engagements / re-attributions (by event
    time) into analytics.report_app (migrations/0008_app_campaigns.sql). Read
    by update_time where the table has one (a change bumps it: a postback's
    campaign mapped later), else by create_time (written once; a change then
    moves at the next recount of its day), folded by delta against
    report_app_facts, so a recount of [start, end) is the same statement as an
    add."""

    name = "reports_app"
    sources = ("attribution.skan_postbacks", "attribution.reattributions")

    async def first_time(self, conn: asyncpg.Connection) -> dt.datetime | None:
        if not await _sources_exist(conn, *self.sources):
            return None
        return await conn.fetchval(APP_FIRST_SQL)  # type: ignore[no-any-return]

    async def add(self, conn: asyncpg.Connection, start: dt.datetime, end: dt.datetime) -> None:
        if await _sources_exist(conn, *self.sources):
            await conn.execute(await _app_sql(conn), start, end, *APP_CODES)

    async def recount(self, conn: asyncpg.Connection, start: dt.datetime, end: dt.datetime) -> None:
        if not await _sources_exist(conn, *self.sources):
            return
        sql = await _app_sql(conn)
        t = start
        while t < end:  # a UTC day per statement
            step = min(end, day_floor(t) + dt.timedelta(days=1))
            await conn.execute(sql, t, step, *APP_CODES, timeout=RECOUNT_TIMEOUT_S)
            t = step


async def _app_sql(conn: asyncpg.Connection) -> str:
    """The app fold for the tables as they are (with or without update_time)."""
    has = await conn.fetchrow(APP_UPDATE_TIMES_SQL)
    return app_fold_sql(
        "update_time" if has["skan"] else "create_time", "update_time" if has["reattributions"] else "create_time"
    )
