"""Campaign reports: latency over the rollups beside one direct SQL query over
the raw tables answering the same question, in the same run.

Data (--report-clicks, 10,000,000 by default, the issue's figure) is generated
inside PostgreSQL (INSERT ... SELECT over generate_series, chunks of 1M: faster
than COPY from Python) into a scratch database, as history over the 30 whole
UTC days before today: 20 campaigns x 2 links, skewed countries, device types
and OSes, IPs that repeat (about a fifth of the clicks are not unique), sub1 a
traffic source (300 values, a few carry most clicks), sub2 a creative (20),
sub3 a placement (200, on half the clicks); impressions 20 % of the clicks;
installs 1 % of the (not invalid) clicks; conversions half the installs (70 %
approved, 20 % pending, 10 % rejected; USD, 10 % EUR); CPC / CPI / CPA /
RevShare tariffs and corrections. Traffic quality (issue 18): 6 % of the
touches invalid (a bot User-Agent, a data-centre address, a duplicate), 3 %
suspicious (a prefetch); 3 % of the installs invalid (click injection), 2 %
suspicious (an install burst); 2 % of the conversions invalid (too soon).

The real links, attribution and analytics services run. The analytics service
starts before the load, so the history lies below its rollups' watermark, as
a bulk load does; the rollups are then built by RecountReportRollups (timed),
and the report is asked over gRPC for three groupings (campaign;
campaign,country; day,sub1) over the 30 days. Each answer's clicks, unique
clicks, impressions, installs, conversions and revenue (clean + suspicious) and
its invalid clicks, installs and conversions are checked against the raw
query's.

The bar (issue 7): every report under 500 ms at p99 and at least 20x faster
than the raw scan.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import time
from typing import Any

import asyncpg
from clicktrail.analytics.v1 import reports_pb2 as rpb
from clicktrail.analytics.v1 import reports_pb2_grpc

from bench.common import (
    RESULTS,
    bar_line,
    check_alive,
    children,
    free_port,
    scratch_database,
    spawn,
    wait_grpc_serving,
)
from bench.reports_data import (
    DAYS,
    fast_answer,
    load_world,
    pct,
    raw_answer,
    raw_sql,
    rollup_sizes,
)
from libs.grpc_client import make_channel

NAME = "reports"
BAR_P99_MS = 500.0
BAR_RATIO = 20.0
GROUPINGS = (["campaign"], ["campaign", "country"], ["day", "sub1"])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--report-clicks", type=int, default=int(os.environ.get("BENCH_REPORT_CLICKS", "10000000")),
        help="clicks generated before the run (the issue's figure, the default: 10000000)",
    )  # fmt: skip
    parser.add_argument("--report-runs", type=int, default=30, help="timed report calls per grouping")
    parser.add_argument("--report-raw-runs", type=int, default=3, help="timed runs of each raw query")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    work = RESULTS / "work"
    admin = secrets.token_urlsafe(16)
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - dt.timedelta(days=DAYS)
    async with scratch_database() as dsn:
        with children() as procs:
            links_addr, attribution_addr = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
            analytics_addr = f"127.0.0.1:{free_port()}"
            env = {"CLICKTRAIL_DATABASE_URL": dsn, "CLICKTRAIL_LINKS_ADDR": links_addr,
                   "CLICKTRAIL_ATTRIBUTION_ADDR": attribution_addr, "CLICKTRAIL_ADMIN_TOKEN": admin,
                   "CLICKTRAIL_INTERNAL_TOKEN": secrets.token_urlsafe(16),
                   "CLICKTRAIL_LOG_LEVEL": "warning"}  # fmt: skip
            links = spawn(procs, "links", ["-m", "services.links"], {**env, "CLICKTRAIL_GRPC_LISTEN": links_addr}, work)
            await wait_grpc_serving(links, links_addr, "clicktrail.links.v1.LinksService")
            attribution = spawn(procs, "attribution", ["-m", "services.attribution"],
                                {**env, "CLICKTRAIL_GRPC_LISTEN": attribution_addr}, work)  # fmt: skip
            await wait_grpc_serving(attribution, attribution_addr, "clicktrail.attribution.v1.AttributionService")
            # ingest only to migrate its schema (the metrics rollups beside ours read ingest.events).
            ingest_addr = f"127.0.0.1:{free_port()}"
            ingest = spawn(
                procs, "ingest", ["-m", "services.ingest"], {**env, "CLICKTRAIL_GRPC_LISTEN": ingest_addr}, work
            )
            await wait_grpc_serving(ingest, ingest_addr, "clicktrail.ingest.v1.IngestService")
            analytics = spawn(procs, "analytics", ["-m", "services.analytics"],
                              {**env, "CLICKTRAIL_GRPC_LISTEN": analytics_addr}, work)  # fmt: skip
            await wait_grpc_serving(analytics, analytics_addr, "clicktrail.analytics.v1.ReportService")

            async def recount(lo: dt.datetime, hi: dt.datetime) -> None:
                async with make_channel(analytics_addr, token=admin, deadline_s=3600) as ch:
                    request = rpb.RecountReportRollupsRequest(start_date=lo.date().isoformat(),
                                                              end_date=hi.date().isoformat())  # fmt: skip
                    await reports_pb2_grpc.ReportServiceStub(ch).RecountReportRollups(request)

            loaded = await load_world(dsn, args.report_clicks, start, (links_addr, attribution_addr), admin, recount)
            world, counts, load_s, build_s = loaded.world, loaded.counts, loaded.load_s, loaded.build_s
            start, today = loaded.start, loaded.today
            sizes = await rollup_sizes(dsn)

            scope: dict[str, Any] = {
                "start_date": start.date().isoformat(),
                "end_date": (today - dt.timedelta(days=1)).date().isoformat(),
            }
            fast: dict[str, list[float]] = {}
            answers: dict[str, Any] = {}
            async with make_channel(analytics_addr, token=world["api_key"], deadline_s=120) as ch:
                stub = reports_pb2_grpc.ReportServiceStub(ch)
                for group_by in GROUPINGS:
                    key = ",".join(group_by)
                    req = rpb.RunCampaignReportRequest(**scope, group_by=group_by, page_size=10_000)
                    await stub.RunCampaignReport(req)  # warm up
                    times = []
                    for _ in range(args.report_runs):
                        t = time.perf_counter()
                        resp = await stub.RunCampaignReport(req)
                        times.append((time.perf_counter() - t) * 1000)
                    fast[key] = times
                    answers[key] = resp
            raw: dict[str, list[float]] = {}
            raw_answers: dict[str, Any] = {}
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute("SET work_mem = '256MB'")
                for group_by in GROUPINGS:
                    key = ",".join(group_by)
                    sql = raw_sql(group_by)
                    times = []
                    for _ in range(args.report_raw_runs):
                        t = time.perf_counter()
                        rows = await conn.fetch(sql, world["account_id"], start, today)
                        times.append((time.perf_counter() - t) * 1000)
                    raw[key] = times
                    raw_answers[key] = rows
            finally:
                await conn.close()
            check_alive(procs)

    lines, figures, same, diffs = [], {}, {}, []
    for group_by in GROUPINGS:
        key = ",".join(group_by)
        resp = answers[key]
        complete = not resp.next_page_token
        ours, theirs = fast_answer(resp, group_by), raw_answer(raw_answers[key], group_by)
        same[key] = complete and ours == theirs
        differ = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
        diffs += [f"  {key} {k}: ours {ours.get(k)}, raw {theirs.get(k)}" for k in differ[:5]]
        f50, f99, r50, r99 = pct(fast[key], 0.5), pct(fast[key], 0.99), pct(raw[key], 0.5), pct(raw[key], 0.99)
        fig = {
            "rows": resp.total_rows, "p50_ms": round(f50, 1), "p99_ms": round(f99, 1), "raw_p50_ms": round(r50),
            "raw_p99_ms": round(r99), "ratio_p50": round(r50 / f50, 1) if f50 else 0.0,
            "ratio_p99": round(r99 / f99, 1) if f99 else 0.0,
        }  # fmt: skip
        figures[key] = fig
        lines.append(f"{key:<20}{fig['rows']:>7}{f50:>9.1f}{f99:>9.1f}{r50:>11.0f}{r99:>11.0f}"
                     f"{fig['ratio_p50']:>9.1f}x{fig['ratio_p99']:>8.1f}x")  # fmt: skip
    checks = {
        "answers equal the raw queries'": all(same.values()),
        f"p99 < {BAR_P99_MS:g} ms": all(f["p99_ms"] < BAR_P99_MS for f in figures.values()),
        f">= {BAR_RATIO:g}x faster than raw (p50)": all(f["ratio_p50"] >= BAR_RATIO for f in figures.values()),
    }
    raw_rows = counts["clicks"] + counts["impressions"] + counts["installs"] + counts["conversions"]
    report = "\n".join([
        f"reports: {counts['clicks']:,} clicks, {counts['impressions']:,} impressions, {counts['installs']:,} installs,"
        f" {counts['conversions']:,} conversions over {DAYS} days ({loaded.origin});"
        f" rollups built by RecountReportRollups in {build_s:.1f} s",
        f"rollup rows ({sum(sizes.values()):,} beside {raw_rows:,} raw): "
        + ", ".join(f"{k.removeprefix('report_')} {v:,}" for k, v in sizes.items()),
        f"{'30-day report by':<20}{'rows':>7}{'p50 ms':>9}{'p99 ms':>9}{'raw p50':>11}{'raw p99':>11}"
        f"{'p50':>10}{'p99':>9}",
        *lines,
        "answers equal the raw query's (clicks, unique clicks, impressions, installs, conversions, USD revenue;"
        f" invalid clicks, installs, conversions): {same}",
        *diffs,  # the first rows that differ, per grouping
        bar_line(checks),
    ])  # fmt: skip
    result = {
        "name": NAME, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **counts,
        "load_s": round(load_s, 1), "rollup_build_s": round(build_s, 1), "rollup_rows": sizes, "reports": figures,
        "runs": args.report_runs, "raw_runs": args.report_raw_runs, "checks": checks, "passed": all(checks.values()),
        "report": report,
    }  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{NAME}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result
