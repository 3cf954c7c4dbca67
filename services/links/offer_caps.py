"""AffiliateService.RecordOfferConversions: conversions counted against offer caps.

Attribution calls it right after a conversion commits (and again from its
durable queue when that call failed), so it is idempotent by conversion id: a
conversion counts once, `rejected` later takes it back (and an approval after
that counts it again). An offer deleted since the click is skipped rather than
refused, or the caller's retries would never end."""

from __future__ import annotations

import datetime as dt
from typing import Any

from clicktrail.links.v1 import affiliate_pb2 as apb

from libs import auth
from libs.errors import InvalidArgument, Validator
from services.links.base import LinksBase

MAX_CONVERSIONS = 1000
MAX_ID = 200

# $1 account; $2..$5 the conversions (each id once, sorted: concurrent calls lock
# rows in one order). `changed` has a row for each conversion whose counting
# changed: a new one (counted unless rejected) or one whose rejected flag turned;
# the per-day counters the caps read move by the same amounts in this statement.
# The day is the event's in the account's time zone.
UPSERT_SQL = """
WITH input AS (
    SELECT c.conversion_id, c.offer_id, c.event_time, c.rejected,
        (c.event_time AT TIME ZONE coalesce(a.time_zone, 'UTC'))::date AS day
    FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::boolean[])
        AS c(conversion_id, offer_id, event_time, rejected)
    JOIN links.offers o ON o.account_id = $1 AND o.offer_id = c.offer_id
    LEFT JOIN accounts.accounts a ON a.account_id = $1
), changed AS (
    INSERT INTO links.offer_conversions AS t (account_id, conversion_id, offer_id, day, event_time, rejected)
    SELECT $1, conversion_id, offer_id, day, event_time, rejected FROM input ORDER BY conversion_id
    ON CONFLICT (account_id, conversion_id) DO UPDATE
        SET rejected = EXCLUDED.rejected, update_time = clock_timestamp()
        WHERE t.rejected <> EXCLUDED.rejected
    RETURNING t.offer_id, t.day, t.rejected, (t.xmax::text = '0') AS inserted
), deltas AS (
    SELECT offer_id, day,
        sum(CASE WHEN inserted THEN (NOT rejected)::int WHEN rejected THEN -1 ELSE 1 END) AS delta
    FROM changed GROUP BY offer_id, day
), counted AS (
    INSERT INTO links.offer_cap_counts AS n (account_id, offer_id, day, conversions)
    SELECT $1, offer_id, day, delta FROM deltas WHERE delta <> 0 ORDER BY offer_id, day
    ON CONFLICT (account_id, offer_id, day) DO UPDATE SET conversions = n.conversions + EXCLUDED.conversions
)
SELECT offer_id, day, rejected, inserted FROM changed
"""


def count_change(inserted: bool, rejected: bool) -> int:
    """+1 / -1 / 0: what a returned row did to its offer's count."""
    if inserted:
        return 0 if rejected else 1
    return -1 if rejected else 1


class OfferCapRpcs(LinksBase):
    async def RecordOfferConversions(
        self, request: apb.RecordOfferConversionsRequest, context: Any
    ) -> apb.RecordOfferConversionsResponse:
        auth.require_internal()
        account_id = auth.require_account()
        if len(request.conversions) > MAX_CONVERSIONS:
            raise InvalidArgument("conversions", f"at most {MAX_CONVERSIONS} per call")
        v = Validator()
        # One row per conversion id (the last report wins), as one INSERT may touch a row once.
        latest: dict[str, tuple[str, dt.datetime, bool]] = {}
        now = dt.datetime.now(dt.UTC)
        for i, c in enumerate(request.conversions):
            v.check(bool(c.conversion_id), f"conversions[{i}].conversion_id", "required")
            v.check(len(c.conversion_id) <= MAX_ID, f"conversions[{i}].conversion_id", f"at most {MAX_ID} characters")
            v.check(bool(c.offer_id), f"conversions[{i}].offer_id", "required")
            # Unset: now (the day it is counted on).
            event_time = c.event_time.ToDatetime(dt.UTC) if c.HasField("event_time") else now
            latest[c.conversion_id] = (c.offer_id, event_time, c.rejected)
        v.raise_if_any()
        if not latest:
            return apb.RecordOfferConversionsResponse()
        ids = sorted(latest)
        rows = await self._pool.fetch(
            UPSERT_SQL,
            account_id,
            ids,
            [latest[k][0] for k in ids],
            [latest[k][1] for k in ids],
            [latest[k][2] for k in ids],
        )
        changes = [(r["offer_id"], r["day"], count_change(r["inserted"], r["rejected"])) for r in rows]
        changes = [c for c in changes if c[2] != 0]
        # Before answering: once the caller has the answer, no click of this process goes over the cap.
        self.caps.record(account_id, changes)
        return apb.RecordOfferConversionsResponse(counted=len(changes))
