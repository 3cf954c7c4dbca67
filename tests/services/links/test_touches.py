"""RecordClicks / RecordImpressions, touch look-ups and listing."""

import asyncio
import time
from urllib.parse import parse_qs, urlsplit

import grpc
import pytest
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.links.v1 import links_pb2_grpc
from google.protobuf import field_mask_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from tests.services.links.conftest import ANDROID_UA, DESKTOP_UA, IPHONE_UA, make_setup

IDFA = "6D92078A-8246-4BA4-AE5B-76104861E7DC"
GAID = "38400000-8cf0-11bd-b23e-10b96e40000d"


async def click(stub, slug, query=b"", ip="8.8.8.8", ua=ANDROID_UA, referrer=""):
    res = await stub.RecordClicks(
        pb.RecordClicksRequest(
            clicks=[pb.TouchInput(slug=slug, raw_query=query, ip=ip, user_agent=ua, referrer=referrer)]
        )
    )
    return res.results[0]


def window(seconds=3600):
    now = int(time.time())
    return Timestamp(seconds=now - seconds), Timestamp(seconds=now + seconds)


async def test_click_is_enriched_and_redirect_filled(gateway_links_stub, links_stub, setup):
    r = await click(
        gateway_links_stub, setup.link.slug,
        b"sub1=spring%20sale&subid=ignored&source=fb&sub10=z&clickid=NET-42&idfa=" + IDFA.encode() + b"&utm_x=1",
        referrer="https://pub.example/page",
    )  # fmt: skip
    assert r.outcome == pb.TOUCH_OUTCOME_RECORDED
    q = parse_qs(urlsplit(r.location).query)
    assert q == {"id": ["com.acme"], "cid": [r.touch_id], "s1": ["spring sale"]}
    c = (await links_stub.GetClick(pb.GetClickRequest(click_id=r.touch_id))).click
    assert (c.link_id, c.campaign_id, c.partner_id, c.app_id) == (
        setup.link.link_id, setup.campaign.campaign_id, setup.partner.partner_id, setup.app.app_id,
    )  # fmt: skip
    assert (c.country, c.os, c.os_version, c.browser, c.device_type) == (
        "US",
        "Android",
        "14",
        "Chrome",
        pb.DEVICE_TYPE_MOBILE,
    )
    assert (c.sub1, c.sub2, c.sub10, c.partner_click_id, c.idfa) == ("spring sale", "fb", "z", "NET-42", IDFA.lower())
    assert c.ip == "8.8.8.8" and c.referrer == "https://pub.example/page" and c.user_agent == ANDROID_UA
    assert dict(c.params) == {"utm_x": "1"}


async def test_click_id_is_appended_when_the_template_lacks_it(gateway_links_stub, links_stub):
    s = await make_setup(links_stub, destination="https://offer.example/land?aff=7#top")
    r = await click(gateway_links_stub, s.link.slug)
    assert r.location == f"https://offer.example/land?aff=7&click_id={r.touch_id}#top"


async def test_smart_link_picks_the_platform_destination(gateway_links_stub, links_stub):
    s = await make_setup(
        links_stub, destination="https://site.example/?c={click_id}",
        ios_url="https://apps.apple.com/app/id1?c={click_id}", android_url="https://play.google.com/store/apps/details?id=x&c={click_id}",
    )  # fmt: skip
    assert (await click(gateway_links_stub, s.link.slug, ua=IPHONE_UA)).location.startswith("https://apps.apple.com/")
    assert (await click(gateway_links_stub, s.link.slug, ua=ANDROID_UA)).location.startswith("https://play.google.com/")
    assert (await click(gateway_links_stub, s.link.slug, ua=DESKTOP_UA)).location.startswith("https://site.example/")
    assert (await click(gateway_links_stub, s.link.slug, ua="")).location.startswith("https://site.example/")


async def test_unknown_slug_and_paused_campaign(gateway_links_stub, links_stub, setup):
    assert (await click(gateway_links_stub, "nope")).outcome == pb.TOUCH_OUTCOME_NOT_FOUND
    cid = setup.campaign.campaign_id
    m = field_mask_pb2.FieldMask(paths=["status"])
    for status in (pb.CAMPAIGN_STATUS_ACTIVE, pb.CAMPAIGN_STATUS_PAUSED):
        await links_stub.UpdateCampaign(
            pb.UpdateCampaignRequest(campaign=pb.Campaign(campaign_id=cid, status=status), update_mask=m)
        )
    r = await click(gateway_links_stub, setup.link.slug, b"url=https://evil.test/")
    assert (r.outcome, r.location, r.touch_id) == (pb.TOUCH_OUTCOME_FALLBACK, "https://acme.example/fallback", "")
    assert not (await links_stub.ListClicks(pb.ListClicksRequest(campaign_id=cid))).clicks
    await links_stub.UpdateCampaign(
        pb.UpdateCampaignRequest(
            campaign=pb.Campaign(campaign_id=cid, fallback_url=""),
            update_mask=field_mask_pb2.FieldMask(paths=["fallback_url"]),
        )
    )
    r = await click(gateway_links_stub, setup.link.slug)
    assert (r.outcome, r.location) == (pb.TOUCH_OUTCOME_FALLBACK, "")
    await links_stub.UpdateCampaign(
        pb.UpdateCampaignRequest(campaign=pb.Campaign(campaign_id=cid, status=pb.CAMPAIGN_STATUS_ACTIVE), update_mask=m)
    )
    assert (await click(gateway_links_stub, setup.link.slug)).outcome == pb.TOUCH_OUTCOME_RECORDED


@pytest.mark.parametrize(
    ("query", "ip", "ua"),
    [
        (b"sub1=%ff%fe%00bad&sub2=\xff\xfe", "8.8.8.8", ANDROID_UA),  # non-UTF-8 and NUL
        (b"sub1=" + b"x" * 256 + b"&" + b"&".join(b"p%d=v" % i for i in range(63)), "8.8.8.8", ANDROID_UA),
        (b"", "2001:4860:4860::8888", ""),  # IPv6, no User-Agent
        (b"", "not-an-ip", "\x00" * 3000),
        (b"idfa=garbage&gaid=00000000-0000-0000-0000-000000000000", "", "curl/8"),
    ],
)
async def test_odd_input_is_recorded_not_refused(gateway_links_stub, links_stub, setup, query, ip, ua):
    r = await click(gateway_links_stub, setup.link.slug, query, ip=ip, ua=ua)
    assert r.outcome == pb.TOUCH_OUTCOME_RECORDED
    c = (await links_stub.GetClick(pb.GetClickRequest(click_id=r.touch_id))).click
    assert len(c.sub1) <= 256 and len(c.params) <= 63  # nothing cut: past a limit a click is refused (test_gateway)
    assert "\x00" not in c.sub1 + c.user_agent
    assert not c.idfa and not c.gaid
    if query.startswith(b"idfa=garbage"):  # not device ids, but kept as sent
        assert dict(c.params) == {"idfa": "garbage", "gaid": "00000000-0000-0000-0000-000000000000"}
    if ip.startswith("2001"):
        assert (c.ip, c.country) == (ip, "US")


async def test_concurrent_batches_are_all_durable(gateway_links_stub, links_stub, setup):
    async def batch(n):
        inputs = [
            pb.TouchInput(slug=setup.link.slug, raw_query=b"sub1=%d" % (n * 100 + i), ip="81.2.69.142")
            for i in range(50)
        ]
        res = await gateway_links_stub.RecordClicks(pb.RecordClicksRequest(clicks=inputs))
        return [r.touch_id for r in res.results if r.outcome == pb.TOUCH_OUTCOME_RECORDED]

    ids = [i for part in await asyncio.gather(*(batch(n) for n in range(40))) for i in part]
    assert len(ids) == len(set(ids)) == 2000
    seen, token = [], ""
    while True:
        resp = await links_stub.ListClicks(
            pb.ListClicksRequest(campaign_id=setup.campaign.campaign_id, page_size=700, page_token=token)
        )
        seen += [c.click_id for c in resp.clicks]
        token = resp.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(ids)
    assert seen == sorted(seen, reverse=True)  # newest first


async def test_mixed_batch_answers_each_in_order(gateway_links_stub, setup):
    res = await gateway_links_stub.RecordClicks(
        pb.RecordClicksRequest(
            clicks=[
                pb.TouchInput(slug=setup.link.slug),
                pb.TouchInput(slug="missing"),
                pb.TouchInput(slug=setup.link.slug),
            ]
        )
    )
    assert [r.outcome for r in res.results] == [
        pb.TOUCH_OUTCOME_RECORDED,
        pb.TOUCH_OUTCOME_NOT_FOUND,
        pb.TOUCH_OUTCOME_RECORDED,
    ]


async def test_find_touches_by_device_and_fingerprint(gateway_links_stub, links_stub, setup):
    c1 = await click(gateway_links_stub, setup.link.slug, b"idfa=" + IDFA.encode(), ip="1.2.3.4", ua=IPHONE_UA)
    c2 = await click(gateway_links_stub, setup.link.slug, b"", ip="1.2.3.4", ua=IPHONE_UA)
    await click(gateway_links_stub, setup.link.slug, b"", ip="1.2.3.4", ua=ANDROID_UA)
    imp = await gateway_links_stub.RecordImpressions(
        pb.RecordImpressionsRequest(
            impressions=[
                pb.TouchInput(
                    slug=setup.link.slug, raw_query=b"idfa=" + IDFA.encode(), ip="1.2.3.4", user_agent=IPHONE_UA
                )
            ]
        )
    )
    assert imp.results[0].outcome == pb.TOUCH_OUTCOME_RECORDED and imp.results[0].location == ""
    start, end = window()
    by_device = await links_stub.FindTouches(
        pb.FindTouchesRequest(device_id=IDFA, start_time=start, end_time=end, include_impressions=True)
    )
    assert [c.click_id for c in by_device.clicks] == [c1.touch_id]
    assert [i.impression_id for i in by_device.impressions] == [imp.results[0].touch_id]
    by_fp = await links_stub.FindTouches(
        pb.FindTouchesRequest(
            fingerprint=pb.Fingerprint(ip="1.2.3.4", user_agent=IPHONE_UA), start_time=start, end_time=end
        )
    )
    assert [c.click_id for c in by_fp.clicks] == [c2.touch_id, c1.touch_id]  # newest first
    old_start, old_end = Timestamp(seconds=1_600_000_000), Timestamp(seconds=1_600_003_600)
    assert not (
        await links_stub.FindTouches(pb.FindTouchesRequest(device_id=IDFA, start_time=old_start, end_time=old_end))
    ).clicks
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await links_stub.FindTouches(pb.FindTouchesRequest(device_id=IDFA))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await links_stub.FindTouches(pb.FindTouchesRequest(start_time=start, end_time=end))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_get_click_with_a_malformed_id_is_not_found(links_stub):
    for bad in ("x", "'; drop table links.clicks; --", "z" * 26):
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await links_stub.GetClick(pb.GetClickRequest(click_id=bad))
        assert e.value.code() == grpc.StatusCode.NOT_FOUND


async def test_link_update_takes_effect_for_the_next_click(gateway_links_stub, links_stub, setup):
    await links_stub.UpdateLink(
        pb.UpdateLinkRequest(
            link=pb.Link(link_id=setup.link.link_id, destination_url="https://new.example/{click_id}"),
            update_mask=field_mask_pb2.FieldMask(paths=["destination_url"]),
        )
    )
    r = await click(gateway_links_stub, setup.link.slug)
    assert r.location == f"https://new.example/{r.touch_id}"
    await links_stub.DeleteLink(pb.DeleteLinkRequest(link_id=setup.link.link_id))
    assert (await click(gateway_links_stub, setup.link.slug)).outcome == pb.TOUCH_OUTCOME_NOT_FOUND


async def test_lookup_touches_answers_a_mixed_batch_in_order(
    gateway_links_stub, internal_links_stub, links_stub, setup, account, new_account, channels, links_server
):
    c1 = await click(gateway_links_stub, setup.link.slug, b"idfa=" + IDFA.encode(), ip="1.2.3.4", ua=IPHONE_UA)
    c2 = await click(gateway_links_stub, setup.link.slug, b"gaid=" + GAID.encode(), ip="1.2.3.4", ua=IPHONE_UA)
    c3 = await click(gateway_links_stub, setup.link.slug, b"", ip="1.2.3.4", ua=ANDROID_UA)
    imp = await gateway_links_stub.RecordImpressions(
        pb.RecordImpressionsRequest(
            impressions=[pb.TouchInput(slug=setup.link.slug, raw_query=b"idfa=" + IDFA.encode(), ip="1.2.3.4")]
        )
    )
    start, end = window()
    fp_iphone = pb.Fingerprint(ip="1.2.3.4", user_agent=IPHONE_UA)
    fp_none = pb.Fingerprint(ip="1.2.3.4")  # no User-Agent: matches the impression only
    old_start, old_end = Timestamp(seconds=1_600_000_000), Timestamp(seconds=1_600_003_600)
    lookups = [
        pb.TouchLookup(device_id=IDFA, start_time=start, end_time=end, include_impressions=True),
        pb.TouchLookup(click_id=c2.touch_id),
        pb.TouchLookup(fingerprint=fp_iphone, start_time=start, end_time=end),
        pb.TouchLookup(click_id="not-an-id"),
        pb.TouchLookup(device_id=" " + GAID.upper(), start_time=start, end_time=end),
        pb.TouchLookup(fingerprint=fp_iphone, start_time=start, end_time=end, limit=1),
        pb.TouchLookup(click_id=c3.touch_id),
        pb.TouchLookup(device_id="unknown", start_time=start, end_time=end, include_impressions=True),
        pb.TouchLookup(fingerprint=fp_none, start_time=start, end_time=end, include_impressions=True),
        pb.TouchLookup(device_id=IDFA, start_time=old_start, end_time=old_end),
        pb.TouchLookup(click_id=c1.touch_id),
    ]  # fmt: skip
    res = (await links_stub.LookupTouches(pb.LookupTouchesRequest(lookups=lookups))).results
    assert len(res) == len(lookups)
    got = [([c.click_id for c in r.clicks], [i.impression_id for i in r.impressions]) for r in res]
    assert got == [
        ([c1.touch_id], [imp.results[0].touch_id]),
        ([c2.touch_id], []),
        ([c2.touch_id, c1.touch_id], []),  # newest first
        ([], []),
        ([c2.touch_id], []),
        ([c2.touch_id], []),
        ([c3.touch_id], []),
        ([], []),
        ([], [imp.results[0].touch_id]),
        ([], []),
        ([c1.touch_id], []),
    ]

    # Each answer is what FindTouches / GetClick answer for the same key.
    for lookup, r in zip(lookups, res, strict=True):
        key = lookup.WhichOneof("key")
        if key == "click_id":
            if r.clicks:
                single = await links_stub.GetClick(pb.GetClickRequest(click_id=lookup.click_id))
                assert list(r.clicks) == [single.click]
            continue
        find = pb.FindTouchesRequest(
            start_time=lookup.start_time, end_time=lookup.end_time,
            include_impressions=lookup.include_impressions, limit=lookup.limit,
        )  # fmt: skip
        if key == "device_id":
            find.device_id = lookup.device_id
        else:
            find.fingerprint.CopyFrom(lookup.fingerprint)
        assert await links_stub.FindTouches(find) == r

    # The internal token acts for the account in x-account-id; another account finds none of these.
    as_internal = await internal_links_stub.LookupTouches(
        pb.LookupTouchesRequest(lookups=lookups), metadata=(("x-account-id", account.account_id),)
    )
    assert list(as_internal.results) == list(res)
    other = await new_account("Other")
    other_stub = links_pb2_grpc.LinksServiceStub(channels(links_server.addr, token=other.api_key))
    for stub, metadata in ((other_stub, ()), (internal_links_stub, (("x-account-id", other.account_id),))):
        theirs = await stub.LookupTouches(pb.LookupTouchesRequest(lookups=lookups), metadata=metadata)
        assert len(theirs.results) == len(lookups)
        assert all(not r.clicks and not r.impressions for r in theirs.results)
    assert not (await links_stub.LookupTouches(pb.LookupTouchesRequest())).results


async def test_lookup_touches_validation(links_stub):
    start, end = window()

    async def violations(*lookups):
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await links_stub.LookupTouches(pb.LookupTouchesRequest(lookups=lookups))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        return e.value.details()

    details = await violations(
        pb.TouchLookup(click_id=""),
        pb.TouchLookup(device_id=IDFA),
        pb.TouchLookup(device_id=" ", start_time=start, end_time=end, limit=101),
        pb.TouchLookup(fingerprint=pb.Fingerprint(ip="nope"), start_time=end, end_time=start),
        pb.TouchLookup(start_time=start, end_time=end),
        pb.TouchLookup(device_id=IDFA, start_time=Timestamp(seconds=start.seconds - 91 * 86400), end_time=end),
    )
    for expected in (
        "lookups[0].click_id: is required",
        "lookups[1].start_time: is required",
        "lookups[1].end_time: is required",
        "lookups[2].device_id: is required",
        "lookups[2].limit: must be between 1 and 100",
        "lookups[3].fingerprint.ip: is not an IP address",
        "lookups[3].end_time: must be after start_time",
        "lookups[4].key: set click_id, device_id or fingerprint",
        "lookups[5].end_time: the window is at most 90 days",
    ):
        assert expected in details
    too_many = [pb.TouchLookup(click_id="x")] * 1001
    assert "lookups: at most 1000 per call" in await violations(*too_many)
