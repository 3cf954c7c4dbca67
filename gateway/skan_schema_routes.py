"""GET|HEAD /v1/skan/schema: the SKAN conversion-value schema the app's SDK applies,
authenticated by the app key (X-Api-Key, as POST /v1/events). Read from
attribution (SkanSchemaService.GetSkanSchema with the app key itself: a key reads
only its own app's schema) and answered as JSON grouped by postback: for each
postback its window (hours after install), the lock (if any), the fine values
(postback 1) and coarse values with their conditions (revenue bucket, events).

The SDK sets, in each window, the highest fine value whose conditions all hold
(revenue in [revenue_min, revenue_max) and every listed event seen at least
``count`` times), and the coarse value of the first of high / medium / low
whose conditions hold. ``version`` names the schema; ``ETag`` is it too, so an
``If-None-Match`` revalidation is a 304. Cacheable (private) for a few minutes;
this process also keeps an answer SCHEMA_CACHE_S seconds per key."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import grpc
from clicktrail.attribution.v1 import skan_schema_pb2 as pb
from clicktrail.attribution.v1 import skan_schema_pb2_grpc as pb_grpc

from gateway.base import ErrorAnswers, GatewayBase
from gateway.responses import JSON_CT, Scope, Sender, json_body, json_error, text_headers
from libs.cache import TTLCache

SKAN_SCHEMA_PATH = "/v1/skan/schema"
# A well-formed app key: cta_<key id>_<secret>.
APP_KEY_RE = re.compile(r"cta_[0-9A-Za-z]{1,32}_[A-Za-z0-9_-]{1,160}")
CACHE_CONTROL_S = 300
SCHEMA_CACHE_S = 30.0
REFUSED_CACHE_S = 5.0
# Apple's conversion windows (hours after install) of postbacks 1-3.
WINDOW_HOURS = {1: (0, 48), 2: (48, 168), 3: (168, 840)}
COARSE_ORDER = ("high", "medium", "low")
SCHEMA_ERRORS = ErrorAnswers(
    {
        grpc.StatusCode.UNAUTHENTICATED: (401, "invalid app key: send the app key in X-Api-Key"),
        grpc.StatusCode.PERMISSION_DENIED: (403, ""),
        grpc.StatusCode.NOT_FOUND: (404, ""),
        grpc.StatusCode.INVALID_ARGUMENT: (400, ""),
    }
)
UNAVAILABLE = "attribution service unavailable; retry later (keep applying the schema you have)"


def _rule(rule: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("revenue_min", "revenue_max", "revenue"):
        if getattr(rule, key):
            out[key] = getattr(rule, key)
    out["events"] = [{"name": e.name, "count": e.count or 1} for e in rule.events]
    return out


def sdk_document(schema: pb.SkanSchema) -> dict[str, Any]:
    """The schema as the SDK applies it, per postback."""
    locks = {w.postback: w for w in schema.lock_windows}
    postbacks = []
    for n, (start, end) in WINDOW_HOURS.items():
        lock = locks.get(n)
        entry: dict[str, Any] = {
            "postback": n,
            "window_start_hours": start,
            "window_end_hours": end,
            "lock_after_hours": (lock.lock_after_hours or None) if lock else None,
            "lock_on_event": (lock.lock_on_event or None) if lock else None,
        }
        if n == 1:
            entry["fine_values"] = [
                {"value": f.value, "value_to": f.value_to if f.HasField("value_to") else f.value, **_rule(f)}
                for f in sorted(schema.fine_values, key=lambda f: f.value)
            ]
        coarse = {c.value: c for c in schema.coarse_values if c.postback == n}
        entry["coarse_values"] = [{"value": word, **_rule(coarse[word])} for word in COARSE_ORDER if word in coarse]
        postbacks.append(entry)
    return {
        "app_id": schema.app_id,
        "version": schema.version,
        "update_time": schema.create_time.ToJsonString() if schema.HasField("create_time") else None,
        "currency": schema.currency,
        "postbacks": postbacks,
    }


class SkanSchemaRoutes(GatewayBase):
    def _init_skan_schema(self) -> None:
        # sha256(app key) -> (status, body, etag) of the last answer.
        self._skan_schemas: TTLCache[bytes, tuple[int, bytes, bytes]] = TTLCache(SCHEMA_CACHE_S, maxsize=10_000)
        self._skan_refused: TTLCache[bytes, tuple[int, bytes, bytes]] = TTLCache(REFUSED_CACHE_S, maxsize=10_000)

    async def _skan_schema(self, scope: Scope, sender: Sender, method: str, api_key: bytes) -> int:
        if method not in ("GET", "HEAD"):
            return await self._not_allowed(sender)
        key = api_key.decode("latin-1").strip()
        if not key:
            return await json_error(sender, 401, "missing X-Api-Key: send the app key (`clicktrail app create`)")
        if APP_KEY_RE.fullmatch(key) is None:
            return await json_error(sender, 401, "invalid app key: send the app key (cta_...) in X-Api-Key")
        digest = hashlib.sha256(key.encode("latin-1")).digest()
        cached = self._skan_schemas.get(digest) or self._skan_refused.get(digest)
        if cached is None:
            await self._ensure_started()
            if self._attribution is None:
                return await json_error(sender, 503, UNAVAILABLE)
            stub = self._attribution.stub(pb_grpc.SkanSchemaServiceStub)
            reply = await self._forward(
                sender, stub.GetSkanSchema, pb.GetSkanSchemaRequest(), key, SCHEMA_ERRORS, UNAVAILABLE
            )
            if isinstance(reply, int):
                if reply in (401, 403, 404):
                    self._skan_refused.set(digest, (reply, sender.answered, b""))
                return reply
            body = json_body(sdk_document(reply.schema))
            cached = (200, body, f'"v{reply.schema.version}"'.encode())
            self._skan_schemas.set(digest, cached)
        status, body, etag = cached
        if status != 200:
            return await sender.send(status, text_headers(JSON_CT, body), body)
        headers = [(b"cache-control", f"private, max-age={CACHE_CONTROL_S}".encode()), (b"etag", etag)]
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                tags = {v.strip().removeprefix(b"W/") for v in value.split(b",")}
                if etag in tags or b"*" in tags:
                    return await sender.send(304, headers, b"")
        return await sender.send(200, [*text_headers(JSON_CT, body), *headers], body)
