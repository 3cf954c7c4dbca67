"""Daily range partitions for append-heavy tables, created ahead of time."""

from __future__ import annotations

import datetime as dt

import asyncpg


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
