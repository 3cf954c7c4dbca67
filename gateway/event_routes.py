"""POST /v1/events: an SDK event batch, authenticated by its app key (X-Api-Key)
and forwarded whole to ingest (SendEventsJson), with the gateway vouching for
the client address. The key is checked (and remembered a few seconds) before
the body is read; per-address reading slots and per-key in-flight caps bound
what one client can hold."""

from __future__ import annotations

import hashlib
import re

import grpc
from clicktrail.ingest.v1 import ingest_pb2

from gateway.base import ErrorAnswers, GatewayBase
from gateway.ratelimit import RateLimiter, address_key
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
from libs.cache import TTLCache
from libs.clients import IngestClient
from libs.config import GatewaySettings
from libs.vocab.enums import name_map

MAX_EVENTS_BODY = 8 * 1024 * 1024
# Event batches one client address (IPv6: its /64) may be uploading at once: bounds
# the memory and connections a slow or stalled uploader holds (a phone sends one).
MAX_EVENTS_READS_PER_ADDRESS = 16
# App / API keys ingest said may send events are remembered (by SHA-256) this long.
KEY_CACHE_TTL_S = 5.0
KEY_CACHE_MAX = 10_000
# A well-formed app key (cta_) or account API key (ctk_): <prefix>_<key id>_<secret>; group 1 = key id.
EVENTS_KEY_RE = re.compile(r"(?:cta|ctk)_([0-9A-Za-z]{1,32})_[A-Za-z0-9_-]{1,160}")
EVENT_STATUS = {n: name for n, name in name_map(ingest_pb2.EventStatus).items() if n}  # else "rejected"
# gRPC status of SendEventsJson -> HTTP status and what to tell the client.
EVENTS_ERRORS = ErrorAnswers(
    {
        grpc.StatusCode.INVALID_ARGUMENT: (400, ""),
        grpc.StatusCode.UNAUTHENTICATED: (401, "invalid app key: send the app key in X-Api-Key"),
        grpc.StatusCode.PERMISSION_DENIED: (403, ""),
        grpc.StatusCode.RESOURCE_EXHAUSTED: (413, ""),
    }
)


class EventRoutes(GatewayBase):
    def _init_events(self, settings: GatewaySettings, burst_s: float) -> None:
        # Per key: by the key id of a valid app / API key (never by the secret itself).
        self._events_per_key = RateLimiter(
            settings.rate_limit_events_per_key, settings.rate_limit_events_per_key * burst_s, per="key"
        )
        self._events_inflight = 0
        self._events_reading: dict[str, int] = {}  # client address (IPv6: its /64) -> bodies being read
        self._events_inflight_by_key: dict[str, int] = {}
        self._events_max = max(1, settings.gateway_events_concurrency)
        self._events_max_per_key = max(1, settings.gateway_events_concurrency_per_key)
        # sha256(key) of keys ingest took / refused, for KEY_CACHE_TTL_S (a forged key costs ingest one look-up).
        self._events_keys: TTLCache[bytes, bool] = TTLCache(KEY_CACHE_TTL_S, maxsize=KEY_CACHE_MAX)
        self._events_refused: TTLCache[bytes, bool] = TTLCache(KEY_CACHE_TTL_S, maxsize=KEY_CACHE_MAX)

    async def _events(
        self, scope: Scope, receive: Receive, sender: Sender, method: str, api_key: bytes, encoding: bytes,
        ua: bytes, xff: bytes,
    ) -> int:  # fmt: skip
        if method != "POST":
            body = json_body({"error": "method not allowed: POST a JSON body"})
            return await sender.send(405, [*text_headers(JSON_CT, body), (b"allow", b"POST")], body)
        # The key is checked before any of the body is read (a refusal is not kept waiting
        # for it; with Expect: 100-continue the client is never even asked for it).
        key = api_key.decode("latin-1").strip()
        if not key:
            return await json_error(sender, 401, "missing X-Api-Key: send the app key (`clicktrail app create`)")
        enc = encoding.strip().lower()
        if enc not in (b"", b"identity", b"gzip"):
            return await json_error(sender, 415, "Content-Encoding must be gzip or identity")
        match = EVENTS_KEY_RE.fullmatch(key)
        if match is None:
            return await json_error(sender, 401, EVENTS_ERRORS.text(grpc.StatusCode.UNAUTHENTICATED))
        await self._ensure_started()
        if self._ingest is None:
            return await json_error(sender, 503, "ingest service unavailable; resend later (events are idempotent)")
        refused = await self._check_events_key(sender, self._ingest, key)
        if refused is not None:
            return refused
        key_id = match.group(1)
        if not self._events_per_key.allow(key_id):
            return await too_many_requests(sender, self._events_per_key, key_id)
        # The body first, outside the in-flight caps: a client that stalls its upload holds
        # only its own address's reading slots, never the slots of other tenants' batches.
        addr = address_key(self.client_ip(scope, xff))
        reading = self._events_reading.get(addr, 0)
        if reading >= MAX_EVENTS_READS_PER_ADDRESS:
            return await json_error(
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
            return await json_error(
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

    async def _check_events_key(self, sender: Sender, ingest: IngestClient, key: str) -> int | None:
        """None when ingest says (or said in the last few seconds) that this key may send
        events; else the HTTP status already answered (401, 403, 503)."""
        digest = hashlib.sha256(key.encode("latin-1")).digest()
        if digest in self._events_keys:
            return None
        if digest in self._events_refused:  # a forged key costs ingest one look-up
            return await json_error(sender, 401, EVENTS_ERRORS.text(grpc.StatusCode.UNAUTHENTICATED))
        reply = await self._forward(
            sender, ingest.ingest.CheckEventsKey, ingest_pb2.CheckEventsKeyRequest(), key, EVENTS_ERRORS,
            "ingest service unavailable; resend later (events are idempotent by uuid)",
        )  # fmt: skip
        if isinstance(reply, int):
            if reply == 401:
                self._events_refused.set(digest, True)
            return reply
        self._events_keys.set(digest, True)
        return None

    async def _events_read(self, receive: Receive, sender: Sender) -> bytes | int:
        """The body, or the HTTP status already answered."""
        too_large = f"body larger than {MAX_EVENTS_BODY // (1024 * 1024)} MiB"
        return await read_json_route_body(receive, sender, MAX_EVENTS_BODY, self._body_timeout_s, too_large)

    async def _events_forward(
        self, scope: Scope, sender: Sender, raw: bytes, key: str, enc: bytes, ua: bytes, xff: bytes,
        ingest: IngestClient,
    ) -> int:  # fmt: skip
        request = ingest_pb2.SendEventsJsonRequest(
            body=raw, gzip=enc == b"gzip", client_ip=self.client_ip(scope, xff),
            client_user_agent=decode_header(ua),
        )  # fmt: skip
        reply = await self._forward(
            sender, ingest.ingest.SendEventsJson, request, key, EVENTS_ERRORS,
            "ingest service unavailable; resend later (events are idempotent by uuid)", vouch=True,
        )  # fmt: skip
        if isinstance(reply, int):
            return reply
        body = json_body({
            "accepted": reply.accepted, "duplicates": reply.duplicates, "rejected": reply.rejected,
            "results": [
                {"index": r.index, "uuid": r.uuid, "status": EVENT_STATUS.get(r.status, "rejected"),
                 **({"field": r.field, "reason": r.reason} if r.field or r.reason else {})}
                for r in reply.results
            ],
        })  # fmt: skip
        return await sender.send(202, [*text_headers(JSON_CT, body), NO_STORE], body)
