"""clicktrail.ingest.v1.IngestService."""

from __future__ import annotations

import datetime as dt
import uuid
import zlib
from typing import Any
from urllib.parse import unquote

import asyncpg
from clicktrail.ingest.v1 import ingest_pb2 as pb
from clicktrail.ingest.v1 import ingest_pb2_grpc

from libs import auth, exactjson
from libs.api import from_timestamp
from libs.errors import InvalidArgument, ResourceExhausted
from libs.paging import Page
from libs.text import clean_text, loads_json
from libs.vocab.kinds import TRACKING_STATUS_NAMES
from services.ingest.body import Unparsable as _Unparsable
from services.ingest.body import read_events
from services.ingest.store import LIST_EVENTS, EventStore, row_to_event
from services.ingest.validate import EVENT_NAMES, MAX_BATCH, PLATFORM_NAMES, Context, Rejected, validate

MAX_BODY_BYTES = 8 * 1024 * 1024
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _event_to_dict(e: pb.Event) -> dict[str, Any]:
    """A typed event in the JSON shape the validator reads."""
    d: dict[str, Any] = {
        "uuid": e.uuid, "event": EVENT_NAMES.get(e.event),
        "timestamp": _EPOCH + dt.timedelta(seconds=e.timestamp.seconds, microseconds=e.timestamp.nanos // 1000)
        if e.HasField("timestamp")
        else None,
        "session_id": e.session_id, "offset": e.offset or None, "user_id": e.user_id, "ref": e.ref,
        "app_id": e.app_id, "ip": e.ip, "user_agent": e.user_agent, "action": e.action, "click_id": e.click_id,
        "adservices_token": e.adservices_token, "app_instance_id": e.app_instance_id, "app_version": e.app_version,
    }  # fmt: skip
    for key in ("install_begin_time", "referrer_click_time"):
        if e.HasField(key):
            ts = getattr(e, key)
            d[key] = _EPOCH + dt.timedelta(seconds=ts.seconds, microseconds=ts.nanos // 1000)
    if e.HasField("device"):
        dev = e.device
        d["device"] = {
            "idfa": dev.idfa, "gaid": dev.gaid, "idfv": dev.idfv, "android_id": dev.android_id,
            "platform": PLATFORM_NAMES.get(dev.platform, ""), "os_version": dev.os_version,
            "device_model": dev.device_model, "locale": dev.locale,
            "tracking_status": TRACKING_STATUS_NAMES.get(dev.tracking_status, ""),
        }  # fmt: skip
    if e.action_properties_json:
        try:
            d["action_properties"] = exactjson.exact(loads_json(e.action_properties_json), e.action_properties_json)
        except ValueError:  # orjson.JSONDecodeError and exactjson.JSONDecodeError are ValueErrors
            raise Rejected("action_properties_json", "is not valid JSON") from None
    return d


def decode_body(body: bytes, gzip: bool) -> list[Any]:
    """The events of a JSON body; InvalidArgument / ResourceExhausted when unusable."""
    if len(body) > MAX_BODY_BYTES:
        raise ResourceExhausted(f"the body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB")
    if gzip:
        inflater = zlib.decompressobj(wbits=31)
        try:
            body = inflater.decompress(body, MAX_BODY_BYTES)
        except zlib.error:
            raise InvalidArgument("body", "is not valid gzip") from None
        if inflater.unconsumed_tail:
            raise ResourceExhausted(f"the body inflates past {MAX_BODY_BYTES // (1024 * 1024)} MiB")
    return read_events(body)  # one unreadable event costs only itself


def _peer_address(peer: str) -> str:
    """The address of a gRPC peer (``ipv4:1.2.3.4:5678``, ``ipv6:[::1]:5678``); "" for others."""
    kind, _, rest = peer.partition(":")
    if kind not in ("ipv4", "ipv6"):
        return ""
    host = rest.rsplit(":", 1)[0]
    return unquote(host[1:-1] if host.startswith("[") else host)


class IngestService(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, pool: asyncpg.Pool, keys: auth.KeyStore, store: EventStore) -> None:
        self._pool = pool
        self._keys = keys
        self.store = store

    async def _context(self, events: list[Any], client_ip: str = "", client_ua: str = "") -> Context:
        p = auth.principal()
        if p.kind == "app":
            account_id, key_app = p.account_id, p.app_id
        else:
            account_id, key_app = auth.require_account(), ""
        apps = await self._keys.account_apps(account_id)
        named = {e.get("app_id") for e in events if isinstance(e, dict) and isinstance(e.get("app_id"), str)}
        if key_app:
            named.add(key_app)
        if not named <= apps:  # an app made a moment ago: look again
            apps = await self._keys.account_apps(account_id, fresh=True)
        now = dt.datetime.now(dt.UTC)
        return Context(account_id, key_app, apps, now, client_ip, client_ua)

    async def _ingest(self, events: list[Any], ctx: Context) -> tuple[list[pb.EventResult], int, int, int]:
        if len(events) > MAX_BATCH:
            raise ResourceExhausted(f"at most {MAX_BATCH} events per request; this one has {len(events)}")
        results: list[pb.EventResult | None] = [None] * len(events)
        rows, pending, seen = [], [], set()
        for i, ev in enumerate(events):
            try:
                if isinstance(ev, _Unparsable):
                    raise ev.rejected
                row, event_uuid = validate(ev, ctx)
            except Rejected as r:
                raw = ev.get("uuid") if isinstance(ev, dict) else None
                results[i] = pb.EventResult(
                    index=i, uuid=clean_text(raw) if isinstance(raw, str) else "", status=pb.EVENT_STATUS_REJECTED,
                    field=clean_text(r.field), reason=clean_text(r.reason),  # a path may hold a refused key
                )  # fmt: skip
                continue
            if event_uuid in seen:
                results[i] = pb.EventResult(index=i, uuid=str(event_uuid), status=pb.EVENT_STATUS_DUPLICATE)
                continue
            seen.add(event_uuid)
            rows.append(row)
            pending.append((i, event_uuid))
        stored = await self.store.store(rows)
        for i, event_uuid in pending:
            status = pb.EVENT_STATUS_ACCEPTED if (ctx.account_id, event_uuid) in stored else pb.EVENT_STATUS_DUPLICATE
            results[i] = pb.EventResult(index=i, uuid=str(event_uuid), status=status)
        final = [r for r in results if r is not None]
        counts = [sum(1 for r in final if r.status == s) for s in (1, 2, 3)]
        return final, counts[0], counts[1], counts[2]

    async def SendEvents(self, request: pb.SendEventsRequest, context: Any) -> pb.SendEventsResponse:
        dicts: list[Any] = []
        for e in request.events:
            try:
                dicts.append(_event_to_dict(e))
            except Rejected as r:
                dicts.append(_Unparsable(e.uuid, r))
        # An app key is public: its events get this connection's address (the back end's
        # account key speaks for its users, and its events' own ip / user_agent are kept).
        client_ip, client_ua = self._connection(context) if auth.principal().kind == "app" else ("", "")
        ctx = await self._context(dicts, client_ip, client_ua)
        results, accepted, duplicates, rejected = await self._ingest(dicts, ctx)
        return pb.SendEventsResponse(results=results, accepted=accepted, duplicates=duplicates, rejected=rejected)

    async def SendEventsJson(self, request: pb.SendEventsJsonRequest, context: Any) -> pb.SendEventsJsonResponse:
        p = auth.principal()  # unauthenticated callers learn nothing about the body
        events = decode_body(request.body, request.gzip)
        client_ip, client_ua = request.client_ip, request.client_user_agent
        if p.kind == "app":
            client_ip, client_ua = self._connection(context, client_ip, client_ua)
        ctx = await self._context(events, client_ip, client_ua)
        results, accepted, duplicates, rejected = await self._ingest(events, ctx)
        return pb.SendEventsJsonResponse(results=results, accepted=accepted, duplicates=duplicates, rejected=rejected)

    def _connection(self, context: Any, client_ip: str = "", client_ua: str = "") -> tuple[str, str]:
        """The client address and User-Agent of a call: those the request names when the
        gateway vouches for them (its token beside the caller's key), else the gRPC peer's
        own (an app key can call ingest directly; it cannot choose its address)."""
        metadata = dict(context.invocation_metadata() or ())
        vouch = metadata.get(auth.GATEWAY_VOUCH_HEADER, "")
        if vouch and self._keys.is_gateway(str(vouch)):
            return client_ip, client_ua
        return _peer_address(context.peer() or ""), str(metadata.get("user-agent", ""))

    async def CheckEventsKey(self, request: pb.CheckEventsKeyRequest, context: Any) -> pb.CheckEventsKeyResponse:
        p = auth.principal()
        if p.kind == "app":
            return pb.CheckEventsKeyResponse(kind="app", account_id=p.account_id, app_id=p.app_id)
        return pb.CheckEventsKeyResponse(kind="account", account_id=auth.require_account())

    async def ListEvents(self, request: pb.ListEventsRequest, context: Any) -> pb.ListEventsResponse:
        account_id = auth.require_account()
        page = Page.of(request, "t", "u")
        start, end = from_timestamp(request.start_time), from_timestamp(request.end_time)
        if start and end and end <= start:
            raise InvalidArgument("end_time", "must be after start_time")
        args = (
            account_id, request.app_id or None, request.user_id or None, request.device_id.strip().lower() or None,
            request.event or None, start, end, page.get("t", None, dt.datetime.fromisoformat),
            page.get("u", None, uuid.UUID), page.limit,
        )  # fmt: skip
        async with self._pool.acquire() as conn, conn.transaction():
            # One statement serves every filter combination: planned for the values given (a generic
            # plan keeps the ($n IS NULL OR ...) slots, so neither the app / user indexes nor partition
            # pruning by receive_time apply), as analytics does for its reports.
            await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            rows = await conn.fetch(LIST_EVENTS, *args)
        rows, token = page.cut(rows, lambda r: {"t": r["receive_time"].isoformat(), "u": str(r["event_uuid"])})
        return pb.ListEventsResponse(events=[row_to_event(r) for r in rows], next_page_token=token)
