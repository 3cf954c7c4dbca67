"""Postbacks benchmark: outbound events enqueued the way attribution does
(libs.queue on ``postbacks.events``), fanned out and delivered by a real
postbacks service process to a local HTTP sink in its own process.

1. Throughput: a backlog of events enqueued at once; deliveries/s until the
   sink has every one.
2. Latency: a steady 500 events/s for the run's seconds; enqueue-to-delivered
   p50/p99 measured by the sink (each URL carries its enqueue time).
3. Baseline: the same sink driven directly by the same HTTP client
   (services.postbacks.http) with the same per-host concurrency: the ratio
   shows what the queue costs.

The bar (issue 6): >= 1,500 deliveries/s, p99 < 1 s at 500/s, nothing lost.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import secrets
import time
import uuid
from typing import Any

import asyncpg
import orjson
from clicktrail.accounts.v1 import accounts_pb2, accounts_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from clicktrail.postbacks.v1 import postbacks_pb2 as pb
from clicktrail.postbacks.v1 import postbacks_pb2_grpc

from bench.common import RESULTS, bar_line, check_alive, children, free_port, scratch_database, spawn, wait_grpc_serving
from libs import queue
from libs.grpc_client import make_channel
from libs.postback_handoff import POSTBACK_QUEUE, encode
from services.postbacks.http import HttpClient
from services.postbacks.resolver import Resolver

NAME = "postbacks"
BAR_RATE = 1500.0
BAR_P99_S = 1.0
STEADY_RATE = 500
HOST_CONCURRENCY = 32


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--postbacks-backlog", type=int, default=30_000, help="events in the throughput run")


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))]


async def _stats_full(base: str) -> dict[str, Any]:
    """The whole /_stats document (the client keeps only the first bytes of a body)."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(b"GET /_stats HTTP/1.1\r\nHost: sink\r\n\r\n")
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        length = int(head.split("content-length:", 1)[1].split("\r\n", 1)[0])
        return dict(orjson.loads(await reader.readexactly(length)))
    finally:
        writer.close()


async def _wait_unique(base: str, want: int, timeout_s: float) -> tuple[dict[str, Any], float]:
    start = time.perf_counter()
    while True:
        st = await _stats_full(base)
        if st["unique"] >= want or time.perf_counter() - start > timeout_s:
            return st, time.perf_counter()
        await asyncio.sleep(0.05)


def _event(account_id: str, partner_id: str, sub1: str = "") -> bytes:
    return encode({"event_id": uuid.uuid4().hex, "kind": "install", "account_id": account_id, "app_id": "app_b",
                   "partner_id": partner_id, "click_id": secrets.token_hex(8), "event": "install",
                   "attributed": True, "country": "DE", "sub1": sub1})  # fmt: skip


async def _baseline(base: str, seconds: float) -> dict[str, Any]:
    client = HttpClient(Resolver((ipaddress.ip_network("127.0.0.0/8"),)))
    done = 0
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []

    async def worker(i: int) -> None:
        nonlocal done
        n = 0
        while time.perf_counter() < deadline:
            n += 1
            t0 = time.perf_counter()
            resp = await client.request("GET", f"{base}/direct?e=b{i}-{n}")
            if resp.status == 200:
                done += 1
                latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(HOST_CONCURRENCY)))
    elapsed = time.perf_counter() - start
    await client.close()
    return {"requests": done, "seconds": round(elapsed, 2), "per_s": done / elapsed,
            "p50_ms": _pct(latencies, 0.5) * 1000, "p99_ms": _pct(latencies, 0.99) * 1000}  # fmt: skip


async def run(args: argparse.Namespace) -> dict[str, Any]:
    seconds = args.seconds
    backlog = args.postbacks_backlog
    work = RESULTS / "work"
    admin, internal = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    async with scratch_database() as dsn:
        with children() as procs:
            links_addr, pb_addr, sink_port = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}", free_port()
            env = {
                "CLICKTRAIL_DATABASE_URL": dsn, "CLICKTRAIL_LINKS_ADDR": links_addr,
                "CLICKTRAIL_POSTBACKS_ADDR": pb_addr, "CLICKTRAIL_ADMIN_TOKEN": admin,
                "CLICKTRAIL_INTERNAL_TOKEN": internal, "CLICKTRAIL_LOG_LEVEL": "warning",
                "CLICKTRAIL_POSTBACK_ALLOWED_NETWORKS": "127.0.0.0/8",
                "CLICKTRAIL_POSTBACK_HOST_CONCURRENCY": str(HOST_CONCURRENCY),
            }  # fmt: skip
            sink_args = ["-m", "tests.services.postbacks.sink", "--port", str(sink_port)]
            sink = spawn(procs, "pbo-sink", sink_args, env, work)
            links_env = {**env, "CLICKTRAIL_GRPC_LISTEN": links_addr}
            links = spawn(procs, "pbo-links", ["-m", "services.links"], links_env, work)
            await wait_grpc_serving(links, links_addr, "clicktrail.links.v1.LinksService")
            pb_env = {**env, "CLICKTRAIL_GRPC_LISTEN": pb_addr}
            svc = spawn(procs, "pbo-postbacks", ["-m", "services.postbacks"], pb_env, work)
            await wait_grpc_serving(svc, pb_addr, "clicktrail.postbacks.v1.PostbackService")
            base = f"http://127.0.0.1:{sink_port}"
            for _ in range(100):
                try:
                    await _stats_full(base)
                    break
                except OSError:
                    if not sink.alive():
                        raise RuntimeError(f"sink exited:\n{sink.tail()}") from None
                    await asyncio.sleep(0.1)

            async with make_channel(links_addr, token=admin, deadline_s=30) as ch:
                acct = await accounts_pb2_grpc.AccountServiceStub(ch).CreateAccount(
                    accounts_pb2.CreateAccountRequest(name="bench")
                )
            async with make_channel(links_addr, token=acct.api_key, deadline_s=30) as ch:
                partner = await links_pb2_grpc.LinksServiceStub(ch).CreatePartner(
                    lpb.CreatePartnerRequest(partner=lpb.Partner(name="Sink"))
                )
            partner_id = partner.partner.partner_id
            account_id = acct.account.account_id
            async with make_channel(pb_addr, token=acct.api_key, deadline_s=30) as ch:
                await postbacks_pb2_grpc.PostbackServiceStub(ch).CreateTemplate(pb.CreateTemplateRequest(
                    template=pb.Template(partner_id=partner_id, trigger=pb.TRIGGER_INSTALL,
                                         url_template=base + "/pb?e={event_id}&c={click_id}&t={sub1}")
                ))  # fmt: skip

            baseline = await _baseline(base, min(seconds, 10))

            # 1. Throughput: a backlog enqueued at once.
            conn = await asyncpg.connect(dsn)
            try:
                before = (await _stats_full(base))["unique"]
                payloads = [_event(account_id, partner_id) for _ in range(backlog)]
                start = time.perf_counter()
                for i in range(0, backlog, 5000):
                    async with conn.transaction():
                        part = payloads[i : i + 5000]
                        await queue.enqueue(conn, POSTBACK_QUEUE, part, account_ids=[account_id] * len(part))
                enqueued_s = time.perf_counter() - start
                st, end = await _wait_unique(base, before + backlog, timeout_s=max(120.0, backlog / 200))
                burst_s = end - start
                burst = {"deliveries": st["unique"] - before, "seconds": round(burst_s, 2),
                         "per_s": (st["unique"] - before) / burst_s, "enqueue_s": round(enqueued_s, 2)}  # fmt: skip

                # 2. Steady 500/s, enqueue time in sub1.
                steady_n = 0
                tick = 0.01
                per_tick = STEADY_RATE * tick
                owed = 0.0
                t0 = time.perf_counter()
                next_at = t0
                while time.perf_counter() - t0 < seconds:
                    owed += per_tick
                    k = int(owed)
                    owed -= k
                    if k:
                        await queue.enqueue(conn, POSTBACK_QUEUE,
                                            [_event(account_id, partner_id, repr(time.time())) for _ in range(k)],
                                            account_ids=[account_id] * k)  # fmt: skip
                        steady_n += k
                    next_at += tick
                    await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                steady_s = time.perf_counter() - t0
                st, _ = await _wait_unique(base, before + backlog + steady_n, timeout_s=60)
                lat = st["latencies"]
                steady = {"enqueued": steady_n, "seconds": round(steady_s, 2), "rate": steady_n / steady_s,
                          "delivered": len(lat), "p50_ms": _pct(lat, 0.5) * 1000, "p99_ms": _pct(lat, 0.99) * 1000,
                          "max_ms": max(lat, default=0) * 1000}  # fmt: skip
                await asyncio.sleep(1.0)
                final = await _stats_full(base)
                statuses = dict(await conn.fetch("SELECT status, count(*) FROM postbacks.deliveries GROUP BY 1"))
            finally:
                await conn.close()
            check_alive(procs)

    expected = backlog + steady_n
    received = final["total"] - baseline["requests"]  # postbacks received, duplicates included
    unique = final["unique"] - baseline["requests"]
    lost = expected - unique
    checks = {
        f">= {BAR_RATE:,.0f} deliveries/s": burst["per_s"] >= BAR_RATE,
        f"p99 enqueue-to-delivered < {BAR_P99_S:g}s at {STEADY_RATE}/s": steady["p99_ms"] < BAR_P99_S * 1000,
        "nothing lost": lost == 0 and statuses.get("delivered", 0) == expected,
    }
    report = "\n".join([
        f"postbacks: backlog of {backlog:,} events, then {STEADY_RATE}/s for {seconds}s; one sink host, "
        f"{HOST_CONCURRENCY} connections per host ({os.cpu_count()} cores)",
        f"{'':<34}{'per s':>10}{'p50 ms':>9}{'p99 ms':>9}{'ratio':>8}",
        f"{'dispatcher, backlog':<34}{burst['per_s']:>10,.0f}{'':>9}{'':>9}{burst['per_s'] / baseline['per_s']:>8.2f}",
        f"{'dispatcher, steady (enq->sink)':<34}{steady['rate']:>10,.0f}{steady['p50_ms']:>9.1f}"
        f"{steady['p99_ms']:>9.1f}",
        f"{'same client direct (baseline)':<34}{baseline['per_s']:>10,.0f}{baseline['p50_ms']:>9.1f}"
        f"{baseline['p99_ms']:>9.1f}{1.0:>8.2f}",
        f"expected {expected:,}  delivered (unique at sink) {unique:,}  received incl. duplicates {received:,}  "
        f"lost {lost:,}  rows: {statuses}",
        bar_line(checks),
    ])  # fmt: skip
    result = {
        "name": NAME, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": seconds,
        "backlog": burst, "steady": steady, "baseline": baseline, "expected": expected, "unique": unique,
        "received": received, "lost": lost, "statuses": statuses, "checks": checks,
        "passed": all(checks.values()), "report": report,
    }  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "postbacks.json").write_text(json.dumps(result, indent=2) + "\n")
    return result
