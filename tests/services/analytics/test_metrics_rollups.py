"""Each metrics rollup against a direct recount (in Python) from ingest.events,
after the runner folded the events in, and after a recount rebuilt them."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

import orjson
from clicktrail.ingest.v1 import ingest_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc

from services.analytics import metrics
from services.analytics import server as analytics_server_module
from services.analytics.rollup import RollupRunner, ceil_hour, floor_hour
from tests.services.analytics.test_metrics import D0, send, story

TABLES = {
    "activity": "SELECT account_id, app_id, day, user_key, slots FROM analytics.metric_activity",
    "users": "SELECT account_id, app_id, user_key, first_time FROM analytics.metric_users",
    "sessions": "SELECT account_id, app_id, session_id, first_time, last_time FROM analytics.metric_sessions",
    "steps": "SELECT account_id, app_id, kind, name, t, user_key FROM analytics.metric_steps",
    "purchases": "SELECT account_id, app_id, event_time, event_uuid, user_key, web3, currency, platform, bundle_id,"
    " amount FROM analytics.metric_purchases",
    "errors": "SELECT account_id, app_id, slot, receive_hour, level, code, message, n FROM analytics.metric_errors",
}


async def rollup_contents(conn: Any) -> dict[str, set[tuple[Any, ...]]]:
    return {name: {tuple(r) for r in await conn.fetch(sql)} for name, sql in TABLES.items()}


def floor_to(t: dt.datetime, seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(t.timestamp()) // seconds * seconds, dt.UTC)


async def recount_from_raw(conn: Any) -> dict[str, set[tuple[Any, ...]]]:
    """What each rollup should hold, computed here from the raw rows."""
    rows = await conn.fetch("SELECT * FROM ingest.events")
    idents = {}
    for r in rows:
        device = r["idfv"] or r["android_id"] or r["gaid"] or r["idfa"]
        idents[r["event_uuid"]] = f"u:{r['user_id']}" if r["user_id"] else (f"d:{device}" if device else None)
    hashes = {
        k: await conn.fetchval("SELECT hashtextextended($1, 0)", k) for k in set(idents.values()) if k is not None
    }
    activity: dict[tuple[Any, ...], int] = {}
    first: dict[tuple[Any, ...], dt.datetime] = {}
    sessions: dict[tuple[Any, ...], tuple[dt.datetime, dt.datetime]] = {}
    steps, purchases = set(), set()
    errors: dict[tuple[Any, ...], int] = {}
    for r in rows:
        ident = idents[r["event_uuid"]]
        user = hashes.get(ident) if ident else None
        t = r["event_time"].astimezone(dt.UTC)
        base = (r["account_id"], r["app_id"])
        if user is not None:
            key = (*base, t.date(), user)
            activity[key] = activity.get(key, 0) | (1 << (t.hour * 2 + t.minute // 30))
            ukey = (*base, user)
            first[ukey] = min(first.get(ukey, t), t)
            if r["event"] in (3, 4) and r["action"]:
                steps.add((*base, r["event"], r["action"], t, user))
        if r["session_id"]:
            skey = (*base, r["session_id"])
            lo, hi = sessions.get(skey, (t, t))
            sessions[skey] = (min(lo, t), max(hi, t))
        props = metrics_props(r)
        if r["event"] == 3 and r["action"] in ("monetization_web2", "monetization_web3"):
            platform = props["platform"] if isinstance(props["platform"], str) else props["platform"]["name"]
            purchases.add((*base, t, r["event_uuid"], user, r["action"] == "monetization_web3",
                           props["bundle_paid_currency"], platform, props["bundle_id"],
                           Decimal(str(props["bundle_paid_amount"]))))  # fmt: skip
        if r["event"] == 3 and r["action"] == "error":
            ekey = (*base, floor_to(t, 1800), floor_to(r["receive_time"], 3600), props["error_level"],
                    props["error_code"], props["error_message"][:200])  # fmt: skip
            errors[ekey] = errors.get(ekey, 0) + 1
    return {
        "activity": {(*k, v) for k, v in activity.items()},
        "users": {(*k, v) for k, v in first.items()},
        "sessions": {(*k, *v) for k, v in sessions.items()},
        "steps": steps,
        "purchases": purchases,
        "errors": {(*k, v) for k, v in errors.items()},
    }


def metrics_props(row: Any) -> dict[str, Any]:
    return orjson.loads(row["properties"]) if row["properties"] else {}


async def test_each_rollup_equals_a_recount_from_the_raw_events(
    settings, analytics_server, ingest_stub, links_stub, new_account, ingest_server, links_server, channels
) -> None:
    app = (await links_stub.CreateApp(lpb.CreateAppRequest(app=lpb.App(name="G", platform=lpb.PLATFORM_WEB)))).app
    await send(ingest_stub, story(app.app_id))
    # A second account's events go into the same tables, under its own account id.
    rival = await new_account("Rival")
    rl = links_pb2_grpc.LinksServiceStub(channels(links_server.addr, token=rival.api_key))
    rapp = (await rl.CreateApp(lpb.CreateAppRequest(app=lpb.App(name="R", platform=lpb.PLATFORM_WEB)))).app
    await send(ingest_pb2_grpc.IngestServiceStub(channels(ingest_server.addr, token=rival.api_key)),
               story(rapp.app_id)[::2])  # fmt: skip
    pool = analytics_server.ctx.pool
    no_lag = dataclasses.replace(settings, analytics_rollup_lag_s=0)
    runner = RollupRunner(pool, analytics_server_module.ROLLUPS, no_lag)
    await runner.run_once()
    async with pool.acquire() as conn:
        expected = await recount_from_raw(conn)
        assert all(expected.values())  # the story touches every rollup
        got = await rollup_contents(conn)
        for name in TABLES:
            assert got[name] == expected[name], name

        # A recount of the hours replaces (never adds to) what is there, and
        # rebuilds what is missing: drop some rows, recount, same contents.
        lo, hi = await conn.fetchrow("SELECT min(receive_time), max(receive_time) FROM ingest.events")
        await conn.execute("DELETE FROM analytics.metric_activity WHERE day = $1", D0.date())
        await conn.execute("DELETE FROM analytics.metric_sessions")
        await conn.execute("UPDATE analytics.metric_users SET first_time = first_time + interval '1 day'")
        for rollup in metrics.ROLLUPS:
            async with conn.transaction():
                await rollup.recount(conn, floor_hour(lo), ceil_hour(hi + dt.timedelta(microseconds=1)))
        got = await rollup_contents(conn)
        for name in TABLES:
            assert got[name] == expected[name], name
