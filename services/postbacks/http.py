"""The HTTP client for postbacks: aiohttp behind the SSRF-guarded connection.

- http and https only. The destination is checked before every request
  (resolver.Resolver: aiodns, verdicts cached; guard.refusal for every
  address), so a destination refused now is refused even while a pooled
  connection to it is open. New connections get their addresses from
  ``GuardedResolver`` (aiohttp's resolver hook: the same checked verdict,
  aiohttp's own DNS cache off) and connect to THAT checked address, never to
  the name, so a DNS answer that changes between check and connect
  (rebinding) cannot bypass the guard. Every socket is made by
  ``HttpClient._socket`` (aiohttp's socket factory), which checks the address
  once more (a second lock, for any path that skips the resolver). The URL
  aiohttp sees is built from the parts the guard checked (the checked address
  itself for an address written as the host), so no second URL parser can
  read another host out of it. TLS still sends SNI for, and verifies the
  certificate against, the host name.
- Keep-alive connections pooled per (scheme, host, port), each kept ``IDLE_S``;
  aiohttp retries an idempotent request (GET) once when the server closed
  the connection without an answer.
- A connect timeout (TCP and the TLS handshake) and a total timeout per
  request (name resolution, connect, request, the whole answer).
- Redirects are never followed (a 3xx is just an answer); no cookies kept, no
  decompression, no headers but the template's, Host and User-Agent. The
  response body is read up to ``MAX_BODY`` (the connection is dropped beyond
  it) and its first ``HEAD_BYTES`` are kept for the attempt log.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import socket
import ssl
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import aiohttp.abc
from yarl import URL

from services.postbacks.guard import HttpError, Refused, literal, refusal
from services.postbacks.resolver import Resolver

USER_AGENT = "Clicktrail-Postback/1.0"
HEAD_BYTES = 512
MAX_BODY = 256 * 1024
IDLE_S = 30.0
MAX_HEAD_LINE = 64 * 1024  # a status line or header field longer than this is a malformed answer
# What aiohttp would add by itself: a postback carries the template's headers only.
_SKIP_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


@dataclasses.dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    head: bytes
    latency_ms: float


class GuardedResolver(aiohttp.abc.AbstractResolver):
    """aiohttp's name resolution for new connections: only checked addresses."""

    def __init__(self, resolver: Resolver) -> None:
        self._resolver = resolver

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        ips = await self._resolver.resolve_all(host, port)
        return [
            {"hostname": host, "host": ip, "port": port, "proto": 0, "flags": 0,
             "family": socket.AF_INET6 if ":" in ip else socket.AF_INET}
            for ip in ips
        ]  # fmt: skip

    async def close(self) -> None:
        await self._resolver.close()


class HttpClient:
    def __init__(self, resolver: Resolver, *, connect_timeout_s: float = 5.0, timeout_s: float = 15.0) -> None:
        self.resolver = resolver
        self.connect_timeout_s = connect_timeout_s
        self.timeout_s = timeout_s
        self.opened = 0  # connections opened (for tests and benchmarks)
        self._ssl = ssl.create_default_context()
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _socket(self, addr_info: Any) -> socket.socket:
        """Every socket aiohttp connects: refused unless its address passes the guard."""
        family, type_, proto, _, sockaddr = addr_info
        why = refusal(ipaddress.ip_address(str(sockaddr[0]).split("%")[0]), self.resolver.allowed)
        if why:
            raise OSError(f"destination refused: {why}")
        sock = socket.socket(family=family, type=type_, proto=proto)
        self.opened += 1
        return sock

    def _client(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop:
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(self.resolver), use_dns_cache=False, ssl=self._ssl, limit=0,
                limit_per_host=0, keepalive_timeout=IDLE_S, happy_eyeballs_delay=None,
                socket_factory=self._socket,
            )  # fmt: skip
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False,
                skip_auto_headers=_SKIP_AUTO_HEADERS, trust_env=False, max_line_size=MAX_HEAD_LINE,
                max_field_size=MAX_HEAD_LINE,
                timeout=aiohttp.ClientTimeout(total=None, connect=None, sock_connect=self.connect_timeout_s),
            )  # fmt: skip
            self._loop = loop
        return self._session

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and self._loop is asyncio.get_running_loop():
            await session.close()  # closes the resolver too
        else:
            await self.resolver.close()

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
        host_header = f"[{host}]" if ":" in host else host
        if parts.port and parts.port != (443 if scheme == "https" else 80):
            host_header += f":{parts.port}"
        send = [("Host", host_header), ("User-Agent", USER_AGENT), *headers]
        data = body if body or method not in ("GET", "HEAD") else None
        try:
            async with asyncio.timeout(self.timeout_s):
                # Refused now is refused, pooled connection or not. An address written as the
                # host is sent to as the checked address it is (2130706433: 127.0.0.1).
                ips = await self.resolver.resolve_all(host, port)
                try:
                    name = ips[0] if literal(host) else host.encode("idna").decode("ascii")
                except UnicodeError as exc:
                    raise HttpError(f"cannot resolve {host}: {exc}") from None
                target = URL.build(
                    scheme=scheme, host=name, port=port, path=parts.path or "/", query_string=parts.query,
                    encoded=True,
                )  # fmt: skip
                try:
                    async with self._client().request(
                        method, target, headers=send, data=data, allow_redirects=False
                    ) as resp:
                        status = resp.status
                        resp_headers = {k.lower(): v for k, v in resp.headers.items()}
                        # Beyond the cap the rest is not read: leaving early drops the connection.
                        size = resp.content_length
                        limit = HEAD_BYTES if size is not None and size > MAX_BODY else MAX_BODY + 1
                        got = bytearray()
                        while len(got) < limit:
                            chunk = await resp.content.read(limit - len(got))
                            if not chunk:
                                break
                            got += chunk
                except aiohttp.ConnectionTimeoutError:
                    raise HttpError(f"connect timeout after {self.connect_timeout_s:g}s") from None
                except aiohttp.ClientConnectorError as exc:
                    if str(exc.os_error).startswith("destination refused"):  # the socket factory's check
                        raise Refused(str(exc.os_error)) from None
                    raise HttpError(f"connect failed: {exc.os_error or exc}") from None
                except aiohttp.ClientConnectionError as exc:
                    raise HttpError(_describe(exc)) from None
                except aiohttp.ClientError as exc:  # a malformed answer, a bad URL
                    raise HttpError(_describe(exc)) from None
        except TimeoutError:
            raise HttpError(f"timeout after {self.timeout_s:g}s") from None
        return Response(status, resp_headers, bytes(got[:HEAD_BYTES]), (time.perf_counter() - start) * 1000)


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}".strip(": ")
