"""GET|HEAD /lp/click: a lander's call to action, continuing its click to the
offer. The click comes from the query (``click_id``, alias ``cid``: the
lander's {lander_click_url} carries it) or else the ``ctc`` cookie the click
set; links records the lander click (the first one counts) and answers the
offer's URL for that click (same click id). Concurrent requests share one
RecordLanderClicks call (the click batcher's coalescing)."""

from __future__ import annotations

from typing import Any

import grpc
from clicktrail.links.v1 import links_pb2

from gateway.base import GatewayBase, log
from gateway.batcher import BatchError, TouchBatcher
from gateway.responses import (
    CLICK_COOKIE,
    JSON_CT,
    NO_STORE,
    Scope,
    Sender,
    cookie_headers,
    decode_header,
    flow_cookies,
    forwarded_host,
    header_safe,
    json_body,
    json_error,
    query_param,
    text_headers,
)
from libs.grpc_interceptors import request_id_var
from libs.ids import is_valid_id

CLICK_ID_PARAMS = ("click_id", "cid")
CLICK_NOT_FOUND_BODY = json_body({"error": "click not found"})
NO_OFFER_BODY = json_body({"error": "no offer is available for this click"})
UNAVAILABLE_TEXT = "links service unavailable, nothing recorded; retry later"
REDIRECT_HEADERS = [NO_STORE, (b"content-length", b"0")]


class LanderRoutes(GatewayBase):
    lander_clicks: TouchBatcher | None

    async def _lander_click(
        self, scope: Scope, sender: Sender, method: str, ua: bytes, xff: bytes, host: bytes, cookie: bytes,
        fwd_host: bytes, fwd_proto: bytes,
    ) -> int:  # fmt: skip
        if method != "GET" and method != "HEAD":
            return await self._not_allowed(sender)
        query: bytes = scope["query_string"]
        if len(query) > self._max_query:
            return await json_error(sender, 414, "query string too long")
        click_id = query_param(query, CLICK_ID_PARAMS)
        if not click_id and cookie and b"ct" in cookie:
            click_id = (flow_cookies(cookie) or {}).get(CLICK_COOKIE, "")
        if not click_id:
            return await json_error(
                sender, 400, "is required: ?click_id=<id> (or cid), or the ctc cookie of the click", "click_id"
            )
        if not is_valid_id(click_id):  # not one of ours: no call needed to know it is unknown
            return await sender.send(404, text_headers(JSON_CT, CLICK_NOT_FOUND_BODY), CLICK_NOT_FOUND_BODY)
        if self.lander_clicks is None:
            await self._ensure_started()
            if self.lander_clicks is None:
                return await json_error(sender, 503, UNAVAILABLE_TEXT)
        host_name = forwarded_host(scope, host, fwd_host, self._trusted)
        click = (click_id, host_name, self.client_ip(scope, xff), decode_header(ua))
        try:
            result: Any = await self.lander_clicks.submit(click)
        except BatchError as err:
            log.debug("lander_click_unrecorded", code=err.code.name if err.code else None, detail=err.detail,
                      request_id=request_id_var.get())  # fmt: skip
            if err.code == grpc.StatusCode.INVALID_ARGUMENT:
                return await json_error(sender, 400, err.detail, "click_id")
            return await json_error(sender, 503, UNAVAILABLE_TEXT)
        outcome = result.outcome
        location = result.location
        if location and outcome in (links_pb2.TOUCH_OUTCOME_RECORDED, links_pb2.TOUCH_OUTCOME_FALLBACK):
            cookies = cookie_headers(scope, result.cookies, fwd_proto, self._trusted)
            return await sender.send(302, [(b"location", header_safe(location)), *REDIRECT_HEADERS, *cookies], b"")
        if outcome == links_pb2.TOUCH_OUTCOME_NOT_FOUND:
            return await sender.send(404, text_headers(JSON_CT, CLICK_NOT_FOUND_BODY), CLICK_NOT_FOUND_BODY)
        if outcome == links_pb2.TOUCH_OUTCOME_FALLBACK:  # no eligible offer and no fallback URL
            return await sender.send(404, text_headers(JSON_CT, NO_OFFER_BODY), NO_OFFER_BODY)
        if outcome == links_pb2.TOUCH_OUTCOME_INVALID:
            return await json_error(sender, 400, result.error, result.field or "click_id")
        log.error("bad_lander_click_result", outcome=outcome, request_id=request_id_var.get())
        return await json_error(sender, 503, UNAVAILABLE_TEXT)
