"""The app-campaign rollups (report_outcomes_apple, report_app) against a direct
recount in Python from the raw tables, by the definitions: after the service's
runner folded the world, after a re-credit to Apple Ads and a remapped SKAN
postback, and after a recount of the days."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import asyncpg

from services.analytics.codes import MATCH_APPLE_ADS
from services.analytics.reports.fold_sql import OUTCOME_MEASURES
from services.analytics.reports.rollups import AppRollup
from services.analytics.rollup import HOUR, floor_hour
from tests.services.analytics.report_support import runner
from tests.services.analytics.test_reports_app import APPLE, NETWORK, YESTERDAY, write_world
from tests.services.analytics.test_reports_rollups import parts
from tests.support.wait import wait_until

Key = tuple[Any, ...]
APPLE_IDS = ("apple_ads_org_id", "apple_ads_campaign_id", "apple_ads_ad_group_id", "apple_ads_keyword_id")
APP_MEASURES = "skan_installs, skan_conversions, skan_revenue, re_engagements, re_attributions"
TABLES = {
    "outcomes_apple": (
        "SELECT account_id, hour, campaign_id, link_id, partner_id, app_id, apple_org_id, apple_campaign_id,"
        f" apple_ad_group_id, apple_keyword_id, goal_id, currency, {', '.join(OUTCOME_MEASURES)}"
        " FROM analytics.report_outcomes_apple",
        len(OUTCOME_MEASURES),
    ),
    "app": (
        f"SELECT account_id, hour, campaign_id, link_id, partner_id, app_id, currency, {APP_MEASURES}"
        " FROM analytics.report_app",
        5,
    ),
}


async def contents(conn: asyncpg.Connection) -> dict[str, set[Key]]:
    out = {}
    for name, (sql, n) in TABLES.items():
        out[name] = {tuple(r) for r in await conn.fetch(sql) if any(tuple(r)[-n:])}
    return out


def _add(acc: dict[Key, list[Any]], key: Key, values: list[Any]) -> None:
    cur = acc.setdefault(key, [0] * len(values))
    for i, v in enumerate(values):
        cur[i] += v


def hour_of(t: dt.datetime) -> dt.datetime:
    return floor_hour(t.astimezone(dt.UTC))


async def recount_from_raw(conn: asyncpg.Connection) -> dict[str, set[Key]]:
    """What each rollup should hold, by the definitions, from the raw rows."""
    apple: dict[Key, list[Any]] = {}
    installs = {(r["account_id"], r["install_id"]): r for r in await conn.fetch("SELECT * FROM attribution.installs")}

    def ids(install: Any) -> tuple[str, ...]:
        if install is None or install["match_type"] != MATCH_APPLE_ADS:
            return ("",) * 4
        return tuple("" if install[c] is None else str(install[c]) for c in APPLE_IDS)

    for r in installs.values():
        if r["campaign_id"] is None:
            continue
        dims = (r["campaign_id"], r["link_id"] or "", r["partner_id"] or "", r["app_id"], *ids(r), "", "")
        _add(apple, (r["account_id"], hour_of(r["install_time"]), *dims), parts(r["verdict"], 1, 0, 0, Decimal(0)))
    for r in await conn.fetch("SELECT * FROM attribution.conversions WHERE campaign_id IS NOT NULL"):
        install = installs.get((r["account_id"], r["install_id"]))
        same = install is not None and install["campaign_id"] == r["campaign_id"]
        approved = r["status"] == 2
        values = parts(r["verdict"], 0, int(r["status"] != 3), int(approved),
                       (r["payout"] or Decimal(0)) if approved else Decimal(0))  # fmt: skip
        goal = r["goal_id"] or r["goal"] or "(none)"
        dims = (r["campaign_id"], r["link_id"] or "", r["partner_id"] or "", r["app_id"] or "",
                *ids(install if same else None), goal, r["currency"] or "")  # fmt: skip
        _add(apple, (r["account_id"], hour_of(r["event_time"]), *dims), values)
    app: dict[Key, list[Any]] = {}
    for r in await conn.fetch("SELECT * FROM attribution.skan_postbacks"):
        revenue = r["revenue"] or Decimal(0)
        key = (r["account_id"], hour_of(r["receive_time"]), r["campaign_id"] or "", "", r["partner_id"] or "",
               r["app_id"] or "", (r["currency"] or "") if revenue else "")  # fmt: skip
        _add(app, key, [r["installs"], r["conversions"], revenue, 0, 0])
    for r in await conn.fetch("SELECT * FROM attribution.reattributions"):
        key = (r["account_id"], hour_of(r["event_time"]), r["campaign_id"], r["link_id"] or "", r["partner_id"] or "",
               r["app_id"], "")  # fmt: skip
        _add(app, key, [0, 0, Decimal(0), int(r["kind"] == 1), int(r["kind"] == 2)])
    return {
        "outcomes_apple": {(*k, *v) for k, v in apple.items() if any(v)},
        "app": {(*k, *v) for k, v in app.items() if any(v)},
    }


async def test_app_rollups_equal_a_recount_from_the_raw_tables(analytics_server, account, settings):
    pool = analytics_server.ctx.pool
    run = runner(pool, settings)
    async with pool.acquire() as conn:
        await write_world(conn, account.account_id)

    async def current() -> bool:
        await run.run_once()
        async with pool.acquire() as conn:
            assert await contents(conn) == await recount_from_raw(conn)
        return True

    await wait_until(current, "the app rollups to equal the recount from the raw tables")
    async with pool.acquire() as conn:
        got = await contents(conn)
        assert {r[7] for r in got["outcomes_apple"] if r[2] == APPLE} == {"5500"}  # Apple's campaign id
        assert sum(r[7] for r in got["app"]) == 3  # SKAN installs: today's two and yesterday's one
        # A re-credit to Apple Ads (install and conversion) and a postback mapped later.
        await conn.execute(
            "UPDATE attribution.installs SET match_type = $2, campaign_id = $3, apple_ads_org_id = 41,"
            " apple_ads_campaign_id = 5600, apple_ads_ad_group_id = 602, apple_ads_keyword_id = NULL,"
            " update_time = clock_timestamp() WHERE account_id = $1 AND campaign_id = 'cmp_web'",
            account.account_id, MATCH_APPLE_ADS, APPLE,
        )  # fmt: skip
        await conn.execute(
            "UPDATE attribution.conversions SET campaign_id = $2, update_time = clock_timestamp()"
            " WHERE account_id = $1 AND campaign_id = 'cmp_web'",
            account.account_id, APPLE,
        )  # fmt: skip
        await conn.execute(
            "UPDATE attribution.skan_postbacks SET campaign_id = $2 WHERE account_id = $1 AND campaign_id IS NULL",
            account.account_id, NETWORK,
        )  # fmt: skip
        # A recount of the days written (what `clicktrail report recount` runs) catches the remap
        # however the postbacks are read (create_time, or an update_time the remap did not bump).
        start = dt.datetime.combine(YESTERDAY, dt.time(), dt.UTC)
        async with conn.transaction():
            await conn.execute("SELECT 1 FROM analytics.rollup_state WHERE name = 'reports_app' FOR UPDATE")
            await AppRollup().recount(conn, start, floor_hour(dt.datetime.now(dt.UTC)) + HOUR)
    await wait_until(current, "the app rollups to fold the re-credit and the remap")
    async with pool.acquire() as conn:
        got = await contents(conn)
        assert ("41", "5600", "602", "") in {r[6:10] for r in got["outcomes_apple"]}
        assert all(r[2] != "" for r in got["app"])  # no postback left unmapped
        await run.recount(start, dt.datetime.now(dt.UTC))
        assert await contents(conn) == await recount_from_raw(conn)
