"""GDPR erasure of the events and first-seen ids of one person (libs/privacy.py)."""

from __future__ import annotations

import asyncpg

from libs import event_handoff
from libs.privacy import Found, Subject, count
from services.ingest.store import FIRST_SEEN_DEVICE, FIRST_SEEN_USER

KINDS = (FIRST_SEEN_USER, FIRST_SEEN_DEVICE)  # ingest.first_seen.kind of user ids, of device ids

# Properties the aggregates read (error and monetization reports); the rest is
# free-form and may hold anything about the person: dropped.
KEEP_PROPERTIES = list(event_handoff.KEEP_PROPERTIES)

# The person's events not erased yet (erased rows carry an "erased:" pseudonym).
_MATCH = """account_id = $1 AND (user_id = ANY($2::text[]) OR click_id = ANY($4::text[])
    OR idfa = ANY($3::text[]) OR gaid = ANY($3::text[]) OR idfv = ANY($3::text[]) OR android_id = ANY($3::text[]))
    AND (user_id IS NULL OR user_id NOT LIKE 'erased:%')"""
_LINKED = f"""SELECT DISTINCT user_id, idfa, gaid, idfv, android_id, click_id,
    host(ip) AS ip, host(claimed_ip) AS claimed_ip FROM ingest.events WHERE {_MATCH}"""
_ERASE_EVENTS = f"""
UPDATE ingest.events SET
    user_id = $5, idfa = NULL, gaid = NULL, idfv = NULL, android_id = NULL, ip = NULL, user_agent = NULL, ref = NULL,
    claimed_ip = NULL, claimed_user_agent = NULL, adservices_token = NULL, app_instance_id = NULL,
    properties = (SELECT jsonb_object_agg(key, value) FROM jsonb_each(properties) WHERE key = ANY($6::text[]))
WHERE {_MATCH}
"""
# One first-seen row per app and kind takes the pseudonym, with the earliest time.
_ERASE_FIRST_SEEN = """
WITH gone AS (
    DELETE FROM ingest.first_seen
    WHERE account_id = $1 AND ((kind = $5 AND id = ANY($2::text[])) OR (kind = $6 AND id = ANY($3::text[])))
    RETURNING app_id, kind, first_time
), kept AS (
    INSERT INTO ingest.first_seen AS f (account_id, app_id, kind, id, first_time)
    SELECT $1, app_id, kind, $4, min(first_time) FROM gone GROUP BY app_id, kind
    ON CONFLICT (account_id, app_id, kind, id) DO UPDATE SET first_time = least(f.first_time, excluded.first_time)
)
SELECT count(*) FROM gone
"""
_COUNT_FIRST_SEEN = """
SELECT count(*) FROM ingest.first_seen
WHERE account_id = $1 AND ((kind = $4 AND id = ANY($2::text[])) OR (kind = $5 AND id = ANY($3::text[])))
"""


async def erase(conn: asyncpg.Connection, account_id: str, who: Subject, apply: bool) -> Found:
    found = Found()
    users, devices, clicks = sorted(who.user_ids), sorted(who.device_ids), sorted(who.click_ids)
    for r in await conn.fetch(_LINKED, account_id, users, devices, clicks):
        found.user_ids.update(u for u in [r["user_id"]] if u)
        found.device_ids.update(r[c] for c in ("idfa", "gaid", "idfv", "android_id") if r[c])
        found.click_ids.update(c for c in [r["click_id"]] if c)
        found.ips.update(r[c] for c in ("ip", "claimed_ip") if r[c])
    # Everything linked goes too: the same person's other ids in these rows.
    users = sorted(who.user_ids | found.user_ids)
    devices = sorted(who.device_ids | found.device_ids)
    if not apply:
        found.rows["ingest.events"] = await conn.fetchval(
            f"SELECT count(*) FROM ingest.events WHERE {_MATCH}", account_id, users, devices, clicks
        )
        found.rows["ingest.first_seen"] = await conn.fetchval(_COUNT_FIRST_SEEN, account_id, users, devices, *KINDS)
        return found
    status = await conn.execute(_ERASE_EVENTS, account_id, users, devices, clicks, who.pseudonym, KEEP_PROPERTIES)
    found.rows["ingest.events"] = count(status)
    found.rows["ingest.first_seen"] = await conn.fetchval(
        _ERASE_FIRST_SEEN, account_id, users, devices, who.pseudonym, *KINDS
    )
    return found
