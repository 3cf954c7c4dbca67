"""Each report rollup against a direct recount (in Python) from the raw tables:
after the runner folded rows written by the real services, after a late-committed
click (missed by the add, caught by the recount), and after a recount repeated."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import asyncpg
from clicktrail.links.v1 import links_pb2 as lpb

from libs import quality
from services.analytics.reports.fold_sql import OUTCOME_MEASURES, TRAFFIC_MEASURES
from services.analytics.rollup import HOUR, floor_hour
from tests.services.analytics.report_support import insert_clicks, runner
from tests.services.analytics.test_reports import world  # noqa: F401  (the fixture)
from tests.services.attribution.engine_support import ANDROID_UA

Key = tuple[Any, ...]

_TRAFFIC = ", ".join(TRAFFIC_MEASURES)
_OUTCOMES = "goal_id, currency, " + ", ".join(OUTCOME_MEASURES)
_LINKS = "campaign_id, link_id, partner_id, app_id"
_FULL = "campaign_id, link_id, partner_id, app_id, country, device_type, os"
_DAILY = "campaign_id, partner_id, app_id, country, device_type, os"
_SUBS = "sub_no, campaign_id, partner_id, app_id, sub_value"
_REASONS = "campaign_id, partner_id, app_id, kind, verdict, reason, n"
TABLES = {
    f"{kind}{suffix}": f"SELECT account_id, {time}, {dims}, {measures} FROM analytics.report_{kind}{suffix}"
    for kind, measures in (("traffic", _TRAFFIC), ("outcomes", _OUTCOMES))
    for suffix, time, dims in (("_links", "hour", _LINKS), ("", "hour", _FULL), ("_daily", "day", _DAILY),
                               ("_subs", "day", _SUBS))
}  # fmt: skip
TABLES["reasons"] = f"SELECT account_id, hour, {_REASONS} FROM analytics.report_reasons"
TABLES["reasons_daily"] = f"SELECT account_id, day, {_REASONS} FROM analytics.report_reasons_daily"
MEASURES = {
    name: 1 if name.startswith("reasons") else len(TRAFFIC_MEASURES if name.startswith("traffic") else OUTCOME_MEASURES)
    for name in TABLES
}


def nonzero(name: str, rows: list[Key]) -> set[Key]:
    n = MEASURES[name]
    return {r for r in rows if any(r[-n:])}


async def rollup_contents(conn: asyncpg.Connection) -> dict[str, set[Key]]:
    return {name: nonzero(name, [tuple(r) for r in await conn.fetch(sql)]) for name, sql in TABLES.items()}


def hour_of(t: dt.datetime) -> dt.datetime:
    return floor_hour(t.astimezone(dt.UTC))


def _add(acc: dict[Key, list[Any]], key: Key, values: list[Any]) -> None:
    cur = acc.setdefault(key, [0] * len(values))
    for i, v in enumerate(values):
        cur[i] += v


def parts(verdict: int, *values: Any) -> list[Any]:
    """Measure values in the cubes' order (TRAFFIC_MEASURES, OUTCOME_MEASURES):
    ``values`` as clean + suspicious, then as the suspicious part, then as the
    invalid part, by the row's verdict."""
    zero = [v * 0 for v in values]
    return [
        *(values if verdict != 3 else zero),
        *(values if verdict == 2 else zero),
        *(values if verdict == 3 else zero),
    ]


async def recount_from_raw(conn: asyncpg.Connection) -> dict[str, set[Key]]:
    """What each rollup should hold, by the definitions, from the raw rows."""
    subs = ", ".join(f"sub{i}" for i in range(1, 11))
    clicks = await conn.fetch(f"SELECT *, ARRAY[{subs}] AS subs FROM links.clicks ORDER BY create_time, click_id")
    imps = await conn.fetch(f"SELECT *, ARRAY[{subs}] AS subs FROM links.impressions")
    acc: dict[str, dict[Key, list[Any]]] = {name: {} for name in TABLES}
    seen: set[Key] = set()

    def reasons(r: Any, hour: dt.datetime, kind: int) -> None:
        for code in quality.codes_of(r["reasons"]):
            rest = (r["campaign_id"], r["partner_id"] or "", r["app_id"] or "", kind, r["verdict"],
                    quality.BY_CODE[code].bit)  # fmt: skip
            _add(acc["reasons"], (r["account_id"], hour, *rest), [1])
            _add(acc["reasons_daily"], (r["account_id"], hour.date(), *rest), [1])

    for kind, rows in (("c", clicks), ("i", imps)):
        for r in rows:
            uniq = 0
            if kind == "c":
                # Unique within its class: invalid, or not.
                day = r["create_time"].astimezone(dt.UTC).date()
                fp = (r["account_id"], r["campaign_id"], r["ip"], r["user_agent"], day, r["verdict"] == 3)
                uniq = 1 if r["ip"] is None or fp not in seen else 0
                seen.add(fp)
            values = parts(r["verdict"], *((1, uniq, 0) if kind == "c" else (0, 0, 1)))
            hour = hour_of(r["create_time"])
            reasons(r, hour, 1 if kind == "c" else 2)
            dims = (r["campaign_id"], r["link_id"], r["partner_id"], r["app_id"] or "", r["country"] or "",
                    r["device_type"], r["os"] or "")  # fmt: skip
            _add(acc["traffic"], (r["account_id"], hour, *dims), values)
            _add(acc["traffic_links"], (r["account_id"], hour, *dims[:4]), values)
            _add(acc["traffic_daily"], (r["account_id"], hour.date(), dims[0], *dims[2:]), values)
            for n, v in enumerate(r["subs"], 1):  # "" for a sub-id without a value
                _add(acc["traffic_subs"], (r["account_id"], hour.date(), n, dims[0], *dims[2:4], v or ""), values)
    touches = {(r["account_id"], r["click_id"], r["create_time"]): r for r in clicks}
    touches.update({(r["account_id"], r["impression_id"], r["create_time"]): r for r in imps})
    facts = []
    for r in await conn.fetch("SELECT * FROM attribution.installs WHERE campaign_id IS NOT NULL"):
        facts.append((r, hour_of(r["install_time"]), "", "", parts(r["verdict"], 1, 0, 0, Decimal(0))))
        reasons(r, hour_of(r["install_time"]), 3)
    for r in await conn.fetch("SELECT * FROM attribution.conversions WHERE campaign_id IS NOT NULL"):
        goal = r["goal_id"] or r["goal"] or "(none)"
        approved = r["status"] == 2
        values = parts(r["verdict"], 0, int(r["status"] != 3), int(approved),
                       (r["payout"] or Decimal(0)) if approved else Decimal(0))  # fmt: skip
        facts.append((r, hour_of(r["event_time"]), goal, r["currency"] or "", values))
        if r["status"] != 3:
            reasons(r, hour_of(r["event_time"]), 4)
    for r, hour, goal, currency, values in facts:
        t = touches.get((r["account_id"], r["click_id"], r["touch_time"]))
        dims = (r["campaign_id"], r["link_id"] or "", r["partner_id"] or "", r["app_id"] or "",
                *((t["country"] or "", t["device_type"], t["os"] or "") if t else ("", 0, "")))  # fmt: skip
        _add(acc["outcomes"], (r["account_id"], hour, *dims, goal, currency), values)
        _add(acc["outcomes_links"], (r["account_id"], hour, *dims[:4], goal, currency), values)
        _add(acc["outcomes_daily"], (r["account_id"], hour.date(), dims[0], *dims[2:], goal, currency), values)
        for n, v in enumerate(t["subs"] if t else [None] * 10, 1):
            key = (r["account_id"], hour.date(), n, dims[0], *dims[2:4], v or "", goal, currency)
            _add(acc["outcomes_subs"], key, values)
    return {name: nonzero(name, [(*k, *v) for k, v in rows.items()]) for name, rows in acc.items()}


async def test_each_rollup_equals_a_recount_from_the_raw_tables(world, settings, account):  # noqa: F811
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        run = runner(pool, settings)
        async with pool.acquire() as conn:
            expected = await recount_from_raw(conn)
            assert expected["traffic"] and expected["outcomes"] and expected["traffic_subs"]
            # (The service's own runner folded these rows as they came, with its 0.2 s lag; on a
            # loaded machine a click can commit later than that after its timestamp, which only
            # the recount catches: so the add path is compared on rows written below, and here
            # the rollups after a recount of the day.)
            today = dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time(), dt.UTC)
            await run.recount(today, dt.datetime.now(dt.UTC))
            assert await rollup_contents(conn) == expected

            # A click that commits late, stamped in an hour the runner has passed: the add
            # misses it; recounting its UTC day catches it.
            late_time = floor_hour(dt.datetime.now(dt.UTC)) - HOUR / 2
            a = world["a"]
            await insert_clicks(conn, [{
                "account_id": account.account_id, "create_time": late_time, "campaign_id": a.campaign_id,
                "link_id": a.link_id, "partner_id": a.partner_id, "app_id": a.app_id, "ip": "81.2.69.142",
                "user_agent": ANDROID_UA + " late", "sub1": "late",
            }])  # fmt: skip
            await run.run_once()
            expected = await recount_from_raw(conn)
            assert await rollup_contents(conn) != expected
            day_start = dt.datetime.combine(late_time.date(), dt.time(), dt.UTC)
            await run.recount(day_start, dt.datetime.now(dt.UTC))
            assert await rollup_contents(conn) == expected
            # Recounting again changes nothing.
            await run.recount(day_start, dt.datetime.now(dt.UTC))
            assert await rollup_contents(conn) == expected
    finally:
        await pool.close()


async def test_unique_clicks_by_add_and_by_recount(settings, account):
    """Unique: the first click of its campaign, IP + User-Agent and UTC day, the
    same whether folded click by click (add) or rebuilt (recount); a late click
    that comes first takes the uniqueness from the later one."""
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        run = runner(pool, settings)
        start = dt.datetime.combine(dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1), dt.time(10), dt.UTC)
        base = {"account_id": account.account_id, "campaign_id": "cmp_x"}
        rows = [
            {**base, "create_time": start + dt.timedelta(minutes=m), "ip": ip, "user_agent": ua}
            for m, ip, ua in [(1, "1.1.1.1", "A"), (2, "1.1.1.1", "A"), (3, "1.1.1.1", "B"), (70, "1.1.1.1", "A"),
                              (71, "2.2.2.2", "A"), (72, None, "A"), (73, None, "A")]
        ]  # fmt: skip
        per_hour = (
            "SELECT hour, sum(clicks)::int, sum(unique_clicks)::int FROM analytics.report_traffic"
            " WHERE account_id = $1 GROUP BY hour ORDER BY hour"
        )
        async with pool.acquire() as conn:
            await insert_clicks(conn, rows[:3])
            await run.run_once()
            assert await rollup_contents(conn) == await recount_from_raw(conn)  # the add path
            await insert_clicks(conn, rows[3:])  # below the watermark: only a recount folds them
            await run.run_once()
            assert [tuple(r) for r in await conn.fetch(per_hour, account.account_id)] == [(start, 3, 2)]
            await run.recount(start, start + 2 * HOUR)
            # A, B; then 2.2.2.2 and the two clicks without an IP.
            assert [tuple(r) for r in await conn.fetch(per_hour, account.account_id)] == [
                (start, 3, 2),
                (start + HOUR, 4, 3),
            ]
            # A late click of 2.2.2.2 + A at 10:00:30 is the day's first of it.
            await insert_clicks(conn, [{**base, "create_time": start + dt.timedelta(seconds=30), "ip": "2.2.2.2",
                                        "user_agent": "A"}])  # fmt: skip
            await run.recount(start, start + 2 * HOUR)
            assert [tuple(r) for r in await conn.fetch(per_hour, account.account_id)] == [
                (start, 4, 3),
                (start + HOUR, 4, 2),
            ]
            assert await rollup_contents(conn) == await recount_from_raw(conn)
    finally:
        await pool.close()


async def test_verdicts_unique_clicks_and_an_overrule(settings, account, links_stub):
    """Clicks by verdict, added and recounted alike: an invalid click never makes
    a later clean one of its IP + User-Agent non-unique (invalid ones are unique
    among themselves); an operator's overrule (links OverruleTouchVerdict) is
    folded by the runner's next pass, recounting the rest of the touch's day."""
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        run = runner(pool, settings)
        start = dt.datetime.combine(dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1), dt.time(10), dt.UTC)
        base = {"account_id": account.account_id, "campaign_id": "cmp_x", "ip": "1.1.1.1", "user_agent": "A"}
        rows = [
            {**base, "create_time": start + dt.timedelta(seconds=s), "reasons": reasons, "sub1": sub1}
            for s, reasons, sub1 in [
                (10, ["duplicate"], "s1"), (60, [], "s1"), (120, ["duplicate", "flood_ip"], "s2"),
                (180, ["prefetch"], "s2"), (4000, ["bot_user_agent"], "s1"),
            ]
        ]  # fmt: skip
        per_hour = """
            SELECT hour, sum(clicks)::int, sum(unique_clicks)::int, sum(suspicious_clicks)::int,
                   sum(invalid_clicks)::int, sum(invalid_unique)::int
            FROM analytics.report_traffic WHERE account_id = $1 GROUP BY hour ORDER BY hour"""
        async with pool.acquire() as conn:
            ids = await insert_clicks(conn, rows)
            await run.run_once()
            assert await rollup_contents(conn) == await recount_from_raw(conn)  # the add path
            # 10:00: clean + suspicious 2 (the clean one unique), invalid 2 (the first unique);
            # 11:06: the bot, the first invalid of its IP + User-Agent since 10:00 is not.
            hours = [tuple(r) for r in await conn.fetch(per_hour, account.account_id)]
            assert hours == [(start, 2, 1, 1, 2, 1), (start + HOUR, 0, 0, 0, 1, 0)]
            await run.recount(start, start + 2 * HOUR)
            assert [tuple(r) for r in await conn.fetch(per_hour, account.account_id)] == hours
            assert await rollup_contents(conn) == await recount_from_raw(conn)
            reasons = await conn.fetch(
                "SELECT reason, verdict, sum(n)::int AS n FROM analytics.report_reasons_daily WHERE account_id = $1"
                " GROUP BY 1, 2 ORDER BY 1", account.account_id,
            )  # fmt: skip
            by_code = {(quality.BY_BIT[r["reason"]].code, r["verdict"]): r["n"] for r in reasons}
            assert by_code == {("duplicate", 3): 2, ("flood_ip", 3): 1, ("prefetch", 2): 1, ("bot_user_agent", 3): 1}

            # The operator says the first click was a person: it is now the day's first clean
            # click of 1.1.1.1 + A (unique), the 10:01 one is not; the invalid ones' first is 10:02.
            await links_stub.OverruleTouchVerdict(
                lpb.OverruleTouchVerdictRequest(click_id=ids[0], verdict=quality.CLEAN, note="a person")
            )
            await run.run_once()
            assert [tuple(r) for r in await conn.fetch(per_hour, account.account_id)] == [
                (start, 3, 1, 1, 1, 1), (start + HOUR, 0, 0, 0, 1, 0),
            ]  # fmt: skip
            assert await rollup_contents(conn) == await recount_from_raw(conn)
            subs = await conn.fetch(
                "SELECT sub_value, sum(clicks)::int, sum(invalid_clicks)::int FROM analytics.report_traffic_subs"
                " WHERE account_id = $1 AND sub_no = 1 GROUP BY 1 ORDER BY 1", account.account_id,
            )  # fmt: skip
            assert [tuple(r) for r in subs] == [("s1", 2, 1), ("s2", 1, 1)]
    finally:
        await pool.close()
