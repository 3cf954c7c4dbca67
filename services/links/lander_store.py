"""SQL of the lander click-through (RecordLanderClicks) and of the lander
click times GetClick shows.

A click is found by its id alone (the /lp/click URL carries nothing else): the
id's leading 48 bits are its create_time in ms (libs.ids.id_time), so the
1 ms window prunes links.clicks to one day partition. On a registered custom
domain the domain names the account, and the look-up uses the primary key."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import asyncpg

ONE_MS = dt.timedelta(milliseconds=1)

DOMAIN_ACCOUNTS_SQL = "SELECT name, account_id FROM links.domains WHERE name = ANY($1::text[])"

# The clicks asked for with their campaign's fallback URL and, after a first
# click-through, the offer it went to. $1 ids, $2 their id_time (, $3 accounts).
# LATERAL with a LIMIT (which keeps the planner from flattening it): one index
# probe per id (clicks_time), its partition pruned at run time; a plain join on
# the id lists is planned as a hash join over a seq scan of the whole day.
_CLICKS_SQL = """
SELECT c.*, camp.status AS campaign_status, camp.fallback_url, lc.click_id IS NOT NULL AS through,
    lc.offer_id AS through_offer_id
FROM unnest($1::text[], $2::timestamptz[]{accounts_arg}) AS k(click_id, click_time{accounts_col})
CROSS JOIN LATERAL (
    SELECT * FROM links.clicks c
    WHERE c.click_id = k.click_id AND c.create_time >= k.click_time
      AND c.create_time < k.click_time + interval '1 millisecond'{accounts_on}
    LIMIT 2
) AS c
JOIN links.campaigns camp ON camp.account_id = c.account_id AND camp.campaign_id = c.campaign_id
LEFT JOIN links.lander_clicks lc ON lc.account_id = c.account_id AND lc.click_id = c.click_id
"""
CLICKS_BY_ID_SQL = _CLICKS_SQL.format(accounts_arg="", accounts_col="", accounts_on="")
CLICKS_BY_ACCOUNT_SQL = _CLICKS_SQL.format(
    accounts_arg=", $3::text[]", accounts_col=", account_id", accounts_on=" AND c.account_id = k.account_id"
)

# The first click-through of a click counts; a repeat changes nothing (RETURNING:
# the ones inserted). The verdict is the click's as it is now, read under a KEY
# SHARE lock of the click row: an operator's overrule (quality_api, which locks
# the click FOR UPDATE and then sets the lander click's verdict) either commits
# first and is read here, or waits for this insert and then updates its row.
INSERT_LANDER_CLICKS_SQL = """
INSERT INTO links.lander_clicks
    (account_id, click_id, click_time, campaign_id, link_id, stream_id, lander_id, offer_id, verdict)
SELECT k.account_id, k.click_id, k.click_time, k.campaign_id, k.link_id, k.stream_id, k.lander_id, k.offer_id,
    c.verdict
FROM unnest(
    $1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]
) AS k(account_id, click_id, click_time, campaign_id, link_id, stream_id, lander_id, offer_id)
CROSS JOIN LATERAL (
    SELECT c.verdict FROM links.clicks c
    WHERE c.account_id = k.account_id AND c.click_id = k.click_id AND c.create_time = k.click_time
    FOR KEY SHARE
) AS c
ON CONFLICT (account_id, click_id) DO NOTHING
RETURNING account_id, click_id
"""

# The offers stored by the click-throughs of these clicks ($1 accounts, $2 ids).
THROUGH_OFFERS_SQL = """
SELECT lc.account_id, lc.click_id, lc.offer_id
FROM unnest($1::text[], $2::text[]) AS k(account_id, click_id)
JOIN links.lander_clicks lc ON lc.account_id = k.account_id AND lc.click_id = k.click_id
"""

LANDER_CLICK_TIMES_SQL = (
    "SELECT click_id, create_time FROM links.lander_clicks WHERE account_id = $1 AND click_id = ANY($2::text[])"
)


def normalise_host(host: str) -> str:
    """The Host header's name: lower case, without port or trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):  # [v6]:port
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


async def domain_accounts(pool: asyncpg.Pool, hosts: Sequence[str]) -> dict[str, str]:
    """host -> the account that registered it, for the hosts that are custom domains."""
    wanted = sorted({h for h in hosts if h})
    if not wanted:
        return {}
    return {r["name"]: r["account_id"] for r in await pool.fetch(DOMAIN_ACCOUNTS_SQL, wanted)}


async def clicks_by_id(
    pool: asyncpg.Pool, click_ids: Sequence[str], times: Sequence[dt.datetime]
) -> dict[str, asyncpg.Record]:
    rows = await pool.fetch(CLICKS_BY_ID_SQL, list(click_ids), list(times))
    # An id asked twice comes back twice. Ids are unique in practice; were one
    # ever in two accounts, neither is served.
    out: dict[str, asyncpg.Record] = {}
    accounts: dict[str, set[str]] = {}
    for r in rows:
        out[r["click_id"]] = r
        accounts.setdefault(r["click_id"], set()).add(r["account_id"])
    return {click_id: r for click_id, r in out.items() if len(accounts[click_id]) == 1}


async def clicks_of_accounts(
    pool: asyncpg.Pool, click_ids: Sequence[str], times: Sequence[dt.datetime], accounts: Sequence[str]
) -> dict[tuple[str, str], asyncpg.Record]:
    rows = await pool.fetch(CLICKS_BY_ACCOUNT_SQL, list(click_ids), list(times), list(accounts))
    return {(r["account_id"], r["click_id"]): r for r in rows}


async def insert_lander_clicks(
    pool: asyncpg.Pool, rows: Sequence[tuple[Any, ...]]
) -> dict[tuple[str, str], str | None]:
    """rows: (account_id, click_id, click_time, campaign_id, link_id, stream_id,
    lander_id, offer_id) of each click-through. Returns, for the rows that were
    not inserted because a concurrent click-through of the same click was
    recorded first, (account_id, click_id) -> the offer that one stored."""
    if not rows:
        return {}
    inserted = await pool.fetch(INSERT_LANDER_CLICKS_SQL, *(list(col) for col in zip(*rows, strict=True)))
    won = {(r["account_id"], r["click_id"]) for r in inserted}
    lost = [(r[0], r[1]) for r in rows if (r[0], r[1]) not in won]
    if not lost:
        return {}
    stored = await pool.fetch(THROUGH_OFFERS_SQL, [k[0] for k in lost], [k[1] for k in lost])
    return {(r["account_id"], r["click_id"]): r["offer_id"] for r in stored}


async def lander_click_times(pool: asyncpg.Pool, account_id: str, click_ids: Sequence[str]) -> dict[str, dt.datetime]:
    """click_id -> when its lander click-through was recorded (absent: none)."""
    if not click_ids:
        return {}
    rows = await pool.fetch(LANDER_CLICK_TIMES_SQL, account_id, list(click_ids))
    return {r["click_id"]: r["create_time"] for r in rows}
