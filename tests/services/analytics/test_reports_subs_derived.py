"""Sub-id reports from report_subs_derived (the past UTC days without the
campaign): the same answers as from the cubes, and never a stale one: a fold
into a built day, or a tariff or correction changed after the build, sends the
report back to the cubes until the runner rebuilds the day."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import asyncpg
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.type.v1 import money_pb2

from libs.partitions import ensure_daily_partitions
from services.analytics.reports.subs_sql import DERIVED_DAYS_SQL
from tests.services.analytics.report_support import TODAY, by, insert_clicks, money, report, runner
from tests.services.analytics.test_reports import tariff, world  # noqa: F401  (the fixture)

DAY = dt.timedelta(days=1)


def answer(resp: Any) -> dict[str, Any]:
    """Every figure of every row, and the totals, comparable with ==."""

    def row(r: Any) -> tuple[Any, ...]:
        return (
            r.clicks, r.unique_clicks, r.impressions, r.installs, r.conversions, r.approved_conversions,
            sorted((g.goal_id, g.conversions, g.approved, sorted((m.currency_code, m.amount) for m in g.revenue))
                   for g in r.goals),
            sorted((m.currency_code, m.revenue.amount, m.cost.amount, m.profit.amount, m.epc.amount, m.cpi.amount,
                    m.roi if m.HasField("roi") else None) for m in r.money),
        )  # fmt: skip

    rows = {tuple(sorted(r.dimensions.items())): row(r) for r in resp.rows}
    return {"rows": rows, "totals": row(resp.totals), "n": resp.total_rows}


async def derived_days(conn: asyncpg.Connection, account_id: str) -> set[dt.date]:
    """The days a sub-id report reads from report_subs_derived (built and current)."""
    return set(await conn.fetchval(DERIVED_DAYS_SQL, account_id, TODAY - 30 * DAY, TODAY))


async def test_sub_reports_read_built_days_and_never_stale_ones(world, attribution_stub, settings, account):  # noqa: F811
    a, b, stub = world["a"], world["b"], world["stub"]
    pool = await asyncpg.create_pool(settings.database_url, min_size=2, max_size=4)
    try:
        run = runner(pool, settings)
        async with pool.acquire() as conn:
            await ensure_daily_partitions(conn, "links", "clicks", days_back=4, days_ahead=1)
            # History on two past days (inside Alpha's 1 USD/day correction and its 1 USD CPC tariff).
            history = []
            for days_ago, campaign, sub1, n in ((1, a, "banner", 3), (1, b, "banner", 2), (2, a, "video", 4),
                                                (2, a, None, 1), (1, a, "video", 1)):  # fmt: skip
                t = dt.datetime.combine(TODAY - days_ago * DAY, dt.time(10), dt.UTC)
                history += [{
                    "account_id": account.account_id, "create_time": t + dt.timedelta(minutes=i),
                    "campaign_id": campaign.campaign_id, "link_id": campaign.link_id,
                    "partner_id": campaign.partner_id, "app_id": campaign.app_id, "ip": f"10.1.{days_ago}.{i}",
                    "sub1": sub1,
                } for i in range(n)]  # fmt: skip
            await insert_clicks(conn, history)
            first = TODAY - 2 * DAY
            live = await report(stub, first, TODAY, group_by=["day", "sub1"])  # nothing built yet
            assert await derived_days(conn, account.account_id) == set()

            # The recount of the history builds its past days (not today: it still changes).
            await run.recount(dt.datetime.combine(first, dt.time(), dt.UTC), dt.datetime.now(dt.UTC))
            assert await derived_days(conn, account.account_id) == {first, TODAY - DAY}, "after the recount"
            built = await report(stub, first, TODAY, group_by=["day", "sub1"])
            rows = {(r.dimensions["day"], r.dimensions["sub1"]): r for r in built.rows}
            yesterday = (TODAY - DAY).isoformat()
            # Yesterday: Alpha 4 clicks x 1 USD + its 1 USD correction share, by clicks (3 banner, 1 video).
            assert rows[(yesterday, "banner")].clicks == 5
            assert money(rows[(yesterday, "banner")], "cost") == {"USD": Decimal(3) + Decimal(3) / 4}
            assert money(rows[(yesterday, "video")], "cost") == {"USD": Decimal(1) + Decimal(1) / 4}
            # The history came in by the recount after `live` was read: the same days from the cubes now.
            await conn.execute(
                "UPDATE analytics.report_day_versions SET version = version + 1 WHERE account_id = $1",
                account.account_id,
            )
            assert await derived_days(conn, account.account_id) == set()
            from_cubes = await report(stub, first, TODAY, group_by=["day", "sub1"])
            assert answer(from_cubes) == answer(built)
            assert answer(live) != answer(built)  # (the history was not folded in yet)
            await run.run_once()  # rebuilds the stale days
            assert answer(await report(stub, first, TODAY, group_by=["day", "sub1"])) == answer(built)
            # By sub-id alone, with a sub-id filter, and over built days only: the same as from the cubes.
            for kw in ({"group_by": ["sub1"]}, {"group_by": ["day", "sub1"], "filters": {"sub1": ["video", ""]}},
                       {"group_by": ["sub1"], "end": TODAY - DAY}):  # fmt: skip
                end = kw.pop("end", TODAY)
                assert await derived_days(conn, account.account_id) == {first, TODAY - DAY}, kw
                derived = answer(await report(stub, first, end, **kw))
                await conn.execute(
                    "UPDATE analytics.report_day_versions SET version = version + 1 WHERE account_id = $1",
                    account.account_id,
                )
                assert answer(await report(stub, first, end, **kw)) == derived, kw
                await run.run_once()

            # A tariff from two days ago (CPC 2 USD) and a new correction: the built days are stale at once.
            await tariff(attribution_stub, a.campaign_id, cpb.TARIFF_MODEL_CPC, amount="2", day=first)
            await attribution_stub.corrections.CreateCorrection(cpb.CreateCorrectionRequest(
                correction=cpb.Correction(campaign_id=b.campaign_id,
                                          amount=money_pb2.Money(amount="-2", currency_code="EUR"),
                                          start_date=first.isoformat(), end_date=first.isoformat())))  # fmt: skip
            changed = await report(stub, first, TODAY, group_by=["day", "sub1"])
            rows = {(r.dimensions["day"], r.dimensions["sub1"]): r for r in changed.rows}
            assert money(rows[(yesterday, "banner")], "cost") == {"USD": Decimal(6) + Decimal(3) / 4}
            # Beta had no clicks that day: its EUR correction rides on its row without a sub-id.
            assert money(rows[(first.isoformat(), "")], "cost") == {"USD": Decimal(2) + Decimal(1) / 5,
                                                                     "EUR": Decimal(-2)}  # fmt: skip
            assert money(changed.totals, "cost")["EUR"] == Decimal(-2)
            assert await derived_days(conn, account.account_id) == set()
            await run.run_once()
            assert await derived_days(conn, account.account_id) == {first, TODAY - DAY}, "after the tariff change"
            assert answer(await report(stub, first, TODAY, group_by=["day", "sub1"])) == answer(changed)
            subs = by(await report(stub, first, TODAY - DAY, group_by=["sub1"]), "sub1")
            assert subs["video"].clicks == 5

            # Alpha's EUR corrections, -5 two days ago and +16 yesterday, spread by clicks
            # (video 4 of 5, then 1 of 4): -4 + 4 on its video row. By sub-id alone the
            # built days each give that row EUR, the cubes none: no EUR entry either way.
            for amount, day in (("-5", first.isoformat()), ("16", yesterday)):
                await attribution_stub.corrections.CreateCorrection(cpb.CreateCorrectionRequest(
                    correction=cpb.Correction(campaign_id=a.campaign_id,
                                              amount=money_pb2.Money(amount=amount, currency_code="EUR"),
                                              start_date=day, end_date=day)))  # fmt: skip
            await run.run_once()
            assert await derived_days(conn, account.account_id) == {first, TODAY - DAY}, "after the EUR corrections"
            derived = await report(stub, first, TODAY - DAY, group_by=["sub1"])
            subs = by(derived, "sub1")
            assert "EUR" not in money(subs["video"], "cost")
            assert money(subs["banner"], "cost")["EUR"] == Decimal(12)  # 16 x 3/4
            assert money(subs[""], "cost")["EUR"] == Decimal(-1) + Decimal(-2)  # -5 x 1/5, Beta's -2
            await conn.execute(
                "UPDATE analytics.report_day_versions SET version = version + 1 WHERE account_id = $1",
                account.account_id,
            )
            assert answer(await report(stub, first, TODAY - DAY, group_by=["sub1"])) == answer(derived)
    finally:
        await pool.close()
