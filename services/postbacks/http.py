"""A small HTTP/1.1 client for postbacks, with the SSRF guard built in.

- http and https only; the host is resolved once (cached briefly) and every
  resolved address is checked: loopback, private, link-local, multicast,
  reserved and cloud-metadata addresses are refused unless they fall inside
  the operator's allowed networks. The connection goes to the checked
  address (TLS still verifies the certificate against the host name), so a
  DNS answer that changes between check and connect cannot bypass the guard.
- Keep-alive connections pooled per (scheme, address, port, host); a connect
  timeout and a total timeout per request; redirects are never followed (a
  3xx is just an answer); the response body is read up to a cap and its first
  bytes are kept for the attempt log.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud instance-metadata endpoints (also caught by the link-local / private
# checks; listed so the refusal says what they are).
METADATA = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
    ipaddress.ip_address("fd00:ec2::254"),  # AWS IPv6
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
}
USER_AGENT = "Clicktrail-Postback/1.0"
HEAD_BYTES = 512
MAX_BODY = 256 * 1024
IDLE_S = 30.0
DNS_TTL_S = 30.0


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


def refusal(ip: IPAddress, allowed: Sequence[IPNetwork]) -> str | None:
    """Why a destination address is refused, or None when it may be used."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        mapped = ip.ipv4_mapped
        if any(mapped in n for n in allowed if n.version == 4):
            return None
        ip = mapped
    if any(ip in n for n in allowed if n.version == ip.version):
        return None
    if ip in METADATA:
        return f"{ip} is a cloud metadata address"
    if ip.is_loopback:
        return f"{ip} is a loopback address"
    if ip.is_link_local:
        return f"{ip} is a link-local address"
    if ip.is_private:
        return f"{ip} is a private address"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified or not ip.is_global:
        return f"{ip} is not a public address"
    return None


class Resolver:
    """Resolves a host once, checks every address, caches the verdict briefly."""

    def __init__(self, allowed: Iterable[IPNetwork] = (), ttl_s: float = DNS_TTL_S) -> None:
        self.allowed = tuple(allowed)
        self._ttl = ttl_s
        self._cache: dict[tuple[str, int], tuple[float, str | None, str]] = {}

    async def resolve(self, host: str, port: int) -> str:
        """The address to connect to; Refused or HttpError otherwise."""
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            why = refusal(literal, self.allowed)
            if why:
                raise Refused(f"destination refused: {why}")
            return str(literal)
        now = time.monotonic()
        hit = self._cache.get((host, port))
        if hit and hit[0] > now:
            if hit[1] is None:
                raise Refused(hit[2])
            return hit[1]
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise HttpError(f"cannot resolve {host}: {exc}") from None
        addrs = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))
        if not addrs:
            raise HttpError(f"cannot resolve {host}: no addresses")
        # Every address must pass: an attacker's name may mix public and private answers.
        for ip in addrs:
            why = refusal(ip, self.allowed)
            if why:
                message = f"destination refused: {host} resolves to {why}"
                self._cache[(host, port)] = (now + self._ttl, None, message)
                raise Refused(message)
        chosen = str(addrs[0])
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[(host, port)] = (now + self._ttl, chosen, "")
        return chosen


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
                ip = await self.resolver.resolve(host, port)
                key = (scheme, ip, port, host)
                conn = self._take(key)
                reused = conn is not None
                while True:
                    if conn is None:
                        conn = await self._open(key)
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
