"""AttributionService: inbound postbacks, conversion status changes, operator
overrules of verdicts, and reading installs, conversions and the inbound
postback log. ``register`` also starts the consumers of the event hand-off."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import grpc
import orjson
from clicktrail.attribution.v1 import attribution_pb2 as pb
from clicktrail.attribution.v1 import attribution_pb2_grpc as pb_grpc

from libs import auth
from libs import quality as q
from libs.api import to_timestamp
from libs.errors import InvalidArgument, NotFound, PermissionDenied
from libs.grpc_server import ServiceContext
from libs.paging import Page
from services.attribution import engine, inbound, offer_caps, overrule, status_updates
from services.attribution.lookups import Links
from services.attribution.outbound import money_text
from services.attribution.postback_formats import FormatStore


def _set_time(msg: Any, field: str, value: dt.datetime | None) -> None:
    if value is not None:
        getattr(msg, field).CopyFrom(to_timestamp(value))


def _passed_over(raw: Any) -> list[pb.PassedOverTouch]:
    items = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
    return [
        pb.PassedOverTouch(
            touch_id=str(p.get("touch_id", "")),
            reasons=[str(c) for c in p.get("reasons") or []],
            touch_type=pb.TOUCH_TYPE_IMPRESSION if p.get("kind") == "impression" else pb.TOUCH_TYPE_CLICK,
        )
        for p in items or []
        if isinstance(p, dict)
    ]


# attribution.installs' Apple Ads ids (migration 0006), NULL unless match_type 5.
APPLE_ADS_IDS = (
    "apple_ads_org_id", "apple_ads_campaign_id", "apple_ads_ad_group_id", "apple_ads_keyword_id", "apple_ads_ad_id",
)  # fmt: skip


def install_msg(r: Any) -> pb.Install:
    m = pb.Install(
        install_id=r["install_id"], app_id=r["app_id"], campaign_id=r["campaign_id"] or "",
        partner_id=r["partner_id"] or "", link_id=r["link_id"] or "", click_id=r["click_id"] or "",
        touch_type=r["touch_type"], match_type=r["match_type"], event_uuid=str(r["event_uuid"]),
        user_id=r["user_id"] or "", idfa=r["idfa"] or "", gaid=r["gaid"] or "",
        ip=str(r["ip"]) if r["ip"] is not None else "", verdict=r["verdict"], reasons=q.codes_of(r["reasons"]),
        passed_over=_passed_over(r["passed_over"]), verdict_note=r["verdict_note"],
    )  # fmt: skip
    _set_time(m, "install_time", r["install_time"])
    _set_time(m, "touch_time", r["touch_time"])
    _set_time(m, "create_time", r["create_time"])
    _set_time(m, "update_time", r["update_time"])
    for col in APPLE_ADS_IDS:
        if r[col] is not None:
            setattr(m, col, r[col])
    _set_time(m, "apple_ads_click_time", r["apple_ads_click_time"])
    return m


def conversion_msg(r: Any) -> pb.Conversion:
    m = pb.Conversion(
        conversion_id=r["conversion_id"], goal_id=r["goal_id"], goal=r["goal"], status=r["status"],
        payout=money_text(r["payout"]) if r["payout"] is not None else "", currency=r["currency"] or "",
        txid=r["txid"] or "", click_id=r["click_id"] or "", campaign_id=r["campaign_id"] or "",
        partner_id=r["partner_id"] or "", link_id=r["link_id"] or "", install_id=r["install_id"] or "",
        source=r["source"], event_uuid=str(r["event_uuid"]) if r["event_uuid"] else "", user_id=r["user_id"] or "",
        kind=r["kind"], verdict=r["verdict"], reasons=q.codes_of(r["reasons"]), verdict_note=r["verdict_note"],
        offer_id=r["offer_id"] or "", lander_id=r["lander_id"] or "", stream_id=r["stream_id"] or "",
    )  # fmt: skip
    _set_time(m, "event_time", r["event_time"])
    _set_time(m, "create_time", r["create_time"])
    _set_time(m, "update_time", r["update_time"])
    return m


def quality_filters(verdict: int, reason: str) -> tuple[int, int]:
    """A List request's verdict filter (0: any) and reason filter (a bitmask; 0: any)."""
    if verdict and verdict not in q.VERDICT_NAMES:
        raise InvalidArgument("verdict", "must be clean, suspicious or invalid")
    code = reason.strip().lower()
    if code and code not in q.BY_CODE:
        raise InvalidArgument("reason", f"{reason[:64]!r} is not a reason code; known: {', '.join(q.BY_CODE)}")
    return verdict, q.BY_CODE[code].mask if code else 0


def postback_msg(r: asyncpg.Record) -> pb.InboundPostback:
    m = pb.InboundPostback(
        postback_id=r["postback_id"], method=r["method"], client_ip=r["client_ip"], click_id=r["click_id"],
        txid=r["txid"], http_status=r["http_status"], outcome=r["outcome"], error=r["error"], field=r["field"],
        conversion_id=r["conversion_id"], status=r["status"], partner_id=r["partner_id"],
    )  # fmt: skip
    params = r["params"]
    if isinstance(params, str):
        params = orjson.loads(params)
    m.params.update({str(k): str(v) for k, v in (params or {}).items()})
    _set_time(m, "receive_time", r["receive_time"])
    return m


class AttributionService(pb_grpc.AttributionServiceServicer):
    def __init__(self, pool: asyncpg.Pool, links: Links, formats: FormatStore | None = None) -> None:
        self._pool = pool
        self._links = links
        self._postbacks = inbound.PostbackRecorder(pool, links, formats=formats)

    async def RecordPostback(self, request: pb.RecordPostbackRequest, context: Any) -> pb.RecordPostbackResponse:
        p = auth.principal()
        if p.kind != "postback" or not p.account_id:
            raise PermissionDenied("RecordPostback takes the account's postback token (ctp_...)")
        result = await self._postbacks.record(p.account_id, inbound.from_request(request))
        return pb.RecordPostbackResponse(
            conversion=conversion_msg(result.row), created=result.created, changed=result.changed,
            postback_id=result.postback_id, previous_status=result.previous,  # type: ignore[arg-type]
        )  # fmt: skip

    async def LogRefusedPostback(
        self, request: pb.LogRefusedPostbackRequest, context: Any
    ) -> pb.LogRefusedPostbackResponse:
        p = auth.principal()
        if p.kind != "postback" or not p.account_id:
            raise PermissionDenied("LogRefusedPostback takes the account's postback token (ctp_...)")
        return pb.LogRefusedPostbackResponse(postback_id=await inbound.log_refused(self._pool, p.account_id, request))

    async def UpdateConversionStatus(
        self, request: pb.UpdateConversionStatusRequest, context: Any
    ) -> pb.UpdateConversionStatusResponse:
        account_id = auth.require_account()
        if not request.conversion_id:
            raise InvalidArgument("conversion_id", "is required")
        row, previous, changed = await status_updates.update_status(
            self._pool, self._links, account_id, request.conversion_id, request.status
        )
        return pb.UpdateConversionStatusResponse(
            conversion=conversion_msg(row), previous_status=previous, changed=changed,  # type: ignore[arg-type]
        )  # fmt: skip

    async def OverruleInstallVerdict(
        self, request: pb.OverruleInstallVerdictRequest, context: Any
    ) -> pb.OverruleInstallVerdictResponse:
        account_id = auth.require_account()
        verdict, note = overrule.check_request("install_id", request.install_id, request.verdict, request.note)
        result = await overrule.overrule_install(self._pool, self._links, account_id, request.install_id, verdict,
                                                 note)  # fmt: skip
        return pb.OverruleInstallVerdictResponse(
            install=install_msg(result.row), previous_verdict=result.previous,  # type: ignore[arg-type]
            changed=result.changed, conversions_changed=result.followers,
        )  # fmt: skip

    async def OverruleConversionVerdict(
        self, request: pb.OverruleConversionVerdictRequest, context: Any
    ) -> pb.OverruleConversionVerdictResponse:
        account_id = auth.require_account()
        verdict, note = overrule.check_request("conversion_id", request.conversion_id, request.verdict, request.note)
        result = await overrule.overrule_conversion(self._pool, self._links, account_id, request.conversion_id,
                                                    verdict, note)  # fmt: skip
        return pb.OverruleConversionVerdictResponse(
            conversion=conversion_msg(result.row), previous_verdict=result.previous,  # type: ignore[arg-type]
            changed=result.changed,
        )  # fmt: skip

    async def GetInstall(self, request: pb.GetInstallRequest, context: Any) -> pb.GetInstallResponse:
        account_id = auth.require_account()
        row = await self._get("installs", "install_id", "install", account_id, request.install_id)
        return pb.GetInstallResponse(install=install_msg(row))

    async def GetConversion(self, request: pb.GetConversionRequest, context: Any) -> pb.GetConversionResponse:
        account_id = auth.require_account()
        row = await self._get("conversions", "conversion_id", "conversion", account_id, request.conversion_id)
        return pb.GetConversionResponse(conversion=conversion_msg(row))

    async def _get(self, table: str, id_col: str, noun: str, account_id: str, row_id: str) -> asyncpg.Record:
        """An install or conversion of the account, else NotFound naming it."""
        row = await self._pool.fetchrow(
            f"SELECT * FROM attribution.{table} WHERE account_id = $1 AND {id_col} = $2", account_id, row_id
        )
        if row is None:
            raise NotFound(f"{noun} {row_id[:64]!r} not found")
        return row

    async def _page(
        self, table: str, id_col: str, account_id: str, request: Any, filters: list[tuple[str, str, Any]],
        quality: bool = False,
    ) -> tuple[list[asyncpg.Record], str]:  # fmt: skip
        """Newest first by the time-ordered id; filters are (column, SQL type, value),
        each ``($n IS NULL OR col = $n)`` (an empty value: no filter). With
        ``quality``, the request's verdict and reason filters too."""
        page = Page.of(request, "before")
        args: list[Any] = [account_id]
        conds = ["account_id = $1"]
        for col, sql_type, value in filters:
            args.append(value or None)
            conds.append(f"(${len(args)}::{sql_type} IS NULL OR {col} = ${len(args)})")
        if quality:
            # Written into the query, not parameters: the planner then sees that a verdict
            # other than clean can use the partial index of flagged rows. (Numbers the
            # request chose, checked by quality_filters: never text from it.)
            verdict, mask = quality_filters(request.verdict, request.reason)
            if verdict:
                conds.append(f"verdict = {verdict:d}")
            if mask:
                conds.append(f"reasons & {mask:d} <> 0")
        if not page.first:  # the keyset: an index range, not a filter
            args.append(page.get("before", None, str))
            conds.append(f"{id_col} < ${len(args)}")
        args.append(page.limit)
        rows = await self._pool.fetch(
            f"SELECT * FROM attribution.{table} WHERE {' AND '.join(conds)} ORDER BY {id_col} DESC LIMIT ${len(args)}",
            *args,
        )
        return page.cut(rows, lambda r: {"before": r[id_col]})

    async def ListInstalls(self, request: pb.ListInstallsRequest, context: Any) -> pb.ListInstallsResponse:
        account_id = auth.require_account()
        rows, token = await self._page(
            "installs", "install_id", account_id, request,
            [("campaign_id", "text", request.campaign_id), ("app_id", "text", request.app_id),
             ("match_type", "smallint", request.match_type)],
            quality=True,
        )  # fmt: skip
        return pb.ListInstallsResponse(installs=[install_msg(r) for r in rows], next_page_token=token)

    async def ListConversions(self, request: pb.ListConversionsRequest, context: Any) -> pb.ListConversionsResponse:
        account_id = auth.require_account()
        rows, token = await self._page(
            "conversions", "conversion_id", account_id, request,
            [("campaign_id", "text", request.campaign_id), ("goal_id", "text", request.goal_id),
             ("status", "smallint", request.status), ("click_id", "text", request.click_id)], quality=True,
        )  # fmt: skip
        return pb.ListConversionsResponse(conversions=[conversion_msg(r) for r in rows], next_page_token=token)

    async def ListInboundPostbacks(
        self, request: pb.ListInboundPostbacksRequest, context: Any
    ) -> pb.ListInboundPostbacksResponse:
        account_id = auth.require_account()
        rows, token = await self._page(
            "inbound_postbacks", "postback_id", account_id, request, [("click_id", "text", request.click_id)]
        )
        return pb.ListInboundPostbacksResponse(postbacks=[postback_msg(r) for r in rows], next_page_token=token)


def register(server: grpc.aio.Server, ctx: ServiceContext, *, consumers: int = 3,
             formats: FormatStore | None = None) -> list[str]:  # fmt: skip
    """Adds AttributionService and starts the event hand-off consumers and the offer cap reports' worker."""
    links = Links(ctx.settings)
    pb_grpc.add_AttributionServiceServicer_to_server(AttributionService(ctx.pool, links, formats), server)
    eng = engine.Engine(ctx.pool, links)
    running = engine.consumers(
        ctx.pool, eng, count=consumers, lease_s=ctx.settings.attribution_lease_s,
        dead_retention_s=ctx.settings.queue_dead_retention_days * 86400.0,
    )  # fmt: skip
    for i, consumer in enumerate(running):
        ctx.spawn(consumer.run(), f"attribution-consumer-{i}")
    # Repeats the offer cap reports of postbacks and status changes (offer_caps.py).
    reports = offer_caps.consumer(ctx.pool, links, dead_retention_s=ctx.settings.queue_dead_retention_days * 86400.0)
    ctx.spawn(reports.run(), "attribution-offer-conversions")

    async def stop() -> None:
        for consumer in [*running, reports]:
            await consumer.stop()
        await links.close()

    ctx.on_stop.append(stop)
    return [pb.DESCRIPTOR.services_by_name["AttributionService"].full_name]
