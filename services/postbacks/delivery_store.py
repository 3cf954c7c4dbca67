"""Deliveries and their attempt log (SQL only)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import asyncpg

DELIVERY_COLUMNS = (
    "delivery_id, template_id, partner_id, event_id, event_kind, status, method, url, body, attempts,"
    " last_status_code, last_error, next_attempt_time, create_time, update_time, delivered_time"
)
# (account_id, delivery_id, event_id, template_id, partner_id, event_kind, method, url, headers JSON, body)
NewDelivery = tuple[str, str, str, str, str, str, str, str, bytes, bytes]
_INSERT = (
    "INSERT INTO postbacks.deliveries (account_id, delivery_id, event_id, template_id, partner_id, event_kind,"
    " method, url, headers, body)"
    " SELECT a, d, e, t, p, k, m, u, h::jsonb, b FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
    " $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bytea[]) AS x(a, d, e, t, p, k, m, u, h, b)"
    " ON CONFLICT (account_id, event_id, template_id) DO NOTHING RETURNING account_id, delivery_id"
)
_SET_JOBS = (
    "UPDATE postbacks.deliveries d SET job_id = x.j FROM unnest($1::text[], $2::text[], $3::bigint[]) AS x(a, d, j)"
    " WHERE d.account_id = x.a AND d.delivery_id = x.d"
)
# One statement per finished batch: each delivery's new state and its attempt's log row.
_RECORD = (
    "WITH x AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[],"
    " $6::float8[], $7::float8[], $8::text[], $9::timestamptz[])"
    " AS x(a, d, status, code, err, delay, latency, head, at)),"
    " u AS (UPDATE postbacks.deliveries d SET status = x.status, attempts = d.attempts + 1,"
    " last_status_code = x.code, last_error = x.err, update_time = now(),"
    " next_attempt_time = CASE WHEN x.status = $10 THEN now() + make_interval(secs => x.delay) END,"
    " delivered_time = CASE WHEN x.status = $11 THEN x.at ELSE d.delivered_time END"
    " FROM x WHERE d.account_id = x.a AND d.delivery_id = x.d RETURNING d.account_id, d.delivery_id, d.attempts)"
    " INSERT INTO postbacks.attempts (account_id, delivery_id, attempt, time, status_code, latency_ms,"
    " response_head, error)"
    " SELECT x.a, x.d, u.attempts, x.at, x.code, x.latency, x.head, x.err"
    " FROM x JOIN u ON u.account_id = x.a AND u.delivery_id = x.d"
)
_LIST = (
    f"SELECT {DELIVERY_COLUMNS} FROM postbacks.deliveries WHERE account_id = $1"
    " AND ($2::text IS NULL OR delivery_id < $2) AND ($3::text[] IS NULL OR status = ANY($3))"
    " AND ($4::text IS NULL OR template_id = $4) AND ($5::text IS NULL OR partner_id = $5)"
    " ORDER BY delivery_id DESC LIMIT $6"
)


async def insert(conn: asyncpg.Connection, rows: Sequence[NewDelivery]) -> list[tuple[str, str]]:
    """The new deliveries (one per event and template: an existing one is left
    alone); the (account_id, delivery_id) of those made."""
    made = await conn.fetch(
        _INSERT, *([r[i] for r in rows] for i in range(8)), [r[8].decode() for r in rows], [r[9] for r in rows]
    )
    return [(r["account_id"], r["delivery_id"]) for r in made]


async def set_jobs(conn: asyncpg.Connection, keys: Sequence[tuple[str, str]], job_ids: Sequence[int]) -> None:
    await conn.execute(_SET_JOBS, [a for a, _ in keys], [d for _, d in keys], list(job_ids))


async def record(
    conn: asyncpg.Connection,
    rows: Sequence[tuple[str, str, str, int, str, float | None, float, str, dt.datetime]],
    retrying: str,
    delivered: str,
) -> None:
    """Attempts made: (account_id, delivery_id, new status, HTTP status, error,
    retry in s, latency ms, response head, time); ``retrying`` / ``delivered``
    are the state names that schedule a retry / stamp the delivery time."""
    await conn.execute(_RECORD, *([r[i] for r in rows] for i in range(9)), retrying, delivered)


async def page(
    pool: asyncpg.Pool, account_id: str, before: str | None, statuses: list[str] | None,
    template_id: str | None, partner_id: str | None, limit: int,
) -> list[asyncpg.Record]:  # fmt: skip
    """Deliveries newest first, before the id ``before``; the filters given (None: any)."""
    return list(await pool.fetch(_LIST, account_id, before, statuses, template_id, partner_id, limit))


async def get(conn: asyncpg.Connection, account_id: str, delivery_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {DELIVERY_COLUMNS} FROM postbacks.deliveries WHERE account_id = $1 AND delivery_id = $2",
        account_id,
        delivery_id,
    )


async def attempts(conn: asyncpg.Connection, account_id: str, delivery_id: str) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT attempt, time, status_code, latency_ms, response_head, error FROM postbacks.attempts"
            " WHERE account_id = $1 AND delivery_id = $2 ORDER BY time, attempt",
            account_id,
            delivery_id,
        )
    )


async def lock_for_retry(conn: asyncpg.Connection, account_id: str, delivery_id: str) -> asyncpg.Record | None:
    """The delivery's request and state, locked until the transaction ends."""
    return await conn.fetchrow(
        "SELECT delivery_id, status, job_id, method, url, headers, body FROM postbacks.deliveries"
        " WHERE account_id = $1 AND delivery_id = $2 FOR UPDATE",
        account_id,
        delivery_id,
    )


async def requeued(conn: asyncpg.Connection, account_id: str, delivery_id: str, job_id: int, pending: str) -> None:
    """The delivery is queued again (as job ``job_id``), in state ``pending``."""
    await conn.execute(
        "UPDATE postbacks.deliveries SET status = $4, job_id = $3, next_attempt_time = now(), last_error = '',"
        " update_time = now() WHERE account_id = $1 AND delivery_id = $2",
        account_id,
        delivery_id,
        job_id,
        pending,
    )
