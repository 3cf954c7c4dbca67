"""Campaign reports for app campaigns (issue 22): the Apple Ads dimensions (org,
campaign, ad group, keyword) with rows adding up to the campaign totals and an
install re-credited to Apple Ads moving with it; the SKAN metrics (installs,
conversions, estimated revenue, by receive time) and the re-engagement metrics
(re-engagements, re-attributions, by event time) beside the deterministic ones;
a recount from the raw tables equals the live rollups. Rows are written with
SQL into the tables attribution's migration 0006 makes, as attribution writes
them; the service's own runner folds them; the report is read over gRPC."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import grpc
import pytest
from clicktrail.analytics.v1 import reports_pb2_grpc
from clicktrail.type.v1 import quality_pb2

from services.analytics.codes import MATCH_APPLE_ADS, TARIFF_CPI
from services.analytics.report_service import ROLLUPS
from services.analytics.rollup import ceil_hour
from tests.services.analytics.report_support import TODAY, by, insert_clicks, money, report
from tests.support.wait import wait_until

YESTERDAY = TODAY - dt.timedelta(days=1)
APPLE = "cmp_apple"  # our campaign for Apple Ads (Apple's campaign 5500 in org 40)
WEB = "cmp_web"  # a campaign with our own tracking links
NETWORK = "cmp_skan"  # an ad network's campaign its SKAN postbacks map to
RETARGET = "cmp_rt"  # a retargeting campaign
# (Apple's org, campaign, ad group, keyword) of the Apple Ads installs.
KEYWORDS = ((40, 5500, 600, 7001), (40, 5500, 600, 7001), (40, 5500, 601, 7002))
# The rollup tables app campaigns add, compared after the live folds and after a recount.
SNAPSHOT = {
    "outcomes_apple": "SELECT * FROM analytics.report_outcomes_apple WHERE account_id = $1",
    "app": "SELECT * FROM analytics.report_app WHERE account_id = $1",
    "app_facts": "SELECT * FROM analytics.report_app_facts WHERE account_id = $1",
    "facts": "SELECT * FROM analytics.report_facts WHERE account_id = $1",
    **{
        f"outcomes{suffix}": f"SELECT * FROM analytics.report_outcomes{suffix} WHERE account_id = $1"
        for suffix in ("_links", "", "_daily", "_subs", "_flow")
    },
}


async def snapshot(conn: asyncpg.Connection, account_id: str) -> dict[str, set[tuple[Any, ...]]]:
    """Each table's rows, rows whose measures are all 0 left out (a delta fold can
    leave a zero row behind where a rebuild has none)."""
    out = {}
    for name, sql in SNAPSHOT.items():
        rows = set()
        for r in await conn.fetch(sql, account_id):
            values = dict(r)
            measures = [v for k, v in values.items() if isinstance(v, int | Decimal) and k != "device_type"]
            if name.endswith("facts") or any(measures):
                rows.add(tuple(tuple(v) if isinstance(v, list) else v for v in values.values()))
        out[name] = rows
    return out


async def install(
    conn: asyncpg.Connection, account_id: str, campaign: str | None, *, apple: tuple[int, ...] | None = None,
    click_id: str | None = None, time: dt.datetime | None = None,
) -> str:  # fmt: skip
    """An install as attribution stores it: Apple Ads (match type 5 with Apple's
    ids), credited to a click (match type 1) or organic (4, no campaign)."""
    install_id = f"ins_{uuid.uuid4().hex[:12]}"
    now = time or dt.datetime.now(dt.UTC)
    match = MATCH_APPLE_ADS if apple else (1 if click_id else 4)
    org, cmp, group, keyword = apple or (None, None, None, None)
    await conn.execute(
        "INSERT INTO attribution.installs (account_id, install_id, app_id, device_key, event_uuid, install_time,"
        " receive_time, match_type, touch_type, click_id, touch_time, campaign_id, partner_id, apple_ads_org_id,"
        " apple_ads_campaign_id, apple_ads_ad_group_id, apple_ads_keyword_id, apple_ads_ad_id, apple_ads_click_time)"
        " VALUES ($1, $2, 'app_ios', $2, $3, $4, $4, $5, $6, $7, $4, $8, $9, $10, $11, $12, $13, $14, $15)",
        account_id, install_id, uuid.uuid4(), now, match, 1 if click_id else 0, click_id, campaign,
        "prt_apple" if apple else ("prt" if campaign else None), org, cmp, group, keyword,
        9000 if apple else None, now - dt.timedelta(hours=2) if apple else None,
    )  # fmt: skip
    return install_id


async def conversion(
    conn: asyncpg.Connection, account_id: str, campaign: str, install_id: str | None, payout: str
) -> str:
    conversion_id = f"cnv_{uuid.uuid4().hex[:12]}"
    await conn.execute(
        "INSERT INTO attribution.conversions (account_id, conversion_id, dedup_key, source, goal, status, payout,"
        " currency, campaign_id, partner_id, install_id, app_id, event_time)"
        " VALUES ($1, $2, $2, 1, 'purchase', 2, $3, 'USD', $4, 'prt', $5, 'app_ios', clock_timestamp())",
        account_id, conversion_id, Decimal(payout), campaign, install_id,
    )  # fmt: skip
    return conversion_id


async def skan_postback(
    conn: asyncpg.Connection, account_id: str, campaign: str | None, *, sequence: int = 0, installs: int = 1,
    conversions: int = 0, revenue: str | None = None, received: dt.datetime | None = None,
) -> None:  # fmt: skip
    """A SKAN 4 postback as lane skan stores it (the developer copy), its values
    decoded at receipt. The raw fields are Apple's SKAdNetwork 4.0 postback's:
    https://developer.apple.com/documentation/storekit/identifying-the-parameters-in-install-validation-postbacks"""
    tx = str(uuid.uuid4())
    raw = {"version": "4.0", "ad-network-id": "example123.skadnetwork", "source-identifier": "5239",
           "app-id": 525463029, "transaction-id": tx, "redownload": False, "fidelity-type": 1,
           "did-win": True, "postback-sequence-index": sequence}  # fmt: skip
    await conn.execute(
        "INSERT INTO attribution.skan_postbacks (account_id, postback_id, transaction_id, kind, version, app_id,"
        " store_app_id, ad_network_id, source_identifier, campaign_id, partner_id, fidelity_type, sequence_index,"
        " coarse_value, installs, conversions, revenue, currency, receive_time, raw)"
        " VALUES ($1, $2, $3, 1, '4.0', 'app_ios', '525463029', 'example123.skadnetwork', '5239', $4, $5, 1, $6,"
        " 'medium', $7, $8, $9, $10, $11, $12)",
        account_id, f"skp_{tx[:12]}", tx, campaign, "prt_net" if campaign else None, sequence, installs,
        conversions, Decimal(revenue) if revenue else None, "USD" if revenue else None,
        received or dt.datetime.now(dt.UTC), json.dumps(raw),
    )  # fmt: skip


async def reattribution(conn: asyncpg.Connection, account_id: str, kind: int, install_id: str) -> None:
    now = dt.datetime.now(dt.UTC)
    await conn.execute(
        "INSERT INTO attribution.reattributions (account_id, reattribution_id, kind, install_id, app_id, device_key,"
        " event_uuid, event_time, match_type, campaign_id, partner_id, link_id, window_end)"
        " VALUES ($1, $2, $3, $4, 'app_ios', $4, $5, $6, 1, $7, 'prt_rt', 'lnk_rt', $8)",
        account_id, f"rea_{uuid.uuid4().hex[:12]}", kind, install_id, uuid.uuid4(), now, RETARGET,
        now + dt.timedelta(days=30),
    )  # fmt: skip


async def write_world(conn: asyncpg.Connection, account_id: str) -> dict[str, str]:
    """Three Apple Ads installs (two keywords, two ad groups) with a purchase of
    the first, one the retargeting campaign took over (its purchase credits
    cmp_rt), a web campaign's clicks and click-id install with a purchase, a CPI
    tariff on the Apple Ads campaign; SKAN postbacks (a winning first one with a
    purchase, a second-window one with two, an unmapped one, and one received
    yesterday); two re-engagements and a re-attribution."""
    now = dt.datetime.now(dt.UTC)
    async with conn.transaction():
        apple = [await install(conn, account_id, APPLE, apple=k) for k in KEYWORDS]
        clicks = await insert_clicks(
            conn, [{"account_id": account_id, "campaign_id": WEB, "create_time": now, "ip": f"10.2.0.{i}"}
                   for i in range(4)],
        )  # fmt: skip
        web = await install(conn, account_id, WEB, click_id=clicks[0], time=now)
        await conn.execute(
            "UPDATE attribution.installs SET touch_time = $3 WHERE account_id = $1 AND install_id = $2",
            account_id, web, now,
        )  # fmt: skip
        await conversion(conn, account_id, APPLE, apple[0], "10")
        await conversion(conn, account_id, RETARGET, apple[1], "4")  # a re-engagement's: not Apple Ads'
        await conversion(conn, account_id, WEB, web, "3")
        await conn.execute(
            "INSERT INTO attribution.tariffs (account_id, tariff_id, campaign_id, model, amount, currency,"
            " effective_date) VALUES ($1, 'trf_apple', $2, $3, 2, 'USD', $4)",
            account_id, APPLE, TARIFF_CPI, YESTERDAY,
        )  # fmt: skip
        await skan_postback(conn, account_id, NETWORK, conversions=1, revenue="4.99")
        await skan_postback(conn, account_id, NETWORK, sequence=1, installs=0, conversions=2, revenue="10")
        await skan_postback(conn, account_id, None)  # its campaign not mapped
        yesterday_noon = dt.datetime.combine(YESTERDAY, dt.time(12), dt.UTC)
        await skan_postback(conn, account_id, NETWORK, conversions=1, revenue="1.5", received=yesterday_noon)
        await reattribution(conn, account_id, 1, apple[1])
        await reattribution(conn, account_id, 1, web)
        await reattribution(conn, account_id, 2, apple[2])
    return {"web_install": web}


@pytest.fixture
async def app_world(analytics_server, account, channels, settings):
    """The world written and folded in by the service's runner."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        ids = await write_world(conn, account.account_id)
    finally:
        await conn.close()
    stub = reports_pb2_grpc.ReportServiceStub(channels(analytics_server.addr, token=account.api_key))

    async def folded() -> bool:
        totals = (await report(stub, YESTERDAY, TODAY)).totals
        assert (totals.clicks, totals.installs, totals.conversions) == (4, 4, 3)
        assert (totals.skan_installs, totals.re_engagements, totals.re_attributions) == (3, 2, 1)
        return True

    await wait_until(folded, "the service's rollups to fold the installs, SKAN postbacks and reattributions")
    return stub, ids


def figures(row: Any) -> tuple[Any, ...]:
    return (row.clicks, row.installs, row.conversions, money(row, "revenue"), money(row, "cost"), row.skan_installs,
            row.skan_conversions, skan(row), row.re_engagements, row.re_attributions)  # fmt: skip


def skan(row: Any) -> dict[str, Decimal]:
    return {m.currency_code: Decimal(m.amount) for m in row.skan_revenue}


def summed(rows: Any) -> tuple[Any, ...]:
    out: list[Any] = []
    for row in rows:
        f = figures(row)
        if not out:
            out = [x if not isinstance(x, dict) else dict(x) for x in f]
            continue
        for i, x in enumerate(f):
            if isinstance(x, dict):
                for cur, amount in x.items():
                    out[i][cur] = out[i].get(cur, Decimal(0)) + amount
            else:
                out[i] += x
    return tuple(out)


async def test_apple_ads_rows_add_up_to_the_campaign_totals(app_world):
    stub, _ = app_world
    totals = (await report(stub, TODAY)).totals
    # 3 Apple Ads installs x the 2.00 CPI; SKAN revenue beside revenue, never in it.
    assert figures(totals) == (
        4, 4, 3, {"USD": Decimal("17")}, {"USD": Decimal("6")}, 2, 3, {"USD": Decimal("14.99")}, 2, 1,
    )  # fmt: skip
    groupings = (
        ["apple_ads_campaign"], ["apple_ads_org", "apple_ads_ad_group"], ["campaign", "apple_ads_keyword"],
        ["apple_ads_keyword", "hour"], ["link", "apple_ads_campaign"], ["day", "apple_ads_ad_group"],
    )  # fmt: skip
    for group_by in groupings:
        resp = await report(stub, TODAY, group_by=group_by)
        assert summed(resp.rows) == figures(totals), group_by
        assert figures(resp.totals) == figures(totals), group_by
    keywords = by(await report(stub, TODAY, group_by=["apple_ads_keyword"]), "apple_ads_keyword")
    assert {k: (r.clicks, r.installs, r.conversions) for k, r in keywords.items()} == {
        "7001": (0, 2, 1), "7002": (0, 1, 0), "": (4, 1, 2),
    }  # fmt: skip
    assert money(keywords["7001"], "revenue") == {"USD": Decimal("10")}
    assert money(keywords["7001"], "cost") == {"USD": Decimal("4")}  # CPI per Apple Ads install
    dims = ["campaign", "apple_ads_org", "apple_ads_campaign", "apple_ads_ad_group"]
    groups = await report(stub, TODAY, group_by=dims)
    assert {tuple(r.dimensions[d] for d in dims): r.installs for r in groups.rows if r.installs} == {
        (APPLE, "40", "5500", "600"): 2, (APPLE, "40", "5500", "601"): 1, (WEB, "", "", ""): 1,
    }  # fmt: skip
    only = (await report(stub, TODAY, filters={"apple_ads_campaign": ["5500"]})).totals
    assert (only.clicks, only.installs, only.conversions, only.skan_installs) == (0, 3, 1, 0)


async def test_skan_and_re_engagement_metrics_by_campaign_and_day(app_world):
    stub, _ = app_world
    campaigns = by(await report(stub, TODAY, group_by=["campaign"]), "campaign")
    got = {k: (r.installs, r.skan_installs, r.skan_conversions, skan(r), r.re_engagements, r.re_attributions)
           for k, r in campaigns.items()}  # fmt: skip
    assert got == {
        APPLE: (3, 0, 0, {}, 0, 0),
        WEB: (1, 0, 0, {}, 0, 0),
        NETWORK: (0, 1, 3, {"USD": Decimal("14.99")}, 0, 0),
        "": (0, 1, 0, {}, 0, 0),  # the unmapped postback
        RETARGET: (0, 0, 0, {}, 2, 1),
    }
    # The re-engagement's purchase credits the retargeting campaign.
    assert money(campaigns[RETARGET], "revenue") == {"USD": Decimal("4")}
    # A postback counts on the day it was received.
    days = by(await report(stub, YESTERDAY, TODAY, group_by=["day"]), "day")
    assert {d: (r.installs, r.skan_installs, r.skan_conversions, skan(r)) for d, r in days.items()} == {
        YESTERDAY.isoformat(): (0, 1, 1, {"USD": Decimal("1.5")}),
        TODAY.isoformat(): (4, 2, 3, {"USD": Decimal("14.99")}),
    }  # fmt: skip
    # Dimensions a postback does not have: its figures are in the "" row, and still add up.
    countries = await report(stub, TODAY, group_by=["country"])
    assert summed(countries.rows)[5:] == figures(countries.totals)[5:]
    links = by(await report(stub, TODAY, group_by=["link"]), "link")
    assert (links["lnk_rt"].re_engagements, links["lnk_rt"].re_attributions) == (2, 1)
    assert links[""].skan_installs == 2
    partner = (await report(stub, TODAY, filters={"partner": ["prt_net"]})).totals
    assert (partner.skan_installs, partner.skan_conversions, partner.installs) == (1, 3, 0)
    ordered = await report(stub, TODAY, group_by=["campaign"], order_by="skan_conversions desc")
    assert ordered.rows[0].dimensions["campaign"] == NETWORK
    ordered = await report(stub, TODAY, group_by=["campaign"], order_by="re_engagements desc")
    assert ordered.rows[0].dimensions["campaign"] == RETARGET
    ordered = await report(stub, TODAY, group_by=["campaign"], order_by="skan_revenue desc")
    assert ordered.rows[0].dimensions["campaign"] == NETWORK
    # No verdict: clean. An invalid-only report has none of them.
    invalid = (await report(stub, TODAY, verdicts=[quality_pb2.VERDICT_INVALID])).totals
    assert (invalid.skan_installs, invalid.re_engagements) == (0, 0)
    clean = (await report(stub, TODAY, verdicts=[quality_pb2.VERDICT_CLEAN])).totals
    assert (clean.skan_installs, clean.re_engagements) == (2, 2)


async def test_apple_ads_dimensions_refuse_country_flow_and_sub_ids(app_world):
    stub, _ = app_world
    for group_by in (["apple_ads_campaign", "country"], ["apple_ads_keyword", "stream"], ["apple_ads_org", "sub1"]):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await report(stub, TODAY, group_by=group_by)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "group_by" in (err.value.details() or "") and "apple_ads" in (err.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await report(stub, TODAY, group_by=["campaign"], order_by="skan_installz")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "order_by" in (err.value.details() or "")


async def test_an_install_re_credited_to_apple_ads_moves_in_the_report(app_world, account, settings):
    """Apple's API answers seconds after the install: attribution then re-credits
    the install (campaign, match type 5, Apple's ids, update_time bumped) and its
    conversion; the next fold moves both from the web campaign to Apple Ads."""
    stub, ids = app_world
    conn = await asyncpg.connect(settings.database_url)
    try:
        async with conn.transaction():
            await conn.execute(
                "UPDATE attribution.installs SET campaign_id = $3, partner_id = 'prt_apple', match_type = $4,"
                " click_id = NULL, touch_type = 0, touch_time = NULL, apple_ads_org_id = 40,"
                " apple_ads_campaign_id = 5500, apple_ads_ad_group_id = 601, apple_ads_keyword_id = 7002,"
                " update_time = clock_timestamp() WHERE account_id = $1 AND install_id = $2",
                account.account_id, ids["web_install"], APPLE, MATCH_APPLE_ADS,
            )  # fmt: skip
            await conn.execute(
                "UPDATE attribution.conversions SET campaign_id = $3, partner_id = 'prt_apple',"
                " update_time = clock_timestamp() WHERE account_id = $1 AND install_id = $2 AND campaign_id = $4",
                account.account_id, ids["web_install"], APPLE, WEB,
            )  # fmt: skip
    finally:
        await conn.close()

    async def moved() -> bool:
        keywords = by(await report(stub, TODAY, group_by=["campaign", "apple_ads_keyword"]), "apple_ads_keyword")
        assert (keywords["7002"].installs, keywords["7002"].conversions) == (2, 1)
        return True

    await wait_until(moved, "the re-credited install to move to Apple Ads keyword 7002")
    campaigns = by(await report(stub, TODAY, group_by=["campaign"]), "campaign")
    assert (campaigns[WEB].clicks, campaigns[WEB].installs, campaigns[WEB].conversions) == (4, 0, 0)
    assert (campaigns[APPLE].installs, campaigns[APPLE].conversions) == (4, 2)
    assert money(campaigns[APPLE], "revenue") == {"USD": Decimal("13")}
    assert money(campaigns[APPLE], "cost") == {"USD": Decimal("8")}


async def test_a_postback_mapped_to_a_campaign_later_moves_in_the_report(app_world, account, settings):
    """An operator maps the network's source identifier after its postback came:
    lane skan credits the stored postback to the campaign. With an update_time on
    attribution.skan_postbacks (bumped by the remap) the next fold moves it;
    without one the recount of its day does."""
    stub, _ = app_world
    conn = await asyncpg.connect(settings.database_url)
    try:
        bumped = await conn.fetchval(
            "SELECT count(*) = 1 FROM information_schema.columns WHERE table_schema = 'attribution'"
            " AND table_name = 'skan_postbacks' AND column_name = 'update_time'"
        )
        bump = ", update_time = clock_timestamp()" if bumped else ""
        await conn.execute(
            f"UPDATE attribution.skan_postbacks SET campaign_id = $2, partner_id = 'prt_net'{bump}"
            " WHERE account_id = $1 AND campaign_id IS NULL",
            account.account_id, NETWORK,
        )  # fmt: skip
        if not bumped:
            async with conn.transaction():
                await conn.execute("SELECT 1 FROM analytics.rollup_state WHERE name = 'reports_app' FOR UPDATE")
                app_rollup = next(r for r in ROLLUPS if r.name == "reports_app")
                start = dt.datetime.combine(TODAY, dt.time(), dt.UTC)
                await app_rollup.recount(conn, start, ceil_hour(dt.datetime.now(dt.UTC)))
    finally:
        await conn.close()

    async def moved() -> bool:
        campaigns = by(await report(stub, TODAY, group_by=["campaign"]), "campaign")
        assert "" not in campaigns
        assert (campaigns[NETWORK].skan_installs, campaigns[NETWORK].skan_conversions) == (2, 3)
        return True

    await wait_until(moved, "the remapped postback to move to the network's campaign")
    partners = by(await report(stub, TODAY, group_by=["partner"]), "partner")
    assert partners["prt_net"].skan_installs == 2


async def test_recount_equals_the_live_rollups(app_world, account, settings):
    """Under the rollups' locks: the live folds against a rebuild of the two days
    from the raw tables (the account's facts and cubes emptied first), then
    rolled back."""
    stub, _ = app_world
    before = await report(stub, YESTERDAY, TODAY, group_by=["campaign", "apple_ads_keyword", "day"])
    conn = await asyncpg.connect(settings.database_url)
    try:
        tr = conn.transaction()
        await tr.start()
        await conn.execute(
            "SELECT 1 FROM analytics.rollup_state WHERE name = ANY($1::text[]) FOR UPDATE", [r.name for r in ROLLUPS]
        )
        live = await snapshot(conn, account.account_id)
        assert live["outcomes_apple"] and live["app"] and live["app_facts"]
        cubes = (f"report_outcomes{s}" for s in ("_links", "", "_daily", "_subs", "_flow", "_apple"))
        for table in ("report_facts", "report_app_facts", "report_app", *cubes):
            await conn.execute(f"DELETE FROM analytics.{table} WHERE account_id = $1", account.account_id)
        assert not (await snapshot(conn, account.account_id))["app"]
        start = dt.datetime.combine(YESTERDAY, dt.time(), dt.UTC)
        for rollup in ROLLUPS:
            if rollup.name != "reports_traffic":
                await rollup.recount(conn, start, ceil_hour(dt.datetime.now(dt.UTC)))
        assert await snapshot(conn, account.account_id) == live
        await tr.rollback()
    finally:
        await conn.close()
    assert await report(stub, YESTERDAY, TODAY, group_by=["campaign", "apple_ads_keyword", "day"]) == before
