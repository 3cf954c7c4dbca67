"""Jobs of the work queue: enqueueing them in the producer's transaction, their
retry policy, and what a handler may raise (see libs/queue/__init__.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import asyncpg

MIGRATIONS = ("queue", Path(__file__).resolve().parent.parent / "queue_migrations")


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
    returning: bool = False,
) -> list[int]:
    """Add jobs; call inside the transaction that writes the data they describe.
    With ``returning``, answers the new jobs' ids in payload order (else [])."""
    if not payloads:
        return []
    accounts = list(account_ids) if account_ids is not None else [""] * len(payloads)
    args = (queue, accounts, list(payloads), max_attempts, delay_s, channel_name(queue))
    if returning:
        rows = await conn.fetch(
            "WITH added AS (INSERT INTO queue.jobs (queue, account_id, payload, max_attempts, run_at)"
            " SELECT $1, a, p, $4, now() + make_interval(secs => $5)"
            " FROM unnest($2::text[], $3::bytea[]) WITH ORDINALITY AS t(a, p, n) ORDER BY n RETURNING job_id),"
            " notified AS (SELECT pg_notify($6, '') FROM (SELECT 1 FROM added LIMIT 1) AS any_added)"
            " SELECT job_id FROM added WHERE (SELECT count(*) FROM notified) >= 0 ORDER BY job_id",
            *args,
        )
        return [r["job_id"] for r in rows]
    # One round trip; the notification is delivered when the transaction commits.
    await conn.execute(
        "WITH added AS (INSERT INTO queue.jobs (queue, account_id, payload, max_attempts, run_at)"
        " SELECT $1, a, p, $4, now() + make_interval(secs => $5)"
        " FROM unnest($2::text[], $3::bytea[]) AS t(a, p) RETURNING 1)"
        " SELECT pg_notify($6, '') FROM (SELECT 1 FROM added LIMIT 1) AS any_added",
        *args,
    )
    return []


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


class Defer(RetryLater):
    """Raise from a handler to put a job back for ``after_s`` without using up
    an attempt (e.g. its destination is busy right now)."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a claimed job ended: done (error None), retried in ``retry_in_s``, or dead."""

    job: Job
    error: BaseException | None
    dead: bool
    retry_in_s: float


# Called inside the transaction that finishes a set of jobs, so what a handler
# records about them commits exactly when the jobs are deleted / rescheduled.
FinishHook = Callable[[asyncpg.Connection, list[Outcome]], Awaitable[None]]
