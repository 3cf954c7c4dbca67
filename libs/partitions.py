"""Daily range partitions for append-heavy tables, created ahead of time."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

import asyncpg

from libs.grpc_server import ServiceContext
from libs.logging import get_logger

log = get_logger("partitions")


_CHILDREN = """
SELECT c.relname FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
JOIN pg_class p ON p.oid = i.inhparent
JOIN pg_namespace n ON n.oid = p.relnamespace
WHERE n.nspname = $1 AND p.relname = $2
"""
_OURS = re.compile(r"^_p\d{8}$")


def partition_name(table: str, day: dt.date) -> str:
    return f"{table}_p{day:%Y%m%d}"


async def ensure_daily_partitions(
    conn: asyncpg.Connection,
    schema: str,
    table: str,
    *,
    days_back: int = 1,
    days_ahead: int = 7,
    today: dt.date | None = None,
) -> list[str]:
    """Create the missing daily partitions (UTC days) around today; returns the new ones."""
    today = today or dt.datetime.now(dt.UTC).date()
    created = []
    async with conn.transaction():
        # Replicas starting together must not race on CREATE TABLE.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"clicktrail.partitions.{schema}.{table}")
        existing = {r["relname"] for r in await conn.fetch(_CHILDREN, schema, table)}
        for offset in range(-days_back, days_ahead + 1):
            day = today + dt.timedelta(days=offset)
            name = partition_name(table, day)
            if name in existing:
                continue
            start = dt.datetime.combine(day, dt.time(), dt.UTC)
            end = start + dt.timedelta(days=1)
            await conn.execute(
                f'CREATE TABLE "{schema}"."{name}" PARTITION OF "{schema}"."{table}"'
                f" FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
            created.append(name)
    return created


async def drop_expired_partitions(
    conn: asyncpg.Connection, schema: str, table: str, *, retention_days: int, today: dt.date | None = None
) -> list[str]:
    """Drop the daily partitions whose whole day is older than ``retention_days``
    (0 keeps everything); returns the dropped ones. Aggregates built from them
    (analytics rollups) are kept."""
    if retention_days <= 0:
        return []
    today = today or dt.datetime.now(dt.UTC).date()
    oldest_kept = partition_name(table, today - dt.timedelta(days=retention_days))
    dropped = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"clicktrail.partitions.{schema}.{table}")
        for row in await conn.fetch(_CHILDREN, schema, table):
            name = row["relname"]
            # Our names sort by day (table_pYYYYMMDD); anything else is not ours to drop.
            if _OURS.match(name[len(table) :]) and name < oldest_kept:
                await conn.execute(f'DROP TABLE "{schema}"."{name}"')
                dropped.append(name)
    return dropped


async def partition_upkeep(
    conn: asyncpg.Connection, schema: str, table: str, *, days_ahead: int, retention_days: int
) -> None:
    """Create the partitions ahead and drop the expired ones; logs what changed."""
    created = await ensure_daily_partitions(conn, schema, table, days_ahead=days_ahead)
    dropped = await drop_expired_partitions(conn, schema, table, retention_days=retention_days)
    if created or dropped:
        log.info("partitions_changed", table=f"{schema}.{table}", created=created, dropped=dropped)


async def keep_partitions(ctx: ServiceContext, schema: str, tables: list[str], every_s: float = 3600.0) -> None:
    """A service's partition upkeep: one round now, before the server answers (so
    today's partitions exist), then a background round every ``every_s``. The days
    ahead leave ample slack for failed rounds: no write ever finds its partition missing."""
    days_ahead, retention_days = ctx.settings.partition_days_ahead, ctx.settings.retention_days

    async def one_round() -> None:
        async with ctx.pool.acquire() as conn:
            for table in tables:
                await partition_upkeep(conn, schema, table, days_ahead=days_ahead, retention_days=retention_days)

    async def loop() -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await one_round()
            except (asyncpg.PostgresError, OSError) as exc:
                log.error("partition_upkeep_failed", schema=schema, error=str(exc))

    await one_round()
    ctx.spawn(loop(), f"partitions-{schema}")
