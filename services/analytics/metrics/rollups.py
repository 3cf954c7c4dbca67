"""The product-metric rollups folded from ingest.events (activity, users,
sessions, funnel steps, purchases, errors), each a statement over a receive-time
window; see the package docstring for the definitions."""

from __future__ import annotations

import dataclasses
import datetime as dt

import asyncpg

from services.analytics.codes import EVENT_SCREEN, EVENT_TRACK
from services.analytics.rollup import Rollup

USER_KEY = "hashtextextended(coalesce('u:' || user_id, 'd:' || coalesce(idfv, android_id, gaid, idfa)), 0)"
# Half-hour slot of the UTC day (0..47) and the UTC day of event_time.
SLOT = "(floor(extract(epoch FROM event_time) / 1800)::bigint % 48)::int"
UTC_DAY = "(event_time AT TIME ZONE 'UTC')::date"
WINDOW = "receive_time >= $1 AND receive_time < $2"
ERROR_MESSAGE_CHARS = 200

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
    # The statement's arguments after the window ($1, $2): the event types it reads.
    args: tuple[object, ...] = ()

    async def first_time(self, conn: asyncpg.Connection) -> dt.datetime | None:
        return await earliest_event(conn)

    async def add(self, conn: asyncpg.Connection, start: dt.datetime, end: dt.datetime) -> None:
        for lo, hi in chunks(start, end):
            await conn.execute(self.sql, lo, hi, *self.args)

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
    FROM ingest.events WHERE {WINDOW} AND event = ANY($3::smallint[]) AND action IS NOT NULL
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
WHERE {WINDOW} AND event = $3 AND action IN ('monetization_web2', 'monetization_web3')
ON CONFLICT DO NOTHING
"""

ERRORS_SELECT = f"""
SELECT account_id, app_id, to_timestamp(floor(extract(epoch FROM event_time) / 1800) * 1800) AS slot,
       to_timestamp(floor(extract(epoch FROM receive_time) / 3600) * 3600) AS receive_hour,
       coalesce(properties->>'error_level', '') AS level, coalesce(properties->>'error_code', '') AS code,
       left(coalesce(properties->>'error_message', ''), {ERROR_MESSAGE_CHARS}) AS message, count(*) AS n
FROM ingest.events WHERE {WINDOW} AND event = $3 AND action = 'error'
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
            await conn.execute(ERRORS_ADD, lo, hi, EVENT_TRACK)

    async def recount(self, conn: asyncpg.Connection, start: dt.datetime, end: dt.datetime) -> None:
        await conn.execute(ERRORS_DELETE, start, end)
        await self.add(conn, start, end)


ROLLUPS: list[Rollup] = [
    IdempotentRollup("metrics.activity", ACTIVITY_SQL),
    IdempotentRollup("metrics.users", USERS_SQL),
    IdempotentRollup("metrics.sessions", SESSIONS_SQL),
    IdempotentRollup("metrics.steps", STEPS_SQL, ([EVENT_TRACK, EVENT_SCREEN],)),
    IdempotentRollup("metrics.purchases", PURCHASES_SQL, (EVENT_TRACK,)),
    ErrorsRollup(),
]
