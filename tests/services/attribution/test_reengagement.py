"""Retargeting end to end inside the services (real links, ingest and
attribution; services/attribution/reengagement.py): re-engagements through a
retargeting click take the user's purchases from the install's campaign for the
re-engagement window; reinstalls after the reinstall window are re-attributed;
the windows are dated breakpoints; replays store nothing twice.

The rules follow AppsFlyer's: retargeting attribution guide
https://support.appsflyer.com/hc/en-us/articles/207033786 (re-engagement: an
existing user opens the app after engaging with a retargeting campaign; in-app
events go to the retargeting source for the re-engagement window) and the
re-attribution window https://support.appsflyer.com/hc/en-us/articles/115002587066
(starts at the install, default 90 days; a reinstall inside it is not a new
install unless a retargeting campaign brought it; the setting in force at the
reinstall applies)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import asyncpg
import grpc
import pytest
from clicktrail.attribution.v1 import attribution_pb2 as apb
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.attribution.v1 import reengagement_pb2 as rpb
from clicktrail.attribution.v1 import reengagement_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from google.protobuf import duration_pb2

from libs.partitions import ensure_daily_partitions
from tests.services.attribution.engine_support import (
    Campaign,
    checks_off,
    conversions,
    drained,
    event,
    installs,
    make_app,
    make_campaign,
    outbound_events,
    replay_all,
    send,
)
from tests.services.attribution.engine_support import touch as record_touch
from tests.services.attribution.test_goals import violations

GAID = "6d92078a-8246-4ba4-ae5b-76104861e7dc"
GAID2 = "0b3b3f2e-1c1d-4e59-9a57-3f1c2d7c9e11"
DAY = dt.timedelta(days=1)


_addresses = itertools.count(10)


async def touch(stub, c: Campaign, *, query: str = "") -> str:
    """A click from an address of its own (clicks in a burst from one address are links' duplicates)."""
    return await record_touch(stub, c, query=query, ip=f"81.2.69.{next(_addresses) % 250}")


def dur(td: dt.timedelta) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromTimedelta(td)
    return d


async def retargeting_campaign(links_stub, app_id: str, name: str = "Win-back") -> Campaign:
    partner = (await links_stub.CreatePartner(lpb.CreatePartnerRequest(partner=lpb.Partner(name=f"RT {name}")))).partner
    campaign = (await links_stub.CreateCampaign(lpb.CreateCampaignRequest(campaign=lpb.Campaign(
        name=name, partner_id=partner.partner_id, app_id=app_id, status=lpb.CAMPAIGN_STATUS_ACTIVE,
        type=lpb.CAMPAIGN_TYPE_RETARGETING,
    )))).campaign  # fmt: skip
    assert campaign.type == lpb.CAMPAIGN_TYPE_RETARGETING
    link = (await links_stub.CreateLink(lpb.CreateLinkRequest(link=lpb.Link(
        campaign_id=campaign.campaign_id, destination_url="https://app.example/open?c={click_id}",
    )))).link  # fmt: skip
    return Campaign(app_id, partner.partner_id, campaign.campaign_id, link.link_id, link.slug)


async def setup(stubs, links_stub) -> tuple[str, Campaign, Campaign]:
    """An app, a user-acquisition campaign, a retargeting campaign and a purchase goal
    (every purchase counts). The checks of click injection and too-soon conversions are
    off: these tests send events milliseconds after their clicks."""
    await checks_off(stubs, "click_injection", "too_soon_after_install")
    app_id = await make_app(links_stub)
    ua = await make_campaign(links_stub, app_id, "Launch")
    rt = await retargeting_campaign(links_stub, app_id)
    await stubs.goals.CreateGoal(cpb.CreateGoalRequest(goal=cpb.Goal(
        name="Purchase", kind=cpb.GOAL_KIND_PURCHASE, event="purchase", occurrence=cpb.OCCURRENCE_EVERY,
        value_path="action_properties.price", currency_path="action_properties.currency",
    )))  # fmt: skip
    return app_id, ua, rt


def purchase(app_id: str, price: str, *, gaid: str = GAID, at: dt.datetime | None = None):
    return event(app_id, action="purchase", device={"gaid": gaid}, props={"price": price, "currency": "EUR"}, at=at)


def opened(app_id: str, click_id: str, *, gaid: str = GAID, at: dt.datetime | None = None, action="deeplink_open"):
    """The SDK's report of an app open through a link: the click id the link delivered."""
    return event(app_id, action=action, device={"gaid": gaid}, props={"click_id": click_id}, at=at)


def reattributions_stub(stubs) -> reengagement_pb2_grpc.ReattributionServiceStub:
    return reengagement_pb2_grpc.ReattributionServiceStub(stubs.channel)


async def reattributions(stubs, **kw) -> list[rpb.Reattribution]:
    resp = await reattributions_stub(stubs).ListReattributions(rpb.ListReattributionsRequest(page_size=100, **kw))
    return list(resp.reattributions)


async def by_price(stubs) -> dict[str, apb.Conversion]:
    return {str(int(Decimal(c.payout))): c for c in await conversions(stubs)}


async def test_a_re_engagement_takes_the_purchase_from_the_install_campaign(
    attribution_stub, attribution_server, ingest_server, ingest_stub, links_stub, gateway_links_stub, settings,
    account,
):  # fmt: skip
    app_id, ua, rt = await setup(attribution_stub, links_stub)
    install_click = await touch(gateway_links_stub, ua)
    await send(ingest_stub, event(app_id, "install", click_id=install_click, device={"gaid": GAID}))
    await drained(settings)
    [inst] = await installs(attribution_stub)
    assert inst.campaign_id == ua.campaign_id
    await send(ingest_stub, purchase(app_id, "10"))
    await drained(settings)
    assert (await by_price(attribution_stub))["10"].campaign_id == ua.campaign_id

    # The user clicks a retargeting ad (no device id on the click, as on iOS) and the
    # link opens the installed app: the SDK reports the open with the link's click id.
    rt_click = await touch(gateway_links_stub, rt)
    await send(ingest_stub, opened(app_id, rt_click))
    await drained(settings)
    [row] = await reattributions(attribution_stub)
    assert (row.kind, row.install_id, row.campaign_id, row.click_id, row.match_type) == (
        rpb.REATTRIBUTION_KIND_RE_ENGAGEMENT, inst.install_id, rt.campaign_id, rt_click, apb.MATCH_TYPE_CLICK_ID,
    )  # fmt: skip
    assert row.partner_id == rt.partner_id and row.link_id == rt.link_id and row.app_id == app_id
    assert row.window_end.ToDatetime() - row.event_time.ToDatetime() == dt.timedelta(days=30)  # the default

    # The next purchase goes to the retargeting campaign, through its click.
    await send(ingest_stub, purchase(app_id, "20"))
    await drained(settings)
    got = await by_price(attribution_stub)
    assert (got["20"].campaign_id, got["20"].click_id, got["20"].install_id) == (
        rt.campaign_id, rt_click, inst.install_id,
    )  # fmt: skip
    assert got["10"].campaign_id == ua.campaign_id  # what came before stays

    # Replayed events store nothing twice; opening through the same click again is no second re-engagement.
    await replay_all(settings, account.account_id)
    await send(ingest_stub, opened(app_id, rt_click))
    await drained(settings)
    assert [r.reattribution_id for r in await reattributions(attribution_stub)] == [row.reattribution_id]
    assert len(await conversions(attribution_stub)) == 2 and len(await installs(attribution_stub)) == 1
    # One outbound event for the re-engagement (the postbacks' `reengagement` trigger sends it),
    # credited to the retargeting partner's campaign and click; the replay queued none more.
    [out] = [o for o in await outbound_events(settings, account.account_id) if o["kind"] == "reengagement"]
    assert (out["event"], out["event_id"], out["campaign_id"], out["partner_id"], out["click_id"]) == (
        "re_engagement", row.reattribution_id, rt.campaign_id, rt.partner_id, rt_click,
    )  # fmt: skip
    assert out["attributed"] and out["verdict"] == "clean" and out["app_id"] == app_id
    # The open's device id (a retargeting network matches on it) and the install's time.
    assert out["gaid"] == GAID and out["install_time"] and out["install_time"][:19] == inst.install_time.ToDatetime(
    ).isoformat()[:19]

    # A newer click of another campaign (matched by the device id) still wins by the last-click rule.
    other = await make_campaign(links_stub, app_id, "Summer")
    other_click = await touch(gateway_links_stub, other, query=f"gaid={GAID}")
    await send(ingest_stub, purchase(app_id, "30"))
    await drained(settings)
    got = await by_price(attribution_stub)
    assert (got["30"].campaign_id, got["30"].click_id) == (other.campaign_id, other_click)
    # Filters of the list.
    assert await reattributions(attribution_stub, campaign_id=ua.campaign_id) == []
    assert len(await reattributions(attribution_stub, kind=rpb.REATTRIBUTION_KIND_RE_ENGAGEMENT)) == 1
    assert await reattributions(attribution_stub, kind=rpb.REATTRIBUTION_KIND_RE_ATTRIBUTION) == []


async def test_outside_the_window_the_purchase_goes_back_to_the_install_campaign(
    attribution_stub, attribution_server, ingest_server, ingest_stub, links_stub, gateway_links_stub, settings,
):  # fmt: skip
    app_id, ua, rt = await setup(attribution_stub, links_stub)
    await attribution_stub.settings.UpdateSettings(cpb.UpdateSettingsRequest(
        settings=cpb.AttributionSettings(re_engagement_window=dur(dt.timedelta(hours=1)))
    ))  # fmt: skip
    install_click = await touch(gateway_links_stub, ua)
    await send(ingest_stub, event(app_id, "install", click_id=install_click, device={"gaid": GAID}))
    await drained(settings)
    rt_click = await touch(gateway_links_stub, rt)
    now = dt.datetime.now(dt.UTC)
    # The open, and purchases 30 minutes and 2 hours after it (device times), in one batch.
    await send(
        ingest_stub, opened(app_id, rt_click, at=now), purchase(app_id, "1", at=now + dt.timedelta(minutes=30)),
        purchase(app_id, "2", at=now + dt.timedelta(hours=2)),
    )  # fmt: skip
    await drained(settings)
    [row] = await reattributions(attribution_stub)
    assert row.window_end.ToDatetime() - row.event_time.ToDatetime() == dt.timedelta(hours=1)
    got = await by_price(attribution_stub)
    assert (got["1"].campaign_id, got["1"].click_id) == (rt.campaign_id, rt_click)
    assert (got["2"].campaign_id, got["2"].click_id) == (ua.campaign_id, install_click)


async def test_only_a_valid_retargeting_click_of_an_installed_user_re_engages(
    attribution_stub, attribution_server, ingest_server, ingest_stub, links_stub, gateway_links_stub, settings,
    account,
):  # fmt: skip
    app_id, ua, rt = await setup(attribution_stub, links_stub)
    install_click = await touch(gateway_links_stub, ua)
    await send(ingest_stub, event(app_id, "install", click_id=install_click, device={"gaid": GAID}))
    await drained(settings)
    # A user-acquisition campaign's click through a link: no re-engagement.
    ua_click = await touch(gateway_links_stub, ua)
    # The retargeting campaign's click, but links judged it invalid (written as links would have).
    invalid = "0" * 10 + "v" * 16
    # A retargeting click older than the click lookback (7 days).
    stale = "0" * 10 + "s" * 16
    conn = await asyncpg.connect(settings.database_url)
    try:
        await ensure_daily_partitions(conn, "links", "clicks", days_ahead=1, days_back=10)
        for click_id, age, verdict in ((invalid, "1 minute", 3), (stale, "8 days", 1)):
            await conn.execute(
                "INSERT INTO links.clicks (account_id, click_id, create_time, link_id, campaign_id, partner_id,"
                f" app_id, verdict) VALUES ($1, $2, now() - interval '{age}', $3, $4, $5, $6, $7)",
                account.account_id, click_id, rt.link_id, rt.campaign_id, rt.partner_id, app_id, verdict,
            )  # fmt: skip
    finally:
        await conn.close()
    # A retargeting click, opened by a device that has no install of the app.
    rt_click = await touch(gateway_links_stub, rt)
    await send(
        ingest_stub, opened(app_id, ua_click), opened(app_id, invalid), opened(app_id, stale),
        opened(app_id, rt_click, gaid=GAID2), opened(app_id, "not-a-click"),
        # Not an app open through a link: a click id in another action's properties.
        event(app_id, action="level_up", device={"gaid": GAID}, props={"click_id": rt_click}),
    )  # fmt: skip
    await drained(settings)
    assert await reattributions(attribution_stub) == []
    await send(ingest_stub, purchase(app_id, "5"))
    await drained(settings)
    assert (await by_price(attribution_stub))["5"].campaign_id == ua.campaign_id
    # The `reengage` action with the same retargeting click does re-engage the installed device.
    await send(ingest_stub, opened(app_id, rt_click, action="reengage"))
    await drained(settings)
    assert [r.campaign_id for r in await reattributions(attribution_stub)] == [rt.campaign_id]


async def test_a_reinstall_after_the_reinstall_window_is_re_attributed_inside_it_is_not(
    attribution_stub, attribution_server, ingest_server, ingest_stub, links_stub, gateway_links_stub, settings,
    account,
):  # fmt: skip
    app_id, ua, rt = await setup(attribution_stub, links_stub)
    await attribution_stub.settings.UpdateSettings(cpb.UpdateSettingsRequest(
        settings=cpb.AttributionSettings(reinstall_window=dur(DAY))
    ))  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    # Two devices installed organically: one 3 days ago (past the 1-day window), one 2 hours ago.
    await send(
        ingest_stub, event(app_id, "install", device={"gaid": GAID}, at=now - 3 * DAY),
        event(app_id, "install", device={"gaid": GAID2}, at=now - dt.timedelta(hours=2)),
    )  # fmt: skip
    await drained(settings)
    first = {i.gaid: i for i in await installs(attribution_stub)}
    assert {i.campaign_id for i in first.values()} == {""}

    # Both reinstall now through a click of the user-acquisition campaign (the store referrer's click id).
    c1, c2 = await touch(gateway_links_stub, ua), await touch(gateway_links_stub, ua)
    await send(
        ingest_stub, event(app_id, "install", click_id=c1, device={"gaid": GAID}),
        event(app_id, "install", click_id=c2, device={"gaid": GAID2}),
    )  # fmt: skip
    await drained(settings)
    # Still one install per device; the first device's reinstall is re-attributed.
    assert {i.install_id for i in await installs(attribution_stub)} == {i.install_id for i in first.values()}
    [row] = await reattributions(attribution_stub)
    assert (row.kind, row.install_id, row.campaign_id, row.click_id, row.match_type) == (
        rpb.REATTRIBUTION_KIND_RE_ATTRIBUTION, first[GAID].install_id, ua.campaign_id, c1, apb.MATCH_TYPE_CLICK_ID,
    )  # fmt: skip
    # Its purchases credit the campaign that brought the reinstall; the other device's stay organic.
    await send(ingest_stub, purchase(app_id, "7"), purchase(app_id, "8", gaid=GAID2))
    await drained(settings)
    got = await by_price(attribution_stub)
    assert (got["7"].campaign_id, got["7"].click_id, got["8"].campaign_id) == (ua.campaign_id, c1, "")

    # Inside the window a retargeting campaign's click still re-attributes the reinstall (AppsFlyer).
    c3 = await touch(gateway_links_stub, rt)
    await send(ingest_stub, event(app_id, "install", click_id=c3, device={"gaid": GAID2}))
    await drained(settings)
    rows = {r.install_id: r for r in await reattributions(attribution_stub)}
    assert (rows[first[GAID2].install_id].kind, rows[first[GAID2].install_id].campaign_id) == (
        rpb.REATTRIBUTION_KIND_RE_ATTRIBUTION, rt.campaign_id,
    )  # fmt: skip
    # A replay of everything changes nothing.
    before = sorted(r.reattribution_id for r in await reattributions(attribution_stub))
    await replay_all(settings, account.account_id)
    await drained(settings)
    assert sorted(r.reattribution_id for r in await reattributions(attribution_stub)) == before
    sent = [o for o in await outbound_events(settings, account.account_id) if o["kind"] == "reengagement"]
    assert sorted((o["event"], o["campaign_id"]) for o in sent) == sorted([
        ("re_attribution", rt.campaign_id), ("re_attribution", ua.campaign_id),
    ])  # fmt: skip


async def test_window_changes_apply_from_their_time_on(
    attribution_stub, attribution_server, ingest_server, ingest_stub, links_stub, gateway_links_stub, settings,
):  # fmt: skip
    app_id, ua, rt = await setup(attribution_stub, links_stub)
    install_click = await touch(gateway_links_stub, ua)
    await send(ingest_stub, event(app_id, "install", click_id=install_click, device={"gaid": GAID}))
    await drained(settings)
    early_click = await touch(gateway_links_stub, rt)
    before_change = dt.datetime.now(dt.UTC)
    resp = await attribution_stub.settings.UpdateSettings(cpb.UpdateSettingsRequest(
        settings=cpb.AttributionSettings(re_engagement_window=dur(dt.timedelta(hours=2)))
    ))  # fmt: skip
    assert resp.changed and resp.settings.effective_time.ToDatetime(tzinfo=dt.UTC) > before_change
    late_click = await touch(gateway_links_stub, rt)
    # An open timed before the change gets the window then in force (30 days); one after it, 2 hours.
    await send(ingest_stub, opened(app_id, early_click, at=before_change))
    await drained(settings)
    await send(ingest_stub, opened(app_id, late_click))
    await drained(settings)
    rows = {r.click_id: r for r in await reattributions(attribution_stub)}
    span = {k: r.window_end.ToDatetime() - r.event_time.ToDatetime() for k, r in rows.items()}
    assert span == {early_click: dt.timedelta(days=30), late_click: dt.timedelta(hours=2)}


async def test_settings_carry_the_retargeting_windows(attribution_stub, attribution_server):
    s = (await attribution_stub.settings.GetSettings(cpb.GetSettingsRequest())).settings
    assert s.re_engagement_window.ToTimedelta() == dt.timedelta(days=30)
    assert s.reinstall_window.ToTimedelta() == dt.timedelta(days=90)
    r = await attribution_stub.settings.UpdateSettings(cpb.UpdateSettingsRequest(
        settings=cpb.AttributionSettings(re_engagement_window=dur(7 * DAY), reinstall_window=dur(180 * DAY))
    ))  # fmt: skip
    assert (r.settings.re_engagement_window.ToTimedelta(), r.settings.reinstall_window.ToTimedelta()) == (
        7 * DAY, 180 * DAY,
    )  # fmt: skip
    assert r.settings.click_lookback.ToTimedelta() == 7 * DAY  # untouched
    [bp] = (await attribution_stub.settings.ListSettingsHistory(cpb.ListSettingsHistoryRequest())).breakpoints
    assert sorted(bp.changed_fields) == ["re_engagement_window", "reinstall_window"]
    for field, value, says in (
        ("re_engagement_window", dt.timedelta(minutes=30), "must be from 1h to 90d; got 30m"),
        ("reinstall_window", 800 * DAY, "must be from 1d to 730d; got 800d"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await attribution_stub.settings.UpdateSettings(cpb.UpdateSettingsRequest(
                settings=cpb.AttributionSettings(**{field: dur(value)})
            ))  # fmt: skip
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violations(err.value) == {f"settings.{field}": says}


async def test_erasing_the_person_clears_the_device_of_their_re_engagements(
    attribution_stub, attribution_server, ingest_server, ingest_stub, links_stub, gateway_links_stub, settings,
    account,
):  # fmt: skip
    from libs.privacy import Subject
    from services.attribution import privacy as attribution_privacy

    app_id, ua, rt = await setup(attribution_stub, links_stub)
    await send(ingest_stub, event(app_id, "install", click_id=await touch(gateway_links_stub, ua),
                                  device={"gaid": GAID}))  # fmt: skip
    await drained(settings)
    rt_click = await touch(gateway_links_stub, rt)
    await send(ingest_stub, opened(app_id, rt_click))
    await drained(settings)
    conn = await asyncpg.connect(settings.database_url)
    try:
        assert await conn.fetchval("SELECT device_key FROM attribution.reattributions") == f"gaid:{GAID}"
        who = Subject(set(), {GAID}, set(), "erased:p1")
        async with conn.transaction():
            found = await attribution_privacy.erase(conn, account.account_id, who, apply=True)
        # The retargeting click is the person's too: links erases it with the rest.
        assert rt_click in found.click_ids and found.rows["attribution.reattributions"] == 1
        [row] = await conn.fetch("SELECT device_key, reattribution_id FROM attribution.reattributions")
        assert row["device_key"] == f"erased:p1:{row['reattribution_id']}"
        async with conn.transaction():  # again: nothing left to find
            again = await attribution_privacy.erase(conn, account.account_id, who, apply=True)
        assert again.rows["attribution.reattributions"] == 0
    finally:
        await conn.close()
