"""The console's traffic-quality pages: invalid-traffic rates by partner,
campaign or sub-id with their top reasons (from the report rollups), and the
drill-down to the flagged clicks, impressions and installs, each with its
verdict badge and a form to overrule it."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any
from urllib.parse import urlencode

from clicktrail.analytics.v1 import reports_pb2, reports_pb2_grpc
from clicktrail.attribution.v1 import attribution_pb2, attribution_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from starlette.responses import Response

from console.rpc import ServiceError
from console.web import PAGE_SIZE, PREFIX, Page, Params, redirect
from libs import quality
from libs.vocab.enums import names as enum_names
from libs.vocab.subids import SUB_IDS

RATE_GROUPS = ("campaign", "partner", *SUB_IDS)
KINDS = ("clicks", "impressions", "installs")
VERDICT_CHOICES = [(v, quality.verdict_name(v)) for v in (quality.CLEAN, quality.SUSPICIOUS, quality.INVALID)]
# Touches and installs: the reasons an operator can filter on.
REASON_CHOICES = tuple(r.code for r in quality.REASONS if r.applies_to in ("touch", "install", "any"))
# The record kinds in the plural ("clicks"), as the tables name them.
KIND_NAMES = {n: f"{name}s" for n, name in enum_names(reports_pb2.RecordKind)}
ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _split(c: reports_pb2.VerdictCounts) -> dict[str, int]:
    return {"clean": c.clean, "suspicious": c.suspicious, "invalid": c.invalid}


def _rate_row(row: reports_pb2.ReportRow) -> dict[str, Any]:
    return {
        "dimensions": dict(row.dimensions),
        "clicks": _split(row.click_verdicts),
        "impressions": _split(row.impression_verdicts),
        "installs": _split(row.install_verdicts),
        "conversions": _split(row.conversion_verdicts),
        "invalid_rate": f"{row.invalid_rate * 100:.1f}%",
        "top_reasons": [(r.reason, KIND_NAMES.get(r.kind, ""), r.count) for r in row.top_reasons],
    }


async def overview(req: Page, m: Params) -> Response:
    """GET /quality: invalid-traffic rates grouped by campaign, partner or a sub-id."""
    today = req.today()
    start = req.q("from") or (today - dt.timedelta(days=6)).isoformat()
    end = req.q("to") or today.isoformat()
    by = req.q("by") if req.q("by") in RATE_GROUPS else "campaign"
    campaign = req.q("campaign")
    if campaign and not ID_RE.fullmatch(campaign):
        campaign = ""
    tz = req.session.time_zone if req.session else "UTC"
    filters = [reports_pb2.ReportFilter(dimension="campaign", values=[campaign])] if campaign else []
    reports = req.stub(reports_pb2_grpc.ReportServiceStub, "analytics")
    links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
    error, fields = "", {}
    rows: list[dict[str, Any]] = []
    totals: dict[str, Any] | None = None
    reasons: list[tuple[str, str, int]] = []
    names: dict[str, str] = {}
    next_page = ""

    try:
        # The table's page and the names at once; top reasons are kept per campaign and
        # partner, so a table by a sub-id asks a one-row report by campaign for them.
        calls = [
            req.call(reports.RunCampaignReport, reports_pb2.RunCampaignReportRequest(
                start_date=start, end_date=end, time_zone=tz, group_by=[by], filters=filters,
                order_by="invalid_rate desc", page_size=50, page_token=req.q("page_token"),
            )),
            req.call(links.ListCampaigns, lpb.ListCampaignsRequest(page_size=1000)),
            req.call(links.ListPartners, lpb.ListPartnersRequest(page_size=1000)),
        ]  # fmt: skip
        if by not in ("campaign", "partner"):
            calls.append(req.call(reports.RunCampaignReport, reports_pb2.RunCampaignReportRequest(
                start_date=start, end_date=end, time_zone=tz, group_by=["campaign"], filters=filters, page_size=1,
            )))  # fmt: skip
        table, campaigns, partners, *with_reasons = await asyncio.gather(*calls)
        rows = [_rate_row(r) for r in table.rows]
        totals = _rate_row(table.totals)
        reasons = _rate_row((with_reasons[0] if with_reasons else table).totals)["top_reasons"]
        next_page = table.next_page_token
        names = {c.campaign_id: c.name for c in campaigns.campaigns}
        names.update({p.partner_id: p.name for p in partners.partners})
    except ServiceError as exc:
        error, fields = exc.message, exc.fields
    query = urlencode({k: v for k, v in {"from": start, "to": end, "by": by, "campaign": campaign}.items() if v})
    return req.render(
        "quality.html", 400 if error else 200, start=start, end=end, by=by, groups=RATE_GROUPS,
        campaign=campaign, rows=rows, totals=totals, reasons=reasons, names=names, next_page=next_page,
        query=query, error=error, fields=fields,
    )  # fmt: skip


def _verdict(name: str) -> int:
    try:
        return quality.parse_verdict(name)
    except ValueError:
        return quality.UNSPECIFIED


async def touches(req: Page, m: Params) -> Response:
    """GET /quality/touches: the flagged clicks, impressions or installs, newest
    first, filtered by campaign, verdict and reason, each with an overrule form."""
    kind = req.q("kind") if req.q("kind") in KINDS else "clicks"
    campaign = req.q("campaign") if ID_RE.fullmatch(req.q("campaign")) else ""
    verdict_text = req.q("verdict", "invalid")
    verdict = _verdict(verdict_text)
    reason = req.q("reason") if req.q("reason") in REASON_CHOICES else ""
    token = req.q("page_token")

    error, fields = "", {}
    items: list[dict[str, Any]] = []
    next_page = ""
    try:
        if kind == "installs":
            stub = req.stub(attribution_pb2_grpc.AttributionServiceStub, "attribution")
            page = await req.call(stub.ListInstalls, attribution_pb2.ListInstallsRequest(
                page_size=PAGE_SIZE, page_token=token, campaign_id=campaign, verdict=verdict,  # type: ignore[arg-type]
                reason=reason,
            ))  # fmt: skip
            items = [{
                "id": i.install_id, "time": i.install_time.ToDatetime(), "campaign_id": i.campaign_id,
                "verdict": quality.verdict_name(i.verdict), "reasons": list(i.reasons),
                "detail": f"{i.ip} {i.idfa or i.gaid}".strip(),
                "passed_over": [f"{p.touch_id} ({', '.join(p.reasons)})" for p in i.passed_over],
            } for i in page.installs]  # fmt: skip
        else:
            links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
            if kind == "clicks":
                page = await req.call(links.ListClicks, lpb.ListClicksRequest(
                    page_size=PAGE_SIZE, page_token=token, campaign_id=campaign, verdict=verdict,  # type: ignore[arg-type]
                    reason=reason,
                ))  # fmt: skip
                records: list[Any] = list(page.clicks)
            else:
                page = await req.call(links.ListImpressions, lpb.ListImpressionsRequest(
                    page_size=PAGE_SIZE, page_token=token, campaign_id=campaign, verdict=verdict,  # type: ignore[arg-type]
                    reason=reason,
                ))  # fmt: skip
                records = list(page.impressions)
            items = [{
                "id": t.click_id if kind == "clicks" else t.impression_id, "time": t.create_time.ToDatetime(),
                "campaign_id": t.campaign_id, "verdict": quality.verdict_name(t.verdict), "reasons": list(t.reasons),
                "detail": f"{t.ip} {t.user_agent}".strip(), "passed_over": [],
            } for t in records]  # fmt: skip
        next_page = page.next_page_token
    except ServiceError as exc:
        error, fields = exc.message, exc.fields
    query = urlencode({
        k: v for k, v in {"kind": kind, "campaign": campaign, "verdict": verdict_text, "reason": reason}.items() if v
    })  # fmt: skip
    return req.render(
        "quality_touches.html", 400 if error else 200, kind=kind, kinds=KINDS, campaign=campaign,
        verdict=quality.verdict_name(verdict), verdicts=VERDICT_CHOICES, reason=reason, reasons=REASON_CHOICES,
        records=items, next_page=next_page, query=query, error=error, fields=fields,
    )  # fmt: skip


async def overrule(req: Page, m: Params) -> Response:
    """POST /quality/{kind}/{id}/overrule: an operator's verdict (reports, cost and
    postbacks follow), then back to the list it came from."""

    kind, touch_id = m["kind"], m["id"]
    verdict = _verdict(req.f("verdict"))
    note = req.f("note")
    back = req.f("back") if req.f("back").startswith("?") else f"?kind={kind}"
    try:
        if kind == "installs":
            stub = req.stub(attribution_pb2_grpc.AttributionServiceStub, "attribution")
            await req.call(stub.OverruleInstallVerdict, attribution_pb2.OverruleInstallVerdictRequest(
                install_id=touch_id, verdict=verdict, note=note,  # type: ignore[arg-type]
            ))  # fmt: skip
        else:
            links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
            request = lpb.OverruleTouchVerdictRequest(verdict=verdict, note=note)  # type: ignore[arg-type]
            if kind == "clicks":
                request.click_id = touch_id
            else:
                request.impression_id = touch_id
            await req.call(links.OverruleTouchVerdict, request)
    except ServiceError as exc:
        return req.render("error.html", 400, message=exc.message, fields=exc.fields)
    sep = "&" if "?" in back else "?"
    return redirect(f"{PREFIX}/quality/touches{back}{sep}done=overruled")
