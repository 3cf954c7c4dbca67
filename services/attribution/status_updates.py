"""An operator's move of a conversion's status (UpdateConversionStatus): along
the state machine (postback_rules.TRANSITIONS), with an outbound status_change;
a conversion with an offer that becomes rejected stops counting for the offer's
caps (reported as inbound postbacks do, offer_caps.py)."""

from __future__ import annotations

import asyncpg

from libs import postback_handoff
from libs.errors import InvalidArgument, NotFound
from libs.queue import enqueue
from services.attribution import offer_caps
from services.attribution.lookups import Links
from services.attribution.outbound import conversion_outbound
from services.attribution.postback_rules import check_transition
from services.attribution.rules import REJECTED, STATUS_NAMES


async def update_status(pool: asyncpg.Pool, links: Links, account_id: str, conversion_id: str,
                        status: int) -> tuple[asyncpg.Record, int, bool]:  # fmt: skip
    """Move a conversion to ``status``; returns (row, previous status, changed)."""
    if status not in STATUS_NAMES:
        raise InvalidArgument("status", "is required: pending, approved or rejected")
    row = await pool.fetchrow(
        "SELECT click_id, campaign_id FROM attribution.conversions WHERE account_id = $1 AND conversion_id = $2",
        account_id,
        conversion_id,
    )
    if row is None:
        raise NotFound(f"conversion {conversion_id[:64]!r} not found")
    # Look-ups before the transaction: no call to another service while it holds the row.
    touch = await links.click(account_id, row["click_id"]) if row["click_id"] else None
    campaign = await links.campaign(account_id, row["campaign_id"]) if row["campaign_id"] else None
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT * FROM attribution.conversions WHERE account_id = $1 AND conversion_id = $2 FOR UPDATE",
            account_id,
            conversion_id,
        )
        assert row is not None
        previous = row["status"]
        check_transition(conversion_id, previous, status)
        if previous == status:
            return row, previous, False
        row = await conn.fetchrow(
            "UPDATE attribution.conversions SET status = $3, update_time = clock_timestamp()"
            " WHERE account_id = $1 AND conversion_id = $2 RETURNING *",
            account_id,
            conversion_id,
            status,
        )
        assert row is not None
        payload = conversion_outbound(account_id, row, "status_change", touch, campaign)
        await enqueue(conn, postback_handoff.POSTBACK_QUEUE, [payload], account_ids=[account_id])
        reported = [row] if status == REJECTED else []  # a rejected conversion stops counting for its offer
        await offer_caps.enqueue_reports(conn, reported)
    await offer_caps.report_now(links, reported)
    return row, previous, True
