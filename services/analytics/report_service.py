"""clicktrail.analytics.v1.ReportService: campaign reports over the rollups in
reports/, and the admin recount of the rollups over a range."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import zoneinfo
from typing import Any

import grpc
from clicktrail.analytics.v1 import reports_pb2 as pb
from clicktrail.analytics.v1 import reports_pb2_grpc as pb_grpc
from clicktrail.type.v1 import money_pb2
from google.protobuf import duration_pb2

from libs import auth
from libs.api import format_money, to_timestamp
from libs.errors import Validator
from libs.grpc_server import ServiceContext
from libs.paging import Page, decode_token, page_size
from libs.vocab import timetext
from libs.vocab.metrics import APP_COUNT_METRICS, REPORT_COUNT_COLUMNS, REPORT_MONEY_COLUMNS
from services.analytics import reports as r
from services.analytics.rollup import Derived, Rollup, RollupRunner
from services.analytics.subs_derived import SubsDerived

ROLLUPS: list[Rollup] = [r.TrafficRollup(), r.OutcomesRollup(), r.AppRollup()]
DERIVED: list[Derived] = [SubsDerived()]

DEFAULT_PAGE = 100
MAX_PAGE = 10_000
MIN_DATE = timetext.MIN_DATE
MAX_DATE = dt.date(2100, 1, 1)
COUNT_METRICS = REPORT_COUNT_COLUMNS
MONEY_METRICS = REPORT_MONEY_COLUMNS


def parse_date(v: Validator, field: str, value: str) -> dt.date | None:
    value = value.strip()
    if not value:
        v.add(field, "is required: YYYY-MM-DD")
        return None
    try:
        day = timetext.parse_date(value)
    except ValueError as exc:
        v.add(field, str(exc))
        return None
    if not MIN_DATE <= day <= MAX_DATE:
        v.add(field, f"must be between {MIN_DATE} and {MAX_DATE}")
        return None
    return day


def local_midnight(day: dt.date, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC)


def parse_order(v: Validator, order_by: str, group_by: list[str]) -> tuple[str, bool]:
    parts = order_by.strip().split()
    if not parts:
        return "", False
    key = parts[0]
    desc = len(parts) == 2 and parts[1].lower() == "desc"
    if len(parts) > 2 or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc")):
        v.add("order_by", f"{order_by!r} is not 'FIELD' or 'FIELD desc'")
    elif key not in r.METRICS and key not in group_by:
        v.add("order_by", f"unknown metric {key!r}; a metric ({', '.join(r.METRICS)}) or a group_by dimension")
    return key, desc


def _set_money(target: money_pb2.Money, amount: decimal.Decimal, currency: str) -> None:
    target.amount = format_money(r.round_money(amount)) if amount else "0"
    target.currency_code = currency


def _split(out: pb.VerdictCounts, clean: int, suspicious: int, invalid: int) -> None:
    if clean:
        out.clean = clean
    if suspicious:
        out.suspicious = suspicious
    if invalid:
        out.invalid = invalid


def fill_row(out: pb.ReportRow, row: r.ReportRow) -> None:
    """Fills ``out`` in place (a report may have 10,000 rows): sub-messages passed
    to a constructor, or to extend(), are each copied."""
    out.dimensions.update(row.dims)
    out.clicks, out.unique_clicks, out.impressions = row.clicks, row.unique_clicks, row.impressions
    out.installs, out.conversions, out.approved_conversions = row.installs, row.conversions, row.approved
    out.cr = row.cr
    if row.lander_views or row.lander_clicks:
        out.lander_views, out.lander_clicks, out.lander_ctr = row.lander_views, row.lander_clicks, row.lander_ctr
    if row.skan_installs or row.skan_conversions or row.skan_revenue:
        out.skan_installs, out.skan_conversions = row.skan_installs, row.skan_conversions
        for cur, amount in row.skan_revenue.items():
            _set_money(out.skan_revenue.add(), amount, cur)
    if row.re_engagements or row.re_attributions:
        out.re_engagements, out.re_attributions = row.re_engagements, row.re_attributions
    # Only what is not 0 (unset reads 0), straight-line: a 9,000-row report fills
    # these 9,000 times, and most rows have nothing in some of them.
    main_invalid = row.invalid_in_main
    c, sc, ic = row.clicks, row.suspicious_clicks, row.invalid_clicks
    if c or ic:
        _split(out.click_verdicts, c - sc - (ic if main_invalid else 0), sc, ic)
    c, sc, ic = row.impressions, row.suspicious_impressions, row.invalid_impressions
    if c or ic:
        _split(out.impression_verdicts, c - sc - (ic if main_invalid else 0), sc, ic)
    c, sc, ic = row.installs, row.suspicious_installs, row.invalid_installs
    if c or ic:
        _split(out.install_verdicts, c - sc - (ic if main_invalid else 0), sc, ic)
    c, sc, ic = row.conversions, row.suspicious_conversions, row.invalid_conversions
    if c or ic:
        _split(out.conversion_verdicts, c - sc - (ic if main_invalid else 0), sc, ic)
    if row.invalid_clicks or row.invalid_impressions:
        out.invalid_rate = row.invalid_rate or 0.0
    if row.reasons:
        for code, kind, count in row.top_reasons():
            out.top_reasons.add(reason=code, kind=kind, count=count)
    for g in row.goals.values():
        goal = out.goals.add(goal_id=g.goal_id, conversions=g.conversions, approved=g.approved)
        for cur, amount in sorted(g.revenue.items()):
            _set_money(goal.revenue.add(), amount, cur)
    for cur, m in row.money.items():
        figures = out.money.add(currency_code=cur)
        _set_money(figures.revenue, m.revenue, cur)
        _set_money(figures.cost, m.cost, cur)
        _set_money(figures.profit, m.profit, cur)
        _set_money(figures.epc, row.epc(cur), cur)
        _set_money(figures.cpi, row.cpi(cur), cur)
        roi = m.roi
        if roi is not None:
            figures.roi = roi


def _sort_key(row: r.ReportRow, key: str, currency: str) -> Any:
    if key in row.dims:
        return row.dims[key]
    if key in COUNT_METRICS or key in r.FLOW_METRICS or key in APP_COUNT_METRICS:
        return getattr(row, key)
    if key == "skan_revenue":
        return row.skan_revenue.get(currency, decimal.Decimal(0))
    if key == "cr":
        return row.cr
    if key == "invalid_rate":
        return row.invalid_rate or 0.0
    m = row.money.get(currency)
    if m is None:
        return decimal.Decimal("-Infinity")
    if key == "roi":
        return m.roi if m.roi is not None else float("-inf")
    if key == "epc":
        return row.epc(currency)
    if key == "cpi":
        return row.cpi(currency)
    return getattr(m, key)


def _fingerprint(request: pb.RunCampaignReportRequest, account_id: str) -> str:
    q = pb.RunCampaignReportRequest()
    q.CopyFrom(request)
    q.page_token = ""
    q.page_size = 0
    return hashlib.sha256(account_id.encode() + q.SerializeToString(deterministic=True)).hexdigest()[:16]


class ReportService(pb_grpc.ReportServiceServicer):
    def __init__(self, ctx: ServiceContext, runner: RollupRunner) -> None:
        self._pool = ctx.pool
        self._runner = runner

    async def RunCampaignReport(
        self, request: pb.RunCampaignReportRequest, context: Any
    ) -> pb.RunCampaignReportResponse:
        account_id = auth.require_account()
        v = Validator()
        first = parse_date(v, "start_date", request.start_date)
        last = parse_date(v, "end_date", request.end_date)
        tz = r.zone(v, "time_zone", request.time_zone)
        group_by = [d.strip() for d in request.group_by]
        filters: dict[str, list[str]] = {}
        for i, f in enumerate(request.filters):
            dim = f.dimension.strip()
            if not dim:
                v.add(f"filters[{i}].dimension", "is required")
                continue
            # Country codes are stored upper case: "de" selects DE.
            values = [x.strip().upper() for x in f.values] if dim == "country" else list(f.values)
            filters.setdefault(dim, []).extend(values)
        order_key, desc = parse_order(v, request.order_by, group_by)
        verdicts = list(request.verdicts)
        r.check_verdicts(v, "verdicts", verdicts)
        size = page_size(request.page_size, DEFAULT_PAGE, MAX_PAGE)
        if first and last and last < first:
            v.add("end_date", f"{last} is before start_date {first}: swap them")
        elif first and last and (last - first).days + 1 > r.MAX_RANGE.days:
            v.add("end_date", f"the range is {(last - first).days + 1} days; at most {r.MAX_RANGE.days} are allowed")
        elif first and last and tz:
            r.check_request(
                v, local_midnight(first, tz), local_midnight(last + dt.timedelta(days=1), tz), tz, group_by, filters,
                fields={"start": "start_date", "end": "end_date"},
            )  # fmt: skip
        v.raise_if_any()
        assert first and last and tz
        fp = _fingerprint(request, account_id)
        page = Page(size, decode_token(request.page_token, "offset", "q"))
        page.expect("q", fp, "belongs to a different report: send the same request as before")
        page.offset  # noqa: B018  (a bad offset is refused before the report runs)
        report = await r.campaign_report(
            self._pool, account_id, local_midnight(first, tz), local_midnight(last + dt.timedelta(days=1), tz),
            group_by, filters, time_zone=tz.key, verdicts=verdicts,
        )  # fmt: skip
        rows = report.rows
        if order_key:
            money_of = report.totals.skan_revenue if order_key == "skan_revenue" else report.totals.money
            currency = next(iter(money_of), "")
            rows = sorted(rows, key=lambda row: _sort_key(row, order_key, currency), reverse=desc)
        shown, token = page.slice(rows, q=fp)
        resp = pb.RunCampaignReportResponse(
            breakpoints=[breakpoint_pb(b) for b in report.breakpoints], next_page_token=token,
            total_rows=len(rows), start_time=to_timestamp(report.start), end_time=to_timestamp(report.end),
        )  # fmt: skip
        for row in shown:
            fill_row(resp.rows.add(), row)
        fill_row(resp.totals, report.totals)
        return resp

    async def RecountReportRollups(
        self, request: pb.RecountReportRollupsRequest, context: Any
    ) -> pb.RecountReportRollupsResponse:
        auth.require_admin()
        v = Validator()
        first = parse_date(v, "start_date", request.start_date)
        last = parse_date(v, "end_date", request.end_date)
        if first and last and last < first:
            v.add("end_date", f"{last} is before start_date {first}: swap them")
        elif first and last and (last - first).days + 1 > r.MAX_RANGE.days:
            v.add("end_date", f"the range is {(last - first).days + 1} days; at most {r.MAX_RANGE.days} are allowed")
        v.raise_if_any()
        assert first and last
        start = local_midnight(first, zoneinfo.ZoneInfo("UTC"))
        end = local_midnight(last + dt.timedelta(days=1), zoneinfo.ZoneInfo("UTC"))
        await self._runner.recount(start, end)
        return pb.RecountReportRollupsResponse(start_time=to_timestamp(start), end_time=to_timestamp(end))


def _duration(td: dt.timedelta) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromTimedelta(td)
    return d


def breakpoint_pb(b: r.Breakpoint) -> pb.ConversionWindowBreakpoint:
    return pb.ConversionWindowBreakpoint(
        breakpoint_id=str(b.breakpoint_id), effective_time=to_timestamp(b.effective_time),
        conversion_window=_duration(b.conversion_window), click_lookback=_duration(b.click_lookback),
        view_lookback=_duration(b.view_lookback), changed_fields=list(b.changed),
    )  # fmt: skip


def register(server: grpc.aio.Server, ctx: ServiceContext, runner: RollupRunner) -> list[str]:
    pb_grpc.add_ReportServiceServicer_to_server(ReportService(ctx, runner), server)
    return [pb.DESCRIPTOR.services_by_name["ReportService"].full_name]
