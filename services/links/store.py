"""The links service's SQL: one named query per statement. Every query is scoped by
the caller's account ($1). Optional filters are ``($n IS NULL OR col = $n)``; page
sizes are bound (``LIMIT $n``, libs.paging's ``page.limit``); enum values arrive as
parameters or from their proto constants, never as numbers written here."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from typing import Any

import asyncpg

from libs import quality as q

# Bounds of an unbounded time window (the partition pruning stays a plain comparison).
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)

# ----- existence ---------------------------------------------------------------------

APP_EXISTS = "SELECT 1 FROM links.apps WHERE account_id = $1 AND app_id = $2"
PARTNER_EXISTS = "SELECT 1 FROM links.partners WHERE account_id = $1 AND partner_id = $2"
CAMPAIGN_EXISTS = "SELECT 1 FROM links.campaigns WHERE account_id = $1 AND campaign_id = $2"
DOMAIN_EXISTS = "SELECT 1 FROM links.domains WHERE account_id = $1 AND name = $2"


async def exists(conn: asyncpg.Pool | asyncpg.Connection, query: str, account_id: str, value: str) -> bool:
    return bool(await conn.fetchval(query, account_id, value))


def update_sql(table: str, key: str, columns: Iterable[str], allowed: Iterable[str], extra: str = "") -> str:
    """``UPDATE links.<table> SET <col> = $3, ...`` for the columns an update mask
    names ($1 account, $2 the row's id); ``columns`` must be among ``allowed``
    (the updatable fields: names from the code, never from a request)."""
    cols = list(columns)
    bad = set(cols) - set(allowed)
    if bad:
        raise ValueError(f"not updatable: {sorted(bad)}")
    sets = ", ".join(f"{c} = ${i + 3}" for i, c in enumerate(cols))
    return (
        f"UPDATE links.{table} SET {sets}, update_time = now(){extra} WHERE account_id = $1 AND {key} = $2 RETURNING *"
    )


# ----- apps --------------------------------------------------------------------------

INSERT_APP = (
    "INSERT INTO links.apps (account_id, app_id, name, platform, bundle_id, store_url, apple_team_id,"
    " apple_app_id, android_sha256_fingerprints) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *"
)
# Across accounts (service tokens; $2 narrows to one account): SKAN postbacks name the app by it.
LOOKUP_APPS = (
    "SELECT * FROM links.apps WHERE apple_app_id = $1 AND ($2::text IS NULL OR account_id = $2)"
    " ORDER BY account_id, app_id LIMIT 10"
)
GET_APP = "SELECT * FROM links.apps WHERE account_id = $1 AND app_id = $2"
LOCK_APP = "SELECT 1 FROM links.apps WHERE account_id = $1 AND app_id = $2 FOR UPDATE"
LIST_APPS = (
    "SELECT * FROM links.apps WHERE account_id = $1 AND app_id > $2"
    " AND ($3::text IS NULL OR apple_app_id = $3) ORDER BY app_id LIMIT $4"
)
DELETE_APP = "DELETE FROM links.apps WHERE account_id = $1 AND app_id = $2 RETURNING app_id"
REVOKE_APP_KEYS = (
    "UPDATE accounts.credentials SET revoke_time = now() WHERE account_id = $1"
    " AND app_id = $2 AND revoke_time IS NULL RETURNING key_id"
)

# ----- partners ----------------------------------------------------------------------

# A caller-chosen id already there: nothing inserted (the servicer reads it back).
INSERT_PARTNER = (
    "INSERT INTO links.partners (account_id, partner_id, name, catalog_key)"
    " VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, partner_id) DO NOTHING RETURNING *"
)
GET_PARTNER = "SELECT * FROM links.partners WHERE account_id = $1 AND partner_id = $2"
LIST_PARTNERS = "SELECT * FROM links.partners WHERE account_id = $1 AND partner_id > $2 ORDER BY partner_id LIMIT $3"
RENAME_PARTNER = (
    "UPDATE links.partners SET name = $3, update_time = now() WHERE account_id = $1 AND partner_id = $2 RETURNING *"
)
DELETE_PARTNER = "DELETE FROM links.partners WHERE account_id = $1 AND partner_id = $2 RETURNING partner_id"

# ----- campaigns ---------------------------------------------------------------------

# $13: published at once (created active).
INSERT_CAMPAIGN = (
    "INSERT INTO links.campaigns (account_id, campaign_id, name, type, traffic_type, partner_id,"
    " app_id, status, fallback_url, budget_amount, budget_currency, target_goal_id, publish_time,"
    " invalid_traffic_action, visitor_window_s)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, CASE WHEN $13::bool THEN now() END, $14, $15)"
    " RETURNING *"
)
GET_CAMPAIGN = "SELECT * FROM links.campaigns WHERE account_id = $1 AND campaign_id = $2"
LOCK_CAMPAIGN = "SELECT * FROM links.campaigns WHERE account_id = $1 AND campaign_id = $2 FOR UPDATE"
LOCK_CAMPAIGN_PUBLISHED = (
    "SELECT publish_time IS NOT NULL FROM links.campaigns WHERE account_id = $1 AND campaign_id = $2 FOR UPDATE"
)
LIST_CAMPAIGNS = (
    "SELECT * FROM links.campaigns WHERE account_id = $1 AND campaign_id > $2"
    " AND ($3::smallint IS NULL OR status = $3) AND ($4::text IS NULL OR partner_id = $4)"
    " AND ($5::text IS NULL OR app_id = $5)"
    " ORDER BY campaign_id LIMIT $6"
)
DELETE_CAMPAIGN = "DELETE FROM links.campaigns WHERE account_id = $1 AND campaign_id = $2"
DELETE_CAMPAIGN_QUALITY_SETTINGS = "DELETE FROM links.quality_settings WHERE account_id = $1 AND campaign_id = $2"


def update_campaign_sql(columns: Iterable[str], allowed: Iterable[str]) -> str:
    """The update of a campaign's ``columns``; the parameter after them says
    whether the update publishes it (the first publish time stays)."""
    cols = list(columns)
    publish = (
        f", publish_time = CASE WHEN ${len(cols) + 3}::bool THEN coalesce(publish_time, now()) ELSE publish_time END"
    )
    return update_sql("campaigns", "campaign_id", cols, allowed, publish)


# ----- sub-id lists ------------------------------------------------------------------

LOCK_CAMPAIGN_ROW = "SELECT 1 FROM links.campaigns WHERE account_id = $1 AND campaign_id = $2 FOR UPDATE"
GET_SUB_ID_ENTRY = (
    "SELECT * FROM links.sub_id_entries WHERE account_id = $1 AND campaign_id = $2 AND list = $3"
    " AND sub_field = $4 AND value = $5"
)
COUNT_SUB_ID_ENTRIES = (
    "SELECT count(*) FROM links.sub_id_entries WHERE account_id = $1 AND campaign_id = $2 AND list = $3"
)
INSERT_SUB_ID_ENTRY = (
    "INSERT INTO links.sub_id_entries (account_id, campaign_id, list, sub_field, value, reason)"
    " VALUES ($1, $2, $3, $4, $5, $6) RETURNING *"
)
DELETE_SUB_ID_ENTRY = (
    "DELETE FROM links.sub_id_entries WHERE account_id = $1 AND campaign_id = $2 AND list = $3"
    " AND sub_field = $4 AND value = $5 RETURNING 1"
)
# $3 list (0: both), $4 sub field ('': every one), then the page's (list, field, value) cursor.
LIST_SUB_ID_ENTRIES = (
    "SELECT * FROM links.sub_id_entries WHERE account_id = $1 AND campaign_id = $2"
    " AND ($3 = 0 OR list = $3) AND ($4 = '' OR sub_field = $4)"
    " AND (list, sub_field, value) > ($5, $6, $7)"
    " ORDER BY list, sub_field, value LIMIT $8"
)

# ----- links -------------------------------------------------------------------------

INSERT_LINK = (
    "INSERT INTO links.links (account_id, link_id, campaign_id, app_id, name, slug,"
    " destination_url, ios_url, android_url, desktop_url, domain, expire_time, max_clicks, redirect_status,"
    " deep_link) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING *"
)
# A deep link needs an app: the link's, else its campaign's (NULL: neither).
LINK_APP = (
    "SELECT coalesce(l.app_id, c.app_id) FROM links.links l JOIN links.campaigns c"
    " ON c.account_id = l.account_id AND c.campaign_id = l.campaign_id WHERE l.account_id = $1 AND l.link_id = $2"
)
CAMPAIGN_APP = "SELECT app_id FROM links.campaigns WHERE account_id = $1 AND campaign_id = $2"
GET_LINK = "SELECT * FROM links.links WHERE account_id = $1 AND link_id = $2"
LIST_LINKS = (
    "SELECT * FROM links.links WHERE account_id = $1 AND link_id > $2"
    " AND ($3::text IS NULL OR campaign_id = $3) ORDER BY link_id LIMIT $4"
)
DELETE_LINK = "DELETE FROM links.links WHERE account_id = $1 AND link_id = $2 RETURNING link_id"

# ----- clicks and impressions --------------------------------------------------------

# A click's lander click-through (links.lander_clicks, by its primary key): when it
# went to an offer, that offer is the click's (the click-time one was capped or
# paused meanwhile: attribution credits, pays and caps the offer the visitor saw),
# and when it happened. Selected beside the click's columns as through_offer_id and
# lander_click_time (NULL: none); services.links.touch_service reads them.
# LATERAL with a LIMIT: one primary-key probe per click, never a hash join over the
# whole (unpartitioned) links.lander_clicks.
LANDER_CLICK_COLS = "lc.through_offer_id, lc.lander_click_time"
LANDER_CLICK_JOIN = (
    "LEFT JOIN LATERAL (SELECT offer_id AS through_offer_id, create_time AS lander_click_time"
    " FROM links.lander_clicks WHERE account_id = c.account_id AND click_id = c.click_id LIMIT 1) lc ON true"
)

# Ids are time-ordered: create_time's bounds (a page's "before" id included) prune partitions.
GET_CLICK = (
    f"SELECT c.*, {LANDER_CLICK_COLS} FROM links.clicks c {LANDER_CLICK_JOIN}"
    " WHERE c.account_id = $1 AND c.click_id = $2 AND c.create_time >= $3 AND c.create_time < $4"
)
# The flagged partial indexes' predicate, from the verdict's constant.
FLAGGED = f"verdict <> {q.CLEAN}"


@functools.cache
def list_touches_sql(table: str, id_col: str, flagged: bool) -> str:
    """A page of clicks or impressions, newest first: $2 campaign, $3 link, $4
    verdict, $5 reason mask (each NULL: any), $6 / $7 the time window, $8 the
    previous page's last id (NULL: the first page), $9 the limit. ``flagged``
    (a verdict other than clean asked for) spells out the partial index's
    predicate, so that a generic plan can use it."""
    page = (
        f"SELECT * FROM links.{table} WHERE account_id = $1"
        " AND ($2::text IS NULL OR campaign_id = $2) AND ($3::text IS NULL OR link_id = $3)"
        " AND ($4::smallint IS NULL OR verdict = $4) AND ($5::bigint IS NULL OR reasons & $5 <> 0)"
        f" AND create_time >= $6 AND create_time < $7 AND ($8::text IS NULL OR {id_col} < $8)"
        f"{' AND ' + FLAGGED if flagged else ''}"
        f" ORDER BY {id_col} DESC LIMIT $9"
    )
    if table != "clicks":
        return page
    # The page first, then its lander click-throughs (one primary-key probe per click).
    return f"SELECT c.*, {LANDER_CLICK_COLS} FROM ({page}) c {LANDER_CLICK_JOIN} ORDER BY c.{id_col} DESC"


# Per kind of key: the unnested arrays' types and names, and the match condition.
_LOOKUP_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "click_id": (("text", "timestamptz"), ("id", "t"),
                 "{id_col} = l.id AND create_time >= l.t AND create_time < l.t + interval '1 millisecond'"),
    "device_id": (("text", "timestamptz", "timestamptz", "int"), ("dev", "s", "e", "lim"),
                  "(idfa = l.dev OR gaid = l.dev) AND create_time >= l.s AND create_time < l.e"),
    "fingerprint": (("inet", "text", "timestamptz", "timestamptz", "int"), ("ip", "ua", "s", "e", "lim"),
                    "ip = l.ip AND user_agent IS NOT DISTINCT FROM l.ua AND create_time >= l.s AND create_time < l.e"),
}  # fmt: skip


@functools.cache
def lookup_sql(kind: str, table: str, id_col: str) -> str:
    """One query answering every look-up of a kind against one table: row
    l.n of the unnested arrays is the look-up's position in the request."""
    types, names, cond = _LOOKUP_KEYS[kind]
    arrays = ", ".join(f"${i + 2}::{t}[]" for i, t in enumerate(types))
    n = len(types) + 2
    # The LIMIT also keeps the planner from flattening the LATERAL subquery into a join
    # over every partition: each probe stays an index scan pruned at run time.
    limit = " LIMIT 1" if kind == "click_id" else f" ORDER BY create_time DESC, {id_col} DESC LIMIT l.lim"
    through = (f", {LANDER_CLICK_COLS}", f" {LANDER_CLICK_JOIN}") if table == "clicks" else ("", "")
    return (
        f"SELECT l.n AS lookup_n, c.*{through[0]} FROM unnest({arrays}, ${n}::int[]) AS l({', '.join(names)}, n)"
        f" CROSS JOIN LATERAL (SELECT * FROM links.{table} WHERE account_id = $1 AND {cond.format(id_col=id_col)}"
        f"{limit}) c{through[1]} ORDER BY l.n, c.create_time DESC, c.{id_col} DESC"
    )


def lookup_args(items: Iterable[Any]) -> list[list[Any]]:
    """The look-ups' key columns as arrays (one per column)."""
    return [list(col) for col in zip(*(lk.args for lk in items), strict=True)]
