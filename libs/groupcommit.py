"""Group commit: concurrent writers share one COPY, each answered once durable.

A write starts a flush at once when fewer than ``max_inflight`` flushes are
running; otherwise its rows wait and go with the next flush. Under load the
batches grow by themselves, with no timer on the quiet path. If a merged COPY
fails, each writer's rows are retried on their own, so one bad request never
costs the others theirs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import asyncpg

from libs.logging import get_logger

log = get_logger(__name__)


class GroupCommitter:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        schema: str,
        table: str,
        columns: Sequence[str],
        max_rows: int = 5000,
        max_inflight: int = 2,
    ) -> None:
        self._pool = pool
        self._schema = schema
        self._table = table
        self._columns = list(columns)
        self._max_rows = max_rows
        self._max_inflight = max_inflight
        self._pending: list[tuple[list[tuple[Any, ...]], asyncio.Future[None]]] = []
        self._inflight = 0
        self.flushes = 0
        self.rows_written = 0

    async def write(self, rows: list[tuple[Any, ...]]) -> None:
        """Returns once ``rows`` are committed; raises what the COPY raised."""
        if not rows:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((rows, fut))
        self._maybe_flush()
        await fut

    def _maybe_flush(self) -> None:
        while self._pending and self._inflight < self._max_inflight:
            batch: list[tuple[list[tuple[Any, ...]], asyncio.Future[None]]] = []
            count = 0
            while self._pending and (not batch or count + len(self._pending[0][0]) <= self._max_rows):
                item = self._pending.pop(0)
                batch.append(item)
                count += len(item[0])
            self._inflight += 1
            task = asyncio.get_running_loop().create_task(self._flush(batch))
            task.add_done_callback(self._flush_done)

    def _flush_done(self, _task: asyncio.Task[None]) -> None:
        self._inflight -= 1
        self._maybe_flush()

    async def _copy(self, records: list[tuple[Any, ...]]) -> None:
        async with self._pool.acquire() as conn:
            await conn.copy_records_to_table(
                self._table, records=records, columns=self._columns, schema_name=self._schema
            )

    async def _flush(self, batch: list[tuple[list[tuple[Any, ...]], asyncio.Future[None]]]) -> None:
        records = [r for rows, _ in batch for r in rows]
        try:
            await self._copy(records)
            self.flushes += 1
            self.rows_written += len(records)
            for _, fut in batch:
                if not fut.done():
                    fut.set_result(None)
            return
        except Exception as exc:
            if len(batch) == 1:
                if not batch[0][1].done():
                    batch[0][1].set_exception(exc)
                return
            log.warning("group_commit_retry_separately", table=self._table, error=str(exc))
        for rows, fut in batch:
            try:
                await self._copy(rows)
                self.rows_written += len(rows)
                if not fut.done():
                    fut.set_result(None)
            except Exception as exc:
                if not fut.done():
                    fut.set_exception(exc)
