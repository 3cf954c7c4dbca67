"""clicktrail.postbacks.v1.PostbackService."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import asyncpg
import grpc
import orjson
from clicktrail.links.v1 import links_pb2, links_pb2_grpc
from clicktrail.postbacks.v1 import postbacks_pb2 as pb
from clicktrail.postbacks.v1 import postbacks_pb2_grpc

from libs import auth, queue
from libs.api import decode_page_token, encode_page_token, page_size, to_timestamp, update_paths
from libs.config import Settings
from libs.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable, Validator
from libs.grpc_client import make_channel
from libs.ids import new_resource_id
from libs.tls import channel_credentials
from services.postbacks import catalog, catalog_partners
from services.postbacks.dispatcher import DELIVERY_QUEUE, TEMPLATE_COLUMNS, template_dict
from services.postbacks.guard import HttpError, Refused
from services.postbacks.http import HttpClient
from services.postbacks.quota import check_template_quota
from services.postbacks.render import EVENT_MACROS, SAMPLE_EVENT, SAMPLE_REJECTED, check_template, render

TRIGGER = {"install": pb.TRIGGER_INSTALL, "goal": pb.TRIGGER_GOAL, "conversion": pb.TRIGGER_CONVERSION,
           "status_change": pb.TRIGGER_STATUS_CHANGE, "rejected": pb.TRIGGER_REJECTED}  # fmt: skip
TRIGGER_NAME = {v: k for k, v in TRIGGER.items()}
MODE = {"attributed": pb.SENDING_MODE_ATTRIBUTED, "all": pb.SENDING_MODE_ALL}
MODE_NAME = {v: k for k, v in MODE.items()}
METHOD = {"GET": pb.HTTP_METHOD_GET, "POST": pb.HTTP_METHOD_POST}
METHOD_NAME = {v: k for k, v in METHOD.items()}
STATUS = {"pending": pb.DELIVERY_STATUS_PENDING, "retrying": pb.DELIVERY_STATUS_RETRYING,
          "delivered": pb.DELIVERY_STATUS_DELIVERED, "failed": pb.DELIVERY_STATUS_FAILED,
          "dead": pb.DELIVERY_STATUS_DEAD}  # fmt: skip
STATUS_NAME = {v: k for k, v in STATUS.items()}
UPDATABLE = ("name", "app_id", "trigger", "goal_id", "sending_mode", "method", "url_template", "body_template",
             "headers", "settings", "signature_header", "signing_secret", "enabled")  # fmt: skip
DELIVERY_COLUMNS = (
    "delivery_id, template_id, partner_id, event_id, event_kind, status, method, url, body, attempts,"
    " last_status_code, last_error, next_attempt_time, create_time, update_time, delivered_time"
)


def _template_pb(row: dict[str, Any], has_secret: bool) -> pb.Template:
    return pb.Template(
        template_id=row["template_id"], partner_id=row["partner_id"], app_id=row["app_id"], name=row["name"],
        trigger=TRIGGER[row["trigger"]], goal_id=row["goal_id"], sending_mode=MODE[row["sending_mode"]],
        method=METHOD[row["method"]], url_template=row["url_template"], body_template=row["body_template"],
        headers=row["headers"], settings=row["settings"], signature_header=row["signature_header"],
        has_signing_secret=has_secret, enabled=row["enabled"], catalog_key=row["catalog_key"],
        create_time=to_timestamp(row["create_time"]), update_time=to_timestamp(row["update_time"]),
    )  # fmt: skip


def _delivery_pb(row: asyncpg.Record) -> pb.Delivery:
    return pb.Delivery(
        delivery_id=row["delivery_id"], template_id=row["template_id"], partner_id=row["partner_id"],
        event_id=row["event_id"], event_kind=row["event_kind"], status=STATUS[row["status"]], method=row["method"],
        url=row["url"], body=bytes(row["body"]).decode("utf-8", "replace"), attempts=row["attempts"],
        last_status_code=row["last_status_code"], last_error=row["last_error"],
        next_attempt_time=to_timestamp(row["next_attempt_time"]), create_time=to_timestamp(row["create_time"]),
        update_time=to_timestamp(row["update_time"]), delivered_time=to_timestamp(row["delivered_time"]),
    )  # fmt: skip


def _from_pb(t: pb.Template) -> dict[str, Any]:
    """The stored columns a request's template sets (unset enums default: attributed, GET)."""
    return {
        "partner_id": t.partner_id.strip(), "app_id": t.app_id.strip(), "name": t.name.strip(),
        "trigger": TRIGGER_NAME.get(t.trigger, ""), "goal_id": t.goal_id.strip(),
        "sending_mode": MODE_NAME.get(t.sending_mode, "attributed"), "method": METHOD_NAME.get(t.method, "GET"),
        "url_template": t.url_template.strip(), "body_template": t.body_template, "headers": dict(t.headers),
        "settings": dict(t.settings), "signature_header": t.signature_header.strip(), "enabled": t.enabled,
        "catalog_key": t.catalog_key.strip(),
    }  # fmt: skip


def _check_catalog(t: dict[str, Any], v: Validator) -> None:
    key = t.get("catalog_key", "")
    if not key:
        return
    entry = catalog.entry(key)
    if entry is None:
        v.add("template.catalog_key", f"{key!r} is not in the catalog (see ListCatalog)")
        return
    missing = [s["name"] for s in entry["settings"] if s.get("required") and not t["settings"].get(s["name"])]
    if missing:
        v.add("template.settings", f"the {entry['name']} catalog entry needs: {', '.join(missing)}")


class PostbackService(postbacks_pb2_grpc.PostbackServiceServicer):
    def __init__(self, pool: asyncpg.Pool, settings: Settings, client: HttpClient) -> None:
        self._pool = pool
        self._settings = settings
        self._client = client

    async def _partner_exists(self, account_id: str, partner_id: str) -> bool:
        """Asks the links service (partners are its resource)."""
        async with make_channel(
            self._settings.links_addr, token=self._settings.internal_token, account_id=account_id, deadline_s=5.0,
            tls=channel_credentials(self._settings),
        ) as ch:
            try:
                await links_pb2_grpc.LinksServiceStub(ch).GetPartner(links_pb2.GetPartnerRequest(partner_id=partner_id))
            except grpc.aio.AioRpcError as err:
                if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                    return False
                raise Unavailable(f"cannot check the partner with the links service: {err.details()}") from None
        return True

    async def _load(self, conn: asyncpg.Connection, account_id: str, template_id: str) -> dict[str, Any]:
        row = await conn.fetchrow(
            f"SELECT {TEMPLATE_COLUMNS}, name, catalog_key, create_time, update_time,"
            " EXISTS (SELECT 1 FROM postbacks.partner_secrets s WHERE s.account_id = t.account_id"
            " AND s.partner_id = t.partner_id) AS has_secret,"
            " coalesce((SELECT secret FROM postbacks.partner_secrets s WHERE s.account_id = t.account_id"
            " AND s.partner_id = t.partner_id), '') AS secret"
            " FROM postbacks.templates t WHERE account_id = $1 AND template_id = $2",
            account_id,
            template_id,
        )
        if row is None:
            raise NotFound(f"template {template_id} not found")
        return template_dict(row)

    async def _save_secret(self, conn: asyncpg.Connection, account_id: str, partner_id: str, secret: str) -> None:
        await conn.execute(
            "INSERT INTO postbacks.partner_secrets (account_id, partner_id, secret) VALUES ($1, $2, $3)"
            " ON CONFLICT (account_id, partner_id) DO UPDATE SET secret = EXCLUDED.secret, update_time = now()",
            account_id,
            partner_id,
            secret,
        )

    async def _validate(
        self, conn: asyncpg.Connection, account_id: str, t: dict[str, Any], secret: str, check_partner: bool
    ) -> None:
        v = Validator()
        check_template(t, v)
        _check_catalog(t, v)
        if secret and (len(secret) < 16 or len(secret) > 256):
            v.add("template.signing_secret", "must be 16 to 256 characters")
        if t["signature_header"] and not secret:
            stored = await conn.fetchval(
                "SELECT 1 FROM postbacks.partner_secrets WHERE account_id = $1 AND partner_id = $2",
                account_id,
                t["partner_id"],
            )
            if not stored:
                v.add("template.signing_secret", "is required with a signature_header (the partner has none yet)")
        v.raise_if_any()
        if check_partner and not await self._partner_exists(account_id, t["partner_id"]):
            raise InvalidArgument("template.partner_id", f"partner {t['partner_id']} not found")

    async def CreateTemplate(self, request: pb.CreateTemplateRequest, context: Any) -> pb.CreateTemplateResponse:
        account_id = auth.require_account()
        t = _from_pb(request.template)
        t["enabled"] = True
        secret = request.template.signing_secret
        template_id = new_resource_id("pbt")
        async with self._pool.acquire() as conn:
            await self._validate(conn, account_id, t, secret, check_partner=True)
            async with conn.transaction():
                await check_template_quota(conn, account_id, 1, self._settings.postback_templates_per_account)
                if secret:
                    await self._save_secret(conn, account_id, t["partner_id"], secret)
                await conn.execute(
                    "INSERT INTO postbacks.templates (account_id, template_id, partner_id, app_id, name, trigger,"
                    " goal_id, sending_mode, method, url_template, body_template, headers, settings, signature_header,"
                    " enabled, catalog_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb,"
                    " $13::jsonb, $14, $15, $16)",
                    account_id, template_id, t["partner_id"], t["app_id"], t["name"], t["trigger"], t["goal_id"],
                    t["sending_mode"], t["method"], t["url_template"], t["body_template"],
                    orjson.dumps(t["headers"]).decode(), orjson.dumps(t["settings"]).decode(), t["signature_header"],
                    True, t["catalog_key"],
                )  # fmt: skip
            row = await self._load(conn, account_id, template_id)
        return pb.CreateTemplateResponse(template=_template_pb(row, row["has_secret"]))

    async def GetTemplate(self, request: pb.GetTemplateRequest, context: Any) -> pb.GetTemplateResponse:
        account_id = auth.require_account()
        async with self._pool.acquire() as conn:
            row = await self._load(conn, account_id, request.template_id)
        return pb.GetTemplateResponse(template=_template_pb(row, row["has_secret"]))

    async def ListTemplates(self, request: pb.ListTemplatesRequest, context: Any) -> pb.ListTemplatesResponse:
        account_id = auth.require_account()
        size = page_size(request.page_size)
        cursor = decode_page_token(request.page_token, "after")
        after = str(cursor["after"]) if cursor else ""
        rows = await self._pool.fetch(
            f"SELECT {TEMPLATE_COLUMNS}, name, catalog_key, create_time, update_time,"
            " EXISTS (SELECT 1 FROM postbacks.partner_secrets s WHERE s.account_id = t.account_id"
            " AND s.partner_id = t.partner_id) AS has_secret FROM postbacks.templates t"
            " WHERE t.account_id = $1 AND template_id > $2 AND ($3 = '' OR partner_id = $3)"
            " ORDER BY template_id LIMIT $4",
            account_id,
            after,
            request.partner_id,
            size + 1,
        )
        items = [template_dict(r) for r in rows[:size]]
        token = encode_page_token({"after": items[-1]["template_id"]}) if len(rows) > size else ""
        return pb.ListTemplatesResponse(templates=[_template_pb(r, r["has_secret"]) for r in items],
                                        next_page_token=token)  # fmt: skip

    async def UpdateTemplate(self, request: pb.UpdateTemplateRequest, context: Any) -> pb.UpdateTemplateResponse:
        account_id = auth.require_account()
        paths = update_paths(request.update_mask, request.template, UPDATABLE)
        given = _from_pb(request.template)
        secret = request.template.signing_secret if "signing_secret" in paths else ""
        async with self._pool.acquire() as conn:
            current = await self._load(conn, account_id, request.template.template_id)
            merged = dict(current)
            for p in paths:
                if p != "signing_secret":
                    merged[p] = given[p]
            if "trigger" in paths and merged["trigger"] != "goal" and "goal_id" not in paths:
                merged["goal_id"] = ""
            await self._validate(conn, account_id, merged, secret, check_partner=False)
            async with conn.transaction():
                if secret:
                    await self._save_secret(conn, account_id, merged["partner_id"], secret)
                await conn.execute(
                    "UPDATE postbacks.templates SET app_id = $3, name = $4, trigger = $5, goal_id = $6,"
                    " sending_mode = $7, method = $8, url_template = $9, body_template = $10, headers = $11::jsonb,"
                    " settings = $12::jsonb, signature_header = $13, enabled = $14, update_time = now()"
                    " WHERE account_id = $1 AND template_id = $2",
                    account_id, current["template_id"], merged["app_id"], merged["name"], merged["trigger"],
                    merged["goal_id"], merged["sending_mode"], merged["method"], merged["url_template"],
                    merged["body_template"], orjson.dumps(merged["headers"]).decode(),
                    orjson.dumps(merged["settings"]).decode(), merged["signature_header"], merged["enabled"],
                )  # fmt: skip
            row = await self._load(conn, account_id, current["template_id"])
        return pb.UpdateTemplateResponse(template=_template_pb(row, row["has_secret"]))

    async def DeleteTemplate(self, request: pb.DeleteTemplateRequest, context: Any) -> pb.DeleteTemplateResponse:
        account_id = auth.require_account()
        status = await self._pool.execute(
            "DELETE FROM postbacks.templates WHERE account_id = $1 AND template_id = $2",
            account_id,
            request.template_id,
        )
        if status.endswith(" 0"):
            raise NotFound(f"template {request.template_id} not found")
        return pb.DeleteTemplateResponse()

    async def TestTemplate(self, request: pb.TestTemplateRequest, context: Any) -> pb.TestTemplateResponse:
        account_id = auth.require_account()
        async with self._pool.acquire() as conn:
            t = await self._load(conn, account_id, request.template_id)
        v = Validator()
        for key in request.values:
            v.check(key in EVENT_MACROS and key != "timestamp", f"values[{key}]", "is not an event macro")
        v.raise_if_any()
        event = {**SAMPLE_EVENT, **(SAMPLE_REJECTED if t["trigger"] == "rejected" else {})}
        event.update(account_id=account_id, partner_id=t["partner_id"], **dict(request.values))
        if t["trigger"] != "install":
            event.setdefault("kind", "conversion")
        req = render(t, event, t["secret"], time.time())
        attempt = pb.Attempt(attempt=1, time=to_timestamp(dt.datetime.now(dt.UTC)))
        t0 = time.perf_counter()
        try:
            resp = await self._client.request(req.method, req.url, req.headers, req.body)
            attempt.status_code = resp.status
            attempt.latency_ms = resp.latency_ms
            attempt.response_head = resp.head.decode("utf-8", "replace")
            if not 200 <= resp.status < 300:
                attempt.error = f"HTTP {resp.status}"
        except (Refused, HttpError) as exc:
            attempt.latency_ms = (time.perf_counter() - t0) * 1000
            attempt.error = str(exc)
        return pb.TestTemplateResponse(method=req.method, url=req.url, body=req.body.decode(), attempt=attempt)

    async def ListCatalog(self, request: pb.ListCatalogRequest, context: Any) -> pb.ListCatalogResponse:
        auth.require_account()
        size = page_size(request.page_size)
        cursor = decode_page_token(request.page_token, "offset")
        offset = int(cursor["offset"]) if cursor else 0
        entries = catalog.entries()
        out = []
        for e in entries[offset : offset + size]:
            out.append(pb.CatalogEntry(
                key=e["key"], name=e["name"], description=e.get("description", ""),
                settings=[pb.CatalogSetting(name=s["name"], description=s.get("description", ""),
                                            required=bool(s.get("required")), default_value=s.get("default", ""),
                                            example=s.get("example", "")) for s in e["settings"]],
                macros=e.get("macros", {}), click_params=e.get("click_params", {}),
                templates=[pb.CatalogTemplate(
                    name=t["name"], trigger=TRIGGER[t["trigger"]], sending_mode=MODE[t["sending_mode"]],
                    method=METHOD[t["method"]], url_template=t["url_template"],
                    body_template=t.get("body_template", ""), headers=t.get("headers", {}),
                ) for t in e["templates"]],
                source=e.get("source", ""), verify=bool(e.get("verify")), notes=e.get("notes", ""),
            ))  # fmt: skip
        token = encode_page_token({"offset": offset + size}) if offset + size < len(entries) else ""
        return pb.ListCatalogResponse(entries=out, next_page_token=token)

    async def CreateCatalogPartner(
        self, request: pb.CreateCatalogPartnerRequest, context: Any
    ) -> pb.CreateCatalogPartnerResponse:
        """The partner and all its catalog templates, all or nothing (see catalog_partners)."""
        account_id = auth.require_account()
        partner_id, name, ids = await catalog_partners.create(
            self._pool, self._settings, account_id, request.catalog_key, request.name, dict(request.settings),
            request.app_id,
        )  # fmt: skip
        async with self._pool.acquire() as conn:
            rows = [await self._load(conn, account_id, i) for i in ids]
        return pb.CreateCatalogPartnerResponse(
            partner_id=partner_id, name=name, catalog_key=request.catalog_key.strip(),
            templates=[_template_pb(r, r["has_secret"]) for r in rows],
        )  # fmt: skip

    async def ListDeliveries(self, request: pb.ListDeliveriesRequest, context: Any) -> pb.ListDeliveriesResponse:
        account_id = auth.require_account()
        size = page_size(request.page_size)
        v = Validator()
        statuses = []
        for s in request.statuses:
            if s in STATUS_NAME:
                statuses.append(STATUS_NAME[s])
            else:
                v.add("statuses", f"{s} is not a delivery status")
        v.raise_if_any()
        cursor = decode_page_token(request.page_token, "before")
        before = str(cursor["before"]) if cursor else "\uffff"
        rows = await self._pool.fetch(
            f"SELECT {DELIVERY_COLUMNS} FROM postbacks.deliveries WHERE account_id = $1 AND delivery_id < $2"
            " AND (cardinality($3::text[]) = 0 OR status = ANY($3::text[])) AND ($4 = '' OR template_id = $4)"
            " AND ($5 = '' OR partner_id = $5) ORDER BY delivery_id DESC LIMIT $6",
            account_id,
            before,
            statuses,
            request.template_id,
            request.partner_id,
            size + 1,
        )
        token = encode_page_token({"before": rows[size - 1]["delivery_id"]}) if len(rows) > size else ""
        return pb.ListDeliveriesResponse(deliveries=[_delivery_pb(r) for r in rows[:size]], next_page_token=token)

    async def _delivery(self, conn: asyncpg.Connection, account_id: str, delivery_id: str) -> pb.Delivery:
        row = await conn.fetchrow(
            f"SELECT {DELIVERY_COLUMNS} FROM postbacks.deliveries WHERE account_id = $1 AND delivery_id = $2",
            account_id,
            delivery_id,
        )
        if row is None:
            raise NotFound(f"delivery {delivery_id} not found")
        d = _delivery_pb(row)
        attempts = await conn.fetch(
            "SELECT attempt, time, status_code, latency_ms, response_head, error FROM postbacks.attempts"
            " WHERE account_id = $1 AND delivery_id = $2 ORDER BY time, attempt",
            account_id,
            delivery_id,
        )
        d.attempt_log.extend(
            pb.Attempt(attempt=a["attempt"], time=to_timestamp(a["time"]), status_code=a["status_code"],
                       latency_ms=a["latency_ms"], response_head=a["response_head"], error=a["error"])
            for a in attempts
        )  # fmt: skip
        return d

    async def GetDelivery(self, request: pb.GetDeliveryRequest, context: Any) -> pb.GetDeliveryResponse:
        account_id = auth.require_account()
        async with self._pool.acquire() as conn:
            return pb.GetDeliveryResponse(delivery=await self._delivery(conn, account_id, request.delivery_id))

    async def RetryDelivery(self, request: pb.RetryDeliveryRequest, context: Any) -> pb.RetryDeliveryResponse:
        account_id = auth.require_account()
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                row = await conn.fetchrow(
                    "SELECT delivery_id, status, job_id, method, url, headers, body FROM postbacks.deliveries"
                    " WHERE account_id = $1 AND delivery_id = $2 FOR UPDATE",
                    account_id,
                    request.delivery_id,
                )
                if row is None:
                    raise NotFound(f"delivery {request.delivery_id} not found")
                if row["status"] not in ("failed", "dead"):
                    raise FailedPrecondition(
                        f"delivery {request.delivery_id} is {row['status']}: only failed or dead deliveries are retried"
                    )
                # Sent as the row has it now (redacted by an erasure, say), never as the dead
                # letter's payload was first rendered: that job goes, a new one is queued.
                if row["job_id"] is not None:
                    await queue.cancel(conn, DELIVERY_QUEUE, account_id, [row["job_id"]])
                headers = orjson.loads(row["headers"]) if isinstance(row["headers"], str) else row["headers"]
                payload = orjson.dumps({"d": row["delivery_id"], "m": row["method"], "u": row["url"],
                                        "h": list(headers.items()), "b": bytes(row["body"]).decode()})  # fmt: skip
                (job_id,) = await queue.enqueue(
                    conn, DELIVERY_QUEUE, [payload], account_ids=[account_id],
                    max_attempts=self._settings.postback_max_attempts, returning=True,
                )  # fmt: skip
                await conn.execute(
                    "UPDATE postbacks.deliveries SET status = 'pending', job_id = $3, next_attempt_time = now(),"
                    " last_error = '', update_time = now() WHERE account_id = $1 AND delivery_id = $2",
                    account_id,
                    request.delivery_id,
                    job_id,
                )
            return pb.RetryDeliveryResponse(delivery=await self._delivery(conn, account_id, request.delivery_id))
