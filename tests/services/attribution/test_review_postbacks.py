"""Reviewer 2 (issue 21): defects found in inbound postbacks' refunds, each a strict
xfail that passes once the defect is fixed (see /tmp/review2.md); H1, H2, M1 and L1
are fixed (marks dropped). Real attribution
and links services, as test_postback_formats.py / test_postback_offers.py."""

from __future__ import annotations

import pytest
from clicktrail.attribution.v1 import attribution_pb2 as apb
from clicktrail.attribution.v1 import attribution_pb2_grpc
from clicktrail.links.v1 import affiliate_pb2 as fpb
from clicktrail.links.v1 import affiliate_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.type.v1 import money_pb2

from tests.conftest import GATEWAY_TOKEN
from tests.services.attribution.engine_support import make_app, make_campaign, touch

PENDING, APPROVED, REJECTED = (
    apb.CONVERSION_STATUS_PENDING,
    apb.CONVERSION_STATUS_APPROVED,
    apb.CONVERSION_STATUS_REJECTED,
)


@pytest.fixture
async def world(attribution_server, links_stub, gateway_links_stub, account, channels):
    camp = await make_campaign(links_stub, await make_app(links_stub))
    postbacks = attribution_pb2_grpc.AttributionServiceStub(
        channels(attribution_server.addr, token=account.postback_token)
    )

    async def click() -> str:
        return await touch(gateway_links_stub, camp)

    async def send(**params: str) -> apb.RecordPostbackResponse:
        return await postbacks.RecordPostback(apb.RecordPostbackRequest(params=params))

    return click, send


async def test_a_retried_refund_takes_the_amount_back_once(world):
    """Networks retry a postback they got no answer for; the same refund sent twice refunds twice."""
    click, send = world
    cid = await click()
    await send(click_id=cid, txid="R-1", payout="10", currency="USD")
    first = await send(click_id=cid, txid="R-1", payout="-4", currency="USD")
    assert first.conversion.payout == "6"
    retry = await send(click_id=cid, txid="R-1", payout="-4", currency="USD")
    assert (retry.changed, retry.conversion.payout) == (False, "6")


async def test_a_refund_without_a_currency_is_in_the_conversions_currency(world):
    """A conversion paid in EUR (account currency USD); the network's refund names no currency: it can
    only mean the conversion's own, yet it is refused 409 'a refund in USD cannot apply to it'."""
    click, send = world
    cid = await click()
    await send(click_id=cid, txid="R-2", payout="10", currency="EUR")
    r = await send(click_id=cid, txid="R-2", payout="-4")
    assert (r.conversion.payout, r.conversion.currency) == ("6", "EUR")


@pytest.fixture
async def fixed_offer_click(links_server, links_stub, gateway_links_stub, account, channels):
    """A campaign whose one stream goes straight to offer F (PAYOUT_TYPE_FIXED 12.50 EUR)."""
    affiliate = affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=account.api_key))
    camp = await make_campaign(links_stub, await make_app(links_stub))
    network = (await links_stub.CreatePartner(lpb.CreatePartnerRequest(partner=lpb.Partner(name="Net F")))).partner
    offer = (await affiliate.CreateOffer(fpb.CreateOfferRequest(offer=fpb.Offer(
        name="F", partner_id=network.partner_id, url="https://f.example/go?c={click_id}",
        payout_type=fpb.PAYOUT_TYPE_FIXED, payout=money_pb2.Money(amount="12.50", currency_code="EUR"),
    )))).offer  # fmt: skip
    await affiliate.CreateStream(fpb.CreateStreamRequest(stream=fpb.Stream(
        campaign_id=camp.campaign_id, name="All", action=fpb.STREAM_ACTION_ROTATE,
        offers=[fpb.WeightedOffer(offer_id=offer.offer_id, weight=1)],
    )))  # fmt: skip
    return await touch(gateway_links_stub, camp)


async def test_a_refund_of_a_fixed_offer_conversion_survives_its_approval(world, fixed_offer_click):
    _click, send = world
    cid = fixed_offer_click
    created = await send(click_id=cid, txid="F-1", status="pending")
    assert (created.conversion.payout, created.conversion.currency) == ("12.5", "EUR")
    refunded = await send(click_id=cid, txid="F-1", payout="-2.50")
    assert (refunded.conversion.status, refunded.conversion.payout) == (PENDING, "10")
    # The network approves what is left; the postback names no payout at all.
    approved = await send(click_id=cid, txid="F-1", status="approved")
    assert (approved.conversion.status, approved.conversion.payout) == (APPROVED, "10")


async def test_a_refund_of_a_rejected_conversion_changes_nothing(world):
    """L1 (fixed): a refund of an already rejected conversion is answered unchanged and keeps its
    payout (nothing is paid for a rejected conversion, so there is nothing to take back)."""
    click, send = world
    cid = await click()
    await send(click_id=cid, txid="R-3", payout="10", currency="USD")
    await send(click_id=cid, txid="R-3", status="rejected")
    r = await send(click_id=cid, txid="R-3", payout="-4", currency="USD")
    assert (r.changed, r.conversion.status, r.conversion.payout) == (False, REJECTED, "10")


async def test_a_conversion_is_of_the_offer_the_lander_click_through_sent_the_visitor_to(
    world, links_server, links_stub, gateway_links_stub, account, channels
):
    """The lander click-through sends the visitor to another offer when the click's offer is no
    longer eligible (capped, paused: links.lander_clicks.offer_id), but attribution copies
    Click.offer_id (the click-time choice): the conversion gets offer A's payout, A's network's
    postback format and counts against A's caps, though the visitor converted on offer B."""
    _click, send = world
    affiliate = affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=account.api_key))
    through = affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=GATEWAY_TOKEN))
    camp = await make_campaign(links_stub, await make_app(links_stub))

    async def offer(name: str, amount: str, status: fpb.OfferStatus) -> str:
        o = fpb.Offer(name=name, partner_id=camp.partner_id, url=f"https://{name}.example/?c={{click_id}}",
                      payout_type=fpb.PAYOUT_TYPE_FIXED, payout=money_pb2.Money(amount=amount, currency_code="USD"),
                      status=status)  # fmt: skip
        return (await affiliate.CreateOffer(fpb.CreateOfferRequest(offer=o))).offer.offer_id

    a = await offer("a", "10", fpb.OFFER_STATUS_ACTIVE)
    b = await offer("b", "20", fpb.OFFER_STATUS_PAUSED)
    lander = (await affiliate.CreateLander(fpb.CreateLanderRequest(lander=fpb.Lander(
        name="LP", url="https://lp.example/?go={lander_click_url}")))).lander  # fmt: skip
    await affiliate.CreateStream(fpb.CreateStreamRequest(stream=fpb.Stream(
        campaign_id=camp.campaign_id, name="All", action=fpb.STREAM_ACTION_ROTATE,
        landers=[fpb.WeightedLander(lander_id=lander.lander_id, weight=1)],
        offers=[fpb.WeightedOffer(offer_id=a, weight=1), fpb.WeightedOffer(offer_id=b, weight=1)],
    )))  # fmt: skip
    cid = await touch(gateway_links_stub, camp)
    assert (await links_stub.GetClick(lpb.GetClickRequest(click_id=cid))).click.offer_id == a
    # Between the click and the click-through, A stops being eligible and B starts.
    for offer_id, status in ((a, fpb.OFFER_STATUS_PAUSED), (b, fpb.OFFER_STATUS_ACTIVE)):
        await affiliate.UpdateOffer(fpb.UpdateOfferRequest(offer=fpb.Offer(offer_id=offer_id, status=status),
                                                           update_mask={"paths": ["status"]}))  # fmt: skip
    res = (await through.RecordLanderClicks(fpb.RecordLanderClicksRequest(
        clicks=[fpb.LanderClickInput(click_id=cid)]))).results[0]  # fmt: skip
    assert res.location.startswith("https://b.example/"), res.location
    # The network of offer B reports the conversion: it is B's (its payout, its caps).
    r = await send(click_id=cid, txid="B-1")
    assert (r.conversion.offer_id, r.conversion.payout) == (b, "20")
