"""The one in-process TTL cache (on cachetools' TLRUCache): per-entry time to
live, an optional shorter (or longer) one for negative answers, a bound on
entries (least recently used go first), and an async get-or-load in which
concurrent misses of one key share a single load (single flight).

    from libs.cache import TTLCache

    apps: TTLCache[str, frozenset[str]] = TTLCache(ttl=5.0, maxsize=100_000)
    got = await apps.get_or_load(account_id, lambda: load_apps(account_id))
    apps.invalidate(account_id)          # or apps.invalidate() for every key

A load that raises caches nothing (every waiter gets the error). An entry
invalidated while it loads is not stored (the next call loads again), so a
write followed by invalidate() is never undone by a load that started before it.
A caller cancelled while it waits does not cancel the load others share.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

import cachetools

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
D = TypeVar("D")

_MISSING = object()


def _is_none(value: object) -> bool:
    return value is None


def _retrieve(fut: asyncio.Future[Any]) -> None:
    # A load nobody waits for any more must not log "exception was never retrieved".
    if not fut.cancelled():
        fut.exception()


class TTLCache(Generic[K, V]):
    """Entries live ``ttl`` seconds; negative ones (``is_negative(value)``, by
    default ``value is None``) live ``negative_ttl`` seconds when it is given;
    ``ttl_of(value)``, when given, decides each entry's life instead (e.g. a DNS
    answer's own TTL). A TTL of 0 stores nothing. At most ``maxsize`` entries
    (the least recently used go first)."""

    def __init__(
        self,
        ttl: float,
        *,
        maxsize: int = 100_000,
        negative_ttl: float | None = None,
        is_negative: Callable[[V], bool] = _is_none,
        ttl_of: Callable[[V], float] | None = None,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl < 0 or (negative_ttl is not None and negative_ttl < 0):
            raise ValueError("a TTL cannot be negative")
        self.ttl = ttl
        self.negative_ttl = ttl if negative_ttl is None else negative_ttl
        self._is_negative = is_negative
        self._ttl_of = ttl_of
        self._data: cachetools.TLRUCache[K, V, float] = cachetools.TLRUCache(maxsize, self._expiry, timer)
        self._inflight: dict[K, asyncio.Future[V]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def _expiry(self, _key: K, value: V, now: float) -> float:
        if self._ttl_of is not None:
            return now + self._ttl_of(value)
        return now + (self.negative_ttl if self._is_negative(value) else self.ttl)

    # ------------------------------------------------------------------ sync access

    def get(self, key: K, default: D = None) -> V | D:  # type: ignore[assignment]
        """The live cached value, else ``default`` (never loads)."""
        value = self._data.get(key, _MISSING)
        return default if value is _MISSING else value  # type: ignore[return-value]

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        """Entries held, expired ones not yet swept included."""
        return len(self._data)

    def __iter__(self) -> Iterator[K]:
        """The live keys (a snapshot; oldest first)."""
        return iter(list(self._data))

    def set(self, key: K, value: V) -> None:
        """Store a value now (it supersedes a load of the key in flight)."""
        self._inflight.pop(key, None)
        if self._expiry(key, value, 0.0) > 0.0:
            self._data[key] = value

    def invalidate(self, key: K | None = None) -> None:
        """Forget one key (or, with none, every key); a load of it in flight is not stored."""
        if key is None:
            self._data.clear()
            self._inflight.clear()
        else:
            self._data.pop(key, None)
            self._inflight.pop(key, None)

    # ------------------------------------------------------------------ async get-or-load

    async def get_or_load(self, key: K, load: Callable[[], Awaitable[V]], *, fresh: bool = False) -> V:
        """The cached value, else ``await load()`` (stored for its TTL). Concurrent
        misses of one key await the same load. ``fresh``: load anew, whatever is
        cached or in flight (a load in flight then is not stored; later misses join this one)."""
        if not fresh:
            value = self._data.get(key, _MISSING)
            if value is not _MISSING:
                return value  # type: ignore[return-value]
            fut = self._inflight.get(key)
            if fut is not None:
                return await asyncio.shield(fut)

        async def load_one(_keys: list[K]) -> Mapping[K, V]:
            return {key: await load()}

        return await asyncio.shield(self._start([key], load_one, None)[key])  # type: ignore[arg-type]

    async def get_many_or_load(
        self, keys: Iterable[K], load_many: Callable[[list[K]], Awaitable[Mapping[K, V]]], default: V
    ) -> dict[K, V]:
        """Every key's value: cached ones as they are, keys in flight from their load,
        the rest from ONE ``load_many(missing_keys)`` call (a key it leaves out gets
        ``default``, cached as a negative answer when ``is_negative(default)``)."""
        out: dict[K, V] = {}
        waiting: dict[K, asyncio.Future[V]] = {}
        missing: list[K] = []
        for key in dict.fromkeys(keys):
            value = self._data.get(key, _MISSING)
            if value is not _MISSING:
                out[key] = value  # type: ignore[assignment]
            elif (fut := self._inflight.get(key)) is not None:
                waiting[key] = fut
            else:
                missing.append(key)
        if missing:
            waiting.update(self._start(missing, load_many, default))
        for key, fut in waiting.items():
            out[key] = await asyncio.shield(fut)
        return out

    def _start(
        self, keys: list[K], load_many: Callable[[list[K]], Awaitable[Mapping[K, V]]], default: V
    ) -> dict[K, asyncio.Future[V]]:
        """One load of ``keys`` in its own task (a cancelled caller does not cancel it)."""
        loop = asyncio.get_running_loop()
        futs: dict[K, asyncio.Future[V]] = {}
        for key in keys:
            fut: asyncio.Future[V] = loop.create_future()
            fut.add_done_callback(_retrieve)
            self._inflight[key] = futs[key] = fut
        task = loop.create_task(self._run(futs, load_many, default))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return futs

    async def _run(
        self,
        futs: dict[K, asyncio.Future[V]],
        load_many: Callable[[list[K]], Awaitable[Mapping[K, V]]],
        default: V,
    ) -> None:
        try:
            loaded = await load_many(list(futs))
        except BaseException as exc:
            for key, fut in futs.items():
                if self._inflight.get(key) is fut:
                    del self._inflight[key]
                if fut.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    fut.cancel()
                else:
                    fut.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for key, fut in futs.items():
            value = loaded.get(key, default)
            if self._inflight.get(key) is fut:  # not invalidated nor superseded meanwhile
                del self._inflight[key]
                if self._expiry(key, value, 0.0) > 0.0:
                    self._data[key] = value
            if not fut.done():
                fut.set_result(value)
