"""Traffic quality in attribution, end to end inside the services: clicks
recorded (and judged) by the real links service, events stored by the real
ingest service, attributed and checked by the real attribution consumer;
reports and cost from the real analytics rollups.

Invalid clicks come from the links service's own duplicate check: the same
IP + User-Agent on the same link within seconds (default 10 s) is invalid."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import grpc
import orjson
import pytest
from clicktrail.analytics.v1 import reports_pb2_grpc
from clicktrail.attribution.v1 import attribution_pb2 as apb
from clicktrail.attribution.v1 import attribution_pb2_grpc, config_pb2_grpc
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.ingest.v1 import ingest_pb2 as ipb
from clicktrail.ingest.v1 import ingest_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.type.v1 import money_pb2
from clicktrail.type.v1 import quality_pb2 as qpb
from google.protobuf import duration_pb2, timestamp_pb2

from libs.auth import GATEWAY_VOUCH_HEADER
from tests.conftest import GATEWAY_TOKEN
from tests.services.analytics.report_support import TODAY, by, fold_committed, money, report
from tests.services.attribution.engine_support import (
    ANDROID_UA,
    Campaign,
    attribution,
    checks_off,
    conversions,
    drained,
    event,
    installs,
    make_app,
    make_campaign,
    outbound_events,
    send,
)

GAID = "6d92078a-8246-4ba4-ae5b-76104861e7dc"
GAID2 = "0b3b3f2e-1c1d-4e59-9a57-3f1c2d7c9e11"
CLEAN, SUSPICIOUS, INVALID = qpb.VERDICT_CLEAN, qpb.VERDICT_SUSPICIOUS, qpb.VERDICT_INVALID


async def click(gateway_links_stub, c: Campaign, *, query: str = "", ip: str = "81.2.69.142",
                ua: str = ANDROID_UA) -> tuple[str, int]:  # fmt: skip
    """Records a click the way the gateway does; returns its id and the verdict links gave it."""
    inp = lpb.TouchInput(slug=c.slug, raw_query=query.encode(), ip=ip, user_agent=ua)
    [result] = (await gateway_links_stub.RecordClicks(lpb.RecordClicksRequest(clicks=[inp]))).results
    return str(result.touch_id), int(result.verdict)


async def invalid_click(gateway_links_stub, c: Campaign, *, query: str = "", ip: str = "81.2.69.200") -> str:
    """A click links judges invalid: a person's click, then the same IP + browser
    on the same link again at once (a duplicate). Returns the duplicate's id."""
    _, first = await click(gateway_links_stub, c, ip=ip)
    assert first == CLEAN
    dup, verdict = await click(gateway_links_stub, c, query=query, ip=ip)
    assert verdict == INVALID
    return dup


def ts(t: dt.datetime) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(t)
    return out


def passed(inst: apb.Install) -> list[tuple[str, int, list[str]]]:
    return [(p.touch_id, p.touch_type, list(p.reasons)) for p in inst.passed_over]


def quality_stub(stubs) -> config_pb2_grpc.AttributionQualityServiceStub:
    return config_pb2_grpc.AttributionQualityServiceStub(stubs.channel)


async def purchase_goal(stubs, name: str = "purchase", **kw) -> cpb.Goal:
    goal = cpb.Goal(name=name, kind=cpb.GOAL_KIND_PURCHASE, event="purchase", occurrence=cpb.OCCURRENCE_EVERY, **kw)
    return (await stubs.goals.CreateGoal(cpb.CreateGoalRequest(goal=goal))).goal


# --------------------------------------------------------------------------- installs


async def test_injected_install_is_rejected_costs_nothing_and_an_overrule_moves_report_and_cost(
    attribution_stub, attribution_server, ingest_server, ingest_stub, links_stub, gateway_links_stub,
    analytics_server, account, channels, settings,
):  # fmt: skip
    app_id = await make_app(links_stub)
    c = await make_campaign(links_stub, app_id, "Spring")
    tariff = cpb.Tariff(campaign_id=c.campaign_id, model=cpb.TARIFF_MODEL_CPI,
                        amount=money_pb2.Money(amount="2", currency_code="USD"))  # fmt: skip
    await attribution_stub.tariffs.CreateTariff(cpb.CreateTariffRequest(tariff=tariff))
    # The click is fired while the install completes: the install event follows within a second.
    click_id, verdict = await click(gateway_links_stub, c, query=f"gaid={GAID}")
    assert verdict == CLEAN
    # The person limits ad tracking: the postback sent again after the overrule says so too.
    device = {"gaid": GAID, "tracking_status": "TRACKING_STATUS_DENIED"}
    await send(ingest_stub, event(app_id, "install", click_id=click_id, device=device))
    await drained(settings)

    [inst] = await installs(attribution_stub)
    assert (inst.verdict, list(inst.reasons)) == (INVALID, ["click_injection"])
    # Kept, listable, and still naming the campaign it would have been credited to.
    assert (inst.campaign_id, inst.click_id, inst.match_type) == (c.campaign_id, click_id, apb.MATCH_TYPE_CLICK_ID)
    assert [i.install_id for i in await installs(attribution_stub, verdict=INVALID)] == [inst.install_id]
    assert [i.install_id for i in await installs(attribution_stub, reason="click_injection")] == [inst.install_id]
    assert await installs(attribution_stub, verdict=CLEAN) == []
    # No attributed postback: it goes out only as rejected.
    [out] = await outbound_events(settings, account.account_id)
    assert (out["event_id"], out["verdict"], out["reasons"]) == (f"{inst.install_id}:rejected", "invalid",
                                                                  "click_injection")  # fmt: skip

    reports = reports_pb2_grpc.ReportServiceStub(channels(analytics_server.addr, token=account.api_key))
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        await fold_committed(pool, settings)
        row = by(await report(reports, TODAY, group_by=["campaign"]), "campaign")[c.campaign_id]
        assert (row.clicks, row.installs, row.install_verdicts.invalid) == (1, 0, 1)
        assert money(row, "cost") == {}  # CPI 2 USD, paid on no invalid install

        # The operator knows better: clean. Reports, cost and postbacks follow.
        resp = await attribution(attribution_stub).OverruleInstallVerdict(apb.OverruleInstallVerdictRequest(
            install_id=inst.install_id, verdict=CLEAN, note="our QA device"))  # fmt: skip
        assert (resp.previous_verdict, resp.changed, resp.install.verdict) == (INVALID, True, CLEAN)
        assert list(resp.install.reasons) == ["click_injection", "operator"]
        assert resp.install.verdict_note == "our QA device"
        assert resp.install.update_time.ToDatetime() > inst.update_time.ToDatetime()
        await fold_committed(pool, settings)
        row = by(await report(reports, TODAY, group_by=["campaign"]), "campaign")[c.campaign_id]
        assert (row.installs, row.install_verdicts.clean, row.install_verdicts.invalid) == (1, 1, 0)
        assert money(row, "cost") == {"USD": 2}
    finally:
        await pool.close()
    outs = await outbound_events(settings, account.account_id)
    assert [(o["event_id"], o["verdict"]) for o in outs] == [
        (f"{inst.install_id}:rejected", "invalid"), (inst.install_id, "clean"),
    ]  # fmt: skip
    assert outs[1]["attributed"] is True and outs[1]["campaign_id"] == c.campaign_id
    assert [o["att_status"] for o in outs] == ["denied", "denied"]  # kept on the install row


async def test_an_invalid_click_is_passed_over_for_the_next_touch_for_installs_and_conversions(
    attribution_stub, attribution_server, ingest_server, ingest_stub, links_stub, gateway_links_stub, settings,
):  # fmt: skip
    await checks_off(attribution_stub, "click_injection")  # installs follow their clicks within milliseconds here
    app_id = await make_app(links_stub)
    a = await make_campaign(links_stub, app_id, "A")
    b = await make_campaign(links_stub, app_id, "B")
    goal = await purchase_goal(attribution_stub)
    click_a, _ = await click(gateway_links_stub, a, query=f"gaid={GAID}", ip="81.2.69.1")
    # Newer, carrying the same device id and even handed over as the install's click id: invalid.
    dup = await invalid_click(gateway_links_stub, b, query=f"gaid={GAID}")
    await send(ingest_stub, event(app_id, "install", click_id=dup, device={"gaid": GAID}))
    await drained(settings)
    [inst] = await installs(attribution_stub)
    assert (inst.campaign_id, inst.click_id, inst.match_type) == (a.campaign_id, click_a, apb.MATCH_TYPE_DEVICE_ID)
    assert (inst.verdict, list(inst.reasons)) == (CLEAN, [])
    assert passed(inst) == [(dup, apb.TOUCH_TYPE_CLICK, ["duplicate"])]

    # A purchase goes to the last click inside the window: not the invalid one.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    await send(ingest_stub, event(app_id, "track", action="purchase", device={"gaid": GAID}, at=later))
    await drained(settings)
    [conv] = await conversions(attribution_stub, goal_id=goal.goal_id)
    assert (conv.campaign_id, conv.click_id, conv.verdict) == (a.campaign_id, click_a, CLEAN)


async def test_an_install_whose_every_touch_is_invalid_is_organic_with_what_it_passed_over(
    attribution_stub, attribution_server, ingest_server, ingest_stub, links_stub, gateway_links_stub, settings,
):  # fmt: skip
    app_id = await make_app(links_stub)
    b = await make_campaign(links_stub, app_id, "B")
    dup = await invalid_click(gateway_links_stub, b, query=f"gaid={GAID2}")
    await send(ingest_stub, event(app_id, "install", click_id=dup, device={"gaid": GAID2}))
    await drained(settings)
    [inst] = await installs(attribution_stub)
    assert (inst.match_type, inst.campaign_id, inst.click_id) == (apb.MATCH_TYPE_ORGANIC, "", "")
    assert (inst.verdict, list(inst.reasons)) == (CLEAN, [])
    assert passed(inst) == [(dup, apb.TOUCH_TYPE_CLICK, ["duplicate"])]


async def test_an_install_that_began_before_its_click_was_injected(
    attribution_stub, attribution_server, ingest_server, ingest_stub, links_stub, gateway_links_stub, settings,
):  # fmt: skip
    await checks_off(attribution_stub, "click_injection")  # this one is about the referrer timestamps alone
    app_id = await make_app(links_stub)
    c = await make_campaign(links_stub, app_id)
    now = dt.datetime.now(dt.UTC)
    injected, _ = await click(gateway_links_stub, c, ip="81.2.69.10")
    honest, _ = await click(gateway_links_stub, c, ip="81.2.69.11")
    # The Play install referrer: the store visit and the install began two minutes before the click.
    await send(
        ingest_stub,
        event(app_id, "install", click_id=injected, device={"gaid": GAID},
              install_begin_time=ts(now - dt.timedelta(minutes=2)),
              referrer_click_time=ts(now - dt.timedelta(minutes=2, seconds=20))),
        event(app_id, "install", click_id=honest, device={"gaid": GAID2},
              install_begin_time=ts(now + dt.timedelta(seconds=3)),
              referrer_click_time=ts(now + dt.timedelta(seconds=1))),
    )  # fmt: skip
    await drained(settings)
    got = {i.click_id: i for i in await installs(attribution_stub)}
    assert (got[injected].verdict, list(got[injected].reasons)) == (INVALID, ["install_before_click"])
    assert got[injected].campaign_id == c.campaign_id
    assert (got[honest].verdict, list(got[honest].reasons)) == (CLEAN, [])


async def test_many_installs_from_one_address_or_subnet_are_a_burst(
    attribution_stub, attribution_server, ingest_server, ingest_stub, links_stub, settings,
):  # fmt: skip
    await quality_stub(attribution_stub).UpdateAttributionQualitySettings(
        cpb.UpdateAttributionQualitySettingsRequest(
            settings=cpb.AttributionQualitySettings(install_burst_ip=2, install_burst_subnet=3)
        )
    )
    app_id = await make_app(links_stub)

    def install(ip: str) -> ipb.Event:
        return event(app_id, "install", device={"gaid": str(uuid.uuid4())}, ip=ip)

    # One batch, then another: the stored installs count as well as the batch's own.
    first = [install("203.0.113.5"), install("203.0.113.5")]
    second = [install("203.0.113.5"), install("203.0.113.6"), install("198.51.100.9")]
    await send(ingest_stub, *first)
    await drained(settings)
    await send(ingest_stub, *second)
    await drained(settings)
    got = {i.event_uuid: i for i in await installs(attribution_stub)}
    verdicts = [(got[e.uuid].ip, got[e.uuid].verdict, list(got[e.uuid].reasons)) for e in first + second]
    assert verdicts == [
        ("203.0.113.5", CLEAN, []), ("203.0.113.5", CLEAN, []),
        ("203.0.113.5", SUSPICIOUS, ["install_burst"]),  # the third from one address (more than 2)
        ("203.0.113.6", SUSPICIOUS, ["install_burst"]),  # the fourth from one /24 (more than 3)
        ("198.51.100.9", CLEAN, []),
    ]  # fmt: skip
    # Later batches: the subnet found past its threshold (then known to be, without a query); another app's
    # installs from it are counted apart.
    other_app = await make_app(links_stub)
    later = [install("203.0.113.7"), install("203.0.113.8")]
    for ev in [*later, event(other_app, "install", device={"gaid": str(uuid.uuid4())}, ip="203.0.113.7")]:
        await send(ingest_stub, ev)
        await drained(settings)
    got = {i.event_uuid: i for i in await installs(attribution_stub)}
    assert [got[e.uuid].verdict for e in later] == [SUSPICIOUS, SUSPICIOUS]
    [theirs] = await installs(attribution_stub, app_id=other_app)
    assert (theirs.verdict, list(theirs.reasons)) == (CLEAN, [])


async def test_a_forged_sdk_event_is_matched_on_its_connection_and_flagged(
    attribution_stub, attribution_server, ingest_server, ingest_stub, links_stub, gateway_links_stub, channels,
    settings,
):  # fmt: skip
    """An app key ships inside the app: anyone can send installs with it, claiming
    the IP and User-Agent of a stranger's click to steal it by fingerprint."""
    app_id = await make_app(links_stub)
    c = await make_campaign(links_stub, app_id)
    await click(gateway_links_stub, c, ip="81.2.69.77", ua=ANDROID_UA)
    app_key = (await links_stub.RotateAppKey(lpb.RotateAppKeyRequest(app_id=app_id))).app_key
    sdk = ingest_pb2_grpc.IngestServiceStub(channels(ingest_server.addr, token=app_key))
    now = dt.datetime.now(dt.UTC).isoformat()
    forged = {"uuid": str(uuid.uuid4()), "event": "install", "timestamp": now, "device": {"gaid": GAID},
              "ip": "81.2.69.77", "user_agent": ANDROID_UA}  # fmt: skip
    # A real phone: its SDK's HTTP client says Dalvik, the web view's User-Agent is claimed, and
    # it knows only its address on the home network.
    honest = {"uuid": str(uuid.uuid4()), "event": "install", "timestamp": now, "device": {"gaid": GAID2},
              "ip": "192.168.1.20", "user_agent": ANDROID_UA}  # fmt: skip
    for ev, ip, ua in (
        (forged, "198.51.100.23", "python-requests/2.31.0"),
        (honest, "81.2.70.5", "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/UQ1A.240105.004)"),
    ):
        resp = await sdk.SendEventsJson(ipb.SendEventsJsonRequest(  # as the gateway sends it
            body=orjson.dumps({"events": [ev]}), client_ip=ip, client_user_agent=ua,
        ), metadata=((GATEWAY_VOUCH_HEADER, GATEWAY_TOKEN),))  # fmt: skip
        assert resp.accepted == 1, resp
    await drained(settings)
    got = {i.gaid: i for i in await installs(attribution_stub)}
    assert (got[GAID].match_type, got[GAID].campaign_id, got[GAID].ip) == (apb.MATCH_TYPE_ORGANIC, "", "198.51.100.23")
    assert (got[GAID].verdict, list(got[GAID].reasons)) == (SUSPICIOUS, ["client_mismatch"])
    assert (got[GAID2].ip, got[GAID2].verdict, list(got[GAID2].reasons)) == ("81.2.70.5", CLEAN, [])
    # The claim is kept apart, beside what the connection showed.
    listed = {e.uuid: e for e in (await ingest_stub.ListEvents(ipb.ListEventsRequest(app_id=app_id))).events}
    e = listed[forged["uuid"]]
    assert (e.ip, e.user_agent, e.claimed_ip, e.claimed_user_agent) == (
        "198.51.100.23", "python-requests/2.31.0", "81.2.69.77", ANDROID_UA,
    )  # fmt: skip


# --------------------------------------------------------------------------- conversions


async def test_a_conversion_too_soon_after_its_install_is_rejected(
    attribution_stub, attribution_server, ingest_server, ingest_stub, links_stub, settings,
):  # fmt: skip
    app_id = await make_app(links_stub)
    goal = await purchase_goal(attribution_stub)
    installed = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    dev = {"gaid": GAID}
    await send(ingest_stub, event(app_id, "install", device=dev, at=installed))
    await drained(settings)
    soon = event(app_id, "track", action="purchase", device=dev, at=installed + dt.timedelta(seconds=1))
    later = event(app_id, "track", action="purchase", device=dev, at=installed + dt.timedelta(seconds=60))
    await send(ingest_stub, soon, later)
    await drained(settings)
    listed = await conversions(attribution_stub, goal_id=goal.goal_id)
    got = {c.event_uuid: (c.verdict, list(c.reasons)) for c in listed}
    assert got == {soon.uuid: (INVALID, ["too_soon_after_install"]), later.uuid: (CLEAN, [])}
    flagged = await conversions(attribution_stub, reason="too_soon_after_install")
    assert [c.event_uuid for c in flagged] == [soon.uuid]


async def test_revenue_outside_the_goals_range_is_rejected_for_events_and_postbacks(
    attribution_stub, attribution_server, ingest_server, ingest_stub, links_stub, gateway_links_stub, account,
    channels, settings,
):  # fmt: skip
    app_id = await make_app(links_stub)
    goal = await purchase_goal(attribution_stub, value_path="action_properties.price",
                               currency_path="action_properties.currency")  # fmt: skip
    rr = (
        await quality_stub(attribution_stub).CreateRevenueRange(
            cpb.CreateRevenueRangeRequest(
                range=cpb.RevenueRange(goal_id=goal.goal_id, currency=" usd ", min_amount="0.99", max_amount="100")
            )
        )
    ).range
    assert (rr.currency, rr.min_amount, rr.max_amount) == ("USD", "0.99", "100")  # fmt: skip
    installed = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    dev = {"gaid": GAID}
    await send(ingest_stub, event(app_id, "install", device=dev, at=installed))
    await drained(settings)
    buys = {
        "500 USD": ("500", "USD"), "50 USD": ("50", "USD"), "0.50 USD": ("0.50", "USD"), "500 EUR": ("500", "EUR"),
    }  # fmt: skip
    sent = {}
    for label, (price, currency) in buys.items():
        ev = event(app_id, "track", action="purchase", device=dev, at=installed + dt.timedelta(minutes=1),
                   props={"price": price, "currency": currency})  # fmt: skip
        sent[ev.uuid] = label
        await send(ingest_stub, ev)
    await drained(settings)
    got = {sent[c.event_uuid]: (c.verdict, list(c.reasons)) for c in await conversions(attribution_stub)}
    assert got == {
        "500 USD": (INVALID, ["revenue_out_of_range"]), "50 USD": (CLEAN, []),
        "0.50 USD": (INVALID, ["revenue_out_of_range"]), "500 EUR": (CLEAN, []),  # no EUR range: not checked
    }  # fmt: skip

    # A network's postback for a stranger's click, with a payout no sale of this goal has.
    c = await make_campaign(links_stub, app_id, "Net")
    click_id, _ = await click(gateway_links_stub, c)
    pb_stub = attribution_pb2_grpc.AttributionServiceStub(channels(attribution_server.addr,
                                                                   token=account.postback_token))  # fmt: skip
    resp = await pb_stub.RecordPostback(apb.RecordPostbackRequest(click_id=click_id, payout="1000", currency="USD",
                                                                  goal=goal.name, txid="T-1"))  # fmt: skip
    assert (resp.conversion.verdict, list(resp.conversion.reasons)) == (INVALID, ["revenue_out_of_range"])


async def test_a_postback_for_an_invalid_click_is_recorded_rejected(
    attribution_stub, attribution_server, links_stub, gateway_links_stub, account, channels, settings,
):  # fmt: skip
    """An affiliate's postback for a bot click must not pay: the conversion is kept
    (the network is answered 200, the log shows it) but invalid."""
    app_id = await make_app(links_stub)
    c = await make_campaign(links_stub, app_id, "Net")
    dup = await invalid_click(gateway_links_stub, c)
    pb_stub = attribution_pb2_grpc.AttributionServiceStub(channels(attribution_server.addr,
                                                                   token=account.postback_token))  # fmt: skip
    resp = await pb_stub.RecordPostback(apb.RecordPostbackRequest(click_id=dup, payout="7.50", status="approved"))
    assert resp.created and resp.conversion.status == apb.CONVERSION_STATUS_APPROVED
    assert (resp.conversion.verdict, list(resp.conversion.reasons)) == (INVALID, ["invalid_click"])
    assert resp.conversion.campaign_id == c.campaign_id
    [listed] = await conversions(attribution_stub, verdict=INVALID)
    assert listed.conversion_id == resp.conversion.conversion_id
    [out] = await outbound_events(settings, account.account_id)
    assert (out["kind"], out["event_id"], out["verdict"]) == (
        "conversion", f"{listed.conversion_id}:rejected", "invalid",
    )  # fmt: skip


async def test_conversions_follow_their_install_when_it_is_overruled(
    attribution_stub, attribution_server, ingest_server, ingest_stub, links_stub, gateway_links_stub, settings,
):  # fmt: skip
    app_id = await make_app(links_stub)
    c = await make_campaign(links_stub, app_id)
    goal = await purchase_goal(attribution_stub)
    click_id, _ = await click(gateway_links_stub, c, query=f"gaid={GAID}")
    await send(ingest_stub, event(app_id, "install", click_id=click_id, device={"gaid": GAID}))
    await drained(settings)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    await send(ingest_stub, event(app_id, "track", action="purchase", device={"gaid": GAID}, at=later))
    await drained(settings)
    [inst] = await installs(attribution_stub)
    [conv] = await conversions(attribution_stub, goal_id=goal.goal_id)
    assert (inst.verdict, conv.verdict, list(conv.reasons)) == (INVALID, INVALID, ["rejected_install"])

    stub = attribution(attribution_stub)
    resp = await stub.OverruleInstallVerdict(apb.OverruleInstallVerdictRequest(install_id=inst.install_id,
                                                                               verdict=SUSPICIOUS))  # fmt: skip
    assert (resp.install.verdict, resp.conversions_changed) == (SUSPICIOUS, 1)
    [conv] = await conversions(attribution_stub, goal_id=goal.goal_id)
    assert (conv.verdict, list(conv.reasons)) == (CLEAN, [])
    # An operator's own verdict on the conversion is left alone when the install moves again.
    await stub.OverruleConversionVerdict(apb.OverruleConversionVerdictRequest(
        conversion_id=conv.conversion_id, verdict=SUSPICIOUS, note="watch it"))  # fmt: skip
    resp = await stub.OverruleInstallVerdict(apb.OverruleInstallVerdictRequest(install_id=inst.install_id,
                                                                               verdict=INVALID))  # fmt: skip
    assert resp.conversions_changed == 0
    [conv] = await conversions(attribution_stub, goal_id=goal.goal_id)
    assert (conv.verdict, list(conv.reasons), conv.verdict_note) == (SUSPICIOUS, ["operator"], "watch it")


async def test_campaign_settings_override_the_accounts(
    attribution_stub, attribution_server, ingest_server, ingest_stub, links_stub, gateway_links_stub, settings,
):  # fmt: skip
    app_id = await make_app(links_stub)
    strict = await make_campaign(links_stub, app_id, "Strict")
    lax = await make_campaign(links_stub, app_id, "Lax")
    qs = quality_stub(attribution_stub)
    await qs.UpdateAttributionQualitySettings(cpb.UpdateAttributionQualitySettingsRequest(
        settings=cpb.AttributionQualitySettings(checks={"click_injection": False})))  # fmt: skip
    await qs.UpdateAttributionQualitySettings(cpb.UpdateAttributionQualitySettingsRequest(
        settings=cpb.AttributionQualitySettings(campaign_id=strict.campaign_id, checks={"click_injection": True},
                                                click_injection_time=duration_pb2.Duration(seconds=30))))  # fmt: skip
    s_click, _ = await click(gateway_links_stub, strict, ip="81.2.69.21")
    l_click, _ = await click(gateway_links_stub, lax, ip="81.2.69.22")
    await send(
        ingest_stub,
        event(app_id, "install", click_id=s_click, device={"gaid": GAID}),
        event(app_id, "install", click_id=l_click, device={"gaid": GAID2}),
    )
    await drained(settings)
    got = {i.campaign_id: (i.verdict, list(i.reasons)) for i in await installs(attribution_stub)}
    assert got == {strict.campaign_id: (INVALID, ["click_injection"]), lax.campaign_id: (CLEAN, [])}


async def test_unknown_filters_are_refused(attribution_stub, attribution_server):
    stub = attribution(attribution_stub)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListInstalls(apb.ListInstallsRequest(reason="robot"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "reason" in (err.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListConversions(apb.ListConversionsRequest(verdict=7))  # type: ignore[arg-type]
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "verdict" in (err.value.details() or "")
