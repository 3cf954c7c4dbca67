"""Click benchmark: ``GET /c/{slug}`` through the real gateway and links
service (subprocesses) on a scratch PostgreSQL, with wrk at 64 connections,
beside a bare constant-302 ASGI app on the same server stack. Then every 302
answered is checked against the click rows.

Traffic quality (issue 18): the same run times two campaigns, one with every
click-time check on (the defaults) and one with every check off, each click
from another address (X-Forwarded-For) with one of a few real User-Agents
(one in seven a crawler), so the checks see a crowd, not one client.

Flows (issue 21): a third campaign (checks on) with 10 streams x 5 filters
(bench/clicks_flow.py: nine that every click tries and fails, the default
rotating two landers and three offers) is timed in the same ABBA run beside
the plain link.

The bars: >= 2,500 recorded redirects/s, p99 < 50 ms, zero lost clicks
(issue 3); checks on within 10% of checks off (issue 18); the flow campaign
within 10% of the plain link (issue 21).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import time
from typing import Any

import asyncpg
from clicktrail.accounts.v1 import accounts_pb2, accounts_pb2_grpc
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.links.v1 import links_pb2_grpc
from google.protobuf import field_mask_pb2

from bench.clicks_flow import flow_rows, setup_flow
from bench.common import (
    GATEWAY_UNLIMITED,
    RESULTS,
    Child,
    WrkResult,
    backend_pids,
    bar_line,
    check_alive,
    children,
    cpu_seconds,
    free_port,
    run_wrk,
    scratch_database,
    spawn,
    wait_grpc_serving,
    wait_http,
)
from libs import quality as q
from libs.grpc_client import make_channel

NAME = "clicks"
BAR_RPS = 2500.0
BAR_P99_MS = 50.0
BAR_CHECKS_RATIO = 0.90  # checks-on throughput / checks-off throughput
BAR_FLOW_RATIO = 0.90  # flow campaign throughput / plain link throughput (both checks on)
SERVER_LABEL = {"uvicorn": "uvicorn+uvloop+httptools", "granian": "granian+uvloop"}
TEMPLATE = "https://shop.example/land?cid={click_id}&s1={sub1}&s2={sub2}"
CHECKS = [r.code for r in q.REASONS if r.applies_to == "touch"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--links-procs",
        type=int,
        default=int(os.environ.get("BENCH_LINKS_PROCS", "1")),
        help="links service processes sharing one port (SO_REUSEPORT)",
    )
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up load on a separate link")
    parser.add_argument(
        "--server",
        choices=["uvicorn", "granian"],
        default="uvicorn",
        help="HTTP server for the gateway and the bare app (granian: pip install granian first)",
    )


def _server_cmd(server: str, target: str, port: int, *, factory: bool) -> list[str]:
    """The command line serving ``target`` (module:attr) on ``port``."""
    if server == "uvicorn":
        return ["-m", "gateway"] if factory else ["-m", "bench.bare302", str(port)]
    return [
        "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
        "--loop", "uvloop", "--http", "1", "--no-ws", "--workers", "1", "--log-level", "warning",
        *(["--factory"] if factory else []), target,
    ]  # fmt: skip


async def _setup(addr: str, admin: str) -> tuple[str, dict[str, Any]]:
    """Account, app, partner, three published campaigns (every quality check on / off,
    and a flow of 10 streams with checks on) and four links: bench (checks on),
    bench_off, bench_flow and warm-up (checks on)."""
    async with make_channel(addr, token=admin, deadline_s=30) as ch:
        acct = await accounts_pb2_grpc.AccountServiceStub(ch).CreateAccount(
            accounts_pb2.CreateAccountRequest(name="bench")
        )
    async with make_channel(addr, token=acct.api_key, deadline_s=30) as ch:
        stub = links_pb2_grpc.LinksServiceStub(ch)
        app = (await stub.CreateApp(pb.CreateAppRequest(app=pb.App(
            name="Bench Game", platform=pb.PLATFORM_ANDROID, bundle_id="com.example.bench",
        )))).app  # fmt: skip
        partner = (await stub.CreatePartner(pb.CreatePartnerRequest(partner=pb.Partner(name="Bench Net")))).partner
        campaigns = {}
        for name in ("checks on", "checks off", "flow"):
            campaign = (await stub.CreateCampaign(pb.CreateCampaignRequest(campaign=pb.Campaign(
                name=name, partner_id=partner.partner_id, app_id=app.app_id,
            )))).campaign  # fmt: skip
            await stub.UpdateCampaign(pb.UpdateCampaignRequest(
                campaign=pb.Campaign(campaign_id=campaign.campaign_id, status=pb.CAMPAIGN_STATUS_ACTIVE),
                update_mask=field_mask_pb2.FieldMask(paths=["status"]),
            ))  # fmt: skip
            campaigns[name] = campaign.campaign_id
        off = pb.QualitySettings(campaign_id=campaigns["checks off"], checks=dict.fromkeys(CHECKS, False))
        await stub.UpdateQualitySettings(pb.UpdateQualitySettingsRequest(
            settings=off, update_mask=field_mask_pb2.FieldMask(paths=["checks"]),
        ))  # fmt: skip
        await setup_flow(ch, campaigns["flow"], partner.partner_id)
        links = {}
        roles = {"bench": "checks on", "bench_off": "checks off", "bench_flow": "flow", "warmup": "checks on"}
        for role, campaign_id in ((r, campaigns[c]) for r, c in roles.items()):
            link = (await stub.CreateLink(pb.CreateLinkRequest(link=pb.Link(
                campaign_id=campaign_id, destination_url=TEMPLATE, name=role,
            )))).link  # fmt: skip
            links[role] = {"link_id": link.link_id, "slug": link.slug}
    return acct.account.account_id, links


async def _count_rows(dsn: str, link_id: str, ids: list[str]) -> tuple[int, int, dict[int, int], dict[str, int]]:
    """(rows for the link, how many of the answered click ids have no row, rows per verdict,
    rows per reason)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetchval("SELECT count(*) FROM links.clicks WHERE link_id = $1", link_id)
        missing = await conn.fetchval(
            "SELECT count(*) FROM unnest($1::text[]) AS a(id)"
            " WHERE NOT EXISTS (SELECT 1 FROM links.clicks c WHERE c.link_id = $2 AND c.click_id = a.id)",
            ids, link_id,
        )  # fmt: skip
        verdicts = {
            r["verdict"]: r["n"]
            for r in await conn.fetch(
                "SELECT verdict, count(*) AS n FROM links.clicks WHERE link_id = $1 GROUP BY verdict", link_id
            )
        }
        reasons: dict[str, int] = {}
        for r in await conn.fetch(
            "SELECT reasons, count(*) AS n FROM links.clicks WHERE link_id = $1 AND reasons <> 0 GROUP BY reasons",
            link_id,
        ):
            for code in q.codes_of(r["reasons"]):
                reasons[code] = reasons.get(code, 0) + r["n"]
    finally:
        await conn.close()
    return int(rows), int(missing), verdicts, reasons


async def _gateway_metrics(url: str) -> dict[str, float]:
    import httpx

    out: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=5) as c:
        text = (await c.get(url)).text
    for line in text.splitlines():
        if line.startswith(
            ('clicktrail_gateway_batch_size_count{kind="click"}', 'clicktrail_gateway_batch_size_sum{kind="click"}')
        ):
            name, value = line.rsplit(" ", 1)
            out[name.split("{")[0].rsplit("_", 1)[-1]] = float(value)
    return out


def _merge(parts: list[WrkResult]) -> WrkResult:
    """Two wrk runs of one side as one: counts and time added up; p50 averaged,
    p90 / p99 / max the worse of the two."""
    return WrkResult(
        url=parts[0].url, seconds=sum(p.seconds for p in parts), requests=sum(p.requests for p in parts),
        c302=sum(p.c302 for p in parts), non3xx=sum(p.non3xx for p in parts),
        socket_errors=sum(p.socket_errors for p in parts), p50_ms=sum(p.p50_ms for p in parts) / len(parts),
        p90_ms=max(p.p90_ms for p in parts), p99_ms=max(p.p99_ms for p in parts), max_ms=max(p.max_ms for p in parts),
        ids=[i for p in parts for i in p.ids], raw={"runs": [p.raw for p in parts]},
    )  # fmt: skip


def _verdicts(counts: dict[int, int]) -> str:
    return ", ".join(f"{q.verdict_name(k)} {v:,}" for k, v in sorted(counts.items())) or "none"


def _row(name: str, r: WrkResult) -> str:
    return (
        f"{name:<22}{r.redirects_per_s:>11,.0f}{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}{r.max_ms:>9.1f}"
        f"{r.non3xx:>9}{r.socket_errors:>9}"
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    seconds = args.seconds
    work = RESULTS / "work"
    admin = secrets.token_urlsafe(16)
    internal = secrets.token_urlsafe(16)
    async with scratch_database() as dsn:
        with children() as procs:
            grpc_port, http_port, bare_port = free_port(), free_port(), free_port()
            grpc_addr = f"127.0.0.1:{grpc_port}"
            env = {
                "CLICKTRAIL_DATABASE_URL": dsn,
                "CLICKTRAIL_GRPC_LISTEN": grpc_addr,
                "CLICKTRAIL_LINKS_ADDR": grpc_addr,
                "CLICKTRAIL_ADMIN_TOKEN": admin,
                "CLICKTRAIL_INTERNAL_TOKEN": internal,
                "CLICKTRAIL_GATEWAY_TOKEN": secrets.token_urlsafe(16),
                "CLICKTRAIL_GATEWAY_HOST": "127.0.0.1",
                "CLICKTRAIL_GATEWAY_PORT": str(http_port),
                "CLICKTRAIL_PUBLIC_URL": f"http://127.0.0.1:{http_port}",
                # wrk's clicks carry X-Forwarded-For (one address each): believe it from loopback.
                "CLICKTRAIL_TRUSTED_PROXIES": "127.0.0.1/32",
                "CLICKTRAIL_LOG_LEVEL": os.environ.get("CLICKTRAIL_LOG_LEVEL", "warning"),
                "CLICKTRAIL_GATEWAY_CHANNELS": os.environ.get(
                    "CLICKTRAIL_GATEWAY_CHANNELS", str(max(2, args.links_procs))
                ),
            }
            first = spawn(procs, "links-0", ["-m", "services.links"], env, work)
            await wait_grpc_serving(first, grpc_addr, "clicktrail.links.v1.LinksService")
            for i in range(1, args.links_procs):  # replicas after the first has migrated
                child = spawn(procs, f"links-{i}", ["-m", "services.links"], env, work)
                await wait_grpc_serving(child, grpc_addr, "clicktrail.links.v1.LinksService")
            server_cmd = _server_cmd(args.server, "gateway.app:create_app", http_port, factory=True)
            gateway: Child = spawn(procs, "gateway", server_cmd, {**env, **GATEWAY_UNLIMITED}, work)
            base = f"http://127.0.0.1:{http_port}"
            await wait_http(gateway, f"{base}/healthz")  # links is SERVING (checked above); ingest is not started
            account_id, links = await _setup(grpc_addr, admin)

            if args.warmup:
                await asyncio.to_thread(
                    run_wrk, f"{base}/c/{links['warmup']['slug']}", args.warmup,
                    threads=args.threads, connections=args.connections, work_dir=work, vary=1,
                )  # fmt: skip
            # Checks off, on and the flow in ABBA order, twice (off, on, flow, flow, on, off;
            # a quarter of the time each), so that whatever drifts over the run (table size,
            # caches, the neighbours' load) weighs on each alike; each side's figures add its
            # four quarters up. The CPU the links and gateway processes spend per click is
            # counted too: it hardly moves with the machine's other load.
            half = max(1, seconds // 4)
            runs: dict[str, list[WrkResult]] = {"bench": [], "bench_off": [], "bench_flow": []}
            cpu = dict.fromkeys(runs, 0.0)
            links_cpu = dict.fromkeys(runs, 0.0)  # the links processes' share of cpu
            calls = batch_items = flow_calls = flow_items = 0.0
            order = ("bench_off", "bench", "bench_flow", "bench_flow", "bench", "bench_off") * 2
            pids = [c.proc.pid for c in procs if c.name.startswith(("links", "gateway"))]
            links_pids = [c.proc.pid for c in procs if c.name.startswith("links")]
            pg_cpu = dict.fromkeys(runs, 0.0)  # the Postgres backends of the scratch database
            pg = await asyncpg.connect(dsn)
            for run_no, role in enumerate(order, start=2):
                before = await _gateway_metrics(f"{base}/metrics")
                cpu_before, links_before = cpu_seconds(pids), cpu_seconds(links_pids)
                pg_before = cpu_seconds(backends := await backend_pids(pg))
                runs[role].append(await asyncio.to_thread(
                    run_wrk, f"{base}/c/{links[role]['slug']}", half,
                    threads=args.threads, connections=args.connections, work_dir=work, vary=run_no,
                ))  # fmt: skip
                after = await _gateway_metrics(f"{base}/metrics")
                if role == "bench":
                    calls += after.get("count", 0) - before.get("count", 0)
                    batch_items += after.get("sum", 0) - before.get("sum", 0)
                elif role == "bench_flow":
                    flow_calls += after.get("count", 0) - before.get("count", 0)
                    flow_items += after.get("sum", 0) - before.get("sum", 0)
                await asyncio.sleep(1.0)  # requests in flight when wrk stopped finish
                cpu[role] += cpu_seconds(pids) - cpu_before
                links_cpu[role] += cpu_seconds(links_pids) - links_before
                pg_cpu[role] += cpu_seconds(backends) - pg_before
            await pg.close()
            ours, off, flow = _merge(runs["bench"]), _merge(runs["bench_off"]), _merge(runs["bench_flow"])
            rows, missing, verdicts, reasons = await _count_rows(dsn, links["bench"]["link_id"], ours.ids)
            off_rows, off_missing, off_verdicts, _ = await _count_rows(dsn, links["bench_off"]["link_id"], off.ids)
            _, flow_missing, _, _ = await _count_rows(dsn, links["bench_flow"]["link_id"], flow.ids)
            flow_streams = await flow_rows(dsn, links["bench_flow"]["link_id"])
            check_alive(procs)

            bare_cmd = _server_cmd(args.server, "bench.bare302:app", bare_port, factory=False)
            bare_proc = spawn(procs, "bare302", bare_cmd, {}, work)
            await wait_http(bare_proc, f"http://127.0.0.1:{bare_port}/c/bare", timeout_s=30, expect=302)
            bare = await asyncio.to_thread(
                run_wrk, f"http://127.0.0.1:{bare_port}/c/bare", seconds,
                threads=args.threads, connections=args.connections, work_dir=work,
            )  # fmt: skip

    batches = calls
    lost = missing + max(0, ours.c302 - len(ours.ids))  # a 302 without a parsable id counts as lost
    off_lost = off_missing + max(0, off.c302 - len(off.ids))
    flow_lost = flow_missing + max(0, flow.c302 - len(flow.ids))
    flow_ratio = flow.redirects_per_s / ours.redirects_per_s if ours.redirects_per_s else 0.0
    flow_bare = flow.redirects_per_s / bare.redirects_per_s if bare.redirects_per_s else 0.0
    sides = (("bench", ours), ("bench_off", off), ("bench_flow", flow))
    cpu_us = {role: cpu[role] / r.requests * 1e6 if r.requests else 0.0 for role, r in sides}
    links_us = {role: links_cpu[role] / r.requests * 1e6 if r.requests else 0.0 for role, r in sides}
    pg_us = {role: pg_cpu[role] / r.requests * 1e6 if r.requests else 0.0 for role, r in sides}
    ratio = ours.redirects_per_s / bare.redirects_per_s if bare.redirects_per_s else 0.0
    off_ratio = off.redirects_per_s / bare.redirects_per_s if bare.redirects_per_s else 0.0
    checks_ratio = ours.redirects_per_s / off.redirects_per_s if off.redirects_per_s else 0.0
    checks = {
        f"redirects/s >= {BAR_RPS:,.0f}": ours.redirects_per_s >= BAR_RPS,
        f"p99 < {BAR_P99_MS:.0f} ms": ours.p99_ms < BAR_P99_MS,
        "zero lost clicks": lost == 0 and off_lost == 0 and flow_lost == 0,
        "no errors": ours.non3xx == off.non3xx == flow.non3xx == 0
        and ours.socket_errors == off.socket_errors == flow.socket_errors == 0,
        f"checks on >= {BAR_CHECKS_RATIO:.0%} of checks off": checks_ratio >= BAR_CHECKS_RATIO,
        "checks on flagged clicks, checks off none": bool(verdicts.get(3)) and set(off_verdicts) <= {1},
        f"flow (10 streams x 5 filters) >= {BAR_FLOW_RATIO:.0%} of the plain link": flow_ratio >= BAR_FLOW_RATIO,
        "every flow click took the default stream's lander + offer": flow_streams["other"] == 0
        and flow_streams["default"] > 0,
    }
    header = f"{'':<22}{'302/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'non-3xx':>9}{'sock err':>9}"
    lines = [
        f"clicks: wrk -t{args.threads} -c{args.connections} -d{seconds}s --latency, checks off / on / flow"
        f" as 4 x {half}s each, ABBA, one address and one of 7 User-Agents per click "
        f"({os.cpu_count()} cores, links x{args.links_procs}, server: {SERVER_LABEL[args.server]})",
        header,
        _row("gateway, checks on", ours),
        _row("gateway, checks off", off),
        _row("flow 10x5, checks on", flow),
        _row("bare 302 (same stack)", bare),
        f"ratio checks on / checks off: {checks_ratio:.3f}   on/bare: {ratio:.3f}   off/bare: {off_ratio:.3f}",
        f"ratio flow / plain link: {flow_ratio:.3f}   flow/bare: {flow_bare:.3f}   "
        f"flow rows: {flow_streams['default']:,} default stream (lander + offer), {flow_streams['other']} other",
        f"CPU per click (links + gateway processes): checks on {cpu_us['bench']:.0f} us, checks off "
        f"{cpu_us['bench_off']:.0f} us, flow {cpu_us['bench_flow']:.0f} us "
        f"(flow / plain {cpu_us['bench_flow'] / cpu_us['bench'] if cpu_us['bench'] else 0:.3f}); of which links: "
        f"checks on {links_us['bench']:.0f} us, checks off {links_us['bench_off']:.0f} us, "
        f"flow {links_us['bench_flow']:.0f} us; Postgres (the database's backends, apart): checks on "
        f"{pg_us['bench']:.0f} us, checks off {pg_us['bench_off']:.0f} us, flow {pg_us['bench_flow']:.0f} us",
        f"verdicts, checks on: {_verdicts(verdicts)}   checks off: {_verdicts(off_verdicts)}",
        "reasons, checks on: "
        + (", ".join(f"{k} {v:,}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])) or "none"),
        f"batches: {batches:,.0f} RecordClicks calls, {batch_items / batches if batches else 0:.1f} clicks per call"
        f" (flow: {flow_items / flow_calls if flow_calls else 0:.1f})",
        f"302 answered: {ours.c302:,}   click rows: {rows:,}   lost clicks: {lost}   "
        f"rows beyond answered (in flight when wrk stopped): {rows - ours.c302 + lost}",
        bar_line(checks),
    ]
    report = "\n".join(lines)
    result = {
        "name": NAME,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine()},
        "seconds": seconds,
        "links_procs": args.links_procs,
        "server": args.server,
        "gateway": ours.summary(),
        "gateway_checks_off": off.summary(),
        "gateway_flow": flow.summary(),
        "ratio_flow_plain": round(flow_ratio, 4),
        "ratio_flow_bare": round(flow_bare, 4),
        "flow_rows": flow_streams,
        "cpu_us_per_click": {k: round(v, 1) for k, v in cpu_us.items()},
        "links_cpu_us_per_click": {k: round(v, 1) for k, v in links_us.items()},
        "postgres_cpu_us_per_click": {k: round(v, 1) for k, v in pg_us.items()},
        "lost_clicks_flow": flow_lost,
        "bare": bare.summary(),
        "ratio": round(ratio, 4),
        "ratio_checks_off": round(off_ratio, 4),
        "ratio_checks_on_off": round(checks_ratio, 4),
        "verdicts": {q.verdict_name(k): v for k, v in verdicts.items()},
        "verdicts_checks_off": {q.verdict_name(k): v for k, v in off_verdicts.items()},
        "reasons": reasons,
        "lost_clicks_checks_off": off_lost,
        "rows_checks_off": off_rows,
        "answered_302": ours.c302,
        "rows": rows,
        "lost_clicks": lost,
        "rows_beyond_answered": rows - ours.c302 + lost,
        "batches": batches,
        "clicks_per_batch": round(batch_items / batches, 2) if batches else 0,
        "checks": checks,
        "passed": all(checks.values()),
        "report": report,
        "account_id": account_id,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "clicks.json").write_text(json.dumps(result, indent=2) + "\n")
    return result
