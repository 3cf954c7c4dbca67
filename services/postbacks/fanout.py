"""The fan-out (queue ``postbacks.events``, filled by attribution): for each
outbound event, the account's templates that fire get one delivery row each
(unique per event and template, so a re-run adds nothing) and one delivery
job carrying the rendered request, in one transaction."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import asyncpg
import orjson

from libs import privacy, queue
from libs.config import PostbacksSettings
from libs.ids import new_resource_id
from libs.postback_handoff import POSTBACK_QUEUE, decode, fields
from services.postbacks import delivery_store, template_store
from services.postbacks.delivery_store import NewDelivery
from services.postbacks.dispatcher import DELIVERY_QUEUE
from services.postbacks.render import fires, render


class Fanout:
    """Outbound events -> deliveries + delivery jobs."""

    def __init__(self, pool: asyncpg.Pool, settings: PostbacksSettings) -> None:
        self._pool = pool
        self._settings = settings

    async def handle(self, jobs: list[queue.Job]) -> dict[int, BaseException | None]:
        results: dict[int, BaseException | None] = {}
        events: list[tuple[queue.Job, dict[str, Any]]] = []
        for job in jobs:
            try:
                ev = fields(decode(job.payload))
                if not ev["event_id"] or not ev["account_id"]:
                    raise ValueError("event_id and account_id are required")
            except (ValueError, orjson.JSONDecodeError) as exc:
                results[job.job_id] = queue.Permanent(f"bad outbound event: {exc}")
                continue
            events.append((job, ev))
        by_account: dict[str, list[tuple[queue.Job, dict[str, Any]]]] = defaultdict(list)
        for job, ev in events:
            by_account[ev["account_id"]].append((job, ev))
        now = time.time()
        rows: list[NewDelivery] = []
        payloads: dict[tuple[str, str], bytes] = {}
        sources: list[tuple[queue.Job, dict[str, Any]]] = []  # each row's job and event
        async with self._pool.acquire() as conn:
            for account_id, items in by_account.items():
                templates = await template_store.firing(conn, account_id)
                for src_job, ev in items:
                    for t in templates:
                        if not fires(t, ev):
                            continue
                        req = render(t, ev, t["secret"], now)
                        delivery_id = new_resource_id("dlv")
                        rows.append((
                            account_id, delivery_id, ev["event_id"], t["template_id"], t["partner_id"], ev["kind"],
                            req.method, req.url, orjson.dumps(dict(req.headers)), req.body,
                        ))  # fmt: skip
                        sources.append((src_job, ev))
                        payloads[(account_id, delivery_id)] = req.payload(delivery_id)
            if rows:
                async with conn.transaction():
                    rows = await _without_erased(conn, rows, sources)
                    keys = await delivery_store.insert(conn, rows)
                    if keys:
                        job_ids = await queue.enqueue(
                            conn, DELIVERY_QUEUE, [payloads[k] for k in keys], account_ids=[a for a, _ in keys],
                            max_attempts=self._settings.postback_max_attempts, returning=True,
                        )  # fmt: skip
                        await delivery_store.set_jobs(conn, keys, job_ids)
        for job, _ in events:
            results.setdefault(job.job_id, None)
        return results


async def _without_erased(
    conn: asyncpg.Connection, rows: list[NewDelivery], sources: list[tuple[queue.Job, dict[str, Any]]]
) -> list[NewDelivery]:
    """GDPR: the rows whose outbound event was queued before an erasure that
    names its click, device or install / conversion (libs/privacy.py tombstones)
    are cancelled, as the erasure cancels postbacks not sent yet. Holds each
    account's erasure lock (shared) until the transaction ends."""

    def keys(ev: dict[str, Any]) -> list[str]:
        return [k for k in (str(ev["event_id"]).split(":", 1)[0], ev["click_id"], ev["idfa"], ev["gaid"]) if k]

    stones: dict[str, dict[str, privacy.Tombstone]] = {}
    for account_id in sorted({r[0] for r in rows}):
        await privacy.lock_account(conn, account_id, shared=True)
        wanted = {k for r, (_, ev) in zip(rows, sources, strict=True) if r[0] == account_id for k in keys(ev)}
        stones[account_id] = await privacy.erased_keys(conn, account_id, wanted)
    if not any(stones.values()):
        return rows
    kept = []
    for r, (job, ev) in zip(rows, sources, strict=True):
        erased = stones[r[0]]
        if any((t := erased.get(k)) and t.erase_time > job.create_time for k in keys(ev)):
            continue
        kept.append(r)
    return kept


def fanout_consumer(pool: asyncpg.Pool, settings: PostbacksSettings) -> queue.Consumer:
    return queue.Consumer(
        pool,
        POSTBACK_QUEUE,
        batch_handler=Fanout(pool, settings).handle,
        batch_size=500,
        lease_s=settings.postback_lease_s,  # a re-run of a batch is harmless: deliveries are unique
        poll_s=settings.postback_poll_s,
        dead_retention_s=settings.queue_dead_retention_days * 86400.0,
    )
