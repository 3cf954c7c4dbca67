"""Property: corrections spread over days and rows add up to the same total cost
over any grouping and filter-free report, and that total is the corrections'
share of the days in the range. Clicks are written straight into links.clicks
(as its group commit writes them) on future days, and the traffic rollup is
recounted from them inside a transaction that is rolled back after each example."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import asyncpg
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from libs.partitions import ensure_daily_partitions
from services.analytics import reports
from tests.services.analytics.report_support import insert_clicks

DAY0 = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
ACCOUNT = "acc_prop"
CAMPAIGNS = ("cmp_a", "cmp_b")
GROUPINGS = (
    [],
    ["campaign"],
    ["country"],
    ["day"],
    ["hour"],
    ["sub1"],
    ["campaign", "country", "day"],
    ["day", "sub1"],
    ["link", "hour"],
)

clicks = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 23), st.sampled_from(CAMPAIGNS), st.sampled_from(["US", "DE"]),
              st.sampled_from([None, "a", "b"]), st.sampled_from(["lnk_1", "lnk_2"])),
    max_size=25,
)  # fmt: skip
corrections = st.lists(
    st.tuples(st.sampled_from(CAMPAIGNS), st.integers(-2, 3), st.integers(1, 5),
              st.integers(-10**8, 10**8).filter(bool), st.sampled_from(["USD", "EUR"])),
    min_size=1, max_size=4,
)  # fmt: skip


def day(i: int) -> dt.date:
    return DAY0 + dt.timedelta(days=i)


async def check(dsn: str, cs: list[tuple], corrs: list[tuple], first: int, last: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        tr = conn.transaction()
        await tr.start()
        rows = [
            {"account_id": ACCOUNT, "campaign_id": c, "link_id": link, "country": country, "sub1": sub,
             "create_time": dt.datetime.combine(day(d), dt.time(h), dt.UTC), "ip": f"10.0.{d}.{h}"}
            for d, h, c, country, sub, link in cs
        ]  # fmt: skip
        await insert_clicks(conn, rows)
        for n, (c, start, length, micros, currency) in enumerate(corrs):
            await conn.execute(
                "INSERT INTO attribution.corrections (account_id, correction_id, campaign_id, amount, currency,"
                " start_date, end_date) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                ACCOUNT, f"cor_{n}", c, Decimal(micros) / 1_000_000, currency, day(start), day(start + length - 1),
            )  # fmt: skip
        span_start = dt.datetime.combine(day(-2), dt.time(), dt.UTC)
        await reports.TrafficRollup().recount(conn, span_start, span_start + dt.timedelta(days=10))
        start = dt.datetime.combine(day(first), dt.time(), dt.UTC)
        end = dt.datetime.combine(day(last + 1), dt.time(), dt.UTC)
        # Each correction's daily share, for the days of the range.
        expected: dict[str, Decimal] = {}
        for _c, s, length, micros, currency in corrs:
            inside = len(set(range(s, s + length)) & set(range(first, last + 1)))
            expected[currency] = expected.get(currency, Decimal(0)) + Decimal(micros) / 1_000_000 * inside / length
        for group_by in GROUPINGS:
            rep = await reports.campaign_report(conn, ACCOUNT, start, end, group_by, {})
            total = {c: m.cost for c, m in rep.totals.money.items()}
            for currency in set(expected) | set(total):
                diff = abs(total.get(currency, Decimal(0)) - expected.get(currency, Decimal(0)))
                assert diff < Decimal("1e-9"), (group_by, currency, total, expected)
            # Rounded to the cent-of-a-cent the API prints, the rows still add up to the total.
            for currency, t in total.items():
                rounded = sum(reports.round_money(r.money[currency].cost) for r in rep.rows if currency in r.money)
                assert abs(rounded - t) <= Decimal("0.000001") * max(1, len(rep.rows)), (group_by, currency)
        await tr.rollback()
    finally:
        await conn.close()


async def _partitions(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await ensure_daily_partitions(conn, "links", "clicks", days_back=0, days_ahead=8)
    finally:
        await conn.close()


def test_corrections_add_up_to_the_same_total_over_any_grouping(settings):
    asyncio.run(_partitions(settings.database_url))

    @hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(cs=clicks, corrs=corrections, first=st.integers(0, 3), span=st.integers(0, 3))
    def prop(cs: list[tuple], corrs: list[tuple], first: int, span: int) -> None:
        asyncio.run(check(settings.database_url, cs, corrs, first, min(3, first + span)))

    prop()
