"""AffiliateService's SQL (offers, landers, streams, custom domains): one named
query per statement, every one scoped by the caller's account ($1). Stream
landers / offers / filters are jsonb (shapes in migrations/0004_affiliate.sql)."""

from __future__ import annotations

from typing import Any

from libs.errors import FailedPrecondition, NotFound


def clear_flows(servicer: object) -> None:
    """After a write a click sees (streams, offers, landers, domains, link options,
    a campaign's visitor window): the click path's compiled flows reload."""
    flows = getattr(servicer, "flows", None)  # lane links-flow's FlowCache, once on LinksBase
    if flows is not None:
        flows.clear()


async def delete_unless_rotated(
    pool: Any, noun: str, account_id: str, resource_id: str, sql: tuple[str, str, str], hint: str = ""
) -> None:
    """Delete an offer or lander (``sql``: its lock, stream-using and delete statements)
    unless a stream still rotates it: NotFound / FailedPrecondition naming the stream."""
    lock, using_sql, delete = sql
    async with pool.acquire() as conn, conn.transaction():
        if await conn.fetchrow(lock, account_id, resource_id) is None:
            raise NotFound(f"{noun} {resource_id!r} not found")
        using = await conn.fetchrow(using_sql, account_id, resource_id)
        if using is not None:
            raise FailedPrecondition(
                f"{noun} {resource_id} is rotated by stream {using['stream_id']} of campaign "
                f"{using['campaign_id']}: remove it from the stream first{hint}"
            )
        await conn.execute(delete, account_id, resource_id)


# ----- offers ------------------------------------------------------------------------

OFFER_COLUMNS = (
    "name", "partner_id", "url", "payout_type", "payout_amount", "payout_currency", "countries",
    "daily_cap", "total_cap", "cap_action", "cap_url", "status",
)  # fmt: skip
INSERT_OFFER = (
    f"INSERT INTO links.offers (account_id, offer_id, {', '.join(OFFER_COLUMNS)})"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING *"
)
UPDATE_OFFER = (
    "UPDATE links.offers SET "
    + ", ".join(f"{c} = ${i + 3}" for i, c in enumerate(OFFER_COLUMNS))
    + ", update_time = now() WHERE account_id = $1 AND offer_id = $2 RETURNING *"
)
GET_OFFER = "SELECT * FROM links.offers WHERE account_id = $1 AND offer_id = $2"
LOCK_OFFER = "SELECT * FROM links.offers WHERE account_id = $1 AND offer_id = $2 FOR UPDATE"
LIST_OFFERS = (
    "SELECT * FROM links.offers WHERE account_id = $1 AND offer_id > $2"
    " AND ($3::text IS NULL OR partner_id = $3) AND ($4::smallint IS NULL OR status = $4)"
    " ORDER BY offer_id LIMIT $5"
)
DELETE_OFFER = "DELETE FROM links.offers WHERE account_id = $1 AND offer_id = $2"
# A stream that still rotates the offer (delete refused while there is one).
STREAM_USING_OFFER = (
    "SELECT stream_id, campaign_id FROM links.streams WHERE account_id = $1"
    " AND offers @> jsonb_build_array(jsonb_build_object('offer_id', $2::text)) ORDER BY stream_id LIMIT 1"
)

# ----- landers -----------------------------------------------------------------------

INSERT_LANDER = (
    "INSERT INTO links.landers (account_id, lander_id, name, url, type, macros)"
    " VALUES ($1, $2, $3, $4, $5, $6::jsonb) RETURNING *"
)
UPDATE_LANDER = (
    "UPDATE links.landers SET name = $3, url = $4, type = $5, macros = $6::jsonb, update_time = now()"
    " WHERE account_id = $1 AND lander_id = $2 RETURNING *"
)
GET_LANDER = "SELECT * FROM links.landers WHERE account_id = $1 AND lander_id = $2"
LOCK_LANDER = "SELECT * FROM links.landers WHERE account_id = $1 AND lander_id = $2 FOR UPDATE"
LIST_LANDERS = "SELECT * FROM links.landers WHERE account_id = $1 AND lander_id > $2 ORDER BY lander_id LIMIT $3"
DELETE_LANDER = "DELETE FROM links.landers WHERE account_id = $1 AND lander_id = $2"
STREAM_USING_LANDER = (
    "SELECT stream_id, campaign_id FROM links.streams WHERE account_id = $1"
    " AND landers @> jsonb_build_array(jsonb_build_object('lander_id', $2::text)) ORDER BY stream_id LIMIT 1"
)

# ----- streams -----------------------------------------------------------------------

# The ids of a stream's landers / offers that exist, locked against a concurrent
# delete until the stream's write commits (the delete's check then sees the stream).
EXISTING_LANDERS = "SELECT lander_id FROM links.landers WHERE account_id = $1 AND lander_id = ANY($2::text[]) FOR SHARE"
EXISTING_OFFERS = "SELECT offer_id FROM links.offers WHERE account_id = $1 AND offer_id = ANY($2::text[]) FOR SHARE"
# The campaign row serialises its streams' writes (position, one default stream).
LOCK_CAMPAIGN = "SELECT 1 FROM links.campaigns WHERE account_id = $1 AND campaign_id = $2 FOR UPDATE"
NEXT_POSITION = "SELECT coalesce(max(position) + 1, 0) FROM links.streams WHERE account_id = $1 AND campaign_id = $2"
# The campaign's default stream (no filters) other than $3.
OTHER_DEFAULT_STREAM = (
    "SELECT stream_id FROM links.streams WHERE account_id = $1 AND campaign_id = $2"
    " AND filters = '[]'::jsonb AND stream_id <> $3 LIMIT 1"
)
STREAM_COLUMNS = ("name", "position", "filters", "action", "landers", "offers", "url", "paused")
INSERT_STREAM = (
    "INSERT INTO links.streams (account_id, stream_id, campaign_id, name, position, filters, action,"
    " landers, offers, url, paused)"
    " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8::jsonb, $9::jsonb, $10, $11) RETURNING *"
)
UPDATE_STREAM = (
    "UPDATE links.streams SET name = $3, position = $4, filters = $5::jsonb, action = $6, landers = $7::jsonb,"
    " offers = $8::jsonb, url = $9, paused = $10, update_time = now()"
    " WHERE account_id = $1 AND stream_id = $2 RETURNING *"
)
GET_STREAM = "SELECT * FROM links.streams WHERE account_id = $1 AND stream_id = $2"
GET_STREAM_CAMPAIGN = "SELECT campaign_id FROM links.streams WHERE account_id = $1 AND stream_id = $2"
LOCK_STREAM = "SELECT * FROM links.streams WHERE account_id = $1 AND stream_id = $2 FOR UPDATE"
# Keyset on (position, stream_id): $3 / $4 the previous page's last row.
# The order the flow tries them: by position, the default stream (no filters) last.
LIST_STREAMS = (
    "SELECT * FROM links.streams WHERE account_id = $1 AND campaign_id = $2"
    " AND (filters = '[]'::jsonb, position, stream_id) > ($3, $4, $5)"
    " ORDER BY filters = '[]'::jsonb, position, stream_id LIMIT $6"
)
DELETE_STREAM = "DELETE FROM links.streams WHERE account_id = $1 AND stream_id = $2 RETURNING stream_id"

# ----- custom domains ----------------------------------------------------------------

INSERT_DOMAIN = "INSERT INTO links.domains (account_id, name, root_url) VALUES ($1, $2, $3) RETURNING *"
GET_DOMAIN = "SELECT * FROM links.domains WHERE account_id = $1 AND name = $2"
LOCK_DOMAIN = "SELECT 1 FROM links.domains WHERE account_id = $1 AND name = $2 FOR UPDATE"
LIST_DOMAINS = "SELECT * FROM links.domains WHERE account_id = $1 AND name > $2 ORDER BY name LIMIT $3"
LINK_ON_DOMAIN = "SELECT link_id FROM links.links WHERE account_id = $1 AND domain = $2 ORDER BY link_id LIMIT 1"
DELETE_DOMAIN = "DELETE FROM links.domains WHERE account_id = $1 AND name = $2"
DOMAIN_EXISTS = "SELECT 1 FROM links.domains WHERE account_id = $1 AND name = $2"
