"""Managing queued jobs: dead letters (list, retry, purge), cancelling an
account's pending jobs, and the GDPR erasure of queued payloads."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import asyncpg

from libs.queue.jobs import channel_name


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


async def cancel(conn: asyncpg.Connection, queue: str, account_id: str, job_ids: list[int]) -> int:
    """Drop the account's jobs that have not run yet (a claimed one may still finish)."""
    status = await conn.execute(
        "DELETE FROM queue.jobs WHERE queue = $1 AND account_id = $2 AND job_id = ANY($3::bigint[])",
        queue,
        account_id,
        job_ids,
    )
    return int(status.rsplit(" ", 1)[-1])


async def purge_dead(pool: asyncpg.Pool | asyncpg.Connection, queue: str, older_than_s: float) -> int:
    """Deletes the queue's dead letters that died more than ``older_than_s`` ago."""
    status = await pool.execute(
        "DELETE FROM queue.jobs WHERE queue = $1 AND dead AND update_time < now() - make_interval(secs => $2)",
        queue,
        older_than_s,
    )
    return int(status.rsplit(" ", 1)[-1])


def _like(needle: bytes) -> bytes:
    return b"%" + needle.replace(b"\\", b"\\\\").replace(b"%", b"\\%").replace(b"_", b"\\_") + b"%"


async def redact(
    conn: asyncpg.Connection,
    queue: str,
    account_id: str,
    needles: Sequence[bytes],
    rewrite: Callable[[bytes], bytes | None],
    *,
    apply: bool = True,
) -> int:
    """GDPR erasure of queued payloads: every job of the account on ``queue``
    (due, claimed or dead) whose payload contains one of ``needles`` is passed
    to ``rewrite``, which answers the payload to keep (the same bytes: nothing
    to change) or None to drop the job. Answers how many jobs changed (or, without
    ``apply``, would). A job claimed meanwhile may still finish with the payload
    it read: its consumer checks the erasure tombstones (libs/privacy.py)."""
    if not needles:
        return 0
    rows = await conn.fetch(
        "SELECT job_id, payload FROM queue.jobs WHERE queue = $1 AND account_id = $2"
        " AND payload LIKE ANY($3::bytea[]) ORDER BY job_id" + (" FOR UPDATE" if apply else ""),
        queue,
        account_id,
        [_like(n) for n in needles],
    )
    dropped: list[int] = []
    changed: list[tuple[int, bytes]] = []
    for r in rows:
        old = bytes(r["payload"])
        new = rewrite(old)
        if new is None:
            dropped.append(r["job_id"])
        elif new != old:
            changed.append((r["job_id"], new))
    if apply and dropped:
        await conn.execute("DELETE FROM queue.jobs WHERE job_id = ANY($1::bigint[])", dropped)
    if apply and changed:
        await conn.execute(
            "UPDATE queue.jobs j SET payload = x.p"
            " FROM unnest($1::bigint[], $2::bytea[]) AS x(id, p) WHERE j.job_id = x.id",
            [c[0] for c in changed],
            [c[1] for c in changed],
        )
    return len(dropped) + len(changed)
