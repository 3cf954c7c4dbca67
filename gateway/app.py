"""The HTTP gateway: a small raw-ASGI app (no framework on the hot path).

Routes
  GET|HEAD /c/{slug}    record a click, 302 to the link's rendered destination
  GET|HEAD /i/{slug}    record an impression, 200 with a 1x1 GIF
  POST /v1/events       SDK event batch (X-Api-Key app key), forwarded to ingest
  GET|POST /postback    inbound S2S conversion (postback token), forwarded to attribution
  GET|HEAD /healthz     liveness
  GET|HEAD /readyz      readiness: links and ingest answer grpc.health.v1 Check
  GET|HEAD /metrics     Prometheus
  GET|HEAD /openapi.json
  /console/...          the operator web console: forwarded to its own process (python -m console)

Clicks and impressions go through a ``TouchBatcher`` each, which coalesces the
concurrent requests into one RecordClicks / RecordImpressions call over a pool
of gRPC channels. The redirect target comes only from the RPC result.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import ipaddress
import os
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

import grpc
import orjson
from clicktrail.attribution.v1 import attribution_pb2
from clicktrail.ingest.v1 import ingest_pb2
from clicktrail.links.v1 import links_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from gateway.batcher import BatchError, TouchBatcher
from gateway.openapi import DOCUMENT_BYTES
from gateway.ratelimit import RateLimiter, address_key
from libs import exactjson
from libs.asgi import BodyTooLarge, read_body
from libs.auth import GATEWAY_VOUCH_HEADER
from libs.config import Settings, load_settings
from libs.grpc_client import ChannelPool
from libs.grpc_interceptors import request_id_var
from libs.logging import get_logger
from libs.text import clean_text, loads_json
from libs.tls import channel_credentials

log = get_logger("gateway")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

LINKS_SERVICE = "clicktrail.links.v1.LinksService"
INGEST_SERVICE = "clicktrail.ingest.v1.IngestService"
ATTRIBUTION_SERVICE = "clicktrail.attribution.v1.AttributionService"
MAX_POSTBACK_BODY = 64 * 1024
# A postback the gateway refuses itself also goes to the account's inbound postback log
# (attribution LogRefusedPostback, with the token the request names; best effort): at most
# this many such calls at once and per second per gateway process; past that only this
# process's own log line ("postback_refused") has it.
REFUSED_LOGS_INFLIGHT = 16
REFUSED_LOGS_PER_S = 50
POSTBACK_TOKEN_PARAM = re.compile(rb"(?:^|&)token=([^&]{1,256})")
# Rate limits: paths limited by prefix, and the burst allowed, in seconds of the rate.
LIMITED_PREFIXES = ("/c/", "/i/")
BURST_S = 2.0
POSTBACK_STATUS = {1: "pending", 2: "approved", 3: "rejected"}
# gRPC status of RecordPostback -> HTTP status and what to tell the network.
POSTBACK_ERRORS = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, ""),
    grpc.StatusCode.UNAUTHENTICATED: (401, "invalid postback token"),
    grpc.StatusCode.PERMISSION_DENIED: (401, "invalid postback token: send the account's postback token (ctp_...)"),
    grpc.StatusCode.NOT_FOUND: (404, ""),
    grpc.StatusCode.FAILED_PRECONDITION: (409, ""),
}
MAX_EVENTS_BODY = 8 * 1024 * 1024
# Event batches one client address (IPv6: its /64) may be uploading at once: bounds
# the memory and connections a slow or stalled uploader holds (a phone sends one).
MAX_EVENTS_READS_PER_ADDRESS = 16
# App / API keys ingest said may send events are remembered (by SHA-256) this long.
KEY_CACHE_TTL_S = 5.0
KEY_CACHE_MAX = 10_000
TOKEN_KNOWN_S = 60.0  # a postback token attribution took counts against its own bucket for this long
# A well-formed app key (cta_) or account API key (ctk_): <prefix>_<key id>_<secret>; group 1 = key id.
EVENTS_KEY_RE = re.compile(r"(?:cta|ctk)_([0-9A-Za-z]{1,32})_[A-Za-z0-9_-]{1,160}")
POSTBACK_TOKEN_RE = re.compile(r"ctp_([0-9A-Za-z]{1,32})_[A-Za-z0-9_-]{1,160}")
EVENT_STATUS = {1: "accepted", 2: "duplicate", 3: "rejected"}
# gRPC status of SendEventsJson -> HTTP status and what to tell the client.
EVENTS_ERRORS = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, ""),
    grpc.StatusCode.UNAUTHENTICATED: (401, "invalid app key: send the app key in X-Api-Key"),
    grpc.StatusCode.PERMISSION_DENIED: (403, ""),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (413, ""),
}
SLUG_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
REQUEST_ID_RE = re.compile(rb"[A-Za-z0-9._:/+=-]{1,128}")
# Anything but visible ASCII is percent-encoded before it goes into a header.
HEADER_UNSAFE_RE = re.compile(r"[^\x21-\x7e]")
MAX_HEADER_CHARS = 8192

RECORDED = links_pb2.TOUCH_OUTCOME_RECORDED
NOT_FOUND = links_pb2.TOUCH_OUTCOME_NOT_FOUND
FALLBACK = links_pb2.TOUCH_OUTCOME_FALLBACK
BLOCKED = links_pb2.TOUCH_OUTCOME_BLOCKED
INVALID = links_pb2.TOUCH_OUTCOME_INVALID
# Prefetch / prerender hints (Chrome: Sec-Purpose; older: Purpose, X-Purpose; Firefox: X-Moz),
# passed on to links, which records such touches as suspicious.
PURPOSE_HEADERS = frozenset({b"sec-purpose", b"purpose", b"x-purpose", b"x-moz"})

# The classic 43-byte transparent 1x1 GIF.
GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
    b"!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)

REQUESTS = Counter("clicktrail_gateway_requests", "HTTP requests answered", ["route", "method", "status"])
REQUEST_SECONDS = Histogram(
    "clicktrail_gateway_request_seconds",
    "HTTP request handling time",
    ["route", "status"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def _json(obj: Any) -> bytes:
    return orjson.dumps(obj)


def _text_headers(ctype: bytes, body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]


JSON_CT = b"application/json"
TEXT_CT = b"text/plain; charset=utf-8"
NOT_FOUND_BODY = _json({"error": "not found"})
LINK_NOT_FOUND_BODY = _json({"error": "link not found"})
TOO_LONG_BODY = b"query string too long\n"
UNAVAILABLE_BODY = b"links service unavailable, nothing recorded; retry later\n"
NO_STORE = (b"cache-control", b"no-store")
CLICK_BASE_HEADERS = [NO_STORE, (b"content-length", b"0")]
BLOCKED_HEADERS = [NO_STORE, (b"content-type", TEXT_CT), (b"content-length", b"0")]
GIF_HEADERS = [
    (b"content-type", b"image/gif"),
    (b"content-length", str(len(GIF)).encode()),
    (b"cache-control", b"no-store, no-cache, must-revalidate"),
    (b"pragma", b"no-cache"),
    (b"expires", b"0"),
]
GET_HEAD = b"GET, HEAD"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def header_safe(value: str) -> bytes:
    """A header value with nothing but visible ASCII: CR, LF, controls, spaces
    and non-ASCII characters are percent-encoded (UTF-8)."""
    if HEADER_UNSAFE_RE.search(value) is None:
        return value.encode("ascii")
    return HEADER_UNSAFE_RE.sub(lambda m: quote(m.group(), safe=""), value).encode("ascii")


def _decode_header(raw: bytes) -> str:
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
def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        addr = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


@functools.lru_cache(maxsize=8192)
def _canonical_ip(text: str) -> str:
    """The peer address as stored: IPv4-mapped IPv6 unwrapped; kept as given when unparsable."""
    addr = _parse_ip(text) if text else None
    return str(addr) if addr is not None else text[:64]


class Gateway:
    """The ASGI application. One instance per server process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._trusted = settings.trusted_proxies
        self._max_query = settings.max_query_bytes
        self._pool: ChannelPool | None = None
        self._ingest: ChannelPool | None = None
        self._attribution: ChannelPool | None = None
        self.clicks: TouchBatcher | None = None
        self.impressions: TouchBatcher | None = None
        self._start_lock = asyncio.Lock()
        self._draining = False
        self._debug = settings.log_level.lower() == "debug"
        self._metrics: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._exact: dict[str, Callable[[Scope, _Sender, bool], Awaitable[int]]] = {
            "/healthz": self._healthz,
            "/readyz": self._readyz,
            "/metrics": self._metrics_endpoint,
            "/openapi.json": self._openapi,
        }
        self._gif_ok = GIF_HEADERS
        # Per-IP limits of the public endpoints, by path (prefix); only the enabled ones.
        touches = RateLimiter(settings.rate_limit_touches_per_ip, settings.rate_limit_touches_per_ip * BURST_S)
        limiters = {
            "/c/": touches,
            "/i/": touches,
            "/v1/events": RateLimiter(settings.rate_limit_events_per_ip, settings.rate_limit_events_per_ip * BURST_S),
            "/postback": RateLimiter(
                settings.rate_limit_postbacks_per_ip, settings.rate_limit_postbacks_per_ip * BURST_S
            ),
        }
        self._limiters = {path: limiter for path, limiter in limiters.items() if limiter.enabled}
        # Per key: /v1/events by the key id of a valid app / API key, /postback by the key id of a
        # well-formed postback token (never by the secret itself).
        self._events_per_key = RateLimiter(
            settings.rate_limit_events_per_key, settings.rate_limit_events_per_key * BURST_S, per="key"
        )
        self._postbacks_per_token = RateLimiter(
            settings.rate_limit_postbacks_per_token, settings.rate_limit_postbacks_per_token * BURST_S,
            per="postback token",
        )  # fmt: skip
        self._body_timeout_s = settings.gateway_body_timeout_s
        self._events_inflight = 0
        self._events_reading: dict[str, int] = {}  # client address (IPv6: its /64) -> bodies being read
        self._events_inflight_by_key: dict[str, int] = {}
        self._events_max = max(1, settings.gateway_events_concurrency)
        self._events_max_per_key = max(1, settings.gateway_events_concurrency_per_key)
        self._events_keys: dict[bytes, float] = {}  # sha256(key) -> valid until (monotonic)
        self._events_refused: dict[bytes, float] = {}  # sha256(key) -> refused until
        self._postback_tokens: dict[bytes, float] = {}  # sha256(token) -> taken by attribution, until
        # Sent beside a caller's key on SendEventsJson: the gateway vouches for the client address.
        self._vouch = ((GATEWAY_VOUCH_HEADER, settings.gateway_token),) if settings.gateway_token else ()
        self._console: Any = None  # the operator console (console/), created on first use
        self._refused_logs: set[asyncio.Task[None]] = set()  # LogRefusedPostback calls in flight
        self._refused_second, self._refused_count = 0, 0

    def _console_app(self) -> Any:
        if self._console is None:
            # The console runs in its own process; only the forwarding (IO) happens on this loop.
            from gateway.console_proxy import ConsoleProxy

            self._console = ConsoleProxy(self.settings)
        return self._console

    # -- lifecycle ----------------------------------------------------------

    async def startup(self) -> None:
        """Create the channels and batchers (inside the server's event loop)."""
        async with self._start_lock:
            if self._pool is not None:
                return
            s = self.settings
            # The gateway's own narrow token (it may only record touches); events and
            # postbacks are forwarded with their callers' own keys (see _forward).
            tls = channel_credentials(s)
            pool = ChannelPool(
                s.links_addr, s.gateway_channels, token=s.gateway_token, deadline_s=s.grpc_deadline_s, tls=tls
            )
            for ch in pool.channels:
                ch.get_state(try_to_connect=True)
            common: dict[str, Any] = {
                "max_items": s.gateway_batch_max,
                "delay_s": s.gateway_batch_delay_ms / 1000.0,
                "timeout_s": s.grpc_deadline_s,
                "max_inflight": max(1, s.gateway_channels),
            }
            self.clicks = TouchBatcher(
                pool,
                kind="click",
                method=f"/{LINKS_SERVICE}/RecordClicks",
                request_cls=links_pb2.RecordClicksRequest,
                response_cls=links_pb2.RecordClicksResponse,
                field="clicks",
                **common,
            )
            self.impressions = TouchBatcher(
                pool,
                kind="impression",
                method=f"/{LINKS_SERVICE}/RecordImpressions",
                request_cls=links_pb2.RecordImpressionsRequest,
                response_cls=links_pb2.RecordImpressionsResponse,
                field="impressions",
                **common,
            )
            self._ingest = ChannelPool(s.ingest_addr, s.gateway_channels, deadline_s=s.grpc_deadline_s, tls=tls)
            self._attribution = ChannelPool(
                s.attribution_addr, s.gateway_channels, deadline_s=s.grpc_deadline_s, tls=tls
            )
            self._pool = pool
            log.info("gateway_started", links=s.links_addr, ingest=s.ingest_addr, channels=len(pool.channels))

    async def shutdown(self, grace_s: float = 10.0) -> None:
        """Stop taking touches, send what waits, wait for running calls, close."""
        self._draining = True
        if self._pool is None:
            return
        for b in (self.clicks, self.impressions):
            if b is not None:
                await b.drain(grace_s)
        await self._pool.close()
        if self._ingest is not None:
            await self._ingest.close()
            self._ingest = None
        if self._attribution is not None:
            await self._attribution.close()
            self._attribution = None
        self._pool = None
        if self._console is not None:
            await self._console.close()
        log.info("gateway_stopped")

    # -- ASGI ---------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("startup_failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.shutdown()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        path: str = scope["path"]
        method: str = scope["method"]
        ua = ref = xff = b""
        rid = api_key = encoding = b""
        postback_token = content_type = purpose = b""
        for name, value in scope["headers"]:
            if name == b"user-agent":
                ua = value
            elif name == b"referer":
                ref = value
            elif name in PURPOSE_HEADERS:
                purpose = value if not purpose else purpose + b"," + value
            elif name == b"x-request-id":
                rid = value
            elif name == b"x-forwarded-for":
                xff = value if not xff else xff + b"," + value
            elif name == b"x-api-key":
                api_key = value
            elif name == b"content-encoding":
                encoding = value
            elif name == b"x-postback-token":
                postback_token = value
            elif name == b"content-type":
                content_type = value
        if rid and REQUEST_ID_RE.fullmatch(rid) is not None:
            rid_b = rid
            rid_s = rid.decode("ascii")
        else:
            rid_s = os.urandom(16).hex()
            rid_b = rid_s.encode("ascii")
        request_id_var.set(rid_s)
        sender = _Sender(send, rid_b, method == "HEAD")

        route = "other"
        status = 500
        try:
            limiter = self._limiters.get(path[:3] if path[:3] in LIMITED_PREFIXES else path) if self._limiters else None
            if limiter is not None and not limiter.allow(ip := address_key(self.client_ip(scope, xff))):
                route = "rate_limited"
                status = await _too_many_requests(sender, limiter, ip)
            elif path.startswith("/c/"):
                route = "click"
                status = await self._click(scope, sender, path[3:], method, ua, ref, xff, purpose)
            elif path.startswith("/i/"):
                route = "impression"
                status = await self._impression(scope, sender, path[3:], method, ua, ref, xff, purpose)
            elif path == "/v1/events":
                route = "events"
                status = await self._events(scope, receive, sender, method, api_key, encoding, ua, xff)
            elif path == "/postback":
                route = "postback"
                status = await self._postback(scope, receive, sender, method, postback_token, content_type, ua, xff)
            elif path == "/console" or path.startswith("/console/"):
                route = "console"
                status = await self._console_app()(scope, receive, send)
            else:
                handler = self._exact.get(path)
                if handler is None:
                    route = "unknown"
                    status = await sender.send(404, _text_headers(JSON_CT, NOT_FOUND_BODY), NOT_FOUND_BODY)
                else:
                    route = path
                    if method not in ("GET", "HEAD"):
                        status = await self._not_allowed(sender)
                    else:
                        status = await handler(scope, sender, method == "HEAD")
            if path == "/postback" and 400 <= status < 499 and not sender.forwarded:
                self._postback_refused(scope, method, postback_token, ua, xff, status, sender.answered)
        except Exception:
            log.exception("request_failed", route=route, path=path, request_id=rid_s)
            if not sender.started:
                body = b"internal error\n"
                status = await sender.send(500, _text_headers(TEXT_CT, body), body)
            else:
                status = 500
        finally:
            key = (route, method, status)
            m = self._metrics.get(key)
            if m is None:
                method_label = method if method in KNOWN_METHODS else "other"  # bounded label values
                m = self._metrics[key] = (
                    REQUESTS.labels(route, method_label, str(status)).inc,
                    REQUEST_SECONDS.labels(route, str(status)).observe,
                )
            elapsed = time.perf_counter() - start
            m[0]()
            m[1](elapsed)
            if self._debug:
                log.debug(
                    "http", route=route, method=method, status=status, ms=round(elapsed * 1000, 2), request_id=rid_s
                )

    # -- touches ------------------------------------------------------------

    def client_ip(self, scope: Scope, xff: bytes) -> str:
        client = scope.get("client")
        peer_text = client[0] if client else ""
        if not (xff and self._trusted):
            return _canonical_ip(peer_text)
        peer = _parse_ip(peer_text) if peer_text else None
        if peer is None:
            return peer_text[:64]
        if self._is_trusted(peer):
            # Walk right to left: the first address that is not a trusted proxy is the client.
            for part in reversed(xff.decode("latin-1").split(",")):
                hop = _parse_ip(part)
                if hop is None:
                    break  # garbage: believe nothing to its left
                peer = hop
                if not self._is_trusted(hop):
                    break
        return str(peer)

    def _is_trusted(self, addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(addr.version == net.version and addr in net for net in self._trusted)

    async def _ensure_started(self) -> None:
        if self._pool is None and not self._draining:
            await self.startup()

    async def _touch(
        self,
        kind: str,
        scope: Scope,
        sender: _Sender,
        slug: str,
        method: str,
        ua: bytes,
        ref: bytes,
        xff: bytes,
        purpose: bytes = b"",
    ) -> Any:
        """Validates and records one touch. Returns a TouchResult, or the HTTP
        status already answered (an int)."""
        if method != "GET" and method != "HEAD":
            return await self._not_allowed(sender)
        if SLUG_RE.fullmatch(slug) is None:
            return await sender.send(404, _text_headers(JSON_CT, LINK_NOT_FOUND_BODY), LINK_NOT_FOUND_BODY)
        query: bytes = scope["query_string"]
        if len(query) > self._max_query:
            return await sender.send(414, _text_headers(TEXT_CT, TOO_LONG_BODY), TOO_LONG_BODY)
        batcher = self.clicks if kind == "click" else self.impressions
        if batcher is None:  # a server without lifespan support: start on first use
            await self._ensure_started()
            batcher = self.clicks if kind == "click" else self.impressions
            if batcher is None:
                return await sender.send(503, _text_headers(TEXT_CT, UNAVAILABLE_BODY), UNAVAILABLE_BODY)
        for name, raw in ((b"user-agent", ua), (b"referer", ref)):
            if len(raw) > MAX_HEADER_CHARS:  # refused, never cut (links has the per-field limits)
                return await _json_error(sender, 400, f"at most {MAX_HEADER_CHARS} bytes", name.decode())
        touch = (
            slug, query, self.client_ip(scope, xff), _decode_header(ua), _decode_header(ref),
            _decode_header(purpose)[:128] if purpose else "",
        )  # fmt: skip
        try:
            return await batcher.submit(touch)
        except BatchError as err:
            # The failed batch is logged once (error) by the batcher; per request only at debug,
            # so an outage does not turn into one log line per click.
            log.debug(
                "touch_unrecorded",
                slug=slug,
                code=err.code.name if err.code else None,
                detail=err.detail,
                request_id=request_id_var.get(),
            )
            if err.code == grpc.StatusCode.INVALID_ARGUMENT:
                body = b"bad request: " + header_safe(err.detail)[:300] + b"\n"
                return await sender.send(400, _text_headers(TEXT_CT, body), body)
            return await sender.send(503, _text_headers(TEXT_CT, UNAVAILABLE_BODY), UNAVAILABLE_BODY)

    async def _click(
        self, scope: Scope, sender: _Sender, slug: str, method: str, ua: bytes, ref: bytes, xff: bytes,
        purpose: bytes = b"",
    ) -> int:  # fmt: skip
        result = await self._touch("click", scope, sender, slug, method, ua, ref, xff, purpose)
        if isinstance(result, int):
            return result
        outcome = result.outcome
        location = result.location
        if location and (outcome == RECORDED or outcome == FALLBACK):
            return await sender.send(302, [(b"location", header_safe(location)), *CLICK_BASE_HEADERS], b"")
        if outcome == BLOCKED:
            # Invalid traffic on a campaign that blocks it: recorded, but no redirect.
            return await sender.send(200, BLOCKED_HEADERS, b"")
        if outcome == INVALID:
            return await _json_error(sender, 400, result.error, result.field)
        if outcome == NOT_FOUND or outcome == FALLBACK:
            return await sender.send(404, _text_headers(JSON_CT, LINK_NOT_FOUND_BODY), LINK_NOT_FOUND_BODY)
        log.error("bad_touch_result", slug=slug, outcome=outcome, request_id=request_id_var.get())
        return await sender.send(503, _text_headers(TEXT_CT, UNAVAILABLE_BODY), UNAVAILABLE_BODY)

    async def _impression(
        self, scope: Scope, sender: _Sender, slug: str, method: str, ua: bytes, ref: bytes, xff: bytes,
        purpose: bytes = b"",
    ) -> int:  # fmt: skip
        result = await self._touch("impression", scope, sender, slug, method, ua, ref, xff, purpose)
        if isinstance(result, int):
            return result
        outcome = result.outcome
        # A paused campaign's pixel still answers (nothing recorded): no broken image on the page;
        # so does a blocked (invalid) impression, which is recorded.
        if outcome == RECORDED or outcome == FALLBACK or outcome == BLOCKED:
            return await sender.send(200, self._gif_ok, GIF)
        if outcome == INVALID:
            return await _json_error(sender, 400, result.error, result.field)
        if outcome == NOT_FOUND:
            return await sender.send(404, _text_headers(JSON_CT, LINK_NOT_FOUND_BODY), LINK_NOT_FOUND_BODY)
        log.error("bad_touch_result", slug=slug, outcome=outcome, request_id=request_id_var.get())
        return await sender.send(503, _text_headers(TEXT_CT, UNAVAILABLE_BODY), UNAVAILABLE_BODY)

    async def _forward(
        self,
        sender: _Sender,
        pool: ChannelPool,
        method: str,
        request: Any,
        response_cls: Any,
        secret: str,
        errors: dict[grpc.StatusCode, tuple[int, str]],
        unavailable: str,
        vouch: bool = False,
    ) -> Any:
        """Call a service for a public request, authenticated by the caller's own
        secret (``vouch``: with the gateway's token beside it, so the service believes
        the client address and User-Agent the request names). On a gRPC error, answer
        the mapped HTTP status (503 when the service cannot be reached) and return
        that status instead of a reply."""
        if not (secret.isascii() and secret.isprintable()):  # a NUL, %-decoded bytes: no header can carry it
            status, text = errors.get(grpc.StatusCode.UNAUTHENTICATED, (401, "invalid key"))
            return await _json_error(sender, status, text)
        sender.forwarded = True
        try:
            return await pool.next().unary_unary(
                method,
                request_serializer=type(request).SerializeToString,
                response_deserializer=response_cls.FromString,
            )(request, metadata=(("authorization", f"Bearer {secret}"), *(self._vouch if vouch else ())))
        except grpc.aio.AioRpcError as err:
            status, text = errors.get(err.code(), (503, ""))
            if status == 503:
                log.warning("downstream_unavailable", method=method, code=err.code().name, detail=err.details())
                text = unavailable
            return await _json_error(sender, status, text or err.details() or "", _first_field(err))

    # -- events ---------------------------------------------------------------

    async def _events(
        self, scope: Scope, receive: Receive, sender: _Sender, method: str, api_key: bytes, encoding: bytes,
        ua: bytes, xff: bytes,
    ) -> int:  # fmt: skip
        if method != "POST":
            body = _json({"error": "method not allowed: POST a JSON body"})
            return await sender.send(405, [*_text_headers(JSON_CT, body), (b"allow", b"POST")], body)
        # The key is checked before any of the body is read (a refusal is not kept waiting
        # for it; with Expect: 100-continue the client is never even asked for it).
        key = api_key.decode("latin-1").strip()
        if not key:
            return await _json_error(sender, 401, "missing X-Api-Key: send the app key (`clicktrail app create`)")
        enc = encoding.strip().lower()
        if enc not in (b"", b"identity", b"gzip"):
            return await _json_error(sender, 415, "Content-Encoding must be gzip or identity")
        match = EVENTS_KEY_RE.fullmatch(key)
        if match is None:
            return await _json_error(sender, 401, EVENTS_ERRORS[grpc.StatusCode.UNAUTHENTICATED][1])
        await self._ensure_started()
        if self._ingest is None:
            return await _json_error(sender, 503, "ingest service unavailable; resend later (events are idempotent)")
        refused = await self._check_events_key(sender, self._ingest, key)
        if refused is not None:
            return refused
        key_id = match.group(1)
        if not self._events_per_key.allow(key_id):
            return await _too_many_requests(sender, self._events_per_key, key_id)
        # The body first, outside the in-flight caps: a client that stalls its upload holds
        # only its own address's reading slots, never the slots of other tenants' batches.
        addr = address_key(self.client_ip(scope, xff))
        reading = self._events_reading.get(addr, 0)
        if reading >= MAX_EVENTS_READS_PER_ADDRESS:
            return await _json_error(
                sender, 503, f"at most {MAX_EVENTS_READS_PER_ADDRESS} event batches uploading at once from one address;"
                " resend shortly (events are idempotent by uuid)", headers=[(b"retry-after", b"1")],
            )  # fmt: skip
        self._events_reading[addr] = reading + 1
        try:
            raw = await self._events_read(receive, sender)
        finally:
            left = self._events_reading.pop(addr) - 1
            if left:
                self._events_reading[addr] = left
        if isinstance(raw, int):
            return raw
        in_flight = self._events_inflight_by_key.get(key_id, 0)
        if self._events_inflight >= self._events_max or in_flight >= self._events_max_per_key:
            return await _json_error(
                sender, 503, "too many event batches in flight; resend shortly (events are idempotent by uuid)",
                headers=[(b"retry-after", b"1")],
            )  # fmt: skip
        self._events_inflight += 1
        self._events_inflight_by_key[key_id] = in_flight + 1
        try:
            return await self._events_forward(scope, sender, raw, key, enc, ua, xff, self._ingest)
        finally:
            self._events_inflight -= 1
            left = self._events_inflight_by_key.pop(key_id) - 1
            if left:
                self._events_inflight_by_key[key_id] = left

    async def _check_events_key(self, sender: _Sender, ingest: ChannelPool, key: str) -> int | None:
        """None when ingest says (or said in the last few seconds) that this key may send
        events; else the HTTP status already answered (401, 403, 503)."""
        digest = hashlib.sha256(key.encode("latin-1")).digest()
        now = time.monotonic()
        hit = self._events_keys.get(digest)
        if hit is not None and hit > now:
            return None
        refused_until = self._events_refused.get(digest)
        if refused_until is not None and refused_until > now:  # a forged key costs ingest one look-up
            return await _json_error(sender, 401, EVENTS_ERRORS[grpc.StatusCode.UNAUTHENTICATED][1])
        reply = await self._forward(
            sender, ingest, f"/{INGEST_SERVICE}/CheckEventsKey", ingest_pb2.CheckEventsKeyRequest(),
            ingest_pb2.CheckEventsKeyResponse, key, EVENTS_ERRORS,
            "ingest service unavailable; resend later (events are idempotent by uuid)",
        )  # fmt: skip
        if isinstance(reply, int):
            if reply == 401:
                if len(self._events_refused) >= KEY_CACHE_MAX:
                    self._events_refused.clear()
                self._events_refused[digest] = now + KEY_CACHE_TTL_S
            return reply
        if len(self._events_keys) >= KEY_CACHE_MAX:
            self._events_keys.clear()
        self._events_keys[digest] = now + KEY_CACHE_TTL_S
        return None

    async def _events_read(self, receive: Receive, sender: _Sender) -> bytes | int:
        """The body, or the HTTP status already answered."""
        try:
            raw = await read_body(receive, MAX_EVENTS_BODY, self._body_timeout_s)
        except BodyTooLarge:
            return await _json_error(sender, 413, f"body larger than {MAX_EVENTS_BODY // (1024 * 1024)} MiB")
        except TimeoutError:
            return await _body_timeout(sender, self._body_timeout_s)
        return 499 if raw is None else raw

    async def _events_forward(
        self, scope: Scope, sender: _Sender, raw: bytes, key: str, enc: bytes, ua: bytes, xff: bytes,
        ingest: ChannelPool,
    ) -> int:  # fmt: skip
        request = ingest_pb2.SendEventsJsonRequest(
            body=raw, gzip=enc == b"gzip", client_ip=self.client_ip(scope, xff),
            client_user_agent=_decode_header(ua),
        )  # fmt: skip
        reply = await self._forward(
            sender, ingest, f"/{INGEST_SERVICE}/SendEventsJson", request,
            ingest_pb2.SendEventsJsonResponse, key, EVENTS_ERRORS,
            "ingest service unavailable; resend later (events are idempotent by uuid)", vouch=True,
        )  # fmt: skip
        if isinstance(reply, int):
            return reply
        body = _json({
            "accepted": reply.accepted, "duplicates": reply.duplicates, "rejected": reply.rejected,
            "results": [
                {"index": r.index, "uuid": r.uuid, "status": EVENT_STATUS.get(r.status, "rejected"),
                 **({"field": r.field, "reason": r.reason} if r.field or r.reason else {})}
                for r in reply.results
            ],
        })  # fmt: skip
        return await sender.send(202, [*_text_headers(JSON_CT, body), NO_STORE], body)

    # -- inbound postbacks ----------------------------------------------------

    async def _postback(
        self, scope: Scope, receive: Receive, sender: _Sender, method: str, token_header: bytes,
        content_type: bytes, ua: bytes, xff: bytes,
    ) -> int:  # fmt: skip
        """GET or POST /postback: parameters from the query string, and for POST
        also a form or JSON body; the token as ``token`` or X-Postback-Token."""
        if method not in ("GET", "POST"):
            body = _json({"error": "method not allowed: GET or POST"})
            return await sender.send(405, [*_text_headers(JSON_CT, body), (b"allow", b"GET, POST")], body)
        query: bytes = scope["query_string"]
        if len(query) > self._max_query:
            return await _json_error(sender, 414, f"query string longer than {self._max_query} bytes")
        params: dict[str, str] = {}
        for key, value in parse_qsl(query.decode("utf-8", "replace"), keep_blank_values=True):
            params.setdefault(key.strip().lower(), value)
        if method == "POST":
            try:
                raw = await read_body(receive, MAX_POSTBACK_BODY, self._body_timeout_s)
            except BodyTooLarge:
                return await _json_error(sender, 413, f"body larger than {MAX_POSTBACK_BODY // 1024} KiB")
            except TimeoutError:
                return await _body_timeout(sender, self._body_timeout_s)
            if raw is None:
                return 499
            ctype = content_type.split(b";", 1)[0].strip().lower()
            if raw.strip():
                if ctype == b"application/json":
                    try:
                        doc = exactjson.exact(loads_json(raw), raw)  # a payout's digits as sent, no float
                    except ValueError:  # orjson's and exactjson's decode errors
                        return await _json_error(sender, 400, "the body is not valid JSON", "body")
                    if not isinstance(doc, dict):
                        return await _json_error(sender, 400, "the JSON body must be an object", "body")
                    for key, value in doc.items():
                        if isinstance(value, dict | list):
                            return await _json_error(sender, 400, "must be a string or a number", str(key)[:64])
                        text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
                        # A lone surrogate ("\ud800") cannot travel in protobuf: U+FFFD (libs/text.py).
                        params[clean_text(str(key)).strip().lower()] = clean_text(text)
                elif ctype in (b"application/x-www-form-urlencoded", b""):
                    for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
                        params[key.strip().lower()] = value
                else:
                    return await _json_error(
                        sender, 415, "send the parameters in the query string, a form body or a JSON object"
                    )
        token = (params.pop("token", "") or token_header.decode("latin-1")).strip()
        if not token:
            return await _json_error(sender, 401, "missing postback token: send token=... or X-Postback-Token")
        # Only a token attribution recently took is charged to its bucket: a forged secret under a
        # known key id must not spend the real token's budget (the per-address limit covers forgers).
        well_formed = POSTBACK_TOKEN_RE.fullmatch(token)
        digest = hashlib.sha256(token.encode("utf-8", "replace")).digest()
        now = time.monotonic()
        if (
            well_formed is not None
            and self._postback_tokens.get(digest, 0.0) > now
            and not self._postbacks_per_token.allow(token_id := well_formed.group(1))
        ):
            return await _too_many_requests(sender, self._postbacks_per_token, token_id)
        await self._ensure_started()
        if self._attribution is None:
            return await _json_error(sender, 503, "attribution service unavailable; resend the postback later")
        request = attribution_pb2.RecordPostbackRequest(
            params={k: v for k, v in params.items() if k}, method=method,  # whole: attribution refuses, never cuts
            client_ip=self.client_ip(scope, xff), user_agent=_decode_header(ua),
        )  # fmt: skip
        reply = await self._forward(
            sender, self._attribution, f"/{ATTRIBUTION_SERVICE}/RecordPostback", request,
            attribution_pb2.RecordPostbackResponse, token, POSTBACK_ERRORS,
            "attribution service unavailable; resend the postback later",
        )  # fmt: skip
        if reply != 401:  # the token is good (the postback itself may still be refused)
            if len(self._postback_tokens) >= KEY_CACHE_MAX:
                self._postback_tokens.clear()
            self._postback_tokens[digest] = now + TOKEN_KNOWN_S
        if isinstance(reply, int):
            return reply
        c = reply.conversion
        body = _json({
            "conversion_id": c.conversion_id, "status": POSTBACK_STATUS.get(c.status, ""),
            "previous_status": POSTBACK_STATUS.get(reply.previous_status, ""), "created": reply.created,
            "changed": reply.changed, "click_id": c.click_id, "campaign_id": c.campaign_id, "goal": c.goal,
            "payout": c.payout, "currency": c.currency, "txid": c.txid, "postback_id": reply.postback_id,
        })  # fmt: skip
        return await sender.send(200, [*_text_headers(JSON_CT, body), NO_STORE], body)

    def _postback_refused(
        self, scope: Scope, method: str, token_header: bytes, ua: bytes, xff: bytes, status: int, answer: bytes
    ) -> None:
        """A postback this gateway refused itself (bad method, too large, malformed, rate
        limited...): a log line here, and a row in the account's inbound postback log when
        the query string or X-Postback-Token names a token (the query's parameters; a
        POST body is not kept). Never delays or changes the answer."""
        query: bytes = scope["query_string"][: self._max_query]  # a 414's params: the first bytes only
        try:
            doc = orjson.loads(answer) if answer[:1] == b"{" else {}
        except orjson.JSONDecodeError:
            doc = {}
        error, field = str(doc.get("error", "")), str(doc.get("field", ""))
        found = POSTBACK_TOKEN_PARAM.search(query)
        token = (unquote(found.group(1).decode("latin-1")) if found else token_header.decode("latin-1")).strip()
        ip = self.client_ip(scope, xff)
        now = int(time.monotonic())
        if now != self._refused_second:
            self._refused_second, self._refused_count = now, 0
        # A token no header can carry (a NUL, %-decoded bytes) is one attribution would refuse anyway.
        sent = token.isascii() and token.isprintable() and status != 401 and self._attribution is not None
        sent = sent and bool(token) and len(self._refused_logs) < REFUSED_LOGS_INFLIGHT
        sent = sent and self._refused_count < REFUSED_LOGS_PER_S
        log.info("postback_refused", status=status, error=error, field=field, client_ip=ip, account_log=sent)
        if not sent:
            return
        self._refused_count += 1
        params: dict[str, str] = {}
        for key, value in parse_qsl(query.decode("utf-8", "replace"), keep_blank_values=True):
            params.setdefault(key.strip().lower(), value)
        params.pop("token", None)
        request = attribution_pb2.LogRefusedPostbackRequest(
            params={k: v for k, v in params.items() if k}, method=method[:16], client_ip=ip,
            user_agent=_decode_header(ua), http_status=status, error=error, field=field,
        )  # fmt: skip
        task = asyncio.get_running_loop().create_task(self._log_refused(request, token))
        self._refused_logs.add(task)
        task.add_done_callback(self._refused_logs.discard)

    async def _log_refused(self, request: Any, token: str) -> None:
        pool = self._attribution
        if pool is None:
            return
        try:
            await pool.next().unary_unary(
                f"/{ATTRIBUTION_SERVICE}/LogRefusedPostback",
                request_serializer=attribution_pb2.LogRefusedPostbackRequest.SerializeToString,
                response_deserializer=attribution_pb2.LogRefusedPostbackResponse.FromString,
            )(request, metadata=(("authorization", f"Bearer {token}"),), timeout=self.settings.grpc_deadline_s)
        except grpc.aio.AioRpcError as err:  # a wrong token, attribution down: this process's log has it
            log.info("postback_refusal_not_logged", code=err.code().name, detail=err.details())

    # -- probes and documents -------------------------------------------------

    async def _not_allowed(self, sender: _Sender) -> int:
        body = _json({"error": "method not allowed"})
        return await sender.send(405, [*_text_headers(JSON_CT, body), (b"allow", GET_HEAD)], body)

    async def _healthz(self, scope: Scope, sender: _Sender, head: bool) -> int:
        body = b'{"status":"ok"}'
        return await sender.send(200, _text_headers(JSON_CT, body), body)

    async def _readyz(self, scope: Scope, sender: _Sender, head: bool) -> int:
        await self._ensure_started()
        checks: dict[str, str] = {}
        if self._draining or self._pool is None or self._ingest is None or self._attribution is None:
            checks["gateway"] = "draining"
        else:
            links, ingest, attribution = await asyncio.gather(
                self._check(self._pool, LINKS_SERVICE), self._check(self._ingest, INGEST_SERVICE),
                self._check(self._attribution, ATTRIBUTION_SERVICE),
            )  # fmt: skip
            checks["links"], checks["ingest"], checks["attribution"] = links, ingest, attribution
        ok = all(v == "ok" for v in checks.values())
        body = _json({"status": "ok" if ok else "unavailable", "checks": checks})
        headers = [*_text_headers(JSON_CT, body), NO_STORE]
        return await sender.send(200 if ok else 503, headers, body)

    async def _check(self, pool: ChannelPool, service: str) -> str:
        stub = health_pb2_grpc.HealthStub(pool.next())
        try:
            reply = await stub.Check(
                health_pb2.HealthCheckRequest(service=service),
                timeout=min(1.0, self.settings.grpc_deadline_s),
            )
        except grpc.aio.AioRpcError as err:
            return f"down: {err.code().name}"
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            return f"down: {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}"
        return "ok"

    async def _metrics_endpoint(self, scope: Scope, sender: _Sender, head: bool) -> int:
        body = generate_latest()
        return await sender.send(200, _text_headers(CONTENT_TYPE_LATEST.encode(), body), body)

    async def _openapi(self, scope: Scope, sender: _Sender, head: bool) -> int:
        return await sender.send(200, _text_headers(JSON_CT, DOCUMENT_BYTES), DOCUMENT_BYTES)


async def _body_timeout(sender: _Sender, timeout_s: float) -> int:
    sender.close = True  # the rest of the body is not waited for
    return await _json_error(sender, 408, f"the request body did not arrive within {timeout_s:g} s")


def _first_field(err: grpc.aio.AioRpcError) -> str:
    """The first field violation of a rich gRPC error, if it carries one."""
    status = rpc_status.from_call(err)
    for detail in status.details if status else ():
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad) and bad.field_violations:
            return str(bad.field_violations[0].field)
    return ""


async def _too_many_requests(sender: _Sender, limiter: RateLimiter, key: str) -> int:
    body = _json({"error": f"rate limit exceeded: at most {limiter.limit_text}; retry later"})
    headers = [*_text_headers(JSON_CT, body), (b"retry-after", str(limiter.retry_after(key)).encode())]
    return await sender.send(429, headers, body)


async def _json_error(
    sender: _Sender, status: int, message: str, field: str = "", headers: list[tuple[bytes, bytes]] | None = None
) -> int:
    # Both may echo the caller's text: what JSON cannot carry (a lone surrogate) is cleaned out.
    body = _json({"error": clean_text(message), **({"field": clean_text(field)} if field else {})})
    return await sender.send(status, [*_text_headers(JSON_CT, body), *(headers or ())], body)


class _Sender:
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


def create_app(settings: Settings | None = None) -> Gateway:
    """The ASGI app factory (``uvicorn --factory gateway.app:create_app``)."""
    return Gateway(settings or load_settings())
