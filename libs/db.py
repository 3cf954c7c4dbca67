"""The one asyncpg pool factory, plus waiting for the database to answer."""

from __future__ import annotations

import asyncio
import time

import asyncpg


async def _light_reset(conn: asyncpg.Connection) -> None:
    """Pool release without asyncpg's default RESET ALL / UNLISTEN * / CLOSE ALL
    round trip: our code leaves no session state behind (advisory locks are
    released explicitly, listeners removed), so only guard against an open
    transaction."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def create_pool(
    dsn: str, *, min_size: int = 2, max_size: int = 10, application_name: str = "clicktrail"
) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        server_settings={"application_name": application_name},
        command_timeout=60,
        reset=_light_reset,
    )
    assert pool is not None
    return pool


async def wait_for_database(dsn: str, timeout_s: float = 30.0) -> None:
    """Block until the database accepts connections (for start-up ordering)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            conn = await asyncpg.connect(dsn, timeout=5)
            await conn.close()
            return
        except (TimeoutError, OSError, asyncpg.PostgresError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)
