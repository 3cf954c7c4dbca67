"""Name resolution of postback hosts, with the SSRF guard's verdict cached.

Asynchronous (aiodns / c-ares, never the default thread pool, with a
timeout); every address a name resolves to is checked (guard.refusal) and
the verdict cached: answers for their DNS TTL within bounds, failures
(NXDOMAIN, timeouts, a server failure) for ``negative_ttl_s``; one query per
name however many deliveries wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import socket
from collections.abc import Iterable, Sequence

import aiodns
import aiodns.error

from libs.cache import TTLCache
from services.postbacks.guard import HttpError, IPAddress, IPNetwork, Refused, literal, refusal

# Answers are cached for their DNS TTL within these bounds; failures for DNS_NEGATIVE_TTL_S.
DNS_MIN_TTL_S = 5.0
DNS_MAX_TTL_S = 300.0
DNS_TIMEOUT_S = 2.0
DNS_NEGATIVE_TTL_S = 30.0
DNS_CACHE_MAX = 10_000

# (seconds to keep it, the checked addresses (none: failed or refused), why not, refused)
_Verdict = tuple[float, tuple[str, ...], str, bool]


@dataclasses.dataclass
class ResolverStats:
    queries: int = 0  # lookups sent to DNS
    hits: int = 0  # answered from the cache (positive or negative)
    failures: int = 0  # lookups that failed (NXDOMAIN, timeout, ...)


class Resolver:
    """Resolves a host asynchronously (aiodns: c-ares, no thread pool), checks
    every address and caches the verdict: answers for their TTL (bounded),
    failures for ``negative_ttl_s``; concurrent lookups of one name share one query."""

    def __init__(
        self,
        allowed: Iterable[IPNetwork] = (),
        *,
        nameservers: Sequence[str] = (),
        timeout_s: float = DNS_TIMEOUT_S,
        negative_ttl_s: float = DNS_NEGATIVE_TTL_S,
        min_ttl_s: float = DNS_MIN_TTL_S,
        max_ttl_s: float = DNS_MAX_TTL_S,
    ) -> None:
        self.allowed = tuple(allowed)
        self.nameservers = tuple(nameservers)
        self.timeout_s = timeout_s
        self.negative_ttl_s = negative_ttl_s
        self.min_ttl_s = min_ttl_s
        self.max_ttl_s = max(min_ttl_s, max_ttl_s)
        self.stats = ResolverStats()
        # Verdicts of names, each living its own TTL (single flight: one lookup per name).
        self._verdicts: TTLCache[str, _Verdict] = TTLCache(self.max_ttl_s, maxsize=DNS_CACHE_MAX, ttl_of=_ttl)
        self._literals: dict[str, tuple[str, ...] | Refused] = {}
        self._dns: aiodns.DNSResolver | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _channel(self) -> aiodns.DNSResolver:
        loop = asyncio.get_running_loop()
        if self._dns is None or self._loop is not loop:
            # c-ares tries each server with a per-try timeout; the whole lookup
            # is bounded by timeout_s as well.
            self._dns = aiodns.DNSResolver(
                list(self.nameservers) or None, loop=loop, timeout=max(0.1, self.timeout_s / 2), tries=2
            )
            self._loop = loop
        return self._dns

    async def close(self) -> None:
        dns, self._dns = self._dns, None
        if dns is not None and self._loop is asyncio.get_running_loop():
            with contextlib.suppress(Exception):
                await dns.close()

    async def resolve(self, host: str, port: int) -> str:
        """The address to connect to; Refused or HttpError otherwise."""
        return (await self.resolve_all(host, port))[0]

    async def resolve_all(self, host: str, port: int) -> tuple[str, ...]:
        """The checked addresses to connect to, IPv4 first; Refused or HttpError otherwise."""
        known = self._literals.get(host)
        if known is None:
            known = self._literal(host)
        if known:
            if isinstance(known, Refused):
                raise known
            return known
        host = host.lower().rstrip(".")
        verdict = self._verdicts.get(host)
        if verdict is not None:
            self.stats.hits += 1
        else:
            # A waiter that gives up (its own timeout) does not cancel the lookup the others share.
            verdict = await self._verdicts.get_or_load(host, lambda: self._lookup(host))
        if not verdict[1]:
            raise (Refused if verdict[3] else HttpError)(verdict[2])
        return verdict[1]

    def _literal(self, host: str) -> tuple[str, ...] | Refused:
        """An address written as the host: its verdict (remembered: it never changes), or () for a name."""
        written = literal(host)
        if written is None:
            return ()
        why = refusal(written, self.allowed)
        known: tuple[str, ...] | Refused = Refused(f"destination refused: {why}") if why else (str(written),)
        if len(self._literals) >= DNS_CACHE_MAX:
            self._literals.clear()
        self._literals[host] = known
        return known

    async def _lookup(self, host: str) -> _Verdict:
        self.stats.queries += 1
        try:
            async with asyncio.timeout(self.timeout_s):
                result = await self._channel().getaddrinfo(host, type=socket.SOCK_STREAM)
        except TimeoutError:
            return self._failed(f"cannot resolve {host}: timeout after {self.timeout_s:g}s")
        except aiodns.error.DNSError as exc:
            reason = exc.args[1] if len(exc.args) > 1 else str(exc)
            return self._failed(f"cannot resolve {host}: {reason}")
        except (UnicodeError, ValueError) as exc:
            return self._failed(f"cannot resolve {host}: {exc}")
        addrs: list[IPAddress] = []
        ttl = self.max_ttl_s
        for node in result.nodes:
            raw = node.addr[0]
            text = (raw.decode() if isinstance(raw, bytes) else str(raw)).split("%")[0]
            addrs.append(ipaddress.ip_address(text))
            ttl = min(ttl, float(node.ttl))
        addrs = list(dict.fromkeys(addrs))
        if not addrs:
            return self._failed(f"cannot resolve {host}: no addresses")
        keep = min(self.max_ttl_s, max(self.min_ttl_s, ttl))
        # Every address must pass: an attacker's name may mix public and private answers.
        for ip in addrs:
            why = refusal(ip, self.allowed)
            if why:
                return (keep, (), f"destination refused: {host} resolves to {why}", True)
        # IPv4 first (c-ares answers ::1 first for localhost; many hosts have no IPv6 route).
        return (keep, tuple(str(a) for a in sorted(addrs, key=lambda a: a.version)), "", False)

    def _failed(self, message: str) -> _Verdict:
        self.stats.failures += 1
        return (self.negative_ttl_s, (), message, False)


def _ttl(verdict: _Verdict) -> float:
    return verdict[0]
