"""PostbackService: the template RPCs (create, read, list, update, delete, test)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from clicktrail.postbacks.v1 import postbacks_pb2 as pb

from libs import auth
from libs.api import to_timestamp, update_paths
from libs.errors import InvalidArgument, NotFound, Validator
from libs.ids import new_resource_id
from libs.paging import Page
from libs.postback_handoff import FIELDS
from services.postbacks import catalog, template_store
from services.postbacks.base import PostbacksBase
from services.postbacks.guard import HttpError, Refused
from services.postbacks.messages import UPDATABLE, from_pb, template_pb
from services.postbacks.quota import check_template_quota
from services.postbacks.render import EVENT_MACROS, SAMPLE_EVENT, SAMPLES_BY_TRIGGER, check_template, render

# The macros TestTemplate computes (as the dispatcher does) rather than takes: why an override is refused.
DERIVED = {
    "timestamp": "is the time of the send: it cannot be set",
    "event_timestamp": "is computed from event_time: set values[event_time] (RFC 3339, with a zone) instead",
    "revenue_number": "is computed from revenue: set values[revenue] (a decimal number) instead",
}


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


class TemplateRpcs(PostbacksBase):
    async def _validate(self, account_id: str, t: dict[str, Any], secret: str, check_partner: bool) -> None:
        """Every field violation, then (when asked) the partner with the links
        service: before any transaction, so no call to links happens inside one."""
        v = Validator()
        check_template(t, v)
        _check_catalog(t, v)
        if secret and (len(secret) < 16 or len(secret) > 256):
            v.add("template.signing_secret", "must be 16 to 256 characters")
        if t["signature_header"] and not secret:
            async with self._pool.acquire() as conn:
                if not await template_store.has_secret(conn, account_id, t["partner_id"]):
                    v.add("template.signing_secret", "is required with a signature_header (the partner has none yet)")
        v.raise_if_any()
        if check_partner and not await self._partner_exists(account_id, t["partner_id"]):
            raise InvalidArgument("template.partner_id", f"partner {t['partner_id']} not found")

    async def CreateTemplate(self, request: pb.CreateTemplateRequest, context: Any) -> pb.CreateTemplateResponse:
        account_id = auth.require_account()
        t = from_pb(request.template)
        t["enabled"] = True
        secret = request.template.signing_secret
        template_id = new_resource_id("pbt")
        await self._validate(account_id, t, secret, check_partner=True)
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                await check_template_quota(conn, account_id, 1, self._settings.postback_templates_per_account)
                if secret:
                    await template_store.save_secret(conn, account_id, t["partner_id"], secret)
                await template_store.insert(conn, account_id, template_id, t)
            row = await template_store.load(conn, account_id, template_id)
        return pb.CreateTemplateResponse(template=template_pb(row))

    async def GetTemplate(self, request: pb.GetTemplateRequest, context: Any) -> pb.GetTemplateResponse:
        account_id = auth.require_account()
        async with self._pool.acquire() as conn:
            row = await template_store.load(conn, account_id, request.template_id)
        return pb.GetTemplateResponse(template=template_pb(row))

    async def ListTemplates(self, request: pb.ListTemplatesRequest, context: Any) -> pb.ListTemplatesResponse:
        account_id = auth.require_account()
        page = Page.of(request, "after")
        rows = await template_store.page(
            self._pool, account_id, page.get("after", None, str), request.partner_id or None, page.limit
        )
        items, token = page.cut(rows, lambda r: {"after": r["template_id"]})
        return pb.ListTemplatesResponse(templates=[template_pb(r) for r in items], next_page_token=token)

    async def UpdateTemplate(self, request: pb.UpdateTemplateRequest, context: Any) -> pb.UpdateTemplateResponse:
        account_id = auth.require_account()
        paths = update_paths(request.update_mask, request.template, UPDATABLE)
        given = from_pb(request.template)
        secret = request.template.signing_secret if "signing_secret" in paths else ""
        async with self._pool.acquire() as conn:
            current = await template_store.load(conn, account_id, request.template.template_id)
        merged = dict(current)
        for p in paths:
            if p != "signing_secret":
                merged[p] = given[p]
        if "trigger" in paths and merged["trigger"] != "goal" and "goal_id" not in paths:
            merged["goal_id"] = ""
        await self._validate(account_id, merged, secret, check_partner=False)
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                if secret:
                    await template_store.save_secret(conn, account_id, merged["partner_id"], secret)
                await template_store.update(conn, account_id, current["template_id"], merged)
            row = await template_store.load(conn, account_id, current["template_id"])
        return pb.UpdateTemplateResponse(template=template_pb(row))

    async def DeleteTemplate(self, request: pb.DeleteTemplateRequest, context: Any) -> pb.DeleteTemplateResponse:
        account_id = auth.require_account()
        if not await template_store.delete(self._pool, account_id, request.template_id):
            raise NotFound(f"template {request.template_id} not found")
        return pb.DeleteTemplateResponse()

    async def TestTemplate(self, request: pb.TestTemplateRequest, context: Any) -> pb.TestTemplateResponse:
        account_id = auth.require_account()
        async with self._pool.acquire() as conn:
            t = await template_store.load(conn, account_id, request.template_id)
        v = Validator()
        for key in request.values:  # only event fields: a derived macro is computed from its field, never taken
            if key in EVENT_MACROS and key not in FIELDS:
                v.add(f"values[{key}]", DERIVED.get(key, "is computed when the postback is sent: it cannot be set"))
            else:
                v.check(key in FIELDS, f"values[{key}]", "is not an event macro")
        v.raise_if_any()
        event = {**SAMPLE_EVENT, **SAMPLES_BY_TRIGGER.get(t["trigger"], {})}
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
