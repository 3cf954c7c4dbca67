"""Clicks through a campaign's flow (RecordClicks with the gateway token): the
winning stream's lander and offer, the click row's choice, the cookies and
returning visitors (cookie, or the same IP + User-Agent)."""

from __future__ import annotations

import dataclasses
import time
from urllib.parse import parse_qs, urlsplit

import asyncpg
import pytest
from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import affiliate_pb2_grpc, links_pb2_grpc
from clicktrail.links.v1 import links_pb2 as pb
from google.protobuf import field_mask_pb2

from services.links.visitors import Choice, Visitors
from tests.conftest import GATEWAY_TOKEN
from tests.services.links.conftest import ANDROID_UA, DESKTOP_UA, IPHONE_UA, make_setup

HOST = "127.0.0.1"  # the tracker's own host (public_url); other hosts 404 unless a custom domain


@dataclasses.dataclass
class FlowWorld:
    links: links_pb2_grpc.LinksServiceStub
    affiliate: affiliate_pb2_grpc.AffiliateServiceStub
    gateway: links_pb2_grpc.LinksServiceStub
    campaign_id: str
    slug: str
    offers: list[str]
    landers: list[str]
    public_url: str


@pytest.fixture
async def fw(links_server, channels, account, gateway_links_stub, settings):
    affiliate = affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=account.api_key))
    links = links_pb2_grpc.LinksServiceStub(channels(links_server.addr, token=account.api_key))
    s = await make_setup(links)
    offers = []
    for name in ("a", "b"):
        o = apb.Offer(
            name=f"Offer {name}",
            partner_id=s.partner.partner_id,
            url=f"https://{name}.offer.example/?c={{click_id}}&s={{sub1}}",
        )
        offers.append((await affiliate.CreateOffer(apb.CreateOfferRequest(offer=o))).offer.offer_id)
    landers = []
    for name in ("1", "2"):
        lp = apb.Lander(
            name=f"LP {name}",
            url=f"https://lp{name}.example/?go={{lander_click_url}}&t={{theme}}",
            macros={"theme": "blue"},
        )
        landers.append((await affiliate.CreateLander(apb.CreateLanderRequest(lander=lp))).lander.lander_id)
    return FlowWorld(links, affiliate, gateway_links_stub, s.campaign.campaign_id, s.link.slug, offers, landers,
                     str(settings.public_url).rstrip("/"))  # fmt: skip


async def add_stream(fw: FlowWorld, *filters: apb.StreamFilter, **kw) -> apb.Stream:
    stream = apb.Stream(campaign_id=fw.campaign_id, filters=list(filters), **kw)
    return (await fw.affiliate.CreateStream(apb.CreateStreamRequest(stream=stream))).stream


def rotate(landers=(), offers=()):
    return {
        "action": apb.STREAM_ACTION_ROTATE,
        "landers": [apb.WeightedLander(lander_id=i, weight=1) for i in landers],
        "offers": [apb.WeightedOffer(offer_id=i, weight=1) for i in offers],
    }


async def click(fw: FlowWorld, ip="8.8.8.8", ua=ANDROID_UA, cookies=None, query=b"sub1=pub7", **kw) -> pb.TouchResult:
    inp = pb.TouchInput(slug=fw.slug, raw_query=query, ip=ip, user_agent=ua, host=HOST, cookies=cookies or {}, **kw)
    return (await fw.gateway.RecordClicks(pb.RecordClicksRequest(clicks=[inp]))).results[0]


def cookies_of(r: pb.TouchResult) -> dict[str, str]:
    return {c.name: c.value for c in r.cookies}


async def test_a_click_goes_to_the_lander_with_its_click_url_and_records_the_choice(fw):
    stream = await add_stream(fw, **rotate([fw.landers[0]], [fw.offers[0]]))
    r = await click(fw)
    assert r.outcome == pb.TOUCH_OUTCOME_RECORDED
    parts = urlsplit(r.location)
    assert parts.netloc == "lp1.example"
    q = parse_qs(parts.query)
    assert q == {"go": [f"{fw.public_url}/lp/click?click_id={r.touch_id}"], "t": ["blue"]}
    c = (await fw.links.GetClick(pb.GetClickRequest(click_id=r.touch_id))).click
    assert (c.stream_id, c.lander_id, c.offer_id) == (stream.stream_id, fw.landers[0], fw.offers[0])
    assert cookies_of(r) == {f"ctf_{fw.campaign_id}": f"{stream.stream_id}.{fw.landers[0]}.{fw.offers[0]}"}
    # The campaign's default visitor window, for the flow cookie and the click cookie (ctc,
    # the touch id: the gateway makes that header).
    assert {c.max_age_seconds for c in r.cookies} == {r.click_cookie_max_age_seconds} == {86400}


async def test_without_landers_the_click_goes_straight_to_the_offer(fw):
    stream = await add_stream(fw, **rotate(offers=[fw.offers[1]]))
    r = await click(fw)
    assert r.location == f"https://b.offer.example/?c={r.touch_id}&s=pub7"
    c = (await fw.links.GetClick(pb.GetClickRequest(click_id=r.touch_id))).click
    assert (c.stream_id, c.lander_id, c.offer_id) == (stream.stream_id, "", fw.offers[1])
    assert set(cookies_of(r)) == {f"ctf_{fw.campaign_id}"}
    assert r.click_cookie_max_age_seconds == 0


async def test_first_matching_stream_wins_and_the_default_catches_the_rest(fw):
    ios = await add_stream(
        fw, apb.StreamFilter(field="os", values=["iOS"]), action=apb.STREAM_ACTION_URL, url="https://ios.example/?c={click_id}"
    )  # fmt: skip
    desktop = await add_stream(
        fw, apb.StreamFilter(field="device_type", values=["desktop"]), action=apb.STREAM_ACTION_SAFE_PAGE,
        url="https://safe.example/",
    )  # fmt: skip
    default = await add_stream(fw, **rotate(offers=[fw.offers[0]]))
    r = await click(fw, ua=IPHONE_UA)
    assert r.location == f"https://ios.example/?c={r.touch_id}"
    assert (await click(fw, ua=DESKTOP_UA)).location == "https://safe.example/"
    r = await click(fw, ua=ANDROID_UA)
    assert r.location.startswith("https://a.offer.example/")
    uas = (IPHONE_UA, DESKTOP_UA, ANDROID_UA)
    ids = [(await click(fw, ua=ua, ip=f"9.9.9.{i}")).touch_id for i, ua in enumerate(uas)]
    streams = [(await fw.links.GetClick(pb.GetClickRequest(click_id=t))).click.stream_id for t in ids]
    assert streams == [ios.stream_id, desktop.stream_id, default.stream_id]


async def test_no_stream_holds_the_fallback_is_recorded(fw):
    await add_stream(fw, apb.StreamFilter(field="country", values=["JP"]), **rotate(offers=[fw.offers[0]]))
    r = await click(fw)
    assert (r.outcome, r.location) == (pb.TOUCH_OUTCOME_FALLBACK, "https://acme.example/fallback")
    c = (await fw.links.GetClick(pb.GetClickRequest(click_id=r.touch_id))).click
    assert (c.stream_id, c.offer_id) == ("", "")


async def test_the_flow_cookie_keeps_the_choice_on_the_next_click(fw):
    stream = await add_stream(fw, **rotate(fw.landers, fw.offers))
    first = await click(fw, ip="8.8.4.4")
    c = (await fw.links.GetClick(pb.GetClickRequest(click_id=first.touch_id))).click
    cookie = {f"ctf_{fw.campaign_id}": cookies_of(first)[f"ctf_{fw.campaign_id}"]}
    # Other addresses (no IP + User-Agent memory): only the cookie says who they are.
    for i in range(12):
        r = await click(fw, ip=f"1.2.3.{i + 10}", cookies=cookie)
        again = (await fw.links.GetClick(pb.GetClickRequest(click_id=r.touch_id))).click
        assert (again.stream_id, again.lander_id, again.offer_id) == (stream.stream_id, c.lander_id, c.offer_id)


async def test_returning_visitor_by_cookie_or_ip_and_user_agent(fw):
    returning = await add_stream(
        fw, apb.StreamFilter(field="visitor", values=["returning"]), action=apb.STREAM_ACTION_URL,
        url="https://welcome-back.example/",
    )  # fmt: skip
    await add_stream(fw, **rotate(offers=[fw.offers[0]]))
    first = await click(fw, ip="7.7.7.7")
    assert first.location.startswith("https://a.offer.example/")
    # The same IP + User-Agent without cookies: returning.
    assert (await click(fw, ip="7.7.7.7")).location == "https://welcome-back.example/"
    # Another User-Agent on that address: new.
    assert (await click(fw, ip="7.7.7.7", ua=IPHONE_UA)).location.startswith("https://a.offer.example/")
    # A new address carrying the cookie: returning.
    cookie = {f"ctf_{fw.campaign_id}": cookies_of(first)[f"ctf_{fw.campaign_id}"]}
    r = await click(fw, ip="6.6.6.6", cookies=cookie)
    assert r.location == "https://welcome-back.example/"
    assert cookies_of(r)[f"ctf_{fw.campaign_id}"] == f"{returning.stream_id}.-.-"


async def test_a_capped_or_paused_offer_is_left_for_the_other(fw):
    await add_stream(fw, **rotate(offers=fw.offers))
    await fw.affiliate.UpdateOffer(apb.UpdateOfferRequest(
        offer=apb.Offer(offer_id=fw.offers[0], status=apb.OFFER_STATUS_PAUSED),
        update_mask=field_mask_pb2.FieldMask(paths=["status"]),
    ))  # fmt: skip
    for i in range(10):
        assert (await click(fw, ip=f"5.5.5.{i}")).location.startswith("https://b.offer.example/")


async def test_lander_click_url_uses_the_link_domain(fw, links_server, channels):
    await fw.affiliate.CreateDomain(apb.CreateDomainRequest(domain=apb.Domain(name="trk.acme.example")))
    link = (await fw.links.CreateLink(pb.CreateLinkRequest(link=pb.Link(
        campaign_id=fw.campaign_id, destination_url="https://unused.example/", domain="trk.acme.example",
    )))).link  # fmt: skip
    await add_stream(fw, **rotate([fw.landers[1]], [fw.offers[0]]))
    inp = pb.TouchInput(slug=link.slug, ip="8.8.8.8", user_agent=ANDROID_UA, host="trk.acme.example")
    r = (await fw.gateway.RecordClicks(pb.RecordClicksRequest(clicks=[inp]))).results[0]
    scheme = urlsplit(fw.public_url).scheme
    assert parse_qs(urlsplit(r.location).query)["go"] == [f"{scheme}://trk.acme.example/lp/click?click_id={r.touch_id}"]


async def test_the_click_shows_when_its_lander_click_through_happened(fw, links_server, channels):
    await add_stream(fw, **rotate([fw.landers[0]], [fw.offers[0]]))
    r = await click(fw)
    c = (await fw.links.GetClick(pb.GetClickRequest(click_id=r.touch_id))).click
    assert not c.HasField("lander_click_time")
    gateway_affiliate = affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=GATEWAY_TOKEN))
    through = await gateway_affiliate.RecordLanderClicks(
        apb.RecordLanderClicksRequest(clicks=[apb.LanderClickInput(click_id=r.touch_id, host=HOST)])
    )
    assert through.results[0].location.startswith("https://a.offer.example/")
    c = (await fw.links.GetClick(pb.GetClickRequest(click_id=r.touch_id))).click
    assert c.HasField("lander_click_time") and c.lander_click_time.ToDatetime() >= c.create_time.ToDatetime()
    listed = (await fw.links.ListClicks(pb.ListClicksRequest(campaign_id=fw.campaign_id))).clicks
    assert [x.lander_click_time for x in listed] == [c.lander_click_time]


async def test_a_restarted_replica_remembers_visitors_from_the_recorded_clicks(fw, db_url, account):
    stream = await add_stream(fw, **rotate([fw.landers[0]], [fw.offers[1]]))
    await click(fw, ip="7.7.7.7")
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=1)
    try:
        fresh = Visitors(pool)  # what a new links process starts with
        await fresh.ensure_warm()
        seen = fresh.recall(account.account_id, fw.campaign_id, "7.7.7.7", ANDROID_UA, time.time(), 3600)
        assert seen == Choice(stream.stream_id, fw.landers[0], fw.offers[1])
        assert fresh.recall(account.account_id, fw.campaign_id, "7.7.7.8", ANDROID_UA, time.time(), 3600) is None
    finally:
        await pool.close()
