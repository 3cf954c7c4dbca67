"""Review of issue 21 (links service): defects found in review, each written
as what a user would check. A test marked xfail(strict=True) documents a
defect still present (it starts failing as XPASS once the code is fixed: then
drop the mark)."""

from __future__ import annotations

import datetime as dt

import asyncpg
import grpc
import pytest
from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import affiliate_pb2_grpc, links_pb2_grpc
from clicktrail.links.v1 import links_pb2 as pb
from google.protobuf import field_mask_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from libs.config import Settings, load_settings
from services.links.caps import OfferCaps
from tests.conftest import ADMIN_TOKEN, GATEWAY_TOKEN, INTERNAL_TOKEN
from tests.services.links.conftest import ANDROID_UA, make_setup

# The tracker's own public host: a host name, as in production (the shared
# fixture's public URL is an IP address, which CreateDomain refuses anyway).
PUBLIC_HOST = "trk.clicktrail.example"
UTC = dt.UTC


@pytest.fixture
def settings(db_url: str) -> Settings:
    return load_settings(
        env={},
        database_url=db_url,
        admin_token=ADMIN_TOKEN,
        internal_token=INTERNAL_TOKEN,
        gateway_token=GATEWAY_TOKEN,
        public_url=f"http://{PUBLIC_HOST}:8080",
        db_pool_min=1,
        db_pool_max=5,
        log_level="warning",
    )


def touch(slug: str, host: str = PUBLIC_HOST, ip: str = "8.8.8.8") -> pb.TouchInput:
    return pb.TouchInput(slug=slug, ip=ip, user_agent=ANDROID_UA, host=host)


async def record(gateway, *inputs: pb.TouchInput) -> list[pb.TouchResult]:
    return list((await gateway.RecordClicks(pb.RecordClicksRequest(clicks=list(inputs)))).results)


async def test_another_account_cannot_take_the_trackers_own_host(
    gateway_links_stub, links_stub, links_server, channels, new_account
):
    mine = await make_setup(links_stub)
    assert (await record(gateway_links_stub, touch(mine.link.slug)))[0].outcome == pb.TOUCH_OUTCOME_RECORDED
    stranger = await new_account("Stranger")
    theirs = affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=stranger.api_key))
    try:  # the fix may refuse it (INVALID_ARGUMENT naming domain.name): either way my links keep working
        await theirs.CreateDomain(apb.CreateDomainRequest(domain=apb.Domain(name=PUBLIC_HOST.upper())))
    except grpc.aio.AioRpcError:
        pass
    r = (await record(gateway_links_stub, touch(mine.link.slug, ip="8.8.4.4")))[0]
    assert r.outcome == pb.TOUCH_OUTCOME_RECORDED


async def test_max_clicks_set_again_counts_the_clicks_recorded_meanwhile(gateway_links_stub, links_stub):
    s = await make_setup(links_stub, max_clicks=2)

    async def set_max(n: int) -> None:
        await links_stub.UpdateLink(pb.UpdateLinkRequest(
            link=pb.Link(link_id=s.link.link_id, max_clicks=n),
            update_mask=field_mask_pb2.FieldMask(paths=["max_clicks"]),
        ))  # fmt: skip

    assert (await record(gateway_links_stub, touch(s.link.slug)))[0].outcome == pb.TOUCH_OUTCOME_RECORDED
    await set_max(0)  # no limit for a while
    lifted = await record(gateway_links_stub, *(touch(s.link.slug, ip=f"9.9.9.{i}") for i in range(3)))
    assert [r.outcome for r in lifted] == [pb.TOUCH_OUTCOME_RECORDED] * 3
    await set_max(2)  # 4 recorded clicks: the link is past its maximum
    r = (await record(gateway_links_stub, touch(s.link.slug, ip="1.1.1.1")))[0]
    assert (r.outcome, r.location) == (pb.TOUCH_OUTCOME_FALLBACK, "https://acme.example/fallback")
    clicks = (await links_stub.ListClicks(pb.ListClicksRequest(link_id=s.link.link_id, page_size=100))).clicks
    assert len(clicks) == 4


async def test_a_capped_offer_stays_capped_while_another_offer_is_edited(
    links_stub, links_server, channels, account, settings
):
    """review1 #2 (fixed in 3fac416): an offer write used to drop the account's cap
    state, so capped() answered False until a reload and a batch between its
    ensure() and its decisions sent clicks to a capped offer."""
    affiliate = affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=account.api_key))
    caps_stub = affiliate_pb2_grpc.AffiliateServiceStub(
        channels(links_server.addr, token=INTERNAL_TOKEN, account_id=account.account_id)
    )
    partner = (await links_stub.CreatePartner(pb.CreatePartnerRequest(partner=pb.Partner(name="Net")))).partner
    offer = apb.Offer(name="Capped", partner_id=partner.partner_id, url="https://capped.example/go", total_cap=1)
    oid = (await affiliate.CreateOffer(apb.CreateOfferRequest(offer=offer))).offer.offer_id
    ts = Timestamp()
    ts.FromDatetime(dt.datetime.now(UTC))
    conv = apb.OfferConversion(offer_id=oid, conversion_id="c1", event_time=ts)
    await caps_stub.RecordOfferConversions(apb.RecordOfferConversionsRequest(conversions=[conv]))
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        caps = OfferCaps(pool)  # the links process's own, as LinksBase.caps
        await caps.ensure([account.account_id])
        assert caps.capped(account.account_id, oid, dt.datetime.now(UTC))
        caps.invalidate(account.account_id)  # what offers.OfferRpcs._offer_changed does on any offer write
        # A click decided now (no await in between) must still see the cap.
        assert caps.capped(account.account_id, oid, dt.datetime.now(UTC))
    finally:
        await caps.ensure([account.account_id])  # the reload capped() started ends before the pool closes
        await pool.close()


async def test_a_forged_flow_cookie_never_picks_another_accounts_or_a_paused_offer(
    gateway_links_stub, links_stub, links_server, channels, account, new_account
):
    """Passes: the cookie's lander / offer are kept only while in the winning
    stream's rotation and eligible (flow.choose_offer keep)."""
    affiliate = affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=account.api_key))
    s = await make_setup(links_stub)
    mine = []
    for name in ("a", "b"):
        o = apb.Offer(name=name, partner_id=s.partner.partner_id, url=f"https://{name}.example/?c={{click_id}}")
        mine.append((await affiliate.CreateOffer(apb.CreateOfferRequest(offer=o))).offer.offer_id)
    stream = apb.Stream(
        campaign_id=s.campaign.campaign_id, action=apb.STREAM_ACTION_ROTATE,
        offers=[apb.WeightedOffer(offer_id=mine[0], weight=1)],
    )  # fmt: skip
    stream_id = (await affiliate.CreateStream(apb.CreateStreamRequest(stream=stream))).stream.stream_id
    other = await new_account("Other")
    other_links = links_pb2_grpc.LinksServiceStub(channels(links_server.addr, token=other.api_key))
    other_aff = affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=other.api_key))
    os_ = await make_setup(other_links)
    foreign = apb.Offer(name="x", partner_id=os_.partner.partner_id, url="https://foreign.example/")
    foreign_id = (await other_aff.CreateOffer(apb.CreateOfferRequest(offer=foreign))).offer.offer_id
    for offer_id in (foreign_id, mine[1]):
        cookie = {f"ctf_{s.campaign.campaign_id}": f"{stream_id}.-.{offer_id}"}
        inp = pb.TouchInput(slug=s.link.slug, ip="8.8.8.8", user_agent=ANDROID_UA, host=PUBLIC_HOST, cookies=cookie)
        r = (await gateway_links_stub.RecordClicks(pb.RecordClicksRequest(clicks=[inp]))).results[0]
        assert r.location.startswith("https://a.example/"), offer_id


async def _code_and_details(call, request) -> tuple[grpc.StatusCode, str]:
    try:
        await call(request)
    except grpc.aio.AioRpcError as e:
        return e.code(), e.details() or ""
    return grpc.StatusCode.OK, ""


async def test_an_out_of_range_expire_time_is_refused_naming_the_field(links_stub):
    s = await make_setup(links_stub)
    late = Timestamp(seconds=253402300800)  # 10000-01-01: not a Timestamp (RFC 3339 ends at 9999)
    create = pb.CreateLinkRequest(
        link=pb.Link(campaign_id=s.campaign.campaign_id, destination_url="https://d.example/", expire_time=late)
    )
    update = pb.UpdateLinkRequest(
        link=pb.Link(link_id=s.link.link_id, expire_time=late),
        update_mask=field_mask_pb2.FieldMask(paths=["expire_time"]),
    )
    got = [
        await _code_and_details(links_stub.CreateLink, create),
        await _code_and_details(links_stub.UpdateLink, update),
    ]
    assert all(code == grpc.StatusCode.INVALID_ARGUMENT and "link.expire_time" in d for code, d in got), got
