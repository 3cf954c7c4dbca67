"""GET|HEAD /c/{slug} (a click: 302 to the link's rendered destination) and
/i/{slug} (an impression: a 1x1 GIF): the hot path. Raw ASGI, no framework:
each request is parsed once (gateway/app.py), handed to a ``TouchBatcher``
(coalesced into one RecordClicks / RecordImpressions call) and answered from
the RPC's result only.

Every touch carries its Host (custom domains: links decides which links a host
serves), Accept-Language (the flow's language filter) and the Clicktrail
cookies (names starting "ct": the flow's returning visitor); the answer sets
the cookies links returns and uses the link's redirect status (301/302/307).
A request without a Cookie header costs no cookie work.

POST /c/{slug} is a beacon (navigator.sendBeacon, or an ad platform's parallel
tracking): the click is recorded as for a GET; the body is read (capped) and
ignored; the answer is 303 See Other to the same destination, so a client that
follows the chain (beacons do: redirect mode "follow") fetches it with GET and
never re-sends the body, and one that ignores the answer loses nothing."""

from __future__ import annotations

import re
from typing import Any

import grpc
from clicktrail.links.v1 import links_pb2

from gateway.base import GatewayBase, log
from gateway.batcher import BatchError, TouchBatcher
from gateway.responses import (
    JSON_CT,
    MAX_HEADER_CHARS,
    NO_STORE,
    TEXT_CT,
    Receive,
    Scope,
    Sender,
    body_timeout,
    cookie_headers,
    decode_header,
    flow_cookies,
    forwarded_host,
    header_safe,
    json_body,
    json_error,
    text_headers,
)
from libs.asgi import BodyTooLarge, read_body
from libs.grpc_interceptors import request_id_var

SLUG_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
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
LINK_NOT_FOUND_BODY = json_body({"error": "link not found"})
TOO_LONG_BODY = b"query string too long\n"
UNAVAILABLE_BODY = b"links service unavailable, nothing recorded; retry later\n"
CLICK_BASE_HEADERS = [NO_STORE, (b"content-length", b"0")]
# The statuses a link may ask for (Link.redirect_status); anything else (0) is 302.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# A beacon's body is ignored; the Beacon spec's keepalive quota is 64 KiB for all of a page's beacons.
MAX_BEACON_BODY = 64 * 1024
# Accept-Language is only matched on its first languages; longer is cut at a comma.
MAX_ACCEPT_LANGUAGE = 256
CLICK_METHODS = b"GET, HEAD, POST"
BLOCKED_HEADERS = [NO_STORE, (b"content-type", TEXT_CT), (b"content-length", b"0")]
GIF_HEADERS = [
    (b"content-type", b"image/gif"),
    (b"content-length", str(len(GIF)).encode()),
    (b"cache-control", b"no-store, no-cache, must-revalidate"),
    (b"pragma", b"no-cache"),
    (b"expires", b"0"),
]


class TouchRoutes(GatewayBase):
    clicks: TouchBatcher | None
    impressions: TouchBatcher | None

    async def _touch(
        self,
        kind: str,
        scope: Scope,
        sender: Sender,
        slug: str,
        method: str,
        ua: bytes,
        ref: bytes,
        xff: bytes,
        purpose: bytes = b"",
        host: bytes = b"",
        lang: bytes = b"",
        cookie: bytes = b"",
        fwd_host: bytes = b"",
    ) -> Any:
        """Validates and records one touch. Returns a TouchResult, or the HTTP
        status already answered (an int)."""
        if method != "GET" and method != "HEAD":
            return await self._not_allowed(sender)
        if SLUG_RE.fullmatch(slug) is None:
            return await sender.send(404, text_headers(JSON_CT, LINK_NOT_FOUND_BODY), LINK_NOT_FOUND_BODY)
        query: bytes = scope["query_string"]
        if len(query) > self._max_query:
            return await sender.send(414, text_headers(TEXT_CT, TOO_LONG_BODY), TOO_LONG_BODY)
        batcher = self.clicks if kind == "click" else self.impressions
        if batcher is None:  # a server without lifespan support: start on first use
            await self._ensure_started()
            batcher = self.clicks if kind == "click" else self.impressions
            if batcher is None:
                return await sender.send(503, text_headers(TEXT_CT, UNAVAILABLE_BODY), UNAVAILABLE_BODY)
        for name, raw in ((b"user-agent", ua), (b"referer", ref)):
            if len(raw) > MAX_HEADER_CHARS:  # refused, never cut (links has the per-field limits)
                return await json_error(sender, 400, f"at most {MAX_HEADER_CHARS} bytes", name.decode())
        touch = (
            slug, query, self.client_ip(scope, xff), decode_header(ua), decode_header(ref),
            decode_header(purpose)[:128] if purpose else "", forwarded_host(scope, host, fwd_host, self._trusted),
            accept_language(lang) if lang else "",
            flow_cookies(cookie) if cookie and b"ct" in cookie else None,
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
                return await sender.send(400, text_headers(TEXT_CT, body), body)
            return await sender.send(503, text_headers(TEXT_CT, UNAVAILABLE_BODY), UNAVAILABLE_BODY)

    async def _click(
        self, scope: Scope, receive: Receive, sender: Sender, slug: str, method: str, ua: bytes, ref: bytes,
        xff: bytes, purpose: bytes = b"", host: bytes = b"", lang: bytes = b"", cookie: bytes = b"",
        fwd_host: bytes = b"", fwd_proto: bytes = b"",
    ) -> int:  # fmt: skip
        beacon = method == "POST"
        if beacon:
            refused = await self._beacon_body(receive, sender)
            if refused:
                return refused
            method = "GET"  # recorded as the GET it stands for
        elif method != "GET" and method != "HEAD":
            body = json_body({"error": "method not allowed"})
            return await sender.send(405, [*text_headers(JSON_CT, body), (b"allow", CLICK_METHODS)], body)
        result = await self._touch(
            "click", scope, sender, slug, method, ua, ref, xff, purpose, host, lang, cookie, fwd_host
        )
        if isinstance(result, int):
            return result
        outcome = result.outcome
        location = result.location
        cookies = cookie_headers(
            scope, result.cookies, fwd_proto, self._trusted, (result.touch_id, result.click_cookie_max_age_seconds)
        )
        if location and (outcome == RECORDED or outcome == FALLBACK):
            status = 302
            if beacon:
                status = 303  # followed with GET: the beacon's body is never re-sent to the destination
            elif outcome == RECORDED and result.redirect_status in REDIRECT_STATUSES:
                # Only a recorded click answers the link's own status: a fallback is temporary
                # (an expired link, a paused campaign) and must never be cached as a 301.
                status = result.redirect_status
            return await sender.send(status, [(b"location", header_safe(location)), *CLICK_BASE_HEADERS, *cookies], b"")
        if outcome == BLOCKED:
            # Invalid traffic on a campaign that blocks it: recorded, but no redirect.
            return await sender.send(200, BLOCKED_HEADERS, b"")
        if outcome == INVALID:
            return await json_error(sender, 400, result.error, result.field)
        if outcome == NOT_FOUND or outcome == FALLBACK:
            return await sender.send(404, text_headers(JSON_CT, LINK_NOT_FOUND_BODY), LINK_NOT_FOUND_BODY)
        log.error("bad_touch_result", slug=slug, outcome=outcome, request_id=request_id_var.get())
        return await sender.send(503, text_headers(TEXT_CT, UNAVAILABLE_BODY), UNAVAILABLE_BODY)

    async def _beacon_body(self, receive: Receive, sender: Sender) -> int:
        """Reads and drops a beacon's body (capped, timed); the status answered when
        it is refused, else 0."""
        try:
            if await read_body(receive, MAX_BEACON_BODY, self._body_timeout_s) is None:
                return 499  # the client went away: nothing to answer, nothing recorded
        except BodyTooLarge:
            sender.close = True  # the rest of the body is not read
            return await json_error(sender, 413, f"a beacon's body is ignored; at most {MAX_BEACON_BODY // 1024} KiB")
        except TimeoutError:
            return await body_timeout(sender, self._body_timeout_s)
        return 0

    async def _impression(
        self, scope: Scope, sender: Sender, slug: str, method: str, ua: bytes, ref: bytes, xff: bytes,
        purpose: bytes = b"", host: bytes = b"", lang: bytes = b"", cookie: bytes = b"", fwd_host: bytes = b"",
    ) -> int:  # fmt: skip
        result = await self._touch(
            "impression", scope, sender, slug, method, ua, ref, xff, purpose, host, lang, cookie, fwd_host
        )
        if isinstance(result, int):
            return result
        outcome = result.outcome
        # A paused campaign's pixel still answers (nothing recorded): no broken image on the page;
        # so does a blocked (invalid) impression, which is recorded.
        if outcome == RECORDED or outcome == FALLBACK or outcome == BLOCKED:
            return await sender.send(200, GIF_HEADERS, GIF)
        if outcome == INVALID:
            return await json_error(sender, 400, result.error, result.field)
        if outcome == NOT_FOUND:
            return await sender.send(404, text_headers(JSON_CT, LINK_NOT_FOUND_BODY), LINK_NOT_FOUND_BODY)
        log.error("bad_touch_result", slug=slug, outcome=outcome, request_id=request_id_var.get())
        return await sender.send(503, text_headers(TEXT_CT, UNAVAILABLE_BODY), UNAVAILABLE_BODY)


def accept_language(raw: bytes) -> str:
    """The Accept-Language header, at most MAX_ACCEPT_LANGUAGE characters, cut at
    a comma (the first languages are the preferred ones)."""
    text = decode_header(raw)
    if len(text) <= MAX_ACCEPT_LANGUAGE:
        return text
    return text[:MAX_ACCEPT_LANGUAGE].rpartition(",")[0]
