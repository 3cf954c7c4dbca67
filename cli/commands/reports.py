"""`clicktrail report ...`: campaign reports (analytics ReportService) and the
operator's recount of the report rollups."""

from __future__ import annotations

import csv
import datetime as dt
import sys
from typing import Annotated, Any

import typer
from clicktrail.analytics.v1 import reports_pb2 as pb
from clicktrail.analytics.v1 import reports_pb2_grpc as pb_grpc
from clicktrail.type.v1 import quality_pb2
from rich.table import Table
from rich.text import Text

from cli.common import (
    ApiKey,
    JsonOut,
    UsageError,
    _cell,
    _print_table,
    account_creds,
    admin_creds,
    emit,
    note,
    print_json,
    rpc,
    run_async,
    to_dict,
)
from libs import quality
from libs.clients import ServiceClient
from libs.csvsafe import SafeWriter
from libs.vocab.metrics import APP_COUNT_METRICS, APP_METRICS, APPLE_ADS_DIMENSIONS, LANDER_METRICS

app = typer.Typer(
    help="Campaign reports: clicks, unique clicks, impressions, installs, conversions, CR, lander views, lander "
    "clicks, lander CTR, revenue, cost, profit, ROI, EPC and CPI, SKAN installs / conversions / estimated revenue, "
    "re-engagements and re-attributions, grouped by any of campaign, link, partner, app, stream, lander, offer, "
    f"{', '.join(APPLE_ADS_DIMENSIONS)}, sub1..sub10, country, device_type, os, day, hour; with clicks, "
    "impressions, installs and conversions by verdict (clean / suspicious / invalid), the invalid-traffic rate and "
    "the top reasons.",
    no_args_is_help=True,
)

COUNTS = ["clicks", "unique_clicks", "impressions", "installs", "conversions", "approved_conversions", "cr"]
LANDERS = list(LANDER_METRICS)
# SKAN / AdAttributionKit and re-engagement columns: printed when --metrics names them.
APP = list(APP_METRICS)
MONEY = ["currency", "revenue", "cost", "profit", "roi", "epc", "cpi"]
# The verdict splits: CSV has a column each, the table one "clean/suspicious/invalid" cell per kind.
SPLITS = ["click", "impression", "install", "conversion"]
VERDICTS = ["clean", "suspicious", "invalid"]
QUALITY_CSV = [f"{v}_{k}s" for k in SPLITS for v in VERDICTS] + ["invalid_rate", "top_reasons"]
QUALITY_TABLE = [f"{k}s c/s/i" for k in SPLITS] + ["invalid_rate", "top_reasons"]
# Pages asked of the server per call.
PAGE = 10_000


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def _filters(values: list[str]) -> list[pb.ReportFilter]:
    merged: dict[str, list[str]] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--filter {item!r}: use DIMENSION=VALUE, e.g. country=US (repeat for more values)")
        merged.setdefault(key.strip(), []).extend(value.split(","))
    return [pb.ReportFilter(dimension=k, values=v) for k, v in merged.items()]


def _verdicts(value: str) -> list[str]:
    """--verdict's names as the request's enum names."""
    out = []
    for name in value.split(","):
        try:
            out.append(quality.parse_verdict(name))
        except ValueError as exc:
            raise UsageError(f"--verdict {value!r}: {exc}") from None
    return [quality_pb2.Verdict.Name(v) for v in out if v]


def _quality(row: dict[str, Any], csv_out: bool) -> list[str]:
    """A row's verdict splits, invalid rate and top reasons (``code/kind:count``)."""
    splits = [[str(row[f"{k}_verdicts"][v]) for v in VERDICTS] for k in SPLITS]
    cells = [c for s in splits for c in s] if csv_out else ["/".join(s) for s in splits]
    top = " ".join(f"{r['reason']}/{r['kind']}:{r['count']}" for r in row.get("top_reasons", []))
    return [*cells, f"{float(row.get('invalid_rate', 0)):.4f}", top]


def _metrics(value: str, csv_out: bool) -> list[str]:
    """--metrics as the columns to print (default: every column but the app ones);
    "verdicts" stands for the verdict split columns; a money column brings
    "currency" along (its amounts are per currency)."""
    quality_cols = QUALITY_CSV if csv_out else QUALITY_TABLE
    default = [*COUNTS, *LANDERS, *MONEY, *quality_cols]
    if not value.strip():
        return default
    known = [*COUNTS, *LANDERS, *APP, *MONEY, "verdicts", "invalid_rate", "top_reasons"]
    out: list[str] = []
    for name in (n.strip() for n in value.split(",")):
        if not name:
            continue
        if name not in known:
            raise UsageError(f"--metrics: unknown metric {name!r}; known: {', '.join(known)}")
        for col in quality_cols[:-2] if name == "verdicts" else [name]:
            if col not in out:
                out.append(col)
    if "currency" not in out:
        first_money = next((i for i, c in enumerate(out) if c in MONEY or c == "skan_revenue"), None)
        if first_money is not None:
            out.insert(first_money, "currency")
    return out


def _lines(
    row: dict[str, Any], dims: list[str], csv_out: bool = False, metrics: list[str] | None = None
) -> list[list[str]]:
    """One output line per currency of a row (one line when it has no money):
    the dimensions, then ``metrics`` (default: _metrics(""))."""
    metrics = metrics or _metrics("", csv_out)
    head = [row["dimensions"].get(d, "") for d in dims]
    base = {c: str(row.get(c, 0)) for c in [*COUNTS[:-1], *LANDERS[:-1], *APP_COUNT_METRICS]}
    base["cr"] = f"{float(row.get('cr', 0)):.4f}"
    base["lander_ctr"] = f"{float(row.get('lander_ctr', 0)):.4f}"
    base.update(zip(QUALITY_CSV if csv_out else QUALITY_TABLE, _quality(row, csv_out), strict=True))
    money_by = {m["currency_code"]: m for m in row["money"]}
    # SKAN revenue is per currency too: its currencies get lines when it is printed.
    skan_by = (
        {m["currency_code"]: m["amount"] for m in row.get("skan_revenue", [])} if "skan_revenue" in metrics else {}
    )
    currencies: list[str | None] = [*money_by, *(c for c in skan_by if c not in money_by)] or [None]
    lines = []
    for cur in currencies:
        cells = dict(base, currency=cur or "", skan_revenue=skan_by.get(cur or "", ""))
        m = money_by.get(cur or "")
        for f in ("revenue", "cost", "profit", "epc", "cpi"):
            cells[f] = m[f]["amount"] if m else ""
        cells["roi"] = f"{float(m['roi']):.4f}" if m and m.get("roi") is not None else ""
        lines.append([*head, *(cells[c] for c in metrics)])
    return lines


@app.command("campaigns")
def campaigns(
    start: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD. Default: today (UTC).")] = "",
    end: Annotated[str, typer.Option("--to", help="Last day (inclusive), YYYY-MM-DD. Default: --from.")] = "",
    group_by: Annotated[
        str,
        typer.Option(
            "--group-by",
            help="Comma-separated dimensions, e.g. campaign,country. stream, lander and offer (ids), and "
            "apple_ads_org, apple_ads_campaign, apple_ads_ad_group, apple_ads_keyword (Apple's ids; '' = not "
            "Apple Ads) go with campaign, link, partner, app, day and hour only.",
        ),
    ] = "campaign",
    tz: Annotated[str, typer.Option("--tz", help="IANA time zone of the days (whole-hour offsets).")] = "UTC",
    filters: Annotated[
        list[str] | None,
        typer.Option("--filter", help="DIMENSION=VALUE[,VALUE]; repeat for more dimensions.", show_default=False),
    ] = None,
    order_by: Annotated[
        str, typer.Option("--order-by", help="A metric or dimension, e.g. 'clicks desc' or 'lander_ctr desc'.")
    ] = "",
    verdict: Annotated[
        str,
        typer.Option(
            "--verdict",
            help="Only rows with these verdicts, comma-separated (clean, suspicious, invalid), all of them in the "
            "main columns: 'invalid' shows the invalid clicks, installs, conversions and their revenue (never a "
            "cost). Default: clicks... count clean + suspicious, invalid ones beside.",
        ),
    ] = "",
    metrics: Annotated[
        str,
        typer.Option(
            "--metrics",
            help="Comma-separated columns to print (table and CSV; --json has them all), in this order: "
            f"{', '.join([*COUNTS, *LANDERS, *APP, *MONEY])}, verdicts, invalid_rate, top_reasons. skan_* count "
            "SKAdNetwork / AdAttributionKit postbacks by the day they arrived (24-48 h and more after the install); "
            "re_engagements / re_attributions by event time. Default: every column but the SKAN and re-engagement "
            "ones.",
        ),
    ] = "",
    limit: Annotated[int, typer.Option("--limit", min=1, help="Print at most this many rows.")] = 100_000,
    csv_out: Annotated[bool, typer.Option("--csv", help="Print CSV: one line per row and currency.")] = False,
    json_out: JsonOut = False,
    api_key: ApiKey = "",
) -> None:
    """A campaign report: rows per group, then the totals; money per currency.

    Example:  clicktrail report campaigns --from 2026-11-01 --to 2026-11-23 --group-by campaign,country --csv

    Example:  clicktrail report campaigns --group-by partner --order-by "invalid_rate desc" --verdict invalid

    Example:  clicktrail report campaigns --group-by campaign,stream,lander --order-by "lander_ctr desc"

    Example:  clicktrail report campaigns --group-by campaign,apple_ads_campaign,apple_ads_keyword --metrics installs,conversions,revenue,cost

    Example:  clicktrail report campaigns --group-by campaign,day --metrics installs,skan_installs,skan_conversions,skan_revenue,re_engagements,re_attributions
    """  # noqa: E501
    if csv_out and json_out:
        raise UsageError("--csv and --json do not go together: pick one")
    columns_shown = _metrics(metrics, csv_out)
    start = start or _today()
    dims = [d.strip() for d in group_by.split(",") if d.strip()]
    request = pb.RunCampaignReportRequest(
        start_date=start, end_date=end or start, time_zone=tz, group_by=dims, filters=_filters(filters or []),
        order_by=order_by, verdicts=_verdicts(verdict) if verdict else [],
    )  # fmt: skip

    async def call(c: ServiceClient) -> tuple[pb.RunCampaignReportResponse, list[pb.ReportRow]]:
        stub = c.stub(pb_grpc.ReportServiceStub)
        rows: list[pb.ReportRow] = []
        token = ""
        while True:
            request.page_size = min(PAGE, limit - len(rows))
            request.page_token = token
            resp = await stub.RunCampaignReport(request)
            rows.extend(resp.rows)
            token = resp.next_page_token
            if not token or len(rows) >= limit:
                return resp, rows

    resp, rows = run_async(call, "analytics", account_creds(api_key))
    data = to_dict(resp)
    data["rows"] = [to_dict(r) for r in rows]
    # The server leaves an all-zero verdict split unset (a proto reader sees zeros): print it.
    for row in [*data["rows"], data["totals"]]:
        for k in SPLITS:
            row[f"{k}_verdicts"] = {**dict.fromkeys(VERDICTS, "0"), **row.get(f"{k}_verdicts", {})}
    if json_out:
        print_json(data)
        return
    columns = [*dims, *columns_shown]
    lines = [line for row in data["rows"] for line in _lines(row, dims, csv_out, columns_shown)]
    totals = _lines(data["totals"], dims, csv_out, columns_shown)
    if csv_out:
        out = SafeWriter(csv.writer(sys.stdout, lineterminator="\n"))
        out.writerow(columns)
        out.writerows(lines)
        for line in totals:
            out.writerow(["total" if i == 0 else "" for i in range(len(dims))] + line[len(dims) :])
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in columns:
        table.add_column(col, overflow="fold")
    for line in lines:
        table.add_row(*(Text(_cell(v)) for v in line))
    for line in totals:
        head = ["total" if i == 0 else "" for i in range(len(dims))]
        table.add_row(*(Text(_cell(v), style="bold") for v in [*head, *line[len(dims) :]]))
    _print_table(table)
    if not rows:
        note("no rows in this range")
    for bp in data["breakpoints"]:
        note(f"attribution settings changed at {bp['effective_time']}: conversion window {bp['conversion_window']}")


@app.command("recount")
def recount(
    start: Annotated[str, typer.Option("--from", help="First UTC day, YYYY-MM-DD.", show_default=False)],
    end: Annotated[str, typer.Option("--to", help="Last UTC day (inclusive). Default: --from.")] = "",
    json_out: JsonOut = False,
) -> None:
    """Rebuild the report rollups over whole UTC days from the raw tables (after a
    bulk load of history). Needs the operator admin token.

    Example:  clicktrail report recount --from 2026-10-01 --to 2026-10-31
    """
    resp = rpc(
        "analytics", pb_grpc.ReportServiceStub, "RecountReportRollups",
        pb.RecountReportRollupsRequest(start_date=start, end_date=end or start), admin_creds(),
    )  # fmt: skip
    emit(resp, json_out)
