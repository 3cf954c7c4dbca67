"""The campaign report (table, chart, CSV export) and the product metrics page;
both read the report rollups and metrics RPCs, never raw clicks."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from typing import Any
from urllib.parse import urlencode

from clicktrail.analytics.v1 import metrics_pb2, metrics_pb2_grpc, reports_pb2, reports_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from starlette.responses import Response

from console import views
from console.choices import FILTERABLE, REPORT_DIMENSIONS
from console.forms import funnel_steps
from console.rpc import ServiceError
from console.web import Page, Params
from libs.conditions import describe_window
from libs.csvsafe import SafeWriter
from libs.vocab.metrics import APP_COUNT_METRICS, APPLE_ADS_DIMENSIONS, FLOW_DIMENSIONS
from libs.vocab.timetext import days_between

CSV_MAX_ROWS = 100_000
_CSV_COUNTS = (
    "clicks", "unique_clicks", "impressions", "installs", "conversions", "approved_conversions", "cr", "lander_views",
    "lander_clicks", "lander_ctr", *APP_COUNT_METRICS,
)  # fmt: skip
# The affiliate flow's dimensions (ids) and Apple Ads' (Apple's ids) beside the
# others: they group and filter with campaign, link, partner, app, day and hour
# (the service says so otherwise).
DIMENSIONS = (*REPORT_DIMENSIONS, *FLOW_DIMENSIONS, *APPLE_ADS_DIMENSIONS)
FILTER_DIMENSIONS = (*FILTERABLE, *FLOW_DIMENSIONS, *APPLE_ADS_DIMENSIONS)


def _skan_revenue(row: reports_pb2.ReportRow) -> str:
    """The SKAN revenue per currency as the table shows it ("4.99 USD; 1.5 EUR")."""
    return "; ".join(f"{m.amount} {m.currency_code}" for m in row.skan_revenue)


def _row_view(row: reports_pb2.ReportRow) -> dict[str, Any]:
    """views.row_view, the lander metrics, SKAN's and re-engagement's."""
    out = views.row_view(row)
    out.update(lander_views=row.lander_views, lander_clicks=row.lander_clicks, lander_ctr=row.lander_ctr)
    out.update({m: getattr(row, m) for m in APP_COUNT_METRICS}, skan_revenue=_skan_revenue(row))
    return out


def _report_params(req: Page) -> dict[str, Any]:
    today = req.today()
    start = req.q("from") or (today - dt.timedelta(days=6)).isoformat()
    end = req.q("to") or today.isoformat()
    group_by = [g for g in req.qs("group_by") if g in DIMENSIONS] or ["campaign"]
    filters: dict[str, list[str]] = {}
    for dim in FILTER_DIMENSIONS:
        raw = req.q(f"f_{dim}")
        if raw:
            filters[dim] = [v.strip() for v in raw.split(",") if v.strip()]
    return {"from": start, "to": end, "group_by": group_by, "filters": filters}


def _report_request(req: Page, p: dict[str, Any], **kw: Any) -> reports_pb2.RunCampaignReportRequest:
    return reports_pb2.RunCampaignReportRequest(
        start_date=p["from"], end_date=p["to"], time_zone=req.session.time_zone if req.session else "UTC",
        filters=[reports_pb2.ReportFilter(dimension=d, values=v) for d, v in p["filters"].items()], **kw,
    )  # fmt: skip


async def report(req: Page, m: Params) -> Response:
    p = _report_params(req)
    reports = req.stub(reports_pb2_grpc.ReportServiceStub, "analytics")
    error = ""
    fields: dict[str, str] = {}
    table: Any = None
    names: dict[str, str] = {}
    chart: dict[str, Any] = {"days": [], "clicks": [], "installs": [], "conversions": [], "breakpoints": []}
    try:
        # The table's page, the chart's days and (for the campaign column) the names, at once.
        calls = [
            req.call(
                reports.RunCampaignReport,
                _report_request(req, p, group_by=p["group_by"], page_size=50, page_token=req.q("page_token")),
            ),
            req.call(
                reports.RunCampaignReport,
                _report_request(req, p, group_by=["day"], order_by="day", page_size=400),
            ),
        ]
        if "campaign" in p["group_by"]:
            links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
            calls.append(req.call(links.ListCampaigns, lpb.ListCampaignsRequest(page_size=1000)))
        results: list[Any] = []
        for r in await asyncio.gather(*calls, return_exceptions=True):
            if isinstance(r, BaseException):
                raise r
            results.append(r)
        table, by_day = results[0], results[1]
        if len(results) > 2:
            names = {c.campaign_id: c.name for c in results[2].campaigns}
        got = {row.dimensions["day"]: row for row in by_day.rows}
        for day in days_between(p["from"], p["to"]) or sorted(got):
            row = got.get(day)  # days without traffic are drawn as zeros
            chart["days"].append(day)
            chart["clicks"].append(row.clicks if row else 0)
            chart["installs"].append(row.installs if row else 0)
            chart["conversions"].append(row.conversions if row else 0)
        for b in by_day.breakpoints:
            when = b.effective_time.ToDatetime(dt.UTC)
            changed = ", ".join(b.changed_fields) or "changed"
            chart["breakpoints"].append({
                "day": views.local_day(when, req.session.time_zone if req.session else "UTC"),
                "label": f"window {describe_window(b.conversion_window)} ({changed})",
            })  # fmt: skip
    except ServiceError as exc:
        error, fields = exc.message, exc.fields
    query = {"from": p["from"], "to": p["to"], "group_by": p["group_by"]}
    query.update({f"f_{d}": ",".join(v) for d, v in p["filters"].items()})
    return req.render(
        "report.html", 400 if error else 200, p=p, dims=DIMENSIONS, filterable=FILTER_DIMENSIONS,
        rows=[_row_view(r) for r in table.rows] if table else [],
        totals=_row_view(table.totals) if table else None,
        total_rows=table.total_rows if table else 0, next_page=table.next_page_token if table else "",
        chart=chart, breakpoints=chart["breakpoints"], error=error, fields=fields,
        query=urlencode(query, doseq=True), names=names,
    )  # fmt: skip


async def report_csv(req: Page, m: Params) -> Response:
    p = _report_params(req)
    reports = req.stub(reports_pb2_grpc.ReportServiceStub, "analytics")
    out = io.StringIO()
    w = SafeWriter(csv.writer(out))
    w.writerow(
        [*p["group_by"], *_CSV_COUNTS, "currency", "revenue", "cost", "profit", "roi", "epc", "cpi", "skan_revenue"]
    )
    token, written = "", 0
    while True:
        page = await req.call(
            reports.RunCampaignReport,
            _report_request(req, p, group_by=p["group_by"], page_size=10_000, page_token=token),
        )
        for row in page.rows:
            head = [row.dimensions.get(d, "") for d in p["group_by"]]
            counts = [getattr(row, c) for c in _CSV_COUNTS]
            # A line per currency of the row's money and SKAN revenue (one without either).
            skan = {m.currency_code: m.amount for m in row.skan_revenue}
            by_currency = {m.currency_code: m for m in row.money}
            currencies = [*by_currency, *(c for c in skan if c not in by_currency)]
            for cur in currencies or [None]:
                money = by_currency.get(cur) if cur else None
                if money is None:
                    w.writerow([*head, *counts, cur or "", *[""] * 6, skan.get(cur or "", "")])
                else:
                    roi = f"{money.roi:.4f}" if money.HasField("roi") else ""
                    w.writerow([
                        *head, *counts, money.currency_code, money.revenue.amount, money.cost.amount,
                        money.profit.amount, roi, money.epc.amount, money.cpi.amount, skan.get(cur or "", ""),
                    ])  # fmt: skip
            written += 1
        token = page.next_page_token
        if not token or written >= CSV_MAX_ROWS:
            break
    name = f"report_{p['from']}_{p['to']}.csv"
    return Response(out.getvalue().encode(), 200, {"content-disposition": f'attachment; filename="{name}"'}, "text/csv")


async def metrics(req: Page, m: Params) -> Response:
    links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
    apps = list((await req.call(links.ListApps, lpb.ListAppsRequest(page_size=200))).apps)
    today = req.today()
    app_id = req.q("app_id") or (apps[0].app_id if apps else "")
    start = req.q("from") or (today - dt.timedelta(days=29)).isoformat()
    end = req.q("to") or today.isoformat()
    steps_text = req.q("steps")
    tz = req.session.time_zone if req.session else "UTC"
    ctx: dict[str, Any] = {"apps": apps, "app_id": app_id, "from": start, "to": end, "steps": steps_text}
    data: dict[str, Any] = {"active": [], "retention": [], "revenue": {}, "funnel": []}
    error = ""
    if app_id:
        svc = req.stub(metrics_pb2_grpc.MetricsServiceStub, "analytics")
        common: dict[str, Any] = {"app_id": app_id, "start_date": start, "end_date": end, "time_zone": tz}
        try:
            active = await req.call(svc.GetActiveUsers, metrics_pb2.GetActiveUsersRequest(**common))
            data["active"] = [{"date": d.date, "dau": d.dau, "wau": d.wau, "mau": d.mau} for d in active.days]
            retention = await req.call(
                svc.GetRetention, metrics_pb2.GetRetentionRequest(days=[1, 3, 7, 14, 30], **common)
            )
            data["retention"] = [
                {"date": c.date, "users": c.users, "points": [
                    {"day": pt.day, "rate": pt.rate, "complete": pt.complete} for pt in c.points
                ]} for c in retention.cohorts
            ]  # fmt: skip
            revenue = await req.call(svc.GetRevenue, metrics_pb2.GetRevenueRequest(**common))
            by_day: dict[str, dict[str, float]] = {}
            for r in revenue.rows:
                cur = by_day.setdefault(r.revenue.currency_code or "?", {})
                cur[r.date] = cur.get(r.date, 0.0) + float(r.revenue.amount or 0)
            data["revenue"] = by_day
            steps = funnel_steps(steps_text)
            if steps:
                funnel = await req.call(svc.GetFunnel, metrics_pb2.GetFunnelRequest(steps=steps, **common))
                data["funnel"] = [{"step": s.step.screen or s.step.action, "users": s.users} for s in funnel.steps]
        except ServiceError as exc:
            error = exc.message
    return req.render(
        "metrics.html", 400 if error else 200, data=data, chart=data,
        error=error, **ctx,
    )  # fmt: skip
