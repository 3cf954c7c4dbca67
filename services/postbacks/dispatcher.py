"""The two consumers of the postbacks service.

1. Fan-out (queue ``postbacks.events``, filled by attribution): for each
   outbound event, the account's templates that fire get one delivery row each
   (unique per event and template, so a re-run adds nothing) and one delivery
   job carrying the rendered request, in one transaction.
2. Dispatch (queue ``postbacks.deliveries``): a streaming consumer keeps up to
   ``postback_concurrency`` requests in flight over pooled connections, at most
   ``postback_host_concurrency`` per destination host and at most
   ``postback_account_concurrency`` per account (a job that cannot get a slot
   soon is put back without using an attempt, so neither a slow host nor one
   account's slow or black-holed endpoints ever fill the dispatcher).
   Each attempt is logged and the delivery's state written in
   the same transaction that deletes or reschedules its job.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime as dt
import email.utils
import random
import time
from collections import defaultdict
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import orjson

from libs import privacy, queue
from libs.config import Settings
from libs.ids import new_resource_id
from libs.logging import get_logger
from libs.postback_handoff import POSTBACK_QUEUE, decode
from services.postbacks.guard import HttpError, Refused
from services.postbacks.http import HttpClient, Response
from services.postbacks.render import fires, render
from services.postbacks.resolver import Resolver

log = get_logger("postbacks")

DELIVERY_QUEUE = "postbacks.deliveries"
# How long a delivery waits for a slot on its host (or its account) before it is put back.
HOST_WAIT_S = 2.0
MAX_RETRY_AFTER_S = 86_400.0

TEMPLATE_COLUMNS = (
    "template_id, partner_id, app_id, trigger, goal_id, sending_mode, method, url_template, body_template,"
    " headers, settings, signature_header, enabled"
)


def make_client(settings: Settings) -> HttpClient:
    return HttpClient(
        Resolver(
            settings.postback_allowed_networks,
            nameservers=[s.strip() for s in settings.postback_dns_servers.split(",") if s.strip()],
            timeout_s=settings.postback_dns_timeout_s,
            negative_ttl_s=settings.postback_dns_negative_ttl_s,
        ),
        connect_timeout_s=settings.postback_connect_timeout_s,
        timeout_s=settings.postback_timeout_s,
    )


def retry_after(resp: Response) -> float | None:
    """Retry-After in seconds (delta or HTTP date), capped at a day."""
    raw = resp.headers.get("retry-after", "").strip()
    if not raw:
        return None
    if raw.isdigit():
        return min(float(raw), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return min(max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds()), MAX_RETRY_AFTER_S)


def template_dict(row: asyncpg.Record) -> dict[str, Any]:
    t = dict(row)
    for key in ("headers", "settings"):
        if isinstance(t.get(key), str):
            t[key] = orjson.loads(t[key])
    return t


class Fanout:
    """Outbound events -> deliveries + delivery jobs."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self._pool = pool
        self._settings = settings

    async def handle(self, jobs: list[queue.Job]) -> dict[int, BaseException | None]:
        results: dict[int, BaseException | None] = {}
        events: list[tuple[queue.Job, dict[str, Any]]] = []
        for job in jobs:
            try:
                ev = decode(job.payload)
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
        rows: list[_Row] = []
        payloads: dict[tuple[str, str], bytes] = {}
        sources: list[tuple[queue.Job, dict[str, Any]]] = []  # each row's job and event
        async with self._pool.acquire() as conn:
            for account_id, items in by_account.items():
                templates = [
                    template_dict(r)
                    for r in await conn.fetch(
                        f"SELECT {TEMPLATE_COLUMNS}, coalesce(s.secret, '') AS secret FROM postbacks.templates t"
                        " LEFT JOIN postbacks.partner_secrets s USING (account_id, partner_id)"
                        " WHERE t.account_id = $1 AND t.enabled",
                        account_id,
                    )
                ]
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
                    created = await conn.fetch(
                        "INSERT INTO postbacks.deliveries (account_id, delivery_id, event_id, template_id, partner_id,"
                        " event_kind, method, url, headers, body)"
                        " SELECT a, d, e, t, p, k, m, u, h::jsonb, b FROM unnest($1::text[], $2::text[], $3::text[],"
                        " $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bytea[])"
                        " AS x(a, d, e, t, p, k, m, u, h, b)"
                        " ON CONFLICT (account_id, event_id, template_id) DO NOTHING RETURNING account_id, delivery_id",
                        *([r[i] for r in rows] for i in range(8)),
                        [r[8].decode() for r in rows],
                        [r[9] for r in rows],
                    )
                    if created:
                        keys = [(r["account_id"], r["delivery_id"]) for r in created]
                        job_ids = await queue.enqueue(
                            conn,
                            DELIVERY_QUEUE,
                            [payloads[k] for k in keys],
                            account_ids=[a for a, _ in keys],
                            max_attempts=self._settings.postback_max_attempts,
                            returning=True,
                        )
                        await conn.execute(
                            "UPDATE postbacks.deliveries d SET job_id = x.j FROM unnest($1::text[], $2::text[],"
                            " $3::bigint[]) AS x(a, d, j) WHERE d.account_id = x.a AND d.delivery_id = x.d",
                            [a for a, _ in keys],
                            [d for _, d in keys],
                            job_ids,
                        )
        for job, _ in events:
            results.setdefault(job.job_id, None)
        return results


_Row = tuple[str, str, str, str, str, str, str, str, bytes, bytes]


async def _without_erased(
    conn: asyncpg.Connection, rows: list[_Row], sources: list[tuple[queue.Job, dict[str, Any]]]
) -> list[_Row]:
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


@dataclasses.dataclass(frozen=True)
class AttemptRecord:
    delivery_id: str
    time: dt.datetime
    status_code: int
    latency_ms: float
    head: str
    error: str


class Dispatcher:
    """Sends delivery jobs; the queue's finish hook writes their outcome."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings, client: HttpClient | None = None) -> None:
        self._pool = pool
        self.client = client or make_client(settings)
        self._caps = {"host": settings.postback_host_concurrency, "account": settings.postback_account_concurrency}
        # Requests in flight per ("host", host) and per ("account", account id),
        # and the jobs waiting for one of them to free a slot.
        self._inflight: dict[tuple[str, str], int] = defaultdict(int)
        self._waiters: dict[tuple[str, str], collections.deque[asyncio.Future[None]]] = {}
        # Until when a host / an account counts as saturated: jobs that find it full go straight back.
        self._busy_until: dict[tuple[str, str], float] = {}
        self._records: dict[int, AttemptRecord] = {}
        self.consumer = queue.Consumer(
            pool,
            DELIVERY_QUEUE,
            handler=self.send,
            batch_size=settings.postback_batch_size,
            concurrency=settings.postback_concurrency,
            lease_s=settings.postback_lease_s,
            poll_s=settings.postback_poll_s,
            retry=queue.RetryPolicy(
                settings.postback_max_attempts, settings.postback_retry_base_s, settings.postback_retry_cap_s
            ),
            on_finish=self.record_outcomes,
            after_finish=self.forget,
            streaming=True,
            dead_retention_s=settings.queue_dead_retention_days * 86400.0,
        )

    async def send(self, job: queue.Job) -> None:
        try:
            d = orjson.loads(job.payload)
            delivery_id, method, url = d["d"], d["m"], d["u"]
            headers = [(str(k), str(v)) for k, v in d["h"]]
            body = str(d.get("b", "")).encode()
        except (ValueError, KeyError, TypeError) as exc:
            raise queue.Permanent(f"bad delivery job: {exc}") from None
        host = (urlsplit(url).hostname or "").lower()
        keys = (("host", host), ("account", job.account_id))
        await self._take_slots(keys)
        when = dt.datetime.now(dt.UTC)
        t0 = time.perf_counter()
        try:
            resp = await self.client.request(method, url, headers, body)
        except Refused as exc:
            self._records[job.job_id] = AttemptRecord(delivery_id, when, 0, _ms(t0), "", str(exc))
            raise queue.Permanent(str(exc)) from None
        except HttpError as exc:
            self._records[job.job_id] = AttemptRecord(delivery_id, when, 0, _ms(t0), "", str(exc))
            raise queue.RetryLater(str(exc)) from None
        finally:
            self._release_slots(keys)
        head = resp.head.decode("utf-8", "replace")
        status = resp.status
        error = "" if 200 <= status < 300 else f"HTTP {status}"
        if 300 <= status < 400:
            error += " (redirects are not followed)"
        self._records[job.job_id] = AttemptRecord(delivery_id, when, status, resp.latency_ms, head, error)
        if 200 <= status < 300:
            return
        if status in (408, 429) or status >= 500:
            raise queue.RetryLater(error, retry_after(resp))
        raise queue.Permanent(error)

    async def _take_slots(self, keys: tuple[tuple[str, str], ...]) -> None:
        """A slot on the destination host and one for the account, both or none:
        a job waiting for one holds no other, so jobs queued behind a hanging
        host do not use up their account's slots. A fast host frees a slot in
        milliseconds: wait in line. A host or an account whose slots stay taken
        (slow or hanging endpoints) gets its jobs put back without using an
        attempt, so they never hold the dispatcher's slots."""
        deadline = 0.0
        while True:
            full = next((k for k in keys if self._inflight[k] >= max(1, self._caps[k[0]])), None)
            if full is None:
                for k in keys:
                    self._inflight[k] += 1
                return
            for k in keys:  # woken for a slot this job cannot use yet: pass the wake-up on
                if k != full and self._inflight[k] < max(1, self._caps[k[0]]):
                    self._wake(k)
            kind, key = full
            what = f"{key} is saturated" if kind == "host" else f"account {key} has {self._caps[kind]} in flight"
            now = time.monotonic()
            if self._busy_until.get(full, 0.0) > now:
                raise queue.Defer(what, random.uniform(2.0, 5.0))
            deadline = deadline or now + HOST_WAIT_S
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            waiters = self._waiters.setdefault(full, collections.deque())
            waiters.append(fut)
            try:
                async with asyncio.timeout(max(0.0, deadline - now)):
                    await fut
            except TimeoutError:
                self._busy_until[full] = time.monotonic() + HOST_WAIT_S
                raise queue.Defer(what, random.uniform(2.0, 5.0)) from None
            finally:
                with contextlib.suppress(ValueError):
                    waiters.remove(fut)
                if not waiters:
                    self._waiters.pop(full, None)

    def _release_slots(self, keys: tuple[tuple[str, str], ...]) -> None:
        for k in keys:
            self._inflight[k] -= 1
            if self._inflight[k] <= 0:
                del self._inflight[k]
            self._wake(k)

    def _wake(self, key: tuple[str, str]) -> None:
        for fut in self._waiters.get(key, ()):
            if not fut.done():
                fut.set_result(None)
                return

    async def record_outcomes(self, conn: asyncpg.Connection, outcomes: list[queue.Outcome]) -> None:
        rows = []
        for o in outcomes:
            rec = self._records.get(o.job.job_id)
            if isinstance(o.error, queue.Defer):
                continue
            if rec is None:  # failed before any request (a malformed job)
                if o.error is None:
                    continue
                try:
                    delivery_id = str(orjson.loads(o.job.payload)["d"])
                except (ValueError, KeyError, TypeError):
                    continue
                rec = AttemptRecord(delivery_id, dt.datetime.now(dt.UTC), 0, 0.0, "", str(o.error))
            if o.error is None:
                status = "delivered"
            elif o.dead:
                status = "failed" if isinstance(o.error, queue.Permanent) else "dead"
            else:
                status = "retrying"
            rows.append((o.job.account_id, rec, status, o.retry_in_s))
        if not rows:
            return
        await conn.execute(
            "WITH x AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[],"
            " $6::float8[], $7::float8[], $8::text[], $9::timestamptz[])"
            " AS x(a, d, status, code, err, delay, latency, head, at)),"
            " u AS (UPDATE postbacks.deliveries d SET status = x.status, attempts = d.attempts + 1,"
            " last_status_code = x.code, last_error = x.err, update_time = now(),"
            " next_attempt_time = CASE WHEN x.status = 'retrying' THEN now() + make_interval(secs => x.delay) END,"
            " delivered_time = CASE WHEN x.status = 'delivered' THEN x.at ELSE d.delivered_time END"
            " FROM x WHERE d.account_id = x.a AND d.delivery_id = x.d RETURNING d.account_id, d.delivery_id,"
            " d.attempts)"
            " INSERT INTO postbacks.attempts (account_id, delivery_id, attempt, time, status_code, latency_ms,"
            " response_head, error)"
            " SELECT x.a, x.d, u.attempts, x.at, x.code, x.latency, x.head, x.err"
            " FROM x JOIN u ON u.account_id = x.a AND u.delivery_id = x.d",
            [r[0] for r in rows],
            [r[1].delivery_id for r in rows],
            [r[2] for r in rows],
            [r[1].status_code for r in rows],
            [r[1].error[:2000] for r in rows],
            [r[3] for r in rows],
            [r[1].latency_ms for r in rows],
            [_printable(r[1].head) for r in rows],
            [r[1].time for r in rows],
        )

    def forget(self, outcomes: list[queue.Outcome]) -> None:
        """The outcomes are written: drop their attempt records (kept until then,
        so a finish retried after a database outage still writes them)."""
        for o in outcomes:
            self._records.pop(o.job.job_id, None)

    async def close(self) -> None:
        await self.client.close()


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def _printable(text: str) -> str:
    return text.replace("\x00", "")[:512]


def fanout_consumer(pool: asyncpg.Pool, settings: Settings) -> queue.Consumer:
    return queue.Consumer(
        pool,
        POSTBACK_QUEUE,
        batch_handler=Fanout(pool, settings).handle,
        batch_size=500,
        lease_s=settings.postback_lease_s,  # a re-run of a batch is harmless: deliveries are unique
        poll_s=settings.postback_poll_s,
        dead_retention_s=settings.queue_dead_retention_days * 86400.0,
    )
