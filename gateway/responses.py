"""What every gateway route shares: ASGI types, the one way to answer a request
(``Sender``: status, headers and the whole body, plus X-Request-Id), JSON
errors, and decoding what clients send in headers."""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import orjson

from gateway.ratelimit import RateLimiter
from libs.text import clean_text

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# Anything but visible ASCII is percent-encoded before it goes into a header.
HEADER_UNSAFE_RE = re.compile(r"[^\x21-\x7e]")
MAX_HEADER_CHARS = 8192


def json_body(obj: Any) -> bytes:
    return orjson.dumps(obj)


def text_headers(ctype: bytes, body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]


JSON_CT = b"application/json"
TEXT_CT = b"text/plain; charset=utf-8"
NOT_FOUND_BODY = json_body({"error": "not found"})
NO_STORE = (b"cache-control", b"no-store")
GET_HEAD = b"GET, HEAD"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def header_safe(value: str) -> bytes:
    """A header value with nothing but visible ASCII: CR, LF, controls, spaces
    and non-ASCII characters are percent-encoded (UTF-8)."""
    if HEADER_UNSAFE_RE.search(value) is None:
        return value.encode("ascii")
    return HEADER_UNSAFE_RE.sub(lambda m: quote(m.group(), safe=""), value).encode("ascii")


def decode_header(raw: bytes) -> str:
    """Header bytes to text: UTF-8 when valid, else latin-1 (never fails);
    NULs dropped (Postgres text cannot hold them), length capped."""
    if not raw:
        return ""
    if len(raw) > MAX_HEADER_CHARS:
        raw = raw[:MAX_HEADER_CHARS]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text


@functools.lru_cache(maxsize=8192)
def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        addr = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


@functools.lru_cache(maxsize=8192)
def canonical_ip(text: str) -> str:
    """The peer address as stored: IPv4-mapped IPv6 unwrapped; kept as given when unparsable."""
    addr = parse_ip(text) if text else None
    return str(addr) if addr is not None else text[:64]


async def body_timeout(sender: Sender, timeout_s: float) -> int:
    sender.close = True  # the rest of the body is not waited for
    return await json_error(sender, 408, f"the request body did not arrive within {timeout_s:g} s")


async def too_many_requests(sender: Sender, limiter: RateLimiter, key: str) -> int:
    body = json_body({"error": f"rate limit exceeded: at most {limiter.limit_text}; retry later"})
    headers = [*text_headers(JSON_CT, body), (b"retry-after", str(limiter.retry_after(key)).encode())]
    return await sender.send(429, headers, body)


async def json_error(
    sender: Sender, status: int, message: str, field: str = "", headers: list[tuple[bytes, bytes]] | None = None
) -> int:
    # Both may echo the caller's text: what JSON cannot carry (a lone surrogate) is cleaned out.
    body = json_body({"error": clean_text(message), **({"field": clean_text(field)} if field else {})})
    return await sender.send(status, [*text_headers(JSON_CT, body), *(headers or ())], body)


class Sender:
    """Sends one whole response (start + body), adding X-Request-Id; a HEAD
    request gets the headers without the body. With ``close`` set (a body that
    did not arrive in time) the connection is closed after it."""

    __slots__ = ("_head", "_rid", "_send", "answered", "close", "forwarded", "started")

    def __init__(self, send: Send, rid: bytes, head: bool) -> None:
        self._send = send
        self._rid = rid
        self._head = head
        self.started = False
        self.forwarded = False  # the answer is a downstream service's (see _forward)
        self.answered = b""  # the body sent (a refused postback's error, for its log)
        self.close = False

    async def send(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
        self.started = True
        self.answered = body
        extra = [(b"x-request-id", self._rid)]
        if self.close:
            extra.append((b"connection", b"close"))
        await self._send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*headers, *extra],
            }
        )
        await self._send({"type": "http.response.body", "body": b"" if self._head else body})
        return status
