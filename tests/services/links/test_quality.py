"""Traffic quality on the click path, through the real links service: the
verdict each kind of request gets, the settings, lists, overrules and flagged
sub-ids that steer it, and what a campaign does with invalid traffic."""

import asyncio
import time

import grpc
import pytest
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.links.v1 import links_pb2_grpc
from clicktrail.type.v1 import quality_pb2
from google.protobuf import duration_pb2, field_mask_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from libs.grpc_server import start_service
from services.links.server import SPEC as LINKS_SPEC
from tests.conftest import GATEWAY_TOKEN
from tests.services.links.conftest import ANDROID_UA, DESKTOP_UA, IPHONE_UA, make_setup

CLEAN = quality_pb2.VERDICT_CLEAN
SUSPICIOUS = quality_pb2.VERDICT_SUSPICIOUS
INVALID = quality_pb2.VERDICT_INVALID
# Meta's link-preview crawler, as it fetches every link posted on Facebook
# (developers.facebook.com/docs/sharing/webmasters/web-crawlers).
FACEBOOK_CRAWLER = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
GOOGLE_ADS_BOT = "AdsBot-Google (+http://www.google.com/adsbot.html)"
RESIDENTIAL_IP = "73.162.10.20"  # Comcast (AS7922), a home connection
DATACENTER_IP = "34.102.136.180"  # Google Cloud (AS396982)
IDFA = "6d92078a-8246-4ba4-ae5b-76104861e7dc"


def touch(slug, *, ip=RESIDENTIAL_IP, ua=ANDROID_UA, query=b"", purpose=""):
    return pb.TouchInput(slug=slug, raw_query=query, ip=ip, user_agent=ua, purpose=purpose)


async def clicks(stub, *inputs):
    return list((await stub.RecordClicks(pb.RecordClicksRequest(clicks=list(inputs)))).results)


async def click(stub, slug, **kw):
    return (await clicks(stub, touch(slug, **kw)))[0]


async def get(stub, click_id):
    return (await stub.GetClick(pb.GetClickRequest(click_id=click_id))).click


async def recorded(stub, internal, slug, **kw):
    r = await click(internal, slug, **kw)
    assert r.touch_id, r
    return await get(stub, r.touch_id)


def human_ua(n: int) -> str:
    """A different, ordinary phone browser per n (so only the IP repeats)."""
    return (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko)"
        f" Chrome/120.0.{n}.0 Mobile Safari/537.36"
    )


async def set_settings(stub, campaign_id="", **fields):
    s = pb.QualitySettings(campaign_id=campaign_id)
    paths = []
    for name, value in fields.items():
        if name == "checks":
            for code, on in value.items():
                s.checks[code] = on
                paths.append(f"checks.{code}")
        elif name.endswith("_window"):
            getattr(s, name).CopyFrom(duration_pb2.Duration(seconds=value))
            paths.append(name)
        else:
            setattr(s, name, value)
            paths.append(name)
    return await stub.UpdateQualitySettings(
        pb.UpdateQualitySettingsRequest(settings=s, update_mask=field_mask_pb2.FieldMask(paths=paths))
    )


async def add_entry(stub, list_, kind, value, note=""):
    return await stub.AddQualityListEntry(
        pb.AddQualityListEntryRequest(entry=pb.QualityListEntry(list=list_, kind=kind, value=value, note=note))
    )


async def set_action(stub, campaign_id, action):
    await stub.UpdateCampaign(pb.UpdateCampaignRequest(
        campaign=pb.Campaign(campaign_id=campaign_id, invalid_traffic_action=action),
        update_mask=field_mask_pb2.FieldMask(paths=["invalid_traffic_action"]),
    ))  # fmt: skip


def violations(err: grpc.aio.AioRpcError) -> str:
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err
    return err.details() or ""


# ---- the verdict ------------------------------------------------------------------


@pytest.mark.parametrize("ua", [FACEBOOK_CRAWLER, GOOGLE_ADS_BOT])
async def test_ad_platform_crawler_is_recorded_invalid(links_stub, gateway_links_stub, setup, ua):
    r = await click(gateway_links_stub, setup.link.slug, ua=ua)
    # Recorded and redirected as usual (the campaign's action is the default), but invalid.
    assert r.outcome == pb.TOUCH_OUTCOME_RECORDED and r.location.startswith("https://play.example/")
    assert r.verdict == INVALID
    c = await get(links_stub, r.touch_id)
    assert c.verdict == INVALID
    assert "bot_user_agent" in c.reasons


# A Cubot phone (device-detector's fixtures): its model name holds "bot", which ua-parser's
# device type reads as a bot; the verdict must not.
CUBOT_UA = (
    "Mozilla/5.0 (Linux; Android 10; Cubot X30) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/90.0.4430.210 Mobile Safari/537.36"
)


@pytest.mark.parametrize("ua", [ANDROID_UA, IPHONE_UA, DESKTOP_UA, CUBOT_UA])
async def test_human_on_a_home_connection_is_clean(links_stub, gateway_links_stub, setup, ua):
    c = await recorded(links_stub, gateway_links_stub, setup.link.slug, ua=ua)
    assert c.verdict == CLEAN
    assert list(c.reasons) == []


async def test_missing_user_agent_and_http_library(links_stub, gateway_links_stub, setup):
    c = await recorded(links_stub, gateway_links_stub, setup.link.slug, ua="")
    assert c.verdict == INVALID and "missing_user_agent" in c.reasons
    c = await recorded(links_stub, gateway_links_stub, setup.link.slug, ua="python-requests/2.31.0", ip="73.162.10.21")
    assert c.verdict == INVALID and "http_library" in c.reasons


async def test_data_centre_address_is_invalid(links_stub, gateway_links_stub, setup):
    c = await recorded(links_stub, gateway_links_stub, setup.link.slug, ip=DATACENTER_IP)
    assert c.verdict == INVALID
    assert "datacenter" in c.reasons
    c = await recorded(links_stub, gateway_links_stub, setup.link.slug, ip=RESIDENTIAL_IP, ua=IPHONE_UA)
    assert c.verdict == CLEAN


async def test_prefetch_is_suspicious(links_stub, gateway_links_stub, setup):
    c = await recorded(links_stub, gateway_links_stub, setup.link.slug, purpose="prefetch;prerender")
    assert c.verdict == SUSPICIOUS
    assert list(c.reasons) == ["prefetch"]


async def test_ip_flood_the_21st_click_is_invalid(links_stub, gateway_links_stub, setup):
    """Default: more than 20 clicks from one IP on a campaign inside an hour."""
    results = await clicks(gateway_links_stub, *(touch(setup.link.slug, ua=human_ua(n)) for n in range(21)))
    assert [r.verdict for r in results[:20]] == [CLEAN] * 20
    assert results[20].verdict == INVALID
    c = await get(links_stub, results[20].touch_id)
    assert list(c.reasons) == ["flood_ip"]
    # Another address on the same campaign is not affected.
    assert (await click(gateway_links_stub, setup.link.slug, ip="73.162.10.99")).verdict == CLEAN


async def test_flood_thresholds_per_campaign(links_stub, gateway_links_stub, setup):
    other = await make_setup(links_stub)
    await set_settings(links_stub, setup.campaign.campaign_id, flood_device_clicks=2)
    q = f"idfa={IDFA}".encode()
    got = [(await click(gateway_links_stub, setup.link.slug, ip=f"73.162.11.{n}", query=q)).verdict for n in range(3)]
    assert got == [CLEAN, CLEAN, INVALID]
    # The other campaign keeps the account's default (10 per device).
    got = [(await click(gateway_links_stub, other.link.slug, ip=f"73.162.12.{n}", query=q)).verdict for n in range(3)]
    assert got == [CLEAN] * 3


async def test_duplicate_same_ip_and_user_agent_on_one_link(links_stub, gateway_links_stub, setup):
    first, second = await clicks(gateway_links_stub, touch(setup.link.slug), touch(setup.link.slug))
    assert first.verdict == CLEAN
    assert second.verdict == INVALID
    assert list((await get(links_stub, second.touch_id)).reasons) == ["duplicate"]


async def test_checks_can_be_switched_off(links_stub, gateway_links_stub, setup):
    await set_settings(links_stub, checks={"bot_user_agent": False})
    c = await recorded(links_stub, gateway_links_stub, setup.link.slug, ua=FACEBOOK_CRAWLER)
    assert "bot_user_agent" not in c.reasons
    # A campaign can switch it back on for itself.
    await set_settings(links_stub, setup.campaign.campaign_id, checks={"bot_user_agent": True})
    c = await recorded(links_stub, gateway_links_stub, setup.link.slug, ua=FACEBOOK_CRAWLER, ip="73.162.10.30")
    assert "bot_user_agent" in c.reasons


async def test_blocked_network_and_user_agent(links_stub, gateway_links_stub, setup):
    await add_entry(links_stub, pb.QUALITY_LIST_BLOCK, pb.QUALITY_LIST_KIND_NETWORK, "73.170.0.0/16", "fraud ring")
    await add_entry(links_stub, pb.QUALITY_LIST_BLOCK, pb.QUALITY_LIST_KIND_USER_AGENT, "AcmeScraper")
    c = await recorded(links_stub, gateway_links_stub, setup.link.slug, ip="73.170.4.5")
    assert c.verdict == INVALID and list(c.reasons) == ["blocked_network"]
    c = await recorded(
        links_stub, gateway_links_stub, setup.link.slug, ua=ANDROID_UA + " AcmeScraper/2", ip="73.162.10.40"
    )
    assert c.verdict == INVALID and "blocked_user_agent" in c.reasons
    # Removed: clean again at once on this replica.
    await links_stub.RemoveQualityListEntry(pb.RemoveQualityListEntryRequest(
        list=pb.QUALITY_LIST_BLOCK, kind=pb.QUALITY_LIST_KIND_NETWORK, value="73.170.0.0/16",
    ))  # fmt: skip
    c = await recorded(links_stub, gateway_links_stub, setup.link.slug, ip="73.170.4.6")
    assert c.verdict == CLEAN


async def test_allow_list_exempts_an_office_from_network_and_user_agent_checks(links_stub, gateway_links_stub, setup):
    office = "34.102.0.0/16"  # the office's egress, in a cloud range
    await add_entry(links_stub, pb.QUALITY_LIST_ALLOW, pb.QUALITY_LIST_KIND_NETWORK, office, "office VPN")
    await add_entry(links_stub, pb.QUALITY_LIST_ALLOW, pb.QUALITY_LIST_KIND_USER_AGENT, "AcmeQA/")
    c = await recorded(links_stub, gateway_links_stub, setup.link.slug, ip=DATACENTER_IP, ua="curl/8.4.0")
    assert c.verdict == CLEAN, list(c.reasons)
    c = await recorded(links_stub, gateway_links_stub, setup.link.slug, ip="73.162.10.50", ua="AcmeQA/1.0 test-rig")
    assert c.verdict == CLEAN, list(c.reasons)
    # Outside the allow list the same request is invalid.
    c = await recorded(links_stub, gateway_links_stub, setup.link.slug, ip="35.190.0.1", ua="curl/8.4.0")
    assert c.verdict == INVALID


async def test_flagged_sub_id(links_stub, gateway_links_stub, setup):
    expire = Timestamp(seconds=int(time.time()) + 3600)
    resp = await links_stub.FlagSubIds(pb.FlagSubIdsRequest(sub_ids=[
        pb.FlaggedSubId(campaign_id=setup.campaign.campaign_id, sub_field="sub1", value="pub-9",
                        reason="4,210 clicks, 0 installs", expire_time=expire),
    ]))  # fmt: skip
    assert resp.flagged == 1
    c = await recorded(links_stub, gateway_links_stub, setup.link.slug, query=b"sub1=pub-9")
    assert c.verdict == SUSPICIOUS and list(c.reasons) == ["flood_sub_id"]
    c = await recorded(links_stub, gateway_links_stub, setup.link.slug, query=b"sub1=pub-10", ip="73.162.10.60")
    assert c.verdict == CLEAN
    listed = await links_stub.ListFlaggedSubIds(pb.ListFlaggedSubIdsRequest())
    assert [(f.sub_field, f.value, f.reason) for f in listed.sub_ids] == [("sub1", "pub-9", "4,210 clicks, 0 installs")]
    # Lifted: an expire_time in the past.
    await links_stub.FlagSubIds(pb.FlagSubIdsRequest(sub_ids=[
        pb.FlaggedSubId(campaign_id=setup.campaign.campaign_id, sub_field="subid", value="pub-9",
                        expire_time=Timestamp(seconds=int(time.time()) - 1)),
    ]))  # fmt: skip
    c = await recorded(links_stub, gateway_links_stub, setup.link.slug, query=b"sub1=pub-9", ip="73.162.10.61")
    assert c.verdict == CLEAN


async def test_flag_sub_ids_with_the_internal_token(links_server, internal_links_stub, links_stub, setup, account):
    md = (("x-account-id", account.account_id),)
    flags = pb.FlagSubIdsRequest(sub_ids=[
        pb.FlaggedSubId(campaign_id=setup.campaign.campaign_id, sub_field="sub2", value="site-1",
                        expire_time=Timestamp(seconds=int(time.time()) + 60)),
    ])  # fmt: skip
    await internal_links_stub.FlagSubIds(flags, metadata=md)
    listed = await links_stub.ListFlaggedSubIds(pb.ListFlaggedSubIdsRequest())
    assert [f.value for f in listed.sub_ids] == ["site-1"]
    # Without x-account-id the internal token acts for nobody.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await internal_links_stub.FlagSubIds(flags)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


# ---- what a campaign does with invalid traffic ---------------------------------------


async def test_invalid_traffic_action_fallback_and_block(links_stub, gateway_links_stub, setup):
    cid = setup.campaign.campaign_id
    await set_action(links_stub, cid, pb.INVALID_TRAFFIC_ACTION_FALLBACK)
    campaign = (await links_stub.GetCampaign(pb.GetCampaignRequest(campaign_id=cid))).campaign
    assert campaign.invalid_traffic_action == pb.INVALID_TRAFFIC_ACTION_FALLBACK
    r = await click(gateway_links_stub, setup.link.slug, ua=FACEBOOK_CRAWLER)
    assert (r.outcome, r.location, r.verdict) == (pb.TOUCH_OUTCOME_FALLBACK, "https://acme.example/fallback", INVALID)
    assert (await get(links_stub, r.touch_id)).verdict == INVALID  # recorded either way
    # A suspicious click is not invalid: redirected as usual.
    r = await click(gateway_links_stub, setup.link.slug, purpose="prefetch")
    assert r.outcome == pb.TOUCH_OUTCOME_RECORDED and r.location.startswith("https://play.example/")

    await set_action(links_stub, cid, pb.INVALID_TRAFFIC_ACTION_BLOCK)
    r = await click(gateway_links_stub, setup.link.slug, ua=FACEBOOK_CRAWLER, ip="73.162.10.70")
    assert (r.outcome, r.location, r.verdict) == (pb.TOUCH_OUTCOME_BLOCKED, "", INVALID)
    assert (await get(links_stub, r.touch_id)).verdict == INVALID
    r = await click(gateway_links_stub, setup.link.slug, ip="73.162.10.71")
    assert r.outcome == pb.TOUCH_OUTCOME_RECORDED and r.verdict == CLEAN

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await set_action(links_stub, cid, 9)
    assert "campaign.invalid_traffic_action" in violations(err.value)


# ---- settings ----------------------------------------------------------------------


async def test_settings_defaults_overrides_and_inheritance(links_stub, setup):
    got = await links_stub.GetQualitySettings(pb.GetQualitySettingsRequest())
    e = got.effective
    assert (e.flood_ip_clicks, e.flood_device_clicks, e.flood_ip_user_agent_clicks) == (20, 10, 10)
    assert (e.flood_window.seconds, e.duplicate_window.seconds) == (3600, 10)
    assert all(e.checks.values()) and "datacenter" in e.checks
    assert not got.settings.HasField("flood_ip_clicks")

    await set_settings(links_stub, flood_ip_clicks=50, checks={"prefetch": False})
    await set_settings(links_stub, setup.campaign.campaign_id, flood_ip_clicks=5, duplicate_window=30)
    got = await links_stub.GetQualitySettings(pb.GetQualitySettingsRequest(campaign_id=setup.campaign.campaign_id))
    assert got.settings.flood_ip_clicks == 5 and not got.settings.HasField("flood_device_clicks")
    assert got.effective.flood_ip_clicks == 5
    assert got.effective.duplicate_window.seconds == 30
    assert got.effective.checks["prefetch"] is False  # inherited from the account
    # A path named without a value goes back to inheriting.
    resp = await links_stub.UpdateQualitySettings(pb.UpdateQualitySettingsRequest(
        settings=pb.QualitySettings(campaign_id=setup.campaign.campaign_id),
        update_mask=field_mask_pb2.FieldMask(paths=["flood_ip_clicks"]),
    ))  # fmt: skip
    assert resp.effective.flood_ip_clicks == 50


@pytest.mark.parametrize(
    ("given", "paths", "field"),
    [
        (pb.QualitySettings(flood_ip_clicks=0), ["flood_ip_clicks"], "settings.flood_ip_clicks"),
        (pb.QualitySettings(flood_device_clicks=-3), ["flood_device_clicks"], "settings.flood_device_clicks"),
        (pb.QualitySettings(flood_ip_user_agent_clicks=10**9), [], "settings.flood_ip_user_agent_clicks"),
        (pb.QualitySettings(flood_window=duration_pb2.Duration(seconds=86400 * 30)), [], "settings.flood_window"),
        (pb.QualitySettings(duplicate_window=duration_pb2.Duration(nanos=5)), [], "settings.duplicate_window"),
        (pb.QualitySettings(checks={"no_such_check": False}), [], "settings.checks[no_such_check]"),
        (pb.QualitySettings(), ["checks.nope"], "update_mask"),
        (pb.QualitySettings(), [], "update_mask"),
    ],
)
async def test_settings_are_validated(links_stub, given, paths, field):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await links_stub.UpdateQualitySettings(
            pb.UpdateQualitySettingsRequest(settings=given, update_mask=field_mask_pb2.FieldMask(paths=paths))
        )
    assert violations(err.value).startswith(field)


async def test_settings_of_another_accounts_campaign_are_not_found(links_stub, new_account, links_server, channels):
    other = await new_account("Other")
    other_stub = links_pb2_grpc.LinksServiceStub(channels(links_server.addr, token=other.api_key))
    theirs = await make_setup(other_stub)
    for call in (
        links_stub.GetQualitySettings(pb.GetQualitySettingsRequest(campaign_id=theirs.campaign.campaign_id)),
        set_settings(links_stub, theirs.campaign.campaign_id, flood_ip_clicks=3),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_change_reaches_another_replica_within_seconds(links_stub, gateway_links_stub, setup, settings):
    """Two links processes on one database: a change made through one applies to
    the other's clicks within its cache TTL (2 s)."""
    other = await start_service(LINKS_SPEC, settings, listen="127.0.0.1:0")
    try:
        from libs.grpc_client import make_channel

        async with make_channel(other.addr, token=GATEWAY_TOKEN) as ch:
            replica = links_pb2_grpc.LinksServiceStub(ch)
            r = await click(replica, setup.link.slug, ua=FACEBOOK_CRAWLER)
            assert r.verdict == INVALID  # caches the account's settings on that replica
            await set_settings(links_stub, checks={"bot_user_agent": False})
            start = time.monotonic()
            n = 0
            while True:
                n += 1
                r = await click(replica, setup.link.slug, ua=FACEBOOK_CRAWLER, ip=f"73.162.13.{n}")
                if r.verdict == CLEAN:
                    break
                assert time.monotonic() - start < 3.5, "the replica still applies the old settings"
                await asyncio.sleep(0.2)
    finally:
        await other.stop(grace=1.0)


# ---- lists ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (pb.QUALITY_LIST_KIND_NETWORK, "10.0.0.0/33"),
        (pb.QUALITY_LIST_KIND_NETWORK, "300.1.2.3"),
        (pb.QUALITY_LIST_KIND_NETWORK, "ASfoo"),
        (pb.QUALITY_LIST_KIND_NETWORK, ""),
        (pb.QUALITY_LIST_KIND_USER_AGENT, "Bot\tName"),
        (pb.QUALITY_LIST_KIND_USER_AGENT, "x" * 300),
        (pb.QUALITY_LIST_KIND_USER_AGENT, "  "),
    ],
)
async def test_malformed_list_values_are_refused(links_stub, kind, value):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await add_entry(links_stub, pb.QUALITY_LIST_BLOCK, kind, value)
    assert violations(err.value).startswith("entry.value")
    listed = await links_stub.ListQualityListEntries(pb.ListQualityListEntriesRequest())
    assert list(listed.entries) == []


async def test_list_entries_normalised_idempotent_and_paged(links_stub):
    first = await add_entry(links_stub, pb.QUALITY_LIST_BLOCK, pb.QUALITY_LIST_KIND_NETWORK, "as13335")
    assert first.created and first.entry.value == "AS13335"
    again = await add_entry(links_stub, pb.QUALITY_LIST_BLOCK, pb.QUALITY_LIST_KIND_NETWORK, "AS13335")
    assert not again.created
    for n in range(4):
        await add_entry(links_stub, pb.QUALITY_LIST_BLOCK, pb.QUALITY_LIST_KIND_NETWORK, f"203.0.113.{n}/32")
    await add_entry(links_stub, pb.QUALITY_LIST_ALLOW, pb.QUALITY_LIST_KIND_USER_AGENT, "AcmeQA")
    seen, token = [], ""
    while True:
        page = await links_stub.ListQualityListEntries(
            pb.ListQualityListEntriesRequest(list=pb.QUALITY_LIST_BLOCK, page_size=2, page_token=token)
        )
        seen += [e.value for e in page.entries]
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == 5 and "AS13335" in seen
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await links_stub.RemoveQualityListEntry(pb.RemoveQualityListEntryRequest(
            list=pb.QUALITY_LIST_ALLOW, kind=pb.QUALITY_LIST_KIND_NETWORK, value="AS13335",
        ))  # fmt: skip
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


# ---- overrules, filters, look-ups ----------------------------------------------------


async def test_overrule_a_verdict(links_stub, gateway_links_stub, setup, new_account, links_server, channels):
    bot = await click(gateway_links_stub, setup.link.slug, ua=FACEBOOK_CRAWLER)
    resp = await links_stub.OverruleTouchVerdict(
        pb.OverruleTouchVerdictRequest(click_id=bot.touch_id, verdict=CLEAN, note="our own preview test")
    )
    assert resp.overrule.previous_verdict == INVALID and resp.overrule.verdict == CLEAN
    assert resp.overrule.click_id == bot.touch_id and resp.overrule.note == "our own preview test"
    c = await get(links_stub, bot.touch_id)
    assert c.verdict == CLEAN
    assert "operator" in c.reasons and "bot_user_agent" in c.reasons  # why it was flagged stays visible
    listed = await links_stub.ListClicks(pb.ListClicksRequest(reason="operator"))
    assert [x.click_id for x in listed.clicks] == [bot.touch_id]

    imp = (await gateway_links_stub.RecordImpressions(
        pb.RecordImpressionsRequest(impressions=[touch(setup.link.slug, ip="73.162.10.80")])
    )).results[0]  # fmt: skip
    resp = await links_stub.OverruleTouchVerdict(
        pb.OverruleTouchVerdictRequest(impression_id=imp.touch_id, verdict=INVALID)
    )
    assert resp.impression.verdict == INVALID and resp.overrule.impression_id == imp.touch_id

    # Another account's touch, an unknown id, and bad input.
    other = await new_account("Other")
    other_stub = links_pb2_grpc.LinksServiceStub(channels(links_server.addr, token=other.api_key))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await other_stub.OverruleTouchVerdict(pb.OverruleTouchVerdictRequest(click_id=bot.touch_id, verdict=INVALID))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert (await get(links_stub, bot.touch_id)).verdict == CLEAN
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await links_stub.OverruleTouchVerdict(pb.OverruleTouchVerdictRequest(click_id="nope", verdict=INVALID))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await links_stub.OverruleTouchVerdict(pb.OverruleTouchVerdictRequest(click_id=bot.touch_id))
    assert violations(err.value).startswith("verdict")


async def test_list_filters_by_verdict_and_reason(links_stub, gateway_links_stub, setup):
    clean = await click(gateway_links_stub, setup.link.slug)
    bot = await click(gateway_links_stub, setup.link.slug, ua=FACEBOOK_CRAWLER, ip="73.162.10.90")
    pre = await click(gateway_links_stub, setup.link.slug, purpose="prefetch", ip="73.162.10.91")

    async def ids(**kw):
        return [c.click_id for c in (await links_stub.ListClicks(pb.ListClicksRequest(**kw))).clicks]

    assert await ids(verdict=INVALID) == [bot.touch_id]
    assert await ids(verdict=SUSPICIOUS) == [pre.touch_id]
    assert await ids(verdict=CLEAN) == [clean.touch_id]
    assert await ids(reason="prefetch") == [pre.touch_id]
    assert await ids(reason="bot_user_agent", campaign_id=setup.campaign.campaign_id) == [bot.touch_id]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await ids(reason="robots")
    assert violations(err.value).startswith("reason")


async def test_lookups_carry_the_verdict_for_attribution(links_stub, gateway_links_stub, setup):
    bot = await click(gateway_links_stub, setup.link.slug, ua=FACEBOOK_CRAWLER, query=f"gaid={IDFA}".encode())
    now = int(time.time())
    got = await links_stub.LookupTouches(pb.LookupTouchesRequest(lookups=[
        pb.TouchLookup(click_id=bot.touch_id),
        pb.TouchLookup(device_id=IDFA, start_time=Timestamp(seconds=now - 60), end_time=Timestamp(seconds=now + 60)),
    ]))  # fmt: skip
    for result in got.results:
        (c,) = result.clicks
        assert c.verdict == INVALID and "bot_user_agent" in c.reasons
