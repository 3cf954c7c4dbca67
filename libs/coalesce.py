"""One coalescer for batched calls: many callers submit an item each and await
their own answer; the items waiting are sent together as one call.

* ``call(items) -> results`` gets the items of one batch in submission order
  and returns one result per item, in the same order.
* A batch holds at most ``max_items`` (counted by ``weight``, 1 per item by
  default).
* While fewer than ``max_inflight`` calls run, a batch starts at once
  (``gather_turns=0``: the first submission goes alone, the next ones gather
  behind it) or after ``gather_turns`` turns of the event loop while more keep
  coming (1: everything submitted in the same turn goes together). An idle
  coalescer adds no timer.
* While ``max_inflight`` calls run, items wait for one of them to finish
  (``delay_s=None``: ``max_inflight`` is a hard cap), or at most ``delay_s``
  after the first of them arrived, or until the batch is full, whichever is
  first (``delay_s`` set: ``max_inflight=0`` gives the plain timer).
* A failed call fails each caller of its batch with the error (mapped by
  ``error_of`` if given). If ``split_if(error)`` says the error may be one
  item's, the batch is retried in parts instead: ``split="halves"`` (the halves
  one after the other, recursively: finding one bad item takes about 2·log2(n)
  calls, and order is kept) or ``split="singly"`` (one item per call, all at
  once), so one bad item never costs the others theirs.
* ``dedupe=key_fn``: equal items waiting in the same batch are sent once and
  every caller gets the answer.
* ``drain()`` sends what waits, waits for the running calls and refuses new
  items (``closed_error``).

Users: the gateway's TouchBatcher (clicks / impressions into one
RecordClicks call), the group commit (libs/groupcommit.py) and attribution's
touch look-ups.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, Generic, Literal, TypeVar

from libs.logging import get_logger

log = get_logger(__name__)

T = TypeVar("T")
R = TypeVar("R")

Call = Callable[[list[T]], Awaitable[Sequence[R]]]


class CoalesceError(Exception):
    """An item had no answer: the coalescer is closed, or the call answered fewer results than items."""


def _closed() -> BaseException:
    return CoalesceError("closed")


def _missing() -> BaseException:
    return CoalesceError("no result for this item")


class Coalescer(Generic[T, R]):
    """Submit items concurrently; they are sent as batches through ``call``."""

    def __init__(
        self,
        call: Call[T, R],
        *,
        name: str,
        max_items: int = 256,
        max_inflight: int = 2,
        gather_turns: int = 1,
        delay_s: float | None = None,
        weight: Callable[[T], int] | None = None,
        split_if: Callable[[BaseException], bool] | None = None,
        split: Literal["halves", "singly"] = "halves",
        error_of: Callable[[BaseException], BaseException] | None = None,
        dedupe: Callable[[T], Hashable] | None = None,
        closed_error: Callable[[], BaseException] = _closed,
        missing_error: Callable[[], BaseException] = _missing,
    ) -> None:
        self.name = name
        self._call = call
        self._max_items = max(1, max_items)
        self._max_inflight = max(0, max_inflight)
        self._gather_turns = max(0, gather_turns)
        self._delay_s = None if delay_s is None else max(0.0, delay_s)
        self._weight = weight
        self._split_if = split_if
        self._split = split
        self._error_of = error_of
        self._dedupe = dedupe
        self._closed_error = closed_error
        self._missing_error = missing_error
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._pending_weight = 0
        self._keys: dict[Hashable, asyncio.Future[R]] = {}
        self._handle: asyncio.Handle | asyncio.TimerHandle | None = None
        self._soon = False  # the scheduled start is a next-turn one, not the timer
        self._turns_left = 0
        self._seen = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        # Batches answered (not counting the parts of a split one), calls that failed
        # (a batch's or a part's), and the weight of the items answered.
        self.batches = 0
        self.failed_calls = 0
        self.items_done = 0

    # -- submitting ---------------------------------------------------------

    @property
    def inflight(self) -> int:
        """Batches being sent."""
        return len(self._tasks)

    async def run(self, item: T) -> R:
        """Submit one item and wait for its answer."""
        return await self.submit(item)

    def submit(self, item: T) -> asyncio.Future[R]:
        """Queue one item; the future resolves to its result (or its error)."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        fut: asyncio.Future[R] = loop.create_future()
        if self._closed:
            fut.set_exception(self._closed_error())
            return fut
        if self._dedupe is not None:
            # Each caller gets its own future: one caller cancelled never cancels the others'.
            key = self._dedupe(item)
            shared = self._keys.get(key)
            if shared is None:
                shared = self._keys[key] = loop.create_future()
                self._add(item, shared, loop)
            shared.add_done_callback(lambda done: _copy(done, fut))
            return fut
        self._add(item, fut, loop)
        return fut

    def _add(self, item: T, fut: asyncio.Future[R], loop: asyncio.AbstractEventLoop) -> None:
        self._pending.append((item, fut))
        self._pending_weight += 1 if self._weight is None else self._weight(item)
        if self._pending_weight >= self._max_items and (
            self._delay_s is not None or len(self._tasks) < self._max_inflight
        ):
            self._start_full()
        if self._pending and self._handle is None:
            self._schedule(loop)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if len(self._tasks) < self._max_inflight:
            if self._gather_turns == 0:
                while self._pending and len(self._tasks) < self._max_inflight:
                    self._start()
                if self._pending and self._delay_s is not None:
                    self._schedule(loop)
                return
            self._soon = True
            self._turns_left = self._gather_turns
            self._seen = len(self._pending)
            self._handle = loop.call_soon(self._on_soon)
        elif self._delay_s is not None:
            self._soon = False
            self._handle = loop.call_later(self._delay_s, self._on_timer)
        # else: the items wait for a running batch to finish (_batch_done).

    def _on_soon(self) -> None:
        self._turns_left -= 1
        if self._turns_left > 0 and len(self._pending) > self._seen and self._loop is not None:
            self._seen = len(self._pending)  # more came: give the rest one more turn
            self._handle = self._loop.call_soon(self._on_soon)
            return
        self._handle = None
        if self._delay_s is None:
            # max_inflight is a hard cap: as many batches as there are free slots; a running
            # batch's end starts the next (_batch_done).
            while self._pending and len(self._tasks) < self._max_inflight:
                self._start()
            return
        self._start_all()

    def _on_timer(self) -> None:
        self._handle = None
        self._start_all()

    def _cancel_handle(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _start_all(self) -> None:
        self._cancel_handle()
        while self._pending:
            self._start()

    def _start_full(self) -> None:
        while self._pending_weight >= self._max_items and (
            self._delay_s is not None or len(self._tasks) < self._max_inflight
        ):
            self._start()
        if not self._pending:
            self._cancel_handle()

    def _start(self) -> None:
        """Send the first waiting items (at most ``max_items``) as one batch."""
        if self._weight is None:
            batch, self._pending = self._pending[: self._max_items], self._pending[self._max_items :]
            self._pending_weight -= len(batch)
        else:
            count = 0
            n = 0
            for item, _ in self._pending:
                w = self._weight(item)
                if n and count + w > self._max_items:
                    break
                count += w
                n += 1
            batch, self._pending = self._pending[:n], self._pending[n:]
            self._pending_weight -= count
        if self._dedupe is not None:
            for item, _ in batch:
                self._keys.pop(self._dedupe(item), None)
        assert self._loop is not None
        task = self._loop.create_task(self._send(batch))
        self._tasks.add(task)
        task.add_done_callback(self._batch_done)

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not self._pending or self._closed or self._loop is None:
            return
        if self._handle is None:
            self._schedule(self._loop)
        elif not self._soon:
            # A slot came free: whatever waited for the timer goes now.
            self._cancel_handle()
            self._soon = True
            self._turns_left = 1
            self._handle = self._loop.call_soon(self._on_soon)

    # -- sending ------------------------------------------------------------

    async def _send(self, batch: list[tuple[T, asyncio.Future[R]]], *, part: bool = False) -> None:
        try:
            results = await self._call([item for item, _ in batch])
        except BaseException as exc:
            self.failed_calls += 1
            if isinstance(exc, Exception) and len(batch) > 1 and self._split_if is not None and self._split_if(exc):
                if not part:
                    log.warning(
                        "coalesce_split", coalescer=self.name, items=len(batch), how=self._split, error=str(exc)
                    )
                if self._split == "singly":
                    await asyncio.gather(*(self._send([entry], part=True) for entry in batch))
                else:  # halves, in order (one conversion's postbacks keep their arrival order)
                    half = len(batch) // 2
                    await self._send(batch[:half], part=True)
                    await self._send(batch[half:], part=True)
                return
            self._fail(batch, exc)
            if not isinstance(exc, Exception):
                raise
            return
        if not part:
            self.batches += 1
        n = len(results)
        if n != len(batch):
            log.error("coalesce_result_count_mismatch", coalescer=self.name, sent=len(batch), got=n)
        for i, (item, fut) in enumerate(batch):
            if i < n:
                self.items_done += 1 if self._weight is None else self._weight(item)
                if not fut.done():  # the caller went away
                    fut.set_result(results[i])
            elif not fut.done():
                fut.set_exception(self._missing_error())

    def _fail(self, batch: list[tuple[T, asyncio.Future[R]]], exc: BaseException) -> None:
        err = self._error_of(exc) if self._error_of is not None else exc
        for _, fut in batch:
            if fut.done():
                continue
            if isinstance(err, asyncio.CancelledError):
                fut.cancel()
            else:
                fut.set_exception(err)

    # -- shutdown -----------------------------------------------------------

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Send what waits, wait for every running batch, refuse new items."""
        self._closed = True
        if self._loop is not None:
            self._start_all()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
            for task in pending:
                task.cancel()


def _copy(src: asyncio.Future[Any], dst: asyncio.Future[Any]) -> None:
    if dst.done():
        return
    if src.cancelled():
        dst.cancel()
    elif (exc := src.exception()) is not None:
        dst.set_exception(exc)
    else:
        dst.set_result(src.result())
