"""Refunds applied once however often the network resends them, and what a later
postback does to an existing conversion's payout and currency (review2 H1, H2,
M1, L1), through the real attribution and links services."""

from __future__ import annotations

import asyncio

import pytest
from clicktrail.attribution.v1 import attribution_pb2 as apb
from clicktrail.attribution.v1 import attribution_pb2_grpc
from clicktrail.links.v1 import affiliate_pb2 as fpb
from clicktrail.links.v1 import affiliate_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.type.v1 import money_pb2

from tests.services.attribution.engine_support import make_app, make_campaign, outbound_events, touch

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
    api = attribution_pb2_grpc.AttributionServiceStub(channels(attribution_server.addr, token=account.api_key))

    async def click() -> str:
        return await touch(gateway_links_stub, camp)

    async def send(**params: str) -> apb.RecordPostbackResponse:
        return await postbacks.RecordPostback(apb.RecordPostbackRequest(params=params))

    return click, send, api


async def test_a_resent_refund_applies_once_and_named_refunds_each_count(world, settings, account):
    """A refund that names itself (adjustment_id) is one refund whatever else its resend carries;
    two refunds with different ids are two, even of one amount. A refund without an id is
    recognised by its request: the same request again changes nothing."""
    click, send, api = world
    cid = await click()
    await send(click_id=cid, txid="A", payout="10", currency="USD")
    first = await send(click_id=cid, txid="A", payout="-2", adjustment_id="ADJ-1")
    again = await send(click_id=cid, txid="A", payout="-2", adjustment_id="ADJ-1", sent_at="2026-12-06T22:00:00Z")
    second = await send(click_id=cid, txid="A", payout="-2", adjustment_id="ADJ-2")
    plain = await send(click_id=cid, txid="A", payout="-1")
    plain_again = await send(click_id=cid, txid="A", payout="-1")
    assert [(r.changed, r.conversion.payout) for r in (first, again, second, plain, plain_again)] == [
        (True, "8"), (False, "8"), (True, "6"), (True, "5"), (False, "5"),
    ]  # fmt: skip
    log = (await api.ListInboundPostbacks(apb.ListInboundPostbacksRequest(click_id=cid))).postbacks
    assert [p.outcome for p in reversed(log)] == ["created", "refunded", "unchanged", "refunded", "refunded",
                                                  "unchanged"]  # fmt: skip
    events = [e for e in await outbound_events(settings, account.account_id) if e.get("click_id") == cid]
    assert [(e["kind"], e["payout"]) for e in events] == [
        ("conversion", "10"), ("status_change", "8"), ("status_change", "6"), ("status_change", "5"),
    ]  # fmt: skip


async def test_a_refund_resent_at_the_same_instant_applies_once(world):
    """Two copies of one refund arriving together (one group, or two racing groups): once."""
    click, send, _api = world
    cid = await click()
    await send(click_id=cid, txid="B", payout="10", currency="USD")
    answers = await asyncio.gather(*[send(click_id=cid, txid="B", payout="-3", currency="USD") for _ in range(4)])
    assert sorted(r.changed for r in answers) == [False, False, False, True]
    assert {r.conversion.payout for r in answers if r.changed} == {"7"}
    last = await send(click_id=cid, txid="B", status="approved")
    assert (last.changed, last.conversion.payout) == (False, "7")


async def test_a_status_update_keeps_the_conversions_currency(world):
    """M1: a conversion paid in EUR (account in USD). An update that carries a payout but no
    currency is in EUR, and so is a refund without a currency."""
    click, send, _api = world
    cid = await click()
    await send(click_id=cid, txid="C", payout="10", currency="EUR", status="pending")
    approved = await send(click_id=cid, txid="C", payout="12", status="approved")
    assert (approved.conversion.status, approved.conversion.payout, approved.conversion.currency) == (
        APPROVED, "12", "EUR",
    )  # fmt: skip
    back = await send(click_id=cid, txid="C", payout="-2")
    assert (back.conversion.payout, back.conversion.currency) == ("10", "EUR")


async def test_a_fixed_offers_conversion_keeps_the_payout_it_was_made_with(
    world, links_server, links_stub, gateway_links_stub, account, channels
):
    """H2: a fixed offer pays its amount when the conversion is made. A later status update moves
    only the status, even when it carries a payout (the offer's amount is not put back over a refund)."""
    _click, send, _api = world
    affiliate = affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=account.api_key))
    camp = await make_campaign(links_stub, await make_app(links_stub))
    network = (await links_stub.CreatePartner(lpb.CreatePartnerRequest(partner=lpb.Partner(name="Net")))).partner
    offer = (await affiliate.CreateOffer(fpb.CreateOfferRequest(offer=fpb.Offer(
        name="F", partner_id=network.partner_id, url="https://f.example/go?c={click_id}",
        payout_type=fpb.PAYOUT_TYPE_FIXED, payout=money_pb2.Money(amount="12.50", currency_code="EUR"),
    )))).offer  # fmt: skip
    await affiliate.CreateStream(fpb.CreateStreamRequest(stream=fpb.Stream(
        campaign_id=camp.campaign_id, name="All", action=fpb.STREAM_ACTION_ROTATE,
        offers=[fpb.WeightedOffer(offer_id=offer.offer_id, weight=1)],
    )))  # fmt: skip
    cid = await touch(gateway_links_stub, camp)
    made = await send(click_id=cid, txid="F", status="pending", payout="3", currency="USD")
    assert (made.conversion.payout, made.conversion.currency) == ("12.5", "EUR")
    refunded = await send(click_id=cid, txid="F", payout="-2.50")
    assert (refunded.conversion.status, refunded.conversion.payout) == (PENDING, "10")
    # The approval carries a payout of its own: a fixed offer's conversion keeps what is left of its payout.
    approved = await send(click_id=cid, txid="F", status="approved", payout="99")
    assert (approved.conversion.status, approved.conversion.payout, approved.conversion.currency) == (
        APPROVED, "10", "EUR",
    )  # fmt: skip
