"""Apple Ads attribution (AdServices) with a real links, ingest and attribution
service and a real HTTP stand-in for Apple's attribution API
(tests/support/apple_ads_standin.py, which cites Apple's documentation of the
answers it gives): the ranking against the other matches, the retry on 404, an
invalid token refused with its reason, conversions following the install to the
Apple Ads campaign, and nothing stored twice on replay."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

import asyncpg
import orjson
import pytest
from clicktrail.attribution.v1 import apple_ads_pb2 as pb
from clicktrail.attribution.v1 import apple_ads_pb2_grpc
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.ingest.v1 import ingest_pb2 as ipb
from clicktrail.links.v1 import links_pb2 as lpb

from libs.queue import enqueue
from services.attribution.apple_ads import APPLE_ADS_QUEUE
from tests.services.attribution.engine_support import (
    Campaign,
    checks_off,
    conversions,
    drained,
    installs,
    make_campaign,
    replay_all,
    send,
    touch,
)
from tests.support import apple_ads_standin as apple
from tests.support.apple_ads_standin import AppleAdsStandin
from tests.support.wait import wait_until

IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
)
MATCH_CLICK_ID, MATCH_FINGERPRINT, MATCH_ORGANIC, MATCH_APPLE_ADS = 1, 3, 4, 5


@pytest.fixture
def settings(settings, standin):
    """The attribution service asks the stand-in, and a 404 is asked again 0.2 s later."""
    return dataclasses.replace(settings, apple_ads_url=standin.url, apple_ads_retry_s=0.2)


@pytest.fixture
def apple_stub(attribution_stub) -> apple_ads_pb2_grpc.AppleAdsServiceStub:
    return apple_ads_pb2_grpc.AppleAdsServiceStub(attribution_stub.channel)


@dataclasses.dataclass
class Setup:
    app_id: str
    apple: Campaign  # the Apple Ads partner's campaign Apple's campaign 542370539 is mapped to
    default: Campaign  # the Apple Ads partner's default campaign
    network: Campaign  # another network's campaign (clicks, fingerprints)


async def make_ios_app(links_stub: Any) -> str:
    app = await links_stub.CreateApp(
        lpb.CreateAppRequest(app=lpb.App(name="Game", platform=lpb.PLATFORM_IOS, bundle_id="com.acme.game"))
    )
    return str(app.app.app_id)


async def apple_campaign(links_stub: Any, app_id: str, partner_id: str, name: str) -> Campaign:
    campaign = (await links_stub.CreateCampaign(lpb.CreateCampaignRequest(campaign=lpb.Campaign(
        name=name, partner_id=partner_id, app_id=app_id, status=lpb.CAMPAIGN_STATUS_ACTIVE,
    )))).campaign  # fmt: skip
    return Campaign(app_id, partner_id, campaign.campaign_id, "", "")


@pytest.fixture
async def setup(links_stub, attribution_stub, apple_stub) -> Setup:
    # The installs here come milliseconds after their clicks, which is what click injection looks like.
    await checks_off(attribution_stub, "click_injection")
    app_id = await make_ios_app(links_stub)
    partner = (await links_stub.CreatePartner(lpb.CreatePartnerRequest(partner=lpb.Partner(name="Apple Ads")))).partner
    mapped = await apple_campaign(links_stub, app_id, partner.partner_id, "ASA brand")
    default = await apple_campaign(links_stub, app_id, partner.partner_id, "ASA other")
    network = await make_campaign(links_stub, app_id, "Network")
    await apple_stub.UpdateAppleAdsSettings(pb.UpdateAppleAdsSettingsRequest(settings=pb.AppleAdsSettings(
        enabled=True, partner_id=partner.partner_id, default_campaign_id=default.campaign_id,
    )))  # fmt: skip
    await apple_stub.CreateAppleAdsMapping(pb.CreateAppleAdsMappingRequest(
        mapping=pb.AppleAdsMapping(apple_campaign_id=apple.CAMPAIGN_ID, campaign_id=mapped.campaign_id)
    ))  # fmt: skip
    await attribution_stub.goals.CreateGoal(
        cpb.CreateGoalRequest(
            goal=cpb.Goal(
                name="Purchase", kind=cpb.GOAL_KIND_PURCHASE, event="purchase", occurrence=cpb.OCCURRENCE_EVERY
            )
        )
    )
    return Setup(app_id, mapped, default, network)


def ios_event(app_id: str, kind: str, *, idfv: str, **kw: Any) -> ipb.Event:
    props = kw.pop("props", None)
    ev = ipb.Event(
        uuid=str(uuid.uuid4()), event="EVENT_TYPE_" + kind.upper(), app_id=app_id, session_id="s-1",
        device=ipb.Device(platform=ipb.DEVICE_PLATFORM_IOS, idfv=idfv), user_agent=IPHONE_UA,
        action_properties_json=orjson.dumps(props).decode() if props is not None else "", **kw,
    )  # fmt: skip
    ev.timestamp.FromDatetime(dt.datetime.now(dt.UTC))
    return ev


async def resolved(settings: Any, apple_stub: Any, install_id: str) -> pb.AppleAdsLookup:
    """Waits until the install's token is resolved (its lookup row and no job left)."""
    conn = await asyncpg.connect(settings.database_url)
    try:

        async def done() -> pb.AppleAdsLookup:
            left = await conn.fetchval("SELECT count(*) FROM queue.jobs WHERE queue = $1 AND NOT dead", APPLE_ADS_QUEUE)
            found = (await apple_stub.ListAppleAdsLookups(pb.ListAppleAdsLookupsRequest(install_id=install_id))).lookups
            assert found and left == 0, (list(found), left)
            return found[0]

        return await wait_until(done, f"install {install_id} resolved with Apple", timeout_s=60)
    finally:
        await conn.close()


async def install_of(stubs: Any, event_uuid: str) -> Any:
    return next(i for i in await installs(stubs) if i.event_uuid == event_uuid)


async def test_a_fingerprint_install_is_credited_to_apple_ads_and_its_conversions_follow(
    setup: Setup, standin: AppleAdsStandin, links_stub: Any, gateway_links_stub: Any, ingest_stub: Any,
    attribution_stub: Any, apple_stub: Any, settings: Any, account: Any,
) -> None:  # fmt: skip
    token = standin.answer("tok-fingerprint", apple.attributed())
    await touch(gateway_links_stub, setup.network, ip="81.2.69.142", ua=IPHONE_UA)
    install = ios_event(setup.app_id, "install", idfv=str(uuid.uuid4()), ip="81.2.69.142", adservices_token=token,
                        user_id="player-1")  # fmt: skip
    # A purchase in the same batch: credited through the install's (fingerprint) touch first.
    purchase = ios_event(setup.app_id, "track", idfv=install.device.idfv, ip="81.2.69.142", action="purchase",
                         user_id="player-1", props={"revenue": "4.99", "currency": "USD"})  # fmt: skip
    await send(ingest_stub, install, purchase)
    await drained(settings)
    i = await install_of(attribution_stub, install.uuid)
    lookup = await resolved(settings, apple_stub, i.install_id)

    assert lookup.outcome == pb.APPLE_ADS_OUTCOME_CREDITED, lookup
    assert (lookup.previous_match_type, lookup.previous_campaign_id) == (MATCH_FINGERPRINT, setup.network.campaign_id)
    assert (lookup.campaign_id, lookup.apple_campaign_id, lookup.org_id) == (
        setup.apple.campaign_id, apple.CAMPAIGN_ID, apple.ORG_ID)  # fmt: skip
    assert (lookup.keyword_id, lookup.ad_group_id, lookup.conversion_type) == (
        apple.KEYWORD_ID, apple.AD_GROUP_ID, "Download")  # fmt: skip
    assert lookup.click_time.ToDatetime(tzinfo=dt.UTC) == dt.datetime(2026, 12, 6, 10, 17, tzinfo=dt.UTC)
    assert standin.calls == [(token, "text/plain")]  # the token as Apple wants it: the text/plain body

    i = await install_of(attribution_stub, install.uuid)
    assert (i.match_type, i.campaign_id, i.partner_id, i.click_id) == (
        MATCH_APPLE_ADS, setup.apple.campaign_id, setup.apple.partner_id, "")  # fmt: skip
    assert (i.apple_ads_campaign_id, i.apple_ads_keyword_id) == (apple.CAMPAIGN_ID, apple.KEYWORD_ID)
    conn = await asyncpg.connect(settings.database_url)
    try:
        row = await conn.fetchrow(
            "SELECT apple_ads_org_id, apple_ads_campaign_id, apple_ads_ad_group_id, apple_ads_keyword_id,"
            " apple_ads_ad_id, update_time > create_time AS bumped FROM attribution.installs"
            " WHERE account_id = $1 AND install_id = $2",
            account.account_id, i.install_id,
        )  # fmt: skip
    finally:
        await conn.close()
    assert tuple(row) == (apple.ORG_ID, apple.CAMPAIGN_ID, apple.AD_GROUP_ID, apple.KEYWORD_ID, apple.AD_ID, True)

    # The purchase credited through the fingerprint moved with the install; a later one goes to Apple Ads too.
    [moved] = await conversions(attribution_stub)
    assert (moved.campaign_id, moved.partner_id, moved.click_id) == (
        setup.apple.campaign_id, setup.apple.partner_id, "")  # fmt: skip
    assert lookup.conversions_moved == 1
    later = ios_event(setup.app_id, "track", idfv=install.device.idfv, ip="81.2.69.142", action="purchase",
                      user_id="player-1", props={"revenue": "1.99", "currency": "USD"})  # fmt: skip
    await send(ingest_stub, later)
    await drained(settings)
    got = {c.event_uuid: c for c in await conversions(attribution_stub)}
    assert (got[later.uuid].campaign_id, got[later.uuid].partner_id, got[later.uuid].click_id) == (
        setup.apple.campaign_id, setup.apple.partner_id, "")  # fmt: skip


async def test_a_click_id_match_outranks_apple_ads_and_an_organic_install_is_taken(
    setup: Setup, standin: AppleAdsStandin, gateway_links_stub: Any, ingest_stub: Any, attribution_stub: Any,
    apple_stub: Any, settings: Any,
) -> None:  # fmt: skip
    clicked = standin.answer("tok-clicked", apple.attributed())
    organic = standin.answer("tok-organic", apple.attributed(999, click_date=None))  # not mapped: the default
    click_id = await touch(gateway_links_stub, setup.network, ip="81.2.69.10", ua=IPHONE_UA)
    by_click = ios_event(setup.app_id, "install", idfv=str(uuid.uuid4()), click_id=click_id, adservices_token=clicked)
    alone = ios_event(setup.app_id, "install", idfv=str(uuid.uuid4()), ip="81.2.69.77", adservices_token=organic)
    await send(ingest_stub, by_click, alone)
    await drained(settings)
    lookup = await resolved(settings, apple_stub, (await install_of(attribution_stub, alone.uuid)).install_id)
    assert lookup.outcome == pb.APPLE_ADS_OUTCOME_CREDITED
    assert (lookup.previous_match_type, lookup.campaign_id) == (MATCH_ORGANIC, setup.default.campaign_id)
    assert not lookup.HasField("click_time")  # the standard payload (no tracking consent) has no click date
    i = await install_of(attribution_stub, alone.uuid)
    assert (i.match_type, i.campaign_id) == (MATCH_APPLE_ADS, setup.default.campaign_id)

    # The click-id install is never sent to Apple and keeps its click.
    c = await install_of(attribution_stub, by_click.uuid)
    assert (c.match_type, c.campaign_id, c.click_id) == (MATCH_CLICK_ID, setup.network.campaign_id, click_id)
    assert standin.calls_of(clicked) == 0
    listed = (await apple_stub.ListAppleAdsLookups(pb.ListAppleAdsLookupsRequest(install_id=c.install_id))).lookups
    assert list(listed) == []


async def test_not_ready_is_asked_again_and_errors_are_recorded_with_their_reason(
    setup: Setup, standin: AppleAdsStandin, ingest_stub: Any, attribution_stub: Any, apple_stub: Any, settings: Any,
) -> None:  # fmt: skip
    later = standin.answer("tok-later", apple.NOT_READY, apple.NOT_READY, apple.attributed())
    never = standin.answer("tok-never", apple.NOT_READY)
    bad = standin.answer("tok-bad", apple.INVALID)
    no = standin.answer("tok-no", apple.NOT_ATTRIBUTED)
    unmapped = standin.answer("tok-unmapped", apple.attributed(777))
    events = {t: ios_event(setup.app_id, "install", idfv=str(uuid.uuid4()), adservices_token=t)
              for t in (later, never, bad, no)}  # fmt: skip
    await send(ingest_stub, *events.values())
    await drained(settings)
    ids = {t: (await install_of(attribution_stub, e.uuid)).install_id for t, e in events.items()}
    got = {t: await resolved(settings, apple_stub, ids[t]) for t in events}

    assert got[later].outcome == pb.APPLE_ADS_OUTCOME_CREDITED
    assert (got[later].attempts, standin.calls_of(later)) == (3, 3)
    assert got[never].outcome == pb.APPLE_ADS_OUTCOME_NOT_FOUND
    assert standin.calls_of(never) == 4  # the first ask and Apple's three retries
    assert "404" in got[never].reason
    assert got[bad].outcome == pb.APPLE_ADS_OUTCOME_INVALID_TOKEN
    assert got[bad].reason == "Apple answered HTTP 400: The attribution token is invalid or expired."
    assert (got[bad].http_status, standin.calls_of(bad)) == (400, 1)  # never retried
    assert got[no].outcome == pb.APPLE_ADS_OUTCOME_NOT_ATTRIBUTED
    for t in (never, bad, no):  # the install keeps its match
        i = await install_of(attribution_stub, events[t].uuid)
        assert (i.match_type, i.campaign_id) == (MATCH_ORGANIC, "")
    listed = await apple_stub.ListAppleAdsLookups(
        pb.ListAppleAdsLookupsRequest(outcome=pb.APPLE_ADS_OUTCOME_INVALID_TOKEN)
    )
    assert [lk.install_id for lk in listed.lookups] == [ids[bad]]

    # No mapping and no default campaign: the install keeps its match, the Apple ids are recorded.
    await apple_stub.UpdateAppleAdsSettings(pb.UpdateAppleAdsSettingsRequest(
        settings=pb.AppleAdsSettings(default_campaign_id=""), update_mask={"paths": ["default_campaign_id"]},
    ))  # fmt: skip
    ev = ios_event(setup.app_id, "install", idfv=str(uuid.uuid4()), adservices_token=unmapped)
    await send(ingest_stub, ev)
    await drained(settings)
    i = await install_of(attribution_stub, ev.uuid)
    lookup = await resolved(settings, apple_stub, i.install_id)
    assert lookup.outcome == pb.APPLE_ADS_OUTCOME_RECORDED and "not mapped" in lookup.reason
    conn = await asyncpg.connect(settings.database_url)
    try:
        row = await conn.fetchrow(
            "SELECT match_type, campaign_id, apple_ads_campaign_id FROM attribution.installs WHERE install_id = $1",
            i.install_id,
        )
    finally:
        await conn.close()
    assert tuple(row) == (MATCH_ORGANIC, None, 777)


async def test_apple_down_is_retried_and_a_replay_changes_nothing(
    setup: Setup, standin: AppleAdsStandin, ingest_stub: Any, attribution_stub: Any, apple_stub: Any, settings: Any,
    account: Any,
) -> None:  # fmt: skip
    token = standin.answer("tok-down", apple.DOWN, apple.attributed())
    ev = ios_event(setup.app_id, "install", idfv=str(uuid.uuid4()), adservices_token=token)
    await send(ingest_stub, ev)
    await drained(settings)
    i = await install_of(attribution_stub, ev.uuid)
    lookup = await resolved(settings, apple_stub, i.install_id)
    assert lookup.outcome == pb.APPLE_ADS_OUTCOME_CREDITED and standin.calls_of(token) == 2

    conn = await asyncpg.connect(settings.database_url)
    try:
        before = await conn.fetchrow("SELECT * FROM attribution.installs WHERE install_id = $1", i.install_id)
        outbound = "SELECT count(*) FROM queue.jobs WHERE queue = 'postbacks.events'"
        queued = await conn.fetchval(outbound)
        # The events handed again (a redelivered job) and the Apple job itself replayed.
        await replay_all(settings, account.account_id)
        async with conn.transaction():
            payload = orjson.dumps({"install_id": i.install_id, "token": token})
            await enqueue(conn, APPLE_ADS_QUEUE, [payload], account_ids=[account.account_id])
        await drained(settings)

        async def apple_queue_empty() -> bool:
            return await conn.fetchval("SELECT count(*) FROM queue.jobs WHERE queue = $1", APPLE_ADS_QUEUE) == 0

        await wait_until(apple_queue_empty, "the replayed Apple job done")
        after = await conn.fetchrow("SELECT * FROM attribution.installs WHERE install_id = $1", i.install_id)
        assert dict(after) == dict(before)
        assert await conn.fetchval("SELECT count(*) FROM attribution.apple_ads_lookups") == 1
        assert await conn.fetchval(outbound) == queued  # no outbound event twice
    finally:
        await conn.close()
    assert standin.calls_of(token) == 2  # Apple was not asked again
    assert len(await installs(attribution_stub)) == 1


async def test_a_disabled_account_sends_no_token_to_apple(
    setup: Setup, standin: AppleAdsStandin, ingest_stub: Any, attribution_stub: Any, apple_stub: Any, settings: Any,
) -> None:  # fmt: skip
    await apple_stub.UpdateAppleAdsSettings(pb.UpdateAppleAdsSettingsRequest(
        settings=pb.AppleAdsSettings(enabled=False), update_mask={"paths": ["enabled"]},
    ))  # fmt: skip
    token = standin.answer("tok-off", apple.attributed())
    ev = ios_event(setup.app_id, "install", idfv=str(uuid.uuid4()), adservices_token=token)
    await send(ingest_stub, ev)
    await drained(settings)
    conn = await asyncpg.connect(settings.database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM queue.jobs WHERE queue = $1", APPLE_ADS_QUEUE) == 0
    finally:
        await conn.close()
    assert standin.calls == [] and (await install_of(attribution_stub, ev.uuid)).match_type == MATCH_ORGANIC
