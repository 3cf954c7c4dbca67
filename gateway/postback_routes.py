"""GET|POST /postback: an inbound S2S conversion, authenticated by the
account's postback token and forwarded to attribution (RecordPostback). A
postback the gateway refuses itself is also logged to the account's inbound
postback log (LogRefusedPostback, best effort, bounded).

The partner whose postback format reads the parameters: ``?partner=<partner_id>``
(the primary form), or the path form ``/postback/<partner_id>``. Tracking URLs
are fetched as ad platforms fetch them: a server GET, a POST with a form, JSON
or text/plain body (navigator.sendBeacon sends text/plain: a form or a JSON
object as text), or an image pixel: a GET asking for an image (Accept: image/*
without JSON, Sec-Fetch-Dest: image, or ``?format=gif``) is answered a 1x1 GIF
once recorded (errors keep their status and JSON body)."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from typing import Any
from urllib.parse import parse_qsl, unquote

import grpc
import orjson
from clicktrail.attribution.v1 import attribution_pb2

from gateway.base import ErrorAnswers, GatewayBase, log
from gateway.event_routes import KEY_CACHE_MAX
from gateway.ratelimit import RateLimiter
from gateway.responses import (
    JSON_CT,
    NO_STORE,
    Receive,
    Scope,
    Sender,
    decode_header,
    json_body,
    json_error,
    read_json_route_body,
    text_headers,
    too_many_requests,
)
from libs import exactjson
from libs.cache import TTLCache
from libs.config import GatewaySettings
from libs.text import clean_text, loads_json
from libs.vocab.kinds import CONVERSION_STATUS_NAMES

MAX_POSTBACK_BODY = 64 * 1024
# The classic 43-byte transparent 1x1 GIF (as /i/{slug} answers).
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
    b"!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
GIF_CT = b"image/gif"
# A postback the gateway refuses itself also goes to the account's inbound postback log
# (attribution LogRefusedPostback, with the token the request names; best effort): at most
# this many such calls at once and per second per gateway process; past that only this
# process's own log line ("postback_refused") has it.
REFUSED_LOGS_INFLIGHT = 16
REFUSED_LOGS_PER_S = 50
POSTBACK_TOKEN_PARAM = re.compile(rb"(?:^|&)token=([^&]{1,256})")
POSTBACK_STATUS = CONVERSION_STATUS_NAMES
# gRPC status of RecordPostback -> HTTP status and what to tell the network.
POSTBACK_ERRORS = ErrorAnswers(
    {
        grpc.StatusCode.INVALID_ARGUMENT: (400, ""),
        grpc.StatusCode.UNAUTHENTICATED: (401, "invalid postback token"),
        grpc.StatusCode.PERMISSION_DENIED: (401, "invalid postback token: send the account's postback token (ctp_...)"),
        grpc.StatusCode.NOT_FOUND: (404, ""),
        grpc.StatusCode.FAILED_PRECONDITION: (409, ""),
    }
)
TOKEN_KNOWN_S = 60.0  # a postback token attribution took counts against its own bucket for this long
POSTBACK_TOKEN_RE = re.compile(r"ctp_([0-9A-Za-z]{1,32})_[A-Za-z0-9_-]{1,160}")
POSTBACK_PATH = "/postback/"
PARTNER_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
TEXT_PLAIN = b"text/plain"


def wants_pixel(scope: Scope, params: dict[str, str]) -> bool:
    """A postback fetched as an image: ?format=gif, Sec-Fetch-Dest: image, or an Accept
    that asks for an image and not JSON (a browser's <img>; servers send */* or nothing)."""
    if params.pop("format", "").strip().lower() == "gif":
        return True
    for name, value in scope["headers"]:
        if name == b"sec-fetch-dest" and value.strip().lower() == b"image":
            return True
        if name == b"accept":
            accept = value.lower()
            if b"image/" in accept and b"json" not in accept:
                return True
    return False


def body_params(raw: bytes) -> dict[str, str] | None:
    """A text/plain body (a beacon): a JSON object's scalar members or a form; None: neither."""
    text = raw.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            doc = loads_json(raw)
        except ValueError:
            return None
        if not isinstance(doc, dict) or any(isinstance(v, dict | list) for v in doc.values()):
            return None
        return {
            clean_text(str(k)).strip().lower(): clean_text("" if v is None else str(v).lower() if isinstance(v, bool)
                                                           else str(v))
            for k, v in exactjson.exact(doc, raw).items()
        }  # fmt: skip
    if "=" not in text:
        return None
    return {k.strip().lower(): v for k, v in parse_qsl(text, keep_blank_values=True)}


class PostbackRoutes(GatewayBase):
    def _init_postbacks(self, settings: GatewaySettings, burst_s: float) -> None:
        # Per token: by the key id of a well-formed postback token (never by the secret itself).
        self._postbacks_per_token = RateLimiter(
            settings.rate_limit_postbacks_per_token, settings.rate_limit_postbacks_per_token * burst_s,
            per="postback token",
        )  # fmt: skip
        # sha256(token) of tokens attribution took, for TOKEN_KNOWN_S.
        self._postback_tokens: TTLCache[bytes, bool] = TTLCache(TOKEN_KNOWN_S, maxsize=KEY_CACHE_MAX)
        self._refused_logs: set[asyncio.Task[None]] = set()  # LogRefusedPostback calls in flight
        self._refused_second, self._refused_count = 0, 0

    async def _postback(
        self, scope: Scope, receive: Receive, sender: Sender, method: str, token_header: bytes,
        content_type: bytes, ua: bytes, xff: bytes,
    ) -> int:  # fmt: skip
        """GET or POST /postback: parameters from the query string, and for POST
        also a form or JSON body; the token as ``token`` or X-Postback-Token."""
        if method not in ("GET", "POST"):
            body = json_body({"error": "method not allowed: GET or POST"})
            return await sender.send(405, [*text_headers(JSON_CT, body), (b"allow", b"GET, POST")], body)
        query: bytes = scope["query_string"]
        if len(query) > self._max_query:
            return await json_error(sender, 414, f"query string longer than {self._max_query} bytes")
        params: dict[str, str] = {}
        for key, value in parse_qsl(query.decode("utf-8", "replace"), keep_blank_values=True):
            params.setdefault(key.strip().lower(), value)
        if method == "POST":
            too_large = f"body larger than {MAX_POSTBACK_BODY // 1024} KiB"
            raw = await read_json_route_body(receive, sender, MAX_POSTBACK_BODY, self._body_timeout_s, too_large)
            if isinstance(raw, int):
                return raw
            ctype = content_type.split(b";", 1)[0].strip().lower()
            if raw.strip():
                if ctype == b"application/json":
                    try:
                        doc = exactjson.exact(loads_json(raw), raw)  # a payout's digits as sent, no float
                    except ValueError:  # orjson's and exactjson's decode errors
                        return await json_error(sender, 400, "the body is not valid JSON", "body")
                    if not isinstance(doc, dict):
                        return await json_error(sender, 400, "the JSON body must be an object", "body")
                    for key, value in doc.items():
                        if isinstance(value, dict | list):
                            return await json_error(sender, 400, "must be a string or a number", str(key)[:64])
                        text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
                        # A lone surrogate ("\ud800") cannot travel in protobuf: U+FFFD (libs/text.py).
                        params[clean_text(str(key)).strip().lower()] = clean_text(text)
                elif ctype in (b"application/x-www-form-urlencoded", b""):
                    for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
                        params[key.strip().lower()] = value
                elif ctype == TEXT_PLAIN:
                    beacon = body_params(raw)
                    if beacon is None:
                        return await json_error(sender, 400, "a text/plain body must be a form or a JSON object",
                                                "body")  # fmt: skip
                    params.update(beacon)
                else:
                    return await json_error(
                        sender, 415, "send the parameters in the query string, a form body or a JSON object"
                    )
        path: str = scope["path"]
        partner = params.pop("partner", "").strip()
        if path.startswith(POSTBACK_PATH):
            partner = path[len(POSTBACK_PATH) :]
        if partner and PARTNER_ID_RE.fullmatch(partner) is None:
            return await json_error(sender, 400, "must be a partner id (prt_...)", "partner")
        pixel = wants_pixel(scope, params)
        token = (params.pop("token", "") or token_header.decode("latin-1")).strip()
        if not token:
            return await json_error(sender, 401, "missing postback token: send token=... or X-Postback-Token")
        # Only a token attribution recently took is charged to its bucket: a forged secret under a
        # known key id must not spend the real token's budget (the per-address limit covers forgers).
        well_formed = POSTBACK_TOKEN_RE.fullmatch(token)
        digest = hashlib.sha256(token.encode("utf-8", "replace")).digest()
        if (
            well_formed is not None
            and digest in self._postback_tokens
            and not self._postbacks_per_token.allow(token_id := well_formed.group(1))
        ):
            return await too_many_requests(sender, self._postbacks_per_token, token_id)
        await self._ensure_started()
        if self._attribution is None:
            return await json_error(sender, 503, "attribution service unavailable; resend the postback later")
        request = attribution_pb2.RecordPostbackRequest(
            params={k: v for k, v in params.items() if k}, method=method,  # whole: attribution refuses, never cuts
            client_ip=self.client_ip(scope, xff), user_agent=decode_header(ua), partner_id=partner,
        )  # fmt: skip
        reply = await self._forward(
            sender, self._attribution.attribution.RecordPostback, request, token, POSTBACK_ERRORS,
            "attribution service unavailable; resend the postback later",
        )  # fmt: skip
        if reply != 401:  # the token is good (the postback itself may still be refused)
            self._postback_tokens.set(digest, True)
        if isinstance(reply, int):
            return reply
        if pixel:
            return await sender.send(200, [*text_headers(GIF_CT, PIXEL), NO_STORE], PIXEL)
        c = reply.conversion
        body = json_body({
            "conversion_id": c.conversion_id, "status": POSTBACK_STATUS.get(c.status, ""),
            "previous_status": POSTBACK_STATUS.get(reply.previous_status, ""), "created": reply.created,
            "changed": reply.changed, "click_id": c.click_id, "campaign_id": c.campaign_id, "goal": c.goal,
            "payout": c.payout, "currency": c.currency, "txid": c.txid, "postback_id": reply.postback_id,
        })  # fmt: skip
        return await sender.send(200, [*text_headers(JSON_CT, body), NO_STORE], body)

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
            user_agent=decode_header(ua), http_status=status, error=error, field=field,
        )  # fmt: skip
        task = asyncio.get_running_loop().create_task(self._log_refused(request, token))
        self._refused_logs.add(task)
        task.add_done_callback(self._refused_logs.discard)

    async def _log_refused(self, request: Any, token: str) -> None:
        attribution = self._attribution
        if attribution is None:
            return
        try:
            await attribution.attribution.LogRefusedPostback(
                request, metadata=(("authorization", f"Bearer {token}"),), timeout=self.settings.grpc_deadline_s
            )
        except grpc.aio.AioRpcError as err:  # a wrong token, attribution down: this process's log has it
            log.info("postback_refusal_not_logged", code=err.code().name, detail=err.details())
