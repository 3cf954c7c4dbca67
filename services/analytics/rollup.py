"""Rollups kept current from the raw tables by a watermark.

Each rollup folds the raw rows whose time falls in ``[watermark, now - lag)``
into its own tables and moves its watermark, both in one transaction, so a row
is folded in exactly once. The state row is locked ``FOR UPDATE``, so any number
of analytics replicas can run the same loop: one advances a rollup at a time.

A row can commit a little after its timestamp (group commit); the lag covers
that, and the watermark also stays behind the oldest write transaction still
open (pg_stat_activity), whose rows may carry earlier timestamps. A row that
commits later still is caught by the recount: once an hour is
``recount_after`` old, the rollup rebuilds that hour from the raw tables.
Rows written with timestamps far in the past (a bulk load) are folded in by
``recount(start, end)``, which the rebuild RPC/CLI call.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Sequence
from typing import Protocol

import asyncpg
from prometheus_client import Gauge

from libs.config import AnalyticsSettings
from libs.logging import get_logger
from services.analytics.periodic import run_until_stopped

log = get_logger("analytics.rollup")

HOUR = dt.timedelta(hours=1)
# A write transaction open longer than this no longer holds the watermark back.
MAX_HOLD = dt.timedelta(seconds=60)
# At most this many hours are recounted per pass, so a pass stays short.
RECOUNT_HOURS_PER_PASS = 2
# At most this many days of each derived table are rebuilt per pass.
DERIVED_DAYS_PER_PASS = 8

ROLLUP_LAG = Gauge("clicktrail_rollup_lag_seconds", "How far a rollup's watermark trails now", ["rollup"])


class Rollup(Protocol):
    """One rollup: what it reads and how it folds rows in."""

    name: str

    async def first_time(self, conn: asyncpg.Connection) -> dt.datetime | None:
        """The time of the earliest raw row, or None while there is none."""

    async def add(self, conn: asyncpg.Connection, start: dt.datetime, end: dt.datetime) -> None:
        """Fold the raw rows with time in [start, end) into the rollup."""

    async def recount(self, conn: asyncpg.Connection, start: dt.datetime, end: dt.datetime) -> None:
        """Rebuild the rollup for the whole hours in [start, end) from the raw rows
        (replace, not add: the hours may already hold some of them)."""


def floor_hour(t: dt.datetime) -> dt.datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def ceil_hour(t: dt.datetime) -> dt.datetime:
    floor = floor_hour(t)
    return floor if floor == t else floor + HOUR


_CLOCK = """
SELECT clock_timestamp() AS now,
       (SELECT min(xact_start) FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL) AS oldest_writer
"""
_STATE_INIT = """
INSERT INTO analytics.rollup_state (name, watermark, recounted_to) VALUES ($1, $2, $3)
ON CONFLICT (name) DO NOTHING
"""
_STATE_LOCK = "SELECT watermark, recounted_to FROM analytics.rollup_state WHERE name = $1 FOR UPDATE"
_STATE_SET = """
UPDATE analytics.rollup_state SET watermark = $2, recounted_to = $3, update_time = clock_timestamp() WHERE name = $1
"""


class Derived(Protocol):
    """Tables built from the rollups (after them), for the past UTC days."""

    name: str

    async def refresh(
        self, pool: asyncpg.Pool, *, since: dt.date | None = None, until: dt.date | None = None, limit: int | None
    ) -> int:
        """Build what is missing or stale in [since, until), at most ``limit`` days."""


class RollupRunner:
    """Advances every rollup on a schedule, then refreshes what is derived from
    them; tests call ``run_once``/``wait_current``."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        rollups: Sequence[Rollup],
        settings: AnalyticsSettings,
        derived: Sequence[Derived] = (),
    ) -> None:
        self._pool = pool
        self.rollups = list(rollups)
        self.derived = list(derived)
        self._interval = settings.analytics_rollup_interval_s
        self._lag = dt.timedelta(seconds=settings.analytics_rollup_lag_s)
        self._derived_refresh_s = settings.analytics_derived_refresh_s
        self._recount_after = dt.timedelta(seconds=settings.analytics_recount_after_s)
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        refreshed = -self._derived_refresh_s

        async def one_pass() -> None:
            nonlocal refreshed
            # Past days rarely change: the derived tables' stale-day scan every
            # analytics_derived_refresh_s, not every pass.
            refresh = time.monotonic() - refreshed >= self._derived_refresh_s
            await self.run_once(refresh_derived=refresh)
            if refresh:
                refreshed = time.monotonic()

        await run_until_stopped(one_pass, self._stopping, self._interval, log, "rollup pass failed")

    async def stop(self) -> None:
        self._stopping.set()

    async def run_once(self, *, refresh_derived: bool = True) -> None:
        """One pass: advance each rollup to now - lag, recount old hours, then
        (``refresh_derived``) rebuild a few stale days of each derived table."""
        for rollup in self.rollups:
            await self._advance(rollup)
        if refresh_derived:
            for derived in self.derived:
                await derived.refresh(self._pool, limit=DERIVED_DAYS_PER_PASS)

    async def _advance(self, rollup: Rollup) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            clock = await conn.fetchrow(_CLOCK)
            now: dt.datetime = clock["now"]
            end = now - self._lag
            # A write transaction still open may commit rows stamped since it began:
            # stay behind it (unless it is stuck: the recount catches those rows).
            oldest = clock["oldest_writer"]
            if oldest is not None and now - oldest < MAX_HOLD:
                end = min(end, oldest - self._lag)
            state = await conn.fetchrow(_STATE_LOCK, rollup.name)
            if state is None:
                # Start at the earliest raw row (or now, on an empty database).
                first = await rollup.first_time(conn)
                start = floor_hour(min(first, end)) if first is not None else end
                await conn.execute(_STATE_INIT, rollup.name, start, floor_hour(end))
                state = await conn.fetchrow(_STATE_LOCK, rollup.name)
            watermark, recounted_to = state["watermark"], state["recounted_to"]
            if end > watermark:
                await rollup.add(conn, watermark, end)
                watermark = end
            recount_to = min(floor_hour(watermark - self._recount_after), recounted_to + RECOUNT_HOURS_PER_PASS * HOUR)
            if recount_to > recounted_to:
                await rollup.recount(conn, recounted_to, recount_to)
                recounted_to = recount_to
            await conn.execute(_STATE_SET, rollup.name, watermark, recounted_to)
        ROLLUP_LAG.labels(rollup.name).set((now - watermark).total_seconds())

    async def recount(self, start: dt.datetime, end: dt.datetime) -> None:
        """Rebuild every rollup over the whole hours covering [start, end) that lie
        below its watermark (the part above is folded in by the next pass)."""
        for rollup in self.rollups:
            async with self._pool.acquire() as conn, conn.transaction():
                state = await conn.fetchrow(_STATE_LOCK, rollup.name)
                if state is None:
                    continue
                lo, hi = floor_hour(start), min(ceil_hour(end), floor_hour(state["watermark"]))
                if hi > lo:
                    await rollup.recount(conn, lo, hi)
        for derived in self.derived:
            await derived.refresh(self._pool, since=start.date(), until=end.date() + dt.timedelta(days=1), limit=None)

    async def wait_current(self, until: dt.datetime) -> None:
        """Wait until every rollup has folded in the rows before ``until``
        (callers bound it with ``asyncio.timeout``)."""
        names = [r.name for r in self.rollups]
        while True:
            rows = await self._pool.fetch(
                "SELECT name FROM analytics.rollup_state WHERE name = ANY($1::text[]) AND watermark >= $2", names, until
            )
            if len(rows) == len(names):
                return
            await asyncio.sleep(min(self._interval, 0.1))
