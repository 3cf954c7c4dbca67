"""GDPR erasure of one person's installs, conversions and goal counts (libs/privacy.py).
Installs and conversions stay (they are the aggregates), without device ids,
IP, or user id: those become the erasure's pseudonym."""

from __future__ import annotations

import asyncpg

from libs.privacy import Found, Subject, count

# $2 identity keys ("gaid:...", "user:..."), $3 user ids, $4 device ids, $5 click ids.
_INSTALLS = """
SELECT install_id, click_id, user_id, idfa, gaid FROM attribution.installs
WHERE account_id = $1 AND device_key NOT LIKE 'erased:%' AND (device_key = ANY($2::text[])
    OR user_id = ANY($3::text[]) OR idfa = ANY($4::text[]) OR gaid = ANY($4::text[]) OR click_id = ANY($5::text[]))
"""
_CONVERSIONS = """
SELECT conversion_id, click_id, user_id FROM attribution.conversions
WHERE account_id = $1 AND user_key NOT LIKE 'erased:%'
    AND (user_key = ANY($2::text[]) OR user_id = ANY($3::text[]) OR install_id = ANY($4::text[]))
"""
_ERASE_INSTALLS = """
UPDATE attribution.installs SET device_key = $3 || ':' || install_id, user_id = $3, idfa = NULL, gaid = NULL, ip = NULL,
    update_time = clock_timestamp()
WHERE account_id = $1 AND install_id = ANY($2::text[])
"""
_ERASE_INSTALL_KEYS = """
DELETE FROM attribution.install_keys WHERE account_id = $1 AND (key = ANY($2::text[]) OR install_id = ANY($3::text[]))
"""
_ERASE_CONVERSIONS = """
UPDATE attribution.conversions SET user_key = $3, user_id = $3, update_time = clock_timestamp()
WHERE account_id = $1 AND conversion_id = ANY($2::text[])
"""
# A person's counts per goal, under any of their keys, merge into one pseudonymous count.
_ERASE_GOAL_COUNTS = """
WITH gone AS (
    DELETE FROM attribution.goal_counts WHERE account_id = $1 AND user_key = ANY($2::text[])
    RETURNING goal_id, count
), kept AS (
    INSERT INTO attribution.goal_counts AS g (account_id, goal_id, user_key, count)
    SELECT $1, goal_id, $3, sum(count) FROM gone GROUP BY goal_id
    ON CONFLICT (account_id, goal_id, user_key) DO UPDATE SET count = g.count + excluded.count
)
SELECT count(*) FROM gone
"""


async def erase(conn: asyncpg.Connection, account_id: str, who: Subject, apply: bool) -> Found:
    found = Found()
    users, devices, clicks = sorted(who.user_ids), sorted(who.device_ids), sorted(who.click_ids)
    installs = await conn.fetch(_INSTALLS, account_id, who.identity_keys(), users, devices, clicks)
    for r in installs:
        found.user_ids.update(u for u in [r["user_id"]] if u)
        found.device_ids.update(r[c] for c in ("idfa", "gaid") if r[c])
        found.click_ids.update(c for c in [r["click_id"]] if c)
    linked = Subject(who.user_ids | found.user_ids, who.device_ids | found.device_ids, set(), who.pseudonym)
    keys, install_ids = linked.identity_keys(), [r["install_id"] for r in installs]
    conversions = await conn.fetch(_CONVERSIONS, account_id, keys, sorted(linked.user_ids), install_ids)
    for r in conversions:
        found.user_ids.update(u for u in [r["user_id"]] if u)
        found.click_ids.update(c for c in [r["click_id"]] if c)
    found.rows["attribution.installs"] = len(installs)
    found.rows["attribution.conversions"] = len(conversions)
    if not apply:
        found.rows["attribution.goal_counts"] = await conn.fetchval(
            "SELECT count(*) FROM attribution.goal_counts WHERE account_id = $1 AND user_key = ANY($2::text[])",
            account_id,
            keys,
        )
        return found
    await conn.execute(_ERASE_INSTALLS, account_id, install_ids, who.pseudonym)
    status = await conn.execute(_ERASE_INSTALL_KEYS, account_id, keys, install_ids)
    found.rows["attribution.install_keys"] = count(status)
    await conn.execute(_ERASE_CONVERSIONS, account_id, [r["conversion_id"] for r in conversions], who.pseudonym)
    found.rows["attribution.goal_counts"] = await conn.fetchval(_ERASE_GOAL_COUNTS, account_id, keys, who.pseudonym)
    return found
