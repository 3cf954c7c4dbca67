"""Group commit: concurrent writers share one transaction, each answered once
it is durable.

A submission starts a flush at once when fewer than ``max_inflight`` flushes
are running; otherwise it waits and goes with the next flush. Under load the
batches grow by themselves, with no timer on the quiet path. If a merged
flush fails, it is split in halves and each half flushed again (and so on),
so one bad request never costs the others theirs, and finding it takes about
2·log2(n) flushes rather than n. Entry points still clean or refuse text
Postgres cannot store before a row joins a group (libs/text.py): a failed
flush is the exception, not the way bad input is found.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import asyncpg

from libs.logging import get_logger

# Failures no row causes (the database away, a timeout): halving would only retry
# the whole group 2n-1 times, one after the other, during an outage.
NOT_ONE_ROWS_FAULT = (
    OSError, TimeoutError, asyncpg.exceptions.PostgresConnectionError, asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
)

log = get_logger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# Given the submissions of one flush, commit them together and return one
# result per submission.
Flush = Callable[[list[list[T]]], Awaitable[list[R]]]


class GroupCommitter(Generic[T, R]):
    def __init__(self, flush: Flush[T, R], *, name: str, max_items: int = 5000, max_inflight: int = 2) -> None:
        self._flush_fn = flush
        self._name = name
        self._max_items = max_items
        self._max_inflight = max_inflight
        self._pending: list[tuple[list[T], asyncio.Future[R]]] = []
        self._inflight = 0
        self.flushes = 0
        self.items_written = 0
        # Flushes that failed (a group's, or a part's while isolating the bad submission).
        self.failed_flushes = 0

    async def submit(self, items: list[T]) -> R:
        """Returns once ``items`` are committed, with the flush's result for them."""
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((items, fut))
        self._maybe_flush()
        return await fut

    def _maybe_flush(self) -> None:
        while self._pending and self._inflight < self._max_inflight:
            batch: list[tuple[list[T], asyncio.Future[R]]] = []
            count = 0
            while self._pending and (not batch or count + len(self._pending[0][0]) <= self._max_items):
                item = self._pending.pop(0)
                batch.append(item)
                count += len(item[0])
            self._inflight += 1
            task = asyncio.get_running_loop().create_task(self._flush(batch))
            task.add_done_callback(self._flush_done)

    def _flush_done(self, _task: asyncio.Task[None]) -> None:
        self._inflight -= 1
        self._maybe_flush()

    async def _flush(self, batch: list[tuple[list[T], asyncio.Future[R]]], *, split: bool = False) -> None:
        try:
            results = await self._flush_fn([items for items, _ in batch])
        except Exception as exc:
            self.failed_flushes += 1
            if len(batch) == 1 or isinstance(exc, NOT_ONE_ROWS_FAULT):
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                return
            if not split:
                log.warning("group_commit_split", committer=self._name, submissions=len(batch), error=str(exc))
            # Halves in order (one conversion's postbacks keep their arrival order).
            half = len(batch) // 2
            await self._flush(batch[:half], split=True)
            await self._flush(batch[half:], split=True)
            return
        if not split:
            self.flushes += 1
        self.items_written += sum(len(items) for items, _ in batch)
        for (_, fut), result in zip(batch, results, strict=True):
            if not fut.done():
                fut.set_result(result)


def copy_committer(
    pool: asyncpg.Pool, *, schema: str, table: str, columns: Sequence[str], **kwargs: Any
) -> GroupCommitter[tuple[Any, ...], None]:
    """A group committer that COPYs rows into one table."""
    cols = list(columns)

    async def flush(submissions: list[list[tuple[Any, ...]]]) -> list[None]:
        records = [r for rows in submissions for r in rows]
        async with pool.acquire() as conn:
            await conn.copy_records_to_table(table, records=records, columns=cols, schema_name=schema)
        return [None] * len(submissions)

    return GroupCommitter(flush, name=f"{schema}.{table}", **kwargs)
