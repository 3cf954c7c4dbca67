"""Mixed load through the gateway: the whole pipeline at once, then with two
replicas of every service.

Three wrk instances at the same time against the gateway: clicks (``GET /c``),
SDK batches of 20 install events (``POST /v1/events``) and inbound postbacks
(``GET /postback`` for clicks recorded beforehand); each install and conversion
makes an outbound postback to a local sink (its own process). Reported per
endpoint: throughput, p50/p99, errors; CPU used by each process (from /proc),
PostgreSQL and the load generator; and the count check once every queue has
drained: every 302's click row, every accepted event stored and attributed,
every 200 postback a conversion, every install and conversion delivered to the
sink. Then the same with links, ingest, attribution and postbacks x2 (the
gateway reaches the replicas by one target naming both), as a ratio to x1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

import asyncpg
from clicktrail.accounts.v1 import accounts_pb2, accounts_pb2_grpc
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.attribution.v1 import config_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from clicktrail.postbacks.v1 import postbacks_pb2 as ppb
from clicktrail.postbacks.v1 import postbacks_pb2_grpc

from bench.bench_attribution import run_postbacks
from bench.common import (
    GATEWAY_UNLIMITED,
    RESULTS,
    Child,
    bar_line,
    check_alive,
    children,
    cpu_seconds,
    free_port,
    run_wrk,
    run_wrk_script,
    scratch_database,
    spawn,
    wait_grpc_serving,
    wait_http,
)
from libs.grpc_client import make_channel
from libs.vocab.kinds import INVALID

NAME = "mixed"
SERVICES = ("links", "ingest", "attribution", "postbacks")
EVENTS_PER_BATCH = 20
PRECLICKS = 2000

EVENTS_LUA = r"""
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
function init(args)
  math.randomseed(os.time() * 1000 + tid)
  n = 0
  ok = 0
  other = 0
  key = os.getenv("CLICKTRAIL_WRK_KEY")
  batch = tonumber(os.getenv("CLICKTRAIL_WRK_BATCH"))
end
local function uuid()
  local t = {}
  for i = 1, 16 do t[i] = math.random(0, 255) end
  t[7] = 0x40 + (t[7] % 16)
  t[9] = 0x80 + (t[9] % 64)
  local h = {}
  for i = 1, 16 do h[i] = string.format("%02x", t[i]) end
  return table.concat(h, "", 1, 4) .. "-" .. table.concat(h, "", 5, 6) .. "-" .. table.concat(h, "", 7, 8) ..
    "-" .. table.concat(h, "", 9, 10) .. "-" .. table.concat(h, "", 11, 16)
end
function request()
  n = n + 1
  local ts = os.date("!%Y-%m-%dT%H:%M:%SZ")
  local evs = {}
  for i = 1, batch do
    evs[i] = '{"uuid":"' .. uuid() .. '","event":"install","timestamp":"' .. ts ..
      '","device":{"gaid":"' .. uuid() .. '","platform":"android"}}'
  end
  return wrk.format("POST", "/v1/events", {["X-Api-Key"] = key, ["Content-Type"] = "application/json"},
    '{"events":[' .. table.concat(evs, ",") .. ']}')
end
function response(status, headers, body)
  if status == 202 then ok = ok + 1 else other = other + 1 end
end
function done(summary, latency, requests)
  local r = {ok = 0, other = 0}
  for _, t in ipairs(threads) do
    r.ok = r.ok + t:get("ok")
    r.other = r.other + t:get("other")
  end
  io.write(string.format("WRK_JSON {\"requests\": %d, \"duration_us\": %d, \"ok\": %d, \"other\": %d, " ..
    "\"p50_us\": %d, \"p99_us\": %d, \"errors\": %d}\n", summary.requests, summary.duration, r.ok, r.other,
    latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mixed-seconds", type=int, default=120, help="mixed load: seconds per topology")
    parser.add_argument("--mixed-replicas", type=int, nargs="+", default=[1, 2], help="topologies to run")


def _run_events(url: str, app_key: str, seconds: int, connections: int) -> dict[str, Any]:
    env = {"CLICKTRAIL_WRK_KEY": app_key, "CLICKTRAIL_WRK_BATCH": str(EVENTS_PER_BATCH)}
    r = run_wrk_script("events", EVENTS_LUA, url, seconds, threads=1, connections=connections, env=env)
    r["non_2xx"] = r.pop("other")
    return r


def _pids_named(name: str) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().strip() == name:
                    pids.append(int(d.name))
            except OSError:
                continue
    return pids


async def _stats(port: int) -> dict[str, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /_stats HTTP/1.1\r\nHost: sink\r\n\r\n")
    await writer.drain()
    raw = await reader.read(65536)
    writer.close()
    return dict(json.loads(raw.split(b"\r\n\r\n", 1)[1]))


async def _topology(replicas: int, seconds: int, work: Path) -> dict[str, Any]:
    admin, internal = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    async with scratch_database() as dsn:
        with children() as procs:
            http_port, sink_port = free_port(), free_port()
            addrs = {s: [f"127.0.0.1:{free_port()}" for _ in range(replicas)] for s in SERVICES}
            env = {
                "CLICKTRAIL_DATABASE_URL": dsn, "CLICKTRAIL_ADMIN_TOKEN": admin, "CLICKTRAIL_INTERNAL_TOKEN": internal,
                "CLICKTRAIL_GATEWAY_TOKEN": secrets.token_urlsafe(16),
                "CLICKTRAIL_GATEWAY_PORT": str(http_port), "CLICKTRAIL_LOG_LEVEL": "warning",
                "CLICKTRAIL_POSTBACK_ALLOWED_NETWORKS": "127.0.0.0/8",
                # wrk's clicks carry X-Forwarded-For (one address each): believe it from loopback.
                "CLICKTRAIL_TRUSTED_PROXIES": "127.0.0.1/32",
            }  # fmt: skip
            for s, a in addrs.items():
                env[f"CLICKTRAIL_{s.upper()}_ADDR"] = a[0] if len(a) == 1 else "ipv4:" + ",".join(a)
            sink_args = ["-m", "tests.services.postbacks.sink", "--port", str(sink_port)]
            sink = spawn(procs, f"mixed{replicas}-sink", sink_args, env, work)
            started: dict[str, list[Child]] = {}
            for s in SERVICES:
                started[s] = []
                for i, addr in enumerate(addrs[s]):
                    child = spawn(procs, f"mixed{replicas}-{s}-{i}", ["-m", f"services.{s}"],
                                  {**env, "CLICKTRAIL_GRPC_LISTEN": addr}, work)  # fmt: skip
                    started[s].append(child)
                    await wait_grpc_serving(child, addr, "")
            gateway = spawn(procs, f"mixed{replicas}-gateway", ["-m", "gateway"], {**env, **GATEWAY_UNLIMITED}, work)
            await wait_http(gateway, f"http://127.0.0.1:{http_port}/readyz")
            url = f"http://127.0.0.1:{http_port}"

            links0, attribution0, postbacks0 = addrs["links"][0], addrs["attribution"][0], addrs["postbacks"][0]
            async with make_channel(links0, token=admin, deadline_s=30) as ch:
                acct = await accounts_pb2_grpc.AccountServiceStub(ch).CreateAccount(
                    accounts_pb2.CreateAccountRequest(name="mixed")
                )
            async with make_channel(links0, token=acct.api_key, deadline_s=30) as ch:
                stub = links_pb2_grpc.LinksServiceStub(ch)
                app = await stub.CreateApp(lpb.CreateAppRequest(
                    app=lpb.App(name="Mixed", platform=lpb.PLATFORM_ANDROID, bundle_id="m.i.x")))  # fmt: skip
                partner = (await stub.CreatePartner(lpb.CreatePartnerRequest(partner=lpb.Partner(name="Net")))).partner
                camp = (await stub.CreateCampaign(lpb.CreateCampaignRequest(campaign=lpb.Campaign(
                    name="Mixed", partner_id=partner.partner_id, app_id=app.app.app_id,
                    status=lpb.CAMPAIGN_STATUS_ACTIVE)))).campaign  # fmt: skip
                dest = "https://p.example/?cid={click_id}"
                link = (await stub.CreateLink(lpb.CreateLinkRequest(link=lpb.Link(
                    campaign_id=camp.campaign_id, destination_url=dest)))).link  # fmt: skip
            async with make_channel(attribution0, token=acct.api_key, deadline_s=30) as ch:
                await config_pb2_grpc.GoalServiceStub(ch).CreateGoal(cpb.CreateGoalRequest(
                    goal=cpb.Goal(name="sale", kind=cpb.GOAL_KIND_PURCHASE, event="purchase")))  # fmt: skip
            async with make_channel(postbacks0, token=acct.api_key, deadline_s=30) as ch:
                for trigger in (ppb.TRIGGER_INSTALL, ppb.TRIGGER_CONVERSION):
                    await postbacks_pb2_grpc.PostbackServiceStub(ch).CreateTemplate(ppb.CreateTemplateRequest(
                        template=ppb.Template(partner_id=partner.partner_id, trigger=trigger,
                                              url_template=f"http://127.0.0.1:{sink_port}/pb?e={{event_id}}")
                    ))  # fmt: skip
            # Clicks for the networks to post back about.
            # Each click from another address with a real browser's User-Agent (one in seven a
            # crawler's: flagged invalid, as a crowd's would be), so the click-time checks
            # see traffic, not one bare client.
            pre = await asyncio.to_thread(run_wrk, f"{url}/c/{link.slug}", 2, connections=8, work_dir=work, vary=1)
            pre_ids = pre.ids[:PRECLICKS]

            pids = {
                "gateway": [gateway.proc.pid],
                **{s: [c.proc.pid for c in started[s]] for s in SERVICES},
                "postgres": _pids_named("postgres"),
                "sink": [sink.proc.pid],
            }
            cpu_before = {k: cpu_seconds(v) for k, v in pids.items()}
            waited_before = os.times()
            t0 = time.monotonic()
            clicks, events, postbacks = await asyncio.gather(
                asyncio.to_thread(
                    run_wrk, f"{url}/c/{link.slug}", seconds, threads=1, connections=32, work_dir=work, vary=2
                ),
                asyncio.to_thread(_run_events, url, app.app_key, seconds, 4),
                asyncio.to_thread(run_postbacks, url, acct.postback_token, pre_ids, seconds, 8),
            )
            wall = time.monotonic() - t0
            cpu = {k: (cpu_seconds(v) - cpu_before[k]) / wall for k, v in pids.items()}
            # The wrk processes have been waited for: their CPU is in our children's times.
            waited = os.times()
            load_cpu = (waited.children_user - waited_before.children_user) + (
                waited.children_system - waited_before.children_system
            )
            cpu["wrk (load)"] = load_cpu / wall
            check_alive(procs)

            # Drain: every queue empty, then count.
            conn = await asyncpg.connect(dsn)
            try:
                accepted = events["ok"] * EVENTS_PER_BATCH
                drain_start = time.monotonic()
                while time.monotonic() - drain_start < 300:
                    left = await conn.fetchval("SELECT count(*) FROM queue.jobs WHERE NOT dead")
                    installs = await conn.fetchval("SELECT count(*) FROM attribution.installs")
                    if left == 0 and installs >= accepted:
                        break
                    await asyncio.sleep(0.5)
                drain_s = time.monotonic() - drain_start
                rows = await conn.fetchval("SELECT count(*) FROM links.clicks WHERE click_id = ANY($1::text[])",
                                           clicks.ids)  # fmt: skip
                stored = await conn.fetchval("SELECT count(*) FROM ingest.events")
                installs = await conn.fetchval("SELECT count(*) FROM attribution.installs")
                # The templates send attributed installs (organic ones have no partner to tell)
                # and conversions, but never invalid traffic's (that only a `rejected` template
                # sends, and there is none): a conversion on a crawler's click is stored, not sent.
                attributed = await conn.fetchval(
                    "SELECT count(*) FROM attribution.installs WHERE campaign_id IS NOT NULL AND verdict <> $1",
                    INVALID,
                )
                conversions, invalid = await conn.fetchrow(
                    "SELECT count(*), count(*) FILTER (WHERE verdict = $1) FROM attribution.conversions"
                    " WHERE source = 2",
                    INVALID,
                )
                deliveries = await conn.fetchval("SELECT count(*) FROM postbacks.deliveries")
                dead = await conn.fetchval("SELECT count(*) FROM queue.jobs WHERE dead")
            finally:
                await conn.close()
            expected_deliveries = attributed + conversions - invalid
            stats: dict[str, Any] = {}
            for _ in range(600):
                stats = await _stats(sink_port)
                if stats["unique"] >= expected_deliveries:
                    break
                await asyncio.sleep(0.5)
            counts = {
                "clicks_302": clicks.c302, "click_rows": rows, "events_accepted": accepted, "events_stored": stored,
                "installs": installs, "attributed": attributed, "postbacks_200": postbacks["ok"],
                "conversions": conversions, "conversions_invalid": invalid,
                "deliveries": deliveries, "delivered_unique": stats.get("unique", 0), "dead_jobs": dead,
                "drain_s": round(drain_s, 1),
            }  # fmt: skip
            # wrk stops with requests in flight: their work may be stored without an answer
            # counted (at most one request per connection), so stored >= acknowledged.
            lost = (
                rows != len(clicks.ids) or stored < accepted or installs < accepted or conversions < postbacks["ok"]
                or stats.get("unique", 0) < expected_deliveries or dead
            )  # fmt: skip
            twice = installs != stored or deliveries != expected_deliveries
            return {
                "replicas": replicas, "seconds": round(wall, 1),
                "endpoints": {
                    "GET /c/{slug}": {"per_s": clicks.redirects_per_s, "p50_ms": clicks.p50_ms, "p99_ms": clicks.p99_ms,
                                      "errors": clicks.non3xx + clicks.socket_errors},
                    f"POST /v1/events (x{EVENTS_PER_BATCH})": {
                        "per_s": events["per_s"], "p50_ms": events["p50_ms"], "p99_ms": events["p99_ms"],
                        "errors": events["non_2xx"] + events["socket_errors"]},
                    "GET /postback": {"per_s": postbacks["per_s"], "p50_ms": postbacks["p50_ms"],
                                      "p99_ms": postbacks["p99_ms"],
                                      "errors": postbacks["non_200"] + postbacks["socket_errors"]},
                },
                "cpu_cores": {k: round(v, 2) for k, v in cpu.items()},
                "counts": counts, "lost": lost, "counted_twice": twice,
            }  # fmt: skip


def _report(runs: list[dict[str, Any]]) -> str:
    lines = []
    for r in runs:
        lines.append(f"topology: gateway x1, links/ingest/attribution/postbacks x{r['replicas']}, {r['seconds']} s, "
                     f"3 wrk at once (clicks c32, events c4 x{EVENTS_PER_BATCH}, postbacks c8)")  # fmt: skip
        lines.append(f"{'endpoint':<30}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
        for name, e in r["endpoints"].items():
            lines.append(f"{name:<30}{e['per_s']:>10,.0f}{e['p50_ms']:>9.1f}{e['p99_ms']:>9.1f}{e['errors']:>8}")
        lines.append("CPU (cores used): " + ", ".join(f"{k} {v:.2f}" for k, v in r["cpu_cores"].items()))
        lines.append("count check: " + ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}"
                                                 for k, v in r["counts"].items()))  # fmt: skip
        lines.append(f"acknowledged but lost: {'none' if not r['lost'] else 'SOME'}; "
                     f"counted twice: {'none' if not r['counted_twice'] else 'SOME'}")  # fmt: skip
        lines.append("")
    if len(runs) > 1:

        def total(r: dict[str, Any]) -> float:
            return float(sum(e["per_s"] for e in r["endpoints"].values()))

        base = total(runs[0])
        for r in runs[1:]:
            lines.append(f"scaling: x{r['replicas']} / x{runs[0]['replicas']} total req/s = {total(r) / base:.2f}")
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    work = RESULTS / "work"
    runs = [await _topology(n, args.mixed_seconds, work) for n in args.mixed_replicas]
    passed = all(not r["lost"] and not r["counted_twice"] for r in runs)
    report = _report(runs) + "\n" + bar_line({"nothing acknowledged lost, nothing counted twice": passed})
    result = {"name": NAME, "runs": runs, "passed": passed, "report": report}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{NAME}.json").write_text(json.dumps(result, indent=2, default=str))
    return result
