"""The HTTP gateway: a small raw-ASGI app (no framework on the hot path).

Routes
  GET|HEAD /c/{slug}    record a click, 302 (or the link's 301/307) to the link's rendered destination
  POST /c/{slug}        a beacon / parallel-tracking click: recorded, 303 to the same destination
  GET|HEAD /i/{slug}    record an impression, 200 with a 1x1 GIF
  GET|HEAD /lp/click    a lander's click-through (click_id / cid, or the ctc cookie): 302 to the offer
  GET|HEAD /qr/{slug}.svg|.png   the link's QR code (public, cacheable for a minute)
  POST /v1/events       SDK event batch (X-Api-Key app key), forwarded to ingest
  GET|HEAD /v1/skan/schema   the app's SKAN conversion-value schema for its SDK (X-Api-Key app key)
  GET|HEAD /.well-known/apple-app-site-association, /.well-known/assetlinks.json   per Host (deeplink_routes)
  POST /v1/deeplink     deferred deep link (X-Api-Key app key), claimed from links once per click
  GET|POST /postback    inbound S2S conversion (postback token), forwarded to attribution
  POST /.well-known/skadnetwork/report-attribution/, /.well-known/appattribution/report-attribution/
                        Apple's SKAdNetwork / AdAttributionKit developer copies; POST /skan/postback a
                        network's forwarded copy (postback token): verified and stored by attribution
  GET|HEAD /healthz     liveness
  GET|HEAD /readyz      readiness: links, ingest and attribution answer grpc.health.v1 Check
  GET|HEAD /metrics     Prometheus
  GET|HEAD /openapi.json
  /console/...          the operator web console: forwarded to its own process (python -m console)

Clicks and impressions go through a ``TouchBatcher`` each, which coalesces the
concurrent requests into one RecordClicks / RecordImpressions call over a pool
of gRPC channels. The redirect target comes only from the RPC result.

This module builds the app and routes each request (one pass over its
headers); the routes live by concern in touch_routes (/c, /i), lander_routes
(/lp/click), qr_routes (/qr), event_routes (/v1/events), postback_routes
(/postback) and health (probes, documents), on
the shared state and helpers of base; responses has the one way to answer.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from clicktrail.links.v1 import affiliate_pb2, links_pb2
from prometheus_client import Counter, Histogram

from gateway.base import LINKS_SERVICE, log
from gateway.batcher import TouchBatcher, add_lander_click
from gateway.deeplink_routes import DeepLinkRoutes
from gateway.domain_routes import DomainRoutes
from gateway.event_routes import EventRoutes
from gateway.health import Probes
from gateway.lander_routes import LanderRoutes
from gateway.postback_routes import PostbackRoutes
from gateway.qr_routes import QrRoutes
from gateway.ratelimit import RateLimiter, address_key
from gateway.responses import (
    JSON_CT,
    KNOWN_METHODS,
    NOT_FOUND_BODY,
    TEXT_CT,
    Receive,
    Scope,
    Send,
    Sender,
    text_headers,
    too_many_requests,
)
from gateway.routes import BY_LABEL
from gateway.skan_routes import SKAN_PATHS, SkanRoutes
from gateway.skan_schema_routes import SkanSchemaRoutes
from gateway.touch_routes import PURPOSE_HEADERS, TouchRoutes
from libs.auth import GATEWAY_VOUCH_HEADER
from libs.clients import AffiliateClient, AttributionClient, IngestClient, LinksClient
from libs.config import GatewaySettings
from libs.grpc_interceptors import request_id_var

# What _http dispatches, from the one route table (gateway/routes.py), which also makes /openapi.json.
CLICK = BY_LABEL["click"].prefix or ""  # "/c/"
IMPRESSION = BY_LABEL["impression"].prefix or ""  # "/i/"
EVENTS = BY_LABEL["events"].path
POSTBACK = BY_LABEL["postback"].path
POSTBACK_BY_PARTNER = BY_LABEL["postback_partner"].prefix or ""  # "/postback/"
LANDER_CLICK = BY_LABEL["lander_click"].path
QR = BY_LABEL["qr"].prefix or ""  # "/qr/"
PROBES = {"/healthz": "_healthz", "/readyz": "_readyz", "/metrics": "_metrics_endpoint", "/openapi.json": "_openapi"}
DOMAIN_ALLOWED = BY_LABEL["domain_allowed"].path
SKAN_SCHEMA = BY_LABEL["skan_schema"].path
SKAN = tuple(BY_LABEL[label].path for label in ("skan_copy", "aak_copy", "skan_postback"))
ASSOCIATIONS = (BY_LABEL["aasa"].path, BY_LABEL["assetlinks"].path)
DEEPLINK = BY_LABEL["deeplink"].path
SERVED = (
    CLICK, IMPRESSION, EVENTS, POSTBACK, POSTBACK_BY_PARTNER, LANDER_CLICK, QR, DOMAIN_ALLOWED, *SKAN,
    *ASSOCIATIONS, DEEPLINK,
    SKAN_SCHEMA, *(BY_LABEL[label].path for label in PROBES),
)  # fmt: skip
AFFILIATE_SERVICE = "clicktrail.links.v1.AffiliateService"
CONSOLE = "/console"  # the operator console's own site, forwarded to its process (not the public API)
# Rate limits: paths limited by prefix, and the burst allowed, in seconds of the rate.
LIMITED_PREFIXES = (CLICK, IMPRESSION)
# Paths limited by another path's limiter: a lander click-through counts as the visitor's touches.
LIMITED_AS = {LANDER_CLICK: CLICK, DEEPLINK: EVENTS}  # a deferred deep link: an SDK call like events
BURST_S = 2.0
REQUEST_ID_RE = re.compile(rb"[A-Za-z0-9._:/+=-]{1,128}")

REQUESTS = Counter("clicktrail_gateway_requests", "HTTP requests answered", ["route", "method", "status"])
REQUEST_SECONDS = Histogram(
    "clicktrail_gateway_request_seconds",
    "HTTP request handling time",
    ["route", "status"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class Gateway(
    TouchRoutes, LanderRoutes, QrRoutes, DomainRoutes, EventRoutes, PostbackRoutes, DeepLinkRoutes,
    SkanSchemaRoutes, SkanRoutes, Probes,
):
    """The ASGI application. One instance per server process."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self._trusted = settings.trusted_proxies
        self._max_query = settings.max_query_bytes
        self._links: LinksClient | None = None
        self._affiliate: AffiliateClient | None = None  # the same client as _links (one process serves both)
        self._ingest: IngestClient | None = None
        self._attribution: AttributionClient | None = None
        self.clicks: TouchBatcher | None = None
        self.impressions: TouchBatcher | None = None
        self.lander_clicks: TouchBatcher | None = None
        self._start_lock = asyncio.Lock()
        self._draining = False
        self._debug = settings.log_level.lower() == "debug"
        self._metrics: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._exact: dict[str, Callable[[Scope, Sender, bool], Awaitable[int]]] = {
            BY_LABEL[label].path: getattr(self, handler) for label, handler in PROBES.items()
        }
        # Per-IP limits of the public endpoints, by path (prefix); only the enabled ones.
        touches = RateLimiter(settings.rate_limit_touches_per_ip, settings.rate_limit_touches_per_ip * BURST_S)
        limiters = {
            CLICK: touches,
            IMPRESSION: touches,
            EVENTS: RateLimiter(settings.rate_limit_events_per_ip, settings.rate_limit_events_per_ip * BURST_S),
            POSTBACK: RateLimiter(settings.rate_limit_postbacks_per_ip, settings.rate_limit_postbacks_per_ip * BURST_S),
        }
        self._limiters = {path: limiter for path, limiter in limiters.items() if limiter.enabled}
        self._body_timeout_s = settings.gateway_body_timeout_s
        # Sent beside a caller's key on SendEventsJson: the gateway vouches for the client address.
        self._vouch = ((GATEWAY_VOUCH_HEADER, settings.gateway_token),) if settings.gateway_token else ()
        self._console: Any = None  # the operator console (console/), created on first use
        self._init_events(settings, BURST_S)
        self._init_postbacks(settings, BURST_S)
        self._init_qr()
        self._init_domains()
        self._init_skan_schema()
        self._init_deeplinks()
        self._init_skan()

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
            if self._links is not None:
                return
            s = self.settings
            # The gateway's own narrow token (it may only record touches, lander clicks and
            # read QR codes by slug); events and postbacks are forwarded with their callers'
            # own keys (see _forward). One client: AffiliateService is served by links too.
            links = AffiliateClient.connect(s, token=s.gateway_token, channels=s.gateway_channels)
            for ch in links.channels:
                ch.get_state(try_to_connect=True)
            common: dict[str, Any] = {
                "max_items": s.gateway_batch_max,
                "delay_s": s.gateway_batch_delay_ms / 1000.0,
                "timeout_s": s.grpc_deadline_s,
                "max_inflight": max(1, s.gateway_channels),
            }
            self.clicks = TouchBatcher(
                links,
                kind="click",
                method=f"/{LINKS_SERVICE}/RecordClicks",
                request_cls=links_pb2.RecordClicksRequest,
                response_cls=links_pb2.RecordClicksResponse,
                field="clicks",
                **common,
            )
            self.impressions = TouchBatcher(
                links,
                kind="impression",
                method=f"/{LINKS_SERVICE}/RecordImpressions",
                request_cls=links_pb2.RecordImpressionsRequest,
                response_cls=links_pb2.RecordImpressionsResponse,
                field="impressions",
                **common,
            )
            self.lander_clicks = TouchBatcher(
                links,
                kind="lander_click",
                method=f"/{AFFILIATE_SERVICE}/RecordLanderClicks",
                request_cls=affiliate_pb2.RecordLanderClicksRequest,
                response_cls=affiliate_pb2.RecordLanderClicksResponse,
                field="clicks",
                fill=add_lander_click,
                **common,
            )
            self._ingest = IngestClient.connect(s, channels=s.gateway_channels)
            self._attribution = AttributionClient.connect(s, channels=s.gateway_channels)
            self._start_skan(s.grpc_deadline_s)
            self._affiliate = links
            self._links = links
            log.info("gateway_started", links=s.links_addr, ingest=s.ingest_addr, channels=len(links.channels))

    async def shutdown(self, grace_s: float = 10.0) -> None:
        """Stop taking touches, send what waits, wait for running calls, close."""
        self._draining = True
        if self._links is None:
            return
        for b in (self.clicks, self.impressions, self.lander_clicks):
            if b is not None:
                await b.drain(grace_s)
        await self._stop_skan(grace_s)
        await self._links.close()
        self._affiliate = None
        if self._ingest is not None:
            await self._ingest.close()
            self._ingest = None
        if self._attribution is not None:
            await self._attribution.close()
            self._attribution = None
        self._links = None
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
        host = lang = cookie = fwd_host = fwd_proto = b""
        for name, value in scope["headers"]:
            if name == b"user-agent":
                ua = value
            elif name == b"host":
                host = value
            elif name == b"referer":
                ref = value
            elif name == b"cookie":  # HTTP/2 may split it in several fields: joined as RFC 9113 says
                cookie = value if not cookie else cookie + b"; " + value
            elif name == b"accept-language":
                lang = value
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
            elif name == b"x-forwarded-host":
                fwd_host = value if not fwd_host else fwd_host + b"," + value
            elif name == b"x-forwarded-proto":
                fwd_proto = value if not fwd_proto else fwd_proto + b"," + value
        if rid and REQUEST_ID_RE.fullmatch(rid) is not None:
            rid_b = rid
            rid_s = rid.decode("ascii")
        else:
            rid_s = os.urandom(16).hex()
            rid_b = rid_s.encode("ascii")
        request_id_var.set(rid_s)
        sender = Sender(send, rid_b, method == "HEAD")

        route = "other"
        status = 500
        try:
            limiter = self._limiters.get(_limit_key(path)) if self._limiters else None
            if limiter is not None and not limiter.allow(ip := address_key(self.client_ip(scope, xff))):
                route = "rate_limited"
                status = await too_many_requests(sender, limiter, ip)
            elif path.startswith(CLICK):
                route = "click"
                status = await self._click(
                    scope, receive, sender, path[3:], method, ua, ref, xff, purpose, host, lang, cookie, fwd_host,
                    fwd_proto,
                )  # fmt: skip
            elif path.startswith(IMPRESSION):
                route = "impression"
                status = await self._impression(
                    scope, sender, path[3:], method, ua, ref, xff, purpose, host, lang, cookie, fwd_host
                )
            elif path == LANDER_CLICK:
                route = "lander_click"
                status = await self._lander_click(scope, sender, method, ua, xff, host, cookie, fwd_host, fwd_proto)
            elif path.startswith(QR):
                route = "qr"
                status = await self._qr(scope, sender, path[4:], method, host, fwd_host)
            elif path == DOMAIN_ALLOWED:
                route = "domain_allowed"
                status = await self._domain_allowed(scope, sender, method)
            elif path == EVENTS:
                route = "events"
                status = await self._events(scope, receive, sender, method, api_key, encoding, ua, xff)
            elif path == POSTBACK or path.startswith(POSTBACK_BY_PARTNER):
                route = "postback"
                status = await self._postback(scope, receive, sender, method, postback_token, content_type, ua, xff)
            elif path in SKAN_PATHS:  # SKAdNetwork / AdAttributionKit (the copies' paths with or without "/")
                route = "skan"
                status = await self._skan(scope, receive, sender, method, host, fwd_host, postback_token)
            elif path in ASSOCIATIONS:
                route = BY_LABEL["aasa"].label if path == ASSOCIATIONS[0] else BY_LABEL["assetlinks"].label
                status = await self._association(scope, sender, method, path, host, fwd_host)
            elif path == DEEPLINK:
                route = "deeplink"
                status = await self._deeplink(scope, receive, sender, method, api_key, ua, xff)
            elif path == SKAN_SCHEMA:
                route = "skan_schema"
                status = await self._skan_schema(scope, sender, method, api_key)
            elif path == CONSOLE or path.startswith("/console/"):
                route = "console"
                status = await self._console_app()(scope, receive, send)
            else:
                handler = self._exact.get(path)
                if path == "/":  # a custom domain's root (Domain.root_url); not a route of the API
                    route = "root"
                    status = await self._domain_root(scope, sender, method, host, fwd_host)
                elif handler is None:
                    route = "unknown"
                    status = await sender.send(404, text_headers(JSON_CT, NOT_FOUND_BODY), NOT_FOUND_BODY)
                else:
                    route = path
                    if method not in ("GET", "HEAD"):
                        status = await self._not_allowed(sender)
                    else:
                        status = await handler(scope, sender, method == "HEAD")
            is_postback = path == POSTBACK or path.startswith(POSTBACK_BY_PARTNER)
            if is_postback and 400 <= status < 499 and not sender.forwarded:
                self._postback_refused(scope, method, postback_token, ua, xff, status, sender.answered)
        except Exception:
            log.exception("request_failed", route=route, path=path, request_id=rid_s)
            if not sender.started:
                body = b"internal error\n"
                status = await sender.send(500, text_headers(TEXT_CT, body), body)
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


def _limit_key(path: str) -> str:
    """The path of the limiter a request counts against (by prefix, an alias, or itself)."""
    if path[:3] in LIMITED_PREFIXES:
        return path[:3]
    if path.startswith(POSTBACK_BY_PARTNER):
        return POSTBACK
    return LIMITED_AS.get(path, path)


def create_app(settings: GatewaySettings | None = None) -> Gateway:
    """The ASGI app factory (``uvicorn --factory gateway.app:create_app``)."""
    return Gateway(settings or GatewaySettings.load())
