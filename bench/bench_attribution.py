"""Attribution benchmark: the real links, ingest, attribution and gateway
processes on a scratch PostgreSQL holding many clicks (generated with COPY;
--attribution-clicks, 1,000,000 by default, the issue's figure is 10,000,000).

1. installs: install events offered to ingest (gRPC SendEvents, batches of 100)
   at --attribution-rate for --seconds; half carry a stored click's id, 30% only
   a device id seen on a click, 20% match nothing (organic, after the device and
   fingerprint look-ups). Measured end to end from ingest: installs attributed
   per second (all of them recorded / time from the first send to the last
   install row), and the lag receive_time -> install row at p50/p99. Also the CPU
   each process and the database's Postgres backends spent per 1,000 installs
   (from /proc: steadier than the rate on a shared box). Installs are checked as
   the account's defaults say (traffic quality, issue 18): click ids of clicks
   hours old pass click_injection; the 250 /24 subnets the installs come from
   trip install_burst (suspicious), so the burst query does real work.
2. events: in-app events of 5,000 of the installed users (track purchase / level_up /
   tutorial_step / ad_watched, screen, heartbeat) at the same rate, each checked
   against 25 goals; events/s until the hand-off queue is empty; lag p99 from
   the conversions' rows and from the engine's lag histogram.
3. postbacks: wrk GET /postback through the gateway (each request a stored click
   and a new txid) for --seconds; postbacks/s answered 200, every one a row.

4. the app-campaign mix (issue 22, bench/attribution_app.py): installs/s of today's install
   mix and of one where the iOS fifth of the installs carry an AdServices token (resolved
   against a local stand-in of Apple's attribution API) while SKAN postbacks are posted
   through the gateway, run A B B A on the same processes; parts whose lane has not landed
   print "not yet: ..." and are left out of the mix (no bar without a mix).

The bar (issue 5): >= 5,000 events/s attributed with p99 lag < 2 s; >= 1,000 postbacks/s.
Issue 22: installs/s with tokens and SKAN postbacks in the mix >= 0.90 x today's mix.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import secrets
import time
from typing import Any

import asyncpg
from clicktrail.accounts.v1 import accounts_pb2, accounts_pb2_grpc
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.attribution.v1 import config_pb2_grpc
from clicktrail.ingest.v1 import ingest_pb2 as ipb
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc

from bench.attribution_app import (
    APP_MIX_HELP,
    MixParts,
    apple_ads_env,
    mix_checks,
    mix_report,
    run_mix,
    setup_mix,
)
from bench.attribution_support import (
    CAMPAIGNS,
    QUALITY_CHECKS,
    USERS,
    app_events,
    batch_sizes,
    cpu_per_1000,
    cpu_snapshot,
    cpu_text,
    goals,
    histogram_p99,
    install_events,
    install_verdicts,
    lag_histogram,
    load_clicks,
    offer,
    queue_empty,
    run_postbacks,
    wait_until,
)
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

NAME = "attribution"
BAR_EVENTS = 5000.0
BAR_P99_S = 2.0
BAR_POSTBACKS = 1000.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--attribution-clicks", type=int, default=int(os.environ.get("BENCH_ATTRIBUTION_CLICKS", "1000000")),
        help="clicks generated with COPY before the run (the issue's figure: 10000000; ~4 min to load on 2 cores)",
    )  # fmt: skip
    parser.add_argument("--attribution-rate", type=int, default=6000, help="events/s offered to ingest")
    parser.add_argument("--postback-connections", type=int, default=32)
    parser.add_argument("--attribution-skip-events", action="store_true", help="run only installs and postbacks")
    parser.add_argument("--attribution-checks-off", action="store_true",
                        help="every install / conversion check off for the run (what they cost)")  # fmt: skip
    mix = parser.add_argument_group("the app-campaign mix (issue 22)", APP_MIX_HELP)
    mix.add_argument("--attribution-skip-app-mix", action="store_true", help="leave the app-campaign mix out")
    mix.add_argument(
        "--attribution-only-app-mix",
        action="store_true",
        help="run only the app-campaign mix (no installs / events / postbacks phases and bars)",
    )
    mix.add_argument("--app-mix-leave-out", choices=["tokens", "skan"], action="append",
                     help="leave a part out of the B mix (to see what each costs)")  # fmt: skip
    mix.add_argument("--app-mix-rounds", type=int, default=2, help="A B B A rounds (after one warm-up run)")
    mix.add_argument("--app-mix-seconds", type=float, default=8.0, help="seconds of installs offered per run")
    mix.add_argument(
        "--app-mix-rate",
        type=int,
        default=9000,
        help="installs/s offered per run: above what the box attributes, so installs/s is its capacity",
    )
    mix.add_argument("--app-mix-skan-rate", type=float, default=150.0,
                     help="SKAN postbacks/s posted through the gateway during each B run")  # fmt: skip


async def run(args: argparse.Namespace) -> dict[str, Any]:
    seconds = args.seconds
    rate = float(args.attribution_rate)
    work = RESULTS / "work"
    admin, internal = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    async with scratch_database() as dsn:
        with children() as procs:
            links_addr, ingest_addr = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
            attribution_addr, http_port, metrics_port = f"127.0.0.1:{free_port()}", free_port(), free_port()
            env = {
                "CLICKTRAIL_DATABASE_URL": dsn, "CLICKTRAIL_LINKS_ADDR": links_addr,
                "CLICKTRAIL_INGEST_ADDR": ingest_addr, "CLICKTRAIL_ATTRIBUTION_ADDR": attribution_addr,
                "CLICKTRAIL_ADMIN_TOKEN": admin, "CLICKTRAIL_INTERNAL_TOKEN": internal,
                "CLICKTRAIL_GATEWAY_TOKEN": secrets.token_urlsafe(16),
                "CLICKTRAIL_GATEWAY_PORT": str(http_port), "CLICKTRAIL_LOG_LEVEL": "warning",
                "CLICKTRAIL_DB_POOL_MAX": "20",
            }  # fmt: skip
            links = spawn(procs, "links", ["-m", "services.links"], {**env, "CLICKTRAIL_GRPC_LISTEN": links_addr}, work)
            await wait_grpc_serving(links, links_addr, "clicktrail.links.v1.LinksService")
            ingest = spawn(
                procs, "ingest", ["-m", "services.ingest"], {**env, "CLICKTRAIL_GRPC_LISTEN": ingest_addr}, work
            )
            # Apple's attribution API: the stand-in (bench/attribution_app.py), on loopback.
            standin_port = free_port()
            standin = spawn(procs, "apple-standin", ["-m", "bench.attribution_app", "standin", "--port",
                                                     str(standin_port)], {}, work)  # fmt: skip
            env.update(apple_ads_env(f"http://127.0.0.1:{standin_port}/"))
            attribution = spawn(
                procs, "attribution", ["-m", "services.attribution"],
                {**env, "CLICKTRAIL_GRPC_LISTEN": attribution_addr, "CLICKTRAIL_METRICS_PORT": str(metrics_port)},
                work,
            )  # fmt: skip
            await wait_grpc_serving(ingest, ingest_addr, "clicktrail.ingest.v1.IngestService")
            await wait_grpc_serving(attribution, attribution_addr, "clicktrail.attribution.v1.AttributionService")
            gateway = spawn(procs, "gateway", ["-m", "gateway"], env, work)
            await wait_http(gateway, f"http://127.0.0.1:{http_port}/readyz")

            async with make_channel(links_addr, token=admin, deadline_s=30) as ch:
                acct = await accounts_pb2_grpc.AccountServiceStub(ch).CreateAccount(
                    accounts_pb2.CreateAccountRequest(name="bench")
                )
            account_id = acct.account.account_id
            async with make_channel(links_addr, token=acct.api_key, deadline_s=30) as ch:
                stub = links_pb2_grpc.LinksServiceStub(ch)
                app = (await stub.CreateApp(lpb.CreateAppRequest(
                    app=lpb.App(name="Bench", platform=lpb.PLATFORM_ANDROID, bundle_id="b.e.n")))).app  # fmt: skip
                partner = (await stub.CreatePartner(lpb.CreatePartnerRequest(partner=lpb.Partner(name="Net")))).partner
                links_made = []
                for c in range(CAMPAIGNS):
                    camp = (await stub.CreateCampaign(lpb.CreateCampaignRequest(campaign=lpb.Campaign(
                        name=f"C{c}", partner_id=partner.partner_id, app_id=app.app_id,
                        status=lpb.CAMPAIGN_STATUS_ACTIVE)))).campaign  # fmt: skip
                    link_msg = lpb.Link(campaign_id=camp.campaign_id, destination_url="https://p.example/?c={click_id}")
                    link = (await stub.CreateLink(lpb.CreateLinkRequest(link=link_msg))).link
                    links_made.append((link.link_id, camp.campaign_id, partner.partner_id))
            async with make_channel(attribution_addr, token=acct.api_key, deadline_s=30) as ch:
                gstub = config_pb2_grpc.GoalServiceStub(ch)
                for g in goals():
                    await gstub.CreateGoal(cpb.CreateGoalRequest(goal=g))
                if args.attribution_checks_off:  # every install / conversion check off: what they cost
                    off = cpb.AttributionQualitySettings(checks=dict.fromkeys(QUALITY_CHECKS, False))
                    await config_pb2_grpc.AttributionQualityServiceStub(ch).UpdateAttributionQualitySettings(
                        cpb.UpdateAttributionQualitySettingsRequest(settings=off)
                    )

            n_installs = 0 if args.attribution_only_app_mix else int(rate * seconds)
            n_events = 0 if args.attribution_only_app_mix else int(rate * seconds)
            mix_rate = float(args.app_mix_rate)
            n_mix = int(mix_rate * args.app_mix_seconds) // 100 * 100
            mix_parts: MixParts | None = None
            mix: dict[str, Any] | None = None
            if not args.attribution_skip_app_mix:
                await wait_http(standin, f"http://127.0.0.1:{standin_port}/_stats")
                mix_world, mix_parts = await setup_mix(
                    links_addr, attribution_addr, acct.api_key, acct.postback_token, app.app_id,
                    f"http://127.0.0.1:{http_port}", [links, ingest, attribution, gateway], args.app_mix_skan_rate,
                    tuple(args.app_mix_leave_out or ()),
                )  # fmt: skip
            mix_installs = n_mix * (1 + 4 * args.app_mix_rounds) if mix_parts is not None else 0
            keep = n_installs + mix_installs + 20_000
            # Every install of a run its own click (and device): a device id seen by an earlier install would make
            # a reinstall, not an install, so at least as many clicks as the runs need are loaded.
            n_clicks = max(args.attribution_clicks, keep)
            sample, load_s = await load_clicks(dsn, account_id, app.app_id, links_made, n_clicks, keep)
            install_batches, gaids = install_events(app.app_id, sample, n_installs)
            # The installed users act: each of USERS users sends many events (as real users do).
            event_batches = app_events(app.app_id, gaids[:USERS], n_events)

            conn = await asyncpg.connect(dsn)
            try:
                async with make_channel(ingest_addr, token=acct.api_key, deadline_s=30) as ch:
                    call = ch.unary_unary(
                        "/clicktrail.ingest.v1.IngestService/SendEvents",
                        request_serializer=None, response_deserializer=ipb.SendEventsResponse.FromString,
                    )  # fmt: skip

                    rejected: list[str] = []

                    async def send(body: bytes) -> int:
                        resp = await call(body)
                        if (resp.rejected or resp.duplicates or resp.accepted < 100) and len(rejected) < 5:
                            rejected.append(
                                f"a={resp.accepted} d={resp.duplicates} r={resp.rejected} n={len(resp.results)}"
                            )
                            rejected.extend(f"{r.field}: {r.reason}" for r in resp.results if r.reason)
                        return int(resp.accepted)

                    if not args.attribution_only_app_mix:
                        # 1. installs
                        batches0 = await batch_sizes(metrics_port)
                        services = [links, ingest, attribution]
                        cpu0 = await cpu_snapshot(conn, services)
                        t0 = time.perf_counter()
                        offered_a = await offer(send, install_batches, rate)
                        t_done, got = await wait_until(conn, "SELECT count(*) FROM attribution.installs",
                                                       offered_a["accepted"], 120)  # fmt: skip
                        installs_s = got / (t_done - t0)
                        cpu_a = cpu_per_1000(cpu0, await cpu_snapshot(conn, services), got)
                        verdicts = await install_verdicts(conn)
                        lag_a = await conn.fetchrow(
                            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s) AS p50,"
                            " percentile_cont(0.99) WITHIN GROUP (ORDER BY s) AS p99, max(s) AS max FROM"
                            " (SELECT extract(epoch FROM create_time - receive_time)::float8 AS s"
                            "  FROM attribution.installs) t"
                        )
                        matches = dict(await conn.fetch(
                            "SELECT match_type, count(*) FROM attribution.installs GROUP BY 1"))  # fmt: skip
                        batches1 = await batch_sizes(metrics_port)

                        # 2. in-app events against 25 goals
                        if args.attribution_skip_events:
                            event_batches = []
                        hist_before = await lag_histogram(metrics_port)
                        conv_before = await conn.fetchval("SELECT count(*) FROM attribution.conversions")
                        cpu1 = await cpu_snapshot(conn, services)
                        t1 = time.perf_counter()
                        offered_b = await offer(send, event_batches, rate)
                        t_empty = await queue_empty(conn, 120)
                        events_s = offered_b["accepted"] / (t_empty - t1)
                        cpu_b = cpu_per_1000(cpu1, await cpu_snapshot(conn, services), offered_b["accepted"])
                        hist_after = await lag_histogram(metrics_port)
                        lag_b = await conn.fetchrow(
                            "SELECT count(*) AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY s) AS p50,"
                            " percentile_cont(0.99) WITHIN GROUP (ORDER BY s) AS p99 FROM"
                            " (SELECT extract(epoch FROM create_time - receive_time)::float8 AS s"
                            "  FROM attribution.conversions WHERE source = 1 OFFSET $1) t",
                            conv_before,
                        )
                        hist_p99 = histogram_p99(hist_before, hist_after)
                        batches2 = await batch_sizes(metrics_port)

                    # 4. the app-campaign mix (issue 22): today's installs vs AdServices tokens + SKAN, ABBA
                    if mix_parts is not None and (mix_parts.tokens or mix_parts.skan):
                        targets = sample[n_installs : n_installs + mix_installs]
                        mix = await run_mix(
                            mix_world, mix_parts, conn, send, targets, n_mix, mix_rate, args.app_mix_rounds
                        )

                if not args.attribution_only_app_mix:
                    # 3. inbound postbacks through the gateway
                    pb_before = await conn.fetchval("SELECT count(*) FROM attribution.conversions WHERE source = 2")
                    ids = [c for c, _ in sample[-20_000:]]
                    postbacks = run_postbacks(f"http://127.0.0.1:{http_port}/postback", acct.postback_token, ids,
                                              seconds, args.postback_connections)  # fmt: skip
                    await asyncio.sleep(0.5)
                    pb_rows = await conn.fetchval("SELECT count(*) FROM attribution.conversions WHERE source = 2")
                    logged = await conn.fetchval("SELECT count(*) FROM attribution.inbound_postbacks")
                clicks = await conn.fetchval("SELECT count(*) FROM links.clicks")
            finally:
                await conn.close()
            check_alive(procs)

    def per_batch(a: tuple[float, float], b: tuple[float, float]) -> float:
        return (b[1] - a[1]) / (b[0] - a[0]) if b[0] > a[0] else 0.0

    checks: dict[str, bool] = {}
    lines = [
        f"attribution: {clicks:,} clicks in the database (COPY {load_s:.0f} s), {CAMPAIGNS} campaigns, 25 goals,"
        f"{' install / conversion checks off,' if args.attribution_checks_off else ''}"
        f" {rate:,.0f} events/s offered for {seconds}s per phase ({os.cpu_count()} cores)",
    ]
    result: dict[str, Any] = {
        "name": NAME, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": seconds,
        "clicks": clicks, "click_load_s": round(load_s, 1), "rate": rate, "checks_off": args.attribution_checks_off,
    }  # fmt: skip
    if not args.attribution_only_app_mix:
        p99_a = float(lag_a["p99"] or 0)
        p99_b = float(lag_b["p99"] or 0)
        checks.update({
            f"installs >= {BAR_EVENTS:,.0f}/s": installs_s >= BAR_EVENTS,
            f"install lag p99 < {BAR_P99_S:g} s": p99_a < BAR_P99_S,
            f"events (25 goals) >= {BAR_EVENTS:,.0f}/s": events_s >= BAR_EVENTS,
            f"event lag p99 < {BAR_P99_S:g} s": p99_b < BAR_P99_S and hist_p99 <= BAR_P99_S,
            f"postbacks >= {BAR_POSTBACKS:,.0f}/s": postbacks["per_s"] >= BAR_POSTBACKS,
            "every install attributed once": got == offered_a["accepted"] == n_installs,
            # Rows beyond the 200s counted: requests in flight when wrk stopped (at most one per connection).
            "every 200 postback is one conversion": 0 <= pb_rows - pb_before - postbacks["ok"]
            <= args.postback_connections and postbacks["non_200"] == 0,
        })  # fmt: skip
        lines += [
            f"{'':<32}{'per s':>10}{'p50 lag s':>11}{'p99 lag s':>11}",
            f"{'installs attributed':<32}{installs_s:>10,.0f}{float(lag_a['p50'] or 0):>11.3f}{p99_a:>11.3f}",
            f"{'events checked (25 goals)':<32}{events_s:>10,.0f}{float(lag_b['p50'] or 0):>11.3f}{p99_b:>11.3f}"
            f"   (engine histogram p99 <= {hist_p99:g} s; {lag_b['n']:,} conversions)",
            f"{'postbacks via gateway':<32}{postbacks['per_s']:>10,.0f}   p50 {postbacks['p50_ms']:.1f} ms,"
            f" p99 {postbacks['p99_ms']:.1f} ms, {postbacks['ok']:,} answered 200, {postbacks['non_200']} other",
            f"installs: {got:,} of {n_installs:,} (match types {matches}; verdicts {verdicts}); postback conversions"
            f" {pb_rows - pb_before:,}, logged {logged:,}",
            f"CPU ms per 1,000 installs: {cpu_text(cpu_a)}; per 1,000 events: {cpu_text(cpu_b)}",
            f"events per engine transaction: installs {per_batch(batches0, batches1):,.0f},"
            f" events {per_batch(batches1, batches2):,.0f}",
        ]  # fmt: skip
        result.update({
            "installs": {"offered": offered_a, "recorded": got, "per_s": installs_s, "lag": dict(lag_a),
                         "match_types": {str(k): v for k, v in matches.items()}, "verdicts": verdicts,
                         "cpu_ms_per_1000": cpu_a},
            "events": {"offered": offered_b, "per_s": events_s, "conversions": lag_b["n"], "lag_p50": lag_b["p50"],
                       "lag_p99": lag_b["p99"], "histogram_p99_le": hist_p99, "cpu_ms_per_1000": cpu_b},
            "postbacks": {**postbacks, "conversions": pb_rows - pb_before},
            "events_per_transaction": {"installs": per_batch(batches0, batches1),
                                       "events": per_batch(batches1, batches2)},
        })  # fmt: skip
    if mix_parts is None:
        lines.append("app-campaign mix: skipped (--attribution-skip-app-mix)")
    else:
        lines += [f"app-campaign mix: not yet: {m}" for m in mix_parts.missing]
        if mix is not None:
            lines += mix_report(mix, mix_parts, n_mix, mix_rate)
            checks.update(mix_checks(mix, mix_parts))
        else:
            lines.append("app-campaign mix: nothing of issue 22 to mix in yet: no bar (the B runs would be A runs)")
        result["app_mix"] = {**(mix or {}), "parts": dataclasses.asdict(mix_parts)}
    lines.append(bar_line(checks))
    result.update({"checks": checks, "passed": all(checks.values()), "report": "\n".join(lines),
                   "rejected_sample": rejected[:5]})  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "attribution.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result
