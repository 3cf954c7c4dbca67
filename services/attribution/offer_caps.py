"""Conversions reported to links for the offers' caps (AffiliateService.RecordOfferConversions).

A conversion with an offer counts against the offer's caps from its creation
(pending or approved) until it is rejected (or invalid: never paid for, so never
counted). After the transaction that creates or rejects such conversions
commits, the recorder calls RecordOfferConversions for them in one call before
the postbacks are answered, so that no click after the answer goes to a capped
offer. In that same transaction a durable job (libs/queue, OFFER_QUEUE) is
enqueued with their ids; the worker (``consumer``) reads the conversions' state
again when it runs and repeats the call. So a failed call, or a process killed
between the commit and the call, never loses a count; the repeat costs nothing
because links counts by conversion id (idempotent).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import asyncpg
import orjson
from clicktrail.links.v1 import affiliate_pb2 as apb
from google.protobuf.timestamp_pb2 import Timestamp

from libs import quality as q
from libs.logging import get_logger
from libs.queue import Consumer, Job, Permanent, enqueue
from services.attribution.lookups import Links
from services.attribution.rules import REJECTED

OFFER_QUEUE = "attribution.offer_conversions"
# The job repeats the call a little later: the direct call has normally done it by then.
REPEAT_AFTER_S = 5.0
MAX_PER_CALL = 1000  # RecordOfferConversions takes at most this many

log = get_logger("attribution.offer_caps")


def counts(row: Mapping[str, Any]) -> bool:
    """Whether a conversion counts against its offer's caps."""
    return row["status"] != REJECTED and row["verdict"] != q.INVALID


def offer_conversion(row: Mapping[str, Any]) -> apb.OfferConversion:
    at = Timestamp()
    at.FromDatetime(row["event_time"].astimezone(dt.UTC))
    return apb.OfferConversion(
        offer_id=row["offer_id"], conversion_id=row["conversion_id"], event_time=at, rejected=not counts(row)
    )


def by_account(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """The rows with an offer, by account."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        if r.get("offer_id"):
            out.setdefault(r["account_id"], []).append(r)
    return out


async def enqueue_reports(conn: asyncpg.Connection, rows: Iterable[Mapping[str, Any]]) -> None:
    """In the transaction that writes them: one job per account naming the conversions with an offer."""
    groups = by_account(rows)
    if not groups:
        return
    payloads = [orjson.dumps({"conversion_ids": sorted({r["conversion_id"] for r in g})}) for g in groups.values()]
    await enqueue(conn, OFFER_QUEUE, payloads, account_ids=list(groups), delay_s=REPEAT_AFTER_S)


async def report_now(links: Links, rows: Iterable[Mapping[str, Any]]) -> None:
    """After the commit, before the answer: one call per account. A failure is only logged:
    the job enqueued with the rows repeats it."""
    for account_id, group in by_account(rows).items():
        try:
            for i in range(0, len(group), MAX_PER_CALL):
                chunk = group[i : i + MAX_PER_CALL]
                await links.report_offer_conversions(account_id, [offer_conversion(r) for r in chunk])
        except Exception as err:  # the durable job repeats it
            log.warning("offer_conversions_not_reported", account_id=account_id, error=str(err)[:300])


async def handle_job(pool: asyncpg.Pool, links: Links, job: Job) -> None:
    """The job's conversions as they are now, reported again (deleted ones are left out)."""
    try:
        ids = [str(c) for c in orjson.loads(job.payload)["conversion_ids"]]
    except (orjson.JSONDecodeError, KeyError, TypeError) as err:
        raise Permanent(f"not an offer conversions job: {err}") from None
    rows = await pool.fetch(
        "SELECT account_id, conversion_id, offer_id, status, verdict, event_time FROM attribution.conversions"
        " WHERE account_id = $1 AND conversion_id = ANY($2::text[]) AND offer_id IS NOT NULL",
        job.account_id,
        ids,
    )
    for i in range(0, len(rows), MAX_PER_CALL):
        await links.report_offer_conversions(job.account_id, [offer_conversion(r) for r in rows[i : i + MAX_PER_CALL]])


def consumer(pool: asyncpg.Pool, links: Links, *, dead_retention_s: float | None = None) -> Consumer:
    """The worker that repeats the reports (its errors retry with the queue's backoff)."""

    async def handler(job: Job) -> None:
        await handle_job(pool, links, job)

    return Consumer(pool, OFFER_QUEUE, handler=handler, batch_size=50, concurrency=4, lease_s=60.0, poll_s=1.0,
                    dead_retention_s=dead_retention_s)  # fmt: skip
