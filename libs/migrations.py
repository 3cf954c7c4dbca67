"""Numbered, forward-only SQL migrations per service schema.

Files are ``NNNN_name.sql`` in a service's ``migrations/`` folder. They are
applied at start in order, each in its own transaction, under an advisory lock
so several replicas starting together apply each file exactly once.
"""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migration_files(directory: Path) -> list[tuple[int, Path]]:
    files = []
    for path in sorted(directory.iterdir()):
        m = _NAME.match(path.name)
        if m:
            files.append((int(m.group(1)), path))
        elif path.suffix == ".sql":
            raise ValueError(f"migration {path} is not named NNNN_name.sql")
    versions = [v for v, _ in files]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration numbers in {directory}")
    return files


async def migrate(conn: asyncpg.Connection, schema: str, directory: Path) -> list[int]:
    """Apply the missing migrations of one schema; returns the versions applied."""
    applied_now: list[int] = []
    await conn.execute("SELECT pg_advisory_lock(hashtext($1))", f"clicktrail.migrate.{schema}")
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations ('
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch(f'SELECT version FROM "{schema}".schema_migrations')}
        for version, path in migration_files(directory):
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(path.read_text())
                await conn.execute(
                    f'INSERT INTO "{schema}".schema_migrations (version, name) VALUES ($1, $2)',
                    version,
                    path.name,
                )
            applied_now.append(version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", f"clicktrail.migrate.{schema}")
    return applied_now
