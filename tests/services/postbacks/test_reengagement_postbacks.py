"""Retargeting postbacks end to end (real links, ingest, attribution and postbacks
services, a real local HTTP sink): a re-engagement fires the retargeting partner's
`reengagement` template once, with the retargeting click; the install's partner
hears nothing of it, and the conversions inside the window go to the retargeting
partner through its conversion template.

What a retargeting network expects back is the re-engagement itself: AppsFlyer's
retargeting guide (https://support.appsflyer.com/hc/en-us/articles/207033786)
sends re-engagements and re-attributions to the retargeting media source as
their own events, apart from installs, and the in-app events of the
re-engagement window with them."""

from __future__ import annotations

from clicktrail.postbacks.v1 import postbacks_pb2 as pb
from clicktrail.postbacks.v1 import postbacks_pb2_grpc

from tests.services.attribution.engine_support import drained, event, installs, send
from tests.services.attribution.test_reengagement import GAID, opened, purchase, setup, touch
from tests.services.postbacks.sink import Sink
from tests.services.postbacks.support import new_template, wait_for
from tests.services.postbacks.test_rejected import sink  # noqa: F401 - the real local HTTP sink fixture

MACROS = "k={kind}&ev={event}&e={event_id}&c={click_id}&cmp={campaign_id}&p={payout}"


async def test_a_re_engagement_fires_the_retargeting_partners_reengagement_template_once(
    postbacks_stub: postbacks_pb2_grpc.PostbackServiceStub, postbacks_server, attribution_stub, attribution_server,
    ingest_server, ingest_stub, links_stub, gateway_links_stub, settings, sink: Sink,  # noqa: F811
) -> None:  # fmt: skip
    app_id, ua, rt = await setup(attribution_stub, links_stub)
    made: dict[str, pb.Template] = {}
    for partner, name in ((ua.partner_id, "ua"), (rt.partner_id, "rt")):
        for trigger, path in ((pb.TRIGGER_REENGAGEMENT, "reengage"), (pb.TRIGGER_CONVERSION, "conversion")):
            t = await new_template(postbacks_stub, partner, f"{sink.base}/{name}/{path}?{MACROS}", trigger=trigger)
            assert t.trigger == trigger
            made[f"{name}/{path}"] = t
    # The reengagement template's test sends a sample re-engagement.
    test = made["rt/reengage"].template_id
    resp = await postbacks_stub.TestTemplate(pb.TestTemplateRequest(template_id=test))
    assert "k=reengagement&ev=re_engagement" in resp.url, resp.url
    sink.hits.clear()

    install_click = await touch(gateway_links_stub, ua)
    await send(ingest_stub, event(app_id, "install", click_id=install_click, device={"gaid": GAID}))
    await drained(settings)
    [inst] = await installs(attribution_stub)
    assert inst.campaign_id == ua.campaign_id
    rt_click = await touch(gateway_links_stub, rt)
    await send(ingest_stub, opened(app_id, rt_click))
    await drained(settings)
    await send(ingest_stub, purchase(app_id, "20"))
    await drained(settings)

    await wait_for(lambda: len(sink.hits) >= 2, timeout=30)
    got = sorted((h.target.split("?")[0], h.query["k"], h.query["ev"], h.query["c"], h.query["cmp"]) for h in sink.hits)
    assert got == [
        ("/rt/conversion", "conversion", "Purchase", rt_click, rt.campaign_id),
        ("/rt/reengage", "reengagement", "re_engagement", rt_click, rt.campaign_id),
    ]  # fmt: skip

    # One delivery each (a delivery per event and template: a redelivered job sends nothing twice).
    async def settled() -> bool:
        resp = await postbacks_stub.ListDeliveries(pb.ListDeliveriesRequest(page_size=100))
        return [d.status for d in resp.deliveries] == [pb.DELIVERY_STATUS_DELIVERED] * 2

    await wait_for(settled, timeout=15)
    assert len(sink.hits) == 2
