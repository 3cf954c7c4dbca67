"""Console page load times on a database with many clicks.

The suite runs as processes (links, ingest, attribution, postbacks, analytics,
gateway); bench_reports' world (campaigns, links, tariffs) and its COPY-style
click generator fill the database, RecountReportRollups builds the rollups,
then a signed-in client loads each console page many times and reads the
server's own time from its Server-Timing header (p50/p99 per page).

Baseline, measured in the same run: the report page's figures (7 days by
campaign) computed straight from the raw tables (bench_reports.raw_sql), what a
page reading raw clicks would cost; the ratio is raw / report page.
Bar: every page's p99 under 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import secrets
import time
from typing import Any

import asyncpg
import httpx
from clicktrail.analytics.v1 import reports_pb2 as rpb
from clicktrail.analytics.v1 import reports_pb2_grpc

from bench import bench_reports
from bench.common import (
    RESULTS,
    bar_line,
    check_alive,
    children,
    free_port,
    scratch_database,
    spawn,
    wait_grpc_serving,
    wait_http,
)
from libs.grpc_client import make_channel

NAME = "console"
BAR_P99_MS = 300.0
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
TIMING_RE = re.compile(r"dur=([0-9.]+)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--console-clicks", type=int, default=int(os.environ.get("BENCH_CONSOLE_CLICKS", "10000000")),
        help="clicks generated before the run (the issue's figure, the default: 10000000)",
    )  # fmt: skip
    parser.add_argument("--console-loads", type=int, default=40, help="timed loads per page")


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))] if s else 0.0


async def run(args: argparse.Namespace) -> dict[str, Any]:
    work = RESULTS / "work"
    admin = secrets.token_urlsafe(16)
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - dt.timedelta(days=bench_reports.DAYS)
    async with scratch_database() as dsn:
        with children() as procs:
            names = ("links", "ingest", "attribution", "postbacks", "analytics")
            addrs = {s: f"127.0.0.1:{free_port()}" for s in names}
            port = free_port()
            console_port = free_port()
            env = {"CLICKTRAIL_DATABASE_URL": dsn, "CLICKTRAIL_ADMIN_TOKEN": admin,
                   "CLICKTRAIL_INTERNAL_TOKEN": secrets.token_urlsafe(16), "CLICKTRAIL_LOG_LEVEL": "warning",
                   "CLICKTRAIL_GATEWAY_TOKEN": secrets.token_urlsafe(16),
                   "CLICKTRAIL_CONSOLE_SECRET": secrets.token_urlsafe(32), "CLICKTRAIL_GATEWAY_PORT": str(port),
                   "CLICKTRAIL_CONSOLE_PORT": str(console_port),
                   **{f"CLICKTRAIL_{s.upper()}_ADDR": a for s, a in addrs.items()}}  # fmt: skip
            services = {
                "links": "clicktrail.links.v1.LinksService", "ingest": "clicktrail.ingest.v1.IngestService",
                "attribution": "clicktrail.attribution.v1.AttributionService",
                "postbacks": "clicktrail.postbacks.v1.PostbackService",
                "analytics": "clicktrail.analytics.v1.ReportService",
            }  # fmt: skip
            for name, service in services.items():
                child = spawn(procs, name, ["-m", f"services.{name}"],
                              {**env, "CLICKTRAIL_GRPC_LISTEN": addrs[name]}, work)  # fmt: skip
                await wait_grpc_serving(child, addrs[name], service)
            console = spawn(procs, "console", ["-m", "console"], env, work)  # its own process; /console goes there
            await wait_http(console, f"http://127.0.0.1:{console_port}/healthz")
            gateway = spawn(procs, "gateway", ["-m", "gateway"], env, work)
            base = f"http://127.0.0.1:{port}"
            await wait_http(gateway, f"{base}/healthz")

            async def recount_by_day(lo: dt.datetime, hi: dt.datetime) -> None:
                # Day by day: each recount stays well inside the services' statement timeout.
                async with make_channel(addrs["analytics"], token=admin, deadline_s=3600) as ch:
                    recount = reports_pb2_grpc.ReportServiceStub(ch).RecountReportRollups
                    for n in range((hi - lo).days + 1):
                        day = (lo + dt.timedelta(days=n)).date().isoformat()
                        await recount(rpb.RecountReportRollupsRequest(start_date=day, end_date=day))

            loaded = await bench_reports.load_world(
                dsn, args.console_clicks, start, (addrs["links"], addrs["attribution"]), admin, recount_by_day
            )
            world, counts, load_s, build_s = loaded.world, loaded.counts, loaded.load_s, loaded.build_s
            start, today = loaded.start, loaded.today

            campaign = world["links"][0][1]
            pages = {
                "campaigns": "/console/campaigns",
                "campaign": f"/console/campaigns/{campaign}",
                "report (7 days by campaign)": "/console/reports?group_by=campaign",
                "report (30 days by day, country)": f"/console/reports?from={start.date()}&to={today.date()}"
                "&group_by=day&group_by=country",
                "metrics": "/console/metrics",
                "deliveries": "/console/postbacks/deliveries",
                "goals": "/console/goals",
                "tariffs": "/console/tariffs",
                "rules": "/console/rules",
            }  # fmt: skip
            server: dict[str, list[float]] = {}
            total: dict[str, list[float]] = {}
            async with httpx.AsyncClient(base_url=base, timeout=60) as client:
                form = await client.get("/console/signin")
                csrf = CSRF_RE.search(form.text)
                assert csrf is not None
                signed = await client.post("/console/signin", data={"api_key": world["api_key"], "csrf": csrf.group(1)})
                assert signed.status_code == 303, signed.text
                for name, path in pages.items():
                    warm = await client.get(path)
                    assert warm.status_code == 200, (path, warm.status_code, warm.text[:500])
                    server[name], total[name] = [], []
                    for _ in range(args.console_loads):
                        t = time.perf_counter()
                        resp = await client.get(path)
                        total[name].append((time.perf_counter() - t) * 1000)
                        m = TIMING_RE.search(resp.headers.get("server-timing", ""))
                        server[name].append(float(m.group(1)) if m else 0.0)
            # The report pages' own RPCs straight over gRPC (the same two calls, at once): what the page
            # cannot go below; the difference is the console's (and HTTP's) share.
            rpc: dict[str, list[float]] = {}
            tz_reqs = {
                "report (7 days by campaign)": ((today - dt.timedelta(days=6)).date(), today.date(), ["campaign"]),
                "report (30 days by day, country)": (start.date(), today.date(), ["day", "country"]),
            }
            async with make_channel(addrs["analytics"], token=world["api_key"], deadline_s=60) as ch:
                stub = reports_pb2_grpc.ReportServiceStub(ch)
                for name, (first, last, group_by) in tz_reqs.items():
                    common: dict[str, Any] = {
                        "start_date": first.isoformat(), "end_date": last.isoformat(), "time_zone": "UTC",
                    }  # fmt: skip
                    pair = (
                        rpb.RunCampaignReportRequest(**common, group_by=group_by, page_size=50),
                        rpb.RunCampaignReportRequest(**common, group_by=["day"], order_by="day", page_size=400),
                    )
                    rpc[name] = []
                    for _ in range(args.console_loads):
                        t = time.perf_counter()
                        await asyncio.gather(*(stub.RunCampaignReport(r) for r in pair))
                        rpc[name].append((time.perf_counter() - t) * 1000)
            # Baseline: the report page's figures from the raw tables.
            conn = await asyncpg.connect(dsn)
            raw: list[float] = []
            try:
                sql = bench_reports.raw_sql(["campaign"])
                for _ in range(3):
                    t = time.perf_counter()
                    week = (today - dt.timedelta(days=6), today + dt.timedelta(days=1))
                    await conn.fetch(sql, world["account_id"], *week)
                    raw.append((time.perf_counter() - t) * 1000)
            finally:
                await conn.close()
            check_alive(procs)

    figures = {}
    lines = [f"{'page':<34}{'server p50':>11}{'p99':>8}{'total p50':>11}{'p99':>8}{'its RPCs p50':>14}{'p99':>8}  ms"]
    for name in pages:
        s50, s99 = _pct(server[name], 0.5), _pct(server[name], 0.99)
        t50, t99 = _pct(total[name], 0.5), _pct(total[name], 0.99)
        figures[name] = {"server_p50_ms": round(s50, 1), "server_p99_ms": round(s99, 1),
                         "total_p50_ms": round(t50, 1), "total_p99_ms": round(t99, 1)}  # fmt: skip
        line = f"{name:<34}{s50:>11.1f}{s99:>8.1f}{t50:>11.1f}{t99:>8.1f}"
        if name in rpc:
            r50, r99 = _pct(rpc[name], 0.5), _pct(rpc[name], 0.99)
            figures[name].update(rpc_p50_ms=round(r50, 1), rpc_p99_ms=round(r99, 1))
            line += f"{r50:>14.1f}{r99:>8.1f}"
        lines.append(line)
    raw50 = _pct(raw, 0.5)
    report_p50 = figures["report (7 days by campaign)"]["server_p50_ms"]
    ratio = round(raw50 / report_p50, 1) if report_p50 else 0.0
    checks = {f"every page p99 < {BAR_P99_MS:g} ms": all(f["total_p99_ms"] < BAR_P99_MS for f in figures.values())}
    report = "\n".join([
        f"console: {counts['clicks']:,} clicks, {counts['impressions']:,} impressions over {bench_reports.DAYS} days"
        f" ({loaded.origin}, rollups recounted in {build_s:.0f} s); {args.console_loads} loads per page,"
        " signed in, over HTTP",
        *lines,
        f"baseline: the report page's figures from the raw tables: p50 {raw50:.0f} ms; "
        f"report page {report_p50:.1f} ms: {ratio}x faster",
        bar_line(checks),
    ])  # fmt: skip
    result = {
        "name": NAME, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **counts,
        "load_s": round(load_s, 1), "rollup_build_s": round(build_s, 1), "pages": figures,
        "raw_p50_ms": round(raw50, 1), "ratio_p50": ratio,
        "loads": args.console_loads, "checks": checks, "passed": all(checks.values()), "report": report,
    }  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{NAME}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result
