"""GDPR erasure in the product-metric rollups (libs/privacy.py). They know a
user only as a 64-bit hash of "u:<user id>" or "d:<device id>"
(services/analytics/metrics/rollups.py USER_KEY); the person's keys are merged into the
key of the erasure's pseudonym, the key ingest's erased events now have, so
every count stays the same and a recount from the raw events agrees."""

from __future__ import annotations

import asyncpg

from libs.privacy import Found, Subject, count

_KEYS = "ARRAY(SELECT hashtextextended(k, 0) FROM unnest($2::text[]) k)"
_NEW = "hashtextextended('u:' || $3::text, 0)"
# Each table: its rows of the person's keys are replaced by rows of the new key,
# merged the way the rollup merges (bit-or of activity slots, earliest first time).
_MERGES = {
    "analytics.metric_activity": f"""
WITH gone AS (
    DELETE FROM analytics.metric_activity WHERE account_id = $1 AND user_key = ANY({_KEYS})
    RETURNING app_id, day, slots
), kept AS (
    INSERT INTO analytics.metric_activity AS a (account_id, app_id, day, user_key, slots)
    SELECT $1, app_id, day, {_NEW}, bit_or(slots) FROM gone GROUP BY app_id, day
    ON CONFLICT (account_id, app_id, day, user_key) DO UPDATE SET slots = a.slots | excluded.slots
)
SELECT count(*) FROM gone""",
    "analytics.metric_users": f"""
WITH gone AS (
    DELETE FROM analytics.metric_users WHERE account_id = $1 AND user_key = ANY({_KEYS})
    RETURNING app_id, first_time
), kept AS (
    INSERT INTO analytics.metric_users AS u (account_id, app_id, user_key, first_time)
    SELECT $1, app_id, {_NEW}, min(first_time) FROM gone GROUP BY app_id
    ON CONFLICT (account_id, app_id, user_key) DO UPDATE SET first_time = least(u.first_time, excluded.first_time)
)
SELECT count(*) FROM gone""",
    "analytics.metric_steps": f"""
WITH gone AS (
    DELETE FROM analytics.metric_steps WHERE account_id = $1 AND user_key = ANY({_KEYS})
    RETURNING app_id, kind, name, t
), kept AS (
    INSERT INTO analytics.metric_steps (account_id, app_id, kind, name, t, user_key)
    SELECT DISTINCT $1, app_id, kind, name, t, {_NEW} FROM gone
    ON CONFLICT DO NOTHING
)
SELECT count(*) FROM gone""",
}
_PURCHASES = f"""
UPDATE analytics.metric_purchases SET user_key = {_NEW} WHERE account_id = $1 AND user_key = ANY({_KEYS})
"""


async def erase(conn: asyncpg.Connection, account_id: str, who: Subject, apply: bool) -> Found:
    found = Found()
    keys = [f"u:{u}" for u in who.user_ids] + [f"d:{d}" for d in who.device_ids]
    if not keys:
        return found
    if not apply:
        for table in (*_MERGES, "analytics.metric_purchases"):
            found.rows[table] = await conn.fetchval(
                f"SELECT count(*) FROM {table} WHERE account_id = $1 AND user_key = ANY({_KEYS})", account_id, keys
            )
        return found
    for table, sql in _MERGES.items():
        found.rows[table] = await conn.fetchval(sql, account_id, keys, who.pseudonym)
    found.rows["analytics.metric_purchases"] = count(await conn.execute(_PURCHASES, account_id, keys, who.pseudonym))
    return found
