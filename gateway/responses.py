"""What every gateway route shares: ASGI types, the one way to answer a request
(``Sender``: status, headers and the whole body, plus X-Request-Id), JSON
errors, and decoding what clients send in headers."""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, unquote_plus

import orjson

from gateway.ratelimit import RateLimiter
from libs.asgi import BodyTooLarge, read_body
from libs.text import clean_text

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# Anything but visible ASCII is percent-encoded before it goes into a header.
HEADER_UNSAFE_RE = re.compile(r"[^\x21-\x7e]")
MAX_HEADER_CHARS = 8192
# Host names as a Host header may carry them (letters, digits, hyphens, dots, underscores).
HOST_RE = re.compile(r"[a-z0-9_.-]+")
# A read-only call to links that failed (QR codes, domain checks): nothing was to be recorded.
LINKS_UNAVAILABLE = "links service unavailable; retry later"
# RFC 6265 cookie-name (a token) and cookie-octets (visible ASCII but for " , ; \\).
COOKIE_NAME_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")
COOKIE_VALUE_RE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")
MAX_FLOW_COOKIES = 16
MAX_COOKIE_VALUE = 512
# The click a lander's click-through (/lp/click) continues when its URL does not say.
CLICK_COOKIE = "ctc"
COOKIE_SUFFIX = "; Path=/; HttpOnly; SameSite=Lax"
SECURE_COOKIE_SUFFIX = COOKIE_SUFFIX + "; Secure"


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


@functools.lru_cache(maxsize=4096)  # a gateway answers for a handful of hosts; a flood of odd ones only evicts
def normal_host(raw: bytes) -> str:
    """A Host (or X-Forwarded-Host) value as links compares it: lower case,
    without the port and a trailing dot; an IPv6 literal keeps its brackets;
    "" when it is not a plausible host name."""
    text = raw.decode("latin-1").strip().lower()
    if text.startswith("["):
        end = text.find("]")
        return text[: end + 1] if 0 < end <= 64 else ""
    host = text.partition(":")[0].rstrip(".")
    return host if 0 < len(host) <= 253 and HOST_RE.fullmatch(host) else ""


def flow_cookies(raw: bytes) -> dict[str, str] | None:
    """The Clicktrail cookies of a Cookie header (names starting "ct"), for links;
    None when there are none. Tolerant (other sites' cookies on a custom domain may
    break RFC 6265: those parts are skipped, never the request) and capped: at most
    MAX_FLOW_COOKIES names, values of at most MAX_COOKIE_VALUE visible characters;
    a name sent twice keeps its first value (the browser sends the most specific first)."""
    out: dict[str, str] = {}
    for part in raw.decode("latin-1").split(";"):
        name, eq, value = part.partition("=")
        name = name.strip()
        if not eq or not name.startswith("ct") or name in out or COOKIE_NAME_RE.fullmatch(name) is None:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        if len(value) > MAX_COOKIE_VALUE or COOKIE_VALUE_RE.fullmatch(value) is None:
            continue
        out[name] = value
        if len(out) >= MAX_FLOW_COOKIES:
            break
    return out or None


def set_cookie_headers(cookies: Any, secure: bool, click: tuple[str, int] = ("", 0)) -> list[tuple[bytes, bytes]]:
    """Set-Cookie headers for links' TouchResult.cookies, and the click cookie
    (CLICK_COOKIE) when ``click`` (touch_id, max age) has a positive max age. A
    name or value that could break the header is left out."""
    headers = [_repeated_set_cookie(c.name, c.value, c.max_age_seconds, secure) for c in cookies]
    if click[1] > 0:
        headers.append(set_cookie(CLICK_COOKIE, click[0], click[1], secure))
    return [h for h in headers if h is not None]


def set_cookie(name: str, value: str, max_age: int, secure: bool) -> tuple[bytes, bytes] | None:
    """One Set-Cookie header: Path=/, HttpOnly, SameSite=Lax (sent again on the
    visitor's next top-level click from another site, never on cross-site
    subrequests), Max-Age when positive (else a session cookie), Secure when the
    request came over https; None when the name or value could break it."""
    if COOKIE_NAME_RE.fullmatch(name) is None or COOKIE_VALUE_RE.fullmatch(value) is None:
        return None
    max_age_part = f"; Max-Age={max_age}" if max_age > 0 else ""
    suffix = SECURE_COOKIE_SUFFIX if secure else COOKIE_SUFFIX
    return (b"set-cookie", f"{name}={value}{max_age_part}{suffix}".encode("ascii"))


# links' cookies are a flow's few choices, the same on click after click: each header made once.
# (The click cookie's value, a click id, never repeats: it is made each time.)
_repeated_set_cookie = functools.lru_cache(maxsize=4096)(set_cookie)


@functools.lru_cache(maxsize=8192)
def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        addr = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def query_param(query: bytes, names: tuple[str, ...]) -> str:
    """The first non-empty value of the first of ``names`` the query string has
    ("" when none); never fails, whatever the query holds."""
    if not query:
        return ""
    found: dict[str, str] = {}
    for part in query.decode("latin-1").split("&"):
        key, _, value = part.partition("=")
        key = unquote_plus(key)
        if key in names and key not in found:
            value = unquote_plus(value).strip()
            if value:
                found[key] = value
    return next((found[n] for n in names if n in found), "")


def peer_trusted(scope: Scope, trusted: Any) -> bool:
    """Whether the request's peer is one of the ``trusted`` proxy networks (whose
    X-Forwarded-* headers are believed)."""
    if not trusted:
        return False
    client = scope.get("client")
    peer = parse_ip(client[0]) if client else None
    return peer is not None and any(peer.version == net.version and peer in net for net in trusted)


def forwarded_host(scope: Scope, host: bytes, fwd_host: bytes, trusted: Any) -> str:
    """The request's host for links: X-Forwarded-Host from a trusted proxy (its
    last value: the nearest proxy's; a client can prepend anything), else Host."""
    if fwd_host and peer_trusted(scope, trusted):
        host = fwd_host.rpartition(b",")[2]
    return normal_host(host) if host else ""


def came_over_https(scope: Scope, fwd_proto: bytes, trusted: Any) -> bool:
    """The request came over https: to us, or to a trusted proxy that says so
    (X-Forwarded-Proto, its last value)."""
    if scope.get("scheme") == "https":
        return True
    return fwd_proto.rpartition(b",")[2].strip().lower() == b"https" and peer_trusted(scope, trusted)


def cookie_headers(
    scope: Scope, cookies: Any, fwd_proto: bytes, trusted: Any, click: tuple[str, int] = ("", 0)
) -> list[tuple[bytes, bytes]]:
    """Set-Cookie for the cookies links answered and the click cookie (``click``:
    touch_id, max age; none: no work), Secure over https."""
    if not cookies and click[1] <= 0:
        return []
    return set_cookie_headers(cookies, came_over_https(scope, fwd_proto, trusted), click)


@functools.lru_cache(maxsize=8192)
def canonical_ip(text: str) -> str:
    """The peer address as stored: IPv4-mapped IPv6 unwrapped; kept as given when unparsable."""
    addr = parse_ip(text) if text else None
    return str(addr) if addr is not None else text[:64]


async def body_timeout(sender: Sender, timeout_s: float) -> int:
    sender.close = True  # the rest of the body is not waited for
    return await json_error(sender, 408, f"the request body did not arrive within {timeout_s:g} s")


async def read_json_route_body(
    receive: Receive, sender: Sender, limit: int, timeout_s: float, too_large: str
) -> bytes | int:
    """The whole request body, or the HTTP status already answered: 413 with
    ``too_large`` past ``limit`` bytes, 408 when it did not arrive within
    ``timeout_s``, 499 (nothing answered) when the client went away."""
    try:
        raw = await read_body(receive, limit, timeout_s)
    except BodyTooLarge:
        return await json_error(sender, 413, too_large)
    except TimeoutError:
        return await body_timeout(sender, timeout_s)
    return 499 if raw is None else raw


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
