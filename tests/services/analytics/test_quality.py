"""Traffic quality in campaign reports, end to end: verdicts decided by the real
links service on the click path (duplicates, a missing User-Agent, a prefetch)
and by the real attribution service (an install injected seconds after its
click, a postback for an invalid click), folded by the analytics runner and
read over gRPC: the split by verdict, top reasons, the invalid rate, the
verdicts filter, no cost on invalid rows, operator overrules moving the report
and the cost, and report = recount with verdicts."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

import asyncpg
import grpc
import pytest
from clicktrail.analytics.v1 import reports_pb2 as rpb
from clicktrail.analytics.v1 import reports_pb2_grpc
from clicktrail.attribution.v1 import attribution_pb2 as apb
from clicktrail.attribution.v1 import attribution_pb2_grpc, config_pb2_grpc
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.type.v1 import money_pb2
from google.protobuf import duration_pb2

from libs import quality
from libs.ids import id_time
from libs.partitions import ensure_daily_partitions
from tests.services.analytics.report_support import TODAY, by, fold_committed, insert_clicks, money, report, runner
from tests.services.analytics.test_reports_rollups import recount_from_raw, rollup_contents
from tests.services.attribution.engine_support import ANDROID_UA, drained, event, make_app, make_campaign, send

IPHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
CLEAN, SUSPICIOUS, INVALID = quality.CLEAN, quality.SUSPICIOUS, quality.INVALID
DAY = dt.timedelta(days=1)


async def click(stub: Any, c: Any, ip: str, ua: str, query: str = "", *, purpose: str = "",
                kind: str = "click") -> lpb.TouchResult:  # fmt: skip
    """A touch recorded the way the gateway records one."""
    inp = lpb.TouchInput(slug=c.slug, raw_query=query.encode(), ip=ip, user_agent=ua, purpose=purpose)
    if kind == "click":
        resp = await stub.RecordClicks(lpb.RecordClicksRequest(clicks=[inp]))
    else:
        resp = await stub.RecordImpressions(lpb.RecordImpressionsRequest(impressions=[inp]))
    result: lpb.TouchResult = resp.results[0]
    assert result.outcome == lpb.TOUCH_OUTCOME_RECORDED
    return result


def split(v: rpb.VerdictCounts) -> tuple[int, int, int]:
    return (v.clean, v.suspicious, v.invalid)


def reasons(row: rpb.ReportRow) -> list[tuple[str, str, int]]:
    return [(r.reason, rpb.RecordKind.Name(r.kind).removeprefix("RECORD_KIND_").lower(), r.count)
            for r in row.top_reasons]  # fmt: skip


@dataclasses.dataclass
class QWorld:
    alpha: Any
    beta: Any
    stub: reports_pb2_grpc.ReportServiceStub
    api: attribution_pb2_grpc.AttributionServiceStub
    touches: dict[str, str]
    pool: asyncpg.Pool

    async def fold(self, settings: Any) -> None:
        await fold_committed(self.pool, settings)


@pytest.fixture
async def qworld(attribution_stub, attribution_server, ingest_server, ingest_stub, links_stub, gateway_links_stub,
                 analytics_server, account, channels, settings):  # fmt: skip
    """Alpha (CPC 0.10 USD): a person's click (sub1=good) and its duplicate a
    second later, a prefetch (suspicious), two clicks and an impression without
    a User-Agent (sub1=bad, invalid); an approved 5 USD postback on the person's
    click and a 7 USD one on the duplicate (invalid_click). Beta (CPI 2 USD):
    an install a moment after its click (click_injection, invalid) and one a
    couple of seconds after (clean: the injection threshold is 1 s here)."""
    config = config_pb2_grpc.AttributionQualityServiceStub(attribution_stub.channel)
    await config.UpdateAttributionQualitySettings(cpb.UpdateAttributionQualitySettingsRequest(
        settings=cpb.AttributionQualitySettings(click_injection_time=duration_pb2.Duration(seconds=1)),
        update_mask={"paths": ["click_injection_time"]}))  # fmt: skip
    app_id = await make_app(links_stub)
    alpha = await make_campaign(links_stub, app_id, "Alpha")
    beta = await make_campaign(links_stub, app_id, "Beta")
    t: dict[str, str] = {}
    ls = gateway_links_stub
    t["person"] = (await click(ls, alpha, "81.2.69.142", ANDROID_UA, "sub1=good")).touch_id
    dup = await click(ls, alpha, "81.2.69.142", ANDROID_UA, "sub1=good")
    assert dup.verdict == INVALID
    t["dup"] = dup.touch_id
    prefetch = await click(ls, alpha, "81.2.69.143", IPHONE_UA, "sub1=good", purpose="prefetch")
    assert prefetch.verdict == SUSPICIOUS
    t["prefetch"] = prefetch.touch_id
    for n, ip in enumerate(("81.2.69.150", "81.2.69.151")):
        bot = await click(ls, alpha, ip, "", "sub1=bad")
        assert bot.verdict == INVALID
        t[f"bot{n}"] = bot.touch_id
    assert (await click(ls, alpha, "81.2.69.152", "", kind="impression")).verdict == INVALID
    t["beta0"] = (await click(ls, beta, "81.2.70.1", ANDROID_UA, "sub1=x")).touch_id
    t["beta1"] = (await click(ls, beta, "81.2.70.2", IPHONE_UA, "sub1=y")).touch_id
    # The injected install: 0.2 s after its click (by the event's own time); the other one 1.5 s or more after.
    for n in range(2):
        at = id_time(t["beta0"]) + dt.timedelta(seconds=0.2) if n == 0 else None
        if n:
            await asyncio.sleep(1.5)
        device = {"gaid": f"6d92078a-8246-4ba4-ae5b-76104861e7d{n}"}
        await send(ingest_stub, event(app_id, "install", at=at, click_id=t[f"beta{n}"], device=device))
    await drained(settings)
    pb_stub = attribution_pb2_grpc.AttributionServiceStub(
        channels(attribution_server.addr, token=account.postback_token)
    )
    for touch_id, payout, txid in ((t["person"], "5", "t1"), (t["dup"], "7", "t2")):
        await pb_stub.RecordPostback(apb.RecordPostbackRequest(click_id=touch_id, status="approved", payout=payout,
                                                               currency="USD", goal="purchase", txid=txid))  # fmt: skip
    for campaign, model, amount in ((alpha, cpb.TARIFF_MODEL_CPC, "0.10"), (beta, cpb.TARIFF_MODEL_CPI, "2")):
        await attribution_stub.tariffs.CreateTariff(cpb.CreateTariffRequest(tariff=cpb.Tariff(
            campaign_id=campaign.campaign_id, model=model, effective_date=TODAY.isoformat(),
            amount=money_pb2.Money(amount=amount, currency_code="USD"))))  # fmt: skip
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=3)
    w = QWorld(
        alpha, beta, reports_pb2_grpc.ReportServiceStub(channels(analytics_server.addr, token=account.api_key)),
        attribution_pb2_grpc.AttributionServiceStub(attribution_stub.channel), t, pool,
    )  # fmt: skip
    await w.fold(settings)
    yield w
    await pool.close()


async def test_report_splits_by_verdict_with_top_reasons_and_pays_nothing_for_invalid(qworld: QWorld):
    w = qworld
    resp = await report(w.stub, TODAY, group_by=["campaign"])
    rows = by(resp, "campaign")
    a, b = rows[w.alpha.campaign_id], rows[w.beta.campaign_id]
    # Alpha: the person and the prefetch count; the duplicate and the two without a User-Agent are invalid.
    assert (a.clicks, a.unique_clicks, a.impressions) == (2, 2, 0)
    assert split(a.click_verdicts) == (1, 1, 3) and split(a.impression_verdicts) == (0, 0, 1)
    assert a.invalid_rate == pytest.approx(4 / 6)
    # The conversion on the duplicate is invalid: not counted, its 7 USD not revenue.
    assert (a.conversions, split(a.conversion_verdicts)) == (1, (1, 0, 1))
    assert money(a, "revenue") == {"USD": Decimal(5)}
    # CPC on the two counted clicks only.
    assert money(a, "cost") == {"USD": Decimal("0.2")}
    assert reasons(a) == [
        ("missing_user_agent", "click", 2), ("duplicate", "click", 1), ("invalid_click", "conversion", 1),
        ("missing_user_agent", "impression", 1), ("prefetch", "click", 1),
    ]  # fmt: skip
    # Beta: the injected install is invalid and costs nothing; CPI on the other one.
    assert (b.clicks, b.installs, split(b.install_verdicts)) == (2, 1, (1, 0, 1))
    assert money(b, "cost") == {"USD": Decimal(2)}
    assert reasons(b) == [("click_injection", "install", 1)]
    assert b.invalid_rate == 0
    t = resp.totals
    assert split(t.click_verdicts) == (3, 1, 3) and split(t.install_verdicts) == (1, 0, 1)
    assert money(t, "cost") == {"USD": Decimal("2.2")}
    assert reasons(t)[0] == ("missing_user_agent", "click", 2) and len(t.top_reasons) == 5
    # Ordered by the invalid rate; by partner the same as by campaign (one partner each).
    ordered = await report(w.stub, TODAY, group_by=["campaign"], order_by="invalid_rate desc")
    assert [r.dimensions["campaign"] for r in ordered.rows] == [w.alpha.campaign_id, w.beta.campaign_id]
    partners = await report(w.stub, TODAY, group_by=["partner"])
    assert sorted(r.invalid_rate for r in partners.rows) == pytest.approx([0, 4 / 6])
    assert {r.dimensions["partner"]: reasons(r) for r in partners.rows}[w.beta.partner_id] == reasons(b)
    # Groupings the reasons cube does not keep (country, sub-ids...) have the split, no top reasons.
    by_country = await report(w.stub, TODAY, group_by=["country"])
    assert split(by_country.totals.click_verdicts) == (3, 1, 3) and not by_country.totals.top_reasons


async def test_verdicts_filter(qworld: QWorld):
    w = qworld
    alpha = {"campaign": [w.alpha.campaign_id]}
    invalid = (await report(w.stub, TODAY, filters=alpha, verdicts=[INVALID])).totals
    # The invalid ones in the main columns, their revenue too; never any cost.
    assert (invalid.clicks, invalid.impressions, invalid.conversions) == (3, 1, 1)
    assert split(invalid.click_verdicts) == (0, 0, 3) and invalid.invalid_rate == 1
    assert money(invalid, "revenue") == {"USD": Decimal(7)} and money(invalid, "cost") == {}
    assert [r[0] for r in reasons(invalid)] == ["missing_user_agent", "duplicate", "invalid_click",
                                                "missing_user_agent"]  # fmt: skip
    clean = (await report(w.stub, TODAY, filters=alpha, verdicts=[CLEAN])).totals
    suspicious = (await report(w.stub, TODAY, filters=alpha, verdicts=[SUSPICIOUS])).totals
    assert (clean.clicks, split(clean.click_verdicts), suspicious.clicks) == (1, (1, 0, 0), 1)
    assert reasons(suspicious) == [("prefetch", "click", 1)] and not clean.top_reasons
    # Clean and suspicious add up to the unfiltered report's cost.
    assert money(clean, "cost") == money(suspicious, "cost") == {"USD": Decimal("0.1")}
    everything = (await report(w.stub, TODAY, filters=alpha, verdicts=[CLEAN, SUSPICIOUS, INVALID])).totals
    assert (everything.clicks, split(everything.click_verdicts)) == (5, (1, 1, 3))
    assert money(everything, "revenue") == {"USD": Decimal(12)} and money(everything, "cost") == {"USD": Decimal("0.2")}
    beta = (await report(w.stub, TODAY, filters={"campaign": [w.beta.campaign_id]}, verdicts=[INVALID])).totals
    assert (beta.installs, money(beta, "cost")) == (1, {})
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await report(w.stub, TODAY, verdicts=[CLEAN, 0])
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "verdicts[1]" in (err.value.details() or "")


async def test_invalid_rate_by_sub_id_from_the_cubes_and_built_days(qworld: QWorld, settings, account):
    w = qworld
    subs = by(await report(w.stub, TODAY, group_by=["campaign", "sub1"], filters={"campaign": [w.alpha.campaign_id]}),
              "sub1")  # fmt: skip
    assert {k: (split(r.click_verdicts), round(r.invalid_rate, 4)) for k, r in subs.items()} == {
        "good": ((1, 1, 1), round(1 / 3, 4)), "bad": ((0, 0, 2), 1.0), "": ((0, 0, 0), 1.0),  # the impression
    }  # fmt: skip
    # Yesterday's history: a sub-id report by day reads its built row (report_subs_derived) with the same split.
    async with w.pool.acquire() as conn:
        await ensure_daily_partitions(conn, "links", "clicks", days_back=3, days_ahead=1)
        t = dt.datetime.combine(TODAY - DAY, dt.time(9), dt.UTC)
        a = w.alpha
        base = {"account_id": account.account_id, "campaign_id": a.campaign_id, "link_id": a.link_id,
                "partner_id": a.partner_id, "app_id": a.app_id}  # fmt: skip
        await insert_clicks(conn, [
            {**base, "create_time": t + dt.timedelta(minutes=i), "ip": f"10.9.0.{i}", "sub1": sub1, "reasons": r}
            for i, (sub1, r) in enumerate([("good", []), ("good", ["datacenter"]), ("bad", ["bot_user_agent"]),
                                           ("bad", ["bot_user_agent"]), ("bad", ["flood_sub_id"])])
        ])  # fmt: skip
    run = runner(w.pool, settings)
    await run.recount(dt.datetime.combine(TODAY - DAY, dt.time(), dt.UTC), dt.datetime.now(dt.UTC))
    async with w.pool.acquire() as conn:
        built = await conn.fetchval("SELECT count(*) FROM analytics.report_subs_derived_days WHERE day = $1",
                                    TODAY - DAY)  # fmt: skip
    assert built == 1
    days = await report(w.stub, TODAY - DAY, TODAY, group_by=["day", "sub1"])
    rows = {(r.dimensions["day"], r.dimensions["sub1"]): r for r in days.rows}
    yesterday = (TODAY - DAY).isoformat()
    assert split(rows[(yesterday, "good")].click_verdicts) == (1, 0, 1)
    assert split(rows[(yesterday, "bad")].click_verdicts) == (0, 1, 2)
    assert rows[(yesterday, "bad")].invalid_rate == pytest.approx(2 / 3)
    # The cubes answer the same (a filter by the sub-id value, with a verdicts filter, skips the built rows).
    cubes = await report(w.stub, TODAY - DAY, TODAY, group_by=["day", "sub1"],
                         verdicts=[CLEAN, SUSPICIOUS, INVALID])  # fmt: skip
    again = {(r.dimensions["day"], r.dimensions["sub1"]): split(r.click_verdicts) for r in cubes.rows}
    assert again == {k: split(r.click_verdicts) for k, r in rows.items()}


async def test_overrules_move_the_report_and_the_cost(qworld: QWorld, links_stub, settings):
    w = qworld
    # The operator says the duplicate was a second person, Beta's injected install real and the
    # postback on the duplicate genuine.
    await links_stub.OverruleTouchVerdict(lpb.OverruleTouchVerdictRequest(click_id=w.touches["dup"], verdict=CLEAN))
    installs = (await w.api.ListInstalls(apb.ListInstallsRequest(page_size=10))).installs
    [injected] = [i for i in installs if i.verdict == INVALID]
    await w.api.OverruleInstallVerdict(apb.OverruleInstallVerdictRequest(install_id=injected.install_id,
                                                                         verdict=CLEAN, note="checked"))  # fmt: skip
    conversions = (await w.api.ListConversions(apb.ListConversionsRequest(page_size=10))).conversions
    [bad_sale] = [c for c in conversions if c.verdict == INVALID]
    await w.api.OverruleConversionVerdict(apb.OverruleConversionVerdictRequest(
        conversion_id=bad_sale.conversion_id, verdict=CLEAN))  # fmt: skip
    await w.fold(settings)
    rows = by(await report(w.stub, TODAY, group_by=["campaign"]), "campaign")
    a, b = rows[w.alpha.campaign_id], rows[w.beta.campaign_id]
    # The duplicate now counts (not unique: the person came first), and is paid for.
    assert (a.clicks, a.unique_clicks, split(a.click_verdicts)) == (3, 2, (2, 1, 2))
    assert money(a, "cost") == {"USD": Decimal("0.3")}
    assert (a.conversions, money(a, "revenue")) == (2, {"USD": Decimal(12)})
    assert ("operator", "click", 1) in reasons(a) + reasons((await report(w.stub, TODAY, verdicts=[CLEAN])).totals)
    assert (b.installs, split(b.install_verdicts), money(b, "cost")) == (2, (2, 0, 0), {"USD": Decimal(4)})
    # And back: the person's click was a bot after all.
    await links_stub.OverruleTouchVerdict(lpb.OverruleTouchVerdictRequest(click_id=w.touches["person"],
                                                                          verdict=INVALID))  # fmt: skip
    await w.fold(settings)
    a = by(await report(w.stub, TODAY, group_by=["campaign"]), "campaign")[w.alpha.campaign_id]
    assert (a.clicks, a.unique_clicks, split(a.click_verdicts)) == (2, 2, (1, 1, 3))
    assert money(a, "cost") == {"USD": Decimal("0.2")}
    async with w.pool.acquire() as conn:
        assert await rollup_contents(conn) == await recount_from_raw(conn)


async def test_rollups_equal_a_recount_with_verdicts(qworld: QWorld, settings):
    """report = recount: the cubes the runner folded from real verdicts equal a
    recount in Python, and a recount by the runner leaves them so."""
    async with qworld.pool.acquire() as conn:
        expected = await recount_from_raw(conn)
        assert expected["reasons"] and expected["reasons_daily"]
        assert await rollup_contents(conn) == expected
        today = dt.datetime.combine(TODAY, dt.time(), dt.UTC)
        await runner(qworld.pool, settings).recount(today, dt.datetime.now(dt.UTC))
        assert await rollup_contents(conn) == expected
