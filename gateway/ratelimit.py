"""Per-client-IP rate limits on the public endpoints: a token bucket per
(IP, endpoint group), refilled at ``rate`` per second up to ``burst``.

Kept in the gateway process (each replica limits on its own, so the effective
limit is per replica). Idle buckets are forgotten, so memory stays bounded by the
clients seen in the last minute or so."""

from __future__ import annotations

import math
import time

# Buckets idle this long are full again: forget them.
_SWEEP_EVERY_S = 30.0


class RateLimiter:
    """``allow(ip)`` is True when the request may go on; else ``retry_after(ip)``
    says how many whole seconds until one token is back."""

    __slots__ = ("_buckets", "_burst", "_next_sweep", "_rate", "enabled")

    def __init__(self, rate: float, burst: float = 0.0) -> None:
        self.enabled = rate > 0
        self._rate = rate
        # A burst of at least one second's worth of requests (and at least one request).
        self._burst = max(burst, rate, 1.0)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._next_sweep = 0.0

    def allow(self, ip: str, now: float | None = None) -> bool:
        if not self.enabled:
            return True
        now = time.monotonic() if now is None else now
        if now >= self._next_sweep:
            self._sweep(now)
        tokens, last = self._buckets.get(ip, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if tokens >= 1.0:
            self._buckets[ip] = (tokens - 1.0, now)
            return True
        self._buckets[ip] = (tokens, now)
        return False

    def retry_after(self, ip: str) -> int:
        tokens, _ = self._buckets.get(ip, (0.0, 0.0))
        return max(1, math.ceil((1.0 - tokens) / self._rate))

    def _sweep(self, now: float) -> None:
        full_after = self._burst / self._rate
        self._buckets = {ip: b for ip, b in self._buckets.items() if now - b[1] < full_after}
        self._next_sweep = now + _SWEEP_EVERY_S

    @property
    def limit_text(self) -> str:
        return f"{self._rate:g} requests/s per IP (bursts of {self._burst:g})"
