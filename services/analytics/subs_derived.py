"""Sub-id report rows without the campaign (analytics.report_subs_derived; the
why in migrations/0005_subs_derived.sql).

A past UTC day of an account is built with the report's own statements
(reports.sql.report_sql by day and one sub-id, for each of the ten), so a built day
reads exactly as the cubes would. The rollup runner builds the days whose
cubes were folded into (report_day_versions) or whose tariffs / corrections
changed (reports.subs_sql.cost_fingerprint) since, a few per pass, and every day of a
recount at its end. campaign_report reads a built day only while it is current,
and the cubes otherwise.
"""

from __future__ import annotations

import datetime as dt

import asyncpg

from services.analytics.reports.plan import SUBS
from services.analytics.reports.queries import CORRECTED_CAMPAIGNS_SQL
from services.analytics.reports.request import SUB_DIMS
from services.analytics.reports.rollups import RECOUNT_TIMEOUT_S
from services.analytics.reports.sql import CODE_ARGS, COUNT_COLUMNS, filter_args, report_sql
from services.analytics.reports.subs_sql import GOAL_ARRAYS, cost_fingerprint

DAY = dt.timedelta(days=1)
# Stale account-days asked for per STALE_DAYS_SQL (a 10M-click month builds a day in
# well under a second).
STALE_BATCH = 8

# Account-days in [$1, $2) whose derived rows are missing or stale, newest first.
STALE_DAYS_SQL = f"""
WITH v AS (
    SELECT account_id, day, version FROM analytics.report_day_versions WHERE day >= $1 AND day < $2
),
fp AS (
    SELECT a.account_id, {cost_fingerprint("a.account_id")} AS fingerprint
    FROM (SELECT DISTINCT account_id FROM v) a
)
SELECT v.account_id, v.day FROM v
JOIN fp ON fp.account_id = v.account_id
LEFT JOIN analytics.report_subs_derived_days d ON d.account_id = v.account_id AND d.day = v.day
WHERE d.version IS DISTINCT FROM v.version OR d.fingerprint IS DISTINCT FROM fp.fingerprint
ORDER BY v.day DESC, v.account_id
LIMIT $3
"""
_VERSION_SQL = f"""
SELECT (SELECT version FROM analytics.report_day_versions WHERE account_id = $1 AND day = $2),
       {cost_fingerprint("$1")}
"""
_BUILT_SQL = "SELECT version, fingerprint FROM analytics.report_subs_derived_days WHERE account_id = $1 AND day = $2"
_CLEAR_SQL = "DELETE FROM analytics.report_subs_derived WHERE account_id = $1 AND day = $2"
_DAY_SQL = """
INSERT INTO analytics.report_subs_derived_days AS d (account_id, day, version, fingerprint) VALUES ($1, $2, $3, $4)
ON CONFLICT (account_id, day) DO UPDATE
SET version = excluded.version, fingerprint = excluded.fingerprint, build_time = now()
"""
# One builder per account-day across replicas (session lock: taken before the
# build's snapshot, so a build never misses another's committed rows).
_LOCK_KEY = "hashtext('report_subs_derived:' || $1), $2::date - DATE '2000-01-01'"
_LOCK_SQL = f"SELECT pg_try_advisory_lock({_LOCK_KEY})"
_WAIT_LOCK_SQL = f"SELECT pg_advisory_lock({_LOCK_KEY})"
_UNLOCK_SQL = f"SELECT pg_advisory_unlock({_LOCK_KEY})"


def _build_sql(sub_no: int) -> str:
    """The INSERT of one day's rows of sub-id ``sub_no``: the report statements'
    three parts (traffic, corrections, outcomes) merged into a row per value,
    each goal and currency once in its arrays."""
    group_by = ["day", f"sub{sub_no}"]
    traffic, corrections, outcomes = report_sql(group_by, {}, [SUBS])
    statements = (("t", traffic), ("c", corrections), ("o", outcomes))
    parts = "\n    UNION ALL\n".join(f"SELECT * FROM ({sql}) AS {p}" for p, sql in statements)
    goals = ", ".join(f"array_agg({c} ORDER BY gid, gcur)" for c in ("gid", "gcur", "gc", "ga", "gr"))
    counts = ", ".join(COUNT_COLUMNS)
    return f"""
WITH u (d0, d1, {counts}, {", ".join(GOAL_ARRAYS)}, c_curs, costs) AS (
    {parts}
),
counts AS (
    SELECT d0, d1, {", ".join(f"sum({c}) AS {c}" for c in COUNT_COLUMNS)}
    FROM u GROUP BY d0, d1
),
goals (d0, d1, {", ".join(GOAL_ARRAYS)}) AS (
    SELECT d0, d1, {goals}
    FROM (
        SELECT u.d0, u.d1, x.gid, x.gcur, sum(x.gc) AS gc, sum(x.ga) AS ga, sum(x.gr) AS gr
        FROM u CROSS JOIN LATERAL unnest({", ".join(f"u.{c}" for c in GOAL_ARRAYS)}) AS x (gid, gcur, gc, ga, gr)
        GROUP BY 1, 2, 3, 4
    ) y
    GROUP BY d0, d1
),
costs (d0, d1, c_curs, costs) AS (
    SELECT d0, d1, array_agg(cur ORDER BY cur), array_agg(cost ORDER BY cur)
    FROM (
        SELECT u.d0, u.d1, x.cur, sum(x.cost) AS cost
        FROM u CROSS JOIN LATERAL unnest(u.c_curs, u.costs) AS x (cur, cost)
        GROUP BY 1, 2, 3
    ) y
    GROUP BY d0, d1
)
INSERT INTO analytics.report_subs_derived (account_id, sub_no, day, sub_value, {counts},
    {", ".join(GOAL_ARRAYS)}, c_curs, costs)
SELECT $1, {sub_no}, d0, d1, {counts},
       {", ".join(f"goals.{c}" for c in GOAL_ARRAYS)}, costs.c_curs, costs.costs
FROM counts LEFT JOIN goals USING (d0, d1) LEFT JOIN costs USING (d0, d1)
"""


BUILD_SQL = {n: _build_sql(n) for n in range(1, len(SUB_DIMS) + 1)}


class SubsDerived:
    """Keeps analytics.report_subs_derived current for the past UTC days."""

    name = "reports_subs_derived"

    async def build_day(self, pool: asyncpg.Pool, account_id: str, day: dt.date, *, wait: bool = False) -> bool:
        """Rebuilds one account-day unless it is current; False when another
        builder holds it (``wait``: after that one is done)."""
        async with pool.acquire() as conn:
            try:
                if wait:
                    await conn.execute(_WAIT_LOCK_SQL, account_id, day)
                elif not await conn.fetchval(_LOCK_SQL, account_id, day):
                    return False
                try:
                    await self._build(conn, account_id, day)
                finally:
                    await conn.fetchval(_UNLOCK_SQL, account_id, day)
            except BaseException:
                # A session lock (perhaps granted just as we were cancelled) must not go
                # back to the pool with the connection: closing it releases the lock.
                conn.terminate()
                raise
        return True

    @staticmethod
    async def _build(conn: asyncpg.Connection, account_id: str, day: dt.date) -> None:
        async with conn.transaction(isolation="repeatable_read"):
            version, fingerprint = await conn.fetchrow(_VERSION_SQL, account_id, day)
            built = await conn.fetchrow(_BUILT_SQL, account_id, day)
            if version is None or (built is not None and tuple(built) == (version, fingerprint)):
                return
            # (Custom plans: the filter slots are all NULL, and a plan made for them drops them.)
            await conn.execute(
                "SET LOCAL work_mem = '64MB'; SET LOCAL jit = off; SET LOCAL plan_cache_mode = force_custom_plan"
            )
            await conn.execute(_CLEAR_SQL, account_id, day)
            start = dt.datetime.combine(day, dt.time(), dt.UTC)
            end = start + DAY
            corrected = await conn.fetchval(CORRECTED_CAMPAIGNS_SQL, account_id, day, day)
            args = [account_id, start, end, "UTC", day, day, start, end, corrected, [], *filter_args({}), *CODE_ARGS]
            for sql in BUILD_SQL.values():
                await conn.execute(sql, *args, timeout=RECOUNT_TIMEOUT_S)
            await conn.execute(_DAY_SQL, account_id, day, version, fingerprint)

    async def refresh(
        self, pool: asyncpg.Pool, *, since: dt.date | None = None, until: dt.date | None = None, limit: int | None
    ) -> int:
        """Builds the missing or stale account-days in [since, until) before the
        current UTC day (the current one changes with every fold), newest first,
        at most ``limit`` (None: all, waiting for the days another builder holds).
        Returns how many it built or found current."""
        today = dt.datetime.now(dt.UTC).date()
        hi = min(until, today) if until else today
        lo = since or dt.date(2000, 1, 1)
        done: set[tuple[str, dt.date]] = set()
        while limit is None or len(done) < limit:
            batch = STALE_BATCH if limit is None else min(STALE_BATCH, limit - len(done))
            # Days built in this call but stale again (folded into meanwhile) wait for the next.
            stale = [x for x in await pool.fetch(STALE_DAYS_SQL, lo, hi, batch + len(done)) if tuple(x) not in done]
            todo = stale[:batch]
            if not todo:
                break
            for account_id, day in todo:
                await self.build_day(pool, account_id, day, wait=limit is None)
                done.add((account_id, day))
        return len(done)
