"""Product metrics: the rollups folded from ingest.events and the queries that
read them. Handlers (metrics_handlers.py) validate requests and shape answers.

Definitions, used once here and documented in metrics.proto and the README:
- A user is ``'u:' || user_id`` when the event carries a user_id, else
  ``'d:' || <device>`` with the first of idfv, android_id, gaid, idfa; kept as
  its 64-bit hash (``hashtextextended``). Events with neither have no user.
- Metrics bucket by the event's own time (``event_time``): a late event counts
  on the day it happened. Rollups follow ``receive_time`` (the partition key,
  written with the row at commit), which the runner's watermark advances over.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import decimal
import zoneinfo
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from services.analytics.rollup import Rollup

# ----------------------------------------------------------------------------- definitions

USER_KEY = "hashtextextended(coalesce('u:' || user_id, 'd:' || coalesce(idfv, android_id, gaid, idfa)), 0)"
# Half-hour slot of the UTC day (0..47) and the UTC day of event_time.
SLOT = "(floor(extract(epoch FROM event_time) / 1800)::bigint % 48)::int"
UTC_DAY = "(event_time AT TIME ZONE 'UTC')::date"
WINDOW = "receive_time >= $1 AND receive_time < $2"
EVENT_TRACK, EVENT_SCREEN = 3, 4
ERROR_MESSAGE_CHARS = 200
# Session-duration buckets (seconds): [0,10) [10,30) [30,60) [60,180) [180,600) [600,1800) [1800,3600) [3600,inf).
DURATION_BOUNDS = (10, 30, 60, 180, 600, 1800, 3600)

# ----------------------------------------------------------------------------- rollups

_EARLIEST_PARTITIONS = """
SELECT c.relname FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
JOIN pg_class p ON p.oid = i.inhparent
JOIN pg_namespace n ON n.oid = p.relnamespace
WHERE n.nspname = 'ingest' AND p.relname = 'events'
ORDER BY c.relname
"""


async def earliest_event(conn: asyncpg.Connection) -> dt.datetime | None:
    """The receive time of the oldest stored event: the first non-empty daily
    partition's minimum (partition names sort by day), not a scan of them all."""
    for row in await conn.fetch(_EARLIEST_PARTITIONS):
        first = await conn.fetchval(f'SELECT min(receive_time) FROM ingest."{row["relname"]}"')
        if first is not None:
            return first  # type: ignore[no-any-return]
    return None


# A catch-up over a long backlog folds it one day at a time: every statement
# stays short (the pool's command timeout), all in the runner's one transaction.
CHUNK = dt.timedelta(days=1)


def chunks(start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    out = []
    while start < end:
        out.append((start, min(end, start + CHUNK)))
        start += CHUNK
    return out


@dataclasses.dataclass
class IdempotentRollup:
    """A rollup whose merge is idempotent (set union, min, max, bit-or, insert
    once): folding a row twice changes nothing, so a recount of whole hours is
    the same statement as an add (raw events are never updated in place)."""

    name: str
    sql: str

    async def first_time(self, conn: asyncpg.Connection) -> dt.datetime | None:
        return await earliest_event(conn)

    async def add(self, conn: asyncpg.Connection, start: dt.datetime, end: dt.datetime) -> None:
        for lo, hi in chunks(start, end):
            await conn.execute(self.sql, lo, hi)

    async def recount(self, conn: asyncpg.Connection, start: dt.datetime, end: dt.datetime) -> None:
        await self.add(conn, start, end)


ACTIVITY_SQL = f"""
INSERT INTO analytics.metric_activity AS a (account_id, app_id, day, user_key, slots)
SELECT account_id, app_id, day, user_key, bit_or(1::bigint << slot)
FROM (
    SELECT account_id, app_id, {UTC_DAY} AS day, {USER_KEY} AS user_key, {SLOT} AS slot
    FROM ingest.events WHERE {WINDOW}
) e
WHERE user_key IS NOT NULL
GROUP BY account_id, app_id, day, user_key
ON CONFLICT (account_id, app_id, day, user_key) DO UPDATE SET slots = a.slots | excluded.slots
WHERE a.slots | excluded.slots <> a.slots
"""

USERS_SQL = f"""
INSERT INTO analytics.metric_users AS u (account_id, app_id, user_key, first_time)
SELECT account_id, app_id, user_key, min(event_time)
FROM (SELECT account_id, app_id, {USER_KEY} AS user_key, event_time FROM ingest.events WHERE {WINDOW}) e
WHERE user_key IS NOT NULL
GROUP BY account_id, app_id, user_key
ON CONFLICT (account_id, app_id, user_key) DO UPDATE SET first_time = excluded.first_time
WHERE excluded.first_time < u.first_time
"""

SESSIONS_SQL = f"""
INSERT INTO analytics.metric_sessions AS s (account_id, app_id, session_id, first_time, last_time)
SELECT account_id, app_id, session_id, min(event_time), max(event_time)
FROM ingest.events WHERE {WINDOW} AND session_id IS NOT NULL
GROUP BY account_id, app_id, session_id
ON CONFLICT (account_id, app_id, session_id) DO UPDATE
SET first_time = least(s.first_time, excluded.first_time), last_time = greatest(s.last_time, excluded.last_time)
WHERE excluded.first_time < s.first_time OR excluded.last_time > s.last_time
"""

STEPS_SQL = f"""
INSERT INTO analytics.metric_steps (account_id, app_id, kind, name, t, user_key)
SELECT DISTINCT account_id, app_id, event, action, event_time, user_key
FROM (
    SELECT account_id, app_id, event, action, event_time, {USER_KEY} AS user_key
    FROM ingest.events WHERE {WINDOW} AND event IN ({EVENT_TRACK}, {EVENT_SCREEN}) AND action IS NOT NULL
) e
WHERE user_key IS NOT NULL
ON CONFLICT DO NOTHING
"""

PLATFORM = """CASE jsonb_typeof(properties->'platform')
    WHEN 'string' THEN properties->>'platform'
    WHEN 'object' THEN coalesce(properties->'platform'->>'name', (properties->'platform')::text)
    ELSE '' END"""

PURCHASES_SQL = f"""
INSERT INTO analytics.metric_purchases
    (account_id, app_id, event_time, event_uuid, user_key, web3, currency, platform, bundle_id, amount)
SELECT account_id, app_id, event_time, event_uuid, {USER_KEY}, action = 'monetization_web3',
       properties->>'bundle_paid_currency', {PLATFORM}, coalesce(properties->>'bundle_id', ''),
       (properties->>'bundle_paid_amount')::numeric
FROM ingest.events
WHERE {WINDOW} AND event = {EVENT_TRACK} AND action IN ('monetization_web2', 'monetization_web3')
ON CONFLICT DO NOTHING
"""

ERRORS_SELECT = f"""
SELECT account_id, app_id, to_timestamp(floor(extract(epoch FROM event_time) / 1800) * 1800) AS slot,
       to_timestamp(floor(extract(epoch FROM receive_time) / 3600) * 3600) AS receive_hour,
       coalesce(properties->>'error_level', '') AS level, coalesce(properties->>'error_code', '') AS code,
       left(coalesce(properties->>'error_message', ''), {ERROR_MESSAGE_CHARS}) AS message, count(*) AS n
FROM ingest.events WHERE {WINDOW} AND event = {EVENT_TRACK} AND action = 'error'
GROUP BY 1, 2, 3, 4, 5, 6, 7
"""
ERRORS_ADD = f"""
INSERT INTO analytics.metric_errors AS m (account_id, app_id, slot, receive_hour, level, code, message, n)
{ERRORS_SELECT}
ON CONFLICT (account_id, app_id, slot, receive_hour, level, code, message) DO UPDATE SET n = m.n + excluded.n
"""
ERRORS_DELETE = "DELETE FROM analytics.metric_errors WHERE receive_hour >= $1 AND receive_hour < $2"


class ErrorsRollup:
    """Error counts: sums, so a recount deletes the receive hours and rebuilds them."""

    name = "metrics.errors"

    async def first_time(self, conn: asyncpg.Connection) -> dt.datetime | None:
        return await earliest_event(conn)

    async def add(self, conn: asyncpg.Connection, start: dt.datetime, end: dt.datetime) -> None:
        for lo, hi in chunks(start, end):
            await conn.execute(ERRORS_ADD, lo, hi)

    async def recount(self, conn: asyncpg.Connection, start: dt.datetime, end: dt.datetime) -> None:
        await conn.execute(ERRORS_DELETE, start, end)
        await self.add(conn, start, end)


ROLLUPS: list[Rollup] = [
    IdempotentRollup("metrics.activity", ACTIVITY_SQL),
    IdempotentRollup("metrics.users", USERS_SQL),
    IdempotentRollup("metrics.sessions", SESSIONS_SQL),
    IdempotentRollup("metrics.steps", STEPS_SQL),
    IdempotentRollup("metrics.purchases", PURCHASES_SQL),
    ErrorsRollup(),
]

# ----------------------------------------------------------------------------- queries


@contextlib.asynccontextmanager
async def reading(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A read-only transaction that plans every query for its own parameters: the
    generic plan Postgres caches after five runs of a prepared statement cannot see
    how selective an app, a funnel step or a range is, and measured 3-4x slower
    (funnel, retention) on 5 million events; planning costs well under a millisecond."""
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        yield conn


# ----------------------------------------------------------------------------- days in a time zone


@dataclasses.dataclass(frozen=True)
class Days:
    """Local days [first, last] of a time zone and where they lie in UTC."""

    first: dt.date
    last: dt.date
    tz: zoneinfo.ZoneInfo

    def start(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), self.tz).astimezone(dt.UTC)

    @property
    def utc_start(self) -> dt.datetime:
        return self.start(self.first)

    @property
    def utc_end(self) -> dt.datetime:
        return self.start(self.last + dt.timedelta(days=1))

    def shifted(self, before: int = 0, after: int = 0) -> Days:
        return Days(self.first - dt.timedelta(days=before), self.last + dt.timedelta(days=after), self.tz)

    def each(self) -> list[dt.date]:
        return [self.first + dt.timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    def slot_map(self) -> tuple[list[dt.date], list[dt.date], list[int]]:
        """For each (local day, UTC day) pair that overlap, the mask of the UTC
        day's half-hour slots that fall in the local day (metric_activity.slots)."""
        masks: dict[tuple[dt.date, dt.date], int] = {}
        half = dt.timedelta(minutes=30)
        for day in self.each():
            t, end = self.start(day), self.start(day + dt.timedelta(days=1))
            while t < end:
                slot = t.hour * 2 + t.minute // 30
                key = (day, t.date())
                masks[key] = masks.get(key, 0) | (1 << slot)
                t += half
        local = [k[0] for k in masks]
        utc = [k[1] for k in masks]
        # A bigint is signed: bit 47 is the highest used, so every mask is positive.
        return local, utc, list(masks.values())


def offsets_supported(days: Days) -> bool:
    """Whether every local midnight in the range falls on a UTC half hour."""
    for day in [*days.each(), days.last + dt.timedelta(days=1)]:
        t = days.start(day)
        if t.minute % 30 or t.second:
            return False
    return True


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
