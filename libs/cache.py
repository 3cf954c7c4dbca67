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
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

import cachetools

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
D = TypeVar("D")

_MISSING = object()


def _is_none(value: object) -> bool:
    return value is None


def _retrieve(task: asyncio.Task[object]) -> None:
    # A load nobody waits for any more must not log "exception was never retrieved".
    if not task.cancelled():
        task.exception()


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
        self._inflight: dict[K, asyncio.Task[V]] = {}

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
        task = None if fresh else self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._load(key, load))
            task.add_done_callback(_retrieve)
            self._inflight[key] = task
        return await asyncio.shield(task)

    async def _load(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        me = asyncio.current_task()
        try:
            value = await load()
        finally:
            stored = self._inflight.get(key) is me
            if stored:
                del self._inflight[key]
        if stored and self._expiry(key, value, 0.0) > 0.0:
            self._data[key] = value
        return value
