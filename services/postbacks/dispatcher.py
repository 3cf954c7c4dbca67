"""The dispatcher (queue ``postbacks.deliveries``, filled by fanout.py): a
streaming consumer keeps up to ``postback_concurrency`` requests in flight over
pooled connections, at most ``postback_host_concurrency`` per destination host
and at most ``postback_account_concurrency`` per account (a job that cannot get
a slot soon is put back without using an attempt, so neither a slow host nor
one account's slow or black-holed endpoints ever fill the dispatcher). Each
attempt is logged and the delivery's state written (delivery_store.record) in
the same transaction that deletes or reschedules its job; what an answer means
is rules.py.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime as dt
import random
import time
from collections import defaultdict
from urllib.parse import urlsplit

import asyncpg
import orjson

from libs import queue
from libs.config import PostbacksSettings
from services.postbacks import delivery_store, rules
from services.postbacks.guard import HttpError, Refused
from services.postbacks.http import HttpClient
from services.postbacks.resolver import Resolver

DELIVERY_QUEUE = "postbacks.deliveries"
# How long a delivery waits for a slot on its host (or its account) before it is put back.
HOST_WAIT_S = 2.0


def make_client(settings: PostbacksSettings) -> HttpClient:
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

    def __init__(self, pool: asyncpg.Pool, settings: PostbacksSettings, client: HttpClient | None = None) -> None:
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
        error = rules.answer_error(resp.status)
        self._records[job.job_id] = AttemptRecord(delivery_id, when, resp.status, resp.latency_ms, head, error)
        if rules.delivered(resp.status):
            return
        if rules.retryable(resp.status):
            raise queue.RetryLater(error, rules.retry_after(resp.headers))
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
            status = rules.state_after(o.error is not None, isinstance(o.error, queue.Permanent), o.dead)
            rows.append((o.job.account_id, rec, status, o.retry_in_s))
        if not rows:
            return
        await delivery_store.record(
            conn,
            [(account_id, rec.delivery_id, status, rec.status_code, rec.error[:2000], retry_in_s, rec.latency_ms,
              _printable(rec.head), rec.time) for account_id, rec, status, retry_in_s in rows],
            rules.RETRYING,
            rules.DELIVERED,
        )  # fmt: skip

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
