"""The analytics background loops' shape: run a pass, log a database or
network failure and go on, then wait for the next tick or the stop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg


async def run_until_stopped(
    one_pass: Callable[[], Awaitable[object]], stopping: asyncio.Event, tick_s: float, log: Any, failed: str
) -> None:
    """``one_pass()`` every ``tick_s`` until ``stopping`` is set; a pass that fails with
    asyncpg.PostgresError or OSError is logged (``log.warning(failed, error=...)``) and
    the loop goes on. Anything else ends the loop."""
    while not stopping.is_set():
        try:
            await one_pass()
        except (asyncpg.PostgresError, OSError) as exc:
            log.warning(failed, error=str(exc))
        try:
            await asyncio.wait_for(stopping.wait(), tick_s)
        except TimeoutError:
            pass
