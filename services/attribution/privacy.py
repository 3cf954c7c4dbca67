"""GDPR erasure of one person's installs, conversions and goal counts (libs/privacy.py).
Installs and conversions stay (they are the aggregates), without device ids,
IP, or user id: those become the erasure's pseudonym.

Also the queues on both sides of attribution: the person's events waiting in
the ingest hand-off (due or dead) are anonymised as ingest anonymises its rows,
their outbound events waiting for the postbacks fan-out are dropped (a
postback not sent yet is cancelled), and so are their installs' Apple Ads jobs
not resolved yet (each holds the install's AdServices token; due, waiting for
a retry or dead). And the inbound postback log: the rows of the person's
clicks keep what explains the conversion (time, outcome, status, payout,
currency, goal, txid) and the network's own request data (its server's IP and
User-Agent); the click id becomes the pseudonym and every other parameter is
dropped."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from libs import event_handoff, postback_handoff, queue
from libs.privacy import Found, Subject, count
from services.attribution.apple_ads import APPLE_ADS_QUEUE
from services.attribution.postback_rules import ALIASES

# $2 identity keys ("gaid:...", "user:..."), $3 user ids, $4 device ids, $5 click ids.
_INSTALLS = """
SELECT install_id, click_id, user_id, idfa, gaid, host(ip) AS ip FROM attribution.installs
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
# Re-engagements / re-attributions (services/attribution/reengagement.py) of the person's installs.
_REATTRIBUTIONS = """
SELECT reattribution_id, click_id FROM attribution.reattributions
WHERE account_id = $1 AND device_key NOT LIKE 'erased:%'
    AND (install_id = ANY($2::text[]) OR device_key = ANY($3::text[]))
"""
_ERASE_REATTRIBUTIONS = """
UPDATE attribution.reattributions SET device_key = $3 || ':' || reattribution_id
WHERE account_id = $1 AND reattribution_id = ANY($2::text[])
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

# The inbound postback log rows of the person's clicks (or, unparsed, naming one in a parameter).
_INBOUND = """account_id = $1 AND click_id NOT LIKE 'erased:%' AND (click_id = ANY($2::text[])
    OR (click_id = '' AND EXISTS (SELECT 1 FROM jsonb_each_text(params) p WHERE p.value = ANY($2::text[]))))"""
# What a log row keeps of its parameters: what explains the conversion it made.
INBOUND_KEEP = sorted({a for f in ("status", "payout", "currency", "goal", "txid") for a in ALIASES[f]})
_ERASE_INBOUND = f"""
UPDATE attribution.inbound_postbacks SET
    error = CASE WHEN click_id = '' THEN error ELSE replace(error, click_id, $3) END,
    click_id = CASE WHEN click_id = '' THEN '' ELSE $3 END,
    params = coalesce((SELECT jsonb_object_agg(key, value) FROM jsonb_each(params) WHERE key = ANY($4::text[])), '{{}}')
WHERE {_INBOUND}
"""


def _needle(value: str) -> bytes:
    """How an id starts inside a JSON payload: a quote, then the id."""
    return orjson.dumps(value)[:-1]


async def _erase_queues(
    conn: asyncpg.Connection, account_id: str, who: Subject, found: Found, install_ids: list[str], apply: bool
) -> None:
    users, devices = who.user_ids | found.user_ids, who.device_ids | found.device_ids
    clicks = who.click_ids | found.click_ids

    def of_person(e: dict[str, Any]) -> str | None:
        hit = (
            e.get("user_id") in users
            or e.get("click_id") in clicks
            or any(isinstance(e.get(c), str) and e[c].lower() in devices for c in event_handoff.DEVICE_COLUMNS)
        )
        return who.pseudonym if hit else None

    needles = [_needle(i) for i in sorted(users | devices | clicks)]
    found.rows["queue.jobs:" + event_handoff.EVENT_QUEUE] = await queue.redact(
        conn, event_handoff.EVENT_QUEUE, account_id, needles,
        lambda p: event_handoff.erase_in_payload(p, of_person), apply=apply,
    )  # fmt: skip
    records = found.keys

    def drop_person(payload: bytes) -> bytes | None:
        e = postback_handoff.fields(postback_handoff.decode(payload))
        mine = (
            str(e["event_id"]).split(":", 1)[0] in records or e["click_id"] in clicks
            or any(e[c] and str(e[c]).lower() in devices for c in ("idfa", "gaid"))
        )  # fmt: skip
        return None if mine else payload

    needles = [_needle(i) for i in sorted(devices | clicks | records)]
    found.rows["queue.jobs:" + postback_handoff.POSTBACK_QUEUE] = await queue.redact(
        conn, postback_handoff.POSTBACK_QUEUE, account_id, needles, drop_person, apply=apply
    )

    def drop_token(payload: bytes) -> bytes | None:
        """An Apple Ads job (services/attribution/apple_ads.py: {install_id, token}) of the person's installs."""
        try:
            install_id = orjson.loads(payload).get("install_id")
        except (orjson.JSONDecodeError, AttributeError):
            return payload
        return None if isinstance(install_id, str) and install_id in installs else payload

    installs = set(install_ids)
    found.rows["queue.jobs:" + APPLE_ADS_QUEUE] = await queue.redact(
        conn, APPLE_ADS_QUEUE, account_id, [_needle(i) for i in sorted(installs)], drop_token, apply=apply
    )


async def erase(conn: asyncpg.Connection, account_id: str, who: Subject, apply: bool) -> Found:
    found = Found()
    users, devices, clicks = sorted(who.user_ids), sorted(who.device_ids), sorted(who.click_ids)
    installs = await conn.fetch(_INSTALLS, account_id, who.identity_keys(), users, devices, clicks)
    for r in installs:
        found.user_ids.update(u for u in [r["user_id"]] if u)
        found.device_ids.update(r[c] for c in ("idfa", "gaid") if r[c])
        found.click_ids.update(c for c in [r["click_id"]] if c)
        found.ips.update(ip for ip in [r["ip"]] if ip)
    linked = Subject(who.user_ids | found.user_ids, who.device_ids | found.device_ids, set(), who.pseudonym)
    keys, install_ids = linked.identity_keys(), [r["install_id"] for r in installs]
    conversions = await conn.fetch(_CONVERSIONS, account_id, keys, sorted(linked.user_ids), install_ids)
    for r in conversions:
        found.user_ids.update(u for u in [r["user_id"]] if u)
        found.click_ids.update(c for c in [r["click_id"]] if c)
    found.rows["attribution.installs"] = len(installs)
    reattributions = await conn.fetch(_REATTRIBUTIONS, account_id, install_ids, keys)
    found.click_ids.update(c for r in reattributions if (c := r["click_id"]))
    found.rows["attribution.reattributions"] = len(reattributions)
    found.rows["attribution.conversions"] = len(conversions)
    found.keys.update(install_ids)
    found.keys.update(r["conversion_id"] for r in conversions)
    await _erase_queues(conn, account_id, who, found, install_ids, apply)
    clicks = sorted(who.click_ids | found.click_ids)
    if not apply:
        found.rows["attribution.inbound_postbacks"] = await conn.fetchval(
            f"SELECT count(*) FROM attribution.inbound_postbacks WHERE {_INBOUND}", account_id, clicks
        )
        found.rows["attribution.goal_counts"] = await conn.fetchval(
            "SELECT count(*) FROM attribution.goal_counts WHERE account_id = $1 AND user_key = ANY($2::text[])",
            account_id,
            keys,
        )
        return found
    await conn.execute(_ERASE_INSTALLS, account_id, install_ids, who.pseudonym)
    await conn.execute(
        _ERASE_REATTRIBUTIONS, account_id, [r["reattribution_id"] for r in reattributions], who.pseudonym
    )
    status = await conn.execute(_ERASE_INSTALL_KEYS, account_id, keys, install_ids)
    found.rows["attribution.install_keys"] = count(status)
    await conn.execute(_ERASE_CONVERSIONS, account_id, [r["conversion_id"] for r in conversions], who.pseudonym)
    found.rows["attribution.goal_counts"] = await conn.fetchval(_ERASE_GOAL_COUNTS, account_id, keys, who.pseudonym)
    status = await conn.execute(_ERASE_INBOUND, account_id, clicks, who.pseudonym, INBOUND_KEEP)
    found.rows["attribution.inbound_postbacks"] = count(status)
    return found
