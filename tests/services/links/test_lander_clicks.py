"""The lander click-through (AffiliateService.RecordLanderClicks, the gateway's
/lp/click): a click sent to a lander continues to its offer with the same
click id, counted once; a capped offer moves it on; custom domains keep it on
their account."""

from __future__ import annotations

import dataclasses

import asyncpg
import grpc
import pytest
from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import affiliate_pb2_grpc, links_pb2_grpc
from clicktrail.links.v1 import links_pb2 as pb
from google.protobuf.timestamp_pb2 import Timestamp

from libs.ids import new_id
from tests.conftest import GATEWAY_TOKEN, INTERNAL_TOKEN
from tests.services.links.conftest import ANDROID_UA, make_setup

HOST = "127.0.0.1"  # the tracker's own host (public_url); other hosts 404 unless a custom domain


@dataclasses.dataclass
class World:
    affiliate: affiliate_pb2_grpc.AffiliateServiceStub
    through: affiliate_pb2_grpc.AffiliateServiceStub  # the gateway's side of /lp/click
    service: affiliate_pb2_grpc.AffiliateServiceStub  # attribution's RecordOfferConversions
    gateway: links_pb2_grpc.LinksServiceStub
    campaign_id: str
    slug: str
    partner_id: str
    db_url: str
    ips: list[int] = dataclasses.field(default_factory=lambda: [0])


@pytest.fixture
async def world(links_server, channels, account, gateway_links_stub, settings):
    affiliate = affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=account.api_key))
    s = await make_setup(links_pb2_grpc.LinksServiceStub(channels(links_server.addr, token=account.api_key)))
    internal = affiliate_pb2_grpc.AffiliateServiceStub(
        channels(links_server.addr, token=INTERNAL_TOKEN, account_id=account.account_id)
    )
    gateway = affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=GATEWAY_TOKEN))
    return World(affiliate, gateway, internal, gateway_links_stub, s.campaign.campaign_id, s.link.slug,
                 s.partner.partner_id, settings.database_url)  # fmt: skip


async def offer(w: World, name: str, **fields) -> str:
    o = apb.Offer(name=name, partner_id=w.partner_id, url=f"https://{name}.offer.example/?c={{click_id}}&s={{sub1}}",
                  **fields)  # fmt: skip
    return (await w.affiliate.CreateOffer(apb.CreateOfferRequest(offer=o))).offer.offer_id


async def lander(w: World) -> str:
    lp = apb.Lander(name="LP", url="https://lp.example/?go={lander_click_url}")
    return (await w.affiliate.CreateLander(apb.CreateLanderRequest(lander=lp))).lander.lander_id


async def stream(w: World, landers: list[str], offers: list[str]) -> apb.Stream:
    s = apb.Stream(
        campaign_id=w.campaign_id,
        action=apb.STREAM_ACTION_ROTATE,
        landers=[apb.WeightedLander(lander_id=i, weight=1) for i in landers],
        offers=[apb.WeightedOffer(offer_id=i, weight=1) for i in offers],
    )
    return (await w.affiliate.CreateStream(apb.CreateStreamRequest(stream=s))).stream


async def click(w: World) -> pb.TouchResult:
    w.ips[0] += 1  # a new visitor each time (no returning-visitor choice)
    inp = pb.TouchInput(slug=w.slug, raw_query=b"sub1=pub7", ip=f"9.9.{w.ips[0] // 250}.{w.ips[0] % 250 + 1}",
                        user_agent=ANDROID_UA, host=HOST)  # fmt: skip
    return (await w.gateway.RecordClicks(pb.RecordClicksRequest(clicks=[inp]))).results[0]


async def through(w: World, *click_ids: str, host: str = HOST) -> list[pb.TouchResult]:
    req = apb.RecordLanderClicksRequest(clicks=[apb.LanderClickInput(click_id=c, host=host) for c in click_ids])
    return list((await w.through.RecordLanderClicks(req)).results)


async def cap(w: World, offer_id: str, conversion_id: str) -> None:
    ts = Timestamp()
    ts.GetCurrentTime()
    conv = apb.OfferConversion(offer_id=offer_id, conversion_id=conversion_id, event_time=ts)
    await w.service.RecordOfferConversions(apb.RecordOfferConversionsRequest(conversions=[conv]))


async def lander_clicks(w: World) -> list[tuple[str, str | None]]:
    """(click_id, offer_id) of the recorded click-throughs, as reports read them."""
    conn = await asyncpg.connect(w.db_url)
    try:
        rows = await conn.fetch("SELECT click_id, offer_id FROM links.lander_clicks ORDER BY click_id")
    finally:
        await conn.close()
    return [(r["click_id"], r["offer_id"]) for r in rows]


async def test_the_click_through_goes_to_the_clicks_offer_and_counts_once(world):
    a = await offer(world, "a")
    await stream(world, [await lander(world)], [a])
    r = await click(world)
    assert r.location.startswith("https://lp.example/")
    first, again = await through(world, r.touch_id, r.touch_id)
    for got in (first, again):
        assert got.outcome == pb.TOUCH_OUTCOME_RECORDED
        assert got.location == f"https://a.offer.example/?c={r.touch_id}&s=pub7"  # the same click id
        assert got.touch_id == r.touch_id
    assert (await through(world, r.touch_id))[0].location == first.location
    assert await lander_clicks(world) == [(r.touch_id, a)]


async def test_unknown_clicks_and_clicks_without_a_lander_are_not_found(world):
    a = await offer(world, "a")
    await stream(world, [], [a])  # straight to the offer
    direct = await click(world)
    assert direct.location.startswith("https://a.offer.example/")
    results = await through(world, direct.touch_id, new_id(), "not-a-click-id", "")
    assert [x.outcome for x in results] == [pb.TOUCH_OUTCOME_NOT_FOUND] * 4
    assert await lander_clicks(world) == []


async def test_a_capped_offer_sends_the_click_through_to_the_next_eligible_one(world):
    a, b = await offer(world, "a", total_cap=1), await offer(world, "b")
    lp = await lander(world)
    s = await stream(world, [lp], [a])
    r = await click(world)  # given offer a
    # b joins the rotation, then a reaches its cap
    upd = apb.Stream(stream_id=s.stream_id, offers=[apb.WeightedOffer(offer_id=a, weight=1),
                                                     apb.WeightedOffer(offer_id=b, weight=1)])  # fmt: skip
    await world.affiliate.UpdateStream(apb.UpdateStreamRequest(stream=upd))
    await cap(world, a, "conv-1")
    got = (await through(world, r.touch_id))[0]
    assert got.outcome == pb.TOUCH_OUTCOME_RECORDED
    assert got.location == f"https://b.offer.example/?c={r.touch_id}&s=pub7"
    assert await lander_clicks(world) == [(r.touch_id, b)]


@pytest.mark.parametrize(
    ("cap_action", "cap_url", "location"),
    [
        (apb.CAP_ACTION_REDIRECT, "https://capped.example/more", "https://capped.example/more"),
        (apb.CAP_ACTION_FALLBACK, "", "https://acme.example/fallback"),  # the campaign's fallback URL
    ],
)
async def test_no_eligible_offer_left_follows_the_cap_action(world, cap_action, cap_url, location):
    a = await offer(world, "a", total_cap=1, cap_action=cap_action, cap_url=cap_url)
    await stream(world, [await lander(world)], [a])
    r = await click(world)
    await cap(world, a, "conv-1")
    got = (await through(world, r.touch_id))[0]
    assert (got.outcome, got.location, got.touch_id) == (pb.TOUCH_OUTCOME_FALLBACK, location, r.touch_id)
    # the visitor did click through the lander: counted, with no offer
    assert await lander_clicks(world) == [(r.touch_id, None)]


async def test_a_custom_domain_serves_only_its_accounts_clicks(world, new_account, links_server, channels):
    await world.affiliate.CreateDomain(apb.CreateDomainRequest(domain=apb.Domain(name="trk.acme.example")))
    other = await new_account("Other")
    other_stub = affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=other.api_key))
    await other_stub.CreateDomain(apb.CreateDomainRequest(domain=apb.Domain(name="trk.other.example")))
    a = await offer(world, "a")
    await stream(world, [await lander(world)], [a])
    r = await click(world)
    assert (await through(world, r.touch_id, host="trk.other.example:443"))[0].outcome == pb.TOUCH_OUTCOME_NOT_FOUND
    for host in ("TRK.acme.example", HOST):
        assert (await through(world, r.touch_id, host=host))[0].outcome == pb.TOUCH_OUTCOME_RECORDED


async def test_only_the_gateway_records_click_throughs(world, links_server, channels, account):
    keyed = affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=account.api_key))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await keyed.RecordLanderClicks(apb.RecordLanderClicksRequest(clicks=[apb.LanderClickInput(click_id=new_id())]))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
