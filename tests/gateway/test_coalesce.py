"""libs/coalesce.py, the one coalescer for batched calls: pure, no database, no network."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from libs.coalesce import CoalesceError, Coalescer


class Recorder:
    def __init__(self, delay: float = 0.01, bad: frozenset[int] = frozenset()) -> None:
        self.calls: list[list[int]] = []
        self.delay = delay
        self.bad = bad
        self.running = self.most_running = 0

    async def __call__(self, items: list[int]) -> Sequence[int]:
        self.calls.append(list(items))
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.running -= 1
        if self.bad & set(items):
            raise ValueError(f"bad item in {items}")
        return [i * 10 for i in items]


async def test_same_turn_items_go_together_in_order_and_capped() -> None:
    rec = Recorder()
    c: Coalescer[int, int] = Coalescer(rec, name="t", max_items=4, max_inflight=2)
    results = await asyncio.gather(*(c.submit(i) for i in range(10)))
    assert results == [i * 10 for i in range(10)]
    assert rec.calls == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert c.batches == 3 and c.items_done == 10 and c.inflight == 0


async def test_gather_turns_zero_sends_the_first_alone_and_the_rest_behind_it() -> None:
    rec = Recorder()
    c: Coalescer[int, int] = Coalescer(rec, name="t", max_inflight=1, gather_turns=0)
    await asyncio.gather(*(c.run(i) for i in range(6)))
    assert rec.calls == [[0], [1, 2, 3, 4, 5]]


async def test_a_full_batch_waits_for_the_cap_without_a_delay() -> None:
    rec = Recorder(delay=0.05)
    c: Coalescer[int, int] = Coalescer(rec, name="t", max_items=2, max_inflight=1, gather_turns=0)
    await asyncio.gather(*(c.run(i) for i in range(5)))
    assert rec.calls == [[0], [1, 2], [3, 4]]
    assert max(len(c) for c in rec.calls) <= 2
    assert rec.most_running == 1  # max_inflight is a hard cap without a delay


async def test_a_backlog_gathered_at_the_cap_goes_one_batch_per_free_slot_without_a_delay() -> None:
    # More than max_items waited behind the cap: when the slot frees, one batch goes, not all of them
    # at once (attribution's look-ups: at most max_inflight LookupTouches per account).
    rec = Recorder(delay=0.02)
    c: Coalescer[int, int] = Coalescer(rec, name="t", max_items=2, max_inflight=1, gather_turns=1)
    first = c.submit(0)
    for _ in range(3):
        await asyncio.sleep(0)
    assert rec.calls == [[0]]
    rest = [c.submit(i) for i in range(1, 7)]
    assert await asyncio.gather(first, *rest) == [i * 10 for i in range(7)]
    assert rec.calls == [[0], [1, 2], [3, 4], [5, 6]]
    assert rec.most_running == 1


@pytest.mark.parametrize(("turns", "calls"), [(1, [[0, 1], [2]]), (3, [[0, 1, 2]])])
async def test_gather_turns_wait_while_more_items_come(turns: int, calls: list[list[int]]) -> None:
    rec = Recorder(delay=0)
    c: Coalescer[int, int] = Coalescer(rec, name="t", max_inflight=2, gather_turns=turns)
    loop = asyncio.get_running_loop()
    futs: list[asyncio.Future[int]] = []

    def one_per_turn(i: int) -> None:  # item i arrives in loop turn i
        if i < 3:
            loop.call_soon(one_per_turn, i + 1)
            futs.append(c.submit(i))

    one_per_turn(0)
    for _ in range(5):
        await asyncio.sleep(0)
    assert await asyncio.gather(*futs) == [0, 10, 20]
    assert rec.calls == calls


async def test_delay_sends_waiting_items_when_the_timer_fires_even_at_the_cap() -> None:
    rec = Recorder(delay=0.5)
    c: Coalescer[int, int] = Coalescer(rec, name="t", max_inflight=0, delay_s=0.01)
    first = c.submit(1)
    await asyncio.sleep(0.05)
    assert rec.calls == [[1]]  # the timer fired although max_inflight is 0
    second = c.submit(2)
    await asyncio.sleep(0.05)
    assert rec.calls == [[1], [2]]
    assert await asyncio.gather(first, second) == [10, 20]


async def test_weight_counts_against_max_items() -> None:
    calls: list[list[list[int]]] = []

    async def call(subs: list[list[int]]) -> list[int]:
        calls.append(subs)
        return [len(s) for s in subs]

    c: Coalescer[list[int], int] = Coalescer(call, name="t", max_items=5, weight=len, max_inflight=4)
    out = await asyncio.gather(c.run([1, 2, 3]), c.run([4, 5]), c.run([6]), c.run([7] * 9))
    assert out == [3, 2, 1, 9]
    assert calls == [[[1, 2, 3], [4, 5]], [[6]], [[7] * 9]]  # an oversized one still goes, alone


async def test_halving_isolates_the_bad_item_and_keeps_order() -> None:
    rec = Recorder(delay=0, bad=frozenset({5}))
    c: Coalescer[int, int] = Coalescer(rec, name="t", split="halves", split_if=lambda e: isinstance(e, ValueError))
    out = await asyncio.gather(*(c.submit(i) for i in range(16)), return_exceptions=True)
    assert [i for i, r in enumerate(out) if isinstance(r, ValueError)] == [5]
    assert [r for r in out if not isinstance(r, BaseException)] == [i * 10 for i in range(16) if i != 5]
    assert len(rec.calls) <= 2 * 4 + 1
    assert c.batches == 0 and c.failed_calls == 5  # the batch and one part per level


async def test_singly_retries_one_item_per_call() -> None:
    rec = Recorder(delay=0, bad=frozenset({1}))
    c: Coalescer[int, int] = Coalescer(rec, name="t", split="singly", split_if=lambda e: True)
    out = await asyncio.gather(*(c.submit(i) for i in range(3)), return_exceptions=True)
    assert out[0] == 0 and isinstance(out[1], ValueError) and out[2] == 20
    assert rec.calls == [[0, 1, 2], [0], [1], [2]]


async def test_no_split_without_split_if_and_errors_are_mapped() -> None:
    rec = Recorder(delay=0, bad=frozenset({1}))
    c: Coalescer[int, int] = Coalescer(rec, name="t", error_of=lambda e: RuntimeError(f"mapped: {e}"))
    out = await asyncio.gather(*(c.submit(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) and "mapped" in str(r) for r in out)
    assert len(rec.calls) == 1


async def test_missing_results_fail_only_the_items_without_one() -> None:
    async def short(items: list[int]) -> list[int]:
        return items[:-1]

    c: Coalescer[int, int] = Coalescer(short, name="t")
    out = await asyncio.gather(*(c.submit(i) for i in range(3)), return_exceptions=True)
    assert out[:2] == [0, 1] and isinstance(out[2], CoalesceError)


async def test_dedupe_sends_equal_items_once_and_a_cancelled_caller_costs_no_one() -> None:
    rec = Recorder(delay=0.02)
    c: Coalescer[int, int] = Coalescer(rec, name="t", dedupe=lambda i: i)
    a, b, d = c.submit(7), c.submit(7), c.submit(8)
    a.cancel()
    assert await asyncio.gather(b, d) == [70, 80]
    assert rec.calls == [[7, 8]]


async def test_drain_sends_what_waits_then_refuses() -> None:
    rec = Recorder(delay=0.05)
    c: Coalescer[int, int] = Coalescer(rec, name="t", max_inflight=0, delay_s=10.0)
    futs = [c.submit(i) for i in range(3)]
    await c.drain(5.0)
    assert [f.result() for f in futs] == [0, 10, 20]
    with pytest.raises(CoalesceError):
        await c.submit(4)


async def test_a_cancelled_call_cancels_its_callers_never_hangs_them() -> None:
    rec = Recorder(delay=10.0)
    c: Coalescer[int, int] = Coalescer(rec, name="t")
    futs = [c.submit(i) for i in range(2)]
    await asyncio.sleep(0.01)
    await c.drain(0.01)
    await asyncio.sleep(0)
    assert all(f.cancelled() for f in futs)
