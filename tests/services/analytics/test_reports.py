"""Campaign reports end to end: clicks recorded by the real links service,
installs attributed by the real ingest + attribution services, conversions by
real inbound postbacks, tariffs and corrections through the attribution API;
the rollups folded by the service's runner; the report read over gRPC."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import asyncpg
import grpc
import pytest
from clicktrail.analytics.v1 import reports_pb2 as rpb
from clicktrail.analytics.v1 import reports_pb2_grpc
from clicktrail.attribution.v1 import attribution_pb2 as apb
from clicktrail.attribution.v1 import attribution_pb2_grpc
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.type.v1 import money_pb2
from google.protobuf import duration_pb2

from tests.conftest import ADMIN_TOKEN
from tests.services.analytics.report_support import (
    TODAY,
    attribution_checks_off,
    by,
    checks_off,
    fold_committed,
    money,
    report,
)
from tests.services.attribution.engine_support import drained, event, make_app, make_campaign, send, touch

UA2 = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
GAID = "6d92078a-8246-4ba4-ae5b-76104861e7dc"


async def tariff(stubs, campaign_id: str, model: int, *, amount: str = "", percent: str = "",
                 day: dt.date = TODAY) -> None:  # fmt: skip
    t = cpb.Tariff(campaign_id=campaign_id, model=model, percent=percent, effective_date=day.isoformat())
    if amount:
        t.amount.CopyFrom(money_pb2.Money(amount=amount, currency_code="USD"))
    await stubs.tariffs.CreateTariff(cpb.CreateTariffRequest(tariff=t))


@pytest.fixture
async def world(attribution_stub, attribution_server, ingest_server, ingest_stub, links_stub, gateway_links_stub,
                analytics_server, account, channels, settings):  # fmt: skip
    """Two campaigns of one app with clicks, an install, postback conversions,
    tariffs and a correction; the rollups folded in. Everything in it is clean:
    its clicks repeat one IP + User-Agent (unique clicks) and its install and
    conversions come at once, so the duplicate, click-injection and too-soon
    checks are off."""
    await checks_off(links_stub, "duplicate")
    await attribution_checks_off(attribution_stub, "click_injection", "too_soon_after_install")
    app_id = await make_app(links_stub)
    purchase = (await attribution_stub.goals.CreateGoal(cpb.CreateGoalRequest(
        goal=cpb.Goal(name="purchase", kind=cpb.GOAL_KIND_PURCHASE, event="purchase")))).goal  # fmt: skip
    lead = (await attribution_stub.goals.CreateGoal(cpb.CreateGoalRequest(
        goal=cpb.Goal(name="lead", kind=cpb.GOAL_KIND_CUSTOM, event="lead")))).goal  # fmt: skip
    a = await make_campaign(links_stub, app_id, "Alpha", target_goal_id=purchase.goal_id)
    b = await make_campaign(links_stub, app_id, "Beta")
    # Alpha: 3 clicks of one IP + UA (1 unique), 1 of another UA; sub1 on three of them.
    a1 = await touch(gateway_links_stub, a, query="sub1=banner")
    await touch(gateway_links_stub, a, query="sub1=banner")
    await touch(gateway_links_stub, a, query="sub1=video")
    a4 = await touch(gateway_links_stub, a, ua=UA2)
    # Beta: 2 clicks of the same IP + UA as Alpha's (unique per campaign: 1).
    b1 = await touch(gateway_links_stub, b)
    await touch(gateway_links_stub, b)
    await touch(gateway_links_stub, b, kind="impression")
    # An install from Alpha's first click.
    await send(ingest_stub, event(app_id, "install", click_id=a1, device={"gaid": GAID}))
    await drained(settings)
    # Postbacks: Alpha approved 5 USD (purchase), pending 3 USD (purchase), rejected 7 USD, approved 2 EUR (lead);
    # Beta approved 10 USD.
    pb_stub = attribution_pb2_grpc.AttributionServiceStub(
        channels(attribution_server.addr, token=account.postback_token)
    )
    for click_id, status, payout, currency, goal, txid in [
        (a1, "approved", "5", "USD", "purchase", "t1"), (a4, "pending", "3", "USD", "purchase", "t2"),
        (a4, "rejected", "7", "USD", "purchase", "t3"), (a1, "approved", "2", "EUR", "lead", "t4"),
        (b1, "approved", "10", "USD", "purchase", "t5"),
    ]:  # fmt: skip
        await pb_stub.RecordPostback(apb.RecordPostbackRequest(
            click_id=click_id, status=status, payout=payout, currency=currency, goal=goal, txid=txid))  # fmt: skip
    # Tariffs: Alpha CPC 0.10 (a 0.50 tariff from tomorrow does not apply yet), Beta RevShare 50 %.
    await tariff(attribution_stub, a.campaign_id, cpb.TARIFF_MODEL_CPC, amount="1", day=TODAY - dt.timedelta(days=9))
    await tariff(attribution_stub, a.campaign_id, cpb.TARIFF_MODEL_CPC, amount="0.10")
    await tariff(attribution_stub, a.campaign_id, cpb.TARIFF_MODEL_CPC, amount="0.50", day=TODAY + dt.timedelta(days=1))
    await tariff(attribution_stub, b.campaign_id, cpb.TARIFF_MODEL_REVSHARE, percent="50")
    # A 3 USD correction of Alpha over the 3 days to today: 1 USD a day.
    await attribution_stub.corrections.CreateCorrection(cpb.CreateCorrectionRequest(correction=cpb.Correction(
        campaign_id=a.campaign_id, amount=money_pb2.Money(amount="3", currency_code="USD"),
        start_date=(TODAY - dt.timedelta(days=2)).isoformat(), end_date=TODAY.isoformat())))  # fmt: skip
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    await fold_committed(pool, settings)
    await pool.close()
    stub = reports_pb2_grpc.ReportServiceStub(channels(analytics_server.addr, token=account.api_key))
    return {"a": a, "b": b, "stub": stub, "purchase": purchase, "lead": lead, "app_id": app_id}


async def test_campaign_report_figures(world):
    a, b, stub = world["a"], world["b"], world["stub"]
    resp = await report(stub, TODAY, group_by=["campaign"])
    rows = by(resp, "campaign")
    assert set(rows) == {a.campaign_id, b.campaign_id}
    ra, rb = rows[a.campaign_id], rows[b.campaign_id]
    assert (ra.clicks, ra.unique_clicks, ra.impressions, ra.installs) == (4, 2, 0, 1)
    # pending + approved count; rejected never.
    assert (ra.conversions, ra.approved_conversions) == (3, 2)
    assert ra.cr == pytest.approx(3 / 4)
    goals = {g.goal_id: g for g in ra.goals}
    assert (goals[world["purchase"].goal_id].conversions, goals[world["purchase"].goal_id].approved) == (2, 1)
    assert {m.currency_code: m.amount for m in goals[world["lead"].goal_id].revenue} == {"EUR": "2"}
    # Revenue is approved payouts only; cost = 4 clicks x 0.10 + today's 1 USD share of the correction.
    assert money(ra, "revenue") == {"USD": Decimal(5), "EUR": Decimal(2)}
    assert money(ra, "cost") == {"USD": Decimal("1.4")}
    assert money(ra, "profit") == {"USD": Decimal("3.6"), "EUR": Decimal(2)}
    usd = next(m for m in ra.money if m.currency_code == "USD")
    assert usd.roi == pytest.approx(3.6 / 1.4)
    assert Decimal(usd.epc.amount) == Decimal("1.25") and Decimal(usd.cpi.amount) == Decimal("1.4")
    eur = next(m for m in ra.money if m.currency_code == "EUR")
    assert not eur.HasField("roi")  # no cost in EUR
    assert (rb.clicks, rb.unique_clicks, rb.impressions, rb.conversions) == (2, 1, 1, 1)
    assert money(rb, "revenue") == {"USD": Decimal(10)} and money(rb, "cost") == {"USD": Decimal(5)}  # 50 % revshare
    t = resp.totals
    assert (t.clicks, t.unique_clicks, t.installs, t.conversions) == (6, 3, 1, 4)
    assert money(t, "cost") == {"USD": Decimal("6.4")} and resp.total_rows == 2

    # The same totals over other groupings; sub1 rows without a value come out as "".
    for group_by in (["sub1"], ["country", "device_type", "os"], ["day", "hour"], ["link", "partner", "app"], []):
        other = await report(stub, TODAY, group_by=group_by)
        assert (other.totals.clicks, other.totals.unique_clicks, other.totals.conversions) == (6, 3, 4), group_by
        assert money(other.totals, "cost") == {"USD": Decimal("6.4")}, group_by
        assert money(other.totals, "revenue") == {"USD": Decimal(15), "EUR": Decimal(2)}, group_by
    subs = by(await report(stub, TODAY, group_by=["campaign", "sub1"], filters={"campaign": [a.campaign_id]}), "sub1")
    assert {k: (v.clicks, v.unique_clicks, v.installs) for k, v in subs.items()} == {
        "banner": (2, 1, 1), "video": (1, 0, 0), "": (1, 1, 0),
    }  # fmt: skip
    # Filters: a sub-id value, "" for none; device type by name.
    only = await report(stub, TODAY, group_by=["campaign"], filters={"sub1": ["video", ""]})
    assert only.totals.clicks == 4  # video 1 + Alpha's click without sub1 + Beta's 2
    mobile = await report(stub, TODAY, filters={"device_type": ["mobile"], "campaign": [b.campaign_id]})
    assert mobile.totals.clicks == 2
    # A country code as users type it: "gb" selects GB (every click is from 81.2.69.142).
    assert (await report(stub, TODAY, filters={"country": ["gb"]})).totals.clicks == 6

    # Ordering and paging.
    ordered = await report(stub, TODAY, group_by=["campaign"], order_by="clicks", page_size=1)
    assert [r.dimensions["campaign"] for r in ordered.rows] == [b.campaign_id] and ordered.next_page_token
    second = await report(stub, TODAY, group_by=["campaign"], order_by="clicks", page_size=1,
                          page_token=ordered.next_page_token)  # fmt: skip
    assert [r.dimensions["campaign"] for r in second.rows] == [a.campaign_id] and not second.next_page_token


async def test_status_change_moves_revenue_and_correction_days_without_clicks(world, attribution_stub, settings):
    a, stub = world["a"], world["stub"]
    api = attribution_pb2_grpc.AttributionServiceStub(attribution_stub.channel)
    pending = [c for c in (await api.ListConversions(apb.ListConversionsRequest(page_size=100))).conversions
               if c.status == apb.CONVERSION_STATUS_PENDING]  # fmt: skip
    await api.UpdateConversionStatus(apb.UpdateConversionStatusRequest(
        conversion_id=pending[0].conversion_id, status=apb.CONVERSION_STATUS_APPROVED))  # fmt: skip
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    await fold_committed(pool, settings)
    await pool.close()
    ra = by(await report(stub, TODAY, group_by=["campaign"]), "campaign")[a.campaign_id]
    assert (ra.conversions, ra.approved_conversions) == (3, 3)
    assert money(ra, "revenue") == {"USD": Decimal(8), "EUR": Decimal(2)}
    # Three days: the two days without clicks carry their 1 USD share each at 00:00 UTC.
    three = await report(stub, TODAY - dt.timedelta(days=2), TODAY, group_by=["campaign", "day"])
    days = {(r.dimensions["campaign"], r.dimensions["day"]): r for r in three.rows}
    assert money(days[(a.campaign_id, (TODAY - dt.timedelta(days=1)).isoformat())], "cost") == {"USD": Decimal(1)}
    assert money(three.totals, "cost") == {"USD": Decimal("8.4")}  # 0.40 CPC + 3 correction + 5 revshare


async def test_time_zone_days_and_breakpoints(world, attribution_stub):
    stub = world["stub"]
    await attribution_stub.settings.UpdateSettings(cpb.UpdateSettingsRequest(
        settings=cpb.AttributionSettings(conversion_window=duration_pb2.Duration(seconds=3 * 86400)),
        update_mask={"paths": ["conversion_window"]}))  # fmt: skip
    resp = await report(stub, TODAY - dt.timedelta(days=1), TODAY + dt.timedelta(days=1), group_by=["day"],
                        time_zone="America/New_York")  # fmt: skip
    assert sum(r.clicks for r in resp.rows) == 6
    assert all(r.dimensions["day"] for r in resp.rows)
    [bp] = resp.breakpoints
    assert bp.conversion_window.seconds == 3 * 86400 and "conversion_window" in bp.changed_fields
    assert resp.start_time.ToDatetime().hour in (4, 5)  # New York midnight in UTC
    # Whole UTC days from the daily rollup, the edge hours from the hourly one: the same figures.
    tokyo = await report(stub, TODAY - dt.timedelta(days=1), TODAY + dt.timedelta(days=1), group_by=["campaign"],
                         time_zone="Asia/Tokyo")  # fmt: skip
    utc = await report(stub, TODAY - dt.timedelta(days=1), TODAY + dt.timedelta(days=1), group_by=["campaign"])
    assert (tokyo.totals.clicks, tokyo.totals.unique_clicks, tokyo.totals.installs) == (6, 3, 1)
    assert [(r.clicks, r.conversions) for r in tokyo.rows] == [(r.clicks, r.conversions) for r in utc.rows]


@pytest.mark.parametrize(
    ("kw", "field", "words"),
    [
        ({"start": TODAY, "end": TODAY - dt.timedelta(days=1)}, "end_date", "swap"),
        ({"start": TODAY - dt.timedelta(days=800), "end": TODAY}, "end_date", "at most 366"),
        ({"start": TODAY, "group_by": ["campaign", "colour"]}, "group_by", "unknown dimension 'colour'"),
        ({"start": TODAY, "order_by": "happiness desc"}, "order_by", "unknown metric 'happiness'"),
        ({"start": TODAY, "time_zone": "Mars/Olympus"}, "time_zone", "not an IANA time zone"),
        ({"start": TODAY, "time_zone": "Asia/Kolkata"}, "time_zone", "whole number of hours"),
        ({"start": TODAY, "group_by": ["sub1", "sub2"]}, "group_by", "one sub-id at a time"),
        ({"start": TODAY, "group_by": ["sub1", "country"]}, "group_by", "does not combine"),
        ({"start": TODAY, "group_by": ["link"], "filters": {"sub2": ["x"]}}, "group_by", "does not combine"),
        ({"start": TODAY, "group_by": ["sub1"], "time_zone": "Europe/Berlin"}, "time_zone", "by UTC day"),
        ({"start": TODAY, "filters": {"day": ["x"]}}, "filters.day", "date range"),
        ({"start": TODAY, "filters": {"device_type": ["toaster"]}}, "filters.device_type", "unknown device type"),
    ],
)
async def test_bad_input_names_the_field(analytics_server, account, channels, kw, field, words):
    stub = reports_pb2_grpc.ReportServiceStub(channels(analytics_server.addr, token=account.api_key))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await report(stub, kw.pop("start"), kw.pop("end", None), **kw)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in err.value.details() and words in err.value.details(), err.value.details()


async def test_another_accounts_data_never_appears(world, new_account, channels, analytics_server, links_server):
    other = await new_account("Other")
    stub = reports_pb2_grpc.ReportServiceStub(channels(analytics_server.addr, token=other.api_key))
    resp = await report(stub, TODAY, group_by=["campaign"])
    assert list(resp.rows) == [] and resp.totals.clicks == 0
    # Naming the first account's campaign changes nothing.
    resp = await report(stub, TODAY, group_by=["campaign"], filters={"campaign": [world["a"].campaign_id]})
    assert list(resp.rows) == []
    # And the recount is for the operator only.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.RecountReportRollups(rpb.RecountReportRollupsRequest(start_date=TODAY.isoformat(),
                                                                        end_date=TODAY.isoformat()))  # fmt: skip
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    admin = reports_pb2_grpc.ReportServiceStub(channels(analytics_server.addr, token=ADMIN_TOKEN))
    done = await admin.RecountReportRollups(rpb.RecountReportRollupsRequest(start_date=TODAY.isoformat(),
                                                                            end_date=TODAY.isoformat()))  # fmt: skip
    assert done.start_time.ToDatetime().date() == TODAY
    mine = await report(world["stub"], TODAY, group_by=["campaign"])
    assert mine.totals.clicks == 6  # the recount rebuilt the same figures
