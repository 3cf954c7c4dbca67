"""Postbacks and traffic quality: a rejected (invalid) install or conversion
fires no attributed postback, only the partner's `rejected` templates (as MMPs
post blocked installs back); an overrule back to clean fires the normal one,
once. End to end: the real links, ingest, attribution and postbacks services
and a real local HTTP sink."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from clicktrail.attribution.v1 import attribution_pb2 as apb
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.postbacks.v1 import postbacks_pb2 as pb
from clicktrail.postbacks.v1 import postbacks_pb2_grpc
from clicktrail.type.v1 import quality_pb2 as qpb

from tests.services.attribution.engine_support import (
    attribution,
    conversions,
    drained,
    event,
    installs,
    make_app,
    make_campaign,
    send,
)
from tests.services.postbacks.sink import Sink
from tests.services.postbacks.support import enqueue_events, new_partner, new_template, wait_for
from tests.services.postbacks.support import event as outbound_event

Stub = postbacks_pb2_grpc.PostbackServiceStub
GAID = "6d92078a-8246-4ba4-ae5b-76104861e7dc"
MACROS = "k={kind}&e={event_id}&g={goal}&v={verdict}&r={reasons}&c={click_id}"


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    s = await Sink().start()
    yield s
    await s.close()


def hits(sink: Sink) -> list[tuple[str, str, str, str]]:
    """(path, kind, verdict, reasons) of every request the sink got, in order."""
    return [(h.target.split("?")[0], h.query["k"], h.query["v"], h.query["r"]) for h in sink.hits]


async def test_a_rejected_install_posts_back_only_as_rejected_until_an_overrule(
    postbacks_stub: Stub, postbacks_server, attribution_stub, attribution_server, ingest_server, ingest_stub,
    links_stub, gateway_links_stub, settings, sink: Sink,
) -> None:  # fmt: skip
    app_id = await make_app(links_stub)
    c = await make_campaign(links_stub, app_id, "Spring")
    goal = (
        await attribution_stub.goals.CreateGoal(
            cpb.CreateGoalRequest(
                goal=cpb.Goal(
                    name="purchase", kind=cpb.GOAL_KIND_PURCHASE, event="purchase", occurrence=cpb.OCCURRENCE_EVERY
                )
            )
        )
    ).goal
    for path, trigger in (("/install", pb.TRIGGER_INSTALL), ("/conversion", pb.TRIGGER_CONVERSION),
                          ("/rejected", pb.TRIGGER_REJECTED)):  # fmt: skip
        await new_template(postbacks_stub, c.partner_id, f"{sink.base}{path}?{MACROS}", trigger=trigger)

    # A click fired while the install completed (click injection), then a purchase a minute in.
    inp = lpb.TouchInput(slug=c.slug, raw_query=f"gaid={GAID}".encode(), ip="81.2.69.142",
                         user_agent="Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/120.0 Mobile")  # fmt: skip
    [clicked] = (await gateway_links_stub.RecordClicks(lpb.RecordClicksRequest(clicks=[inp]))).results
    await send(ingest_stub, event(app_id, "install", click_id=clicked.touch_id, device={"gaid": GAID}))
    await drained(settings)
    await send(ingest_stub, event(app_id, "track", action="purchase", device={"gaid": GAID},
                                  at=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)))  # fmt: skip
    await drained(settings)
    [inst] = await installs(attribution_stub)
    [conv] = await conversions(attribution_stub, goal_id=goal.goal_id)
    assert (inst.verdict, conv.verdict) == (qpb.VERDICT_INVALID, qpb.VERDICT_INVALID)

    await wait_for(lambda: len(sink.hits) >= 2, timeout=15)
    assert sorted(hits(sink)) == [
        ("/rejected", "conversion", "invalid", "rejected_install"),
        ("/rejected", "install", "invalid", "click_injection"),
    ]  # fmt: skip
    assert {h.query["e"] for h in sink.hits} == {f"{inst.install_id}:rejected", f"{conv.conversion_id}:rejected"}

    # The operator overrules it: the install's normal postback goes out now, and its conversion's.
    await attribution(attribution_stub).OverruleInstallVerdict(
        apb.OverruleInstallVerdictRequest(install_id=inst.install_id, verdict=qpb.VERDICT_CLEAN, note="known user")
    )
    await wait_for(lambda: len(sink.hits) >= 4, timeout=15)
    assert sorted(hits(sink)[2:]) == [
        ("/conversion", "conversion", "clean", ""),
        ("/install", "install", "clean", "click_injection,operator"),
    ]  # fmt: skip
    assert {h.query["e"] for h in sink.hits[2:]} == {inst.install_id, conv.conversion_id}
    assert all(h.query["c"] == clicked.touch_id for h in sink.hits)

    # Invalid again, then clean again: a rejected postback once more, but never a second normal one.
    stub = attribution(attribution_stub)
    for verdict in (qpb.VERDICT_INVALID, qpb.VERDICT_CLEAN):
        await stub.OverruleInstallVerdict(apb.OverruleInstallVerdictRequest(install_id=inst.install_id,
                                                                            verdict=verdict))  # fmt: skip
    await drained(settings)

    async def settled() -> bool:
        resp = await postbacks_stub.ListDeliveries(pb.ListDeliveriesRequest(page_size=100))
        return all(d.status == pb.DELIVERY_STATUS_DELIVERED for d in resp.deliveries) and len(resp.deliveries) == 4

    await wait_for(settled, timeout=15)
    assert len(sink.hits) == 4  # the rejected ones (install, conversion) and the normal ones, once each


async def test_rejected_trigger_fires_for_invalid_events_only(
    postbacks_stub: Stub, postbacks_server, links_stub, account, settings, sink: Sink,
) -> None:  # fmt: skip
    partner = await new_partner(links_stub)
    for path, trigger, mode in (("/install", pb.TRIGGER_INSTALL, pb.SENDING_MODE_ALL),
                                ("/status", pb.TRIGGER_STATUS_CHANGE, pb.SENDING_MODE_ATTRIBUTED),
                                ("/rejected", pb.TRIGGER_REJECTED, pb.SENDING_MODE_ATTRIBUTED)):  # fmt: skip
        await new_template(postbacks_stub, partner, f"{sink.base}{path}?{MACROS}", trigger=trigger, sending_mode=mode)
    evs = [
        outbound_event(account.account_id, partner, event_id="clean", verdict="clean"),
        outbound_event(account.account_id, partner, event_id="suspicious", verdict="suspicious",
                       reasons="install_burst"),
        outbound_event(account.account_id, partner, event_id="old"),  # from before verdicts: clean
        outbound_event(account.account_id, partner, event_id="bad:rejected", verdict="invalid",
                       reasons="click_injection,install_burst"),
        outbound_event(account.account_id, partner, event_id="bad-status", kind="status_change", verdict="invalid"),
        outbound_event(account.account_id, "someone-else", event_id="theirs:rejected", verdict="invalid"),
    ]  # fmt: skip
    await enqueue_events(settings.database_url, evs)
    await wait_for(lambda: len(sink.hits) >= 4, timeout=15)
    await enqueue_events(settings.database_url, [outbound_event(account.account_id, partner, event_id="marker")])
    await wait_for(lambda: any(h.query["e"] == "marker" for h in sink.hits), timeout=15)
    got = sorted((h.target.split("?")[0], h.query["e"], h.query["v"], h.query["r"]) for h in sink.hits)
    assert got == [
        ("/install", "clean", "clean", ""), ("/install", "marker", "", ""), ("/install", "old", "", ""),
        ("/install", "suspicious", "suspicious", "install_burst"),
        ("/rejected", "bad:rejected", "invalid", "click_injection,install_burst"),
    ]  # fmt: skip


async def test_a_rejected_template_is_tested_with_a_rejected_sample(
    postbacks_stub: Stub, postbacks_server, links_stub, sink: Sink
) -> None:  # fmt: skip
    partner = await new_partner(links_stub)
    t = await new_template(postbacks_stub, partner, f"{sink.base}/rejected?{MACROS}", trigger=pb.TRIGGER_REJECTED)
    assert t.trigger == pb.TRIGGER_REJECTED
    resp = await postbacks_stub.TestTemplate(pb.TestTemplateRequest(template_id=t.template_id))
    assert "v=invalid" in resp.url and "r=click_injection" in resp.url and resp.attempt.status_code == 200
