"""The SQL of the traffic-quality RPCs (settings, block / allow lists, overrules,
flagged sub-ids). Scoped by the caller's account ($1)."""

from __future__ import annotations

import functools

GET_SETTINGS = (
    "SELECT campaign_id, settings::text, update_time FROM links.quality_settings"
    " WHERE account_id = $1 AND campaign_id IN ('', $2)"
)
ENSURE_SETTINGS = "INSERT INTO links.quality_settings (account_id, campaign_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
LOCK_SETTINGS = (
    "SELECT settings::text FROM links.quality_settings WHERE account_id = $1 AND campaign_id = $2 FOR UPDATE"
)
PUT_SETTINGS = (
    "UPDATE links.quality_settings SET settings = $3::jsonb, update_time = now()"
    " WHERE account_id = $1 AND campaign_id = $2"
)

# One writer per account at a time: the size cap holds.
LOCK_LISTS = "SELECT pg_advisory_xact_lock(hashtext('links.quality_list:' || $1))"
GET_LIST_ENTRY = (
    "SELECT * FROM links.quality_list_entries WHERE account_id = $1 AND list = $2 AND kind = $3 AND value = $4"
)
COUNT_LIST_ENTRIES = "SELECT count(*) FROM links.quality_list_entries WHERE account_id = $1 AND list = $2 AND kind = $3"
INSERT_LIST_ENTRY = (
    "INSERT INTO links.quality_list_entries (account_id, list, kind, value, note)"
    " VALUES ($1, $2, $3, $4, $5) RETURNING *"
)
DELETE_LIST_ENTRY = (
    "DELETE FROM links.quality_list_entries WHERE account_id = $1 AND list = $2 AND kind = $3"
    " AND value = $4 RETURNING 1"
)
# $2 list, $3 kind ('': any), then the page's (list, kind, value) cursor, $7 the limit.
LIST_LIST_ENTRIES = (
    "SELECT * FROM links.quality_list_entries WHERE account_id = $1"
    " AND ($2 = '' OR list = $2) AND ($3 = '' OR kind = $3) AND (list, kind, value) > ($4, $5, $6)"
    " ORDER BY list, kind, value LIMIT $7"
)


@functools.cache
def lock_touch_verdict_sql(table: str, id_col: str) -> str:
    return (
        f"SELECT verdict FROM links.{table} WHERE account_id = $1 AND {id_col} = $2"
        " AND create_time >= $3 AND create_time < $4 FOR UPDATE"
    )


@functools.cache
def set_touch_verdict_sql(table: str, id_col: str) -> str:
    """$5 the verdict, $6 the reason bits added."""
    return (
        f"UPDATE links.{table} SET verdict = $5, reasons = reasons | $6 WHERE account_id = $1"
        f" AND {id_col} = $2 AND create_time >= $3 AND create_time < $4 RETURNING *"
    )


# An overruled click's lander click-through follows its verdict (reports fold
# links.lander_clicks.verdict); RETURNING what the Click message shows of it.
SET_LANDER_CLICK_VERDICT = (
    "UPDATE links.lander_clicks SET verdict = $3 WHERE account_id = $1 AND click_id = $2"
    " RETURNING offer_id AS through_offer_id, create_time AS lander_click_time"
)

INSERT_OVERRULE = (
    "INSERT INTO links.touch_overrules (account_id, overrule_id, kind, touch_id, touch_time,"
    " previous_verdict, verdict, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *"
)

KNOWN_CAMPAIGNS = "SELECT campaign_id FROM links.campaigns WHERE account_id = $1 AND campaign_id = ANY($2::text[])"
PUT_FLAGS = (
    "INSERT INTO links.flagged_sub_ids (account_id, campaign_id, sub_field, value, reason, expire_time)"
    " SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])"
    " ON CONFLICT (account_id, campaign_id, sub_field, value)"
    " DO UPDATE SET reason = EXCLUDED.reason, expire_time = EXCLUDED.expire_time"
)
DROP_EXPIRED_FLAGS = "DELETE FROM links.flagged_sub_ids WHERE account_id = $1 AND expire_time < $2"
# $2 campaign ('': any), $3 include expired, then the page's cursor, $7 the limit.
LIST_FLAGS = (
    "SELECT * FROM links.flagged_sub_ids WHERE account_id = $1 AND ($2 = '' OR campaign_id = $2)"
    " AND ($3 OR expire_time > now()) AND (campaign_id, sub_field, value) > ($4, $5, $6)"
    " ORDER BY campaign_id, sub_field, value LIMIT $7"
)
