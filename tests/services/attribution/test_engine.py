"""The attribution engine end to end inside the services: touches recorded by the
real links service, events stored by the real ingest service, attributed by
the real attribution service's consumer."""

import datetime as dt

import asyncpg
from clicktrail.attribution.v1 import attribution_pb2 as apb
from clicktrail.attribution.v1 import config_pb2 as cpb
from google.protobuf import duration_pb2

from libs.partitions import ensure_daily_partitions
from tests.services.attribution.engine_support import (
    ANDROID_UA,
    checks_off,
    drained,
    event,
    installs,
    make_app,
    make_campaign,
    outbound_events,
    replay_all,
    send,
    touch,
)

GAID = "6d92078a-8246-4ba4-ae5b-76104861e7dc"
GAID2 = "0b3b3f2e-1c1d-4e59-9a57-3f1c2d7c9e11"


async def test_install_by_click_id_then_replay_adds_nothing(
    attribution_stub, attribution_server, ingest_server, ingest_stub, links_stub, gateway_links_stub, settings,
    account,
):  # fmt: skip
    await checks_off(attribution_stub, "click_injection")  # the install comes milliseconds after its click
    app_id = await make_app(links_stub)
    spring = await make_campaign(links_stub, app_id, "Spring")
    click_id = await touch(gateway_links_stub, spring, query="sub1=banner&clickid=net-77")
    await send(ingest_stub, event(app_id, "install", click_id=click_id, device={"gaid": GAID}))
    await drained(settings)
    [inst] = await installs(attribution_stub)
    assert (inst.campaign_id, inst.click_id, inst.match_type, inst.touch_type) == (
        spring.campaign_id, click_id, apb.MATCH_TYPE_CLICK_ID, apb.TOUCH_TYPE_CLICK,
    )  # fmt: skip
    assert inst.partner_id == spring.partner_id and inst.link_id == spring.link_id and inst.gaid == GAID
    [out] = await outbound_events(settings, account.account_id)
    assert out["kind"] == "install" and out["event_id"] == inst.install_id and out["attributed"] is True
    assert (out["campaign_name"], out["sub1"], out["partner_click_id"]) == ("Spring", "banner", "net-77")

    # A redelivered job, and a second install event from the same device: still one install.
    assert await replay_all(settings, account.account_id) == 1
    await send(ingest_stub, event(app_id, "install", device={"gaid": GAID}))
    await drained(settings)
    assert [i.install_id for i in await installs(attribution_stub)] == [inst.install_id]
    assert len(await outbound_events(settings, account.account_id)) == 1


async def test_device_id_then_fingerprint_then_organic(
    attribution_stub, attribution_server, ingest_server, ingest_stub, links_stub, gateway_links_stub, settings,
):  # fmt: skip
    app_id = await make_app(links_stub)
    a = await make_campaign(links_stub, app_id, "A")
    b = await make_campaign(links_stub, app_id, "B")
    c = await make_campaign(links_stub, app_id, "C")
    # Device id: a click of A, then a newer impression of B: the click wins.
    click_a = await touch(gateway_links_stub, a, query=f"gaid={GAID}", ip="10.0.0.1")
    await touch(gateway_links_stub, b, kind="impression", query=f"gaid={GAID}", ip="10.0.0.1")
    # Only an impression for the second device: it gets the credit (view-through).
    view_b = await touch(gateway_links_stub, b, kind="impression", query=f"gaid={GAID2}", ip="10.0.0.2")
    # Fingerprint: a click of C from this IP and browser, no device id.
    click_c = await touch(gateway_links_stub, c, ip="81.2.69.160", ua=ANDROID_UA)
    await send(
        ingest_stub,
        event(app_id, "install", device={"gaid": GAID}, ip="10.9.9.9"),
        event(app_id, "install", device={"gaid": GAID2}, ip="10.9.9.8"),
        event(app_id, "install", user_id="fp-user", ip="81.2.69.160", user_agent=ANDROID_UA),
        event(app_id, "install", user_id="nobody", ip="81.2.69.161", user_agent=ANDROID_UA),
    )
    await drained(settings)
    got = {i.gaid or i.user_id: i for i in await installs(attribution_stub)}
    assert (got[GAID].match_type, got[GAID].click_id, got[GAID].campaign_id) == (
        apb.MATCH_TYPE_DEVICE_ID, click_a, a.campaign_id,
    )  # fmt: skip
    assert (got[GAID2].match_type, got[GAID2].touch_type, got[GAID2].click_id, got[GAID2].campaign_id) == (
        apb.MATCH_TYPE_DEVICE_ID, apb.TOUCH_TYPE_IMPRESSION, view_b, b.campaign_id,
    )  # fmt: skip
    assert (got["fp-user"].match_type, got["fp-user"].click_id) == (apb.MATCH_TYPE_FINGERPRINT, click_c)
    assert (got["nobody"].match_type, got["nobody"].campaign_id, got["nobody"].click_id) == (
        apb.MATCH_TYPE_ORGANIC, "", "",
    )  # fmt: skip
    # Filter by campaign, as `clicktrail install list --campaign` does.
    assert [i.gaid for i in await installs(attribution_stub, campaign_id=a.campaign_id)] == [GAID]


async def test_lookback_windows_and_touches_after_the_install(
    attribution_stub, attribution_server, ingest_server, ingest_stub, links_stub, gateway_links_stub, settings,
    account,
):  # fmt: skip
    app_id = await make_app(links_stub)
    old = await make_campaign(links_stub, app_id, "Old")
    # A click 8 days ago (outside the default 7-day click lookback), written as links would have.
    conn = await asyncpg.connect(settings.database_url)
    try:
        await ensure_daily_partitions(conn, "links", "clicks", days_ahead=1, days_back=10)
        await conn.execute(
            "INSERT INTO links.clicks (account_id, click_id, create_time, link_id, campaign_id, partner_id, app_id,"
            " gaid) VALUES ($1, $2, now() - interval '8 days', $3, $4, $5, $6, $7)",
            account.account_id, "0" * 10 + "x" * 16, old.link_id, old.campaign_id, old.partner_id, app_id, GAID,
        )  # fmt: skip
    finally:
        await conn.close()
    # An install event from 3 days ago, sent late: a click made now cannot have caused it.
    await touch(gateway_links_stub, old, query=f"gaid={GAID2}")
    await send(
        ingest_stub,
        event(app_id, "install", device={"gaid": GAID}),
        event(app_id, "install", device={"gaid": GAID2}, at=dt.datetime.now(dt.UTC) - dt.timedelta(days=3)),
    )
    await drained(settings)
    assert {i.gaid: i.match_type for i in await installs(attribution_stub)} == {
        GAID: apb.MATCH_TYPE_ORGANIC, GAID2: apb.MATCH_TYPE_ORGANIC,
    }  # fmt: skip


async def goal(stubs, **kw) -> cpb.Goal:
    return (await stubs.goals.CreateGoal(cpb.CreateGoalRequest(goal=cpb.Goal(**kw)))).goal


def purchase(app_id, gaid, price, **kw):
    return event(app_id, action="purchase", device={"gaid": gaid}, props={"price": price, "currency": "EUR"}, **kw)


async def test_purchase_goes_to_the_last_click_custom_to_every_campaign(
    attribution_stub, attribution_server, ingest_server, ingest_stub, links_stub, gateway_links_stub, settings,
    account,
):  # fmt: skip
    from tests.services.attribution.engine_support import conversions

    app_id = await make_app(links_stub)
    a = await make_campaign(links_stub, app_id, "A")
    b = await make_campaign(links_stub, app_id, "B")
    buy = await goal(
        attribution_stub, name="Purchase", kind=cpb.GOAL_KIND_PURCHASE, event="purchase",
        occurrence=cpb.OCCURRENCE_EVERY, value_path="action_properties.price",
        currency_path="action_properties.currency",
    )  # fmt: skip
    coupon = await goal(attribution_stub, name="Coupon", kind=cpb.GOAL_KIND_CUSTOM, event="coupon",
                        occurrence=cpb.OCCURRENCE_FIRST)  # fmt: skip
    installed = await goal(attribution_stub, name="Installed", kind=cpb.GOAL_KIND_CUSTOM, event="install")

    click_a = await touch(gateway_links_stub, a, query=f"gaid={GAID}")
    await send(ingest_stub, event(app_id, "install", device={"gaid": GAID}))
    await drained(settings)
    # No newer touch: the purchase belongs to the install's campaign.
    await send(ingest_stub, purchase(app_id, GAID, 4.99, user_id="u1"))
    await drained(settings)
    [first] = await conversions(attribution_stub, goal_id=buy.goal_id)
    assert (first.campaign_id, first.click_id, first.payout, first.currency, first.status) == (
        a.campaign_id, click_a, "4.99", "EUR", apb.CONVERSION_STATUS_APPROVED,
    )  # fmt: skip
    [inst] = await conversions(attribution_stub, goal_id=installed.goal_id)
    assert inst.campaign_id == a.campaign_id and inst.install_id

    # A newer click of B: the next purchase is B's (last touch); a coupon counts for A and B.
    click_b = await touch(gateway_links_stub, b, query=f"gaid={GAID}")
    await send(ingest_stub, purchase(app_id, GAID, "20.00", user_id="u1"),
               event(app_id, action="coupon", device={"gaid": GAID}, user_id="u1"))  # fmt: skip
    await drained(settings)
    got = await conversions(attribution_stub, goal_id=buy.goal_id)
    assert [(c.campaign_id, c.click_id, c.payout) for c in got] == [
        (b.campaign_id, click_b, "20"), (a.campaign_id, click_a, "4.99"),
    ]  # fmt: skip
    coupons = await conversions(attribution_stub, goal_id=coupon.goal_id)
    assert sorted(c.campaign_id for c in coupons) == sorted([a.campaign_id, b.campaign_id])
    assert {c.kind for c in coupons} == {"custom"}

    # "first": a second coupon counts no more. A redelivered job counts nothing twice.
    await send(ingest_stub, event(app_id, action="coupon", device={"gaid": GAID}, user_id="u1"))
    await drained(settings)
    before = sorted(c.conversion_id for c in await conversions(attribution_stub))
    assert len(before) == 5
    await replay_all(settings, account.account_id)
    await drained(settings)
    assert sorted(c.conversion_id for c in await conversions(attribution_stub)) == before
    outs = await outbound_events(settings, account.account_id)
    kinds = [o["kind"] for o in outs]
    assert kinds.count("install") == 1 and kinds.count("conversion") == 5
    # Each conversion carries its install's time (Unity's install_ts: {install_timestamp}).
    [installed_out] = [o for o in outs if o["kind"] == "install"]
    assert installed_out["install_time"]
    assert {o["install_time"] for o in outs if o["kind"] == "conversion"} == {installed_out["install_time"]}
    # Filters.
    assert len(await conversions(attribution_stub, campaign_id=b.campaign_id)) == 2


async def test_nth_occurrence_and_conversion_window_breakpoint(
    attribution_stub, attribution_server, ingest_server, ingest_stub, links_stub, gateway_links_stub, settings,
    account,
):  # fmt: skip
    from tests.services.attribution.engine_support import conversions

    app_id = await make_app(links_stub)
    a = await make_campaign(links_stub, app_id, "A")
    third = await goal(attribution_stub, name="Third level", kind=cpb.GOAL_KIND_CUSTOM, event="level_up",
                       occurrence=cpb.OCCURRENCE_NTH, nth=3)  # fmt: skip
    await touch(gateway_links_stub, a, query=f"gaid={GAID}")
    for _ in range(2):
        await send(ingest_stub, event(app_id, action="level_up", device={"gaid": GAID}, user_id="u9"))
        await drained(settings)
    assert await conversions(attribution_stub) == []
    await send(ingest_stub, event(app_id, action="level_up", device={"gaid": GAID}, user_id="u9"))
    await drained(settings)
    [conv] = await conversions(attribution_stub)
    assert conv.goal_id == third.goal_id and conv.campaign_id == a.campaign_id and conv.payout == ""

    # A click of B two hours ago; then a conversion window of one hour from now on (a breakpoint).
    b = await make_campaign(links_stub, app_id, "B")
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute(
            "INSERT INTO links.clicks (account_id, click_id, create_time, link_id, campaign_id, partner_id, app_id,"
            " gaid) VALUES ($1, $2, now() - interval '2 hours', $3, $4, $5, $6, $7)",
            account.account_id, "0" * 10 + "y" * 16, b.link_id, b.campaign_id, b.partner_id, app_id, GAID2,
        )  # fmt: skip
    finally:
        await conn.close()
    await attribution_stub.settings.UpdateSettings(cpb.UpdateSettingsRequest(
        settings=cpb.AttributionSettings(conversion_window=duration_pb2.Duration(seconds=3600))
    ))  # fmt: skip
    every = await goal(attribution_stub, name="Any level", kind=cpb.GOAL_KIND_CUSTOM, event="level_up",
                       occurrence=cpb.OCCURRENCE_EVERY)  # fmt: skip
    # Now: the click is outside the new one-hour window (organic). 90 minutes ago, before the
    # breakpoint, the 30-day default was in force: the click is inside it.
    early = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=90)
    await send(ingest_stub, event(app_id, action="level_up", device={"gaid": GAID2}, user_id="late"),
               event(app_id, action="level_up", device={"gaid": GAID2}, user_id="early", at=early))  # fmt: skip
    await drained(settings)
    got = {c.user_id: c.campaign_id for c in await conversions(attribution_stub, goal_id=every.goal_id)}
    assert got == {"late": "", "early": b.campaign_id}
