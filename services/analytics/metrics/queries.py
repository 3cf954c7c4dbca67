"""The product-metric queries over the rollups (metric_activity, _users,
_sessions, _steps, _purchases, _errors), each for one app over local days."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import decimal
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from services.analytics.metrics.days import Days

# Session-duration buckets (seconds): [0,10) [10,30) [30,60) [60,180) [180,600) [600,1800) [1800,3600) [3600,inf).
DURATION_BOUNDS = (10, 30, 60, 180, 600, 1800, 3600)


@contextlib.asynccontextmanager
async def reading(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A read-only transaction that plans every query for its own parameters: the
    generic plan Postgres caches after five runs of a prepared statement cannot see
    how selective an app, a funnel step or a range is, and measured 3-4x slower
    (funnel, retention) on 5 million events; planning costs well under a millisecond."""
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        yield conn


# Local-day activity: (day, user_key) once per user and local day in the map.
_ACT = """
act AS (
    SELECT m.local_day AS day, a.user_key
    FROM analytics.metric_activity a
    JOIN unnest($3::date[], $4::date[], $5::bigint[]) AS m(local_day, utc_day, mask)
      ON a.day = m.utc_day AND (a.slots & m.mask) <> 0
    WHERE a.account_id = $1 AND a.app_id = $2 AND a.day >= $6 AND a.day <= $7
    GROUP BY 1, 2
)"""


# The same when the local days are the UTC days (UTC itself): the rows as they
# are, no join or regrouping. $3..$5 (the slot map) only keep their types.
_ACT_UTC = """
act AS (
    SELECT a.day, a.user_key FROM analytics.metric_activity a
    WHERE a.account_id = $1 AND a.app_id = $2 AND a.day >= $6 AND a.day <= $7
      AND $3::date[] IS NOT NULL AND $4::date[] IS NOT NULL AND $5::bigint[] IS NOT NULL
)"""
ALL_SLOTS = (1 << 48) - 1


def _act_args(days: Days) -> list[Any]:
    local, utc, masks = days.slot_map()
    return [local, utc, masks, min(utc), max(utc)]


def _with_act(sql: str, days: Days) -> str:
    """``sql`` with its act CTE, the plain one when the days are UTC days."""
    local, utc, masks = days.slot_map()
    aligned = local == utc and all(m == ALL_SLOTS for m in masks)
    return sql.replace(_ACT, _ACT_UTC) if aligned else sql


# ----------------------------------------------------------------------------- active users

ACTIVE_SQL = f"""
WITH {_ACT},
seq AS (
    SELECT day, least(lead(day) OVER w, day + 7) AS w_end, least(lead(day) OVER w, day + 30) AS m_end
    FROM act WINDOW w AS (PARTITION BY user_key ORDER BY day)
),
ends AS (
    SELECT grouping(day, w_end, m_end) AS g, coalesce(day, w_end, m_end) AS d, count(*) AS n
    FROM seq GROUP BY GROUPING SETS ((day), (w_end), (m_end))
),
per_day AS (
    SELECT d, sum(n) FILTER (WHERE g = 3) AS dau,
           sum(CASE g WHEN 3 THEN n WHEN 5 THEN -n ELSE 0 END) AS w,
           sum(CASE g WHEN 3 THEN n WHEN 6 THEN -n ELSE 0 END) AS m
    FROM ends GROUP BY d
),
series AS (
    SELECT s.d::date AS d, coalesce(p.dau, 0)::bigint AS dau,
           (sum(coalesce(p.w, 0)) OVER (ORDER BY s.d))::bigint AS wau,
           (sum(coalesce(p.m, 0)) OVER (ORDER BY s.d))::bigint AS mau
    FROM generate_series($8::date, $9::date, interval '1 day') AS s(d) LEFT JOIN per_day p ON p.d = s.d
)
SELECT d, dau, wau, mau FROM series WHERE d >= $10 ORDER BY d
"""


async def active_users(conn: asyncpg.Connection, account_id: str, app_id: str, days: Days) -> list[asyncpg.Record]:
    """DAU, WAU (7 days ending on the day) and MAU (30 days) per day. Each user's
    active days a < next cover [a, min(next, a + 7)) for WAU: the coverage
    intervals do not overlap, so a running sum of +1/-1 counts them."""
    wide = days.shifted(before=29)
    return await conn.fetch(
        _with_act(ACTIVE_SQL, wide), account_id, app_id, *_act_args(wide), wide.first, days.last, days.first
    )


# ----------------------------------------------------------------------------- user flow

FLOW_SQL = f"""
WITH {_ACT},
seq AS (SELECT user_key, day, lag(day) OVER (PARTITION BY user_key ORDER BY day) AS prev FROM act),
classed AS (
    SELECT s.day, s.prev, (u.first_time AT TIME ZONE $9)::date AS first_day
    FROM seq s LEFT JOIN analytics.metric_users u
      ON u.account_id = $1 AND u.app_id = $2 AND u.user_key = s.user_key
    WHERE s.day >= $10
)
SELECT day, count(*) AS active,
       count(*) FILTER (WHERE first_day IS NULL OR first_day >= day) AS new,
       count(*) FILTER (WHERE first_day < day AND prev IS NOT NULL AND day - prev <= $8) AS retained,
       count(*) FILTER (WHERE first_day < day AND (prev IS NULL OR day - prev > $8)) AS re_engaged
FROM classed GROUP BY day ORDER BY day
"""


async def user_flow(
    conn: asyncpg.Connection, account_id: str, app_id: str, days: Days, lookback: int
) -> dict[dt.date, asyncpg.Record]:
    """Per day: active users split into new (first seen that day), retained (also
    active in the ``lookback`` days before) and re-engaged (seen before, but not
    in those days)."""
    wide = days.shifted(before=lookback)
    rows = await conn.fetch(
        _with_act(FLOW_SQL, wide), account_id, app_id, *_act_args(wide), lookback, days.tz.key, days.first
    )
    return {r["day"]: r for r in rows}


# ----------------------------------------------------------------------------- retention

COHORT_SQL = """
SELECT (first_time AT TIME ZONE $5)::date AS day, count(*) AS users
FROM analytics.metric_users WHERE account_id = $1 AND app_id = $2 AND first_time >= $3 AND first_time < $4
GROUP BY 1
"""
RETENTION_SQL = f"""
WITH {_ACT},
cohort AS (
    SELECT user_key, (first_time AT TIME ZONE $11)::date AS c
    FROM analytics.metric_users WHERE account_id = $1 AND app_id = $2 AND first_time >= $8 AND first_time < $9
)
SELECT c.c AS cohort, act.day - c.c AS n, count(*) AS users
FROM cohort c JOIN act ON act.user_key = c.user_key
WHERE act.day - c.c = ANY($10::int[])
GROUP BY 1, 2
"""


async def retention(
    conn: asyncpg.Connection, account_id: str, app_id: str, days: Days, ns: list[int]
) -> tuple[dict[dt.date, int], dict[tuple[dt.date, int], int]]:
    """Cohort sizes (users first seen on each day) and, per (cohort day, N),
    the cohort's users active on the cohort day + N."""
    sizes = {
        r["day"]: r["users"]
        for r in await conn.fetch(COHORT_SQL, account_id, app_id, days.utc_start, days.utc_end, days.tz.key)
    }
    if not sizes:
        return sizes, {}
    later = Days(days.first + dt.timedelta(days=min(ns)), days.last + dt.timedelta(days=max(ns)), days.tz)
    rows = await conn.fetch(
        _with_act(RETENTION_SQL, later),
        account_id,
        app_id,
        *_act_args(later),
        days.utc_start,
        days.utc_end,
        ns,
        days.tz.key,
    )
    return sizes, {(r["cohort"], r["n"]): r["users"] for r in rows}


# ----------------------------------------------------------------------------- sessions

_SESSIONS = """
WITH s AS (
    SELECT (first_time AT TIME ZONE $5)::date AS day, extract(epoch FROM last_time - first_time)::float8 AS d
    FROM analytics.metric_sessions
    WHERE account_id = $1 AND app_id = $2 AND first_time >= $3 AND first_time < $4
)"""
SESSIONS_BY_DAY_SQL = f"""{_SESSIONS}
SELECT grouping(day) = 1 AS total, day, count(*) AS sessions, avg(d) AS avg,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY d) AS p50, percentile_cont(0.9) WITHIN GROUP (ORDER BY d) AS p90
FROM s GROUP BY ROLLUP (day) ORDER BY total, day
"""
SESSION_BUCKETS_SQL = f"""{_SESSIONS}
SELECT grouping(day) = 1 AS total, day, bucket, count(*) AS n
FROM (SELECT day, width_bucket(d, $6::float8[]) AS bucket FROM s) b GROUP BY GROUPING SETS ((day, bucket), (bucket))
"""


@dataclasses.dataclass
class SessionStats:
    sessions: int
    avg: float
    p50: float
    p90: float
    buckets: list[int]  # one count per DURATION_BOUNDS bucket, plus the open-ended last


async def sessions(
    conn: asyncpg.Connection, account_id: str, app_id: str, days: Days
) -> tuple[dict[dt.date, SessionStats], SessionStats]:
    """Per start day and for the whole range: sessions, mean, median and p90
    duration in seconds, and counts per DURATION_BOUNDS bucket."""
    base = (account_id, app_id, days.utc_start, days.utc_end, days.tz.key)
    per_day: dict[dt.date, SessionStats] = {}
    total = SessionStats(0, 0.0, 0.0, 0.0, [0] * (len(DURATION_BOUNDS) + 1))
    for r in await conn.fetch(SESSIONS_BY_DAY_SQL, *base):
        stats = SessionStats(r["sessions"], r["avg"], r["p50"], r["p90"], [0] * (len(DURATION_BOUNDS) + 1))
        if r["total"]:
            total = stats
        else:
            per_day[r["day"]] = stats
    for r in await conn.fetch(SESSION_BUCKETS_SQL, *base, [float(b) for b in DURATION_BOUNDS]):
        target = total if r["total"] else per_day[r["day"]]
        target.buckets[r["bucket"]] = r["n"]
    return per_day, total


# ----------------------------------------------------------------------------- funnels


@dataclasses.dataclass(frozen=True)
class Step:
    kind: int  # EVENT_SCREEN or EVENT_TRACK
    name: str


def funnel_sql(steps: list[Step]) -> str:
    """One query: s1 = each user's first step-1 time in the range; s(k) = the
    first step-k time at or after s(k-1) (strictly after when it repeats the
    previous step) and within the window of s1. $1 account, $2 app, $3 range
    start, $4 range end, $5 window; step k's kind and name are $(4+2k), $(5+2k)."""
    ctes = [
        "s1 AS (SELECT user_key, min(t) AS t1, min(t) AS t FROM analytics.metric_steps"
        " WHERE account_id = $1 AND app_id = $2 AND kind = $6 AND name = $7 AND t >= $3 AND t < $4"
        " GROUP BY user_key)"
    ]
    for k in range(2, len(steps) + 1):
        kind, name = f"${4 + 2 * k}", f"${5 + 2 * k}"
        after = ">" if steps[k - 1] == steps[k - 2] else ">="
        ctes.append(
            f"s{k} AS (SELECT p.user_key, p.t1, min(o.t) AS t FROM s{k - 1} p JOIN analytics.metric_steps o"
            f" ON o.account_id = $1 AND o.app_id = $2 AND o.kind = {kind} AND o.name = {name}"
            f" AND o.user_key = p.user_key AND o.t {after} p.t AND o.t <= p.t1 + $5"
            f" AND o.t >= $3 AND o.t <= $4 + $5 GROUP BY p.user_key, p.t1)"
        )
    counts = ", ".join(f"(SELECT count(*) FROM s{k})" for k in range(1, len(steps) + 1))
    return f"WITH {', '.join(ctes)} SELECT ARRAY[{counts}]::bigint[]"


async def funnel(
    conn: asyncpg.Connection, account_id: str, app_id: str, days: Days, steps: list[Step], window: dt.timedelta
) -> list[int]:
    args: list[Any] = [account_id, app_id, days.utc_start, days.utc_end, window]
    for step in steps:
        args += [step.kind, step.name]
    return list(await conn.fetchval(funnel_sql(steps), *args))


# ----------------------------------------------------------------------------- errors

ERRORS_BY_DAY_SQL = """
SELECT (slot AT TIME ZONE $5)::date AS day, level, code, sum(n)::bigint AS n
FROM analytics.metric_errors WHERE account_id = $1 AND app_id = $2 AND slot >= $3 AND slot < $4
GROUP BY 1, 2, 3 ORDER BY 1, 4 DESC, 2, 3
"""
TOP_MESSAGES_SQL = """
SELECT message, level, code, sum(n)::bigint AS n
FROM analytics.metric_errors WHERE account_id = $1 AND app_id = $2 AND slot >= $3 AND slot < $4
GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3 LIMIT $5
"""


async def errors(
    conn: asyncpg.Connection, account_id: str, app_id: str, days: Days, top: int
) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    base = (account_id, app_id, days.utc_start, days.utc_end)
    return (
        await conn.fetch(ERRORS_BY_DAY_SQL, *base, days.tz.key),
        await conn.fetch(TOP_MESSAGES_SQL, *base, top),
    )


# ----------------------------------------------------------------------------- revenue

REVENUE_SQL = """
SELECT (event_time AT TIME ZONE $5)::date AS day, web3, currency, platform, bundle_id, sum(amount) AS revenue,
       count(*) AS purchases, count(DISTINCT user_key) AS paying
FROM analytics.metric_purchases WHERE account_id = $1 AND app_id = $2 AND event_time >= $3 AND event_time < $4
GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
"""
REVENUE_TOTAL_SQL = """
SELECT web3, currency, sum(amount) AS revenue, count(*) AS purchases, count(DISTINCT user_key) AS paying
FROM analytics.metric_purchases WHERE account_id = $1 AND app_id = $2 AND event_time >= $3 AND event_time < $4
GROUP BY 1, 2 ORDER BY 1, 2
"""
ACTIVE_IN_RANGE_SQL = f"WITH {_ACT} SELECT count(DISTINCT user_key) FROM act"


async def revenue(
    conn: asyncpg.Connection, account_id: str, app_id: str, days: Days
) -> tuple[list[asyncpg.Record], list[asyncpg.Record], int]:
    """Rows per day/kind/currency/platform/bundle, totals per kind and currency,
    and the users active in the range (ARPU's denominator)."""
    base = (account_id, app_id, days.utc_start, days.utc_end)
    rows = await conn.fetch(REVENUE_SQL, *base, days.tz.key)
    totals = await conn.fetch(REVENUE_TOTAL_SQL, *base)
    active = (
        await conn.fetchval(_with_act(ACTIVE_IN_RANGE_SQL, days), account_id, app_id, *_act_args(days)) if totals else 0
    )
    return rows, totals, int(active or 0)


def per_user(amount: decimal.Decimal, users: int) -> decimal.Decimal:
    """amount / users to 6 decimals (0 for no users)."""
    if users <= 0:
        return decimal.Decimal(0)
    return (amount / users).quantize(decimal.Decimal("0.000001"), rounding=decimal.ROUND_HALF_EVEN)
