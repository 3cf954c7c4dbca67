"""Ingest benchmark: batches of 100 realistic events through gRPC SendEvents
and through the gateway's ``POST /v1/events``, for a fixed time each, beside a
raw asyncpg COPY of the same rows (transactions of 100) into a scratch table.
Then every accepted event is counted in the database: stored exactly once.

The bar (issue 4): >= 20,000 events/s over gRPC, >= 10,000 events/s over HTTP.
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
from typing import Any

import asyncpg
import httpx
import orjson
from clicktrail.accounts.v1 import accounts_pb2, accounts_pb2_grpc
from clicktrail.ingest.v1 import ingest_pb2 as ipb
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc

from bench.common import (
    GATEWAY_UNLIMITED,
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
from libs.event_handoff import COLUMNS
from libs.grpc_client import make_channel
from services.ingest.validate import Context, validate

NAME = "ingest"
BATCH = 100
BAR_GRPC = 20_000.0
BAR_HTTP = 10_000.0
ACTIONS = ["level_up", "purchase", "open_chest", "tutorial_step", "ad_watched"]
SCREENS = ["home", "shop", "battle", "inventory", "settings"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ingest-concurrency", type=int, default=8, help="batches in flight at once")


def realistic_event(i: int, now: dt.datetime) -> dict[str, Any]:
    user = f"user-{random.randrange(50_000)}"
    kind = random.choices(["track", "screen", "heartbeat", "identify"], weights=[5, 3, 3, 1])[0]
    ev: dict[str, Any] = {
        "uuid": str(uuid.uuid4()), "event": kind, "timestamp": (now - dt.timedelta(seconds=i % 600)).isoformat(),
        "session_id": f"s-{user}-{i // 50}", "offset": (i % 50) * 30_000, "user_id": user, "ref": "root",
        "device": {"gaid": str(uuid.uuid5(uuid.NAMESPACE_URL, user)),  # one device per user
                   "platform": "android", "os_version": "14", "device_model": "Pixel 8",
                   "locale": "en-US"},
        "ip": f"81.2.{random.randrange(256)}.{random.randrange(256)}", "user_agent": "Game/2.3 (Android 14)",
    }  # fmt: skip
    if kind == "track":
        ev["action"] = random.choice(ACTIONS)
        ev["action_properties"] = {"level": random.randrange(100), "coins": random.randrange(10_000), "source": "quest"}
    elif kind == "screen":
        ev["action"] = random.choice(SCREENS)
    return ev


def to_proto(ev: dict[str, Any], app_id: str) -> ipb.Event:
    t = ipb.Event(
        uuid=ev["uuid"], event="EVENT_TYPE_" + ev["event"].upper(), session_id=ev["session_id"],
        offset=ev["offset"], user_id=ev["user_id"], ref=ev["ref"], app_id=app_id, ip=ev["ip"],
        user_agent=ev["user_agent"], action=ev.get("action", ""),
        action_properties_json=orjson.dumps(ev["action_properties"]).decode() if "action_properties" in ev else "",
        device=ipb.Device(gaid=ev["device"]["gaid"], platform=ipb.DEVICE_PLATFORM_ANDROID, os_version="14",
                          device_model="Pixel 8", locale="en-US"),
    )  # fmt: skip
    t.timestamp.FromDatetime(dt.datetime.fromisoformat(ev["timestamp"]))
    return t


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))]


async def _drive(send: Any, payloads: list[Any], seconds: float, concurrency: int) -> dict[str, Any]:
    """Send prepared batches from ``concurrency`` workers for ``seconds``."""
    latencies: list[float] = []
    accepted = rejected = duplicates = errors = 0
    it = iter(payloads)
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal accepted, rejected, duplicates, errors
        while time.perf_counter() < deadline:
            payload = next(it, None)
            if payload is None:
                return
            t0 = time.perf_counter()
            try:
                a, d, r = await send(payload)
            except Exception:
                errors += 1
                continue
            latencies.append(time.perf_counter() - t0)
            accepted, duplicates, rejected = accepted + a, duplicates + d, rejected + r

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return {
        "seconds": round(elapsed, 2), "batches": len(latencies), "accepted": accepted, "duplicates": duplicates,
        "rejected": rejected, "errors": errors, "events_per_s": accepted / elapsed if elapsed else 0.0,
        "p50_ms": _pct(latencies, 0.5) * 1000, "p99_ms": _pct(latencies, 0.99) * 1000,
        "ran_out_of_prepared_batches": next(it, None) is None,
    }  # fmt: skip


async def _raw_copy(dsn: str, rows: list[tuple[Any, ...]], seconds: float) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE public.bench_copy (LIKE ingest.events)")
        done, start = 0, time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:  # the scratch table has no keys: rows may repeat
            at = done % len(rows)
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "bench_copy", schema_name="public", columns=COLUMNS, records=rows[at : at + BATCH]
                )
            done += BATCH
        elapsed = time.perf_counter() - start
        await conn.execute("DROP TABLE public.bench_copy")
    finally:
        await conn.close()
    return {"rows": done, "seconds": round(elapsed, 2), "events_per_s": done / elapsed}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    seconds = args.seconds
    work = RESULTS / "work"
    admin, internal = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    # Prepared up front so the load generator spends its CPU on sending, not building.
    ceiling = 50_000  # events/s we prepare for, per path
    n_batches = max(100, int(2 * seconds * ceiling / BATCH))
    async with scratch_database() as dsn:
        with children() as procs:
            links_addr, ingest_addr, http_port = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}", free_port()
            env = {
                "CLICKTRAIL_DATABASE_URL": dsn, "CLICKTRAIL_LINKS_ADDR": links_addr,
                "CLICKTRAIL_INGEST_ADDR": ingest_addr,
                "CLICKTRAIL_ADMIN_TOKEN": admin, "CLICKTRAIL_INTERNAL_TOKEN": internal,
                "CLICKTRAIL_GATEWAY_TOKEN": secrets.token_urlsafe(16),
                "CLICKTRAIL_GATEWAY_PORT": str(http_port), "CLICKTRAIL_LOG_LEVEL": "warning",
            }  # fmt: skip
            links = spawn(procs, "links", ["-m", "services.links"], {**env, "CLICKTRAIL_GRPC_LISTEN": links_addr}, work)
            await wait_grpc_serving(links, links_addr, "clicktrail.links.v1.LinksService")
            ingest = spawn(
                procs, "ingest", ["-m", "services.ingest"], {**env, "CLICKTRAIL_GRPC_LISTEN": ingest_addr}, work
            )
            await wait_grpc_serving(ingest, ingest_addr, "clicktrail.ingest.v1.IngestService")
            gateway = spawn(procs, "gateway", ["-m", "gateway"], {**env, **GATEWAY_UNLIMITED}, work)
            # /healthz: readyz also wants attribution, which this benchmark does not run.
            await wait_http(gateway, f"http://127.0.0.1:{http_port}/healthz")

            async with make_channel(links_addr, token=admin, deadline_s=30) as ch:
                acct = await accounts_pb2_grpc.AccountServiceStub(ch).CreateAccount(
                    accounts_pb2.CreateAccountRequest(name="bench")
                )
            async with make_channel(links_addr, token=acct.api_key, deadline_s=30) as ch:
                app = await links_pb2_grpc.LinksServiceStub(ch).CreateApp(
                    lpb.CreateAppRequest(app=lpb.App(name="Bench", platform=lpb.PLATFORM_ANDROID, bundle_id="b.e.n"))
                )
            app_id = app.app.app_id
            now = dt.datetime.now(dt.UTC)
            grpc_bodies, http_bodies = [], []
            for b in range(n_batches):
                batch = [realistic_event(b * BATCH + i, now) for i in range(BATCH)]
                if b % 2 == 0:
                    grpc_bodies.append(
                        ipb.SendEventsRequest(events=[to_proto(e, app_id) for e in batch]).SerializeToString()
                    )
                else:
                    http_bodies.append(orjson.dumps({"events": batch}))
            ctx = Context(acct.account.account_id, app_id, frozenset({app_id}), now)
            copy_rows = [validate(realistic_event(i, now), ctx)[0] for i in range(20_000)]

            baseline = await _raw_copy(dsn, copy_rows, seconds)

            async with make_channel(ingest_addr, token=acct.api_key, deadline_s=30) as ch:
                call = ch.unary_unary(
                    "/clicktrail.ingest.v1.IngestService/SendEvents",
                    request_serializer=None, response_deserializer=ipb.SendEventsResponse.FromString,
                )  # fmt: skip

                async def send_grpc(body: bytes) -> tuple[int, int, int]:
                    r = await call(body)
                    return r.accepted, r.duplicates, r.rejected

                over_grpc = await _drive(send_grpc, grpc_bodies, seconds, args.ingest_concurrency)

            limits = httpx.Limits(max_connections=args.ingest_concurrency * 2)
            async with httpx.AsyncClient(timeout=30, limits=limits) as client:
                url = f"http://127.0.0.1:{http_port}/v1/events"
                headers = {"X-Api-Key": app.app_key, "Content-Type": "application/json"}

                async def send_http(body: bytes) -> tuple[int, int, int]:
                    r = await client.post(url, content=body, headers=headers)
                    if r.status_code != 202:
                        raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")
                    j = r.json()
                    return j["accepted"], j["duplicates"], j["rejected"]

                over_http = await _drive(send_http, http_bodies, seconds, args.ingest_concurrency * 2)

            conn = await asyncpg.connect(dsn)
            try:
                stored = await conn.fetchval("SELECT count(*) FROM ingest.events")
                distinct = await conn.fetchval("SELECT count(DISTINCT event_uuid) FROM ingest.events")
                jobs = await conn.fetchval("SELECT count(*) FROM queue.jobs WHERE queue = 'attribution.events'")
            finally:
                await conn.close()
            check_alive(procs)

    accepted = over_grpc["accepted"] + over_http["accepted"]
    checks = {
        f"gRPC >= {BAR_GRPC:,.0f} events/s": over_grpc["events_per_s"] >= BAR_GRPC,
        f"HTTP >= {BAR_HTTP:,.0f} events/s": over_http["events_per_s"] >= BAR_HTTP,
        "every accepted event stored exactly once": stored == distinct == accepted,
        "no errors or rejections": over_grpc["errors"]
        + over_http["errors"]
        + over_grpc["rejected"]
        + over_http["rejected"]
        == 0,
    }

    def line(name: str, r: dict[str, Any]) -> str:
        return (f"{name:<26}{r['events_per_s']:>12,.0f}{r.get('p50_ms', 0):>9.1f}{r.get('p99_ms', 0):>9.1f}"
                f"{r['events_per_s'] / baseline['events_per_s']:>8.2f}")  # fmt: skip

    report = "\n".join([
        f"ingest: batches of {BATCH}, {seconds}s each, {args.ingest_concurrency} gRPC / "
        f"{args.ingest_concurrency * 2} HTTP batches in flight ({os.cpu_count()} cores)",
        f"{'':<26}{'events/s':>12}{'p50 ms':>9}{'p99 ms':>9}{'ratio':>8}",
        line("gRPC SendEvents", over_grpc),
        line("HTTP POST /v1/events", over_http),
        line("raw COPY (baseline)", baseline),
        f"accepted: {accepted:,}   stored rows: {stored:,}   distinct uuids: {distinct:,}   hand-off jobs: {jobs:,}",
        bar_line(checks),
    ])  # fmt: skip
    result = {
        "name": NAME, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": seconds,
        "grpc": over_grpc, "http": over_http, "raw_copy": baseline, "stored": stored, "distinct": distinct,
        "accepted": accepted, "jobs": jobs, "checks": checks, "passed": all(checks.values()), "report": report,
    }  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(result, indent=2) + "\n")
    return result
