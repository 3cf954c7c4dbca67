"""A small HTTP/1.1 client for postbacks, with the SSRF guard built in.

- http and https only; the host is resolved asynchronously (aiodns / c-ares,
  never the default thread pool, with a timeout; answers cached for their
  TTL, failures for a while, one query per name however many deliveries
  wait) and every resolved address is checked: loopback, private,
  link-local, multicast, reserved, every IANA special-purpose block and the
  cloud-metadata addresses are refused unless they fall inside the
  operator's allowed networks (metadata addresses only when allowed by
  name). The connection goes to the checked address (TLS still verifies the
  certificate against the host name), so a DNS answer that changes between
  check and connect cannot bypass the guard.
- Keep-alive connections pooled per (scheme, address, port, host); a connect
  timeout and a total timeout per request; redirects are never followed (a
  3xx is just an answer); the response body is read up to a cap and its first
  bytes are kept for the attempt log.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

import aiodns
import aiodns.error

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud instance-metadata and platform endpoints: refused even inside the
# operator's allowed networks unless an allowed network names the address alone.
METADATA = {
    ipaddress.ip_address("169.254.169.254"): "AWS, GCP, Azure, OpenStack instance metadata",
    ipaddress.ip_address("169.254.170.2"): "AWS ECS task metadata",
    ipaddress.ip_address("fd00:ec2::254"): "AWS instance metadata over IPv6",
    ipaddress.ip_address("100.100.100.200"): "Alibaba Cloud instance metadata",
    ipaddress.ip_address("168.63.129.16"): "Azure WireServer",
}
# Special-purpose address blocks, from the IANA registries:
#   IPv4: https://www.iana.org/assignments/iana-ipv4-special-registry
#   IPv6: https://www.iana.org/assignments/iana-ipv6-special-registry
# Every block there is refused, "globally reachable" ones too (anycast services,
# AS112, AMT, ...): none of them is a partner's postback endpoint. Python's
# ipaddress attributes (private, loopback, link-local, multicast, reserved,
# unspecified, not global) are checked as well; this list names the block in
# the refusal and covers what those attributes miss (6to4, TEREDO, site-local,
# the newer documentation and SRv6 prefixes).
SPECIAL_PURPOSE: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(net), name)
    for net, name in (
        ("0.0.0.0/8", '"this network"'),
        ("10.0.0.0/8", "private-use"),
        ("100.64.0.0/10", "shared address space (carrier-grade NAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private-use"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation (TEST-NET-1)"),
        ("192.31.196.0/24", "AS112-v4"),
        ("192.52.193.0/24", "AMT"),
        ("192.88.99.0/24", "deprecated 6to4 relay anycast"),
        ("192.168.0.0/16", "private-use"),
        ("192.175.48.0/24", "direct delegation AS112 service"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation (TEST-NET-2)"),
        ("203.0.113.0/24", "documentation (TEST-NET-3)"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("255.255.255.255/32", "limited broadcast"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::ffff:0:0/96", "IPv4-mapped"),
        ("64:ff9b::/96", "IPv4-IPv6 translation"),
        ("64:ff9b:1::/48", "local-use IPv4-IPv6 translation"),
        ("100::/64", "discard-only"),
        ("100:0:0:1::/64", "dummy IPv6 prefix"),
        ("2001::/23", "IETF protocol assignments"),
        ("2001::/32", "TEREDO"),
        ("2001:db8::/32", "documentation"),
        ("2002::/16", "6to4"),
        ("2620:4f:8000::/48", "direct delegation AS112 service"),
        ("3fff::/20", "documentation"),
        ("5f00::/16", "segment routing (SRv6) SIDs"),
        ("fc00::/7", "unique-local"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local (deprecated, RFC 3879)"),
        ("ff00::/8", "multicast"),
    )
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
USER_AGENT = "Clicktrail-Postback/1.0"
HEAD_BYTES = 512
MAX_BODY = 256 * 1024
IDLE_S = 30.0
# Name resolution (aiodns / c-ares: no thread pool): answers are cached for
# their DNS TTL within these bounds; failures (NXDOMAIN, timeouts, a server
# failure) for DNS_NEGATIVE_TTL_S.
DNS_MIN_TTL_S = 5.0
DNS_MAX_TTL_S = 300.0
DNS_TIMEOUT_S = 2.0
DNS_NEGATIVE_TTL_S = 30.0
DNS_CACHE_MAX = 10_000


class Refused(Exception):
    """The destination is not allowed (scheme, or an address the guard refuses)."""


class HttpError(Exception):
    """No HTTP answer: DNS failure, connect error, reset, timeout, malformed reply."""


@dataclasses.dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    head: bytes
    latency_ms: float


def _literal(host: str) -> IPAddress | None:
    """An address written as the host: IPv4/IPv6, or the numeric IPv4 forms that
    inet_aton and browsers accept (2130706433, 0x7f000001, 0177.1)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host) and host[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _allowed(ip: IPAddress, allowed: Sequence[IPNetwork]) -> bool:
    return any(ip in n and (ip not in METADATA or n.num_addresses == 1) for n in allowed if n.version == ip.version)


def _embedded(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses a 6to4 or TEREDO address carries."""
    out: list[ipaddress.IPv4Address] = []
    if ip.sixtofour is not None:
        out.append(ip.sixtofour)
    if ip.teredo is not None:
        out.extend(ip.teredo)  # (server, client)
    return out


def refusal(ip: IPAddress, allowed: Sequence[IPNetwork]) -> str | None:
    """Why a destination address is refused, or None when it may be used."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None or ip in NAT64:
            # The connection goes to the IPv4 address inside: that one decides.
            inner = ip.ipv4_mapped or ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
            why = refusal(inner, allowed)
            return None if why is None else f"{ip} carries {why}"
        for inner in _embedded(ip):
            why = refusal(inner, allowed)
            if why:
                return f"{ip} carries {why}"
    if _allowed(ip, allowed):
        return None
    if ip in METADATA:
        return f"{ip} is a cloud metadata address ({METADATA[ip]})"
    block = next((f" ({net}: {name})" for net, name in SPECIAL_PURPOSE if net.version == ip.version and ip in net), "")
    if ip.is_loopback:
        return f"{ip} is a loopback address{block}"
    if ip.is_link_local:
        return f"{ip} is a link-local address{block}"
    if ip.is_private:
        return f"{ip} is a private address{block}"
    if block:
        return f"{ip} is a special-purpose address{block}"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return f"{ip} is a site-local address"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified or not ip.is_global:
        return f"{ip} is not a public address"
    return None


# (expires, the checked addresses (none: failed or refused), why not, refused)
_Verdict = tuple[float, tuple[str, ...], str, bool]


@dataclasses.dataclass
class ResolverStats:
    queries: int = 0  # lookups sent to DNS
    hits: int = 0  # answered from the cache (positive or negative)
    joined: int = 0  # waited for a lookup of the same name already in flight
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
        self._cache: dict[str, _Verdict] = {}
        self._pending: dict[str, asyncio.Future[_Verdict]] = {}
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
        literal = _literal(host)
        if literal is not None:
            why = refusal(literal, self.allowed)
            if why:
                raise Refused(f"destination refused: {why}")
            return (str(literal),)
        host = host.lower().rstrip(".")
        hit = self._cache.get(host)
        if hit is not None and hit[0] > time.monotonic():
            self.stats.hits += 1
            verdict = hit
        else:
            task = self._pending.get(host)
            if task is None:
                # One lookup per name however many deliveries wait for it; a
                # waiter that gives up (its own timeout) does not cancel it.
                task = self._pending[host] = asyncio.ensure_future(self._lookup(host))
                task.add_done_callback(functools.partial(self._settle, host))
            else:
                self.stats.joined += 1
            verdict = await asyncio.shield(task)
        if not verdict[1]:
            raise (Refused if verdict[3] else HttpError)(verdict[2])
        return verdict[1]

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
        expires = time.monotonic() + min(self.max_ttl_s, max(self.min_ttl_s, ttl))
        # Every address must pass: an attacker's name may mix public and private answers.
        for ip in addrs:
            why = refusal(ip, self.allowed)
            if why:
                return (expires, (), f"destination refused: {host} resolves to {why}", True)
        # IPv4 first (c-ares answers ::1 first for localhost; many hosts have no IPv6 route).
        return (expires, tuple(str(a) for a in sorted(addrs, key=lambda a: a.version)), "", False)

    def _failed(self, message: str) -> _Verdict:
        self.stats.failures += 1
        return (time.monotonic() + self.negative_ttl_s, (), message, False)

    def _settle(self, host: str, task: asyncio.Future[_Verdict]) -> None:
        self._pending.pop(host, None)
        if not task.cancelled() and task.exception() is None:
            self._store(host, task.result())

    def _store(self, host: str, verdict: _Verdict) -> None:
        if len(self._cache) >= DNS_CACHE_MAX:
            now = time.monotonic()
            self._cache = {h: v for h, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= DNS_CACHE_MAX:
                self._cache.clear()
        self._cache[host] = verdict


@dataclasses.dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    last_used: float

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


_PoolKey = tuple[str, str, int, str]


class HttpClient:
    def __init__(
        self,
        resolver: Resolver,
        *,
        connect_timeout_s: float = 5.0,
        timeout_s: float = 15.0,
        max_idle_per_key: int = 64,
    ) -> None:
        self.resolver = resolver
        self.connect_timeout_s = connect_timeout_s
        self.timeout_s = timeout_s
        self._max_idle = max_idle_per_key
        self._idle: dict[_PoolKey, list[_Conn]] = {}
        self._ssl = ssl.create_default_context()
        self.opened = 0  # connections opened (for tests and benchmarks)

    async def close(self) -> None:
        for conns in self._idle.values():
            for c in conns:
                c.close()
        self._idle.clear()
        await self.resolver.close()

    def _take(self, key: _PoolKey) -> _Conn | None:
        conns = self._idle.get(key)
        now = time.monotonic()
        while conns:
            c = conns.pop()
            if now - c.last_used < IDLE_S and not c.reader.at_eof() and not c.writer.is_closing():
                return c
            c.close()
        return None

    def _give(self, key: _PoolKey, conn: _Conn) -> None:
        conns = self._idle.setdefault(key, [])
        if len(conns) >= self._max_idle:
            conn.close()
            return
        conn.last_used = time.monotonic()
        conns.append(conn)

    async def _open_any(self, scheme: str, ips: Sequence[str], port: int, host: str) -> tuple[_Conn, _PoolKey]:
        """A connection to the first of the checked addresses that accepts one."""
        for i, ip in enumerate(ips):
            key = (scheme, ip, port, host)
            try:
                return await self._open(key), key
            except HttpError:
                if i == len(ips) - 1:
                    raise
        raise HttpError("no address to connect to")

    async def _open(self, key: _PoolKey) -> _Conn:
        scheme, ip, port, host = key
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                if scheme == "https":
                    reader, writer = await asyncio.open_connection(ip, port, ssl=self._ssl, server_hostname=host)
                else:
                    reader, writer = await asyncio.open_connection(ip, port)
        except TimeoutError:
            raise HttpError(f"connect timeout after {self.connect_timeout_s:g}s") from None
        except (OSError, ssl.SSLError) as exc:
            raise HttpError(f"connect failed: {exc}") from None
        self.opened += 1
        return _Conn(reader, writer, time.monotonic())

    async def request(
        self, method: str, url: str, headers: Sequence[tuple[str, str]] = (), body: bytes = b""
    ) -> Response:
        """One request, no redirects followed. Refused / HttpError when no answer."""
        start = time.perf_counter()
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise Refused(f"destination refused: scheme {scheme or '(none)'} is not http or https")
        host = parts.hostname or ""
        if not host:
            raise Refused("destination refused: the URL has no host")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise Refused("destination refused: bad port") from None
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        host_header = f"[{host}]" if ":" in host else host
        if parts.port and parts.port != (443 if scheme == "https" else 80):
            host_header += f":{parts.port}"
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host_header}", f"User-Agent: {USER_AGENT}"]
        lines += [f"{k}: {v}" for k, v in headers]
        if body or method not in ("GET", "HEAD"):
            lines.append(f"Content-Length: {len(body)}")
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body
        conn: _Conn | None = None
        try:
            async with asyncio.timeout(self.timeout_s):
                ips = await self.resolver.resolve_all(host, port)
                key = (scheme, ips[0], port, host)
                for ip in ips:
                    key = (scheme, ip, port, host)
                    conn = self._take(key)
                    if conn is not None:
                        break
                reused = conn is not None
                while True:
                    if conn is None:
                        conn, key = await self._open_any(scheme, ips, port, host)
                    try:
                        conn.writer.write(raw)
                        await conn.writer.drain()
                        status, resp_headers, head, keep = await self._read_response(conn.reader, method)
                        break
                    except (OSError, asyncio.IncompleteReadError, ValueError, asyncio.LimitOverrunError) as exc:
                        conn.close()
                        conn = None
                        # A pooled connection the server closed meanwhile: try once on a fresh one.
                        if reused and isinstance(exc, (ConnectionError, asyncio.IncompleteReadError)):
                            reused = False
                            continue
                        raise HttpError(f"{type(exc).__name__}: {exc}".strip(": ")) from None
        except TimeoutError:
            if conn is not None:
                conn.close()
            raise HttpError(f"timeout after {self.timeout_s:g}s") from None
        except asyncio.CancelledError:
            if conn is not None:
                conn.close()
            raise
        if keep:
            self._give(key, conn)
        else:
            conn.close()
        return Response(status, resp_headers, head, (time.perf_counter() - start) * 1000)

    async def _read_response(
        self, reader: asyncio.StreamReader, method: str
    ) -> tuple[int, dict[str, str], bytes, bool]:
        while True:
            block = await reader.readuntil(b"\r\n\r\n")
            text = block.decode("latin-1")
            status_line, _, rest = text.partition("\r\n")
            parts = status_line.split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
                raise ValueError(f"malformed status line {status_line[:80]!r}")
            status = int(parts[1])
            headers: dict[str, str] = {}
            for line in rest.split("\r\n"):
                if ":" in line:
                    k, _, v = line.partition(":")
                    headers[k.strip().lower()] = v.strip()
            if 100 <= status < 200 and status != 101:
                continue  # interim answer (100 Continue): the real one follows
            break
        keep = parts[0] == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if method == "HEAD" or status in (204, 304):
            return status, headers, b"", keep
        te = headers.get("transfer-encoding", "").lower()
        body = bytearray()
        if "chunked" in te:
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")  # trailers end (assumes none)
                    break
                if len(body) + size > MAX_BODY:
                    return status, headers, bytes(body[:HEAD_BYTES]), False
                body += await reader.readexactly(size)
                await reader.readexactly(2)
        elif "content-length" in headers:
            length = int(headers["content-length"])
            if length > MAX_BODY:
                body += await reader.read(HEAD_BYTES)
                return status, headers, bytes(body[:HEAD_BYTES]), False
            body += await reader.readexactly(length)
        else:
            # Delimited by close.
            while len(body) < MAX_BODY:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                body += chunk
            keep = False
        return status, headers, bytes(body[:HEAD_BYTES]), keep
