"""libs/cache.TTLCache: TTLs, negative TTL, maxsize, invalidation, single flight (no database)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from libs.cache import TTLCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def counting_loader(results: dict[str, object]) -> tuple[list[str], Callable[[str], Callable[[], Awaitable[object]]]]:
    calls: list[str] = []

    def make(key: str) -> Callable[[], Awaitable[object]]:
        async def load() -> object:
            calls.append(key)
            await asyncio.sleep(0)
            return results.get(key)

        return load

    return calls, make


async def test_values_live_their_ttl() -> None:
    clock = Clock()
    cache: TTLCache[str, object] = TTLCache(5.0, timer=clock)
    calls, make = counting_loader({"a": 1})
    assert await cache.get_or_load("a", make("a")) == 1
    clock.now += 4.9
    assert await cache.get_or_load("a", make("a")) == 1
    assert calls == ["a"]
    clock.now += 0.2
    assert cache.get("a") is None and "a" not in cache
    assert await cache.get_or_load("a", make("a")) == 1
    assert calls == ["a", "a"]


async def test_negative_answers_have_their_own_ttl() -> None:
    clock = Clock()
    cache: TTLCache[str, object] = TTLCache(60.0, negative_ttl=1.0, timer=clock)
    calls, make = counting_loader({"a": 1})
    assert await cache.get_or_load("missing", make("missing")) is None
    await cache.get_or_load("a", make("a"))
    clock.now += 0.5
    await cache.get_or_load("missing", make("missing"))
    assert calls == ["missing", "a"]
    clock.now += 1.0
    await cache.get_or_load("missing", make("missing"))
    await cache.get_or_load("a", make("a"))
    assert calls == ["missing", "a", "missing"]


async def test_zero_negative_ttl_caches_no_negative_answer() -> None:
    cache: TTLCache[str, object] = TTLCache(60.0, negative_ttl=0.0)
    calls, make = counting_loader({})
    for _ in range(3):
        assert await cache.get_or_load("x", make("x")) is None
    assert calls == ["x", "x", "x"]
    cache.set("x", None)
    assert "x" not in cache


async def test_custom_negative_test() -> None:
    clock = Clock()
    cache: TTLCache[str, frozenset[str]] = TTLCache(60.0, negative_ttl=1.0, is_negative=lambda v: not v, timer=clock)
    cache.set("empty", frozenset())
    cache.set("full", frozenset({"x"}))
    clock.now += 2
    assert "empty" not in cache and "full" in cache


async def test_concurrent_misses_share_one_load() -> None:
    cache: TTLCache[str, int] = TTLCache(5.0)
    gate = asyncio.Event()
    calls = 0

    async def load() -> int:
        nonlocal calls
        calls += 1
        await gate.wait()
        return 7

    waiters = [asyncio.create_task(cache.get_or_load("k", load)) for _ in range(50)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiters) == [7] * 50
    assert calls == 1


async def test_a_failed_load_is_not_cached_and_every_waiter_sees_it() -> None:
    cache: TTLCache[str, int] = TTLCache(5.0)
    gate = asyncio.Event()
    attempts = 0

    async def load() -> int:
        nonlocal attempts
        attempts += 1
        await gate.wait()
        if attempts == 1:
            raise RuntimeError("database down")
        return 3

    waiters = [asyncio.create_task(cache.get_or_load("k", load)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert "k" not in cache
    assert await cache.get_or_load("k", load) == 3


async def test_a_cancelled_waiter_does_not_cancel_the_shared_load() -> None:
    cache: TTLCache[str, int] = TTLCache(5.0)
    gate = asyncio.Event()

    async def load() -> int:
        await gate.wait()
        return 5

    first = asyncio.create_task(cache.get_or_load("k", load))
    second = asyncio.create_task(cache.get_or_load("k", load))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    gate.set()
    assert await second == 5
    with pytest.raises(asyncio.CancelledError):
        await first
    assert cache.get("k") == 5


async def test_invalidate_during_a_load_keeps_its_value_out() -> None:
    cache: TTLCache[str, str] = TTLCache(5.0)
    gate = asyncio.Event()

    async def old() -> str:
        await gate.wait()
        return "old"

    async def new() -> str:
        return "new"

    pending = asyncio.create_task(cache.get_or_load("k", old))
    await asyncio.sleep(0)
    cache.invalidate("k")
    gate.set()
    assert await pending == "old"  # its caller still gets what it loaded
    assert "k" not in cache
    assert await cache.get_or_load("k", new) == "new"
    cache.invalidate()
    assert len(cache) == 0


async def test_fresh_skips_the_cached_value() -> None:
    cache: TTLCache[str, int] = TTLCache(60.0)
    cache.set("k", 1)

    async def load() -> int:
        return 2

    assert await cache.get_or_load("k", load) == 1
    assert await cache.get_or_load("k", load, fresh=True) == 2
    assert cache.get("k") == 2


def test_maxsize_drops_the_least_recently_used() -> None:
    cache: TTLCache[int, int] = TTLCache(60.0, maxsize=3)
    for i in range(3):
        cache.set(i, i)
    assert cache.get(0) == 0  # 0 is now the most recently used
    cache.set(3, 3)
    assert 1 not in cache and {0, 2, 3} <= {k for k in range(4) if k in cache}
    assert len(cache) == 3


def test_bad_ttls() -> None:
    with pytest.raises(ValueError):
        TTLCache(-1.0)
    with pytest.raises(ValueError):
        TTLCache(1.0, negative_ttl=-1.0)


async def test_fresh_does_not_join_an_older_load() -> None:
    cache: TTLCache[str, str] = TTLCache(60.0)
    gate = asyncio.Event()

    async def old() -> str:
        await gate.wait()
        return "old"

    async def new() -> str:
        return "new"

    pending = asyncio.create_task(cache.get_or_load("k", old))
    await asyncio.sleep(0)
    assert await cache.get_or_load("k", new, fresh=True) == "new"
    gate.set()
    assert await pending == "old"
    assert cache.get("k") == "new"


def test_ttl_of_sets_each_entry_s_life() -> None:
    clock = Clock()
    cache: TTLCache[str, tuple[str, float]] = TTLCache(60.0, ttl_of=lambda v: v[1], timer=clock)
    cache.set("short", ("a", 2.0))
    cache.set("long", ("b", 300.0))
    cache.set("never", ("c", 0.0))
    clock.now += 100
    assert "short" not in cache and "never" not in cache and cache.get("long") == ("b", 300.0)


async def test_get_many_loads_the_misses_in_one_call() -> None:
    clock = Clock()
    cache: TTLCache[str, int | None] = TTLCache(60.0, negative_ttl=1.0, timer=clock)
    cache.set("a", 1)
    calls: list[list[str]] = []

    async def load_many(keys: list[str]) -> dict[str, int | None]:
        calls.append(sorted(keys))
        return {k: ord(k) for k in keys if k != "zz"}

    got = await cache.get_many_or_load(["a", "b", "c", "zz", "b"], load_many, None)
    assert got == {"a": 1, "b": ord("b"), "c": ord("c"), "zz": None}
    assert calls == [["b", "c", "zz"]]
    assert await cache.get_many_or_load(["b", "zz"], load_many, None) == {"b": ord("b"), "zz": None}
    assert len(calls) == 1
    clock.now += 2  # the negative answer expired, the rest did not
    await cache.get_many_or_load(["b", "zz"], load_many, None)
    assert calls[-1] == ["zz"]


async def test_get_many_joins_loads_in_flight() -> None:
    cache: TTLCache[str, int] = TTLCache(60.0)
    gate = asyncio.Event()
    calls: list[list[str]] = []

    async def load_many(keys: list[str]) -> dict[str, int]:
        calls.append(sorted(keys))
        await gate.wait()
        return dict.fromkeys(keys, 1)

    first = asyncio.create_task(cache.get_many_or_load(["a", "b"], load_many, 0))
    await asyncio.sleep(0)
    second = asyncio.create_task(cache.get_many_or_load(["b", "c"], load_many, 0))
    await asyncio.sleep(0)
    gate.set()
    assert await first == {"a": 1, "b": 1}
    assert await second == {"b": 1, "c": 1}
    assert calls == [["a", "b"], ["c"]]


async def test_get_many_failure_reaches_every_waiter() -> None:
    cache: TTLCache[str, int] = TTLCache(60.0)

    async def load_many(keys: list[str]) -> dict[str, int]:
        raise RuntimeError("down")

    with pytest.raises(RuntimeError):
        await cache.get_many_or_load(["a"], load_many, 0)
    assert "a" not in cache


def test_iteration_gives_the_live_keys() -> None:
    clock = Clock()
    cache: TTLCache[str, int] = TTLCache(10.0, negative_ttl=1.0, is_negative=lambda v: v == 0, timer=clock)
    cache.set("a", 1)
    cache.set("b", 0)
    assert list(cache) == ["a", "b"]
    clock.now += 2
    assert list(cache) == ["a"]
