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

The bar (issue 5): >= 5,000 events/s attributed with p99 lag < 2 s; >= 1,000 postbacks/s.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from clicktrail.accounts.v1 import accounts_pb2, accounts_pb2_grpc
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.attribution.v1 import config_pb2_grpc
from clicktrail.ingest.v1 import ingest_pb2 as ipb
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc

from bench.common import (
    RESULTS,
    Child,
    bar_line,
    check_alive,
    children,
    free_port,
    run_wrk_script,
    scratch_database,
    spawn,
    wait_grpc_serving,
    wait_http,
)
from libs import quality
from libs.event_handoff import EVENT_QUEUE
from libs.grpc_client import make_channel
from libs.ids import new_id
from libs.partitions import ensure_daily_partitions

NAME = "attribution"
BAR_EVENTS = 5000.0
BAR_P99_S = 2.0
BAR_POSTBACKS = 1000.0
BATCH = 100
CAMPAIGNS = 20
USERS = 5_000
UA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile"
CLICK_COLUMNS = ("account_id", "click_id", "create_time", "link_id", "campaign_id", "partner_id", "app_id", "ip",
                 "country", "device_type", "os", "user_agent", "sub1", "gaid")  # fmt: skip


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


TICK = os.sysconf("SC_CLK_TCK")
QUALITY_CHECKS = (
    "click_injection", "install_before_click", "click_flooding", "install_burst", "client_mismatch",
    "too_soon_after_install", "revenue_out_of_range", "rejected_install",
)  # fmt: skip


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


async def cpu_snapshot(conn: asyncpg.Connection, services: list[Child]) -> dict[str, float]:
    """CPU seconds so far of each service process and of each Postgres backend of this database."""
    out = {c.name: _cpu_s(c.proc.pid) for c in services}
    for r in await conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    ):
        out[f"pg:{r['pid']}"] = _cpu_s(r["pid"])
    return out


async def install_verdicts(conn: asyncpg.Connection) -> dict[str, int]:
    """Installs per verdict name ({} on a build from before verdicts, for before / after runs)."""
    try:
        rows = await conn.fetch("SELECT verdict, count(*) AS n FROM attribution.installs GROUP BY 1 ORDER BY 1")
    except asyncpg.UndefinedColumnError:
        return {}
    return {quality.verdict_name(r["verdict"]): r["n"] for r in rows}


def cpu_per_1000(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, float]:
    """Milliseconds of CPU per 1,000 items, per process and for the Postgres backends together."""
    delta: dict[str, float] = {}
    for key, value in after.items():
        name = "postgres" if key.startswith("pg:") else key
        delta[name] = delta.get(name, 0.0) + max(0.0, value - before.get(key, 0.0))
    return {k: round(v * 1e6 / n, 1) if n else 0.0 for k, v in delta.items()}


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))]


# --------------------------------------------------------------------------- data


async def load_clicks(dsn: str, account_id: str, app_id: str, links: list[tuple[str, str, str]], n: int,
                      keep: int) -> tuple[list[tuple[str, str]], float]:  # fmt: skip
    """COPY n clicks spread over the last 6.5 days (distinct devices); returns a
    sample of (click_id, gaid) and the seconds it took."""
    start = time.perf_counter()
    now_ms = int(time.time() * 1000)
    span_ms = int(6.5 * 86400 * 1000)
    sample: list[tuple[str, str]] = []
    every = max(1, n // keep)
    conn = await asyncpg.connect(dsn)
    try:
        await ensure_daily_partitions(conn, "links", "clicks", days_ahead=7, days_back=8)
        await ensure_daily_partitions(conn, "links", "impressions", days_ahead=7, days_back=8)
        chunk = 200_000
        done = 0
        while done < n:
            rows = []
            for i in range(done, min(n, done + chunk)):
                ms = now_ms - random.randrange(span_ms) - 60_000
                cid = new_id(ms)
                gaid = str(uuid.uuid4())
                link_id, campaign_id, partner_id = links[i % len(links)]
                rows.append((account_id, cid, dt.datetime.fromtimestamp(ms / 1000, dt.UTC), link_id, campaign_id,
                             partner_id, app_id, f"10.{i % 250}.{(i // 250) % 250}.{(i // 62500) % 250}", "US", 2,
                             "Android", UA, f"s{i % 100}", gaid))  # fmt: skip
                if i % every == 0:
                    sample.append((cid, gaid))
            await conn.copy_records_to_table("clicks", schema_name="links", columns=CLICK_COLUMNS, records=rows)
            done += len(rows)
        await conn.execute("ANALYZE links.clicks")
    finally:
        await conn.close()
    random.shuffle(sample)
    return sample, time.perf_counter() - start


def install_events(app_id: str, targets: list[tuple[str, str]], n: int) -> tuple[list[bytes], list[str]]:
    """Install batches: 50% click id, 30% device id only, 20% organic; and each event's gaid."""
    now = dt.datetime.now(dt.UTC)
    events, gaids = [], []
    for i in range(n):
        click_id, gaid = targets[i % len(targets)]
        ev = ipb.Event(uuid=str(uuid.uuid4()), event=ipb.EVENT_TYPE_INSTALL, app_id=app_id, session_id=f"s{i}",
                       user_agent=UA)  # fmt: skip
        kind = i % 10
        if kind < 5:
            ev.click_id, device = click_id, str(uuid.uuid4())
        elif kind < 8:
            device = gaid
        else:
            device = str(uuid.uuid4())
        ev.ip = f"172.16.{i % 250}.{(i // 250) % 250}"
        ev.device.CopyFrom(ipb.Device(gaid=device, platform=ipb.DEVICE_PLATFORM_ANDROID))
        ev.timestamp.FromDatetime(now)
        events.append(ev)
        gaids.append(device)
    batches = [ipb.SendEventsRequest(events=events[b : b + BATCH]).SerializeToString() for b in range(0, n, BATCH)]
    return batches, gaids


ACTIONS = [("purchase", 10), ("level_up", 30), ("tutorial_step", 10), ("ad_watched", 10), ("screen", 25),
           ("heartbeat", 15)]  # fmt: skip


def app_events(app_id: str, gaids: list[str], n: int) -> list[bytes]:
    now = dt.datetime.now(dt.UTC)
    names = [a for a, _ in ACTIONS]
    weights = [w for _, w in ACTIONS]
    out = []
    batch: list[ipb.Event] = []
    for _ in range(n):
        u = random.randrange(len(gaids))
        kind = random.choices(names, weights)[0]
        ev = ipb.Event(uuid=str(uuid.uuid4()), app_id=app_id, session_id=f"s{u}", user_id=f"u{u}",
                       device=ipb.Device(gaid=gaids[u], platform=ipb.DEVICE_PLATFORM_ANDROID))  # fmt: skip
        if kind == "screen":
            ev.event, ev.action = ipb.EVENT_TYPE_SCREEN, "shop"
        elif kind == "heartbeat":
            ev.event = ipb.EVENT_TYPE_HEARTBEAT
        else:
            ev.event, ev.action = ipb.EVENT_TYPE_TRACK, kind
            props: Any = {
                "purchase": {"price": round(random.uniform(0.5, 600), 2), "currency": "USD", "sku": "gems"},
                "level_up": {"level": random.randrange(1, 60)},
                "tutorial_step": {"step": random.randrange(1, 8)},
                "ad_watched": {"network": random.choice(["unity", "applovin"])},
            }[kind]
            ev.action_properties_json = orjson.dumps(props).decode()
        ev.timestamp.FromDatetime(now)
        batch.append(ev)
        if len(batch) == BATCH:
            out.append(ipb.SendEventsRequest(events=batch).SerializeToString())
            batch = []
    if batch:
        out.append(ipb.SendEventsRequest(events=batch).SerializeToString())
    return out


def goals() -> list[cpb.Goal]:
    """25 goals: 5 purchase thresholds (every), 10 level milestones (first), 5 tutorial
    steps (first), 2 ad goals (every / 10th), 3 purchase milestones (2nd, 5th, first big)."""
    cond = cpb.Condition
    out = [
        cpb.Goal(name=f"Purchase over {p}", kind=cpb.GOAL_KIND_PURCHASE, event="purchase",
                 conditions=[cond(field="action_properties.price", operator=cpb.OPERATOR_GREATER_THAN, value=str(p))],
                 occurrence=cpb.OCCURRENCE_EVERY, value_path="action_properties.price",
                 currency_path="action_properties.currency")
        for p in (0, 10, 50, 100, 500)
    ]  # fmt: skip
    out += [
        cpb.Goal(name=f"Level {lv}", kind=cpb.GOAL_KIND_CUSTOM, event="level_up", occurrence=cpb.OCCURRENCE_FIRST,
                 conditions=[cond(field="action_properties.level", operator=cpb.OPERATOR_GREATER_OR_EQUAL,
                                  value=str(lv))])
        for lv in (5, 10, 15, 20, 25, 30, 35, 40, 45, 50)
    ]  # fmt: skip
    out += [
        cpb.Goal(name=f"Tutorial {s}", kind=cpb.GOAL_KIND_CUSTOM, event="tutorial_step",
                 occurrence=cpb.OCCURRENCE_FIRST,
                 conditions=[cond(field="action_properties.step", operator=cpb.OPERATOR_EQUALS, value=str(s))])
        for s in (1, 2, 3, 4, 5)
    ]  # fmt: skip
    out += [
        cpb.Goal(name="Ad watched", kind=cpb.GOAL_KIND_CUSTOM, event="ad_watched", occurrence=cpb.OCCURRENCE_EVERY,
                 conditions=[cond(field="action_properties.network", operator=cpb.OPERATOR_IN,
                                  values=["unity", "applovin"])]),
        cpb.Goal(name="Tenth ad", kind=cpb.GOAL_KIND_CUSTOM, event="ad_watched", occurrence=cpb.OCCURRENCE_NTH,
                 nth=10),
        cpb.Goal(name="Second purchase", kind=cpb.GOAL_KIND_PURCHASE, event="purchase",
                 occurrence=cpb.OCCURRENCE_NTH, nth=2, value_path="action_properties.price"),
        cpb.Goal(name="Fifth purchase", kind=cpb.GOAL_KIND_PURCHASE, event="purchase",
                 occurrence=cpb.OCCURRENCE_NTH, nth=5, value_path="action_properties.price"),
        cpb.Goal(name="First big purchase", kind=cpb.GOAL_KIND_PURCHASE, event="purchase",
                 occurrence=cpb.OCCURRENCE_FIRST,
                 conditions=[cond(field="action_properties.price", operator=cpb.OPERATOR_GREATER_THAN, value="300")]),
    ]  # fmt: skip
    assert len(out) == 25
    return out


# --------------------------------------------------------------------------- driving


async def offer(send: Any, batches: list[bytes], rate: float, concurrency: int = 16) -> dict[str, Any]:
    """Sends batches at ``rate`` events/s (open loop, at most ``concurrency`` in flight)."""
    sem = asyncio.Semaphore(concurrency)
    errors = 0
    accepted = 0
    start = time.perf_counter()

    async def one(body: bytes) -> None:
        nonlocal errors, accepted
        try:
            got = await send(body)  # (not `accepted += await ...`: that reads accepted before awaiting)
            accepted += got
        except Exception:
            errors += 1
        finally:
            sem.release()

    tasks = []
    for i, body in enumerate(batches):
        due = start + i * BATCH / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await sem.acquire()
        tasks.append(asyncio.ensure_future(one(body)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    return {"offered_s": round(elapsed, 2), "accepted": accepted, "errors": errors,
            "offered_per_s": round(accepted / elapsed, 1) if elapsed else 0.0}  # fmt: skip


async def wait_until(conn: asyncpg.Connection, sql: str, target: int, timeout_s: float) -> tuple[float, int]:
    """Polls ``sql`` (a count) until it reaches ``target``; returns (monotonic time, last count)."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = await conn.fetchval(sql)
        if got >= target or time.monotonic() > deadline:
            return time.perf_counter(), int(got)
        await asyncio.sleep(0.05)


async def queue_empty(conn: asyncpg.Connection, timeout_s: float) -> float:
    deadline = time.monotonic() + timeout_s
    while True:
        left = await conn.fetchval("SELECT count(*) FROM queue.jobs WHERE queue = $1 AND NOT dead", EVENT_QUEUE)
        if left == 0 or time.monotonic() > deadline:
            return time.perf_counter()
        await asyncio.sleep(0.05)


async def lag_histogram(port: int) -> dict[float, float]:
    """The engine's lag histogram buckets (le -> cumulative count)."""
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    out: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("clicktrail_attribution_lag_seconds_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return out


async def batch_sizes(port: int) -> tuple[float, float]:
    """The engine's (transactions, events) so far: events per transaction is their ratio."""
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    got = {"count": 0.0, "sum": 0.0}
    for line in text.splitlines():
        for k in got:
            if line.startswith(f"clicktrail_attribution_batch_events_{k} "):
                got[k] = float(line.rsplit(" ", 1)[1])
    return got["count"], got["sum"]


def histogram_p99(before: dict[float, float], after: dict[float, float]) -> float:
    """The smallest bucket bound under which >= 99% of the new observations fall."""
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    total = delta.get(float("inf"), 0.0)
    for le in sorted(delta):
        if total and delta[le] >= 0.99 * total:
            return le
    return float("inf")


POSTBACK_LUA = r"""
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
function init(args)
  ids = {}
  for line in io.lines(os.getenv("CLICKTRAIL_WRK_IDS")) do ids[#ids + 1] = line end
  n = 0
  ok = 0
  other = 0
  token = os.getenv("CLICKTRAIL_WRK_TOKEN")
end
function request()
  n = n + 1
  local id = ids[((n * 7919 + tid * 104729) % #ids) + 1]
  return wrk.format("GET", "/postback?click_id=" .. id .. "&txid=t" .. tid .. "-" .. n ..
    "&payout=1.25&status=approved&goal=sale&token=" .. token)
end
function response(status, headers, body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
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


def _cpu_text(cpu: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:,.0f}" for k, v in cpu.items())


def run_postbacks(url: str, token: str, ids: list[str], seconds: int, connections: int) -> dict[str, Any]:
    work = RESULTS / "work"
    work.mkdir(parents=True, exist_ok=True)
    ids_path = work / "postback-ids.txt"
    ids_path.write_text("\n".join(ids) + "\n")
    env = {"CLICKTRAIL_WRK_IDS": str(ids_path), "CLICKTRAIL_WRK_TOKEN": token}
    r = run_wrk_script("postbacks", POSTBACK_LUA, url, seconds, threads=2, connections=connections, env=env)
    r["non_200"] = r.pop("other")
    return r


# --------------------------------------------------------------------------- the run


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

            n_installs = int(rate * seconds)
            n_events = int(rate * seconds)
            keep = n_installs + 20_000
            sample, load_s = await load_clicks(dsn, account_id, app.app_id, links_made, args.attribution_clicks, keep)
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

    p99_a = float(lag_a["p99"] or 0)
    p99_b = float(lag_b["p99"] or 0)
    checks = {
        f"installs >= {BAR_EVENTS:,.0f}/s": installs_s >= BAR_EVENTS,
        f"install lag p99 < {BAR_P99_S:g} s": p99_a < BAR_P99_S,
        f"events (25 goals) >= {BAR_EVENTS:,.0f}/s": events_s >= BAR_EVENTS,
        f"event lag p99 < {BAR_P99_S:g} s": p99_b < BAR_P99_S and hist_p99 <= BAR_P99_S,
        f"postbacks >= {BAR_POSTBACKS:,.0f}/s": postbacks["per_s"] >= BAR_POSTBACKS,
        "every install attributed once": got == offered_a["accepted"] == n_installs,
        # Rows beyond the 200s counted: requests in flight when wrk stopped (at most one per connection).
        "every 200 postback is one conversion": 0 <= pb_rows - pb_before - postbacks["ok"] <= args.postback_connections
        and postbacks["non_200"] == 0,
    }
    report = "\n".join([
        f"attribution: {clicks:,} clicks in the database (COPY {load_s:.0f} s), {CAMPAIGNS} campaigns, 25 goals,"
        f"{' install / conversion checks off,' if args.attribution_checks_off else ''}"
        f" {rate:,.0f} events/s offered for {seconds}s per phase ({os.cpu_count()} cores)",
        f"{'':<32}{'per s':>10}{'p50 lag s':>11}{'p99 lag s':>11}",
        f"{'installs attributed':<32}{installs_s:>10,.0f}{float(lag_a['p50'] or 0):>11.3f}{p99_a:>11.3f}",
        f"{'events checked (25 goals)':<32}{events_s:>10,.0f}{float(lag_b['p50'] or 0):>11.3f}{p99_b:>11.3f}"
        f"   (engine histogram p99 <= {hist_p99:g} s; {lag_b['n']:,} conversions)",
        f"{'postbacks via gateway':<32}{postbacks['per_s']:>10,.0f}   p50 {postbacks['p50_ms']:.1f} ms,"
        f" p99 {postbacks['p99_ms']:.1f} ms, {postbacks['ok']:,} answered 200, {postbacks['non_200']} other",
        f"installs: {got:,} of {n_installs:,} (match types {matches}; verdicts {verdicts}); postback conversions"
        f" {pb_rows - pb_before:,}, logged {logged:,}",
        f"CPU ms per 1,000 installs: {_cpu_text(cpu_a)}; per 1,000 events: {_cpu_text(cpu_b)}",
        f"events per engine transaction: installs {per_batch(batches0, batches1):,.0f},"
        f" events {per_batch(batches1, batches2):,.0f}",
        bar_line(checks),
    ])  # fmt: skip
    result = {
        "name": NAME, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": seconds,
        "clicks": clicks, "click_load_s": round(load_s, 1), "rate": rate, "checks_off": args.attribution_checks_off,
        "installs": {"offered": offered_a, "recorded": got, "per_s": installs_s, "lag": dict(lag_a),
                     "match_types": {str(k): v for k, v in matches.items()}, "verdicts": verdicts,
                     "cpu_ms_per_1000": cpu_a},
        "events": {"offered": offered_b, "per_s": events_s, "conversions": lag_b["n"], "lag_p50": lag_b["p50"],
                   "lag_p99": lag_b["p99"], "histogram_p99_le": hist_p99, "cpu_ms_per_1000": cpu_b},
        "postbacks": {**postbacks, "conversions": pb_rows - pb_before},
        "events_per_transaction": {"installs": per_batch(batches0, batches1), "events": per_batch(batches1, batches2)},
        "checks": checks, "passed": all(checks.values()), "report": report, "rejected_sample": rejected[:5],
    }  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "attribution.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result
