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

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import asyncpg

from libs.coalesce import Coalescer

# Failures no row causes (the database away, a timeout): halving would only retry
# the whole group 2n-1 times, one after the other, during an outage.
NOT_ONE_ROWS_FAULT = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
)

T = TypeVar("T")
R = TypeVar("R")

# Given the submissions of one flush, commit them together and return one
# result per submission.
Flush = Callable[[list[list[T]]], Awaitable[list[R]]]


class GroupCommitter(Generic[T, R]):
    """Group commit on the one coalescer (libs/coalesce.py): a submission is a list
    of rows (counted by its length against ``max_items``); a batch starts at once
    while fewer than ``max_inflight`` run, else waits for one to finish; a failed
    batch is halved unless the fault is no row's."""

    def __init__(self, flush: Flush[T, R], *, name: str, max_items: int = 5000, max_inflight: int = 2) -> None:
        self._coalescer: Coalescer[list[T], R] = Coalescer(
            flush, name=name, max_items=max_items, max_inflight=max_inflight, gather_turns=0, delay_s=None,
            weight=len, split="halves", split_if=lambda exc: not isinstance(exc, NOT_ONE_ROWS_FAULT),
        )  # fmt: skip

    async def submit(self, items: list[T]) -> R:
        """Returns once ``items`` are committed, with the flush's result for them."""
        return await self._coalescer.submit(items)

    @property
    def flushes(self) -> int:
        """Groups committed (not counting the parts of a halved one)."""
        return self._coalescer.batches

    @property
    def failed_flushes(self) -> int:
        """Flushes that failed (a group's, or a part's while isolating the bad submission)."""
        return self._coalescer.failed_calls

    @property
    def items_written(self) -> int:
        return self._coalescer.items_done


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
