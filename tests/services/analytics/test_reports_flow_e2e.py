"""Issue 21's first "How we will know" line through the real services: a
campaign with a stream rotating two landers and two offers -> clicks recorded
the way the gateway records them -> lander click-throughs (RecordLanderClicks,
the gateway's /lp/click) -> network postbacks -> report rows per stream, lander
and offer that add up to the campaign totals, with lander views, clicks, CTR,
conversions, revenue and EPC per lander and offer."""

from __future__ import annotations

from decimal import Decimal

from clicktrail.analytics.v1 import reports_pb2_grpc
from clicktrail.attribution.v1 import attribution_pb2 as apb
from clicktrail.attribution.v1 import attribution_pb2_grpc
from clicktrail.links.v1 import affiliate_pb2 as fpb
from clicktrail.links.v1 import affiliate_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.type.v1 import money_pb2

from tests.conftest import GATEWAY_TOKEN
from tests.services.analytics.report_support import TODAY, by, checks_off, money, report
from tests.services.attribution.engine_support import make_app, make_campaign, touch
from tests.support.wait import wait_until

CLICKS = 12
PLAIN_CLICKS = 2


async def test_stream_lander_offer_postback_report_rows_add_up(
    attribution_server, links_server, links_stub, gateway_links_stub, analytics_server, account, channels
):
    await checks_off(links_stub, "duplicate")
    affiliate = affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=account.api_key))
    gateway = affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=GATEWAY_TOKEN))
    app_id = await make_app(links_stub)
    camp = await make_campaign(links_stub, app_id, "Flow")
    plain = await make_campaign(links_stub, app_id, "Plain")
    network = (await links_stub.CreatePartner(lpb.CreatePartnerRequest(partner=lpb.Partner(name="Net")))).partner
    offers = {}
    for name, payout in (("A", "10"), ("B", "4")):
        offers[name] = (await affiliate.CreateOffer(fpb.CreateOfferRequest(offer=fpb.Offer(
            name=name, partner_id=network.partner_id, url=f"https://{name.lower()}.example/go?c={{click_id}}",
            payout_type=fpb.PAYOUT_TYPE_FIXED, payout=money_pb2.Money(amount=payout, currency_code="USD"),
        )))).offer  # fmt: skip
    landers = []
    for name in ("quiz", "story"):
        lander = fpb.Lander(name=name, url=f"https://lp.example/{name}?next={{lander_click_url}}")
        landers.append((await affiliate.CreateLander(fpb.CreateLanderRequest(lander=lander))).lander)
    stream = (await affiliate.CreateStream(fpb.CreateStreamRequest(stream=fpb.Stream(
        campaign_id=camp.campaign_id, name="All", action=fpb.STREAM_ACTION_ROTATE,
        landers=[fpb.WeightedLander(lander_id=lnd.lander_id, weight=1) for lnd in landers],
        offers=[fpb.WeightedOffer(offer_id=o.offer_id, weight=1) for o in offers.values()],
    )))).stream  # fmt: skip

    # Clicks through the flow (each from its own visitor), and two on a campaign without one.
    clicks = []
    for i in range(CLICKS):
        cid = await touch(gateway_links_stub, camp, ip=f"81.2.69.{10 + i}")
        clicks.append((await links_stub.GetClick(lpb.GetClickRequest(click_id=cid))).click)
    for i in range(PLAIN_CLICKS):
        await touch(gateway_links_stub, plain, ip=f"81.2.70.{i}")
    assert all(c.stream_id == stream.stream_id and c.lander_id and c.offer_id for c in clicks)
    # Two thirds of the visitors click through their lander (one twice: counted once).
    through = clicks[: CLICKS * 2 // 3]
    done = await gateway.RecordLanderClicks(fpb.RecordLanderClicksRequest(
        clicks=[fpb.LanderClickInput(click_id=c.click_id) for c in [*through, through[0]]],
    ))  # fmt: skip
    assert all(r.outcome == lpb.TOUCH_OUTCOME_RECORDED for r in done.results)
    # The network's postbacks: the first three that went through convert (approved).
    postbacks = attribution_pb2_grpc.AttributionServiceStub(
        channels(attribution_server.addr, token=account.postback_token)
    )
    converted = through[:3]
    for n, c in enumerate(converted):
        await postbacks.RecordPostback(apb.RecordPostbackRequest(
            params={"click_id": c.click_id, "txid": f"T-{n}", "status": "approved"},
        ))  # fmt: skip

    stub = reports_pb2_grpc.ReportServiceStub(channels(analytics_server.addr, token=account.api_key))

    async def folded() -> bool:
        t = (await report(stub, TODAY)).totals
        assert (t.clicks, t.lander_clicks, t.conversions) == (CLICKS + PLAIN_CLICKS, len(through), len(converted))
        return True

    await wait_until(folded, "the rollups to fold the flow's clicks, lander clicks and conversions")
    totals = (await report(stub, TODAY)).totals
    payout = {o.offer_id: Decimal(o.payout.amount) for o in offers.values()}
    revenue = sum(payout[c.offer_id] for c in converted)
    assert (totals.lander_views, money(totals, "revenue")) == (CLICKS, {"USD": revenue})

    for dim, key in (("stream", "stream_id"), ("lander", "lander_id"), ("offer", "offer_id")):
        rows = by(await report(stub, TODAY, group_by=["campaign", dim]), dim)
        for value, row in rows.items():
            mine = [c for c in clicks if getattr(c, key) == value]
            went = [c for c in through if getattr(c, key) == value]
            conv = [c for c in converted if getattr(c, key) == value]
            expected_clicks = len(mine) if value else PLAIN_CLICKS
            assert (row.clicks, row.lander_views, row.lander_clicks, row.conversions) == (
                expected_clicks, len(mine), len(went), len(conv),
            ), (dim, value)  # fmt: skip
            if mine:
                assert abs(row.lander_ctr - len(went) / len(mine)) < 1e-9
            rev = sum((payout[c.offer_id] for c in conv), Decimal(0))
            assert money(row, "revenue") == ({"USD": rev} if rev else {}), (dim, value)
            if rev:
                epc = {m.currency_code: Decimal(m.epc.amount) for m in row.money}["USD"]
                assert epc == (rev / row.clicks).quantize(Decimal("0.000001"))
        # Adding up to the campaign totals.
        assert sum(r.clicks for r in rows.values()) == totals.clicks
        assert sum(r.lander_views for r in rows.values()) == totals.lander_views
        assert sum(r.lander_clicks for r in rows.values()) == totals.lander_clicks
        assert sum(r.conversions for r in rows.values()) == totals.conversions
        assert sum(sum(money(r, "revenue").values(), Decimal(0)) for r in rows.values()) == revenue
