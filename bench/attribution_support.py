"""The attribution benchmark's pieces (bench/bench_attribution.py runs it): the generated
clicks and events, the goals, offering batches at a rate, waiting for rows and the
queue, the engine's histograms, CPU per process, and wrk's postback script."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.ingest.v1 import ingest_pb2 as ipb

from bench.common import (
    RESULTS,
    Child,
    backend_pids,
    cpu_seconds,
    run_wrk_script,
)
from libs import quality
from libs.event_handoff import EVENT_QUEUE
from libs.ids import new_id
from libs.partitions import ensure_daily_partitions

BATCH = 100
CAMPAIGNS = 20
USERS = 5_000
UA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile"
CLICK_COLUMNS = ("account_id", "click_id", "create_time", "link_id", "campaign_id", "partner_id", "app_id", "ip",
                 "country", "device_type", "os", "user_agent", "sub1", "gaid")  # fmt: skip


QUALITY_CHECKS = (
    "click_injection", "install_before_click", "click_flooding", "install_burst", "client_mismatch",
    "too_soon_after_install", "revenue_out_of_range", "rejected_install",
)  # fmt: skip


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError, ValueError):
            out += [int(p) for p in task.read_text().split()]
    return out


def _cpu_tree_s(pid: int) -> float:
    """CPU seconds of a process and of the processes it started (the attribution process's
    Apple Ads resolver runs in a child)."""
    return cpu_seconds([pid]) + sum(_cpu_tree_s(child) for child in _children(pid))


async def cpu_snapshot(conn: asyncpg.Connection, services: list[Child]) -> dict[str, float]:
    """CPU seconds so far of each service process (and its children) and of each Postgres backend of this database."""
    out = {c.name: _cpu_tree_s(c.proc.pid) for c in services}
    for pid in await backend_pids(conn):
        out[f"pg:{pid}"] = cpu_seconds([pid])
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


def cpu_text(cpu: dict[str, float]) -> str:
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
