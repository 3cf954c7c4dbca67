"""The queue's consumer: claims due jobs (FOR UPDATE SKIP LOCKED, with a lease),
runs them one at a time, streaming or in batches, and finishes them in group
commits (done: deleted; failed: retried with backoff or kept as a dead letter)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from libs.logging import get_logger
from libs.queue.jobs import Defer, FinishHook, Job, Outcome, Permanent, RetryLater, RetryPolicy, channel_name
from libs.queue.manage import purge_dead

log = get_logger("queue")

PURGE_EVERY_S = 3600.0


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
        on_finish: FinishHook | None = None,
        after_finish: Callable[[list[Outcome]], None] | None = None,
        streaming: bool = False,
        flush_s: float = 0.005,
        dead_retention_s: float | None = None,
        batches_in_flight: int = 1,
        linger_s: float = 0.0,
    ) -> None:
        """``streaming`` (with ``handler``): keep up to ``concurrency`` jobs in
        flight, claim more as slots free up, and finish done jobs in group
        commits every ``flush_s``, so one slow job never holds up the others.
        ``dead_retention_s``: dead letters older than this are purged (None or
        0: kept until retried). ``batches_in_flight``: claim the next batch while
        up to this many are still being handled (a handler that waits on another
        system most of the time). ``linger_s``:
        after a claim short of ``batch_size``, let this long pass before the
        next claim, so that under load each claim gathers more jobs."""
        if (handler is None) == (batch_handler is None):
            raise ValueError("give exactly one of handler or batch_handler")
        if batches_in_flight < 1:
            raise ValueError("batches_in_flight must be at least 1")
        self._pool = pool
        self.queue = queue
        self._handler = handler
        self._batch_handler = batch_handler
        self._batch_size = batch_size
        self._sem = asyncio.Semaphore(concurrency)
        self._lease_s = lease_s
        self._poll_s = poll_s
        self._retry = retry or RetryPolicy()
        self._on_finish = on_finish
        # Called once the finishing transaction has committed (e.g. to forget per-job state).
        self._after_finish = after_finish
        self._streaming = streaming
        self._concurrency = concurrency
        self._flush_s = flush_s
        if streaming and handler is None:
            raise ValueError("streaming needs a per-job handler")
        self._wake = asyncio.Event()
        self._stopping = False
        self._claimed: set[int] = set()
        self._listener: asyncpg.Connection | None = None
        self._listener_lost = False
        self._next_listen = 0.0
        self.done = 0
        self.failed = 0
        self._dead_retention_s = dead_retention_s
        self._next_purge = 0.0
        self._batches_in_flight = batches_in_flight
        self._linger_s = linger_s

    async def purge_dead(self) -> int:
        """Deletes this queue's dead letters past the retention; how many."""
        if not self._dead_retention_s:
            return 0
        n = await purge_dead(self._pool, self.queue, self._dead_retention_s)
        if n:
            log.info("dead_letters_purged", queue=self.queue, jobs=n, retention_s=self._dead_retention_s)
        return n

    async def _maybe_purge(self) -> None:
        if not self._dead_retention_s or time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + PURGE_EVERY_S
        try:
            await self.purge_dead()
        except Exception as exc:  # the database away: next time
            log.warning("dead_letter_purge_failed", queue=self.queue, error=f"{type(exc).__name__}: {exc}")

    def _notified(self, *_: Any) -> None:
        self._wake.set()

    async def claim(self, limit: int | None = None) -> list[Job]:
        n = self._batch_size if limit is None else limit
        rows = await self._pool.fetch(CLAIM_SQL, self.queue, n, self._lease_s)
        jobs = [Job(**dict(r)) for r in rows]
        self._claimed.update(j.job_id for j in jobs)
        return jobs

    def outcome(self, job: Job, err: BaseException | None) -> Outcome:
        if err is None:
            return Outcome(job, None, False, 0.0)
        if isinstance(err, Defer):
            return Outcome(job, err, False, err.after_s or 0.0)
        dead = isinstance(err, Permanent) or job.attempts >= job.max_attempts
        after = err.after_s if isinstance(err, RetryLater) and err.after_s is not None else None
        delay = after if after is not None else self._retry.delay(job.attempts)
        return Outcome(job, err, dead, 0.0 if dead else delay)

    async def _finish(self, results: dict[int, BaseException | None], jobs: list[Job]) -> None:
        outcomes = [self.outcome(j, results.get(j.job_id)) for j in jobs]
        ok = [o.job.job_id for o in outcomes if o.error is None]
        failed = [o for o in outcomes if o.error is not None]
        async with self._pool.acquire() as conn, conn.transaction():
            if self._on_finish is not None:
                await self._on_finish(conn, outcomes)
            if ok:
                await conn.execute("DELETE FROM queue.jobs WHERE job_id = ANY($1::bigint[])", ok)
            if failed:
                await conn.execute(
                    "UPDATE queue.jobs j SET dead = t.dead, last_error = t.err, update_time = now(),"
                    " run_at = now() + make_interval(secs => t.delay),"
                    " attempts = j.attempts - CASE WHEN t.deferred THEN 1 ELSE 0 END"
                    " FROM unnest($1::bigint[], $2::bool[], $3::text[], $4::float8[], $5::bool[])"
                    " AS t(id, dead, err, delay, deferred) WHERE j.job_id = t.id",
                    [o.job.job_id for o in failed],
                    [o.dead for o in failed],
                    [f"{type(o.error).__name__}: {o.error}"[:2000] for o in failed],
                    [o.retry_in_s for o in failed],
                    [isinstance(o.error, Defer) for o in failed],
                )
        if self._after_finish is not None:
            self._after_finish(outcomes)
        for o in failed:
            if not isinstance(o.error, Defer):
                log.warning("job_failed", queue=self.queue, job_id=o.job.job_id, attempts=o.job.attempts,
                            dead=o.dead, error=str(o.error)[:300])  # fmt: skip
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

    async def _linger(self, claimed: int) -> None:
        if self._linger_s and 0 < claimed < self._batch_size and not self._stopping:
            await asyncio.sleep(self._linger_s)

    async def run(self) -> None:
        if self._streaming:
            await self._run_streaming()
        else:
            await self._run_batches()

    async def _release_claimed(self, job_ids: set[int]) -> None:
        """Hands claimed jobs back now rather than when their lease ends."""
        ids = job_ids & self._claimed
        if not ids:
            return
        try:
            await self._pool.execute(
                "UPDATE queue.jobs SET run_at = now(), attempts = greatest(attempts - 1, 0)"
                " WHERE job_id = ANY($1::bigint[]) AND NOT dead",
                list(ids),
            )
            self._claimed.difference_update(list(ids))
        except Exception as exc:  # still away: the lease brings them back anyway
            log.warning("queue_release_failed", queue=self.queue, error=str(exc))

    async def _run_batches(self) -> None:
        """Claim a batch, handle it, and claim the next once one of the ``batches_in_flight``
        slots is free (with more than 1 the next claim does not wait for a handler that waits
        on another system). Survives database outages: a batch whose outcome cannot be
        written is handed back at once, and the next claim waits ``poll_s``."""
        inflight: set[asyncio.Task[None]] = set()
        slots = asyncio.Semaphore(self._batches_in_flight)

        async def handle(jobs: list[Job]) -> None:
            try:
                await self._process(jobs)
            except Exception as exc:  # the outcome could not be written (database away)
                log.warning("queue_consumer_error", queue=self.queue, error=f"{type(exc).__name__}: {exc}")
                self._listener_lost = True
                await self._release_claimed({j.job_id for j in jobs})
                await asyncio.sleep(self._poll_s)  # (holding the slot: the next claim waits too)
            finally:
                slots.release()

        try:
            while not self._stopping:
                await slots.acquire()
                if self._stopping:
                    slots.release()
                    break
                await self._keep_listening()
                await self._maybe_purge()
                self._wake.clear()
                try:
                    jobs = await self.claim()
                except Exception as exc:
                    slots.release()
                    log.warning("queue_consumer_error", queue=self.queue, error=f"{type(exc).__name__}: {exc}")
                    self._listener_lost = True
                    await asyncio.sleep(self._poll_s)
                    continue
                if jobs:
                    task = asyncio.ensure_future(handle(jobs))
                    inflight.add(task)
                    task.add_done_callback(inflight.discard)
                else:
                    slots.release()
                if len(jobs) >= self._batch_size:
                    continue
                await self._linger(len(jobs))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_s)
        except asyncio.CancelledError:  # cancelled (not stopped): so are the batches in hand
            for task in inflight:
                task.cancel()
            raise
        finally:
            # A stop lets the batches in hand finish (their jobs are handed back by stop()
            # when they do not: a batch handled twice changes nothing the second time).
            await asyncio.gather(*inflight, return_exceptions=True)
            await self._unlisten()

    def _listener_died(self, *_: Any) -> None:
        self._listener_lost = True
        self._wake.set()

    async def _unlisten(self) -> None:
        conn, self._listener = self._listener, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            await conn.remove_listener(channel_name(self.queue), self._notified)
        with contextlib.suppress(Exception):
            await self._pool.release(conn, timeout=1)

    async def _keep_listening(self) -> None:
        """(Re)subscribe to the queue's NOTIFY channel when there is no live
        subscription (start, or the database went away); at most once per
        poll interval. Polling covers any gap."""
        if self._listener is not None and not self._listener_lost:
            return
        now = time.monotonic()
        if now < self._next_listen:
            return
        self._next_listen = now + self._poll_s
        await self._unlisten()
        try:
            conn: asyncpg.Connection = await self._pool.acquire(timeout=5)
        except Exception as exc:
            log.warning("queue_listen_failed", queue=self.queue, error=str(exc))
            return
        # Owned from here on, so that _unlisten gives it back whatever happens next: a stop
        # (cancellation) during add_listener left it out of the pool, and the pool's close
        # then waited for it for ever.
        self._listener = conn
        try:
            await conn.add_listener(channel_name(self.queue), self._notified)
            conn.add_termination_listener(self._listener_died)
        except Exception as exc:
            log.warning("queue_listen_failed", queue=self.queue, error=str(exc))
            await self._unlisten()
            return
        self._listener_lost = False

    async def _run_streaming(self) -> None:
        """Claim as slots free up; each job finishes on its own; done jobs are
        finished together every ``flush_s``. Survives database outages: claims
        and finishes are retried, finished results are kept until written."""
        inflight: set[asyncio.Task[None]] = set()
        done: list[tuple[Job, BaseException | None]] = []
        have_done = asyncio.Event()
        slot_free = asyncio.Event()

        async def one(job: Job) -> None:
            err = await self._run_one(job)
            done.append((job, err))
            have_done.set()

        def finished(task: asyncio.Task[None]) -> None:
            inflight.discard(task)
            slot_free.set()

        async def flush() -> None:
            batch = done[:]
            del done[:]
            if not batch:
                return
            try:
                await self._finish({j.job_id: e for j, e in batch}, [j for j, _ in batch])
            except BaseException:
                done[:0] = batch  # written on the next flush
                raise

        async def flusher() -> None:
            while True:
                await have_done.wait()
                have_done.clear()
                await asyncio.sleep(self._flush_s)
                try:
                    await flush()
                except Exception as exc:  # database away: keep the results, write them later
                    log.warning("queue_finish_error", queue=self.queue, error=str(exc))
                    await asyncio.sleep(self._poll_s)
                    have_done.set()

        flush_task = asyncio.ensure_future(flusher())
        try:
            while not self._stopping:
                free = self._concurrency - len(inflight)
                if free < max(1, min(self._batch_size, self._concurrency) // 4):
                    slot_free.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(slot_free.wait(), self._poll_s)
                    continue
                self._wake.clear()
                await self._keep_listening()
                await self._maybe_purge()
                try:
                    jobs = await self.claim(min(free, self._batch_size))
                except Exception as exc:
                    log.warning("queue_consumer_error", queue=self.queue, error=f"{type(exc).__name__}: {exc}")
                    self._listener_lost = True
                    await asyncio.sleep(self._poll_s)
                    continue
                for job in jobs:
                    task = asyncio.ensure_future(one(job))
                    inflight.add(task)
                    task.add_done_callback(finished)
                if len(jobs) >= min(free, self._batch_size):
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_s)
        finally:
            for task in list(inflight):
                task.cancel()
            await asyncio.gather(*inflight, return_exceptions=True)
            flush_task.cancel()
            await asyncio.gather(flush_task, return_exceptions=True)
            # Write what already finished, so a graceful stop does not resend it.
            with contextlib.suppress(Exception):
                await asyncio.shield(flush())
            await self._unlisten()

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
