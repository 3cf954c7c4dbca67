"""Rate limits on the public endpoints: a token bucket per key (a client
address, an app / API key id, a postback token id) and endpoint group, refilled
at ``rate`` per second up to ``burst``.

Client addresses are bucketed by ``address_key``: an IPv4 address on its own,
an IPv6 address by its /64 network (one subscriber's prefix: a host picks any
of its 2^64 addresses, so one bucket per address would be no limit at all).

Kept in the gateway process (each replica limits on its own, so the effective
limit is per replica). Memory is bounded: buckets idle long enough to be full
again are forgotten, and past ``max_keys`` buckets the least recently used is
dropped, so a flood of new keys cannot grow the table without bound."""

from __future__ import annotations

import functools
import ipaddress
import math
import time

# How often idle (full again) buckets are looked for.
_SWEEP_EVERY_S = 30.0
MAX_KEYS = 100_000


@functools.lru_cache(maxsize=16384)
def address_key(ip: str) -> str:
    """The rate-limit key of a client address: IPv4 as is, IPv6 by its /64
    (IPv4-mapped IPv6 as the IPv4 address); kept as given when unparsable."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return f"{ipaddress.IPv6Address(int(addr) >> 64 << 64)}/64"
    return ip


class RateLimiter:
    """``allow(key)`` is True when the request may go on; else ``retry_after(key)``
    says how many whole seconds until one token is back."""

    __slots__ = ("_buckets", "_burst", "_max_keys", "_next_sweep", "_rate", "enabled", "per")

    def __init__(self, rate: float, burst: float = 0.0, *, per: str = "IP", max_keys: int = MAX_KEYS) -> None:
        self.enabled = rate > 0
        self._rate = rate
        # A burst of at least one second's worth of requests (and at least one request).
        self._burst = max(burst, rate, 1.0)
        self._max_keys = max(1, max_keys)
        # Least recently used first: an entry moves to the end each time it is used.
        self._buckets: dict[str, tuple[float, float]] = {}
        self._next_sweep = 0.0
        self.per = per

    def allow(self, key: str, now: float | None = None) -> bool:
        if not self.enabled:
            return True
        now = time.monotonic() if now is None else now
        if now >= self._next_sweep:
            self._sweep(now)
        buckets = self._buckets
        bucket = buckets.pop(key, None)
        if bucket is None:
            tokens = self._burst
            if len(buckets) >= self._max_keys:
                del buckets[next(iter(buckets))]  # the least recently used
        else:
            tokens = min(self._burst, bucket[0] + (now - bucket[1]) * self._rate)
        if tokens >= 1.0:
            buckets[key] = (tokens - 1.0, now)
            return True
        buckets[key] = (tokens, now)
        return False

    def retry_after(self, key: str) -> int:
        tokens, _ = self._buckets.get(key, (0.0, 0.0))
        return max(1, math.ceil((1.0 - tokens) / self._rate))

    def _sweep(self, now: float) -> None:
        full_after = self._burst / self._rate
        buckets = self._buckets
        while buckets:
            key = next(iter(buckets))
            if now - buckets[key][1] < full_after:
                break  # the rest were used more recently
            del buckets[key]
        self._next_sweep = now + _SWEEP_EVERY_S

    def __len__(self) -> int:
        return len(self._buckets)

    @property
    def limit_text(self) -> str:
        return f"{self._rate:g} requests/s per {self.per} (bursts of {self._burst:g})"
