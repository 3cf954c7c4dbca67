"""Product metrics: DAU, retention and funnel query times over rollups, beside
one direct SQL query over the raw ingest.events answering the same question.

Events (default 5,000,000, the issue's figure) are generated with COPY into a
scratch database: users first seen over 30 days, each active on some later
days with a session per active day (screens home -> shop -> purchase, 5
heartbeats, sometimes an error). The rollups are built by the real
RollupRunner (timed), then the real analytics service answers over gRPC;
each answer is checked against the raw query's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import secrets
import time
import uuid
from typing import Any

import asyncpg
import orjson
from clicktrail.accounts.v1 import accounts_pb2, accounts_pb2_grpc
from clicktrail.analytics.v1 import metrics_pb2 as mpb
from clicktrail.analytics.v1 import metrics_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from google.protobuf import duration_pb2

from bench.common import RESULTS, bar_line, check_alive, children, free_port, scratch_database, spawn, wait_grpc_serving
from libs.config import load_settings
from libs.db import create_pool
from libs.grpc_client import make_channel
from libs.partitions import ensure_daily_partitions
from services.analytics import server as analytics_server
from services.analytics.rollup import RollupRunner

NAME = "metrics"
DAYS = 30
EVENTS_PER_DAY = 9  # about: identify, home, shop 60%, purchase 10%, error 5%, 5 heartbeats
RETURN_P = 0.2  # chance a user comes back on any later day
BAR_P99_MS = 500.0
BAR_RATIO = 20.0
COLUMNS = ("account_id", "app_id", "event_uuid", "event", "event_time", "receive_time", "session_id", "user_id",
           "platform", "action", "properties")  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metrics-events", type=int, default=int(os.environ.get("BENCH_METRICS_EVENTS", "5000000")),
        help="events generated with COPY (the issue's figure, the default: 5000000; ~3 min to load on 2 cores)",
    )  # fmt: skip
    parser.add_argument("--metrics-runs", type=int, default=30, help="timed calls per metric over the rollups")
    parser.add_argument("--metrics-raw-runs", type=int, default=5, help="timed runs of each raw query")


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))] if s else 0.0


# --------------------------------------------------------------------------- data

PURCHASE = orjson.dumps({"bundle_id": "gems", "bundle_package_items": [["gem", "100"]], "bundle_paid_id": "USD_4",
                         "bundle_paid_amount": "4.99", "bundle_paid_currency": "USD", "platform": "Google Play Store",
                         "tx_ref": "x"}).decode()  # fmt: skip
ERROR = orjson.dumps({"error_level": "Error", "error_code": "E42", "error_message": "timeout talking to store",
                      "error_stacktrace": "", "metadata": {}}).decode()  # fmt: skip


def user_days(rng: random.Random) -> list[int]:
    first = rng.randrange(DAYS)
    return [first] + [d for d in range(first + 1, DAYS) if rng.random() < RETURN_P]


async def load_events(dsn: str, account_id: str, app_id: str, n: int, day0: dt.datetime) -> tuple[int, int, float]:
    """COPY about n events; returns (events, users, seconds)."""
    start = time.perf_counter()
    rng = random.Random(7)
    conn = await asyncpg.connect(dsn)
    total = users = 0
    try:
        await ensure_daily_partitions(conn, "ingest", "events", days_back=DAYS + 2, days_ahead=2)
        rows: list[tuple[Any, ...]] = []
        while total < n:
            users += 1
            user = f"user-{users}"
            for i, d in enumerate(user_days(rng)):
                t = day0 + dt.timedelta(days=d, seconds=rng.randrange(86_000))
                session = f"{user}-{d}"
                seq: list[tuple[int, str | None, str | None]] = [(1 if i == 0 else 2, None, None), (4, "home", None)]
                if rng.random() < 0.6:
                    seq.append((4, "shop", None))
                    if rng.random() < 0.17:
                        seq.append((3, "monetization_web2", PURCHASE))
                if rng.random() < 0.05:
                    seq.append((3, "error", ERROR))
                seq += [(5, None, None)] * 5
                for k, (code, action, props) in enumerate(seq):
                    at = t + dt.timedelta(seconds=30 * k)
                    rows.append((account_id, app_id, uuid.UUID(int=rng.getrandbits(128), version=4), code, at,
                                 at + dt.timedelta(seconds=1), session, user, 2, action, props))  # fmt: skip
            if len(rows) >= 200_000 or total + len(rows) >= n:
                await conn.copy_records_to_table("events", schema_name="ingest", columns=COLUMNS, records=rows)
                total += len(rows)
                rows = []
        await conn.execute("ANALYZE ingest.events")
    finally:
        await conn.close()
    return total, users, time.perf_counter() - start


# --------------------------------------------------------------------------- raw queries (the baseline)

KEY = "coalesce('u:' || user_id, 'd:' || coalesce(idfv, android_id, gaid, idfa))"
# Events may arrive up to 30 days late and 24 h early, which bounds receive_time.
RAW_SCOPE = ("account_id = $1 AND app_id = $2 AND event_time >= $3 AND event_time < $4"
             " AND receive_time >= $3 - interval '1 day' AND receive_time < $4 + interval '30 days'")  # fmt: skip
RAW_DAU = f"""
SELECT (event_time AT TIME ZONE 'UTC')::date AS d, count(DISTINCT {KEY}) AS dau
FROM ingest.events WHERE {RAW_SCOPE} AND {KEY} IS NOT NULL GROUP BY 1 ORDER BY 1
"""
RAW_RETENTION = f"""
WITH ev AS (
    SELECT {KEY} AS k, (event_time AT TIME ZONE 'UTC')::date AS d FROM ingest.events
    WHERE account_id = $1 AND app_id = $2 AND {KEY} IS NOT NULL GROUP BY 1, 2
), firsts AS (SELECT k, min(d) AS c FROM ev GROUP BY k)
SELECT f.c AS cohort, e.d - f.c AS n, count(*) AS users
FROM firsts f JOIN ev e USING (k)
WHERE f.c >= $3::date AND f.c < $4::date AND e.d - f.c IN (0, 1, 7, 30)
GROUP BY 1, 2 ORDER BY 1, 2
"""


def _raw_funnel() -> str:
    e_key = "coalesce('u:' || e.user_id, 'd:' || coalesce(e.idfv, e.android_id, e.gaid, e.idfa))"
    return f"""
WITH s1 AS (
    SELECT {KEY} AS k, min(event_time) AS t1 FROM ingest.events
    WHERE {RAW_SCOPE} AND event = 4 AND action = 'home' AND {KEY} IS NOT NULL GROUP BY 1
), s2 AS (
    SELECT p.k, p.t1, min(e.event_time) AS t FROM s1 p JOIN ingest.events e
      ON e.account_id = $1 AND e.app_id = $2 AND e.event = 4 AND e.action = 'shop' AND {e_key} = p.k
     AND e.event_time >= p.t1 AND e.event_time <= p.t1 + interval '1 day'
     AND e.receive_time >= $3 - interval '1 day' AND e.receive_time < $4 + interval '31 days'
    GROUP BY 1, 2
), s3 AS (
    SELECT p.k, p.t1, min(e.event_time) AS t FROM s2 p JOIN ingest.events e
      ON e.account_id = $1 AND e.app_id = $2 AND e.event = 3 AND e.action = 'monetization_web2' AND {e_key} = p.k
     AND e.event_time >= p.t AND e.event_time <= p.t1 + interval '1 day'
     AND e.receive_time >= $3 - interval '1 day' AND e.receive_time < $4 + interval '31 days'
    GROUP BY 1, 2
)
SELECT ARRAY[(SELECT count(*) FROM s1), (SELECT count(*) FROM s2), (SELECT count(*) FROM s3)]::bigint[]
"""


# --------------------------------------------------------------------------- run


async def _timed(call: Any, runs: int) -> tuple[list[float], Any]:
    times, answer = [], None
    for _ in range(runs):
        t = time.perf_counter()
        answer = await call()
        times.append((time.perf_counter() - t) * 1000)
    return times, answer


def _line(name: str, fast: list[float], raw: list[float]) -> tuple[str, dict[str, float]]:
    f50, f99, r50, r99 = _pct(fast, 0.5), _pct(fast, 0.99), _pct(raw, 0.5), _pct(raw, 0.99)
    fig = {
        "p50_ms": round(f50, 2), "p99_ms": round(f99, 2), "raw_p50_ms": round(r50, 1), "raw_p99_ms": round(r99, 1),
        "ratio_p50": round(r50 / f50, 1) if f50 else 0.0, "ratio_p99": round(r99 / f99, 1) if f99 else 0.0,
    }  # fmt: skip
    return (
        f"{name:<31}{f50:>9.1f}{f99:>9.1f}{r50:>11.0f}{r99:>11.0f}{fig['ratio_p50']:>9.1f}x{fig['ratio_p99']:>8.1f}x",
        fig,
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    work = RESULTS / "work"
    admin = secrets.token_urlsafe(16)
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day0 = today - dt.timedelta(days=DAYS)
    async with scratch_database() as dsn:
        with children() as procs:
            links_addr, analytics_addr = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
            ingest_addr = f"127.0.0.1:{free_port()}"
            env = {"CLICKTRAIL_DATABASE_URL": dsn, "CLICKTRAIL_LINKS_ADDR": links_addr,
                   "CLICKTRAIL_ADMIN_TOKEN": admin, "CLICKTRAIL_INTERNAL_TOKEN": secrets.token_urlsafe(16),
                   "CLICKTRAIL_LOG_LEVEL": "warning"}  # fmt: skip
            links = spawn(procs, "links", ["-m", "services.links"], {**env, "CLICKTRAIL_GRPC_LISTEN": links_addr}, work)
            await wait_grpc_serving(links, links_addr, "clicktrail.links.v1.LinksService")
            # ingest only to migrate its schema (events are COPYed straight in).
            ingest = spawn(
                procs, "ingest", ["-m", "services.ingest"], {**env, "CLICKTRAIL_GRPC_LISTEN": ingest_addr}, work
            )
            await wait_grpc_serving(ingest, ingest_addr, "clicktrail.ingest.v1.IngestService")
            async with make_channel(links_addr, token=admin, deadline_s=30) as ch:
                acct = await accounts_pb2_grpc.AccountServiceStub(ch).CreateAccount(
                    accounts_pb2.CreateAccountRequest(name="bench")
                )
            async with make_channel(links_addr, token=acct.api_key, deadline_s=30) as ch:
                app = (await links_pb2_grpc.LinksServiceStub(ch).CreateApp(lpb.CreateAppRequest(
                    app=lpb.App(name="Bench", platform=lpb.PLATFORM_ANDROID, bundle_id="b.e.n")))).app  # fmt: skip
            account_id, app_id = acct.account.account_id, app.app_id
            events, users, load_s = await load_events(dsn, account_id, app_id, args.metrics_events, day0)

            # Build the rollups as the service does (its runner, its pool), timed.
            settings = load_settings(env={}, database_url=dsn)
            pool = await create_pool(dsn, min_size=1, max_size=2)
            try:
                from libs.migrations import migrate

                async with pool.acquire() as conn:
                    for schema, folder in analytics_server.SPEC.migrations:
                        await migrate(conn, schema, folder)
                metric_rollups = [r for r in analytics_server.ROLLUPS if r.name.startswith("metrics.")]
                runner = RollupRunner(pool, metric_rollups, settings)
                t = time.perf_counter()
                await runner.run_once()
                build_s = time.perf_counter() - t
                sizes = {
                    table: await pool.fetchval(f"SELECT count(*) FROM analytics.{table}")
                    for table in ("metric_activity", "metric_users", "metric_sessions", "metric_steps",
                                  "metric_purchases", "metric_errors")
                }  # fmt: skip
                await pool.execute("ANALYZE analytics.metric_activity, analytics.metric_users, analytics.metric_steps")
            finally:
                await pool.close()

            analytics = spawn(
                procs, "analytics", ["-m", "services.analytics"], {**env, "CLICKTRAIL_GRPC_LISTEN": analytics_addr},
                work,
            )  # fmt: skip
            await wait_grpc_serving(analytics, analytics_addr, "clicktrail.analytics.v1.MetricsService")

            first, last = day0.date(), (today - dt.timedelta(days=1)).date()
            scope = {"app_id": app_id, "start_date": first.isoformat(), "end_date": last.isoformat()}
            steps = [mpb.FunnelStep(screen="home"), mpb.FunnelStep(screen="shop"),
                     mpb.FunnelStep(action="monetization_web2")]  # fmt: skip
            raw_args = (account_id, app_id, day0, today)
            async with make_channel(analytics_addr, token=acct.api_key, deadline_s=120) as ch:
                stub = metrics_pb2_grpc.MetricsServiceStub(ch)
                await stub.GetActiveUsers(mpb.GetActiveUsersRequest(**scope))  # warm up
                dau_t, dau = await _timed(lambda: stub.GetActiveUsers(mpb.GetActiveUsersRequest(**scope)),
                                          args.metrics_runs)  # fmt: skip
                ret_t, ret = await _timed(
                    lambda: stub.GetRetention(mpb.GetRetentionRequest(**scope, days=[1, 7, 30])), args.metrics_runs
                )
                fun_t, fun = await _timed(
                    lambda: stub.GetFunnel(mpb.GetFunnelRequest(**scope, steps=steps,
                                                                window=duration_pb2.Duration(seconds=86400))),
                    args.metrics_runs,
                )  # fmt: skip
            conn = await asyncpg.connect(dsn)
            try:
                funnel_sql = _raw_funnel()
                raw_dau_t, raw_dau = await _timed(lambda: conn.fetch(RAW_DAU, *raw_args), args.metrics_raw_runs)
                raw_ret_t, raw_ret = await _timed(lambda: conn.fetch(RAW_RETENTION, *raw_args), args.metrics_raw_runs)
                raw_fun_t, raw_fun = await _timed(lambda: conn.fetchval(funnel_sql, *raw_args), args.metrics_raw_runs)
            finally:
                await conn.close()
            check_alive(procs)

    # The answers must agree with the raw queries'.
    dau_same = {d.date: d.dau for d in dau.days if d.dau} == {r["d"].isoformat(): r["dau"] for r in raw_dau}
    raw_cohorts = {(r["cohort"].isoformat(), r["n"]): r["users"] for r in raw_ret}
    ret_same = all(
        c.users == raw_cohorts.get((c.date, 0), 0)
        and all(p.users == raw_cohorts.get((c.date, p.day), 0) for p in c.points)
        for c in ret.cohorts
    )
    fun_same = [s.users for s in fun.steps] == list(raw_fun)
    lines, figures = [], {}
    for name, fast, raw in (("DAU/WAU/MAU, 30 days", dau_t, raw_dau_t), ("retention d1/7/30, 30 cohorts", ret_t,
                            raw_ret_t), ("funnel 3 steps, 30 days", fun_t, raw_fun_t)):  # fmt: skip
        text, fig = _line(name, fast, raw)
        lines.append(text)
        figures[name] = fig
    # The issue sets no bar for metrics beyond measuring them; the answers must be right.
    checks = {"answers equal the raw queries'": dau_same and ret_same and fun_same}
    reference = ", ".join(
        f"{name.split(',')[0]}: p99 {'<' if f['p99_ms'] < BAR_P99_MS else '>='} {BAR_P99_MS:g} ms,"
        f" {'>=' if f['ratio_p50'] >= BAR_RATIO else '<'} {BAR_RATIO:g}x"
        for name, f in figures.items()
    )
    report = "\n".join([
        f"metrics: {events:,} events of {users:,} users over {DAYS} days (COPY {load_s:.0f} s); rollups built in"
        f" {build_s:.1f} s ({', '.join(f'{k} {v:,}' for k, v in sorted(sizes.items()))} rows)",
        f"{'gRPC over rollups vs raw SQL':<31}{'p50 ms':>9}{'p99 ms':>9}{'raw p50':>11}{'raw p99':>11}"
        f"{'p50':>10}{'p99':>9}",
        *lines,
        f"funnel users per step {[s.users for s in fun.steps]}; answers equal: DAU {dau_same}, retention {ret_same},"
        f" funnel {fun_same}",
        f"beside the campaign-report bar (not set for metrics): {reference}",
        bar_line(checks),
    ])  # fmt: skip
    result = {
        "name": NAME, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "events": events, "users": users,
        "load_s": round(load_s, 1), "rollup_build_s": round(build_s, 1), "rollup_rows": sizes, "queries": figures,
        "runs": args.metrics_runs, "raw_runs": args.metrics_raw_runs, "checks": checks,
        "passed": all(checks.values()), "report": report,
    }  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{NAME}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result
