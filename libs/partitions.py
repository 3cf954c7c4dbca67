"""Daily range partitions for append-heavy tables, created ahead of time."""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg

from libs.logging import get_logger

log = get_logger("partitions")


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
        existing = {
            r["relname"]
            for r in await conn.fetch(
                "SELECT c.relname FROM pg_inherits i"
                " JOIN pg_class c ON c.oid = i.inhrelid"
                " JOIN pg_class p ON p.oid = i.inhparent"
                " JOIN pg_namespace n ON n.oid = p.relnamespace"
                " WHERE n.nspname = $1 AND p.relname = $2",
                schema,
                table,
            )
        }
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


async def maintain_partitions(
    pool: asyncpg.Pool, schema: str, tables: list[str], days_ahead: int, every_s: float = 3600.0
) -> None:
    """Background loop: keep creating partitions ahead (the first run is at start-up)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            async with pool.acquire() as conn:
                for table in tables:
                    created = await ensure_daily_partitions(conn, schema, table, days_ahead=days_ahead)
                    if created:
                        log.info("partitions_created", table=f"{schema}.{table}", partitions=created)
        except Exception as exc:  # retried next round; days_ahead leaves ample slack
            log.error("partition_upkeep_failed", table=schema, error=str(exc))
