"""Conversions of clicks that went through a campaign's flow, through the real
attribution and links services: the conversion carries the click's offer, lander
and stream; the offer decides the payout (fixed, or the postback's in the
offer's currency) and its network's postback format; the offer's caps count the
conversion before the postback is answered, a rejection takes it back, and the
durable job repeats the report."""

from __future__ import annotations

import dataclasses

import asyncpg
import pytest
from clicktrail.attribution.v1 import attribution_pb2 as apb
from clicktrail.attribution.v1 import attribution_pb2_grpc, config_pb2_grpc
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.links.v1 import affiliate_pb2 as fpb
from clicktrail.links.v1 import affiliate_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.type.v1 import money_pb2
from clicktrail.type.v1 import quality_pb2 as qpb

from libs.queue import Job
from services.attribution import offer_caps
from services.attribution.lookups import Links
from tests.services.attribution.engine_support import make_app, make_campaign, touch


@pytest.fixture
async def flow(attribution_server, links_server, links_stub, gateway_links_stub, account, channels):
    """A campaign whose one stream sends clicks to a lander, then offer A (fixed 12.50 EUR,
    total cap 1) of network N (its own partner, with a postback format)."""
    affiliate = affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=account.api_key))
    camp = await make_campaign(links_stub, await make_app(links_stub))
    network = (await links_stub.CreatePartner(lpb.CreatePartnerRequest(partner=lpb.Partner(name="Network N")))).partner
    offer = (await affiliate.CreateOffer(fpb.CreateOfferRequest(offer=fpb.Offer(
        name="A", partner_id=network.partner_id, url="https://a.example/go?c={click_id}", total_cap=1,
        payout_type=fpb.PAYOUT_TYPE_FIXED, payout=money_pb2.Money(amount="12.50", currency_code="EUR"),
    )))).offer  # fmt: skip
    lander = (await affiliate.CreateLander(fpb.CreateLanderRequest(lander=fpb.Lander(
        name="Quiz", url="https://lp.example/quiz?next={lander_click_url}",
    )))).lander  # fmt: skip
    stream = (await affiliate.CreateStream(fpb.CreateStreamRequest(stream=fpb.Stream(
        campaign_id=camp.campaign_id, name="All", action=fpb.STREAM_ACTION_ROTATE,
        landers=[fpb.WeightedLander(lander_id=lander.lander_id, weight=1)],
        offers=[fpb.WeightedOffer(offer_id=offer.offer_id, weight=1)],
    )))).stream  # fmt: skip
    formats = config_pb2_grpc.PostbackFormatServiceStub(channels(attribution_server.addr, token=account.api_key))
    await formats.UpdatePostbackFormat(cpb.UpdatePostbackFormatRequest(allow_missing=True, format=cpb.PostbackFormat(
        partner_id=network.partner_id, aliases=[cpb.ParameterAliases(field="click_id", params=["aff_sub"])],
        status_words={"reversed": "rejected", "2": "pending"},
    )))  # fmt: skip
    postbacks = attribution_pb2_grpc.AttributionServiceStub(
        channels(attribution_server.addr, token=account.postback_token)
    )

    async def send(**params: str) -> apb.RecordPostbackResponse:
        return await postbacks.RecordPostback(apb.RecordPostbackRequest(params=params))

    async def click() -> str:
        return await touch(gateway_links_stub, camp)

    async def counts() -> tuple[int, bool]:
        o = (await affiliate.GetOffer(fpb.GetOfferRequest(offer_id=offer.offer_id))).offer
        return o.conversions_total, o.capped

    return camp, offer, lander, stream, network, send, click, counts, affiliate


async def test_a_conversion_carries_the_flow_and_the_offers_payout_and_counts_at_once(flow, links_stub):
    _camp, offer, lander, stream, _network, send, click, counts, _ = flow
    cid = await click()
    clicked = (await links_stub.GetClick(lpb.GetClickRequest(click_id=cid))).click
    assert (clicked.offer_id, clicked.lander_id, clicked.stream_id) == (offer.offer_id, lander.lander_id,
                                                                        stream.stream_id)  # fmt: skip
    # No partner in the URL: the offer's network's format (aff_sub, its words) reads it, not the campaign's partner.
    r = await send(aff_sub=cid, txid="T-1", payout="3", currency="USD", status="2")
    c = r.conversion
    assert (c.offer_id, c.lander_id, c.stream_id, c.payout, c.currency, c.status) == (
        offer.offer_id, lander.lander_id, stream.stream_id, "12.5", "EUR", apb.CONVERSION_STATUS_PENDING,
    )  # fmt: skip
    # Counted before the answer: the offer is at its cap the moment the postback is answered.
    assert await counts() == (1, True)
    # A reversal takes the count back at once.
    r = await send(aff_sub=cid, txid="T-1", status="reversed")
    assert r.conversion.status == apb.CONVERSION_STATUS_REJECTED
    assert await counts() == (0, False)


async def test_the_postbacks_payout_takes_the_offers_currency(flow, links_stub):
    _camp, offer, *_rest, affiliate = flow
    send, click = flow[5], flow[6]
    await affiliate.UpdateOffer(fpb.UpdateOfferRequest(
        offer=fpb.Offer(offer_id=offer.offer_id, payout_type=fpb.PAYOUT_TYPE_POSTBACK,
                        payout=money_pb2.Money(amount="0", currency_code="GBP")),
        update_mask={"paths": ["payout_type", "payout"]},
    ))  # fmt: skip
    cid = await click()
    r = await send(aff_sub=cid, txid="T-2", payout="4.40")
    assert (r.conversion.payout, r.conversion.currency) == ("4.4", "GBP")


async def test_the_durable_job_repeats_the_report(flow, settings, account, links_server):
    """A report lost between the commit and the call (a failed call, a kill -9) is made again by the
    job enqueued in the postback's transaction: the worker reports the conversion as it is now."""
    _camp, offer, _l, _s, _n, send, click, counts, _a = flow
    cid = await click()
    r = await send(aff_sub=cid, txid="T-3")
    assert await counts() == (1, True)
    conn = await asyncpg.connect(settings.database_url)
    try:
        row = await conn.fetchrow(
            "SELECT job_id, account_id, payload, create_time FROM queue.jobs WHERE queue = $1 AND account_id = $2",
            offer_caps.OFFER_QUEUE, account.account_id,
        )  # fmt: skip
    finally:
        await conn.close()
    assert row is not None and r.conversion.conversion_id in bytes(row["payload"]).decode()
    job = Job(
        row["job_id"], offer_caps.OFFER_QUEUE, row["account_id"], bytes(row["payload"]), 0, 20, row["create_time"]
    )
    links = Links(dataclasses.replace(settings, links_addr=links_server.addr))
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        # As if the count had been lost: links is told it was rejected; the job puts back what is true.
        rejected = offer_caps.offer_conversion({"offer_id": offer.offer_id, "conversion_id": r.conversion.conversion_id,
                                                "event_time": r.conversion.event_time.ToDatetime(), "status": 3,
                                                "verdict": 1})  # fmt: skip
        await links.report_offer_conversions(account.account_id, [rejected])
        assert await counts() == (0, False)
        await offer_caps.handle_job(pool, links, job)
        assert await counts() == (1, True)
    finally:
        await pool.close()
        await links.close()


async def test_an_operators_rejection_or_invalid_verdict_stops_the_count(flow, attribution_server, account, channels):
    _camp, _offer, _l, _s, _n, send, click, counts, _a = flow
    api = attribution_pb2_grpc.AttributionServiceStub(channels(attribution_server.addr, token=account.api_key))
    cid = await click()
    conv = (await send(aff_sub=cid, txid="T-4")).conversion
    assert await counts() == (1, True)
    await api.OverruleConversionVerdict(apb.OverruleConversionVerdictRequest(
        conversion_id=conv.conversion_id, verdict=qpb.VERDICT_INVALID, note="bot"))  # fmt: skip
    assert await counts() == (0, False)
    await api.OverruleConversionVerdict(apb.OverruleConversionVerdictRequest(
        conversion_id=conv.conversion_id, verdict=qpb.VERDICT_CLEAN, note="checked"))  # fmt: skip
    assert await counts() == (1, True)
    await api.UpdateConversionStatus(apb.UpdateConversionStatusRequest(
        conversion_id=conv.conversion_id, status=apb.CONVERSION_STATUS_REJECTED))  # fmt: skip
    assert await counts() == (0, False)
