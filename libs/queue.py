"""The one work queue: Postgres rows, enqueued in the producer's transaction.

- enqueue(conn, ...) inside the transaction that stores the data, so a job
  exists exactly when its data does; NOTIFY (sent at commit) wakes consumers.
- Consumers claim due jobs with FOR UPDATE SKIP LOCKED; claiming pushes
  run_at forward by a lease, so the job of a consumer that died comes back
  when the lease ends. Done jobs are deleted.
- A failed job is retried with exponential backoff and full jitter; past
  max_attempts it is kept as a dead letter, listable and retryable.
- Delivery is at least once: handlers must be idempotent.

Because every job is a row that becomes visible only when its transaction
commits, a writer that commits late is never skipped (unlike an id cursor).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import random
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg

from libs.logging import get_logger

log = get_logger("queue")

MIGRATIONS = ("queue", Path(__file__).parent / "queue_migrations")


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 20
    base_s: float = 1.0
    cap_s: float = 3600.0

    def delay(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))]."""
        return random.uniform(0, min(self.cap_s, self.base_s * 2 ** max(0, attempt - 1)))


def channel_name(queue: str) -> str:
    return "clicktrail_queue_" + "".join(c if c.isalnum() else "_" for c in queue)


async def enqueue(
    conn: asyncpg.Connection,
    queue: str,
    payloads: Sequence[bytes],
    *,
    account_ids: Sequence[str] | None = None,
    max_attempts: int = 20,
    delay_s: float = 0.0,
) -> None:
    """Add jobs; call inside the transaction that writes the data they describe."""
    if not payloads:
        return
    accounts = list(account_ids) if account_ids is not None else [""] * len(payloads)
    # One round trip; the notification is delivered when the transaction commits.
    await conn.execute(
        "WITH added AS (INSERT INTO queue.jobs (queue, account_id, payload, max_attempts, run_at)"
        " SELECT $1, a, p, $4, now() + make_interval(secs => $5)"
        " FROM unnest($2::text[], $3::bytea[]) AS t(a, p) RETURNING 1)"
        " SELECT pg_notify($6, '') FROM (SELECT 1 FROM added LIMIT 1) AS any_added",
        queue,
        accounts,
        list(payloads),
        max_attempts,
        delay_s,
        channel_name(queue),
    )


@dataclasses.dataclass(frozen=True)
class Job:
    job_id: int
    queue: str
    account_id: str
    payload: bytes
    attempts: int
    max_attempts: int
    create_time: dt.datetime


class RetryLater(Exception):
    """Raise from a handler to retry after ``after_s`` (e.g. HTTP Retry-After)."""

    def __init__(self, message: str, after_s: float | None = None) -> None:
        super().__init__(message)
        self.after_s = after_s


class Permanent(Exception):
    """Raise from a handler for a failure no retry can fix: straight to dead letters."""


CLAIM_SQL = """
WITH due AS (
    SELECT job_id FROM queue.jobs
    WHERE queue = $1 AND NOT dead AND run_at <= now()
    ORDER BY run_at, job_id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE queue.jobs j
SET run_at = now() + make_interval(secs => $3), attempts = j.attempts + 1, update_time = now()
FROM due WHERE j.job_id = due.job_id
RETURNING j.job_id, j.queue, j.account_id, j.payload, j.attempts, j.max_attempts, j.create_time
"""

Handler = Callable[[Job], Awaitable[None]]
BatchHandler = Callable[[list[Job]], Awaitable[dict[int, BaseException | None]]]


class Consumer:
    """Claims and runs jobs of one queue until stopped.

    Give ``handler`` (one job at a time, up to ``concurrency`` at once) or
    ``batch_handler`` (all claimed jobs together; returns each job's error or
    None)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        queue: str,
        *,
        handler: Handler | None = None,
        batch_handler: BatchHandler | None = None,
        batch_size: int = 100,
        concurrency: int = 16,
        lease_s: float = 60.0,
        poll_s: float = 1.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        if (handler is None) == (batch_handler is None):
            raise ValueError("give exactly one of handler or batch_handler")
        self._pool = pool
        self.queue = queue
        self._handler = handler
        self._batch_handler = batch_handler
        self._batch_size = batch_size
        self._sem = asyncio.Semaphore(concurrency)
        self._lease_s = lease_s
        self._poll_s = poll_s
        self._retry = retry or RetryPolicy()
        self._wake = asyncio.Event()
        self._stopping = False
        self._claimed: set[int] = set()
        self.done = 0
        self.failed = 0

    def _notified(self, *_: Any) -> None:
        self._wake.set()

    async def claim(self) -> list[Job]:
        rows = await self._pool.fetch(CLAIM_SQL, self.queue, self._batch_size, self._lease_s)
        jobs = [Job(**dict(r)) for r in rows]
        self._claimed.update(j.job_id for j in jobs)
        return jobs

    async def _finish(self, results: dict[int, BaseException | None], jobs: list[Job]) -> None:
        ok = [j.job_id for j in jobs if results.get(j.job_id) is None]
        async with self._pool.acquire() as conn, conn.transaction():
            if ok:
                await conn.execute("DELETE FROM queue.jobs WHERE job_id = ANY($1::bigint[])", ok)
            for job in jobs:
                err = results.get(job.job_id)
                if err is None:
                    continue
                dead = isinstance(err, Permanent) or job.attempts >= job.max_attempts
                after = err.after_s if isinstance(err, RetryLater) and err.after_s is not None else None
                delay = after if after is not None else self._retry.delay(job.attempts)
                await conn.execute(
                    "UPDATE queue.jobs SET dead = $2, last_error = $3, update_time = now(),"
                    " run_at = now() + make_interval(secs => $4) WHERE job_id = $1",
                    job.job_id,
                    dead,
                    f"{type(err).__name__}: {err}"[:2000],
                    0.0 if dead else delay,
                )
                log.warning("job_failed", queue=self.queue, job_id=job.job_id, attempts=job.attempts, dead=dead,
                            error=str(err)[:300])  # fmt: skip
        self.done += len(ok)
        self.failed += len(jobs) - len(ok)
        self._claimed.difference_update(j.job_id for j in jobs)

    async def _run_one(self, job: Job) -> BaseException | None:
        assert self._handler is not None
        async with self._sem:
            try:
                await self._handler(job)
                return None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                return exc

    async def _process(self, jobs: list[Job]) -> None:
        if self._batch_handler is not None:
            try:
                results = await self._batch_handler(jobs)
            except Exception as exc:
                results = {j.job_id: exc for j in jobs}
        else:
            outcomes = await asyncio.gather(*(self._run_one(j) for j in jobs))
            results = {j.job_id: e for j, e in zip(jobs, outcomes, strict=True)}
        await self._finish(results, jobs)

    async def run_once(self) -> int:
        """Claim and process one batch; returns how many jobs it claimed."""
        jobs = await self.claim()
        if jobs:
            await self._process(jobs)
        return len(jobs)

    async def run(self) -> None:
        listener: asyncpg.Connection | None = None
        try:
            listener = await self._pool.acquire()
            await listener.add_listener(channel_name(self.queue), self._notified)
        except Exception as exc:  # polling still works without NOTIFY
            log.warning("queue_listen_failed", queue=self.queue, error=str(exc))
        try:
            while not self._stopping:
                try:
                    self._wake.clear()
                    if await self.run_once() >= self._batch_size:
                        continue
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("queue_consumer_error", queue=self.queue, error=str(exc))
                    await asyncio.sleep(self._poll_s)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_s)
        finally:
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.remove_listener(channel_name(self.queue), self._notified)
                await self._pool.release(listener)

    async def stop(self) -> None:
        """Stop claiming, and hand back jobs claimed but not finished."""
        self._stopping = True
        self._wake.set()
        if self._claimed:
            with contextlib.suppress(Exception):
                await self._pool.execute(
                    "UPDATE queue.jobs SET run_at = now(), attempts = greatest(attempts - 1, 0)"
                    " WHERE job_id = ANY($1::bigint[]) AND NOT dead",
                    list(self._claimed),
                )


async def list_dead(pool: asyncpg.Pool, queue: str, account_id: str, limit: int = 100) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT job_id, attempts, last_error, create_time, update_time FROM queue.jobs"
        " WHERE queue = $1 AND account_id = $2 AND dead ORDER BY job_id LIMIT $3",
        queue,
        account_id,
        limit,
    )


async def retry_dead(conn: asyncpg.Connection, queue: str, account_id: str, job_id: int) -> bool:
    """Put a dead letter back in line with a fresh set of attempts."""
    status = await conn.execute(
        "UPDATE queue.jobs SET dead = false, attempts = 0, run_at = now(), update_time = now()"
        " WHERE queue = $1 AND account_id = $2 AND job_id = $3 AND dead",
        queue,
        account_id,
        job_id,
    )
    if status.endswith(" 1"):
        await conn.execute("SELECT pg_notify($1, '')", channel_name(queue))
        return True
    return False
