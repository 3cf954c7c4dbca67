"""Campaign reports by the affiliate flow: stream, lander and offer rows add up
to the campaign totals (clicks, unique clicks, conversions, revenue, cost, lander
views and clicks), lander CTR, the verdicts filter and order_by on the new
metrics, and a recount equals the live rollups. Clicks (with their stream,
lander and offer), lander clicks and conversions are written with SQL into the
test's database as links and attribution write them; the service's own runner
folds them; the report is read over gRPC."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import asyncpg
import grpc
import pytest
from clicktrail.analytics.v1 import reports_pb2_grpc
from clicktrail.type.v1 import quality_pb2

from services.analytics.codes import TARIFF_CPC
from services.analytics.report_service import ROLLUPS
from services.analytics.rollup import ceil_hour
from tests.services.analytics.report_support import TODAY, by, insert_clicks, money, report
from tests.support.wait import wait_until

CAMPAIGN = "cmp_flow"
# (stream, lander, offer, clicks): the flow's clicks; None: no flow.
CLICKS = (
    ("str_1", "lnd_1", "off_1", 4),
    ("str_1", "lnd_2", "off_1", 3),
    ("str_1", "lnd_1", "off_2", 2),
    ("str_2", None, "off_2", 2),
    (None, None, None, 3),
)
# The columns of the flow rollups and the lander measures of the others, compared
# after the live folds and after a recount.
SNAPSHOT = {
    "traffic_flow": "SELECT * FROM analytics.report_traffic_flow WHERE account_id = $1",
    "outcomes_flow": "SELECT * FROM analytics.report_outcomes_flow WHERE account_id = $1",
    **{
        f"traffic{suffix}": f"SELECT * FROM analytics.report_traffic{suffix} WHERE account_id = $1"
        for suffix in ("_links", "", "_daily", "_subs")
    },
}


async def snapshot(conn: asyncpg.Connection, account_id: str) -> dict[str, set[tuple[Any, ...]]]:
    return {name: {tuple(r) for r in await conn.fetch(sql, account_id)} for name, sql in SNAPSHOT.items()}


async def write_world(conn: asyncpg.Connection, account_id: str) -> None:
    """The flow's clicks (one invalid beside them), lander clicks (one of them
    to another offer than its click's, one of the invalid click), conversions
    (two approved and a rejected one through lander 1 / 2, a pending one of
    stream 2, an approved one without a flow), a CPC tariff and a correction."""
    now = dt.datetime.now(dt.UTC)
    ids: dict[tuple[Any, ...], list[str]] = {}
    rows: list[dict[str, Any]] = []
    keys: list[tuple[Any, ...]] = []
    for n, (stream, lander, offer, count) in enumerate(CLICKS):
        for i in range(count):
            rows.append({"account_id": account_id, "campaign_id": CAMPAIGN, "create_time": now,
                         "link_id": "lnk_flow" if stream else "lnk_plain", "ip": f"10.1.{n}.{i}"})  # fmt: skip
            keys.append((stream, lander, offer))
    rows.append({"account_id": account_id, "campaign_id": CAMPAIGN, "create_time": now, "link_id": "lnk_flow",
                 "ip": "10.9.9.9", "verdict": quality_pb2.VERDICT_INVALID})  # fmt: skip
    keys.append(("str_1", "lnd_1", "off_1", "invalid"))
    async with conn.transaction():
        for key, cid in zip(keys, await insert_clicks(conn, rows), strict=True):
            ids.setdefault(key, []).append(cid)
            if key[0] is not None:
                await conn.execute(
                    "UPDATE links.clicks SET stream_id = $3, lander_id = $4, offer_id = $5"
                    " WHERE account_id = $1 AND click_id = $2",
                    account_id, cid, *key[:3],
                )  # fmt: skip

        async def lander_click(key: tuple[Any, ...], i: int, offer: str, verdict: int = 1) -> None:
            await conn.execute(
                "INSERT INTO links.lander_clicks (account_id, click_id, click_time, campaign_id, link_id, stream_id,"
                " lander_id, offer_id, verdict) VALUES ($1, $2, $3, $4, 'lnk_flow', $5, $6, $7, $8)",
                account_id, ids[key][i], now, CAMPAIGN, key[0], key[1], offer, verdict,
            )  # fmt: skip

        s1l1o1, s1l2o1, s1l1o2 = ("str_1", "lnd_1", "off_1"), ("str_1", "lnd_2", "off_1"), ("str_1", "lnd_1", "off_2")
        await lander_click(s1l1o1, 0, "off_1")
        await lander_click(s1l1o1, 1, "off_1")
        await lander_click(s1l2o1, 0, "off_1")
        await lander_click(s1l1o2, 0, "off_3")  # off_2 no longer eligible: the click-through chose off_3
        await lander_click((*s1l1o1, "invalid"), 0, "off_1", quality_pb2.VERDICT_INVALID)

        async def conversion(key: tuple[Any, ...], i: int, status: int, payout: str) -> None:
            cid = ids[key][i]
            await conn.execute(
                "INSERT INTO attribution.conversions (account_id, conversion_id, dedup_key, source, goal, status,"
                " payout, currency, click_id, touch_time, campaign_id, partner_id, link_id, event_time)"
                " VALUES ($1, $2, $2, 2, 'sale', $3, $4, 'USD', $5, $6, $7, 'prt', $8, $6)",
                account_id, f"cnv_{cid}", status, Decimal(payout), cid, now, CAMPAIGN,
                "lnk_flow" if key[0] else "lnk_plain",
            )  # fmt: skip

        await conversion(s1l1o1, 0, 2, "10")
        await conversion(s1l1o1, 1, 2, "10")
        await conversion(s1l2o1, 1, 3, "10")  # rejected: never counts
        await conversion(("str_2", None, "off_2"), 0, 1, "7")  # pending
        await conversion((None, None, None), 0, 2, "3")
        await conn.execute(
            "INSERT INTO attribution.tariffs (account_id, tariff_id, campaign_id, model, amount, currency,"
            " effective_date) VALUES ($1, 'trf_flow', $2, $3, 0.10, 'USD', $4)",
            account_id, CAMPAIGN, TARIFF_CPC, TODAY,
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO attribution.corrections (account_id, correction_id, campaign_id, amount, currency,"
            " start_date, end_date) VALUES ($1, 'cor_flow', $2, 5, 'USD', $3, $3)",
            account_id, CAMPAIGN, TODAY,
        )  # fmt: skip


def figures(row: Any) -> tuple[Any, ...]:
    return (row.clicks, row.unique_clicks, row.conversions, row.approved_conversions, row.lander_views,
            row.lander_clicks, money(row, "revenue"), money(row, "cost"))  # fmt: skip


def summed(rows: Any) -> tuple[Any, ...]:
    out: list[Any] = [0] * 6 + [{}, {}]
    for row in rows:
        f = figures(row)
        for i in range(6):
            out[i] += f[i]
        for i in (6, 7):
            for cur, amount in f[i].items():
                out[i][cur] = out[i].get(cur, Decimal(0)) + amount
    return tuple(out)


@pytest.fixture
async def flow_world(analytics_server, account, channels, settings):
    """The world written and folded in by the service's runner: the report's
    totals show every click and conversion."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        await write_world(conn, account.account_id)
    finally:
        await conn.close()
    stub = reports_pb2_grpc.ReportServiceStub(channels(analytics_server.addr, token=account.api_key))

    async def folded() -> bool:
        totals = (await report(stub, TODAY)).totals
        assert (totals.clicks, totals.conversions, totals.lander_clicks) == (14, 4, 4)
        return True

    await wait_until(folded, "the service's rollups to fold the flow's clicks, lander clicks and conversions")
    return stub


async def test_rows_by_stream_lander_offer_add_up_to_the_campaign_totals(flow_world):
    stub = flow_world
    totals = (await report(stub, TODAY)).totals
    # 14 clean clicks x the 0.10 CPC + the 5.00 correction; 2 x 10 + 3 approved, 1 pending.
    revenue, cost = {"USD": Decimal("23")}, {"USD": Decimal("6.4")}
    assert figures(totals) == (14, 14, 4, 3, 9, 4, revenue, cost)
    assert totals.lander_ctr == pytest.approx(4 / 9)
    for group_by in (["stream"], ["lander"], ["offer"], ["campaign", "stream", "lander", "offer"], ["offer", "hour"],
                     ["link", "lander"], ["day", "offer"]):  # fmt: skip
        resp = await report(stub, TODAY, group_by=group_by)
        rows, expected = summed(resp.rows), figures(totals)
        assert rows[:7] == expected[:7], group_by
        # Cost spread over rows (the correction) is printed rounded to 6 places per row.
        assert abs(rows[7]["USD"] - expected[7]["USD"]) <= Decimal("0.000001") * len(resp.rows), group_by
        assert figures(resp.totals) == figures(totals), group_by


async def test_lander_views_clicks_and_ctr_per_lander_and_offer(flow_world):
    stub = flow_world
    landers = by(await report(stub, TODAY, group_by=["lander"]), "lander")
    assert set(landers) == {"lnd_1", "lnd_2", ""}
    assert (landers["lnd_1"].lander_views, landers["lnd_1"].lander_clicks) == (6, 3)
    assert landers["lnd_1"].lander_ctr == pytest.approx(0.5)
    assert (landers["lnd_2"].lander_views, landers["lnd_2"].lander_clicks) == (3, 1)
    assert (landers[""].clicks, landers[""].lander_views, landers[""].lander_ctr) == (5, 0, 0.0)
    assert landers["lnd_1"].conversions == 2 and money(landers["lnd_1"], "revenue") == {"USD": Decimal("20")}
    # EPC per lander: its revenue over its clicks.
    epc = {m.currency_code: Decimal(m.epc.amount) for m in landers["lnd_1"].money}
    assert epc["USD"] == (Decimal("20") / 6).quantize(Decimal("0.000001"))
    offers = by(await report(stub, TODAY, group_by=["offer"]), "offer")
    # A lander click counts for the offer it went to (off_3: chosen at the click-through).
    assert {k: (r.clicks, r.lander_views, r.lander_clicks) for k, r in offers.items()} == {
        "off_1": (7, 7, 3), "off_2": (4, 2, 0), "off_3": (0, 0, 1), "": (3, 0, 0),
    }  # fmt: skip
    assert (offers["off_2"].conversions, offers["off_2"].approved_conversions) == (1, 0)
    streams = by(await report(stub, TODAY, group_by=["stream"]), "stream")
    assert {k: (r.clicks, r.conversions) for k, r in streams.items()} == {"str_1": (9, 2), "str_2": (2, 1), "": (3, 1)}


async def test_filters_verdicts_and_order_by_on_the_flow(flow_world):
    stub = flow_world
    only = (await report(stub, TODAY, filters={"lander": ["lnd_2"]})).totals
    assert (only.clicks, only.lander_views, only.lander_clicks) == (3, 3, 1)
    none = (await report(stub, TODAY, filters={"stream": [""]})).totals
    assert (none.clicks, none.conversions) == (3, 1)
    # The invalid click and its lander click: beside the default report, alone with [INVALID].
    invalid = by(await report(stub, TODAY, group_by=["lander"], verdicts=[quality_pb2.VERDICT_INVALID]), "lander")
    assert {k: (r.clicks, r.lander_views, r.lander_clicks) for k, r in invalid.items()} == {"lnd_1": (1, 1, 1)}
    both = (await report(stub, TODAY, verdicts=[quality_pb2.VERDICT_CLEAN, quality_pb2.VERDICT_INVALID])).totals
    assert (both.clicks, both.lander_views, both.lander_clicks) == (15, 10, 5)
    ordered = await report(stub, TODAY, group_by=["lander"], order_by="lander_ctr desc")
    assert [r.dimensions["lander"] for r in ordered.rows] == ["lnd_1", "lnd_2", ""]
    ordered = await report(stub, TODAY, group_by=["offer"], order_by="lander_clicks")
    assert [r.lander_clicks for r in ordered.rows] == [0, 0, 1, 3]


async def test_flow_dimensions_refuse_country_device_os_and_sub_ids(flow_world):
    stub = flow_world
    for group_by in (["stream", "country"], ["lander", "os"], ["offer", "sub1"]):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await report(stub, TODAY, group_by=group_by)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "group_by" in (err.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await report(stub, TODAY, group_by=["stream"], order_by="lander_rate")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "order_by" in (err.value.details() or "")


async def test_recount_equals_the_live_rollups(flow_world, account, settings):
    stub = flow_world
    before = await report(stub, TODAY, group_by=["stream", "lander", "offer"])
    conn = await asyncpg.connect(settings.database_url)
    try:
        tr = conn.transaction()
        await tr.start()
        # Under the rollups' own locks (no pass of the service's runner between), the
        # folds as they came against a rebuild of the day from the raw rows (the
        # current hour too: rolled back after, the runner's next add would add it again).
        await conn.execute(
            "SELECT 1 FROM analytics.rollup_state WHERE name = ANY($1::text[]) FOR UPDATE",
            [r.name for r in ROLLUPS],
        )
        live = await snapshot(conn, account.account_id)
        assert live["traffic_flow"] and live["outcomes_flow"]
        start = dt.datetime.combine(TODAY, dt.time(), dt.UTC)
        for rollup in ROLLUPS:
            await rollup.recount(conn, start, ceil_hour(dt.datetime.now(dt.UTC)))
        assert await snapshot(conn, account.account_id) == live
        await tr.rollback()
    finally:
        await conn.close()
    assert await report(stub, TODAY, group_by=["stream", "lander", "offer"]) == before
